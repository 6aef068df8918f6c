//! The command connection: a reconnecting multiplexed connection, every call bounded by `--redis-timeout-ms`,
//! Redis failures mapped to the protocol's errors, and the history-stream reads both the store and the bus use.

use std::future::Future;
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use redis::aio::ConnectionManager;
use redis::{RedisError, RedisResult, Value};
use tracing::warn;

use super::keys;
use crate::error::{Error, Result};
use crate::qa::rooms::RoomRef;

#[derive(Clone)]
pub struct Redis {
    manager: ConnectionManager,
    pub timeout: Duration,
    /// `PUBLISH` or `SPUBLISH`, as the scripts call it.
    pub publish: &'static str,
    /// Sharded pub/sub (SSUBSCRIBE/SPUBLISH) rather than plain.
    pub sharded: bool,
}

impl Redis {
    pub fn new(manager: ConnectionManager, timeout: Duration, sharded: bool) -> Self {
        Redis { manager, timeout, publish: if sharded { "SPUBLISH" } else { "PUBLISH" }, sharded }
    }

    /// A handle for one call (cheap: the manager is shared).
    pub fn conn(&self) -> ConnectionManager {
        self.manager.clone()
    }

    /// Runs one Redis call: `unavailable` after the timeout or when Redis can't be reached.
    pub async fn run<T>(&self, what: &'static str, call: impl Future<Output = RedisResult<T>>) -> Result<T> {
        match tokio::time::timeout(self.timeout, call).await {
            Err(_) => {
                warn!(what, "redis did not answer in time");
                Err(Error::unavailable())
            }
            Ok(Err(error)) => Err(map_error(what, error)),
            Ok(Ok(value)) => Ok(value),
        }
    }

    /// The current seq of a room (0 before its first event).
    pub async fn room_seq(&self, room: RoomRef) -> Result<u64> {
        let mut conn = self.conn();
        let seq: Option<u64> =
            self.run("room seq", redis::cmd("GET").arg(keys::seq(room)).query_async(&mut conn)).await?;
        Ok(seq.unwrap_or(0))
    }

    /// Declares the room's history lost: positions under the old epoch name nothing any more.
    pub async fn new_epoch(&self, room: RoomRef) -> Result<()> {
        let mut conn = self.conn();
        let epoch = format!("{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff);
        let cmd = redis::cmd("SET").arg(format!("{}:epoch", keys::room_base(room))).arg(epoch).clone();
        self.run("new epoch", cmd.query_async::<()>(&mut conn)).await
    }

    /// The events of a room's history from `from` on, in seq order (whatever the stream still holds).
    pub async fn log_from(&self, room: RoomRef, from: u64) -> Result<Vec<(u64, Utf8Bytes)>> {
        let mut conn = self.conn();
        let cmd = redis::cmd("XRANGE").arg(keys::log(room)).arg(format!("{from}-0")).arg("+").clone();
        let entries: Value = self.run("history", cmd.query_async(&mut conn)).await?;
        parse_log(entries)
    }
}

/// Unreachable, restarting or overloaded Redis is `unavailable` (retry later); anything else is a bug here.
fn map_error(what: &'static str, error: RedisError) -> Error {
    let transient = error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_timeout()
        || matches!(error.code(), Some("LOADING" | "BUSY" | "TRYAGAIN" | "MASTERDOWN" | "CLUSTERDOWN" | "READONLY"));
    if transient {
        warn!(what, %error, "redis unavailable");
        Error::unavailable()
    } else {
        Error::internal(format_args!("redis {what}: {error}"))
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
