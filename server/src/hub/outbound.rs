//! What travels from the hub and the command handler to one connection's writer.

use std::sync::{Arc, OnceLock};

use tokio::sync::Notify;

use super::{Outbox, RoomId, WireFrame};

/// One item of a connection's bounded outbound queue.
#[derive(Debug)]
pub enum Outbound {
    /// A frame of the connection's own: an ack or error (a reply to a command), a ping or a pong. Written
    /// even when the connection is being closed, before its close frame (bounded: `--close-flush-bytes`).
    Reply(WireFrame),
    /// An unsequenced frame of a room (presence).
    Frame(WireFrame),
    /// From now on the connection is in this room: hold its events until the `Baseline` arrives.
    Watch { room: RoomId },
    /// The state the client starts from: a snapshot frame, or the replayed events after the client's `since`,
    /// reflecting the room up to `seq`. Held events after `seq` follow it; those at or before are skipped.
    Baseline { room: RoomId, seq: u64, frames: Vec<WireFrame> },
    /// A room event.
    Event { room: RoomId, seq: u64, frame: WireFrame },
    /// The connection left the room: skip whatever of it is still queued.
    Unwatch { room: RoomId },
}

/// Why the server closes a connection; each has a documented close code (docs/protocol.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The connection ends normally (the peer left, or closed first).
    Normal,
    /// A text frame that is not UTF-8 (RFC 6455 §8.1).
    InvalidPayload,
    ProtocolAbuse,
    /// A frame beyond the transport's hard limit.
    MessageTooBig,
    Internal,
    Shutdown,
    SlowConsumer,
    HeartbeatTimeout,
    /// The server lost the room's history (in Redis mode: Redis restarted, rolled back or was flushed): every
    /// position the client holds names nothing any more, so it must rejoin and take a fresh snapshot.
    Resync,
}

impl CloseReason {
    pub fn code(self) -> u16 {
        match self {
            CloseReason::Normal => 1000,
            CloseReason::InvalidPayload => 1007,
            CloseReason::ProtocolAbuse => 1008,
            CloseReason::MessageTooBig => 1009,
            CloseReason::Internal => 1011,
            CloseReason::Shutdown => 1012,
            CloseReason::SlowConsumer => 4008,
            CloseReason::HeartbeatTimeout => 4009,
            CloseReason::Resync => 4010,
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            CloseReason::Normal => "bye",
            CloseReason::InvalidPayload => "invalid_utf8",
            CloseReason::ProtocolAbuse => "protocol_abuse",
            CloseReason::MessageTooBig => "message_too_big",
            CloseReason::Internal => "internal",
            CloseReason::Shutdown => "server_shutdown",
            CloseReason::SlowConsumer => "slow_consumer",
            CloseReason::HeartbeatTimeout => "heartbeat_timeout",
            CloseReason::Resync => "resync",
        }
    }
}

/// A connection's kill switch. Anyone (the hub on a full queue, the reader on a heartbeat timeout) may pull it;
/// the connection's writer notices, sends the close frame with the reason, and the connection ends.
pub struct ConnControl {
    reason: OnceLock<CloseReason>,
    /// Wakes the reader.
    notify: Notify,
    /// The writer waits on its queue, so a kill wakes it there: it then needs one atomic load per wake-up to
    /// notice, instead of polling a waiter of its own on every delivery.
    outbox: Arc<Outbox>,
}

impl ConnControl {
    pub fn new(outbox: Arc<Outbox>) -> Self {
        ConnControl { reason: OnceLock::new(), notify: Notify::new(), outbox }
    }

    /// The first reason wins; later calls are no-ops. Returns whether this call was the first.
    pub fn kill(&self, reason: CloseReason) -> bool {
        let first = self.reason.set(reason).is_ok();
        if first {
            // Both the reader and the writer may be waiting: wake them all (notify_one woke only the first, and
            // a writer left waiting ended without its close frame once the reader dropped the queue).
            self.notify.notify_waiters();
            self.outbox.wake_writer();
        }
        first
    }

    /// Closes a client that does not read fast enough (4008), counted once however many notice it.
    pub fn kill_slow_consumer(&self, metrics: &crate::metrics::Metrics) {
        if self.kill(CloseReason::SlowConsumer) {
            metrics.slow_consumer_closes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    pub fn is_killed(&self) -> bool {
        self.reason.get().is_some()
    }

    /// Why the connection was killed, if it was.
    pub fn reason(&self) -> Option<CloseReason> {
        self.reason.get().copied()
    }

    /// Resolves once the connection has been killed, with the reason.
    pub async fn killed(&self) -> CloseReason {
        loop {
            // Registered before the check, so a kill between the check and the wait still wakes us.
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(reason) = self.reason.get() {
                return *reason;
            }
            notified.await;
        }
    }
}
