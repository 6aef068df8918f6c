//! A node killed with SIGKILL in the middle of a chat: every message it acknowledged is kept, and reaches the
//! other side exactly once and in order; the citizen resumes the same chat through another node.
//!
//! The killed node is a separate process: this test binary runs itself again as `node_process` (a "test" that is
//! a Majlis node when `MAJLIS_NODE_REDIS` is set, and does nothing otherwise).

use majlis_server::auth::Role;
use majlis_tests::redis::{node_token, run_node_process, NodeProcess, RedisServer};
use majlis_tests::{Client, TestServer};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// Every day open, all day: the tests run at any hour.
const ALWAYS_OPEN: &str = r#"{"time_zone":"Asia/Bahrain","week":{"sun":[{"open":"00:00","close":"24:00"}],"mon":[{"open":"00:00","close":"24:00"}],"tue":[{"open":"00:00","close":"24:00"}],"wed":[{"open":"00:00","close":"24:00"}],"thu":[{"open":"00:00","close":"24:00"}],"fri":[{"open":"00:00","close":"24:00"}],"sat":[{"open":"00:00","close":"24:00"}]},"holidays":[]}"#;

/// Not a test: the body of a node process (see the module docs).
#[test]
fn node_process() {
    run_node_process(|config| {
        config.chat.messages_per_minute = 100_000;
        config.chat.messages_burst = 100_000;
    });
}

async fn client(url: &str, role: Role, sub: &str) -> Client {
    Client::authed(url, &node_token(role, sub, sub)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_node_loses_no_acknowledged_message() {
    let redis = RedisServer::start();
    assert_eq!(redis.command(&["SET", "mj:{desk}:hours", ALWAYS_OPEN]).as_deref(), Some("+OK"));
    let mut doomed = NodeProcess::start(&redis);
    let url = redis.url();
    let survivor = TestServer::start_with(|c| {
        c.redis_url = Some(url);
        majlis_tests::generous(c);
        c.chat.messages_per_minute = 100_000;
        c.chat.messages_burst = 100_000;
    })
    .await;
    doomed.wait_ready().await;
    let doomed_ws = doomed.ws_url();

    let mut agent = client(&survivor.ws_url(), Role::Agent, "g-amina").await;
    agent.join("user:g-amina").await;
    agent.ok(json!({"type": "agent_status", "availability": "available", "languages": ["en"]})).await;
    let version = survivor.app.config.chat.consent().version;
    let mut citizen = client(&doomed_ws, Role::Citizen, "c-ali").await;
    let started = citizen
        .ok(json!({"type": "chat_start", "category": "complaint", "lang": "en", "consent": true, "consent_version": version}))
        .await;
    let id = started["chat"].as_u64().expect("chat id");
    let staff = format!("chat:{id}:staff");
    let snapshot = agent.join(&staff).await;
    let first = snapshot["data"]["chat"]["last_seq"].as_u64().unwrap_or(0);

    // The citizen sends through the doomed node: 100 acknowledged, then 20 more in flight when it is killed.
    let mut acked: Vec<(u64, String)> = Vec::new();
    for i in 0..100 {
        let text = format!("message {i}");
        let result =
            citizen.ok(json!({"type": "chat_send", "chat": id, "text": text, "client_msg_id": format!("m-{i}")})).await;
        acked.push((result["message"]["seq"].as_u64().expect("seq"), text));
    }
    for i in 100..120 {
        let command = json!({"type": "chat_send", "id": 10_000 + i, "chat": id, "text": format!("message {i}"),
            "client_msg_id": format!("m-{i}")});
        citizen.send_raw(Message::text(command.to_string())).await;
    }
    doomed.kill();
    drop(citizen);

    // The agent, on the surviving node, sees every acknowledged message once, in order, without gaps.
    let mut seen: Vec<Value> = Vec::new();
    while seen.len() < acked.len() {
        let frame = agent
            .next_matching("a message", |f| {
                f["type"] == "event" && f["room"] == staff.as_str() && f["kind"] == "message"
            })
            .await;
        seen.push(frame["data"].clone());
    }
    for (n, (message, (seq, text))) in seen.iter().zip(&acked).enumerate() {
        assert_eq!(message["seq"].as_u64(), Some(first + 1 + n as u64));
        assert_eq!((message["seq"].as_u64(), message["text"].as_str()), (Some(*seq), Some(text.as_str())));
    }

    // The citizen comes back through the survivor: the same chat, the whole history; a retry is no duplicate.
    let mut back = client(&survivor.ws_url(), Role::Citizen, "c-ali").await;
    let snapshot = back.join(&format!("chat:{id}")).await;
    let messages = snapshot["data"]["messages"].as_array().expect("messages");
    for (seq, text) in &acked {
        let found: Vec<&Value> = messages.iter().filter(|m| m["seq"].as_u64() == Some(*seq)).collect();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0]["text"].as_str(), Some(text.as_str()));
    }
    // The messages that were in flight are sent again: each is kept once, whether the dead node committed it or
    // not, and they follow in order.
    let mut last = acked.last().expect("acked").0;
    for i in 100..120 {
        let text = format!("message {i}");
        let retry =
            back.ok(json!({"type": "chat_send", "chat": id, "text": text, "client_msg_id": format!("m-{i}")})).await;
        let seq = retry["message"]["seq"].as_u64().expect("seq");
        assert_eq!(seq, last + 1, "{retry}");
        last = seq;
    }
    let retry = back.ok(json!({"type": "chat_send", "chat": id, "text": "message 0", "client_msg_id": "m-0"})).await;
    assert_eq!((retry["duplicate"].as_bool(), retry["message"]["seq"].as_u64()), (Some(true), Some(acked[0].0)));
}
