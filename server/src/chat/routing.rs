//! The queue order and the choice of agent: pure functions of the [`Desk`].
//!
//! - **Order.** First come, first served within a language: a new chat joins the back of its language's queue.
//!   A chat that goes back to the queue (its agent dropped, went offline or handed it back) goes to the front,
//!   ahead of chats that never had an agent; several at once keep their order (oldest chat first).
//! - **Choice.** A waiting chat goes to the least busy agent who is available, connected, serves its language
//!   and is under their cap; among equally busy agents, to the one who has waited longest for a chat (since
//!   their last assignment or since they became available), then by `sub` so every node decides alike. A chat
//!   handed back by an agent does not go back to that agent.
//! - **Across languages.** An agent who serves both languages and has one free place gets the queue head that
//!   entered its queue first.
//!
//! [`assign_waiting`] hands out chats until no waiting chat has an eligible agent. Because it reads and writes
//! only the desk, a store that commits the desk with a version check makes concurrent routing safe: of two
//! nodes that decide at once, one commits and the other retries on the new desk.

use super::desk::{Agent, Desk, Waiting};
use super::estimate::WaitSample;
use super::policy::ChatPolicy;
use super::{AgentRef, ChatId, ChatLang};

/// A waiting chat given to an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub chat: ChatId,
    pub lang: ChatLang,
    pub agent: AgentRef,
    pub waited_ms: u64,
}

/// Puts a new chat at the back of its language's queue; returns its position (1 = front).
pub fn enqueue(desk: &mut Desk, chat: ChatId, lang: ChatLang, now: u64) -> u32 {
    let queue = desk.queues.get_mut(lang);
    let position = queue.len() as u32 + 1;
    queue.push_back(Waiting { chat, since: now, entered_at: position, not_agent: None });
    position
}

/// Puts chats back at the front of `lang`'s queue, oldest chat first, ahead of everything waiting.
pub fn requeue_front(desk: &mut Desk, lang: ChatLang, mut chats: Vec<ChatId>, not_agent: Option<&str>, now: u64) {
    chats.sort_unstable();
    let queue = desk.queues.get_mut(lang);
    for (i, chat) in chats.into_iter().enumerate().rev() {
        let not_agent = not_agent.map(str::to_string);
        queue.push_front(Waiting { chat, since: now, entered_at: i as u32 + 1, not_agent });
    }
}

/// Takes a chat out of its queue (it left, ended or was taken by hand).
pub fn dequeue(desk: &mut Desk, lang: ChatLang, chat: ChatId) -> Option<Waiting> {
    let queue = desk.queues.get_mut(lang);
    let index = queue.iter().position(|w| w.chat == chat)?;
    queue.remove(index)
}

/// The agent a chat of `lang` would go to now, if any.
pub fn pick_agent<'a>(
    desk: &'a Desk,
    lang: ChatLang,
    not_agent: Option<&str>,
    policy: &ChatPolicy,
) -> Option<&'a Agent> {
    desk.agents
        .values()
        .filter(|a| a.routable(lang, policy) && Some(a.sub.as_str()) != not_agent)
        .min_by(|a, b| (a.load(), a.idle_since, &a.sub).cmp(&(b.load(), b.idle_since, &b.sub)))
}

/// Hands out waiting chats until none has an eligible agent; returns what it assigned, in order.
pub fn assign_waiting(desk: &mut Desk, policy: &ChatPolicy, now: u64) -> Vec<Assignment> {
    let mut assigned = Vec::new();
    while let Some((lang, index, agent)) = next_match(desk, policy) {
        let waiting = desk.queues.get_mut(lang).remove(index).expect("BUG: matched a queue entry that is not there");
        assigned.push(give(desk, waiting, lang, &agent, policy, now));
    }
    assigned
}

/// Gives a waiting chat to `agent` by hand (an agent taking it); the caller checked they may.
pub fn take(
    desk: &mut Desk,
    lang: ChatLang,
    chat: ChatId,
    agent: &str,
    policy: &ChatPolicy,
    now: u64,
) -> Option<Assignment> {
    let waiting = dequeue(desk, lang, chat)?;
    Some(give(desk, waiting, lang, agent, policy, now))
}

/// The next (language, queue index, agent) to assign: per language the first waiting chat, in queue order, that
/// has an eligible agent; across languages the one that entered its queue first.
fn next_match(desk: &Desk, policy: &ChatPolicy) -> Option<(ChatLang, usize, String)> {
    ChatLang::ALL
        .into_iter()
        .filter(|&lang| pick_agent(desk, lang, None, policy).is_some())
        .filter_map(|lang| {
            desk.queues.get(lang).iter().enumerate().find_map(|(index, w)| {
                let agent = pick_agent(desk, lang, w.not_agent.as_deref(), policy)?;
                Some((w.since, lang, index, agent.sub.clone()))
            })
        })
        .min_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)))
        .map(|(_, lang, index, agent)| (lang, index, agent))
}

/// The bookkeeping of an assignment: the agent's load and idle time, the open chat's agent, the wait sample.
fn give(desk: &mut Desk, waiting: Waiting, lang: ChatLang, agent: &str, policy: &ChatPolicy, now: u64) -> Assignment {
    let waited_ms = now.saturating_sub(waiting.since);
    let sample = WaitSample { position: waiting.entered_at, waited_ms, at: now };
    desk.waits.get_mut(lang).record(sample, policy.wait_samples);
    let agent = desk.agents.get_mut(agent).expect("BUG: assigning to an agent who is not on the desk");
    agent.chats.insert(waiting.chat);
    agent.idle_since = now;
    let agent = agent.as_ref();
    if let Some(open) = desk.open.get_mut(&waiting.chat) {
        open.agent = Some(agent.sub.clone());
    }
    Assignment { chat: waiting.chat, lang, agent, waited_ms }
}
