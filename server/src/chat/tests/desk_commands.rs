//! Starting, ending, taking, transferring and requeueing chats; agents' availability, caps and connections;
//! citizens coming back; the sweep.

use super::*;
use crate::chat::hours::Week;
use crate::chat::rooms::{may_join, ChatRoom};
use crate::chat::{Body, ChatStatus, EndReason, Notice, RequeueReason};

fn notices(w: &World, id: ChatId) -> Vec<Notice> {
    w.chats[&id]
        .visible_messages()
        .filter_map(|m| match &m.body {
            Body::System { notice } => Some(notice.clone()),
            Body::Text { .. } => None,
        })
        .collect()
}

#[test]
fn the_pre_chat_form_is_checked() {
    let mut w = World::new();
    w.available(&agent("Amina"), &[ChatLang::Ar]);
    let fatima = citizen(1);
    let base = w.form(ChatLang::Ar);
    let form = |edit: fn(&mut StartForm)| {
        let mut f = base.clone();
        edit(&mut f);
        f
    };
    let cases = [
        (form(|f| f.consent = false), ErrorCode::BadRequest),
        (form(|f| f.consent_version = "old".into()), ErrorCode::Conflict),
        (form(|f| f.name = Some("x".repeat(81))), ErrorCode::BadRequest),
        (form(|f| f.contact = Some("a\nb".into())), ErrorCode::BadRequest),
    ];
    for (form, code) in cases {
        assert_eq!(refused(&mut w, |w| w.start_with(&fatima, form)), code);
    }
    assert_eq!(refused(&mut w, |w| w.start(&agent("Omar"), ChatLang::Ar)), ErrorCode::Forbidden);
    let blank = form(|f| (f.name, f.contact) = (Some("  ".into()), None));
    w.start_with(&fatima, blank).unwrap();
    let chat = w.header(1);
    assert_eq!((chat.citizen.name, chat.citizen.contact), (None, None));
    assert_eq!(chat.consent, crate::chat::Consent { version: w.consent.version.clone(), at: w.now });
}

#[test]
fn outside_business_hours_or_without_an_agent_for_the_language_a_start_is_refused() {
    let mut w = World::new();
    w.available(&agent("Amina"), &[ChatLang::Ar]);
    let fatima = citizen(1);
    // Nobody serves English.
    assert_eq!(refused(&mut w, |w| w.start(&fatima, ChatLang::En)), ErrorCode::Conflict);
    // An away agent does not count.
    w.on_desk(|d, p, now| d.set_status(&agent("Amina"), Availability::Away, None, p, now)).unwrap();
    assert_eq!(refused(&mut w, |w| w.start(&fatima, ChatLang::Ar)), ErrorCode::Conflict);
    w.available(&agent("Amina"), &[ChatLang::Ar]);
    // Closed hours.
    w.schedule.week = Week::default();
    assert_eq!(refused(&mut w, |w| w.start(&fatima, ChatLang::Ar)), ErrorCode::Conflict);
    w.schedule = always_open();
    w.start(&fatima, ChatLang::Ar).unwrap();
}

#[test]
fn a_citizen_has_at_most_the_allowed_open_chats() {
    let mut w = World::new();
    let (fatima, amina) = (citizen(1), agent("Amina"));
    w.available(&amina, &[ChatLang::Ar, ChatLang::En]);
    w.start(&fatima, ChatLang::Ar).unwrap();
    assert_eq!(refused(&mut w, |w| w.start(&fatima, ChatLang::En)), ErrorCode::Conflict);
    w.end(1, &amina).unwrap();
    w.start(&fatima, ChatLang::En).unwrap();
    assert_eq!(w.desk.open_chats_of(&fatima.sub), vec![2]);
}

#[test]
fn a_full_queue_takes_no_more_chats() {
    let mut w = World::with(ChatPolicy { max_queue_per_lang: 1, default_agent_cap: 1, ..ChatPolicy::default() });
    w.available(&agent("Amina"), &[ChatLang::Ar]);
    w.start(&citizen(1), ChatLang::Ar).unwrap();
    w.start(&citizen(2), ChatLang::Ar).unwrap();
    assert_eq!(w.desk.position(2), Some(1));
    assert_eq!(refused(&mut w, |w| w.start(&citizen(3), ChatLang::Ar)), ErrorCode::Conflict);
}

