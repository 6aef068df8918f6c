//! Receipts in one round trip: the script checks that the sender is the chat's citizen or agent, raises their
//! receipt in the header and emits both rooms' events in the same step. Every message is answered by a
//! receipt, so the load-then-commit of the other commands (two scripts and two round trips) was two of a
//! chat's five scripts per message.
//!
//! The script only takes the plain case, as [`ChatState::apply`](crate::chat::rules::ChatState::apply) would
//! decide it; anything else (someone else's receipt, a seq beyond the last, nothing given) it leaves to the
//! common way (`commands`), where the rules give the answer, so the Lua never refuses on its own. The events
//! are built here, by the same routing and wire code as every other event, with placeholders the script
//! replaces by the receipts as they are after the change.

use redis::Value;

use super::keys;
use super::plan::{Plan, EVENT_ARGS};
use super::scripts::RECEIPT_SCRIPT;
use super::{no_chat, RedisChat};
use crate::auth::{Role, User};
use crate::chat::rooms;
use crate::chat::rules::ChatReply;
use crate::chat::{is_desk_staff, ChatId, Receipt, Receipts, Seq};
use crate::error::{Error, Result};
use crate::redis_mode::state::Items;

/// Stand-ins for the four values in the events' templates, in the script's order (citizen delivered and read,
/// agent delivered and read). Twenty digits each: no id or seq in a receipts frame is that long, so each can
/// only be itself.
const PLACEHOLDERS: Receipts = Receipts {
    citizen: Receipt { delivered: u64::MAX - 3, read: u64::MAX - 2 },
    agent: Receipt { delivered: u64::MAX - 1, read: u64::MAX },
};

impl RedisChat {
    /// `actor`'s receipt in chat `id` in one script, or `None` if it is not the script's to decide (the caller
    /// then runs it the common way).
    pub(super) async fn receipt(
        &self,
        id: ChatId,
        actor: &User,
        delivered: Option<Seq>,
        read: Option<Seq>,
    ) -> Result<Option<ChatReply>> {
        let side = match actor.role {
            Role::Citizen => "c",
            role if is_desk_staff(role) => "a",
            _ => return Ok(None),
        };
        let events = self.receipt_events(id)?;
        let seq = |s: Option<Seq>| s.map(|s| s.to_string()).unwrap_or_default();
        let (delivered, read) = (seq(delivered), seq(read));
        let publish = self.redis.publish;
        let reply: Value = self
            .redis
            .fenced("receipt", |generation| {
                let mut call = RECEIPT_SCRIPT.prepare_invoke();
                call.arg(generation)
                    .arg(keys::chat(id))
                    .arg(&actor.sub)
                    .arg(side)
                    .arg(&delivered)
                    .arg(&read)
                    .arg(publish);
                for arg in placeholders().iter().chain(&events) {
                    call.arg(arg);
                }
                call
            })
            .await?;
        match reply {
            Value::Nil | Value::Boolean(false) => Err(no_chat()),
            Value::Int(_) => Ok(None),
            reply => {
                let mut items = Items::new(reply)?;
                let changed: u8 = items.number()?;
                let mut one =
                    || -> Result<Receipt> { Ok(Receipt { delivered: items.number()?, read: items.number()? }) };
                let receipts = Receipts { citizen: one()?, agent: one()? };
                if changed == 1 {
                    self.published(events.len() / EVENT_ARGS);
                }
                Ok(Some(ChatReply::Receipts(receipts)))
            }
        }
    }

    /// The receipts events of chat `id` with the placeholders, as the script takes them.
    fn receipt_events(&self, id: ChatId) -> Result<Vec<String>> {
        let mut plan = Plan::default();
        plan.route(rooms::receipts(id, PLACEHOLDERS).into(), self.bounds)?;
        plan.flat_events().ok_or_else(|| Error::internal("a receipts event with more than a room's bounds"))
    }
}

fn placeholders() -> [String; 4] {
    let Receipts { citizen, agent } = PLACEHOLDERS;
    [citizen.delivered, citizen.read, agent.delivered, agent.read].map(|n| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The script fills each placeholder once per frame: each must be there, once, in every event.
    #[test]
    fn every_receipts_frame_carries_each_placeholder_once() {
        let bounds = super::super::Bounds { history_len: 10, personal_history_len: 10, personal_retention_ms: 10 };
        let mut plan = Plan::default();
        plan.route(rooms::receipts(7, PLACEHOLDERS).into(), bounds).expect("route");
        let events = plan.flat_events().expect("flat");
        assert_eq!(events.len(), 2 * EVENT_ARGS, "both rooms: {events:?}");
        for event in events.chunks(EVENT_ARGS) {
            let frame = format!("{}{}", event[2], event[3]);
            for placeholder in placeholders() {
                assert_eq!(frame.matches(&placeholder).count(), 1, "{placeholder} in {frame}");
            }
        }
    }
}
