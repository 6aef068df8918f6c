//! Changing state: Q&A commands (load, apply the rules, commit), votes, broadcast changes and creation, the
//! coalesced vote flush, and the ids they take. Every step runs under one generation; a step refused by the
//! fence adopts the current generation and the change starts over from its load.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use rand::Rng;
use redis::Value;
use serde_json::json;
use tracing::warn;

use super::admission::{Attempt, Deferred};
use super::{backoff, no_broadcast, RedisStore, MAX_ATTEMPTS};
use crate::auth::{unix_millis, User};
use crate::error::{Error, Result};
use crate::limits::{Admission, Charge};
use crate::protocol;
use crate::qa::rooms::{self, Audience, Recipient, RoomEvent, RoomRef};
use crate::qa::rules::{new_broadcast, Change};
use crate::qa::{Broadcast, BroadcastId, BroadcastPatch, NewBroadcast, QaCommand, QaReply, QuestionId};
use crate::redis_mode::keys;
use crate::redis_mode::scripts::*;
use crate::redis_mode::state::{diff_ops, Before, Loaded};

/// Letters that can't be mistaken for one another when read aloud or typed from a screen (no I, L, O).
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ";
const CODE_LEN: usize = 6;
/// Positions of the id counters in `keys::COUNTERS`.
const QUESTION_IDS: usize = 0;
const BROADCAST_IDS: usize = 1;

/// Stands for a question's vote count in a committed event; the commit script puts the count current at commit
/// in its place. Safe to search for: in the frame, user text is inside JSON strings, where a `"` is escaped.
const VOTES_PLACEHOLDER: u32 = u32::MAX;

/// How a commit went.
enum Commit {
    Done,
    /// The state moved on since it was loaded: load again.
    Moved,
    /// The generation moved on: adopt it, and load again.
    Fenced,
}

impl RedisStore {
    /// Creates a broadcast: an id, a code, the broadcast, all under one generation.
    pub(super) async fn create(&self, new: NewBroadcast) -> Result<Broadcast> {
        // Validate before taking an id and a code, so a bad request costs nothing.
        let mut broadcast = new_broadcast(0, String::new(), new, &self.policy, unix_millis())?;
        for _ in 0..MAX_ATTEMPTS {
            let generation = self.redis.generation().await?;
            if self.try_create(&generation, &mut broadcast).await? {
                return Ok(broadcast);
            }
            self.redis.adopt_after(&generation).await?;
        }
        Err(Error::unavailable())
    }

    /// One attempt under `generation`; false if the fence refused a step.
    async fn try_create(&self, generation: &str, broadcast: &mut Broadcast) -> Result<bool> {
        let Some(id) = self.next_id(generation, BROADCAST_IDS).await? else { return Ok(false) };
        let Some(code) = self.new_code(generation, id).await? else { return Ok(false) };
        broadcast.id = id;
        broadcast.code = code;
        let json = serde_json::to_string(&broadcast).map_err(Error::internal)?;
        let mut call = CREATE_BROADCAST_SCRIPT.prepare_invoke();
        call.arg(generation).arg(keys::prefix(id)).arg(json).arg(id);
        let mut conn = self.redis.conn();
        let created: Option<i64> = self.redis.attempt("create broadcast", call.invoke_async(&mut conn)).await?;
        Ok(created.is_some())
    }

