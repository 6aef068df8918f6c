//! The in-memory chat store: the single-node default. The desk, every chat, their rooms' logs and the REST
//! records sit behind one std mutex; a command runs the rules, settles its effects, assigns seqs, appends to
//! the histories and publishes, all inside it (the lock order is chat world, then person: the personal
//! streams never take another lock).
//!
//! Why one lock and not one per chat: a desk command moves several chats at once and routes from the whole
//! desk; one lock makes that trivially atomic, and a command's work under it is microseconds (the rules and the
//! encoding of a few frames).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use super::memory_retention::Retention;
use super::{ChatStore, Forgotten};
use crate::auth::{unix_millis, User};
use crate::bus::Bus;
use crate::chat::canned::{self, Canned, NewCanned};
use crate::chat::desk::Desk;
use crate::chat::hours::Schedule;
use crate::chat::offline::{OfflineForm, OfflineMessage, OfflineStatus, Submitted};
use crate::chat::policy::{ChatPolicy, ConsentLine};
use crate::chat::report::ChatReport;
use crate::chat::rooms::{self, ChatRoom, Routed, Scope, StartInfo, UserSnapshot};
use crate::chat::rules::{
    settle, Applied, ChatCommand, ChatReply, ChatState, DeskApplied, DeskCommand, DeskReply, Posted, StartContext,
    Started,
};
use crate::chat::transcript::Transcript;
use crate::chat::{CannedId, Chat, ChatId, OfflineId, Party, StartForm};
use crate::error::{Error, Result};
use crate::limits::{Admission, Charge};
use crate::protocol::{self, Position};
use crate::store::log::RoomLog;
use crate::store::memory::new_epoch;
use crate::store::{MemoryPersonal, Replay, Snapshot};

/// The two rooms of one chat.
pub(super) struct ChatLogs {
    citizen: RoomLog,
    staff: RoomLog,
}

/// Everything the chat keeps, under one lock.
pub(super) struct World {
    pub(super) desk: Desk,
    pub(super) chats: BTreeMap<ChatId, ChatState>,
    pub(super) logs: HashMap<ChatId, ChatLogs>,
    desk_log: RoomLog,
    pub(super) canned: BTreeMap<CannedId, Canned>,
    pub(super) schedule: Schedule,
    pub(super) offline: BTreeMap<OfflineId, OfflineMessage>,
    /// The chats each citizen started, so that a citizen's connection coming or going (every citizen's, also
    /// those who never chat) costs a lookup, not a pass over the desk.
    pub(super) started_by: HashMap<String, Vec<ChatId>>,
    /// What ended or was settled, in order, for forgetting it (`memory_retention.rs`).
    pub(super) retention: Retention,
    next_chat: ChatId,
    pub(super) next_canned: CannedId,
    pub(super) next_offline: OfflineId,
}

impl World {
    fn logs(&mut self, id: ChatId) -> &mut ChatLogs {
        self.logs.entry(id).or_insert_with(|| ChatLogs {
            citizen: RoomLog::new(ChatRoom::Citizen(id).key()),
            staff: RoomLog::new(ChatRoom::Staff(id).key()),
        })
    }
}

pub struct MemoryChat {
    world: Mutex<World>,
    /// Changes with every process: this store's history dies with it.
    pub(super) epoch: String,
    history_len: usize,
    pub(super) policy: ChatPolicy,
    /// Most ended chats kept (`--chat-max-ended-chats`).
    pub(super) max_ended_chats: usize,
    pub(super) consent: ConsentLine,
    bus: Arc<dyn Bus>,
    personal: Arc<MemoryPersonal>,
}

