//! Live-broadcast Q&A: the domain. Broadcasts, questions, votes, moderation, statistics, FAQ.
//!
//! `rules` holds every state transition as plain functions over [`rules::BroadcastState`], so each store
//! implementation applies the same rules atomically in its own way. `rooms` decides which room sees what
//! (the privacy rule lives there), `filter` is the keyword filter.

pub mod filter;
pub mod rooms;
pub mod rules;
pub mod stats;

use serde::{Deserialize, Serialize};

pub type BroadcastId = u64;
pub type QuestionId = u64;

/// Text in the ministry's two languages; either may be absent. Another language's key is refused, not
/// dropped: text an admin wrote must not vanish without a word.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Localized {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ar: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub en: Option<String>,
}

impl Localized {
    pub fn is_empty(&self) -> bool {
        self.ar.as_deref().is_none_or(|s| s.trim().is_empty()) && self.en.as_deref().is_none_or(|s| s.trim().is_empty())
    }
    /// English if present, else Arabic (for CSV headers and logs).
    pub fn any(&self) -> &str {
        self.en.as_deref().filter(|s| !s.is_empty()).or(self.ar.as_deref()).unwrap_or("")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BroadcastState {
    Scheduled,
    Live,
    Ended,
    Archived,
}

impl BroadcastState {
    /// Questions and votes are collected before (announced broadcasts) and during a broadcast.
    pub fn accepts_questions(self) -> bool {
        matches!(self, BroadcastState::Scheduled | BroadcastState::Live)
    }

    pub fn can_become(self, next: BroadcastState) -> bool {
        use BroadcastState::*;
        matches!((self, next), (Scheduled, Live) | (Scheduled, Ended) | (Live, Ended) | (Ended, Archived))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Broadcast {
    pub id: BroadcastId,
    pub code: String,
    pub title: Localized,
    pub description: Localized,
    pub starts_at: u64,
    pub state: BroadcastState,
    pub premoderation: bool,
    pub allow_anonymous: bool,
    pub max_question_len: usize,
    /// New questions are refused for now (votes still count); a moderator resumes them. Absent in
    /// broadcasts stored before it existed, hence the default.
    #[serde(default)]
    pub paused: bool,
    pub created_at: u64,
    pub live_at: Option<u64>,
    pub ended_at: Option<u64>,
}

/// What a moderator or admin supplies to create a broadcast.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewBroadcast {
    #[serde(default)]
    pub title: Localized,
    #[serde(default)]
    pub description: Localized,
    pub starts_at: Option<u64>,
    #[serde(default)]
    pub premoderation: bool,
    #[serde(default = "yes")]
    pub allow_anonymous: bool,
    pub max_question_len: Option<usize>,
}

fn yes() -> bool {
    true
}

/// A change to a broadcast; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BroadcastPatch {
    pub title: Option<Localized>,
    pub description: Option<Localized>,
    pub starts_at: Option<u64>,
    pub premoderation: Option<bool>,
    pub allow_anonymous: Option<bool>,
    pub max_question_len: Option<usize>,
    pub paused: Option<bool>,
    pub state: Option<BroadcastState>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    Approved,
    Answered,
    Hidden,
    Withdrawn,
    Merged,
}

impl Status {
    /// Out of the queue for good without being shown to citizens.
    pub fn is_settled_unpublished(self) -> bool {
        matches!(self, Status::Hidden | Status::Merged | Status::Withdrawn)
    }
}

/// Why a question waits for a moderator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Held {
    Premoderation,
    Keyword,
    Muted,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// `None` when answered on air.
    pub text: Option<String>,
    pub live: bool,
    pub at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    pub id: QuestionId,
    pub broadcast: BroadcastId,
    pub text: String,
    #[serde(deserialize_with = "lang_code")]
    pub lang: LangCode,
    pub author_sub: String,
    pub author_name: String,
    pub anonymous: bool,
    /// For an anonymous question, the author's handle in this broadcast (`anon:…`, see
    /// [`crate::auth::Pseudonyms`]): what staff see instead of the author, enough to mute them.
    #[serde(default)]
    pub author_pseudonym: Option<String>,
    pub votes: u32,
    pub status: Status,
    /// Visible to citizens right now. Kept by the rules, never guessed from `status` alone: a merged
    /// duplicate stays visible only if it was visible before.
    pub public: bool,
    pub held: Option<Held>,
    pub matched_keywords: Vec<String>,
    pub hidden_reason: Option<String>,
    pub original_text: Option<String>,
    pub moderated: bool,
    pub answer: Option<Answer>,
    pub tags: Vec<String>,
    pub merged_into: Option<QuestionId>,
    pub created_at: u64,
    pub edited: bool,
    pub client_msg_id: Option<String>,
}

#[cfg(test)]
impl Question {
    /// An approved, public question with `text` and nothing else set, for unit tests.
    pub fn sample(id: QuestionId, text: &str) -> Question {
        Question {
            id,
            broadcast: 1,
            text: text.into(),
            lang: "en",
            author_sub: "s".into(),
            author_name: "n".into(),
            anonymous: false,
            author_pseudonym: None,
            votes: 0,
            status: Status::Approved,
            public: true,
            held: None,
            matched_keywords: vec![],
            hidden_reason: None,
            original_text: None,
            moderated: false,
            answer: None,
            tags: vec![],
            merged_into: None,
            created_at: 0,
            edited: false,
            client_msg_id: None,
        }
    }
}

/// `ar` or `en`. An alias, not `&'static str` in the field itself: serde's derive would then only deserialize
/// questions from `'static` input, and a store that keeps questions as JSON (Redis) reads them back.
pub type LangCode = &'static str;

/// Reads a stored `lang` back into one of the codes [`detect_lang`] gives.
fn lang_code<'de, D: serde::Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    let code = std::borrow::Cow::<str>::deserialize(d)?;
    Ok(if code == "ar" { "ar" } else { "en" })
}

