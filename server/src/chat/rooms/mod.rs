//! Who sees what, and who may join which room. This is where the chat's privacy rules live.
//!
//! - `chat:<id>` — joined by the chat's citizen only: the citizen's view (messages, status, the agent's name,
//!   receipts, the agent typing, the queue position and estimate).
//! - `chat:<id>:staff` — joined by the chat's agent (after it ended, its last agent) and supervisors (admins):
//!   everything, notes, tags, the citizen's contact and consent, both sides typing.
//! - `desk` — joined by agents and admins: agents' states, the queues, open chats, offline-inbox and
//!   canned-response changes.
//! - `user:<sub>` — joined by that person only: a chat assigned or transferred to them or taken from them,
//!   their own chats' status, their desk state.
//!
//! **Invariant: an internal note never reaches a citizen.** A note exists only as [`StaffEvent::Note`] (and in
//! [`StaffSnapshot`]): the events of the citizen's room ([`CitizenEvent`]) and of personal streams
//! ([`UserEvent`]) have no variant that could carry one, [`route`] sends [`Change::Note`] to the staff room
//! alone, and only staff may join it. Tags, the contact and the consent record are kept from citizens the same
//! way: [`CitizenChat`] has no field for them, and tag changes go to the staff room alone.

mod views;

use std::collections::BTreeMap;

pub use views::{
    citizen_snapshot, desk_snapshot, queue, staff_snapshot, start_info, user_snapshot, AgentView, ChatSummary,
    CitizenChat, CitizenSnapshot, DeskSnapshot, LangInfo, OpenView, QueueItem, StaffSnapshot, StartInfo, Unavailable,
    UserSnapshot,
};

use super::canned::Canned;
use super::desk::Desk;
use super::offline::OfflineMessage;
use super::policy::ChatPolicy;
use super::rules::{Change, ChatState};
use super::{is_desk_staff, CannedId, Chat, ChatId, ChatLang, Message, Note, Party, Receipts, Side};
use crate::auth::User;

/// A room of the live chat, parsed from its wire name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ChatRoom {
    /// `chat:<id>`
    Citizen(ChatId),
    /// `chat:<id>:staff`
    Staff(ChatId),
    /// `desk`
    Desk,
    /// `user:<sub>`
    User(String),
}

impl ChatRoom {
    pub fn parse(name: &str) -> Option<Self> {
        if name == "desk" {
            return Some(ChatRoom::Desk);
        }
        if let Some(sub) = name.strip_prefix("user:") {
            return (!sub.is_empty()).then(|| ChatRoom::User(sub.to_string()));
        }
        let rest = name.strip_prefix("chat:")?;
        match rest.strip_suffix(":staff") {
            Some(id) => id.parse().ok().map(ChatRoom::Staff),
            None => rest.parse().ok().map(ChatRoom::Citizen),
        }
    }

    pub fn key(&self) -> String {
        match self {
            ChatRoom::Citizen(id) => format!("chat:{id}"),
            ChatRoom::Staff(id) => format!("chat:{id}:staff"),
            ChatRoom::Desk => "desk".to_string(),
            ChatRoom::User(sub) => format!("user:{sub}"),
        }
    }

    /// The chat a room belongs to, which [`may_join`] needs.
    pub fn chat(&self) -> Option<ChatId> {
        match self {
            ChatRoom::Citizen(id) | ChatRoom::Staff(id) => Some(*id),
            ChatRoom::Desk | ChatRoom::User(_) => None,
        }
    }
}

/// Whether `user` may join `room`; `chat` is the room's chat header, when it has one (`None`: no such chat).
///
/// A citizen joins only their own chat and their own stream; a chat's staff room takes its agent (after it
/// ended, its last agent) and supervisors; the desk takes agents and admins. Moderators have no chat rooms but
/// their own stream. A server re-checks this for the members of `chat:<id>:staff` on [`Change::Released`]: an
/// agent who handed a chat on leaves its room.
pub fn may_join(user: &User, room: &ChatRoom, chat: Option<&Chat>) -> bool {
    let party = |id: &ChatId| chat.filter(|c| c.id == *id).and_then(|c| c.party(user));
    match room {
        ChatRoom::Citizen(id) => party(id) == Some(Party::Citizen),
        ChatRoom::Staff(id) => matches!(party(id), Some(Party::Agent | Party::Supervisor)),
        ChatRoom::Desk => is_desk_staff(user.role),
        ChatRoom::User(sub) => *sub == user.sub,
    }
}

