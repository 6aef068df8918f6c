//! Who sees what: the routing of changes to rooms, who may join which room, and the snapshots.

use super::*;
use crate::chat::rooms::{
    citizen_snapshot, desk_snapshot, may_join, revoked, staff_snapshot, user_snapshot, ChatRoom, CitizenEvent,
    DeskEvent, StaffEvent, UserEvent,
};
use crate::chat::{ChatStatus, Side};

const SECRET: &str = "internal: the citizen was rude";

/// The chat the tests follow; chat 1 (another citizen's) keeps Amina busy until Fatima's has waited.
const ID: ChatId = 2;

/// Every event a whole chat's life gives, with a note written at every step where one can be.
fn a_whole_chat() -> (World, Vec<Routed>) {
    let mut w = World::with(ChatPolicy { default_agent_cap: 1, ..ChatPolicy::default() });
    let (fatima, amina, sara, noor) = (citizen(1), agent("Amina"), agent("Sara"), admin("Noor"));
    let mut all = Vec::new();
    let note = || ChatCommand::Note { text: SECRET.into(), client_msg_id: None };
    w.available(&amina, &[ChatLang::Ar]);
    w.start(&citizen(9), ChatLang::Ar).unwrap();
    w.start(&fatima, ChatLang::Ar).unwrap();
    all.extend(w.routed());
    w.chat(ID, &fatima, send("is anyone there?")).unwrap();
    all.extend(w.routed());
    w.end(1, &amina).unwrap();
    all.extend(w.routed());
    assert_eq!(w.agent_of(ID).as_deref(), Some("g-amina"));
    for (who, command) in [
        (&fatima, send("hello")),
        (&amina, note()),
        (&amina, ChatCommand::Typing { typing: true }),
        (&fatima, ChatCommand::Typing { typing: true }),
        (&amina, send("hi")),
        (&fatima, ChatCommand::Receipt { delivered: Some(4), read: Some(4) }),
        (&amina, ChatCommand::Tag { tags: vec!["rude".into()] }),
        (&noor, note()),
    ] {
        w.chat(ID, who, command).unwrap();
        all.extend(w.routed());
    }
    w.available(&sara, &[ChatLang::Ar]);
    all.extend(w.routed());
    w.on_chat(ID, |d, c, p, now| d.transfer(c, &amina, "g-sara", Some(SECRET.into()), p, now)).unwrap();
    all.extend(w.routed());
    w.on_chat(ID, |d, c, p, now| d.requeue(c, &sara, Some(SECRET.into()), p, now)).unwrap();
    all.extend(w.routed());
    // Sara handed it back, so routing gave it to Amina again: as its last agent she wraps it up.
    assert_eq!(w.agent_of(ID).as_deref(), Some("g-amina"));
    w.end(ID, &fatima).unwrap();
    all.extend(w.routed());
    w.chat(ID, &fatima, ChatCommand::Rate { score: 2, comment: None }).unwrap();
    all.extend(w.routed());
    w.chat(ID, &amina, note()).unwrap();
    all.extend(w.routed());
    (w, all)
}

#[test]
fn an_internal_note_never_reaches_a_citizen() {
    let (w, routed) = a_whole_chat();
    assert_eq!(w.chats[&ID].notes.len(), 5, "the notes were written");
    let staff_notes = routed.iter().filter(|r| matches!(r, Routed::Staff(_, StaffEvent::Note(_)))).count();
    assert_eq!(staff_notes, 5, "and reached the staff room");
    for event in &routed {
        let text = format!("{event:?}");
        match event {
            Routed::Staff(..) => {}
            Routed::Desk(_) => assert!(!text.contains(SECRET), "the desk got a note: {text}"),
            Routed::Citizen(..) | Routed::User(..) => {
                assert!(!text.contains(SECRET), "a citizen-facing room got a note: {text}");
                assert!(!text.contains("rude"), "a citizen-facing room got a tag: {text}");
                assert!(!text.contains("fatima@example.bh"), "a citizen-facing room got the contact: {text}");
            }
        }
    }
    // The citizen's room learnt everything else.
    let citizen_kinds: Vec<&CitizenEvent> =
        routed.iter().filter_map(|r| if let Routed::Citizen(ID, e) = r { Some(e) } else { None }).collect();
    assert!(citizen_kinds.iter().any(|e| matches!(e, CitizenEvent::Receipts(_))));
    assert!(citizen_kinds.iter().any(|e| matches!(e, CitizenEvent::Chat(c) if c.rating.is_some())));
    assert!(citizen_kinds.iter().any(|e| matches!(e, CitizenEvent::Queue { position: Some(1), .. })));
}