impl MemoryChat {
    pub fn new(bus: Arc<dyn Bus>, personal: Arc<MemoryPersonal>, config: &crate::Config) -> Self {
        MemoryChat {
            world: Mutex::new(World {
                desk: Desk::default(),
                chats: BTreeMap::new(),
                logs: HashMap::new(),
                desk_log: RoomLog::new(ChatRoom::Desk.key()),
                canned: BTreeMap::new(),
                schedule: Schedule::default(),
                offline: BTreeMap::new(),
                started_by: HashMap::new(),
                retention: Retention::default(),
                next_chat: 1,
                next_canned: 1,
                next_offline: 1,
            }),
            epoch: new_epoch(),
            history_len: config.history_len.max(1),
            policy: config.chat.policy(),
            max_ended_chats: config.chat.max_ended_chats,
            consent: config.chat.consent(),
            bus,
            personal,
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, World> {
        self.world.lock().expect("BUG: chat lock poisoned (a rule panicked)")
    }

    /// Routes a command's changes, then sequences, records and publishes each event; then revokes the staff
    /// rooms of agents who handed a chat on. Called with the world locked.
    pub(super) fn publish(&self, w: &mut World, applied_changes: &[crate::chat::rules::Change], now: u64) {
        let routed = {
            let scope = Scope { desk: Some(&w.desk), chats: &w.chats, policy: &self.policy, now };
            rooms::route(applied_changes, &scope)
        };
        for event in routed {
            let key = event.room().key();
            if event.is_ephemeral() {
                if let Some(frame) = protocol::chat::typing(&key, &event) {
                    self.bus.publish_frame(&key, &frame);
                }
                continue;
            }
            let log = match &event {
                Routed::User(sub, _) => {
                    self.personal.publish(sub, |room, seq| protocol::chat::event(room, seq, &event));
                    continue;
                }
                Routed::Desk(_) => &mut w.desk_log,
                Routed::Citizen(id, _) => &mut w.logs(*id).citizen,
                Routed::Staff(id, _) => &mut w.logs(*id).staff,
            };
            let (seq, frame) = log.append(self.history_len, |room, seq| protocol::chat::event(room, seq, &event));
            self.bus.publish(&log.key, seq, &frame);
        }
        for (agent, room) in rooms::revoked(applied_changes) {
            self.bus.revoke(&room.key(), &agent);
        }
        w.note_ended(applied_changes);
    }

    /// Settles a desk command's effects on the chats and publishes everything. Called with the world locked.
    fn settle_and_publish<R>(&self, w: &mut World, applied: DeskApplied<R>, now: u64) -> Result<R> {
        let Applied { reply, changes } = settle(applied, &mut w.chats, &self.policy, now)?;
        debug_assert!(w.desk.check().is_ok(), "desk invariants: {:?}", w.desk.check());
        self.publish(w, &changes, now);
        Ok(reply)
    }
}

#[async_trait]
impl ChatStore for MemoryChat {
    async fn start(&self, actor: &User, form: StartForm, gate: &dyn Admission) -> Result<Started> {
        let now = unix_millis();
        let mut guard = self.lock();
        let w = &mut *guard;
        if let Some(started) = w.desk.started_before(actor, &form, &self.policy, now) {
            return Ok(started);
        }
        // What the desk would refuse anyway is said first (the page then offers an offline message); the limit
        // looks without taking: only a chat that really starts is charged.
        w.desk.admits_start(actor, form.lang, &w.schedule, &self.policy, now)?;
        gate.check(Charge::ChatStart)?;
        let id = w.next_chat;
        let ctx = StartContext { schedule: &w.schedule, consent: &self.consent };
        let (state, applied) = w.desk.start(actor, form, id, &ctx, &self.policy, now)?;
        gate.charge(Charge::ChatStart);
        w.next_chat += 1;
        w.chats.insert(id, state);
        w.started_by.entry(actor.sub.clone()).or_default().push(id);
        self.settle_and_publish(w, applied, now)
    }

    async fn execute(
        &self,
        chat: ChatId,
        actor: &User,
        command: ChatCommand,
        gate: &dyn Admission,
    ) -> Result<ChatReply> {
        let now = unix_millis();
        let mut guard = self.lock();
        let w = &mut *guard;
        let state = w.chats.get_mut(&chat).ok_or_else(|| Error::not_found("No such chat."))?;
        let mut shortcut = None;
        if let ChatCommand::Send { text, client_msg_id } = &command {
            let retry = client_msg_id.as_deref().and_then(|id| state.posted_by(&actor.sub, id));
            if !matches!(retry, Some(Posted::Message(_))) {
                gate.check(Charge::ChatMessage)?;
            }
            if state.chat.party(actor) == Some(Party::Agent) {
                shortcut = canned::shortcut_of(text);
            }
        }
        let canned = shortcut.and_then(|s| w.canned.values().find(|c| c.shortcut == s));
        let applied = state.apply(actor, command, canned, &self.policy, now)?;
        if matches!(applied.reply, ChatReply::Sent { duplicate: false, .. }) {
            gate.charge(Charge::ChatMessage);
        }
        self.publish(w, &applied.changes, now);
        Ok(applied.reply)
    }

    async fn desk(&self, actor: &User, command: DeskCommand) -> Result<DeskReply> {
        let now = unix_millis();
        let mut guard = self.lock();
        let w = &mut *guard;
        let header = command.chat().and_then(|id| w.chats.get(&id)).map(|s| s.chat.clone());
        let applied = w.desk.apply(actor, command, header.as_ref(), &self.policy, now)?;
        self.settle_and_publish(w, applied, now)
    }

    async fn agent_connected(&self, user: &User) -> Result<()> {
        let now = unix_millis();
        let mut guard = self.lock();
        let w = &mut *guard;
        let applied = w.desk.agent_connected(user, &self.policy, now);
        self.settle_and_publish(w, applied, now)
    }

    async fn agent_disconnected(&self, sub: &str) -> Result<()> {
        let now = unix_millis();
        let mut guard = self.lock();
        let w = &mut *guard;
        let applied = w.desk.agent_disconnected(sub, now);
        self.settle_and_publish(w, applied, now)
    }

    async fn citizen_presence(&self, sub: &str, present: bool) -> Result<()> {
        let now = unix_millis();
        let mut guard = self.lock();
        let w = &mut *guard;
        let Some(started) = w.started_by.get(sub) else { return Ok(()) };
        let open: Vec<ChatId> = started.iter().copied().filter(|id| w.desk.open.contains_key(id)).collect();
        for chat in open {
            let applied = w.desk.citizen_presence(chat, sub, present, &self.policy, now)?;
            self.settle_and_publish(w, applied, now)?;
        }
        Ok(())
    }

    async fn sweep(&self) -> Result<()> {
        let now = unix_millis();
        let mut guard = self.lock();
        let w = &mut *guard;
        let applied = w.desk.sweep(&self.policy, now);
        self.settle_and_publish(w, applied, now)
    }

    async fn forget_expired(&self) -> Result<Forgotten> {
        Ok(self.retention_forget(unix_millis()))
    }

    async fn chat(&self, chat: ChatId) -> Result<Chat> {
        let w = self.lock();
        w.chats.get(&chat).map(|s| s.chat.clone()).ok_or_else(|| Error::not_found("No such chat."))
    }

    async fn snapshot(&self, room: &ChatRoom, _viewer: &User) -> Result<Snapshot> {
        let now = unix_millis();
        let mut guard = self.lock();
        let w = &mut *guard;
        let no_chat = || Error::not_found("No such chat.");
        let (seq, frame) = match room {
            ChatRoom::Citizen(id) => {
                // The chat first: a log is never made for a chat that is not (or no longer) kept.
                w.chats.get(id).ok_or_else(no_chat)?;
                let seq = w.logs(*id).citizen.seq;
                let state = w.chats.get(id).ok_or_else(no_chat)?;
                let data = rooms::citizen_snapshot(state, &w.desk, &self.policy, now);
                (seq, protocol::chat::citizen_snapshot(&room.key(), &self.epoch, seq, &data))
            }
            ChatRoom::Staff(id) => {
                w.chats.get(id).ok_or_else(no_chat)?;
                let seq = w.logs(*id).staff.seq;
                let state = w.chats.get(id).ok_or_else(no_chat)?;
                let data = rooms::staff_snapshot(state, &w.desk, &self.policy, now);
                (seq, protocol::chat::staff_snapshot(&room.key(), &self.epoch, seq, &data))
            }
            ChatRoom::Desk => {
                let seq = w.desk_log.seq;
                let open = w.offline.values().filter(|m| m.status == OfflineStatus::Open).count() as u64;
                let data = rooms::desk_snapshot(&w.desk, open, &self.policy, now);
                (seq, protocol::chat::desk_snapshot(&room.key(), &self.epoch, seq, &data))
            }
            ChatRoom::User(_) => return Err(Error::internal("the personal stream's snapshot is not the chat's")),
        };
        Ok(Snapshot { epoch: self.epoch.clone(), seq, frame })
    }

    async fn replay(&self, room: &ChatRoom, since: &Position) -> Result<Option<Replay>> {
        let mut w = self.lock();
        Ok(match room {
            ChatRoom::Citizen(id) | ChatRoom::Staff(id) if !w.chats.contains_key(id) => None,
            ChatRoom::Citizen(id) => w.logs(*id).citizen.replay(&self.epoch, since),
            ChatRoom::Staff(id) => w.logs(*id).staff.replay(&self.epoch, since),
            ChatRoom::Desk => w.desk_log.replay(&self.epoch, since),
            ChatRoom::User(_) => None,
        })
    }

    async fn user_part(&self, viewer: &User) -> Result<UserSnapshot> {
        let w = self.lock();
        Ok(rooms::user_snapshot(viewer, &w.desk, &self.policy))
    }

    async fn start_info(&self, viewer: Option<&User>) -> Result<StartInfo> {
        self.records_start_info(viewer)
    }

    async fn transcript(&self, chat: ChatId, viewer: &User) -> Result<Transcript> {
        self.records_transcript(chat, viewer)
    }

    async fn submit_offline(&self, actor: &User, form: OfflineForm, gate: &dyn Admission) -> Result<Submitted> {
        self.records_submit_offline(actor, form, gate)
    }

    async fn offline(
        &self,
        viewer: &User,
        status: Option<OfflineStatus>,
        before: Option<OfflineId>,
        limit: usize,
    ) -> Result<Vec<OfflineMessage>> {
        self.records_offline(viewer, status, before, limit)
    }

    async fn answer_offline(&self, actor: &User, id: OfflineId, text: String) -> Result<OfflineMessage> {
        self.records_answer_offline(actor, id, text)
    }

    async fn close_offline(&self, actor: &User, id: OfflineId) -> Result<OfflineMessage> {
        self.records_close_offline(actor, id)
    }

    async fn canned(&self) -> Result<Vec<Canned>> {
        self.records_canned()
    }

    async fn upsert_canned(&self, actor: &User, id: Option<CannedId>, new: NewCanned) -> Result<Canned> {
        self.records_upsert_canned(actor, id, new)
    }

    async fn delete_canned(&self, actor: &User, id: CannedId) -> Result<()> {
        self.records_delete_canned(actor, id)
    }

    async fn hours(&self) -> Result<Schedule> {
        Ok(self.lock().schedule.clone())
    }

    async fn set_hours(&self, actor: &User, schedule: Schedule) -> Result<Schedule> {
        self.records_set_hours(actor, schedule)
    }

    async fn report(&self, actor: &User, from: u64, to: u64) -> Result<ChatReport> {
        self.records_report(actor, from, to)
    }
}
