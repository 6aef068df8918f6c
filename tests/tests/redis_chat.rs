//! The live chat across nodes on one Redis: the citizen on one node and the agent on another, routing decided
//! by several nodes at once, an agent's connection moving between nodes, a node killed mid-chat, an ended
//! chat's keys expiring after the retention, presence leases that can't work refused at the start, and a start
//! sent again through any node making one chat. Each test starts its own `redis-server` (see
//! `majlis_tests::redis`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use majlis_server::auth::{Role, User};
use majlis_tests::redis::Cluster;
use majlis_tests::{generous, Client, TestServer};
use serde_json::{json, Value};

/// Every day open, all day: the tests run at any hour.
const ALWAYS_OPEN: &str = r#"{"time_zone":"Asia/Bahrain","week":{"sun":[{"open":"00:00","close":"24:00"}],"mon":[{"open":"00:00","close":"24:00"}],"tue":[{"open":"00:00","close":"24:00"}],"wed":[{"open":"00:00","close":"24:00"}],"thu":[{"open":"00:00","close":"24:00"}],"fri":[{"open":"00:00","close":"24:00"}],"sat":[{"open":"00:00","close":"24:00"}]},"holidays":[]}"#;

async fn cluster(n: usize, tweak: impl Fn(&mut majlis_server::Config)) -> Cluster {
    let cluster = Cluster::start(n, |c| {
        generous(c);
        c.chat.messages_per_minute = 100_000;
        c.chat.messages_burst = 100_000;
        c.chat.starts_burst = 100;
        tweak(c);
    })
    .await;
    assert_eq!(cluster.redis.command(&["SET", "mj:{desk}:hours", ALWAYS_OPEN]).as_deref(), Some("+OK"));
    cluster
}

/// A token for `sub` (a fixed identity), valid for an hour.
fn token_of(node: &TestServer, role: Role, sub: &str, name: &str) -> String {
    let user = User { sub: sub.into(), name: name.into(), role };
    node.app.tokens.mint(&user, 3600).expect("mint").0
}

/// A client authenticated as `sub` (a fixed identity, so tests can name its personal stream).
async fn as_user(node: &TestServer, role: Role, sub: &str, name: &str) -> Client {
    let token = token_of(node, role, sub, name);
    let mut client = Client::connect(&node.ws_url()).await;
    client.ok(json!({"type": "auth", "token": token})).await;
    client
}

/// An agent on the desk, available for `langs`, in their own stream.
async fn agent(node: &TestServer, sub: &str, langs: &[&str]) -> Client {
    let mut agent = as_user(node, Role::Agent, sub, sub).await;
    agent.join(&format!("user:{sub}")).await;
    agent.ok(json!({"type": "agent_status", "availability": "available", "languages": langs})).await;
    agent
}

/// The consent line's version the pre-chat form quotes (the start info's, as configured).
async fn consent_version(node: &TestServer) -> String {
    node.app.config.chat.consent().version
}

/// A citizen's new chat in `lang`: the start's result.
async fn start(citizen: &mut Client, lang: &str, version: &str) -> Value {
    citizen
        .ok(json!({"type": "chat_start", "category": "inquiry", "lang": lang, "name": "Fatima", "consent": true,
            "consent_version": version}))
        .await
}

fn chat_id(started: &Value) -> u64 {
    started["chat"].as_u64().expect("chat id")
}

