//! Transcripts of a chat: for its citizen (no notes, no tags, no contact) and for staff (everything), as a
//! document that serializes to the JSON transcript, and as plain text in the chat's language with times in the
//! desk's time zone.

use std::fmt::Write as _;

use chrono::DateTime;
use chrono_tz::Tz;
use serde::Serialize;

use super::rules::ChatState;
use super::{
    Body, Category, Chat, ChatId, ChatLang, ChatStatus, Consent, EndReason, Notice, Party, Rating, RequeueReason, Seq,
    Side,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Citizen,
    Staff,
}

/// Which transcript of `chat` `user` may read, if any: its citizen theirs, its (last) agent and supervisors the
/// staff one. The same people as may join its rooms.
pub fn audience_for(user: &crate::auth::User, chat: &Chat) -> Option<Audience> {
    match chat.party(user)? {
        Party::Citizen => Some(Audience::Citizen),
        Party::Agent | Party::Supervisor => Some(Audience::Staff),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transcript {
    pub chat: ChatId,
    pub category: Category,
    pub lang: ChatLang,
    pub status: ChatStatus,
    pub created_at: u64,
    pub ended_at: Option<u64>,
    pub end_reason: Option<EndReason>,
    pub citizen_name: Option<String>,
    pub agent_name: Option<String>,
    pub rating: Option<Rating>,
    /// Staff transcripts only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staff: Option<StaffDetails>,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaffDetails {
    pub citizen_sub: String,
    pub contact: Option<String>,
    pub consent: Consent,
    pub tags: Vec<String>,
    pub agent_sub: Option<String>,
    pub transfers: u32,
}

/// One line of a transcript, in order. Notes (staff only) come right after the message they followed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    Text {
        seq: Seq,
        at: u64,
        from: Side,
        name: Option<String>,
        text: String,
    },
    /// `text` is the notice worded in the chat's language.
    System {
        seq: Seq,
        at: u64,
        notice: Notice,
        text: String,
    },
    Note {
        id: u32,
        after: Seq,
        at: u64,
        author: String,
        text: String,
    },
}

/// The transcript of `state` for `audience`. Needs every message (and for staff every note) loaded.
pub fn build(state: &ChatState, audience: Audience) -> Transcript {
    let chat = &state.chat;
    let mut notes = state.notes.values().filter(|_| audience == Audience::Staff).peekable();
    let mut entries = Vec::new();
    let mut notes_up_to = |seq: Seq, entries: &mut Vec<Entry>| {
        while let Some(note) = notes.next_if(|n| n.after <= seq) {
            let (id, after, at) = (note.id, note.after, note.at);
            entries.push(Entry::Note { id, after, at, author: note.author.name.clone(), text: note.text.clone() });
        }
    };
    notes_up_to(0, &mut entries);
    for m in state.visible_messages() {
        entries.push(match &m.body {
            Body::Text { from, name, text, .. } => {
                Entry::Text { seq: m.seq, at: m.at, from: *from, name: name.clone(), text: text.clone() }
            }
            Body::System { notice } => {
                let text = notice_text(notice, chat.lang);
                Entry::System { seq: m.seq, at: m.at, notice: notice.clone(), text }
            }
        });
        notes_up_to(m.seq, &mut entries);
    }
    notes_up_to(Seq::MAX, &mut entries);
    let staff = (audience == Audience::Staff).then(|| StaffDetails {
        citizen_sub: chat.citizen.sub.clone(),
        contact: chat.citizen.contact.clone(),
        consent: chat.consent.clone(),
        tags: chat.tags.clone(),
        agent_sub: chat.agent.as_ref().map(|a| a.sub.clone()),
        transfers: chat.transfers,
    });
    Transcript {
        chat: chat.id,
        category: chat.category,
        lang: chat.lang,
        status: chat.status,
        created_at: chat.created_at,
        ended_at: chat.ended_at,
        end_reason: chat.end_reason,
        citizen_name: chat.citizen.name.clone(),
        agent_name: chat.agent.as_ref().map(|a| a.name.clone()),
        rating: chat.rating.clone(),
        staff,
        entries,
    }
}

/// The transcript as plain text in the chat's language, times in `zone`.
pub fn plain_text(t: &Transcript, zone: Tz) -> String {
    let l = Labels::of(t.lang);
    let time = |ms: u64| format_time(ms, zone, "%Y-%m-%d %H:%M");
    let mut out = String::new();
    let mut line = |label: &str, value: &str| {
        let _ = writeln!(out, "{label}: {value}");
    };
    line(l.chat, &t.chat.to_string());
    line(l.category, category_name(t.category, t.lang));
    line(l.language, l.language_name);
    line(l.started, &format!("{} ({zone})", time(t.created_at)));
    if let Some(ended) = t.ended_at {
        line(l.ended, &format!("{} ({zone})", time(ended)));
    }
    if let Some(agent) = &t.agent_name {
        line(l.agent, agent);
    }
    if let Some(r) = &t.rating {
        let comment = r.comment.as_deref().map(|c| format!(" — {c}")).unwrap_or_default();
        line(l.rating, &format!("{}/5{comment}", r.score));
    }
    if let Some(staff) = &t.staff {
        line(l.contact, staff.contact.as_deref().unwrap_or("—"));
        line(l.tags, &staff.tags.join(", "));
        line(l.consent, &format!("{} ({})", staff.consent.version, time(staff.consent.at)));
    }
    let citizen = t.citizen_name.as_deref().unwrap_or(l.citizen);
    let mut out = format!("{}\n{out}\n", l.title);
    for entry in &t.entries {
        let _ = match entry {
            Entry::Text { at, from, name, text, .. } => {
                let who = match from {
                    Side::Citizen => citizen.to_string(),
                    Side::Agent => format!("{} ({})", name.as_deref().unwrap_or(l.agent), l.agent),
                };
                writeln!(out, "[{}] {who}: {}", format_time(*at, zone, "%H:%M"), indent(text))
            }
            Entry::System { at, text, .. } => writeln!(out, "[{}] — {text} —", format_time(*at, zone, "%H:%M")),
            Entry::Note { at, author, text, .. } => {
                writeln!(out, "[{}] [{}] {author}: {}", format_time(*at, zone, "%H:%M"), l.note, indent(text))
            }
        };
    }
    out
}

