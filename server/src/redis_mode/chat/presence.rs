//! Presence across nodes: who still has a connection, whichever node holds it.
//!
//! Each node counts its own connections per agent (`desk` presence) and per citizen and chat, and records the
//! count in Redis under its name (`mj:{desk}:conns:<sub>`, `mj:{c:<id>}:conns`: hash node → count), with a
//! lease on its name (`mj:nodes`) of `--chat-presence-lease-ms` that it renews every
//! `--chat-presence-refresh-ms` ([`PresenceLeases`](crate::config::PresenceLeases)). A count counts while its
//! node's lease holds. When a node's count drops to zero and no other live node counts one, the person's last connection
//! closed: the desk commit that starts their grace period (or resume window) checks again, in the script, that
//! no live connection is counted anywhere, so a connection opened meanwhile on another node wins.
//!
//! A node that dies stops renewing; `--chat-presence-reap-ms` past its lease, whichever node sweeps first takes its counts
//! out (atomically: one node reaps each) and treats every person left without a connection as disconnected. A
//! node that finds its own lease lapsed (it was cut off from Redis) reports all its counts again.

use super::desk::Reach;
use super::keys;
use super::plan::Plan;
use super::scripts::{CONNECTIONS_SCRIPT, LEASE_SCRIPT, LOAD_OPEN_SCRIPT, REAP_SCRIPT};
use super::{backoff, gave_up, is_present, present as present_error, Committed, RedisChat, MAX_ATTEMPTS};
use std::collections::BTreeMap;

use redis::Value;
use tokio_util::sync::CancellationToken;

use crate::auth::{unix_millis, User};
use crate::chat::desk::{Agent, Desk, OpenChat};
use crate::chat::rooms::{self, Scope};
use crate::chat::rules::DeskApplied;
use crate::chat::ChatId;
use crate::error::Result;
use crate::redis_mode::state::Items;

fn nothing() -> DeskApplied<()> {
    DeskApplied { reply: (), changes: vec![], effects: vec![] }
}

impl RedisChat {
    /// Moves this node's count of `sub`'s connections by `delta` and records it; returns the live count across
    /// nodes. (The connection layer tells the store of a person's first and last connection on this node only,
    /// so the count here is 0 or 1; the sum across nodes is what matters.)
    async fn count(&self, sub: &str, delta: i64) -> Result<u64> {
        let key = keys::conns(sub);
        let count = {
            let mut local = self.conns.lock().expect("BUG: connection counts lock poisoned");
            let entry = local.entry(key.clone()).or_insert(0);
            *entry = (i64::from(*entry) + delta).max(0) as u32;
            let count = *entry;
            if count == 0 {
                local.remove(&key);
            }
            count
        };
        self.report_count(&key, count).await
    }

    async fn report_count(&self, key: &str, count: u32) -> Result<u64> {
        let mut call = CONNECTIONS_SCRIPT.prepare_invoke();
        call.arg(&self.node).arg(self.leases.lease_ms).arg(key).arg(count);
        let mut conn = self.redis.conn();
        self.redis.run("connections", call.invoke_async(&mut conn)).await
    }

    /// The first connection of member of staff `user` on this node opened: their grace period, if running, stops.
    pub async fn staff_connected(&self, user: &User) -> Result<()> {
        self.count(&user.sub, 1).await?;
        let policy = self.policy.clone();
        self.on_desk(&Reach::default(), &[], false, |input| {
            let applied = if input.desk.agents.get(&user.sub).is_some_and(|a| a.disconnected_at.is_some()) {
                input.desk.agent_connected(user, &policy, input.now)
            } else {
                nothing()
            };
            Ok((None, applied))
        })
        .await
    }

    /// The last connection of member of staff `sub` on this node closed: if they have none on any node, their
    /// grace period starts.
    pub async fn staff_disconnected(&self, sub: &str) -> Result<()> {
        if self.count(sub, -1).await? > 0 {
            return Ok(());
        }
        self.gone(sub, Some(true)).await
    }

    /// A citizen's first connection on this node opened (`present`), or their last one here closed: their open
    /// chats' resume windows stop, or start if they have no connection on any node.
    pub async fn citizen_present(&self, sub: &str, present: bool) -> Result<()> {
        if present {
            self.count(sub, 1).await?;
            for chat in self.open_chats_of(sub).await? {
                self.citizen_mark(chat, Some(sub), true, None).await?;
            }
            Ok(())
        } else if self.count(sub, -1).await? > 0 {
            Ok(())
        } else {
            self.gone(sub, Some(false)).await
        }
    }

    /// `sub` has no live connection left (each commit checks it again): on the desk, their grace period starts;
    /// as a citizen, their open chats' resume windows. `staff`: which they are, if known.
    async fn gone(&self, sub: &str, staff: Option<bool>) -> Result<()> {
        if staff == Some(false) {
            return self.citizen_gone(sub).await;
        }
        let (reach, absent) = (Reach::default(), [keys::conns(sub)]);
        let gone = self.on_desk(&reach, &absent, false, |input| {
            if input.desk.agents.get(sub).is_none_or(|a| a.disconnected_at.is_some()) {
                return Ok((None, nothing()));
            }
            Ok((None, input.desk.agent_disconnected(sub, input.now)))
        });
        back_is_fine(gone.await)?;
        match staff {
            Some(true) => Ok(()),
            _ => self.citizen_gone(sub).await,
        }
    }

    async fn citizen_gone(&self, sub: &str) -> Result<()> {
        for chat in self.open_chats_of(sub).await? {
            back_is_fine(self.citizen_mark(chat, Some(sub), false, Some(keys::conns(sub))).await)?;
        }
        Ok(())
    }

