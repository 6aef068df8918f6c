//! The Q&A part of the wire: its commands, and questions, events and snapshots as each audience sees them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{command_fields, encode, snapshot_frame, Command};
use crate::auth::PSEUDONYM_PREFIX;
use crate::error::Error;
use crate::qa::rooms::{Audience, RoomEvent, SnapshotData};
use crate::qa::{Answer, Broadcast, BroadcastId, Held, QaCommand, Question, QuestionId, Status};
use axum::extract::ws::Utf8Bytes;

/// Every Q&A command `type` of protocol v1.
pub const COMMAND_TYPES: &[&str] = &[
    "ask", "edit", "withdraw", "vote", "approve", "hide", "pin", "unpin", "answer", "merge", "mod_edit", "tag", "mute",
];

/// A Q&A command as it arrives: every one names its broadcast. Read as `{type: fields}` (see `command_fields`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Wire {
    Ask {
        broadcast: BroadcastId,
        text: String,
        #[serde(default)]
        anonymous: bool,
        client_msg_id: Option<String>,
    },
    Edit {
        broadcast: BroadcastId,
        question: QuestionId,
        text: String,
    },
    Withdraw {
        broadcast: BroadcastId,
        question: QuestionId,
    },
    Vote {
        broadcast: BroadcastId,
        question: QuestionId,
        value: bool,
    },
    Approve {
        broadcast: BroadcastId,
        question: QuestionId,
    },
    Hide {
        broadcast: BroadcastId,
        question: QuestionId,
        #[serde(default)]
        reason: String,
    },
    Pin {
        broadcast: BroadcastId,
        question: QuestionId,
    },
    Unpin {
        broadcast: BroadcastId,
    },
    Answer {
        broadcast: BroadcastId,
        question: QuestionId,
        text: Option<String>,
        #[serde(default)]
        live: bool,
    },
    Merge {
        broadcast: BroadcastId,
        question: QuestionId,
        into: QuestionId,
    },
    ModEdit {
        broadcast: BroadcastId,
        question: QuestionId,
        text: String,
    },
    Tag {
        broadcast: BroadcastId,
        question: QuestionId,
        tags: Vec<String>,
    },
    Mute {
        broadcast: BroadcastId,
        user: String,
        muted: bool,
    },
}

/// Parses a Q&A command's fields (`id` and `type` taken out); `kind` is one of [`COMMAND_TYPES`].
pub(super) fn parse(kind: &str, fields: Map<String, Value>) -> Result<Command, Error> {
    use QaCommand as Q;
    let (broadcast, command) = match command_fields::<Wire>(kind, fields)? {
        Wire::Ask { broadcast, text, anonymous, client_msg_id } => {
            (broadcast, Q::Ask { text, anonymous, client_msg_id })
        }
        Wire::Edit { broadcast, question, text } => (broadcast, Q::Edit { question, text }),
        Wire::Withdraw { broadcast, question } => (broadcast, Q::Withdraw { question }),
        Wire::Vote { broadcast, question, value } => (broadcast, Q::Vote { question, value }),
        Wire::Approve { broadcast, question } => (broadcast, Q::Approve { question }),
        Wire::Hide { broadcast, question, reason } => (broadcast, Q::Hide { question, reason }),
        Wire::Pin { broadcast, question } => (broadcast, Q::Pin { question }),
        Wire::Unpin { broadcast } => (broadcast, Q::Unpin),
        Wire::Answer { broadcast, question, text, live } => (broadcast, Q::Answer { question, text, live }),
        Wire::Merge { broadcast, question, into } => (broadcast, Q::Merge { question, into }),
        Wire::ModEdit { broadcast, question, text } => (broadcast, Q::ModEdit { question, text }),
        Wire::Tag { broadcast, question, tags } => (broadcast, Q::Tag { question, tags }),
        Wire::Mute { broadcast, user, muted } => (broadcast, Q::Mute { user, muted }),
    };
    Ok(Command::Qa { broadcast, command })
}

#[derive(Serialize)]
struct AuthorView<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<&'a str>,
    name: Option<&'a str>,
    /// Staff views of an anonymous question: the handle's 6 first hex digits, upper case, to show.
    #[serde(skip_serializing_if = "Option::is_none")]
    pseudonym: Option<String>,
}

impl<'a> AuthorView<'a> {
    /// What staff see: a named author's `sub` and name; for an anonymous question only its per-broadcast
    /// handle (`sub: "anon:…"`, which `mute` takes), never who is behind it.
    fn for_staff(q: &'a Question) -> Self {
        if !q.anonymous {
            return AuthorView { sub: Some(&q.author_sub), name: Some(&q.author_name), pseudonym: None };
        }
        let handle = q.author_pseudonym.as_deref();
        let shown = handle.map(|h| h.trim_start_matches(PSEUDONYM_PREFIX).chars().take(6).collect::<String>());
        AuthorView { sub: handle, name: None, pseudonym: shown.map(|p| p.to_uppercase()) }
    }

    /// What citizens see: the name, or nothing for an anonymous question.
    fn public(q: &'a Question) -> Option<Self> {
        (!q.anonymous).then(|| AuthorView { sub: None, name: Some(&q.author_name), pseudonym: None })
    }
}

/// A question as one audience may see it.
#[derive(Serialize)]
pub struct QuestionView<'a> {
    id: QuestionId,
    broadcast: BroadcastId,
    text: &'a str,
    lang: &'a str,
    author: Option<AuthorView<'a>>,
    votes: u32,
    status: Status,
    answer: Option<&'a Answer>,
    tags: &'a [String],
    merged_into: Option<QuestionId>,
    created_at: u64,
    edited: bool,
    /// A moderator has acted on it, so its author may no longer edit or withdraw it.
    moderated: bool,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    moderation: Option<ModerationView<'a>>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    own: Option<OwnView<'a>>,
}