/// `ar` if the text has Arabic script, else `en`: enough to show each FAQ entry in its own direction.
pub fn detect_lang(text: &str) -> &'static str {
    let arabic = text.chars().any(|c| matches!(c, '\u{0600}'..='\u{06FF}' | '\u{0750}'..='\u{077F}' | '\u{08A0}'..='\u{08FF}' | '\u{FB50}'..='\u{FDFF}' | '\u{FE70}'..='\u{FEFF}'));
    if arabic {
        "ar"
    } else {
        "en"
    }
}

/// A Q&A command, already parsed from the wire and carrying its broadcast.
#[derive(Debug, Clone)]
pub enum QaCommand {
    Ask { text: String, anonymous: bool, client_msg_id: Option<String> },
    Edit { question: QuestionId, text: String },
    Withdraw { question: QuestionId },
    Vote { question: QuestionId, value: bool },
    Approve { question: QuestionId },
    Hide { question: QuestionId, reason: String },
    Pin { question: QuestionId },
    Unpin,
    Answer { question: QuestionId, text: Option<String>, live: bool },
    Merge { question: QuestionId, into: QuestionId },
    ModEdit { question: QuestionId, text: String },
    Tag { question: QuestionId, tags: Vec<String> },
    Mute { user: String, muted: bool },
}

impl QaCommand {
    /// Commands only moderators and admins may send; checked before anything else happens.
    pub fn needs_moderator(&self) -> bool {
        !matches!(
            self,
            QaCommand::Ask { .. } | QaCommand::Edit { .. } | QaCommand::Withdraw { .. } | QaCommand::Vote { .. }
        )
    }
}

/// What a command returns to its sender.
#[derive(Debug, Clone)]
pub enum QaReply {
    Asked { question: Question, duplicate: bool },
    Question(Question),
    Voted { question: QuestionId, votes: u32, voted: bool },
    Done,
}
