//! What each audience may see of a chat, an agent or the desk, and the snapshots of the chat rooms.
//!
//! These are domain views, not the wire: `protocol.rs` encodes them. What a view leaves out, no event or
//! snapshot of its audience can carry.

use crate::auth::User;
use crate::chat::desk::{Agent, Desk, OpenChat};
use crate::chat::hours::Schedule;
use crate::chat::policy::{ChatPolicy, ConsentLine};
use crate::chat::rules::ChatState;
use crate::chat::{
    is_desk_staff, Availability, Category, Chat, ChatId, ChatLang, ChatStatus, EndReason, Message, Note, PerLang,
    Rating, Receipts,
};

/// The citizen's view of their chat: no tags, no contact, no consent record, the agent by name only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CitizenChat {
    pub id: ChatId,
    pub category: Category,
    pub lang: ChatLang,
    pub status: ChatStatus,
    pub name: Option<String>,
    pub agent_name: Option<String>,
    pub created_at: u64,
    pub ended_at: Option<u64>,
    pub end_reason: Option<EndReason>,
    pub rating: Option<Rating>,
}

impl CitizenChat {
    pub fn of(chat: &Chat) -> Self {
        CitizenChat {
            id: chat.id,
            category: chat.category,
            lang: chat.lang,
            status: chat.status,
            name: chat.citizen.name.clone(),
            agent_name: chat.agent.as_ref().map(|a| a.name.clone()),
            created_at: chat.created_at,
            ended_at: chat.ended_at,
            end_reason: chat.end_reason,
            rating: chat.rating.clone(),
        }
    }
}

/// A line about one chat in someone's personal stream: safe for the citizen and for staff alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatSummary {
    pub id: ChatId,
    pub status: ChatStatus,
    pub category: Category,
    pub lang: ChatLang,
    pub citizen_name: Option<String>,
    pub agent_name: Option<String>,
    pub created_at: u64,
}

impl ChatSummary {
    pub fn of(chat: &Chat) -> Self {
        ChatSummary {
            id: chat.id,
            status: chat.status,
            category: chat.category,
            lang: chat.lang,
            citizen_name: chat.citizen.name.clone(),
            agent_name: chat.agent.as_ref().map(|a| a.name.clone()),
            created_at: chat.created_at,
        }
    }

    /// The same from the desk alone (no chat loaded).
    pub fn of_open(id: ChatId, open: &OpenChat, desk: &Desk) -> Self {
        ChatSummary {
            id,
            status: if open.agent.is_some() { ChatStatus::Active } else { ChatStatus::Waiting },
            category: open.category,
            lang: open.lang,
            citizen_name: open.name.clone(),
            agent_name: open.agent.as_ref().and_then(|sub| desk.agents.get(sub)).map(|a| a.name.clone()),
            created_at: open.created_at,
        }
    }
}

/// An agent as the desk shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentView {
    pub sub: String,
    pub name: String,
    pub availability: Availability,
    pub languages: Vec<ChatLang>,
    pub load: u32,
    pub cap: u32,
    /// An admin's own cap for them (`cap` is this or the default).
    pub max_chats: Option<u32>,
    pub connected: bool,
    pub idle_since: u64,
    pub chats: Vec<ChatId>,
}

impl AgentView {
    pub fn of(agent: &Agent, policy: &ChatPolicy) -> Self {
        AgentView {
            sub: agent.sub.clone(),
            name: agent.name.clone(),
            availability: agent.availability,
            languages: agent.languages.iter().copied().collect(),
            load: agent.load(),
            cap: agent.cap(policy),
            max_chats: agent.max_chats,
            connected: agent.connected(),
            idle_since: agent.idle_since,
            chats: agent.chats.iter().copied().collect(),
        }
    }
}

/// A waiting chat as the desk shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueItem {
    pub chat: ChatId,
    pub category: Category,
    pub citizen_name: Option<String>,
    pub since: u64,
    pub created_at: u64,
    pub position: u32,
    pub estimate_ms: Option<u64>,
    pub citizen_away_since: Option<u64>,
    /// Handed back by this agent: routing gives it to someone else.
    pub not_agent: Option<String>,
}

/// The waiting chats of one language, front first.
pub fn queue(desk: &Desk, lang: ChatLang, policy: &ChatPolicy, now: u64) -> Vec<QueueItem> {
    let items = desk.queues.get(lang).iter().enumerate();
    items
        .filter_map(|(i, w)| {
            let open = desk.open.get(&w.chat)?;
            let position = i as u32 + 1;
            Some(QueueItem {
                chat: w.chat,
                category: open.category,
                citizen_name: open.name.clone(),
                since: w.since,
                created_at: open.created_at,
                position,
                estimate_ms: desk.estimate_at(lang, position, policy, now),
                citizen_away_since: open.away_shown_since(),
                not_agent: w.not_agent.clone(),
            })
        })
        .collect()
}

/// An open chat as the desk shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenView {
    pub summary: ChatSummary,
    pub agent: Option<String>,
    pub citizen_away_since: Option<u64>,
}

impl OpenView {
    pub fn of(id: ChatId, open: &OpenChat, desk: &Desk) -> Self {
        OpenView {
            summary: ChatSummary::of_open(id, open, desk),
            agent: open.agent.clone(),
            citizen_away_since: open.away_shown_since(),
        }
    }
}

/// `chat:<id>` as its citizen joins it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CitizenSnapshot {
    pub chat: CitizenChat,
    pub messages: Vec<Message>,
    pub receipts: Receipts,
    pub position: Option<u32>,
    pub estimate_ms: Option<u64>,
}

