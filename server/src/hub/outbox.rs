//! A connection's bounded outbound queue.
//!
//! Why not a tokio mpsc channel: every delivery paid for a semaphore permit, a lock-free list slot and a
//! wake-up. Here a push is a short uncontended lock and an append, and the writer is woken only when the queue
//! goes from empty to non-empty (while it is busy writing, pushes don't wake it); the writer then takes
//! everything queued in one lock, by swapping its empty buffer for the full one: no item is moved and no
//! buffer is reallocated, however busy the connection.

use std::sync::Mutex;
use std::task::Waker;

use futures_util::task::AtomicWaker;

use super::Outbound;

/// Why a push was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// The queue holds `capacity` items: the client is not reading.
    Full,
    /// The connection is over.
    Closed,
}

pub struct Outbox {
    state: Mutex<State>,
    writer: AtomicWaker,
    capacity: usize,
}

struct State {
    items: Vec<Outbound>,
    closed: bool,
}

impl Outbox {
    pub fn new(capacity: usize) -> Self {
        Outbox {
            state: Mutex::new(State { items: Vec::new(), closed: false }),
            writer: AtomicWaker::new(),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("BUG: outbox lock poisoned")
    }

    pub fn push(&self, item: Outbound) -> Result<(), PushError> {
        let was_empty = {
            let mut state = self.lock();
            if state.closed {
                return Err(PushError::Closed);
            }
            if state.items.len() >= self.capacity {
                return Err(PushError::Full);
            }
            let was_empty = state.items.is_empty();
            state.items.push(item);
            was_empty
        };
        if was_empty {
            self.writer.wake();
        }
        Ok(())
    }

    /// Pushes several items at once (one lock, at most one wake-up): all of them, or none if they don't all fit.
    /// Returns whether the queue is at least half full now (its writer is behind).
    pub fn push_many(&self, items: impl ExactSizeIterator<Item = Outbound>) -> Result<bool, PushError> {
        let (was_empty, behind) = {
            let mut state = self.lock();
            if state.closed {
                return Err(PushError::Closed);
            }
            if state.items.len() + items.len() > self.capacity {
                return Err(PushError::Full);
            }
            let was_empty = state.items.is_empty();
            state.items.extend(items);
            (was_empty, state.items.len() * 2 >= self.capacity)
        };
        if was_empty {
            self.writer.wake();
        }
        Ok(behind)
    }

    /// How many items wait for the writer.
    pub fn queued(&self) -> usize {
        self.lock().items.len()
    }

    /// Whether the queue is at least half full (its writer is behind).
    pub fn is_behind(&self) -> bool {
        self.queued() * 2 >= self.capacity
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
    pub fn try_take(&self, batch: &mut Vec<Outbound>) -> Option<bool> {
        debug_assert!(batch.is_empty(), "BUG: the writer hands back an empty buffer");
        let mut state = self.lock();
        if state.items.is_empty() {
            return if state.closed { Some(false) } else { None };
        }
        std::mem::swap(&mut state.items, batch);
        Some(true)
    }
}
