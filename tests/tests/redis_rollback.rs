//! Redis rolled back to an older append-only file under load, as after a machine crash that lost the last writes
//! (what `appendfsync everysec` allows): three nodes, asks and votes through every node, a viewer and a moderator
//! on every node. Afterwards no client may keep a question Redis no longer has, no id may name two questions,
//! the loss gives exactly one new epoch (however many nodes notice it), and every client ends on the state a
//! fresh snapshot shows. Starts its own `redis-server` (see `majlis_tests::redis`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU8, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use majlis_server::auth::Role;
use majlis_tests::redis::Cluster;
use majlis_tests::{generous, id_of, Client, Ws, WAIT};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

/// Questions asked in each phase before the next step.
const PER_PHASE: usize = 30;
/// Before the copy of the AOF, between the copy and the restart (these are lost), after the restart.
const BEFORE: u8 = 0;
const LOST: u8 = 1;
const AFTER: u8 = 2;

/// Every id → question text that any ack, snapshot or event showed: an id seen with two texts was reused.
#[derive(Default)]
struct Ledger {
    texts: Mutex<HashMap<u64, String>>,
    conflicts: Mutex<Vec<String>>,
}

impl Ledger {
    fn saw(&self, id: u64, text: &str, source: &str) {
        let mut texts = self.texts.lock().expect("ledger");
        match texts.get(&id) {
            Some(known) if known != text => {
                let conflict = format!("{source}: id {id} is {text:?}, was {known:?}");
                self.conflicts.lock().expect("conflicts").push(conflict);
            }
            Some(_) => {}
            None => {
                texts.insert(id, text.to_string());
            }
        }
    }
}

