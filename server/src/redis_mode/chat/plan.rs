//! A commit plan: what one chat command or desk command read (the versions the commit checks), what it writes
//! (the difference between the state it loaded and the state after the rules), and the events it emits, as the
//! chat COMMIT script takes them.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::{json, Value as Json};

use super::keys;
use super::wire;
use crate::chat::desk::{Desk, OpenChat, Waiting};
use crate::chat::rooms::{ChatRoom, Routed};
use crate::chat::rules::ChatState;
use crate::chat::{Body, Chat, ChatId, ChatLang};
use crate::error::{Error, Result};
use crate::redis_mode::keys as base_keys;

/// The bounds of the rooms' histories.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub history_len: usize,
    pub personal_history_len: usize,
    pub personal_retention_ms: u64,
}

/// The arguments of one event in [`Plan::flat_events`].
pub const EVENT_ARGS: usize = 5;

#[derive(Default)]
pub struct Plan {
    checks: Vec<(String, String)>,
    absent: Vec<String>,
    ops: Vec<Json>,
    bump: BTreeSet<String>,
    events: Vec<Json>,
    /// `[chat prefix, at]`: the ended chats this commit writes, whose keys expire at `at` (ms).
    expire: Vec<[String; 2]>,
    /// `[room, person]`: who loses which room, after the events.
    revoke: Vec<[String; 2]>,
    /// Unsequenced frames (typing): `(channel, frame)`, published apart.
    pub ephemeral: Vec<(String, String)>,
}

fn to_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(Error::internal)
}

impl Plan {
    /// The commit goes through only if `key` still holds `version`.
    pub fn check(&mut self, key: String, version: &str) {
        if !self.checks.iter().any(|(k, _)| *k == key) {
            self.checks.push((key, version.to_string()));
        }
    }

    /// The commit goes through only if nobody has a live connection counted in `key`.
    pub fn absent(&mut self, key: String) {
        self.absent.push(key);
    }

    fn op(&mut self, op: Json) {
        self.ops.push(op);
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.events.is_empty() && self.revoke.is_empty()
    }

    /// `person` loses `room` on every node once the commit's events are out (an agent who handed a chat on).
    pub fn revoke(&mut self, room: String, person: String) {
        self.revoke.push([room, person]);
    }

    /// The events published by this plan's commit.
    pub fn event_count(&self) -> usize {
        self.events.len()
    }

