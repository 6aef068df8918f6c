//! The node's view of Redis: whether Redis answers and the pub/sub connection is up (readiness), and how far
//! Redis' clock is from this node's (event ages, and so lag, are measured on Redis' clock).
//!
//! A dedicated check runs every `--redis-health-ms`, with that as its timeout, and every command's answer (or
//! failure) updates readiness at once, so `/readyz` follows Redis within about two checks both ways. A call
//! that times out while other calls are answered means a busy node, not an unreachable Redis. The check
//! is the generation's ADOPT script, so it is also how a quiet node notices a new Redis.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::conn::Redis;

/// How much an offset sample's round trip may exceed the estimate's, per second of the estimate's age, and still
/// replace it: the estimate follows clock drift, but a sample slowed down by a busy moment doesn't spoil it.
const OFFSET_AGING_US_PER_SEC: u64 = 1_000;

#[derive(Default)]
pub struct Health {
    reachable: AtomicBool,
    listening: AtomicBool,
    /// When Redis last answered anything, in microseconds since `BASE`.
    last_reply_us: AtomicU64,
    /// Redis' clock minus this node's, in milliseconds.
    offset_ms: AtomicI64,
    estimate: Mutex<Option<Estimate>>,
}

/// The clock offset from the best recent sample: the one with the shortest round trip, aged.
struct Estimate {
    rtt_us: u64,
    at: Instant,
}

impl Health {
    /// Ready to serve: Redis answers and the pub/sub connection is up.
    pub fn is_healthy(&self) -> bool {
        self.reachable.load(Relaxed) && self.listening.load(Relaxed)
    }

    /// Redis answered a call.
    pub fn replied(&self) {
        self.last_reply_us.fetch_max(since_base(Instant::now()), Relaxed);
        self.set_reachable(true);
    }

    /// A call sent at `sent` got no answer in time. Redis is unreachable only if nothing else it was asked
    /// since was answered either: a node busy enough to delay its own check (a large audience) still has a
    /// Redis that answers, and must not flap out of the load balancer for it.
    pub fn timed_out(&self, sent: Instant) {
        if self.last_reply_us.load(Relaxed) < since_base(sent) {
            self.set_reachable(false);
        }
    }

    pub fn set_reachable(&self, up: bool) {
        if self.reachable.swap(up, Relaxed) != up {
            if up {
                info!("redis reachable");
            } else {
                warn!("redis unreachable: not ready");
            }
        }
    }

    /// Whether the pub/sub connection is up (without it no room's events reach this node).
    pub fn set_listening(&self, up: bool) {
        self.listening.store(up, Relaxed);
    }

    /// Redis' clock now, in milliseconds since the Unix epoch, as this node estimates it.
    pub fn redis_now_ms(&self) -> u64 {
        let local = (unix_micros() / 1000) as i64;
        (local + self.offset_ms.load(Relaxed)).max(0) as u64
    }

    /// One clock sample: Redis said `redis_us` between `sent_us` and `received_us` (this node's clock).
    fn clock_sample(&self, sent_us: u64, received_us: u64, redis_us: u64) {
        let rtt_us = received_us.saturating_sub(sent_us);
        let mut estimate = self.estimate.lock().expect("BUG: clock estimate lock poisoned");
        let better = match &*estimate {
            None => true,
            Some(e) => rtt_us <= e.rtt_us + e.at.elapsed().as_secs() * OFFSET_AGING_US_PER_SEC,
        };
        if better {
            let midpoint = sent_us + rtt_us / 2;
            self.offset_ms.store((redis_us as i64 - midpoint as i64) / 1000, Relaxed);
            *estimate = Some(Estimate { rtt_us, at: Instant::now() });
        }
    }
}

/// Checks Redis every `every` until `stop`: readiness, the generation, the clock.
pub async fn check(redis: Redis, every: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let (sent, sent_at) = (unix_micros(), Instant::now());
        match tokio::time::timeout(every, redis.adopt()).await {
            Ok(Ok(adopted)) => redis.health.clock_sample(sent, unix_micros(), adopted.redis_time_us),
            // A failed call already told the health what it means (see `Redis::attempt`).
            Ok(Err(_)) => {}
            Err(_) => redis.health.timed_out(sent_at),
        }
    }
}

/// The instant `last_reply_us` counts from.
static BASE: LazyLock<Instant> = LazyLock::new(Instant::now);

fn since_base(at: Instant) -> u64 {
    at.saturating_duration_since(*BASE).as_micros() as u64
}

fn unix_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offset_comes_from_the_round_trip_midpoint() {
        let health = Health::default();
        // Redis said 10,005.000 s when this node was at 10,000.001 s, mid-way through the round trip.
        health.clock_sample(10_000_000_000, 10_000_002_000, 10_005_000_000);
        assert_eq!(health.offset_ms.load(Relaxed), 4_999);
    }

    #[test]
    fn a_timeout_while_redis_answers_other_calls_is_a_busy_node_not_an_unreachable_redis() {
        let health = Health::default();
        let sent = Instant::now();
        health.replied();
        health.timed_out(sent);
        assert!(health.reachable.load(Relaxed));
        health.timed_out(Instant::now());
        assert!(!health.reachable.load(Relaxed));
    }

    #[test]
    fn a_slow_sample_does_not_replace_a_fresh_fast_one() {
        let health = Health::default();
        health.clock_sample(0, 200, 1_000_100);
        health.clock_sample(0, 50_000, 9_000_000);
        assert_eq!(health.offset_ms.load(Relaxed), 1_000);
    }
}
