//! The in-memory personal streams: one room log per person (`user:<sub>`), written by every domain's memory
//! store inside that domain's own lock (the lock order is always domain, then person), forgotten once idle
//! for `--personal-retention-hours` (the stream's snapshot is rebuilt from the domains' state, so only a
//! `since` older than that falls back to a snapshot).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::extract::ws::Utf8Bytes;
use dashmap::DashMap;

use super::log::RoomLog;
use super::{PersonalStore, Replay};
use crate::auth::unix_millis;
use crate::bus::Bus;
use crate::error::Result;
use crate::protocol::{personal, Position};

struct PersonLog {
    log: RoomLog,
    /// Each log has an epoch of its own: a forgotten log that is written again starts a new one, so a position
    /// in the old one can't be taken for a position in the new one.
    epoch: String,
    /// When the log was last written or joined (ms).
    touched: u64,
}

pub struct MemoryPersonal {
    logs: DashMap<String, Arc<Mutex<PersonLog>>>,
    history_len: usize,
    retention_ms: u64,
    bus: Arc<dyn Bus>,
}

impl MemoryPersonal {
    pub fn new(bus: Arc<dyn Bus>, config: &crate::Config) -> Self {
        MemoryPersonal {
            logs: DashMap::new(),
            history_len: config.personal_history_len.max(1),
            retention_ms: config.personal_retention_hours.saturating_mul(3_600_000),
            bus,
        }
    }

    fn log_of(&self, sub: &str) -> Arc<Mutex<PersonLog>> {
        let entry = self.logs.entry(sub.to_string()).or_insert_with(|| {
            let log = RoomLog::new(personal::room(sub));
            Arc::new(Mutex::new(PersonLog { log, epoch: super::memory::new_epoch(), touched: unix_millis() }))
        });
        Arc::clone(entry.value())
    }

    /// Sequences, keeps and publishes one event of `sub`'s stream; `encode(room, seq)` builds its frame.
    pub fn publish(&self, sub: &str, encode: impl FnOnce(&str, u64) -> Utf8Bytes) {
        let log = self.log_of(sub);
        let mut person = lock(&log);
        let (seq, frame) = person.log.append(self.history_len, encode);
        person.touched = unix_millis();
        self.bus.publish(&person.log.key, seq, &frame);
    }
}

fn lock(log: &Mutex<PersonLog>) -> std::sync::MutexGuard<'_, PersonLog> {
    log.lock().expect("BUG: personal log lock poisoned")
}

#[async_trait]
impl PersonalStore for MemoryPersonal {
    async fn position(&self, sub: &str) -> Result<Position> {
        let log = self.log_of(sub);
        let mut person = lock(&log);
        person.touched = unix_millis();
        Ok(Position { epoch: person.epoch.clone(), seq: person.log.seq })
    }

    async fn replay(&self, sub: &str, since: &Position) -> Result<Option<Replay>> {
        let Some(log) = self.logs.get(sub).map(|l| Arc::clone(l.value())) else { return Ok(None) };
        let person = lock(&log);
        Ok(person.log.replay(&person.epoch, since))
    }

    fn evict_idle(&self) {
        let cutoff = unix_millis().saturating_sub(self.retention_ms);
        // A log is only written under its own lock, and a publish re-creates a removed one: forgetting one that
        // was just written loses only its history, which a snapshot makes up for.
        self.logs.retain(|_, log| lock(log).touched >= cutoff);
    }
}
