//! The retention in Redis mode (`docs/protocol.md` §10.8, §10.9): Redis expires what it keeps rather than a
//! pass scanning for it. The commit that ends a chat, and every later one that writes it, gives each of its keys
//! an expiry of its end plus `--chat-retention-secs` (`plan::Plan::chat`); what is left to a pass is what can't
//! expire by itself: the ended chat's id in the desk's indexes (`:chats`, which the reports read, taken from
//! `:ended`), and settled offline messages, fields of one hash (taken from `:offline:settled`). Each pass does
//! at most [`FORGET_PER_PASS`] of each, so one slow pass never holds Redis up: a backlog (after an outage, or
//! on upgrading a store that kept everything) goes in the next passes.
//!
//! There is no count cap here (`--chat-max-ended-chats` is the in-memory store's): Redis' memory is sized for
//! the retention instead, so no chat goes before it and `--chat-min-retention-secs` never comes into play.

use redis::Value;

use super::scripts::FORGET_SCRIPT;
use super::RedisChat;
use crate::error::Result;
use crate::redis_mode::state::Items;
use crate::store::Forgotten;

/// Most ended chats, and most offline messages, one pass forgets. With a pass a second this is far more than
/// chats end, so a backlog drains in minutes; and one pass is some thousand key deletions at the most.
const FORGET_PER_PASS: usize = 200;

impl RedisChat {
    /// Forgets what ended or was settled longer than the retention before `now` (ms), a bounded number of each.
    /// Refused by the fence, it forgets nothing this time and leaves adopting the generation to the health
    /// checks and commands, as the sweep does (`desk::Reach::passive`).
    pub async fn forget_expired(&self, now: u64) -> Result<Forgotten> {
        let generation = self.redis.generation().await?;
        let cutoff = now.saturating_sub(self.policy.retention_ms);
        let mut call = FORGET_SCRIPT.prepare_invoke();
        call.arg(&*generation).arg(cutoff).arg(FORGET_PER_PASS);
        let mut conn = self.redis.conn();
        let Some(reply) = self.redis.attempt::<Value>("chat retention", call.invoke_async(&mut conn)).await? else {
            return Ok(Forgotten::default());
        };
        let mut items = Items::new(reply)?;
        Ok(Forgotten { chats: items.number()?, offline: items.number()? })
    }
}