/// An acknowledged question, and the phase when its ask was sent and acknowledged.
struct Asked {
    id: u64,
    sent: u8,
    acked: u8,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_older_aof_under_load_leaves_no_lost_question_with_any_client_and_no_id_reused() {
    let mut cluster = Cluster::start(3, |c| {
        generous(c);
        c.redis_timeout_ms = 1000;
    })
    .await;
    let b = cluster.broadcast().await;
    let rooms = [format!("broadcast:{b}"), format!("broadcast:{b}:moderation")];
    let ledger = Arc::new(Ledger::default());
    let phase = Arc::new(AtomicU8::new(BEFORE));

    let (done_tx, done_rx) = watch::channel(None::<BTreeMap<String, (String, u64)>>);
    let mut followers = vec![];
    for (n, node) in cluster.nodes.iter().enumerate() {
        for (role, room) in [(Role::Citizen, &rooms[0]), (Role::Moderator, &rooms[1])] {
            let f = Follower { node: n, url: node.ws_url(), token: node.token(role, "Follower"), room: room.clone() };
            followers.push(tokio::spawn(f.follow(Arc::clone(&ledger), done_rx.clone())));
        }
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let asked = Arc::new(Mutex::new(Vec::<Asked>::new()));
    let mut writers = vec![];
    for (n, node) in cluster.nodes.iter().enumerate() {
        let writer = Writer { node: n, url: node.ws_url(), token: node.token(Role::Citizen, "Asker"), broadcast: b };
        let shared = (Arc::clone(&ledger), Arc::clone(&phase), Arc::clone(&asked));
        writers.push(tokio::spawn(writer.write(shared, stop_rx.clone())));
    }

    let count = |which: fn(&Asked) -> bool| asked.lock().expect("asked").iter().filter(|a| which(a)).count();
    wait_until("questions before the copy", || count(|a| a.acked == BEFORE) >= PER_PHASE).await;
    phase.store(LOST, SeqCst);
    let copy = cluster.redis.copy_aof();
    wait_until("questions after the copy", || count(|a| a.sent == LOST && a.acked == LOST) >= PER_PHASE).await;
    // The crash: Redis comes back with the copy, without the questions acknowledged since.
    cluster.redis.restart_from(&copy);
    phase.store(AFTER, SeqCst);
    wait_until("questions after the restart", || count(|a| a.sent == AFTER) >= PER_PHASE).await;
    stop_tx.send(true).expect("writers listen");
    for w in writers {
        w.await.expect("writer");
    }

    // The final state, as a fresh client of each room sees it.
    let mut finals = BTreeMap::new();
    let mut fresh = BTreeMap::new();
    for (room, role) in rooms.iter().zip([Role::Citizen, Role::Moderator]) {
        let mut c = cluster.nodes[0].client(role, "Checker").await;
        let snapshot = c.join(room).await;
        finals.insert(room.clone(), (text(&snapshot["epoch"]), snapshot["seq"].as_u64().expect("seq")));
        fresh.insert(room.clone(), questions_of(&snapshot));
    }
    done_tx.send(Some(finals.clone())).expect("followers listen");
    let mut epochs = BTreeSet::new();
    for f in followers {
        let (node, room, seen) = f.await.expect("follower");
        let tag = format!("the {room} follower on node {node}");
        assert_eq!(seen.closes, vec![4010], "{tag} was closed once, to resync");
        assert_eq!(seen.resumed, vec![false], "{tag} resumed an old position");
        assert_eq!(seen.state, fresh[&room], "{tag} kept another state than a fresh snapshot");
        epochs.extend(seen.epochs);
    }

    let conflicts = ledger.conflicts.lock().expect("conflicts").clone();
    assert!(conflicts.is_empty(), "ids reused: {conflicts:#?}");
    assert_eq!(epochs.len(), 2, "one loss, one new epoch: {epochs:?}");
    let final_epoch = &finals[&rooms[0]].0;
    assert!(epochs.contains(final_epoch));
    assert_eq!(cluster.redis.generation().as_ref(), Some(final_epoch));
    let old_epoch = epochs.iter().find(|e| *e != final_epoch).expect("the epoch before").clone();
    // No node resumes a position from before the loss.
    for node in &cluster.nodes {
        let mut c = node.citizen("Late").await;
        let join = json!({"type": "join", "room": rooms[0], "since": {"epoch": old_epoch, "seq": 0}});
        assert_eq!(c.ok(join).await["recovered"], false);
    }

    let asked = std::mem::take(&mut *asked.lock().expect("asked"));
    let listed: BTreeSet<u64> = fresh[&rooms[1]].keys().copied().collect();
    for a in &asked {
        if (a.sent == BEFORE && a.acked == BEFORE) || a.sent == AFTER {
            assert!(listed.contains(&a.id), "question {} (sent in phase {}) was lost", a.id, a.sent);
        }
    }
    let lost = asked.iter().filter(|a| !listed.contains(&a.id)).count();
    assert!(lost > 0, "the rollback lost nothing: the test tested nothing");
    eprintln!("{} questions acknowledged, {lost} lost in the rollback, no id reused", asked.len());
}

/// Waits (bounded) until `ready` holds.
async fn wait_until(what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + 3 * WAIT;
    while !ready() {
        assert!(Instant::now() < deadline, "no {what} in time");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_string()
}

/// A snapshot's questions: id → (text, votes).
fn questions_of(snapshot: &Value) -> BTreeMap<u64, (String, u64)> {
    let questions = snapshot["data"]["questions"].as_array().expect("questions");
    questions.iter().map(|q| (id_of(q), (text(&q["text"]), q["votes"].as_u64().unwrap_or_default()))).collect()
}

/// Asks and votes through one node until told to stop; un-acknowledged asks are sent again with the same
/// client id, as the protocol says, through the outage.
struct Writer {
    node: usize,
    url: String,
    token: String,
    broadcast: u64,
}

impl Writer {
    async fn write(
        self,
        (ledger, phase, asked): (Arc<Ledger>, Arc<AtomicU8>, Arc<Mutex<Vec<Asked>>>),
        stop: watch::Receiver<bool>,
    ) {
        let mut c = Client::connect(&self.url).await;
        c.ok(json!({"type": "auth", "token": self.token})).await;
        let mut n = 0;
        while !*stop.borrow() {
            n += 1;
            let text = format!("Question {n} from node {}", self.node);
            let ask = json!({"type": "ask", "broadcast": self.broadcast, "text": text, "client_msg_id": format!("{}-{n}", self.node)});
            let sent = phase.load(SeqCst);
            let question = until_taken(&mut c, ask).await["question"].clone();
            let acked = phase.load(SeqCst);
            let id = id_of(&question);
            ledger.saw(id, &text, "an ack");
            asked.lock().expect("asked").push(Asked { id, sent, acked });
            let vote = json!({"type": "vote", "broadcast": self.broadcast, "question": id, "value": true});
            if let Err(refusal) = c.request(vote).await {
                // The question may be one the rollback lost, or Redis may be away.
                assert!(["unavailable", "not_found"].contains(&refusal.code.as_str()), "vote: {:?}", refusal.frame);
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

/// Sends `command` until it is taken (it is answered `unavailable` while Redis is away).
async fn until_taken(c: &mut Client, command: Value) -> Value {
    let deadline = Instant::now() + 2 * WAIT;
    loop {
        match c.request(command.clone()).await {
            Ok(result) => return result,
            Err(r) if r.code == "unavailable" && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(r) => panic!("{} refused: {:?}", command["type"], r.frame),
        }
    }
}

/// A client that follows one room through everything, reconnecting and resuming (`since`) whenever it is closed,
/// as the protocol says.
struct Follower {
    node: usize,
    url: String,
    token: String,
    room: String,
}

/// What a follower saw: its final state, every epoch, its close codes, and whether each resume recovered.
#[derive(Default)]
struct Seen {
    state: BTreeMap<u64, (String, u64)>,
    epoch: String,
    seq: u64,
    epochs: BTreeSet<String>,
    closes: Vec<u16>,
    resumed: Vec<bool>,
}

impl Follower {
    async fn follow(
        self,
        ledger: Arc<Ledger>,
        mut done: watch::Receiver<Option<BTreeMap<String, (String, u64)>>>,
    ) -> (usize, String, Seen) {
        let mut seen = Seen::default();
        let mut ws = self.connect().await;
        let mut join = json!({"type": "join", "id": "join", "room": self.room});
        send(&mut ws, &join).await;
        loop {
            if let Some(finals) = done.borrow().as_ref() {
                let (epoch, seq) = &finals[&self.room];
                if seen.epoch == *epoch && seen.seq >= *seq {
                    return (self.node, self.room, seen);
                }
            }
            let message = tokio::select! {
                m = tokio::time::timeout(WAIT, ws.next()) => m.expect("a frame in time"),
                _ = done.changed() => continue,
            };
            let frame: Value = match message {
                Some(Ok(Message::Text(text))) => serde_json::from_str(&text).expect("JSON"),
                Some(Ok(Message::Close(close))) => {
                    seen.closes.push(close.map(|c| c.code.into()).unwrap_or(1005));
                    ws = self.connect().await;
                    join = json!({"type": "join", "id": "resume", "room": self.room,
                        "since": {"epoch": seen.epoch, "seq": seen.seq}});
                    send(&mut ws, &join).await;
                    continue;
                }
                Some(Ok(_)) => continue,
                other => panic!("the {} follower's connection failed without a close: {other:?}", self.room),
            };
            match frame["type"].as_str() {
                Some("snapshot") if frame["room"] == self.room.as_str() => {
                    seen.state = questions_of(&frame);
                    for (id, (text, _)) in &seen.state {
                        ledger.saw(*id, text, "a snapshot");
                    }
                    seen.epoch = text(&frame["epoch"]);
                    seen.seq = frame["seq"].as_u64().expect("seq");
                    seen.epochs.insert(seen.epoch.clone());
                }
                Some("event") if frame["room"] == self.room.as_str() => {
                    assert_eq!(frame["seq"].as_u64(), Some(seen.seq + 1), "gap or repeat at {}: {frame}", self.room);
                    seen.seq += 1;
                    apply(&mut seen.state, &frame, &ledger);
                }
                Some("ack") if frame["id"] == "resume" => seen.resumed.push(frame["result"]["recovered"] == true),
                Some("error") if frame["code"] == "unavailable" => {
                    // Redis is away: join again in a moment.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    send(&mut ws, &join).await;
                }
                Some("error") => panic!("the {} follower was refused: {frame}", self.room),
                _ => {}
            }
        }
    }

    async fn connect(&self) -> Ws {
        let mut c = Client::connect(&self.url).await;
        c.ok(json!({"type": "auth", "token": self.token})).await;
        c.ws
    }
}

async fn send(ws: &mut Ws, command: &Value) {
    ws.send(Message::text(command.to_string())).await.expect("send");
}

/// Applies one event to a follower's questions (id → text, votes).
fn apply(state: &mut BTreeMap<u64, (String, u64)>, event: &Value, ledger: &Ledger) {
    let data = &event["data"];
    match event["kind"].as_str() {
        Some("question") => {
            let (id, text) = (id_of(data), text(&data["text"]));
            ledger.saw(id, &text, "an event");
            state.insert(id, (text, data["votes"].as_u64().unwrap_or_default()));
        }
        Some("votes") => {
            if let Some(q) = state.get_mut(&id_of(data)) {
                q.1 = data["votes"].as_u64().unwrap_or_default();
            }
        }
        Some("question_removed") => {
            state.remove(&id_of(data));
        }
        _ => {}
    }
}
