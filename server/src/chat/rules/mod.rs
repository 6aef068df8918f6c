//! Every chat state transition, as plain functions over explicit state.
//!
//! - [`ChatState::apply`]: the commands that touch one chat (send, note, typing, receipts, tags, rating).
//! - `impl Desk` in `desk.rs` and `agents.rs`: the commands that move chats between the queue and agents (start,
//!   end, take, transfer, requeue), agents' availability, caps and connections, citizens' presence, and the
//!   periodic sweep. Each changes the desk, runs routing, and returns the [`Effect`]s on the chats it moved.
//! - [`ChatState::apply_effect`] applies one effect to its chat; [`settle`] applies all of a desk command's
//!   effects to the chats a store loaded.
//!
//! Every function returns the reply for the sender and the [`Change`]s for [`super::rooms::route`], and on error
//! changes nothing. A store applies them under whatever makes them atomic for it (a lock in memory; a version
//! check on the desk and on each chat in Redis).
//!
//! What a store writes for each change: `Chat`, `Tags`, `Receipts` — the chat's header; `Message`, `Note` — the
//! new message or note (and its `client_msg_id` index entry); `Queue`, `Agent`, `Open` — the desk; `Offline`,
//! `Canned` — that record. `Typing`, `Position`, `Assigned`, `Released` are only published.

mod agents;
mod chat;
mod command;
mod desk;

use std::collections::{BTreeMap, HashMap};

pub use chat::{typing_side, ChatCommand, ChatReply, ChatState, Posted};
pub use command::{DeskCommand, DeskReply};
pub use desk::{StartContext, Started};

use super::canned::Canned;
use super::offline::OfflineMessage;
use super::policy::ChatPolicy;
use super::{AgentRef, CannedId, ChatId, ChatLang, ChatStatus, EndReason, RequeueReason, Seq, Side};
use crate::error::{Error, Result};

/// What changed, for routing to rooms (and for a store, what to write).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A chat's status, agent, ending or rating changed: both sides see it.
    Chat(ChatId),
    /// A chat's tags changed: staff only.
    Tags(ChatId),
    /// A message (text or system) was added.
    Message {
        chat: ChatId,
        seq: Seq,
    },
    /// An internal note was added: staff only.
    Note {
        chat: ChatId,
        id: u32,
    },
    Receipts(ChatId),
    /// Someone started or stopped typing. Ephemeral: published, never stored or replayed.
    Typing {
        chat: ChatId,
        side: Side,
        typing: bool,
    },
    /// A waiting chat's position or estimate may have changed.
    Position(ChatId),
    /// A language's queue changed.
    Queue(ChatLang),
    /// An agent's availability, languages, cap, load or connection changed.
    Agent(String),
    /// An open chat appeared on the desk, changed there (agent, citizen away), or left it (ended).
    Open(ChatId),
    /// `agent` got a chat: from the queue (routed or taken by hand), or transferred `from` another agent.
    Assigned {
        chat: ChatId,
        agent: String,
        from: Option<String>,
    },
    /// `agent` no longer holds a chat (transferred away or back to the queue): they lose its staff room.
    Released {
        chat: ChatId,
        agent: String,
    },
    /// An offline message was left, answered or closed.
    Offline(Box<OfflineMessage>),
    Canned(Box<Canned>),
    CannedRemoved(CannedId),
}

/// What a command returns to its sender, and what changed.
#[derive(Debug, Clone)]
pub struct Applied<R> {
    pub reply: R,
    pub changes: Vec<Change>,
}

/// What a desk command returns: the reply, the desk's changes, and the effects the store must still apply to
/// the chats they name (see [`settle`]).
#[must_use = "the effects must be applied to their chats"]
#[derive(Debug, Clone)]
pub struct DeskApplied<R> {
    pub reply: R,
    pub changes: Vec<Change>,
    pub effects: Vec<(ChatId, Effect)>,
}

impl<R> DeskApplied<R> {
    /// A command that changes nothing and answers `reply`.
    pub fn nothing(reply: R) -> Self {
        DeskApplied { reply, changes: Vec::new(), effects: Vec::new() }
    }

    /// The chats a store must load to apply the effects.
    pub fn chats(&self) -> Vec<ChatId> {
        let mut ids: Vec<ChatId> = self.effects.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// An internal note that goes with a transfer or a requeue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteDraft {
    pub author: AgentRef,
    pub text: String,
}

/// What a desk command did to one chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// A waiting chat got an agent.
    Assigned {
        agent: AgentRef,
    },
    /// An active chat moved from one agent to another.
    Transferred {
        from: AgentRef,
        to: AgentRef,
        note: Option<NoteDraft>,
    },
    /// An active chat went back to the queue.
    Requeued {
        reason: RequeueReason,
        note: Option<NoteDraft>,
    },
    Ended {
        reason: EndReason,
    },
}

impl Effect {
    /// The chat's status and agent after the effect, if the effect fits the chat as it is.
    fn after(&self, status: ChatStatus, agent: Option<&str>) -> Result<(ChatStatus, Option<String>)> {
        let fits = match self {
            Effect::Assigned { .. } => status == ChatStatus::Waiting,
            Effect::Transferred { from, .. } => status == ChatStatus::Active && agent == Some(&from.sub),
            Effect::Requeued { .. } => status == ChatStatus::Active,
            Effect::Ended { .. } => status != ChatStatus::Ended,
        };
        if !fits {
            // In a consistent read of desk and chat this cannot happen; a store that read the chat after the
            // desk treats it like a failed version check and retries.
            return Err(Error::conflict("This chat changed meanwhile; try again."));
        }
        Ok(match self {
            Effect::Assigned { agent } => (ChatStatus::Active, Some(agent.sub.clone())),
            Effect::Transferred { to, .. } => (ChatStatus::Active, Some(to.sub.clone())),
            Effect::Requeued { .. } => (ChatStatus::Waiting, None),
            Effect::Ended { .. } => (ChatStatus::Ended, agent.map(str::to_string)),
        })
    }
}

/// Applies a desk command's effects to the chats in `chats` (which must hold every chat in
/// [`DeskApplied::chats`]). Checks all effects first, so on error no chat has changed.
pub fn settle<R>(
    applied: DeskApplied<R>,
    chats: &mut BTreeMap<ChatId, ChatState>,
    policy: &ChatPolicy,
    now: u64,
) -> Result<Applied<R>> {
    let mut after: HashMap<ChatId, (ChatStatus, Option<String>)> = HashMap::new();
    for (id, effect) in &applied.effects {
        let state = chats.get(id).ok_or_else(|| Error::internal(format_args!("chat {id} was not loaded")))?;
        let (status, agent) =
            after.remove(id).unwrap_or_else(|| (state.chat.status, state.chat.agent.as_ref().map(|a| a.sub.clone())));
        after.insert(*id, effect.after(status, agent.as_deref())?);
    }
    let mut changes = applied.changes;
    for (id, effect) in applied.effects {
        let state = chats.get_mut(&id).expect("BUG: checked above");
        changes.extend(state.apply_effect(effect, policy, now)?);
    }
    Ok(Applied { reply: applied.reply, changes: unique(changes) })
}

/// The changes without repeats, in the order they first came: routing reads the state after the command, so a
/// repeat would only send the same event twice.
pub fn unique(changes: Vec<Change>) -> Vec<Change> {
    let mut out: Vec<Change> = Vec::with_capacity(changes.len());
    for change in changes {
        if !out.contains(&change) {
            out.push(change);
        }
    }
    out
}
