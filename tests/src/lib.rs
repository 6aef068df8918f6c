//! Test fixtures: a real Majlis server on port 0, and a small WebSocket client that speaks protocol v1.
//!
//! Every wait is bounded ([`WAIT`]), so a missing frame fails the test quickly instead of hanging it.

pub mod browser;
pub mod chat;
mod client;
pub mod redis;
mod server;

use std::time::Duration;

use majlis_server::Config;
use serde_json::{json, Value};

pub use client::{frames_until_close, Client, Refusal, Ws};
pub use server::TestServer;

/// The longest any single expected frame or response may take.
pub const WAIT: Duration = Duration::from_secs(10);
pub const SECRET: &str = "test-secret-not-for-production";

/// Rate limits out of the way, and one `votes` event per vote (so events can be counted exactly): for tests
/// about something else than limits or coalescing.
pub fn generous(c: &mut Config) {
    c.questions_per_minute = 100_000;
    c.questions_burst = 100_000;
    c.votes_per_second = 100_000;
    c.votes_burst = 100_000;
    c.commands_per_second = 100_000;
    c.commands_burst = 100_000;
    c.vote_flush_ms = 0;
}

/// The next `n` events of `room`, in arrival order (events of other rooms are skipped).
pub async fn events_of(client: &mut Client, room: &str, n: usize) -> Vec<Value> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let frame = client.next_event().await;
        if frame["room"] == room {
            out.push(frame);
        }
    }
    out
}

/// Asserts that `events` carry the seqs `after + 1`, `after + 2`, … with no gap and in order.
pub fn assert_gap_free(events: &[Value], after: u64) {
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["seq"].as_u64(), Some(after + 1 + i as u64), "seq gap or disorder at {i}: {e}");
    }
}

/// Asks a question and returns it (from the ack).
pub async fn ask(client: &mut Client, broadcast: u64, text: &str) -> Value {
    let result = client.ok(json!({"type": "ask", "broadcast": broadcast, "text": text})).await;
    result["question"].clone()
}

pub fn id_of(value: &Value) -> u64 {
    value["id"].as_u64().unwrap_or_else(|| panic!("no id in {value}"))
}
