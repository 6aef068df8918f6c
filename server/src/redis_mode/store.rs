//! The Redis store. Reads are single scripts (consistent snapshots); a change is computed in Rust by the same
//! rules as in memory, from a state loaded for it, and committed by one script that first checks the state is
//! still what it was computed from (else: reload and retry). Votes, the hot path, are a script of their own.
//!
//! Why scripts and not WATCH/MULTI: WATCH belongs to a connection, and the multiplexed connection is shared by
//! every command of the node; a compare-and-commit script gives the same optimistic transaction without one
//! connection per command.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use dashmap::DashSet;
use rand::Rng;
use redis::Value;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::conn::Redis;
use super::keys;
use super::scripts::*;
use super::state::{diff_ops, Before, Full, Items, Loaded, CONCURRENT_STALE_MS};
use crate::auth::{unix_millis, User};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::hub::Hub;
use crate::limits::{Admission, Charge};
use crate::metrics::Metrics;
use crate::protocol::{self, Position};
use crate::qa::rooms::{self, Audience, Recipient, RoomEvent, RoomRef};
use crate::qa::rules::{new_broadcast, Change, Policy};
use crate::qa::stats::{self, FaqGroup, Stats};
use crate::qa::{Broadcast, BroadcastId, BroadcastPatch, NewBroadcast, QaCommand, QaReply, Question, QuestionId};
use crate::store::{Backend, PersonalStore, QaStore, Replay, Snapshot};

/// Letters that can't be mistaken for one another when read aloud or typed from a screen (no I, L, O).
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ";
const CODE_LEN: usize = 6;
/// How often a change is recomputed when other nodes keep changing the same state under it.
const MAX_ATTEMPTS: u32 = 50;
/// How often a node refreshes its presence counts (they go stale after `CONCURRENT_STALE_MS`).
const PRESENCE_REFRESH: Duration = Duration::from_secs(5);

pub struct RedisStore {
    redis: Redis,
    policy: Arc<Policy>,
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
    history_len: usize,
    /// This node's name in the per-node presence counts.
    node: String,
    question_interval_ms: u64,
    question_burst: u32,
    healthy: AtomicBool,
    /// Broadcasts whose presence count this node reports.
    present: DashSet<BroadcastId>,
    /// Votes publish their counts at the next flush (`--vote-flush-ms`), not one event per vote.
    coalesce_votes: bool,
    /// Most vote-count events per broadcast per flush (`--vote-events-per-flush`).
    vote_events_per_flush: usize,
    /// Broadcasts this node took votes for since its last flush.
    dirty: DashSet<BroadcastId>,
}

impl RedisStore {
    pub fn new(redis: Redis, policy: Arc<Policy>, config: &Config, hub: Arc<Hub>, metrics: Arc<Metrics>) -> Self {
        RedisStore {
            redis,
            policy,
            hub,
            metrics,
            history_len: config.history_len.max(1),
            node: format!("{:016x}", rand::random::<u64>()),
            question_interval_ms: (60_000 / u64::from(config.questions_per_minute.max(1))).max(1),
            question_burst: config.questions_burst.max(1),
            healthy: AtomicBool::new(false),
            present: DashSet::new(),
            coalesce_votes: config.vote_flush_ms > 0,
            vote_events_per_flush: config.vote_events_per_flush.max(1),
            dirty: DashSet::new(),
        }
    }

