//! Bad input gets a clear, documented error code; the connection and everyone else carry on.

use std::time::Duration;

use majlis_server::auth::Role;
use majlis_tests::{ask, Client, TestServer};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn commands_before_auth_are_unauthorized_but_ping_works() {
    let server = TestServer::start().await;
    let mut client = Client::connect(&server.ws_url()).await;
    assert!(client.ok(json!({"type": "ping"})).await["time"].as_u64().is_some());
    let refusal = client.refused(json!({"type": "join", "room": "broadcast:1"})).await;
    assert_eq!(refusal.code, "unauthorized");
    let refusal = client.refused(json!({"type": "auth", "token": "not-a-token"})).await;
    assert_eq!(refusal.code, "unauthorized");
}

#[tokio::test]
async fn malformed_unknown_and_incomplete_frames_get_errors_and_the_connection_carries_on() {
    let server = TestServer::start().await;
    let b = server.create_broadcast(json!({})).await;
    let mut client = server.citizen("Sara").await;

    client.send_raw(Message::text("{not json")).await;
    let frame = client.next_matching("an error", |f| f["type"] == "error").await;
    assert_eq!((frame["code"].as_str(), frame["id"].is_null()), (Some("bad_request"), true));

    assert_eq!(client.refused(json!({"type": "teleport"})).await.code, "unknown_type");
    assert_eq!(client.refused(json!({"type": "vote", "broadcast": b["id"]})).await.code, "bad_request");

    client.send_raw(Message::binary(vec![1u8, 2, 3])).await;
    let frame = client.next_matching("an error", |f| f["type"] == "error").await;
    assert_eq!(frame["code"], "bad_request");

    // Still a working connection.
    let q = ask(&mut client, b["id"].as_u64().unwrap(), "Is the connection still fine?").await;
    assert_eq!(q["status"], "approved");
}

#[tokio::test]
async fn an_oversized_frame_is_too_large_and_the_connection_survives() {
    let server = TestServer::start_with(|c| c.max_message_bytes = 1024).await;
    let mut client = server.citizen("Big").await;
    let huge = json!({"type": "ping", "pad": "x".repeat(2000)}).to_string();
    client.send_raw(Message::text(huge)).await;
    let frame = client.next_matching("an error", |f| f["type"] == "error").await;
    assert_eq!(frame["code"], "too_large");
    client.ok(json!({"type": "ping"})).await;
}

#[tokio::test]
async fn a_frame_beyond_the_hard_limit_closes_with_1009_and_others_carry_on() {
    let server = TestServer::start_with(|c| c.max_message_bytes = 1024).await;
    let mut other = server.citizen("Other").await;
    let mut client = server.citizen("Huge").await;
    // The hard limit is four times max-message-bytes.
    let huge = json!({"type": "ping", "pad": "x".repeat(5000)}).to_string();
    client.send_raw(Message::text(huge)).await;
    let (code, reason) = client.closed().await;
    assert_eq!((code, reason.as_str()), (1009, "message_too_big"));
    other.ok(json!({"type": "ping"})).await;
}

#[tokio::test]
async fn a_plain_http_request_to_the_websocket_endpoint_is_a_bad_request() {
    let server = TestServer::start().await;
    let (status, body) = server.get_json("/ws", None).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "bad_request");
}

#[tokio::test]
async fn a_client_ping_is_answered_with_a_pong_carrying_its_payload() {
    let server = TestServer::start().await;
    let mut client = server.citizen("Pinger").await;
    client.send_raw(Message::Ping(b"are you there".to_vec().into())).await;
    let pong = client.next_pong().await;
    assert_eq!(pong, b"are you there");
}

#[tokio::test]
async fn a_citizen_sending_a_moderator_command_is_forbidden() {
    let server = TestServer::start().await;
    let b = server.create_broadcast(json!({})).await;
    let id = b["id"].as_u64().unwrap();
    let mut citizen = server.citizen("Huda").await;
    let q = ask(&mut citizen, id, "When will the houses be ready?").await;
    for command in [
        json!({"type": "approve", "broadcast": id, "question": q["id"]}),
        json!({"type": "hide", "broadcast": id, "question": q["id"], "reason": "x"}),
        json!({"type": "pin", "broadcast": id, "question": q["id"]}),
        json!({"type": "answer", "broadcast": id, "question": q["id"], "live": true}),
        json!({"type": "mute", "broadcast": id, "user": "someone", "muted": true}),
    ] {
        assert_eq!(citizen.refused(command).await.code, "forbidden");
    }
    assert_eq!(
        citizen.refused(json!({"type": "join", "room": format!("broadcast:{id}:moderation")})).await.code,
        "forbidden"
    );
}

#[tokio::test]
async fn unknown_rooms_and_questions_are_not_found() {
    let server = TestServer::start().await;
    let b = server.create_broadcast(json!({})).await;
    let mut client = server.citizen("Nour").await;
    assert_eq!(client.refused(json!({"type": "join", "room": "broadcast:999"})).await.code, "not_found");
    assert_eq!(client.refused(json!({"type": "join", "room": "lobby"})).await.code, "not_found");
    let vote = json!({"type": "vote", "broadcast": b["id"], "question": 424242, "value": true});
    assert_eq!(client.refused(vote).await.code, "not_found");
}

