//! Wire protocol v1: the only module that knows the JSON on the wire (docs/protocol.md).
//!
//! Incoming frames become [`Command`]s; outgoing frames are encoded once into [`Utf8Bytes`] that the hub can
//! share among any number of connections. This file holds what every domain shares (the envelope, replies,
//! rooms' positions, the connection's own commands); each domain's commands and views have a file of their own
//! (`qa.rs`, `chat/`).

pub mod chat;
pub mod fields;
pub mod personal;
pub mod qa;

use axum::extract::ws::Utf8Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::auth::User;
use crate::chat::rooms::ChatRoom;
use crate::chat::rules::{ChatCommand, DeskCommand};
use crate::chat::{ChatId, StartForm};
use crate::error::{Error, ErrorCode};
use crate::qa::rooms::RoomRef;
use crate::qa::{BroadcastId, QaCommand};

/// A room position a reconnecting client already has.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct Position {
    pub epoch: String,
    pub seq: u64,
}

/// A room, by its wire name: `broadcast:<id>`, `broadcast:<id>:moderation`, `chat:<id>`, `chat:<id>:staff`,
/// `desk` or `user:<sub>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Room {
    Broadcast(RoomRef),
    /// A chat's rooms and the desk (never `ChatRoom::User`: that is [`Room::Person`]).
    Chat(ChatRoom),
    /// A person's own stream.
    Person(String),
}

/// Longest `sub` a personal room's name may carry.
const MAX_SUB_LEN: usize = 128;

impl Room {
    pub fn parse(name: &str) -> Option<Room> {
        if let Some(sub) = name.strip_prefix(personal::PREFIX) {
            let plausible = !sub.is_empty() && sub.len() <= MAX_SUB_LEN && !sub.contains(['"', '\\']);
            return plausible.then(|| Room::Person(sub.to_string()));
        }
        if name == "desk" || name.starts_with("chat:") {
            // Decimal without a sign or leading zeros, as for broadcasts: one name per room.
            let room = ChatRoom::parse(name)?;
            return (room.key() == name).then_some(Room::Chat(room));
        }
        RoomRef::parse(name).map(Room::Broadcast)
    }

    /// The name, which is also the hub's key.
    pub fn key(&self) -> String {
        match self {
            Room::Broadcast(room) => room.key(),
            Room::Chat(room) => room.key(),
            Room::Person(sub) => personal::room(sub),
        }
    }
}

/// A client command, as parsed from one text frame.
#[derive(Debug)]
pub enum Command {
    Auth {
        token: String,
    },
    Ping,
    Join {
        room: String,
        since: Option<Position>,
        /// A screen showing the room (a presenter view), not a person: not counted as a participant.
        observer: bool,
    },
    Leave {
        room: String,
    },
    /// A Q&A command of one broadcast.
    Qa {
        broadcast: BroadcastId,
        command: QaCommand,
    },
    /// `chat_start`: the pre-chat form.
    ChatStart(StartForm),
    /// A command on one chat.
    Chat {
        chat: ChatId,
        command: ChatCommand,
    },
    /// A command on the desk (end, take, transfer, requeue, agent status).
    Desk(DeskCommand),
}

/// The connection's own commands, whatever the domain. Read as `{type: fields}` (see [`command_fields`]).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ConnectionCommand {
    Auth {
        token: String,
    },
    Ping {},
    Join {
        room: String,
        since: Option<Position>,
        #[serde(default)]
        observer: bool,
    },
    Leave {
        room: String,
    },
}

const CONNECTION_TYPES: &[&str] = &["auth", "ping", "join", "leave"];

impl From<ConnectionCommand> for Command {
    fn from(c: ConnectionCommand) -> Self {
        match c {
            ConnectionCommand::Auth { token } => Command::Auth { token },
            ConnectionCommand::Ping {} => Command::Ping,
            ConnectionCommand::Join { room, since, observer } => Command::Join { room, since, observer },
            ConnectionCommand::Leave { room } => Command::Leave { room },
        }
    }
}

