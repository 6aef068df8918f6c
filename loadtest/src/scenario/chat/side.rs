//! One side of one chat, as a client keeps it: the room's event `seq`, every message seen (by its chat `seq`
//! and, for the other side's, its `client_msg_id`), the messages this side sent and had acked, and the sends
//! still waiting for their ack (re-sent with the same `client_msg_id` after a reconnect).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::Ordering::Relaxed;

use serde_json::{json, Value};

use super::frames::{Frame, Message};
use super::shared::{Shared, Who};
use crate::clock::now_micros;
use crate::stats::{LatencyBuf, Stats};
use crate::viewer::{stamp_of, SeqTracker, STAMP};

/// How a frame reached the side: on a live connection, or as part of a rejoin's replay (its latency then
/// includes the time the client was away).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    Live,
    Replay,
}

pub struct ChatSide {
    pub chat: u64,
    pub me: Who,
    pub room: String,
    pub events: SeqTracker,
    pub epoch: Option<String>,
    /// The chat is active (an agent holds it): the sides write only then.
    pub active: bool,
    pub ended: bool,
    /// Rejoining after a reconnect: frames until the join's ack are the replay.
    pub rejoining: bool,
    /// Chat `seq` of every message seen, either side's and system ones.
    pub seen: BTreeSet<u64>,
    /// `client_msg_id`s of the other side's messages seen.
    pub from_other: HashSet<String>,
    /// This side's acked messages: their chat `seq` and `client_msg_id`.
    pub sent: Vec<(u64, String)>,
    /// This side's sends not acked yet, by `client_msg_id`: re-sent as they were after a reconnect.
    pub unacked: BTreeMap<String, Value>,
    /// Message events whose `seq` (or the other side's `client_msg_id`) this side had already seen.
    pub duplicates: u64,
    /// Acks that said `duplicate: true` (a re-send the server had already taken).
    pub duplicate_acks: u64,
    /// The highest message `seq` from the other side this side has acknowledged with a receipt.
    pub receipted: u64,
    /// The run ended while this side was away (its connection down, or its rejoin not yet answered): what it
    /// had not seen by then was never offered to it, and the ledger says so apart from what was lost.
    pub away_at_end: bool,
    /// Snapshots of the room taken (the first join's, and each rejoin the server could not replay).
    pub snapshots: u32,
    /// The last join's ack said `recovered`: the gap was replayed rather than a snapshot sent.
    pub recovered_last: bool,
    /// Joins after a reconnect that the server acked.
    pub rejoins: u32,
    written: u64,
}

impl ChatSide {
    pub fn new(chat: u64, me: Who) -> ChatSide {
        let room = match me {
            Who::Citizen => format!("chat:{chat}"),
            Who::Agent => format!("chat:{chat}:staff"),
        };
        ChatSide {
            chat,
            me,
            room,
            events: SeqTracker::default(),
            epoch: None,
            active: false,
            ended: false,
            rejoining: false,
            seen: BTreeSet::new(),
            from_other: HashSet::new(),
            sent: Vec::new(),
            unacked: BTreeMap::new(),
            duplicates: 0,
            duplicate_acks: 0,
            receipted: 0,
            away_at_end: false,
            snapshots: 0,
            recovered_last: false,
            rejoins: 0,
            written: 0,
        }
    }

    /// The join command, with `since` when resuming.
    pub fn join(&self, resume: bool) -> Value {
        let mut command = json!({"type": "join", "room": self.room});
        if let (true, Some(epoch), Some(seq)) = (resume, &self.epoch, self.events.last) {
            command["since"] = json!({"epoch": epoch, "seq": seq});
        }
        command
    }

    /// The next message: its `chat_send` (text stamped with the send time), noted as unacked.
    pub fn write(&mut self, now: u64, client: u64) -> (Value, String) {
        self.written += 1;
        let n = self.written;
        let who = self.me.wire();
        let id = format!("{}{client}-{n}", &who[..1]);
        let text = format!("{STAMP}{now}:{n} load-test message {n} from the {who} of chat {}", self.chat);
        let command = json!({"type": "chat_send", "chat": self.chat, "text": text, "client_msg_id": id});
        self.unacked.insert(id.clone(), command.clone());
        (command, id)
    }

    /// A `chat_send` was acked.
    pub fn acked(&mut self, client_msg_id: &str, result: &Value) {
        self.unacked.remove(client_msg_id);
        if result["duplicate"].as_bool() == Some(true) {
            self.duplicate_acks += 1;
        }
        if let Some(seq) = result["message"]["seq"].as_u64() {
            self.sent.push((seq, client_msg_id.to_string()));
        }
    }

