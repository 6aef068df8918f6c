//! The wait a citizen in the queue is shown, estimated from recent real waits.
//!
//! # Formula
//!
//! Each chat that left the queue for an agent is a sample: it entered its language's queue at position `k`
//! (1 = at the front) and waited `w` ms until an agent took it. `w / k` is how long one place in the queue took
//! to clear for it. For a citizen now at position `p`:
//!
//! ```text
//! estimate(p) = p × median(w_i / k_i)      over the samples of the chat's language
//! ```
//!
//! The samples are the last `wait_samples` (default 50) of that language, and only those younger than
//! `wait_sample_max_age_ms` (default 2 hours) count, so the estimate follows the desk's current pace. Without any
//! counting sample the estimate is unknown (`None`): pages then say nothing rather than guess. The median, not
//! the mean, so that one chat that waited out a lunch break does not inflate everyone's estimate. A chat an agent
//! took at once counts too (`w = 0`): on a quiet desk the estimate is rightly near zero.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// One real wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitSample {
    /// The place the chat took when it entered the queue (1 = front).
    pub position: u32,
    pub waited_ms: u64,
    /// When the wait ended.
    pub at: u64,
}

/// The recent waits of one language, oldest first, at most `keep` of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waits {
    samples: VecDeque<WaitSample>,
}

impl Waits {
    pub fn record(&mut self, sample: WaitSample, keep: usize) {
        self.samples.push_back(sample);
        while self.samples.len() > keep {
            self.samples.pop_front();
        }
    }

    pub fn samples(&self) -> impl Iterator<Item = &WaitSample> {
        self.samples.iter()
    }

    /// The median time one queue place took to clear, over the samples younger than `max_age_ms`.
    pub fn per_place_ms(&self, now: u64, max_age_ms: u64) -> Option<f64> {
        let mut rates: Vec<f64> = self
            .samples
            .iter()
            .filter(|s| now.saturating_sub(s.at) <= max_age_ms)
            .map(|s| s.waited_ms as f64 / f64::from(s.position.max(1)))
            .collect();
        if rates.is_empty() {
            return None;
        }
        rates.sort_by(f64::total_cmp);
        let mid = rates.len() / 2;
        Some(if rates.len() % 2 == 1 { rates[mid] } else { (rates[mid - 1] + rates[mid]) / 2.0 })
    }

    /// The estimated wait, in ms, of a chat now at `position` (1 = front); `None` without recent samples.
    pub fn estimate(&self, position: u32, now: u64, max_age_ms: u64) -> Option<u64> {
        let per_place = self.per_place_ms(now, max_age_ms)?;
        Some((per_place * f64::from(position.max(1))).round() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: u64 = 3_600_000;

    fn waits(samples: &[(u32, u64)]) -> Waits {
        let mut w = Waits::default();
        for &(position, waited_ms) in samples {
            w.record(WaitSample { position, waited_ms, at: HOUR }, 50);
        }
        w
    }

    #[test]
    fn no_samples_no_estimate() {
        assert_eq!(Waits::default().estimate(3, HOUR, HOUR), None);
    }

    #[test]
    fn the_estimate_is_position_times_the_median_per_place() {
        // Per place: 60 s, 30 s, 90 s, 40 s, 600 s → median 60 s; the outlier does not move it.
        let w = waits(&[(1, 60_000), (2, 60_000), (1, 90_000), (3, 120_000), (1, 600_000)]);
        assert_eq!(w.estimate(1, HOUR, HOUR), Some(60_000));
        assert_eq!(w.estimate(4, HOUR, HOUR), Some(240_000));
    }

    #[test]
    fn an_even_count_takes_the_mean_of_the_middle_two() {
        let w = waits(&[(1, 10_000), (1, 20_000), (1, 40_000), (1, 80_000)]);
        assert_eq!(w.estimate(2, HOUR, HOUR), Some(60_000));
    }

    #[test]
    fn chats_taken_at_once_count_as_no_wait() {
        let w = waits(&[(1, 0), (1, 0), (2, 30_000)]);
        assert_eq!(w.estimate(5, HOUR, HOUR), Some(0));
    }

    #[test]
    fn the_window_is_bounded_in_count_and_age() {
        let mut w = Waits::default();
        for i in 0..10 {
            w.record(WaitSample { position: 1, waited_ms: i * 1000, at: i }, 3);
        }
        assert_eq!(w.samples().count(), 3);
        assert_eq!(w.estimate(1, 9, HOUR), Some(8000));
        // Samples at 7, 8, 9: from now = 9 + 2 only the last one is young enough.
        assert_eq!(w.estimate(1, 11, 2), Some(9000));
        assert_eq!(w.estimate(1, 100, 2), None);
    }
}
