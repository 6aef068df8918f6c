//! Between the chat scripts' replies and the domain: the desk as a command loads it (every agent, the queues and
//! waits, and only the open chats the command can touch), a chat's parts, and a chat in full.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use redis::Value;

use super::keys;

use crate::chat::desk::{Agent, Desk, OpenChat};
use crate::chat::rules::{ChatState, Posted};
use crate::chat::{Chat, ChatId, Message, Note};
use crate::error::{Error, Result};
use crate::redis_mode::conn::text;
use crate::redis_mode::state::Items;

pub(super) fn json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::internal(format_args!("stored chat JSON: {e}")))
}

/// A header and the version it was read at.
#[derive(Debug, Clone)]
pub struct Versioned<T> {
    pub value: T,
    pub version: String,
}

/// The desk as LOAD_DESK returned it.
pub struct LoadedDesk {
    pub desk: Desk,
    pub version: String,
    /// The open chats loaded: the only ones the commit may compare (the others were not read).
    pub loaded: BTreeSet<ChatId>,
    /// The command's chat, if it named one that exists.
    pub chat: Option<Versioned<Chat>>,
    pub offline_open: u64,
    /// The desk room's seq and the generation, read with the rest (a snapshot's position).
    pub seq: u64,
    pub generation: String,
}

/// The agents as this node last parsed them, by their stored JSON: every desk command loads every agent, and
/// most are unchanged since the last load, so their text is compared instead of parsed again.
#[derive(Default)]
pub struct AgentCache(std::sync::Mutex<HashMap<String, (String, Agent)>>);

impl AgentCache {
    fn agent(&self, sub: String, stored: String) -> Result<Agent> {
        let mut cache = self.0.lock().expect("BUG: agent cache lock poisoned");
        if let Some((text, agent)) = cache.get(&sub) {
            if *text == stored {
                return Ok(agent.clone());
            }
        }
        let agent: Agent = json(&stored)?;
        cache.insert(sub, (stored, agent.clone()));
        Ok(agent)
    }
}

impl LoadedDesk {
    pub fn parse(reply: Value, cache: &AgentCache) -> Result<Self> {
        let mut items = Items::new(reply)?;
        let version = items.text()?;
        let mut desk = Desk::default();
        for (sub, agent) in items.pairs()? {
            let agent = cache.agent(sub.clone(), agent)?;
            desk.agents.insert(sub, agent);
        }
        let queues = items.text()?;
        if !queues.is_empty() {
            desk.queues = json(&queues)?;
        }
        let waits = items.text()?;
        if !waits.is_empty() {
            desk.waits = json(&waits)?;
        }
        let mut loaded = BTreeSet::new();
        for (id, open) in items.pairs()? {
            let id: ChatId = id.parse().map_err(|_| Error::internal("an open chat's id is not a number"))?;
            let open: OpenChat = json(&open)?;
            desk.open.insert(id, open);
            loaded.insert(id);
        }
        for (id, mark) in items.pairs()? {
            let Ok(id) = id.parse::<ChatId>() else { continue };
            if let Some(open) = desk.open.get_mut(&id) {
                keys::read_away_mark(open, &mark);
            }
        }
        let header = text(items.value()?);
        let chat_version = items.text()?;
        let chat = header.map(|h| json(&h).map(|value| Versioned { value, version: chat_version })).transpose()?;
        let offline_open = items.number()?;
        let seq = items.number()?;
        let generation = items.text()?;
        Ok(LoadedDesk { desk, version, loaded, chat, offline_open, seq, generation })
    }
}

/// One chat as LOAD_CHAT returned it, ready for the rules.
pub struct LoadedChat {
    pub state: ChatState,
    /// What the looked-up `client_msg_id` posted before, if anything.
    pub posted: Option<Posted>,
    pub version: String,
    pub canned: Vec<crate::chat::canned::Canned>,
}

impl LoadedChat {
    /// `poster` is the `(sub, client_msg_id)` whose `:posted` entry the load looked up.
    pub fn parse(reply: Value, poster: Option<(&str, &str)>) -> Result<Option<Self>> {
        if reply == Value::Nil {
            return Ok(None);
        }
        let mut items = Items::new(reply)?;
        let chat: Chat = items.json()?;
        let version = items.text()?;
        let posted = items.text()?;
        let item = items.text()?;
        let canned = items.texts()?.iter().map(|c| json(c)).collect::<Result<Vec<_>>>()?;
        let (mut messages, mut notes, mut index) = (BTreeMap::new(), BTreeMap::new(), HashMap::new());
        if let (Some((sub, cmid)), false) = (poster, item.is_empty()) {
            // Only with what it names: the rules take an index entry as proof the message is there.
            let key = (sub.to_string(), cmid.to_string());
            if posted.starts_with("m:") {
                let message: Message = json(&item)?;
                index.insert(key, Posted::Message(message.seq));
                messages.insert(message.seq, message);
            } else if posted.starts_with("n:") {
                let note: Note = json(&item)?;
                index.insert(key, Posted::Note(note.id));
                notes.insert(note.id, note);
            }
        }
        let posted = index.values().next().copied();
        Ok(Some(LoadedChat { state: ChatState::from_parts(chat, messages, notes, index), posted, version, canned }))
    }
}

/// Headers and versions as LOAD_CHATS returned them, by id (a chat that is not there is left out).
pub fn parse_chats(reply: Value, ids: &[ChatId]) -> Result<BTreeMap<ChatId, Versioned<Chat>>> {
    let mut items = Items::new(reply)?;
    let mut out = BTreeMap::new();
    for id in ids {
        let mut one = items.items()?;
        let header = text(one.value()?);
        let version = one.text()?;
        if let Some(header) = header {
            out.insert(*id, Versioned { value: json(&header)?, version });
        }
    }
    Ok(out)
}

/// A chat in full as READ_CHAT returned it, with the desk's part a snapshot shows (the queues, the waits and
/// the chat's own open entry).
pub struct FullChat {
    pub generation: String,
    pub seq: u64,
    pub state: ChatState,
    pub desk: Desk,
}

impl FullChat {
    pub fn parse(reply: Value) -> Result<Option<Self>> {
        let mut items = Items::new(reply)?;
        let generation = items.text()?;
        let seq = items.number()?;
        let Some(header) = text(items.value()?) else { return Ok(None) };
        let chat: Chat = json(&header)?;
        let messages: BTreeMap<_, _> =
            items.texts()?.iter().map(|m| json::<Message>(m).map(|m| (m.seq, m))).collect::<Result<_>>()?;
        let notes: BTreeMap<_, _> =
            items.texts()?.iter().map(|n| json::<Note>(n).map(|n| (n.id, n))).collect::<Result<_>>()?;
        let mut desk = Desk::default();
        let queues = items.text()?;
        if !queues.is_empty() {
            desk.queues = json(&queues)?;
        }
        let waits = items.text()?;
        if !waits.is_empty() {
            desk.waits = json(&waits)?;
        }
        let open = items.text()?;
        let away = items.text()?;
        if !open.is_empty() {
            let mut open: OpenChat = json(&open)?;
            keys::read_away_mark(&mut open, &away);
            desk.open.insert(chat.id, open);
        }
        let state = ChatState::from_parts(chat, messages, notes, HashMap::new());
        Ok(Some(FullChat { generation, seq, state, desk }))
    }
}
