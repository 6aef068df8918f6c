//! From pushes to the hub: seq order, gaps filled from history, generations followed, lag kept bounded.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use redis::Value;
use tracing::warn;

use super::{End, Listener, Step};
use crate::hub::{CloseReason, WireFrame};
use crate::redis_mode::conn::History;
use crate::redis_mode::keys;
use crate::redis_mode::lag::{self, Pressure};
use crate::redis_mode::resp::Push;
use crate::redis_mode::scripts::REPLAY_SCRIPT;

impl Listener {
    /// One batch of pushes: messages are gathered per room and dispatched together at the end (see
    /// `flush_pending`).
    pub(super) async fn on_batch(&mut self, batch: Vec<Push>) -> Step {
        for push in batch {
            match push {
                Push::Subscribed(channel) => {
                    self.flush_pending().await;
                    self.on_subscribed(&channel).await?;
                }
                Push::Message { channel, payload } => self.on_message(&channel, &payload).await?,
                // The room stays unconfirmed, so joins to it answer `unavailable` rather than miss events.
                Push::Refused(error) => warn!(%error, "redis refused a subscription"),
                Push::Other => {}
            }
        }
        self.flush_pending().await;
        Ok(())
    }

    /// A room's writers are behind: give them the time to write before dispatching more (see `lag`). Returns
    /// the share of its queues still half full if they did not catch up in time, else 0.
    async fn wait_for_writers(&self, key: &str) -> f64 {
        let started = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(1)).await;
            let behind = self.hub.behind_share(key, lag::BEHIND_SAMPLE);
            if behind < lag::BEHIND_SHARE {
                return 0.0;
            }
            if started.elapsed() >= lag::WRITER_WAIT {
                return behind;
            }
        }
    }

    /// The channel is live: from here on pub/sub brings every event, so catch up on what came before.
    async fn on_subscribed(&mut self, channel: &str) -> Step {
        let Some(track) = self.rooms.get(channel) else { return Ok(()) };
        let (base, key, last) = (track.base.clone(), track.key.clone(), track.last);
        let (now, entries) = self.read_after(&base, last).await?;
        match last {
            None => self.set_last(channel, now),
            Some(last) if now < last => {
                // Within a generation a room's seq never goes back (only by hand, or a bug): its clients' positions
                // name nothing any more.
                warn!(room = %key, last, now, "room history went back within a generation; its clients must rejoin");
                self.hub.kick(&key, CloseReason::Resync);
                self.set_last(channel, now);
            }
            Some(last) if now > last => self.dispatch_history(channel, entries, None),
            Some(_) => {}
        }
        if let Some(track) = self.rooms.get_mut(channel) {
            track.confirmed = true;
        }
        self.shared.set_ready(&key);
        Ok(())
    }

    /// Takes one message into its room's pending events.
    async fn on_message(&mut self, channel: &str, payload: &[u8]) -> Step {
        let Some(message) = Stamped::parse(payload) else {
            warn!(channel, "pub/sub message without a time and generation; ignored");
            return Ok(());
        };
        if channel == keys::REVOKE_CHANNEL {
            // After every event read before it, so the last ones still reach the person losing the room.
            self.flush_pending().await;
            let text = std::str::from_utf8(message.frame).unwrap_or_default();
            match text.split_once(' ') {
                Some((room, person)) => self.hub.revoke(room, person),
                None => warn!(text, "a revocation without a room and a person; ignored"),
            }
            return Ok(());
        }
        if self.generation.as_deref().map(str::as_bytes) != Some(message.generation) {
            // Published under a generation these positions don't belong to: whatever came before goes out first,
            // then the generation is checked, and on a new one every client starts over.
            self.flush_pending().await;
            self.on_foreign_generation().await?;
            return Ok(());
        }
        let Some(last) = self.rooms.get(channel).and_then(|t| t.last) else { return Ok(()) };
        let Some(seq) = event_seq(message.frame) else {
            // Unsequenced (typing): never stored, never replayed; after the room's events read before it.
            let Ok(text) = std::str::from_utf8(message.frame) else {
                warn!(channel, "pub/sub message that is not UTF-8; ignored");
                return Ok(());
            };
            self.flush_channel(channel);
            if let Some(track) = self.rooms.get(channel) {
                self.hub.dispatch_frame(&track.key, &Utf8Bytes::from(text));
            }
            return Ok(());
        };
        if seq <= last {
            return Ok(());
        }
        let Ok(text) = std::str::from_utf8(message.frame) else {
            warn!(channel, "pub/sub message that is not UTF-8; ignored");
            return Ok(());
        };
        let frame = WireFrame::text(text);
        if seq > last + 1 {
            // A gap: the events before it go first, from the history.
            self.flush_channel(channel);
            self.fill(channel, seq).await?;
        }
        let Some(track) = self.rooms.get_mut(channel) else { return Ok(()) };
        if track.pending.is_empty() {
            self.pending.push(channel.to_string());
        }
        track.pending.push((seq, frame));
        track.published_at.push(message.at_ms);
        track.last = Some(seq);
        Ok(())
    }

    /// Dispatches the room's events after its last one and before `upto`, from the history stream.
    async fn fill(&mut self, channel: &str, upto: u64) -> Step {
        let Some(track) = self.rooms.get(channel) else { return Ok(()) };
        let (base, last) = (track.base.clone(), track.last.unwrap_or(0));
        let (_, entries) = self.read_after(&base, Some(last)).await?;
        self.dispatch_history(channel, entries, Some(upto));
        Ok(())
    }

    /// Dispatches history entries after the room's last seq (before `upto`, if given). Events the history no
    /// longer holds can't be dispatched: then the room's local clients must rejoin (4008).
    fn dispatch_history(&mut self, channel: &str, entries: Vec<(u64, Utf8Bytes)>, upto: Option<u64>) {
        let Some(track) = self.rooms.get_mut(channel) else { return };
        let last = track.last.unwrap_or(0);
        let mut expected = last + 1;
        let mut lost = false;
        let mut events = Vec::with_capacity(entries.len());
        for (seq, frame) in entries {
            if upto.is_some_and(|u| seq >= u) {
                break;
            }
            if seq < expected {
                continue;
            }
            lost |= seq != expected;
            events.push((seq, WireFrame::text(frame.as_str())));
            expected = seq + 1;
        }
        lost |= upto.is_some_and(|u| expected < u);
        self.hub.dispatch_events(&track.key, &events);
        revoke_released(&self.hub, &track.key, &events);
        if lost {
            warn!(room = %track.key, "events missed and no longer in history; clients must rejoin");
            self.hub.kick(&track.key, CloseReason::SlowConsumer);
        }
        track.last = Some(upto.map_or(expected - 1, |u| u - 1).max(expected - 1));
    }

    /// A room's seq and its history after `after` (none if `None`), read under this listener's generation.
    async fn read_after(&mut self, base: &str, after: Option<u64>) -> Result<(u64, Vec<(u64, Utf8Bytes)>), End> {
        let generation = self.generation.clone().ok_or(End::Lost)?;
        let mut call = REPLAY_SCRIPT.prepare_invoke();
        call.arg(&*generation).arg(base).arg(after.map(|a| a.to_string()).unwrap_or_default());
        let mut conn = self.redis.conn();
        match self.redis.attempt("history", call.invoke_async::<Value>(&mut conn)).await {
            Err(_) => Err(End::Lost),
            Ok(None) => {
                self.on_foreign_generation().await?;
                // Fenced, yet the generation is the same: Redis is changing under us; start the connection over.
                Err(End::Lost)
            }
            Ok(Some(reply)) => {
                let history = History::parse(reply).map_err(|_| End::Lost)?;
                Ok((history.seq, history.entries))
            }
        }
    }

    /// Something under another generation was seen: asks Redis which one is current, and starts over if it is
    /// not this listener's.
    async fn on_foreign_generation(&mut self) -> Step {
        let adopted = self.redis.adopt().await.map_err(|_| End::Lost)?;
        if self.follow(adopted.generation) {
            return Err(End::Resync);
        }
        Ok(())
    }

    /// The node adopted a generation (this listener, the store or the health check did).
    pub(super) fn on_new_generation(&mut self) -> Step {
        match self.redis.fence.current() {
            Some(current) if self.follow(Arc::clone(&current)) => Err(End::Resync),
            _ => Ok(()),
        }
    }

    /// Follows `generation`; true if it is a new one and every room's position started over.
    pub(super) fn follow(&mut self, generation: Arc<str>) -> bool {
        match &self.generation {
            Some(known) if *known == generation => false,
            None => {
                self.generation = Some(generation);
                false
            }
            Some(_) => {
                self.start_over(generation);
                true
            }
        }
    }

    /// A new generation: the history every position was in is gone. Joins wait again (gates closed first, so a
    /// joiner either was in the hub before the kick, and is closed, or waits for the new subscription), every
    /// local client is closed with 4010 to rejoin with a fresh snapshot, and every room's position is taken anew
    /// when its subscription is confirmed on the next connection.
    fn start_over(&mut self, generation: Arc<str>) {
        warn!(%generation, rooms = self.rooms.len(), "new redis generation: every local client must rejoin (4010)");
        {
            let state = self.shared.lock();
            for track in self.rooms.values() {
                if let Some(gate) = state.gates.get(&track.key) {
                    gate.send_replace(false);
                }
            }
        }
        self.hub.kick_all(CloseReason::Resync);
        for track in self.rooms.values_mut() {
            track.last = None;
            track.confirmed = false;
            track.pending.clear();
            track.published_at.clear();
        }
        self.pending.clear();
        self.shedder.reset();
        self.generation = Some(generation);
    }

    /// After a chunk: past `--max-lag-ms`, or with writers that stay behind, shed viewers (see `lag`).
    fn keep_up(&mut self, pressure: Pressure) {
        self.hub.metrics().dispatch_lag_ms.store(pressure.lag_ms as i64, Relaxed);
        let Some(share) = self.shedder.observe(pressure, Instant::now()) else { return };
        let mut shed = 0;
        for (key, count) in lag::plan(&self.hub.room_sizes(), share) {
            shed += self.hub.shed(&key, count);
        }
        if shed > 0 {
            warn!(
                lag_ms = pressure.lag_ms,
                writers_behind = pressure.behind,
                shed,
                "behind the rooms' events: viewers shed (4008)"
            );
        }
    }

    /// Dispatches every room's pending events, a chunk at a time. After each chunk the policy judges how far
    /// behind the node is (the age of the chunk's oldest event as it is dispatched, and whether a large room's
    /// writers stay behind after the bus waited for them) and sheds viewers if it must (see `lag`).
    async fn flush_pending(&mut self) {
        for channel in std::mem::take(&mut self.pending) {
            let Some(track) = self.rooms.get_mut(&channel) else { continue };
            let mut events = std::mem::take(&mut track.pending);
            let mut published = std::mem::take(&mut track.published_at);
            let key = track.key.clone();
            for (chunk, at) in events.chunks(lag::CHUNK).zip(published.chunks(lag::CHUNK)) {
                let lag_ms = self.redis.health.redis_now_ms().saturating_sub(at[0]);
                let (subscribers, queues_behind) = self.hub.dispatch_events(&key, chunk);
                revoke_released(&self.hub, &key, chunk);
                let mut behind = 0.0;
                if lag::writers_behind(subscribers, queues_behind) {
                    behind = self.wait_for_writers(&key).await;
                }
                self.keep_up(Pressure { lag_ms, behind });
            }
            if let Some(track) = self.rooms.get_mut(&channel) {
                // The buffers' memory serves the next batch.
                events.clear();
                published.clear();
                track.pending = events;
                track.published_at = published;
            }
        }
    }

    /// Dispatches one room's pending events.
    fn flush_channel(&mut self, channel: &str) {
        let Some(track) = self.rooms.get_mut(channel) else { return };
        if track.pending.is_empty() {
            return;
        }
        self.hub.dispatch_events(&track.key, &track.pending);
        revoke_released(&self.hub, &track.key, &track.pending);
        track.pending.clear();
        track.published_at.clear();
        self.pending.retain(|c| c != channel);
    }

    fn set_last(&mut self, channel: &str, seq: u64) {
        if let Some(track) = self.rooms.get_mut(channel) {
            track.last = Some(seq);
        }
    }
}

