//! The per-node participant counts: each node reports how many people it has in each broadcast's public room,
//! and refreshes them, so a dead node's counts go stale and stop counting.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::RedisStore;
use crate::error::Result;
use crate::qa::rooms::RoomRef;
use crate::qa::BroadcastId;
use crate::redis_mode::keys;
use crate::redis_mode::scripts::CONCURRENT_SCRIPT;
use crate::redis_mode::state::CONCURRENT_STALE_MS;

/// How often a node refreshes its presence counts (they go stale after `CONCURRENT_STALE_MS`).
const PRESENCE_REFRESH: Duration = Duration::from_secs(5);

impl RedisStore {
    /// Refreshes this node's presence counts every few seconds, until `stop`.
    pub async fn maintain(self: Arc<Self>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(PRESENCE_REFRESH);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            self.refresh_presence().await;
        }
    }

    /// Re-reports this node's count for every broadcast it has people in, so live counts don't go stale.
    async fn refresh_presence(&self) {
        let broadcasts: Vec<BroadcastId> = self.present.iter().map(|b| *b).collect();
        for broadcast in broadcasts {
            let count = self.hub.participant_count(&RoomRef::public(broadcast).key()) as u32;
            if self.report_concurrent(broadcast, count).await.is_ok() && count == 0 {
                self.present.remove(&broadcast);
            }
        }
    }

    pub(super) async fn report_concurrent(&self, broadcast: BroadcastId, count: u32) -> Result<u32> {
        let mut conn = self.redis.conn();
        let mut call = CONCURRENT_SCRIPT.prepare_invoke();
        call.arg(keys::prefix(broadcast)).arg(&self.node).arg(count).arg(CONCURRENT_STALE_MS);
        self.redis.run("presence", call.invoke_async(&mut conn)).await
    }
}
