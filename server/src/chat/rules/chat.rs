//! One chat's state and the commands that touch only it.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::{Applied, Change, Effect, NoteDraft};
use crate::auth::User;
use crate::chat::canned::{self, Canned};
use crate::chat::policy::ChatPolicy;
use crate::chat::{text, Body, Chat, Message, Note, Notice, Party, Rating, Receipts, Seq, Side};
use crate::chat::{ChatStatus, EndReason};
use crate::error::{Error, Result};
use crate::limits::check_client_msg_id;

/// System messages a chat may hold beyond `max_messages` texts. Past it, notices are no longer written (the
/// header still changes): transfers back and forth can't grow a chat without bound.
const NOTICE_HEADROOM: u64 = 100;

/// A command on one chat, already parsed from the wire.
#[derive(Debug, Clone)]
pub enum ChatCommand {
    Send {
        text: String,
        client_msg_id: Option<String>,
    },
    Note {
        text: String,
        client_msg_id: Option<String>,
    },
    Typing {
        typing: bool,
    },
    /// "Everything up to this seq reached me / was shown to me"; either may be absent.
    Receipt {
        delivered: Option<Seq>,
        read: Option<Seq>,
    },
    /// Replaces the set.
    Tag {
        tags: Vec<String>,
    },
    Rate {
        score: u8,
        comment: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatReply {
    Sent { message: Message, duplicate: bool },
    Noted { note: Note, duplicate: bool },
    Receipts(Receipts),
    Tags(Vec<String>),
    Rated(Rating),
    Done,
}

/// What a `client_msg_id` named when it was first used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Posted {
    Message(Seq),
    Note(u32),
}

/// One chat: its header, messages, notes, and which `(sub, client_msg_id)` posted what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatState {
    pub chat: Chat,
    pub messages: BTreeMap<Seq, Message>,
    pub notes: BTreeMap<u32, Note>,
    posted: HashMap<(String, String), Posted>,
}

impl ChatState {
    pub fn new(chat: Chat) -> Self {
        ChatState { chat, messages: BTreeMap::new(), notes: BTreeMap::new(), posted: HashMap::new() }
    }

    /// A state assembled by a store that loads, per command, only what it can touch: the header, and for a send
    /// or note with a `client_msg_id` the index entry of `(sender sub, client_msg_id)` and the message or note
    /// it names. Snapshots and transcripts need every message and note.
    pub fn from_parts(
        chat: Chat,
        messages: BTreeMap<Seq, Message>,
        notes: BTreeMap<u32, Note>,
        posted: HashMap<(String, String), Posted>,
    ) -> Self {
        ChatState { chat, messages, notes, posted }
    }

    /// The index entry a store writes for a new message or note (`None` without a `client_msg_id`).
    pub fn posted_key(sub: &str, client_msg_id: Option<&str>) -> Option<(String, String)> {
        client_msg_id.map(|id| (sub.to_string(), id.to_string()))
    }

    /// What `sub`'s `client_msg_id` posted in this chat, if anything: a store asks before charging a sender's
    /// message limit, so that a retry is never refused for it.
    pub fn posted_by(&self, sub: &str, client_msg_id: &str) -> Option<Posted> {
        self.posted.get(&(sub.to_string(), client_msg_id.to_string())).copied()
    }

