//! The Redis store. Reads are single scripts (consistent snapshots); a change is computed in Rust by the same
//! rules as in memory, from a state loaded for it, and committed by one script that first checks the state is
//! still what it was computed from (else: reload and retry). Votes, the hot path, are a script of their own.
//!
//! Why scripts and not WATCH/MULTI: WATCH belongs to a connection, and the multiplexed connection is shared by
//! every command of the node; a compare-and-commit script gives the same optimistic transaction without one
//! connection per command.
//!
//! Every script runs behind the generation fence (see `fence`). A load and its commit run under the same
//! generation, so a change computed from a state Redis has since lost can't be committed over what replaced it.
//!
//! - `change`: commands, votes and broadcast changes, and the ids they take;
//! - `presence`: the per-node participant counts.

mod admission;
mod change;
mod chat;
mod own;
mod presence;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dashmap::DashSet;
use rand::Rng;
use redis::Value;

use super::chat::{Bounds, RedisChat};
use super::conn::{History, Redis};
use super::keys;
use super::scripts::*;
use super::state::Full;
use crate::auth::User;
use crate::config::{Config, PresenceLeases};
use crate::error::{Error, Result};
use crate::hub::Hub;
use crate::limits::Admission;
use crate::metrics::Metrics;
use crate::protocol::{self, Position};
use crate::qa::rooms::{self, Audience, RoomRef};
use crate::qa::rules::Policy;
use crate::qa::stats::{self, FaqGroup, Stats};
use crate::qa::{Broadcast, BroadcastId, BroadcastPatch, NewBroadcast, QaCommand, QaReply, Question};
use crate::store::{Backend, PersonalStore, QaStore, Replay, SharedRead, Snapshot};
use admission::Attempt;

/// How often a change is recomputed when other nodes keep changing the same state under it.
const MAX_ATTEMPTS: u32 = 50;

pub struct RedisStore {
    redis: Redis,
    /// The live chat (see `redis_mode::chat`).
    pub(super) chat: RedisChat,
    policy: Arc<Policy>,
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
    history_len: usize,
    /// Events kept per personal stream (`--personal-history-len`), and for how long (ms).
    personal_history_len: usize,
    personal_retention_ms: u64,
    /// This node's name in the per-node presence counts.
    node: String,
    question_interval_ms: u64,
    question_burst: u32,
    /// Broadcasts whose presence count this node reports.
    present: DashSet<BroadcastId>,
    /// Votes publish their counts at the next flush (`--vote-flush-ms`), not one event per vote.
    coalesce_votes: bool,
    /// Most vote-count events per broadcast per flush (`--vote-events-per-flush`).
    vote_events_per_flush: usize,
    /// Broadcasts this node took votes for since its last flush.
    dirty: DashSet<BroadcastId>,
    /// The `desk` room's snapshot is the same for every member of staff: joins at once share one read.
    desk_snapshot: SharedRead<Snapshot>,
}

impl RedisStore {
    /// The room whose keys start with `base`: its seq and, with `since`, the history after it, under the
    /// current generation.
    async fn room_history(&self, base: &str, since: Option<u64>) -> Result<History> {
        let reply: Value = self
            .redis
            .fenced("replay", |generation| {
                let mut call = REPLAY_SCRIPT.prepare_invoke();
                call.arg(generation).arg(base).arg(since.map(|s| s.to_string()).unwrap_or_default());
                call
            })
            .await?;
        History::parse(reply)
    }

    /// The events after `since` of the room whose keys start with `base`, if its history still holds them all.
    pub(super) async fn replay_room(&self, base: &str, since: &Position) -> Result<Option<Replay>> {
        // The room's epoch is the generation: a position from before a new one names nothing any more.
        let History { generation, seq, entries } = self.room_history(base, Some(since.seq)).await?;
        if generation != since.epoch || since.seq > seq {
            return Ok(None);
        }
        // Every event after `since` must still be there, in one unbroken run.
        let complete = entries.len() as u64 == seq - since.seq
            && entries.iter().enumerate().all(|(i, (s, _))| *s == since.seq + 1 + i as u64);
        Ok(complete.then(|| Replay { seq, frames: entries.into_iter().map(|(_, f)| f).collect() }))
    }

