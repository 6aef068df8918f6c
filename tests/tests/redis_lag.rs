//! A Redis-mode node that falls behind its rooms' events sheds viewers on purpose (4008) instead of falling
//! further behind, and never closes a client that only sends commands. Starts its own `redis-server` (see
//! `majlis_tests::redis`).
//!
//! Falling behind for real takes more audience than a test can afford, so the events here are published the way
//! the store's scripts publish them (next seq, history entry, message stamped with Redis time and generation),
//! stamped as if they had waited ten seconds on the way.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use majlis_tests::redis::{Cluster, RedisServer};
use majlis_tests::{events_of, generous, Client};

const VIEWERS: usize = 40;

/// Publishes a `pinned` event to the broadcast's public room as the scripts do, stamped `at_ms`.
fn publish_stamped(redis: &RedisServer, broadcast: u64, at_ms: u64) {
    const SCRIPT: &str = r#"
local seq = redis.call('INCR', KEYS[1])
local frame = ARGV[1] .. seq .. ARGV[2]
redis.call('XADD', KEYS[2], 'MAXLEN', 1000, seq .. '-0', 'f', frame)
redis.call('PUBLISH', KEYS[3], ARGV[3] .. ' ' .. ARGV[4] .. ' ' .. frame)
return seq
"#;
    let base = format!("mj:{{b:{broadcast}}}:r:pub");
    let head = format!(r#"{{"type":"event","room":"broadcast:{broadcast}","seq":"#);
    let tail = r#","kind":"pinned","data":{"id":null}}"#;
    let generation = redis.generation().expect("a generation");
    let (seq, log, channel) = (format!("{base}:seq"), format!("{base}:log"), format!("{base}:ch"));
    let at = at_ms.to_string();
    let reply = redis.command(&["EVAL", SCRIPT, "3", &seq, &log, &channel, &head, tail, &at, &generation]);
    assert!(reply.is_some_and(|r| r.starts_with(':')), "publishing a stamped event");
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_behind_its_rooms_sheds_a_growing_share_of_viewers_but_never_a_client_that_only_sends_commands() {
    let cluster = Cluster::start(1, |c| {
        generous(c);
        c.max_lag_ms = 500;
    })
    .await;
    let node = &cluster.nodes[0];
    let b = cluster.broadcast().await;
    let room = format!("broadcast:{b}");
    let mut viewers = Vec::with_capacity(VIEWERS);
    for _ in 0..VIEWERS {
        let mut v = node.citizen("Viewer").await;
        let seq = v.join(&room).await["seq"].as_u64().expect("seq");
        viewers.push((v, seq));
    }
    let mut moderator = node.moderator().await;
    moderator.join(&format!("{room}:moderation")).await;
    let mut asker = node.citizen("Asker").await;
    let shed_before = node.app.metrics.slow_consumer_closes.load(Relaxed);

    // Ten seconds behind, and falling further: every check sheds a larger share (the moderation room gets none of
    // these events).
    let long_ago = now_ms() - 10_000;
    for _ in 0..5 {
        publish_stamped(&cluster.redis, b, long_ago);
        // The policy judges again after 100 ms.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    // A client that only sends commands was not closed for the rooms' lag. Caught up: a fresh event sheds no
    // one, and reaches every viewer kept.
    let fresh = majlis_tests::ask(&mut asker, b, "Fresh").await;
    let (mut kept, mut shed) = (0, 0);
    for (v, seq) in &mut viewers {
        match until_question_or_close(v, *seq, &fresh["text"]).await {
            Ok(()) => kept += 1,
            Err(code) => {
                assert_eq!(code, 4008, "shed viewers are closed as slow consumers");
                shed += 1;
            }
        }
    }
    let counted = node.app.metrics.slow_consumer_closes.load(Relaxed) - shed_before;
    eprintln!("{shed} viewers shed, {kept} kept");
    // 1/16, 1/8, then 1/4 of those left, at every check: 26 of 40 when every check sees a later time.
    assert!(shed >= 10, "only {shed} of {VIEWERS} viewers shed after five checks ten seconds behind");
    assert!(kept >= 5, "only {kept} of {VIEWERS} viewers kept");
    assert_eq!(counted, shed as u64, "every shed viewer is counted");
    // The moderation room is small: nothing of it is shed while the public room is far larger.
    let seen = events_of(&mut moderator, &format!("{room}:moderation"), 1).await;
    assert_eq!(seen[0]["data"]["text"], fresh["text"]);
}

/// Reads a viewer's events (gap-free after `seq`) until the question with `text`, or until it is closed (the
/// close code).
async fn until_question_or_close(viewer: &mut Client, mut seq: u64, text: &serde_json::Value) -> Result<(), u16> {
    loop {
        let Some(frame) = viewer_next(viewer).await? else { continue };
        if frame["type"] != "event" {
            continue;
        }
        assert_eq!(frame["seq"].as_u64(), Some(seq + 1), "a kept viewer missed events: {frame}");
        seq += 1;
        if frame["kind"] == "question" && frame["data"]["text"] == *text {
            return Ok(());
        }
    }
}

/// The next text frame, or the close code.
async fn viewer_next(viewer: &mut Client) -> Result<Option<serde_json::Value>, u16> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let message = tokio::time::timeout(majlis_tests::WAIT, viewer.ws.next()).await.expect("a frame in time");
    match message {
        Some(Ok(Message::Text(text))) => Ok(Some(serde_json::from_str(&text).expect("JSON"))),
        Some(Ok(Message::Close(close))) => Err(close.map(|c| c.code.into()).unwrap_or(1005)),
        Some(Ok(_)) => Ok(None),
        other => panic!("the connection failed without a close frame: {other:?}"),
    }
}
