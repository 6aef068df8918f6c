//! Helpers for the live chat's black-box tests: a desk open around the clock, agents on it, citizens who start
//! chats with the pre-chat form, and the same person reconnecting.

use majlis_server::auth::Role;
use serde_json::{json, Value};

use crate::{Client, TestServer};

/// The desk open every hour of every day (the default is government hours in Bahrain).
pub async fn open_around_the_clock(server: &TestServer) {
    let day = json!([{ "open": "00:00", "close": "24:00" }]);
    let schedule = serde_json::from_value(json!({
        "time_zone": "UTC",
        "week": { "sun": day, "mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day },
    }))
    .expect("BUG: a valid schedule");
    let admin = majlis_server::auth::User { sub: "a-setup".into(), name: "Setup".into(), role: Role::Admin };
    server.app.chat.set_hours(&admin, schedule).await.expect("set the business hours");
}

/// A server whose desk is open around the clock, with `tweak` applied to its configuration.
pub async fn chat_server(tweak: impl FnOnce(&mut majlis_server::Config)) -> TestServer {
    let server = TestServer::start_with(tweak).await;
    open_around_the_clock(&server).await;
    server
}

/// A server whose agents hold one chat at a time (and whose rate limits are out of the way), so that while every
/// agent has a chat, the next ones wait in the queue.
pub async fn one_chat_per_agent() -> TestServer {
    chat_server(|c| {
        crate::generous(c);
        c.chat.agent_cap = 1;
    })
    .await
}

/// On a [`one_chat_per_agent`] server: agent `name`, available for `lang`, and the citizen `citizen_name` whose
/// chat routing gives them at once, so that the next chat in `lang` waits; the agent, the citizen, and the
/// start's ack.
pub async fn agent_with_a_chat(
    server: &TestServer,
    name: &str,
    citizen_name: &str,
    lang: &str,
) -> (Client, Client, Value) {
    let (agent, _) = agent(server, name, &[lang]).await;
    let (citizen, _, started) = citizen_with_chat(server, citizen_name, lang).await;
    (agent, citizen, started)
}

/// A connection signed in with `token`.
pub async fn connect_as(server: &TestServer, token: &str) -> Client {
    let mut client = Client::connect(&server.ws_url()).await;
    client.ok(json!({"type": "auth", "token": token})).await;
    client
}

/// An agent (or admin) who is available for `langs`, and their `sub`.
pub async fn agent_on_desk(server: &TestServer, role: Role, name: &str, langs: &[&str]) -> (Client, String) {
    let token = server.token(role, name);
    let mut client = Client::connect(&server.ws_url()).await;
    let auth = client.ok(json!({"type": "auth", "token": token})).await;
    let sub = auth["user"]["sub"].as_str().expect("a sub").to_string();
    client.ok(json!({"type": "agent_status", "availability": "available", "languages": langs})).await;
    (client, sub)
}

pub async fn agent(server: &TestServer, name: &str, langs: &[&str]) -> (Client, String) {
    agent_on_desk(server, Role::Agent, name, langs).await
}

/// The pre-chat form, with the consent line's current version.
pub fn form(server: &TestServer, lang: &str) -> Value {
    json!({
        "type": "chat_start", "category": "complaint", "lang": lang, "name": "Fatima",
        "contact": "fatima@example.bh", "consent": true,
        "consent_version": server.app.config.chat.consent().version,
    })
}

/// A citizen (with their token, to come back as the same person) who started a chat in `lang`; the ack.
pub async fn citizen_with_chat(server: &TestServer, name: &str, lang: &str) -> (Client, String, Value) {
    let token = server.token(Role::Citizen, name);
    let mut client = connect_as(server, &token).await;
    let started = client.ok(form(server, lang)).await;
    (client, token, started)
}

pub fn chat_id(started: &Value) -> u64 {
    started["chat"].as_u64().unwrap_or_else(|| panic!("no chat id in {started}"))
}

/// Sends a chat message and returns the ack's message.
pub async fn say(client: &mut Client, chat: u64, text: &str) -> Value {
    client.ok(json!({"type": "chat_send", "chat": chat, "text": text})).await["message"].clone()
}

/// The next event of `room` with `kind`, skipping everything else.
pub async fn next_of(client: &mut Client, room: &str, kind: &str) -> Value {
    client
        .next_matching(&format!("a {kind} event in {room}"), |f| {
            f["type"] == "event" && f["room"] == room && f["kind"] == kind
        })
        .await
}

/// The next `message` event of `room` that is a text (skipping system messages).
pub async fn next_text(client: &mut Client, room: &str) -> Value {
    client
        .next_matching(&format!("a text message in {room}"), |f| {
            f["type"] == "event" && f["room"] == room && f["kind"] == "message" && f["data"]["kind"] == "text"
        })
        .await
}