#[test]
fn a_chat_goes_at_once_to_an_agent_with_room() {
    let mut w = World::new();
    let amina = agent("Amina");
    w.available(&amina, &[ChatLang::Ar]);
    let started = w.start(&citizen(1), ChatLang::Ar).unwrap();
    assert_eq!((started.chat, started.position), (1, None));
    let chat = w.header(1);
    assert_eq!((chat.status, chat.first_assigned_at, chat.first_wait_ms()), (ChatStatus::Active, Some(w.now), Some(0)));
    assert_eq!(notices(&w, 1), vec![Notice::Joined { agent: "Amina".into() }]);
    assert!(w.changes.contains(&Change::Assigned { chat: 1, agent: amina.sub.clone(), from: None }));
}

#[test]
fn either_side_ends_a_chat_and_the_freed_place_goes_to_the_next_waiting_chat() {
    let mut w = World::with(ChatPolicy { default_agent_cap: 1, ..ChatPolicy::default() });
    let amina = agent("Amina");
    w.available(&amina, &[ChatLang::Ar]);
    w.start(&citizen(1), ChatLang::Ar).unwrap();
    w.start(&citizen(2), ChatLang::Ar).unwrap();
    w.start(&citizen(3), ChatLang::Ar).unwrap();
    assert_eq!((w.desk.position(2), w.desk.position(3)), (Some(1), Some(2)));
    w.tick(5 * MINUTE);
    w.end(1, &citizen(1)).unwrap();
    assert_eq!(w.header(1).end_reason, Some(EndReason::Citizen));
    assert_eq!((w.agent_of(2).as_deref(), w.header(2).first_wait_ms()), (Some("g-amina"), Some(5 * MINUTE)));
    assert_eq!(w.desk.position(3), Some(1));
    assert!(w.changes.contains(&Change::Position(3)));
    w.end(2, &amina).unwrap();
    assert_eq!(w.header(2).end_reason, Some(EndReason::Agent));
    // A supervisor may end any chat; ending twice is refused.
    w.end(3, &admin("Noor")).unwrap();
    assert_eq!(w.header(3).end_reason, Some(EndReason::Supervisor));
    assert_eq!(refused(&mut w, |w| w.end(3, &amina)), ErrorCode::Conflict);
    assert_eq!(refused(&mut w, |w| w.end(1, &citizen(2))), ErrorCode::Forbidden);
    assert!(w.desk.open.is_empty());
}

#[test]
fn a_citizen_leaves_the_queue() {
    let mut w = World::with(ChatPolicy { default_agent_cap: 1, ..ChatPolicy::default() });
    w.available(&agent("Amina"), &[ChatLang::En]);
    w.start(&citizen(1), ChatLang::En).unwrap();
    w.start(&citizen(2), ChatLang::En).unwrap();
    w.start(&citizen(3), ChatLang::En).unwrap();
    w.end(2, &citizen(2)).unwrap();
    let chat = w.header(2);
    assert_eq!((chat.status, chat.end_reason), (ChatStatus::Ended, Some(EndReason::LeftQueue)));
    assert_eq!(notices(&w, 2), vec![Notice::Ended { reason: EndReason::LeftQueue }]);
    assert_eq!(w.desk.position(3), Some(1));
}

