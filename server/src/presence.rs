//! Live participant counts: how many people are in each broadcast's public room, sent to each of the
//! broadcast's rooms as an unsequenced `presence` frame (labelled with that room) when it changes, at most
//! once per interval. An application task, not part of the Q&A domain: it reads the hub and the store and
//! speaks the wire.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::protocol;
use crate::qa::rooms::RoomRef;
use crate::qa::BroadcastId;

pub async fn run(app: Arc<App>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_millis(app.config.presence_interval_ms.max(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last: HashMap<BroadcastId, u32> = HashMap::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        // A broadcast with both rooms open here is counted once (twice, its change went out twice).
        let broadcasts: BTreeSet<BroadcastId> =
            app.hub.room_keys().iter().filter_map(|k| RoomRef::parse(k)).map(|r| r.broadcast).collect();
        let mut seen = HashMap::with_capacity(broadcasts.len());
        for broadcast in broadcasts {
            let public = RoomRef::public(broadcast).key();
            let here = app.hub.participant_count(&public) as u32;
            // Every tick, not only on a local change: with several nodes the total moves with the others' rooms.
            let count = match app.qa.record_concurrent(broadcast, here).await {
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
            // One frame per room, each labelled with its own room: a moderator who joined only the moderation
            // room hears it once, about the room they are in.
            for room in [public, RoomRef::moderation(broadcast).key()] {
                app.hub.dispatch_frame(&room, &protocol::presence(&room, count));
            }
        }
        last = seen;
    }
}
