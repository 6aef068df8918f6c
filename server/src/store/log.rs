//! A room's sequence and bounded history, as the in-memory stores keep them: every room event gets the next
//! `seq`, is kept among the last `max` events for reconnects, and a client's `since` is served from it when it
//! still holds every event after it.

use std::collections::VecDeque;

use axum::extract::ws::Utf8Bytes;

use super::Replay;
use crate::protocol::Position;

pub struct RoomLog {
    pub key: String,
    pub seq: u64,
    history: VecDeque<(u64, Utf8Bytes)>,
}

impl RoomLog {
    pub fn new(key: String) -> Self {
        RoomLog { key, seq: 0, history: VecDeque::new() }
    }

    /// Gives the next event its seq, encodes it with `encode(room, seq)` and keeps it (at most `max` kept).
    /// Returns the seq and the frame, for the caller to publish.
    pub fn append(&mut self, max: usize, encode: impl FnOnce(&str, u64) -> Utf8Bytes) -> (u64, Utf8Bytes) {
        self.seq += 1;
        let frame = encode(&self.key, self.seq);
        if self.history.len() >= max.max(1) {
            self.history.pop_front();
        }
        self.history.push_back((self.seq, frame.clone()));
        (self.seq, frame)
    }

    /// The events after `since`, if it names a position of this log (same `epoch`, not ahead of it) and the
    /// history still holds every event after it.
    pub fn replay(&self, epoch: &str, since: &Position) -> Option<Replay> {
        if since.epoch != epoch || since.seq > self.seq {
            return None;
        }
        // The history must hold every event after `since`: its oldest must be at most since.seq + 1.
        let oldest = self.history.front().map(|(s, _)| *s).unwrap_or(self.seq + 1);
        if oldest > since.seq + 1 {
            return None;
        }
        let frames = self.history.iter().filter(|(s, _)| *s > since.seq).map(|(_, f)| f.clone()).collect();
        Some(Replay { seq: self.seq, frames })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(room: &str, seq: u64) -> Utf8Bytes {
        Utf8Bytes::from(format!("{room}#{seq}"))
    }

    #[test]
    fn a_log_replays_what_it_still_holds_and_nothing_it_lost() {
        let mut log = RoomLog::new("r".into());
        for _ in 0..5 {
            log.append(3, frame);
        }
        let at = |seq| Position { epoch: "e".into(), seq };
        let replay = log.replay("e", &at(2)).expect("3, 4, 5 are kept");
        assert_eq!((replay.seq, replay.frames.len()), (5, 3));
        assert!(log.replay("e", &at(1)).is_none(), "event 2 was trimmed");
        assert!(log.replay("e", &at(6)).is_none(), "a position ahead of the room");
        assert!(log.replay("other", &at(4)).is_none(), "another epoch");
        assert_eq!(log.replay("e", &at(5)).map(|r| r.frames.len()), Some(0));
    }
}