    /// Background upkeep until `stop`: a PING every second (readiness), presence counts every few seconds.
    pub async fn maintain(self: Arc<Self>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_refresh = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            self.check_health().await;
            if last_refresh.elapsed() >= PRESENCE_REFRESH {
                last_refresh = tokio::time::Instant::now();
                self.refresh_presence().await;
            }
        }
    }

    async fn check_health(&self) {
        let mut conn = self.redis.conn();
        let up = self.redis.run("ping", redis::cmd("PING").query_async::<String>(&mut conn)).await.is_ok();
        if self.healthy.swap(up, Relaxed) != up {
            if up {
                info!("redis reachable: ready");
            } else {
                warn!("redis unreachable: not ready");
            }
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

    async fn report_concurrent(&self, broadcast: BroadcastId, count: u32) -> Result<u32> {
        let mut conn = self.redis.conn();
        let mut call = CONCURRENT_SCRIPT.prepare_invoke();
        call.arg(keys::prefix(broadcast)).arg(&self.node).arg(count).arg(CONCURRENT_STALE_MS);
        self.redis.run("presence", call.invoke_async(&mut conn)).await
    }

    async fn new_code(&self, id: BroadcastId) -> Result<String> {
        for _ in 0..100 {
            let code: String = {
                let mut rng = rand::rng();
                (0..CODE_LEN).map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char).collect()
            };
            let mut conn = self.redis.conn();
            let taken: bool = self
                .redis
                .run("code", redis::cmd("HSETNX").arg(keys::CODES).arg(&code).arg(id).query_async(&mut conn))
                .await?;
            if taken {
                return Ok(code);
            }
        }
        Err(Error::internal("no free broadcast code after 100 tries"))
    }

    async fn next_id(&self, key: &'static str) -> Result<u64> {
        let mut conn = self.redis.conn();
        self.redis.run("id", redis::cmd("INCR").arg(key).query_async(&mut conn)).await
    }

    /// Loads what `command` needs (see the LOAD script).
    async fn load(&self, broadcast: BroadcastId, actor: &User, command: &QaCommand) -> Result<Loaded> {
        let (ids, voters): (Vec<QuestionId>, bool) = match command {
            QaCommand::Merge { question, into } => (vec![*question, *into], true),
            QaCommand::Edit { question, .. }
            | QaCommand::Withdraw { question }
            | QaCommand::Approve { question }
            | QaCommand::Hide { question, .. }
            | QaCommand::Pin { question }
            | QaCommand::Answer { question, .. }
            | QaCommand::ModEdit { question, .. }
            | QaCommand::Tag { question, .. } => (vec![*question], false),
            QaCommand::Ask { .. } | QaCommand::Vote { .. } | QaCommand::Unpin | QaCommand::Mute { .. } => {
                (vec![], false)
            }
        };
        let asker = match command {
            QaCommand::Ask { client_msg_id: Some(cmid), .. } => Some((actor.sub.as_str(), cmid.as_str())),
            _ => None,
        };
        self.load_parts(broadcast, &ids, voters, asker).await
    }

    /// Loads a broadcast with the questions `ids` (and their voters if `voters`) and the `asked` entry of `asker`.
    async fn load_parts(
        &self,
        broadcast: BroadcastId,
        ids: &[QuestionId],
        voters: bool,
        asker: Option<(&str, &str)>,
    ) -> Result<Loaded> {
        let mut call = LOAD_SCRIPT.prepare_invoke();
        call.arg(keys::prefix(broadcast))
            .arg(asker.map(|(sub, cmid)| keys::asked(sub, cmid)).unwrap_or_default())
            .arg(if voters { "1" } else { "0" });
        for id in ids {
            call.arg(*id);
        }
        let mut conn = self.redis.conn();
        let reply: Value = self.redis.run("load", call.invoke_async(&mut conn)).await?;
        Loaded::parse(reply, asker, voters)?.ok_or_else(no_broadcast)
    }

    /// Commits the change from `before` to `after` with its events, if nothing moved under it. True if done.
    async fn commit(&self, loaded: &Loaded, before: &Before, changes: &[Change], asker: &str) -> Result<bool> {
        let state = &loaded.state;
        let broadcast = state.broadcast.id;
        let ops = diff_ops(before, state, asker)?;
        // TODO(personal stream in Redis mode): authors' events are not stored here yet.
        let events: Vec<_> = rooms::route(state, changes)
            .into_iter()
            .filter_map(|(recipient, event)| match recipient {
                Recipient::Room(audience) => Some(event_template(RoomRef { broadcast, audience }, event)),
                Recipient::Author(_) => None,
            })
            .collect();
        if ops.is_empty() && events.is_empty() {
            return Ok(true);
        }
        let vv: Vec<String> = loaded.vote_versions.iter().flat_map(|(id, v)| [id.to_string(), v.clone()]).collect();
        let payload = json!({
            "prefix": keys::prefix(broadcast), "ver": loaded.version, "vv": vv, "ops": ops, "events": events,
            "maxlen": self.history_len.to_string(), "publish": self.redis.publish,
        });
        let mut call = COMMIT_SCRIPT.prepare_invoke();
        call.arg(payload.to_string());
        let mut conn = self.redis.conn();
        let done: i64 = self.redis.run("commit", call.invoke_async(&mut conn)).await?;
        if done == 1 {
            // Committed: the script published every one of the events.
            self.published(events.len());
        }
        Ok(done == 1)
    }

    /// Counts room events this node's scripts published (`majlis_events_published_total`, as the local bus does).
    fn published(&self, events: usize) {
        if events > 0 {
            self.metrics.events_published.fetch_add(events as u64, Relaxed);
        }
    }

    /// One attempt at a Q&A command: `None` if the state changed under it (retry). The actor's limits are
    /// charged after the rules ran and before the commit, once per command: `charged` says it happened in an
    /// earlier attempt.
    async fn attempt(
        &self,
        broadcast: BroadcastId,
        actor: &User,
        command: &QaCommand,
        gate: &dyn Admission,
        attempt: &mut Attempt,
    ) -> Result<Option<QaReply>> {
        let mut loaded = self.load(broadcast, actor, command).await?;
        let before = Before::of(&loaded.state);
        if matches!(command, QaCommand::Ask { .. }) && loaded.asked.is_none() && attempt.new_id.is_none() {
            attempt.new_id = Some(self.next_id(keys::NEXT_QUESTION).await?);
        }
        let id = attempt.new_id.unwrap_or_default();
        let deferred = Deferred { gate, charged: attempt.charged, wanted: Mutex::new(None) };
        let applied = loaded.state.apply(actor, command.clone(), &self.policy, &deferred, || id, unix_millis())?;
        let created = matches!(applied.reply, QaReply::Asked { duplicate: false, .. });
        // The one rule the partial state can't check itself: the rules see only the questions loaded.
        if created && loaded.question_count >= self.policy.max_questions {
            return Err(Error::conflict("This broadcast takes no more questions."));
        }
        if let Some(what) = deferred.wanted() {
            if !attempt.charged {
                self.admit(actor, gate, what).await?;
                attempt.charged = true;
            }
        }
        let done = self.commit(&loaded, &before, &applied.changes, &actor.sub).await?;
        Ok(done.then_some(applied.reply))
    }

    /// Charges `what` to the actor: the node's limit, then for a question the cluster-wide one, which only
    /// takes when it allows (so a refusal there leaves the node's limit untouched too).
    async fn admit(&self, actor: &User, gate: &dyn Admission, what: Charge) -> Result<()> {
        gate.check(what)?;
        if what == Charge::Question {
            self.limit_question(&actor.sub).await?;
        }
        gate.charge(what);
        Ok(())
    }

    /// The cluster-wide question limit of `sub`, on top of the node's own.
    async fn limit_question(&self, sub: &str) -> Result<()> {
        let mut call = GCRA_SCRIPT.prepare_invoke();
        call.key(keys::question_rate(sub)).arg(self.question_interval_ms).arg(self.question_burst);
        let mut conn = self.redis.conn();
        let wait: u64 = self.redis.run("rate limit", call.invoke_async(&mut conn)).await?;
        if wait > 0 {
            return Err(Error::rate_limited(wait, "Too many questions; wait a moment."));
        }
        Ok(())
    }

    /// A vote, in one script. The script learns whether the voter's limit allows one more; if not, it refuses
    /// only a vote that would change something, so a retry is still answered; a change is charged after it.
    async fn vote(
        &self,
        broadcast: BroadcastId,
        actor: &User,
        question: QuestionId,
        value: bool,
        gate: &dyn Admission,
    ) -> Result<QaReply> {
        let allowed = gate.check(Charge::Vote);
        let public = RoomRef::public(broadcast).key();
        let moderation = RoomRef::moderation(broadcast).key();
        let mut call = VOTE_SCRIPT.prepare_invoke();
        call.arg(keys::prefix(broadcast))
            .arg(question)
            .arg(&actor.sub)
            .arg(u8::from(value))
            .arg(u8::from(actor.role.is_moderator()))
            .arg(self.history_len)
            .arg(self.redis.publish)
            .arg(public)
            .arg(moderation)
            .arg(u8::from(self.coalesce_votes))
            .arg(u8::from(allowed.is_ok()));
        let mut conn = self.redis.conn();
        let reply: Vec<String> = self.redis.run("vote", call.invoke_async(&mut conn)).await?;
        if self.coalesce_votes {
            self.dirty.insert(broadcast);
        }
        match reply.as_slice() {
            [ok, id, votes, published, changed] if ok == "ok" => {
                if changed == "1" {
                    gate.charge(Charge::Vote);
                }
                self.published(published.parse().map_err(Error::internal)?);
                Ok(QaReply::Voted {
                    question: id.parse().map_err(Error::internal)?,
                    votes: votes.parse().map_err(Error::internal)?,
                    voted: value,
                })
            }
            [code] if code == "rate_limited" => {
                Err(allowed.err().unwrap_or_else(|| Error::internal("the vote script refused an allowed vote")))
            }
            [code, message] if code == "not_found" => Err(Error::not_found(message.clone())),
            [code, message] if code == "conflict" => Err(Error::conflict(message.clone())),
            _ => Err(Error::internal(format_args!("vote script replied {reply:?}"))),
        }
    }

    /// The whole broadcast, consistently; with a room, its epoch and seq, and `viewer`'s votes.
    async fn read_all(&self, broadcast: BroadcastId, room: Option<Audience>, viewer: &str) -> Result<Full> {
        let mut call = READ_ALL_SCRIPT.prepare_invoke();
        call.arg(keys::prefix(broadcast))
            .arg(room.map(keys::room_tag).unwrap_or_default())
            .arg(viewer)
            .arg(format!("{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff));
        let mut conn = self.redis.conn();
        let reply: Value = self.redis.run("read", call.invoke_async(&mut conn)).await?;
        Full::parse(reply, viewer)?.ok_or_else(no_broadcast)
    }

    /// Applies a broadcast change with the rules and commits it with its events (retrying on conflicts).
    async fn change_broadcast(&self, id: BroadcastId, patch: &BroadcastPatch) -> Result<Broadcast> {
        for _ in 0..MAX_ATTEMPTS {
            let mut loaded = self.load_parts(id, &[], false, None).await?;
            let before = Before::of(&loaded.state);
            let changes = loaded.state.update_broadcast(patch.clone(), &self.policy, unix_millis())?;
            if self.commit(&loaded, &before, &changes, "").await? {
                return Ok(loaded.state.broadcast);
            }
            backoff().await;
        }
        warn!(broadcast = id, "broadcast change kept conflicting");
        Err(Error::unavailable())
    }
}

/// What one command carries from one optimistic attempt to the next.
#[derive(Default)]
struct Attempt {
    /// The id an ask took: ids need not be dense, but one ask is one question.
    new_id: Option<QuestionId>,
    /// The actor's limits were charged for this command.
    charged: bool,
}

/// The gate as the rules see it in one attempt: it checks without taking and remembers what the command would
/// cost, so that the charge is taken once, after the rules decided and before the commit, not once per retry.
struct Deferred<'a> {
    gate: &'a dyn Admission,
    charged: bool,
    wanted: Mutex<Option<Charge>>,
}

impl Deferred<'_> {
    fn wanted(&self) -> Option<Charge> {
        *self.wanted.lock().expect("BUG: deferred charge lock poisoned")
    }
}

