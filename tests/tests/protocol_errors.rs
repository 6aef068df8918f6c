//! Bad input gets a clear, documented error code; the connection and everyone else carry on.

use std::time::Duration;

use majlis_server::auth::Role;
use majlis_tests::{ask, id_of, Client, TestServer};
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
    let vote = json!({"type": "vote", "broadcast": b["id"], "question": 424242, "value": true});
    assert_eq!(client.refused(vote).await.code, "not_found");
}

#[tokio::test]
async fn a_malformed_room_name_is_a_bad_request_not_an_unknown_room() {
    let server = TestServer::start().await;
    let b = server.create_broadcast(json!({})).await;
    let mut client = server.citizen("Nour").await;
    for room in [
        "lobby",
        "broadcast:",
        "broadcast:x",
        "broadcast:-1",
        "broadcast:007",
        "chat:x",
        "chat:01",
        "chat:1:mod",
        "desk:1",
    ] {
        for kind in ["join", "leave"] {
            let refusal = client.refused(json!({"type": kind, "room": room})).await;
            assert_eq!(refusal.code, "bad_request", "{kind} {room}: {:?}", refusal.frame);
        }
    }
    let room = format!("broadcast:{}", b["id"]);
    assert_eq!(client.refused(json!({"type": "leave", "room": room})).await.code, "not_found", "not joined");
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

#[tokio::test]
async fn a_command_without_an_id_is_refused_and_counts_as_a_bad_frame() {
    let server = TestServer::start_with(|c| c.max_bad_frames = 3).await;
    let mut client = server.citizen("NoId").await;
    client.send_raw(Message::text(json!({"type": "ping"}).to_string())).await;
    let frame = client.next().await;
    assert_eq!((frame["type"].as_str(), frame["code"].as_str()), (Some("error"), Some("bad_request")), "{frame}");
    assert!(frame["id"].is_null());
    // Ids must be strings or numbers: null, objects and booleans are no ids.
    for id in [json!(null), json!({"n": 1}), json!(true)] {
        client.send_raw(Message::text(json!({"type": "ping", "id": id}).to_string())).await;
    }
    for _ in 0..2 {
        let frame = client.next().await;
        assert_eq!((frame["code"].as_str(), frame["id"].is_null()), (Some("bad_request"), true), "{frame}");
    }
    // That was the third bad frame in a row: answered, then closed.
    let (code, reason) = client.closed().await;
    assert_eq!((code, reason.as_str()), (1008, "protocol_abuse"));
}

#[tokio::test]
async fn the_last_allowed_bad_frame_is_answered_and_then_the_connection_is_closed() {
    let server = TestServer::start_with(|c| c.max_bad_frames = 3).await;
    let mut client = Client::connect(&server.ws_url()).await;
    // Two bad frames and a good one: the count starts again.
    client.send_raw(Message::text("garbage")).await;
    client.send_raw(Message::text("garbage")).await;
    client.ok(json!({"type": "ping"})).await;
    for n in 1..=3 {
        client.send_raw(Message::text("garbage")).await;
        let frame = client.next().await;
        assert_eq!(frame["code"], "bad_request", "bad frame {n}: {frame}");
    }
    let (code, reason) = client.closed().await;
    assert_eq!((code, reason.as_str()), (1008, "protocol_abuse"), "closed on the third, not the fourth");
}

#[tokio::test]
async fn invalid_utf8_in_a_text_frame_is_answered_and_closed_with_1007() {
    use tokio_tungstenite::tungstenite::protocol::frame::{coding::Data, coding::OpCode, Frame};
    let server = TestServer::start().await;
    let mut client = server.citizen("Bytes").await;
    let broken = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
    client.send_raw(Message::Frame(broken)).await;
    let frame = client.next().await;
    assert_eq!((frame["code"].as_str(), frame["id"].is_null()), (Some("bad_request"), true), "{frame}");
    let (code, reason) = client.closed().await;
    assert_eq!((code, reason.as_str()), (1007, "invalid_utf8"));
}

#[tokio::test]
async fn ping_does_not_count_against_the_command_limit() {
    let server = TestServer::start_with(|c| {
        c.commands_per_second = 1;
        c.commands_burst = 2;
    })
    .await;
    let b = server.create_broadcast(json!({})).await;
    let room = format!("broadcast:{}", b["id"]);
    let mut client = server.citizen("Pinger").await;
    for _ in 0..20 {
        client.ok(json!({"type": "ping"})).await;
    }
    // The pings took nothing: the citizen's burst of two is still whole, and then the limit holds.
    client.join(&room).await;
    client.ok(json!({"type": "leave", "room": room})).await;
    assert_eq!(client.refused(json!({"type": "join", "room": room})).await.code, "rate_limited");
    client.ok(json!({"type": "ping"})).await;
}

#[tokio::test]
async fn asks_resent_after_a_reconnect_get_their_originals_even_when_the_question_limit_is_used_up() {
    let server = TestServer::start_with(|c| {
        c.questions_per_minute = 1;
        c.questions_burst = 3;
    })
    .await;
    let b = server.create_broadcast(json!({})).await;
    let token = server.token(Role::Citizen, "Resender");
    let ask = |n: u32| json!({"type": "ask", "broadcast": b["id"], "text": format!("Question {n}"), "client_msg_id": format!("m-{n}")});
    let mut first = Client::connect(&server.ws_url()).await;
    first.ok(json!({"type": "auth", "token": token})).await;
    let mut originals = vec![];
    for n in 1..=3 {
        originals.push(first.ok(ask(n)).await["question"]["id"].clone());
    }
    assert_eq!(first.refused(ask(4)).await.code, "rate_limited", "the limit is used up");
    drop(first);
    // The client never saw those acks (say): it reconnects and re-sends all three, as docs/protocol.md §6 says.
    let mut again = Client::connect(&server.ws_url()).await;
    again.ok(json!({"type": "auth", "token": token})).await;
    for n in 1..=3 {
        let result = again.ok(ask(n)).await;
        assert_eq!(result["duplicate"], true, "{result}");
        assert_eq!(result["question"]["id"], originals[n as usize - 1]);
    }
    assert_eq!(again.refused(ask(4)).await.code, "rate_limited", "and the retries took nothing either");
}

#[tokio::test]
async fn refused_asks_do_not_use_up_the_question_limit() {
    let server = TestServer::start_with(|c| {
        c.questions_per_minute = 1;
        c.questions_burst = 2;
    })
    .await;
    let b = server.create_broadcast(json!({"max_question_len": 10, "allow_anonymous": false})).await;
    let mut client = server.citizen("Careful").await;
    for text in ["", "   ", "far too long a question"] {
        for _ in 0..3 {
            let refusal = client.refused(json!({"type": "ask", "broadcast": b["id"], "text": text})).await;
            assert_eq!(refusal.code, "bad_request", "{text:?}");
        }
    }
    let anonymous = json!({"type": "ask", "broadcast": b["id"], "text": "Who?", "anonymous": true});
    assert_eq!(client.refused(anonymous).await.code, "bad_request");
    let bad_id = json!({"type": "ask", "broadcast": b["id"], "text": "Id?", "client_msg_id": "x".repeat(65)});
    assert_eq!(client.refused(bad_id).await.code, "bad_request");
    // None of that counted: the burst of two is whole.
    ask(&mut client, id_of(&b), "First").await;
    ask(&mut client, id_of(&b), "Second").await;
    let refusal = client.refused(json!({"type": "ask", "broadcast": b["id"], "text": "Third"})).await;
    assert_eq!(refusal.code, "rate_limited");
    // Nor does an ask to a broadcast that no longer takes questions.
    let ended = server.create_broadcast(json!({})).await;
    server.set_state(id_of(&ended), "ended").await;
    let late = json!({"type": "ask", "broadcast": ended["id"], "text": "Late"});
    assert_eq!(client.refused(late).await.code, "conflict");
}

#[tokio::test]
async fn a_repeated_vote_is_never_rate_limited() {
    let server = TestServer::start_with(|c| {
        c.votes_per_second = 1;
        c.votes_burst = 2;
    })
    .await;
    let b = server.create_broadcast(json!({})).await;
    let mut author = server.citizen("Author").await;
    let q = ask(&mut author, id_of(&b), "Vote for me").await;
    let mut voter = server.citizen("Voter").await;
    let vote = |value: bool| json!({"type": "vote", "broadcast": b["id"], "question": q["id"], "value": value});
    let result = voter.ok(vote(true)).await;
    assert_eq!((result["votes"].as_u64(), result["voted"].as_bool()), (Some(1), Some(true)));
    // Retries of the same vote change nothing: answered with the count, never refused, never counted.
    for _ in 0..10 {
        let result = voter.ok(vote(true)).await;
        assert_eq!((result["votes"].as_u64(), result["voted"].as_bool()), (Some(1), Some(true)));
    }
    voter.ok(vote(false)).await;
    for _ in 0..10 {
        assert_eq!(voter.ok(vote(false)).await["votes"], 0);
    }
    // Two changes were the burst: the third change is refused, while a retry still is not.
    assert_eq!(voter.refused(vote(true)).await.code, "rate_limited");
    assert_eq!(voter.ok(vote(false)).await["votes"], 0);
}

#[tokio::test]
async fn a_since_beyond_the_rooms_seq_gets_a_fresh_snapshot() {
    let server = TestServer::start().await;
    let b = server.create_broadcast(json!({})).await;
    let room = format!("broadcast:{}", b["id"]);
    let mut client = server.citizen("Future").await;
    let snapshot = client.join(&room).await;
    let epoch = snapshot["epoch"].clone();
    let seq = snapshot["seq"].as_u64().unwrap_or(0);
    let ack = client.ok(json!({"type": "join", "room": room, "since": {"epoch": epoch, "seq": seq + 1000}})).await;
    assert_eq!(ack["recovered"], false);
    let fresh = client.next_matching("a fresh snapshot", |f| f["type"] == "snapshot").await;
    assert_eq!(fresh["seq"].as_u64(), Some(seq));
}

#[tokio::test]
async fn bad_fields_are_refused_with_a_plain_sentence_naming_the_field() {
    let server = TestServer::start().await;
    let b = server.create_broadcast(json!({})).await;
    let mut client = server.citizen("Typo").await;
    let cases = [
        (
            json!({"type": "vote", "broadcast": b["id"], "question": "17", "value": true}),
            "The \"question\" field must be a whole number (0 or more).",
        ),
        (json!({"type": "vote", "broadcast": b["id"], "question": 17}), "The \"value\" field is missing."),
        (json!({"type": "ask", "broadcast": b["id"], "text": 5}), "The \"text\" field must be a string."),
        (
            json!({"type": "tag", "broadcast": b["id"], "question": 1, "tags": ["a", 2]}),
            "The \"tags[1]\" field must be a string.",
        ),
        (
            json!({"type": "join", "room": "broadcast:1", "since": {"epoch": "e", "seq": -1}}),
            "The \"since.seq\" field must be a whole number (0 or more).",
        ),
    ];
    for (command, message) in cases {
        let refusal = client.refused(command.clone()).await;
        assert_eq!(
            (refusal.code.as_str(), refusal.frame["message"].as_str()),
            ("bad_request", Some(message)),
            "{command}"
        );
    }
    // The same in REST bodies.
    let moderator = server.token(Role::Moderator, "Mod");
    let post = |body: serde_json::Value| {
        server.http.post(server.url("/api/broadcasts")).bearer_auth(&moderator).json(&body).send()
    };
    let patch = |body: serde_json::Value| {
        server
            .http
            .patch(server.url(&format!("/api/broadcasts/{}", b["id"])))
            .bearer_auth(&moderator)
            .json(&body)
            .send()
    };
    let cases = [
        (post(json!({"title": "Housing"})).await, "The \"title\" field must be an object."),
        (
            post(json!({"title": {"en": "Housing"}, "starts_at": "soon"})).await,
            "The \"starts_at\" field must be a whole number (0 or more).",
        ),
        (post(json!({"title": {"en": "Housing"}, "colour": "red"})).await, "\"colour\" is not a field this accepts."),
        (
            post(json!({"title": {"en": "Housing", "fr": "Logement"}})).await,
            "\"title.fr\" is not a field this accepts.",
        ),
        (
            patch(json!({"state": "paused"})).await,
            "The \"state\" field must be one of scheduled, live, ended, archived.",
        ),
        (patch(json!({"premoderation": "yes"})).await, "The \"premoderation\" field must be true or false."),
    ];
    for (response, message) in cases {
        let response = response.expect("REST call");
        assert_eq!(response.status(), 400);
        let body: serde_json::Value = response.json().await.expect("a JSON error");
        assert_eq!(
            (body["error"]["code"].as_str(), body["error"]["message"].as_str()),
            (Some("bad_request"), Some(message))
        );
    }
    let not_json = server
        .http
        .post(server.url("/api/broadcasts"))
        .bearer_auth(&moderator)
        .header("content-type", "application/json")
        .body("{\"title\":")
        .send()
        .await
        .expect("POST");
    let body: serde_json::Value = not_json.json().await.expect("a JSON error");
    assert_eq!(body["error"]["message"], "The body is not valid JSON.");
    // A path that names no broadcast id gets an error body too, not the router's plain text.
    let (status, body) = server.get_json("/api/broadcasts/abc/stats", Some(&moderator)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn the_statistics_csv_has_the_documented_layout() {
    let server = TestServer::start().await;
    let b = server.create_broadcast(json!({})).await;
    let id = id_of(&b);
    let mut citizen = server.citizen("Stats").await;
    let answered = ask(&mut citizen, id, "=1+1 \"quoted\"").await;
    let approved = ask(&mut citizen, id, "Still open").await;
    let hidden = ask(&mut citizen, id, "Hide me").await;
    let mut moderator = server.moderator().await;
    moderator.ok(json!({"type": "answer", "broadcast": id, "question": answered["id"], "live": true})).await;
    moderator.ok(json!({"type": "tag", "broadcast": id, "question": approved["id"], "tags": ["b", "a"]})).await;
    moderator.ok(json!({"type": "hide", "broadcast": id, "question": hidden["id"], "reason": ""})).await;
    let token = server.token(Role::Moderator, "Mod");
    let (_, stats) = server.get_json(&format!("/api/broadcasts/{id}/stats"), Some(&token)).await;
    let q = &stats["questions"];
    // `approved` counts the answered ones too, so the states add up to `asked`.
    assert_eq!((q["asked"].as_u64(), q["approved"].as_u64(), q["answered"].as_u64()), (Some(3), Some(2), Some(1)));
    let sum: u64 = ["approved", "hidden", "merged", "withdrawn", "pending"].iter().filter_map(|k| q[*k].as_u64()).sum();
    assert_eq!(sum, 3);
    let response = server
        .http
        .get(server.url(&format!("/api/broadcasts/{id}/stats.csv")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET stats.csv");
    assert_eq!(response.headers()["content-disposition"], format!("attachment; filename=\"broadcast-{id}-stats.csv\""));
    let csv = response.text().await.expect("text");
    let expected = format!(
        "metric,value\nunique_participants,0\npeak_participants,0\ncurrent_participants,0\nquestions_asked,3\n\
         questions_approved,2\nquestions_answered,1\nquestions_hidden,1\nquestions_merged,0\n\
         questions_withdrawn,0\nquestions_pending,0\nvotes,0\nbroadcast,{id}\n\"tag:a\",1\n\"tag:b\",1\n\n\
         rank,question_id,votes,status,text\n1,{},0,answered,\"'=1+1 \"\"quoted\"\"\"\n2,{},0,approved,\"Still open\"\n",
        answered["id"], approved["id"]
    );
    assert_eq!(csv, expected);
}
