//! The commands on one chat: messages, notes, typing, receipts, tags, ratings.

use super::*;
use crate::chat::canned::{self, NewCanned};
use crate::chat::rules::Posted;
use crate::chat::{Body, ChatStatus, Notice, Receipt, Side};

/// A world with Amina (Arabic and English) holding chat 1 of citizen 1.
fn chatting() -> (World, User, User) {
    let mut w = World::new();
    let (fatima, amina) = (citizen(1), agent("Amina"));
    w.available(&amina, &[ChatLang::Ar, ChatLang::En]);
    w.start(&fatima, ChatLang::Ar).unwrap();
    assert_eq!(w.agent_of(1).as_deref(), Some("g-amina"));
    (w, fatima, amina)
}

fn sent(reply: ChatReply) -> (crate::chat::Message, bool) {
    match reply {
        ChatReply::Sent { message, duplicate } => (message, duplicate),
        other => panic!("not a send reply: {other:?}"),
    }
}

#[test]
fn both_sides_write_and_every_message_has_the_next_seq() {
    let (mut w, fatima, amina) = chatting();
    // Seq 1 is the system message that Amina joined.
    let joined = &w.chats[&1].messages[&1];
    assert_eq!(joined.body, Body::System { notice: Notice::Joined { agent: "Amina".into() } });
    let (m, _) = sent(w.chat(1, &fatima, send("  السلام عليكم ")).unwrap());
    assert_eq!((m.seq, m.text()), (2, Some("السلام عليكم")));
    assert_eq!(w.changes, vec![Change::Message { chat: 1, seq: 2 }]);
    let (m, _) = sent(w.chat(1, &amina, send("وعليكم السلام")).unwrap());
    assert_eq!(m.seq, 3);
    match &m.body {
        Body::Text { from, name, .. } => assert_eq!((*from, name.as_deref()), (Side::Agent, Some("Amina"))),
        other => panic!("{other:?}"),
    }
    assert_eq!((w.header(1).last_seq, w.header(1).texts), (3, 2));
}

/// A world where Amina (English, cap 1) holds chat 1, so that chat 2 of Fatima (citizen 1) waits.
fn busy() -> (World, User) {
    let mut w = World::new();
    let fatima = citizen(1);
    w.available(&agent("Amina"), &[ChatLang::En]);
    w.on_desk(|d, p, now| d.set_cap(&admin("Noor"), "g-amina", Some(1), p, now)).unwrap();
    w.start(&citizen(9), ChatLang::En).unwrap();
    w.start(&fatima, ChatLang::En).unwrap();
    assert_eq!(w.header(2).status, ChatStatus::Waiting);
    (w, fatima)
}

#[test]
fn a_citizen_may_write_while_waiting() {
    let (mut w, fatima) = busy();
    let (m, _) = sent(w.chat(2, &fatima, send("Is anyone there?")).unwrap());
    assert_eq!(m.seq, 1);
}

#[test]
fn a_citizen_never_posts_into_or_acts_on_another_citizens_chat() {
    let (mut w, _, _) = chatting();
    let other = citizen(2);
    for command in [
        send("hello"),
        ChatCommand::Note { text: "x".into(), client_msg_id: None },
        ChatCommand::Typing { typing: true },
        ChatCommand::Receipt { delivered: Some(1), read: None },
        ChatCommand::Tag { tags: vec!["x".into()] },
        ChatCommand::Rate { score: 5, comment: None },
    ] {
        assert_eq!(refused(&mut w, |w| w.chat(1, &other, command)), ErrorCode::Forbidden);
    }
    // Nor do a moderator or an agent who does not hold it.
    assert_eq!(refused(&mut w, |w| w.chat(1, &moderator("Musa"), send("hi"))), ErrorCode::Forbidden);
    assert_eq!(refused(&mut w, |w| w.chat(1, &agent("Omar"), send("hi"))), ErrorCode::Forbidden);
}

#[test]
fn nobody_posts_into_an_ended_chat() {
    let (mut w, fatima, amina) = chatting();
    w.end(1, &amina).unwrap();
    assert_eq!(refused(&mut w, |w| w.chat(1, &fatima, send("wait!"))), ErrorCode::Conflict);
    assert_eq!(refused(&mut w, |w| w.chat(1, &amina, send("bye"))), ErrorCode::Conflict);
    assert_eq!(refused(&mut w, |w| w.chat(1, &fatima, ChatCommand::Typing { typing: true })), ErrorCode::Conflict);
}

