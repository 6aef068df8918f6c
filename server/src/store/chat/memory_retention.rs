//! The in-memory chat store's retention: what it forgets, and when (`ChatPolicy::retention_ms`, the count cap
//! `--chat-max-ended-chats` with its floor `ChatPolicy::min_retention_ms`).
//!
//! Two ordered indexes make a pass cost only what it forgets: ended chats by the time they ended, settled
//! offline messages by the time they were settled. Both are filled where every change passes (`publish`, and
//! an offline message's answer or close), so no rule needs to know about them. An offline message answered and
//! later closed is in the index twice; only its latest settlement counts.

use std::collections::BTreeSet;

use super::memory::{MemoryChat, World};
use super::Forgotten;
use crate::chat::offline::OfflineMessage;
use crate::chat::policy::ChatPolicy;
use crate::chat::rules::Change;
use crate::chat::{ChatId, OfflineId};

/// The retention indexes, part of [`World`].
#[derive(Default)]
pub(super) struct Retention {
    /// (ended_at, chat) of every ended chat still kept.
    ended: BTreeSet<(u64, ChatId)>,
    /// (settled_at, message) of answered or closed offline messages (stale entries are skipped).
    settled: BTreeSet<(u64, OfflineId)>,
}

impl World {
    /// Notes the chats `changes` ended (every end changes the chat: `Change::Chat`).
    pub(super) fn note_ended(&mut self, changes: &[Change]) {
        for change in changes {
            if let Change::Chat(id) = change {
                if let Some(at) = self.chats.get(id).and_then(|s| s.chat.ended_at) {
                    self.retention.ended.insert((at, *id));
                }
            }
        }
    }

    pub(super) fn note_settled(&mut self, message: &OfflineMessage) {
        if let Some(at) = message.settled_at() {
            self.retention.settled.insert((at, message.id));
        }
    }

    /// Forgets the ended chats past their retention, then the oldest-ended past `max_ended` (only those past
    /// the floor), then the settled offline messages past their retention.
    pub(super) fn forget(&mut self, policy: &ChatPolicy, max_ended: usize, now: u64) -> Forgotten {
        let mut forgotten = Forgotten::default();
        while let Some(&(at, id)) = self.retention.ended.first() {
            let over_cap = self.retention.ended.len() > max_ended;
            let due = policy.expired(at, now) || (over_cap && policy.may_forget_early(at, now));
            if !due {
                break;
            }
            self.retention.ended.pop_first();
            if self.forget_chat(id) {
                forgotten.chats += 1;
            }
        }
        while let Some(&(at, id)) = self.retention.settled.first() {
            if !policy.expired(at, now) {
                break;
            }
            self.retention.settled.pop_first();
            if self.offline.get(&id).and_then(OfflineMessage::settled_at) == Some(at) {
                self.offline.remove(&id);
                forgotten.offline += 1;
            }
        }
        forgotten
    }

    /// Forgets one ended chat: its state, both rooms' logs, its citizen's index entry. Never an open one (the
    /// desk is the authority on what is open).
    fn forget_chat(&mut self, id: ChatId) -> bool {
        let ended = self.chats.get(&id).is_some_and(|s| s.chat.is_ended());
        if !ended || self.desk.open.contains_key(&id) {
            return false;
        }
        let Some(state) = self.chats.remove(&id) else { return false };
        self.logs.remove(&id);
        let sub = &state.chat.citizen.sub;
        if let Some(started) = self.started_by.get_mut(sub) {
            started.retain(|c| *c != id);
            if started.is_empty() {
                self.started_by.remove(sub);
            }
        }
        true
    }
}

