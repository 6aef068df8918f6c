//! The live chat in Redis mode: not there yet. Every operation answers `unavailable`, so that a node in Redis
//! mode serves the Q&A and tells chat clients plainly that the chat can't be served (the Redis chat store
//! replaces this with version-checked commits of the desk and the chats a command touches).

use async_trait::async_trait;

use super::RedisStore;
use crate::auth::User;
use crate::chat::canned::{Canned, NewCanned};
use crate::chat::hours::Schedule;
use crate::chat::offline::{OfflineForm, OfflineMessage, OfflineStatus};
use crate::chat::report::ChatReport;
use crate::chat::rooms::{ChatRoom, StartInfo, UserSnapshot};
use crate::chat::rules::{ChatCommand, ChatReply, DeskCommand, DeskReply, Started};
use crate::chat::transcript::Transcript;
use crate::chat::{CannedId, Chat, ChatId, OfflineId, StartForm};
use crate::error::{Error, ErrorCode, Result};
use crate::limits::Admission;
use crate::protocol::Position;
use crate::store::{ChatStore, Replay, Snapshot};

fn not_yet<T>() -> Result<T> {
    Err(Error::new(ErrorCode::Unavailable, "The live chat is not available in Redis mode yet."))
}

#[async_trait]
impl ChatStore for RedisStore {
    async fn start(&self, _: &User, _: StartForm, _: &dyn Admission) -> Result<Started> {
        not_yet()
    }
    async fn execute(&self, _: ChatId, _: &User, _: ChatCommand, _: &dyn Admission) -> Result<ChatReply> {
        not_yet()
    }
    async fn desk(&self, _: &User, _: DeskCommand) -> Result<DeskReply> {
        not_yet()
    }
    async fn agent_connected(&self, _: &User) -> Result<()> {
        Ok(())
    }
    async fn agent_disconnected(&self, _: &str) -> Result<()> {
        Ok(())
    }
    async fn citizen_presence(&self, _: &str, _: bool) -> Result<()> {
        Ok(())
    }
    async fn sweep(&self) -> Result<()> {
        Ok(())
    }
    async fn chat(&self, _: ChatId) -> Result<Chat> {
        not_yet()
    }
    async fn snapshot(&self, _: &ChatRoom, _: &User) -> Result<Snapshot> {
        not_yet()
    }
    async fn replay(&self, _: &ChatRoom, _: &Position) -> Result<Option<Replay>> {
        not_yet()
    }
    async fn user_part(&self, _: &User) -> Result<UserSnapshot> {
        // The personal stream serves the Q&A part meanwhile.
        Ok(UserSnapshot { chats: vec![], agent: None })
    }
    async fn start_info(&self, _: Option<&User>) -> Result<StartInfo> {
        not_yet()
    }
    async fn transcript(&self, _: ChatId, _: &User) -> Result<Transcript> {
        not_yet()
    }
    async fn submit_offline(&self, _: &User, _: OfflineForm, _: &dyn Admission) -> Result<OfflineMessage> {
        not_yet()
    }
    async fn offline(
        &self,
        _: &User,
        _: Option<OfflineStatus>,
        _: Option<OfflineId>,
        _: usize,
    ) -> Result<Vec<OfflineMessage>> {
        not_yet()
    }
    async fn answer_offline(&self, _: &User, _: OfflineId, _: String) -> Result<OfflineMessage> {
        not_yet()
    }
    async fn close_offline(&self, _: &User, _: OfflineId) -> Result<OfflineMessage> {
        not_yet()
    }
    async fn canned(&self) -> Result<Vec<Canned>> {
        not_yet()
    }
    async fn upsert_canned(&self, _: &User, _: Option<CannedId>, _: NewCanned) -> Result<Canned> {
        not_yet()
    }
    async fn delete_canned(&self, _: &User, _: CannedId) -> Result<()> {
        not_yet()
    }
    async fn hours(&self) -> Result<Schedule> {
        not_yet()
    }
    async fn set_hours(&self, _: &User, _: Schedule) -> Result<Schedule> {
        not_yet()
    }
    async fn report(&self, _: &User, _: u64, _: u64) -> Result<ChatReport> {
        not_yet()
    }
}
