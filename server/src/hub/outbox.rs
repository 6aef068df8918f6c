//! A connection's outbound queue, bounded two ways.
//!
//! Why not a tokio mpsc channel: every delivery paid for a semaphore permit, a lock-free list slot and a
//! wake-up. Here a push is a short uncontended lock and an append, and the writer is woken only when the queue
//! goes from empty to non-empty (while it is busy writing, pushes don't wake it); the writer then takes
//! everything queued in one lock, by swapping its empty buffer for the full one: no item is moved and no
//! buffer is reallocated, however busy the connection.
//!
//! Two kinds of items share the one queue, so their order is kept (a join's snapshot before its ack, an ack
//! after the events its command caused), but each has its own bound:
//! - **Room traffic** (events and presence, pushed by the hub's fan-out) is what a slow viewer falls behind on.
//!   It is bounded by count (`--outbound-queue`) and by age (`--max-lag-ms`): a push into a queue whose oldest
//!   unwritten room item is older than that is refused, and the hub sheds the viewer (4008).
//! - **The connection's own** frames (replies, snapshots, pings and pongs, pushed by its reader) never make it
//!   a slow consumer: their bound (`--reply-queue`) makes the reader stop reading commands until the writer has
//!   taken them, so a client can have only so many unanswered replies, however many commands it sends.
//!
//! The age costs no clock reading per item: the queue notes when its first room item since the last take
//! arrived, and keeps that note for the batch the writer took last (which may still be being written) until
//! the writer comes back for more.

use std::sync::Mutex;
use std::task::Waker;
use std::time::Duration;

use futures_util::task::AtomicWaker;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::Outbound;

/// Why a push was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// The queue holds `--outbound-queue` room items: the client is not reading.
    Full,
    /// The oldest room item not yet written is older than `--max-lag-ms`: the client is too far behind.
    Lagging,
    /// The connection is over.
    Closed,
}

/// The bounds of one connection's queue.
#[derive(Debug, Clone, Copy)]
pub struct OutboxBounds {
    /// Most room items queued (`--outbound-queue`).
    pub room_items: usize,
    /// How many of the connection's own items the reader lets wait before it stops reading (`--reply-queue`).
    pub own_items: usize,
    /// Oldest a room item may get before it is written (`--max-lag-ms`).
    pub max_lag: Duration,
}

pub struct Outbox {
    state: Mutex<State>,
    writer: AtomicWaker,
    /// Wakes a reader waiting for room for its own items.
    reader: Notify,
    bounds: OutboxBounds,
}

struct State {
    items: Vec<Outbound>,
    /// Room items queued since the last take.
    room_items: usize,
    /// Own items queued since the last take.
    own_items: usize,
    /// When the first room item since the last take was queued.
    room_since: Option<Instant>,
    /// When the first room item of the batch taken last was queued: until the writer's next take, that batch
    /// may still be being written, so it still counts as behind.
    in_flight_since: Option<Instant>,
    closed: bool,
}