impl MemoryChat {
    pub(super) fn retention_forget(&self, now: u64) -> Forgotten {
        let mut w = self.lock();
        w.forget(&self.policy, self.max_ended_chats, now)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::auth::{unix_millis, Role, User};
    use crate::bus::LocalBus;
    use crate::chat::offline::{OfflineForm, OfflineStatus};
    use crate::chat::rooms::ChatRoom;
    use crate::chat::rules::DeskCommand;
    use crate::chat::{Availability, ChatLang, StartForm};
    use crate::error::ErrorCode;
    use crate::hub::Hub;
    use crate::limits::Unlimited;
    use crate::metrics::Metrics;
    use crate::store::{ChatStore, MemoryPersonal};

    const RETAIN: u64 = 60_000;

    fn user(sub: &str, role: Role) -> User {
        User { sub: sub.into(), name: sub.into(), role }
    }

    /// A store keeping ended chats `RETAIN` ms (at least 10 s under the cap of `max_ended`), open around the
    /// clock, with one English-speaking agent who may hold `cap` chats.
    async fn store(max_ended: usize, cap: u32) -> MemoryChat {
        let mut config = crate::Config::defaults();
        config.chat.retention_secs = RETAIN / 1000;
        config.chat.min_retention_secs = 10;
        config.chat.max_ended_chats = max_ended;
        config.chat.agent_cap = cap;
        let metrics = Arc::new(Metrics::default());
        let bus = Arc::new(LocalBus::new(Arc::new(Hub::new(Arc::clone(&metrics))), metrics));
        let personal = Arc::new(MemoryPersonal::new(bus.clone(), &config));
        let store = MemoryChat::new(bus, personal, &config);
        let day = json!([{ "open": "00:00", "close": "24:00" }]);
        let week = json!({ "sun": day, "mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day });
        let schedule = serde_json::from_value(json!({ "time_zone": "UTC", "week": week })).expect("a schedule");
        store.set_hours(&user("admin", Role::Admin), schedule).await.expect("hours");
        let status = DeskCommand::Status { availability: Availability::Available, languages: Some(vec![ChatLang::En]) };
        store.desk(&user("agent", Role::Agent), status).await.expect("on the desk");
        store
    }

    async fn start(store: &MemoryChat, citizen: &str) -> ChatId {
        let form = StartForm {
            category: crate::chat::Category::Inquiry,
            lang: ChatLang::En,
            name: None,
            contact: None,
            consent: true,
            consent_version: store.consent.version.clone(),
            client_msg_id: None,
        };
        store.start(&user(citizen, Role::Citizen), form, &Unlimited).await.expect("started").chat
    }

    async fn end(store: &MemoryChat, citizen: &str, chat: ChatId) -> u64 {
        store.desk(&user(citizen, Role::Citizen), DeskCommand::End { chat }).await.expect("ended");
        store.chat(chat).await.expect("kept").ended_at.expect("ended at")
    }

    async fn is_forgotten(store: &MemoryChat, citizen: &str, chat: ChatId) -> bool {
        let gone = matches!(store.chat(chat).await, Err(e) if e.code == ErrorCode::NotFound);
        let transcript = store.transcript(chat, &user(citizen, Role::Citizen)).await;
        assert_eq!(gone, matches!(transcript, Err(e) if e.code == ErrorCode::NotFound), "the transcript follows");
        gone
    }

    #[tokio::test]
    async fn an_ended_chat_is_forgotten_with_its_logs_and_index_once_past_its_retention() {
        let store = store(1000, 3).await;
        let ended = start(&store, "c-ended").await;
        let open = start(&store, "c-open").await;
        let at = end(&store, "c-ended", ended).await;

        assert_eq!(store.retention_forget(at + RETAIN - 1), Forgotten::default());
        assert!(!is_forgotten(&store, "c-ended", ended).await);

        assert_eq!(store.retention_forget(at + RETAIN), Forgotten { chats: 1, offline: 0 });
        assert!(is_forgotten(&store, "c-ended", ended).await);
        {
            let w = store.lock();
            assert!(!w.logs.contains_key(&ended) && !w.started_by.contains_key("c-ended"));
            assert!(w.logs.contains_key(&open) && w.started_by.contains_key("c-open"));
        }
        // Asking after the forgotten chat's rooms makes no new log for it.
        let citizen = user("c-ended", Role::Citizen);
        let since = crate::protocol::Position { epoch: store.epoch.clone(), seq: 0 };
        assert!(store.snapshot(&ChatRoom::Citizen(ended), &citizen).await.is_err());
        assert!(store.snapshot(&ChatRoom::Staff(ended), &citizen).await.is_err());
        assert!(store.replay(&ChatRoom::Staff(ended), &since).await.expect("no error").is_none());
        assert!(!store.lock().logs.contains_key(&ended));
        // An open chat is never forgotten, however old.
        assert_eq!(store.retention_forget(at + 100 * RETAIN), Forgotten::default());
        assert!(!is_forgotten(&store, "c-open", open).await);
        // The chat ids go on: a forgotten id is never handed out again.
        let next = start(&store, "c-ended").await;
        assert!(next > open);
    }

    #[tokio::test]
    async fn past_the_count_cap_the_oldest_ended_go_first_but_none_inside_the_floor() {
        let store = store(1, 1).await;
        let mut ended = Vec::new();
        for citizen in ["c-1", "c-2", "c-3"] {
            let chat = start(&store, citizen).await;
            ended.push((citizen, chat, end(&store, citizen, chat).await));
        }
        let last = ended[2].2;
        // Over the cap, but every one ended less than the floor (10 s) ago.
        assert_eq!(store.retention_forget(ended[0].2 + 9_999), Forgotten::default());
        // Past the floor: forgotten oldest first, down to the cap.
        assert_eq!(store.retention_forget(last + 10_000), Forgotten { chats: 2, offline: 0 });
        assert!(is_forgotten(&store, ended[0].0, ended[0].1).await);
        assert!(is_forgotten(&store, ended[1].0, ended[1].1).await);
        assert!(!is_forgotten(&store, ended[2].0, ended[2].1).await);
        // The last one stays until its own retention.
        assert_eq!(store.retention_forget(last + RETAIN - 1), Forgotten::default());
        assert_eq!(store.retention_forget(last + RETAIN), Forgotten { chats: 1, offline: 0 });
    }

    #[tokio::test]
    async fn settled_offline_messages_are_forgotten_from_their_last_settlement_and_open_ones_never() {
        let store = store(1000, 3).await;
        let agent = user("agent", Role::Agent);
        let mut ids = Vec::new();
        for citizen in ["c-open", "c-answered", "c-closed", "c-both"] {
            let form = OfflineForm {
                category: crate::chat::Category::Other,
                lang: ChatLang::En,
                name: None,
                contact: "x@example.bh".into(),
                text: "Hello".into(),
                client_msg_id: None,
            };
            ids.push(
                store.submit_offline(&user(citizen, Role::Citizen), form, &Unlimited).await.expect("kept").message.id,
            );
        }
        let now = unix_millis();
        store.answer_offline(&agent, ids[1], "Answered".into()).await.expect("answered");
        store.close_offline(&agent, ids[2]).await.expect("closed");
        store.answer_offline(&agent, ids[3], "Answered".into()).await.expect("answered");
        {
            // Answered long ago, closed only now: its retention counts from the close.
            let mut w = store.lock();
            let message = w.offline.get_mut(&ids[3]).expect("kept");
            message.answer.as_mut().expect("answered").at = now - RETAIN;
            let message = message.clone();
            w.note_settled(&message);
        }
        store.close_offline(&agent, ids[3]).await.expect("closed");

        assert_eq!(store.retention_forget(now + RETAIN / 2), Forgotten::default());
        let later = unix_millis() + RETAIN;
        assert_eq!(store.retention_forget(later), Forgotten { chats: 0, offline: 3 });
        let left = store.offline(&agent, None, None, 100).await.expect("the inbox");
        assert_eq!(left.iter().map(|m| (m.id, m.status)).collect::<Vec<_>>(), vec![(ids[0], OfflineStatus::Open)]);
        assert_eq!(store.retention_forget(later + 100 * RETAIN), Forgotten::default());
    }
}
