//! The Redis bus: how a room's events reach this node's hub in Redis mode.
//!
//! One task owns the node's pub/sub connection. It subscribes to a room's channel only while the hub has local
//! subscribers in it, and dispatches each message (one shared frame for all local subscribers) in seq order.
//! It keeps each room's last dispatched seq: a duplicate is dropped, a gap is filled from the room's history
//! stream first. When the connection drops it reconnects with backoff, resubscribes, and catches every room up
//! from history, so local clients see nothing missing. Events the history no longer holds can't be replayed:
//! then the room's local clients are closed (4008) and rejoin with a fresh snapshot.
//!
//! Positions belong to a generation (see `fence`): the listener checks it on every new connection, every
//! message carries the generation it was published in, and every history read is fenced, so the first sign
//! of a new generation (whoever noticed it) makes the listener close every local client with 4010 (they rejoin
//! and take a fresh snapshot) and start its rooms' positions over, before it dispatches anything of it.
//!
//! Every node also listens to `mj:revoke`, where a commit names who lost a room (an agent who handed a chat
//! on): the node removes that person's local connections from it, after the room's events before it.
//!
//! The hub's "room opened / closed" notices reach the task through shared state, not a queue: a notice marks the
//! room's key as changed and wakes the task, which then asks the hub whether the room is open now and
//! (un)subscribes accordingly. Notices of one room coalesce into one mark, so the state is bounded by the number
//! of rooms and nothing is ever dropped; and since the task reads the hub itself, notices that race each other (a
//! room closed by one connection and reopened by another) can't leave it listening to the wrong set.

mod dispatch;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{mpsc, watch, Notify};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::conn::Redis;
use super::keys;
use super::lag::Shedder;
use super::resp::{self, Endpoint, Push, Reader};
use crate::hub::{Hub, RoomInterest, WireFrame};

const MIN_BACKOFF: Duration = Duration::from_millis(50);
/// Batches of pushes read ahead of the dispatcher; beyond them the socket is not read, and Redis buffers (or
/// drops us).
const READ_AHEAD_BATCHES: usize = 16;
/// Most pushes in one batch (the reader takes what is already read from the socket, up to this).
const MAX_BATCH: usize = 512;

/// What the hub tells the listener task, kept until the task acts on it.
#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Wakes the listener when `State::changed` gained a key; wake-ups coalesce (one stored permit at most).
    wake: Notify,
}

#[derive(Default)]
struct State {
    /// Per room key: whether its events reach this node yet (see [`RoomInterest::until_listening`]).
    gates: HashMap<String, watch::Sender<bool>>,
    /// Room keys opened or closed in the hub since the listener last looked; at most one entry per room.
    changed: HashSet<String>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("BUG: bus state lock poisoned")
    }

    /// Marks the room for the listener's next look and wakes it (if a wake-up is pending already, this joins it).
    fn changed(&self, key: &str) {
        self.lock().changed.insert(key.to_string());
        self.wake.notify_one();
    }

    fn set_ready(&self, key: &str) {
        self.lock().gate(key).send_replace(true);
    }
}

impl State {
    /// Creates the gate if it is gone: the listener removes it when it finds the room closed, possibly just before
    /// the room reopened; the reopening marks the key changed, and the listener subscribes and opens it again.
    fn gate(&mut self, key: &str) -> &watch::Sender<bool> {
        self.gates.entry(key.to_string()).or_insert_with(|| watch::channel(false).0)
    }
}

/// The hub's [`RoomInterest`] in Redis mode; the work happens in the listener task it wakes.
pub struct RedisBus {
    shared: Arc<Shared>,
}

impl RedisBus {
    /// Starts the listener. `max_backoff` bounds the wait between reconnect attempts; `max_lag_ms` is how far
    /// behind its rooms' events the node may dispatch before it sheds viewers (see `lag`).
    pub fn start(
        endpoint: Endpoint,
        redis: Redis,
        hub: Arc<Hub>,
        max_backoff: Duration,
        max_lag_ms: u64,
        stop: CancellationToken,
    ) -> Arc<Self> {
        let shared = Arc::new(Shared::default());
        let listener = Listener {
            endpoint,
            redis,
            hub,
            shared: Arc::clone(&shared),
            rooms: HashMap::new(),
            generation: None,
            shedder: Shedder::new(max_lag_ms),
            pending: Vec::new(),
            max_backoff: max_backoff.max(MIN_BACKOFF),
        };
        tokio::spawn(listener.run(stop));
        Arc::new(RedisBus { shared })
    }
}

