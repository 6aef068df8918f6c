//! The storage seams: where each domain's state and its rooms' histories live. One trait per domain
//! ([`QaStore`] for the live-broadcast Q&A, [`ChatStore`] for the live chat), so a domain's operations never grow another's trait, and
//! [`Backend`] for what the storage as a whole reports (its health). The in-memory store and the Redis store
//! each implement all of them; `App::new` picks one set at start.
//!
//! Every operation that must be atomic is one trait method (apply a command and publish its events; take a
//! consistent snapshot; replay history), never a read-modify-write in a caller, so a shared store (Redis) can
//! implement the same trait with scripts or transactions and callers don't change.

mod chat;
mod log;
mod memory;
mod personal;
mod shared_read;

use async_trait::async_trait;
use axum::extract::ws::Utf8Bytes;

pub use chat::{ChatStore, Forgotten, MemoryChat, MAX_OFFLINE_PAGE};
pub use memory::MemoryStore;
pub use personal::MemoryPersonal;
pub use shared_read::SharedRead;

use crate::auth::User;
use crate::error::Result;
use crate::limits::Admission;
use crate::protocol::Position;
use crate::qa::rooms::RoomRef;
use crate::qa::stats::{FaqGroup, Stats};
use crate::qa::{Broadcast, BroadcastId, BroadcastPatch, NewBroadcast, QaCommand, QaReply, Question};

/// A room's state encoded for one viewer, and the position it reflects.
#[derive(Clone)]
pub struct Snapshot {
    pub epoch: String,
    pub seq: u64,
    pub frame: Utf8Bytes,
}

/// The events after a client's position, when the store still has all of them.
pub struct Replay {
    /// The position the client is at after applying `frames`.
    pub seq: u64,
    pub frames: Vec<Utf8Bytes>,
}

/// The live-broadcast Q&A: broadcasts, questions, votes, and the histories of the broadcasts' rooms.
#[async_trait]
pub trait QaStore: Send + Sync {
    async fn create_broadcast(&self, new: NewBroadcast) -> Result<Broadcast>;
    /// Applies settings and lifecycle changes, and publishes the new broadcast to its rooms.
    async fn update_broadcast(&self, id: BroadcastId, patch: BroadcastPatch) -> Result<Broadcast>;
    async fn broadcast(&self, id: BroadcastId) -> Result<Broadcast>;
    /// Case-insensitive.
    async fn broadcast_by_code(&self, code: &str) -> Result<Broadcast>;
    async fn broadcasts(&self) -> Result<Vec<Broadcast>>;

    /// Applies one Q&A command atomically: the rules, then for each resulting event the next `seq` of its room,
    /// the append to the room's history and the publish, all before any other command of the broadcast.
    /// `gate` (the actor's question and vote limits) is charged once, and only if the command creates a
    /// question or changes a vote: a shared store also enforces its cluster-wide question limit there.
    async fn execute(
        &self,
        broadcast: BroadcastId,
        actor: &User,
        command: QaCommand,
        gate: &dyn Admission,
    ) -> Result<QaReply>;

    /// The room's state as `viewer` may see it, consistent with the `seq` it carries.
    async fn snapshot(&self, room: RoomRef, viewer: &User) -> Result<Snapshot>;
    /// The events after `since`, if the history still holds them all under the same epoch.
    async fn replay(&self, room: RoomRef, since: &Position) -> Result<Option<Replay>>;

    /// A user joined the broadcast's public room while `concurrent` people were in it.
    async fn record_participant(&self, broadcast: BroadcastId, user: &User, concurrent: u32) -> Result<()>;
    /// The number of people in the broadcast's public room on this node now. Returns the number across all
    /// nodes (what presence frames show).
    async fn record_concurrent(&self, broadcast: BroadcastId, concurrent: u32) -> Result<u32>;

    /// `sub`'s own questions in every broadcast (the most recent ones, newest first), each with whether it is
    /// pinned now: the Q&A part of the personal stream's snapshot.
    async fn own_questions(&self, sub: &str) -> Result<Vec<(Question, bool)>>;

    async fn stats(&self, broadcast: BroadcastId) -> Result<Stats>;
    /// FAQ groups of ended and archived broadcasts, newest first.
    async fn faq(&self) -> Result<Vec<FaqGroup>>;

    /// Periodic housekeeping, called every `--vote-flush-ms`: publishes the coalesced vote counts.
    async fn flush_votes(&self) -> Result<()> {
        Ok(())
    }
}

/// How many of one person's questions their personal stream's snapshot lists (the most recent).
pub const OWN_QUESTIONS: usize = 100;

/// The personal streams (`user:<sub>`): each person's own news from every domain, as a sequenced room. The
/// domains' stores append to it in the same atomic step as the change it reports; this trait is what a joining
/// client reads.
#[async_trait]
pub trait PersonalStore: Send + Sync {
    /// The stream's position now. A snapshot reads it before the domains' parts, so an event that lands in
    /// between is both in the parts and replayed after them (events carry whole objects: applying one twice
    /// is harmless), and none is missed.
    async fn position(&self, sub: &str) -> Result<Position>;
    /// The events after `since`, if the stream still holds them all under the same epoch.
    async fn replay(&self, sub: &str, since: &Position) -> Result<Option<Replay>>;
    /// Periodic housekeeping: forget the streams of people idle for long.
    fn evict_idle(&self) {}
}

/// The storage as a whole, whichever domains it serves.
pub trait Backend: Send + Sync {
    /// False while the storage can't serve (e.g. Redis is unreachable): `/readyz` reports not ready.
    fn is_healthy(&self) -> bool {
        true
    }
}
