//! The live chat's storage seam: [`ChatStore`], beside [`super::QaStore`].
//!
//! As for the Q&A, every method that changes something is **one atomic operation** that runs the chat rules
//! (`crate::chat::rules`), stores the result, gives each resulting event the next `seq` of its room, appends it
//! to the room's history and publishes it through the bus, before any other operation that could see the same
//! state. A shared store (Redis) implements the same trait with a version-checked commit of the desk and the
//! chats a command touched (see `crate::chat`'s module documentation: a desk command never needs more than the
//! desk and the chats its effects name).
//!
//! What each room gets is decided by `crate::chat::rooms::route` (the rule that a note never reaches a citizen
//! lives there); the frames are encoded by `crate::protocol::chat`. Typing indicators are published as
//! unsequenced frames (`Bus::publish_frame`), never stored. When a command releases a chat from an agent
//! (`Change::Released`, see `crate::chat::rooms::revoked`), the store revokes that agent's membership of the
//! chat's staff room (`Bus::revoke`) after publishing the command's events.
//!
//! The REST-only records (offline messages, canned responses, business hours, reports, transcripts) are on
//! the same trait, so one object serves the whole chat; the in-memory store keeps them in a file of their own.

mod memory;
mod memory_records;
mod memory_retention;

use async_trait::async_trait;

pub use memory::MemoryChat;

use super::{Replay, Snapshot};
use crate::auth::User;
use crate::chat::canned::{Canned, NewCanned};
use crate::chat::hours::Schedule;
use crate::chat::offline::{OfflineForm, OfflineMessage, OfflineStatus, Submitted};
use crate::chat::report::ChatReport;
use crate::chat::rooms::{ChatRoom, StartInfo, UserSnapshot};
use crate::chat::rules::{ChatCommand, ChatReply, DeskCommand, DeskReply, Started};
use crate::chat::transcript::Transcript;
use crate::chat::{CannedId, Chat, ChatId, OfflineId, StartForm};
use crate::error::Result;
use crate::limits::Admission;
use crate::protocol::Position;

/// What one [`ChatStore::forget_expired`] forgot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Forgotten {
    pub chats: usize,
    pub offline: usize,
}

/// Most offline messages one listing returns.
pub const MAX_OFFLINE_PAGE: usize = 100;

/// The live chat: chats, the desk, and the histories of `chat:<id>`, `chat:<id>:staff`, `desk` and the chat's
/// part of `user:<sub>`; and the records the REST API serves.
#[async_trait]
pub trait ChatStore: Send + Sync {
    // --- Commands (each one atomic: rules, store, seq, history, publish) ---

    /// A citizen starts a chat with the pre-chat form (`Desk::start`, then routing: an agent may take it at
    /// once). `gate` is charged `Charge::ChatStart` only if the chat really starts.
    async fn start(&self, actor: &User, form: StartForm, gate: &dyn Admission) -> Result<Started>;

    /// A command on one chat (`ChatState::apply`): send, note, typing, receipt, tag, rate. An agent's
    /// `/shortcut` message is expanded with the canned response of that shortcut. `gate` is charged
    /// `Charge::ChatMessage` only for a new message (a retried `client_msg_id` passes even when the limit is
    /// used up, a refused message costs nothing).
    async fn execute(
        &self,
        chat: ChatId,
        actor: &User,
        command: ChatCommand,
        gate: &dyn Admission,
    ) -> Result<ChatReply>;

    /// A desk command (`Desk::apply`): end, take, transfer, requeue, an agent's status, an agent's cap. Its
    /// effects are settled on the chats they name (`rules::settle`) in the same atomic step.
    async fn desk(&self, actor: &User, command: DeskCommand) -> Result<DeskReply>;

    // --- What the server reports by itself (§10.8) ---

