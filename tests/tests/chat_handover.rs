//! Handing a chat on: a transfer to another agent, back to the queue with a note, and an agent whose
//! connection stayed down past the grace period, whose chats go back to the front of the queue with their
//! history and are picked up by another agent. The agent who handed a chat on loses its staff room.

use std::time::Duration;

use majlis_tests::chat::*;
use majlis_tests::generous;
use serde_json::{json, Value};

#[tokio::test]
async fn a_transfer_moves_the_chat_and_its_staff_room_to_the_new_agent_with_the_note() {
    let server = chat_server(generous).await;
    let (mut amina, amina_sub) = agent(&server, "Amina", &["en"]).await;
    let (mut huda, huda_sub) = agent(&server, "Huda", &["en"]).await;
    amina.join(&format!("user:{amina_sub}")).await;
    huda.join(&format!("user:{huda_sub}")).await;
    let (mut fatima, _, started) = citizen_with_chat(&server, "Fatima", "en").await;
    let chat = chat_id(&started);
    let (room, staff_room) = (format!("chat:{chat}"), format!("chat:{chat}:staff"));
    // Equally busy: the one who waited longest for a chat (available first) gets it.
    next_of(&mut amina, &format!("user:{amina_sub}"), "assigned").await;
    amina.join(&staff_room).await;
    fatima.join(&room).await;

    let refused = amina.refused(json!({"type": "chat_transfer", "chat": chat, "to": "nobody"})).await;
    assert_eq!(refused.code, "not_found");
    let refused = amina.refused(json!({"type": "chat_transfer", "chat": chat, "to": amina_sub})).await;
    assert_eq!(refused.code, "conflict");
    amina.ok(json!({"type": "chat_transfer", "chat": chat, "to": huda_sub, "note": "HANDOVER-NOTE: water team"})).await;
    let released = next_of(&mut amina, &format!("user:{amina_sub}"), "released").await;
    assert_eq!(released["data"], json!({"chat": chat}));
    let assigned = next_of(&mut huda, &format!("user:{huda_sub}"), "assigned").await;
    assert_eq!(
        (assigned["data"]["chat"]["id"].as_u64(), assigned["data"]["from"].as_str()),
        (Some(chat), Some("Amina"))
    );

    let notice = fatima
        .next_matching("the transfer notice", |f| {
            f["kind"] == "message" && f["data"]["kind"] == "system" && f["data"]["notice"]["type"] == "transferred"
        })
        .await;
    assert_eq!(notice["data"]["notice"], json!({"type": "transferred", "from": "Amina", "to": "Huda"}));
    let staff = huda.join(&staff_room).await;
    let notes = staff["data"]["notes"].as_array().unwrap();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["text"], "HANDOVER-NOTE: water team");
    assert_eq!(staff["data"]["chat"]["transfers"], 1);

    // Amina is out of the staff room: she hears nothing more of it, may not rejoin it or write in the chat.
    say(&mut fatima, chat, "Hello Huda").await;
    next_text(&mut huda, &staff_room).await;
    let quiet = |f: &Value| f["room"] == staff_room.as_str() && f["kind"] == "message" && f["data"]["kind"] == "text";
    amina.assert_no(Duration::from_millis(300), "staff-room events after the transfer", quiet).await;
    assert_eq!(amina.refused(json!({"type": "join", "room": staff_room})).await.code, "forbidden");
    assert_eq!(amina.refused(json!({"type": "chat_send", "chat": chat, "text": "hi"})).await.code, "forbidden");
    // And the citizen never saw the note.
    let snapshot = fatima.join(&room).await;
    assert!(!snapshot.to_string().contains("HANDOVER-NOTE"));
}

#[tokio::test]
async fn a_chat_handed_back_to_the_queue_goes_to_another_agent() {
    let server = chat_server(generous).await;
    let (mut amina, _) = agent(&server, "Amina", &["ar"]).await;
    let (mut fatima, _, started) = citizen_with_chat(&server, "Fatima", "ar").await;
    let chat = chat_id(&started);
    let room = format!("chat:{chat}");
    fatima.join(&room).await;
    let (mut huda, huda_sub) = agent(&server, "Huda", &["ar"]).await;
    huda.join(&format!("user:{huda_sub}")).await;
    amina.ok(json!({"type": "chat_requeue", "chat": chat, "note": "Needs the loans team."})).await;
    // Huda is the only other agent: routing skips the one who handed it back.
    let assigned = next_of(&mut huda, &format!("user:{huda_sub}"), "assigned").await;
    assert_eq!(assigned["data"]["chat"]["id"], chat);
    let requeued = fatima.next_matching("the requeue notice", |f| f["data"]["notice"]["type"] == "requeued").await;
    assert_eq!(requeued["data"]["notice"]["reason"], "returned");
    let joined = fatima.next_matching("Huda joined", |f| f["data"]["notice"]["type"] == "joined").await;
    assert_eq!(joined["data"]["notice"]["agent"], "Huda");
    let refused = amina.refused(json!({"type": "chat_requeue", "chat": chat})).await;
    assert_eq!(refused.code, "forbidden", "no longer hers");
}