pub fn citizen_snapshot(state: &ChatState, desk: &Desk, policy: &ChatPolicy, now: u64) -> CitizenSnapshot {
    let id = state.chat.id;
    CitizenSnapshot {
        chat: CitizenChat::of(&state.chat),
        messages: state.visible_messages().cloned().collect(),
        receipts: state.chat.receipts,
        position: desk.position(id),
        estimate_ms: desk.estimate(id, policy, now),
    }
}

/// `chat:<id>:staff`: everything, notes and tags included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffSnapshot {
    pub chat: Chat,
    pub messages: Vec<Message>,
    pub notes: Vec<Note>,
    pub position: Option<u32>,
    pub estimate_ms: Option<u64>,
    pub citizen_away_since: Option<u64>,
}

pub fn staff_snapshot(state: &ChatState, desk: &Desk, policy: &ChatPolicy, now: u64) -> StaffSnapshot {
    let id = state.chat.id;
    StaffSnapshot {
        chat: state.chat.clone(),
        messages: state.visible_messages().cloned().collect(),
        notes: state.notes.values().cloned().collect(),
        position: desk.position(id),
        estimate_ms: desk.estimate(id, policy, now),
        citizen_away_since: desk.open.get(&id).and_then(OpenChat::away_shown_since),
    }
}

/// `desk`: the agents, the queues and the open chats; `offline_open` is the offline inbox's count of open
/// messages (the store keeps the inbox).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeskSnapshot {
    pub agents: Vec<AgentView>,
    pub queues: PerLang<Vec<QueueItem>>,
    pub open: Vec<OpenView>,
    pub offline_open: u64,
}

pub fn desk_snapshot(desk: &Desk, offline_open: u64, policy: &ChatPolicy, now: u64) -> DeskSnapshot {
    DeskSnapshot {
        agents: desk.agents.values().map(|a| AgentView::of(a, policy)).collect(),
        queues: PerLang { ar: queue(desk, ChatLang::Ar, policy, now), en: queue(desk, ChatLang::En, policy, now) },
        open: desk.open.iter().map(|(id, open)| OpenView::of(*id, open, desk)).collect(),
        offline_open,
    }
}

/// `user:<sub>`: a citizen's open chats, or the chats a member of staff holds and their desk state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSnapshot {
    pub chats: Vec<ChatSummary>,
    pub agent: Option<AgentView>,
}

pub fn user_snapshot(user: &User, desk: &Desk, policy: &ChatPolicy) -> UserSnapshot {
    let summary = |id: &ChatId| desk.open.get(id).map(|open| ChatSummary::of_open(*id, open, desk));
    if is_desk_staff(user.role) {
        let agent = desk.agents.get(&user.sub);
        UserSnapshot {
            chats: agent.map(|a| a.chats.iter().filter_map(summary).collect()).unwrap_or_default(),
            agent: agent.map(|a| AgentView::of(a, policy)),
        }
    } else {
        UserSnapshot { chats: desk.open_chats_of(&user.sub).iter().filter_map(summary).collect(), agent: None }
    }
}

/// Why a citizen can't start a chat in a language now (they can leave an offline message instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// Outside business hours.
    Closed,
    /// No available agent serves the language.
    NoAgents,
    /// The language's queue is full.
    QueueFull,
}

/// One language as the chat widget shows it before the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LangInfo {
    /// `None`: a chat may start now.
    pub unavailable: Option<Unavailable>,
    pub waiting: u32,
    /// The wait a chat starting now would be told (at the back of the queue).
    pub estimate_ms: Option<u64>,
}

/// What the widget needs before the pre-chat form (`GET /api/chat/start-info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartInfo {
    pub open: bool,
    /// When the desk opens next (now while open); `None` if never.
    pub next_open: Option<u64>,
    /// The schedule's zone: pages show `next_open` in it ("we open again Sunday 07:00", Bahrain time).
    pub time_zone: chrono_tz::Tz,
    pub langs: PerLang<LangInfo>,
    pub consent: ConsentLine,
    /// The viewer's own open chats, to resume instead of starting another.
    pub my_chats: Vec<ChatSummary>,
    /// Whether the viewer may start one more chat at all.
    pub may_start: bool,
}

pub fn start_info(
    desk: &Desk,
    schedule: &Schedule,
    consent: &ConsentLine,
    viewer: Option<&User>,
    policy: &ChatPolicy,
    now: u64,
) -> StartInfo {
    let open = schedule.is_open(now);
    let lang = |lang: ChatLang| {
        let waiting = desk.queues.get(lang).len();
        let unavailable = if !open {
            Some(Unavailable::Closed)
        } else if !desk.has_agents_for(lang) {
            Some(Unavailable::NoAgents)
        } else if waiting >= policy.max_queue_per_lang {
            Some(Unavailable::QueueFull)
        } else {
            None
        };
        let estimate_ms = desk.estimate_at(lang, waiting as u32 + 1, policy, now);
        LangInfo { unavailable, waiting: waiting as u32, estimate_ms }
    };
    let mine = viewer.map(|v| desk.open_chats_of(&v.sub)).unwrap_or_default();
    StartInfo {
        open,
        next_open: schedule.next_open(now),
        time_zone: schedule.time_zone,
        langs: PerLang { ar: lang(ChatLang::Ar), en: lang(ChatLang::En) },
        consent: consent.clone(),
        may_start: mine.len() < policy.max_open_chats_per_citizen,
        my_chats: mine.iter().filter_map(|id| Some(ChatSummary::of_open(*id, desk.open.get(id)?, desk))).collect(),
    }
}
