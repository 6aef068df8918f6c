//! What the clients of one process count while they run.
//!
//! The hot path (a passive viewer receiving an event) touches none of this: viewers count locally and add
//! their counts here in batches, so that thousands of clients don't fight over one cache line.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Latencies are recorded in microseconds, up to an hour.
const HIGHEST_MICROS: u64 = 3_600_000_000;

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_MICROS, 3).expect("BUG: constant histogram bounds are valid")
}

#[derive(Default)]
pub struct Stats {
    pub attempted: AtomicU64,
    pub connected: AtomicU64,
    pub open: AtomicI64,
    pub connect_failures: AtomicU64,
    pub deliveries: AtomicU64,
    pub other_frames: AtomicU64,
    pub missing: AtomicU64,
    pub duplicates: AtomicU64,
    pub commands: AtomicU64,
    pub acks: AtomicU64,
    pub errors: AtomicU64,
    pub unmatched: AtomicU64,
    error_codes: Mutex<BTreeMap<String, u64>>,
    latencies: Mutex<BTreeMap<String, Histogram<u64>>>,
    /// The steady window, `[from, to)`: a sample taken in it is also recorded as `steady <kind>`, so that the
    /// latency of the load held apart from that of the ramp (a start storm) can be read.
    window: OnceLock<(Instant, Instant)>,
}

/// The prefix of the kinds that count only samples taken in the steady window.
pub const STEADY: &str = "steady ";

/// A copy of the counters at one moment (what progress lines, windows and reports carry).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Counters {
    /// Connection attempts (each reconnect attempt counts).
    pub attempted: u64,
    /// Connections that completed the WebSocket handshake and `auth`.
    pub connected: u64,
    /// Connections open now.
    pub open: i64,
    pub connect_failures: u64,
    /// Room events received, summed over every viewer.
    pub deliveries: u64,
    /// Other server frames received by viewers (presence).
    pub other_frames: u64,
    /// Events a viewer never got (gaps in `seq`, and events after its last one at the end).
    pub missing: u64,
    /// Events a viewer got twice or out of order.
    pub duplicates: u64,
    /// Commands sent by actors (asks, votes, moderation).
    pub commands: u64,
    pub acks: u64,
    /// Error frames, failed connections and unexpected closes.
    pub errors: u64,
    /// Events a measuring viewer could not match to the command that caused it (e.g. sent by another process).
    pub unmatched: u64,
}

impl Counters {
    pub fn add(&mut self, o: &Counters) {
        self.attempted += o.attempted;
        self.connected += o.connected;
        self.open += o.open;
        self.connect_failures += o.connect_failures;
        self.deliveries += o.deliveries;
        self.other_frames += o.other_frames;
        self.missing += o.missing;
        self.duplicates += o.duplicates;
        self.commands += o.commands;
        self.acks += o.acks;
        self.errors += o.errors;
        self.unmatched += o.unmatched;
    }
}

impl Stats {
    pub fn snapshot(&self) -> Counters {
        Counters {
            attempted: self.attempted.load(Relaxed),
            connected: self.connected.load(Relaxed),
            open: self.open.load(Relaxed),
            connect_failures: self.connect_failures.load(Relaxed),
            deliveries: self.deliveries.load(Relaxed),
            other_frames: self.other_frames.load(Relaxed),
            missing: self.missing.load(Relaxed),
            duplicates: self.duplicates.load(Relaxed),
            commands: self.commands.load(Relaxed),
            acks: self.acks.load(Relaxed),
            errors: self.errors.load(Relaxed),
            unmatched: self.unmatched.load(Relaxed),
        }
    }

    /// Counts one error under `code` (a protocol error code, `http_429`, `close_4008`, `connect_timeout`, ...).
    pub fn error(&self, code: &str) {
        self.errors.fetch_add(1, Relaxed);
        let mut codes = self.error_codes.lock().unwrap_or_else(|p| p.into_inner());
        *codes.entry(code.to_string()).or_default() += 1;
    }