    /// `leases`: the chat's presence leases, checked (`ChatConfig::presence`).
    pub fn new(
        redis: Redis,
        policy: Arc<Policy>,
        config: &Config,
        leases: PresenceLeases,
        hub: Arc<Hub>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let bounds = Bounds {
            history_len: config.history_len.max(1),
            personal_history_len: config.personal_history_len.max(1),
            personal_retention_ms: config.personal_retention_hours.saturating_mul(3_600_000).max(1),
        };
        let chat = RedisChat::new(
            redis.clone(),
            Arc::new(config.chat.policy()),
            config.chat.consent(),
            crate::chat::hours::Schedule::default(),
            bounds,
            leases,
            Arc::clone(&metrics),
        );
        RedisStore {
            chat,
            redis,
            policy,
            hub,
            metrics,
            history_len: config.history_len.max(1),
            personal_history_len: config.personal_history_len.max(1),
            personal_retention_ms: config.personal_retention_hours.saturating_mul(3_600_000).max(1),
            node: format!("{:016x}", rand::random::<u64>()),
            question_interval_ms: (60_000 / u64::from(config.questions_per_minute.max(1))).max(1),
            question_burst: config.questions_burst.max(1),
            present: DashSet::new(),
            coalesce_votes: config.vote_flush_ms > 0,
            vote_events_per_flush: config.vote_events_per_flush.max(1),
            dirty: DashSet::new(),
            desk_snapshot: SharedRead::default(),
        }
    }

    /// The whole broadcast, consistently; with a room, its seq and `viewer`'s votes.
    async fn read_all(&self, broadcast: BroadcastId, room: Option<Audience>, viewer: &str) -> Result<Full> {
        let reply: Value = self
            .redis
            .fenced("read", |generation| {
                let mut call = READ_ALL_SCRIPT.prepare_invoke();
                call.arg(generation)
                    .arg(keys::prefix(broadcast))
                    .arg(room.map(keys::room_tag).unwrap_or_default())
                    .arg(viewer);
                call
            })
            .await?;
        Full::parse(reply, viewer)?.ok_or_else(no_broadcast)
    }
}

fn no_broadcast() -> Error {
    Error::not_found("No such broadcast.")
}

/// A short random pause between optimistic attempts, so competing nodes don't retry in lockstep.
async fn backoff() {
    let micros = rand::rng().random_range(100..2_000);
    tokio::time::sleep(Duration::from_micros(micros)).await;
}

#[async_trait]
impl QaStore for RedisStore {
    async fn create_broadcast(&self, new: NewBroadcast) -> Result<Broadcast> {
        self.create(new).await
    }

    async fn update_broadcast(&self, id: BroadcastId, patch: BroadcastPatch) -> Result<Broadcast> {
        self.change_broadcast(id, &patch).await
    }

    async fn broadcast(&self, id: BroadcastId) -> Result<Broadcast> {
        let mut conn = self.redis.conn();
        let json: Option<String> = self
            .redis
            .run("broadcast", redis::cmd("GET").arg(format!("{}:bc", keys::prefix(id))).query_async(&mut conn))
            .await?;
        serde_json::from_str(&json.ok_or_else(no_broadcast)?).map_err(Error::internal)
    }

    async fn broadcast_by_code(&self, code: &str) -> Result<Broadcast> {
        let mut conn = self.redis.conn();
        let id: Option<BroadcastId> = self
            .redis
            .run("code", redis::cmd("HGET").arg(keys::CODES).arg(code.trim().to_uppercase()).query_async(&mut conn))
            .await?;
        self.broadcast(id.ok_or_else(|| Error::not_found("No broadcast has this code."))?).await
    }

    async fn broadcasts(&self) -> Result<Vec<Broadcast>> {
        let mut conn = self.redis.conn();
        let ids: Vec<BroadcastId> =
            self.redis.run("broadcasts", redis::cmd("SMEMBERS").arg(keys::BROADCASTS).query_async(&mut conn)).await?;
        if ids.is_empty() {
            // Not only quicker: Redis refuses an empty pipeline.
            return Ok(vec![]);
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("GET").arg(format!("{}:bc", keys::prefix(*id)));
        }
        let found: Vec<Option<String>> = self.redis.run("broadcasts", pipe.query_async(&mut conn)).await?;
        found.into_iter().flatten().map(|json| serde_json::from_str(&json).map_err(Error::internal)).collect()
    }