impl RoomInterest for RedisBus {
    fn room_opened(&self, key: &str) {
        self.shared.changed(key);
    }

    fn room_closed(&self, key: &str) {
        self.shared.changed(key);
    }

    fn until_listening(&self, key: &str) -> Pin<Box<dyn Future<Output = bool> + Send>> {
        let mut waiter = self.shared.lock().gate(key).subscribe();
        Box::pin(async move { waiter.wait_for(|ready| *ready).await.is_ok() })
    }
}

/// A subscribed room, by channel.
struct Track {
    /// The room's key base in Redis (`keys::room_base_of`).
    base: String,
    key: String,
    /// The last seq dispatched to the hub; `None` until the subscription is confirmed (again, after a new
    /// generation).
    last: Option<u64>,
    confirmed: bool,
    /// Events of this room read in the current batch, not yet dispatched: they go to the hub together.
    pending: Vec<(u64, WireFrame)>,
    /// When each pending event was published (Redis' clock, ms).
    published_at: Vec<u64>,
}

/// Why the listener stops serving a connection.
enum End {
    Stop,
    Lost,
    /// The rooms' positions started over (a new generation): connect and subscribe again at once.
    Resync,
}

/// What a step of the listener did: carry on, or end the connection.
type Step = std::result::Result<(), End>;

struct Listener {
    endpoint: Endpoint,
    redis: Redis,
    hub: Arc<Hub>,
    shared: Arc<Shared>,
    rooms: HashMap<String, Track>,
    /// The generation the tracks' positions belong to; `None` before the first check.
    generation: Option<Arc<str>>,
    shedder: Shedder,
    /// Channels whose tracks hold pending events.
    pending: Vec<String>,
    max_backoff: Duration,
}

