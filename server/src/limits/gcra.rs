//! A keyed GCRA rate limiter (the algorithm governor uses) that can look without taking.
//!
//! Why not governor here: a question or a vote is charged only once the rules decided it creates or changes
//! something, and some of those decisions are made where the charge can't be taken at once (a Redis script,
//! an optimistic attempt that may be retried); governor can only check and take in one step.

use std::time::{Duration, Instant};

use dashmap::DashMap;

/// Per-key limits of `burst` at once and one per `interval` sustained.
pub struct Gcra {
    interval: u64,
    /// How far a key's theoretical arrival time may run ahead of now: `interval × (burst − 1)`.
    tolerance: u64,
    /// Each key's theoretical arrival time, in nanoseconds since `start`.
    tats: DashMap<String, u64>,
    start: Instant,
}

impl Gcra {
    pub fn new(interval: Duration, burst: u32) -> Self {
        let interval = (interval.as_nanos() as u64).max(1);
        Gcra {
            interval,
            tolerance: interval.saturating_mul(u64::from(burst.max(1)) - 1),
            tats: DashMap::new(),
            start: Instant::now(),
        }
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// `Err(wait)` until one more would pass, judged from `tat` (the key's arrival time, at least `now`).
    fn judge(&self, tat: u64, now: u64) -> Result<(), Duration> {
        let ahead = tat.saturating_sub(now);
        if ahead > self.tolerance {
            return Err(Duration::from_nanos(ahead - self.tolerance));
        }
        Ok(())
    }

    /// Whether one more for `key` would pass now; takes nothing.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        let now = self.now();
        let tat = self.tats.get(key).map_or(now, |t| (*t).max(now));
        self.judge(tat, now)
    }

    /// Takes one for `key` whatever the limit says (after a change that [`Gcra::check`] allowed).
    pub fn charge(&self, key: &str) {
        let now = self.now();
        let mut tat = self.tats.entry(key.to_string()).or_insert(now);
        *tat = (*tat).max(now) + self.interval;
    }

    /// Checks and takes in one step.
    pub fn admit(&self, key: &str) -> Result<(), Duration> {
        let now = self.now();
        if let Some(mut tat) = self.tats.get_mut(key) {
            let at = (*tat).max(now);
            self.judge(at, now)?;
            *tat = at + self.interval;
            return Ok(());
        }
        self.tats.insert(key.to_string(), now + self.interval);
        Ok(())
    }

    /// Forgets keys whose allowance is whole again (their arrival time has passed).
    pub fn evict_idle(&self) {
        let now = self.now();
        self.tats.retain(|_, tat| *tat > now);
        self.tats.shrink_to_fit();
    }

    pub fn len(&self) -> usize {
        self.tats.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_next_waits_one_interval() {
        let gcra = Gcra::new(Duration::from_secs(60), 3);
        for _ in 0..3 {
            gcra.admit("a").expect("within the burst");
        }
        let wait = gcra.admit("a").expect_err("past the burst");
        assert!(wait > Duration::from_secs(59) && wait <= Duration::from_secs(60), "{wait:?}");
        // Another key is not affected.
        gcra.admit("b").expect("own allowance");
    }

    #[test]
    fn a_check_takes_nothing_and_a_charge_takes_one() {
        let gcra = Gcra::new(Duration::from_secs(60), 2);
        for _ in 0..10 {
            gcra.check("a").expect("looking is free");
        }
        gcra.charge("a");
        gcra.check("a").expect("one left");
        gcra.charge("a");
        assert!(gcra.check("a").is_err(), "both taken");
    }

    #[test]
    fn keys_with_a_whole_allowance_are_forgotten() {
        let gcra = Gcra::new(Duration::from_micros(1), 1);
        gcra.charge("a");
        std::thread::sleep(Duration::from_millis(2));
        gcra.evict_idle();
        assert_eq!(gcra.len(), 0);
    }
}
