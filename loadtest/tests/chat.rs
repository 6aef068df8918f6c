//! A few-second run of the `chat` scenario against a real server (in this process, on port 0): 20 chats, 4
//! agents with a cap of 5, both sides writing twice a second with typing and receipts, then a reconnect storm
//! of every citizen. Correctness only (every chat assigned, nothing lost or duplicated, every citizen back),
//! never a latency or a rate. The scenario sets the desk up over REST as an operator would: hours open around
//! the clock, each agent's cap, the consent version from the start info.

use std::net::SocketAddr;
use std::sync::Arc;

use majlis_loadtest::report::summary;
use majlis_loadtest::scenario::chat::Chat;
use majlis_loadtest::{Common, Report};
use majlis_server::{App, Config};
use tokio::sync::oneshot;

const SECRET: &str = "loadtest-chat-smoke-secret";

struct Server {
    addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

async fn server() -> Server {
    let mut config = Config::defaults();
    config.listen = "127.0.0.1:0".parse().expect("literal address");
    config.jwt_secret = Some(SECRET.into());
    config.max_connections_per_ip = 100_000;
    config.commands_per_second = 1000;
    config.commands_burst = 1000;
    // Both sides write twice a second: above a citizen's default 30 a minute.
    config.chat.messages_per_minute = 600;
    config.chat.messages_burst = 100;
    let listener = tokio::net::TcpListener::bind(config.listen).await.expect("bind port 0");
    let addr = listener.local_addr().expect("local address");
    let app = App::new(config, format!("http://{addr}")).expect("app");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(majlis_server::run(listener, Arc::clone(&app), async move {
        let _ = stopped.await;
    }));
    Server { addr, _stop: stop }
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
        backoff_base_ms: 100,
        backoff_max_ms: 1000,
        consent_version: None,
    }
}

async fn run(server: &Server, scenario: Chat) -> Report {
    let mut common = Common::new(&format!("http://{}", server.addr), SECRET);
    common.ramp_up_secs = 1.0;
    common.duration_secs = 3.0;
    common.drain_secs = 3.0;
    common.max_duration_secs = 30;
    common.quiet = true;
    let report = majlis_loadtest::run(common, scenario, &[]).await.expect("the run completes");
    println!("{}", summary(&report));
    assert!(report.all_checks_pass(), "a check failed:{}", summary(&report));
    assert!(report.warnings.is_empty(), "warnings: {:?}", report.warnings);
    report
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
