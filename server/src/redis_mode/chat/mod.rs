//! The live chat in Redis mode: the desk, the chats, the queues and agents, canned responses, offline messages
//! and business hours, shared by every node.
//!
//! - **The desk is one versioned document, kept in parts** (`keys`): every agent, both queues and the waits are
//!   loaded by each desk command; of the open chats only those it can touch (the queued ones, the command's
//!   chat, the citizen's, the chats of the agents it names, and for the sweep those of away citizens and of
//!   agents whose connection is down). The commit writes the parts that changed and checks the desk's version,
//!   so routing is atomic across nodes: of two nodes deciding at once one commits and the other retries on the
//!   new desk — never one chat for two agents, never an agent over their cap (`desk`).
//! - **A chat is a versioned header, an append-only list of messages and one of notes, and its
//!   `client_msg_id` index.** A command on one chat loads the header and the one index entry it may repeat,
//!   and commits the header and what it added with the header's version: it never touches the desk nor reads
//!   the other messages (`commands`); a message in its plain case is one script (`send`). A desk command also
//!   checks and writes each chat its effects name.
//! - **Every commit is one fenced script** (`scripts`): it checks the generation and the versions, writes,
//!   gives each event its room seq, appends it to the room's history stream and publishes it (`chat:<id>`,
//!   `chat:<id>:staff`, `desk`, and `user:<sub>` in the person's own stream `mj:{u:<sub>}`). The chat rooms'
//!   epoch is the generation, like every room's: a Redis that lost data makes their clients resync. Typing is
//!   published unsequenced and never stored, by one script that also checks the typist (`typing`); a
//!   receipt is one script too (`receipts`).
//! - **Presence across nodes** (`presence`): each node records its count of each agent's connections and of
//!   each citizen's connections to a chat, under a lease it renews. "The last connection closed" is a desk
//!   commit that checks no live connection is counted on any node; a node that dies stops renewing its lease,
//!   and whichever node sweeps next takes its counts out and lets the grace period start.
//! - `plan` turns what a command changed into the commit's writes and events, `state` reads the replies,
//!   `wire` the frames as templates the script completes with the seq, `records` the small versioned sets
//!   (canned responses, offline messages, hours), `reads` the snapshots, transcripts and reports.
//! - **The retention** (`retention`): an ended chat's keys expire by themselves at its end plus the retention;
//!   a pass takes its id out of the desk's indexes, and forgets settled offline messages (fields of one hash).

mod commands;
mod desk;
pub mod keys;
mod lifecycle;
mod plan;
mod presence;
mod reads;
mod receipts;
mod records;
mod retention;
mod scripts;
mod send;
mod state;
#[cfg(test)]
mod tests;
mod typing;
mod wire;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;

pub use plan::Bounds;
pub use reads::ChatRoomData;

use super::conn::Redis;
use crate::chat::hours::Schedule;
use crate::chat::policy::{ChatPolicy, ConsentLine};
use crate::config::PresenceLeases;
use crate::error::{Error, Result};
use crate::metrics::Metrics;

/// How often a change is recomputed when other nodes keep changing the same state under it.
const MAX_ATTEMPTS: u32 = 50;

/// Positions of the chat's id counters in `redis_mode::keys::COUNTERS`.
const CHAT_IDS: usize = 2;
const OFFLINE_IDS: usize = 3;
const CANNED_IDS: usize = 4;

/// The live chat's share of a Redis-mode node.
pub struct RedisChat {
    redis: Redis,
    policy: Arc<ChatPolicy>,
    consent: ConsentLine,
    /// The business hours until an admin sets them.
    default_schedule: Schedule,
    bounds: Bounds,
    leases: PresenceLeases,
    metrics: Arc<Metrics>,
    /// This node's name in the connection counts and node leases.
    node: String,
    /// This node's own connection counts, by connection hash: what it reports, and reports again if its lease
    /// ran out.
    conns: Mutex<HashMap<String, u32>>,
    /// One desk attempt at a time on this node. Desk commands all conflict on the desk's version, so attempts
    /// in flight together mostly waste one another's work: one per node keeps the conflicts to as many as there
    /// are nodes, and the node's others wait their turn (in order) instead of retrying.
    desk_turn: tokio::sync::Mutex<()>,
    /// Starts waiting for the desk turn, taken together by whoever gets it (`lifecycle`).
    starts: Mutex<VecDeque<lifecycle::PendingStart>>,
    agents: state::AgentCache,
}

