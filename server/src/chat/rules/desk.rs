//! The desk commands that move a chat between the queue and the agents, and the routing after every desk
//! command. Agents' availability, caps and connections, citizens' presence and the sweep are in `agents.rs`.
//!
//! Each takes the desk and, where a command names a chat, that chat's header (read only: its effect is applied
//! later, by [`super::settle`]). Each checks everything first, then changes the desk, then hands out waiting
//! chats (a place may have come free), so on error the desk is as it was.

use super::chat::ended_by;
use super::{Change, ChatState, DeskApplied, Effect, NoteDraft};
use crate::auth::{Role, User};
use crate::chat::desk::{Desk, OpenChat};
use crate::chat::hours::Schedule;
use crate::chat::policy::{ChatPolicy, ConsentLine};
use crate::chat::routing::{self, Assignment};
use crate::chat::{is_desk_staff, text, AgentRef, Chat, ChatId, ChatLang, ChatStatus};
use crate::chat::{Citizen, Consent, Party, PerLang, Receipts, RequeueReason, StartForm};
use crate::error::{Error, Result};
use crate::limits::check_client_msg_id;

/// What a start needs besides the desk: the operator's settings of the moment.
pub struct StartContext<'a> {
    pub schedule: &'a Schedule,
    pub consent: &'a ConsentLine,
}

/// The reply to a start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub chat: ChatId,
    /// `None` if an agent took it at once.
    pub position: Option<u32>,
    pub estimate_ms: Option<u64>,
    /// A start sent again with the `client_msg_id` of a chat it made, answered with that chat.
    pub duplicate: bool,
}

/// The changes and effects one desk command collects.
#[derive(Default)]
pub(super) struct Work {
    pub(super) changes: Vec<Change>,
    pub(super) effects: Vec<(ChatId, Effect)>,
}

impl Work {
    fn assigned(&mut self, a: Assignment) {
        let agent = a.agent.sub.clone();
        self.changes.extend([
            Change::Queue(a.lang),
            Change::Agent(agent.clone()),
            Change::Open(a.chat),
            Change::Assigned { chat: a.chat, agent, from: None },
        ]);
        self.effects.push((a.chat, Effect::Assigned { agent: a.agent }));
    }

    pub(super) fn into_applied<R>(self, reply: R) -> DeskApplied<R> {
        DeskApplied { reply, changes: self.changes, effects: self.effects }
    }
}

impl Desk {
    /// A citizen starts a chat with the pre-chat form. Returns the new chat (the store keeps it, then settles the
    /// effects: an agent may have taken it at once).
    pub fn start(
        &mut self,
        actor: &User,
        form: StartForm,
        id: ChatId,
        ctx: &StartContext<'_>,
        policy: &ChatPolicy,
        now: u64,
    ) -> Result<(ChatState, DeskApplied<Started>)> {
        self.admits_start(actor, form.lang, ctx.schedule, policy, now)?;
        check_client_msg_id(form.client_msg_id.as_deref())?;
        let name = text::one_line(form.name, "The name", policy.max_name_len)?;
        let contact = text::one_line(form.contact, "The contact", policy.max_contact_len)?;
        if !form.consent {
            return Err(Error::bad_request("Agree to the consent line to start a chat."));
        }
        if form.consent_version != ctx.consent.version {
            return Err(Error::conflict("The consent text has changed; read it again."));
        }
        let lang = form.lang;
        let chat = Chat {
            id,
            citizen: Citizen { sub: actor.sub.clone(), name: name.clone(), contact },
            category: form.category,
            lang,
            consent: Consent { version: form.consent_version, at: now },
            status: ChatStatus::Waiting,
            agent: None,
            created_at: now,
            first_assigned_at: None,
            ended_at: None,
            end_reason: None,
            rating: None,
            tags: vec![],
            last_seq: 0,
            texts: 0,
            notes: 0,
            receipts: Receipts::default(),
            transfers: 0,
        };
        let open = OpenChat {
            citizen: actor.sub.clone(),
            name,
            category: form.category,
            lang,
            created_at: now,
            agent: None,
            citizen_away_since: None,
            citizen_away_shown: false,
            client_msg_id: form.client_msg_id,
        };
        self.open.insert(id, open);
        let queue_was_empty = self.queues.get(lang).is_empty();
        routing::enqueue(self, id, lang, now);
        let mut work = Work::default();
        work.changes.extend([Change::Chat(id), Change::Open(id), Change::Queue(lang)]);
        let mut work = self.finish(work, policy, now);
        // Taken at once from an empty queue, the chat left the queue as it found it: the desk hears no `queue`
        // event (at a busy desk that is a third of what every start sends to every agent).
        if queue_was_empty && self.queues.get(lang).is_empty() {
            work.changes.retain(|c| *c != Change::Queue(lang));
        }
        Ok((ChatState::new(chat), work.into_applied(self.started(id, false, policy, now))))
    }

