//! Live written chat between citizens and customer-service agents: the domain.
//!
//! A citizen fills the pre-chat form (category, language, optional name and contact, consent), waits in the
//! queue of their language, chats with an agent, and rates the service once the chat has ended. When no agent
//! serves their language or the desk is closed (business hours), they leave an offline message instead.
//!
//! Everything here is pure: no I/O, no clock (every function takes `now` in Unix ms), no async. A store
//! (memory or Redis) keeps the state and applies these rules atomically in its own way.
//!
//! # Two kinds of state
//!
//! - **One chat**, [`rules::ChatState`]: the [`Chat`] header (status, agent, counters, receipts, rating, tags),
//!   its [`Message`]s and [`Note`]s, and the `client_msg_id` index. Messages, receipts, typing, notes, tags and
//!   ratings touch only this ([`rules::ChatState::apply`]).
//! - **The desk**, [`desk::Desk`]: the agents (availability, languages, cap, the chats they hold), the queue of
//!   each language, the open chats (who they belong to) and the recent waits the estimate uses. Starting,
//!   ending, taking, transferring and requeueing a chat, agents' availability and connections, and the
//!   periodic sweep (agents past their grace period, citizens gone past the resume window) change the desk.
//!   They return [`rules::Effect`]s for the chats they move; the store applies each to its chat with
//!   [`rules::ChatState::apply_effect`] (or all at once with [`rules::settle`]).
//!
//! A desk command never needs more than the desk and the chats named in its effects, so a shared store can load
//! the desk (and the command's own chat), run the command, load the chats its effects name, apply them, and
//! commit everything with one version check on the desk and on each chat. Routing ([`routing`]) is a pure
//! function of the desk, so two nodes deciding at once conflict on the desk's version and one of them retries:
//! never two agents for one chat, never an agent over their cap.
//!
//! # The other parts
//!
//! [`routing`] (queue order and choice of agent), [`estimate`] (wait estimate from recent real waits),
//! [`hours`] (business hours), [`rooms`] (who sees what: the rule that an internal note never reaches a citizen
//! lives there), [`transcript`] (plain text and JSON), [`report`] (figures for the ministry), [`offline`]
//! (offline messages), [`canned`] (canned responses), [`policy`] (every limit, with its default).
//!
//! # Who is who
//!
//! Citizens (`citizen` tokens) start and use their own chats. Agents (`agent`) work the desk. Admins (`admin`)
//! are the **supervisors**: they may also work the desk, and see and act on every chat. Moderators
//! (`moderator`) curate broadcasts and have no part in the chat ([`is_supervisor`], [`is_desk_staff`]).

pub mod canned;
pub mod desk;
pub mod estimate;
pub mod hours;
pub mod offline;
pub mod policy;
pub mod report;
pub mod rooms;
pub mod routing;
pub mod rules;
pub mod transcript;

pub(crate) mod text;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use crate::auth::{Role, User};

pub type ChatId = u64;
pub type OfflineId = u64;
pub type CannedId = u64;
/// A message's place in its chat: 1, 2, 3… with no gaps, over text and system messages alike.
pub type Seq = u64;

/// What the citizen's request is about: the categories of the national suggestions and complaints system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Inquiry,
    Suggestion,
    Complaint,
    Other,
}

impl Category {
    pub const ALL: [Category; 4] = [Category::Inquiry, Category::Suggestion, Category::Complaint, Category::Other];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Inquiry => "inquiry",
            Category::Suggestion => "suggestion",
            Category::Complaint => "complaint",
            Category::Other => "other",
        }
    }
}

/// The language a chat is held in; agents declare which they serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatLang {
    Ar,
    En,
}

impl ChatLang {
    pub const ALL: [ChatLang; 2] = [ChatLang::Ar, ChatLang::En];

    pub fn as_str(self) -> &'static str {
        match self {
            ChatLang::Ar => "ar",
            ChatLang::En => "en",
        }
    }
}

/// One value per chat language (queues, wait samples, which languages have agents).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PerLang<T> {
    pub ar: T,
    pub en: T,
}

impl<T> PerLang<T> {
    pub fn get(&self, lang: ChatLang) -> &T {
        match lang {
            ChatLang::Ar => &self.ar,
            ChatLang::En => &self.en,
        }
    }

    pub fn get_mut(&mut self, lang: ChatLang) -> &mut T {
        match lang {
            ChatLang::Ar => &mut self.ar,
            ChatLang::En => &mut self.en,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatStatus {
    /// In the queue of its language (the citizen may already write).
    Waiting,
    /// An agent holds it.
    Active,
    /// Over for good: nobody may post, the citizen may rate it.
    Ended,
}

/// The two parties of a chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Citizen,
    Agent,
}

/// An agent's own setting. Only `available` agents are routed new chats; an `away` agent keeps their chats and
/// may still take one by hand; going `offline` hands their chats back to the front of the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    Available,
    Away,
    Offline,
}

/// The citizen a chat belongs to, with what they gave in the pre-chat form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Citizen {
    pub sub: String,
    pub name: Option<String>,
    /// Staff only: never in the citizen's room (it is theirs, but the page has no use for it).
    pub contact: Option<String>,
}

/// A member of staff as a chat shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRef {
    pub sub: String,
    pub name: String,
}

impl AgentRef {
    pub fn of(user: &User) -> Self {
        AgentRef { sub: user.sub.clone(), name: user.name.clone() }
    }
}

/// The record that the citizen agreed to the operator's consent line, and to which version of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub version: String,
    pub at: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The citizen left the queue before an agent came.
    LeftQueue,
    /// The citizen ended the chat.
    Citizen,
    /// The chat's agent ended it.
    Agent,
    /// A supervisor ended it.
    Supervisor,
    /// The citizen was gone longer than the resume window.
    Abandoned,
}

