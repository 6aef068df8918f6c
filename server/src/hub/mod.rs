//! The hub: rooms of local subscribers and the fan-out of frames to them.
//!
//! The hub knows WebSocket frames, room keys and sequence numbers, and nothing of Q&A or chat. An event is
//! encoded once by its producer; the hub hands a cheap clone of the same bytes to every subscriber's bounded
//! queue with `try_send`, so one slow client can never stall a room: when its queue is full it is marked as a
//! slow consumer and closed (4008) by its own writer.
//!
//! **Invariant:** frames of one room are dispatched under that room's lock, so every subscriber's queue holds
//! them in the order they were dispatched.

mod outbound;
mod outbox;
mod wire;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use axum::extract::ws::Utf8Bytes;
use dashmap::DashMap;
use tokio::time::Instant;

pub use outbound::{CloseReason, ConnControl, Outbound};
pub use outbox::{Outbox, OutboxBounds, PushError};
pub use wire::WireFrame;

use crate::metrics::Metrics;

/// Identifies a room inside this process; assigned when the room first gets a subscriber.
pub type RoomId = u64;

/// One connection's membership in a room.
#[derive(Clone)]
pub struct Subscriber {
    pub conn_id: u64,
    pub tx: Arc<Outbox>,
    pub control: Arc<ConnControl>,
    /// A person, counted in the room's participants; false for a screen showing the room (a presenter view).
    pub participant: bool,
    /// Who the connection acts for (an opaque name, the token's `sub`): [`Hub::revoke`] removes a person from a
    /// room by it.
    pub person: Arc<str>,
}

struct Room {
    id: RoomId,
    subscribers: Mutex<Members>,
}

/// A room's subscribers, with how many of them are observers, so the participant count is not a scan.
#[derive(Default)]
struct Members {
    list: Vec<Subscriber>,
    observers: usize,
}

impl Members {
    fn push(&mut self, subscriber: Subscriber) {
        self.observers += usize::from(!subscriber.participant);
        self.list.push(subscriber);
    }

    /// Keeps the subscribers `keep` says to (already a pass over all of them, so the recount is free).
    fn retain(&mut self, keep: impl FnMut(&Subscriber) -> bool) {
        self.list.retain(keep);
        self.observers = self.list.iter().filter(|s| !s.participant).count();
    }

    fn participants(&self) -> usize {
        self.list.len() - self.observers
    }
}

/// Called when a room gains its first or loses its last local subscriber (a shared bus subscribes to the room's
/// channel only while someone here listens). Called after the change and outside the hub's locks, so notices
/// about one room from different connections may arrive out of order, and a `room_closed` may come without a
/// `room_opened` (a first subscriber that failed): [`Hub::has_room`] is what holds now.
pub trait RoomInterest: Send + Sync {
    fn room_opened(&self, key: &str);
    fn room_closed(&self, key: &str);
    /// Resolves to true once every event of `key` published from now on will reach this hub (a shared bus: its
    /// channel subscription is confirmed), false if that can't be promised. A join waits for it before it reads
    /// the snapshot, so no event falls between the snapshot and the live stream.
    fn until_listening(&self, _key: &str) -> Pin<Box<dyn Future<Output = bool> + Send>> {
        Box::pin(std::future::ready(true))
    }
}

pub struct Hub {
    rooms: DashMap<Arc<str>, Arc<Room>>,
    next_room_id: AtomicU64,
    metrics: Arc<Metrics>,
    interest: Mutex<Option<Arc<dyn RoomInterest>>>,
}

