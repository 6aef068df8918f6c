//! The desk's small records: canned responses, offline messages and the business hours. Each set has a version
//! of its own, so its changes never conflict with routing; each change commits with its event to the `desk`
//! room in one script.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use redis::Value;

use super::keys;
use super::plan::Plan;
use super::scripts::{LOAD_OFFLINE_SCRIPT, LOAD_SET_SCRIPT, OFFLINE_PAGE_SCRIPT};
use super::state::json as stored;
use super::{backoff, gave_up, Committed, RedisChat, CANNED_IDS, MAX_ATTEMPTS, OFFLINE_IDS};
use crate::auth::{unix_millis, User};
use crate::chat::canned::{self, Canned, NewCanned};
use crate::chat::hours::Schedule;
use crate::chat::offline::{self, OfflineForm, OfflineMessage, OfflineStatus, Submitted};
use crate::chat::rooms::{self, Scope};
use crate::chat::rules::Change;
use crate::chat::{is_supervisor, CannedId, OfflineId};
use crate::error::{Error, Result};
use crate::redis_mode::state::Items;

/// One versioned set, loaded.
struct Set<T> {
    version: String,
    records: Vec<T>,
}

/// What one change to a set does.
struct SetChange<R> {
    reply: R,
    /// The records to write, by id.
    write: Vec<(u64, String)>,
    /// The records to delete.
    delete: Vec<u64>,
    /// Index changes: `(set key, member, present)`.
    members: Vec<(String, String, bool)>,
    changes: Vec<Change>,
}

impl<R> SetChange<R> {
    fn new(reply: R) -> Self {
        SetChange { reply, write: vec![], delete: vec![], members: vec![], changes: vec![] }
    }
}

fn json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(Error::internal)
}

impl RedisChat {
    async fn load_set<T: serde::de::DeserializeOwned>(
        &self,
        generation: &str,
        hash: &str,
        ver: &str,
    ) -> Result<Option<Set<T>>> {
        let mut call = LOAD_SET_SCRIPT.prepare_invoke();
        call.arg(generation).arg(hash).arg(ver);
        let mut conn = self.redis.conn();
        let Some(reply) = self.redis.attempt::<Value>("load records", call.invoke_async(&mut conn)).await? else {
            return Ok(None);
        };
        let mut items = Items::new(reply)?;
        let version = items.text()?;
        let records = items
            .texts()?
            .iter()
            .map(|r| serde_json::from_str(r).map_err(|e| Error::internal(format_args!("stored record: {e}"))))
            .collect::<Result<Vec<T>>>()?;
        Ok(Some(Set { version, records }))
    }

    /// Runs one change on the set `hash` (version `ver`) to its commit. `counter`: the change takes a new id.
    async fn on_set<T, R>(
        &self,
        hash: &str,
        ver: &str,
        counter: Option<usize>,
        mut run: impl FnMut(&[T], u64, u64) -> Result<SetChange<R>>,
    ) -> Result<R>
    where
        T: serde::de::DeserializeOwned,
    {
        let mut id = None;
        for attempt in 0..MAX_ATTEMPTS {
            let generation = self.redis.generation().await?;
            let Some(set) = self.load_set::<T>(&generation, hash, ver).await? else {
                self.redis.adopt_after(&generation).await?;
                id = None;
                continue;
            };
            if let (Some(counter), None) = (counter, id) {
                match self.next_id(&generation, counter).await? {
                    Some(new) => id = Some(new),
                    None => {
                        self.redis.adopt_after(&generation).await?;
                        continue;
                    }
                }
            }
            let now = unix_millis();
            let change = run(&set.records, id.unwrap_or(0), now)?;
            let mut plan = Plan::default();
            plan.check(ver.to_string(), &set.version);
            for (record, value) in change.write {
                plan.record(hash.to_string(), record.to_string(), value, ver.to_string());
            }
            for record in change.delete {
                plan.hdel(hash.to_string(), record.to_string());
                plan.bump(ver.to_string());
            }
            for (set_key, member, present) in change.members {
                plan.member(set_key, member, present);
            }
            let chats = BTreeMap::new();
            let scope = Scope { desk: None, chats: &chats, policy: &self.policy, now };
            plan.route(rooms::route(&change.changes, &scope), self.bounds)?;
            match self.commit(&generation, &plan).await? {
                Committed::Done => return Ok(change.reply),
                Committed::Moved | Committed::Present => backoff(attempt).await,
                Committed::Fenced => {
                    self.redis.adopt_after(&generation).await?;
                    id = None;
                }
            }
        }
        Err(gave_up("records"))
    }

    pub async fn canned(&self) -> Result<Vec<Canned>> {
        let set = self.read_set::<Canned>(&keys::desk("canned"), &keys::desk("cver")).await?;
        let mut records = set.records;
        records.sort_by(|a, b| a.shortcut.cmp(&b.shortcut));
        Ok(records)
    }

