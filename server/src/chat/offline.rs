//! Offline messages: what a citizen leaves when no agent serves their language or the desk is closed, and the
//! inbox agents answer from.
//!
//! An answer "reaches the citizen by the contact they left": the rules record it as sent to that contact; the
//! sending itself (mail, SMS) is outside the chat. A message runs `open` → `answered` → `closed`, or straight
//! from `open` to `closed` (nothing to answer: spam, a duplicate).

use serde::{Deserialize, Serialize};

use super::policy::ChatPolicy;
use super::{is_desk_staff, text, AgentRef, Category, ChatLang, OfflineId};
use crate::auth::{Role, User};
use crate::error::{Error, Result};
use crate::limits::check_client_msg_id;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfflineStatus {
    Open,
    Answered,
    Closed,
}

impl OfflineStatus {
    pub const ALL: [OfflineStatus; 3] = [OfflineStatus::Open, OfflineStatus::Answered, OfflineStatus::Closed];

    /// Its name on the wire and in storage (as serde writes it).
    pub fn as_str(self) -> &'static str {
        match self {
            OfflineStatus::Open => "open",
            OfflineStatus::Answered => "answered",
            OfflineStatus::Closed => "closed",
        }
    }
}

/// The offline-message form.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfflineForm {
    pub category: Category,
    pub lang: ChatLang,
    #[serde(default)]
    pub name: Option<String>,
    /// Required: the answer goes there.
    pub contact: String,
    pub text: String,
    /// Names the message from the citizen's side: the form sent again with it (its answer lost) is answered
    /// with the message it left, while that one is open ([`left_before`]).
    #[serde(default)]
    pub client_msg_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfflineAnswer {
    pub text: String,
    pub by: AgentRef,
    pub at: u64,
    /// The contact it was sent to (the citizen's, as left).
    pub sent_to: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfflineMessage {
    pub id: OfflineId,
    pub citizen_sub: String,
    pub name: Option<String>,
    pub contact: String,
    pub category: Category,
    pub lang: ChatLang,
    pub text: String,
    pub created_at: u64,
    pub status: OfflineStatus,
    pub answer: Option<OfflineAnswer>,
    pub closed_by: Option<AgentRef>,
    pub closed_at: Option<u64>,
    /// The form's `client_msg_id`, if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
}

/// What leaving an offline message gave: the message, and whether it was left before (the form sent again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub message: OfflineMessage,
    pub duplicate: bool,
}

/// The form sent again: `actor`'s message among `open` (their open ones) that the form's `client_msg_id` left.
/// A store asks this before anything else, so that a retry is never refused (by the open or the rate limit)
/// nor leaves a second message. Once that message was answered or closed, the form is a new message.
pub fn left_before<'a>(
    actor: &User,
    form: &OfflineForm,
    open: impl IntoIterator<Item = &'a OfflineMessage>,
) -> Option<OfflineMessage> {
    let client_msg_id = form.client_msg_id.as_deref()?;
    if actor.role != Role::Citizen {
        return None;
    }
    open.into_iter().find(|m| m.citizen_sub == actor.sub && m.client_msg_id.as_deref() == Some(client_msg_id)).cloned()
}

/// A new offline message from `actor`, who already has `open_of_citizen` open ones.
pub fn submit(
    id: OfflineId,
    actor: &User,
    form: OfflineForm,
    open_of_citizen: usize,
    policy: &ChatPolicy,
    now: u64,
) -> Result<OfflineMessage> {
    if actor.role != Role::Citizen {
        return Err(Error::forbidden("Only citizens leave offline messages."));
    }
    let contact = text::one_line(Some(form.contact), "The contact", policy.max_contact_len)?
        .ok_or_else(|| Error::bad_request("Leave a contact so that we can answer."))?;
    let name = text::one_line(form.name, "The name", policy.max_name_len)?;
    let body = text::required(&form.text, "The message", policy.max_offline_len)?;
    check_client_msg_id(form.client_msg_id.as_deref())?;
    if open_of_citizen >= policy.max_open_offline_per_citizen {
        return Err(Error::conflict("You already have messages waiting for an answer."));
    }
    Ok(OfflineMessage {
        id,
        citizen_sub: actor.sub.clone(),
        name,
        contact,
        category: form.category,
        lang: form.lang,
        text: body,
        created_at: now,
        status: OfflineStatus::Open,
        answer: None,
        closed_by: None,
        closed_at: None,
        client_msg_id: form.client_msg_id,
    })
}

impl OfflineMessage {
    /// Records `text` as sent to the citizen's contact. Once only, and not after it was closed.
    pub fn answer(&mut self, actor: &User, text: String, policy: &ChatPolicy, now: u64) -> Result<()> {
        staff_only(actor)?;
        let text = text::required(&text, "The answer", policy.max_offline_len)?;
        if self.status != OfflineStatus::Open {
            return Err(Error::conflict("This message was already answered or closed."));
        }
        self.answer = Some(OfflineAnswer { text, by: AgentRef::of(actor), at: now, sent_to: self.contact.clone() });
        self.status = OfflineStatus::Answered;
        Ok(())
    }

