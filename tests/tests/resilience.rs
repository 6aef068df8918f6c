//! Slow clients, dead peers and shutdowns are handled on purpose and never stall anyone else.

use std::time::Duration;

use majlis_tests::{generous, id_of, Client, TestServer};
use serde_json::json;

#[tokio::test]
async fn a_client_that_never_reads_is_closed_as_a_slow_consumer_and_others_keep_receiving() {
    let server = TestServer::start_with(|c| {
        generous(c);
        c.outbound_queue = 16;
        c.idle_timeout_secs = 120;
    })
    .await;
    let b = server.create_broadcast(json!({"max_question_len": 2000})).await;
    let room = format!("broadcast:{}", id_of(&b));
    let mut slow = server.citizen("Slow").await;
    slow.join(&room).await;
    let mut healthy = server.citizen("Healthy").await;
    healthy.join(&room).await;
    let mut asker = server.citizen("Asker").await;

    // Enough bytes to fill the socket buffers between the server and the slow client, then its queue.
    let text = "€".repeat(1990);
    for n in 0..4000 {
        let q = asker.ok(json!({"type": "ask", "broadcast": b["id"], "text": format!("{n} {text}")})).await;
        let last = id_of(&q["question"]);
        if server.app.metrics.slow_consumer_closes.load(std::sync::atomic::Ordering::Relaxed) > 0 {
            break;
        }
        // The healthy client reads as it goes.
        healthy.next_matching("the new question", |f| f["kind"] == "question" && f["data"]["id"] == last).await;
    }
    assert!(
        server.app.metrics.slow_consumer_closes.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "the slow client was closed"
    );
    let q = asker.ok(json!({"type": "ask", "broadcast": b["id"], "text": "after the slow one left"})).await;
    let after = id_of(&q["question"]);
    healthy.next_matching("the last question", |f| f["kind"] == "question" && f["data"]["id"] == after).await;
    let (code, reason) = slow.closed().await;
    assert_eq!((code, reason.as_str()), (4008, "slow_consumer"));
}

#[tokio::test]
async fn a_silent_peer_is_closed_after_the_idle_timeout() {
    let server = TestServer::start_with(|c| {
        c.ping_interval_secs = 1;
        c.idle_timeout_secs = 1;
    })
    .await;
    let mut silent = Client::connect(&server.ws_url()).await;
    // Reading nothing means answering no pings: the server must give up on us.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (code, reason) = silent.closed().await;
    assert_eq!((code, reason.as_str()), (4009, "heartbeat_timeout"));
}

#[tokio::test]
async fn a_client_that_answers_pings_stays_connected() {
    let server = TestServer::start_with(|c| {
        c.ping_interval_secs = 1;
        c.idle_timeout_secs = 2;
    })
    .await;
    let mut client = server.citizen("Alive").await;
    // tungstenite answers pings while we wait for frames; presence or nothing may arrive meanwhile.
    client.assert_no(Duration::from_millis(3500), "a close", |f| f["type"] == "close").await;
    client.ok(json!({"type": "ping"})).await;
}

#[tokio::test]
async fn shutdown_tells_clients_to_reconnect_and_closes_with_1012() {
    let server = TestServer::start().await;
    let mut client = server.citizen("Bye").await;
    let addr = server.ws_url();
    shut_down_saying_goodbye(server, &mut client).await;
    assert!(tokio_tungstenite::connect_async(addr).await.is_err(), "no new connections after shutdown");
}

/// Shuts `server` down and checks `client` is told to reconnect, closed with 1012, and the drain ends in time.
async fn shut_down_saying_goodbye(server: TestServer, client: &mut Client) {
    let stopping = tokio::spawn(server.shutdown());
    let notice = client.next_matching("server_shutdown", |f| f["type"] == "server_shutdown").await;
    assert!(notice["reconnect_after_ms"].as_u64().is_some());
    let (code, reason) = client.closed().await;
    assert_eq!((code, reason.as_str()), (1012, "server_shutdown"));
    tokio::time::timeout(Duration::from_secs(15), stopping).await.expect("drains within the grace").unwrap();
}

#[tokio::test]
async fn health_readiness_and_metrics_endpoints_answer() {
    let server = TestServer::start().await;
    let mut client = server.citizen("Metric").await;
    assert_eq!(client.refused(json!({"type": "teleport"})).await.code, "unknown_type");
    let health = server.http.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = server.http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let metrics = server.http.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("majlis_connections_open 1"), "{metrics}");
    assert!(metrics.contains("majlis_errors_total{code=\"unknown_type\"} 1"), "{metrics}");
    assert!(metrics.contains("majlis_internal_errors_total 0"), "{metrics}");
}

#[tokio::test]
async fn a_room_whose_snapshot_is_larger_than_the_write_buffer_can_still_be_joined() {
    let server = TestServer::start_with(generous).await;
    let b = server.create_broadcast(json!({"max_question_len": 2000})).await;
    let mut asker = server.citizen("Asker").await;
    let text = "q".repeat(1500);
    for n in 0..150 {
        asker.ok(json!({"type": "ask", "broadcast": b["id"], "text": format!("{n} {text}")})).await;
    }
    let mut late = server.citizen("Late").await;
    let snapshot = late.join(&format!("broadcast:{}", id_of(&b))).await;
    assert!(snapshot.to_string().len() > 200 * 1024);
    assert_eq!(snapshot["data"]["questions"].as_array().map(Vec::len), Some(150));
}

#[tokio::test]
async fn with_a_write_interval_every_event_still_arrives_in_order_in_fewer_writes() {
    let server = TestServer::start_with(|c| {
        generous(c);
        c.write_interval_ms = 100;
    })
    .await;
    let b = server.create_broadcast(json!({})).await;
    let room = format!("broadcast:{}", id_of(&b));
    let mut viewer = server.citizen("Viewer").await;
    let after = viewer.join(&room).await["seq"].as_u64().unwrap_or(0);
    let mut asker = server.citizen("Asker").await;
    // Sent without waiting for each ack, so the events reach the viewer's queue faster than the interval.
    for n in 0..20 {
        asker
            .send_raw(
                json!({"type": "ask", "id": n, "broadcast": b["id"], "text": format!("question {n}")})
                    .to_string()
                    .into(),
            )
            .await;
    }
    let events = majlis_tests::events_of(&mut viewer, &room, 20).await;
    majlis_tests::assert_gap_free(&events, after);
    let texts: Vec<_> = events.iter().map(|e| e["data"]["text"].as_str().unwrap_or_default().to_string()).collect();
    assert_eq!(texts, (0..20).map(|n| format!("question {n}")).collect::<Vec<_>>());
    let metrics = &server.app.metrics;
    let frames = metrics.frames_delivered.load(std::sync::atomic::Ordering::Relaxed);
    let writes = metrics.socket_writes.load(std::sync::atomic::Ordering::Relaxed);
    assert!(writes * 2 < frames, "{frames} frames in {writes} writes: they were not coalesced");
}

#[tokio::test]
async fn a_write_interval_does_not_delay_a_shutdown() {
    let server = TestServer::start_with(|c| c.write_interval_ms = 600_000).await;
    // Its auth ack was the connection's first write: anything more would wait ten minutes...
    let mut client = server.citizen("Paused").await;
    // ...but a shutdown does not: the writer stops waiting and says goodbye at once.
    shut_down_saying_goodbye(server, &mut client).await;
}