    /// Creates a canned response (`id` `None`) or replaces one.
    pub async fn put_canned(&self, actor: &User, id: Option<CannedId>, new: NewCanned) -> Result<Canned> {
        admin_only(actor, "manage canned responses")?;
        let counter = id.is_none().then_some(CANNED_IDS);
        self.on_set::<Canned, _>(&keys::desk("canned"), &keys::desk("cver"), counter, |existing, new_id, now| {
            let id = id.unwrap_or(new_id);
            if !existing.iter().any(|c| c.id == id) && counter.is_none() {
                return Err(Error::not_found("No such canned response."));
            }
            let canned = canned::upsert(existing, id, new.clone(), &self.policy, now)?;
            let mut change = SetChange::new(canned.clone());
            change.write.push((id, json(&canned)?));
            change.changes.push(Change::Canned(Box::new(canned)));
            Ok(change)
        })
        .await
    }

    pub async fn remove_canned(&self, actor: &User, id: CannedId) -> Result<()> {
        admin_only(actor, "manage canned responses")?;
        self.on_set::<Canned, _>(&keys::desk("canned"), &keys::desk("cver"), None, |existing, _, _| {
            if !existing.iter().any(|c| c.id == id) {
                return Err(Error::not_found("No such canned response."));
            }
            let mut change = SetChange::new(());
            change.delete.push(id);
            change.changes.push(Change::CannedRemoved(id));
            Ok(change)
        })
        .await
    }

    /// Every offline message, newest first.
    pub async fn offline_messages(&self) -> Result<Vec<OfflineMessage>> {
        let set = self.read_set::<OfflineMessage>(&keys::desk("offline"), &keys::desk("over")).await?;
        let mut records = set.records;
        records.sort_by_key(|m| std::cmp::Reverse(m.id));
        Ok(records)
    }

    /// A page of the offline inbox, newest first: with `status`, only those; with `before`, only older ids; at
    /// most `limit` (see `OFFLINE_PAGE`: it reads what the page shows, not the whole inbox).
    pub async fn offline_page(
        &self,
        status: Option<OfflineStatus>,
        before: Option<OfflineId>,
        limit: usize,
    ) -> Result<Vec<OfflineMessage>> {
        let reply = self
            .fenced_read(|generation| async move {
                let mut call = OFFLINE_PAGE_SCRIPT.prepare_invoke();
                call.arg(&*generation)
                    .arg(before.map(|b| b.to_string()).unwrap_or_default())
                    .arg(limit)
                    .arg(status.map_or("", OfflineStatus::as_str));
                let mut conn = self.redis.conn();
                self.redis.attempt::<Value>("offline page", call.invoke_async(&mut conn)).await
            })
            .await?;
        Items::new(reply)?.texts()?.iter().map(|r| stored(r)).collect()
    }

    /// A read behind the fence: `read` answers `None` when the fence refused it (Redis changed generation), and
    /// is tried again on the current one, a few times.
    async fn fenced_read<T, F, Fut>(&self, mut read: F) -> Result<T>
    where
        F: FnMut(Arc<str>) -> Fut,
        Fut: Future<Output = Result<Option<T>>>,
    {
        for _ in 0..3 {
            let generation = self.redis.generation().await?;
            match read(Arc::clone(&generation)).await? {
                Some(found) => return Ok(found),
                None => {
                    self.redis.adopt_after(&generation).await?;
                }
            }
        }
        Err(Error::unavailable())
    }

    /// Loads one offline message (if `id`) and `citizen`'s open ones.
    async fn load_offline(
        &self,
        generation: &str,
        id: Option<OfflineId>,
        citizen: Option<&str>,
    ) -> Result<Option<(String, Option<OfflineMessage>, Vec<OfflineMessage>)>> {
        let mut call = LOAD_OFFLINE_SCRIPT.prepare_invoke();
        call.arg(generation).arg(id.map(|i| i.to_string()).unwrap_or_default()).arg(citizen.unwrap_or(""));
        let mut conn = self.redis.conn();
        let Some(reply) = self.redis.attempt::<Value>("load offline", call.invoke_async(&mut conn)).await? else {
            return Ok(None);
        };
        let mut items = Items::new(reply)?;
        let version = items.text()?;
        let record = items.text()?;
        let open = items.texts()?.iter().map(|r| stored(r)).collect::<Result<_>>()?;
        let record = (!record.is_empty()).then(|| stored(&record)).transpose()?;
        Ok(Some((version, record, open)))
    }

