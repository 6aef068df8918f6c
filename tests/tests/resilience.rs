//! Slow clients, dead peers and shutdowns are handled on purpose and never stall anyone else.

use std::time::Duration;

use majlis_server::auth::Role;
use majlis_tests::{assert_gap_free, generous, id_of, Client, TestServer, WAIT};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

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

fn slow_consumer_closes(server: &TestServer) -> u64 {
    server.app.metrics.slow_consumer_closes.load(std::sync::atomic::Ordering::Relaxed)
}

/// Asks questions of about `len` characters into `broadcast`, one per `pace` if given, until the server has
/// shed a slow consumer; returns how many it asked. The asker reads its replies and is in no room.
async fn flood_until_shed(server: &TestServer, asker: &mut Client, broadcast: u64, len: usize, pace: Option<Duration>) {
    let text = "x".repeat(len);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut tick = pace.map(tokio::time::interval);
    let mut n = 0;
    while slow_consumer_closes(server) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no slow consumer was shed after {n} questions");
        if let Some(tick) = &mut tick {
            tick.tick().await;
        }
        asker.ok(json!({"type": "ask", "broadcast": broadcast, "text": format!("{n} {text}")})).await;
        n += 1;
    }
}

/// Small kernel buffers on the server's side too (the system's autotuning would let a megabyte or more through
/// before the server's writes block), so slow consumers show within a few dozen frames.
fn tight(c: &mut majlis_server::Config) {
    generous(c);
    c.socket_send_buffer_bytes = 16 * 1024;
    c.idle_timeout_secs = 120;
}

/// A signed-in citizen whose socket buffers little (see [`Client::connect_tight`]), and its `sub`.
async fn tight_citizen(server: &TestServer, name: &str) -> (Client, String) {
    let mut client = Client::connect_tight(&server.ws_url()).await;
    let who = client.ok(json!({"type": "auth", "token": server.token(Role::Citizen, name)})).await;
    (client, who["user"]["sub"].as_str().unwrap_or_default().to_string())
}

fn events_in(frames: &[serde_json::Value], room: &str) -> Vec<serde_json::Value> {
    frames.iter().filter(|f| f["type"] == "event" && f["room"] == room).cloned().collect()
}

#[tokio::test]
async fn a_slow_consumer_that_stops_reading_gets_what_was_in_flight_then_4008_when_it_reads_again() {
    let server = TestServer::start_with(|c| {
        tight(c);
        c.outbound_queue = 32;
    })
    .await;
    let b = server.create_broadcast(json!({"max_question_len": 2000})).await;
    let room = format!("broadcast:{}", id_of(&b));
    let (mut slow, _) = tight_citizen(&server, "Slow").await;
    let after = slow.join(&room).await["seq"].as_u64().unwrap_or(0);
    let mut asker = server.citizen("Asker").await;
    flood_until_shed(&server, &mut asker, id_of(&b), 1900, None).await;
    // It reads again (within --close-linger-ms): whatever was on its way, in order, then the close frame.
    let (frames, close) = slow.frames_until_close().await;
    assert_eq!(close, (4008, "slow_consumer".to_string()));
    let events = events_in(&frames, &room);
    assert!(!events.is_empty(), "the events in flight arrived");
    assert_gap_free(&events, after);
}

#[tokio::test]
async fn a_viewer_that_reads_too_slowly_is_shed_for_its_lag_and_still_gets_4008() {
    let server = TestServer::start_with(|c| {
        tight(c);
        // No count bound to speak of: only the lag can shed it.
        c.outbound_queue = 100_000;
        c.max_lag_ms = 300;
        // It reads what was in flight at its slow pace (about two seconds of it): a margin for a busy machine.
        c.close_linger_ms = 10_000;
    })
    .await;
    let b = server.create_broadcast(json!({"max_question_len": 2000})).await;
    let room = format!("broadcast:{}", id_of(&b));
    let (mut slow, _) = tight_citizen(&server, "Slow").await;
    let after = slow.join(&room).await["seq"].as_u64().unwrap_or(0);
    // It reads 50 frames a second while up to 200 a second arrive, and keeps reading at that pace throughout.
    let reading = tokio::spawn(async move {
        let (frames, close) = majlis_tests::frames_until_close(&mut slow.ws, Duration::from_millis(20)).await;
        (frames, close)
    });
    let mut asker = server.citizen("Asker").await;
    flood_until_shed(&server, &mut asker, id_of(&b), 900, Some(Duration::from_millis(5))).await;
    let (frames, close) = reading.await.expect("the reader");
    assert_eq!(close, (4008, "slow_consumer".to_string()));
    let events = events_in(&frames, &room);
    assert!(!events.is_empty());
    assert_gap_free(&events, after);
}

