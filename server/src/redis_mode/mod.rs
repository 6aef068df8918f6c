//! Redis mode: the only code that knows Redis. Several nodes share one Redis and act as one server.
//!
//! - [`RedisStore`] implements [`Store`](crate::store::Store): domain state lives in Redis, and every change
//!   commits atomically in one Lua script (optimistic: it checks the version the change was computed from),
//!   which also gives each event its room `seq`, appends it to the room's history stream and publishes it.
//! - [`bus::RedisBus`] implements [`RoomInterest`](crate::hub::RoomInterest): one pub/sub connection per node,
//!   subscribed to a room's channel only while the hub has local subscribers in it; it dispatches events to
//!   the hub in seq order and fills any gap (dropped messages, a reconnect) from the history stream.
//! - `keys` is the key layout, `scripts` the Lua, `conn` the command connection with its timeout and error
//!   mapping, `resp` the small RESP client the pub/sub connection speaks.

mod bus;
mod conn;
mod keys;
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
    let client = redis::Client::open(url)?;
    let endpoint = resp::Endpoint::from_info(client.get_connection_info())?;
    let timeout = Duration::from_millis(config.redis_timeout_ms.max(1));
    let manager = ConnectionManager::new_lazy_with_config(
        client,
        ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_max_delay(Duration::from_secs(2)),
    )?;
    let redis = conn::Redis::new(manager, timeout, config.redis_sharded_pubsub);
    let store = Arc::new(RedisStore::new(redis.clone(), policy, config, Arc::clone(&hub), metrics));
    let bus = bus::RedisBus::start(endpoint, redis, Arc::clone(&hub), stop.clone());
    hub.set_interest(bus);
    tokio::spawn(Arc::clone(&store).maintain(stop));
    Ok(store)
}
