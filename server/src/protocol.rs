//! Wire protocol v1: the only module that knows the JSON on the wire (docs/protocol.md).
//!
//! Incoming frames become [`Command`]s; outgoing frames are encoded once into [`Utf8Bytes`] that the hub can
//! share among any number of connections.

use axum::extract::ws::Utf8Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::User;
use crate::error::{Error, ErrorCode};
use crate::qa::rooms::{Audience, RoomEvent, SnapshotData};
use crate::qa::{Answer, Broadcast, BroadcastId, Held, QaCommand, Question, QuestionId, Status};

/// A room position a reconnecting client already has.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct Position {
    pub epoch: String,
    pub seq: u64,
}

/// A client command, as parsed from one text frame.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    Auth {
        token: String,
    },
    Ping,
    Join {
        room: String,
        since: Option<Position>,
        /// A screen showing the room (a presenter view), not a person: not counted as a participant.
        #[serde(default)]
        observer: bool,
    },
    Leave {
        room: String,
    },
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

/// Every command `type` of protocol v1 (an unknown one is `unknown_type`, a known one with bad fields is
/// `bad_request`).
const COMMAND_TYPES: &[&str] = &[
    "auth", "ping", "join", "leave", "ask", "edit", "withdraw", "vote", "approve", "hide", "pin", "unpin", "answer",
    "merge", "mod_edit", "tag", "mute",
];

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    id: Value,
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// Parses one text frame. The command id comes back even when the command is bad, so the error can carry it.
pub fn parse(text: &str) -> (Value, Result<Command, Error>) {
    let envelope: Envelope = match serde_json::from_str(text) {
        Ok(e) => e,
        Err(_) => return (Value::Null, Err(Error::bad_request("The frame is not a JSON object."))),
    };
    let id = envelope.id;
    let Some(kind) = envelope.kind else {
        return (id, Err(Error::bad_request("The frame has no \"type\".")));
    };
    if !COMMAND_TYPES.contains(&kind.as_str()) {
        return (id, Err(Error::new(ErrorCode::UnknownType, format!("Unknown type \"{}\".", truncate(&kind, 40)))));
    }
    let command = serde_json::from_str::<Command>(text).map_err(|e| {
        // serde's message names the field at fault and nothing of the server: safe and useful to show.
        Error::bad_request(format!("Invalid \"{kind}\" command: {}", truncate(&e.to_string(), 200)))
    });
    (id, command)
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

impl Command {
    /// The Q&A part of a command: its broadcast and domain command.
    pub fn into_qa(self) -> Option<(BroadcastId, QaCommand)> {
        use QaCommand as Q;
        Some(match self {
            Command::Ask { broadcast, text, anonymous, client_msg_id } => {
                (broadcast, Q::Ask { text, anonymous, client_msg_id })
            }
            Command::Edit { broadcast, question, text } => (broadcast, Q::Edit { question, text }),
            Command::Withdraw { broadcast, question } => (broadcast, Q::Withdraw { question }),
            Command::Vote { broadcast, question, value } => (broadcast, Q::Vote { question, value }),
            Command::Approve { broadcast, question } => (broadcast, Q::Approve { question }),
            Command::Hide { broadcast, question, reason } => (broadcast, Q::Hide { question, reason }),
            Command::Pin { broadcast, question } => (broadcast, Q::Pin { question }),
            Command::Unpin { broadcast } => (broadcast, Q::Unpin),
            Command::Answer { broadcast, question, text, live } => (broadcast, Q::Answer { question, text, live }),
            Command::Merge { broadcast, question, into } => (broadcast, Q::Merge { question, into }),
            Command::ModEdit { broadcast, question, text } => (broadcast, Q::ModEdit { question, text }),
            Command::Tag { broadcast, question, tags } => (broadcast, Q::Tag { question, tags }),
            Command::Mute { broadcast, user, muted } => (broadcast, Q::Mute { user, muted }),
            Command::Auth { .. } | Command::Ping | Command::Join { .. } | Command::Leave { .. } => return None,
        })
    }
}

fn encode(value: &impl Serialize) -> Utf8Bytes {
    // Serializing our own plain structs to a String cannot fail (no maps with non-string keys, no I/O).
    Utf8Bytes::from(serde_json::to_string(value).expect("BUG: wire structs always serialize"))
}

pub fn ack(id: &Value, result: &impl Serialize) -> Utf8Bytes {
    #[derive(Serialize)]
    struct Ack<'a, T> {
        r#type: &'static str,
        id: &'a Value,
        result: &'a T,
    }
    encode(&Ack { r#type: "ack", id, result })
}

pub fn error(id: &Value, error: &Error) -> Utf8Bytes {
    #[derive(Serialize)]
    struct ErrorFrame<'a> {
        r#type: &'static str,
        id: &'a Value,
        code: ErrorCode,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    }
    encode(&ErrorFrame {
        r#type: "error",
        id,
        code: error.code,
        message: &error.message,
        retry_after_ms: error.retry_after_ms,
    })
}

pub fn presence(room: &str, participants: u32) -> Utf8Bytes {
    #[derive(Serialize)]
    struct Presence<'a> {
        r#type: &'static str,
        room: &'a str,
        participants: u32,
    }
    encode(&Presence { r#type: "presence", room, participants })
}

pub fn server_shutdown(reconnect_after_ms: u64) -> Utf8Bytes {
    #[derive(Serialize)]
    struct Shutdown {
        r#type: &'static str,
        reconnect_after_ms: u64,
    }
    encode(&Shutdown { r#type: "server_shutdown", reconnect_after_ms })
}

#[derive(Serialize)]
pub struct UserView<'a> {
    pub sub: &'a str,
    pub name: &'a str,
    pub role: crate::auth::Role,
}

impl<'a> From<&'a User> for UserView<'a> {
    fn from(u: &'a User) -> Self {
        UserView { sub: &u.sub, name: &u.name, role: u.role }
    }
}

#[derive(Serialize)]
struct AuthorView<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<&'a str>,
    name: Option<&'a str>,
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
}

#[derive(Serialize)]
struct ModerationView<'a> {
    anonymous: bool,
    held: Option<Held>,
    matched_keywords: &'a [String],
    hidden_reason: Option<&'a str>,
    original_text: Option<&'a str>,
}

