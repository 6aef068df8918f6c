//! The in-memory store: the single-node default. Each broadcast's state and its two room logs sit behind one
//! std mutex; a command runs the rules, assigns seqs, appends to history and publishes, all inside it.
//!
//! Why a std mutex: the critical section never awaits, and publishing inside it is what keeps every room's
//! events in seq order on every connection (the hub's fan-out only does `try_send`, so it is short).

use std::collections::{HashSet, VecDeque};

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use dashmap::DashMap;
use rand::Rng;

use super::log::RoomLog;
use super::personal::MemoryPersonal;
use super::{Backend, QaStore, Replay, Snapshot, OWN_QUESTIONS};
use crate::auth::{unix_millis, User};
use crate::bus::Bus;
use crate::error::{Error, Result};
use crate::limits::Admission;
use crate::protocol::{self, Position};
use crate::qa::rooms::{self, Audience, Recipient, RoomEvent, RoomRef};
use crate::qa::rules::{new_broadcast, Change, Policy, QaState};
use crate::qa::stats::{self, FaqGroup, Stats};
use crate::qa::{Broadcast, BroadcastId, BroadcastPatch, NewBroadcast, QaCommand, QaReply, Question, QuestionId};

/// Letters that can't be mistaken for one another when read aloud or typed from a screen (no I, L, O).
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ";
const CODE_LEN: usize = 6;

struct Entry {
    state: QaState,
    public: RoomLog,
    moderation: RoomLog,
    /// Questions whose vote count changed since they were last flushed (when votes are coalesced).
    dirty_votes: DirtyVotes,
}

/// Questions with unpublished vote counts, in the order they first changed: a flush takes the oldest first, so
/// with more changed questions than one flush may publish, none waits longer than its turn.
#[derive(Default)]
struct DirtyVotes {
    order: VecDeque<QuestionId>,
    members: HashSet<QuestionId>,
}

impl DirtyVotes {
    fn mark(&mut self, id: QuestionId) {
        if self.members.insert(id) {
            self.order.push_back(id);
        }
    }

    /// Takes up to `n` of the oldest; the rest stay for the next flush.
    fn take(&mut self, n: usize) -> Vec<QuestionId> {
        let taken: Vec<QuestionId> = self.order.drain(..n.min(self.order.len())).collect();
        for id in &taken {
            self.members.remove(id);
        }
        taken
    }

    fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

impl Entry {
    fn log(&self, audience: Audience) -> &RoomLog {
        match audience {
            Audience::Public => &self.public,
            Audience::Moderation => &self.moderation,
        }
    }
}

pub struct MemoryStore {
    broadcasts: DashMap<BroadcastId, Arc<Mutex<Entry>>>,
    codes: DashMap<String, BroadcastId>,
    next_broadcast: AtomicU64,
    next_question: AtomicU64,
    /// Changes with every process: this store's history dies with it.
    epoch: String,
    history_len: usize,
    policy: Arc<Policy>,
    bus: Arc<dyn Bus>,
    /// Where authors hear of their questions' fate.
    personal: Arc<MemoryPersonal>,
    /// Each author's most recent questions, newest last (at most `OWN_QUESTIONS`).
    authored: DashMap<String, VecDeque<(BroadcastId, QuestionId)>>,
    /// Publish vote counts at most once per flush interval instead of once per vote.
    coalesce_votes: bool,
    /// Most vote-count events per broadcast per flush (`--vote-events-per-flush`).
    vote_events_per_flush: usize,
    /// Broadcasts with vote counts waiting for the next flush.
    dirty: Mutex<HashSet<BroadcastId>>,
}

impl MemoryStore {
    /// With `--vote-flush-ms`, vote-count events wait for [`Store::flush_votes`], so 10,000 votes in a second
    /// cost viewers a few events, not 10,000.
    pub fn new(
        policy: Arc<Policy>,
        bus: Arc<dyn Bus>,
        personal: Arc<MemoryPersonal>,
        history_len: usize,
        config: &crate::Config,
    ) -> Self {
        MemoryStore {
            personal,
            authored: DashMap::new(),
            coalesce_votes: config.vote_flush_ms > 0,
            vote_events_per_flush: config.vote_events_per_flush.max(1),
            dirty: Mutex::new(HashSet::new()),
            broadcasts: DashMap::new(),
            codes: DashMap::new(),
            next_broadcast: AtomicU64::new(1),
            next_question: AtomicU64::new(1),
            epoch: new_epoch(),
            history_len,
            policy,
            bus,
        }
    }

