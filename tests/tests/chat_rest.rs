//! The live chat's REST API (docs/protocol.md §10.7), one file per part in `chat_rest/`: the start info,
//! business hours and agents' caps (`desk_info.rs`), offline messages (`offline.rs`), canned responses
//! (`canned.rs`), transcripts and the ministry's report (`records.rs`), each with who may and who may not, and
//! bad bodies answered with plain sentences. This file has the helpers they share, and is the test target
//! (`--test chat_rest`). Nothing here depends on the storage mode: `shared_in_redis.rs` runs the same tests in
//! Redis mode (as does `MAJLIS_TEST_REDIS=1`).

#[path = "chat_rest/canned.rs"]
mod canned;
#[path = "chat_rest/desk_info.rs"]
mod desk_info;
#[path = "chat_rest/offline.rs"]
mod offline;
#[path = "chat_rest/records.rs"]
mod records;

use majlis_server::auth::Role;
use majlis_tests::{generous, Client, TestServer};
use reqwest::Method;
use serde_json::{json, Value};

/// One REST call: (status, JSON body or `Null`).
pub(crate) async fn call(
    server: &TestServer,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = server.http.request(method, server.url(path));
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    if let Some(b) = body {
        request = request.json(&b);
    }
    let response = request.send().await.expect("REST call");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn get(server: &TestServer, path: &str, token: Option<&str>) -> (u16, Value) {
    call(server, Method::GET, path, token, None).await
}

pub(crate) async fn post(server: &TestServer, path: &str, token: &str, body: Value) -> (u16, Value) {
    call(server, Method::POST, path, Some(token), Some(body)).await
}

pub(crate) async fn put(server: &TestServer, path: &str, token: &str, body: Value) -> (u16, Value) {
    call(server, Method::PUT, path, Some(token), Some(body)).await
}

/// The error code of a refusal, checking that its message is a plain sentence.
pub(crate) fn code(status_and_body: &(u16, Value)) -> String {
    let (status, body) = status_and_body;
    let message = body["error"]["message"].as_str().unwrap_or_else(|| panic!("no error message ({status}): {body}"));
    assert_plain(message);
    body["error"]["code"].as_str().unwrap_or_default().to_string()
}

/// A message a person can read: a sentence, no parser or server wording.
pub(crate) fn assert_plain(message: &str) {
    assert!(message.ends_with('.') || message.ends_with('?'), "not a sentence: {message}");
    for word in ["expected", "invalid type", " at line ", "column", "u64", "u32", "`", "Failed to", "deserialize"] {
        assert!(!message.contains(word), "parser wording in {message:?}");
    }
}

/// A schedule open every minute of every day, or never.
pub(crate) fn always_open() -> Value {
    let day = json!([{"open": "00:00", "close": "24:00"}]);
    json!({"time_zone": "Asia/Bahrain", "week": {"sun": day, "mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day}, "holidays": []})
}

pub(crate) fn never_open() -> Value {
    json!({"time_zone": "Asia/Bahrain", "week": {}, "holidays": []})
}

pub(crate) async fn set_hours(server: &TestServer, schedule: Value) {
    let admin = server.token(Role::Admin, "Noor");
    let answer = put(server, "/api/chat/hours", &admin, schedule).await;
    assert_eq!(answer.0, 200, "PUT hours: {}", answer.1);
}

/// The `sub` behind a token.
pub(crate) async fn sub_of(server: &TestServer, token: &str) -> String {
    let (status, me) = get(server, "/api/me", Some(token)).await;
    assert_eq!(status, 200, "{me}");
    me["sub"].as_str().unwrap_or_default().to_string()
}

pub(crate) async fn signed_in(server: &TestServer, token: &str) -> Client {
    let mut client = Client::connect(&server.ws_url()).await;
    client.ok(json!({"type": "auth", "token": token})).await;
    client
}

/// An agent on the desk, available for `langs`: (token, connection).
pub(crate) async fn available_agent(server: &TestServer, name: &str, langs: Value) -> (String, Client) {
    let token = server.token(Role::Agent, name);
    let mut agent = signed_in(server, &token).await;
    agent.ok(json!({"type": "agent_status", "availability": "available", "languages": langs})).await;
    (token, agent)
}

pub(crate) async fn consent_version(server: &TestServer) -> Value {
    let (status, info) = get(server, "/api/chat/start-info", None).await;
    assert_eq!(status, 200, "{info}");
    info["consent"]["version"].clone()
}

pub(crate) async fn start_chat(
    server: &TestServer,
    citizen: &mut Client,
    lang: &str,
) -> Result<Value, majlis_tests::Refusal> {
    let version = consent_version(server).await;
    citizen
        .request(json!({"type": "chat_start", "category": "complaint", "lang": lang, "name": "Fatima",
            "contact": "fatima@example.bh", "consent": true, "consent_version": version}))
        .await
}

pub(crate) fn offline_form() -> Value {
    json!({"category": "suggestion", "lang": "ar", "name": "فاطمة", "contact": "fatima@example.bh", "text": "أقترح تمديد ساعات العمل"})
}
