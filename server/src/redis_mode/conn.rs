//! The command connection: a reconnecting multiplexed connection, every call bounded by `--redis-timeout-ms`,
//! Redis failures mapped to the protocol's errors (and to the node's health at once), fenced script calls, and
//! the history-stream replies both the store and the bus read.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use redis::aio::ConnectionManager;
use redis::{FromRedisValue, RedisError, RedisResult, ScriptInvocation, Value};
use tracing::warn;

use super::fence::Fence;
use super::health::Health;
use super::scripts::FENCED;
use super::state::Items;
use crate::error::{Error, Result};

/// How often one fenced call adopts a newer generation and tries again before it gives up (`unavailable`):
/// more than once only if Redis restarts again meanwhile.
const FENCE_ATTEMPTS: usize = 3;

#[derive(Clone)]
pub struct Redis {
    manager: ConnectionManager,
    pub timeout: Duration,
    /// `PUBLISH` or `SPUBLISH`, as the scripts call it.
    pub publish: &'static str,
    /// Sharded pub/sub (SSUBSCRIBE/SPUBLISH) rather than plain.
    pub sharded: bool,
    pub fence: Arc<Fence>,
    pub health: Arc<Health>,
}

impl Redis {
    pub fn new(manager: ConnectionManager, timeout: Duration, sharded: bool) -> Self {
        Redis {
            manager,
            timeout,
            publish: if sharded { "SPUBLISH" } else { "PUBLISH" },
            sharded,
            fence: Arc::new(Fence::default()),
            health: Arc::new(Health::default()),
        }
    }

    /// A handle for one call (cheap: the manager is shared).
    pub fn conn(&self) -> ConnectionManager {
        self.manager.clone()
    }

    /// Runs one Redis call: `unavailable` after the timeout or when Redis can't be reached. Every answer, or
    /// the lack of one, tells the node's health at once.
    pub async fn run<T>(&self, what: &'static str, call: impl Future<Output = RedisResult<T>>) -> Result<T> {
        match self.attempt(what, call).await? {
            Some(value) => Ok(value),
            None => Err(Error::internal(format_args!("redis {what}: fenced, but not a fenced call"))),
        }
    }

    /// Runs one fenced script call: `None` if Redis refused it because the generation moved on.
    pub async fn attempt<T>(
        &self,
        what: &'static str,
        call: impl Future<Output = RedisResult<T>>,
    ) -> Result<Option<T>> {
        let sent = Instant::now();
        match tokio::time::timeout(self.timeout, call).await {
            Err(_) => {
                warn!(what, "redis did not answer in time");
                self.health.timed_out(sent);
                Err(Error::unavailable())
            }
            Ok(Err(error)) if error.code() == Some(FENCED) => {
                self.health.replied();
                Ok(None)
            }
            Ok(Err(error)) => Err(self.map_error(what, error, sent)),
            Ok(Ok(value)) => {
                self.health.replied();
                Ok(Some(value))
            }
        }
    }

    /// Runs a fenced script built by `build` for the generation this node believes in; if Redis holds another
    /// one (it restarted, rolled back, failed over or was flushed), adopts it and runs the call again. Only for
    /// calls that don't depend on what was read in the old generation (reads, votes, id allocation): a commit
    /// computed from loaded state reloads instead (see `store`).
    pub async fn fenced<T: FromRedisValue>(
        &self,
        what: &'static str,
        build: impl Fn(&str) -> ScriptInvocation<'static>,
    ) -> Result<T> {
        let mut generation = self.generation().await?;
        for _ in 0..FENCE_ATTEMPTS {
            let call = build(&generation);
            let mut conn = self.conn();
            if let Some(value) = self.attempt(what, call.invoke_async(&mut conn)).await? {
                return Ok(value);
            }
            generation = self.adopt_after(&generation).await?;
        }
        warn!(what, "redis generation kept changing");
        Err(Error::unavailable())
    }

    /// Unreachable, restarting or overloaded Redis is `unavailable` (retry later); anything else is a bug here.
    fn map_error(&self, what: &'static str, error: RedisError, sent: Instant) -> Error {
        let transient = error.is_io_error()
            || error.is_connection_dropped()
            || error.is_connection_refusal()
            || error.is_timeout()
            || matches!(
                error.code(),
                Some("LOADING" | "BUSY" | "TRYAGAIN" | "MASTERDOWN" | "CLUSTERDOWN" | "READONLY")
            );
        if transient {
            if error.is_timeout() {
                self.health.timed_out(sent);
            } else {
                // Refused, dropped, loading, read-only: Redis can't serve this node now.
                self.health.set_reachable(false);
            }
            warn!(what, %error, "redis unavailable");
            Error::unavailable()
        } else {
            Error::internal(format_args!("redis {what}: {error}"))
        }
    }
}

/// The REPLAY script's reply: the generation it read under, a room's seq and the history entries it read.
pub struct History {
    pub generation: String,
    pub seq: u64,
    pub entries: Vec<(u64, Utf8Bytes)>,
}

impl History {
    pub fn parse(reply: Value) -> Result<Self> {
        let mut items = Items::new(reply)?;
        let (generation, seq) = (items.text()?, items.number()?);
        Ok(History { generation, seq, entries: parse_log(items.value()?)? })
    }
}

/// XRANGE's reply: `[[id, [field, value, ...]], ...]`, ids `<seq>-0`, the frame under field `f`.
pub fn parse_log(entries: Value) -> Result<Vec<(u64, Utf8Bytes)>> {
    let Value::Array(entries) = entries else { return Err(Error::internal("XRANGE: not an array")) };
    entries.into_iter().map(parse_entry).collect()
}

fn parse_entry(entry: Value) -> Result<(u64, Utf8Bytes)> {
    let bad = || Error::internal("XRANGE: malformed entry");
    let Value::Array(mut parts) = entry else { return Err(bad()) };
    if parts.len() != 2 {
        return Err(bad());
    }
    let fields = parts.pop().ok_or_else(bad)?;
    let id = text(parts.pop().ok_or_else(bad)?).ok_or_else(bad)?;
    let seq = id.split('-').next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let Value::Array(fields) = fields else { return Err(bad()) };
    let mut fields = fields.into_iter();
    while let (Some(name), Some(value)) = (fields.next(), fields.next()) {
        if text(name).as_deref() == Some("f") {
            return Ok((seq, Utf8Bytes::from(text(value).ok_or_else(bad)?)));
        }
    }
    Err(bad())
}

/// A string reply as a `String` (`None` for nil or non-text).
pub fn text(value: Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes).ok(),
        Value::SimpleString(s) => Some(s),
        Value::Int(n) => Some(n.to_string()),
        Value::Okay => Some("OK".into()),
        _ => None,
    }
}
