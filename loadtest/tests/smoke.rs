//! A few-second smoke of every scenario against a real server (in this process, on port 0) with a handful of
//! clients, so the harness never rots. These assert correctness only (nothing missing, no errors, exact
//! counts), never a latency or a rate: they are not benchmarks.

mod common;

use common::{options, run, Server, SECRET};
use majlis_loadtest::scenario::broadcast::Broadcast;
use majlis_loadtest::scenario::connections::Connections;
use majlis_loadtest::scenario::reconnect::ReconnectStorm;
use majlis_loadtest::scenario::votes::Votes;
use majlis_loadtest::Report;

/// A server whose question and vote limits are raised too, for the Q&A's scenarios.
async fn server() -> Server {
    common::server(|config| {
        config.questions_per_minute = 6000;
        config.questions_burst = 100;
        config.votes_per_second = 1000;
        config.votes_burst = 1000;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_delivers_every_event_to_every_viewer() {
    let server = server().await;
    let scenario = Broadcast {
        viewers: 20,
        measure_share: 0.25,
        askers: 3,
        ask_rate: 6.0,
        voters: 5,
        vote_rate: 8.0,
        moderator_rate: 6.0,
        held_every: 3,
        broadcast_id: None,
    };
    let report = run(options(&server), scenario).await;
    let events = report.figure("room events (final seq)") as u64;
    assert!(events >= 10, "too few events: {events}");
    // Setting the broadcast live was one event before any viewer joined.
    assert!(report.counters.deliveries >= 20 * (events - 1), "every viewer gets every event");
    for kind in ["ask", "vote", "pin", "answer", "approve"] {
        assert!(report.latency.get(kind).is_some_and(|l| l.count > 0), "no {kind} latency");
    }
    assert!(report.svg.as_deref().is_some_and(|s| s.contains("<polyline")));
    let frames_per_write = report.window.server_frames_per_write;
    assert!(frames_per_write.is_some_and(|f| f >= 1.0), "frames per write from /metrics: {frames_per_write:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_opened_and_held() {
    let server = server().await;
    let report = run(options(&server), Connections { connections: 50, no_join: false, broadcast_id: None }).await;
    assert_eq!(report.figure("connections held"), 50.0);
    assert_eq!(report.window.open, 50);
    assert_eq!(report.latency["connect"].count, 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_storm_brings_every_viewer_back_without_a_gap() {
    let server = server().await;
    let mut common = options(&server);
    common.duration_secs = 3.0;
    let scenario = ReconnectStorm {
        viewers: 20,
        measure_share: 0.0,
        event_rate: 10.0,
        askers: 2,
        storm_at_secs: Some(1.0),
        backoff: majlis_loadtest::clock::Backoff { backoff_base_ms: 100, backoff_max_ms: 1000 },
        broadcast_id: None,
    };
    let report = run(common, scenario).await;
    assert_eq!(report.figure("back"), 20.0);
    // The server keeps 1000 events per room; a second's gap is always replayed.
    assert_eq!(report.figure("recovered their gap (replay)"), 20.0);
    assert_eq!(report.latency["reconnect"].count, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn votes_on_one_question_add_up_exactly() {
    let server = server().await;
    let report = run(
        options(&server),
        Votes { voters: 60, watchers: 3, spread_secs: 0.0, broadcast_id: None, question_id: None },
    )
    .await;
    assert_eq!(report.figure("count seen by watchers"), 60.0);
    assert_eq!(report.figure("count in REST statistics"), 60.0);
    assert!(report.figures.contains_key("time from first vote to complete count"));
}

/// The binary itself, with two worker processes whose reports merge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_runs_several_generator_processes() {
    let server = server().await;
    let json = std::env::temp_dir().join(format!("majlis-loadtest-smoke-{}.json", std::process::id()));
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_majlis-loadtest"))
        .args(["connections", "--url", &format!("http://{}", server.addr), "--connections", "40"])
        .args(["--processes", "2", "--ramp-up-secs", "1", "--duration-secs", "2", "--drain-secs", "1"])
        .args(["--max-duration-secs", "30", "--quiet", "--json"])
        .arg(&json)
        .env("MAJLIS_JWT_SECRET", SECRET)
        .output()
        .await
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let report: Report = serde_json::from_slice(&std::fs::read(&json).expect("report written")).expect("report json");
    let _ = std::fs::remove_file(&json);
    assert_eq!(report.processes, 2);
    assert_eq!(report.figure("connections held"), 40.0);
    assert_eq!(report.latency["connect"].count, 40);
    assert!(stdout.contains("connections held"), "{stdout}");
}