/// One event of the citizen's room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CitizenEvent {
    Chat(CitizenChat),
    Message(Message),
    Receipts(Receipts),
    /// The agent is typing (ephemeral: not sequenced, not replayed).
    Typing {
        typing: bool,
    },
    /// The chat's place in the queue and estimated wait (`position: None` once it no longer waits).
    Queue {
        position: Option<u32>,
        estimate_ms: Option<u64>,
    },
}

/// One event of a chat's staff room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaffEvent {
    Chat(Box<Chat>),
    Message(Message),
    Note(Note),
    Receipts(Receipts),
    /// Ephemeral, like [`CitizenEvent::Typing`].
    Typing {
        side: Side,
        typing: bool,
    },
    Queue {
        position: Option<u32>,
        estimate_ms: Option<u64>,
    },
}

/// One event of the desk room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeskEvent {
    Agent(AgentView),
    /// A language's whole queue, front first.
    Queue {
        lang: ChatLang,
        waiting: Vec<QueueItem>,
    },
    Open(OpenView),
    /// The chat ended and left the desk.
    Closed(ChatId),
    Offline(OfflineMessage),
    Canned(Canned),
    CannedRemoved(CannedId),
}

/// One event of a personal stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserEvent {
    /// A chat is now yours (from the queue, or transferred from the agent named).
    Assigned { chat: ChatSummary, from: Option<String> },
    /// A chat is no longer yours (you transferred it or it went back to the queue): leave its staff room.
    Released { chat: ChatId },
    /// One of your chats (as its citizen) changed status or agent.
    MyChat(ChatSummary),
    /// Your own desk state changed (e.g. the grace period ran out and you are now offline).
    Agent(AgentView),
}

/// An event and the room it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routed {
    Citizen(ChatId, CitizenEvent),
    Staff(ChatId, StaffEvent),
    Desk(DeskEvent),
    User(String, UserEvent),
}

impl Routed {
    pub fn room(&self) -> ChatRoom {
        match self {
            Routed::Citizen(id, _) => ChatRoom::Citizen(*id),
            Routed::Staff(id, _) => ChatRoom::Staff(*id),
            Routed::Desk(_) => ChatRoom::Desk,
            Routed::User(sub, _) => ChatRoom::User(sub.clone()),
        }
    }

    /// Typing indicators are published but not sequenced, stored or replayed.
    pub fn is_ephemeral(&self) -> bool {
        matches!(self, Routed::Citizen(_, CitizenEvent::Typing { .. }) | Routed::Staff(_, StaffEvent::Typing { .. }))
    }
}

/// What a store has at hand after a command, for routing its changes.
pub struct Scope<'a> {
    /// `None` after a command that touched one chat only (its changes need no desk).
    pub desk: Option<&'a Desk>,
    pub chats: &'a BTreeMap<ChatId, ChatState>,
    pub policy: &'a ChatPolicy,
    pub now: u64,
}

/// Turns the changes of one command into the events each room gets, in order. A change whose chat is not in
/// `scope` routes nothing.
pub fn route(changes: &[Change], scope: &Scope<'_>) -> Vec<Routed> {
    let mut out = Vec::with_capacity(changes.len() * 2);
    for change in changes {
        route_one(change, scope, &mut out);
    }
    out
}

/// Where a chat's receipts go: both of its rooms (a store that raises them without the rest of the chat at hand
/// routes them by this).
pub fn receipts(id: ChatId, receipts: Receipts) -> [Routed; 2] {
    [Routed::Citizen(id, CitizenEvent::Receipts(receipts)), Routed::Staff(id, StaffEvent::Receipts(receipts))]
}

/// The events of a new message in chat `id`: both sides see it.
pub fn message(id: ChatId, message: &Message) -> [Routed; 2] {
    [
        Routed::Citizen(id, CitizenEvent::Message(message.clone())),
        Routed::Staff(id, StaffEvent::Message(message.clone())),
    ]
}