#[test]
fn a_citizen_sees_the_agent_typing_and_staff_see_both_sides() {
    let (_, routed) = a_whole_chat();
    let typing: Vec<&Routed> = routed.iter().filter(|r| r.is_ephemeral()).collect();
    assert_eq!(
        typing,
        [
            &Routed::Citizen(ID, CitizenEvent::Typing { typing: true }),
            &Routed::Staff(ID, StaffEvent::Typing { side: Side::Agent, typing: true }),
            &Routed::Staff(ID, StaffEvent::Typing { side: Side::Citizen, typing: true }),
        ]
    );
}

#[test]
fn personal_streams_tell_agents_what_is_theirs_and_citizens_how_their_chat_goes() {
    let (_, routed) = a_whole_chat();
    let to = |sub: &str| -> Vec<UserEvent> {
        routed
            .iter()
            .filter_map(|r| if let Routed::User(s, e) = r { (s == sub).then(|| e.clone()) } else { None })
            .collect()
    };
    let sara = to("g-sara");
    assert!(sara
        .iter()
        .any(|e| matches!(e, UserEvent::Assigned { chat, from: Some(from) } if chat.id == ID && from == "Amina")));
    assert!(sara.iter().any(|e| matches!(e, UserEvent::Released { chat: ID })));
    assert!(to("g-amina").iter().any(|e| matches!(e, UserEvent::Assigned { from: None, .. })));
    let mine: Vec<ChatStatus> =
        to("c-1").iter().filter_map(|e| if let UserEvent::MyChat(c) = e { Some(c.status) } else { None }).collect();
    assert!(
        mine.contains(&ChatStatus::Waiting) && mine.contains(&ChatStatus::Active) && mine.contains(&ChatStatus::Ended)
    );
}

#[test]
fn the_desk_sees_queues_agents_and_open_chats() {
    let (_, routed) = a_whole_chat();
    let desk: Vec<&DeskEvent> =
        routed.iter().filter_map(|r| if let Routed::Desk(e) = r { Some(e) } else { None }).collect();
    assert!(desk.iter().any(|e| matches!(e, DeskEvent::Queue { lang: ChatLang::Ar, waiting } if waiting.len() == 1)));
    assert!(desk.iter().any(|e| matches!(e, DeskEvent::Agent(a) if a.sub == "g-sara" && a.load == 1)));
    assert!(desk.iter().any(|e| matches!(e, DeskEvent::Open(o) if o.agent.as_deref() == Some("g-sara"))));
    assert!(desk.iter().any(|e| matches!(e, DeskEvent::Closed(ID))));
}

#[test]
fn who_may_join_which_room() {
    let mut w = World::new();
    let (fatima, amina, omar, noor, musa) =
        (citizen(1), agent("Amina"), agent("Omar"), admin("Noor"), moderator("Musa"));
    w.available(&amina, &[ChatLang::Ar]);
    w.start(&fatima, ChatLang::Ar).unwrap();
    let chat = w.header(1);
    let joins = |user: &User| {
        [ChatRoom::Citizen(1), ChatRoom::Staff(1), ChatRoom::Desk, ChatRoom::User(user.sub.clone())]
            .map(|room| may_join(user, &room, Some(&chat)))
    };
    assert_eq!(joins(&fatima), [true, false, false, true]);
    assert_eq!(joins(&amina), [false, true, true, true]);
    assert_eq!(joins(&omar), [false, false, true, true]);
    assert_eq!(joins(&noor), [false, true, true, true]);
    assert_eq!(joins(&musa), [false, false, false, true]);
    assert_eq!(joins(&citizen(2)), [false, false, false, true]);
    // Nobody joins another person's stream, nor a chat room whose chat is missing or another.
    assert!(!may_join(&fatima, &ChatRoom::User("c-2".into()), None));
    assert!(!may_join(&fatima, &ChatRoom::Citizen(1), None));
    assert!(!may_join(&fatima, &ChatRoom::Citizen(2), Some(&chat)));
    // After the end, the last agent keeps the staff room (to tag and wrap up); the citizen keeps theirs.
    w.end(1, &amina).unwrap();
    let ended = w.header(1);
    assert!(may_join(&amina, &ChatRoom::Staff(1), Some(&ended)));
    assert!(may_join(&fatima, &ChatRoom::Citizen(1), Some(&ended)));
}

#[test]
fn room_names_round_trip() {
    for room in [ChatRoom::Citizen(7), ChatRoom::Staff(7), ChatRoom::Desk, ChatRoom::User("c-7f3a".into())] {
        assert_eq!(ChatRoom::parse(&room.key()), Some(room.clone()));
    }
    for bad in ["chat:", "chat:x", "chat:1:mod", "user:", "desk:1", "broadcast:1"] {
        assert_eq!(ChatRoom::parse(bad), None, "{bad}");
    }
}