#[test]
fn an_agent_takes_any_waiting_chat_by_hand_within_their_cap_and_languages() {
    let mut w = World::with(ChatPolicy { default_agent_cap: 1, ..ChatPolicy::default() });
    let (amina, omar) = (agent("Amina"), agent("Omar"));
    w.available(&amina, &[ChatLang::Ar]);
    for n in 1..=3 {
        w.start(&citizen(n), ChatLang::Ar).unwrap();
    }
    // Omar serves English only, then Arabic but is offline.
    w.available(&omar, &[ChatLang::En]);
    assert_eq!(refused(&mut w, |w| w.take(3, &omar)), ErrorCode::Conflict);
    w.on_desk(|d, p, now| d.set_status(&omar, Availability::Offline, Some(vec![ChatLang::Ar]), p, now)).unwrap();
    assert_eq!(refused(&mut w, |w| w.take(3, &omar)), ErrorCode::Conflict);
    // Away will do, and he may skip the queue's head.
    w.on_desk(|d, p, now| d.set_status(&omar, Availability::Away, None, p, now)).unwrap();
    w.take(3, &omar).unwrap();
    assert_eq!(w.agent_of(3).as_deref(), Some("g-omar"));
    assert!(w.changes.contains(&Change::Assigned { chat: 3, agent: omar.sub.clone(), from: None }));
    // Now at his cap; and a chat already taken can't be taken again.
    assert_eq!(refused(&mut w, |w| w.take(2, &omar)), ErrorCode::Conflict);
    assert_eq!(refused(&mut w, |w| w.take(1, &amina)), ErrorCode::Conflict);
    assert_eq!(refused(&mut w, |w| w.take(2, &citizen(2))), ErrorCode::Forbidden);
    assert_eq!(refused(&mut w, |w| w.take(2, &agent("Newcomer"))), ErrorCode::Conflict);
}

#[test]
fn a_transfer_goes_to_an_available_agent_of_the_language_with_room() {
    let mut w = World::with(ChatPolicy { default_agent_cap: 1, ..ChatPolicy::default() });
    let (amina, omar, sara) = (agent("Amina"), agent("Omar"), agent("Sara"));
    w.available(&amina, &[ChatLang::Ar]);
    w.start(&citizen(1), ChatLang::Ar).unwrap();
    w.available(&omar, &[ChatLang::En]);
    let transfer = |to: &'static str, note: Option<String>, by: User| {
        move |w: &mut World| w.on_chat(1, |d, c, p, now| d.transfer(c, &by, to, note, p, now))
    };
    assert_eq!(refused(&mut w, transfer("g-omar", None, amina.clone())), ErrorCode::Conflict);
    assert_eq!(refused(&mut w, transfer("g-nobody", None, amina.clone())), ErrorCode::NotFound);
    assert_eq!(refused(&mut w, transfer("g-amina", None, amina.clone())), ErrorCode::Conflict);
    assert_eq!(refused(&mut w, transfer("g-sara", None, citizen(1))), ErrorCode::Forbidden);
    assert_eq!(refused(&mut w, transfer("g-sara", None, omar.clone())), ErrorCode::Forbidden);
    w.available(&sara, &[ChatLang::Ar, ChatLang::En]);
    assert_eq!(refused(&mut w, transfer("g-sara", Some("x".repeat(2001)), amina.clone())), ErrorCode::BadRequest);
    transfer("g-sara", Some("Wants the loans team.".into()), amina.clone())(&mut w).unwrap();
    let chat = w.header(1);
    assert_eq!((chat.agent.map(|a| a.name), chat.transfers), (Some("Sara".into()), 1));
    assert_eq!(notices(&w, 1).last(), Some(&Notice::Transferred { from: "Amina".into(), to: "Sara".into() }));
    let note = w.chats[&1].notes.values().last().unwrap();
    assert_eq!((note.text.as_str(), note.author.name.as_str()), ("Wants the loans team.", "Amina"));
    assert!(w.changes.contains(&Change::Released { chat: 1, agent: amina.sub.clone() }));
    assert!(w.changes.contains(&Change::Assigned { chat: 1, agent: sara.sub.clone(), from: Some(amina.sub.clone()) }));
    // Amina has lost the chat's staff room; Sara has it.
    let chat = w.header(1);
    assert!(!may_join(&amina, &ChatRoom::Staff(1), Some(&chat)));
    assert!(may_join(&sara, &ChatRoom::Staff(1), Some(&chat)));
    // Sara is now at her cap: nobody can transfer to her; a supervisor may move it back to a free Amina.
    assert_eq!(w.desk.agents["g-sara"].load(), 1);
    transfer("g-amina", None, admin("Noor"))(&mut w).unwrap();
    assert_eq!(w.agent_of(1).as_deref(), Some("g-amina"));
}