    /// A start sent again: the open chat the citizen started with the same `client_msg_id`, answered as its
    /// start was (its place and estimate now) with `duplicate`. A store asks this before anything else a start
    /// checks, so that a retry is never refused (by the open-chat or the start limit) nor makes a second chat.
    /// Once that chat ended, a start is a new one.
    pub fn started_before(&self, actor: &User, form: &StartForm, policy: &ChatPolicy, now: u64) -> Option<Started> {
        let client_msg_id = form.client_msg_id.as_deref()?;
        if actor.role != Role::Citizen {
            return None;
        }
        let (id, _) = self
            .open
            .iter()
            .find(|(_, c)| c.citizen == actor.sub && c.client_msg_id.as_deref() == Some(client_msg_id))?;
        Some(self.started(*id, true, policy, now))
    }

    fn started(&self, chat: ChatId, duplicate: bool, policy: &ChatPolicy, now: u64) -> Started {
        Started { chat, position: self.position(chat), estimate_ms: self.estimate(chat, policy, now), duplicate }
    }

    /// Whether `actor` may start a chat in `lang` now, in the order a start says it: who (only citizens start
    /// chats: staff are `forbidden`, whatever the desk's state), then what the desk would refuse anyway.
    pub fn admits_start(
        &self,
        actor: &User,
        lang: ChatLang,
        schedule: &Schedule,
        policy: &ChatPolicy,
        now: u64,
    ) -> Result<()> {
        if actor.role != Role::Citizen {
            return Err(Error::forbidden("Only citizens start chats."));
        }
        self.may_start(&actor.sub, lang, schedule, policy, now)
    }

    /// Whether `citizen` may start a chat in `lang` now; the start info asks the same.
    pub fn may_start(
        &self,
        citizen: &str,
        lang: ChatLang,
        schedule: &Schedule,
        policy: &ChatPolicy,
        now: u64,
    ) -> Result<()> {
        if self.open_chats_of(citizen).len() >= policy.max_open_chats_per_citizen {
            return Err(Error::conflict("You already have an open chat."));
        }
        if !schedule.is_open(now) {
            return Err(Error::conflict("The chat is closed now; leave an offline message."));
        }
        if !self.has_agents_for(lang) {
            return Err(Error::conflict("No agent serves this language right now; leave an offline message."));
        }
        if self.queues.get(lang).len() >= policy.max_queue_per_lang {
            return Err(Error::conflict("The queue is full; try again later or leave an offline message."));
        }
        Ok(())
    }

    /// Either side ends a chat (a waiting citizen leaving the queue too); supervisors may end any.
    pub fn end(&mut self, chat: &Chat, actor: &User, policy: &ChatPolicy, now: u64) -> Result<DeskApplied<()>> {
        let party = chat.party(actor).ok_or_else(|| Error::forbidden("This is not your chat."))?;
        if chat.is_ended() {
            return Err(Error::conflict("This chat has already ended."));
        }
        let mut work = Work::default();
        self.close(chat.id, &mut work);
        work.effects.push((chat.id, Effect::Ended { reason: ended_by(party, chat.status) }));
        Ok(self.finish(work, policy, now).into_applied(()))
    }

