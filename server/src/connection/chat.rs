//! The live chat's commands on a connection: handed to the chat store with the sender's chat limits (citizens
//! only: staff are bound by the command limit alone), typing indicators thinned to one a second.

use serde_json::{json, Value};

use super::reader::Connection;
use crate::auth::{Role, User};
use crate::chat::rules::{typing_side, ChatCommand, DeskCommand};
use crate::chat::{is_desk_staff, ChatId, StartForm};
use crate::error::{Error, Result};
use crate::limits::{Admission, Unlimited};
use crate::protocol;

impl Connection {
    /// The limits a chat command of `user` is charged to, by the store, once it really starts or sends
    /// something (a retry or a refusal costs nothing).
    fn chat_gate<'a>(&'a self, user: &'a User) -> Box<dyn Admission + 'a> {
        if user.role == Role::Citizen {
            Box::new(self.app.limits.gate(&user.sub))
        } else {
            Box::new(Unlimited)
        }
    }

    pub(super) async fn chat_start(&self, user: &User, form: StartForm) -> Result<Value> {
        let gate = self.chat_gate(user);
        let started = self.app.chat.start(user, form, gate.as_ref()).await?;
        Ok(protocol::chat::started(&started))
    }

    pub(super) async fn chat(&self, user: &User, chat: ChatId, command: ChatCommand) -> Result<Value> {
        let typing = match &command {
            ChatCommand::Typing { typing } => Some(*typing),
            _ => None,
        };
        if let Some(typing) = typing {
            // Acknowledged, not forwarded: the other side already shows this person typing. Still checked, so
            // that it is refused as a forwarded one would be.
            if !self.app.limits.may_type(&user.sub, chat, typing) {
                let header = self.app.chat.chat(chat).await?;
                let party = header.party(user).ok_or_else(|| Error::forbidden("This is not your chat."))?;
                typing_side(&header, party)?;
                return Ok(json!({}));
            }
        }
        let gate = self.chat_gate(user);
        let reply = self.app.chat.execute(chat, user, command, gate.as_ref()).await?;
        if let Some(typing) = typing {
            self.app.limits.typed(&user.sub, chat, typing);
        }
        Ok(protocol::chat::reply(&reply, is_desk_staff(user.role)))
    }

    pub(super) async fn chat_desk(&self, user: &User, command: DeskCommand) -> Result<Value> {
        let reply = self.app.chat.desk(user, command).await?;
        Ok(protocol::chat::desk_reply(&reply))
    }
}