#[test]
fn a_chat_handed_back_goes_to_the_front_of_the_queue_and_to_another_agent() {
    let mut w = World::with(ChatPolicy { default_agent_cap: 1, ..ChatPolicy::default() });
    let (amina, omar) = (agent("Amina"), agent("Omar"));
    w.available(&amina, &[ChatLang::En]);
    w.start(&citizen(1), ChatLang::En).unwrap();
    w.start(&citizen(2), ChatLang::En).unwrap();
    let requeue = |by: User, note: Option<&'static str>| {
        move |w: &mut World| w.on_chat(1, |d, c, p, now| d.requeue(c, &by, note.map(Into::into), p, now))
    };
    assert_eq!(refused(&mut w, requeue(citizen(1), None)), ErrorCode::Forbidden);
    assert_eq!(
        refused(&mut w, |w| w.on_chat(2, |d, c, p, now| d.requeue(c, &amina, None, p, now))),
        ErrorCode::Forbidden
    );
    requeue(amina.clone(), Some("Needs someone from the loans team."))(&mut w).unwrap();
    // Chat 1 is ahead of chat 2, but Amina, now free, gets chat 2: chat 1 is not to go back to her.
    assert_eq!(w.desk.position(1), Some(1));
    assert_eq!(w.agent_of(2).as_deref(), Some("g-amina"));
    assert_eq!(notices(&w, 1).last(), Some(&Notice::Requeued { reason: RequeueReason::Returned }));
    assert_eq!(w.chats[&1].notes.len(), 1);
    assert_eq!(refused(&mut w, requeue(amina.clone(), None)), ErrorCode::Forbidden);
    w.available(&omar, &[ChatLang::En]);
    assert_eq!(w.agent_of(1).as_deref(), Some("g-omar"));
    let history: Vec<Notice> = notices(&w, 1);
    assert_eq!(history.len(), 3, "joined, requeued, joined: {history:?}");
}

#[test]
fn an_agent_whose_connection_drops_keeps_their_chats_for_the_grace_period() {
    let mut w = World::new();
    let (amina, omar) = (agent("Amina"), agent("Omar"));
    w.available(&amina, &[ChatLang::Ar]);
    w.start(&citizen(1), ChatLang::Ar).unwrap();
    w.chat(1, &citizen(1), send("مرحبا")).unwrap();
    w.on_desk(|d, _, now| Ok(d.agent_disconnected(&amina.sub, now))).unwrap();
    // While she is gone, new chats don't go to her.
    w.available(&omar, &[ChatLang::Ar]);
    w.on_desk(|d, p, now| d.set_status(&omar, Availability::Away, None, p, now)).unwrap();
    w.tick(w.policy.agent_grace_ms - 1);
    w.sweep();
    assert_eq!(w.agent_of(1).as_deref(), Some("g-amina"));
    // Back in time: nothing happened.
    w.on_desk(|d, p, now| Ok(d.agent_connected(&amina, p, now))).unwrap();
    w.on_desk(|d, _, now| Ok(d.agent_disconnected(&amina.sub, now))).unwrap();
    w.tick(w.policy.agent_grace_ms);
    w.sweep();
    assert!(w.desk.agents["g-amina"].chats.is_empty());
    assert_eq!(w.desk.agents["g-amina"].availability, Availability::Offline);
    assert_eq!(w.header(1).status, ChatStatus::Waiting);
    assert_eq!(notices(&w, 1).last(), Some(&Notice::Requeued { reason: RequeueReason::AgentDisconnected }));
    // Omar comes back and picks it up, with its history.
    w.available(&omar, &[ChatLang::Ar]);
    assert_eq!(w.agent_of(1).as_deref(), Some("g-omar"));
    assert_eq!(w.chats[&1].messages[&2].text(), Some("مرحبا"));
}