    /// An agent takes a waiting chat by hand (any place in the queue).
    pub fn take(&mut self, chat: &Chat, actor: &User, policy: &ChatPolicy, now: u64) -> Result<DeskApplied<()>> {
        if !is_desk_staff(actor.role) {
            return Err(Error::forbidden("Only agents take chats."));
        }
        if chat.status != ChatStatus::Waiting {
            return Err(Error::conflict("This chat is no longer waiting."));
        }
        let agent = self
            .agents
            .get(&actor.sub)
            .ok_or_else(|| Error::conflict("Set your availability before taking a chat."))?;
        if !agent.may_take(chat.lang, policy) {
            return Err(Error::conflict(if !agent.languages.contains(&chat.lang) {
                "You don't serve this chat's language."
            } else if !agent.has_room(policy) {
                "You already hold as many chats as you may."
            } else {
                "Go available or away before taking a chat."
            }));
        }
        let assignment = routing::take(self, chat.lang, chat.id, &actor.sub, policy, now)
            .ok_or_else(|| Error::conflict("This chat is no longer waiting."))?;
        let mut work = Work::default();
        work.assigned(assignment);
        Ok(self.finish(work, policy, now).into_applied(()))
    }

    /// The chat's agent or a supervisor hands an active chat to another agent, who must be available, serve its
    /// language and have room. `note` (internal) tells the new agent why.
    pub fn transfer(
        &mut self,
        chat: &Chat,
        actor: &User,
        to: &str,
        note: Option<String>,
        policy: &ChatPolicy,
        now: u64,
    ) -> Result<DeskApplied<()>> {
        let from = self.handed_by(chat, actor)?;
        let note = note_draft(chat, actor, note, policy)?;
        if from.sub == to {
            return Err(Error::conflict("This chat is already theirs."));
        }
        let target = self.agents.get(to).ok_or_else(|| Error::not_found("No such agent."))?;
        if !target.routable(chat.lang, policy) {
            return Err(Error::conflict("That agent is not available for a chat in this language, or has no room."));
        }
        let mut work = Work::default();
        self.release(chat.id, &from.sub, &mut work);
        let target = self.agents.get_mut(to).expect("BUG: checked above");
        target.chats.insert(chat.id);
        target.idle_since = now;
        let to_ref = target.as_ref();
        if let Some(open) = self.open.get_mut(&chat.id) {
            open.agent = Some(to.to_string());
        }
        work.changes.extend([
            Change::Agent(to.to_string()),
            Change::Assigned { chat: chat.id, agent: to.to_string(), from: Some(from.sub.clone()) },
        ]);
        work.effects.push((chat.id, Effect::Transferred { from, to: to_ref, note }));
        Ok(self.finish(work, policy, now).into_applied(()))
    }

    /// The chat's agent or a supervisor hands an active chat back to the front of the queue, with an optional
    /// internal note; routing gives it to someone other than that agent.
    pub fn requeue(
        &mut self,
        chat: &Chat,
        actor: &User,
        note: Option<String>,
        policy: &ChatPolicy,
        now: u64,
    ) -> Result<DeskApplied<()>> {
        let from = self.handed_by(chat, actor)?;
        let note = note_draft(chat, actor, note, policy)?;
        let mut work = Work::default();
        self.release(chat.id, &from.sub, &mut work);
        routing::requeue_front(self, chat.lang, vec![chat.id], Some(&from.sub), now);
        work.changes.push(Change::Queue(chat.lang));
        work.effects.push((chat.id, Effect::Requeued { reason: RequeueReason::Returned, note }));
        Ok(self.finish(work, policy, now).into_applied(()))
    }

