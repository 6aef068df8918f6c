//! The generation fence: how every node knows, before it acts on anything Redis tells it, that Redis still holds
//! everything it acknowledged, and how one lost Redis state becomes exactly one new generation.
//!
//! `mj:instance` holds `<run_id> <generation>`. Redis' run_id changes on every restart and differs on a promoted
//! replica, so a restarted, rolled-back or failed-over Redis can't carry the key over, and a flushed one has lost
//! it. Every script that reads or writes domain state, or hands out ids or seqs, first checks that the key
//! names the current run_id and the generation the node believes in, and refuses otherwise (`MJFENCED`). The
//! node then adopts (the ADOPT script, atomic): if the stored run_id is the current one, the stored generation;
//! if not, a new generation, named by whichever node got there first, with every id counter moved past
//! anything it may have handed out before. The generation is every room's epoch, so no position from before a
//! loss can be resumed, on any node.
//!
//! Every restart counts as a possible loss (see ARCHITECTURE.md, "The generation fence"): proving that a
//! restart lost nothing would need every acknowledgement any node ever gave, dead nodes' too, and a node that saw
//! less would write before one that saw more could object.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use redis::Value;
use tokio::sync::watch;
use tracing::{info, warn};

use super::conn::Redis;
use super::keys::COUNTERS;
use super::scripts::ADOPT_SCRIPT;
use super::state::Items;
use crate::error::{Error, Result};

/// What this node knows of the generation.
pub struct Fence {
    /// The generation this node believes in; `None` until it first asked.
    current: watch::Sender<Option<Arc<str>>>,
    /// One adoption at a time: many calls refused at once need only one look.
    adopting: tokio::sync::Mutex<()>,
    /// Per id counter (`keys::COUNTERS`), the highest id this node knows was handed out: its own allocations
    /// and the counters as every health check reads them. A new generation jumps past it, so an id Redis lost
    /// but a client may hold is never handed out again.
    seen: [AtomicU64; COUNTERS.len()],
}

impl Default for Fence {
    fn default() -> Self {
        Fence {
            current: watch::Sender::new(None),
            adopting: tokio::sync::Mutex::new(()),
            seen: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// What an adoption found.
pub struct Adopted {
    pub generation: Arc<str>,
    /// Redis' clock when it answered, in microseconds since the Unix epoch.
    pub redis_time_us: u64,
}

impl Fence {
    pub fn current(&self) -> Option<Arc<str>> {
        self.current.borrow().clone()
    }

    /// Changes whenever this node adopts another generation.
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<str>>> {
        self.current.subscribe()
    }

    /// Notes an id of counter `counter` (an index into `keys::COUNTERS`) as handed out.
    pub fn saw(&self, counter: usize, id: u64) {
        self.seen[counter].fetch_max(id, Relaxed);
    }

    /// Follows `generation`; `started` as the ADOPT script says (0 found, 1 started after a possible loss, 2
    /// started in an empty Redis).
    fn record(&self, generation: &Arc<str>, started: u8) {
        let changed = self.current.send_if_modified(|current| {
            if current.as_deref() == Some(&**generation) {
                return false;
            }
            *current = Some(Arc::clone(generation));
            true
        });
        match started {
            1 => warn!(%generation, "redis may have lost state (restart, rollback, failover, flush): new generation"),
            2 => info!(%generation, "redis was empty: first generation"),
            _ if changed => info!(%generation, "redis generation adopted"),
            _ => {}
        }
    }
}

impl Redis {
    /// The generation this node believes in, asking Redis first if it never did.
    pub async fn generation(&self) -> Result<Arc<str>> {
        match self.fence.current() {
            Some(generation) => Ok(generation),
            None => Ok(self.adopt().await?.generation),
        }
    }

    /// After a call fenced under `refused`: the current generation, adopting it unless another call already
    /// adopted a newer one meanwhile.
    pub async fn adopt_after(&self, refused: &str) -> Result<Arc<str>> {
        let _one = self.fence.adopting.lock().await;
        match self.fence.current() {
            Some(current) if &*current != refused => Ok(current),
            _ => Ok(self.adopt().await?.generation),
        }
    }

    /// Runs the ADOPT script: learns the current generation, starting a new one if Redis' state may have been
    /// lost. Also what every health check runs, so the node notices a new Redis within one check.
    pub async fn adopt(&self) -> Result<Adopted> {
        let token = format!("{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff);
        let mut call = ADOPT_SCRIPT.prepare_invoke();
        call.arg(&token);
        for (key, seen) in COUNTERS.iter().zip(&self.fence.seen) {
            call.arg(*key).arg(seen.load(Relaxed));
        }
        let mut conn = self.conn();
        let reply: Value = self.run("adopt", call.invoke_async(&mut conn)).await?;
        let mut items = Items::new(reply)?;
        let generation: Arc<str> = Arc::from(items.text()?);
        let started = items.number::<u8>()?;
        let (secs, micros): (u64, u64) = (items.number()?, items.number()?);
        for seen in &self.fence.seen {
            seen.fetch_max(items.number()?, Relaxed);
        }
        if generation.is_empty() {
            return Err(Error::internal("adopt: an empty generation"));
        }
        self.fence.record(&generation, started);
        Ok(Adopted { generation, redis_time_us: secs * 1_000_000 + micros })
    }
}
