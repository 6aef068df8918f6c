//! Live participant counts: how many people are in each broadcast's public room, sent to both rooms as an
//! unsequenced `presence` frame when it changes, at most once per interval.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::rooms::{Audience, RoomRef};
use super::BroadcastId;
use crate::app::App;
use crate::protocol;

pub async fn run(app: Arc<App>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_millis(app.config.presence_interval_ms.max(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last: HashMap<BroadcastId, u32> = HashMap::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let broadcasts: Vec<BroadcastId> =
            app.hub.room_keys().iter().filter_map(|k| RoomRef::parse(k)).map(|r| r.broadcast).collect();
        let mut seen = HashMap::with_capacity(broadcasts.len());
        for broadcast in broadcasts {
            let public = RoomRef::public(broadcast).key();
            let here = app.hub.participant_count(&public) as u32;
            // Every tick, not only on a local change: with several nodes the total moves with the others' rooms.
            let count = match app.store.record_concurrent(broadcast, here).await {
                Ok(total) => total,
                Err(error) => {
                    tracing::debug!(broadcast, code = ?error.code, "could not record presence");
                    here
                }
            };
            seen.insert(broadcast, count);
            if last.get(&broadcast) == Some(&count) {
                continue;
            }
            let frame = protocol::presence(&public, count);
            app.hub.dispatch_frame(&public, &frame);
            app.hub.dispatch_frame(&RoomRef { broadcast, audience: Audience::Moderation }.key(), &frame);
        }
        last = seen;
    }
}
