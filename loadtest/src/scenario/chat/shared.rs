//! What the two sides of a chat share inside the harness: when each typed, when each sent a receipt, when each
//! citizen started. The server's frames for these carry no send time, so the sender notes it here and the
//! other side looks it up when the frame arrives (one process holds both sides: the scenario runs in one).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use std::time::Instant;

use tokio::sync::watch;

/// Which side of a chat a client is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    Citizen,
    Agent,
}

impl Who {
    /// The name the wire uses (`from` of a message, `side` of typing, the keys of Receipts).
    pub fn wire(self) -> &'static str {
        match self {
            Who::Citizen => "citizen",
            Who::Agent => "agent",
        }
    }

    pub fn other(self) -> Who {
        match self {
            Who::Citizen => Who::Agent,
            Who::Agent => Who::Citizen,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Send times (µs since the epoch) of one chat's unsequenced signals.
#[derive(Default, Clone, Copy)]
struct Times {
    typing: [u64; 2],
    /// The last receipt each side sent: `(read seq, when)`.
    receipt: [(u64, u64); 2],
}

pub struct Shared {
    /// When citizen `i` sent its `chat_start` (0: not yet).
    starts: Vec<AtomicU64>,
    chats: Mutex<HashMap<u64, Times>>,
    pub assigned: AtomicU64,
    pub first_start: AtomicU64,
    pub last_assigned: AtomicU64,
    /// Messages sent in the steady phase (both sides), for the rate.
    pub window_sends: AtomicU64,
    /// Agents that finished their setup (or gave up on it); the citizens start once all have.
    settled: AtomicU64,
    agents: u64,
    /// When every agent had settled.
    ready: watch::Sender<Option<Instant>>,
}

/// Typing older than this is no longer the one a frame answers (clients drop indicators after 6 s).
const TYPING_FRESH_US: u64 = 6_000_000;

impl Shared {
    pub fn new(citizens: u64, agents: u64) -> Shared {
        let (ready, _) = watch::channel((agents == 0).then(Instant::now));
        Shared {
            starts: (0..citizens).map(|_| AtomicU64::new(0)).collect(),
            chats: Mutex::new(HashMap::new()),
            assigned: AtomicU64::new(0),
            first_start: AtomicU64::new(u64::MAX),
            last_assigned: AtomicU64::new(0),
            window_sends: AtomicU64::new(0),
            settled: AtomicU64::new(0),
            agents,
            ready,
        }
    }

    fn times<R>(&self, f: impl FnOnce(&mut HashMap<u64, Times>) -> R) -> R {
        f(&mut self.chats.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn started(&self, citizen: u64, at: u64) {
        if let Some(slot) = self.starts.get(citizen as usize) {
            slot.store(at, Relaxed);
        }
        self.first_start.fetch_min(at, Relaxed);
    }

    /// An agent was assigned citizen `citizen`'s chat at `at`: the time since its start, if known.
    pub fn on_assigned(&self, citizen: Option<u64>, at: u64) -> Option<u64> {
        self.assigned.fetch_add(1, Relaxed);
        self.last_assigned.fetch_max(at, Relaxed);
        let started = self.starts.get(citizen? as usize)?.load(Relaxed);
        (started > 0).then(|| at.saturating_sub(started))
    }

    pub fn typed(&self, chat: u64, who: Who, at: u64) {
        self.times(|t| t.entry(chat).or_default().typing[who.index()] = at);
    }

    /// `who`'s typing reached the other side at `at`: the time since it was sent, if it is a fresh one.
    pub fn typing_seen(&self, chat: u64, who: Who, at: u64) -> Option<u64> {
        let sent = self.times(|t| t.get(&chat).map(|c| c.typing[who.index()]))?;
        let age = at.checked_sub(sent)?;
        (sent > 0 && age < TYPING_FRESH_US).then_some(age)
    }

    pub fn receipt_sent(&self, chat: u64, who: Who, read: u64, at: u64) {
        self.times(|t| t.entry(chat).or_default().receipt[who.index()] = (read, at));
    }

    /// A `receipts` event shows `who` has read up to `read`: the time since `who` sent that receipt, once.
    pub fn receipt_seen(&self, chat: u64, who: Who, read: u64, at: u64) -> Option<u64> {
        self.times(|t| {
            let slot = &mut t.get_mut(&chat)?.receipt[who.index()];
            let (seq, sent) = *slot;
            if sent == 0 || read < seq {
                return None;
            }
            *slot = (seq, 0);
            Some(at.saturating_sub(sent))
        })
    }

    /// An agent is done with its setup (ready or failed).
    pub fn agent_settled(&self) {
        if self.settled.fetch_add(1, Relaxed) + 1 >= self.agents {
            self.ready.send_if_modified(|at| at.is_none() && at.replace(Instant::now()).is_none());
        }
    }

    pub fn agents_ready(&self) -> watch::Receiver<Option<Instant>> {
        self.ready.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_are_timed_once_from_their_sender() {
        let shared = Shared::new(2, 1);
        shared.started(1, 1_000);
        assert_eq!(shared.on_assigned(Some(1), 1_500), Some(500));
        assert_eq!(shared.on_assigned(Some(5), 1_500), None);
        shared.typed(7, Who::Agent, 2_000);
        assert_eq!(shared.typing_seen(7, Who::Agent, 2_300), Some(300));
        assert_eq!(shared.typing_seen(7, Who::Citizen, 2_300), None);
        shared.receipt_sent(7, Who::Citizen, 4, 3_000);
        assert_eq!(shared.receipt_seen(7, Who::Citizen, 3, 3_100), None);
        assert_eq!(shared.receipt_seen(7, Who::Citizen, 4, 3_200), Some(200));
        assert_eq!(shared.receipt_seen(7, Who::Citizen, 4, 3_300), None, "timed once");
        assert!(shared.agents_ready().borrow().is_none());
        shared.agent_settled();
        assert!(shared.agents_ready().borrow().is_some());
    }
}