impl<'a> QuestionView<'a> {
    /// `own` is the author's view of their own question: like the public one (the author never sees
    /// moderation details), but whatever its state.
    pub fn new(q: &'a Question, audience: Audience) -> Self {
        let moderation = audience == Audience::Moderation;
        let author = if moderation {
            Some(AuthorView { sub: Some(&q.author_sub), name: (!q.anonymous).then_some(q.author_name.as_str()) })
        } else if q.anonymous {
            None
        } else {
            Some(AuthorView { sub: None, name: Some(&q.author_name) })
        };
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
        }
    }
}

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
    #[derive(Serialize)]
    struct Snapshot<'a> {
        r#type: &'static str,
        room: &'a str,
        epoch: &'a str,
        seq: u64,
        recovered: bool,
        data: Data<'a>,
    }
    let audience = data.audience;
    encode(&Snapshot {
        r#type: "snapshot",
        room,
        epoch,
        seq,
        recovered: false,
        data: Data {
            broadcast: &data.broadcast,
            questions: data.questions.iter().map(|q| QuestionView::new(q, audience)).collect(),
            pinned: data.pinned,
            participants: data.participants,
            mine: data.mine.iter().map(|q| QuestionView::new(q, Audience::Public)).collect(),
            my_votes: &data.my_votes,
            muted: (audience == Audience::Moderation).then_some(data.muted.as_slice()),
        },
    })
}

/// The `result` of a command's ack, as JSON.
pub fn question_result(q: &Question, audience: Audience) -> Value {
    serde_json::to_value(QuestionView::new(q, audience)).expect("BUG: wire structs always serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_frames_get_the_right_codes_and_keep_the_id() {
        let (id, r) = parse("not json");
        assert_eq!((id, r.unwrap_err().code), (Value::Null, ErrorCode::BadRequest));
        let (id, r) = parse(r#"{"type":"fly","id":"x"}"#);
        assert_eq!((id, r.unwrap_err().code), (Value::from("x"), ErrorCode::UnknownType));
        let (id, r) = parse(r#"{"type":"vote","id":3,"broadcast":1}"#);
        assert_eq!((id, r.unwrap_err().code), (Value::from(3), ErrorCode::BadRequest));
        let (_, r) = parse(r#"{"type":"vote","id":3,"broadcast":1,"question":2,"value":true}"#);
        assert!(matches!(r, Ok(Command::Vote { broadcast: 1, question: 2, value: true })));
    }

    #[test]
    fn an_event_template_rebuilds_the_frame() {
        let e = RoomEvent::Muted { user: "\"seq\":0,".into(), muted: true };
        let (head, tail) = event_template("broadcast:4:moderation", Audience::Moderation, &e);
        assert_eq!(format!("{head}42{tail}"), event("broadcast:4:moderation", 42, Audience::Moderation, &e).as_str());
    }
}
