//! The live chat's frames: room events (§10.4.2), snapshots (§10.4.1) and typing indicators. Each room's
//! events are encoded for that room's audience alone: the citizen's room from [`CitizenEvent`], which has no
//! variant for a note.

use axum::extract::ws::Utf8Bytes;
use serde::Serialize;

use super::views::{
    AgentWire, CannedView, ChatView, MessageView, NoteView, OfflineView, OpenChatView, QueueItemView, ReceiptsView,
    StaffChatView, SummaryView,
};
use crate::chat::rooms::{
    CitizenEvent, CitizenSnapshot, DeskEvent, DeskSnapshot, Routed, StaffEvent, StaffSnapshot, UserEvent, UserSnapshot,
};
use crate::chat::{ChatId, ChatLang, Side};
use crate::protocol::{encode, snapshot_frame};

#[derive(Serialize)]
struct Queue {
    position: Option<u32>,
    estimate_ms: Option<u64>,
}

#[derive(Serialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
enum EventBody<'a> {
    Chat(ChatView<'a>),
    #[serde(rename = "chat")]
    StaffChat(Box<StaffChatView<'a>>),
    Message(MessageView<'a>),
    Note(NoteView<'a>),
    Receipts(ReceiptsView),
    Queue(Queue),
    Agent(AgentWire<'a>),
    #[serde(rename = "queue")]
    DeskQueue {
        lang: ChatLang,
        waiting: Vec<QueueItemView<'a>>,
    },
    Open(OpenChatView<'a>),
    Closed {
        chat: ChatId,
    },
    Offline(OfflineView<'a>),
    Canned(CannedView<'a>),
    CannedRemoved {
        id: u64,
    },
    Assigned {
        chat: SummaryView<'a>,
        from: Option<&'a str>,
    },
    Released {
        chat: ChatId,
    },
    MyChat(SummaryView<'a>),
}

fn body(routed: &Routed) -> Option<EventBody<'_>> {
    Some(match routed {
        Routed::Citizen(_, e) => match e {
            CitizenEvent::Chat(c) => EventBody::Chat(c.into()),
            CitizenEvent::Message(m) => EventBody::Message(MessageView::new(m, false)),
            CitizenEvent::Receipts(r) => EventBody::Receipts(r.into()),
            CitizenEvent::Queue { position, estimate_ms } => {
                EventBody::Queue(Queue { position: *position, estimate_ms: *estimate_ms })
            }
            CitizenEvent::Typing { .. } => return None,
        },
        Routed::Staff(_, e) => match e {
            StaffEvent::Chat(c) => EventBody::StaffChat(Box::new((&**c).into())),
            StaffEvent::Message(m) => EventBody::Message(MessageView::new(m, true)),
            StaffEvent::Note(n) => EventBody::Note(n.into()),
            StaffEvent::Receipts(r) => EventBody::Receipts(r.into()),
            StaffEvent::Queue { position, estimate_ms } => {
                EventBody::Queue(Queue { position: *position, estimate_ms: *estimate_ms })
            }
            StaffEvent::Typing { .. } => return None,
        },
        Routed::Desk(e) => match e {
            DeskEvent::Agent(a) => EventBody::Agent(a.into()),
            DeskEvent::Queue { lang, waiting } => {
                EventBody::DeskQueue { lang: *lang, waiting: waiting.iter().map(Into::into).collect() }
            }
            DeskEvent::Open(o) => EventBody::Open(o.into()),
            DeskEvent::Closed(chat) => EventBody::Closed { chat: *chat },
            DeskEvent::Offline(m) => EventBody::Offline(m.into()),
            DeskEvent::Canned(c) => EventBody::Canned(c.into()),
            DeskEvent::CannedRemoved(id) => EventBody::CannedRemoved { id: *id },
        },
        Routed::User(_, e) => match e {
            UserEvent::Assigned { chat, from } => EventBody::Assigned { chat: chat.into(), from: from.as_deref() },
            UserEvent::Released { chat } => EventBody::Released { chat: *chat },
            UserEvent::MyChat(s) => EventBody::MyChat(s.into()),
            UserEvent::Agent(a) => EventBody::Agent(a.into()),
        },
    })
}

/// Encodes a sequenced chat event once, for every subscriber of `room` (the room `routed` names). Typing is
/// not an event: see [`typing`].
pub fn event(room: &str, seq: u64, routed: &Routed) -> Utf8Bytes {
    #[derive(Serialize)]
    struct EventFrame<'a> {
        r#type: &'static str,
        room: &'a str,
        seq: u64,
        #[serde(flatten)]
        body: EventBody<'a>,
    }
    match body(routed) {
        Some(body) => encode(&EventFrame { r#type: "event", room, seq, body }),
        // A typing indicator handed here by mistake: an empty event keeps the seq gap-free.
        None => encode(&serde_json::json!({ "type": "event", "room": room, "seq": seq, "kind": "noop", "data": {} })),
    }
}

/// An event frame split around its `seq`, for a store that assigns the seq where it stores the event (a Redis
/// script): `head + seq + tail` is exactly what [`event`] gives for that seq.
pub fn event_template(room: &str, routed: &Routed) -> (String, String) {
    let frame = event(room, 0, routed);
    // The seq comes before any data, so the first `"seq":0,` is the seq field and never user text.
    let at = frame.as_str().find("\"seq\":0,").expect("BUG: an event frame carries its seq");
    (frame.as_str()[..at + 6].to_string(), frame.as_str()[at + 7..].to_string())
}

/// The unsequenced typing frame of `room`, if `routed` is a typing indicator.
pub fn typing(room: &str, routed: &Routed) -> Option<Utf8Bytes> {
    #[derive(Serialize)]
    struct Typing<'a> {
        r#type: &'static str,
        room: &'a str,
        side: Side,
        typing: bool,
    }
    let (side, typing) = match routed {
        Routed::Citizen(_, CitizenEvent::Typing { typing }) => (Side::Agent, *typing),
        Routed::Staff(_, StaffEvent::Typing { side, typing }) => (*side, *typing),
        _ => return None,
    };
    Some(encode(&Typing { r#type: "typing", room, side, typing }))
}

pub fn citizen_snapshot(room: &str, epoch: &str, seq: u64, s: &CitizenSnapshot) -> Utf8Bytes {
    #[derive(Serialize)]
    struct Data<'a> {
        chat: ChatView<'a>,
        messages: Vec<MessageView<'a>>,
        receipts: ReceiptsView,
        position: Option<u32>,
        estimate_ms: Option<u64>,
    }
    let data = Data {
        chat: (&s.chat).into(),
        messages: s.messages.iter().map(|m| MessageView::new(m, false)).collect(),
        receipts: (&s.receipts).into(),
        position: s.position,
        estimate_ms: s.estimate_ms,
    };
    snapshot_frame(room, epoch, seq, &data)
}

pub fn staff_snapshot(room: &str, epoch: &str, seq: u64, s: &StaffSnapshot) -> Utf8Bytes {
    #[derive(Serialize)]
    struct Data<'a> {
        chat: StaffChatView<'a>,
        messages: Vec<MessageView<'a>>,
        notes: Vec<NoteView<'a>>,
        position: Option<u32>,
        estimate_ms: Option<u64>,
        citizen_away_since: Option<u64>,
    }
    let data = Data {
        chat: (&s.chat).into(),
        messages: s.messages.iter().map(|m| MessageView::new(m, true)).collect(),
        notes: s.notes.iter().map(Into::into).collect(),
        position: s.position,
        estimate_ms: s.estimate_ms,
        citizen_away_since: s.citizen_away_since,
    };
    snapshot_frame(room, epoch, seq, &data)
}

pub fn desk_snapshot(room: &str, epoch: &str, seq: u64, s: &DeskSnapshot) -> Utf8Bytes {
    #[derive(Serialize)]
    struct Queues<'a> {
        ar: Vec<QueueItemView<'a>>,
        en: Vec<QueueItemView<'a>>,
    }
    #[derive(Serialize)]
    struct Data<'a> {
        agents: Vec<AgentWire<'a>>,
        queues: Queues<'a>,
        open: Vec<OpenChatView<'a>>,
        offline_open: u64,
    }
    let data = Data {
        agents: s.agents.iter().map(Into::into).collect(),
        queues: Queues {
            ar: s.queues.ar.iter().map(Into::into).collect(),
            en: s.queues.en.iter().map(Into::into).collect(),
        },
        open: s.open.iter().map(Into::into).collect(),
        offline_open: s.offline_open,
    };
    snapshot_frame(room, epoch, seq, &data)
}

/// The chat's part of a personal stream's snapshot: `chats` and `agent` (§10.4.1).
#[derive(Serialize)]
pub struct UserPart<'a> {
    chats: Vec<SummaryView<'a>>,
    agent: Option<AgentWire<'a>>,
}

pub fn user_part(s: &UserSnapshot) -> UserPart<'_> {
    UserPart { chats: s.chats.iter().map(Into::into).collect(), agent: s.agent.as_ref().map(Into::into) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{Body, Message};

    fn message() -> Message {
        let body = Body::Text {
            from: Side::Citizen,
            sub: "c-1".into(),
            name: None,
            text: "\"seq\":0, hello".into(),
            client_msg_id: Some("m1".into()),
        };
        Message { seq: 2, at: 5, body }
    }

    #[test]
    fn a_message_carries_its_authors_sub_only_in_the_staff_room() {
        let citizen = event("chat:1", 7, &Routed::Citizen(1, CitizenEvent::Message(message())));
        let citizen: serde_json::Value = serde_json::from_str(citizen.as_str()).unwrap();
        assert_eq!(
            citizen,
            serde_json::json!({"type": "event", "room": "chat:1", "seq": 7, "kind": "message", "data": {
                "seq": 2, "at": 5, "kind": "text", "from": "citizen", "name": null, "text": "\"seq\":0, hello",
                "client_msg_id": "m1"}})
        );
        let staff = event("chat:1:staff", 3, &Routed::Staff(1, StaffEvent::Message(message())));
        let staff: serde_json::Value = serde_json::from_str(staff.as_str()).unwrap();
        assert_eq!(staff["data"]["sub"], "c-1");
    }

    #[test]
    fn typing_is_a_frame_of_its_own_and_templates_rebuild_events() {
        let typing = typing("chat:1", &Routed::Citizen(1, CitizenEvent::Typing { typing: true })).unwrap();
        assert_eq!(typing.as_str(), r#"{"type":"typing","room":"chat:1","side":"agent","typing":true}"#);
        let routed = Routed::Citizen(1, CitizenEvent::Message(message()));
        let (head, tail) = event_template("chat:1", &routed);
        assert_eq!(format!("{head}42{tail}"), event("chat:1", 42, &routed).as_str());
    }
}
