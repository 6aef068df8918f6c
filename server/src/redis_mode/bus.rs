//! The Redis bus: how a room's events reach this node's hub in Redis mode.
//!
//! One task owns the node's pub/sub connection. It subscribes to a room's channel only while the hub has local
//! subscribers in it, and dispatches each message (one shared frame for all local subscribers) in seq order.
//! It keeps each room's last dispatched seq: a duplicate is dropped, a gap is filled from the room's history
//! stream first. When the connection drops it reconnects with backoff, resubscribes, and catches every room up
//! from history, so local clients see nothing missing. Events the history no longer holds can't be replayed:
//! then the room's local clients are closed (4008) and rejoin with a fresh snapshot.
//!
//! The hub's "room opened / closed" notices reach the task through shared state, not a queue: a notice marks the
//! room's key as changed and wakes the task, which then asks the hub whether the room is open now and
//! (un)subscribes accordingly. Notices of one room coalesce into one mark, so the state is bounded by the number
//! of rooms and nothing is ever dropped; and since the task reads the hub itself, notices that race each other (a
//! room closed by one connection and reopened by another) can't leave it listening to the wrong set.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use rand::Rng;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{mpsc, watch, Notify};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::conn::Redis;
use super::keys;
use super::resp::{self, Endpoint, Push, Reader};
use crate::error::Result;
use crate::hub::{CloseReason, Hub, RoomInterest};
use crate::qa::rooms::RoomRef;

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Pushes read ahead of the dispatcher; beyond it the socket is not read, and Redis buffers (or drops us).
const READ_AHEAD: usize = 4096;

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
    pub fn start(endpoint: Endpoint, redis: Redis, hub: Arc<Hub>, stop: CancellationToken) -> Arc<Self> {
        let shared = Arc::new(Shared::default());
        let listener = Listener { endpoint, redis, hub, shared: Arc::clone(&shared), rooms: HashMap::new() };
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
    room: RoomRef,
    key: String,
    /// The last seq dispatched to the hub; `None` until the first subscription is confirmed.
    last: Option<u64>,
    confirmed: bool,
}

/// Why a connection's session ended.
enum End {
    Stop,
    Lost,
}

struct Listener {
    endpoint: Endpoint,
    redis: Redis,
    hub: Arc<Hub>,
    shared: Arc<Shared>,
    rooms: HashMap<String, Track>,
}