    fn entry(&self, id: BroadcastId) -> Result<Arc<Mutex<Entry>>> {
        self.broadcasts.get(&id).map(|e| Arc::clone(e.value())).ok_or_else(|| Error::not_found("No such broadcast."))
    }

    fn new_code(&self) -> String {
        let mut rng = rand::rng();
        loop {
            let code: String =
                (0..CODE_LEN).map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char).collect();
            if !self.codes.contains_key(&code) {
                return code;
            }
        }
    }

    /// Sequences, records and publishes the events of one change. Called with the entry locked.
    fn publish(&self, entry: &mut Entry, events: Vec<(Recipient, RoomEvent)>) {
        for (recipient, event) in events {
            let audience = match recipient {
                Recipient::Room(audience) => audience,
                Recipient::Author(sub) => {
                    self.personal.publish(&sub, |room, seq| protocol::qa::event(room, seq, Audience::Public, &event));
                    continue;
                }
            };
            let log = match audience {
                Audience::Public => &mut entry.public,
                Audience::Moderation => &mut entry.moderation,
            };
            let (seq, frame) =
                log.append(self.history_len, |room, seq| protocol::qa::event(room, seq, audience, &event));
            self.bus.publish(&log.key, seq, &frame);
        }
    }

    /// Remembers a new question under its author, for their personal stream's snapshot.
    fn record_authored(&self, question: &Question) {
        let mut mine = self.authored.entry(question.author_sub.clone()).or_default();
        if mine.len() >= OWN_QUESTIONS {
            mine.pop_front();
        }
        mine.push_back((question.broadcast, question.id));
    }
}

/// A fresh random epoch: in memory every history dies with the process.
pub fn new_epoch() -> String {
    format!("{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff)
}

fn lock(entry: &Arc<Mutex<Entry>>) -> std::sync::MutexGuard<'_, Entry> {
    entry.lock().expect("BUG: broadcast lock poisoned (a rule panicked)")
}

#[async_trait]
impl QaStore for MemoryStore {
    async fn create_broadcast(&self, new: NewBroadcast) -> Result<Broadcast> {
        let id = self.next_broadcast.fetch_add(1, Relaxed);
        let code = self.new_code();
        let broadcast = new_broadcast(id, code.clone(), new, &self.policy, unix_millis())?;
        let entry = Entry {
            state: QaState::new(broadcast.clone()),
            public: RoomLog::new(RoomRef::public(id).key()),
            moderation: RoomLog::new(RoomRef::moderation(id).key()),
            dirty_votes: DirtyVotes::default(),
        };
        self.broadcasts.insert(id, Arc::new(Mutex::new(entry)));
        self.codes.insert(code, id);
        Ok(broadcast)
    }

    async fn update_broadcast(&self, id: BroadcastId, patch: BroadcastPatch) -> Result<Broadcast> {
        let entry = self.entry(id)?;
        let mut entry = lock(&entry);
        let changes = entry.state.update_broadcast(patch, &self.policy, unix_millis())?;
        let events = rooms::route(&entry.state, &changes);
        self.publish(&mut entry, events);
        Ok(entry.state.broadcast.clone())
    }

    async fn broadcast(&self, id: BroadcastId) -> Result<Broadcast> {
        Ok(lock(&self.entry(id)?).state.broadcast.clone())
    }

    async fn broadcast_by_code(&self, code: &str) -> Result<Broadcast> {
        let id = self.codes.get(&code.trim().to_uppercase()).map(|e| *e.value());
        self.broadcast(id.ok_or_else(|| Error::not_found("No broadcast has this code."))?).await
    }

    async fn broadcasts(&self) -> Result<Vec<Broadcast>> {
        let entries: Vec<_> = self.broadcasts.iter().map(|e| Arc::clone(e.value())).collect();
        Ok(entries.iter().map(|e| lock(e).state.broadcast.clone()).collect())
    }

    async fn execute(
        &self,
        broadcast: BroadcastId,
        actor: &User,
        command: QaCommand,
        gate: &dyn Admission,
    ) -> Result<QaReply> {
        let entry = self.entry(broadcast)?;
        let mut entry = lock(&entry);
        // The rules charge `gate` under this lock, at the point where the command is certain to change something.
        let applied = entry.state.apply(
            actor,
            command,
            &self.policy,
            gate,
            || self.next_question.fetch_add(1, Relaxed),
            unix_millis(),
        )?;
        let mut changes = applied.changes;
        if self.coalesce_votes {
            let before = changes.len();
            changes.retain(|change| match change {
                Change::Votes { id } => {
                    entry.dirty_votes.mark(*id);
                    false
                }
                _ => true,
            });
            if changes.len() != before {
                self.dirty.lock().expect("BUG: dirty lock poisoned").insert(broadcast);
            }
        }
        let events = rooms::route(&entry.state, &changes);
        self.publish(&mut entry, events);
        if let QaReply::Asked { question, duplicate: false } = &applied.reply {
            self.record_authored(question);
        }
        Ok(applied.reply)
    }