/// Parses one text frame. The command id comes back even when the command is bad, so the error can carry it.
/// A frame that is not a JSON object, or has no usable `id`, is refused with `id: null`: a command without an
/// id could not be told apart from such a frame by its reply. A known `type` with bad fields is
/// `bad_request`; an unknown one is `unknown_type`.
pub fn parse(text: &str) -> (Value, Result<Command, Error>) {
    let Ok(Value::Object(mut fields)) = serde_json::from_str::<Value>(text) else {
        return (Value::Null, Err(Error::bad_request("The frame is not a JSON object.")));
    };
    let id = match fields.remove("id") {
        Some(id @ (Value::String(_) | Value::Number(_))) => id,
        _ => {
            let error = Error::bad_request("Every command needs an \"id\" (a string or a number) to answer it by.");
            return (Value::Null, Err(error));
        }
    };
    let kind = match fields.remove("type") {
        Some(Value::String(kind)) => kind,
        _ => return (id, Err(Error::bad_request("The frame has no \"type\"."))),
    };
    let command = if CONNECTION_TYPES.contains(&kind.as_str()) {
        command_fields::<ConnectionCommand>(&kind, fields).map(Command::from)
    } else if qa::COMMAND_TYPES.contains(&kind.as_str()) {
        qa::parse(&kind, fields)
    } else if chat::COMMAND_TYPES.contains(&kind.as_str()) {
        chat::parse(&kind, fields)
    } else {
        Err(Error::new(ErrorCode::UnknownType, format!("Unknown type \"{}\".", truncate(&kind, 40))))
    };
    (id, command)
}

/// Reads a command's fields; `kind` is already known to be one of `T`'s variants. `T` is read as
/// `{kind: fields}` (serde's external tagging), not from a `type` field inside: with the tag inside, serde
/// reads the fields through a buffer that loses which one was at fault.
fn command_fields<T: serde::de::DeserializeOwned>(kind: &str, body: Map<String, Value>) -> Result<T, Error> {
    let tagged = Value::Object(Map::from_iter([(kind.to_string(), Value::Object(body))]));
    fields::from_value(tagged)
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
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

/// A `snapshot` frame: the state a joining client starts from, and the room position it reflects.
pub fn snapshot_frame(room: &str, epoch: &str, seq: u64, data: &impl Serialize) -> Utf8Bytes {
    #[derive(Serialize)]
    struct Snapshot<'a, T> {
        r#type: &'static str,
        room: &'a str,
        epoch: &'a str,
        seq: u64,
        recovered: bool,
        data: &'a T,
    }
    encode(&Snapshot { r#type: "snapshot", room, epoch, seq, recovered: false, data })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_frames_get_the_right_codes_and_keep_the_id() {
        let (id, r) = parse("not json");
        assert_eq!((id, r.unwrap_err().code), (Value::Null, ErrorCode::BadRequest));
        let (id, r) = parse(r#"{"type":"ping"}"#);
        assert_eq!((id, r.unwrap_err().code), (Value::Null, ErrorCode::BadRequest), "no id");
        let (id, r) = parse(r#"{"type":"ping","id":null}"#);
        assert_eq!((id, r.unwrap_err().code), (Value::Null, ErrorCode::BadRequest), "a null id");
        let (_, r) = parse(r#"{"type":"ping","id":"p"}"#);
        assert!(matches!(r, Ok(Command::Ping)));
        let (id, r) = parse(r#"{"type":"fly","id":"x"}"#);
        assert_eq!((id, r.unwrap_err().code), (Value::from("x"), ErrorCode::UnknownType));
        let (id, r) = parse(r#"{"type":"vote","id":3,"broadcast":1}"#);
        let error = r.unwrap_err();
        assert_eq!((id, error.code), (Value::from(3), ErrorCode::BadRequest));
        assert_eq!(error.message, "The \"question\" field is missing.");
        let (_, r) = parse(r#"{"type":"vote","id":3,"broadcast":1,"question":"x","value":true}"#);
        assert_eq!(r.unwrap_err().message, "The \"question\" field must be a whole number (0 or more).");
        let (_, r) = parse(r#"{"type":"join","id":3,"room":"broadcast:1","since":{"epoch":"e","seq":"4"}}"#);
        assert_eq!(r.unwrap_err().message, "The \"since.seq\" field must be a whole number (0 or more).");
        let (_, r) = parse(r#"{"type":"vote","id":3,"broadcast":1,"question":2,"value":true}"#);
        assert!(matches!(r, Ok(Command::Qa { broadcast: 1, command: QaCommand::Vote { question: 2, value: true } })));
        assert_eq!(Room::parse("user:c-1f"), Some(Room::Person("c-1f".into())));
        assert_eq!(Room::parse("user:"), None);
        assert_eq!(Room::parse("broadcast:2").map(|r| r.key()).as_deref(), Some("broadcast:2"));
        let (_, r) = parse(r#"{"type":"join","id":4,"room":"broadcast:1"}"#);
        assert!(matches!(r, Ok(Command::Join { observer: false, .. })));
    }
}
