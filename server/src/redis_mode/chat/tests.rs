//! The chat's scripts against a real `redis-server` (skipped when none is installed): two stores as two nodes.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;

use super::desk::Reach;
use super::*;
use crate::auth::{Role, User};
use crate::chat::desk::Desk;
use crate::chat::offline::{OfflineForm, OfflineStatus};
use crate::chat::rules::{ChatCommand, ChatReply, DeskCommand};
use crate::chat::{Availability, Body, Category, Chat, ChatId, ChatLang, Side, StartForm};
use crate::qa::Localized;
use crate::store::Forgotten;

struct Server(Child, u16);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn redis_server() -> Option<Server> {
    let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .ok()?;
    Some(Server(child, port))
}

const ALWAYS_OPEN: &str = r#"{"time_zone":"Asia/Bahrain","week":{"sun":[{"open":"00:00","close":"24:00"}],"mon":[{"open":"00:00","close":"24:00"}],"tue":[{"open":"00:00","close":"24:00"}],"wed":[{"open":"00:00","close":"24:00"}],"thu":[{"open":"00:00","close":"24:00"}],"fri":[{"open":"00:00","close":"24:00"}],"sat":[{"open":"00:00","close":"24:00"}]},"holidays":[]}"#;

async fn node(port: u16, policy: &ChatPolicy) -> RedisChat {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).expect("url");
    let mut manager = None;
    for _ in 0..100 {
        if let Ok(m) = ConnectionManager::new(client.clone()).await {
            manager = Some(m);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let redis = Redis::new(manager.expect("redis up"), Duration::from_secs(5), false);
    let consent = ConsentLine::new(Localized { ar: Some("أوافق".into()), en: Some("I agree".into()) }, None);
    let bounds = Bounds { history_len: 1000, personal_history_len: 100, personal_retention_ms: 60_000 };
    let mut conn = redis.conn();
    let _: () =
        redis::cmd("SET").arg(keys::desk("hours")).arg(ALWAYS_OPEN).query_async(&mut conn).await.expect("hours");
    let leases = PresenceLeases::default();
    RedisChat::new(
        redis,
        Arc::new(policy.clone()),
        consent,
        Schedule::default(),
        bounds,
        leases,
        Arc::new(Metrics::default()),
    )
}

fn user(sub: &str, role: Role) -> User {
    User { sub: sub.into(), name: sub.into(), role }
}

fn form(chat: &RedisChat) -> StartForm {
    StartForm {
        category: Category::Inquiry,
        lang: ChatLang::En,
        name: None,
        contact: None,
        consent: true,
        consent_version: chat.consent.version.clone(),
        client_msg_id: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_route_at_once_without_double_assignment_or_overload() {
    let Some(server) = redis_server() else { return };
    let policy = ChatPolicy { default_agent_cap: 3, ..ChatPolicy::default() };
    let nodes = Arc::new([node(server.1, &policy).await, node(server.1, &policy).await]);
    for i in 0..4 {
        let agent = user(&format!("g-{i}"), Role::Agent);
        nodes[i % 2]
            .desk_command(
                &agent,
                DeskCommand::Status { availability: Availability::Available, languages: Some(vec![ChatLang::En]) },
            )
            .await
            .expect("status");
    }
    let mut tasks = vec![];
    for i in 0..20 {
        let nodes = Arc::clone(&nodes);
        tasks.push(tokio::spawn(async move {
            let node = &nodes[i % 2];
            node.start(&user(&format!("c-{i}"), Role::Citizen), form(node), &|| Ok(())).await.expect("start")
        }));
    }
    let mut started = vec![];
    for task in tasks {
        started.push(task.await.expect("task"));
    }
    let desk = nodes[0].read_desk(&Reach { all: true, ..Reach::default() }).await.expect("desk").desk;
    desk.check().expect("the desk is consistent");
    assert_eq!(desk.open.len(), 20);
    for agent in desk.agents.values() {
        assert_eq!(agent.chats.len(), 3, "{agent:?}");
    }
    assert_eq!(desk.queues.en.len(), 8);
    assert_eq!(started.iter().filter(|s| s.position.is_none()).count(), 12);

    // Messages both ways, a retry, and the end.
    let id = *desk.agents["g-0"].chats.iter().next().expect("a chat");
    let citizen = user(&desk.open[&id].citizen, Role::Citizen);
    let send = |text: &str, cmid: &str| ChatCommand::Send { text: text.into(), client_msg_id: Some(cmid.into()) };
    let a = nodes[1].chat_command(id, &citizen, send("hello", "m-1"), &|| Ok(())).await.expect("send");
    let b = nodes[0].chat_command(id, &citizen, send("hello", "m-1"), &|| Ok(())).await.expect("retry");
    match (a, b) {
        (ChatReply::Sent { message: a, duplicate: false }, ChatReply::Sent { message: b, duplicate: true }) => {
            assert_eq!(a, b)
        }
        other => panic!("{other:?}"),
    }
    nodes[0].chat_command(id, &user("g-0", Role::Agent), send("hi", "a-1"), &|| Ok(())).await.expect("reply");
    let state = nodes[1].chat_state(id).await.expect("state");
    assert_eq!(state.messages.len() as u64, state.chat.last_seq);
    assert_eq!(state.chat.texts, 2);
    nodes[1].desk_command(&citizen, DeskCommand::End { chat: id }).await.expect("end");
    let desk = nodes[0].read_desk(&Reach { all: true, ..Reach::default() }).await.expect("desk").desk;
    desk.check().expect("the desk is consistent");
    assert_eq!(desk.queues.en.len(), 7, "the freed place went to the queue's head");
    assert!(!desk.open.contains_key(&id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_agents_last_connection_on_any_node_starts_the_grace_period() {
    let Some(server) = redis_server() else { return };
    let policy = ChatPolicy { agent_grace_ms: 200, ..ChatPolicy::default() };
    let nodes = [node(server.1, &policy).await, node(server.1, &policy).await];
    let amina = user("g-amina", Role::Agent);
    nodes[0].staff_connected(&amina).await.expect("connected");
    nodes[0]
        .desk_command(
            &amina,
            DeskCommand::Status { availability: Availability::Available, languages: Some(vec![ChatLang::En]) },
        )
        .await
        .expect("status");
    let citizen = user("c-1", Role::Citizen);
    let started = nodes[1].start(&citizen, form(&nodes[1]), &|| Ok(())).await.expect("start");
    assert_eq!(started.position, None);
    // The connection moves: opened on the other node before the first closes.
    nodes[1].staff_connected(&amina).await.expect("connected");
    nodes[0].staff_disconnected(&amina.sub).await.expect("disconnected");
    tokio::time::sleep(Duration::from_millis(400)).await;
    nodes[0].sweep().await.expect("sweep");
    nodes[1].sweep().await.expect("sweep");
    let desk = nodes[0].read_desk(&Reach::default()).await.expect("desk").desk;
    assert!(desk.agents["g-amina"].connected());
    assert_eq!(desk.agents["g-amina"].chats.len(), 1);
    // The node holding the last connection dies: its lease runs out, a sweep reaps it, the grace period runs.
    let mut conn = nodes[1].redis.conn();
    let _: () =
        redis::cmd("HSET").arg("mj:nodes").arg(&nodes[1].node).arg(1).query_async(&mut conn).await.expect("lapse");
    nodes[0].sweep().await.expect("sweep");
    let desk = nodes[0].read_desk(&Reach::default()).await.expect("desk").desk;
    assert!(!desk.agents["g-amina"].connected(), "reaped");
    tokio::time::sleep(Duration::from_millis(300)).await;
    nodes[0].sweep().await.expect("sweep");
    let desk = nodes[0].read_desk(&Reach { all: true, ..Reach::default() }).await.expect("desk").desk;
    desk.check().expect("consistent");
    assert_eq!(desk.agents["g-amina"].availability, Availability::Offline);
    assert_eq!(desk.queues.en.len(), 1, "the chat went back to the queue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_citizen_back_on_another_node_within_the_window_keeps_the_chat() {
    let Some(server) = redis_server() else { return };
    let policy = ChatPolicy { resume_window_ms: 300, ..ChatPolicy::default() };
    let nodes = [node(server.1, &policy).await, node(server.1, &policy).await];
    let amina = user("g-amina", Role::Agent);
    nodes[0]
        .desk_command(
            &amina,
            DeskCommand::Status { availability: Availability::Available, languages: Some(vec![ChatLang::En]) },
        )
        .await
        .expect("status");
    let (one, two) = (user("c-1", Role::Citizen), user("c-2", Role::Citizen));
    let first = nodes[0].start(&one, form(&nodes[0]), &|| Ok(())).await.expect("start").chat;
    let second = nodes[0].start(&two, form(&nodes[0]), &|| Ok(())).await.expect("start").chat;
    for citizen in [&one, &two] {
        nodes[0].citizen_present(&citizen.sub, true).await.expect("connected");
        nodes[0].citizen_present(&citizen.sub, false).await.expect("disconnected");
    }
    let away = |desk: &Desk, chat| desk.open.get(&chat).and_then(|o| o.citizen_away_since);
    let desk = nodes[1].read_desk(&Reach { all: true, ..Reach::default() }).await.expect("desk").desk;
    assert!(away(&desk, first).is_some() && away(&desk, second).is_some());
    // The first citizen comes back through the other node; the second stays away past the window.
    nodes[1].citizen_present(&one.sub, true).await.expect("back");
    tokio::time::sleep(Duration::from_millis(400)).await;
    nodes[0].sweep().await.expect("sweep");
    nodes[1].sweep().await.expect("sweep");
    let desk = nodes[1].read_desk(&Reach { all: true, ..Reach::default() }).await.expect("desk").desk;
    desk.check().expect("consistent");
    assert_eq!(away(&desk, first), None);
    assert!(!desk.open.contains_key(&second), "abandoned");
    let ended = nodes[0].chat_state(second).await.expect("chat").chat;
    assert_eq!(ended.end_reason, Some(crate::chat::EndReason::Abandoned));
}

/// When each of a chat's keys expires (ms, Redis' `PEXPIRETIME`), by key; every key under its prefix.
async fn expiries(node: &RedisChat, id: crate::chat::ChatId) -> std::collections::BTreeMap<String, i64> {
    let mut conn = node.redis.conn();
    let prefix = keys::chat(id);
    let found: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut conn).await.expect("keys");
    let mut out = std::collections::BTreeMap::new();
    for key in found {
        let at: i64 = redis::cmd("PEXPIRETIME").arg(&key).query_async(&mut conn).await.expect("pexpiretime");
        out.insert(key.strip_prefix(&prefix).expect("under the prefix").to_string(), at);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_ended_chat_expires_whole_and_a_pass_forgets_it_and_settled_offline_messages() {
    let Some(server) = redis_server() else { return };
    let retention = 3_600_000;
    let policy = ChatPolicy { retention_ms: retention, ..ChatPolicy::default() };
    let node = node(server.1, &policy).await;
    let amina = user("g-amina", Role::Agent);
    let status = DeskCommand::Status { availability: Availability::Available, languages: Some(vec![ChatLang::En]) };
    node.desk_command(&amina, status).await.expect("status");
    let (citizen, other) = (user("c-1", Role::Citizen), user("c-2", Role::Citizen));
    let id = node.start(&citizen, form(&node), &|| Ok(())).await.expect("start").chat;
    let open = node.start(&other, form(&node), &|| Ok(())).await.expect("start").chat;
    let send = ChatCommand::Send { text: "Hello".into(), client_msg_id: Some("m-1".into()) };
    node.chat_command(id, &citizen, send, &|| Ok(())).await.expect("send");
    node.desk_command(&citizen, DeskCommand::End { chat: id }).await.expect("end");
    let ended_at = node.header(id).await.expect("read").expect("kept").ended_at.expect("ended");
    let expires = i64::try_from(ended_at + retention).expect("ms");
    let all_expire = |found: &std::collections::BTreeMap<String, i64>| {
        assert!(found.keys().all(|k| keys::CHAT_PARTS.contains(&k.as_str())), "a key the layout misses: {found:?}");
        assert!(found.values().all(|at| *at == expires), "{found:?}");
    };
    all_expire(&expiries(&node, id).await);
    // Later commits on the ended chat: a wrap-up note makes its first `:notes` key, a rating SETs the header.
    let note = ChatCommand::Note { text: "Wrap-up".into(), client_msg_id: Some("n-1".into()) };
    node.chat_command(id, &amina, note, &|| Ok(())).await.expect("note");
    node.chat_command(id, &citizen, ChatCommand::Rate { score: 5, comment: None }, &|| Ok(())).await.expect("rate");
    // A receipt rewrites the header in its own script, which must keep the header's expiry.
    let last = node.header(id).await.expect("read").expect("kept").last_seq;
    let receipt = ChatCommand::Receipt { delivered: None, read: Some(last) };
    node.chat_command(id, &citizen, receipt, &|| Ok(())).await.expect("receipt");
    let found = expiries(&node, id).await;
    assert_eq!(found.len(), keys::CHAT_PARTS.len(), "every part exists by now: {found:?}");
    all_expire(&found);
    assert!(expiries(&node, open).await.values().all(|at| *at == -1), "an open chat never expires");

    let kept = node.submit_offline(&citizen, offline("Still open"), &|| Ok(())).await.expect("submitted").message.id;
    let closed = node.submit_offline(&other, offline("Closed"), &|| Ok(())).await.expect("submitted").message.id;
    let closed_at = node.settle_offline(&amina, closed, None).await.expect("closed").closed_at.expect("closed");

    assert_eq!(node.forget_expired(ended_at + retention - 1).await.expect("pass"), Forgotten::default());
    let later = ended_at.max(closed_at) + retention;
    assert_eq!(node.forget_expired(later).await.expect("pass"), Forgotten { chats: 1, offline: 1 });
    assert!(node.header(id).await.expect("read").is_none());
    assert!(expiries(&node, id).await.is_empty(), "its keys went with it");
    let report = node.report(0, u64::MAX).await.expect("report");
    assert_eq!(report.chats, 1, "only the open chat is counted: {report:?}");
    let inbox: Vec<_> = node.offline_messages().await.expect("inbox").iter().map(|m| m.id).collect();
    assert_eq!(inbox, vec![kept]);
    let paged: Vec<_> = node.offline_page(None, None, 100).await.expect("a page").iter().map(|m| m.id).collect();
    assert_eq!(paged, vec![kept], "a forgotten message leaves the inbox's index too");
    let indexed: usize =
        redis::cmd("ZCARD").arg(keys::desk("offline:ids")).query_async(&mut node.redis.conn()).await.expect("ZCARD");
    assert_eq!(indexed, 1);
    // Open ones are never forgotten, however old.
    assert_eq!(node.forget_expired(later + 100 * retention).await.expect("pass"), Forgotten::default());
    assert!(node.header(open).await.expect("read").is_some());
}

fn offline(text: &str) -> OfflineForm {
    OfflineForm {
        category: Category::Other,
        lang: ChatLang::En,
        name: None,
        contact: "x@example.bh".into(),
        text: text.into(),
        client_msg_id: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offline_inbox_pages_newest_first_by_status_and_indexes_messages_stored_before_its_index() {
    let Some(server) = redis_server() else { return };
    let node = node(server.1, &ChatPolicy::default()).await;
    let amina = user("g-amina", Role::Agent);
    let mut ids = vec![];
    for n in 0..7 {
        let citizen = user(&format!("c-{n}"), Role::Citizen);
        let left = node.submit_offline(&citizen, offline(&format!("Message {n}")), &|| Ok(())).await.expect("left");
        ids.push(left.message.id);
    }
    node.settle_offline(&amina, ids[1], None).await.expect("closed");
    node.settle_offline(&amina, ids[4], Some("Done.".into())).await.expect("answered");
    let page = |status: Option<OfflineStatus>, before: Option<u64>, limit: usize| {
        let node = &node;
        async move {
            let page = node.offline_page(status, before, limit).await.expect("a page");
            page.iter().map(|m| m.id).collect::<Vec<_>>()
        }
    };
    let newest_first: Vec<u64> = ids.iter().rev().copied().collect();
    assert_eq!(page(None, None, 100).await, newest_first);
    assert_eq!(page(None, Some(ids[5]), 3).await, [ids[4], ids[3], ids[2]]);
    assert_eq!(page(Some(OfflineStatus::Open), None, 3).await, [ids[6], ids[5], ids[3]]);
    assert_eq!(page(Some(OfflineStatus::Open), Some(ids[3]), 100).await, [ids[2], ids[0]]);
    assert_eq!(page(Some(OfflineStatus::Closed), None, 100).await, [ids[1]]);
    assert_eq!(page(Some(OfflineStatus::Answered), Some(ids[6]), 1).await, [ids[4]]);

    // An inbox stored before the index existed: the next page indexes it and shows all of it.
    let mut conn = node.redis.conn();
    let index = keys::desk("offline:ids");
    let _: () = redis::cmd("DEL").arg(&index).query_async(&mut conn).await.expect("DEL");
    assert_eq!(page(None, None, 100).await, newest_first);
    let indexed: usize = redis::cmd("ZCARD").arg(&index).query_async(&mut conn).await.expect("ZCARD");
    assert_eq!(indexed, ids.len());
}

/// Script calls and bytes Redis has sent, from its own counters.
async fn redis_work(node: &RedisChat) -> (u64, u64) {
    let mut conn = node.redis.conn();
    let info: String = redis::cmd("INFO").arg("all").query_async(&mut conn).await.expect("INFO");
    let field = |prefix: &str, end: char| {
        let at = info.find(prefix).map(|i| i + prefix.len()).expect("an INFO field");
        info[at..].split(end).next().and_then(|n| n.trim().parse::<u64>().ok()).expect("a number")
    };
    (field("cmdstat_evalsha:calls=", ','), field("total_net_output_bytes:", '\n'))
}

/// A guard on the hot path's shape, counted rather than timed (a timing flaked on a busy machine): a message
/// costs one script call and the same bytes out of Redis, whatever the chat already holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_costs_the_same_in_a_long_chat() {
    let Some(server) = redis_server() else { return };
    let policy = ChatPolicy { max_messages: 5_000, ..ChatPolicy::default() };
    let node = node(server.1, &policy).await;
    let amina = user("g-amina", Role::Agent);
    let status = DeskCommand::Status { availability: Availability::Available, languages: Some(vec![ChatLang::En]) };
    node.desk_command(&amina, status).await.expect("status");
    let citizen = user("c-1", Role::Citizen);
    let id = node.start(&citizen, form(&node), &|| Ok(())).await.expect("start").chat;
    const PER_ROUND: u64 = 100;
    let mut rounds = vec![];
    for round in 0..3 {
        let (calls, bytes) = redis_work(&node).await;
        for i in 0..PER_ROUND {
            let send =
                ChatCommand::Send { text: format!("m {round} {i}"), client_msg_id: Some(format!("{round}-{i}")) };
            node.chat_command(id, &citizen, send, &|| Ok(())).await.expect("send");
        }
        let (calls_after, bytes_after) = redis_work(&node).await;
        rounds.push(((calls_after - calls) as f64 / PER_ROUND as f64, (bytes_after - bytes) / PER_ROUND));
    }
    for (calls, _) in &rounds {
        assert!((1.0..1.1).contains(calls), "script calls per message: {rounds:?}");
    }
    let (first, last) = (rounds[0].1, rounds[2].1);
    assert!(last < first + first / 4, "a message read more as the chat grew (bytes per message): {rounds:?}");
}

/// What `who`'s command in chat `id` answered, and how many script calls it took.
async fn mark_in(node: &RedisChat, id: ChatId, who: &User, command: ChatCommand) -> (Result<ChatReply>, u64) {
    let (calls, _) = redis_work(node).await;
    let reply = node.chat_command(id, who, command, &|| Ok(())).await;
    let (after, _) = redis_work(node).await;
    (reply, after - calls)
}

/// The receipt's own script: one call each, the header and both sides' answers as the rules have them (never
/// back, read raises delivered), and whatever the script does not take (someone else's receipt, a seq beyond
/// the last) still answered by the rules.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_receipt_is_one_script_call_and_answers_as_the_rules_do() {
    let Some(server) = redis_server() else { return };
    let node = node(server.1, &ChatPolicy::default()).await;
    let amina = user("g-amina", Role::Agent);
    let status = DeskCommand::Status { availability: Availability::Available, languages: Some(vec![ChatLang::En]) };
    node.desk_command(&amina, status).await.expect("status");
    let citizen = user("c-1", Role::Citizen);
    let id = node.start(&citizen, form(&node), &|| Ok(())).await.expect("start").chat;
    for text in ["One", "Two"] {
        let send = ChatCommand::Send { text: text.into(), client_msg_id: None };
        node.chat_command(id, &citizen, send, &|| Ok(())).await.expect("send");
    }
    let last = node.header(id).await.expect("read").expect("there").last_seq;
    let receipt = |delivered: Option<u64>, read: Option<u64>| ChatCommand::Receipt { delivered, read };
    let mark = async |who: &User, command: ChatCommand| mark_in(&node, id, who, command).await;
    // The first call of a script Redis has not seen yet is two (EVALSHA, refused, then the script).
    node.chat_command(id, &citizen, receipt(Some(1), None), &|| Ok(())).await.expect("first receipt");
    let (reply, calls) = mark(&citizen, receipt(None, Some(last - 1))).await;
    let Ok(ChatReply::Receipts(r)) = reply else { panic!("receipts: {reply:?}") };
    assert_eq!(
        ((r.citizen.delivered, r.citizen.read), (r.agent.delivered, r.agent.read)),
        ((last - 1, last - 1), (0, 0))
    );
    assert_eq!(calls, 1, "one script");
    let (reply, calls) = mark(&amina, receipt(Some(last), None)).await;
    let Ok(ChatReply::Receipts(r)) = reply else { panic!("receipts: {reply:?}") };
    assert_eq!(
        ((r.citizen.delivered, r.citizen.read), (r.agent.delivered, r.agent.read)),
        ((last - 1, last - 1), (last, 0))
    );
    assert_eq!(calls, 1);
    let (reply, _) = mark(&citizen, receipt(Some(1), Some(1))).await;
    let Ok(ChatReply::Receipts(r)) = reply else { panic!("receipts: {reply:?}") };
    assert_eq!((r.citizen.delivered, r.citizen.read), (last - 1, last - 1), "never back");
    let stored = node.header(id).await.expect("read").expect("there").receipts;
    assert_eq!(stored, r, "the header holds what was answered");

    let (reply, _) = mark(&citizen, receipt(None, Some(last + 1))).await;
    assert_eq!(reply.expect_err("beyond the last").code, crate::error::ErrorCode::BadRequest);
    let (reply, _) = mark(&citizen, receipt(None, None)).await;
    assert_eq!(reply.expect_err("nothing given").code, crate::error::ErrorCode::BadRequest);
    let (reply, _) = mark(&user("c-2", Role::Citizen), receipt(None, Some(1))).await;
    assert_eq!(reply.expect_err("another's chat").code, crate::error::ErrorCode::Forbidden);
    let (reply, _) = mark(&user("g-omar", Role::Agent), receipt(None, Some(1))).await;
    assert_eq!(reply.expect_err("not his chat").code, crate::error::ErrorCode::Forbidden);
    let (reply, _) = mark(&user("a-admin", Role::Admin), receipt(None, Some(1))).await;
    assert_eq!(reply.expect_err("a supervisor").code, crate::error::ErrorCode::Forbidden);
    assert_eq!(node.header(id).await.expect("read").expect("there").receipts, stored, "refusals changed nothing");

    // A sub with a character JSON escapes is never matched in the header's text: the rules take it.
    let quoted = user("c-\"q\\", Role::Citizen);
    let id = node.start(&quoted, form(&node), &|| Ok(())).await.expect("start").chat;
    let (reply, calls) = mark_in(&node, id, &quoted, receipt(Some(1), None)).await;
    let Ok(ChatReply::Receipts(r)) = reply else { panic!("receipts: {reply:?}") };
    assert_eq!((r.citizen.delivered, calls), (1, 3), "the script declined, then the common way: load and commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a measurement: cargo test -p majlis-server --lib starts_per_second -- --ignored --nocapture"]
async fn starts_per_second() {
    let Some(server) = redis_server() else { return };
    let policy = ChatPolicy { max_queue_per_lang: 10_000, default_agent_cap: 20, ..ChatPolicy::default() };
    let nodes = Arc::new([node(server.1, &policy).await, node(server.1, &policy).await, node(server.1, &policy).await]);
    for i in 0..500 {
        let status = DeskCommand::Status { availability: Availability::Available, languages: Some(vec![ChatLang::En]) };
        nodes[i % 3].desk_command(&user(&format!("g-{i}"), Role::Agent), status).await.expect("status");
    }
    let started = std::time::Instant::now();
    let mut tasks = vec![];
    for i in 0..300 {
        let nodes = Arc::clone(&nodes);
        tasks.push(tokio::spawn(async move {
            let node = &nodes[i % 3];
            node.start(&user(&format!("c-{i}"), Role::Citizen), form(node), &|| Ok(())).await.expect("start")
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    eprintln!("300 starts in {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn starts_that_share_a_desk_commit_each_get_their_own_answer() {
    let Some(server) = redis_server() else { return };
    let policy = ChatPolicy { default_agent_cap: 2, ..ChatPolicy::default() };
    let node = Arc::new(node(server.1, &policy).await);
    let status = DeskCommand::Status { availability: Availability::Available, languages: Some(vec![ChatLang::En]) };
    node.desk_command(&user("g-0", Role::Agent), status).await.expect("status");
    // Twelve at once: c-0 twice, c-1 over its start limit, an agent, and eight who may start.
    let who: Vec<(User, bool)> = [("c-0", true), ("c-0", true), ("c-1", false), ("g-9", true)]
        .into_iter()
        .map(|(sub, admitted)| (user(sub, if sub.starts_with('g') { Role::Agent } else { Role::Citizen }), admitted))
        .chain((2..10).map(|i| (user(&format!("c-{i}"), Role::Citizen), true)))
        .collect();
    let tasks: Vec<_> = who
        .into_iter()
        .map(|(actor, admitted)| {
            let node = Arc::clone(&node);
            tokio::spawn(async move {
                let admit = move || if admitted { Ok(()) } else { Err(Error::rate_limited(1000, "Too many starts.")) };
                (actor.sub.clone(), node.start(&actor, form(&node), &admit).await.map(|s| s.chat))
            })
        })
        .collect();
    let mut answers = vec![];
    for task in tasks {
        answers.push(task.await.expect("task"));
    }
    let refused = |sub: &str| {
        answers
            .iter()
            .filter(|(s, a)| s == sub && a.is_err())
            .map(|(_, a)| a.clone().unwrap_err().code)
            .collect::<Vec<_>>()
    };
    assert_eq!(refused("c-0"), [crate::error::ErrorCode::Conflict], "one open chat each: the second is refused");
    assert_eq!(refused("c-1"), [crate::error::ErrorCode::RateLimited]);
    assert_eq!(refused("g-9"), [crate::error::ErrorCode::Forbidden]);
    let mut ids: Vec<u64> = answers.iter().filter_map(|(_, a)| a.as_ref().ok().copied()).collect();
    assert_eq!(ids.len(), 9, "c-0 once and c-2..c-9: {answers:?}");
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 9, "every chat its own id");
    let desk = node.read_desk(&Reach { all: true, ..Reach::default() }).await.expect("desk").desk;
    desk.check().expect("the desk is consistent");
    assert_eq!((desk.open.len(), desk.agents["g-0"].chats.len(), desk.queues.en.len()), (9, 2, 7));
    let (starts, batches) = (node.metrics.chat_starts.load(Relaxed), node.metrics.chat_start_batches.load(Relaxed));
    assert_eq!(starts, 12);
    assert!(batches < starts, "starts that came together shared desk turns: {batches} turns for {starts}");
}

/// The frames chat `id`'s `room` holds, oldest first.
async fn room_frames(node: &RedisChat, room: crate::chat::rooms::ChatRoom) -> Vec<serde_json::Value> {
    let (prefix, tag) = keys::room(&room).expect("a chat room");
    let mut conn = node.redis.conn();
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(format!("{prefix}:r:{tag}:log"))
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .expect("XRANGE");
    entries.into_iter().map(|(_, fields)| serde_json::from_str(&fields[0].1).expect("a JSON frame")).collect()
}

/// The message's own script: one call, and the header, the stored message, its index entry and both rooms'
/// frames as the rules would have them (the citizen's name from the header, the seq in its place even when the
/// text holds the placeholders); whatever the script does not take (a retry, a name JSON escapes, someone
/// else's chat, an ended chat, the cap) still answered by the rules.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_is_one_script_call_and_is_stored_and_sent_as_the_rules_have_it() {
    use crate::chat::rooms::ChatRoom;
    use crate::error::ErrorCode;
    let Some(server) = redis_server() else { return };
    let node = node(server.1, &ChatPolicy { max_messages: 3, ..ChatPolicy::default() }).await;
    let amina = user("g-amina", Role::Agent);
    let status = DeskCommand::Status { availability: Availability::Available, languages: Some(vec![ChatLang::En]) };
    node.desk_command(&amina, status).await.expect("status");
    let citizen = user("c-1", Role::Citizen);
    let named = StartForm { name: Some("سارة Sara".into()), ..form(&node) };
    let id = node.start(&citizen, named, &|| Ok(())).await.expect("start").chat;
    let send = |text: &str, cmid: Option<&str>| ChatCommand::Send {
        text: text.into(),
        client_msg_id: cmid.map(str::to_string),
    };
    // The first call of a script Redis has not seen yet is two (EVALSHA, refused, then the script).
    node.chat_command(id, &citizen, send("first", None), &|| Ok(())).await.expect("first");
    let before = node.header(id).await.expect("read").expect("there");

    let tricky = "18446744073709551615 \"@@mj:citizen-name@@\" 18446744073709551615";
    let (reply, calls) = mark_in(&node, id, &citizen, send(&format!("  {tricky} "), Some("m-1"))).await;
    let Ok(ChatReply::Sent { message, duplicate: false }) = reply else { panic!("sent: {reply:?}") };
    assert_eq!(calls, 1, "one script");
    assert_eq!(message.seq, before.last_seq + 1);
    let Body::Text { from, sub, name, text, client_msg_id } = &message.body else { panic!("{message:?}") };
    assert_eq!((*from, sub.as_str(), name.as_deref()), (Side::Citizen, "c-1", Some("سارة Sara")));
    assert_eq!((text.as_str(), client_msg_id.as_deref()), (tricky, Some("m-1")), "trimmed as the rules trim");
    let state = node.chat_state(id).await.expect("state");
    assert_eq!(state.messages.get(&message.seq), Some(&message), "stored as answered");
    let expected = Chat { last_seq: before.last_seq + 1, texts: before.texts + 1, ..before.clone() };
    assert_eq!(state.chat, expected, "the header moved on by one message and nothing else");
    for (room, staff) in [(ChatRoom::Citizen(id), false), (ChatRoom::Staff(id), true)] {
        let frames = room_frames(&node, room).await;
        let last = &frames.last().expect("a frame")["data"];
        assert_eq!(last["seq"], message.seq, "{last}");
        assert_eq!((last["name"].as_str(), last["text"].as_str()), (Some("سارة Sara"), Some(tricky)));
        assert_eq!(last.get("sub").is_some(), staff, "only staff see the sub: {last}");
    }

    // A retry is the rules' (the script declines, then the load): answered with what it made.
    let reply = node.chat_command(id, &citizen, send(tricky, Some("m-1")), &|| Ok(())).await;
    let Ok(ChatReply::Sent { message: again, duplicate: true }) = reply else { panic!("retry: {reply:?}") };
    assert_eq!(again, message);
    assert_eq!(node.header(id).await.expect("read").expect("there").texts, before.texts + 1, "nothing added");
    let (reply, calls) = mark_in(&node, id, &amina, send("Hello Sara", Some("a-1"))).await;
    let Ok(ChatReply::Sent { message, .. }) = reply else { panic!("agent: {reply:?}") };
    let Body::Text { name, .. } = &message.body else { panic!("{message:?}") };
    assert_eq!((name.as_deref(), calls), (Some("g-amina"), 1));

    let (reply, _) = mark_in(&node, id, &user("c-2", Role::Citizen), send("hi", None)).await;
    assert_eq!(reply.expect_err("another's chat").code, ErrorCode::Forbidden);
    let (reply, _) = mark_in(&node, id, &user("g-omar", Role::Agent), send("hi", None)).await;
    assert_eq!(reply.expect_err("not his chat").code, ErrorCode::Forbidden);
    let (reply, _) = mark_in(&node, id, &user("a-admin", Role::Admin), send("hi", None)).await;
    assert_eq!(reply.expect_err("a supervisor writes notes").code, ErrorCode::Forbidden);
    let (reply, _) = mark_in(&node, id, &citizen, send("one too many", None)).await;
    assert_eq!(reply.expect_err("the cap").code, ErrorCode::Conflict);
    assert_eq!(node.header(id).await.expect("read").expect("there").texts, 3, "refusals changed nothing");

    // A name JSON escapes is never spliced: the rules take it; an ended chat takes nothing.
    let quoted = user("c-3", Role::Citizen);
    let quoted_form = StartForm { name: Some("Sa\"ra".into()), ..form(&node) };
    let id = node.start(&quoted, quoted_form, &|| Ok(())).await.expect("start").chat;
    let (reply, calls) = mark_in(&node, id, &quoted, send("hi", None)).await;
    let Ok(ChatReply::Sent { message, .. }) = reply else { panic!("sent: {reply:?}") };
    let Body::Text { name, .. } = &message.body else { panic!("{message:?}") };
    assert_eq!((name.as_deref(), calls), (Some("Sa\"ra"), 3), "declined, then load and commit");
    // Nor a sub that holds the name's placeholder (it comes first in the staff's frame).
    let odd = user("@@mj:citizen-name@@", Role::Citizen);
    let form_odd = StartForm { name: Some("Odd".into()), ..form(&node) };
    let odd_chat = node.start(&odd, form_odd, &|| Ok(())).await.expect("start").chat;
    let (reply, calls) = mark_in(&node, odd_chat, &odd, send("hi", None)).await;
    let Ok(ChatReply::Sent { message, .. }) = reply else { panic!("sent: {reply:?}") };
    let Body::Text { sub, name, .. } = &message.body else { panic!("{message:?}") };
    assert_eq!((sub.as_str(), name.as_deref(), calls), ("@@mj:citizen-name@@", Some("Odd"), 2), "the rules'");
    node.desk_command(&quoted, DeskCommand::End { chat: id }).await.expect("end");
    let (reply, _) = mark_in(&node, id, &quoted, send("still there?", None)).await;
    assert_eq!(reply.expect_err("ended").code, ErrorCode::Conflict);
}