    async fn snapshot(&self, room: RoomRef, viewer: &User) -> Result<Snapshot> {
        let entry = self.entry(room.broadcast)?;
        let entry = lock(&entry);
        let data = rooms::snapshot(&entry.state, room.audience, viewer);
        let log = entry.log(room.audience);
        Ok(Snapshot {
            epoch: self.epoch.clone(),
            seq: log.seq,
            frame: protocol::qa::snapshot(&log.key, &self.epoch, log.seq, &data),
        })
    }

    async fn replay(&self, room: RoomRef, since: &Position) -> Result<Option<Replay>> {
        let entry = self.entry(room.broadcast)?;
        let entry = lock(&entry);
        Ok(entry.log(room.audience).replay(&self.epoch, since))
    }

    async fn own_questions(&self, sub: &str) -> Result<Vec<(Question, bool)>> {
        let ids: Vec<(BroadcastId, QuestionId)> =
            self.authored.get(sub).map(|mine| mine.iter().rev().copied().collect()).unwrap_or_default();
        let mut own = Vec::with_capacity(ids.len());
        for (broadcast, id) in ids {
            let Ok(entry) = self.entry(broadcast) else { continue };
            let entry = lock(&entry);
            if let Some(q) = entry.state.questions.get(&id) {
                own.push((q.clone(), entry.state.pinned == Some(id)));
            }
        }
        Ok(own)
    }

    async fn record_participant(&self, broadcast: BroadcastId, user: &User, concurrent: u32) -> Result<()> {
        lock(&self.entry(broadcast)?).state.record_participant(user, concurrent);
        Ok(())
    }

    async fn record_concurrent(&self, broadcast: BroadcastId, concurrent: u32) -> Result<u32> {
        lock(&self.entry(broadcast)?).state.record_concurrent(concurrent);
        Ok(concurrent)
    }

    async fn stats(&self, broadcast: BroadcastId) -> Result<Stats> {
        Ok(stats::stats(&lock(&self.entry(broadcast)?).state))
    }

    async fn flush_votes(&self) -> Result<()> {
        let dirty: Vec<BroadcastId> = self.dirty.lock().expect("BUG: dirty lock poisoned").drain().collect();
        for broadcast in dirty {
            let Ok(entry) = self.entry(broadcast) else { continue };
            let mut entry = lock(&entry);
            let ids = entry.dirty_votes.take(self.vote_events_per_flush);
            let changes: Vec<Change> = ids.into_iter().map(|id| Change::Votes { id }).collect();
            let events = rooms::route(&entry.state, &changes);
            self.publish(&mut entry, events);
            if !entry.dirty_votes.is_empty() {
                self.dirty.lock().expect("BUG: dirty lock poisoned").insert(broadcast);
            }
        }
        Ok(())
    }

    async fn faq(&self) -> Result<Vec<FaqGroup>> {
        let entries: Vec<_> = self.broadcasts.iter().map(|e| Arc::clone(e.value())).collect();
        let mut groups: Vec<FaqGroup> = entries.iter().filter_map(|e| stats::faq_group(&lock(e).state)).collect();
        groups
            .sort_by(|a, b| b.broadcast.ended_at.cmp(&a.broadcast.ended_at).then(b.broadcast.id.cmp(&a.broadcast.id)));
        Ok(groups)
    }
}

impl Backend for MemoryStore {}

#[cfg(test)]
mod tests {
    use super::DirtyVotes;

    #[test]
    fn dirty_vote_counts_are_flushed_oldest_first_and_at_most_n_at_a_time() {
        let mut dirty = DirtyVotes::default();
        for id in [30, 10, 20, 10, 40] {
            dirty.mark(id);
        }
        assert_eq!(dirty.take(2), vec![30, 10]);
        // Marked again after its flush: back of the line, behind those still waiting.
        dirty.mark(30);
        assert_eq!(dirty.take(2), vec![20, 40]);
        assert_eq!(dirty.take(2), vec![30]);
        assert!(dirty.is_empty());
        assert!(dirty.take(2).is_empty());
    }
}