impl Outbox {
    pub fn new(bounds: OutboxBounds) -> Self {
        Outbox {
            state: Mutex::new(State {
                items: Vec::new(),
                room_items: 0,
                own_items: 0,
                room_since: None,
                in_flight_since: None,
                closed: false,
            }),
            writer: AtomicWaker::new(),
            reader: Notify::new(),
            bounds: OutboxBounds { room_items: bounds.room_items.max(1), own_items: bounds.own_items.max(1), ..bounds },
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("BUG: outbox lock poisoned")
    }

    /// Queues an item of room traffic (an event or presence) at `now` (one clock reading per fan-out, not per
    /// queue). Refused if the connection is behind by count or by age: the caller sheds it.
    pub fn push_room(&self, item: Outbound, now: Instant) -> Result<(), PushError> {
        let was_empty = {
            let mut state = self.lock();
            if state.closed {
                return Err(PushError::Closed);
            }
            if state.room_items >= self.bounds.room_items {
                return Err(PushError::Full);
            }
            if state.in_flight_since.or(state.room_since).is_some_and(|t| now.duration_since(t) > self.bounds.max_lag) {
                return Err(PushError::Lagging);
            }
            state.room_items += 1;
            state.room_since.get_or_insert(now);
            self.append(&mut state, item)
        };
        if was_empty {
            self.writer.wake();
        }
        Ok(())
    }

    /// Queues several room items at once at `now` (one lock, at most one wake-up): all of them, or none if they
    /// don't all fit or the connection is behind by age. Returns whether the queue's room traffic is at least
    /// half its bound now (its writer is behind).
    pub fn push_many(&self, items: impl ExactSizeIterator<Item = Outbound>, now: Instant) -> Result<bool, PushError> {
        let (was_empty, behind) = {
            let mut state = self.lock();
            if state.closed {
                return Err(PushError::Closed);
            }
            if state.room_items + items.len() > self.bounds.room_items {
                return Err(PushError::Full);
            }
            if state.in_flight_since.or(state.room_since).is_some_and(|t| now.duration_since(t) > self.bounds.max_lag) {
                return Err(PushError::Lagging);
            }
            let was_empty = state.items.is_empty();
            state.room_items += items.len();
            state.room_since.get_or_insert(now);
            state.items.extend(items);
            (was_empty, state.room_items * 2 >= self.bounds.room_items)
        };
        if was_empty {
            self.writer.wake();
        }
        Ok(behind)
    }

    /// How many room items wait for the writer.
    pub fn queued(&self) -> usize {
        self.lock().room_items
    }

    /// Whether the room traffic waiting is at least half its bound (the writer is behind).
    pub fn is_behind(&self) -> bool {
        self.queued() * 2 >= self.bounds.room_items
    }

    /// Queues one of the connection's own items (a reply, a snapshot, a ping). Never refused for a bound: the
    /// reader waits for [`Outbox::own_room`] before it reads the next command instead.
    pub fn push_own(&self, item: Outbound) -> Result<(), PushError> {
        let was_empty = {
            let mut state = self.lock();
            if state.closed {
                return Err(PushError::Closed);
            }
            state.own_items += 1;
            self.append(&mut state, item)
        };
        if was_empty {
            self.writer.wake();
        }
        Ok(())
    }

    fn append(&self, state: &mut State, item: Outbound) -> bool {
        let was_empty = state.items.is_empty();
        state.items.push(item);
        was_empty
    }

    /// Whether as many own items wait as the reader lets wait.
    pub fn own_full(&self) -> bool {
        self.lock().own_items >= self.bounds.own_items
    }

    /// Resolves once fewer own items wait than the bound (the writer took them).
    pub async fn own_room(&self) {
        loop {
            // Registered before the look, so a take between the look and the wait still wakes us.
            let notified = self.reader.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self.own_full() {
                return;
            }
            notified.await;
        }
    }

    /// No more pushes; the writer still gets what is queued, then `false` from `take`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.writer.wake();
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// The writer's task is woken by the next push into an empty queue, by `close`, and by `wake_writer`.
    /// Register before looking ([`Outbox::try_take`]), so a push between the look and the wait still wakes it.
    pub fn register_writer(&self, waker: &Waker) {
        self.writer.register(waker);
    }

    /// Wakes the writer for a reason of its own to look at (the connection was killed).
    pub fn wake_writer(&self) {
        self.writer.wake();
    }

    /// Takes everything queued into `batch` (which must be empty; its memory becomes the queue's) without
    /// waiting: `Some(true)` if it took any, `Some(false)` if closed and empty, `None` if there is nothing yet.
    /// The writer calls it only once it has written what it took before.
    pub fn try_take(&self, batch: &mut Vec<Outbound>) -> Option<bool> {
        debug_assert!(batch.is_empty(), "BUG: the writer hands back an empty buffer");
        let was_full = {
            let mut state = self.lock();
            state.in_flight_since = state.room_since.take();
            if state.items.is_empty() {
                return if state.closed { Some(false) } else { None };
            }
            std::mem::swap(&mut state.items, batch);
            let was_full = state.own_items >= self.bounds.own_items;
            state.room_items = 0;
            state.own_items = 0;
            was_full
        };
        if was_full {
            self.reader.notify_waiters();
        }
        Some(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::WireFrame;

    fn outbox(room_items: usize, max_lag_ms: u64) -> Outbox {
        Outbox::new(OutboxBounds { room_items, own_items: 2, max_lag: Duration::from_millis(max_lag_ms) })
    }

    fn frame() -> Outbound {
        Outbound::Frame(WireFrame::ping())
    }

    #[test]
    fn room_items_are_bounded_by_count_and_own_items_do_not_count() {
        let q = outbox(2, 60_000);
        let now = Instant::now();
        q.push_room(frame(), now).expect("first");
        q.push_own(frame()).expect("own");
        q.push_room(frame(), now).expect("second");
        assert_eq!(q.push_room(frame(), now), Err(PushError::Full));
        for _ in 0..10 {
            q.push_own(frame()).expect("own items never make it full");
        }
        assert!(q.own_full());
        let mut batch = Vec::new();
        assert_eq!(q.try_take(&mut batch), Some(true));
        assert_eq!(batch.len(), 13);
        assert!(!q.own_full());
        q.push_room(frame(), now).expect("room again after the take");
    }

    #[test]
    fn a_room_item_older_than_the_lag_bound_sheds_the_connection_until_its_batch_is_written() {
        let q = outbox(100, 50);
        let start = Instant::now();
        q.push_room(frame(), start).expect("first");
        q.push_room(frame(), start + Duration::from_millis(40)).expect("within the lag");
        // Taken, but not written yet: still behind.
        let mut batch = Vec::new();
        q.try_take(&mut batch);
        batch.clear();
        assert_eq!(q.push_room(frame(), start + Duration::from_millis(60)), Err(PushError::Lagging));
        // The writer came back for more: what it took is written, and the clock starts again.
        assert_eq!(q.try_take(&mut batch), None);
        q.push_room(frame(), start + Duration::from_millis(60)).expect("caught up");
        // Own items never start the clock.
        let own = outbox(100, 50);
        own.push_own(frame()).expect("own");
        own.push_room(frame(), start + Duration::from_secs(10)).expect("no room item was waiting");
    }
}
