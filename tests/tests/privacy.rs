//! A citizen connected through a whole broadcast never receives the text of a pending or hidden question, nor
//! a muted citizen's new questions — not in events, not in snapshots.

use std::time::Duration;

use majlis_tests::{ask, id_of, TestServer};
use serde_json::{json, Value};

#[tokio::test]
async fn a_citizen_watching_the_whole_broadcast_never_sees_private_question_text() {
    let server = TestServer::start_with(|c| c.questions_burst = 10).await;
    let b = server.create_broadcast(json!({"premoderation": true})).await;
    let id = id_of(&b);
    let room = format!("broadcast:{id}");
    let mut watcher = server.citizen("Watcher").await;
    let first_snapshot = watcher.join(&room).await;
    let mut moderator = server.moderator().await;
    moderator.join(&format!("{room}:moderation")).await;
    let mut asker = server.citizen("Asker").await;
    let mut troll = server.citizen("Troll").await;

    // 1. Pending forever.
    ask(&mut asker, id, "PENDING-SECRET never approved").await;
    // 2. Approved, then hidden: its text was public for a while, but the hide reason never is.
    let shown = ask(&mut asker, id, "shown then hidden").await;
    moderator.ok(json!({"type": "approve", "broadcast": id, "question": shown["id"]})).await;
    moderator
        .ok(json!({"type": "hide", "broadcast": id, "question": shown["id"], "reason": "HIDE-REASON-SECRET"}))
        .await;
    // 3. Hidden straight from pending.
    let hidden = ask(&mut asker, id, "HIDDEN-SECRET straight from pending").await;
    moderator.ok(json!({"type": "hide", "broadcast": id, "question": hidden["id"], "reason": "spam"})).await;
    // 4. A muted citizen's new question.
    let before = ask(&mut troll, id, "troll first").await;
    let seen = moderator.next_matching("the troll's question", |f| f["data"]["id"] == before["id"]).await;
    moderator.ok(json!({"type": "mute", "broadcast": id, "user": seen["data"]["author"]["sub"], "muted": true})).await;
    moderator.ok(json!({"type": "approve", "broadcast": id, "question": before["id"]})).await;
    ask(&mut troll, id, "MUTED-SECRET after the mute").await;
    // 5. A keyword-held question.
    ask(&mut asker, id, "KEYWORD-SECRET you idiots").await;
    // A marker to know the watcher has received everything before it.
    let last = ask(&mut asker, id, "final marker").await;
    moderator.ok(json!({"type": "approve", "broadcast": id, "question": last["id"]})).await;

    let mut frames: Vec<Value> = vec![first_snapshot];
    loop {
        let frame = watcher.next().await;
        let done = frame["kind"] == "question" && frame["data"]["id"] == last["id"];
        frames.push(frame);
        if done {
            break;
        }
    }
    // And a snapshot taken at the end, by a new connection and by the same one rejoining.
    frames.push(watcher.join(&room).await);
    let mut latecomer = server.citizen("Late").await;
    frames.push(latecomer.join(&room).await);
    watcher.assert_no(Duration::from_millis(200), "more frames", |_| false).await;

    let all = frames.iter().map(Value::to_string).collect::<Vec<_>>().join("\n");
    for secret in ["PENDING-SECRET", "HIDE-REASON-SECRET", "HIDDEN-SECRET", "MUTED-SECRET", "KEYWORD-SECRET"] {
        assert!(!all.contains(secret), "{secret} leaked to a citizen:\n{all}");
    }
    assert!(all.contains("shown then hidden"), "the approved question was public while approved");
    assert!(!all.contains("\"sub\""), "citizens never learn other citizens' ids");
}