    /// Applies one command by `actor`. `canned` is the canned response a `/shortcut` message names (looked up by
    /// the store with [`canned::shortcut_of`]). On error nothing has changed.
    pub fn apply(
        &mut self,
        actor: &User,
        command: ChatCommand,
        canned: Option<&Canned>,
        policy: &ChatPolicy,
        now: u64,
    ) -> Result<Applied<ChatReply>> {
        let party = self.chat.party(actor).ok_or_else(|| Error::forbidden("This is not your chat."))?;
        match command {
            ChatCommand::Send { text, client_msg_id } => {
                self.send(actor, party, text, client_msg_id, canned, policy, now)
            }
            ChatCommand::Note { text, client_msg_id } => self.note(actor, party, text, client_msg_id, policy, now),
            ChatCommand::Typing { typing } => self.typing(party, typing),
            ChatCommand::Receipt { delivered, read } => self.receipt(party, delivered, read),
            ChatCommand::Tag { tags } => self.tag(party, tags, policy),
            ChatCommand::Rate { score, comment } => self.rate(party, score, comment, policy, now),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        actor: &User,
        party: Party,
        text: String,
        client_msg_id: Option<String>,
        canned: Option<&Canned>,
        policy: &ChatPolicy,
        now: u64,
    ) -> Result<Applied<ChatReply>> {
        let from = match party {
            Party::Citizen => Side::Citizen,
            Party::Agent => Side::Agent,
            Party::Supervisor => return Err(Error::forbidden("Only the chat's agent replies; write a note instead.")),
        };
        check_client_msg_id(client_msg_id.as_deref())?;
        // A retry of a message we already took: answer as before, whatever happened since.
        if let Some(Posted::Message(seq)) = self.posted(actor, &client_msg_id, true)? {
            let message = self.messages.get(&seq).cloned().expect("BUG: the index names a message that is not there");
            return Ok(Applied { reply: ChatReply::Sent { message, duplicate: true }, changes: vec![] });
        }
        self.open_for(from)?;
        let text = match (from, canned::shortcut_of(&text)) {
            (Side::Agent, Some(shortcut)) => {
                canned::expand(canned.filter(|c| c.shortcut == shortcut), &shortcut, self.chat.lang)?
            }
            _ => text,
        };
        let text = text::required(&text, "The message", policy.max_message_len)?;
        if self.chat.texts >= policy.max_messages {
            return Err(Error::conflict("This chat takes no more messages."));
        }
        let name = match from {
            Side::Citizen => self.chat.citizen.name.clone(),
            Side::Agent => Some(actor.name.clone()),
        };
        let body = Body::Text { from, sub: actor.sub.clone(), name, text, client_msg_id: client_msg_id.clone() };
        let seq = self.push(body, now);
        self.chat.texts += 1;
        if let Some(key) = Self::posted_key(&actor.sub, client_msg_id.as_deref()) {
            self.posted.insert(key, Posted::Message(seq));
        }
        let message = self.messages[&seq].clone();
        Ok(Applied {
            reply: ChatReply::Sent { message, duplicate: false },
            changes: vec![Change::Message { chat: self.chat.id, seq }],
        })
    }

    fn note(
        &mut self,
        actor: &User,
        party: Party,
        text: String,
        client_msg_id: Option<String>,
        policy: &ChatPolicy,
        now: u64,
    ) -> Result<Applied<ChatReply>> {
        if party == Party::Citizen {
            return Err(Error::forbidden("Notes are for staff."));
        }
        check_client_msg_id(client_msg_id.as_deref())?;
        if let Some(Posted::Note(id)) = self.posted(actor, &client_msg_id, false)? {
            let note = self.notes.get(&id).cloned().expect("BUG: the index names a note that is not there");
            return Ok(Applied { reply: ChatReply::Noted { note, duplicate: true }, changes: vec![] });
        }
        let text = text::required(&text, "The note", policy.max_note_len)?;
        if self.chat.notes >= policy.max_notes {
            return Err(Error::conflict("This chat takes no more notes."));
        }
        let id = self.push_note(NoteDraft { author: crate::chat::AgentRef::of(actor), text }, client_msg_id, now);
        let note = self.notes[&id].clone();
        Ok(Applied {
            reply: ChatReply::Noted { note, duplicate: false },
            changes: vec![Change::Note { chat: self.chat.id, id }],
        })
    }

    fn typing(&mut self, party: Party, typing: bool) -> Result<Applied<ChatReply>> {
        let side = typing_side(&self.chat, party)?;
        Ok(Applied { reply: ChatReply::Done, changes: vec![Change::Typing { chat: self.chat.id, side, typing }] })
    }

    fn receipt(&mut self, party: Party, delivered: Option<Seq>, read: Option<Seq>) -> Result<Applied<ChatReply>> {
        let side = self.side_of(party, "Only the chat's agent marks its messages read.")?;
        if delivered.is_none() && read.is_none() {
            return Err(Error::bad_request("Give delivered or read."));
        }
        if delivered.max(read).is_some_and(|seq| seq > self.chat.last_seq) {
            return Err(Error::bad_request("There is no message with that seq yet."));
        }
        let before = *self.chat.receipts.of(side);
        let mine = self.chat.receipts.of_mut(side);
        // Monotonic: a late or repeated receipt never moves back; what was read was delivered.
        mine.read = mine.read.max(read.unwrap_or(0));
        mine.delivered = mine.delivered.max(delivered.unwrap_or(0)).max(mine.read);
        let changes = if *mine != before { vec![Change::Receipts(self.chat.id)] } else { vec![] };
        Ok(Applied { reply: ChatReply::Receipts(self.chat.receipts), changes })
    }

    fn tag(&mut self, party: Party, tags: Vec<String>, policy: &ChatPolicy) -> Result<Applied<ChatReply>> {
        if party == Party::Citizen {
            return Err(Error::forbidden("Tags are for staff."));
        }
        let tags = text::tags(tags, policy.max_tags, policy.max_tag_len)?;
        let changes = if tags != self.chat.tags { vec![Change::Tags(self.chat.id)] } else { vec![] };
        self.chat.tags = tags.clone();
        Ok(Applied { reply: ChatReply::Tags(tags), changes })
    }

    fn rate(
        &mut self,
        party: Party,
        score: u8,
        comment: Option<String>,
        policy: &ChatPolicy,
        now: u64,
    ) -> Result<Applied<ChatReply>> {
        if party != Party::Citizen {
            return Err(Error::forbidden("Only the citizen rates the chat."));
        }
        if !(1..=5).contains(&score) {
            return Err(Error::bad_request("A rating is 1 to 5."));
        }
        let comment = text::optional(comment, "The comment", policy.max_comment_len)?;
        if !self.chat.is_ended() {
            return Err(Error::conflict("A chat is rated once it has ended."));
        }
        if self.chat.rating.is_some() {
            return Err(Error::conflict("This chat has already been rated."));
        }
        let rating = Rating { score, comment, at: now };
        self.chat.rating = Some(rating.clone());
        Ok(Applied { reply: ChatReply::Rated(rating), changes: vec![Change::Chat(self.chat.id)] })
    }

    /// Applies what a desk command did to this chat. On error nothing has changed.
    pub fn apply_effect(&mut self, effect: Effect, policy: &ChatPolicy, now: u64) -> Result<Vec<Change>> {
        let (status, _) = effect.after(self.chat.status, self.chat.agent.as_ref().map(|a| a.sub.as_str()))?;
        let id = self.chat.id;
        let mut changes = vec![Change::Chat(id)];
        let (notice, note) = match effect {
            Effect::Assigned { agent } => {
                self.chat.first_assigned_at.get_or_insert(now);
                let notice = Notice::Joined { agent: agent.name.clone() };
                self.chat.agent = Some(agent);
                (notice, None)
            }
            Effect::Transferred { from, to, note } => {
                self.chat.transfers += 1;
                let notice = Notice::Transferred { from: from.name, to: to.name.clone() };
                self.chat.agent = Some(to);
                (notice, note)
            }
            Effect::Requeued { reason, note } => {
                self.chat.agent = None;
                (Notice::Requeued { reason }, note)
            }
            Effect::Ended { reason } => {
                self.chat.ended_at = Some(now);
                self.chat.end_reason = Some(reason);
                (Notice::Ended { reason }, None)
            }
        };
        self.chat.status = status;
        if self.chat.last_seq < policy.max_messages + NOTICE_HEADROOM {
            let seq = self.push(Body::System { notice }, now);
            changes.push(Change::Message { chat: id, seq });
        }
        if let Some(note) = note {
            let note = self.push_note(note, None, now);
            changes.push(Change::Note { chat: id, id: note });
        }
        Ok(changes)
    }

    /// The messages both sides see, in order.
    pub fn visible_messages(&self) -> impl Iterator<Item = &Message> {
        self.messages.values()
    }

    fn push(&mut self, body: Body, now: u64) -> Seq {
        self.chat.last_seq += 1;
        let seq = self.chat.last_seq;
        self.messages.insert(seq, Message { seq, at: now, body });
        seq
    }

    fn push_note(&mut self, draft: NoteDraft, client_msg_id: Option<String>, now: u64) -> u32 {
        self.chat.notes += 1;
        let id = self.chat.notes;
        if let Some(key) = Self::posted_key(&draft.author.sub, client_msg_id.as_deref()) {
            self.posted.insert(key, Posted::Note(id));
        }
        let note =
            Note { id, after: self.chat.last_seq, at: now, author: draft.author, text: draft.text, client_msg_id };
        self.notes.insert(id, note);
        id
    }

    /// What `actor`'s `client_msg_id` posted before, if anything; an id first used for the other kind (a note
    /// for a message, or back) is refused.
    fn posted(&self, actor: &User, client_msg_id: &Option<String>, message: bool) -> Result<Option<Posted>> {
        let Some(key) = Self::posted_key(&actor.sub, client_msg_id.as_deref()) else { return Ok(None) };
        match self.posted.get(&key) {
            Some(p @ Posted::Message(_)) if message => Ok(Some(*p)),
            Some(p @ Posted::Note(_)) if !message => Ok(Some(*p)),
            Some(_) => Err(Error::bad_request("This client_msg_id was already used for something else.")),
            None => Ok(None),
        }
    }

    /// The side a party speaks for in this chat; supervisors speak for neither.
    fn side_of(&self, party: Party, supervisor: &str) -> Result<Side> {
        match party {
            Party::Citizen => Ok(Side::Citizen),
            Party::Agent => Ok(Side::Agent),
            Party::Supervisor => Err(Error::forbidden(supervisor)),
        }
    }

    /// Whether `side` may still write: nobody once the chat ended, an agent only while it is theirs and active.
    fn open_for(&self, side: Side) -> Result<()> {
        match (self.chat.status, side) {
            (ChatStatus::Ended, _) => Err(Error::conflict("This chat has ended.")),
            (ChatStatus::Waiting, Side::Agent) => Err(Error::conflict("This chat is waiting for an agent.")),
            _ => Ok(()),
        }
    }
}

/// The side `party` types as in `chat`, if they may type in it now. A server that thins typing indicators
/// checks a dropped one against this, so that it is refused exactly as a forwarded one would be.
pub fn typing_side(chat: &Chat, party: Party) -> Result<Side> {
    let side = match party {
        Party::Citizen => Side::Citizen,
        Party::Agent => Side::Agent,
        Party::Supervisor => return Err(Error::forbidden("Only the chat's agent types in it.")),
    };
    match (chat.status, side) {
        (ChatStatus::Ended, _) => Err(Error::conflict("This chat has ended.")),
        (ChatStatus::Waiting, Side::Agent) => Err(Error::conflict("This chat is waiting for an agent.")),
        _ => Ok(side),
    }
}

/// Why a chat ends when `party` ends it while it is `status`.
pub(super) fn ended_by(party: Party, status: ChatStatus) -> EndReason {
    match (party, status) {
        (Party::Citizen, ChatStatus::Waiting) => EndReason::LeftQueue,
        (Party::Citizen, _) => EndReason::Citizen,
        (Party::Agent, _) => EndReason::Agent,
        (Party::Supervisor, _) => EndReason::Supervisor,
    }
}
