//! The in-memory chat store's REST records: offline messages, canned responses, business hours, reports,
//! transcripts and the start info. Each is one operation under the chat's lock, publishing to `desk` what the
//! desk shows (`offline`, `canned`, `canned_removed`).

use super::memory::MemoryChat;
use super::MAX_OFFLINE_PAGE;
use crate::auth::{unix_millis, User};
use crate::chat::canned::{self, Canned, NewCanned};
use crate::chat::hours::Schedule;
use crate::chat::offline::{self, OfflineForm, OfflineMessage, OfflineStatus, Submitted};
use crate::chat::report::{self, ChatReport};
use crate::chat::rooms::{self, StartInfo};
use crate::chat::rules::Change;
use crate::chat::transcript::{self, Transcript};
use crate::chat::{is_desk_staff, is_supervisor, CannedId, ChatId, OfflineId};
use crate::error::{Error, Result};
use crate::limits::{Admission, Charge};

fn admins_only(actor: &User, what: &str) -> Result<()> {
    if !is_supervisor(actor.role) {
        return Err(Error::forbidden(format!("Only admins {what}.")));
    }
    Ok(())
}

fn staff_only(actor: &User) -> Result<()> {
    if !is_desk_staff(actor.role) {
        return Err(Error::forbidden("Only agents and admins work the offline inbox."));
    }
    Ok(())
}

impl MemoryChat {
    pub(super) fn records_start_info(&self, viewer: Option<&User>) -> Result<StartInfo> {
        let w = self.lock();
        Ok(rooms::start_info(&w.desk, &w.schedule, &self.consent, viewer, &self.policy, unix_millis()))
    }

    pub(super) fn records_transcript(&self, chat: ChatId, viewer: &User) -> Result<Transcript> {
        let w = self.lock();
        let state = w.chats.get(&chat).ok_or_else(|| Error::not_found("No such chat."))?;
        let audience =
            transcript::audience_for(viewer, &state.chat).ok_or_else(|| Error::forbidden("This is not your chat."))?;
        Ok(transcript::build(state, audience))
    }

    pub(super) fn records_submit_offline(
        &self,
        actor: &User,
        form: OfflineForm,
        gate: &dyn Admission,
    ) -> Result<Submitted> {
        let now = unix_millis();
        let mut guard = self.lock();
        let w = &mut *guard;
        let open: Vec<&OfflineMessage> =
            w.offline.values().filter(|m| m.citizen_sub == actor.sub && m.status == OfflineStatus::Open).collect();
        if let Some(message) = offline::left_before(actor, &form, open.iter().copied()) {
            return Ok(Submitted { message, duplicate: true });
        }
        gate.check(Charge::OfflineMessage)?;
        let message = offline::submit(w.next_offline, actor, form, open.len(), &self.policy, now)?;
        gate.charge(Charge::OfflineMessage);
        w.next_offline += 1;
        w.offline.insert(message.id, message.clone());
        self.publish(w, &[Change::Offline(Box::new(message.clone()))], now);
        Ok(Submitted { message, duplicate: false })
    }

    pub(super) fn records_offline(
        &self,
        viewer: &User,
        status: Option<OfflineStatus>,
        before: Option<OfflineId>,
        limit: usize,
    ) -> Result<Vec<OfflineMessage>> {
        staff_only(viewer)?;
        let w = self.lock();
        let below = before.unwrap_or(OfflineId::MAX);
        Ok(w.offline
            .range(..below)
            .rev()
            .map(|(_, m)| m)
            .filter(|m| status.is_none_or(|s| m.status == s))
            .take(limit.min(MAX_OFFLINE_PAGE))
            .cloned()
            .collect())
    }

    fn change_offline(
        &self,
        id: OfflineId,
        change: impl FnOnce(&mut OfflineMessage, u64) -> Result<()>,
    ) -> Result<OfflineMessage> {
        let now = unix_millis();
        let mut guard = self.lock();
        let w = &mut *guard;
        let message = w.offline.get_mut(&id).ok_or_else(|| Error::not_found("No such offline message."))?;
        change(message, now)?;
        let message = message.clone();
        w.note_settled(&message);
        self.publish(w, &[Change::Offline(Box::new(message.clone()))], now);
        Ok(message)
    }

    pub(super) fn records_answer_offline(&self, actor: &User, id: OfflineId, text: String) -> Result<OfflineMessage> {
        staff_only(actor)?;
        self.change_offline(id, |m, now| m.answer(actor, text, &self.policy, now))
    }

    pub(super) fn records_close_offline(&self, actor: &User, id: OfflineId) -> Result<OfflineMessage> {
        staff_only(actor)?;
        self.change_offline(id, |m, now| m.close(actor, now))
    }

    pub(super) fn records_canned(&self) -> Result<Vec<Canned>> {
        let w = self.lock();
        let mut all: Vec<Canned> = w.canned.values().cloned().collect();
        all.sort_by(|a, b| a.shortcut.cmp(&b.shortcut));
        Ok(all)
    }

    pub(super) fn records_upsert_canned(&self, actor: &User, id: Option<CannedId>, new: NewCanned) -> Result<Canned> {
        admins_only(actor, "manage canned responses")?;
        let now = unix_millis();
        let mut guard = self.lock();
        let w = &mut *guard;
        let id = match id {
            Some(id) if !w.canned.contains_key(&id) => return Err(Error::not_found("No such canned response.")),
            Some(id) => id,
            None => w.next_canned,
        };
        let existing: Vec<Canned> = w.canned.values().cloned().collect();
        let entry = canned::upsert(&existing, id, new, &self.policy, now)?;
        if id == w.next_canned {
            w.next_canned += 1;
        }
        w.canned.insert(id, entry.clone());
        self.publish(w, &[Change::Canned(Box::new(entry.clone()))], now);
        Ok(entry)
    }

    pub(super) fn records_delete_canned(&self, actor: &User, id: CannedId) -> Result<()> {
        admins_only(actor, "manage canned responses")?;
        let now = unix_millis();
        let mut guard = self.lock();
        let w = &mut *guard;
        w.canned.remove(&id).ok_or_else(|| Error::not_found("No such canned response."))?;
        self.publish(w, &[Change::CannedRemoved(id)], now);
        Ok(())
    }

    pub(super) fn records_set_hours(&self, actor: &User, schedule: Schedule) -> Result<Schedule> {
        admins_only(actor, "set the business hours")?;
        let schedule = schedule.checked()?;
        self.lock().schedule = schedule.clone();
        Ok(schedule)
    }

    pub(super) fn records_report(&self, actor: &User, from: u64, to: u64) -> Result<ChatReport> {
        admins_only(actor, "read the reports")?;
        let w = self.lock();
        Ok(report::report(w.chats.values().map(|s| &s.chat), w.offline.values(), from, to))
    }
}