fn route_one(change: &Change, scope: &Scope<'_>, out: &mut Vec<Routed>) {
    let chat = |id: &ChatId| scope.chats.get(id);
    match change {
        Change::Chat(id) => {
            let Some(state) = chat(id) else { return };
            out.push(Routed::Citizen(*id, CitizenEvent::Chat(CitizenChat::of(&state.chat))));
            out.push(Routed::Staff(*id, StaffEvent::Chat(Box::new(state.chat.clone()))));
            out.push(Routed::User(state.chat.citizen.sub.clone(), UserEvent::MyChat(ChatSummary::of(&state.chat))));
        }
        Change::Tags(id) => {
            let Some(state) = chat(id) else { return };
            out.push(Routed::Staff(*id, StaffEvent::Chat(Box::new(state.chat.clone()))));
        }
        Change::Message { chat: id, seq } => {
            let Some(message) = chat(id).and_then(|s| s.messages.get(seq)) else { return };
            out.extend(self::message(*id, message));
        }
        Change::Note { chat: id, id: note } => {
            let Some(note) = chat(id).and_then(|s| s.notes.get(note)) else { return };
            out.push(Routed::Staff(*id, StaffEvent::Note(note.clone())));
        }
        Change::Receipts(id) => {
            let Some(state) = chat(id) else { return };
            out.extend(receipts(*id, state.chat.receipts));
        }
        Change::Typing { chat: id, side, typing } => {
            if *side == Side::Agent {
                out.push(Routed::Citizen(*id, CitizenEvent::Typing { typing: *typing }));
            }
            out.push(Routed::Staff(*id, StaffEvent::Typing { side: *side, typing: *typing }));
        }
        Change::Position(id) => {
            let Some(desk) = scope.desk else { return };
            let (position, estimate_ms) = (desk.position(*id), desk.estimate(*id, scope.policy, scope.now));
            out.push(Routed::Citizen(*id, CitizenEvent::Queue { position, estimate_ms }));
            out.push(Routed::Staff(*id, StaffEvent::Queue { position, estimate_ms }));
        }
        Change::Queue(lang) => {
            let Some(desk) = scope.desk else { return };
            let waiting = queue(desk, *lang, scope.policy, scope.now);
            out.push(Routed::Desk(DeskEvent::Queue { lang: *lang, waiting }));
        }
        Change::Agent(sub) => {
            let Some(agent) = scope.desk.and_then(|d| d.agents.get(sub)) else { return };
            let view = AgentView::of(agent, scope.policy);
            out.push(Routed::Desk(DeskEvent::Agent(view.clone())));
            out.push(Routed::User(sub.clone(), UserEvent::Agent(view)));
        }
        Change::Open(id) => {
            let Some(desk) = scope.desk else { return };
            out.push(Routed::Desk(match desk.open.get(id) {
                Some(open) => DeskEvent::Open(OpenView::of(*id, open, desk)),
                None => DeskEvent::Closed(*id),
            }));
        }
        Change::Assigned { chat: id, agent, from } => {
            let summary = match (chat(id), scope.desk) {
                (Some(state), _) => ChatSummary::of(&state.chat),
                (None, Some(desk)) => match desk.open.get(id) {
                    Some(open) => ChatSummary::of_open(*id, open, desk),
                    None => return,
                },
                (None, None) => return,
            };
            let from = from
                .as_ref()
                .map(|sub| scope.desk.and_then(|d| d.agents.get(sub)).map_or_else(|| sub.clone(), |a| a.name.clone()));
            out.push(Routed::User(agent.clone(), UserEvent::Assigned { chat: summary, from }));
        }
        Change::Released { chat: id, agent } => {
            out.push(Routed::User(agent.clone(), UserEvent::Released { chat: *id }));
        }
        Change::Offline(message) => out.push(Routed::Desk(DeskEvent::Offline((**message).clone()))),
        Change::Canned(canned) => out.push(Routed::Desk(DeskEvent::Canned((**canned).clone()))),
        Change::CannedRemoved(id) => out.push(Routed::Desk(DeskEvent::CannedRemoved(*id))),
    }
}

/// The members of staff who must leave a chat's staff room after these changes (they handed the chat on).
pub fn revoked(changes: &[Change]) -> Vec<(String, ChatRoom)> {
    changes
        .iter()
        .filter_map(|c| match c {
            Change::Released { chat, agent } => Some((agent.clone(), ChatRoom::Staff(*chat))),
            _ => None,
        })
        .collect()
}