/// The next event of `room` of `kind`.
async fn event(client: &mut Client, room: &str, kind: &str) -> Value {
    client
        .next_matching(&format!("{kind} in {room}"), |f| f["type"] == "event" && f["room"] == room && f["kind"] == kind)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_citizen_on_one_node_chats_with_an_agent_on_another() {
    let cluster = cluster(2, |_| {}).await;
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    let mut amina = agent(a, "g-amina", &["ar"]).await;
    let version = consent_version(b).await;
    let mut citizen = as_user(b, Role::Citizen, "c-fatima", "Fatima").await;
    let started = start(&mut citizen, "ar", &version).await;
    let id = chat_id(&started);
    assert_eq!(started["position"], Value::Null, "an available agent takes it at once: {started}");
    let assigned = event(&mut amina, "user:g-amina", "assigned").await;
    assert_eq!(assigned["data"]["chat"]["id"], id);
    let (room, staff) = (format!("chat:{id}"), format!("chat:{id}:staff"));
    let snapshot = amina.join(&staff).await;
    assert_eq!(snapshot["data"]["chat"]["agent"]["sub"], "g-amina");
    let snapshot = citizen.join(&room).await;
    assert_eq!(snapshot["data"]["chat"]["status"], "active");
    let joined = snapshot["data"]["messages"].as_array().expect("messages").len() as u64;

    let sent =
        citizen.ok(json!({"type": "chat_send", "chat": id, "text": "انقطعت المياه", "client_msg_id": "m-1"})).await;
    let seq = sent["message"]["seq"].as_u64().expect("seq");
    assert_eq!(seq, joined + 1);
    let seen = event(&mut amina, &staff, "message").await;
    assert_eq!((seen["data"]["text"].as_str(), seen["data"]["seq"].as_u64()), (Some("انقطعت المياه"), Some(seq)));
    // A retry is the same message, not another.
    let again =
        citizen.ok(json!({"type": "chat_send", "chat": id, "text": "انقطعت المياه", "client_msg_id": "m-1"})).await;
    assert_eq!((again["duplicate"].as_bool(), again["message"]["seq"].as_u64()), (Some(true), Some(seq)));

    amina.ok(json!({"type": "chat_typing", "chat": id, "typing": true})).await;
    citizen.next_matching("the agent typing", |f| f["type"] == "typing" && f["room"] == room.as_str()).await;
    let reply =
        amina.ok(json!({"type": "chat_send", "chat": id, "text": "We are on it.", "client_msg_id": "a-1"})).await;
    let seen = event(&mut citizen, &room, "message").await;
    assert_eq!(seen["data"]["seq"], reply["message"]["seq"]);
    assert_eq!(seen["data"]["seq"].as_u64(), Some(seq + 1), "no gap, no duplicate");

    citizen.ok(json!({"type": "chat_receipt", "chat": id, "delivered": seq + 1, "read": seq + 1})).await;
    let receipts = event(&mut amina, &staff, "receipts").await;
    assert_eq!(receipts["data"]["citizen"], json!({"delivered": seq + 1, "read": seq + 1}));

    amina.ok(json!({"type": "chat_note", "chat": id, "text": "Water outage, district 4."})).await;
    event(&mut amina, &staff, "note").await;
    amina.ok(json!({"type": "chat_end", "chat": id})).await;
    let ended = citizen
        .next_matching("the chat ended", |f| {
            f["room"] == room.as_str() && f["kind"] == "chat" && f["data"]["status"] == "ended"
        })
        .await;
    assert_eq!(ended["data"]["end_reason"], "agent");
    citizen.ok(json!({"type": "chat_rate", "chat": id, "score": 5})).await;
    let refused = citizen.refused(json!({"type": "chat_send", "chat": id, "text": "one more"})).await;
    assert_eq!(refused.code, "conflict");

    // The citizen's room never carried the note, on any node.
    let mut late = as_user(a, Role::Citizen, "c-fatima", "Fatima").await;
    let snapshot = late.join(&room).await;
    assert!(!snapshot.to_string().contains("district 4"), "{snapshot}");
    assert_eq!(snapshot["data"]["chat"]["rating"]["score"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_start_sent_again_through_any_node_at_any_moment_makes_one_chat() {
    // Three open chats allowed: a start sent again that made a chat would show as a second one.
    let cluster = cluster(2, |c| c.chat.max_open_per_citizen = 3).await;
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    let _amina = agent(a, "g-amina", &["ar"]).await;
    let version = consent_version(a).await;
    let form = |id: &str| {
        json!({"type": "chat_start", "category": "inquiry", "lang": "ar", "consent": true,
            "consent_version": version, "client_msg_id": id})
    };
    // The ack lost on one node, the start sent again through the other.
    let mut on_b = as_user(b, Role::Citizen, "c-fatima", "Fatima").await;
    let first = on_b.ok(form("start-1")).await;
    let mut on_a = as_user(a, Role::Citizen, "c-fatima", "Fatima").await;
    let again = on_a.ok(form("start-1")).await;
    assert_eq!((again["chat"].clone(), again["duplicate"].clone()), (first["chat"].clone(), json!(true)));
    // Sent through both nodes at once (the first still on its way when the second leaves): one chat.
    let (x, y) = tokio::join!(on_a.ok(form("start-2")), on_b.ok(form("start-2")));
    assert_eq!(x["chat"], y["chat"], "{x} {y}");
    let fresh: Vec<bool> = [&x, &y].iter().map(|r| r["duplicate"] == json!(false)).collect();
    assert_eq!(fresh.iter().filter(|f| **f).count(), 1, "one made it, the other found it: {x} {y}");
    let token = token_of(a, Role::Citizen, "c-fatima", "Fatima");
    let (_, info) = a.get_json("/api/chat/start-info", Some(&token)).await;
    assert_eq!(info["my_chats"].as_array().map(Vec::len), Some(2), "two starts, two chats: {info}");
}

/// The desk as an admin's snapshot shows it: every chat held by exactly one agent, nobody over `cap`; returns
/// the number held and the number waiting.
fn check_desk(snapshot: &Value, cap: u32) -> (usize, usize) {
    let mut holder: BTreeMap<u64, String> = BTreeMap::new();
    for a in snapshot["data"]["agents"].as_array().expect("agents") {
        let chats = a["chats"].as_array().expect("chats");
        assert!(chats.len() <= cap as usize, "over the cap: {a}");
        assert_eq!(a["load"].as_u64(), Some(chats.len() as u64), "{a}");
        for chat in chats {
            let id = chat.as_u64().expect("id");
            assert!(holder.insert(id, a["sub"].to_string()).is_none(), "chat {id} held twice");
        }
    }
    let waiting: BTreeSet<u64> = snapshot["data"]["queues"]["en"]
        .as_array()
        .expect("queue")
        .iter()
        .map(|w| w["chat"].as_u64().expect("id"))
        .collect();
    assert!(waiting.iter().all(|id| !holder.contains_key(id)), "a chat both waiting and held");
    (holder.len(), waiting.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_routing_at_once_never_double_assign_nor_exceed_a_cap() {
    let (agents, cap, chats) = (8, 3, 60);
    let cluster = cluster(2, |c| c.chat.agent_cap = cap).await;
    let mut desk = Vec::new();
    for i in 0..agents {
        desk.push(agent(&cluster.nodes[i % 2], &format!("g-{i}"), &["en"]).await);
    }
    let version = consent_version(&cluster.nodes[0]).await;
    // Every start at once, half through each node.
    let mut tasks = Vec::new();
    for i in 0..chats {
        let mut citizen = as_user(&cluster.nodes[i % 2], Role::Citizen, &format!("c-{i}"), "Citizen").await;
        let version = version.clone();
        tasks.push(tokio::spawn(async move { chat_id(&start(&mut citizen, "en", &version).await) }));
    }
    let mut ids = BTreeSet::new();
    for task in tasks {
        assert!(ids.insert(task.await.expect("start")), "a chat id handed out twice");
    }
    let mut admin = as_user(&cluster.nodes[1], Role::Admin, "a-noor", "Noor").await;
    let full = agents * cap as usize;
    assert_eq!(check_desk(&admin.join("desk").await, cap), (full, chats - full));

    // Every agent ends every chat they hold at once, from both nodes: the freed places go to the queue's head,
    // still never twice and never over a cap.
    let mut tasks = Vec::new();
    for (i, mut agent) in desk.into_iter().enumerate() {
        let own = format!("user:g-{i}");
        tasks.push(tokio::spawn(async move {
            let snapshot = agent.join(&own).await;
            for chat in snapshot["data"]["chats"].as_array().expect("chats").clone() {
                agent.ok(json!({"type": "chat_end", "chat": chat["id"]})).await;
            }
            agent
        }));
    }
    for task in tasks {
        task.await.expect("ends");
    }
    let (held, waiting) = check_desk(&admin.join("desk").await, cap);
    assert_eq!((held, waiting), (full, chats - 2 * full), "the next {full} were routed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_agent_moving_between_nodes_keeps_their_chats() {
    let cluster = cluster(2, |c| c.chat.agent_grace_secs = 1).await;
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    let mut first = agent(a, "g-huda", &["en"]).await;
    let version = consent_version(a).await;
    let mut citizen = as_user(a, Role::Citizen, "c-ali", "Ali").await;
    let id = chat_id(&start(&mut citizen, "en", &version).await);
    event(&mut first, "user:g-huda", "assigned").await;
    // A second connection on the other node, then the first one closes: still connected, nothing requeued.
    let mut second = as_user(b, Role::Agent, "g-huda", "g-huda").await;
    second.join("user:g-huda").await;
    drop(first);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut admin = as_user(b, Role::Admin, "a-noor", "Noor").await;
    let snapshot = admin.join("desk").await;
    let huda = &snapshot["data"]["agents"][0];
    assert_eq!((huda["connected"].as_bool(), huda["load"].as_u64()), (Some(true), Some(1)), "{snapshot}");
    let snapshot = citizen.join(&format!("chat:{id}")).await;
    assert_eq!(snapshot["data"]["chat"]["status"], "active");
    // Once every connection is gone, the grace period runs out and the chat goes back to the queue.
    drop(second);
    let requeued = citizen
        .next_matching("the chat back in the queue", |f| f["kind"] == "chat" && f["data"]["status"] == "waiting")
        .await;
    assert_eq!(requeued["room"], format!("chat:{id}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_agent_who_hands_a_chat_on_from_another_node_loses_its_staff_room() {
    let cluster = cluster(2, |_| {}).await;
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    let mut amina = agent(a, "g-amina", &["en"]).await;
    let version = consent_version(a).await;
    let mut citizen = as_user(a, Role::Citizen, "c-ali", "Ali").await;
    let id = chat_id(&start(&mut citizen, "en", &version).await);
    let (room, staff) = (format!("chat:{id}"), format!("chat:{id}:staff"));
    event(&mut amina, "user:g-amina", "assigned").await;
    amina.join(&staff).await;
    citizen.join(&room).await;
    // A supervisor on the other node hands it to Huda, also on the other node.
    let mut huda = agent(b, "g-huda", &["en"]).await;
    let mut admin = as_user(b, Role::Admin, "a-noor", "Noor").await;
    admin.ok(json!({"type": "chat_transfer", "chat": id, "to": "g-huda", "note": "Huda knows water."})).await;
    event(&mut amina, "user:g-amina", "released").await;
    event(&mut huda, "user:g-huda", "assigned").await;
    huda.join(&staff).await;
    citizen.ok(json!({"type": "chat_send", "chat": id, "text": "Still no water", "client_msg_id": "m-1"})).await;
    event(&mut huda, &staff, "message").await;
    let staff_room = staff.clone();
    amina
        .assert_no(Duration::from_millis(500), "the staff room after handing it on", move |f| {
            // The transfer's own events came before the revocation; nothing after it.
            f["room"] == staff_room.as_str() && f["data"]["text"] == "Still no water"
        })
        .await;
    let refused = amina.refused(json!({"type": "chat_note", "chat": id, "text": "mine?"})).await;
    assert_eq!(refused.code, "forbidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_restart_makes_chat_clients_resync_and_the_chat_goes_on() {
    let mut cluster = cluster(2, |_| {}).await;
    let mut amina = agent(&cluster.nodes[0], "g-amina", &["en"]).await;
    let version = consent_version(&cluster.nodes[0]).await;
    let mut citizen = as_user(&cluster.nodes[1], Role::Citizen, "c-ali", "Ali").await;
    let id = chat_id(&start(&mut citizen, "en", &version).await);
    let (room, staff) = (format!("chat:{id}"), format!("chat:{id}:staff"));
    let before = amina.join(&staff).await;
    citizen.join(&room).await;
    let sent = citizen.ok(json!({"type": "chat_send", "chat": id, "text": "before", "client_msg_id": "m-1"})).await;
    event(&mut amina, &staff, "message").await;

    // Every restart counts as a possible loss: one new generation, every chat client starts over once.
    cluster.redis.restart();
    for node in &cluster.nodes {
        node.wait_ready().await;
    }
    assert_eq!(citizen.closed().await, (4010, "resync".to_string()));
    assert_eq!(amina.closed().await, (4010, "resync".to_string()));
    let mut amina = as_user(&cluster.nodes[1], Role::Agent, "g-amina", "g-amina").await;
    let mut citizen = as_user(&cluster.nodes[0], Role::Citizen, "c-ali", "Ali").await;
    let snapshot = amina.join(&staff).await;
    assert_ne!(snapshot["epoch"], before["epoch"]);
    let snapshot = citizen.join(&room).await;
    let messages = snapshot["data"]["messages"].as_array().expect("messages");
    assert!(messages.iter().any(|m| m["seq"] == sent["message"]["seq"] && m["text"] == "before"), "{snapshot}");
    // The retry of the acknowledged message is still a retry; new ones follow it.
    let again = citizen.ok(json!({"type": "chat_send", "chat": id, "text": "before", "client_msg_id": "m-1"})).await;
    assert_eq!(again["duplicate"], true);
    let after = citizen.ok(json!({"type": "chat_send", "chat": id, "text": "after", "client_msg_id": "m-2"})).await;
    assert_eq!(after["message"]["seq"].as_u64(), sent["message"]["seq"].as_u64().map(|s| s + 1));
    let seen = event(&mut amina, &staff, "message").await;
    assert_eq!(seen["data"]["text"], "after");
}

/// Redis forgets an ended chat by itself: every one of its keys expires at its end plus the retention, also
/// those a later commit writes through another node (a wrap-up note makes the notes' first key, a rating SETs
/// the header, which would clear an expiry); an open chat's keys never expire.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_key_of_an_ended_chat_expires_after_the_retention_whichever_node_writes_it() {
    let cluster = cluster(2, |_| {}).await;
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    let retention = a.app.config.chat.retention_secs as i64 * 1000;
    let mut amina = agent(a, "g-amina", &["ar"]).await;
    let version = consent_version(b).await;
    let mut citizen = as_user(b, Role::Citizen, "c-fatima", "Fatima").await;
    let id = chat_id(&start(&mut citizen, "ar", &version).await);
    event(&mut amina, "user:g-amina", "assigned").await;
    let mut other = as_user(b, Role::Citizen, "c-maryam", "Maryam").await;
    let open = chat_id(&start(&mut other, "ar", &version).await);
    citizen.ok(json!({"type": "chat_send", "chat": id, "text": "Hello", "client_msg_id": "m-1"})).await;
    citizen.ok(json!({"type": "chat_end", "chat": id})).await;
    amina.ok(json!({"type": "chat_note", "chat": id, "text": "Wrap-up", "client_msg_id": "n-1"})).await;
    citizen.ok(json!({"type": "chat_rate", "chat": id, "score": 4})).await;

    let expiries = |chat: u64| -> BTreeMap<String, i64> {
        let keys = cluster.redis.keys(&format!("mj:{{c:{chat}}}*"));
        let pttl = |key: &String| cluster.redis.command(&["PTTL", key]).and_then(|r| r.strip_prefix(':')?.parse().ok());
        keys.iter().map(|k| (k.clone(), pttl(k).expect("a PTTL"))).collect()
    };
    let ended = expiries(id);
    let parts =
        [":hdr", ":ver", ":msgs", ":notes", ":posted", ":r:cit:seq", ":r:cit:log", ":r:staff:seq", ":r:staff:log"];
    let names: BTreeSet<String> = parts.iter().map(|p| format!("mj:{{c:{id}}}{p}")).collect();
    assert_eq!(ended.keys().cloned().collect::<BTreeSet<_>>(), names, "the chat's keys");
    for (key, ttl) in &ended {
        assert!(*ttl <= retention && *ttl > retention - 60_000, "{key} expires in {ttl} ms, not the retention");
    }
    let open = expiries(open);
    assert!(!open.is_empty() && open.values().all(|ttl| *ttl == -1), "an open chat never expires: {open:?}");
}

/// Presence leases that can't work (a lease not well above its renewal) stop a node as it starts, with a message
/// naming the options, before it ever reaches Redis.
#[tokio::test]
async fn a_node_whose_presence_lease_is_not_well_above_its_refresh_refuses_to_start() {
    let mut config = majlis_server::Config::defaults();
    config.jwt_secret = Some(majlis_tests::SECRET.into());
    config.redis_url = Some("redis://127.0.0.1:1/".into());
    config.chat.presence_lease_ms = 5_000;
    config.chat.presence_refresh_ms = 2_000;
    let Err(refused) = majlis_server::App::new(config, "http://127.0.0.1".into()) else {
        panic!("a node started with a 5 s lease renewed every 2 s");
    };
    let message = refused.to_string();
    assert!(
        message.contains("--chat-presence-lease-ms (5000)") && message.contains("--chat-presence-refresh-ms (2000)"),
        "{message}"
    );
}
