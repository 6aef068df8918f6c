//! Viewers: connections that join a room and receive its events.
//!
//! A passive viewer only recognises each frame by its first bytes, reads `seq` with a substring search and checks
//! it is one more than the last, so the harness spends far less per event than the server. A measuring viewer
//! also parses every event and records its latency: from the send time stamped in a question's text, or from the
//! send time the acting client noted in the [`SendLog`].

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use anyhow::{bail, Result};
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::clock::{coarse_tick, now_micros};
use crate::ctx::{Ctx, Role};
use crate::stats::{LatencyBuf, SendLog, Sent, Stats};
use crate::wire::Incoming;
use crate::ws::{classify, close_code, leading_number, number_after, string_after, FrameKind, Reply, Session};

const SEQ: &str = r#""seq":"#;
const EPOCH: &str = r#""epoch":""#;
/// Local counts go to the shared counters every this many events.
const FLUSH_EVERY: u64 = 64;
/// The prefix of question texts that carry their send time: `lt:<µs since epoch>:<n> ...`.
pub const STAMP: &str = "lt:";

/// Checks that a room's `seq` grows by exactly one per event.
#[derive(Debug, Default, Clone, Copy)]
pub struct SeqTracker {
    pub last: Option<u64>,
    pub missing: u64,
    pub duplicates: u64,
}

impl SeqTracker {
    /// A snapshot: the room's state as of `seq`, so the next event is `seq + 1`.
    pub fn reset(&mut self, seq: u64) {
        self.last = Some(seq);
    }

    pub fn event(&mut self, seq: u64) {
        match self.last {
            Some(last) if seq == last + 1 => self.last = Some(seq),
            Some(last) if seq > last + 1 => {
                self.missing += seq - last - 1;
                self.last = Some(seq);
            }
            Some(_) => self.duplicates += 1,
            // An event before any snapshot: the server promises this never happens.
            None => self.missing += 1,
        }
    }
}

/// Why watching ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    Stopped,
    /// The connection ended under us (close code, `eof`, or a transport error).
    Lost(String),
}

/// Everything a viewer knows besides its socket.
pub struct ViewState {
    stats: Arc<Stats>,
    /// `{"type":"event","room":"<room>","seq":` — how the server starts every event of this viewer's room, so
    /// that the common case is one prefix comparison.
    event_prefix: String,
    pub seq: SeqTracker,
    pub epoch: Option<String>,
    pub measure: Option<Measure>,
    /// The `seq` of the first snapshot: every event after it is this viewer's to receive.
    pub first_seq: Option<u64>,
    /// Events received over the viewer's life.
    pub received: u64,
    deliveries: u64,
    other: u64,
    unflushed: u64,
    tick: u64,
    flushed_missing: u64,
    flushed_duplicates: u64,
}

