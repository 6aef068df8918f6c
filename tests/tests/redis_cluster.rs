//! Redis mode with several nodes on one Redis: they act as one server. Each test starts its own
//! `redis-server` (see `majlis_tests::redis`).

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use majlis_server::auth::Role;
use majlis_tests::redis::Cluster;
use majlis_tests::{assert_gap_free, events_of, generous, id_of, Client};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_node_in_redis_mode_serves_the_basic_flow() {
    let cluster = Cluster::start(1, generous).await;
    let node = &cluster.nodes[0];
    assert_eq!(node.get_json("/api/broadcasts", None).await, (200, json!({"broadcasts": []})));
    assert_eq!(node.get_json("/api/faq", None).await, (200, json!({"groups": []})));
    let b = id_of(&node.create_broadcast(json!({})).await);
    let room = format!("broadcast:{b}");
    let mut watcher = node.citizen("Watcher").await;
    let snapshot = watcher.join(&room).await;
    assert_eq!(snapshot["seq"], 0);
    let mut asker = node.citizen("Asker").await;
    let q = majlis_tests::ask(&mut asker, b, "When does registration open?").await;
    let vote = asker.ok(json!({"type": "vote", "broadcast": b, "question": id_of(&q), "value": true})).await;
    assert_eq!(vote["votes"], 1);
    let seen = events_of(&mut watcher, &room, 2).await;
    assert_gap_free(&seen, 0);
    assert_eq!(seen[0]["kind"], "question");
    assert_eq!(seen[1]["data"], json!({"id": id_of(&q), "votes": 1}));
    let mut late = node.citizen("Late").await;
    let snapshot = late.join(&room).await;
    assert_eq!(snapshot["seq"], 2);
    assert_eq!(snapshot["data"]["questions"][0]["votes"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_from_three_nodes_arrive_everywhere_in_the_same_order() {
    let cluster = Cluster::start(3, generous).await;
    let b = cluster.broadcast().await;
    let room = format!("broadcast:{b}");
    let moderation = format!("broadcast:{b}:moderation");
    let mut watchers = cluster.watchers(b).await;
    // Every node asks and votes at once.
    let per_node = 10;
    let mut tasks = vec![];
    for (n, node) in cluster.nodes.iter().enumerate() {
        let mut asker = node.citizen("Asker").await;
        tasks.push(tokio::spawn(async move {
            for i in 0..per_node {
                let q = majlis_tests::ask(&mut asker, b, &format!("Question {i} from node {n}")).await;
                asker.ok(json!({"type": "vote", "broadcast": b, "question": id_of(&q), "value": true})).await;
            }
        }));
    }
    for task in tasks {
        task.await.expect("asker");
    }
    let total = 3 * per_node * 2;
    let mut public = vec![];
    let mut private = vec![];
    for (citizen, moderator) in &mut watchers {
        public.push(events_of(citizen, &room, total).await);
        private.push(events_of(moderator, &moderation, total).await);
    }
    for stream in public.iter().chain(&private) {
        assert_gap_free(stream, 0);
    }
    assert!(public.iter().all(|s| s == &public[0]), "public streams differ between nodes");
    assert!(private.iter().all(|s| s == &private[0]), "moderation streams differ between nodes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_votes_through_three_nodes_count_exactly() {
    let cluster = Cluster::start(3, generous).await;
    let b = cluster.broadcast().await;
    let mut asker = cluster.nodes[0].citizen("Asker").await;
    let q = id_of(&majlis_tests::ask(&mut asker, b, "Will the programme be extended?").await);
    let mut voters = vec![];
    for i in 0..300 {
        voters.push(cluster.nodes[i % 3].citizen("Voter").await);
    }
    let tasks: Vec<_> = voters
        .into_iter()
        .map(|mut v| {
            tokio::spawn(
                async move { v.ok(json!({"type": "vote", "broadcast": b, "question": q, "value": true})).await },
            )
        })
        .collect();
    for task in tasks {
        task.await.expect("voter");
    }
    for node in &cluster.nodes {
        let snapshot = node.citizen("Checker").await.join(&format!("broadcast:{b}")).await;
        assert_eq!(snapshot["data"]["questions"][0]["votes"], 300, "on node {}", node.addr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_citizen_voting_through_two_nodes_at_once_counts_once() {
    let cluster = Cluster::start(2, generous).await;
    let b = cluster.broadcast().await;
    let mut asker = cluster.nodes[0].citizen("Asker").await;
    let mut questions = vec![];
    for i in 0..20 {
        questions.push(id_of(&majlis_tests::ask(&mut asker, b, &format!("Question {i}")).await));
    }
    let token = cluster.nodes[0].token(Role::Citizen, "Twice");
    let mut tasks = vec![];
    for node in &cluster.nodes {
        let mut client = Client::connect(&node.ws_url()).await;
        client.ok(json!({"type": "auth", "token": token})).await;
        let questions = questions.clone();
        tasks.push(tokio::spawn(async move {
            for q in questions {
                client.ok(json!({"type": "vote", "broadcast": b, "question": q, "value": true})).await;
            }
        }));
    }
    for task in tasks {
        task.await.expect("voter");
    }
    let snapshot = cluster.nodes[1].citizen("Checker").await.join(&format!("broadcast:{b}")).await;
    for q in snapshot["data"]["questions"].as_array().expect("questions") {
        assert_eq!(q["votes"], 1, "{q}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retried_ask_through_another_node_returns_the_original() {
    let cluster = Cluster::start(2, generous).await;
    let b = cluster.broadcast().await;
    let token = cluster.nodes[0].token(Role::Citizen, "Retry");
    let ask = json!({"type": "ask", "broadcast": b, "text": "Is it free?", "client_msg_id": "m-1"});
    let mut first = Client::connect(&cluster.nodes[0].ws_url()).await;
    first.ok(json!({"type": "auth", "token": token})).await;
    let original = first.ok(ask.clone()).await;
    let mut second = Client::connect(&cluster.nodes[1].ws_url()).await;
    second.ok(json!({"type": "auth", "token": token})).await;
    let retried = second.ok(ask).await;
    assert_eq!(retried["duplicate"], true);
    assert_eq!(retried["question"]["id"], original["question"]["id"]);
    let snapshot = second.join(&format!("broadcast:{b}")).await;
    assert_eq!(snapshot["data"]["questions"].as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_authors_own_stream_follows_their_question_whichever_nodes_ask_moderate_and_watch() {
    let cluster = Cluster::start(3, generous).await;
    let b = cluster.broadcast().await;
    let token = cluster.nodes[0].token(Role::Citizen, "Author");
    let (_, me) = cluster.nodes[0].get_json("/api/me", Some(&token)).await;
    let own = format!("user:{}", me["sub"].as_str().unwrap_or_default());
    let mut watcher = Client::connect(&cluster.nodes[2].ws_url()).await;
    watcher.ok(json!({"type": "auth", "token": &token})).await;
    watcher.join(&own).await;
    let mut asker = Client::connect(&cluster.nodes[0].ws_url()).await;
    asker.ok(json!({"type": "auth", "token": &token})).await;
    let q = asker.ok(json!({"type": "ask", "broadcast": b, "text": "Seen on node three?"})).await["question"].clone();
    let mut moderator = cluster.nodes[1].moderator().await;
    moderator.ok(json!({"type": "answer", "broadcast": b, "question": q["id"], "text": "Yes."})).await;
    let events = events_of(&mut watcher, &own, 2).await;
    assert_gap_free(&events, 0);
    let fates: Vec<_> = events.iter().map(|e| (e["data"]["id"].clone(), e["data"]["status"].clone())).collect();
    assert_eq!(fates, vec![(q["id"].clone(), json!("approved")), (q["id"].clone(), json!("answered"))]);
    // A fresh snapshot on any node lists it, as it is now.
    let mut other = Client::connect(&cluster.nodes[1].ws_url()).await;
    other.ok(json!({"type": "auth", "token": &token})).await;
    let snapshot = other.join(&own).await;
    assert_eq!(snapshot["data"]["questions"][0]["status"], "answered", "{snapshot}");
    assert_eq!(snapshot["seq"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_question_limit_holds_across_nodes() {
    let cluster = Cluster::start(3, |c| {
        c.questions_per_minute = 5;
        c.questions_burst = 3;
    })
    .await;
    let b = cluster.broadcast().await;
    let token = cluster.nodes[0].token(Role::Citizen, "Eager");
    let mut clients = vec![];
    for node in &cluster.nodes {
        let mut c = Client::connect(&node.ws_url()).await;
        c.ok(json!({"type": "auth", "token": token})).await;
        clients.push(c);
    }
    // Each node alone would allow a burst of 3; together they allow 3, not 9.
    let mut accepted = 0;
    for i in 0..6 {
        let c = &mut clients[i % 3];
        match c.request(json!({"type": "ask", "broadcast": b, "text": format!("Question {i}")})).await {
            Ok(_) => accepted += 1,
            Err(refusal) => {
                assert_eq!(refusal.code, "rate_limited");
                assert!(refusal.frame["retry_after_ms"].as_u64().is_some_and(|ms| ms > 0));
            }
        }
    }
    assert_eq!(accepted, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sharded_pub_sub_carries_events_too() {
    let cluster = Cluster::start(2, |c| {
        generous(c);
        c.redis_sharded_pubsub = true;
    })
    .await;
    let b = cluster.broadcast().await;
    let room = format!("broadcast:{b}");
    let mut watcher = cluster.nodes[1].citizen("Watcher").await;
    watcher.join(&room).await;
    let mut asker = cluster.nodes[0].citizen("Asker").await;
    majlis_tests::ask(&mut asker, b, "Sharded?").await;
    let seen = events_of(&mut watcher, &room, 1).await;
    assert_gap_free(&seen, 0);
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// The hot path: 10,000 vote changes on one question through three nodes, while a moderator edits it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hot_question_takes_ten_thousand_votes_while_moderated() {
    let cluster = Cluster::start(3, generous).await;
    let b = cluster.broadcast().await;
    let mut asker = cluster.nodes[0].citizen("Asker").await;
    let q = id_of(&majlis_tests::ask(&mut asker, b, "The hot one").await);
    let voters = 200;
    let per_voter = 50;
    let started = std::time::Instant::now();
    let mut tasks = vec![];
    for i in 0..voters {
        let mut v = cluster.nodes[i % 3].citizen("Voter").await;
        tasks.push(tokio::spawn(async move {
            // Up, down, ..., up: every vote changes the count, and each voter ends up counted once.
            for n in 0..per_voter {
                let value = n % 2 == 0 || n == per_voter - 1;
                v.ok(json!({"type": "vote", "broadcast": b, "question": q, "value": value})).await;
            }
        }));
    }
    let mut moderator = cluster.nodes[1].moderator().await;
    for n in 0..20 {
        moderator.ok(json!({"type": "tag", "broadcast": b, "question": q, "tags": [format!("t{n}")]})).await;
    }
    let moderated = started.elapsed();
    for task in tasks {
        task.await.expect("voter");
    }
    let elapsed = started.elapsed();
    eprintln!("{} votes in {elapsed:?}; 20 moderator edits in {moderated:?}", voters * per_voter);
    let snapshot = cluster.nodes[2].citizen("Checker").await.join(&format!("broadcast:{b}")).await;
    assert_eq!(snapshot["data"]["questions"][0]["votes"], voters as u64);
    assert_eq!(snapshot["data"]["questions"][0]["tags"], json!(["t19"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn presence_counts_the_people_on_every_node() {
    let cluster = Cluster::start(2, |c| {
        generous(c);
        c.presence_interval_ms = 100;
    })
    .await;
    let b = cluster.broadcast().await;
    let room = format!("broadcast:{b}");
    let mut watcher = cluster.nodes[0].citizen("Watcher").await;
    watcher.join(&room).await;
    let mut others = vec![];
    for i in 0..5 {
        let mut c = cluster.nodes[i % 2].citizen("Viewer").await;
        c.join(&room).await;
        others.push(c);
    }
    watcher.next_matching("presence of all six", |f| f["type"] == "presence" && f["participants"] == 6).await;
    drop(others.pop());
    drop(others.pop());
    watcher.next_matching("presence of four", |f| f["type"] == "presence" && f["participants"] == 4).await;
    let snapshot = cluster.nodes[1].citizen("Late").await.join(&room).await;
    assert!(snapshot["data"]["participants"].as_u64().is_some_and(|n| n >= 4), "{}", snapshot["data"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn coalesced_votes_from_three_nodes_reach_viewers_as_a_few_updates() {
    let cluster = Cluster::start(3, |c| {
        generous(c);
        c.vote_flush_ms = 300;
    })
    .await;
    let b = cluster.broadcast().await;
    let room = format!("broadcast:{b}");
    let mut asker = cluster.nodes[0].citizen("Asker").await;
    let q = id_of(&majlis_tests::ask(&mut asker, b, "Popular").await);
    let mut viewers = vec![];
    for node in &cluster.nodes {
        let mut v = node.citizen("Viewer").await;
        v.join(&room).await;
        viewers.push(v);
    }
    let mut tasks = vec![];
    for i in 0..60 {
        let mut v = cluster.nodes[i % 3].citizen("Voter").await;
        tasks.push(tokio::spawn(async move {
            v.ok(json!({"type": "vote", "broadcast": b, "question": q, "value": true})).await["votes"].as_u64()
        }));
    }
    let mut acked = vec![];
    for t in tasks {
        acked.push(t.await.expect("voter").expect("count"));
    }
    acked.sort_unstable();
    assert_eq!(acked, (1..=60).collect::<Vec<_>>(), "each ack carries the exact count at once");
    let mut streams = vec![];
    for v in &mut viewers {
        let mut seen = vec![];
        loop {
            let e = v.next_event().await;
            assert_eq!(e["kind"], "votes");
            seen.push(e.clone());
            if e["data"]["votes"] == 60 {
                break;
            }
        }
        assert!(seen.len() < 20, "{} updates for 60 votes: not coalesced", seen.len());
        streams.push(seen);
    }
    assert!(streams.iter().all(|s| s == &streams[0]), "nodes saw different updates");
}

/// `majlis_events_published_total` of a node, from its `/metrics`.
async fn events_published(node: &majlis_tests::TestServer) -> u64 {
    let metrics = node.http.get(node.url("/metrics")).send().await.expect("GET /metrics").text().await.expect("text");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("majlis_events_published_total "))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no majlis_events_published_total in {metrics}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_counts_the_events_it_publishes_once_each() {
    let cluster = Cluster::start(2, generous).await;
    let (watching, asking) = (&cluster.nodes[0], &cluster.nodes[1]);
    let b = cluster.broadcast().await;
    let room = format!("broadcast:{b}");
    let moderation = format!("broadcast:{b}:moderation");
    let mut watcher = watching.citizen("Watcher").await;
    watcher.join(&room).await;
    let mut asker = asking.citizen("Asker").await;
    let q = majlis_tests::ask(&mut asker, b, "Is the event counted?").await;
    assert!(events_published(asking).await >= 1, "the ask published nothing");
    asker.ok(json!({"type": "vote", "broadcast": b, "question": id_of(&q), "value": true})).await;
    events_of(&mut watcher, &room, 2).await;
    // Every event of the broadcast's rooms, and the one the ask put in its author's own stream (a vote puts
    // none there), was published by the asking node, each counted once; the watching node only received them.
    let public = watching.citizen("Late").await.join(&room).await["seq"].as_u64().expect("seq");
    let private = watching.moderator().await.join(&moderation).await["seq"].as_u64().expect("seq");
    assert_eq!(events_published(asking).await, public + private + 1);
    assert_eq!(events_published(watching).await, 0);
}

/// Joins `room`, checks the first event after the snapshot follows it, and leaves; `times` times.
async fn join_and_leave(mut c: Client, room: String, times: usize) {
    for _ in 0..times {
        let seq = c.join(&room).await["seq"].as_u64().expect("seq");
        let next = c.next_matching("the next event", |f| f["type"] == "event" && f["room"] == room).await;
        assert_eq!(next["seq"].as_u64(), Some(seq + 1), "the first event after a snapshot at {seq}");
        c.ok(json!({"type": "leave", "room": room})).await;
    }
}

/// A room closed and reopened over and over on one node (its pub/sub subscription dropped and taken again each
/// time, alone and by joiners racing each other) still gives every joiner the events right after its snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_room_closed_and_reopened_over_and_over_still_gives_joiners_every_event() {
    let cluster = Cluster::start(2, generous).await;
    let b = cluster.broadcast().await;
    let room = format!("broadcast:{b}");
    let done = Arc::new(AtomicBool::new(false));
    let mut asker = cluster.nodes[0].citizen("Asker").await;
    let asking = {
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            let mut i = 0;
            while !done.load(Relaxed) {
                majlis_tests::ask(&mut asker, b, &format!("Question {i}")).await;
                i += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    // One joiner alone: the room closes every time it leaves.
    join_and_leave(cluster.nodes[1].citizen("Alone").await, room.clone(), 20).await;
    // Several at once: closes and reopens race each other.
    let mut joiners = vec![];
    for _ in 0..3 {
        joiners.push(tokio::spawn(join_and_leave(cluster.nodes[1].citizen("Joiner").await, room.clone(), 30)));
    }
    for joiner in joiners {
        joiner.await.expect("joiner");
    }
    done.store(true, Relaxed);
    asking.await.expect("asker");
}

/// Asks don't conflict with one another (only with changes to the broadcast or its muted users, which is all a
/// new question depends on), and what they skip still holds at commit: one question per client id however many
/// nodes it is sent through at once, and the broadcast's question cap, exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_asks_through_three_nodes_take_one_question_per_client_id_and_stop_at_the_cap() {
    let cap = 40;
    let cluster = Cluster::start(3, |c| {
        generous(c);
        c.max_questions_per_broadcast = cap;
    })
    .await;
    let b = cluster.broadcast().await;
    // Three citizens each send the same 20 asks (same client ids) through all three nodes at once: 60 questions
    // asked, each three times.
    let mut tasks = vec![];
    for who in 0..3 {
        let token = cluster.nodes[0].token(Role::Citizen, &format!("Asker {who}"));
        for node in &cluster.nodes {
            let (url, token) = (node.ws_url(), token.clone());
            tasks.push(tokio::spawn(async move {
                let mut c = Client::connect(&url).await;
                c.ok(json!({"type": "auth", "token": token})).await;
                let mut replies = vec![];
                for i in 0..20 {
                    let ask = json!({"type": "ask", "broadcast": b, "text": format!("Question {i} of {who}"),
                        "client_msg_id": format!("{who}-{i}")});
                    let reply = c.request(ask).await.map(|r| id_of(&r["question"])).map_err(|r| r.code);
                    replies.push((format!("{who}-{i}"), reply));
                }
                replies
            }));
        }
    }
    let mut ids: std::collections::BTreeMap<String, std::collections::BTreeSet<u64>> = Default::default();
    for task in tasks {
        for (cmid, reply) in task.await.expect("asker") {
            match reply {
                Ok(id) => {
                    ids.entry(cmid).or_default().insert(id);
                }
                Err(code) => assert_eq!(code, "conflict", "{cmid} refused"),
            }
        }
    }
    assert!(ids.values().all(|set| set.len() == 1), "a client id made two questions: {ids:?}");
    assert_eq!(ids.len(), cap, "questions taken");
    let snapshot = cluster.nodes[1].citizen("Checker").await.join(&format!("broadcast:{b}")).await;
    assert_eq!(snapshot["data"]["questions"].as_array().map(Vec::len), Some(cap));
}