    /// A snapshot or event of this side's room. Returns the `seq` to acknowledge with a receipt, if the other
    /// side's message moved it.
    pub fn on_frame(
        &mut self,
        frame: &Frame,
        how: How,
        stats: &Stats,
        buf: &mut LatencyBuf,
        shared: &Shared,
    ) -> Option<u64> {
        let now = now_micros();
        match frame.r#type.as_str() {
            "snapshot" => {
                self.snapshots += 1;
                if let Some(seq) = frame.seq {
                    self.events.reset(seq);
                }
                self.epoch.clone_from(&frame.epoch);
                self.status(&frame.data["chat"]);
                let messages = frame.data["messages"].as_array().map(Vec::as_slice).unwrap_or_default();
                let mut newest = None;
                for message in messages.iter().filter_map(Message::of) {
                    newest = self.message(&message, None, stats, buf).or(newest);
                }
                self.receipt_due(newest)
            }
            "event" => {
                match frame.seq {
                    Some(seq) => self.events.event(seq),
                    None => stats.error("event_without_seq"),
                }
                stats.deliveries.fetch_add(1, Relaxed);
                match frame.kind.as_str() {
                    "message" => {
                        let message = Message::of(&frame.data)?;
                        let newest = self.message(&message, Some((how, now)), stats, buf);
                        self.receipt_due(newest)
                    }
                    "chat" => {
                        self.status(&frame.data);
                        None
                    }
                    "receipts" => {
                        let theirs = self.me.other();
                        let read = frame.data[theirs.wire()]["read"].as_u64().unwrap_or(0);
                        if let Some(us) = shared.receipt_seen(self.chat, theirs, read, now) {
                            buf.push(stats, "receipt", us);
                        }
                        None
                    }
                    _ => None,
                }
            }
            "typing" => {
                let theirs = self.me.other();
                if frame.typing && frame.side == theirs.wire() {
                    if let Some(us) = shared.typing_seen(self.chat, theirs, now) {
                        buf.push(stats, "typing", us);
                    }
                }
                None
            }
            _ => None,
        }
    }

    fn status(&mut self, chat: &Value) {
        match chat["status"].as_str() {
            Some("active") => self.active = true,
            Some("ended") => {
                self.active = false;
                self.ended = true;
            }
            Some(_) => self.active = false,
            None => {}
        }
    }

    /// Notes one message; `live` is how and when an event brought it (`None`: a snapshot). Returns its `seq` if
    /// it is the other side's and new.
    fn message(&mut self, m: &Message, live: Option<(How, u64)>, stats: &Stats, buf: &mut LatencyBuf) -> Option<u64> {
        if !self.seen.insert(m.seq) {
            if live.is_some() {
                self.duplicates += 1;
            }
            return None;
        }
        if m.kind != "text" || m.from != self.me.other().wire() {
            return None;
        }
        if let Some(id) = &m.client_msg_id {
            if !self.from_other.insert(id.clone()) {
                // The same message under two seqs: the server took a re-send as a new message.
                self.duplicates += 1;
                return None;
            }
        }
        if let (Some((how, at)), Some(sent)) = (live, stamp_of(&m.text)) {
            let us = at.saturating_sub(sent);
            match how {
                How::Live => {
                    buf.push(stats, "message", us);
                    let direction = match self.me {
                        Who::Agent => "to agent",
                        Who::Citizen => "to citizen",
                    };
                    buf.push(stats, direction, us);
                }
                How::Replay => buf.push(stats, "replayed", us),
            }
        }
        Some(m.seq)
    }

    /// The receipt to send for `newest`, if it is beyond what this side acknowledged.
    fn receipt_due(&mut self, newest: Option<u64>) -> Option<u64> {
        let seq = newest.filter(|&s| s > self.receipted)?;
        self.receipted = seq;
        Some(seq)
    }

    /// Message `seq`s missing from what this side saw: gaps below the highest one seen.
    pub fn gaps(&self) -> u64 {
        let highest = self.seen.last().copied().unwrap_or(0);
        highest - self.seen.len() as u64
    }
}

/// The `chat_receipt` for `seq` (read, which raises delivered with it).
pub fn receipt(chat: u64, seq: u64) -> Value {
    json!({"type": "chat_receipt", "chat": chat, "read": seq})
}

pub fn typing(chat: u64) -> Value {
    json!({"type": "chat_typing", "chat": chat, "typing": true})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64, data: Value) -> Frame {
        Frame { r#type: "event".into(), seq: Some(seq), kind: "message".into(), data, ..Frame::default() }
    }

    #[test]
    fn messages_are_counted_once_and_gaps_found() {
        let (stats, shared, mut buf) = (Stats::default(), Shared::new(1, 1), LatencyBuf::default());
        let mut side = ChatSide::new(3, Who::Citizen);
        let snapshot = Frame {
            r#type: "snapshot".into(),
            seq: Some(10),
            epoch: Some("e".into()),
            data: json!({"chat": {"status": "active"}, "messages": [{"seq": 1, "kind": "system"}]}),
            ..Frame::default()
        };
        assert_eq!(side.on_frame(&snapshot, How::Live, &stats, &mut buf, &shared), None);
        assert!(side.active);
        let text = format!("{STAMP}{}:1 hi", now_micros());
        let m = json!({"seq": 2, "kind": "text", "from": "agent", "text": text, "client_msg_id": "a1-1"});
        assert_eq!(side.on_frame(&event(11, m.clone()), How::Live, &stats, &mut buf, &shared), Some(2));
        assert_eq!(side.on_frame(&event(12, m), How::Live, &stats, &mut buf, &shared), None);
        let again = json!({"seq": 4, "kind": "text", "from": "agent", "text": "x", "client_msg_id": "a1-1"});
        side.on_frame(&event(13, again), How::Live, &stats, &mut buf, &shared);
        assert_eq!((side.duplicates, side.gaps(), side.events.missing), (2, 1, 0));
        assert_eq!(side.join(true)["since"], json!({"epoch": "e", "seq": 13}));
        buf.flush(&stats);
        assert_eq!(stats.latencies()["to citizen"].len(), 1);
    }
}
