//! The desk: what every open chat shares. Agents and the chats they hold, the queue of each language, the open
//! chats, and the recent waits the estimate uses.
//!
//! The desk is the authority on who holds which open chat: routing reads nothing else, and every command that
//! moves a chat between the queue and an agent changes the desk first (`rules::desk`). It stays small: the open
//! chats are bounded by the queues (`max_queue_per_lang` each) and the agents' caps, the agents by `max_agents`,
//! the waits by `wait_samples`. Serde-derivable, so a shared store keeps it as one JSON document with a version.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use super::estimate::Waits;
use super::policy::ChatPolicy;
use super::{AgentRef, Availability, Category, ChatId, ChatLang, PerLang};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Desk {
    /// By `sub`. An agent appears when they first set an availability and stays (with their cap and languages).
    pub agents: BTreeMap<String, Agent>,
    /// Each language's waiting chats, front first.
    pub queues: PerLang<VecDeque<Waiting>>,
    /// Every chat not yet ended.
    pub open: BTreeMap<ChatId, OpenChat>,
    pub waits: PerLang<Waits>,
}

/// A member of staff on the desk (an agent, or an admin working as one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    pub sub: String,
    pub name: String,
    pub availability: Availability,
    pub languages: BTreeSet<ChatLang>,
    /// An admin's cap for this agent; `None`: the policy's default.
    pub max_chats: Option<u32>,
    /// The open chats they hold.
    pub chats: BTreeSet<ChatId>,
    /// Since when they have waited for a chat: their last assignment or when they became available, whichever
    /// came later. Routing breaks ties between equally busy agents by the earliest.
    pub idle_since: u64,
    /// Set while their connection is down: the grace period runs from here.
    pub disconnected_at: Option<u64>,
}

impl Agent {
    pub fn new(sub: String, name: String, now: u64) -> Self {
        Agent {
            sub,
            name,
            availability: Availability::Offline,
            languages: BTreeSet::new(),
            max_chats: None,
            chats: BTreeSet::new(),
            idle_since: now,
            disconnected_at: None,
        }
    }

    pub fn load(&self) -> u32 {
        self.chats.len() as u32
    }

    pub fn cap(&self, policy: &ChatPolicy) -> u32 {
        policy.cap(self.max_chats)
    }

    pub fn has_room(&self, policy: &ChatPolicy) -> bool {
        self.load() < self.cap(policy)
    }

    pub fn connected(&self) -> bool {
        self.disconnected_at.is_none()
    }

    /// May be handed a chat of `lang` by routing or by a transfer: available, connected, serves it, has room.
    pub fn routable(&self, lang: ChatLang, policy: &ChatPolicy) -> bool {
        self.availability == Availability::Available && self.answers(lang) && self.has_room(policy)
    }

    /// May take a waiting chat of `lang` by hand: like [`Agent::routable`], but `away` will do.
    pub fn may_take(&self, lang: ChatLang, policy: &ChatPolicy) -> bool {
        self.availability != Availability::Offline && self.answers(lang) && self.has_room(policy)
    }

    /// Connected and serving `lang`, busy or not.
    fn answers(&self, lang: ChatLang) -> bool {
        self.connected() && self.languages.contains(&lang)
    }

    pub fn as_ref(&self) -> AgentRef {
        AgentRef { sub: self.sub.clone(), name: self.name.clone() }
    }
}

/// A chat in a queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiting {
    pub chat: ChatId,
    /// When it entered the queue (this time: a requeued chat starts again).
    pub since: u64,
    /// Its position when it entered (1 = front), for the wait sample it will give.
    pub entered_at: u32,
    /// The agent who handed it back: routing gives it to someone else.
    pub not_agent: Option<String>,
}

/// What the desk knows of an open chat: enough to route it, show it in the queue and check who may act on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenChat {
    pub citizen: String,
    pub name: Option<String>,
    pub category: Category,
    pub lang: ChatLang,
    pub created_at: u64,
    /// The agent holding it; `None` while it waits.
    pub agent: Option<String>,
    /// Set while the citizen has no connection: the resume window runs from here.
    pub citizen_away_since: Option<u64>,
    /// The desk has been told the citizen is away (after `ChatPolicy::away_notice_ms`): what the views show.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub citizen_away_shown: bool,
    /// The start's `client_msg_id`, if it had one: a start sent again with it answers with this chat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
}

impl OpenChat {
    /// Since when the citizen is away, as the desk shows it: only once the desk was told.
    pub fn away_shown_since(&self) -> Option<u64> {
        self.citizen_away_since.filter(|_| self.citizen_away_shown)
    }
}

impl Desk {
    /// The chat's place in its queue (1 = front), while it waits.
    pub fn position(&self, chat: ChatId) -> Option<u32> {
        let lang = self.open.get(&chat)?.lang;
        let index = self.queues.get(lang).iter().position(|w| w.chat == chat)?;
        Some(index as u32 + 1)
    }

    /// The estimated wait of a waiting chat, in ms (see [`super::estimate`]).
    pub fn estimate(&self, chat: ChatId, policy: &ChatPolicy, now: u64) -> Option<u64> {
        let lang = self.open.get(&chat)?.lang;
        self.estimate_at(lang, self.position(chat)?, policy, now)
    }

    /// The estimated wait at `position` of `lang`'s queue, in ms.
    pub fn estimate_at(&self, lang: ChatLang, position: u32, policy: &ChatPolicy, now: u64) -> Option<u64> {
        self.waits.get(lang).estimate(position, now, policy.wait_sample_max_age_ms)
    }

    /// The open chats of one citizen, oldest first.
    pub fn open_chats_of(&self, citizen: &str) -> Vec<ChatId> {
        self.open.iter().filter(|(_, c)| c.citizen == citizen).map(|(id, _)| *id).collect()
    }

    /// Whether an available, connected agent serves `lang` (busy or not): the citizen may wait for them.
    pub fn has_agents_for(&self, lang: ChatLang) -> bool {
        self.agents.values().any(|a| a.availability == Availability::Available && a.answers(lang))
    }

    /// The desk's invariants, for tests and debug assertions: every open chat is either in its language's queue
    /// exactly once or held by exactly the agent it names, and nothing else is queued or held.
    pub fn check(&self) -> Result<(), String> {
        let mut seen = BTreeSet::new();
        for lang in ChatLang::ALL {
            for w in self.queues.get(lang) {
                let open = self.open.get(&w.chat).ok_or(format!("queued chat {} is not open", w.chat))?;
                if open.lang != lang || open.agent.is_some() || !seen.insert(w.chat) {
                    return Err(format!("chat {} is queued wrongly", w.chat));
                }
            }
        }
        for agent in self.agents.values() {
            for chat in &agent.chats {
                let open = self.open.get(chat).ok_or(format!("{} holds chat {chat}, which is not open", agent.sub))?;
                if open.agent.as_deref() != Some(&agent.sub) || !seen.insert(*chat) {
                    return Err(format!("chat {chat} is held wrongly"));
                }
            }
        }
        match self.open.keys().find(|id| !seen.contains(id)) {
            Some(id) => Err(format!("open chat {id} is neither queued nor held")),
            None => Ok(()),
        }
    }
}
