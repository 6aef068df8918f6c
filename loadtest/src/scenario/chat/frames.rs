//! The chat's server frames as the harness reads them (docs/protocol.md §10.4): every frame is parsed whole,
//! since a chat carries a few frames a second, not thousands, and the checks need the messages' fields.

use serde::Deserialize;
use serde_json::Value;

/// Any server frame: a reply, a room's snapshot or event, a typing indicator.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct Frame {
    pub r#type: String,
    pub id: Value,
    pub room: String,
    pub seq: Option<u64>,
    pub epoch: Option<String>,
    pub recovered: bool,
    pub kind: String,
    pub data: Value,
    pub result: Value,
    pub code: String,
    /// Typing: whose it is (`citizen` or `agent`) and whether they type.
    pub side: String,
    pub typing: bool,
}

impl Frame {
    pub fn parse(text: &str) -> Option<Frame> {
        serde_json::from_str(text).ok()
    }

    /// The command id a reply answers.
    pub fn reply_id(&self) -> Option<u64> {
        matches!(self.r#type.as_str(), "ack" | "error").then(|| self.id.as_u64()).flatten()
    }
}

/// A chat message (§10.4.3), citizen or staff view.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct Message {
    pub seq: u64,
    pub kind: String,
    pub from: String,
    pub text: String,
    pub client_msg_id: Option<String>,
}

impl Message {
    pub fn of(value: &Value) -> Option<Message> {
        Message::deserialize(value).ok()
    }
}

/// The chat id in a room name: `chat:12` or `chat:12:staff`.
pub fn chat_of_room(room: &str) -> Option<u64> {
    let rest = room.strip_prefix("chat:")?;
    rest.split(':').next()?.parse().ok()
}

/// The citizen index the harness put in the pre-chat form's name (`lt<i>`), read back from a ChatSummary.
pub fn citizen_of_name(name: &str) -> Option<u64> {
    name.strip_prefix(CITIZEN_NAME)?.parse().ok()
}

/// The pre-chat form's name for citizen `i`: how an agent's `assigned` names who started the chat.
pub fn citizen_name(i: u64) -> String {
    format!("{CITIZEN_NAME}{i}")
}

const CITIZEN_NAME: &str = "lt";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_rooms_are_read() {
        let text = r#"{"type":"event","room":"chat:12:staff","seq":5,"kind":"message","data":{"seq":3,"at":1,"kind":"text","from":"citizen","name":"lt7","text":"hi","client_msg_id":"c7-1","sub":"c-1"}}"#;
        let frame = Frame::parse(text).expect("an event");
        assert_eq!((frame.r#type.as_str(), frame.seq, frame.kind.as_str()), ("event", Some(5), "message"));
        let message = Message::of(&frame.data).expect("a message");
        assert_eq!(
            (message.seq, message.from.as_str(), message.client_msg_id.as_deref()),
            (3, "citizen", Some("c7-1"))
        );
        assert_eq!(chat_of_room(&frame.room), Some(12));
        assert_eq!(chat_of_room("chat:9"), Some(9));
        assert_eq!(chat_of_room("desk"), None);
        let typing =
            Frame::parse(r#"{"type":"typing","room":"chat:12","side":"agent","typing":true}"#).expect("typing");
        assert!(typing.typing && typing.side == "agent");
        assert_eq!(Frame::parse(r#"{"type":"ack","id":4,"result":{}}"#).and_then(|f| f.reply_id()), Some(4));
        assert_eq!(citizen_of_name(&citizen_name(41)), Some(41));
    }
}