impl RedisChat {
    pub fn new(
        redis: Redis,
        policy: Arc<ChatPolicy>,
        consent: ConsentLine,
        default_schedule: Schedule,
        bounds: Bounds,
        leases: PresenceLeases,
        metrics: Arc<Metrics>,
    ) -> Self {
        RedisChat {
            redis,
            policy,
            consent,
            default_schedule,
            bounds,
            leases,
            metrics,
            node: format!("{:016x}", rand::random::<u64>()),
            conns: Mutex::new(HashMap::new()),
            desk_turn: tokio::sync::Mutex::new(()),
            starts: Mutex::new(VecDeque::new()),
            agents: state::AgentCache::default(),
        }
    }

    /// Counts room events this node's scripts published (`majlis_events_published_total`).
    fn published(&self, events: usize) {
        if events > 0 {
            self.metrics.events_published.fetch_add(events as u64, Relaxed);
        }
    }

    /// The next id of counter `counter` under `generation`; `None` if fenced.
    async fn next_id(&self, generation: &str, counter: usize) -> Result<Option<u64>> {
        let mut call = super::scripts::ALLOC_SCRIPT.prepare_invoke();
        call.arg(generation).arg(super::keys::COUNTERS[counter]);
        let mut conn = self.redis.conn();
        let id: Option<u64> = self.redis.attempt("chat id", call.invoke_async(&mut conn)).await?;
        if let Some(id) = id {
            self.redis.fence.saw(counter, id);
        }
        Ok(id)
    }

    /// Runs a commit plan under `generation`.
    async fn commit(&self, generation: &str, plan: &plan::Plan) -> Result<Committed> {
        if !plan.is_empty() {
            let mut call = scripts::COMMIT_SCRIPT.prepare_invoke();
            call.arg(generation).arg(plan.payload(self.redis.publish));
            let mut conn = self.redis.conn();
            match self.redis.attempt::<i64>("chat commit", call.invoke_async(&mut conn)).await? {
                None => return Ok(Committed::Fenced),
                Some(1) => self.published(plan.event_count()),
                Some(2) => return Ok(Committed::Present),
                Some(_) => return Ok(Committed::Moved),
            }
        }
        if !plan.ephemeral.is_empty() {
            self.publish_ephemeral(&plan.ephemeral).await?;
        }
        Ok(Committed::Done)
    }

    /// Publishes unsequenced frames (typing); safe to send again under a newer generation.
    async fn publish_ephemeral(&self, frames: &[(String, String)]) -> Result<()> {
        let publish = self.redis.publish;
        let _: i64 = self
            .redis
            .fenced("typing", |generation| {
                let mut call = scripts::EPHEMERAL_SCRIPT.prepare_invoke();
                call.arg(generation).arg(publish);
                for (channel, frame) in frames {
                    call.arg(channel).arg(frame);
                }
                call
            })
            .await?;
        Ok(())
    }
}

/// How a commit went.
enum Committed {
    Done,
    /// What the change was computed from moved on: load again.
    Moved,
    /// Someone who had to be without a connection has one again: the change no longer applies.
    Present,
    /// The generation moved on: adopt it, and load again.
    Fenced,
}

/// A desk command conditioned on someone having no connection found them connected again.
const PRESENT: &str = "They are connected again.";

fn present() -> Error {
    Error::conflict(PRESENT)
}

fn is_present(e: &Error) -> bool {
    e.code == crate::error::ErrorCode::Conflict && e.message == PRESENT
}

fn no_chat() -> Error {
    Error::not_found("No such chat.")
}

/// A short random pause between optimistic attempts, so competing nodes don't retry in lockstep.
async fn backoff(attempt: u32) {
    let top = 500 + 200 * u64::from(attempt.min(20));
    let micros = rand::rng().random_range(100..top);
    tokio::time::sleep(Duration::from_micros(micros)).await;
}

fn gave_up(what: &str) -> Error {
    tracing::warn!(what, "chat change kept conflicting with concurrent changes");
    Error::conflict("This chat changed meanwhile; try again.")
}