    /// The first connection of `user` (a member of staff) opened on this node: their grace period stops
    /// (`Desk::agent_connected`). A shared store counts connections per node; its methods are told of each
    /// node's first and last connection only.
    async fn agent_connected(&self, user: &User) -> Result<()>;
    /// The last connection of member of staff `sub` on this node closed: if they have none on any node, their
    /// grace period starts (`Desk::agent_disconnected`).
    async fn agent_disconnected(&self, sub: &str) -> Result<()>;
    /// A citizen's first connection on this node opened (`present: true`) or their last one closed: their open
    /// chats' resume windows stop, or start if they have no connection on any node
    /// (`Desk::citizen_presence`).
    async fn citizen_presence(&self, sub: &str, present: bool) -> Result<()>;
    /// Housekeeping, about once a second (`Desk::sweep`): abandoned chats end, staff past their grace period
    /// go offline and their chats go back to the front of the queue. Any node may run it at any time.
    async fn sweep(&self) -> Result<()>;
    /// Housekeeping, run right after [`ChatStore::sweep`]: forgets what is past its retention
    /// (`ChatPolicy::retention_ms`): ended chats (header, messages, notes, rating, both rooms' histories, the
    /// citizen's index entry) and answered or closed offline messages; never an open chat or an open offline
    /// message. A store with a count cap also forgets the oldest-ended chats past it, but none younger than
    /// `ChatPolicy::min_retention_ms`. A forgotten chat is `not_found` everywhere (its rooms, commands,
    /// transcript) and no longer counted in reports. Returns how many it forgot.
    ///
    /// A store may do part of it otherwise and this the rest (Redis: an ended chat's keys expire by
    /// themselves; this takes its id out of the desk's indexes, and forgets settled offline messages), and may
    /// forget a bounded number per call (the next call, a second later, goes on).
    async fn forget_expired(&self) -> Result<Forgotten>;

    // --- Rooms ---

    /// A chat's header (who may join its rooms: `chat::rooms::may_join`); `not_found` if there is none.
    async fn chat(&self, chat: ChatId) -> Result<Chat>;
    /// `chat:<id>`, `chat:<id>:staff` or `desk` as `viewer` may see it, consistent with the `seq` it carries.
    /// (`user:<sub>` is the personal store's: its chat part is [`ChatStore::user_part`].)
    async fn snapshot(&self, room: &ChatRoom, viewer: &User) -> Result<Snapshot>;
    /// The events of a chat room after `since`, if the history still holds them all under the same epoch.
    async fn replay(&self, room: &ChatRoom, since: &Position) -> Result<Option<Replay>>;
    /// The chat's part of `viewer`'s personal stream snapshot: their open chats (citizens), or the chats they
    /// hold and their desk state (staff).
    async fn user_part(&self, viewer: &User) -> Result<UserSnapshot>;

    // --- REST records ---

    /// What the widget shows before the pre-chat form (`GET /api/chat/start-info`).
    async fn start_info(&self, viewer: Option<&User>) -> Result<StartInfo>;
    /// The transcript `viewer` may read (the citizen's, or the staff one); `forbidden` for anyone else.
    async fn transcript(&self, chat: ChatId, viewer: &User) -> Result<Transcript>;

    /// A citizen leaves an offline message; `gate` is charged `Charge::OfflineMessage` only if it is kept.
    /// Published to `desk` as an `offline` event. The form sent again ([`crate::chat::offline::left_before`]) is answered
    /// with the message it left, before any limit is looked at, and publishes nothing.
    async fn submit_offline(&self, actor: &User, form: OfflineForm, gate: &dyn Admission) -> Result<Submitted>;
    /// The offline inbox for staff, newest first: with `status`, only those; with `before`, only older ids; at
    /// most `limit` (capped at [`MAX_OFFLINE_PAGE`]).
    async fn offline(
        &self,
        viewer: &User,
        status: Option<OfflineStatus>,
        before: Option<OfflineId>,
        limit: usize,
    ) -> Result<Vec<OfflineMessage>>;
    async fn answer_offline(&self, actor: &User, id: OfflineId, text: String) -> Result<OfflineMessage>;
    async fn close_offline(&self, actor: &User, id: OfflineId) -> Result<OfflineMessage>;

    /// Every canned response, by shortcut.
    async fn canned(&self) -> Result<Vec<Canned>>;
    /// An admin creates (`id: None`) or replaces a canned response; published to `desk`.
    async fn upsert_canned(&self, actor: &User, id: Option<CannedId>, new: NewCanned) -> Result<Canned>;
    async fn delete_canned(&self, actor: &User, id: CannedId) -> Result<()>;

    async fn hours(&self) -> Result<Schedule>;
    /// An admin sets the business hours (checked and sorted: `Schedule::checked`).
    async fn set_hours(&self, actor: &User, schedule: Schedule) -> Result<Schedule>;

    /// An admin's report over the chats and offline messages created in `[from, to)`.
    async fn report(&self, actor: &User, from: u64, to: u64) -> Result<ChatReport>;
}