    /// One change to the offline inbox to its commit: `run` gets the message `id` names (if any), the citizen's
    /// count of open ones, a new id (if no `id`) and the time, and returns the message as it is after. A form
    /// sent again (`retried`, given the citizen's open ones) is answered with what it left, and writes nothing.
    async fn on_offline(
        &self,
        id: Option<OfflineId>,
        citizen: Option<&str>,
        retried: impl Fn(&[OfflineMessage]) -> Option<OfflineMessage>,
        mut run: impl FnMut(Option<OfflineMessage>, usize, OfflineId, u64) -> Result<OfflineMessage>,
    ) -> Result<Submitted> {
        let mut new_id = None;
        for attempt in 0..MAX_ATTEMPTS {
            let generation = self.redis.generation().await?;
            let Some((version, record, open)) = self.load_offline(&generation, id, citizen).await? else {
                self.redis.adopt_after(&generation).await?;
                new_id = None;
                continue;
            };
            if let Some(message) = retried(&open) {
                return Ok(Submitted { message, duplicate: true });
            }
            if id.is_none() && new_id.is_none() {
                match self.next_id(&generation, OFFLINE_IDS).await? {
                    Some(n) => new_id = Some(n),
                    None => {
                        self.redis.adopt_after(&generation).await?;
                        continue;
                    }
                }
            }
            let now = unix_millis();
            let message = run(record, open.len(), new_id.unwrap_or(0), now)?;
            let mut plan = Plan::default();
            let (hash, ver) = (keys::desk("offline"), keys::desk("over"));
            plan.check(ver.clone(), &version);
            plan.record(hash, message.id.to_string(), json(&message)?, ver);
            let is_open = message.status == OfflineStatus::Open;
            plan.scored(keys::desk("offline:ids"), message.id, message.id.to_string());
            plan.member(keys::desk("offline:open"), message.id.to_string(), is_open);
            plan.member(keys::desk(&format!("offline:of:{}", message.citizen_sub)), message.id.to_string(), is_open);
            // Its latest settlement, whence its retention counts (`forget_expired`).
            if let Some(at) = message.settled_at() {
                plan.scored(keys::desk("offline:settled"), at, message.id.to_string());
            }
            let changes = vec![Change::Offline(Box::new(message.clone()))];
            let chats = BTreeMap::new();
            let scope = Scope { desk: None, chats: &chats, policy: &self.policy, now };
            plan.route(rooms::route(&changes, &scope), self.bounds)?;
            match self.commit(&generation, &plan).await? {
                Committed::Done => return Ok(Submitted { message, duplicate: false }),
                Committed::Moved | Committed::Present => backoff(attempt).await,
                Committed::Fenced => {
                    self.redis.adopt_after(&generation).await?;
                    new_id = None;
                }
            }
        }
        Err(gave_up("offline"))
    }

    /// A citizen leaves an offline message: the form sent again is answered with what it left; then `admit`
    /// (the citizen's offline limit, which looks without taking) may refuse it.
    pub async fn submit_offline(
        &self,
        actor: &User,
        form: OfflineForm,
        admit: &(dyn Fn() -> Result<()> + Send + Sync),
    ) -> Result<Submitted> {
        let retried = |open: &[OfflineMessage]| offline::left_before(actor, &form, open);
        self.on_offline(None, Some(&actor.sub), retried, |_, open, id, now| {
            admit()?;
            offline::submit(id, actor, form.clone(), open, &self.policy, now)
        })
        .await
    }

    /// Answers (`answer` set) or closes an offline message.
    pub async fn settle_offline(&self, actor: &User, id: OfflineId, answer: Option<String>) -> Result<OfflineMessage> {
        let settled = self
            .on_offline(
                Some(id),
                None,
                |_| None,
                |record, _, _, now| {
                    let mut message = record.ok_or_else(|| Error::not_found("No such offline message."))?;
                    match answer.clone() {
                        Some(text) => message.answer(actor, text, &self.policy, now)?,
                        None => message.close(actor, now)?,
                    }
                    Ok(message)
                },
            )
            .await?;
        Ok(settled.message)
    }

    async fn read_set<T: serde::de::DeserializeOwned>(&self, hash: &str, ver: &str) -> Result<Set<T>> {
        self.fenced_read(|generation| async move { self.load_set(&generation, hash, ver).await }).await
    }

    /// The business hours: as an admin last set them, else the configured default.
    pub(super) async fn read_schedule(&self) -> Result<Schedule> {
        let mut conn = self.redis.conn();
        let stored: Option<String> =
            self.redis.run("hours", redis::cmd("GET").arg(keys::desk("hours")).query_async(&mut conn)).await?;
        match stored {
            Some(json) => serde_json::from_str(&json).map_err(|e| Error::internal(format_args!("stored hours: {e}"))),
            None => Ok(self.default_schedule.clone()),
        }
    }

    pub async fn set_schedule(&self, actor: &User, schedule: Schedule) -> Result<Schedule> {
        admin_only(actor, "set the business hours")?;
        let schedule = schedule.checked()?;
        let json = json(&schedule)?;
        let _: i64 = self
            .redis
            .fenced("hours", |generation| {
                let mut call = super::scripts::SET_SCRIPT.prepare_invoke();
                call.arg(generation).arg(keys::desk("hours")).arg(&json);
                call
            })
            .await?;
        Ok(schedule)
    }
}

fn admin_only(actor: &User, what: &str) -> Result<()> {
    if !is_supervisor(actor.role) {
        return Err(Error::forbidden(format!("Only admins {what}.")));
    }
    Ok(())
}
