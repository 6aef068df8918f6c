//! What every client of one generator process shares: the nodes, the schedule, the counters, token minting.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio_util::sync::CancellationToken;

use crate::cli::Common;
use crate::clock::{now_millis, Schedule};
use crate::stats::{SendLog, Stats};
use crate::target::{self, Node};

/// Which slice of the clients this process runs (`index` of `count` processes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    pub const ALONE: Shard = Shard { index: 0, count: 1 };

    /// This shard's slice of the global client indexes `0..n`.
    pub fn share(&self, n: u64) -> Range<u64> {
        let (i, k) = (u64::from(self.index), u64::from(self.count.max(1)));
        (n * i / k)..(n * (i + 1) / k)
    }

    pub fn is_first(&self) -> bool {
        self.index == 0
    }
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Citizen,
    Moderator,
    Agent,
    Admin,
}

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    name: &'a str,
    role: Role,
    exp: u64,
}

pub struct Ctx {
    pub common: Common,
    pub nodes: Vec<Node>,
    pub shard: Shard,
    pub schedule: Schedule,
    pub stats: Arc<Stats>,
    pub sends: Arc<SendLog>,
    /// Cancelled at the hard deadline: every client task ends on it.
    pub deadline: CancellationToken,
    /// Names this run in subjects, so a second run against the same server starts with fresh rate limits.
    pub run_id: u64,
    key: EncodingKey,
    gate: Semaphore,
}

impl Ctx {
    /// Resolves the nodes (refusing non-loopback ones unless allowed) and fixes the schedule.
    pub async fn new(common: Common, shard: Shard) -> Result<Arc<Ctx>> {
        let mut nodes = Vec::new();
        for url in &common.urls {
            nodes.push(target::resolve(url, common.allow_non_loopback).await?);
        }
        anyhow::ensure!(!nodes.is_empty(), "give at least one --url");
        let start_unix_ms = common.start_at_unix_ms.unwrap_or_else(now_millis);
        let schedule = Schedule {
            start: crate::clock::instant_of_unix_ms(start_unix_ms),
            start_unix_ms,
            ramp: secs(common.ramp_up_secs),
            steady: secs(common.duration_secs),
            drain: secs(common.drain_secs),
            max: Duration::from_secs(common.max_duration_secs),
        };
        let ctx = Arc::new(Ctx {
            key: EncodingKey::from_secret(common.jwt_secret.as_bytes()),
            gate: Semaphore::new(common.connect_concurrency.max(1)),
            nodes,
            shard,
            schedule,
            stats: Arc::new(Stats::default()),
            sends: Arc::new(SendLog::default()),
            deadline: CancellationToken::new(),
            run_id: start_unix_ms,
            common,
        });
        ctx.stats.set_window(ctx.schedule.ramp_end(), ctx.schedule.steady_end());
        let deadline = ctx.deadline.clone();
        let at = tokio::time::Instant::from_std(schedule.deadline());
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep_until(at) => deadline.cancel(),
                _ = deadline.cancelled() => {}
            }
        });
        Ok(ctx)
    }

    /// The node of client `i` (round-robin over the nodes).
    pub fn node(&self, i: u64) -> &Node {
        &self.nodes[(i % self.nodes.len() as u64) as usize]
    }

    /// The `sub` of client `i`'s token in `role` (what [`Ctx::token`] puts in it).
    pub fn sub(&self, i: u64, role: Role) -> String {
        let prefix = match role {
            Role::Citizen => "c",
            Role::Moderator => "m",
            Role::Agent => "g",
            Role::Admin => "a",
        };
        format!("{prefix}-lt{}-{i}", self.run_id)
    }

    /// A token for client `i`, signed like the server's own (HS256 with the shared secret).
    pub fn token(&self, i: u64, role: Role) -> Result<String> {
        let sub = self.sub(i, role);
        let name = format!("Load {i}");
        let exp = now_millis() / 1000 + 6 * 3600;
        let claims = Claims { sub: &sub, name: &name, role, exp };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.key).context("minting a token")
    }

    /// Bounds the handshakes in flight, so a zero-second ramp does not overflow the server's accept backlog.
    pub async fn connect_permit(&self) -> Option<SemaphorePermit<'_>> {
        self.gate.acquire().await.ok()
    }
}

pub fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_every_client_once() {
        let n = 1003;
        let mut covered = 0;
        let mut next = 0;
        for index in 0..3 {
            let r = Shard { index, count: 3 }.share(n);
            assert_eq!(r.start, next);
            next = r.end;
            covered += r.end - r.start;
        }
        assert_eq!(covered, n);
        assert_eq!(Shard::ALONE.share(7), 0..7);
    }
}