impl ViewState {
    pub fn new(stats: Arc<Stats>, room: &str, measure: Option<Measure>) -> Self {
        ViewState {
            stats,
            event_prefix: format!(r#"{{"type":"event","room":"{room}","seq":"#),
            seq: SeqTracker::default(),
            epoch: None,
            measure,
            first_seq: None,
            received: 0,
            deliveries: 0,
            other: 0,
            unflushed: 0,
            tick: coarse_tick(),
            flushed_missing: 0,
            flushed_duplicates: 0,
        }
    }

    /// Handles one server frame. This is the hot path of the whole harness.
    pub fn on_text(&mut self, text: &str) {
        if let Some(rest) = text.strip_prefix(self.event_prefix.as_str()) {
            return self.on_event(text, leading_number(rest));
        }
        match classify(text) {
            FrameKind::Event => self.on_event(text, number_after(text, SEQ)),
            FrameKind::Snapshot => {
                if let Some(seq) = number_after(text, SEQ) {
                    self.seq.reset(seq);
                    self.first_seq.get_or_insert(seq);
                }
                self.epoch = string_after(text, EPOCH).map(str::to_string);
            }
            FrameKind::Error => {
                let code = crate::ws::any_reply(text).map(|(_, r)| r);
                match code {
                    Some(Reply::Error { code }) => self.stats.error(&code),
                    _ => self.stats.error("error_frame"),
                }
            }
            FrameKind::Shutdown => self.stats.error("server_shutdown"),
            FrameKind::Presence | FrameKind::Ack | FrameKind::Other => self.other += 1,
        }
    }

    fn on_event(&mut self, text: &str, seq: Option<u64>) {
        match seq {
            Some(seq) => self.seq.event(seq),
            None => self.stats.error("event_without_seq"),
        }
        if let Some(measure) = &mut self.measure {
            measure.on_event(text, &self.stats);
        }
        self.deliveries += 1;
        self.received += 1;
        self.unflushed += 1;
        // Publish counts in batches, but at least once a second so that windows and progress are right.
        if self.unflushed >= FLUSH_EVERY || self.tick != coarse_tick() {
            self.flush();
        }
    }

    /// Adds the local counts to the shared counters.
    pub fn flush(&mut self) {
        let s = &self.stats;
        s.deliveries.fetch_add(self.deliveries, Relaxed);
        s.other_frames.fetch_add(self.other, Relaxed);
        s.missing.fetch_add(self.seq.missing - self.flushed_missing, Relaxed);
        s.duplicates.fetch_add(self.seq.duplicates - self.flushed_duplicates, Relaxed);
        self.flushed_missing = self.seq.missing;
        self.flushed_duplicates = self.seq.duplicates;
        self.deliveries = 0;
        self.other = 0;
        self.unflushed = 0;
        self.tick = coarse_tick();
        if let Some(measure) = &mut self.measure {
            measure.flush(s);
        }
    }

    /// The events this viewer should have received: every one after its first snapshot up to `final_seq`.
    pub fn expected(&self, final_seq: u64) -> u64 {
        self.first_seq.map(|first| final_seq.saturating_sub(first)).unwrap_or(0)
    }

    /// Ends the viewer's accounting: every event after its last one up to the room's final `seq` (when known)
    /// is missing, and pending latency look-ups are resolved or given up.
    pub fn finish(&mut self, final_seq: Option<u64>) {
        if let (Some(last), Some(final_seq)) = (self.seq.last, final_seq) {
            if final_seq > last {
                self.seq.missing += final_seq - last;
                self.seq.last = Some(final_seq);
            }
        }
        self.flush();
        if let Some(measure) = &mut self.measure {
            measure.finish(&self.stats);
        }
    }
}

/// A connection that has joined one room.
pub struct Viewer {
    pub session: Session,
    pub room: String,
    pub state: ViewState,
}

impl Viewer {
    /// Connects client `i` as a citizen and joins `room`.
    pub async fn open(ctx: &Ctx, i: u64, room: &str, measure: Option<Measure>) -> Result<Viewer> {
        let session = Session::open(ctx, i, Role::Citizen).await?;
        let state = ViewState::new(ctx.stats.clone(), room, measure);
        let mut viewer = Viewer { session, room: room.to_string(), state };
        viewer.join(false).await?;
        Ok(viewer)
    }

    /// Joins the room; with `resume`, from the last applied `(epoch, seq)`. Returns whether the server replayed
    /// the missed events (`recovered`) rather than sending a snapshot.
    pub async fn join(&mut self, resume: bool) -> Result<bool> {
        let mut command = json!({"type": "join", "room": self.room});
        if let (true, Some(epoch), Some(seq)) = (resume, &self.state.epoch, self.state.seq.last) {
            command["since"] = json!({"epoch": epoch, "seq": seq});
        }
        let state = &mut self.state;
        let reply = self.session.request(command, |text| state.on_text(text)).await;
        let reply = reply.inspect_err(|_| self.state.stats.error("join_failed"))?;
        match reply {
            Reply::Ack(result) => Ok(result["recovered"].as_bool().unwrap_or(false)),
            Reply::Error { code } => {
                self.state.stats.error(&code);
                bail!("join refused: {code}")
            }
        }
    }