    async fn execute(
        &self,
        broadcast: BroadcastId,
        actor: &User,
        command: QaCommand,
        gate: &dyn Admission,
    ) -> Result<QaReply> {
        if let QaCommand::Vote { question, value } = command {
            return self.vote(broadcast, actor, question, value, gate).await;
        }
        let mut attempt = Attempt::default();
        for _ in 0..MAX_ATTEMPTS {
            if let Some(reply) = self.attempt(broadcast, actor, &command, gate, &mut attempt).await? {
                return Ok(reply);
            }
            backoff().await;
        }
        tracing::warn!(broadcast, "command kept conflicting with concurrent changes");
        Err(Error::unavailable())
    }

    async fn snapshot(&self, room: RoomRef, viewer: &User) -> Result<Snapshot> {
        let full = self.read_all(room.broadcast, Some(room.audience), &viewer.sub).await?;
        let data = rooms::snapshot(&full.state, room.audience, viewer);
        Ok(Snapshot {
            frame: protocol::qa::snapshot(&room.key(), &full.generation, full.seq, &data),
            epoch: full.generation,
            seq: full.seq,
        })
    }

    async fn replay(&self, room: RoomRef, since: &Position) -> Result<Option<Replay>> {
        self.replay_room(&keys::room_base(room), since).await
    }

    async fn record_participant(&self, broadcast: BroadcastId, user: &User, concurrent: u32) -> Result<()> {
        if !user.role.is_staff() {
            let mut conn = self.redis.conn();
            let key = format!("{}:parts", keys::prefix(broadcast));
            self.redis
                .run("participant", redis::cmd("SADD").arg(key).arg(&user.sub).query_async::<()>(&mut conn))
                .await?;
        }
        self.record_concurrent(broadcast, concurrent).await.map(|_| ())
    }

    async fn record_concurrent(&self, broadcast: BroadcastId, concurrent: u32) -> Result<u32> {
        self.present.insert(broadcast);
        self.report_concurrent(broadcast, concurrent).await
    }

    async fn stats(&self, broadcast: BroadcastId) -> Result<Stats> {
        let full = self.read_all(broadcast, None, "").await?;
        let mut stats = stats::stats(&full.state);
        stats.unique_participants = full.unique_participants;
        Ok(stats)
    }

    async fn faq(&self) -> Result<Vec<FaqGroup>> {
        let mut groups = vec![];
        for broadcast in self.broadcasts().await? {
            if broadcast.state.accepts_questions() {
                continue;
            }
            let full = self.read_all(broadcast.id, None, "").await?;
            groups.extend(stats::faq_group(&full.state));
        }
        groups
            .sort_by(|a, b| b.broadcast.ended_at.cmp(&a.broadcast.ended_at).then(b.broadcast.id.cmp(&a.broadcast.id)));
        Ok(groups)
    }

    async fn own_questions(&self, sub: &str) -> Result<Vec<(Question, bool)>> {
        self.read_own_questions(sub).await
    }

    async fn flush_votes(&self) -> Result<()> {
        self.flush(&self.hub.room_keys()).await
    }
}

#[async_trait]
impl PersonalStore for RedisStore {
    async fn position(&self, sub: &str) -> Result<Position> {
        let base = keys::room_base_of(&protocol::personal::room(sub)).ok_or_else(bad_sub)?;
        let history = self.room_history(&base, None).await?;
        Ok(Position { epoch: history.generation, seq: history.seq })
    }

    async fn replay(&self, sub: &str, since: &Position) -> Result<Option<Replay>> {
        let base = keys::room_base_of(&protocol::personal::room(sub)).ok_or_else(bad_sub)?;
        self.replay_room(&base, since).await
    }
}

fn bad_sub() -> Error {
    Error::bad_request("Rooms are named broadcast:<id>, broadcast:<id>:moderation or user:<sub>.")
}

impl Backend for RedisStore {
    fn is_healthy(&self) -> bool {
        self.redis.health.is_healthy()
    }
}
