//! Commands on one chat (send, note, receipts, tags, rating): load its header and the one index entry a retry
//! may name, run the rules, commit the header and what was added with the header's version. The hot path: it
//! never touches the desk nor reads the chat's other messages. Typing, receipts and the plain case of a message
//! have a script of their own (`typing`, `receipts`, `send`).

use std::collections::BTreeMap;

use redis::Value;

use super::keys;
use super::plan::Plan;
use super::scripts::LOAD_CHAT_SCRIPT;
use super::state::LoadedChat;
use super::{backoff, gave_up, no_chat, Committed, RedisChat, MAX_ATTEMPTS};
use crate::auth::{unix_millis, User};
use crate::chat::canned::shortcut_of;
use crate::chat::rooms::{self, Scope};
use crate::chat::rules::{ChatCommand, ChatReply, Posted};
use crate::chat::ChatId;
use crate::error::Result;

impl RedisChat {
    /// Applies one command on chat `id` by `actor`. `admit` is asked before a message that is not a retry of
    /// one already taken (the sender's message limit, which looks without taking).
    pub async fn chat_command(
        &self,
        id: ChatId,
        actor: &User,
        command: ChatCommand,
        admit: &(dyn Fn() -> Result<()> + Send + Sync),
    ) -> Result<ChatReply> {
        match command {
            ChatCommand::Typing { typing } => return self.typing(id, actor, typing).await,
            ChatCommand::Receipt { delivered, read } => {
                if let Some(reply) = self.receipt(id, actor, delivered, read).await? {
                    return Ok(reply);
                }
            }
            ChatCommand::Send { ref text, ref client_msg_id } => {
                if let Some(reply) = self.send(id, actor, text, client_msg_id.as_deref(), admit).await? {
                    return Ok(reply);
                }
            }
            _ => {}
        }
        let poster = match &command {
            ChatCommand::Send { client_msg_id: Some(cmid), .. }
            | ChatCommand::Note { client_msg_id: Some(cmid), .. } => Some((actor.sub.as_str(), cmid.as_str())),
            _ => None,
        };
        let shortcut = match &command {
            ChatCommand::Send { text, .. } => shortcut_of(text),
            _ => None,
        };
        for attempt in 0..MAX_ATTEMPTS {
            let generation = self.redis.generation().await?;
            let mut call = LOAD_CHAT_SCRIPT.prepare_invoke();
            call.arg(&*generation)
                .arg(keys::chat(id))
                .arg(poster.map(|(sub, cmid)| keys::posted(sub, cmid)).unwrap_or_default())
                .arg(if shortcut.is_some() { "1" } else { "0" });
            let mut conn = self.redis.conn();
            let Some(reply) = self.redis.attempt::<Value>("load chat", call.invoke_async(&mut conn)).await? else {
                self.redis.adopt_after(&generation).await?;
                continue;
            };
            let mut loaded = LoadedChat::parse(reply, poster)?.ok_or_else(no_chat)?;
            let before = loaded.state.chat.clone();
            if matches!(command, ChatCommand::Send { .. }) && !matches!(loaded.posted, Some(Posted::Message(_))) {
                admit()?;
            }
            let canned = shortcut.as_ref().and_then(|s| loaded.canned.iter().find(|c| c.shortcut == *s));
            let now = unix_millis();
            let applied = loaded.state.apply(actor, command.clone(), canned, &self.policy, now)?;
            let mut plan = Plan::default();
            plan.chat(Some(&before), &loaded.version, &loaded.state, self.policy.retention_ms)?;
            let chats = BTreeMap::from([(id, loaded.state)]);
            let scope = Scope { desk: None, chats: &chats, policy: &self.policy, now };
            plan.route(rooms::route(&applied.changes, &scope), self.bounds)?;
            match self.commit(&generation, &plan).await? {
                Committed::Done => return Ok(applied.reply),
                Committed::Moved | Committed::Present => backoff(attempt).await,
                Committed::Fenced => {
                    self.redis.adopt_after(&generation).await?;
                }
            }
        }
        Err(gave_up("chat"))
    }
}