#[test]
fn an_agent_who_handed_a_chat_back_no_longer_writes_in_it() {
    let (mut w, _, amina) = chatting();
    w.on_chat(1, |d, c, p, now| d.requeue(c, &amina, None, p, now)).unwrap();
    assert_eq!(w.header(1).status, ChatStatus::Waiting);
    assert_eq!(refused(&mut w, |w| w.chat(1, &amina, send("still here"))), ErrorCode::Forbidden);
}

#[test]
fn a_repeated_client_msg_id_returns_the_original_message() {
    let (mut w, fatima, amina) = chatting();
    let with_id = |text: &str| ChatCommand::Send { text: text.into(), client_msg_id: Some("m-1".into()) };
    let (first, duplicate) = sent(w.chat(1, &fatima, with_id("first")).unwrap());
    assert!(!duplicate);
    let before = w.chats[&1].clone();
    let (again, duplicate) = sent(w.chat(1, &fatima, with_id("first, retried")).unwrap());
    assert!(duplicate);
    assert_eq!(again, first);
    assert_eq!(w.chats[&1], before, "a retry creates nothing");
    assert!(w.changes.is_empty());
    // Even once the chat has ended, a retry is answered, not refused.
    w.end(1, &amina).unwrap();
    assert_eq!(sent(w.chat(1, &fatima, with_id("late retry")).unwrap()), (first.clone(), true));
    // The id is the sender's own: the agent's "m-1" is another message (refused here: the chat has ended).
    assert_eq!(refused(&mut w, |w| w.chat(1, &amina, with_id("x"))), ErrorCode::Conflict);
    // An id once used for a message can't name a note.
    let (mut w, _, amina) = chatting();
    w.chat(1, &amina, with_id("x")).unwrap();
    let reuse = ChatCommand::Note { text: "n".into(), client_msg_id: Some("m-1".into()) };
    assert_eq!(refused(&mut w, |w| w.chat(1, &amina, reuse)), ErrorCode::BadRequest);
    let bad = ChatCommand::Send { text: "x".into(), client_msg_id: Some("x".repeat(65)) };
    assert_eq!(refused(&mut w, |w| w.chat(1, &amina, bad)), ErrorCode::BadRequest);
}

#[test]
fn a_store_that_loads_only_the_index_entry_deduplicates_alike() {
    let (mut w, fatima, _) = chatting();
    let with_id = ChatCommand::Send { text: "hello".into(), client_msg_id: Some("m-7".into()) };
    let (first, _) = sent(w.chat(1, &fatima, with_id.clone()).unwrap());
    // What a Redis store would load for the retry: the header, the index entry, the message it names.
    let key = ChatState::posted_key(&fatima.sub, Some("m-7")).unwrap();
    let mut partial = ChatState::from_parts(
        w.header(1),
        [(first.seq, first.clone())].into(),
        Default::default(),
        [(key, Posted::Message(first.seq))].into(),
    );
    let applied = partial.apply(&fatima, with_id, None, &w.policy, w.now).unwrap();
    assert_eq!(applied.reply, ChatReply::Sent { message: first, duplicate: true });
}

#[test]
fn messages_are_checked_for_length_and_count() {
    let policy = ChatPolicy { max_message_len: 5, max_messages: 2, ..ChatPolicy::default() };
    let mut w = World::with(policy);
    let (fatima, amina) = (citizen(1), agent("Amina"));
    w.available(&amina, &[ChatLang::Ar]);
    w.start(&fatima, ChatLang::Ar).unwrap();
    assert_eq!(refused(&mut w, |w| w.chat(1, &fatima, send("   "))), ErrorCode::BadRequest);
    assert_eq!(refused(&mut w, |w| w.chat(1, &fatima, send("سسسسسس"))), ErrorCode::BadRequest);
    w.chat(1, &fatima, send("سسسسس")).unwrap();
    w.chat(1, &amina, send("hi")).unwrap();
    assert_eq!(refused(&mut w, |w| w.chat(1, &fatima, send("more"))), ErrorCode::Conflict);
    // System messages don't count against the texts: the chat still ends with its notice.
    w.end(1, &fatima).unwrap();
    assert_eq!(w.header(1).last_seq, 4);
}

