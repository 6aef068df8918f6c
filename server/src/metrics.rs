//! Prometheus metrics, hand-rolled on relaxed atomics.
//!
//! Why not a metrics crate: the hot path (one increment per delivered frame) must stay a single relaxed atomic
//! add, and the set of series is small and fixed. Rendering follows the Prometheus text exposition format.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use crate::error::ErrorCode;

/// Counters and gauges of one server instance.
#[derive(Default)]
pub struct Metrics {
    pub connections_open: AtomicI64,
    pub connections_total: AtomicU64,
    pub connections_rejected: AtomicU64,
    pub rooms: AtomicI64,
    /// In Redis mode, how far behind its rooms' events the node dispatched its last batch (ms, Redis' clock).
    pub dispatch_lag_ms: AtomicI64,
    /// Room events this node published: through the local bus, or in Redis mode by its store's scripts (events
    /// that reach this node from other nodes are not counted).
    pub events_published: AtomicU64,
    pub frames_delivered: AtomicU64,
    /// Batches of frames written (one vectored write each, unless the socket was full): frames per write
    /// shows how much `--write-interval-ms` and the load coalesce.
    pub socket_writes: AtomicU64,
    pub frames_queued: AtomicU64,
    pub frames_dropped_before_snapshot: AtomicU64,
    pub slow_consumer_closes: AtomicU64,
    pub heartbeat_closes: AtomicU64,
    pub rate_limited: AtomicU64,
    pub commands: AtomicU64,
    pub http_requests: AtomicU64,
    /// Redis mode: chat starts, and the desk turns that ran them (several starts share one desk commit).
    pub chat_starts: AtomicU64,
    pub chat_start_batches: AtomicU64,
    errors: [AtomicU64; ErrorCode::ALL.len()],
}

impl Metrics {
    /// Frames handed to connection queues by one fan-out (delivered once the writer sends them).
    pub fn frames_queued(&self, n: u64) {
        self.frames_queued.fetch_add(n, Relaxed);
    }

    pub fn error(&self, code: ErrorCode) {
        self.errors[code.index()].fetch_add(1, Relaxed);
        if code == ErrorCode::RateLimited {
            self.rate_limited.fetch_add(1, Relaxed);
        }
    }

    pub fn errors_of(&self, code: ErrorCode) -> u64 {
        self.errors[code.index()].load(Relaxed)
    }

    /// The Prometheus text exposition of every series.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let gauges: [(&str, &str, i64); 3] = [
            ("majlis_connections_open", "WebSocket connections currently open.", self.connections_open.load(Relaxed)),
            ("majlis_rooms", "Rooms with at least one local subscriber.", self.rooms.load(Relaxed)),
            (
                "majlis_dispatch_lag_ms",
                "Redis mode: how far behind its rooms' events the node dispatched its last batch, in ms.",
                self.dispatch_lag_ms.load(Relaxed),
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
        }
        let counters: [(&str, &str, &AtomicU64); 14] = [
            ("majlis_connections_total", "WebSocket connections accepted.", &self.connections_total),
            ("majlis_connections_rejected_total", "Upgrades refused by connection limits.", &self.connections_rejected),
            ("majlis_events_published_total", "Room events published (once per event).", &self.events_published),
            ("majlis_frames_queued_total", "Event frames handed to connection queues by fan-out.", &self.frames_queued),
            ("majlis_frames_delivered_total", "Frames written to WebSocket clients.", &self.frames_delivered),
            (
                "majlis_socket_writes_total",
                "Writes to WebSocket clients' sockets; each carries one or more frames.",
                &self.socket_writes,
            ),
            (
                "majlis_frames_skipped_total",
                "Queued events skipped because a fresher snapshot covered them.",
                &self.frames_dropped_before_snapshot,
            ),
            ("majlis_slow_consumer_closes_total", "Connections closed as slow consumers.", &self.slow_consumer_closes),
            ("majlis_heartbeat_closes_total", "Connections closed for missing heartbeats.", &self.heartbeat_closes),
            ("majlis_rate_limited_total", "Commands or requests refused by rate limits.", &self.rate_limited),
            ("majlis_commands_total", "WebSocket commands received.", &self.commands),
            ("majlis_http_requests_total", "HTTP requests served.", &self.http_requests),
            ("majlis_chat_starts_total", "Redis mode: chat starts run on the desk.", &self.chat_starts),
            (
                "majlis_chat_start_batches_total",
                "Redis mode: desk turns that ran chat starts; starts per turn = starts / this.",
                &self.chat_start_batches,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", value.load(Relaxed));
        }
        let _ = writeln!(
            out,
            "# HELP majlis_internal_errors_total Internal errors logged (a bug or a failing dependency such as \
             Redis; the log has the cause). Alert on any increase.\n# TYPE majlis_internal_errors_total counter\n\
             majlis_internal_errors_total {}",
            crate::error::internal_errors()
        );
        let _ = writeln!(out, "# HELP majlis_errors_total Errors answered to clients, by code.");
        let _ = writeln!(out, "# TYPE majlis_errors_total counter");
        for code in ErrorCode::ALL {
            let _ = writeln!(out, "majlis_errors_total{{code=\"{}\"}} {}", code.as_str(), self.errors_of(code));
        }
        out
    }
}