    pub fn error_codes(&self) -> BTreeMap<String, u64> {
        self.error_codes.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Sets the steady window (once; later calls change nothing).
    pub fn set_window(&self, from: Instant, to: Instant) {
        let _ = self.window.set((from, to));
    }

    /// Whether now is in the steady window.
    pub fn in_window(&self) -> bool {
        self.window.get().is_some_and(|(from, to)| (*from..*to).contains(&Instant::now()))
    }

    /// Adds latency samples (microseconds) under their kind, taken now.
    pub fn record(&self, samples: &[(&'static str, u64)]) {
        let steady = self.in_window();
        self.record_taken(samples.iter().map(|(kind, micros)| (*kind, *micros, steady)));
    }

    /// Adds latency samples, each with whether it was taken in the steady window.
    fn record_taken(&self, samples: impl Iterator<Item = (&'static str, u64, bool)>) {
        let mut all = self.latencies.lock().unwrap_or_else(|p| p.into_inner());
        for (kind, micros, steady) in samples {
            let micros = micros.max(1);
            all.entry(kind.to_string()).or_insert_with(new_histogram).saturating_record(micros);
            if steady {
                all.entry(format!("{STEADY}{kind}")).or_insert_with(new_histogram).saturating_record(micros);
            }
        }
    }

    pub fn latencies(&self) -> BTreeMap<String, Histogram<u64>> {
        self.latencies.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Latency samples of one client, added to [`Stats`] in batches.
pub struct LatencyBuf {
    /// Kind, microseconds, and whether it was taken in the steady window (a batch may be flushed after it).
    samples: Vec<(&'static str, u64, bool)>,
}

impl Default for LatencyBuf {
    fn default() -> Self {
        LatencyBuf { samples: Vec::with_capacity(BATCH) }
    }
}

const BATCH: usize = 128;

impl LatencyBuf {
    pub fn push(&mut self, stats: &Stats, kind: &'static str, micros: u64) {
        self.samples.push((kind, micros, stats.in_window()));
        if self.samples.len() >= BATCH {
            self.flush(stats);
        }
    }

    pub fn flush(&mut self, stats: &Stats) {
        if !self.samples.is_empty() {
            stats.record_taken(self.samples.drain(..));
        }
    }
}

/// A command whose effect a measuring viewer will see as an event without a timestamp in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sent {
    /// The vote that brought `question` to `votes` (counts only grow here, so the pair names one vote).
    Vote {
        question: u64,
        votes: u64,
    },
    Approve(u64),
    Pin(u64),
    Answer(u64),
}

impl Sent {
    pub fn kind(&self) -> &'static str {
        match self {
            Sent::Vote { .. } => "vote",
            Sent::Approve(_) => "approve",
            Sent::Pin(_) => "pin",
            Sent::Answer(_) => "answer",
        }
    }
}

/// When each [`Sent`] command left its client (µs since the epoch). Shared by the actors that send and the
/// measuring viewers that look up; only a share of viewers look, so one lock is enough.
#[derive(Default)]
pub struct SendLog {
    sent: Mutex<HashMap<Sent, u64>>,
}

impl SendLog {
    pub fn insert(&self, what: Sent, at_micros: u64) {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).insert(what, at_micros);
    }

    pub fn get(&self, what: &Sent) -> Option<u64> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).get(what).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_reach_the_histogram_in_batches_and_on_flush() {
        let stats = Stats::default();
        let mut buf = LatencyBuf::default();
        for i in 0..(BATCH as u64 + 5) {
            buf.push(&stats, "ask", 1000 + i);
        }
        assert_eq!(stats.latencies()["ask"].len(), BATCH as u64);
        buf.flush(&stats);
        assert_eq!(stats.latencies()["ask"].len(), BATCH as u64 + 5);
    }

    #[test]
    fn a_sample_taken_in_the_steady_window_counts_there_too_whenever_its_batch_is_flushed() {
        let stats = Stats::default();
        let mut buf = LatencyBuf::default();
        buf.push(&stats, "message", 100);
        let now = Instant::now();
        stats.set_window(now, now + std::time::Duration::from_secs(3600));
        buf.push(&stats, "message", 200);
        stats.record(&[("typing", 300)]);
        buf.flush(&stats);
        let all = stats.latencies();
        assert_eq!(all["message"].len(), 2, "every sample counts for the whole run");
        assert_eq!((all["steady message"].len(), all["steady message"].max()), (1, 200));
        assert_eq!(all["steady typing"].len(), 1);
    }
}