    /// A free code for broadcast `id`, reserved; `None` if fenced.
    async fn new_code(&self, generation: &str, id: BroadcastId) -> Result<Option<String>> {
        for _ in 0..100 {
            let code: String = {
                let mut rng = rand::rng();
                (0..CODE_LEN).map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char).collect()
            };
            let mut call = CLAIM_CODE_SCRIPT.prepare_invoke();
            call.arg(generation).arg(&code).arg(id);
            let mut conn = self.redis.conn();
            match self.redis.attempt("code", call.invoke_async::<i64>(&mut conn)).await? {
                None => return Ok(None),
                Some(1) => return Ok(Some(code)),
                Some(_) => {}
            }
        }
        Err(Error::internal("no free broadcast code after 100 tries"))
    }

    /// The next id of counter `counter` (a position in `keys::COUNTERS`); `None` if fenced.
    async fn next_id(&self, generation: &str, counter: usize) -> Result<Option<u64>> {
        let mut call = ALLOC_SCRIPT.prepare_invoke();
        call.arg(generation).arg(keys::COUNTERS[counter]);
        let mut conn = self.redis.conn();
        let id: Option<u64> = self.redis.attempt("id", call.invoke_async(&mut conn)).await?;
        if let Some(id) = id {
            self.redis.fence.saw(counter, id);
        }
        Ok(id)
    }

    /// Loads what `command` needs (see the LOAD script); `None` if fenced.
    async fn load(
        &self,
        generation: &str,
        broadcast: BroadcastId,
        actor: &User,
        command: &QaCommand,
    ) -> Result<Option<Loaded>> {
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
        self.load_parts(generation, broadcast, &ids, voters, asker).await
    }

    /// Loads a broadcast with the questions `ids` (and their voters if `voters`) and the `asked` entry of `asker`;
    /// `None` if fenced.
    async fn load_parts(
        &self,
        generation: &str,
        broadcast: BroadcastId,
        ids: &[QuestionId],
        voters: bool,
        asker: Option<(&str, &str)>,
    ) -> Result<Option<Loaded>> {
        let mut call = LOAD_SCRIPT.prepare_invoke();
        call.arg(generation)
            .arg(keys::prefix(broadcast))
            .arg(asker.map(|(sub, cmid)| keys::asked(sub, cmid)).unwrap_or_default())
            .arg(if voters { "1" } else { "0" });
        for id in ids {
            call.arg(*id);
        }
        let mut conn = self.redis.conn();
        let Some(reply) = self.redis.attempt::<Value>("load", call.invoke_async(&mut conn)).await? else {
            return Ok(None);
        };
        Loaded::parse(reply, asker, voters)?.ok_or_else(no_broadcast).map(Some)
    }

    /// Commits the change from `before` to `after` with its events, if nothing moved under it. `asked` is set for
    /// a new question (its `asked` field, empty without a client id): then only what an ask depends on is
    /// checked (see the COMMIT script).
    async fn commit(
        &self,
        generation: &str,
        loaded: &Loaded,
        before: &Before,
        changes: &[Change],
        asker: &str,
        asked: Option<String>,
    ) -> Result<Commit> {
        let state = &loaded.state;
        let broadcast = state.broadcast.id;
        let ops = diff_ops(before, state, asker)?;
        let events: Vec<_> = rooms::route(state, changes)
            .into_iter()
            .map(|(recipient, event)| match recipient {
                Recipient::Room(audience) => event_template(RoomRef { broadcast, audience }, event),
                Recipient::Author(sub) => own_event_template(&sub, event),
            })
            .collect();
        if ops.is_empty() && events.is_empty() {
            return Ok(Commit::Done);
        }
        let vv: Vec<String> = loaded.vote_versions.iter().flat_map(|(id, v)| [id.to_string(), v.clone()]).collect();
        let mut payload = json!({
            "prefix": keys::prefix(broadcast), "ver": loaded.version, "vv": vv, "ops": ops, "events": events,
            "maxlen": self.history_len.to_string(), "publish": self.redis.publish,
            "pmaxlen": self.personal_history_len.to_string(), "pttl": self.personal_retention_ms,
            "ownmax": crate::store::OWN_QUESTIONS,
        });
        // Fields are left out rather than null: the script's cjson reads null as a true value.
        if before.broadcast != state.broadcast || before.muted != state.muted {
            payload["settings"] = json!(true);
        }
        if let Some(asked) = asked {
            payload["ask"] = json!({"sver": loaded.settings_version, "asked": asked, "cap": self.policy.max_questions});
        }
        let mut call = COMMIT_SCRIPT.prepare_invoke();
        call.arg(generation).arg(payload.to_string());
        let mut conn = self.redis.conn();
        Ok(match self.redis.attempt::<i64>("commit", call.invoke_async(&mut conn)).await? {
            None => Commit::Fenced,
            Some(1) => {
                // Committed: the script published every one of the events.
                self.published(events.len());
                Commit::Done
            }
            Some(_) => Commit::Moved,
        })
    }

    /// Counts room events this node's scripts published (`majlis_events_published_total`, as the local bus does).
    fn published(&self, events: usize) {
        if events > 0 {
            self.metrics.events_published.fetch_add(events as u64, Relaxed);
        }
    }

    /// One attempt at a Q&A command: `None` if the state (or the generation) changed under it (retry).
    pub(super) async fn attempt(
        &self,
        broadcast: BroadcastId,
        actor: &User,
        command: &QaCommand,
        gate: &dyn Admission,
        attempt: &mut Attempt,
    ) -> Result<Option<QaReply>> {
        let generation = self.redis.generation().await?;
        let Some(mut loaded) = self.load(&generation, broadcast, actor, command).await? else {
            return self.fenced(&generation, &mut attempt.new_id).await;
        };
        let before = Before::of(&loaded.state);
        if matches!(command, QaCommand::Ask { .. }) && loaded.asked.is_none() && attempt.new_id.is_none() {
            match self.next_id(&generation, QUESTION_IDS).await? {
                Some(id) => attempt.new_id = Some(id),
                None => return self.fenced(&generation, &mut attempt.new_id).await,
            }
        }
        let id = attempt.new_id.unwrap_or_default();
        let deferred = Deferred::new(gate, attempt);
        let applied = loaded.state.apply(actor, command.clone(), &self.policy, &deferred, || id, unix_millis())?;
        let created = matches!(applied.reply, QaReply::Asked { duplicate: false, .. });
        // The one rule the partial state can't check itself: the rules see only the questions loaded (the commit
        // checks it again, against the questions there are then).
        if created && loaded.question_count >= self.policy.max_questions {
            return Err(Error::conflict("This broadcast takes no more questions."));
        }
        let asked = match &applied.reply {
            QaReply::Asked { question, duplicate: false } => {
                Some(question.client_msg_id.as_deref().map(|cmid| keys::asked(&actor.sub, cmid)).unwrap_or_default())
            }
            _ => None,
        };
        self.charge_once(actor, gate, &deferred, attempt).await?;
        match self.commit(&generation, &loaded, &before, &applied.changes, &actor.sub, asked).await? {
            Commit::Done => Ok(Some(applied.reply)),
            Commit::Moved => Ok(None),
            Commit::Fenced => self.fenced(&generation, &mut attempt.new_id).await,
        }
    }

    /// A step of a command was refused by the fence: adopt the current generation; the command starts over,
    /// with an id of the new generation if it takes one.
    async fn fenced(&self, generation: &str, new_id: &mut Option<QuestionId>) -> Result<Option<QaReply>> {
        self.redis.adopt_after(generation).await?;
        *new_id = None;
        Ok(None)
    }

    pub(super) async fn vote(
        &self,
        broadcast: BroadcastId,
        actor: &User,
        question: QuestionId,
        value: bool,
        gate: &dyn Admission,
    ) -> Result<QaReply> {
        // The script learns whether the voter's limit allows one more; if not, it refuses only a vote that would
        // change something, so a retry is still answered; a change is charged after it.
        let allowed = gate.check(Charge::Vote);
        let public = RoomRef::public(broadcast).key();
        let moderation = RoomRef::moderation(broadcast).key();
        // A vote is idempotent (a set of voters), so running it again under a newer generation is safe.
        let reply: Vec<String> = self
            .redis
            .fenced("vote", |generation| {
                let mut call = VOTE_SCRIPT.prepare_invoke();
                call.arg(generation)
                    .arg(keys::prefix(broadcast))
                    .arg(question)
                    .arg(&actor.sub)
                    .arg(u8::from(value))
                    .arg(u8::from(actor.role.is_moderator()))
                    .arg(self.history_len)
                    .arg(self.redis.publish)
                    .arg(&public)
                    .arg(&moderation)
                    .arg(u8::from(self.coalesce_votes))
                    .arg(u8::from(allowed.is_ok()));
                call
            })
            .await?;
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

    /// Applies a broadcast change with the rules and commits it with its events (retrying on conflicts).
    pub(super) async fn change_broadcast(&self, id: BroadcastId, patch: &BroadcastPatch) -> Result<Broadcast> {
        for _ in 0..MAX_ATTEMPTS {
            let generation = self.redis.generation().await?;
            let Some(mut loaded) = self.load_parts(&generation, id, &[], false, None).await? else {
                self.redis.adopt_after(&generation).await?;
                continue;
            };
            let before = Before::of(&loaded.state);
            let changes = loaded.state.update_broadcast(patch.clone(), &self.policy, unix_millis())?;
            match self.commit(&generation, &loaded, &before, &changes, "", None).await? {
                Commit::Done => return Ok(loaded.state.broadcast),
                Commit::Moved => backoff().await,
                Commit::Fenced => {
                    self.redis.adopt_after(&generation).await?;
                }
            }
        }
        warn!(broadcast = id, "broadcast change kept conflicting");
        Err(Error::unavailable())
    }

    /// Publishes the coalesced vote counts of the broadcasts this node voted in and of those it has viewers of
    /// (`rooms`, its hub's rooms): a node that died before its flush left counts marked in Redis, and whoever
    /// shows the broadcast publishes them.
    pub(super) async fn flush(&self, rooms: &[Arc<str>]) -> Result<()> {
        let mut broadcasts: Vec<BroadcastId> = self.dirty.iter().map(|b| *b).collect();
        for broadcast in &broadcasts {
            self.dirty.remove(broadcast);
        }
        broadcasts.extend(rooms.iter().filter_map(|k| RoomRef::parse(k)).map(|r| r.broadcast));
        broadcasts.sort_unstable();
        broadcasts.dedup();
        for broadcast in broadcasts {
            let (published, waiting): (usize, usize) = self
                .redis
                .fenced("flush votes", |generation| {
                    let mut call = FLUSH_SCRIPT.prepare_invoke();
                    call.arg(generation)
                        .arg(keys::prefix(broadcast))
                        .arg(self.history_len)
                        .arg(self.redis.publish)
                        .arg(RoomRef::public(broadcast).key())
                        .arg(RoomRef::moderation(broadcast).key())
                        .arg(self.vote_events_per_flush);
                    call
                })
                .await?;
            self.published(published);
            if waiting > 0 {
                // More than one flush may publish: the rest go at the next, even without viewers here.
                self.dirty.insert(broadcast);
            }
        }
        Ok(())
    }
}

