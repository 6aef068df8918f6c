//! What a store keeps as JSON comes back the same, and the rules decide alike on it.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::*;
use crate::chat::offline::{self, OfflineForm, OfflineMessage};
use crate::chat::{Message, Note};

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: &T) -> T {
    let json = serde_json::to_string(value).expect("serializes");
    let back: T = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(&back, value, "{json}");
    back
}

#[test]
fn the_desk_and_a_chats_parts_survive_json() {
    let mut w = World::with(ChatPolicy { default_agent_cap: 1, ..ChatPolicy::default() });
    let (amina, huda) = (agent("Amina"), agent("Huda"));
    w.available(&amina, &[ChatLang::Ar, ChatLang::En]);
    w.start(&citizen(1), ChatLang::Ar).unwrap();
    w.start(&citizen(2), ChatLang::En).unwrap();
    w.chat(1, &citizen(1), ChatCommand::Send { text: "مرحبا".into(), client_msg_id: Some("x-1".into()) }).unwrap();
    w.chat(1, &amina, ChatCommand::Note { text: "note".into(), client_msg_id: None }).unwrap();
    w.chat(1, &amina, ChatCommand::Tag { tags: vec!["loans".into()] }).unwrap();
    w.chat(1, &citizen(1), ChatCommand::Receipt { delivered: Some(2), read: Some(1) }).unwrap();
    w.available(&huda, &[ChatLang::Ar]);
    w.on_desk(|d, p, now| d.set_cap(&admin("Noor"), "g-huda", Some(2), p, now)).unwrap();
    w.on_chat(1, |d, c, p, now| d.transfer(c, &amina, "g-huda", Some("over to you".into()), p, now)).unwrap();
    w.on_desk(|d, p, now| d.citizen_presence(2, "c-2", false, p, now)).unwrap();
    w.on_desk(|d, _, now| Ok(d.agent_disconnected("g-huda", now))).unwrap();
    w.end(1, &citizen(1)).unwrap();
    w.chat(1, &citizen(1), ChatCommand::Rate { score: 5, comment: Some("👍".into()) }).unwrap();

    let desk = round_trip(&w.desk);
    desk.check().unwrap();
    let state = &w.chats[&1];
    let header = round_trip(&state.chat);
    let messages: Vec<Message> = state.messages.values().map(round_trip).collect();
    let notes: Vec<Note> = state.notes.values().map(round_trip).collect();
    assert_eq!((messages.len(), notes.len()), (state.messages.len(), 2));
    let rebuilt = ChatState::from_parts(
        header,
        messages.into_iter().map(|m| (m.seq, m)).collect(),
        notes.into_iter().map(|n| (n.id, n)).collect(),
        [(("c-1".to_string(), "x-1".to_string()), round_trip(&crate::chat::rules::Posted::Message(2)))].into(),
    );
    assert_eq!(&rebuilt, state);

    let form = OfflineForm {
        category: Category::Other,
        lang: ChatLang::En,
        name: None,
        contact: "a@b.c".into(),
        text: "hi".into(),
        client_msg_id: None,
    };
    let mut message: OfflineMessage = offline::submit(1, &citizen(3), form, 0, &w.policy, w.now).unwrap();
    message.answer(&amina, "hello".into(), &w.policy, w.now).unwrap();
    round_trip(&message);
    round_trip(&w.schedule);
}