    /// Reads frames until `stop` is cancelled or the connection ends.
    pub async fn watch(&mut self, stop: &CancellationToken) -> End {
        let stopped = stop.cancelled();
        tokio::pin!(stopped);
        let mut frames = 0u32;
        let end = loop {
            // Frames first: polling the stop signal costs a lock and a waiter check, which was 8 % of the
            // harness's CPU when done per frame. It is polled whenever no frame is ready, and looked at every
            // 64 frames, so a viewer under a steady stream still stops promptly.
            let message = tokio::select! {
                biased;
                message = self.session.ws.next() => message,
                _ = &mut stopped => break End::Stopped,
            };
            frames = frames.wrapping_add(1);
            if frames.is_multiple_of(64) && stop.is_cancelled() {
                break End::Stopped;
            }
            match message {
                Some(Ok(Incoming::Text(text))) => self.state.on_text(text),
                Some(Ok(Incoming::Close(code))) => break End::Lost(close_code(code)),
                Some(Err(_)) => break End::Lost("transport_error".into()),
                None => break End::Lost("eof".into()),
            }
        };
        self.state.flush();
        end
    }
}

#[derive(Deserialize)]
struct EventFrame<'a> {
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    data: EventData<'a>,
}

#[derive(Deserialize, Default)]
struct EventData<'a> {
    id: Option<u64>,
    votes: Option<u64>,
    #[serde(borrow)]
    status: Option<Cow<'a, str>>,
    #[serde(borrow)]
    text: Option<Cow<'a, str>>,
}

/// A send time carried in a question's text (`lt:<µs>:...`).
pub fn stamp_of(text: &str) -> Option<u64> {
    let rest = text.strip_prefix(STAMP)?;
    rest[..rest.find(':')?].parse().ok()
}

/// Events whose command was not yet in the send log are retried for this long, then counted as unmatched.
const PENDING_MICROS: u64 = 5_000_000;
/// Retrying waits at least this long, so a viewer that sees other processes' votes doesn't spin on the lock.
const RETRY_EVERY_MICROS: u64 = 20_000;

/// The latency-measuring part of a viewer.
pub struct Measure {
    sends: Arc<SendLog>,
    buf: LatencyBuf,
    pending: VecDeque<(Sent, u64)>,
    last_retry: u64,
    pub unmatched: u64,
    /// `(question, votes)` to watch for, and when it was first seen (µs since the epoch).
    pub target: Option<(u64, u64)>,
    pub reached_at: Option<u64>,
    /// The highest vote count seen on the target question.
    pub target_votes: u64,
}

impl Measure {
    pub fn new(sends: Arc<SendLog>) -> Self {
        Measure {
            sends,
            buf: LatencyBuf::default(),
            pending: VecDeque::new(),
            last_retry: 0,
            unmatched: 0,
            target: None,
            reached_at: None,
            target_votes: 0,
        }
    }

    fn on_event(&mut self, text: &str, stats: &Stats) {
        let now = now_micros();
        let Ok(frame) = serde_json::from_str::<EventFrame>(text) else {
            stats.error("unparsable_event");
            return;
        };
        let data = frame.data;
        match (frame.kind.as_ref(), data.id) {
            ("question", Some(id)) => match data.status.as_deref() {
                Some("answered") => self.lookup(Sent::Answer(id), now, stats),
                Some("approved") => match data.text.as_deref().and_then(stamp_of) {
                    Some(sent) => self.buf.push(stats, "ask", now.saturating_sub(sent)),
                    None => self.lookup(Sent::Approve(id), now, stats),
                },
                _ => {}
            },
            ("votes", Some(id)) => {
                let votes = data.votes.unwrap_or(0);
                self.watch_target(id, votes, now);
                self.lookup(Sent::Vote { question: id, votes }, now, stats);
            }
            ("pinned", Some(id)) => self.lookup(Sent::Pin(id), now, stats),
            _ => {}
        }
        if !self.pending.is_empty() && now - self.last_retry >= RETRY_EVERY_MICROS {
            self.retry(now, stats);
        }
    }