/// Why a chat went back to the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequeueReason {
    /// Its agent's connection dropped and did not come back within the grace period.
    AgentDisconnected,
    /// Its agent went offline.
    AgentOffline,
    /// Its agent (or a supervisor) handed it back to the queue.
    Returned,
}

/// What a system message tells both sides. Names, not text: pages and transcripts word it in their language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Notice {
    /// An agent took the chat.
    Joined {
        agent: String,
    },
    Transferred {
        from: String,
        to: String,
    },
    Requeued {
        reason: RequeueReason,
    },
    Ended {
        reason: EndReason,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Body {
    /// Written by one side; both sides see it.
    Text {
        from: Side,
        sub: String,
        /// `None` for a citizen who gave no name.
        name: Option<String>,
        text: String,
        client_msg_id: Option<String>,
    },
    /// Said by the server; both sides see it.
    System { notice: Notice },
}

/// A message both sides of a chat see. Internal notes are not messages: see [`Note`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub seq: Seq,
    pub at: u64,
    pub body: Body,
}

impl Message {
    pub fn text(&self) -> Option<&str> {
        match &self.body {
            Body::Text { text, .. } => Some(text),
            Body::System { .. } => None,
        }
    }
}

/// An internal note: staff only, never sent to the citizen.
///
/// Notes are numbered on their own (`id`) and placed `after` a message seq, so the message numbering the
/// citizen sees has no gaps that would betray a note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub id: u32,
    /// The seq of the last message when the note was written (0 before any).
    pub after: Seq,
    pub at: u64,
    pub author: AgentRef,
    pub text: String,
    pub client_msg_id: Option<String>,
}

/// How far one side has got: everything up to `delivered` reached them, up to `read` was shown to them.
/// Both only ever grow, and `read <= delivered`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub delivered: Seq,
    pub read: Seq,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipts {
    pub citizen: Receipt,
    pub agent: Receipt,
}

impl Receipts {
    pub fn of(&self, side: Side) -> &Receipt {
        match side {
            Side::Citizen => &self.citizen,
            Side::Agent => &self.agent,
        }
    }

    fn of_mut(&mut self, side: Side) -> &mut Receipt {
        match side {
            Side::Citizen => &mut self.citizen,
            Side::Agent => &mut self.agent,
        }
    }
}

/// The citizen's rating of an ended chat: once, 1 to 5.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rating {
    pub score: u8,
    pub comment: Option<String>,
    pub at: u64,
}

/// One chat's header: everything but its messages and notes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chat {
    pub id: ChatId,
    pub citizen: Citizen,
    pub category: Category,
    pub lang: ChatLang,
    pub consent: Consent,
    pub status: ChatStatus,
    /// The agent holding it; after it ended, the last one (who may still tag it and write notes).
    pub agent: Option<AgentRef>,
    pub created_at: u64,
    /// When an agent first took it: the citizen's first wait ends here.
    pub first_assigned_at: Option<u64>,
    pub ended_at: Option<u64>,
    pub end_reason: Option<EndReason>,
    pub rating: Option<Rating>,
    /// Staff only.
    pub tags: Vec<String>,
    /// The seq of the last message (text or system).
    pub last_seq: Seq,
    /// Text messages so far (the limit counts these; system messages have their own headroom).
    pub texts: u64,
    /// Notes so far; the last note's id.
    pub notes: u32,
    pub receipts: Receipts,
    pub transfers: u32,
}

impl Chat {
    /// How long the citizen waited for the first agent, once one came.
    pub fn first_wait_ms(&self) -> Option<u64> {
        self.first_assigned_at.map(|at| at.saturating_sub(self.created_at))
    }

    pub fn is_ended(&self) -> bool {
        self.status == ChatStatus::Ended
    }

    /// `user`'s part in this chat, if any. The chat's agent comes first: an admin holding a chat acts as its
    /// agent.
    pub fn party(&self, user: &User) -> Option<Party> {
        if self.agent.as_ref().is_some_and(|a| a.sub == user.sub) && is_desk_staff(user.role) {
            Some(Party::Agent)
        } else if is_supervisor(user.role) {
            Some(Party::Supervisor)
        } else if user.role == Role::Citizen && self.citizen.sub == user.sub {
            Some(Party::Citizen)
        } else {
            None
        }
    }
}

/// How a user stands to one chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// The citizen the chat belongs to.
    Citizen,
    /// The agent holding it (or, once ended, the last one).
    Agent,
    /// An admin who is not its agent.
    Supervisor,
}

/// The pre-chat form.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartForm {
    pub category: Category,
    pub lang: ChatLang,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub contact: Option<String>,
    /// The citizen ticked the consent line.
    pub consent: bool,
    /// The version of the consent line the page showed (from the start info).
    pub consent_version: String,
    /// Names the start from the citizen's side: a start sent again with it (its ack lost with a connection)
    /// answers with the chat it made, while that chat is open (`Desk::started_before`).
    #[serde(default)]
    pub client_msg_id: Option<String>,
}

/// Sees every chat (its staff room) and may end, transfer, requeue, tag and annotate any chat. Admins only:
/// moderators curate broadcasts and have no part in the chat.
pub fn is_supervisor(role: Role) -> bool {
    role == Role::Admin
}

/// May work the desk: set an availability, hold chats, see the queue, answer offline messages.
pub fn is_desk_staff(role: Role) -> bool {
    matches!(role, Role::Agent | Role::Admin)
}
