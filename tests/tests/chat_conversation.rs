//! A chat from start to rating over real WebSockets: routing to the agent, both sides writing, receipts,
//! typing, the end and the rating; notes and staff details never reach the citizen.

use std::time::Duration;

use majlis_tests::chat::*;
use majlis_tests::{generous, Client};
use serde_json::{json, Value};

#[tokio::test]
async fn a_chat_runs_from_start_to_rating_with_receipts_and_typing() {
    let server = chat_server(generous).await;
    let (mut amina, amina_sub) = agent(&server, "Amina", &["en"]).await;
    amina.join(&format!("user:{amina_sub}")).await;

    let (mut fatima, _, started) = citizen_with_chat(&server, "Fatima", "en").await;
    assert_eq!(started["position"], Value::Null, "an available agent takes the chat at once: {started}");
    let chat = chat_id(&started);
    let assigned = next_of(&mut amina, &format!("user:{amina_sub}"), "assigned").await;
    assert_eq!(assigned["data"]["chat"]["id"], chat);
    assert_eq!(assigned["data"]["from"], Value::Null);

    let staff_room = format!("chat:{chat}:staff");
    let room = format!("chat:{chat}");
    let staff = amina.join(&staff_room).await;
    assert_eq!(staff["data"]["chat"]["citizen"]["contact"], "fatima@example.bh");
    let mine = fatima.join(&room).await;
    assert_eq!(mine["data"]["chat"]["status"], "active");
    assert_eq!(mine["data"]["chat"]["agent"], json!({"name": "Amina"}));
    assert_eq!(mine["data"]["messages"][0]["notice"], json!({"type": "joined", "agent": "Amina"}));
    for hidden in ["citizen", "consent", "tags", "notes"] {
        assert!(mine["data"]["chat"].get(hidden).is_none(), "the citizen's view has no {hidden}: {mine}");
    }

    let sent = say(&mut fatima, chat, "The water has been cut since yesterday.").await;
    assert_eq!((sent["seq"].as_u64(), sent.get("sub")), (Some(2), None));
    let heard = next_text(&mut amina, &staff_room).await;
    assert_eq!(heard["data"]["text"], "The water has been cut since yesterday.");
    assert_eq!(heard["data"]["from"], "citizen");
    assert!(heard["data"]["sub"].is_string(), "staff see who wrote: {heard}");

    say(&mut amina, chat, "Sorry to hear that. Which area?").await;
    // Her own message comes back to her room too (another tab of hers shows it), then the reply.
    let own = next_text(&mut fatima, &room).await;
    assert_eq!((own["data"]["seq"].as_u64(), own["data"]["from"].as_str()), (Some(2), Some("citizen")));
    let reply = next_text(&mut fatima, &room).await;
    assert_eq!((reply["data"]["from"].as_str(), reply["data"]["name"].as_str()), (Some("agent"), Some("Amina")));
    assert!(reply["data"].get("sub").is_none(), "no staff sub reaches the citizen: {reply}");

    // Receipts: read raises delivered, and both rooms hear it.
    let receipts = fatima.ok(json!({"type": "chat_receipt", "chat": chat, "read": 3})).await;
    assert_eq!(receipts["receipts"]["citizen"], json!({"delivered": 3, "read": 3}));
    let event = next_of(&mut amina, &staff_room, "receipts").await;
    assert_eq!(event["data"]["citizen"]["read"], 3);
    // A lower receipt changes nothing; one beyond the last message is refused.
    let same = fatima.ok(json!({"type": "chat_receipt", "chat": chat, "delivered": 1})).await;
    assert_eq!(same["receipts"]["citizen"]["delivered"], 3);
    let beyond = fatima.refused(json!({"type": "chat_receipt", "chat": chat, "read": 99})).await;
    assert_eq!(beyond.code, "bad_request");

    // Typing: the citizen's room hears the agent, the staff room hears the citizen; at most one a second.
    amina.ok(json!({"type": "chat_typing", "chat": chat, "typing": true})).await;
    let typing = fatima.next_matching("the agent typing", |f| f["type"] == "typing").await;
    assert_eq!(typing, json!({"type": "typing", "room": room, "side": "agent", "typing": true}));
    fatima.ok(json!({"type": "chat_typing", "chat": chat, "typing": true})).await;
    let typing = amina.next_matching("the citizen typing", |f| f["type"] == "typing" && f["side"] == "citizen").await;
    assert_eq!((typing["room"].as_str(), typing["side"].as_str()), (Some(staff_room.as_str()), Some("citizen")));
    fatima.ok(json!({"type": "chat_typing", "chat": chat, "typing": true})).await;
    let citizen_typing = |f: &Value| f["type"] == "typing" && f["side"] == "citizen";
    amina.assert_no(Duration::from_millis(300), "a second typing within a second", citizen_typing).await;
    fatima.ok(json!({"type": "chat_typing", "chat": chat, "typing": false})).await;
    let stopped = amina.next_matching("the citizen stopped typing", citizen_typing).await;
    assert_eq!(stopped["typing"], false);

    // The agent ends it; the citizen sees it, may no longer write, and rates it once.
    amina.ok(json!({"type": "chat_end", "chat": chat})).await;
    let ended = next_of(&mut fatima, &room, "chat").await;
    assert_eq!(
        (ended["data"]["status"].as_str(), ended["data"]["end_reason"].as_str()),
        (Some("ended"), Some("agent"))
    );
    let notice = next_of(&mut fatima, &room, "message").await;
    assert_eq!(notice["data"]["notice"], json!({"type": "ended", "reason": "agent"}));
    let late = fatima.refused(json!({"type": "chat_send", "chat": chat, "text": "Hello?"})).await;
    assert_eq!(late.code, "conflict");
    let typing_late = fatima.refused(json!({"type": "chat_typing", "chat": chat, "typing": true})).await;
    assert_eq!(typing_late.code, "conflict");
    let rated = fatima.ok(json!({"type": "chat_rate", "chat": chat, "score": 4, "comment": "Thanks"})).await;
    assert_eq!((rated["rating"]["score"].as_u64(), rated["rating"]["comment"].as_str()), (Some(4), Some("Thanks")));
    let again = fatima.refused(json!({"type": "chat_rate", "chat": chat, "score": 5})).await;
    assert_eq!(again.code, "conflict");
    let rating = amina
        .next_matching("the rating in the staff room", |f| {
            f["room"] == staff_room.as_str() && f["kind"] == "chat" && f["data"]["rating"].is_object()
        })
        .await;
    assert_eq!(rating["data"]["rating"]["score"], 4);
}

