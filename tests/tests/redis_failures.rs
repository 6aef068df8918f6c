//! Redis mode under failures: reconnecting clients, a restarting Redis, dropped pub/sub connections. Each test
//! starts its own `redis-server` (see `majlis_tests::redis`).

use std::time::{Duration, Instant};

use majlis_server::auth::Role;
use majlis_tests::redis::Cluster;
use majlis_tests::{assert_gap_free, events_of, generous, id_of, Client, TestServer, WAIT};
use serde_json::{json, Value};

/// Joins with a position; returns the ack.
async fn rejoin(client: &mut Client, room: &str, epoch: &Value, seq: u64) -> Value {
    client.ok(json!({"type": "join", "room": room, "since": {"epoch": epoch, "seq": seq}})).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_resumes_on_another_node_with_the_missed_events() {
    let cluster = Cluster::start(2, generous).await;
    let b = cluster.broadcast().await;
    let room = format!("broadcast:{b}");
    let mut asker = cluster.nodes[0].citizen("Asker").await;
    let mut first = cluster.nodes[0].citizen("Roamer").await;
    let snapshot = first.join(&room).await;
    let epoch = snapshot["epoch"].clone();
    majlis_tests::ask(&mut asker, b, "Before the drop").await;
    let seen = events_of(&mut first, &room, 1).await;
    drop(first);
    for i in 0..5 {
        majlis_tests::ask(&mut asker, b, &format!("Missed {i}")).await;
    }
    let mut second = cluster.nodes[1].citizen("Roamer").await;
    let ack = rejoin(&mut second, &room, &epoch, seen[0]["seq"].as_u64().unwrap_or_default()).await;
    assert_eq!(ack["recovered"], true);
    assert_eq!(ack["seq"], 6);
    majlis_tests::ask(&mut asker, b, "After the rejoin").await;
    let resumed = events_of(&mut second, &room, 6).await;
    assert_gap_free(&resumed, 1);
    assert_eq!(resumed[0]["data"]["text"], "Missed 0");
    assert_eq!(resumed[5]["data"]["text"], "After the rejoin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stale_epoch_or_a_trimmed_history_gets_a_fresh_snapshot() {
    let cluster = Cluster::start(2, |c| {
        generous(c);
        c.history_len = 3;
    })
    .await;
    let b = cluster.broadcast().await;
    let room = format!("broadcast:{b}");
    let mut asker = cluster.nodes[0].citizen("Asker").await;
    let mut ids = vec![];
    for i in 0..20 {
        ids.push(id_of(&majlis_tests::ask(&mut asker, b, &format!("Question {i}")).await));
    }
    let mut stale = cluster.nodes[1].citizen("Stale").await;
    let ack = rejoin(&mut stale, &room, &json!("not-an-epoch"), 3).await;
    assert_eq!(ack["recovered"], false);
    let snapshot = stale.next_matching("a snapshot", |f| f["type"] == "snapshot").await;
    assert_eq!(snapshot["recovered"], false);
    assert_eq!(snapshot["seq"], 20);
    let listed: Vec<u64> = snapshot["data"]["questions"].as_array().expect("questions").iter().map(id_of).collect();
    assert_eq!(listed, ids);
    // The right epoch: the last 3 events are still there, seq 2 is not.
    let epoch = snapshot["epoch"].clone();
    let mut recent = cluster.nodes[0].citizen("Recent").await;
    let ack = rejoin(&mut recent, &room, &epoch, 17).await;
    assert_eq!(ack["recovered"], true);
    assert_gap_free(&events_of(&mut recent, &room, 3).await, 17);
    let mut old = cluster.nodes[0].citizen("Old").await;
    let ack = rejoin(&mut old, &room, &epoch, 1).await;
    assert_eq!(ack["recovered"], false);
    let snapshot = old.next_matching("a snapshot", |f| f["type"] == "snapshot").await;
    assert_eq!(snapshot["seq"], 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_restart_loses_nothing_acknowledged_and_every_client_starts_over_once() {
    let mut cluster = Cluster::start(2, |c| {
        generous(c);
        c.redis_timeout_ms = 1000;
    })
    .await;
    let b = cluster.broadcast().await;
    let room = format!("broadcast:{b}");
    let mut watchers = vec![];
    for node in &cluster.nodes {
        let mut w = node.citizen("Watcher").await;
        let epoch = w.join(&room).await["epoch"].clone();
        watchers.push((w, epoch));
    }
    let mut asker = cluster.nodes[0].citizen("Asker").await;
    let mut acked = vec![];
    for i in 0..5 {
        acked.push(id_of(&majlis_tests::ask(&mut asker, b, &format!("Before {i}")).await));
    }
    for (w, _) in &mut watchers {
        assert_gap_free(&events_of(w, &room, 5).await, 0);
    }

    cluster.redis.kill();
    let started = Instant::now();
    let refusal = asker.refused(json!({"type": "ask", "broadcast": b, "text": "During", "client_msg_id": "d-1"})).await;
    assert_eq!(refusal.code, "unavailable");
    assert!(started.elapsed() < Duration::from_secs(3), "unavailable took {:?}", started.elapsed());
    let vote = asker.refused(json!({"type": "vote", "broadcast": b, "question": acked[0], "value": true})).await;
    assert_eq!(vote.code, "unavailable");
    wait_for_readyz(&cluster.nodes[0], 503).await;

    cluster.redis.restart();
    for node in &cluster.nodes {
        node.wait_ready().await;
    }
    // The client re-sends its unacknowledged ask with the same id, as the protocol says.
    let during = retry_ask(&mut asker, b, "During", "d-1").await;
    acked.push(id_of(&during));
    for i in 0..3 {
        acked.push(id_of(&majlis_tests::ask(&mut asker, b, &format!("After {i}")).await));
    }
    // Every restart may have lost writes (nothing tells a clean one apart), so ids move to a new block…
    assert!(acked[5..].iter().all(|id| *id > 1 << 32), "ids after the restart: {:?}", &acked[5..]);
    // …and every client starts over once, from a snapshot that holds everything acknowledged.
    let mut epochs = vec![];
    for (n, (w, old_epoch)) in watchers.iter_mut().enumerate() {
        assert_eq!(w.closed().await, (4010, "resync".to_string()));
        let mut back = cluster.nodes[n].citizen("Watcher").await;
        assert_eq!(rejoin(&mut back, &room, old_epoch, 5).await["recovered"], false);
        let snapshot = back.next_matching("a snapshot", |f| f["type"] == "snapshot").await;
        let listed: Vec<u64> = snapshot["data"]["questions"].as_array().expect("questions").iter().map(id_of).collect();
        assert_eq!(listed, acked);
        assert_ne!(&snapshot["epoch"], old_epoch);
        epochs.push(snapshot["epoch"].clone());
    }
    assert_eq!(epochs[0], epochs[1], "one restart, one new epoch on every node");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flushed_redis_gets_one_new_epoch_and_hands_out_no_id_twice() {
    let cluster = Cluster::start(2, generous).await;
    let b = cluster.broadcast().await;
    let room = format!("broadcast:{b}");
    let mut watchers = vec![];
    for node in &cluster.nodes {
        let mut w = node.citizen("Watcher").await;
        let epoch = w.join(&room).await["epoch"].clone();
        watchers.push((w, epoch));
    }
    let old_epoch = watchers[0].1.clone();
    assert_eq!(watchers[1].1, old_epoch);
    let mut asker = cluster.nodes[0].citizen("Asker").await;
    let mut before = vec![];
    for i in 0..3 {
        before.push(id_of(&majlis_tests::ask(&mut asker, b, &format!("Before {i}")).await));
    }
    for (w, _) in &mut watchers {
        events_of(w, &room, 3).await;
    }

    // No restart: the pub/sub connections stay up, and the nodes notice at their next check or write.
    assert_eq!(cluster.redis.command(&["FLUSHALL"]).as_deref(), Some("+OK"));
    for (w, _) in &mut watchers {
        assert_eq!(w.closed().await, (4010, "resync".to_string()));
    }
    let generation = cluster.redis.generation().expect("a new generation");
    assert_ne!(json!(generation), old_epoch);

    // Ids Redis forgot are not handed out again: broadcasts and questions continue in a new block.
    let b2 = id_of(&cluster.nodes[1].create_broadcast(json!({})).await);
    assert!(b2 > b && b2 > 1 << 32, "broadcast {b2} after {b}");
    let q = id_of(&majlis_tests::ask(&mut asker, b2, "After the flush").await);
    assert!(before.iter().all(|id| q > *id), "question {q} after {before:?}");
    let room2 = format!("broadcast:{b2}");
    for node in &cluster.nodes {
        let mut c = node.citizen("Late").await;
        assert_eq!(rejoin(&mut c, &room2, &old_epoch, 0).await["recovered"], false);
        let snapshot = c.next_matching("a snapshot", |f| f["type"] == "snapshot").await;
        assert_eq!(snapshot["epoch"], json!(generation), "one new epoch, whichever node");
    }
}

async fn wait_for_readyz(node: &TestServer, status: u16) {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = node.http.get(node.url("/readyz")).send().await.map(|r| r.status().as_u16()).ok();
        if got == Some(status) {
            return;
        }
        assert!(Instant::now() < deadline, "/readyz never answered {status} (last {got:?})");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asks until the server takes it (it may still say `unavailable` while reconnecting); returns the question.
async fn retry_ask(client: &mut Client, b: u64, text: &str, cmid: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        match client.request(json!({"type": "ask", "broadcast": b, "text": text, "client_msg_id": cmid})).await {
            Ok(result) => return result["question"].clone(),
            Err(r) if r.code == "unavailable" && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(r) => panic!("ask refused: {:?}", r.frame),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_pub_sub_connections_lose_no_event() {
    let cluster = Cluster::start(3, generous).await;
    let b = cluster.broadcast().await;
    let room = format!("broadcast:{b}");
    let moderation = format!("broadcast:{b}:moderation");
    let mut watchers = cluster.watchers(b).await;
    let rounds = 60;
    let mut askers = vec![];
    for node in &cluster.nodes {
        askers.push(node.citizen("Asker").await);
    }
    let stream = tokio::spawn(async move {
        for i in 0..rounds {
            let asker = &mut askers[i % 3];
            let q = majlis_tests::ask(asker, b, &format!("Question {i}")).await;
            asker.ok(json!({"type": "vote", "broadcast": b, "question": id_of(&q), "value": true})).await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    let mut killed = 0;
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(80)).await;
        let reply = cluster.redis.command(&["CLIENT", "KILL", "TYPE", "pubsub"]).unwrap_or_default();
        killed += reply.strip_prefix(':').and_then(|n| n.parse::<u32>().ok()).expect("CLIENT KILL's count");
    }
    stream.await.expect("stream");
    assert!(killed >= 3, "only {killed} pub/sub connections were killed");
    let mut public = vec![];
    let mut private = vec![];
    for (w, m) in &mut watchers {
        public.push(events_of(w, &room, rounds * 2).await);
        private.push(events_of(m, &moderation, rounds * 2).await);
    }
    for s in public.iter().chain(&private) {
        assert_gap_free(s, 0);
    }
    assert!(public.iter().all(|s| s == &public[0]));
    assert!(private.iter().all(|s| s == &private[0]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn citizens_of_one_node_see_moderation_done_on_another() {
    let cluster = Cluster::start(2, generous).await;
    let b = id_of(&cluster.nodes[0].create_broadcast(json!({"premoderation": true})).await);
    let room = format!("broadcast:{b}");
    let mut citizen = cluster.nodes[0].citizen("Citizen").await;
    citizen.join(&room).await;
    let q = id_of(&majlis_tests::ask(&mut citizen, b, "Pending first").await);
    let mut moderator = cluster.nodes[1].client(Role::Moderator, "Mod").await;
    moderator.ok(json!({"type": "approve", "broadcast": b, "question": q})).await;
    moderator.ok(json!({"type": "pin", "broadcast": b, "question": q})).await;
    let seen = events_of(&mut citizen, &room, 2).await;
    assert_gap_free(&seen, 0);
    assert_eq!(seen[0]["kind"], "question");
    assert_eq!(seen[0]["data"]["status"], "approved");
    assert_eq!(seen[1]["data"], json!({"id": q}));
    let other = id_of(&majlis_tests::ask(&mut citizen, b, "A duplicate").await);
    moderator.ok(json!({"type": "approve", "broadcast": b, "question": other})).await;
    citizen.ok(json!({"type": "vote", "broadcast": b, "question": other, "value": true})).await;
    let merged = moderator.ok(json!({"type": "merge", "broadcast": b, "question": other, "into": q})).await;
    assert_eq!(merged["question"]["votes"], 1);
    let snapshot = cluster.nodes[0].citizen("Checker").await.join(&room).await;
    let questions = snapshot["data"]["questions"].as_array().expect("questions");
    let target = questions.iter().find(|x| id_of(x) == q).expect("target");
    assert_eq!(target["votes"], 1);
    assert_eq!(snapshot["data"]["pinned"], json!(q), "the target stays pinned");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_started_before_redis_becomes_ready_when_redis_is_up() {
    let mut redis = majlis_tests::redis::RedisServer::start();
    redis.kill();
    let url = redis.url();
    let started = Instant::now();
    let up_later = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        redis.restart();
        redis
    });
    // start_with returns once /readyz would say ready: only after Redis came up.
    // The default Redis timeout: the first commands after a restart (scripts loading again) may take a while on
    // a busy machine, and this test is about readiness, not about timeouts.
    let node = TestServer::start_with(|c| c.redis_url = Some(url)).await;
    assert!(started.elapsed() >= Duration::from_millis(1400), "ready before Redis was up");
    let _redis = up_later.join().expect("redis restarted");
    let b = id_of(&node.create_broadcast(json!({})).await);
    let snapshot = node.citizen("Early").await.join(&format!("broadcast:{b}")).await;
    assert_eq!(snapshot["seq"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_whose_redis_went_away_still_stops_within_its_grace() {
    let mut redis = majlis_tests::redis::RedisServer::start();
    let url = redis.url();
    let node = TestServer::start_with(|c| {
        c.redis_url = Some(url);
        c.shutdown_grace_secs = 1;
    })
    .await;
    let mut agent = node.client(Role::Agent, "Agent on duty").await;
    agent.join("desk").await;
    redis.kill();
    // A background pass retrying against the missing Redis must neither hold the process up nor outlive it
    // (one did, and came back to life a minute later against the next Redis on that port).
    let stopping = Instant::now();
    node.shutdown().await;
    assert!(stopping.elapsed() < Duration::from_secs(8), "stopped after {:?}", stopping.elapsed());
}