#[tokio::test]
async fn an_agent_gone_past_the_grace_period_loses_their_chats_to_the_front_of_the_queue() {
    let server = chat_server(|c| {
        generous(c);
        c.chat.agent_grace_secs = 1;
        c.chat.sweep_ms = 50;
    })
    .await;
    let (amina, _) = agent(&server, "Amina", &["en"]).await;
    let (mut fatima, _, started) = citizen_with_chat(&server, "Fatima", "en").await;
    let chat = chat_id(&started);
    let room = format!("chat:{chat}");
    fatima.join(&room).await;
    say(&mut fatima, chat, "Before the drop").await;
    let (mut huda, huda_sub) = agent(&server, "Huda", &["en"]).await;
    huda.join(&format!("user:{huda_sub}")).await;
    let mut observer = server.client(majlis_server::auth::Role::Admin, "Supervisor").await;
    observer.join("desk").await;

    drop(amina);
    let away =
        observer.next_matching("Amina disconnected", |f| f["kind"] == "agent" && f["data"]["connected"] == false).await;
    assert_eq!(away["data"]["chats"], json!([chat]), "she keeps her chat during the grace period");
    let requeued = fatima.next_matching("the requeue notice", |f| f["data"]["notice"]["type"] == "requeued").await;
    assert_eq!(requeued["data"]["notice"]["reason"], "agent_disconnected");
    let assigned = next_of(&mut huda, &format!("user:{huda_sub}"), "assigned").await;
    assert_eq!(assigned["data"]["chat"]["id"], chat);
    let staff = huda.join(&format!("chat:{chat}:staff")).await;
    let texts: Vec<&str> =
        staff["data"]["messages"].as_array().unwrap().iter().filter_map(|m| m["text"].as_str()).collect();
    assert_eq!(texts, ["Before the drop"], "the history goes with it");
    let offline = observer
        .next_matching("Amina offline", |f| {
            f["kind"] == "agent" && f["data"]["name"] == "Amina" && f["data"]["availability"] == "offline"
        })
        .await;
    assert_eq!(offline["data"]["load"], 0);
}

#[tokio::test]
async fn an_agent_takes_a_waiting_chat_by_hand_within_their_languages_and_cap() {
    let server = one_chat_per_agent().await;
    let (mut amina, _first, started) = agent_with_a_chat(&server, "Amina", "First", "en").await;
    let first = chat_id(&started);
    let (_second, _, started) = citizen_with_chat(&server, "Second", "en").await;
    let (_third, _, third) = citizen_with_chat(&server, "Third", "en").await;
    let (second, third) = (chat_id(&started), chat_id(&third));

    // Amina is at her cap; Huda serves only Arabic; Omar is away but may still take one, any in the queue.
    let refused = amina.refused(json!({"type": "chat_take", "chat": second})).await;
    assert_eq!(refused.code, "conflict", "at the cap");
    let (mut huda, _) = agent(&server, "Huda", &["ar"]).await;
    assert_eq!(huda.refused(json!({"type": "chat_take", "chat": second})).await.code, "conflict", "not her language");
    let mut omar = server.client(majlis_server::auth::Role::Agent, "Omar").await;
    omar.ok(json!({"type": "agent_status", "availability": "away", "languages": ["en"]})).await;
    omar.ok(json!({"type": "chat_take", "chat": third})).await;
    let staff = omar.join(&format!("chat:{third}:staff")).await;
    assert_eq!(staff["data"]["chat"]["agent"]["name"], "Omar");
    assert_eq!(omar.refused(json!({"type": "chat_take", "chat": third})).await.code, "conflict", "no longer waiting");
    let mut citizen = server.citizen("Nobody").await;
    assert_eq!(citizen.refused(json!({"type": "chat_take", "chat": second})).await.code, "forbidden");

    // A supervisor may end any chat.
    let mut admin = server.client(majlis_server::auth::Role::Admin, "Supervisor").await;
    admin.ok(json!({"type": "chat_end", "chat": first})).await;
    let snapshot = admin.join(&format!("chat:{first}:staff")).await;
    assert_eq!(snapshot["data"]["chat"]["end_reason"], "supervisor");
    // Amina had room again, so routing gave her the second chat.
    let snapshot = amina.join(&format!("chat:{second}:staff")).await;
    assert_eq!(snapshot["data"]["chat"]["status"], "active");
}

#[tokio::test]
async fn an_agent_at_the_highest_cap_has_every_staff_room_open_on_one_connection() {
    let server = chat_server(|c| {
        generous(c);
        c.chat.agent_cap = 20;
        c.chat.starts_burst = 1000;
    })
    .await;
    let (mut amina, amina_sub) = agent(&server, "Amina", &["en"]).await;
    amina.join("desk").await;
    amina.join(&format!("user:{amina_sub}")).await;
    let mut citizens = vec![];
    for n in 0..20 {
        let (client, _, started) = citizen_with_chat(&server, &format!("Citizen {n}"), "en").await;
        amina.join(&format!("chat:{}:staff", chat_id(&started))).await;
        citizens.push(client);
    }
}
