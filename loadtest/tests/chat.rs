//! A few-second run of the `chat` scenario against a real server (in this process, on port 0): 20 chats, 4
//! agents with a cap of 5, both sides writing twice a second with typing and receipts, then a reconnect storm
//! of every citizen. Correctness only (every chat assigned, nothing lost or duplicated, every citizen back),
//! never a latency or a rate. The scenario sets the desk up over REST as an operator would: hours open around
//! the clock, each agent's cap, the consent version from the start info.

mod common;

use common::{options, Server};
use majlis_loadtest::scenario::chat::Chat;
use majlis_loadtest::Report;

/// Both sides write twice a second: above a citizen's default 30 messages a minute.
async fn server() -> Server {
    common::server(|config| {
        config.chat.messages_per_minute = 600;
        config.chat.messages_burst = 100;
    })
    .await
}

fn scenario(storm_at_secs: Option<f64>) -> Chat {
    Chat {
        chats: 20,
        agents: 4,
        agent_cap: Some(5),
        no_set_caps: false,
        keep_hours: false,
        langs: vec!["ar".into(), "en".into()],
        message_every_secs: 0.5,
        typing_lead_ms: 200,
        no_receipts: false,
        no_desk: false,
        storm_at_secs,
        backoff: majlis_loadtest::clock::Backoff { backoff_base_ms: 100, backoff_max_ms: 1000 },
        consent_version: None,
    }
}

/// A run measured for 3 s (the common options measure 2).
async fn run(server: &Server, scenario: Chat) -> Report {
    let mut common = options(server);
    common.duration_secs = 3.0;
    common::run(common, scenario).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_chat_is_assigned_and_every_message_arrives_once() {
    let server = server().await;
    let report = run(&server, scenario(None)).await;
    assert_eq!(report.figure("chats assigned"), 20.0);
    assert!(report.figure("messages sent by citizens") >= 20.0, "citizens wrote");
    assert!(report.figure("messages sent by agents") >= 20.0, "agents wrote");
    for kind in ["message", "to agent", "to citizen", "typing", "receipt", "assigned"] {
        assert!(report.latency.get(kind).is_some_and(|l| l.count > 0), "no {kind} latency");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn citizens_dropped_at_once_come_back_without_losing_a_message() {
    let server = server().await;
    let report = run(&server, scenario(Some(1.0))).await;
    assert_eq!(report.figure("citizens back"), 20.0);
    assert_eq!(report.latency["reconnect"].count, 20);
    assert_eq!(report.figure("messages lost"), 0.0);
}
