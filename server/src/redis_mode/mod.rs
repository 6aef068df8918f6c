//! Redis mode: the only code that knows Redis. Several nodes share one Redis and act as one server.
//!
//! - [`RedisStore`] implements [`Store`](crate::store::Store): domain state lives in Redis, and every change
//!   commits atomically in one Lua script (optimistic: it checks the version the change was computed from),
//!   which also gives each event its room `seq`, appends it to the room's history stream and publishes it.
//! - [`bus::RedisBus`] implements [`RoomInterest`](crate::hub::RoomInterest): one pub/sub connection per node,
//!   subscribed to a room's channel only while the hub has local subscribers in it; it dispatches events to
//!   the hub in seq order, fills any gap (dropped messages, a reconnect) from the history stream, and sheds
//!   viewers when it falls too far behind (`lag`).
//! - `fence` is the generation: a marker a restarted, rolled-back, failed-over or flushed Redis can't carry
//!   over, checked by every script; one lost Redis state gives one new generation (every room's epoch), and
//!   ids are never handed out twice. `health` is readiness and the clock offset, checked every
//!   `--redis-health-ms`.
//! - `keys` is the key layout, `scripts` the Lua, `conn` the command connection with its timeout and error
//!   mapping, `resp` the small RESP client the pub/sub connection speaks, `state` between replies and domain.

mod bus;
pub(crate) mod chat;
mod conn;
mod fence;
mod health;
mod keys;
mod lag;
mod resp;
mod scripts;
mod state;
mod store;

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio_util::sync::CancellationToken;

pub use store::RedisStore;

use crate::config::Config;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::qa::rules::Policy;

/// Why Redis mode could not start. Only configuration errors: an unreachable Redis is not one (the node starts,
/// reports not ready, and connects when Redis is there).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("invalid --redis-url: {0}")]
    Url(#[from] redis::RedisError),
    #[error("--redis-url: {0}")]
    Unsupported(&'static str),
    #[error(transparent)]
    Presence(#[from] crate::config::PresenceError),
}

/// Connects this node to Redis: the store, the pub/sub bus wired into `hub`, and the background tasks (health
/// check, presence refresh, pub/sub connection), all stopped by `stop`.
pub fn start(
    url: &str,
    config: &Config,
    policy: Arc<Policy>,
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) -> Result<Arc<RedisStore>, SetupError> {
    let leases = config.chat.presence()?;
    let client = redis::Client::open(url)?;
    let endpoint = resp::Endpoint::from_info(client.get_connection_info())?;
    let timeout = Duration::from_millis(config.redis_timeout_ms.max(1));
    let health_every = Duration::from_millis(config.redis_health_ms.max(10));
    let manager = ConnectionManager::new_lazy_with_config(
        client,
        ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            // Reconnect attempts at least every health interval, so the node is back soon after Redis is.
            .set_min_delay(health_every / 5)
            .set_max_delay(health_every),
    )?;
    let redis = conn::Redis::new(manager, timeout, config.redis_sharded_pubsub);
    let store = Arc::new(RedisStore::new(redis.clone(), policy, config, leases, Arc::clone(&hub), metrics));
    let bus =
        bus::RedisBus::start(endpoint, redis.clone(), Arc::clone(&hub), health_every, config.max_lag_ms, stop.clone());
    hub.set_interest(bus);
    tokio::spawn(health::check(redis, health_every, stop.clone()));
    tokio::spawn(Arc::clone(&store).maintain(stop.clone()));
    let lease = Arc::clone(&store);
    tokio::spawn(async move { lease.chat.keep_lease(stop).await });
    Ok(store)
}