    /// The open chats of a citizen, as the desk's index has them.
    async fn open_chats_of(&self, sub: &str) -> Result<Vec<ChatId>> {
        let mut conn = self.redis.conn();
        let cmd = redis::cmd("SMEMBERS").arg(keys::desk(&format!("of:{sub}"))).clone();
        self.redis.run("open chats", cmd.query_async(&mut conn)).await
    }

    /// Marks the citizen of `chat` away or back. Light on purpose (a storm of reconnecting citizens makes one
    /// per connection): it reads only the chat's open entry and its agent, writes only the `:away` mark and the
    /// desk's `open` event, and checks the desk's version without moving it, so these marks never conflict with
    /// one another (only with a routing commit, which moves the version). `absent`: the connection hash that
    /// must have no live connection (going away).
    async fn citizen_mark(
        &self,
        chat: ChatId,
        citizen: Option<&str>,
        present: bool,
        absent: Option<String>,
    ) -> Result<()> {
        for attempt in 0..MAX_ATTEMPTS {
            let generation = self.redis.generation().await?;
            let mut call = LOAD_OPEN_SCRIPT.prepare_invoke();
            call.arg(&*generation).arg(chat);
            let mut conn = self.redis.conn();
            let Some(reply) = self.redis.attempt::<Value>("load open chat", call.invoke_async(&mut conn)).await? else {
                self.redis.adopt_after(&generation).await?;
                continue;
            };
            let mut items = Items::new(reply)?;
            let version = items.text()?;
            let (open, away, agent) = (items.text()?, items.text()?, items.text()?);
            if open.is_empty() {
                return Ok(());
            }
            let mut entry: OpenChat = stored(&open)?;
            keys::read_away_mark(&mut entry, &away);
            if citizen.is_some_and(|c| c != entry.citizen) || entry.citizen_away_since.is_none() == present {
                return Ok(());
            }
            let owner = entry.citizen.clone();
            let mut desk = Desk::default();
            desk.open.insert(chat, entry);
            if !agent.is_empty() {
                let agent: Agent = stored(&agent)?;
                desk.agents.insert(agent.sub.clone(), agent);
            }
            let now = unix_millis();
            let applied = desk.citizen_presence(chat, &owner, present, &self.policy, now)?;
            let mut plan = Plan::default();
            plan.check(keys::desk("ver"), &version);
            match desk.open.get(&chat).and_then(keys::away_mark) {
                Some(mark) => plan.hset(keys::desk("away"), chat.to_string(), mark),
                None => plan.hdel(keys::desk("away"), chat.to_string()),
            }
            if let Some(key) = &absent {
                plan.absent(key.clone());
            }
            let chats = BTreeMap::new();
            let scope = Scope { desk: Some(&desk), chats: &chats, policy: &self.policy, now };
            plan.route(rooms::route(&applied.changes, &scope), self.bounds)?;
            match self.commit(&generation, &plan).await? {
                Committed::Done => return Ok(()),
                Committed::Present => return Err(present_error()),
                Committed::Moved => backoff(attempt).await,
                Committed::Fenced => {
                    self.redis.adopt_after(&generation).await?;
                }
            }
        }
        Err(gave_up("presence"))
    }

    /// Renews this node's lease; if it had lapsed, reports every count again.
    pub async fn renew_lease(&self) -> Result<()> {
        let mut call = LEASE_SCRIPT.prepare_invoke();
        call.arg(&self.node).arg(self.leases.lease_ms);
        let mut conn = self.redis.conn();
        let valid: i64 = self.redis.run("lease", call.invoke_async(&mut conn)).await?;
        if valid == 0 {
            let counts: Vec<(String, u32)> = {
                let local = self.conns.lock().expect("BUG: connection counts lock poisoned");
                local.iter().map(|(k, v)| (k.clone(), *v)).collect()
            };
            for (key, count) in counts {
                self.report_count(&key, count).await?;
            }
        }
        Ok(())
    }

    /// Renews this node's lease every `--chat-presence-refresh-ms` until `stop`, then drops it.
    pub async fn keep_lease(&self, stop: CancellationToken) {
        let mut tick = tokio::time::interval(self.leases.refresh);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            if let Err(error) = self.renew_lease().await {
                tracing::debug!(code = ?error.code, "could not renew this node's lease; the next tick retries");
            }
        }
        self.drop_lease().await;
    }

    /// Drops this node's lease (a clean stop): its counts stop counting at once and are reaped soon.
    pub async fn drop_lease(&self) {
        let mut conn = self.redis.conn();
        let cmd = redis::cmd("HSET").arg("mj:nodes").arg(&self.node).arg(0).clone();
        let _ = self.redis.run::<i64>("lease", cmd.query_async(&mut conn)).await;
    }

    /// Takes out the counts of dead nodes, and lets everyone they left without a connection go.
    pub(super) async fn reap(&self) -> Result<()> {
        let mut call = REAP_SCRIPT.prepare_invoke();
        call.arg(self.leases.reap_ms);
        let mut conn = self.redis.conn();
        let keys: Vec<String> = self.redis.run("reap", call.invoke_async(&mut conn)).await?;
        for key in keys {
            match keys::conns_of(&key) {
                Some(sub) => self.gone(sub, None).await?,
                None => tracing::warn!(key, "a dead node counted connections under an unknown key"),
            }
        }
        Ok(())
    }
}

/// Someone who was to be marked gone is connected again: nothing to do.
fn back_is_fine(result: Result<()>) -> Result<()> {
    match result {
        Err(e) if is_present(&e) => Ok(()),
        other => other,
    }
}

fn stored<T: serde::de::DeserializeOwned>(json: &str) -> Result<T> {
    serde_json::from_str(json).map_err(|e| crate::error::Error::internal(format_args!("stored desk JSON: {e}")))
}