#[tokio::test]
async fn too_many_questions_are_rate_limited_with_a_retry_hint_and_the_connection_stays_open() {
    let server = TestServer::start_with(|c| {
        c.questions_per_minute = 1;
        c.questions_burst = 2;
    })
    .await;
    let b = server.create_broadcast(json!({})).await;
    let id = b["id"].as_u64().unwrap();
    let mut client = server.citizen("Fast").await;
    ask(&mut client, id, "first").await;
    ask(&mut client, id, "second").await;
    let refusal = client.refused(json!({"type": "ask", "broadcast": id, "text": "third"})).await;
    assert_eq!(refusal.code, "rate_limited");
    assert!(refusal.frame["retry_after_ms"].as_u64().unwrap() > 1000);
    // Other commands still work.
    client.ok(json!({"type": "ping"})).await;
    // Someone else is not affected.
    let mut other = server.citizen("Calm").await;
    ask(&mut other, id, "mine is fine").await;
}

#[tokio::test]
async fn too_many_votes_per_second_are_rate_limited() {
    let server = TestServer::start_with(|c| {
        c.votes_per_second = 1;
        c.votes_burst = 2;
    })
    .await;
    let b = server.create_broadcast(json!({})).await;
    let id = b["id"].as_u64().unwrap();
    let mut client = server.citizen("Voter").await;
    let q = ask(&mut client, id, "vote on me").await;
    let vote = |value: bool| json!({"type": "vote", "broadcast": id, "question": q["id"], "value": value});
    client.ok(vote(true)).await;
    client.ok(vote(false)).await;
    assert_eq!(client.refused(vote(true)).await.code, "rate_limited");
}

#[tokio::test]
async fn conflicting_commands_get_conflict() {
    let server = TestServer::start().await;
    let b = server.create_broadcast(json!({})).await;
    let id = b["id"].as_u64().unwrap();
    let mut moderator = server.moderator().await;
    let mut citizen = server.citizen("Late").await;
    let q = ask(&mut citizen, id, "A question").await;
    let merge_self = json!({"type": "merge", "broadcast": id, "question": q["id"], "into": q["id"]});
    assert_eq!(moderator.refused(merge_self).await.code, "conflict");
    server.set_state(id, "live").await;
    server.set_state(id, "ended").await;
    let refusal = citizen.refused(json!({"type": "ask", "broadcast": id, "text": "too late"})).await;
    assert_eq!(refusal.code, "conflict");
}

#[tokio::test]
async fn a_flood_of_garbage_closes_the_connection_for_protocol_abuse() {
    let server = TestServer::start_with(|c| c.max_bad_frames = 3).await;
    let mut bad = Client::connect(&server.ws_url()).await;
    for _ in 0..5 {
        bad.send_raw(Message::text("garbage")).await;
    }
    let (code, reason) = bad.closed().await;
    assert_eq!((code, reason.as_str()), (1008, "protocol_abuse"));
    // Others are unaffected.
    let mut good = server.client(Role::Citizen, "Good").await;
    good.ok(json!({"type": "ping"})).await;
}

#[tokio::test]
async fn too_many_connections_from_one_address_are_refused_with_429() {
    let server = TestServer::start_with(|c| c.max_connections_per_ip = 2).await;
    let _a = Client::connect(&server.ws_url()).await;
    let _b = Client::connect(&server.ws_url()).await;
    let third = tokio_tungstenite::connect_async(server.ws_url()).await;
    match third {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 429),
        other => panic!("expected HTTP 429, got {other:?}"),
    }
    drop(_a);
    // The slot comes back once a connection closes.
    let mut again = None;
    for _ in 0..50 {
        if let Ok((ws, _)) = tokio_tungstenite::connect_async(server.ws_url()).await {
            again = Some(ws);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(again.is_some(), "a freed slot is reusable");
}

#[tokio::test]
async fn anonymous_sessions_are_rate_limited_per_address() {
    let server = TestServer::start_with(|c| c.sessions_per_minute = 2).await;
    let post = || server.http.post(server.url("/api/session")).json(&json!({"name": "x"})).send();
    assert_eq!(post().await.unwrap().status(), 200);
    assert_eq!(post().await.unwrap().status(), 200);
    let third = post().await.unwrap();
    assert_eq!(third.status(), 429);
    assert!(third.headers().contains_key("retry-after"));
    let body: serde_json::Value = third.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
}

#[tokio::test]
async fn a_full_server_answers_503_unavailable_before_the_upgrade() {
    let server = TestServer::start_with(|c| c.max_connections = 1).await;
    let _only = Client::connect(&server.ws_url()).await;
    match tokio_tungstenite::connect_async(server.ws_url()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503);
            let body: serde_json::Value =
                serde_json::from_slice(response.body().as_deref().unwrap_or_default()).unwrap();
            assert_eq!(body["error"]["code"], "unavailable");
        }
        other => panic!("expected HTTP 503, got {other:?}"),
    }
}

#[tokio::test]
async fn a_second_auth_replaces_the_identity_and_drops_rooms_it_may_no_longer_see() {
    let server = TestServer::start().await;
    let b = server.create_broadcast(json!({})).await;
    let id = b["id"].as_u64().unwrap();
    let mut client = server.moderator().await;
    client.join(&format!("broadcast:{id}:moderation")).await;
    let who = client.ok(json!({"type": "auth", "token": server.token(Role::Citizen, "Plain")})).await;
    assert_eq!(who["user"]["role"], "citizen");
    let refusal = client.refused(json!({"type": "leave", "room": format!("broadcast:{id}:moderation")})).await;
    assert_eq!(refusal.code, "not_found", "the moderation room was left on the way");
    client.join(&format!("broadcast:{id}")).await;
    client.ok(json!({"type": "leave", "room": format!("broadcast:{id}")})).await;
}
