//! Typing indicators in one round trip: the script checks that the typist may type in the chat and publishes
//! the frames in the same step. A typing indicator is a third of a chat's traffic and stores nothing, so the
//! load-then-commit of the other commands (two scripts) was half its cost and all of its second round trip.
//!
//! The script's check mirrors [`typing_side`] for the one side the typist's role can take. When it refuses,
//! it returns the header and the rules in Rust give the answer (the same error as every other path), so the
//! Lua never decides a refusal on its own.

use std::collections::BTreeMap;

use redis::Value;

use super::keys;
use super::plan::Plan;
use super::scripts::TYPING_SCRIPT;
use super::{no_chat, RedisChat};
use crate::auth::{unix_millis, Role, User};
use crate::chat::rooms::{self, Scope};
use crate::chat::rules::{typing_side, Change, ChatReply};
use crate::chat::{is_desk_staff, Chat, ChatId, Side};
use crate::error::{Error, Result};
use crate::redis_mode::conn::text;

impl RedisChat {
    /// `actor` starts (`true`) or stops typing in chat `id`.
    pub(super) async fn typing(&self, id: ChatId, actor: &User, typing: bool) -> Result<ChatReply> {
        // Staff type as the chat's agent, a citizen as its citizen; anyone else only gets the rules' refusal.
        let side = match actor.role {
            Role::Citizen => Some(Side::Citizen),
            role if is_desk_staff(role) => Some(Side::Agent),
            _ => None,
        };
        let frames = match side {
            Some(side) => self.typing_frames(id, side, typing)?,
            None => vec![],
        };
        let publish = self.redis.publish;
        let reply: Value = self
            .redis
            .fenced("typing", |generation| {
                let mut call = TYPING_SCRIPT.prepare_invoke();
                call.arg(generation)
                    .arg(keys::chat(id))
                    .arg(&actor.sub)
                    .arg(match side {
                        Some(Side::Agent) => "a",
                        Some(Side::Citizen) => "c",
                        None => "n",
                    })
                    .arg(publish);
                for (channel, frame) in &frames {
                    call.arg(channel).arg(frame);
                }
                call
            })
            .await?;
        match reply {
            Value::Int(1) => Ok(ChatReply::Done),
            Value::Nil | Value::Boolean(false) => Err(no_chat()),
            refused => Err(refusal(actor, refused)),
        }
    }

    /// The unsequenced frames `side` typing publishes, by channel.
    fn typing_frames(&self, id: ChatId, side: Side, typing: bool) -> Result<Vec<(String, String)>> {
        let chats = BTreeMap::new();
        let scope = Scope { desk: None, chats: &chats, policy: &self.policy, now: unix_millis() };
        let mut plan = Plan::default();
        plan.route(rooms::route(&[Change::Typing { chat: id, side, typing }], &scope), self.bounds)?;
        Ok(plan.ephemeral)
    }
}

/// Why the script refused, in the rules' words: it returned the chat's header.
fn refusal(actor: &User, header: Value) -> Error {
    let Some(stored) = text(header) else { return Error::internal("the typing script's reply is not a header") };
    let chat: Chat = match serde_json::from_str(&stored) {
        Ok(chat) => chat,
        Err(e) => return Error::internal(format_args!("stored chat JSON: {e}")),
    };
    let not_yours = || Error::forbidden("This is not your chat.");
    match chat.party(actor).map(|party| typing_side(&chat, party)) {
        Some(Err(refused)) => refused,
        // The rules would let them type as another side than the one the script checked (an admin who is the
        // chat's citizen, say): no such chat is theirs to type in here.
        Some(Ok(_)) | None => not_yours(),
    }
}
