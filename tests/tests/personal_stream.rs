//! A person's own stream `user:<sub>`: the fate of their questions, live, whichever broadcast they are in,
//! resumable after a reconnect, and nobody else's to read.

use majlis_tests::{ask, id_of, TestServer};
use serde_json::{json, Value};

fn own_room(client_sub: &str) -> String {
    format!("user:{client_sub}")
}

/// The `sub` of the connection's user (from a `ping`-free way: the auth ack is gone, so ask the server).
async fn sub_of(server: &TestServer, token: &str) -> String {
    let (_, me) = server.get_json("/api/me", Some(token)).await;
    me["sub"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn an_author_hears_every_change_of_their_questions_fate_with_the_reason() {
    let server = TestServer::start().await;
    let b = server.create_broadcast(json!({"premoderation": true})).await;
    let bid = id_of(&b);
    let token = server.token(majlis_server::auth::Role::Citizen, "Author");
    let sub = sub_of(&server, &token).await;
    let mut author = majlis_tests::Client::connect(&server.ws_url()).await;
    author.ok(json!({"type": "auth", "token": token})).await;
    let snapshot = author.join(&own_room(&sub)).await;
    assert_eq!(snapshot["data"]["questions"], json!([]));

    let first = ask(&mut author, bid, "Will it be approved?").await;
    let second = ask(&mut author, bid, "Will it be hidden?").await;
    let mut moderator = server.moderator().await;
    moderator.ok(json!({"type": "approve", "broadcast": bid, "question": first["id"]})).await;
    moderator.ok(json!({"type": "pin", "broadcast": bid, "question": first["id"]})).await;
    moderator.ok(json!({"type": "answer", "broadcast": bid, "question": first["id"], "text": "Yes."})).await;
    moderator.ok(json!({"type": "hide", "broadcast": bid, "question": second["id"], "reason": "off topic"})).await;

    let mut fates = vec![];
    while fates.len() < 6 {
        let event = author.next_event().await;
        assert_eq!((event["room"].as_str(), event["kind"].as_str()), (Some(own_room(&sub).as_str()), Some("question")));
        let q = &event["data"];
        fates.push((q["id"].clone(), q["status"].clone(), q["pinned"].clone(), q["hidden_reason"].clone()));
    }
    let (f, s) = (first["id"].clone(), second["id"].clone());
    assert_eq!(
        fates,
        vec![
            (f.clone(), json!("pending"), json!(false), Value::Null),
            (s.clone(), json!("pending"), json!(false), Value::Null),
            (f.clone(), json!("approved"), json!(false), Value::Null),
            (f.clone(), json!("approved"), json!(true), Value::Null),
            (f.clone(), json!("answered"), json!(true), Value::Null),
            (s.clone(), json!("hidden"), json!(false), json!("off topic")),
        ]
    );
    // A fresh snapshot tells the same, newest first.
    let snapshot = author.join(&own_room(&sub)).await;
    let listed: Vec<(Value, Value)> = snapshot["data"]["questions"]
        .as_array()
        .map(|qs| qs.iter().map(|q| (q["id"].clone(), q["status"].clone())).collect())
        .unwrap_or_default();
    assert_eq!(listed, vec![(s, json!("hidden")), (f, json!("answered"))]);
}

#[tokio::test]
async fn nobody_may_join_another_persons_stream() {
    let server = TestServer::start().await;
    let mut intruder = server.citizen("Intruder").await;
    let refusal = intruder.refused(json!({"type": "join", "room": "user:c-someone-else"})).await;
    assert_eq!(refusal.code, "forbidden");
    let mut moderator = server.moderator().await;
    let refusal = moderator.refused(json!({"type": "join", "room": "user:c-someone-else"})).await;
    assert_eq!(refusal.code, "forbidden", "not even staff");
}

#[tokio::test]
async fn a_reconnecting_author_gets_what_they_missed_from_their_position() {
    let server = TestServer::start().await;
    let b = server.create_broadcast(json!({"premoderation": true})).await;
    let bid = id_of(&b);
    let token = server.token(majlis_server::auth::Role::Citizen, "Author");
    let sub = sub_of(&server, &token).await;
    let mut author = majlis_tests::Client::connect(&server.ws_url()).await;
    author.ok(json!({"type": "auth", "token": &token})).await;
    let snapshot = author.join(&own_room(&sub)).await;
    let q = ask(&mut author, bid, "Approved while I was away?").await;
    let asked = author.next_event().await;
    drop(author);

    let mut moderator = server.moderator().await;
    moderator.ok(json!({"type": "approve", "broadcast": bid, "question": q["id"]})).await;
    let mut back = majlis_tests::Client::connect(&server.ws_url()).await;
    back.ok(json!({"type": "auth", "token": &token})).await;
    let since = json!({"epoch": snapshot["epoch"], "seq": asked["seq"]});
    let ack = back.ok(json!({"type": "join", "room": own_room(&sub), "since": since})).await;
    assert_eq!(ack["recovered"], true);
    let missed = back.next_event().await;
    assert_eq!((missed["data"]["id"].clone(), missed["data"]["status"].clone()), (q["id"].clone(), json!("approved")));
}
