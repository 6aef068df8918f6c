//! The chat's retention (docs/protocol.md §10.8, §10.9): an ended chat and a settled offline message are
//! forgotten once past `--chat-retention-secs` (here 1 second), and then answer `not_found` like a chat that
//! never was; an open chat and an open offline message are never forgotten. Both modes (`shared_in_redis.rs`):
//! in memory a pass forgets them, in Redis their keys expire and a pass takes them out of the indexes. None
//! relies on the in-memory store's count cap (`--chat-max-ended-chats`), which Redis mode doesn't have.

use std::time::{Duration, Instant};

use majlis_server::auth::Role;
use majlis_tests::chat::{agent, chat_id, chat_server, citizen_with_chat};
use majlis_tests::{generous, TestServer};
use serde_json::{json, Value};

/// Longest the test waits for the sweep to forget something.
const FORGET_WITHIN: Duration = Duration::from_secs(10);

async fn retaining_one_second() -> TestServer {
    chat_server(|c| {
        generous(c);
        c.chat.retention_secs = 1;
        c.chat.min_retention_secs = 1;
        c.chat.sweep_ms = 50;
    })
    .await
}

/// Polls `path` until it answers 404 (nothing announces a forgetting); panics after [`FORGET_WITHIN`].
async fn until_not_found(server: &TestServer, path: &str, token: &str) -> Value {
    let deadline = Instant::now() + FORGET_WITHIN;
    loop {
        let (status, body) = server.get_json(path, Some(token)).await;
        if status == 404 {
            return body;
        }
        assert_eq!(status, 200, "{path} before it is forgotten: {body}");
        assert!(Instant::now() < deadline, "{path} was not forgotten within {FORGET_WITHIN:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_ended_chat_past_its_retention_is_not_found_and_an_open_one_is_untouched() {
    let server = retaining_one_second().await;
    let (mut amina, _) = agent(&server, "Amina", &["ar", "en"]).await;
    let (mut fatima, fatima_token, started) = citizen_with_chat(&server, "Fatima", "ar").await;
    let (_maryam, maryam_token, open) = citizen_with_chat(&server, "Maryam", "en").await;
    let (ended, open) = (chat_id(&started), chat_id(&open));
    fatima.ok(json!({"type": "chat_end", "chat": ended})).await;

    let gone = until_not_found(&server, &format!("/api/chat/chats/{ended}/transcript.json"), &fatima_token).await;
    assert_eq!(gone["error"]["code"], "not_found");
    // Its rooms are gone too, for its citizen and its agent alike, and so are its commands.
    let refused = fatima.refused(json!({"type": "join", "room": format!("chat:{ended}")})).await;
    assert_eq!(refused.code, "not_found");
    let refused = amina.refused(json!({"type": "join", "room": format!("chat:{ended}:staff")})).await;
    assert_eq!(refused.code, "not_found");
    let refused = fatima.refused(json!({"type": "chat_rate", "chat": ended, "score": 5})).await;
    assert_eq!(refused.code, "not_found");

    // The open chat, older than the retention by now, is all there.
    let (status, transcript) =
        server.get_json(&format!("/api/chat/chats/{open}/transcript.json"), Some(&maryam_token)).await;
    assert_eq!(status, 200, "{transcript}");
    let snapshot = amina.join(&format!("chat:{open}:staff")).await;
    assert_eq!(snapshot["data"]["chat"]["status"], "active");
    // Fatima may start again; her new chat is a new id.
    let again = fatima.ok(majlis_tests::chat::form(&server, "ar")).await;
    assert!(chat_id(&again) > open);
}

#[tokio::test]
async fn a_closed_offline_message_past_its_retention_leaves_the_inbox_and_an_open_one_stays() {
    let server = retaining_one_second().await;
    let staff = server.token(Role::Agent, "Amina");
    let mut ids = Vec::new();
    for name in ["Fatima", "Maryam"] {
        let body = json!({"category": "inquiry", "lang": "ar", "contact": "x@example.bh", "text": "Hello"});
        let response = server
            .http
            .post(server.url("/api/chat/offline"))
            .bearer_auth(server.token(Role::Citizen, name))
            .json(&body)
            .send()
            .await
            .expect("POST offline");
        assert_eq!(response.status().as_u16(), 201);
        let receipt: Value = response.json().await.expect("a receipt");
        ids.push(receipt["id"].as_u64().expect("an id"));
    }
    let closed = ids[0];
    let response = server
        .http
        .post(server.url(&format!("/api/chat/offline/{closed}/close")))
        .bearer_auth(&staff)
        .send()
        .await
        .expect("POST close");
    assert_eq!(response.status().as_u16(), 200);

    let deadline = Instant::now() + FORGET_WITHIN;
    let inbox = loop {
        let (status, inbox) = server.get_json("/api/chat/offline", Some(&staff)).await;
        assert_eq!(status, 200, "{inbox}");
        let kept: Vec<u64> =
            inbox["messages"].as_array().expect("messages").iter().filter_map(|m| m["id"].as_u64()).collect();
        if !kept.contains(&closed) {
            break kept;
        }
        assert!(Instant::now() < deadline, "the closed message was not forgotten within {FORGET_WITHIN:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(inbox, vec![ids[1]], "the open one stays");
    let response = server
        .http
        .post(server.url(&format!("/api/chat/offline/{closed}/answer")))
        .bearer_auth(&staff)
        .json(&json!({"text": "Too late"}))
        .send()
        .await
        .expect("POST answer");
    assert_eq!(response.status().as_u16(), 404);
}