#[test]
fn notes_are_for_staff_and_numbered_apart_from_messages() {
    let (mut w, fatima, amina) = chatting();
    let note = |text: &str| ChatCommand::Note { text: text.into(), client_msg_id: Some(text.into()) };
    assert_eq!(refused(&mut w, |w| w.chat(1, &fatima, note("mine"))), ErrorCode::Forbidden);
    let ChatReply::Noted { note: n, duplicate: false } = w.chat(1, &amina, note("asks about a loan")).unwrap() else {
        panic!("not noted")
    };
    assert_eq!((n.id, n.after, n.author.name.as_str()), (1, 1, "Amina"));
    assert_eq!(w.changes, vec![Change::Note { chat: 1, id: 1 }]);
    // The citizen's numbering has no gap: the next message is seq 2.
    assert_eq!(sent(w.chat(1, &fatima, send("hello")).unwrap()).0.seq, 2);
    // A supervisor may write notes too, and a retry is answered with the original.
    let noor = admin("Noor");
    w.chat(1, &noor, note("checked")).unwrap();
    let ChatReply::Noted { note: again, duplicate: true } = w.chat(1, &amina, note("asks about a loan")).unwrap()
    else {
        panic!("not a duplicate")
    };
    assert_eq!(again, n);
    // After the end, the agent may still wrap up with notes.
    w.end(1, &fatima).unwrap();
    w.chat(1, &amina, note("wrap-up")).unwrap();
    assert_eq!(w.header(1).notes, 3);
}

#[test]
fn notes_are_bounded_in_count_and_length() {
    let mut w = World::with(ChatPolicy { max_notes: 1, max_note_len: 4, ..ChatPolicy::default() });
    let amina = agent("Amina");
    w.available(&amina, &[ChatLang::Ar]);
    w.start(&citizen(1), ChatLang::Ar).unwrap();
    let note = |text: &str| ChatCommand::Note { text: text.into(), client_msg_id: None };
    assert_eq!(refused(&mut w, |w| w.chat(1, &amina, note("toolong"))), ErrorCode::BadRequest);
    w.chat(1, &amina, note("ok")).unwrap();
    assert_eq!(refused(&mut w, |w| w.chat(1, &amina, note("more"))), ErrorCode::Conflict);
}

#[test]
fn supervisors_annotate_but_neither_reply_nor_mark_read_nor_type() {
    let (mut w, _, _) = chatting();
    let noor = admin("Noor");
    assert_eq!(refused(&mut w, |w| w.chat(1, &noor, send("hello"))), ErrorCode::Forbidden);
    let read = ChatCommand::Receipt { delivered: None, read: Some(1) };
    assert_eq!(refused(&mut w, |w| w.chat(1, &noor, read)), ErrorCode::Forbidden);
    assert_eq!(refused(&mut w, |w| w.chat(1, &noor, ChatCommand::Typing { typing: true })), ErrorCode::Forbidden);
    w.chat(1, &noor, ChatCommand::Tag { tags: vec!["quality".into()] }).unwrap();
}

#[test]
fn receipts_only_move_forward_and_per_side() {
    let (mut w, fatima, amina) = chatting();
    for text in ["a", "b", "c"] {
        w.chat(1, &amina, send(text)).unwrap();
    }
    let receipt = |delivered, read| ChatCommand::Receipt { delivered, read };
    let got = w.chat(1, &fatima, receipt(Some(3), None)).unwrap();
    assert_eq!(got, ChatReply::Receipts(w.header(1).receipts));
    assert_eq!(w.header(1).receipts.citizen, Receipt { delivered: 3, read: 0 });
    // Reading implies delivery.
    w.chat(1, &fatima, receipt(None, Some(4))).unwrap();
    assert_eq!(w.header(1).receipts.citizen, Receipt { delivered: 4, read: 4 });
    assert_eq!(w.changes, vec![Change::Receipts(1)]);
    // A late receipt never moves back, and changes nothing.
    w.chat(1, &fatima, receipt(Some(2), Some(1))).unwrap();
    assert_eq!(w.header(1).receipts.citizen, Receipt { delivered: 4, read: 4 });
    assert!(w.changes.is_empty());
    // The agent's side is its own.
    w.chat(1, &amina, receipt(Some(1), None)).unwrap();
    assert_eq!(w.header(1).receipts.agent, Receipt { delivered: 1, read: 0 });
    assert_eq!(refused(&mut w, |w| w.chat(1, &fatima, receipt(Some(5), None))), ErrorCode::BadRequest);
    assert_eq!(refused(&mut w, |w| w.chat(1, &fatima, receipt(None, None))), ErrorCode::BadRequest);
}

#[test]
fn typing_is_published_but_not_kept() {
    let (mut w, fatima, amina) = chatting();
    let before = w.chats[&1].clone();
    w.chat(1, &amina, ChatCommand::Typing { typing: true }).unwrap();
    assert_eq!(w.changes, vec![Change::Typing { chat: 1, side: Side::Agent, typing: true }]);
    w.chat(1, &fatima, ChatCommand::Typing { typing: false }).unwrap();
    assert_eq!(w.changes, vec![Change::Typing { chat: 1, side: Side::Citizen, typing: false }]);
    assert_eq!(w.chats[&1], before);
}

