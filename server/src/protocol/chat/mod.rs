//! The live chat's part of the wire (docs/protocol.md §10): its commands and their acks here; its objects
//! per audience in `views.rs`; its events, snapshots and typing frames in `frames.rs`; the REST bodies that
//! have no WebSocket twin in `rest.rs`.

mod frames;
pub mod rest;
pub mod views;

use serde::Deserialize;
use serde_json::{json, Map, Value};

pub use frames::{citizen_snapshot, desk_snapshot, event, event_template, staff_snapshot, typing, user_part, UserPart};

use super::{command_fields, Command};
use crate::chat::rules::{ChatCommand, ChatReply, DeskCommand, DeskReply, Started};
use crate::chat::{Availability, Category, ChatId, ChatLang, Seq, StartForm};
use crate::error::Error;
use views::{AgentWire, MessageView, NoteView, RatingView, ReceiptsView};

/// Every chat command `type` of protocol v1.
pub const COMMAND_TYPES: &[&str] = &[
    "chat_start",
    "chat_send",
    "chat_note",
    "chat_typing",
    "chat_receipt",
    "chat_tag",
    "chat_rate",
    "chat_end",
    "chat_take",
    "chat_transfer",
    "chat_requeue",
    "agent_status",
];

/// A chat command as it arrives. Read as `{type: fields}` (see `command_fields`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Wire {
    ChatStart {
        category: Category,
        lang: ChatLang,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        contact: Option<String>,
        consent: bool,
        consent_version: String,
        client_msg_id: Option<String>,
    },
    ChatSend {
        chat: ChatId,
        text: String,
        client_msg_id: Option<String>,
    },
    ChatNote {
        chat: ChatId,
        text: String,
        client_msg_id: Option<String>,
    },
    ChatTyping {
        chat: ChatId,
        typing: bool,
    },
    ChatReceipt {
        chat: ChatId,
        delivered: Option<Seq>,
        read: Option<Seq>,
    },
    ChatTag {
        chat: ChatId,
        tags: Vec<String>,
    },
    ChatRate {
        chat: ChatId,
        score: u8,
        comment: Option<String>,
    },
    ChatEnd {
        chat: ChatId,
    },
    ChatTake {
        chat: ChatId,
    },
    ChatTransfer {
        chat: ChatId,
        to: String,
        note: Option<String>,
    },
    ChatRequeue {
        chat: ChatId,
        note: Option<String>,
    },
    AgentStatus {
        availability: Availability,
        languages: Option<Vec<ChatLang>>,
    },
}

/// Parses a chat command's fields (`id` and `type` taken out); `kind` is one of [`COMMAND_TYPES`].
pub(super) fn parse(kind: &str, fields: Map<String, Value>) -> Result<Command, Error> {
    let on = |chat, command| Ok(Command::Chat { chat, command });
    match command_fields::<Wire>(kind, fields)? {
        Wire::ChatStart { category, lang, name, contact, consent, consent_version, client_msg_id } => {
            let form = StartForm { category, lang, name, contact, consent, consent_version, client_msg_id };
            Ok(Command::ChatStart(form))
        }
        Wire::ChatSend { chat, text, client_msg_id } => on(chat, ChatCommand::Send { text, client_msg_id }),
        Wire::ChatNote { chat, text, client_msg_id } => on(chat, ChatCommand::Note { text, client_msg_id }),
        Wire::ChatTyping { chat, typing } => on(chat, ChatCommand::Typing { typing }),
        Wire::ChatReceipt { chat, delivered, read } => on(chat, ChatCommand::Receipt { delivered, read }),
        Wire::ChatTag { chat, tags } => on(chat, ChatCommand::Tag { tags }),
        Wire::ChatRate { chat, score, comment } => on(chat, ChatCommand::Rate { score, comment }),
        Wire::ChatEnd { chat } => Ok(Command::Desk(DeskCommand::End { chat })),
        Wire::ChatTake { chat } => Ok(Command::Desk(DeskCommand::Take { chat })),
        Wire::ChatTransfer { chat, to, note } => Ok(Command::Desk(DeskCommand::Transfer { chat, to, note })),
        Wire::ChatRequeue { chat, note } => Ok(Command::Desk(DeskCommand::Requeue { chat, note })),
        Wire::AgentStatus { availability, languages } => {
            Ok(Command::Desk(DeskCommand::Status { availability, languages }))
        }
    }
}

fn value(v: impl serde::Serialize) -> Value {
    serde_json::to_value(v).expect("BUG: wire structs always serialize")
}

/// The ack of `chat_start`.
pub fn started(s: &Started) -> Value {
    json!({ "chat": s.chat, "position": s.position, "estimate_ms": s.estimate_ms, "duplicate": s.duplicate })
}

/// The ack of a one-chat command; `staff`: the sender sees the staff view of their own message.
pub fn reply(r: &ChatReply, staff: bool) -> Value {
    match r {
        ChatReply::Sent { message, duplicate } => {
            json!({ "message": value(MessageView::new(message, staff)), "duplicate": duplicate })
        }
        ChatReply::Noted { note, duplicate } => json!({ "note": value(NoteView::from(note)), "duplicate": duplicate }),
        ChatReply::Receipts(r) => json!({ "receipts": value(ReceiptsView::from(r)) }),
        ChatReply::Tags(tags) => json!({ "tags": tags }),
        ChatReply::Rated(rating) => json!({ "rating": value(RatingView::from(rating)) }),
        ChatReply::Done => json!({}),
    }
}

/// The ack of a desk command.
pub fn desk_reply(r: &DeskReply) -> Value {
    match r {
        DeskReply::Done => json!({}),
        DeskReply::Agent(agent) => json!({ "agent": value(AgentWire::from(&**agent)) }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::protocol::parse as parse_frame;

    #[test]
    fn chat_commands_parse_and_bad_fields_are_named() {
        let (_, r) = parse_frame(r#"{"type":"chat_send","id":1,"chat":4,"text":"hi","client_msg_id":"a"}"#);
        assert!(matches!(r, Ok(Command::Chat { chat: 4, command: ChatCommand::Send { .. } })));
        let (_, r) = parse_frame(r#"{"type":"chat_end","id":1,"chat":4}"#);
        assert!(matches!(r, Ok(Command::Desk(DeskCommand::End { chat: 4 }))));
        let (_, r) = parse_frame(
            r#"{"type":"chat_start","id":1,"category":"complaint","lang":"ar","consent":true,"consent_version":"v"}"#,
        );
        assert!(matches!(r, Ok(Command::ChatStart(_))));
        let (_, r) = parse_frame(r#"{"type":"chat_send","id":1,"chat":"x","text":"hi"}"#);
        let error = r.unwrap_err();
        assert_eq!(error.code, ErrorCode::BadRequest);
        assert_eq!(error.message, "The \"chat\" field must be a whole number (0 or more).");
        let (_, r) = parse_frame(r#"{"type":"agent_status","id":1,"availability":"sleeping"}"#);
        assert_eq!(r.unwrap_err().code, ErrorCode::BadRequest);
    }
}