impl Admission for Deferred<'_> {
    fn check(&self, what: Charge) -> Result<()> {
        if self.charged {
            return Ok(());
        }
        self.gate.check(what)
    }

    fn charge(&self, what: Charge) {
        *self.wanted.lock().expect("BUG: deferred charge lock poisoned") = Some(what);
    }
}

/// Stands for a question's vote count in a committed event; the commit script puts the count current at commit
/// in its place. Safe to search for: in the frame, user text is inside JSON strings, where a `"` is escaped.
const VOTES_PLACEHOLDER: u32 = u32::MAX;

/// An event as the commit script takes it: `[room, head, tail, question]`, the frame being head + seq + tail,
/// and if `question` is set, with the current count of that question in place of the placeholder.
fn event_template(room: RoomRef, event: RoomEvent) -> serde_json::Value {
    let (event, question) = match event {
        RoomEvent::Question(mut q) => {
            q.votes = VOTES_PLACEHOLDER;
            let id = q.id.to_string();
            (RoomEvent::Question(q), id)
        }
        other => (other, String::new()),
    };
    let (head, tail) = protocol::qa::event_template(&room.key(), room.audience, &event);
    json!([keys::room_tag(room.audience), head, tail, question])
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
        // Validate before taking an id and a code, so a bad request costs nothing.
        let mut broadcast = new_broadcast(0, String::new(), new, &self.policy, unix_millis())?;
        broadcast.id = self.next_id(keys::NEXT_BROADCAST).await?;
        broadcast.code = self.new_code(broadcast.id).await?;
        let prefix = keys::prefix(broadcast.id);
        let json = serde_json::to_string(&broadcast).map_err(Error::internal)?;
        let mut pipe = redis::pipe();
        pipe.cmd("SET").arg(format!("{prefix}:bc")).arg(json).ignore();
        pipe.cmd("HSET").arg(format!("{prefix}:meta")).arg("open").arg("1").ignore();
        pipe.cmd("SADD").arg(keys::BROADCASTS).arg(broadcast.id).ignore();
        let mut conn = self.redis.conn();
        self.redis.run("create broadcast", pipe.query_async::<()>(&mut conn)).await?;
        Ok(broadcast)
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
        warn!(broadcast, "command kept conflicting with concurrent changes");
        Err(Error::unavailable())
    }

    async fn snapshot(&self, room: RoomRef, viewer: &User) -> Result<Snapshot> {
        let full = self.read_all(room.broadcast, Some(room.audience), &viewer.sub).await?;
        let data = rooms::snapshot(&full.state, room.audience, viewer);
        Ok(Snapshot {
            frame: protocol::qa::snapshot(&room.key(), &full.epoch, full.seq, &data),
            epoch: full.epoch,
            seq: full.seq,
        })
    }

    async fn replay(&self, room: RoomRef, since: &Position) -> Result<Option<Replay>> {
        let mut call = REPLAY_SCRIPT.prepare_invoke();
        call.arg(keys::room_base(room)).arg(since.seq);
        let mut conn = self.redis.conn();
        let reply: Value = self.redis.run("replay", call.invoke_async(&mut conn)).await?;
        let mut items = Items::new(reply)?;
        let (epoch, seq): (String, u64) = (items.text()?, items.number()?);
        if epoch.is_empty() || epoch != since.epoch || since.seq > seq {
            return Ok(None);
        }
        let entries = super::conn::parse_log(items.value()?)?;
        // Every event after `since` must still be there, in one unbroken run.
        let complete = entries.len() as u64 == seq - since.seq
            && entries.iter().enumerate().all(|(i, (s, _))| *s == since.seq + 1 + i as u64);
        Ok(complete.then(|| Replay { seq, frames: entries.into_iter().map(|(_, f)| f).collect() }))
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

    async fn own_questions(&self, _sub: &str) -> Result<Vec<(Question, bool)>> {
        Ok(vec![])
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

    async fn flush_votes(&self) -> Result<()> {
        // The broadcasts this node voted in, and those it has viewers of: a node that died before its flush
        // left counts marked in Redis, and whoever shows the broadcast publishes them.
        let mut broadcasts: Vec<BroadcastId> = self.dirty.iter().map(|b| *b).collect();
        for broadcast in &broadcasts {
            self.dirty.remove(broadcast);
        }
        broadcasts.extend(self.hub.room_keys().iter().filter_map(|k| RoomRef::parse(k)).map(|r| r.broadcast));
        broadcasts.sort_unstable();
        broadcasts.dedup();
        for broadcast in broadcasts {
            let mut call = FLUSH_SCRIPT.prepare_invoke();
            call.arg(keys::prefix(broadcast))
                .arg(self.history_len)
                .arg(self.redis.publish)
                .arg(RoomRef::public(broadcast).key())
                .arg(RoomRef::moderation(broadcast).key())
                .arg(self.vote_events_per_flush);
            let mut conn = self.redis.conn();
            let (published, waiting): (usize, usize) =
                self.redis.run("flush votes", call.invoke_async(&mut conn)).await?;
            self.published(published);
            if waiting > 0 {
                // More than one flush may publish: the rest go at the next, even without viewers here.
                self.dirty.insert(broadcast);
            }
        }
        Ok(())
    }
}

#[async_trait]
impl PersonalStore for RedisStore {
    async fn position(&self, _sub: &str) -> Result<Position> {
        Err(Error::unavailable())
    }

    async fn replay(&self, _sub: &str, _since: &Position) -> Result<Option<Replay>> {
        Ok(None)
    }
}

impl Backend for RedisStore {
    fn is_healthy(&self) -> bool {
        self.healthy.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qa::Question;

    /// The commit script finds the placeholder as `"votes":4294967295`, once.
    #[test]
    fn a_question_event_carries_the_votes_placeholder_once() {
        let q = Question { votes: 3, ..Question::sample(7, "\"votes\":4294967295") };
        for audience in [Audience::Public, Audience::Moderation] {
            let event = event_template(RoomRef { broadcast: 1, audience }, RoomEvent::Question(q.clone()));
            let tail = event[2].as_str().unwrap_or_default();
            assert_eq!(tail.matches("\"votes\":4294967295").count(), 1, "{tail}");
            assert_eq!(event[3], "7");
        }
    }

    /// The vote script builds the `votes` frame by hand; it must be what the protocol module would send.
    #[test]
    fn the_vote_scripts_frame_is_the_protocols() {
        let room = "broadcast:3";
        let by_hand =
            format!(r#"{{"type":"event","room":"{room}","seq":42,"kind":"votes","data":{{"id":17,"votes":13}}}}"#);
        let event = RoomEvent::Votes { id: 17, votes: 13 };
        assert_eq!(protocol::qa::event(room, 42, Audience::Public, &event).as_str(), by_hand);
    }
}