#[test]
fn staff_tag_chats_within_limits() {
    let (mut w, fatima, amina) = chatting();
    let tag = |tags: &[&str]| ChatCommand::Tag { tags: tags.iter().map(|t| t.to_string()).collect() };
    assert_eq!(refused(&mut w, |w| w.chat(1, &fatima, tag(&["mine"]))), ErrorCode::Forbidden);
    assert_eq!(
        w.chat(1, &amina, tag(&[" Loans ", "loans", "housing"])).unwrap(),
        ChatReply::Tags(vec!["loans".into(), "housing".into()])
    );
    assert_eq!(w.changes, vec![Change::Tags(1)]);
    w.chat(1, &amina, tag(&["loans", "housing"])).unwrap();
    assert!(w.changes.is_empty(), "the same tags change nothing");
    let many: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(refused(&mut w, |w| w.chat(1, &amina, tag(&many))), ErrorCode::BadRequest);
    assert_eq!(refused(&mut w, |w| w.chat(1, &amina, tag(&[&"x".repeat(41)]))), ErrorCode::BadRequest);
}

#[test]
fn the_citizen_rates_once_and_only_after_the_end() {
    let (mut w, fatima, amina) = chatting();
    let rate = |score, comment: Option<&str>| ChatCommand::Rate { score, comment: comment.map(Into::into) };
    assert_eq!(refused(&mut w, |w| w.chat(1, &fatima, rate(5, None))), ErrorCode::Conflict);
    w.end(1, &amina).unwrap();
    assert_eq!(refused(&mut w, |w| w.chat(1, &amina, rate(5, None))), ErrorCode::Forbidden);
    assert_eq!(refused(&mut w, |w| w.chat(1, &fatima, rate(0, None))), ErrorCode::BadRequest);
    assert_eq!(refused(&mut w, |w| w.chat(1, &fatima, rate(6, None))), ErrorCode::BadRequest);
    let long = "x".repeat(1001);
    assert_eq!(refused(&mut w, |w| w.chat(1, &fatima, rate(4, Some(&long)))), ErrorCode::BadRequest);
    let ChatReply::Rated(rating) = w.chat(1, &fatima, rate(4, Some(" شكراً "))).unwrap() else { panic!() };
    assert_eq!((rating.score, rating.comment.as_deref()), (4, Some("شكراً")));
    assert_eq!(w.changes, vec![Change::Chat(1)]);
    assert_eq!(refused(&mut w, |w| w.chat(1, &fatima, rate(5, None))), ErrorCode::Conflict);
}

#[test]
fn a_citizen_who_left_the_queue_may_still_rate_the_service() {
    let (mut w, fatima) = busy();
    w.end(2, &fatima).unwrap();
    w.chat(2, &fatima, ChatCommand::Rate { score: 1, comment: Some("waited too long".into()) }).unwrap();
}

#[test]
fn an_agents_shortcut_is_sent_as_the_canned_text_in_the_chats_language() {
    let (mut w, fatima, amina) = chatting();
    let new = NewCanned { shortcut: "greet".into(), text: Localized { ar: Some("أهلاً بك".into()), en: None } };
    let greet = canned::upsert(&[], 1, new, &w.policy, w.now).unwrap();
    let state = w.chats.get_mut(&1).unwrap();
    let applied = state.apply(&amina, send("/greet"), Some(&greet), &w.policy, w.now).unwrap();
    let ChatReply::Sent { message, .. } = applied.reply else { panic!() };
    assert_eq!(message.text(), Some("أهلاً بك"));
    // A shortcut the store found nothing for is refused rather than sent as is.
    let before = state.clone();
    let err = state.apply(&amina, send("/nope"), None, &w.policy, w.now).unwrap_err();
    assert_eq!((err.code, &*state), (ErrorCode::BadRequest, &before));
    // A citizen's "/greet" is just text.
    let reply = state.apply(&fatima, send("/greet"), Some(&greet), &w.policy, w.now).unwrap().reply;
    assert_eq!(sent(reply).0.text(), Some("/greet"));
}

#[test]
fn a_canned_response_without_the_chats_language_is_refused() {
    let mut w = World::new();
    let amina = agent("Amina");
    w.available(&amina, &[ChatLang::En]);
    w.start(&citizen(1), ChatLang::En).unwrap();
    let new = NewCanned { shortcut: "greet".into(), text: Localized { ar: Some("أهلاً بك".into()), en: None } };
    let greet = canned::upsert(&[], 1, new, &w.policy, w.now).unwrap();
    let state = w.chats.get_mut(&1).unwrap();
    let err = state.apply(&amina, send("/greet"), Some(&greet), &w.policy, w.now).unwrap_err();
    assert_eq!(err.code, ErrorCode::BadRequest);
}
