//! Reads: a chat room's snapshot (its state and seq read together), the desk's, a person's chat part, the start
//! info, transcripts and reports, each one consistent script.

use redis::Value;

use super::desk::Reach;
use super::keys;
use super::scripts::READ_CHAT_SCRIPT;
use super::state::FullChat;
use super::{no_chat, RedisChat};
use crate::auth::{unix_millis, User};
use crate::chat::report::{self, ChatReport};
use crate::chat::rooms::{self, ChatRoom, DeskSnapshot, StartInfo, UserSnapshot};
use crate::chat::rules::ChatState;
use crate::chat::{is_desk_staff, Chat, ChatId};
use crate::error::{Error, Result};

/// A room's state and the position it reflects (its epoch is the generation).
pub struct Read<T> {
    pub epoch: String,
    pub seq: u64,
    pub data: T,
}

/// A chat room's content, for its snapshot.
pub enum ChatRoomData {
    Citizen(rooms::CitizenSnapshot),
    Staff(Box<rooms::StaffSnapshot>),
}

impl RedisChat {
    /// One chat in full (with notes if `notes`) and the seq of its room `tag`, under the current generation.
    async fn read_chat(&self, id: ChatId, tag: &str, notes: bool) -> Result<FullChat> {
        let reply: Value = self
            .redis
            .fenced("read chat", |generation| {
                let mut call = READ_CHAT_SCRIPT.prepare_invoke();
                call.arg(generation).arg(id).arg(tag).arg(if notes { "1" } else { "0" });
                call
            })
            .await?;
        FullChat::parse(reply)?.ok_or_else(no_chat)
    }

    /// A chat's header, for deciding who may join its rooms (`None`: no such chat).
    pub async fn header(&self, id: ChatId) -> Result<Option<Chat>> {
        let mut conn = self.redis.conn();
        let json: Option<String> = self
            .redis
            .run("chat header", redis::cmd("GET").arg(format!("{}:hdr", keys::chat(id))).query_async(&mut conn))
            .await?;
        json.map(|j| serde_json::from_str(&j).map_err(|e| Error::internal(format_args!("stored chat: {e}"))))
            .transpose()
    }

    /// The snapshot content of `chat:<id>` or `chat:<id>:staff`, with the room's position.
    pub async fn chat_snapshot(&self, room: &ChatRoom) -> Result<Read<ChatRoomData>> {
        let now = unix_millis();
        let (id, staff) = match room {
            ChatRoom::Citizen(id) => (*id, false),
            ChatRoom::Staff(id) => (*id, true),
            _ => return Err(Error::internal("not a chat room")),
        };
        let tag = if staff { keys::STAFF_ROOM } else { keys::CITIZEN_ROOM };
        let full = self.read_chat(id, tag, staff).await?;
        let data = if staff {
            ChatRoomData::Staff(Box::new(rooms::staff_snapshot(&full.state, &full.desk, &self.policy, now)))
        } else {
            ChatRoomData::Citizen(rooms::citizen_snapshot(&full.state, &full.desk, &self.policy, now))
        };
        Ok(Read { epoch: full.generation, seq: full.seq, data })
    }

    /// A chat in full, notes included: for transcripts (the caller decides who sees what).
    pub async fn chat_state(&self, id: ChatId) -> Result<ChatState> {
        Ok(self.read_chat(id, "", true).await?.state)
    }

    /// The `desk` room's snapshot content with its position.
    pub async fn desk_snapshot(&self) -> Result<Read<DeskSnapshot>> {
        let loaded = self.read_desk(&Reach { all: true, ..Reach::default() }).await?;
        let data = rooms::desk_snapshot(&loaded.desk, loaded.offline_open, &self.policy, unix_millis());
        Ok(Read { epoch: loaded.generation, seq: loaded.seq, data })
    }

    /// The chat part of `user`'s personal stream snapshot.
    pub async fn user_snapshot(&self, user: &User) -> Result<UserSnapshot> {
        let reach = if is_desk_staff(user.role) { Reach::agent(&user.sub) } else { Reach::citizen(&user.sub) };
        let loaded = self.read_desk(&reach).await?;
        Ok(rooms::user_snapshot(user, &loaded.desk, &self.policy))
    }

    pub async fn start_info(&self, viewer: Option<&User>) -> Result<StartInfo> {
        let schedule = self.read_schedule().await?;
        let reach = viewer.map(|v| Reach::citizen(&v.sub)).unwrap_or_default();
        let loaded = self.read_desk(&reach).await?;
        Ok(rooms::start_info(&loaded.desk, &schedule, &self.consent, viewer, &self.policy, unix_millis()))
    }

    /// The report over chats and offline messages created in `[from, to)`.
    pub async fn report(&self, from: u64, to: u64) -> Result<ChatReport> {
        let mut conn = self.redis.conn();
        let range = redis::cmd("ZRANGEBYSCORE").arg(keys::desk("chats")).arg(from).arg(format!("({to}")).clone();
        let ids: Vec<ChatId> = self.redis.run("report", range.query_async(&mut conn)).await?;
        let mut chats: Vec<Chat> = Vec::with_capacity(ids.len());
        for batch in ids.chunks(500) {
            let mut pipe = redis::pipe();
            for id in batch {
                pipe.cmd("GET").arg(format!("{}:hdr", keys::chat(*id)));
            }
            let found: Vec<Option<String>> = self.redis.run("report", pipe.query_async(&mut conn)).await?;
            for json in found.into_iter().flatten() {
                chats.push(serde_json::from_str(&json).map_err(|e| Error::internal(format_args!("stored chat: {e}")))?);
            }
        }
        let offline = self.offline_messages().await?;
        Ok(report::report(&chats, &offline, from, to))
    }
}