    /// The desk's writes: every part that differs from what was loaded, and the indexes kept beside them. The
    /// desk's version is checked whatever changed (the command decided on it) and moved on if anything did.
    pub fn desk(&mut self, before: &Desk, after: &Desk, loaded: &BTreeSet<ChatId>, version: &str) -> Result<()> {
        self.check(keys::desk("ver"), version);
        let start = self.ops.len();
        for (sub, agent) in &after.agents {
            let old = before.agents.get(sub);
            if old == Some(agent) {
                continue;
            }
            self.op(json!(["hset", keys::desk("agents"), sub, to_json(agent)?]));
            let was_gone = old.is_some_and(|a| a.disconnected_at.is_some());
            if agent.disconnected_at.is_some() != was_gone {
                let op = if agent.disconnected_at.is_some() { "sadd" } else { "srem" };
                self.op(json!([op, keys::desk("gone"), sub]));
            }
            let held = keys::desk(&format!("held:{sub}"));
            let none = BTreeSet::new();
            let old_chats = old.map_or(&none, |a| &a.chats);
            for id in agent.chats.difference(old_chats) {
                self.op(json!(["sadd", held, id.to_string()]));
            }
            for id in old_chats.difference(&agent.chats) {
                self.op(json!(["srem", held, id.to_string()]));
            }
        }
        if before.queues != after.queues {
            self.op(json!(["set", keys::desk("queues"), to_json(&after.queues)?]));
            let (old, new) = (queued(before), queued(after));
            for id in new.difference(&old) {
                self.op(json!(["sadd", keys::desk("waiting"), id.to_string()]));
            }
            for id in old.difference(&new) {
                self.op(json!(["srem", keys::desk("waiting"), id.to_string()]));
            }
        }
        if before.waits != after.waits {
            self.op(json!(["set", keys::desk("waits"), to_json(&after.waits)?]));
        }
        for id in loaded.iter().chain(after.open.keys()).collect::<BTreeSet<_>>() {
            let (old, new) = (before.open.get(id), after.open.get(id));
            if old == new {
                continue;
            }
            let field = id.to_string();
            // Whether the citizen is away is kept apart (`:away`), written only by presence and by this
            // chat leaving the desk, so that presence commits don't conflict with routing.
            let bare = |o: &OpenChat| OpenChat { citizen_away_since: None, citizen_away_shown: false, ..o.clone() };
            if old.map(bare) != new.map(bare) {
                match new {
                    Some(open) => self.op(json!(["hset", keys::desk("open"), field, to_json(&bare(open))?])),
                    None => self.op(json!(["hdel", keys::desk("open"), field])),
                }
            }
            let (old_citizen, new_citizen) = (old.map(|o| o.citizen.as_str()), new.map(|o| o.citizen.as_str()));
            if old_citizen != new_citizen {
                if let Some(sub) = old_citizen {
                    self.op(json!(["srem", keys::desk(&format!("of:{sub}")), field]));
                }
                if let Some(sub) = new_citizen {
                    self.op(json!(["sadd", keys::desk(&format!("of:{sub}")), field]));
                }
            }
            let away = |o: Option<&OpenChat>| o.and_then(keys::away_mark);
            // A chat leaving the desk takes its mark with it, even one set after this command's load.
            if away(old) != away(new) || new.is_none() {
                match away(new) {
                    Some(mark) => self.op(json!(["hset", keys::desk("away"), field, mark])),
                    None => self.op(json!(["hdel", keys::desk("away"), field])),
                }
            }
        }
        if self.ops.len() > start {
            self.bump.insert(keys::desk("ver"));
        }
        Ok(())
    }

    /// One chat's writes: the header if it changed, the messages and notes added (and their `client_msg_id`
    /// entries). `before` is the header as loaded (`None` for a new chat), `version` its version. An ended
    /// chat's keys expire `retention_ms` after its end, set again by every commit that writes it; the one that
    /// ends it also notes it in `:ended`, whence `forget_expired` takes it out of the desk's indexes.
    pub fn chat(&mut self, before: Option<&Chat>, version: &str, state: &ChatState, retention_ms: u64) -> Result<()> {
        let chat = &state.chat;
        let prefix = keys::chat(chat.id);
        self.check(format!("{prefix}:ver"), version);
        let start = self.ops.len();
        if before != Some(chat) {
            self.op(json!(["set", format!("{prefix}:hdr"), to_json(chat)?]));
        }
        if before.is_none() {
            self.op(json!(["zadd", keys::desk("chats"), chat.created_at.to_string(), chat.id.to_string()]));
        }
        let (last_seq, last_note) = before.map_or((0, 0), |b| (b.last_seq, b.notes));
        for message in state.messages.range(last_seq + 1..).map(|(_, m)| m) {
            self.op(json!(["rpush", format!("{prefix}:msgs"), to_json(message)?]));
            if let Body::Text { sub, client_msg_id: Some(cmid), .. } = &message.body {
                self.op(json!([
                    "hset",
                    format!("{prefix}:posted"),
                    keys::posted(sub, cmid),
                    format!("m:{}", message.seq)
                ]));
            }
        }
        for note in state.notes.range(last_note + 1..).map(|(_, n)| n) {
            self.op(json!(["rpush", format!("{prefix}:notes"), to_json(note)?]));
            if let Some(cmid) = &note.client_msg_id {
                let field = keys::posted(&note.author.sub, cmid);
                self.op(json!(["hset", format!("{prefix}:posted"), field, format!("n:{}", note.id)]));
            }
        }
        if let Some(ended_at) = chat.ended_at {
            if before.is_none_or(|b| b.ended_at.is_none()) {
                self.op(json!(["zadd", keys::desk("ended"), ended_at.to_string(), chat.id.to_string()]));
            }
            self.expire.push([prefix.clone(), ended_at.saturating_add(retention_ms).to_string()]);
        }
        if self.ops.len() > start {
            self.bump.insert(format!("{prefix}:ver"));
        }
        Ok(())
    }

