//! The bus: how a room event reaches every node's hub.
//!
//! In memory there is one node, so publishing is handing the frame to the local hub. A shared bus (Redis
//! pub/sub) implements the same trait and delivers to every node that has subscribers in the room.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;

use crate::hub::Hub;
use crate::metrics::Metrics;

pub trait Bus: Send + Sync {
    /// Publishes a sequenced event of `room`. Callers publish a room's events in `seq` order.
    fn publish(&self, room: &str, seq: u64, frame: &Utf8Bytes);
    /// Publishes an unsequenced frame of `room` (a typing indicator): not stored, not replayed.
    fn publish_frame(&self, room: &str, frame: &Utf8Bytes);
    /// Removes `person`'s connections from `room` on every node (they lost the right to be in it, e.g. an agent
    /// who handed a chat on). Callers publish the room's events before it, so those still reach them.
    fn revoke(&self, room: &str, person: &str);
}

/// The single-node bus: straight into the local hub.
pub struct LocalBus {
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
}

impl LocalBus {
    pub fn new(hub: Arc<Hub>, metrics: Arc<Metrics>) -> Self {
        LocalBus { hub, metrics }
    }
}

impl Bus for LocalBus {
    fn publish(&self, room: &str, seq: u64, frame: &Utf8Bytes) {
        self.metrics.events_published.fetch_add(1, Relaxed);
        self.hub.dispatch_event(room, seq, frame);
    }

    fn publish_frame(&self, room: &str, frame: &Utf8Bytes) {
        self.hub.dispatch_frame(room, frame);
    }

    fn revoke(&self, room: &str, person: &str) {
        self.hub.revoke(room, person);
    }
}