#[test]
fn chats_whose_agent_is_gone_go_to_the_front_of_the_queue() {
    let mut w = World::with(ChatPolicy { default_agent_cap: 2, ..ChatPolicy::default() });
    let amina = agent("Amina");
    w.available(&amina, &[ChatLang::Ar]);
    w.start(&citizen(1), ChatLang::Ar).unwrap();
    w.start(&citizen(2), ChatLang::Ar).unwrap();
    w.start(&citizen(3), ChatLang::Ar).unwrap();
    w.start(&citizen(4), ChatLang::Ar).unwrap();
    assert_eq!((w.desk.position(3), w.desk.position(4)), (Some(1), Some(2)));
    w.on_desk(|d, _, now| Ok(d.agent_disconnected(&amina.sub, now))).unwrap();
    w.tick(w.policy.agent_grace_ms);
    w.sweep();
    let order: Vec<ChatId> = w.desk.queues.ar.iter().map(|q| q.chat).collect();
    assert_eq!(order, vec![1, 2, 3, 4], "the requeued chats, oldest first, then those that never had an agent");
    assert!(w.changes.contains(&Change::Released { chat: 1, agent: amina.sub.clone() }));
    assert!(w.changes.contains(&Change::Position(4)));
}

#[test]
fn going_offline_hands_the_agents_chats_back() {
    let mut w = World::new();
    let amina = agent("Amina");
    w.available(&amina, &[ChatLang::En]);
    w.start(&citizen(1), ChatLang::En).unwrap();
    w.on_desk(|d, p, now| d.set_status(&amina, Availability::Offline, None, p, now)).unwrap();
    assert_eq!(w.desk.position(1), Some(1));
    assert_eq!(notices(&w, 1).last(), Some(&Notice::Requeued { reason: RequeueReason::AgentOffline }));
}

#[test]
fn the_desk_hears_a_citizen_is_away_only_once_they_stayed_away_past_the_notice_delay() {
    let mut w = World::new();
    let (fatima, amina) = (citizen(1), agent("Amina"));
    w.available(&amina, &[ChatLang::Ar]);
    w.start(&fatima, ChatLang::Ar).unwrap();
    let presence = |w: &mut World, present| w.on_desk(|d, p, now| d.citizen_presence(1, &fatima.sub, present, p, now));
    let shown = |w: &World| w.desk.open[&1].away_shown_since();
    // A blip: gone and back within the delay, nothing reaches the desk.
    presence(&mut w, false).unwrap();
    w.tick(w.policy.away_notice_ms - 1);
    w.sweep();
    presence(&mut w, true).unwrap();
    assert_eq!((w.changes.clone(), shown(&w)), (vec![], None));
    // Away for longer: the sweep tells the desk (with when they left), and their return is told too.
    presence(&mut w, false).unwrap();
    let left = w.now;
    w.tick(w.policy.away_notice_ms);
    w.sweep();
    assert_eq!((w.changes.clone(), shown(&w)), (vec![Change::Open(1)], Some(left)));
    w.sweep();
    assert_eq!(w.changes, vec![], "told once");
    presence(&mut w, true).unwrap();
    assert_eq!((w.changes.clone(), shown(&w)), (vec![Change::Open(1)], None));
    // With no delay configured the desk is told at once.
    w.policy.away_notice_ms = 0;
    presence(&mut w, false).unwrap();
    assert_eq!((w.changes.clone(), shown(&w)), (vec![Change::Open(1)], Some(w.now)));
}

#[test]
fn a_citizen_who_comes_back_within_the_window_resumes_the_same_chat() {
    let mut w = World::new();
    let (fatima, amina) = (citizen(1), agent("Amina"));
    w.available(&amina, &[ChatLang::Ar]);
    w.start(&fatima, ChatLang::Ar).unwrap();
    w.chat(1, &fatima, send("سؤالي عن القرض")).unwrap();
    let other = citizen(2);
    let theirs = |w: &mut World| w.on_desk(|d, p, now| d.citizen_presence(1, &other.sub, false, p, now));
    assert_eq!(refused(&mut w, theirs), ErrorCode::Forbidden);
    w.on_desk(|d, p, now| d.citizen_presence(1, &fatima.sub, false, p, now)).unwrap();
    assert_eq!(w.desk.open[&1].citizen_away_since, Some(w.now));
    assert_eq!(w.changes, vec![], "the desk hears of it only after the notice delay");
    w.tick(w.policy.resume_window_ms - 1);
    w.sweep();
    // Back: the same chat, with its history.
    assert_eq!(w.desk.open_chats_of(&fatima.sub), vec![1]);
    w.on_desk(|d, p, now| d.citizen_presence(1, &fatima.sub, true, p, now)).unwrap();
    assert_eq!(w.desk.open[&1].citizen_away_since, None);
    assert_eq!(w.chats[&1].messages[&2].text(), Some("سؤالي عن القرض"));
    // Gone for longer than the window: the chat ends as abandoned and Amina is free again.
    w.on_desk(|d, p, now| d.citizen_presence(1, &fatima.sub, false, p, now)).unwrap();
    w.tick(w.policy.resume_window_ms);
    w.sweep();
    assert_eq!(w.header(1).end_reason, Some(EndReason::Abandoned));
    assert!(w.desk.agents["g-amina"].chats.is_empty());
}