    /// A record of a small versioned set (canned responses, offline messages, the hours).
    pub fn record(&mut self, hash: String, field: String, value: String, version_key: String) {
        self.op(json!(["hset", hash, field, value]));
        self.bump.insert(version_key);
    }

    pub fn hset(&mut self, hash: String, field: String, value: String) {
        self.op(json!(["hset", hash, field, value]));
    }

    pub fn hdel(&mut self, hash: String, field: String) {
        self.op(json!(["hdel", hash, field]));
    }

    /// Adds `member` to the sorted set `set` with `score`, or moves it there.
    pub fn scored(&mut self, set: String, score: u64, member: String) {
        self.op(json!(["zadd", set, score.to_string(), member]));
    }

    pub fn member(&mut self, set: String, member: String, present: bool) {
        self.op(json!([if present { "sadd" } else { "srem" }, set, member]));
    }

    pub fn bump(&mut self, key: String) {
        self.bump.insert(key);
    }

    /// The events, in order, each to its room: sequenced ones through the commit, typing apart.
    pub fn route(&mut self, routed: Vec<Routed>, bounds: Bounds) -> Result<()> {
        for event in routed {
            let room = event.room();
            if event.is_ephemeral() {
                let (prefix, tag) = keys::room(&room).ok_or_else(|| Error::internal("typing outside a chat room"))?;
                let channel = base_keys::channel_of(&format!("{prefix}:r:{tag}"));
                self.ephemeral.push((channel, wire::typing(&event)?.to_string()));
                continue;
            }
            let (head, tail) = wire::template(&event)?;
            match room {
                ChatRoom::User(sub) => self.events.push(json!([
                    base_keys::person_prefix(&sub),
                    base_keys::OWN_ROOM,
                    head,
                    tail,
                    bounds.personal_history_len.to_string(),
                    bounds.personal_retention_ms
                ])),
                room => {
                    let (prefix, tag) = keys::room(&room).ok_or_else(|| Error::internal("a room without keys"))?;
                    self.events.push(json!([prefix, tag, head, tail, bounds.history_len.to_string()]));
                }
            }
        }
        Ok(())
    }

    /// The sequenced events alone, flat (prefix, room, head, tail, maxlen each), for a script that emits them
    /// itself; `None` if one has more to it (a personal stream's retention).
    pub fn flat_events(&self) -> Option<Vec<String>> {
        let mut out = Vec::with_capacity(self.events.len() * EVENT_ARGS);
        for event in &self.events {
            let parts = event.as_array().filter(|parts| parts.len() == EVENT_ARGS)?;
            out.extend(parts.iter().map(|part| part.as_str().map(str::to_string)).collect::<Option<Vec<_>>>()?);
        }
        Some(out)
    }

    /// The COMMIT script's payload.
    pub fn payload(&self, publish: &str) -> String {
        let checks: Vec<[&str; 2]> = self.checks.iter().map(|(k, v)| [k.as_str(), v.as_str()]).collect();
        json!({
            "checks": checks, "absent": self.absent, "ops": self.ops, "bump": self.bump,
            "events": self.events, "expire": self.expire, "revoke": self.revoke, "publish": publish,
        })
        .to_string()
    }
}

fn queued(desk: &Desk) -> BTreeSet<ChatId> {
    ChatLang::ALL.iter().flat_map(|l| desk.queues.get(*l).iter().map(|w: &Waiting| w.chat)).collect()
}
