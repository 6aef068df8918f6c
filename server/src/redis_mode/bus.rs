//! The Redis bus: how a room's events reach this node's hub in Redis mode.
//!
//! One task owns the node's pub/sub connection. It subscribes to a room's channel only while the hub has local
//! subscribers in it, and dispatches each message (one shared frame for all local subscribers) in seq order.
//! It keeps each room's last dispatched seq: a duplicate is dropped, a gap is filled from the room's history
//! stream first. When the connection drops it reconnects with backoff, resubscribes, and catches every room up
//! from history, so local clients see nothing missing. Events the history no longer holds can't be replayed:
//! then the room's local clients are closed (4008) and rejoin with a fresh snapshot.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use rand::Rng;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{mpsc, watch};
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

/// Per room key: whether its events reach this node yet (see [`RoomInterest::until_listening`]).
#[derive(Default)]
struct Gates(Mutex<HashMap<String, watch::Sender<bool>>>);

impl Gates {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, watch::Sender<bool>>> {
        self.0.lock().expect("BUG: gates lock poisoned")
    }

    fn open(&self, key: &str) {
        self.lock().entry(key.to_string()).or_insert_with(|| watch::channel(false).0);
    }

    fn set_ready(&self, key: &str) {
        self.lock().entry(key.to_string()).or_insert_with(|| watch::channel(false).0).send_replace(true);
    }

    fn remove(&self, key: &str) {
        self.lock().remove(key);
    }

    /// Creates the gate if it is gone: a Close processed just after the room reopened may have removed it, and
    /// the reopening's Open, queued behind that Close, will open it again.
    fn waiter(&self, key: &str) -> watch::Receiver<bool> {
        self.lock().entry(key.to_string()).or_insert_with(|| watch::channel(false).0).subscribe()
    }
}

enum Interest {
    Open(String),
    Close(String),
}

/// The hub's [`RoomInterest`] in Redis mode; the work happens in the listener task it feeds.
pub struct RedisBus {
    tx: mpsc::UnboundedSender<Interest>,
    gates: Arc<Gates>,
}

impl RedisBus {
    pub fn start(endpoint: Endpoint, redis: Redis, hub: Arc<Hub>, stop: CancellationToken) -> Arc<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        let gates = Arc::new(Gates::default());
        let listener = Listener { endpoint, redis, hub, gates: Arc::clone(&gates), rooms: HashMap::new() };
        tokio::spawn(listener.run(rx, stop));
        Arc::new(RedisBus { tx, gates })
    }
}

impl RoomInterest for RedisBus {
    fn room_opened(&self, key: &str) {
        self.gates.open(key);
        let _ = self.tx.send(Interest::Open(key.to_string()));
    }

    fn room_closed(&self, key: &str) {
        let _ = self.tx.send(Interest::Close(key.to_string()));
    }

    fn until_listening(&self, key: &str) -> Pin<Box<dyn Future<Output = bool> + Send>> {
        let mut waiter = self.gates.waiter(key);
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
    gates: Arc<Gates>,
    rooms: HashMap<String, Track>,
}

impl Listener {
    async fn run(mut self, mut interest: mpsc::UnboundedReceiver<Interest>, stop: CancellationToken) {
        let mut backoff = MIN_BACKOFF;
        loop {
            let connected = tokio::select! {
                _ = stop.cancelled() => return,
                c = resp::connect(&self.endpoint, self.redis.timeout) => c,
            };
            match connected {
                Ok((writer, reader)) => {
                    backoff = MIN_BACKOFF;
                    if let End::Stop = self.session(writer, reader, &mut interest, &stop).await {
                        return;
                    }
                    warn!("redis pub/sub connection lost; reconnecting");
                    for track in self.rooms.values_mut() {
                        track.confirmed = false;
                    }
                }
                Err(error) => warn!(%error, "redis pub/sub connection failed; retrying"),
            }
            while let Ok(i) = interest.try_recv() {
                // Disconnected: only note the rooms; the next session subscribes them.
                let _ = self.on_interest(i, None).await;
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
    async fn session(
        &mut self,
        mut writer: OwnedWriteHalf,
        reader: Reader,
        interest: &mut mpsc::UnboundedReceiver<Interest>,
        stop: &CancellationToken,
    ) -> End {
        let (frames_tx, mut frames) = mpsc::channel(READ_AHEAD);
        let reading = tokio::spawn(read_pushes(reader, frames_tx));
        let end = self.serve(&mut writer, &mut frames, interest, stop).await;
        reading.abort();
        end
    }

    async fn serve(
        &mut self,
        writer: &mut OwnedWriteHalf,
        frames: &mut mpsc::Receiver<Push>,
        interest: &mut mpsc::UnboundedReceiver<Interest>,
        stop: &CancellationToken,
    ) -> End {
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
                i = interest.recv() => match i {
                    Some(i) => self.on_interest(i, Some(&mut *writer)).await.is_ok(),
                    None => return End::Stop,
                },
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

    async fn on_interest(&mut self, interest: Interest, writer: Option<&mut OwnedWriteHalf>) -> std::io::Result<()> {
        match interest {
            Interest::Open(key) => {
                let Some(room) = RoomRef::parse(&key) else {
                    // Not a room anything is published to: nothing to wait for.
                    self.gates.set_ready(&key);
                    return Ok(());
                };
                let channel = keys::channel(room);
                if let Some(track) = self.rooms.get(&channel) {
                    if track.confirmed {
                        self.gates.set_ready(&key);
                    }
                    return Ok(());
                }
                self.rooms.insert(channel.clone(), Track { room, key, last: None, confirmed: false });
                match writer {
                    Some(writer) => self.subscribe(writer, &channel, true).await,
                    None => Ok(()),
                }
            }
            Interest::Close(key) => {
                // The room may have been reopened since the hub said it closed: then keep listening.
                if self.hub.subscriber_count(&key) > 0 {
                    return Ok(());
                }
                self.gates.remove(&key);
                let Some(room) = RoomRef::parse(&key) else { return Ok(()) };
                let channel = keys::channel(room);
                self.rooms.remove(&channel);
                match writer {
                    Some(writer) => self.subscribe(writer, &channel, false).await,
                    None => Ok(()),
                }
            }
        }
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
        self.gates.set_ready(&key);
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