/// An event as the commit script takes it: `[room, head, tail, question]`, the frame being head + seq + tail,
/// and if `question` is set, with the current count of that question in place of the placeholder.
fn event_template(room: RoomRef, event: RoomEvent) -> serde_json::Value {
    let (event, question) = with_votes_placeholder(event);
    let (head, tail) = protocol::qa::event_template(&room.key(), room.audience, &event);
    json!([keys::room_tag(room.audience), head, tail, question])
}

/// An event of `sub`'s own stream, as the commit script takes it: with the person's prefix as fifth element.
fn own_event_template(sub: &str, event: RoomEvent) -> serde_json::Value {
    let (event, question) = with_votes_placeholder(event);
    let (head, tail) = protocol::qa::event_template(&protocol::personal::room(sub), Audience::Public, &event);
    json!([keys::OWN_ROOM, head, tail, question, keys::person_prefix(sub)])
}

/// A question's event carries the placeholder for its count, and the question's id for the script to look it up.
fn with_votes_placeholder(event: RoomEvent) -> (RoomEvent, String) {
    match event {
        RoomEvent::Question(mut q) => {
            q.votes = VOTES_PLACEHOLDER;
            let id = q.id.to_string();
            (RoomEvent::Question(q), id)
        }
        RoomEvent::Own { mut question, pinned } => {
            question.votes = VOTES_PLACEHOLDER;
            let id = question.id.to_string();
            (RoomEvent::Own { question, pinned }, id)
        }
        other => (other, String::new()),
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
