//! When a node falls behind its rooms' events: how many of its viewers it sheds, so that it catches up with the
//! ones it keeps.
//!
//! In Redis mode a node's events arrive through one pub/sub connection and are fanned out by one task. When the
//! fan-out costs more than the node has, the backlog builds before the hub (in Redis' output buffer, the socket,
//! the read-ahead), where no connection's queue fills, so the in-memory protection (close whoever's queue is
//! full) never acts. So the bus measures the age of the oldest event of every batch it dispatches (Redis' time
//! of publication against Redis' clock now) and asks this policy what to do: past `--max-lag-ms` it sheds a
//! share of the local viewers (fewer viewers make every fan-out cheaper), and again, with a doubled share, every
//! `CHECK_EVERY` for as long as the lag is over the limit and not shrinking. Once it shrinks it only watches:
//! the node is catching up, and the backlog still ahead of it would make any more shedding an overshoot.

use std::time::{Duration, Instant};

/// The first share of viewers shed when the lag passes the limit.
const FIRST_SHARE: f64 = 1.0 / 16.0;
/// The largest share shed at once (rooms of fewer than 1 / this many viewers are never shed).
const MAX_SHARE: f64 = 0.25;
/// How long the policy lets a shedding act before it judges whether the lag is still growing.
const CHECK_EVERY: Duration = Duration::from_millis(100);

pub struct Shedder {
    max_lag_ms: u64,
    over: Option<Over>,
}

/// While the lag is over the limit: when and at what lag the policy last judged, and the share it shed last.
struct Over {
    checked: Instant,
    lag_ms: u64,
    share: f64,
}

impl Shedder {
    pub fn new(max_lag_ms: u64) -> Self {
        Shedder { max_lag_ms: max_lag_ms.max(1), over: None }
    }

    /// The dispatcher is `lag_ms` behind at `now`: the share of local viewers to shed now, if any.
    pub fn observe(&mut self, lag_ms: u64, now: Instant) -> Option<f64> {
        if lag_ms <= self.max_lag_ms {
            self.over = None;
            return None;
        }
        let Some(over) = &mut self.over else {
            self.over = Some(Over { checked: now, lag_ms, share: FIRST_SHARE });
            return Some(FIRST_SHARE);
        };
        if now.duration_since(over.checked) < CHECK_EVERY {
            return None;
        }
        let growing = lag_ms >= over.lag_ms;
        over.checked = now;
        over.lag_ms = lag_ms;
        if !growing {
            return None;
        }
        over.share = (over.share * 2.0).min(MAX_SHARE);
        Some(over.share)
    }

    /// Forgets the current episode (the rooms' positions started over).
    pub fn reset(&mut self) {
        self.over = None;
    }
}

/// How many of each room's viewers to shed for `share` of them all, the largest rooms first and at most half of
/// any one room: the fan-out's cost is in its large rooms, and a small room (a moderation room) costs little.
pub fn plan<K: Clone>(rooms: &[(K, usize)], share: f64) -> Vec<(K, usize)> {
    let total: usize = rooms.iter().map(|(_, n)| n).sum();
    let mut left = (share * total as f64) as usize;
    let mut plan = vec![];
    for (key, n) in rooms {
        if left == 0 {
            break;
        }
        let take = left.min(n / 2);
        if take > 0 {
            plan.push((key.clone(), take));
            left -= take;
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn under_the_limit_nothing_is_shed() {
        let mut s = Shedder::new(3000);
        assert_eq!(s.observe(2999, Instant::now()), None);
        assert_eq!(s.observe(3000, Instant::now()), None);
    }

    #[test]
    fn the_share_doubles_while_the_lag_grows_and_holds_while_it_shrinks() {
        let mut s = Shedder::new(3000);
        let t = Instant::now();
        assert_eq!(s.observe(3100, t), Some(FIRST_SHARE));
        assert_eq!(s.observe(3200, t + ms(50)), None, "too soon to judge");
        assert_eq!(s.observe(3300, t + ms(100)), Some(FIRST_SHARE * 2.0));
        assert_eq!(s.observe(3400, t + ms(200)), Some(FIRST_SHARE * 4.0));
        assert_eq!(s.observe(3500, t + ms(300)), Some(MAX_SHARE));
        assert_eq!(s.observe(3600, t + ms(400)), Some(MAX_SHARE), "capped");
        assert_eq!(s.observe(3550, t + ms(500)), None, "shrinking: catching up");
        assert_eq!(s.observe(3560, t + ms(600)), Some(MAX_SHARE), "growing again");
        assert_eq!(s.observe(2000, t + ms(700)), None);
        assert_eq!(s.observe(3100, t + ms(800)), Some(FIRST_SHARE), "a new episode starts small");
    }

    #[test]
    fn the_largest_rooms_are_shed_first_and_small_ones_are_kept() {
        let rooms = [("pub", 1000), ("mod", 3)];
        assert_eq!(plan(&rooms, 0.25), vec![("pub", 250)]);
        assert_eq!(plan(&[("a", 100), ("b", 60)], 0.5), vec![("a", 50), ("b", 30)]);
        assert_eq!(plan(&[("mod", 3)], 0.25), vec![]);
    }
}