#[test]
fn an_agent_who_hands_a_chat_on_leaves_its_staff_room() {
    let mut w = World::new();
    let amina = agent("Amina");
    w.available(&amina, &[ChatLang::Ar]);
    w.start(&citizen(1), ChatLang::Ar).unwrap();
    w.on_chat(1, |d, c, p, now| d.requeue(c, &amina, None, p, now)).unwrap();
    assert_eq!(revoked(&w.changes), vec![("g-amina".to_string(), ChatRoom::Staff(1))]);
}

#[test]
fn snapshots_show_each_audience_its_part() {
    let (w, _) = a_whole_chat();
    let state = &w.chats[&ID];
    let citizen_view = citizen_snapshot(state, &w.desk, &w.policy, w.now);
    assert_eq!(citizen_view.messages.len(), state.messages.len());
    assert!(!format!("{citizen_view:?}").contains(SECRET));
    assert!(!format!("{citizen_view:?}").contains("rude"));
    let staff = staff_snapshot(state, &w.desk, &w.policy, w.now);
    assert_eq!(staff.notes.len(), 5);
    assert_eq!(staff.chat.tags, ["rude"]);
    let desk = desk_snapshot(&w.desk, 3, &w.policy, w.now);
    assert_eq!((desk.agents.len(), desk.offline_open, desk.open.len()), (2, 3, 0));
    let amina = user_snapshot(&agent("Amina"), &w.desk, &w.policy);
    assert!(amina.agent.is_some() && amina.chats.is_empty());
}

#[test]
fn a_waiting_citizen_sees_their_place_and_estimate() {
    let mut w = World::with(ChatPolicy { default_agent_cap: 1, ..ChatPolicy::default() });
    let amina = agent("Amina");
    w.available(&amina, &[ChatLang::En]);
    w.start(&citizen(1), ChatLang::En).unwrap();
    w.start(&citizen(2), ChatLang::En).unwrap();
    w.start(&citizen(3), ChatLang::En).unwrap();
    let routed = w.routed();
    assert!(routed.contains(&Routed::Citizen(3, CitizenEvent::Queue { position: Some(2), estimate_ms: Some(0) })));
    let snap = citizen_snapshot(&w.chats[&3], &w.desk, &w.policy, w.now);
    assert_eq!((snap.position, snap.estimate_ms), (Some(2), Some(0)));
    let mine = user_snapshot(&citizen(3), &w.desk, &w.policy);
    assert_eq!(mine.chats.iter().map(|c| (c.id, c.status)).collect::<Vec<_>>(), vec![(3, ChatStatus::Waiting)]);
}

#[test]
fn the_widget_learns_before_the_form_whether_and_how_long_it_would_wait() {
    use crate::chat::hours::Week;
    use crate::chat::rooms::{start_info, Unavailable};
    let mut w = World::with(ChatPolicy { default_agent_cap: 1, max_queue_per_lang: 1, ..ChatPolicy::default() });
    let fatima = citizen(1);
    let info = |w: &World, viewer: &User| start_info(&w.desk, &w.schedule, &w.consent, Some(viewer), &w.policy, w.now);
    assert_eq!(info(&w, &fatima).langs.ar.unavailable, Some(Unavailable::NoAgents));
    w.available(&agent("Amina"), &[ChatLang::Ar]);
    let before = info(&w, &fatima);
    assert_eq!(
        (before.open, before.langs.ar.unavailable, before.langs.en.unavailable),
        (true, None, Some(Unavailable::NoAgents))
    );
    assert_eq!(
        (before.my_chats.len(), before.may_start, before.consent.version.clone()),
        (0, true, w.consent.version.clone())
    );
    w.start(&fatima, ChatLang::Ar).unwrap();
    let mine = info(&w, &fatima);
    assert_eq!((mine.my_chats[0].id, mine.may_start), (1, false), "resume, don't start another");
    w.start(&citizen(2), ChatLang::Ar).unwrap();
    assert_eq!(info(&w, &citizen(3)).langs.ar.unavailable, Some(Unavailable::QueueFull));
    assert_eq!(info(&w, &citizen(3)).langs.ar.estimate_ms, Some(0));
    w.schedule.week = Week::default();
    let closed = info(&w, &citizen(3));
    assert_eq!((closed.open, closed.next_open, closed.langs.ar.unavailable), (false, None, Some(Unavailable::Closed)));
}
