//! The live chat's seam in Redis mode: [`ChatStore`] for [`RedisStore`], delegating to `redis_mode::chat`
//! (the desk and chats as versioned documents, fenced commits; see its module documentation). Here: the
//! limits charged once a change is committed, the frames of snapshots, and who may read what.

use async_trait::async_trait;

use super::RedisStore;
use crate::auth::{unix_millis, User};
use crate::chat::canned::{Canned, NewCanned};
use crate::chat::hours::Schedule;
use crate::chat::offline::{OfflineForm, OfflineMessage, OfflineStatus, Submitted};
use crate::chat::report::ChatReport;
use crate::chat::rooms::{ChatRoom, StartInfo, UserSnapshot};
use crate::chat::rules::{ChatCommand, ChatReply, DeskCommand, DeskReply, Started};
use crate::chat::transcript::{self, Transcript};
use crate::chat::{is_desk_staff, is_supervisor, CannedId, Chat, ChatId, OfflineId, StartForm};
use crate::error::{Error, Result};
use crate::limits::{Admission, Charge};
use crate::protocol::{self, Position};
use crate::redis_mode::chat::{keys as chat_keys, ChatRoomData};
use crate::store::{ChatStore, Forgotten, Replay, Snapshot, MAX_OFFLINE_PAGE};

fn no_chat() -> Error {
    Error::not_found("No such chat.")
}

fn admins_only(actor: &User, what: &str) -> Result<()> {
    if !is_supervisor(actor.role) {
        return Err(Error::forbidden(format!("Only admins {what}.")));
    }
    Ok(())
}

#[async_trait]
impl ChatStore for RedisStore {
    async fn start(&self, actor: &User, form: StartForm, gate: &dyn Admission) -> Result<Started> {
        // Looks without taking: only a chat that really starts is charged (a start sent again is not).
        let started = self.chat.start(actor, form, &|| gate.check(Charge::ChatStart)).await?;
        if !started.duplicate {
            gate.charge(Charge::ChatStart);
        }
        Ok(started)
    }

    async fn execute(
        &self,
        chat: ChatId,
        actor: &User,
        command: ChatCommand,
        gate: &dyn Admission,
    ) -> Result<ChatReply> {
        let reply = self.chat.chat_command(chat, actor, command, &|| gate.check(Charge::ChatMessage)).await?;
        if matches!(reply, ChatReply::Sent { duplicate: false, .. }) {
            gate.charge(Charge::ChatMessage);
        }
        Ok(reply)
    }

    async fn desk(&self, actor: &User, command: DeskCommand) -> Result<DeskReply> {
        self.chat.desk_command(actor, command).await
    }

    async fn agent_connected(&self, user: &User) -> Result<()> {
        self.chat.staff_connected(user).await
    }

    async fn agent_disconnected(&self, sub: &str) -> Result<()> {
        self.chat.staff_disconnected(sub).await
    }

    async fn citizen_presence(&self, sub: &str, present: bool) -> Result<()> {
        self.chat.citizen_present(sub, present).await
    }

    async fn sweep(&self) -> Result<()> {
        self.chat.sweep().await
    }

    async fn forget_expired(&self) -> Result<Forgotten> {
        self.chat.forget_expired(unix_millis()).await
    }

    async fn chat(&self, chat: ChatId) -> Result<Chat> {
        self.chat.header(chat).await?.ok_or_else(no_chat)
    }

    async fn snapshot(&self, room: &ChatRoom, _viewer: &User) -> Result<Snapshot> {
        let key = room.key();
        match room {
            ChatRoom::Citizen(_) | ChatRoom::Staff(_) => {
                let read = self.chat.chat_snapshot(room).await?;
                let frame = match &read.data {
                    ChatRoomData::Citizen(data) => protocol::chat::citizen_snapshot(&key, &read.epoch, read.seq, data),
                    ChatRoomData::Staff(data) => protocol::chat::staff_snapshot(&key, &read.epoch, read.seq, data),
                };
                Ok(Snapshot { epoch: read.epoch, seq: read.seq, frame })
            }
            ChatRoom::Desk => {
                self.desk_snapshot
                    .get(|| async {
                        let read = self.chat.desk_snapshot().await?;
                        let frame = protocol::chat::desk_snapshot(&key, &read.epoch, read.seq, &read.data);
                        Ok(Snapshot { epoch: read.epoch, seq: read.seq, frame })
                    })
                    .await
            }
            ChatRoom::User(_) => Err(Error::internal("the personal stream's snapshot is not the chat's")),
        }
    }

    async fn replay(&self, room: &ChatRoom, since: &Position) -> Result<Option<Replay>> {
        let base = chat_keys::room_base_of(&room.key()).ok_or_else(|| Error::internal("not a chat room"))?;
        self.replay_room(&base, since).await
    }

    async fn user_part(&self, viewer: &User) -> Result<UserSnapshot> {
        self.chat.user_snapshot(viewer).await
    }

    async fn start_info(&self, viewer: Option<&User>) -> Result<StartInfo> {
        self.chat.start_info(viewer).await
    }

    async fn transcript(&self, chat: ChatId, viewer: &User) -> Result<Transcript> {
        let state = self.chat.chat_state(chat).await?;
        let audience =
            transcript::audience_for(viewer, &state.chat).ok_or_else(|| Error::forbidden("This is not your chat."))?;
        Ok(transcript::build(&state, audience))
    }

    async fn submit_offline(&self, actor: &User, form: OfflineForm, gate: &dyn Admission) -> Result<Submitted> {
        // Looks without taking, after the retry is answered: only a message really left is charged.
        let submitted = self.chat.submit_offline(actor, form, &|| gate.check(Charge::OfflineMessage)).await?;
        if !submitted.duplicate {
            gate.charge(Charge::OfflineMessage);
        }
        Ok(submitted)
    }

    async fn offline(
        &self,
        viewer: &User,
        status: Option<OfflineStatus>,
        before: Option<OfflineId>,
        limit: usize,
    ) -> Result<Vec<OfflineMessage>> {
        if !is_desk_staff(viewer.role) {
            return Err(Error::forbidden("Only agents and admins work the offline inbox."));
        }
        self.chat.offline_page(status, before, limit.min(MAX_OFFLINE_PAGE)).await
    }

    async fn answer_offline(&self, actor: &User, id: OfflineId, text: String) -> Result<OfflineMessage> {
        self.chat.settle_offline(actor, id, Some(text)).await
    }

    async fn close_offline(&self, actor: &User, id: OfflineId) -> Result<OfflineMessage> {
        self.chat.settle_offline(actor, id, None).await
    }

    async fn canned(&self) -> Result<Vec<Canned>> {
        self.chat.canned().await
    }

    async fn upsert_canned(&self, actor: &User, id: Option<CannedId>, new: NewCanned) -> Result<Canned> {
        self.chat.put_canned(actor, id, new).await
    }

    async fn delete_canned(&self, actor: &User, id: CannedId) -> Result<()> {
        self.chat.remove_canned(actor, id).await
    }

    async fn hours(&self) -> Result<Schedule> {
        self.chat.schedule().await
    }

    async fn set_hours(&self, actor: &User, schedule: Schedule) -> Result<Schedule> {
        admins_only(actor, "set the business hours")?;
        self.chat.set_schedule(actor, schedule).await
    }

    async fn report(&self, actor: &User, from: u64, to: u64) -> Result<ChatReport> {
        admins_only(actor, "read the reports")?;
        self.chat.report(from, to).await
    }
}