    fn watch_target(&mut self, id: u64, votes: u64, now: u64) {
        if let Some((question, goal)) = self.target {
            if question == id {
                self.target_votes = self.target_votes.max(votes);
                if votes >= goal && self.reached_at.is_none() {
                    self.reached_at = Some(now);
                }
            }
        }
    }

    fn lookup(&mut self, what: Sent, received: u64, stats: &Stats) {
        match self.sends.get(&what) {
            Some(sent) => self.buf.push(stats, what.kind(), received.saturating_sub(sent)),
            // The sender notes a vote only when its ack arrives, which may be after the event reached us.
            None => self.pending.push_back((what, received)),
        }
    }

    fn retry(&mut self, now: u64, stats: &Stats) {
        self.last_retry = now;
        let mut still = VecDeque::new();
        while let Some((what, received)) = self.pending.pop_front() {
            match self.sends.get(&what) {
                Some(sent) => self.buf.push(stats, what.kind(), received.saturating_sub(sent)),
                None if now.saturating_sub(received) > PENDING_MICROS => self.unmatched += 1,
                None => still.push_back((what, received)),
            }
        }
        self.pending = still;
    }

    fn flush(&mut self, stats: &Stats) {
        self.buf.flush(stats);
    }

    /// Resolves what can still be resolved; the rest is unmatched (e.g. votes sent by another process).
    pub fn finish(&mut self, stats: &Stats) {
        self.retry(u64::MAX, stats);
        self.unmatched += self.pending.len() as u64;
        self.pending.clear();
        self.buf.flush(stats);
        stats.unmatched.fetch_add(std::mem::take(&mut self.unmatched), Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_missing_and_repeats_are_duplicates() {
        let mut t = SeqTracker::default();
        t.reset(10);
        for seq in [11, 12, 15, 15, 14, 16] {
            t.event(seq);
        }
        assert_eq!((t.missing, t.duplicates, t.last), (2, 2, Some(16)));
    }

    #[test]
    fn measuring_viewers_time_stamped_questions_and_logged_votes() {
        let stats = Arc::new(Stats::default());
        let sends = Arc::new(SendLog::default());
        let mut state = ViewState::new(Arc::clone(&stats), "broadcast:1", Some(Measure::new(Arc::clone(&sends))));
        state.on_text(r#"{"type":"snapshot","room":"broadcast:1","epoch":"e1","seq":0,"recovered":false,"data":{}}"#);
        let sent = now_micros() - 1500;
        let ask = format!(
            r#"{{"type":"event","room":"broadcast:1","seq":1,"kind":"question","data":{{"id":5,"text":"lt:{sent}:1 why?","status":"approved","answer":{{"text":"x"}}}}}}"#
        );
        state.on_text(&ask);
        sends.insert(Sent::Vote { question: 5, votes: 1 }, sent);
        state.on_text(r#"{"type":"event","room":"broadcast:1","seq":2,"kind":"votes","data":{"id":5,"votes":1}}"#);
        state.on_text(r#"{"type":"presence","room":"broadcast:1","participants":3}"#);
        state.flush();
        let c = stats.snapshot();
        assert_eq!((c.deliveries, c.other_frames, c.missing, c.duplicates), (2, 1, 0, 0));
        let latencies = stats.latencies();
        assert!(latencies["ask"].min() >= 1500);
        assert_eq!(latencies["vote"].len(), 1);
        assert_eq!(state.epoch.as_deref(), Some("e1"));
    }
}
