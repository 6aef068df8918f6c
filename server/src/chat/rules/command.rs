//! The desk's commands as one vocabulary, so that a store (and the wire) hands any of them over the same way:
//! [`Desk::apply`] dispatches to the command's own function and returns what the store must settle.

use super::DeskApplied;
use crate::auth::User;
use crate::chat::desk::{Agent, Desk};
use crate::chat::policy::ChatPolicy;
use crate::chat::rooms::AgentView;
use crate::chat::{Availability, Chat, ChatId, ChatLang};
use crate::error::{Error, Result};

/// A command that changes the desk (and, through its effects, the chats it moves).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeskCommand {
    /// Either side ends a chat; a waiting citizen leaves the queue.
    End {
        chat: ChatId,
    },
    /// An agent takes a waiting chat by hand.
    Take {
        chat: ChatId,
    },
    Transfer {
        chat: ChatId,
        to: String,
        note: Option<String>,
    },
    Requeue {
        chat: ChatId,
        note: Option<String>,
    },
    /// An agent's own availability and, optionally, languages.
    Status {
        availability: Availability,
        languages: Option<Vec<ChatLang>>,
    },
    /// An admin sets an agent's own cap (`None`: the default).
    Cap {
        agent: String,
        max_chats: Option<u32>,
    },
}

impl DeskCommand {
    /// The chat whose header the command needs, if any (the store loads it with the desk).
    pub fn chat(&self) -> Option<ChatId> {
        match self {
            DeskCommand::End { chat }
            | DeskCommand::Take { chat }
            | DeskCommand::Transfer { chat, .. }
            | DeskCommand::Requeue { chat, .. } => Some(*chat),
            DeskCommand::Status { .. } | DeskCommand::Cap { .. } => None,
        }
    }
}

/// What a desk command answers its sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeskReply {
    Done,
    /// The agent as the desk shows them now (`agent_status`, a cap).
    Agent(Box<AgentView>),
}

impl Desk {
    /// Runs `command` by `actor`; `chat` is the header of [`DeskCommand::chat`] (`None` if it names no chat or
    /// the chat does not exist: then `not_found`).
    pub fn apply(
        &mut self,
        actor: &User,
        command: DeskCommand,
        chat: Option<&Chat>,
        policy: &ChatPolicy,
        now: u64,
    ) -> Result<DeskApplied<DeskReply>> {
        let header = || chat.ok_or_else(|| Error::not_found("No such chat."));
        let done = |applied: DeskApplied<()>| DeskApplied {
            reply: DeskReply::Done,
            changes: applied.changes,
            effects: applied.effects,
        };
        let agent = |applied: DeskApplied<Agent>| DeskApplied {
            reply: DeskReply::Agent(Box::new(AgentView::of(&applied.reply, policy))),
            changes: applied.changes,
            effects: applied.effects,
        };
        Ok(match command {
            DeskCommand::End { .. } => done(self.end(header()?, actor, policy, now)?),
            DeskCommand::Take { .. } => done(self.take(header()?, actor, policy, now)?),
            DeskCommand::Transfer { to, note, .. } => done(self.transfer(header()?, actor, &to, note, policy, now)?),
            DeskCommand::Requeue { note, .. } => done(self.requeue(header()?, actor, note, policy, now)?),
            DeskCommand::Status { availability, languages } => {
                agent(self.set_status(actor, availability, languages, policy, now)?)
            }
            DeskCommand::Cap { agent: sub, max_chats } => agent(self.set_cap(actor, &sub, max_chats, policy, now)?),
        })
    }
}