/// A `released` event of a personal stream (`user:<sub>`) also removes that person's local connections from the
/// chat's staff room: the commit said so on `mj:revoke` too, but a revocation missed while the pub/sub
/// connection was down is not replayed, while the personal stream's events are (gap-filled), so an agent in
/// their own stream loses the room even then.
fn revoke_released(hub: &crate::hub::Hub, key: &str, events: &[(u64, WireFrame)]) {
    let Some(person) = key.strip_prefix("user:") else { return };
    for (_, frame) in events {
        if let Some(chat) = released_chat(frame.as_bytes()) {
            hub.revoke(&format!("chat:{chat}:staff"), person);
        }
    }
}

/// The chat of a `released` event frame: `…"kind":"released","data":{"chat":12}}` (the frame's own fields come
/// before any user text, and a released event carries none).
fn released_chat(frame: &[u8]) -> Option<u64> {
    const KIND: &[u8] = b"\"kind\":\"released\",\"data\":{\"chat\":";
    let at = frame.windows(KIND.len()).position(|w| w == KIND)? + KIND.len();
    let digits = frame[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&frame[at..at + digits]).ok()?.parse().ok()
}

/// A published message: `<Redis time in ms> <generation> <frame>` (see `scripts::EMIT`).
#[derive(Debug, PartialEq, Eq)]
struct Stamped<'a> {
    at_ms: u64,
    generation: &'a [u8],
    frame: &'a [u8],
}