impl Listener {
    async fn run(mut self, stop: CancellationToken) {
        let mut backoff = MIN_BACKOFF;
        loop {
            let connected = tokio::select! {
                _ = stop.cancelled() => return,
                c = resp::connect(&self.endpoint, self.redis.timeout) => c,
            };
            let mut at_once = false;
            match connected {
                Ok((writer, reader)) => {
                    backoff = MIN_BACKOFF;
                    match self.session(writer, reader, &stop).await {
                        End::Stop => return,
                        End::Lost => warn!("redis pub/sub connection lost; reconnecting"),
                        End::Resync => at_once = true,
                    }
                    for track in self.rooms.values_mut() {
                        track.confirmed = false;
                        track.pending.clear();
                        track.published_at.clear();
                    }
                    self.pending.clear();
                }
                Err(error) => warn!(%error, "redis pub/sub connection failed; retrying"),
            }
            if at_once {
                continue;
            }
            let jitter = rand::rng().random_range(0..=backoff.as_millis() as u64 / 2);
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(backoff + Duration::from_millis(jitter)) => {}
            }
            backoff = (backoff * 2).min(self.max_backoff);
        }
    }

    /// Serves one connection until it drops or the node stops.
    async fn session(&mut self, mut writer: OwnedWriteHalf, reader: Reader, stop: &CancellationToken) -> End {
        let (batches_tx, mut batches) = mpsc::channel(READ_AHEAD_BATCHES);
        let reading = tokio::spawn(read_pushes(reader, batches_tx));
        let end = match self.serve(&mut writer, &mut batches, stop).await {
            Ok(()) => End::Stop,
            Err(end) => end,
        };
        self.redis.health.set_listening(false);
        reading.abort();
        end
    }

    async fn serve(
        &mut self,
        writer: &mut OwnedWriteHalf,
        batches: &mut mpsc::Receiver<Vec<Push>>,
        stop: &CancellationToken,
    ) -> Step {
        // What changed while disconnected only needs noting: the subscriptions below cover every room kept.
        let _ = self.reconcile();
        let channels: Vec<String> = self.rooms.keys().cloned().collect();
        if !channels.is_empty() {
            info!(rooms = channels.len(), "resubscribing rooms");
        }
        for channel in channels {
            self.subscribe(writer, &channel, true).await.map_err(|_| End::Lost)?;
        }
        // Who loses a room (an agent who handed a chat on), heard by every node whatever rooms it has.
        self.subscribe(writer, keys::REVOKE_CHANNEL, true).await.map_err(|_| End::Lost)?;
        // Whatever this connection brings was published by the Redis process it reached, under the generation
        // adopted there (writes are fenced): learn it before reading any of it.
        let adopted = self.redis.adopt().await.map_err(|_| End::Lost)?;
        self.follow(adopted.generation);
        self.redis.health.set_listening(true);
        let mut generations = self.redis.fence.subscribe();
        generations.mark_unchanged();
        loop {
            tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                changed = generations.changed() => {
                    if changed.is_ok() {
                        self.on_new_generation()?;
                    }
                }
                _ = self.shared.wake.notified() => self.on_changes(writer).await.map_err(|_| End::Lost)?,
                batch = batches.recv() => self.on_batch(batch.ok_or(End::Lost)?).await?,
            }
        }
    }

    async fn subscribe(&self, writer: &mut OwnedWriteHalf, channel: &str, on: bool) -> std::io::Result<()> {
        let command: &[u8] = match (self.redis.sharded, on) {
            (false, true) => b"SUBSCRIBE",
            (false, false) => b"UNSUBSCRIBE",
            (true, true) => b"SSUBSCRIBE",
            (true, false) => b"SUNSUBSCRIBE",
        };
        writer.write_all(&resp::encode(&[command, channel.as_bytes()])).await
    }

    /// Brings the subscriptions in line with the rooms the hub has now.
    async fn on_changes(&mut self, writer: &mut OwnedWriteHalf) -> std::io::Result<()> {
        for (channel, on) in self.reconcile() {
            self.subscribe(writer, &channel, on).await?;
        }
        Ok(())
    }

    /// Takes the rooms the hub opened or closed since the last look and decides, by what the hub has now, which
    /// to track; returns the channels to subscribe (true) or unsubscribe (false). The decisions are made here,
    /// before any I/O, so a write failing after them loses none: the next session subscribes every tracked room.
    fn reconcile(&mut self) -> Vec<(String, bool)> {
        let mut commands = vec![];
        // The lock spans the hub check and the gate removal, so a room reopening in between finds no stale open
        // gate: either the check sees it, or its `room_opened` and joiners come after the removal.
        let mut state = self.shared.lock();
        let changed = std::mem::take(&mut state.changed);
        for key in changed {
            let base = keys::room_base_of(&key);
            if self.hub.has_room(&key) {
                let Some(base) = base else {
                    // Not a room anything is published to: nothing to wait for.
                    state.gate(&key).send_replace(true);
                    continue;
                };
                let channel = keys::channel_of(&base);
                match self.rooms.get(&channel) {
                    // Still (or again) wanted: it may have reopened before its close was seen; keep listening.
                    Some(track) => {
                        if track.confirmed {
                            state.gate(&key).send_replace(true);
                        }
                    }
                    None => {
                        let track = Track {
                            base,
                            key,
                            last: None,
                            confirmed: false,
                            pending: Vec::new(),
                            published_at: Vec::new(),
                        };
                        self.rooms.insert(channel.clone(), track);
                        commands.push((channel, true));
                    }
                }
            } else {
                state.gates.remove(&key);
                let Some(base) = base else { continue };
                let channel = keys::channel_of(&base);
                if self.rooms.remove(&channel).is_some() {
                    commands.push((channel, false));
                }
            }
        }
        commands
    }
}

/// Reads pushes until the connection ends (the channel closing tells the listener), in batches: every push
/// already read from the socket goes in one, so a listener that fell behind takes its backlog in few steps.
async fn read_pushes(mut reader: Reader, tx: mpsc::Sender<Vec<Push>>) {
    loop {
        let mut batch = Vec::new();
        loop {
            match reader.frame().await {
                Ok(frame) => batch.push(Push::from_frame(frame)),
                Err(_) => {
                    let _ = tx.send(batch).await;
                    return;
                }
            }
            if batch.len() >= MAX_BATCH || !reader.has_buffered() {
                break;
            }
        }
        if tx.send(batch).await.is_err() {
            return;
        }
    }
}
