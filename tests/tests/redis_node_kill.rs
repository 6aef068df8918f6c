//! A node killed with SIGKILL during a steady stream of questions and votes: its clients reconnect to another
//! node and resume, gap-free, and nothing acknowledged is lost or duplicated.
//!
//! The nodes are separate processes: this test binary runs itself again as `node_process` (a "test" that is a
//! Majlis node when `MAJLIS_NODE_REDIS` is set, and does nothing otherwise), so no other binary must be found.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use majlis_server::auth::Role;
use majlis_tests::redis::{node_token, run_node_process, NodeProcess, RedisServer};
use majlis_tests::{id_of, Client, WAIT};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

/// Not a test: the body of a node process (see the module docs).
#[test]
fn node_process() {
    run_node_process(|_| {});
}

fn token(role: Role, name: &str, n: usize) -> String {
    node_token(role, &format!("{name}-{n}"), name)
}

/// What the writers got acknowledged: questions and, per question, the voters.
#[derive(Default)]
struct Acked {
    questions: BTreeSet<u64>,
    votes: BTreeMap<u64, u64>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_node_loses_nothing_its_clients_resume_elsewhere() {
    let redis = RedisServer::start();
    let mut nodes: Vec<NodeProcess> = (0..3).map(|_| NodeProcess::start(&redis)).collect();
    for node in &nodes {
        node.wait_ready().await;
    }
    let b: Value = reqwest::Client::new()
        .post(nodes[0].url("/api/broadcasts"))
        .bearer_auth(token(Role::Moderator, "Mod", 0))
        .json(&json!({"title": {"en": "Kill a node"}}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("broadcast");
    let b = id_of(&b);
    let room = format!("broadcast:{b}");
    let survivors = [nodes[0].ws_url(), nodes[1].ws_url()];

    // Followers on the victim (node 2) read the room throughout and must resume elsewhere.
    let (done_tx, done_rx) = watch::channel(None::<u64>);
    let mut followers = vec![];
    for n in 0..6 {
        let mut c = Client::authed(&nodes[2].ws_url(), &token(Role::Citizen, "Follower", n)).await;
        let snapshot = c.join(&room).await;
        let start = (snapshot["epoch"].clone(), snapshot["seq"].as_u64().unwrap_or_default());
        let (token, survivors, room, done) =
            (token(Role::Citizen, "Follower", n), survivors.clone(), room.clone(), done_rx.clone());
        followers.push(tokio::spawn(follow(c, token, survivors, room, start, done)));
    }

    // Writers: an asker and voters on every node, the victim's retrying elsewhere with the same client id.
    let acked = Arc::new(Mutex::new(Acked::default()));
    let mut writers = vec![];
    for (n, node) in nodes.iter().enumerate() {
        let (url, acked, survivors) = (node.ws_url(), Arc::clone(&acked), survivors.clone());
        writers.push(tokio::spawn(write(n, url, survivors, b, acked)));
    }
    // Mid-stream: once a fifth of the questions are in.
    let deadline = Instant::now() + WAIT;
    while acked.lock().expect("acked").questions.len() < 15 {
        assert!(Instant::now() < deadline, "the stream did not get going");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    nodes[2].kill();
    for w in writers {
        w.await.expect("writer");
    }

    // The final position, as any survivor sees it.
    let mut checker = Client::authed(&survivors[0], &token(Role::Citizen, "Checker", 0)).await;
    let snapshot = checker.join(&room).await;
    let final_seq = snapshot["seq"].as_u64().expect("seq");
    done_tx.send(Some(final_seq)).expect("followers listen");
    let acked = std::mem::take(&mut *acked.lock().expect("acked"));
    let questions: BTreeMap<u64, u64> = snapshot["data"]["questions"]
        .as_array()
        .expect("questions")
        .iter()
        .map(|q| (id_of(q), q["votes"].as_u64().unwrap_or_default()))
        .collect();
    assert_eq!(questions.keys().copied().collect::<BTreeSet<_>>(), acked.questions, "questions lost or duplicated");
    for (q, votes) in &acked.votes {
        assert_eq!(questions.get(q), Some(votes), "votes of question {q}");
    }
    for f in followers {
        let (seen, hops) = f.await.expect("follower");
        assert!(hops >= 1, "a follower of the killed node never had to move");
        assert_eq!(seen.keys().copied().collect::<BTreeSet<_>>(), acked.questions, "a follower missed questions");
        assert_eq!(seen, questions, "a follower's vote counts differ from the final state");
    }
}

/// Asks and votes for a while through `url`; on a dead node, carries on through a survivor. Each ask carries a
/// client id, so a retry after the drop can't duplicate it.
async fn write(n: usize, url: String, survivors: [String; 2], b: u64, acked: Arc<Mutex<Acked>>) {
    let asker_token = token(Role::Citizen, "Asker", n);
    let voter_tokens: Vec<String> = (0..3).map(|v| token(Role::Citizen, "Voter", n * 10 + v)).collect();
    let mut current = url;
    let mut round = 0;
    while round < 25 {
        match write_round(&current, &asker_token, &voter_tokens, b, n, round).await {
            Some((q, votes)) => {
                let mut a = acked.lock().expect("acked");
                a.questions.insert(q);
                *a.votes.entry(q).or_default() += votes;
                round += 1;
            }
            // The node died under us: the same round again, elsewhere.
            None => current = survivors[n % 2].clone(),
        }
    }
}

/// One question and three votes; `None` if the connection died (nothing of this round counted then, and a
/// repeat must not double anything: the ask by its client id, the votes because a vote is idempotent).
async fn write_round(url: &str, asker: &str, voters: &[String], b: u64, n: usize, round: usize) -> Option<(u64, u64)> {
    let mut a = try_client(url, asker).await?;
    let ask = json!({"type": "ask", "broadcast": b, "text": format!("Q {n}/{round}"), "client_msg_id": format!("{n}-{round}")});
    let q = id_of(&try_request(&mut a, ask).await?["question"]);
    for v in voters {
        let mut c = try_client(url, v).await?;
        try_request(&mut c, json!({"type": "vote", "broadcast": b, "question": q, "value": true})).await?;
    }
    Some((q, voters.len() as u64))
}

async fn try_client(url: &str, token: &str) -> Option<Client> {
    let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url)).await.ok()?.ok()?;
    let mut c = Client::from_ws(ws);
    try_request(&mut c, json!({"type": "auth", "token": token})).await?;
    Some(c)
}

/// A request whose connection may die: `None` then.
async fn try_request(c: &mut Client, mut command: Value) -> Option<Value> {
    command["id"] = json!("w");
    c.ws.send(Message::text(command.to_string())).await.ok()?;
    loop {
        let message = tokio::time::timeout(WAIT, c.ws.next()).await.ok()??.ok()?;
        let Message::Text(text) = message else { continue };
        let frame: Value = serde_json::from_str(&text).ok()?;
        if frame["id"] == "w" {
            assert_eq!(frame["type"], "ack", "refused: {frame}");
            return Some(frame["result"].clone());
        }
    }
}

/// Reads the room until `done` names the final seq, resuming on a survivor when its node dies; checks every
/// event follows the previous one. Returns question → last vote count seen, and how often it moved.
async fn follow(
    mut c: Client,
    token: String,
    survivors: [String; 2],
    room: String,
    (epoch, mut last): (Value, u64),
    mut done: watch::Receiver<Option<u64>>,
) -> (BTreeMap<u64, u64>, usize) {
    let mut state: BTreeMap<u64, u64> = BTreeMap::new();
    let mut hops = 0;
    loop {
        if done.borrow().is_some_and(|f| last >= f) {
            return (state, hops);
        }
        let frame = tokio::select! {
            f = c.try_next() => f,
            _ = done.changed() => continue,
        };
        let frame = match frame {
            Some(frame) => frame,
            // Its node is gone: resume on a survivor from where it was.
            None => {
                hops += 1;
                assert!(hops < 5, "kept losing its node");
                c = Client::authed(&survivors[hops % 2], &token).await;
                let ack = c.ok(json!({"type": "join", "room": room, "since": {"epoch": epoch, "seq": last}})).await;
                assert_eq!(ack["recovered"], true, "resumed without recovery");
                continue;
            }
        };
        if frame["type"] != "event" || frame["room"] != room.as_str() {
            continue;
        }
        assert_eq!(frame["seq"].as_u64(), Some(last + 1), "gap or duplicate: {frame}");
        last += 1;
        match frame["kind"].as_str() {
            Some("question") => {
                state.insert(id_of(&frame["data"]), frame["data"]["votes"].as_u64().unwrap_or_default());
            }
            Some("votes") => {
                state.insert(id_of(&frame["data"]), frame["data"]["votes"].as_u64().unwrap_or_default());
            }
            _ => {}
        }
    }
}
