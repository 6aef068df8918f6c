//! When a node falls behind its rooms' events: how many of its viewers it sheds, so that it catches up with the
//! ones it keeps.
//!
//! In Redis mode a node's events arrive through one pub/sub connection and are fanned out by one task. When the
//! fan-out costs more than the node has, the backlog builds before the hub (in Redis' output buffer, the socket,
//! the read-ahead), where no connection's queue fills, so the in-memory protection (close whoever's queue is
//! full) never acts. So the bus measures the age of the oldest event of every chunk it dispatches (Redis' time
//! of publication against Redis' clock now) and asks this policy what to do: past `--max-lag-ms` it sheds a
//! share of the local viewers (fewer viewers make every fan-out cheaper), and again, with a doubled share, every
//! `CHECK_EVERY` for as long as the lag is over the limit and not shrinking. Once it shrinks it only watches:
//! the node is catching up, and the backlog still ahead of it would make any more shedding an overshoot.
//!
//! Dispatching batches is cheap, so a node may also dispatch faster than its writers write: then the backlog
//! would move into the connections' queues, all filling at the same pace, and one moment later every viewer
//! would be closed at once (a full queue). So the bus pushes a room's events in chunks, and when a quarter of a
//! large room's queues are half full it waits for the writers (`WRITER_WAIT` at most per chunk): the backlog stays before the hub, where its age is
//! measured, and writers still behind after the wait count as pressure too: the shedding above closes viewers a
//! share at a time, the slowest readers (the longest queues) first.

use std::time::{Duration, Instant};

/// The writers of a room are behind when at least this share of its viewers' queues are half full: then the bus
/// waits for them before it dispatches more (see `WRITER_WAIT`).
pub const BEHIND_SHARE: f64 = 0.25;
/// Rooms smaller than this never hold the bus back: a few slow readers are the queues' business (4008 when full).
pub const BEHIND_MIN_ROOM: usize = 16;
/// Longest the bus waits for a room's writers after one batch, so that clients which don't read at all can slow
/// it but not stop it: writers still behind after it count as pressure, which sheds the slowest readers first.
pub const WRITER_WAIT: Duration = Duration::from_millis(200);
/// Queues looked at to judge whether a room's writers caught up.
pub const BEHIND_SAMPLE: usize = 64;
/// Most events of one room pushed to its queues at once: with the default `--outbound-queue` (1024) a queue half
/// full takes several chunks, and so several waits for its writer and judgments of this policy, before it is full.
pub const CHUNK: usize = 128;

/// Whether a room's writers are behind: a large room with at least `BEHIND_SHARE` of its queues half full.
pub fn writers_behind(subscribers: usize, queues_behind: usize) -> bool {
    subscribers >= BEHIND_MIN_ROOM && queues_behind as f64 >= BEHIND_SHARE * subscribers as f64
}

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

/// How far behind the node is after a batch.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Pressure {
    /// The age of the batch's oldest event when it was dispatched (Redis' clock).
    pub lag_ms: u64,
    /// The share of the largest lagging room's queues still half full after the bus waited `WRITER_WAIT` for
    /// its writers; 0 if they caught up (or were not behind).
    pub behind: f64,
}

/// While over a limit: when and at what pressure the policy last judged, and the share it shed last.
struct Over {
    checked: Instant,
    pressure: Pressure,
    share: f64,
}

impl Shedder {
    pub fn new(max_lag_ms: u64) -> Self {
        Shedder { max_lag_ms: max_lag_ms.max(1), over: None }
    }

    /// The node is under `pressure` at `now`: the share of local viewers to shed now, if any.
    pub fn observe(&mut self, pressure: Pressure, now: Instant) -> Option<f64> {
        let lagging = pressure.lag_ms > self.max_lag_ms;
        let writers_behind = pressure.behind >= BEHIND_SHARE;
        if !lagging && !writers_behind {
            self.over = None;
            return None;
        }
        let Some(over) = &mut self.over else {
            self.over = Some(Over { checked: now, pressure, share: FIRST_SHARE });
            return Some(FIRST_SHARE);
        };
        if now.duration_since(over.checked) < CHECK_EVERY {
            return None;
        }
        let growing = (lagging && pressure.lag_ms >= over.pressure.lag_ms)
            || (writers_behind && pressure.behind >= over.pressure.behind);
        over.checked = now;
        over.pressure = pressure;
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

    fn lag(lag_ms: u64) -> Pressure {
        Pressure { lag_ms, behind: 0.0 }
    }

    #[test]
    fn under_the_limits_nothing_is_shed() {
        let mut s = Shedder::new(3000);
        assert_eq!(s.observe(lag(2999), Instant::now()), None);
        assert_eq!(s.observe(Pressure { lag_ms: 3000, behind: 0.2 }, Instant::now()), None);
    }

    #[test]
    fn the_share_doubles_while_the_lag_grows_and_holds_while_it_shrinks() {
        let mut s = Shedder::new(3000);
        let t = Instant::now();
        assert_eq!(s.observe(lag(3100), t), Some(FIRST_SHARE));
        assert_eq!(s.observe(lag(3200), t + ms(50)), None, "too soon to judge");
        assert_eq!(s.observe(lag(3300), t + ms(100)), Some(FIRST_SHARE * 2.0));
        assert_eq!(s.observe(lag(3400), t + ms(200)), Some(FIRST_SHARE * 4.0));
        assert_eq!(s.observe(lag(3500), t + ms(300)), Some(MAX_SHARE));
        assert_eq!(s.observe(lag(3600), t + ms(400)), Some(MAX_SHARE), "capped");
        assert_eq!(s.observe(lag(3550), t + ms(500)), None, "shrinking: catching up");
        assert_eq!(s.observe(lag(3560), t + ms(600)), Some(MAX_SHARE), "growing again");
        assert_eq!(s.observe(lag(2000), t + ms(700)), None);
        assert_eq!(s.observe(lag(3100), t + ms(800)), Some(FIRST_SHARE), "a new episode starts small");
    }

    #[test]
    fn writers_that_stay_behind_shed_viewers_too() {
        let mut s = Shedder::new(3000);
        let t = Instant::now();
        let behind = |share| Pressure { lag_ms: 10, behind: share };
        assert_eq!(s.observe(behind(0.5), t), Some(FIRST_SHARE));
        assert_eq!(s.observe(behind(0.6), t + ms(100)), Some(FIRST_SHARE * 2.0));
        assert_eq!(s.observe(behind(0.3), t + ms(200)), None, "catching up");
        assert_eq!(s.observe(behind(0.0), t + ms(300)), None);
        assert_eq!(s.observe(behind(0.5), t + ms(400)), Some(FIRST_SHARE), "a new episode");
    }

    #[test]
    fn the_largest_rooms_are_shed_first_and_small_ones_are_kept() {
        let rooms = [("pub", 1000), ("mod", 3)];
        assert_eq!(plan(&rooms, 0.25), vec![("pub", 250)]);
        assert_eq!(plan(&[("a", 100), ("b", 60)], 0.5), vec![("a", 50), ("b", 30)]);
        assert_eq!(plan(&[("mod", 3)], 0.25), vec![]);
    }
}