    /// The agent of an active chat that `actor` (that agent or a supervisor) hands on.
    fn handed_by(&self, chat: &Chat, actor: &User) -> Result<AgentRef> {
        if !matches!(chat.party(actor), Some(Party::Agent | Party::Supervisor)) {
            return Err(Error::forbidden("Only the chat's agent or a supervisor hands it on."));
        }
        match (&chat.agent, chat.status) {
            (Some(agent), ChatStatus::Active) => Ok(agent.clone()),
            _ => Err(Error::conflict("Only an active chat can be handed on.")),
        }
    }

    /// Takes an open chat off the desk: out of its queue or out of its agent's hands.
    pub(super) fn close(&mut self, id: ChatId, work: &mut Work) {
        let Some(open) = self.open.remove(&id) else { return };
        work.changes.push(Change::Open(id));
        match open.agent {
            Some(sub) => {
                if let Some(agent) = self.agents.get_mut(&sub) {
                    agent.chats.remove(&id);
                }
                work.changes.push(Change::Agent(sub));
            }
            None => {
                routing::dequeue(self, open.lang, id);
                work.changes.push(Change::Queue(open.lang));
            }
        }
    }

    /// Takes a chat out of an agent's hands, leaving it open with no agent.
    fn release(&mut self, chat: ChatId, agent: &str, work: &mut Work) {
        if let Some(holder) = self.agents.get_mut(agent) {
            holder.chats.remove(&chat);
        }
        if let Some(open) = self.open.get_mut(&chat) {
            open.agent = None;
        }
        work.changes.extend([
            Change::Agent(agent.to_string()),
            Change::Open(chat),
            Change::Released { chat, agent: agent.to_string() },
        ]);
    }

    /// Every chat `agent` holds goes back to the front of its queue.
    pub(super) fn hand_back_all(&mut self, agent: &str, reason: RequeueReason, work: &mut Work, now: u64) {
        let held: Vec<ChatId> = self.agents.get(agent).map(|a| a.chats.iter().copied().collect()).unwrap_or_default();
        let mut by_lang: PerLang<Vec<ChatId>> = PerLang::default();
        for id in held {
            let lang = self.open.get(&id).map(|o| o.lang);
            self.release(id, agent, work);
            if let Some(lang) = lang {
                by_lang.get_mut(lang).push(id);
                work.effects.push((id, Effect::Requeued { reason, note: None }));
            }
        }
        for lang in ChatLang::ALL {
            let ids = std::mem::take(by_lang.get_mut(lang));
            if !ids.is_empty() {
                routing::requeue_front(self, lang, ids, None, now);
                work.changes.push(Change::Queue(lang));
            }
        }
    }

    /// Ends every desk command: hands out waiting chats, then tells every waiting chat of a queue that changed
    /// its position and estimate.
    pub(super) fn finish(&mut self, mut work: Work, policy: &ChatPolicy, now: u64) -> Work {
        for assignment in routing::assign_waiting(self, policy, now) {
            work.assigned(assignment);
        }
        let mut unique = super::unique(work.changes);
        for lang in ChatLang::ALL {
            if unique.contains(&Change::Queue(lang)) {
                unique.extend(self.queues.get(lang).iter().map(|w| Change::Position(w.chat)));
            }
        }
        work.changes = unique;
        work
    }
}

/// The internal note that goes with a hand-over, checked.
fn note_draft(chat: &Chat, actor: &User, note: Option<String>, policy: &ChatPolicy) -> Result<Option<NoteDraft>> {
    let Some(text) = text::optional(note, "The note", policy.max_note_len)? else { return Ok(None) };
    if chat.notes >= policy.max_notes {
        return Err(Error::conflict("This chat takes no more notes."));
    }
    Ok(Some(NoteDraft { author: AgentRef::of(actor), text }))
}