#[tokio::test]
async fn internal_notes_and_tags_never_reach_the_citizen() {
    let server = chat_server(generous).await;
    let (mut amina, _) = agent(&server, "Amina", &["ar"]).await;
    let (mut fatima, token, started) = citizen_with_chat(&server, "Fatima", "ar").await;
    let chat = chat_id(&started);
    let (room, staff_room) = (format!("chat:{chat}"), format!("chat:{chat}:staff"));
    fatima.join(&room).await;
    amina.join(&staff_room).await;

    let note = amina
        .ok(json!({"type": "chat_note", "chat": chat, "text": "SECRET-NOTE: repeat caller", "client_msg_id": "n1"}))
        .await;
    assert_eq!((note["note"]["id"].as_u64(), note["duplicate"].as_bool()), (Some(1), Some(false)));
    let again = amina
        .ok(json!({"type": "chat_note", "chat": chat, "text": "SECRET-NOTE: repeat caller", "client_msg_id": "n1"}))
        .await;
    assert_eq!(again["duplicate"], true);
    next_of(&mut amina, &staff_room, "note").await;
    let tags = amina.ok(json!({"type": "chat_tag", "chat": chat, "tags": ["SECRET-TAG", "water"]})).await;
    assert_eq!(tags["tags"], json!(["secret-tag", "water"]));
    say(&mut amina, chat, "A reply after the note").await;

    // The citizen hears the reply and nothing of the note or the tags, live or in a fresh snapshot.
    let mut heard: Vec<Value> = vec![];
    loop {
        let frame = fatima.next().await;
        let done = frame["kind"] == "message" && frame["data"]["kind"] == "text";
        heard.push(frame);
        if done {
            break;
        }
    }
    let mut again = connect_as(&server, &token).await;
    heard.push(again.join(&room).await);
    for frame in &heard {
        let text = frame.to_string();
        assert!(!text.contains("SECRET"), "a note or tag reached the citizen: {text}");
        assert_ne!(frame["kind"], "note");
    }
    // Citizens may not write notes or tags.
    let refused = fatima.refused(json!({"type": "chat_note", "chat": chat, "text": "me too"})).await;
    assert_eq!(refused.code, "forbidden");
    let refused = fatima.refused(json!({"type": "chat_tag", "chat": chat, "tags": ["x"]})).await;
    assert_eq!(refused.code, "forbidden");
    // The message numbering the citizen sees has no gap where the note was.
    let snapshot = again.join(&room).await;
    let seqs: Vec<u64> =
        snapshot["data"]["messages"].as_array().unwrap().iter().filter_map(|m| m["seq"].as_u64()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    drop::<Client>(again);
}

#[tokio::test]
async fn an_agents_shortcut_sends_the_canned_text_in_the_chats_language_and_a_citizens_is_just_text() {
    let server = chat_server(generous).await;
    let admin = majlis_server::auth::User {
        sub: "a-admin".into(),
        name: "Admin".into(),
        role: majlis_server::auth::Role::Admin,
    };
    let canned = serde_json::from_value(
        json!({"shortcut": "greet", "text": {"ar": "أهلاً بك، كيف أستطيع مساعدتك؟", "en": "Hello, how can I help?"}}),
    )
    .expect("a canned response");
    server.app.chat.upsert_canned(&admin, None, canned).await.expect("canned");
    let (mut amina, amina_sub) = agent(&server, "Amina", &["ar"]).await;
    let (mut fatima, token, started) = citizen_with_chat(&server, "Fatima", "ar").await;
    let chat = chat_id(&started);
    let sent = say(&mut amina, chat, "/greet").await;
    assert_eq!(sent["text"], "أهلاً بك، كيف أستطيع مساعدتك؟");
    let unknown = amina.refused(json!({"type": "chat_send", "chat": chat, "text": "/nothing"})).await;
    assert_eq!(unknown.code, "bad_request");
    let plain = say(&mut fatima, chat, "/greet").await;
    assert_eq!(plain["text"], "/greet");

    // The personal streams carry the chat's part: her open chat; his held chat and desk state.
    let me = fatima.ok(json!({"type": "auth", "token": token})).await;
    let mine = fatima.join(&format!("user:{}", me["user"]["sub"].as_str().unwrap())).await;
    assert_eq!(mine["data"]["chats"][0]["id"], chat, "{mine}");
    assert_eq!(mine["data"]["chats"][0]["agent_name"], "Amina");
    assert_eq!(mine["data"]["agent"], Value::Null);
    let his = amina.join(&format!("user:{amina_sub}")).await;
    assert_eq!(his["data"]["chats"][0]["id"], chat, "{his}");
    assert_eq!(
        (his["data"]["agent"]["load"].as_u64(), his["data"]["agent"]["availability"].as_str()),
        (Some(1), Some("available"))
    );
    assert!(his["data"]["questions"].is_array());
}