#[test]
fn admins_set_an_agents_cap_within_bounds() {
    let mut w = World::new();
    let amina = agent("Amina");
    w.available(&amina, &[ChatLang::En]);
    for n in 1..=4 {
        w.start(&citizen(n), ChatLang::En).unwrap();
    }
    assert_eq!(w.desk.position(4), Some(1));
    let cap =
        |by: User, cap: Option<u32>| move |w: &mut World| w.on_desk(|d, p, now| d.set_cap(&by, "g-amina", cap, p, now));
    assert_eq!(refused(&mut w, cap(amina.clone(), Some(5))), ErrorCode::Forbidden);
    assert_eq!(refused(&mut w, cap(admin("Noor"), Some(0))), ErrorCode::BadRequest);
    assert_eq!(refused(&mut w, cap(admin("Noor"), Some(21))), ErrorCode::BadRequest);
    let raised = cap(admin("Noor"), Some(4))(&mut w).unwrap();
    assert_eq!((raised.max_chats, raised.chats.len()), (Some(4), 4), "raising the cap hands out a waiting chat");
    // Lowering it takes nothing away.
    cap(admin("Noor"), Some(1))(&mut w).unwrap();
    assert_eq!(w.desk.agents["g-amina"].load(), 4);
    let unknown = |w: &mut World| w.on_desk(|d, p, now| d.set_cap(&admin("Noor"), "g-nobody", None, p, now));
    assert_eq!(refused(&mut w, unknown), ErrorCode::NotFound);
}

#[test]
fn only_agents_and_admins_work_the_desk() {
    let mut w = World::with(ChatPolicy { max_agents: 1, ..ChatPolicy::default() });
    let status = |who: User, a: Availability, l: Option<Vec<ChatLang>>| {
        move |w: &mut World| w.on_desk(|d, p, now| d.set_status(&who, a, l, p, now))
    };
    assert_eq!(refused(&mut w, status(moderator("Musa"), Availability::Available, None)), ErrorCode::Forbidden);
    assert_eq!(refused(&mut w, status(citizen(1), Availability::Available, None)), ErrorCode::Forbidden);
    assert_eq!(refused(&mut w, status(agent("Amina"), Availability::Available, Some(vec![]))), ErrorCode::BadRequest);
    let agent_state = status(admin("Noor"), Availability::Available, Some(vec![ChatLang::Ar]))(&mut w).unwrap();
    assert_eq!(agent_state.languages.len(), 1);
    assert_eq!(refused(&mut w, status(agent("Amina"), Availability::Away, None)), ErrorCode::Conflict);
}

#[test]
fn a_chat_taken_at_once_from_an_empty_queue_sends_the_desk_no_queue_change() {
    let mut w = World::new();
    let amina = agent("Amina");
    w.available(&amina, &[ChatLang::Ar]);
    w.start(&citizen(1), ChatLang::Ar).unwrap();
    assert!(!w.changes.contains(&Change::Queue(ChatLang::Ar)), "{:?}", w.changes);
    assert!(w.changes.contains(&Change::Open(1)) && w.changes.contains(&Change::Agent("g-amina".into())));
    // One that has to wait changes the queue, and the desk hears it.
    w.on_desk(|d, p, now| d.set_cap(&admin("Noor"), "g-amina", Some(1), p, now)).unwrap();
    w.start(&citizen(2), ChatLang::Ar).unwrap();
    assert!(w.changes.contains(&Change::Queue(ChatLang::Ar)), "{:?}", w.changes);
}