impl Listener {
    async fn run(mut self, stop: CancellationToken) {
        let mut backoff = MIN_BACKOFF;
        loop {
            let connected = tokio::select! {
                _ = stop.cancelled() => return,
                c = resp::connect(&self.endpoint, self.redis.timeout) => c,
            };
            match connected {
                Ok((writer, reader)) => {
                    backoff = MIN_BACKOFF;
                    if let End::Stop = self.session(writer, reader, &stop).await {
                        return;
                    }
                    warn!("redis pub/sub connection lost; reconnecting");
                    for track in self.rooms.values_mut() {
                        track.confirmed = false;
                    }
                }
                Err(error) => warn!(%error, "redis pub/sub connection failed; retrying"),
            }
            let jitter = rand::rng().random_range(0..=backoff.as_millis() as u64 / 2);
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(backoff + Duration::from_millis(jitter)) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Serves one connection until it drops or the node stops.
    async fn session(&mut self, mut writer: OwnedWriteHalf, reader: Reader, stop: &CancellationToken) -> End {
        let (frames_tx, mut frames) = mpsc::channel(READ_AHEAD);
        let reading = tokio::spawn(read_pushes(reader, frames_tx));
        let end = self.serve(&mut writer, &mut frames, stop).await;
        reading.abort();
        end
    }

    async fn serve(
        &mut self,
        writer: &mut OwnedWriteHalf,
        frames: &mut mpsc::Receiver<Push>,
        stop: &CancellationToken,
    ) -> End {
        // What changed while disconnected only needs noting: the subscriptions below cover every room kept.
        let _ = self.reconcile();
        let channels: Vec<String> = self.rooms.keys().cloned().collect();
        if !channels.is_empty() {
            info!(rooms = channels.len(), "resubscribing rooms");
        }
        for channel in channels {
            if self.subscribe(writer, &channel, true).await.is_err() {
                return End::Lost;
            }
        }
        loop {
            let ok = tokio::select! {
                _ = stop.cancelled() => return End::Stop,
                _ = self.shared.wake.notified() => self.on_changes(writer).await.is_ok(),
                push = frames.recv() => match push {
                    Some(push) => self.on_push(push).await.is_ok(),
                    None => false,
                },
            };
            if !ok {
                return End::Lost;
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
            let room = RoomRef::parse(&key);
            if self.hub.has_room(&key) {
                let Some(room) = room else {
                    // Not a room anything is published to: nothing to wait for.
                    state.gate(&key).send_replace(true);
                    continue;
                };
                let channel = keys::channel(room);
                match self.rooms.get(&channel) {
                    // Still (or again) wanted: it may have reopened before its close was seen; keep listening.
                    Some(track) => {
                        if track.confirmed {
                            state.gate(&key).send_replace(true);
                        }
                    }
                    None => {
                        self.rooms.insert(channel.clone(), Track { room, key, last: None, confirmed: false });
                        commands.push((channel, true));
                    }
                }
            } else {
                state.gates.remove(&key);
                let Some(room) = room else { continue };
                let channel = keys::channel(room);
                if self.rooms.remove(&channel).is_some() {
                    commands.push((channel, false));
                }
            }
        }
        commands
    }

    /// An error means Redis can't be read right now: the session ends and the next one catches up.
    async fn on_push(&mut self, push: Push) -> Result<()> {
        match push {
            Push::Subscribed(channel) => self.on_subscribed(&channel).await,
            Push::Message { channel, payload } => self.on_message(&channel, payload).await,
            Push::Refused(error) => {
                // The room stays unconfirmed, so joins to it answer `unavailable` rather than miss events.
                warn!(%error, "redis refused a subscription");
                Ok(())
            }
            Push::Other => Ok(()),
        }
    }

    /// The channel is live: from here on pub/sub brings every event, so catch up on what came before.
    async fn on_subscribed(&mut self, channel: &str) -> Result<()> {
        let Some(track) = self.rooms.get(channel) else { return Ok(()) };
        let (room, key, last) = (track.room, track.key.clone(), track.last);
        let now = self.redis.room_seq(room).await?;
        match last {
            None => self.set_last(channel, now),
            Some(last) if now < last => {
                // The history went back (Redis lost data): positions our clients hold name nothing any more.
                // A new epoch, so that no client anywhere resumes from a position Redis reused for other events.
                warn!(room = %key, last, now, "room history went back; new epoch, clients must rejoin");
                self.redis.new_epoch(room).await?;
                self.hub.kick(&key, CloseReason::SlowConsumer);
                self.set_last(channel, now);
            }
            Some(last) if now > last => self.fill(channel, None).await?,
            Some(_) => {}
        }
        if let Some(track) = self.rooms.get_mut(channel) {
            track.confirmed = true;
        }
        self.shared.set_ready(&key);
        Ok(())
    }

    async fn on_message(&mut self, channel: &str, payload: Vec<u8>) -> Result<()> {
        let Some(track) = self.rooms.get(channel) else { return Ok(()) };
        let Some(last) = track.last else { return Ok(()) };
        let key = track.key.clone();
        let Some(seq) = event_seq(&payload) else {
            warn!(channel, "pub/sub message without a seq; ignored");
            return Ok(());
        };
        if seq <= last {
            return Ok(());
        }
        if seq > last + 1 {
            self.fill(channel, Some(seq)).await?;
        }
        let Ok(frame) = String::from_utf8(payload) else { return Ok(()) };
        self.hub.dispatch_event(&key, seq, &Utf8Bytes::from(frame));
        self.set_last(channel, seq);
        Ok(())
    }

    /// Dispatches the room's events after its last one (before `upto`, if given) from the history stream.
    async fn fill(&mut self, channel: &str, upto: Option<u64>) -> Result<()> {
        let Some(track) = self.rooms.get(channel) else { return Ok(()) };
        let (room, key, last) = (track.room, track.key.clone(), track.last.unwrap_or(0));
        let entries = self.redis.log_from(room, last + 1).await?;
        let mut expected = last + 1;
        let mut lost = false;
        for (seq, frame) in entries {
            if upto.is_some_and(|u| seq >= u) {
                break;
            }
            lost |= seq != expected;
            self.hub.dispatch_event(&key, seq, &frame);
            expected = seq + 1;
        }
        lost |= upto.is_some_and(|u| expected < u);
        if lost {
            warn!(room = %key, "events missed and no longer in history; clients must rejoin");
            self.hub.kick(&key, CloseReason::SlowConsumer);
        }
        self.set_last(channel, upto.map_or(expected - 1, |u| u - 1).max(expected - 1));
        Ok(())
    }

    fn set_last(&mut self, channel: &str, seq: u64) {
        if let Some(track) = self.rooms.get_mut(channel) {
            track.last = Some(seq);
        }
    }
}

/// Reads pushes until the connection ends (the channel closing tells the listener).
async fn read_pushes(mut reader: Reader, tx: mpsc::Sender<Push>) {
    while let Ok(frame) = resp::read_frame(&mut reader).await {
        if tx.send(Push::from_frame(frame)).await.is_err() {
            return;
        }
    }
}

/// The `seq` of an event frame: `{"type":"event","room":"…","seq":N,…`; room names hold no quotes, so the first
/// `"seq":` is the field.
fn event_seq(frame: &[u8]) -> Option<u64> {
    let at = frame.windows(6).take(200).position(|w| w == b"\"seq\":")? + 6;
    let digits = frame[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&frame[at..at + digits]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seq_is_read_from_the_frame() {
        assert_eq!(event_seq(br#"{"type":"event","room":"broadcast:3","seq":42,"kind":"votes"}"#), Some(42));
        assert_eq!(event_seq(br#"{"type":"event"}"#), None);
    }
}