impl<'a> Stamped<'a> {
    fn parse(payload: &'a [u8]) -> Option<Self> {
        let mut parts = payload.splitn(3, |b| *b == b' ');
        let at = parts.next()?;
        let generation = parts.next()?;
        let frame = parts.next()?;
        let at_ms = std::str::from_utf8(at).ok()?.parse().ok()?;
        Some(Stamped { at_ms, generation, frame })
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
    fn a_released_event_names_its_chat() {
        let event =
            crate::chat::rooms::Routed::User("g-amina".into(), crate::chat::rooms::UserEvent::Released { chat: 12 });
        let frame = crate::protocol::chat::event("user:g-amina", 5, &event);
        assert_eq!(released_chat(WireFrame::text(&frame).as_bytes()), Some(12), "{frame}");
        assert_eq!(released_chat(br#"{"type":"event","kind":"assigned","data":{"chat":{"id":3}}}"#), None);
    }

    #[test]
    fn the_seq_is_read_from_the_frame() {
        assert_eq!(event_seq(br#"{"type":"event","room":"broadcast:3","seq":42,"kind":"votes"}"#), Some(42));
        assert_eq!(event_seq(br#"{"type":"event"}"#), None);
    }

    #[test]
    fn a_message_carries_its_time_and_generation_before_the_frame() {
        let payload = br#"1764339000123 9f1c2a3b4c5d {"type":"event","seq":7,"data":{"text":"a b"}}"#;
        let message = Stamped::parse(payload).expect("stamped");
        assert_eq!(message.at_ms, 1_764_339_000_123);
        assert_eq!(message.generation, b"9f1c2a3b4c5d");
        assert_eq!(message.frame, br#"{"type":"event","seq":7,"data":{"text":"a b"}}"#);
        assert_eq!(Stamped::parse(br#"{"type":"event","seq":7}"#), None);
    }
}
