//! Who may see and do what in the chat: a citizen only in their own chat, never in its staff room or the desk;
//! an agent only in the chats they hold; supervisors everywhere but the conversation itself; moderators nowhere.

use majlis_server::auth::Role;
use majlis_tests::chat::*;
use majlis_tests::generous;
use serde_json::json;

#[tokio::test]
async fn a_citizen_can_neither_join_nor_write_into_another_citizens_chat() {
    let server = chat_server(generous).await;
    let (_amina, _) = agent(&server, "Amina", &["en"]).await;
    let (_fatima, _, started) = citizen_with_chat(&server, "Fatima", "en").await;
    let chat = chat_id(&started);
    let mut ali = server.citizen("Ali").await;
    for room in [format!("chat:{chat}"), format!("chat:{chat}:staff"), "desk".to_string()] {
        let refused = ali.refused(json!({"type": "join", "room": room})).await;
        assert_eq!(refused.code, "forbidden", "{room}: {:?}", refused.frame);
    }
    for command in [
        json!({"type": "chat_send", "chat": chat, "text": "hi"}),
        json!({"type": "chat_receipt", "chat": chat, "read": 1}),
        json!({"type": "chat_typing", "chat": chat, "typing": true}),
        json!({"type": "chat_end", "chat": chat}),
        json!({"type": "chat_rate", "chat": chat, "score": 1}),
    ] {
        let refused = ali.refused(command.clone()).await;
        assert_eq!(refused.code, "forbidden", "{command}: {:?}", refused.frame);
    }
    let refused = ali.refused(json!({"type": "join", "room": "chat:999"})).await;
    assert_eq!(refused.code, "not_found");
    let refused = ali.refused(json!({"type": "chat_send", "chat": 999, "text": "hi"})).await;
    assert_eq!(refused.code, "not_found");
    let refused = ali.refused(json!({"type": "join", "room": "chat:01"})).await;
    assert_eq!(refused.code, "bad_request", "one name per room");
    let refused = ali.refused(json!({"type": "agent_status", "availability": "available", "languages": ["en"]})).await;
    assert_eq!(refused.code, "forbidden");
    // Her own chat's staff room is not hers either.
    let mut fatima_again = server.citizen("Fatima 2").await;
    let refused = fatima_again.refused(json!({"type": "join", "room": format!("chat:{chat}:staff")})).await;
    assert_eq!(refused.code, "forbidden");
}

#[tokio::test]
async fn only_the_chats_agent_and_supervisors_see_its_staff_room_and_supervisors_note_but_never_reply() {
    let server = chat_server(generous).await;
    let (_amina, _) = agent(&server, "Amina", &["en"]).await;
    let (_fatima, _, started) = citizen_with_chat(&server, "Fatima", "en").await;
    let chat = chat_id(&started);
    let staff_room = format!("chat:{chat}:staff");

    let mut omar = server.client(Role::Agent, "Omar").await;
    let refused = omar.refused(json!({"type": "join", "room": staff_room})).await;
    assert_eq!(refused.code, "forbidden", "an agent who does not hold the chat");
    let refused = omar.refused(json!({"type": "chat_send", "chat": chat, "text": "hi"})).await;
    assert_eq!(refused.code, "forbidden");
    omar.join("desk").await;

    let mut moderator = server.moderator().await;
    for room in [format!("chat:{chat}"), staff_room.clone(), "desk".into()] {
        assert_eq!(moderator.refused(json!({"type": "join", "room": room})).await.code, "forbidden");
    }

    let mut admin = server.client(Role::Admin, "Supervisor").await;
    let snapshot = admin.join(&staff_room).await;
    assert_eq!(snapshot["data"]["chat"]["agent"]["name"], "Amina");
    let refused = admin.refused(json!({"type": "chat_send", "chat": chat, "text": "hi"})).await;
    assert_eq!(refused.code, "forbidden", "{:?}", refused.frame);
    admin.ok(json!({"type": "chat_note", "chat": chat, "text": "Watch this one."})).await;
    assert_eq!(admin.refused(json!({"type": "join", "room": format!("chat:{chat}")})).await.code, "forbidden");
}

#[tokio::test]
async fn only_the_chats_citizen_and_agent_type_in_it_and_nobody_once_it_ended() {
    let server = one_chat_per_agent().await;
    let (mut amina, mut fatima, started) = agent_with_a_chat(&server, "Amina", "Fatima", "en").await;
    let chat = chat_id(&started);
    let typing = json!({"type": "chat_typing", "chat": chat, "typing": true});
    for (mut who, code, why) in [
        (server.client(Role::Agent, "Omar").await, "forbidden", "an agent who does not hold it"),
        (server.client(Role::Admin, "Supervisor").await, "forbidden", "a supervisor"),
        (server.moderator().await, "forbidden", "a moderator"),
        (server.citizen("Ali").await, "forbidden", "another citizen"),
    ] {
        let refused = who.refused(typing.clone()).await;
        assert_eq!(refused.code, code, "{why}: {:?}", refused.frame);
    }
    let refused = fatima.refused(json!({"type": "chat_typing", "chat": 999_999, "typing": true})).await;
    assert_eq!(refused.code, "not_found");

    // The next chat waits (Amina holds her one chat): its citizen may type, no agent may.
    let (mut ali, _, waiting) = citizen_with_chat(&server, "Ali", "en").await;
    let queued = chat_id(&waiting);
    ali.ok(json!({"type": "chat_typing", "chat": queued, "typing": true})).await;
    let refused = amina.refused(json!({"type": "chat_typing", "chat": queued, "typing": true})).await;
    assert_eq!(refused.code, "forbidden", "not hers: {:?}", refused.frame);

    amina.ok(typing.clone()).await;
    fatima.ok(json!({"type": "chat_end", "chat": chat})).await;
    for who in [&mut amina, &mut fatima] {
        let refused = who.refused(json!({"type": "chat_typing", "chat": chat, "typing": false})).await;
        assert_eq!(refused.code, "conflict", "ended: {:?}", refused.frame);
    }
}

#[tokio::test]
async fn signing_in_as_someone_else_leaves_the_chat_rooms_of_the_first() {
    let server = chat_server(generous).await;
    let (_amina, _) = agent(&server, "Amina", &["en"]).await;
    let (mut fatima, _, started) = citizen_with_chat(&server, "Fatima", "en").await;
    let chat = chat_id(&started);
    let room = format!("chat:{chat}");
    fatima.join(&room).await;
    let other = server.token(Role::Citizen, "Ali");
    fatima.ok(json!({"type": "auth", "token": other})).await;
    // No longer in the room: leaving it is not_found, and its events no longer come.
    assert_eq!(fatima.refused(json!({"type": "leave", "room": room})).await.code, "not_found");
}