    /// When it was last settled (answered, then perhaps closed); `None` while open. Its retention counts from
    /// here (`ChatPolicy::expired`).
    pub fn settled_at(&self) -> Option<u64> {
        match self.status {
            OfflineStatus::Open => None,
            OfflineStatus::Answered => self.answer.as_ref().map(|a| a.at),
            OfflineStatus::Closed => self.closed_at,
        }
    }

    pub fn close(&mut self, actor: &User, now: u64) -> Result<()> {
        staff_only(actor)?;
        if self.status == OfflineStatus::Closed {
            return Err(Error::conflict("This message is already closed."));
        }
        self.status = OfflineStatus::Closed;
        self.closed_by = Some(AgentRef::of(actor));
        self.closed_at = Some(now);
        Ok(())
    }
}

fn staff_only(actor: &User) -> Result<()> {
    if !is_desk_staff(actor.role) {
        return Err(Error::forbidden("Only agents and admins work the offline inbox."));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn user(sub: &str, role: Role) -> User {
        User { sub: sub.into(), name: sub.into(), role }
    }

    fn form(contact: &str, text: &str) -> OfflineForm {
        OfflineForm {
            category: Category::Complaint,
            lang: ChatLang::Ar,
            name: Some(" Fatima ".into()),
            contact: contact.into(),
            text: text.into(),
            client_msg_id: None,
        }
    }

    #[test]
    fn a_status_is_named_as_serde_writes_it() {
        for status in OfflineStatus::ALL {
            assert_eq!(serde_json::to_value(status).ok(), Some(serde_json::json!(status.as_str())));
        }
    }

    #[test]
    fn a_citizen_leaves_a_message_with_a_contact() {
        let p = ChatPolicy::default();
        let m = submit(1, &user("c-1", Role::Citizen), form("f@example.bh", " الماء مقطوع "), 0, &p, 9).unwrap();
        assert_eq!(
            (m.status, m.text.as_str(), m.name.as_deref()),
            (OfflineStatus::Open, "الماء مقطوع", Some("Fatima"))
        );
        let refuse =
            |actor: User, form: OfflineForm, open: usize| submit(1, &actor, form, open, &p, 9).unwrap_err().code;
        assert_eq!(refuse(user("c-1", Role::Citizen), form(" ", "x"), 0), ErrorCode::BadRequest);
        assert_eq!(refuse(user("c-1", Role::Citizen), form("f@example.bh", ""), 0), ErrorCode::BadRequest);
        assert_eq!(refuse(user("c-1", Role::Citizen), form(&"9".repeat(121), "x"), 0), ErrorCode::BadRequest);
        assert_eq!(refuse(user("c-1", Role::Citizen), form("f@example.bh", "x"), 3), ErrorCode::Conflict);
        assert_eq!(refuse(user("g-amina", Role::Agent), form("f@example.bh", "x"), 0), ErrorCode::Forbidden);
    }

    #[test]
    fn an_answer_is_recorded_as_sent_to_the_contact_once() {
        let p = ChatPolicy::default();
        let mut m = submit(1, &user("c-1", Role::Citizen), form("+973 1700 0000", "x"), 0, &p, 9).unwrap();
        let agent = user("g-amina", Role::Agent);
        assert_eq!(m.answer(&user("c-1", Role::Citizen), "y".into(), &p, 10).unwrap_err().code, ErrorCode::Forbidden);
        assert_eq!(m.answer(&user("m-x", Role::Moderator), "y".into(), &p, 10).unwrap_err().code, ErrorCode::Forbidden);
        m.answer(&agent, " Fixed. ".into(), &p, 10).unwrap();
        let answer = m.answer.clone().unwrap();
        assert_eq!(
            (answer.text.as_str(), answer.sent_to.as_str(), m.status),
            ("Fixed.", "+973 1700 0000", OfflineStatus::Answered)
        );
        assert_eq!(m.answer(&agent, "again".into(), &p, 11).unwrap_err().code, ErrorCode::Conflict);
        m.close(&agent, 12).unwrap();
        assert_eq!(m.status, OfflineStatus::Closed);
        assert_eq!(m.close(&agent, 13).unwrap_err().code, ErrorCode::Conflict);
    }

    #[test]
    fn a_message_may_be_closed_unanswered_and_then_takes_no_answer() {
        let p = ChatPolicy::default();
        let mut m = submit(1, &user("c-1", Role::Citizen), form("f@example.bh", "spam"), 0, &p, 9).unwrap();
        let admin = user("a-noor", Role::Admin);
        m.close(&admin, 10).unwrap();
        assert_eq!(m.answer(&admin, "late".into(), &p, 11).unwrap_err().code, ErrorCode::Conflict);
    }
}