#[derive(Serialize)]
struct ModerationView<'a> {
    anonymous: bool,
    held: Option<Held>,
    matched_keywords: &'a [String],
    hidden_reason: Option<&'a str>,
    original_text: Option<&'a str>,
}

/// What only the author sees of their own question, besides the public view: why it was hidden, and whether
/// it is on screen now.
#[derive(Serialize)]
struct OwnView<'a> {
    hidden_reason: Option<&'a str>,
    pinned: bool,
}

impl<'a> QuestionView<'a> {
    /// A question as the room of `audience` sees it.
    pub fn new(q: &'a Question, audience: Audience) -> Self {
        let moderation = audience == Audience::Moderation;
        let author = if moderation { Some(AuthorView::for_staff(q)) } else { AuthorView::public(q) };
        QuestionView {
            id: q.id,
            broadcast: q.broadcast,
            text: &q.text,
            lang: q.lang,
            author,
            votes: q.votes,
            status: q.status,
            answer: q.answer.as_ref(),
            tags: &q.tags,
            merged_into: q.merged_into,
            created_at: q.created_at,
            edited: q.edited,
            moderated: q.moderated,
            moderation: moderation.then(|| ModerationView {
                anonymous: q.anonymous,
                held: q.held,
                matched_keywords: &q.matched_keywords,
                hidden_reason: q.hidden_reason.as_deref(),
                original_text: q.original_text.as_deref(),
            }),
            own: None,
        }
    }

    /// The author's view of their own question: the public view whatever its state (the author never sees
    /// moderation details), plus the reason it was hidden and whether it is pinned.
    pub fn own(q: &'a Question, pinned: bool) -> Self {
        let own = Some(OwnView { hidden_reason: q.hidden_reason.as_deref(), pinned });
        QuestionView { own, ..QuestionView::new(q, Audience::Public) }
    }
}

/// Lives only while one frame is encoded, on the stack: its size costs nothing, a box would cost an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Serialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
enum EventBody<'a> {
    Question(QuestionView<'a>),
    QuestionRemoved { id: QuestionId },
    Votes { id: QuestionId, votes: u32 },
    Pinned { id: Option<QuestionId> },
    Broadcast(&'a Broadcast),
    Muted { user: &'a str, muted: bool },
}

/// Encodes a room event once, for every subscriber of `room`.
pub fn event(room: &str, seq: u64, audience: Audience, event: &RoomEvent) -> Utf8Bytes {
    #[derive(Serialize)]
    struct EventFrame<'a> {
        r#type: &'static str,
        room: &'a str,
        seq: u64,
        #[serde(flatten)]
        body: EventBody<'a>,
    }
    let body = match event {
        RoomEvent::Question(q) => EventBody::Question(QuestionView::new(q, audience)),
        RoomEvent::Own { question, pinned } => EventBody::Question(QuestionView::own(question, *pinned)),
        RoomEvent::QuestionRemoved(id) => EventBody::QuestionRemoved { id: *id },
        RoomEvent::Votes { id, votes } => EventBody::Votes { id: *id, votes: *votes },
        RoomEvent::Pinned(id) => EventBody::Pinned { id: *id },
        RoomEvent::Broadcast(b) => EventBody::Broadcast(b),
        RoomEvent::Muted { user, muted } => EventBody::Muted { user, muted: *muted },
    };
    encode(&EventFrame { r#type: "event", room, seq, body })
}

/// An event frame split around its `seq`, for a store that assigns the seq where it stores the event (a Redis
/// script): `head + seq + tail` is exactly what [`event`] gives for that seq.
pub fn event_template(room: &str, audience: Audience, e: &RoomEvent) -> (String, String) {
    let frame = event(room, 0, audience, e);
    // The seq comes before any data, so the first `"seq":0,` is the seq field and never user text.
    let at = frame.as_str().find("\"seq\":0,").expect("BUG: an event frame carries its seq");
    (frame.as_str()[..at + 6].to_string(), frame.as_str()[at + 7..].to_string())
}

pub fn snapshot(room: &str, epoch: &str, seq: u64, data: &SnapshotData) -> Utf8Bytes {
    #[derive(Serialize)]
    struct Data<'a> {
        broadcast: &'a Broadcast,
        questions: Vec<QuestionView<'a>>,
        pinned: Option<QuestionId>,
        participants: u32,
        mine: Vec<QuestionView<'a>>,
        my_votes: &'a [QuestionId],
        #[serde(skip_serializing_if = "Option::is_none")]
        muted: Option<&'a [String]>,
    }
    let audience = data.audience;
    snapshot_frame(
        room,
        epoch,
        seq,
        &Data {
            broadcast: &data.broadcast,
            questions: data.questions.iter().map(|q| QuestionView::new(q, audience)).collect(),
            pinned: data.pinned,
            participants: data.participants,
            mine: data.mine.iter().map(|q| QuestionView::own(q, data.pinned == Some(q.id))).collect(),
            my_votes: &data.my_votes,
            muted: (audience == Audience::Moderation).then_some(data.muted.as_slice()),
        },
    )
}

/// The `result` of a command's ack, as JSON.
pub fn question_result(q: &Question, audience: Audience) -> Value {
    serde_json::to_value(QuestionView::new(q, audience)).expect("BUG: wire structs always serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_template_rebuilds_the_frame() {
        let e = RoomEvent::Muted { user: "\"seq\":0,".into(), muted: true };
        let (head, tail) = event_template("broadcast:4:moderation", Audience::Moderation, &e);
        assert_eq!(format!("{head}42{tail}"), event("broadcast:4:moderation", 42, Audience::Moderation, &e).as_str());
    }
}