/// A notice as a sentence in `lang`, for transcripts (pages word notices themselves).
pub fn notice_text(notice: &Notice, lang: ChatLang) -> String {
    let ar = lang == ChatLang::Ar;
    match notice {
        Notice::Joined { agent } if ar => format!("انضم {agent} إلى المحادثة."),
        Notice::Joined { agent } => format!("{agent} joined the chat."),
        Notice::Transferred { from, to } if ar => format!("حوّل {from} المحادثة إلى {to}."),
        Notice::Transferred { from, to } => format!("{from} transferred the chat to {to}."),
        Notice::Requeued { reason } => requeue_text(*reason, ar).to_string(),
        Notice::Ended { reason } => end_text(*reason, ar).to_string(),
    }
}

fn requeue_text(reason: RequeueReason, ar: bool) -> &'static str {
    match (reason, ar) {
        (RequeueReason::AgentDisconnected, true) => "انقطع اتصال الموظف؛ عادت المحادثة إلى مقدمة قائمة الانتظار.",
        (RequeueReason::AgentDisconnected, false) => {
            "The agent's connection was lost; the chat is back at the front of the queue."
        }
        (RequeueReason::AgentOffline, true) => "غادر الموظف؛ عادت المحادثة إلى مقدمة قائمة الانتظار.",
        (RequeueReason::AgentOffline, false) => "The agent has left; the chat is back at the front of the queue.",
        (RequeueReason::Returned, true) => "أعيدت المحادثة إلى قائمة الانتظار لموظف آخر.",
        (RequeueReason::Returned, false) => "The chat went back to the queue for another agent.",
    }
}

fn end_text(reason: EndReason, ar: bool) -> &'static str {
    match (reason, ar) {
        (EndReason::LeftQueue, true) => "غادر المواطن قائمة الانتظار.",
        (EndReason::LeftQueue, false) => "The citizen left the queue.",
        (EndReason::Citizen, true) => "أنهى المواطن المحادثة.",
        (EndReason::Citizen, false) => "The citizen ended the chat.",
        (EndReason::Agent, true) => "أنهى الموظف المحادثة.",
        (EndReason::Agent, false) => "The agent ended the chat.",
        (EndReason::Supervisor, true) => "أنهى مشرف المحادثة.",
        (EndReason::Supervisor, false) => "A supervisor ended the chat.",
        (EndReason::Abandoned, true) => "انتهت المحادثة بعد مغادرة المواطن.",
        (EndReason::Abandoned, false) => "The chat ended after the citizen left.",
    }
}

pub fn category_name(category: Category, lang: ChatLang) -> &'static str {
    match (category, lang) {
        (Category::Inquiry, ChatLang::Ar) => "استفسار",
        (Category::Suggestion, ChatLang::Ar) => "اقتراح",
        (Category::Complaint, ChatLang::Ar) => "شكوى",
        (Category::Other, ChatLang::Ar) => "أخرى",
        (Category::Inquiry, ChatLang::En) => "Inquiry",
        (Category::Suggestion, ChatLang::En) => "Suggestion",
        (Category::Complaint, ChatLang::En) => "Complaint",
        (Category::Other, ChatLang::En) => "Other",
    }
}

struct Labels {
    title: &'static str,
    chat: &'static str,
    category: &'static str,
    language: &'static str,
    language_name: &'static str,
    started: &'static str,
    ended: &'static str,
    agent: &'static str,
    citizen: &'static str,
    rating: &'static str,
    contact: &'static str,
    tags: &'static str,
    consent: &'static str,
    note: &'static str,
}

impl Labels {
    fn of(lang: ChatLang) -> Self {
        match lang {
            ChatLang::Ar => Labels {
                title: "نص المحادثة",
                chat: "المحادثة",
                category: "الفئة",
                language: "اللغة",
                language_name: "العربية",
                started: "البدء",
                ended: "الانتهاء",
                agent: "الموظف",
                citizen: "المواطن",
                rating: "التقييم",
                contact: "وسيلة التواصل",
                tags: "الوسوم",
                consent: "الموافقة",
                note: "ملاحظة داخلية",
            },
            ChatLang::En => Labels {
                title: "Chat transcript",
                chat: "Chat",
                category: "Category",
                language: "Language",
                language_name: "English",
                started: "Started",
                ended: "Ended",
                agent: "Agent",
                citizen: "Citizen",
                rating: "Rating",
                contact: "Contact",
                tags: "Tags",
                consent: "Consent",
                note: "Internal note",
            },
        }
    }
}

fn format_time(ms: u64, zone: Tz, format: &str) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(DateTime::from_timestamp_millis)
        .map(|t| t.with_timezone(&zone).format(format).to_string())
        .unwrap_or_default()
}

/// Continuation lines of a multi-line message, indented so every entry still starts with its time.
fn indent(text: &str) -> String {
    text.replace('\n', "\n    ")
}