impl Hub {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Hub { rooms: DashMap::new(), next_room_id: AtomicU64::new(1), metrics, interest: Mutex::new(None) }
    }

    pub fn set_interest(&self, interest: Arc<dyn RoomInterest>) {
        *self.interest.lock().expect("BUG: interest lock poisoned") = Some(interest);
    }

    fn interest(&self) -> Option<Arc<dyn RoomInterest>> {
        self.interest.lock().expect("BUG: interest lock poisoned").clone()
    }

    /// Adds a subscriber. Before it can receive any event of the room, its queue gets `Outbound::Watch`, so its
    /// writer knows to hold the room's events until the snapshot arrives. Fails only if the subscriber's
    /// connection is already over.
    pub fn subscribe(&self, key: &str, subscriber: Subscriber) -> Result<RoomId, PushError> {
        let mut opened = false;
        let id = {
            // The entry lock makes "create or join" and "remove when empty" exclusive with each other.
            let entry = self.rooms.entry(Arc::from(key)).or_insert_with(|| {
                opened = true;
                Arc::new(Room { id: self.next_room_id.fetch_add(1, Relaxed), subscribers: Mutex::default() })
            });
            let room = entry.value();
            let mut subscribers = room.lock();
            if subscriber.tx.push_own(Outbound::Watch { room: room.id }).is_err() {
                drop(subscribers);
                drop(entry);
                if opened && self.rooms.remove_if(key, |_, r| r.is_empty()).is_some() {
                    // Never announced as opened, but an interest may have seen it in the map (`has_room`).
                    if let Some(interest) = self.interest() {
                        interest.room_closed(key);
                    }
                }
                return Err(PushError::Closed);
            }
            subscribers.push(subscriber);
            room.id
        };
        if opened {
            self.metrics.rooms.fetch_add(1, Relaxed);
            if let Some(interest) = self.interest() {
                interest.room_opened(key);
            }
        }
        Ok(id)
    }

    /// Removes a connection from a room; the room goes away with its last subscriber.
    pub fn unsubscribe(&self, key: &str, conn_id: u64) {
        let Some(room) = self.rooms.get(key).map(|r| Arc::clone(r.value())) else { return };
        room.lock().retain(|s| s.conn_id != conn_id);
        if self.rooms.remove_if(key, |_, r| r.is_empty()).is_some() {
            self.metrics.rooms.fetch_sub(1, Relaxed);
            if let Some(interest) = self.interest() {
                interest.room_closed(key);
            }
        }
    }

    /// See [`RoomInterest::until_listening`]; true at once without a shared bus.
    pub async fn until_listening(&self, key: &str) -> bool {
        match self.interest() {
            Some(interest) => interest.until_listening(key).await,
            None => true,
        }
    }

    /// Removes `person`'s local connections from a room: they get no more of its events (their writers skip
    /// what is still queued of it) and the room goes away with its last subscriber. Their connections find out
    /// when they next look ([`Hub::is_member`]).
    pub fn revoke(&self, key: &str, person: &str) {
        let Some(room) = self.rooms.get(key).map(|r| Arc::clone(r.value())) else { return };
        {
            let mut members = room.lock();
            for sub in members.list.iter().filter(|s| &*s.person == person) {
                let _ = sub.tx.push_own(Outbound::Unwatch { room: room.id });
            }
            members.retain(|s| &*s.person != person);
        }
        if self.rooms.remove_if(key, |_, r| r.is_empty()).is_some() {
            self.metrics.rooms.fetch_sub(1, Relaxed);
            if let Some(interest) = self.interest() {
                interest.room_closed(key);
            }
        }
    }

    /// Whether connection `conn_id` is (still) a subscriber of the room.
    pub fn is_member(&self, key: &str, conn_id: u64) -> bool {
        self.rooms.get(key).is_some_and(|r| r.lock().list.iter().any(|s| s.conn_id == conn_id))
    }

    /// Closes every local subscriber of a room with `reason`: used when this node lost events of the room that
    /// it can no longer fetch, so its clients must rejoin (and get a fresh snapshot) rather than miss them.
    pub fn kick(&self, key: &str, reason: CloseReason) {
        let Some(room) = self.rooms.get(key).map(|r| Arc::clone(r.value())) else { return };
        for sub in room.lock().list.iter() {
            sub.control.kill(reason);
        }
    }

    /// Closes every local subscriber of every room with `reason` (see [`Hub::kick`]).
    pub fn kick_all(&self, reason: CloseReason) {
        for key in self.room_keys() {
            self.kick(&key, reason);
        }
    }

    /// Closes up to `count` of a room's local subscribers as slow consumers (4008), those with the most queued
    /// first (the slowest readers, as a full queue would), then the latest to join; returns how many. For a node
    /// that falls behind a room's events before its queues fill (a shared bus): fewer subscribers make each
    /// fan-out and the writes after it cheaper, so it catches up with the ones it keeps.
    pub fn shed(&self, key: &str, count: usize) -> usize {
        let Some(room) = self.rooms.get(key).map(|r| Arc::clone(r.value())) else { return 0 };
        let mut members = room.lock();
        let mut queued: Vec<(usize, usize)> = members
            .list
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.control.is_killed())
            .map(|(i, s)| (s.tx.queued(), i))
            .collect();
        let count = count.min(queued.len());
        if count == 0 {
            return 0;
        }
        queued.select_nth_unstable_by(count - 1, |a, b| b.cmp(a));
        for (_, i) in &queued[..count] {
            members.list[*i].control.kill_slow_consumer(&self.metrics);
        }
        members.retain(|s| !s.control.is_killed());
        count
    }

    /// The share of a room's local subscribers whose queues are at least half full, from a sample of at most
    /// `sample` of them (evenly spread), so a caller may ask often.
    pub fn behind_share(&self, key: &str, sample: usize) -> f64 {
        let Some(room) = self.rooms.get(key).map(|r| Arc::clone(r.value())) else { return 0.0 };
        let members = room.lock();
        let n = members.list.len();
        if n == 0 {
            return 0.0;
        }
        let step = n.div_ceil(sample.max(1));
        let looked: Vec<bool> = members.list.iter().step_by(step).map(|s| s.tx.is_behind()).collect();
        looked.iter().filter(|b| **b).count() as f64 / looked.len() as f64
    }

    /// Every room with local subscribers and how many it has, the largest first.
    pub fn room_sizes(&self) -> Vec<(Arc<str>, usize)> {
        let rooms: Vec<(Arc<str>, Arc<Room>)> =
            self.rooms.iter().map(|r| (Arc::clone(r.key()), Arc::clone(r.value()))).collect();
        let mut sizes: Vec<(Arc<str>, usize)> = rooms.into_iter().map(|(k, r)| (k, r.lock().list.len())).collect();
        sizes.sort_unstable_by_key(|(_, n)| std::cmp::Reverse(*n));
        sizes
    }

    /// Fans a sequenced room event out to every local subscriber.
    pub fn dispatch_event(&self, key: &str, seq: u64, frame: &Utf8Bytes) {
        self.fan_out(key, frame, |room, frame| Outbound::Event { room, seq, frame });
    }

    /// Fans several sequenced events of one room out at once, already encoded and in seq order: each subscriber's
    /// queue takes them in one push (one lock, at most one wake-up of its writer), which is what lets a node
    /// that fell behind catch up faster than it fell behind. Returns how many subscribers the room has and how
    /// many of their queues are at least half full now.
    pub fn dispatch_events(&self, key: &str, events: &[(u64, WireFrame)]) -> (usize, usize) {
        if events.is_empty() {
            return (0, 0);
        }
        let Some(room) = self.rooms.get(key).map(|r| Arc::clone(r.value())) else { return (0, 0) };
        let now = Instant::now();
        let mut subscribers = room.lock();
        let mut delivered = 0u64;
        let mut behind = 0;
        let mut gone = false;
        for sub in subscribers.list.iter() {
            let items =
                events.iter().map(|(seq, frame)| Outbound::Event { room: room.id, seq: *seq, frame: frame.clone() });
            match sub.tx.push_many(items, now) {
                Ok(queue_behind) => {
                    delivered += events.len() as u64;
                    behind += usize::from(queue_behind);
                }
                Err(PushError::Full | PushError::Lagging) => {
                    sub.control.kill_slow_consumer(&self.metrics);
                    gone = true;
                }
                Err(PushError::Closed) => gone = true,
            }
        }
        if gone {
            subscribers.retain(|s| !s.tx.is_closed() && !s.control.is_killed());
        }
        let count = subscribers.list.len();
        drop(subscribers);
        self.metrics.frames_queued(delivered);
        (count, behind)
    }

    /// Fans an unsequenced frame (e.g. presence) out to every local subscriber.
    pub fn dispatch_frame(&self, key: &str, frame: &Utf8Bytes) {
        self.fan_out(key, frame, |_, frame| Outbound::Frame(frame));
    }

    /// Encodes `frame` once (outside the room's lock) and queues it for every subscriber.
    fn fan_out(&self, key: &str, frame: &Utf8Bytes, make: impl Fn(RoomId, WireFrame) -> Outbound) {
        // Clone the Arc and release the map's shard lock at once: the fan-out below may be long.
        let Some(room) = self.rooms.get(key).map(|r| Arc::clone(r.value())) else { return };
        let frame = WireFrame::text(frame.as_str());
        // One clock reading for every queue: it dates the event for the lag bound (`--max-lag-ms`).
        let now = Instant::now();
        let mut subscribers = room.lock();
        let mut delivered = 0u64;
        let mut gone = false;
        for sub in subscribers.list.iter() {
            match sub.tx.push_room(make(room.id, frame.clone()), now) {
                Ok(()) => delivered += 1,
                Err(PushError::Full | PushError::Lagging) => {
                    // Why close instead of skip: a skipped event would silently break the gap-free promise.
                    sub.control.kill_slow_consumer(&self.metrics);
                    gone = true;
                }
                Err(PushError::Closed) => gone = true,
            }
        }
        if gone {
            subscribers.retain(|s| !s.tx.is_closed() && !s.control.is_killed());
        }
        drop(subscribers);
        self.metrics.frames_queued(delivered);
    }

    /// The metrics the hub counts into (a shared bus reports its own figures there too).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Whether the room is open here: from just before its `room_opened` until just before its `room_closed`.
    pub fn has_room(&self, key: &str) -> bool {
        self.rooms.contains_key(key)
    }

    /// Local participants of a room: its subscribers less the observers (0 if it has none).
    pub fn participant_count(&self, key: &str) -> usize {
        self.rooms.get(key).map(|r| r.lock().participants()).unwrap_or(0)
    }

    /// Keys of the rooms that have local subscribers.
    pub fn room_keys(&self) -> Vec<Arc<str>> {
        self.rooms.iter().map(|r| Arc::clone(r.key())).collect()
    }
}

impl Room {
    fn lock(&self) -> std::sync::MutexGuard<'_, Members> {
        self.subscribers.lock().expect("BUG: room lock poisoned")
    }

    fn is_empty(&self) -> bool {
        self.lock().list.is_empty()
    }
}
