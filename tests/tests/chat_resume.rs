//! Coming back: a citizen or an agent whose connection dropped resumes the same chat with `since` and gets what
//! they missed exactly once, in order; a retried `client_msg_id` never duplicates; a citizen gone past the
//! resume window finds the chat ended as abandoned.

use std::time::Duration;

use majlis_tests::chat::*;
use majlis_tests::{generous, Client};
use serde_json::{json, Value};

/// The room position a client holds after the snapshot and the events it applied.
fn since(snapshot: &Value, last_seq: u64) -> Value {
    json!({ "epoch": snapshot["epoch"], "seq": last_seq })
}

/// Texts of the `message` events in `frames`.
fn texts(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .filter(|f| f["kind"] == "message" && f["data"]["kind"] == "text")
        .map(|f| f["data"]["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Joins with `since` and returns the ack and every frame of the room before it.
async fn rejoin(client: &mut Client, room: &str, since: Value) -> (Value, Vec<Value>) {
    let ack = client.ok(json!({"type": "join", "room": room, "since": since})).await;
    let mut frames = vec![];
    // The replayed events come before the ack: they are already waiting.
    while let Ok(frame) = tokio::time::timeout(Duration::from_millis(200), client.next()).await {
        if frame["room"] == room {
            frames.push(frame);
        }
    }
    (ack, frames)
}

#[tokio::test]
async fn messages_sent_while_either_side_was_away_arrive_once_in_order_after_reconnecting() {
    let server = chat_server(|c| {
        generous(c);
        c.chat.away_notice_secs = 1;
        c.chat.sweep_ms = 50;
    })
    .await;
    let amina_token = server.token(majlis_server::auth::Role::Agent, "Amina");
    let mut amina = connect_as(&server, &amina_token).await;
    amina.ok(json!({"type": "agent_status", "availability": "available", "languages": ["en"]})).await;
    let (mut fatima, fatima_token, started) = citizen_with_chat(&server, "Fatima", "en").await;
    let chat = chat_id(&started);
    let (room, staff_room) = (format!("chat:{chat}"), format!("chat:{chat}:staff"));
    let mine = fatima.join(&room).await;
    let staff = amina.join(&staff_room).await;
    amina.join("desk").await;

    // The citizen's message, sent twice with the same client_msg_id (a retry after a doubtful send).
    let first = fatima.ok(json!({"type": "chat_send", "chat": chat, "text": "one", "client_msg_id": "c-1"})).await;
    let retry = fatima.ok(json!({"type": "chat_send", "chat": chat, "text": "one", "client_msg_id": "c-1"})).await;
    assert_eq!((first["duplicate"].as_bool(), retry["duplicate"].as_bool()), (Some(false), Some(true)));
    assert_eq!(first["message"]["seq"], retry["message"]["seq"]);
    let heard = next_text(&mut fatima, &room).await;
    let citizen_at = heard["seq"].as_u64().unwrap();
    let heard = next_text(&mut amina, &staff_room).await;
    let agent_at = heard["seq"].as_u64().unwrap();

    // The citizen goes away (the desk is told once she stayed away past the notice delay); the agent writes
    // twice (and retries one).
    drop(fatima);
    for (text, id) in [("two", "a-2"), ("three", "a-3"), ("two", "a-2")] {
        amina.ok(json!({"type": "chat_send", "chat": chat, "text": text, "client_msg_id": id})).await;
    }
    let away = amina
        .next_matching("the citizen away", |f| f["kind"] == "open" && f["data"]["citizen_away_since"].is_u64())
        .await;
    assert_eq!(away["data"]["id"], chat);

    // She comes back with the same token and her position: exactly what she missed, in order.
    let mut fatima = connect_as(&server, &fatima_token).await;
    let (ack, missed) = rejoin(&mut fatima, &room, since(&mine, citizen_at)).await;
    assert_eq!(ack["recovered"], true, "{ack}");
    assert_eq!(texts(&missed), ["two", "three"]);
    let seqs: Vec<u64> = missed.iter().map(|f| f["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (citizen_at + 1..=citizen_at + seqs.len() as u64).collect::<Vec<_>>(), "gap-free");

    // Now the agent goes away (within the grace period) and she writes, once retried.
    drop(amina);
    for (text, id) in [("four", "c-4"), ("four", "c-4"), ("five", "c-5")] {
        fatima.ok(json!({"type": "chat_send", "chat": chat, "text": text, "client_msg_id": id})).await;
    }
    let mut amina = connect_as(&server, &amina_token).await;
    let (ack, missed) = rejoin(&mut amina, &staff_room, since(&staff, agent_at)).await;
    assert_eq!(ack["recovered"], true, "{ack}");
    assert_eq!(texts(&missed), ["two", "three", "four", "five"]);
    // The chat is still hers and the agent's: nothing was handed back.
    let snapshot = amina.join(&staff_room).await;
    assert_eq!(snapshot["data"]["chat"]["status"], "active");
    let all = texts(
        &snapshot["data"]["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| json!({"kind": "message", "data": m}))
            .collect::<Vec<_>>(),
    );
    assert_eq!(all, ["one", "two", "three", "four", "five"], "the whole history, each once");
}

#[tokio::test]
async fn a_citizen_gone_past_the_resume_window_finds_the_chat_ended_as_abandoned() {
    let server = chat_server(|c| {
        generous(c);
        c.chat.resume_window_secs = 1;
        c.chat.sweep_ms = 50;
    })
    .await;
    let (mut amina, _) = agent(&server, "Amina", &["ar"]).await;
    let (fatima, token, started) = citizen_with_chat(&server, "Fatima", "ar").await;
    let chat = chat_id(&started);
    let staff_room = format!("chat:{chat}:staff");
    amina.join(&staff_room).await;
    drop(fatima);
    let ended = amina
        .next_matching("the chat ended", |f| f["room"] == staff_room.as_str() && f["data"]["status"] == "ended")
        .await;
    assert_eq!(ended["data"]["end_reason"], "abandoned");
    // Coming back, she sees it ended and may start another.
    let mut fatima = connect_as(&server, &token).await;
    let snapshot = fatima.join(&format!("chat:{chat}")).await;
    assert_eq!(snapshot["data"]["chat"]["end_reason"], "abandoned");
    fatima.ok(form(&server, "ar")).await;
}