#[tokio::test]
async fn a_flood_of_bad_frames_gets_every_error_reply_and_then_1008() {
    let server = TestServer::start_with(|c| {
        tight(c);
        c.max_bad_frames = 20;
    })
    .await;
    let mut bad = Client::connect_tight(&server.ws_url()).await;
    // Pings first: their pongs fill the client's small receive buffer, so what the server writes next waits in
    // the server's socket, where a reset would destroy it.
    for _ in 0..100 {
        bad.send_raw(Message::Ping(vec![b'p'; 125].into())).await;
    }
    // More than allowed, sent without reading: the server stops reading at the 20th, so the rest (tens of
    // kilobytes) is still unread in its socket when it closes, which must not reset the connection.
    let garbage = format!("garbage {}", "g".repeat(2000));
    for _ in 0..40 {
        bad.send_raw(Message::text(garbage.clone())).await;
    }
    let (frames, close) = bad.frames_until_close().await;
    assert_eq!(close, (1008, "protocol_abuse".to_string()));
    assert_eq!(frames.len(), 20, "{frames:?}");
    assert!(frames.iter().all(|f| f["type"] == "error" && f["code"] == "bad_request" && f["id"].is_null()));
}

#[tokio::test]
async fn a_client_that_only_sends_commands_is_never_closed_while_a_room_it_is_not_in_floods() {
    use futures_util::{SinkExt, StreamExt};
    let server = TestServer::start_with(|c| {
        tight(c);
        c.outbound_queue = 16;
        c.reply_queue = 8;
        c.max_lag_ms = 300;
    })
    .await;
    let b = server.create_broadcast(json!({"max_question_len": 2000})).await;
    let room = format!("broadcast:{}", id_of(&b));
    // A viewer of the room that never reads: it will be shed.
    let (mut viewer, _) = tight_citizen(&server, "Viewer").await;
    viewer.join(&room).await;
    // The commander floods that room with questions, in no room itself, sending far ahead of its replies.
    let (commander, _) = tight_citizen(&server, "Commander").await;
    let (mut sink, mut stream) = commander.ws.split();
    const N: u64 = 200;
    let text = "y".repeat(1500);
    let broadcast = id_of(&b);
    let sending = tokio::spawn(async move {
        for n in 1..=N {
            let ask = json!({"type": "ask", "id": n, "broadcast": broadcast, "text": format!("{n} {text}")});
            sink.send(Message::text(ask.to_string())).await.expect("the server keeps reading, if slowly");
        }
        sink
    });
    // It reads nothing for a while: far more replies are due than the queues allow. The server must wait for
    // it, not close it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for n in 1..=N {
        let frame = tokio::time::timeout(WAIT, stream.next()).await.expect("a reply in time");
        match frame {
            Some(Ok(Message::Text(text))) => {
                let reply: serde_json::Value = serde_json::from_str(&text).expect("JSON");
                assert_eq!((reply["type"].as_str(), reply["id"].as_u64()), (Some("ack"), Some(n)), "{reply}");
            }
            other => panic!("reply {n}: {other:?}"),
        }
    }
    let _sink = sending.await.expect("sent");
    assert!(slow_consumer_closes(&server) >= 1, "the viewer was shed meanwhile");
    let (_, close) = viewer.frames_until_close().await;
    assert_eq!(close, (4008, "slow_consumer".to_string()));
}

#[tokio::test]
async fn a_viewer_that_asks_in_a_flooded_room_is_shed_as_a_viewer_and_every_reply_arrives_first() {
    use futures_util::{SinkExt, StreamExt};
    let server = TestServer::start_with(|c| {
        tight(c);
        c.outbound_queue = 32;
    })
    .await;
    let b = server.create_broadcast(json!({"max_question_len": 2000})).await;
    let broadcast = id_of(&b);
    let room = format!("broadcast:{broadcast}");
    let (mut viewer, sub) = tight_citizen(&server, "Viewer").await;
    let after = viewer.join(&room).await["seq"].as_u64().unwrap_or(0);
    let (mut sink, mut stream) = viewer.ws.split();
    // It asks without reading, as long as the server takes its commands.
    let sending = tokio::spawn(async move {
        for n in 1..=200u64 {
            let ask = json!({"type": "ask", "id": n, "broadcast": broadcast, "text": format!("mine {n}")});
            if sink.send(Message::text(ask.to_string())).await.is_err() {
                break;
            }
        }
    });
    let mut asker = server.citizen("Asker").await;
    flood_until_shed(&server, &mut asker, broadcast, 1900, None).await;
    let (frames, close) = majlis_tests::frames_until_close(&mut stream, Duration::ZERO).await;
    sending.abort();
    assert_eq!(close, (4008, "slow_consumer".to_string()), "shed for the room's events");
    assert!(frames.iter().all(|f| f["type"] != "error"), "no command was refused");
    let acks: Vec<u64> = frames.iter().filter(|f| f["type"] == "ack").filter_map(|f| f["id"].as_u64()).collect();
    assert_eq!(acks, (1..=acks.len() as u64).collect::<Vec<_>>(), "answers in order");
    assert_gap_free(&events_in(&frames, &room), after);
    // Every question the server took from it was answered before the close: no reply was lost.
    let mut moderator = server.moderator().await;
    let snapshot = moderator.join(&format!("{room}:moderation")).await;
    let questions = snapshot["data"]["questions"].as_array().cloned().unwrap_or_default();
    let taken = questions.iter().filter(|q| q["author"]["sub"] == sub.as_str()).count();
    assert_eq!(acks.len(), taken, "{taken} questions taken, {} acks", acks.len());
}
