//! A message in one round trip: the script checks what the rules would check of the plain case, raises the
//! header's counts, appends the message and emits both rooms' events in the same step. A message is the
//! chat's most frequent command, and its load-then-commit (two scripts and two round trips, the commit's plan
//! carrying the whole header) cost Redis more than the receipt and the typing signal around it together.
//!
//! Like the receipt's, the script only takes the plain case; anything else (someone else's chat, an ended one,
//! the cap reached, a retry, a name JSON would escape) it leaves to the common way (`commands`), where the rules
//! answer. What only the rules can say (the text, the `client_msg_id`, an agent's `/shortcut`) is checked here
//! first, by the rules' own functions. The message and its frames are built here, by the same routing and wire
//! code as every other event, with placeholders for its seq and, for a citizen, their name, which the script
//! fills from the header.

use redis::Value;

use super::keys;
use super::plan::{Plan, EVENT_ARGS};
use super::scripts::SEND_SCRIPT;
use super::RedisChat;
use crate::auth::{Role, User};
use crate::chat::canned::shortcut_of;
use crate::chat::rooms;
use crate::chat::rules::ChatReply;
use crate::chat::{is_desk_staff, Body, ChatId, Message, Side};
use crate::error::{Error, Result};
use crate::limits::check_client_msg_id;
use crate::redis_mode::state::Items;

/// Stands in for the message's seq: twenty digits, longer than any seq or room seq. The seq comes before the
/// text in every frame and in the stored message, and the script fills the first occurrence only, so a text
/// that holds the same digits is left as it is.
const SEQ: u64 = u64::MAX;
/// Stands in for a citizen's name, quotes included as JSON writes them: the script puts the header's (`null`
/// or a string) in its place. A text that holds it is escaped (`\"`), so it can't match.
const NAME: &str = "@@mj:citizen-name@@";

impl RedisChat {
    /// `actor`'s text message in chat `id` in one script, or `None` if it is not the script's to decide (the
    /// caller then runs it the common way). `admit` is the sender's message limit, which looks without taking:
    /// if it says no, the common way decides whether this is a retry (never refused) or a refusal.
    pub(super) async fn send(
        &self,
        id: ChatId,
        actor: &User,
        text: &str,
        client_msg_id: Option<&str>,
        admit: &(dyn Fn() -> Result<()> + Send + Sync),
    ) -> Result<Option<ChatReply>> {
        let (from, side) = match actor.role {
            Role::Citizen => (Side::Citizen, "c"),
            role if is_desk_staff(role) => (Side::Agent, "a"),
            _ => return Ok(None),
        };
        let Ok(text) = crate::chat::text::required(text, "The message", self.policy.max_message_len) else {
            return Ok(None);
        };
        // The sub comes before the name in the staff's frame, and the script fills the first placeholder.
        let plain = check_client_msg_id(client_msg_id).is_ok()
            && !actor.sub.contains(NAME)
            && !(from == Side::Agent && shortcut_of(&text).is_some())
            && admit().is_ok();
        if !plain {
            return Ok(None);
        }
        let citizen = from == Side::Citizen;
        let body = Body::Text {
            from,
            sub: actor.sub.clone(),
            name: Some(if citizen { NAME.to_string() } else { actor.name.clone() }),
            text,
            client_msg_id: client_msg_id.map(str::to_string),
        };
        let mut message = Message { seq: SEQ, at: crate::auth::unix_millis(), body };
        let (stored, events) = self.send_parts(id, &message)?;
        let posted = client_msg_id.map(|cmid| keys::posted(&actor.sub, cmid)).unwrap_or_default();
        let (max, publish) = (self.policy.max_messages.to_string(), self.redis.publish);
        let name_placeholder = if citizen { format!("\"{NAME}\"") } else { String::new() };
        let reply: Value = self
            .redis
            .fenced("send", |generation| {
                let mut call = SEND_SCRIPT.prepare_invoke();
                call.arg(generation)
                    .arg(keys::chat(id))
                    .arg(&actor.sub)
                    .arg(side)
                    .arg(&posted)
                    .arg(&max)
                    .arg(publish)
                    .arg(SEQ.to_string())
                    .arg(&name_placeholder)
                    .arg(&stored);
                for arg in &events {
                    call.arg(arg);
                }
                call
            })
            .await?;
        if let Value::Int(_) = reply {
            return Ok(None);
        }
        let mut items = Items::new(reply)?;
        message.seq = items.number()?;
        let name: Option<String> = items.json()?;
        match &mut message.body {
            Body::Text { name: shown, .. } if citizen => *shown = name,
            _ => {}
        }
        self.published(events.len() / EVENT_ARGS);
        Ok(Some(ChatReply::Sent { message, duplicate: false }))
    }

    /// The message as the `:msgs` list stores it and its events, flat, with the placeholders.
    fn send_parts(&self, id: ChatId, message: &Message) -> Result<(String, Vec<String>)> {
        let mut plan = Plan::default();
        plan.route(rooms::message(id, message).into(), self.bounds)?;
        let events =
            plan.flat_events().ok_or_else(|| Error::internal("a message event with more than a room's bounds"))?;
        Ok((serde_json::to_string(message).map_err(Error::internal)?, events))
    }
}
