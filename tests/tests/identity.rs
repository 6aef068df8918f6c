//! A citizen's identity: it survives a change of display name, and an anonymous question shows staff a
//! per-broadcast pseudonym that is enough to mute its author but links them to nothing else.

use majlis_server::auth::Role;
use majlis_tests::{ask, generous, id_of, Client, TestServer};
use serde_json::{json, Value};

/// A citizen session from `POST /api/session`: (token, user).
async fn session(server: &TestServer, name: &str) -> (String, Value) {
    let response =
        server.http.post(server.url("/api/session")).json(&json!({"name": name})).send().await.expect("POST session");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    (body["token"].as_str().unwrap_or_default().to_string(), body["user"].clone())
}

async fn rename(server: &TestServer, token: &str, name: &str) -> (u16, Value) {
    let response = server
        .http
        .patch(server.url("/api/session"))
        .bearer_auth(token)
        .json(&json!({"name": name}))
        .send()
        .await
        .expect("PATCH session");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn signed_in(server: &TestServer, token: &str) -> Client {
    let mut client = Client::connect(&server.ws_url()).await;
    client.ok(json!({"type": "auth", "token": token})).await;
    client
}

#[tokio::test]
async fn a_new_display_name_keeps_the_citizens_questions_votes_and_rights() {
    let server = TestServer::start().await;
    let b = server.create_broadcast(json!({})).await;
    let bid = id_of(&b);
    let (token, user) = session(&server, "Fatima").await;
    let mut before = signed_in(&server, &token).await;
    let mine = ask(&mut before, bid, "Before the rename").await;
    let other = ask(&mut server.citizen("Other").await, bid, "Someone else's").await;
    before.ok(json!({"type": "vote", "broadcast": bid, "question": other["id"], "value": true})).await;

    let (status, renamed) = rename(&server, &token, "Fatima A.").await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["user"]["sub"], user["sub"], "the same person");
    assert_eq!(renamed["user"]["name"], "Fatima A.");

    let mut after = signed_in(&server, renamed["token"].as_str().unwrap_or_default()).await;
    let snapshot = after.join(&format!("broadcast:{bid}")).await;
    let listed: Vec<&Value> = snapshot["data"]["mine"].as_array().map(|m| m.iter().collect()).unwrap_or_default();
    assert_eq!(listed.len(), 1, "'My questions' kept: {snapshot}");
    assert_eq!(snapshot["data"]["my_votes"], json!([other["id"]]), "the vote is still theirs");
    // Still theirs to edit, and voting again changes nothing: one vote per person.
    after.ok(json!({"type": "edit", "broadcast": bid, "question": mine["id"], "text": "Edited after"})).await;
    let vote = after.ok(json!({"type": "vote", "broadcast": bid, "question": other["id"], "value": true})).await;
    assert_eq!(vote["votes"], 1);
}

#[tokio::test]
async fn staff_cannot_rename_themselves_and_a_bad_body_is_refused() {
    let server = TestServer::start().await;
    let (status, body) = rename(&server, &server.token(Role::Moderator, "Mod"), "Other").await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")));
    let (token, _) = session(&server, "A").await;
    let (status, _) = rename(&server, &token, &"x".repeat(61)).await;
    assert_eq!(status, 400);
    let (status, _) = rename(&server, "not-a-token", "B").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn an_anonymous_author_is_a_pseudonym_to_staff_enough_to_mute_but_not_to_link() {
    let server = TestServer::start_with(generous).await;
    let b = server.create_broadcast(json!({"allow_anonymous": true})).await;
    let other_broadcast = server.create_broadcast(json!({"allow_anonymous": true})).await;
    let bid = id_of(&b);
    let mut moderator = server.moderator().await;
    moderator.join(&format!("broadcast:{bid}:moderation")).await;
    let mut shy = server.citizen("Shy").await;
    let anon = json!({"type": "ask", "broadcast": bid, "text": "first anonymous", "anonymous": true});
    shy.ok(anon).await;
    let first = moderator.next_event().await["data"].clone();
    shy.ok(json!({"type": "ask", "broadcast": bid, "text": "named one"})).await;
    let named = moderator.next_event().await["data"].clone();

    let handle = first["author"]["sub"].as_str().unwrap_or_default().to_string();
    assert!(handle.starts_with("anon:") && handle.len() == 13, "{first}");
    let shown = first["author"]["pseudonym"].as_str().unwrap_or_default();
    assert_eq!(shown.len(), 6, "{first}");
    assert_eq!(shown, shown.to_uppercase());
    assert!(first["author"]["name"].is_null());
    assert_ne!(named["author"]["sub"].as_str(), Some(handle.as_str()), "not linkable to the named question");

    // The same handle for the same person in this broadcast, another one elsewhere.
    let again = shy.ok(json!({"type": "ask", "broadcast": bid, "text": "second anonymous", "anonymous": true})).await;
    let second = moderator.next_event().await["data"].clone();
    assert_eq!(second["author"]["sub"].as_str(), Some(handle.as_str()), "{again}");
    let mut elsewhere = server.moderator().await;
    let other_id = id_of(&other_broadcast);
    elsewhere.join(&format!("broadcast:{other_id}:moderation")).await;
    shy.ok(json!({"type": "ask", "broadcast": other_id, "text": "anonymous elsewhere", "anonymous": true})).await;
    let there = elsewhere.next_event().await["data"].clone();
    assert_ne!(there["author"]["sub"].as_str(), Some(handle.as_str()), "handles are per broadcast");

    // Muting the handle holds that person's next anonymous question, not their named ones.
    moderator.ok(json!({"type": "mute", "broadcast": bid, "user": handle, "muted": true})).await;
    moderator.next_matching("the mute", |f| f["kind"] == "muted").await;
    let held = ask_anonymous(&mut shy, bid, "third anonymous").await;
    assert_eq!((held["status"].as_str(), held["author"].is_null()), (Some("pending"), true), "{held}");
    let free = ask(&mut shy, bid, "named again").await;
    assert_eq!(free["status"], "approved", "the named questions are not held: {free}");
    let staff = moderator.next_matching("the held question", |f| f["data"]["id"] == held["id"]).await;
    assert_eq!(staff["data"]["held"], "muted");
}

async fn ask_anonymous(client: &mut Client, broadcast: u64, text: &str) -> Value {
    client.ok(json!({"type": "ask", "broadcast": broadcast, "text": text, "anonymous": true})).await["question"].clone()
}
