//! Time: one wall clock for latency stamps, and the run's schedule.
//!
//! Latency stamps use the wall clock (CLOCK_REALTIME, in microseconds) rather than a process-local `Instant`, so
//! that a stamp written by one generator process can be read by another on the same machine.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch.
pub fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

pub fn now_millis() -> u64 {
    now_micros() / 1000
}

/// Converts a wall-clock instant (Unix ms) into this process's monotonic clock.
pub fn instant_of_unix_ms(unix_ms: u64) -> Instant {
    let now_ms = now_millis();
    let now = Instant::now();
    if unix_ms >= now_ms {
        now + Duration::from_millis(unix_ms - now_ms)
    } else {
        now.checked_sub(Duration::from_millis(now_ms - unix_ms)).unwrap_or(now)
    }
}

/// The phases every scenario shares: ramp-up (clients connect), steady (the measured window), drain (in-flight
/// events arrive, final checks). Worker processes get the same absolute start, so their phases line up.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub start: Instant,
    pub start_unix_ms: u64,
    pub ramp: Duration,
    pub steady: Duration,
    pub drain: Duration,
    /// The hard bound: nothing of the run outlives `start + max`.
    pub max: Duration,
}

impl Schedule {
    pub fn ramp_end(&self) -> Instant {
        self.start + self.ramp
    }

    pub fn steady_end(&self) -> Instant {
        self.ramp_end() + self.steady
    }

    pub fn drain_end(&self) -> Instant {
        self.steady_end() + self.drain
    }

    pub fn deadline(&self) -> Instant {
        self.start + self.max
    }

    /// When client `i` of `n` starts connecting: spread evenly over the ramp.
    pub fn ramp_slot(&self, i: u64, n: u64) -> Instant {
        if n == 0 {
            return self.start;
        }
        self.start + self.ramp.mul_f64(i as f64 / n as f64)
    }
}

/// The reconnect backoff a scenario's clients use (protocol.md §6), as options.
#[derive(clap::Args, Debug, Clone, Copy, serde::Serialize)]
pub struct Backoff {
    /// Backoff base: reconnect attempt n waits random(0, min(cap, base × 2^n)).
    #[arg(long = "backoff-base-ms", env = "MAJLIS_LOADTEST_BACKOFF_BASE_MS", default_value_t = 500)]
    pub backoff_base_ms: u64,

    /// Backoff cap.
    #[arg(long = "backoff-max-ms", env = "MAJLIS_LOADTEST_BACKOFF_MAX_MS", default_value_t = 30_000)]
    pub backoff_max_ms: u64,
}

impl Backoff {
    /// The base and the cap.
    pub fn durations(&self) -> (Duration, Duration) {
        (Duration::from_millis(self.backoff_base_ms), Duration::from_millis(self.backoff_max_ms))
    }
}

/// Full-jitter exponential backoff of protocol.md §6: a random wait in [0, min(max, base × 2^attempt)).
pub fn backoff(attempt: u32, base: Duration, max: Duration) -> Duration {
    let ceiling = base.saturating_mul(1u32 << attempt.min(20)).min(max);
    ceiling.mul_f64(rand::random::<f64>())
}

/// A counter that advances once a second, read by viewers to decide when to publish their local counts. Reading
/// it is one relaxed load of a line nobody writes often; it starts on first use.
pub fn coarse_tick() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    use std::sync::OnceLock;
    static TICK: AtomicU64 = AtomicU64::new(0);
    static TICKER: OnceLock<()> = OnceLock::new();
    TICKER.get_or_init(|| {
        // A plain thread, so the tick runs whatever runtime (or none) the caller lives in.
        let _ = std::thread::Builder::new().name("coarse-tick".into()).spawn(|| loop {
            std::thread::sleep(Duration::from_secs(1));
            TICK.fetch_add(1, Relaxed);
        });
    });
    TICK.load(Relaxed)
}
