//! The live-broadcast Q&A flow, end to end through real WebSocket clients.

use std::time::Duration;

use majlis_tests::{ask, generous, id_of, TestServer};
use serde_json::{json, Value};

fn room(b: &Value) -> String {
    format!("broadcast:{}", id_of(b))
}

fn mod_room(b: &Value) -> String {
    format!("broadcast:{}:moderation", id_of(b))
}

#[tokio::test]
async fn broadcasts_are_created_listed_by_code_and_move_through_their_lifecycle() {
    let server = TestServer::start().await;
    let b = server
        .create_broadcast(json!({"premoderation": true, "allow_anonymous": false, "max_question_len": 120, "starts_at": 1_900_000_000_000u64}))
        .await;
    let code = b["code"].as_str().unwrap();
    assert_eq!(code.len(), 6);
    assert_eq!(
        (b["state"].as_str(), b["premoderation"].as_bool(), b["max_question_len"].as_u64()),
        (Some("scheduled"), Some(true), Some(120))
    );

    let (status, by_code) = server.get_json(&format!("/api/broadcasts/{}", code.to_lowercase()), None).await;
    assert_eq!((status, by_code["id"].clone()), (200, b["id"].clone()));
    let (_, listing) = server.get_json("/api/broadcasts", None).await;
    assert_eq!(listing["broadcasts"].as_array().unwrap().len(), 1);

    let id = id_of(&b);
    assert_eq!(server.set_state(id, "live").await["state"], "live");
    assert_eq!(server.set_state(id, "ended").await["state"], "ended");
    let (_, listing) = server.get_json("/api/broadcasts", None).await;
    assert!(listing["broadcasts"].as_array().unwrap().is_empty(), "ended broadcasts leave the public listing");
    assert_eq!(server.set_state(id, "archived").await["state"], "archived");

    // Going back is refused.
    let response = server
        .http
        .patch(server.url(&format!("/api/broadcasts/{id}")))
        .bearer_auth(server.token(majlis_server::auth::Role::Moderator, "Mod"))
        .json(&json!({"state": "live"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
}

#[tokio::test]
async fn citizens_cannot_create_broadcasts() {
    let server = TestServer::start().await;
    let response = server
        .http
        .post(server.url("/api/broadcasts"))
        .bearer_auth(server.token(majlis_server::auth::Role::Citizen, "C"))
        .json(&json!({"title": {"en": "x"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let anonymous =
        server.http.post(server.url("/api/broadcasts")).json(&json!({"title": {"en": "x"}})).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn a_question_asked_reaches_every_viewer_and_votes_update_the_count() {
    let server = TestServer::start().await;
    let b = server.create_broadcast(json!({})).await;
    let mut viewer = server.citizen("Viewer").await;
    let snapshot = viewer.join(&room(&b)).await;
    assert_eq!(snapshot["data"]["questions"], json!([]));

    let mut asker = server.citizen("Fatima").await;
    let q = ask(&mut asker, id_of(&b), "متى يفتح باب التسجيل؟").await;
    assert_eq!(
        (q["status"].as_str(), q["lang"].as_str(), q["author"]["name"].as_str()),
        (Some("approved"), Some("ar"), Some("Fatima"))
    );

    let event = viewer.next_event().await;
    assert_eq!(
        (event["kind"].as_str(), event["data"]["text"].as_str()),
        (Some("question"), Some("متى يفتح باب التسجيل؟"))
    );
    let seq = event["seq"].as_u64().unwrap();
    assert_eq!(seq, snapshot["seq"].as_u64().unwrap() + 1);

    let voted = viewer.ok(json!({"type": "vote", "broadcast": b["id"], "question": q["id"], "value": true})).await;
    assert_eq!((voted["votes"].as_u64(), voted["voted"].as_bool()), (Some(1), Some(true)));
    let event = viewer.next_event().await;
    assert_eq!(
        (event["kind"].as_str(), event["data"]["votes"].as_u64(), event["seq"].as_u64()),
        (Some("votes"), Some(1), Some(seq + 1))
    );

    // Voting twice counts once; removing the vote takes it back.
    let again = viewer.ok(json!({"type": "vote", "broadcast": b["id"], "question": q["id"], "value": true})).await;
    assert_eq!(again["votes"], 1);
    let removed = viewer.ok(json!({"type": "vote", "broadcast": b["id"], "question": q["id"], "value": false})).await;
    assert_eq!(removed["votes"], 0);
}

#[tokio::test]
async fn anonymous_questions_carry_no_author_for_citizens_but_moderators_can_act_on_the_author() {
    let server = TestServer::start().await;
    let b = server.create_broadcast(json!({"allow_anonymous": true})).await;
    let mut viewer = server.citizen("V").await;
    viewer.join(&room(&b)).await;
    let mut moderator = server.moderator().await;
    moderator.join(&mod_room(&b)).await;
    let mut asker = server.citizen("Shy").await;
    asker.ok(json!({"type": "ask", "broadcast": b["id"], "text": "anonymous one", "anonymous": true})).await;
    let public = viewer.next_event().await;
    assert!(public["data"]["author"].is_null());
    let staff = moderator.next_event().await;
    let handle = staff["data"]["author"]["sub"].as_str().unwrap_or_default();
    assert!(handle.starts_with("anon:"), "staff see a pseudonymous handle, not the author: {staff}");
    assert!(staff["data"]["author"]["name"].is_null());

    let closed = server.create_broadcast(json!({"allow_anonymous": false})).await;
    let refusal =
        asker.refused(json!({"type": "ask", "broadcast": closed["id"], "text": "x", "anonymous": true})).await;
    assert_eq!(refusal.code, "bad_request");
}

#[tokio::test]
async fn question_length_is_limited_per_broadcast() {
    let server = TestServer::start().await;
    let b = server.create_broadcast(json!({"max_question_len": 10})).await;
    let mut c = server.citizen("Long").await;
    let refusal = c.refused(json!({"type": "ask", "broadcast": b["id"], "text": "this is much too long"})).await;
    assert_eq!(refusal.code, "bad_request");
    // Ten Arabic letters are ten characters, not twenty bytes.
    ask(&mut c, id_of(&b), "ابتثجحخدذر").await;
    let default = server.create_broadcast(json!({})).await;
    assert_eq!(default["max_question_len"], 300);
}

#[tokio::test]
async fn pre_moderated_questions_stay_private_until_approved() {
    let server = TestServer::start().await;
    let b = server.create_broadcast(json!({"premoderation": true})).await;
    let mut viewer = server.citizen("Watcher").await;
    viewer.join(&room(&b)).await;
    let mut moderator = server.moderator().await;
    moderator.join(&mod_room(&b)).await;

    let mut asker = server.citizen("Asker").await;
    let q = ask(&mut asker, id_of(&b), "Secret until approved").await;
    assert_eq!((q["status"].as_str()), Some("pending"));
    let seen = moderator.next_event().await;
    assert_eq!(
        (seen["data"]["status"].as_str(), seen["data"]["held"].as_str()),
        (Some("pending"), Some("premoderation"))
    );

    // The author sees their own pending question after a reconnect; other citizens don't.
    let mut again = server.citizen("Other").await;
    let snap = again.join(&room(&b)).await;
    assert_eq!(snap["data"]["questions"], json!([]));

    moderator.ok(json!({"type": "approve", "broadcast": b["id"], "question": q["id"]})).await;
    let event = viewer.next_event().await;
    assert_eq!(
        (event["data"]["text"].as_str(), event["data"]["status"].as_str()),
        (Some("Secret until approved"), Some("approved"))
    );
}

#[tokio::test]
async fn an_author_learns_their_pending_question_was_not_published_without_the_reason_leaking() {
    let server = TestServer::start().await;
    let b = server.create_broadcast(json!({"premoderation": true})).await;
    let mut asker = server.citizen("Author").await;
    asker.join(&room(&b)).await;
    let mut other = server.citizen("Other").await;
    other.join(&room(&b)).await;
    let mut moderator = server.moderator().await;
    let q = ask(&mut asker, id_of(&b), "Pending, then hidden").await;
    moderator.ok(json!({"type": "hide", "broadcast": b["id"], "question": q["id"], "reason": "duplicate topic"})).await;
    for viewer in [&mut asker, &mut other] {
        let event = viewer.next_event().await;
        assert_eq!(event["kind"], "question_removed");
        assert_eq!(event["data"], json!({"id": q["id"]}), "only the id: no text, no reason");
    }
    // A fresh snapshot agrees: the author's own list says hidden.
    let snap = asker.join(&room(&b)).await;
    assert_eq!(snap["data"]["mine"][0]["status"], "hidden");
}

#[tokio::test]
async fn the_author_sees_their_pending_question_in_mine() {
    let server = TestServer::start().await;
    let b = server.create_broadcast(json!({"premoderation": true})).await;
    let mut asker = server.citizen("Mine").await;
    let q = ask(&mut asker, id_of(&b), "Mine, pending").await;
    let snap = asker.join(&room(&b)).await;
    assert_eq!(snap["data"]["questions"], json!([]));
    assert_eq!(snap["data"]["mine"][0]["id"], q["id"]);
    assert_eq!(snap["data"]["mine"][0]["status"], "pending");
}

#[tokio::test]
async fn authors_edit_and_withdraw_until_a_moderator_acts() {
    let server = TestServer::start().await;
    let b = server.create_broadcast(json!({})).await;
    let id = id_of(&b);
    let mut viewer = server.citizen("V").await;
    viewer.join(&room(&b)).await;
    let mut author = server.citizen("Author").await;
    let q = ask(&mut author, id, "Typo questoin").await;
    viewer.next_event().await;

    let edited =
        author.ok(json!({"type": "edit", "broadcast": id, "question": q["id"], "text": "Typo question"})).await;
    assert_eq!(
        (edited["question"]["text"].as_str(), edited["question"]["edited"].as_bool()),
        (Some("Typo question"), Some(true))
    );
    assert_eq!(viewer.next_event().await["data"]["text"], "Typo question");

    let mut stranger = server.citizen("Stranger").await;
    let refusal =
        stranger.refused(json!({"type": "edit", "broadcast": id, "question": q["id"], "text": "mine now"})).await;
    assert_eq!(refusal.code, "forbidden");

    author.ok(json!({"type": "withdraw", "broadcast": id, "question": q["id"]})).await;
    let event = viewer.next_event().await;
    assert_eq!((event["kind"].as_str(), event["data"]["id"].clone()), (Some("question_removed"), q["id"].clone()));

    let q2 = ask(&mut author, id, "Second question").await;
    assert_eq!(q2["moderated"], false, "still the author's to change");
    let mut moderator = server.moderator().await;
    moderator.ok(json!({"type": "tag", "broadcast": id, "question": q2["id"], "tags": ["financing"]})).await;
    let tagged = viewer
        .next_matching("the tagged question", |f| {
            f["data"]["id"] == q2["id"] && f["data"]["tags"] == json!(["financing"])
        })
        .await;
    assert_eq!(tagged["data"]["moderated"], true, "citizens' views say a moderator has acted");
    let refusal =
        author.refused(json!({"type": "edit", "broadcast": id, "question": q2["id"], "text": "changed"})).await;
    assert_eq!(refusal.code, "conflict");
    assert_eq!(
        author.refused(json!({"type": "withdraw", "broadcast": id, "question": q2["id"]})).await.code,
        "conflict"
    );
}

#[tokio::test]
async fn moderators_hide_pin_answer_tag_and_edit_and_citizens_see_the_result() {
    let server = TestServer::start().await;
    let b = server.create_broadcast(json!({})).await;
    let id = id_of(&b);
    let mut viewer = server.citizen("V").await;
    viewer.join(&room(&b)).await;
    let mut moderator = server.moderator().await;
    moderator.join(&mod_room(&b)).await;
    let mut asker = server.citizen("A").await;
    let q1 = ask(&mut asker, id, "Question one").await;
    let q2 = ask(&mut asker, id, "Question two is off topic").await;
    viewer.next_event().await;
    viewer.next_event().await;

    moderator.ok(json!({"type": "hide", "broadcast": id, "question": q2["id"], "reason": "off topic"})).await;
    let removed = viewer.next_event().await;
    assert_eq!(
        (removed["kind"].as_str(), removed["data"].to_string().contains("off topic")),
        (Some("question_removed"), false)
    );

    moderator.ok(json!({"type": "pin", "broadcast": id, "question": q1["id"]})).await;
    let pinned = viewer.next_event().await;
    assert_eq!((pinned["kind"].as_str(), pinned["data"]["id"].clone()), (Some("pinned"), q1["id"].clone()));

    moderator
        .ok(json!({"type": "answer", "broadcast": id, "question": q1["id"], "text": "Registration opens on 1 March."}))
        .await;
    let answered = viewer.next_event().await;
    assert_eq!(answered["data"]["status"], "answered");
    assert_eq!(answered["data"]["answer"]["text"], "Registration opens on 1 March.");

    let tagged = moderator
        .ok(json!({"type": "tag", "broadcast": id, "question": q1["id"], "tags": ["Registration", " dates "]}))
        .await;
    assert_eq!(tagged["question"]["tags"], json!(["registration", "dates"]));
    viewer.next_event().await;

    let edited = moderator
        .ok(json!({"type": "mod_edit", "broadcast": id, "question": q1["id"], "text": "Question one (clarified)"}))
        .await;
    assert_eq!(edited["question"]["original_text"], "Question one");
    let event = viewer.next_event().await;
    assert_eq!(event["data"]["text"], "Question one (clarified)");
    assert!(event["data"].get("original_text").is_none(), "citizens don't get moderation details");

    moderator.ok(json!({"type": "unpin", "broadcast": id})).await;
    assert!(viewer.next_event().await["data"]["id"].is_null());

    let q3 = ask(&mut asker, id, "Answered on air").await;
    viewer.next_event().await;
    let live = moderator.ok(json!({"type": "answer", "broadcast": id, "question": q3["id"], "live": true})).await;
    assert_eq!(
        (live["question"]["answer"]["live"].as_bool(), live["question"]["answer"]["text"].is_null()),
        (Some(true), true)
    );
}

#[tokio::test]
async fn pinning_a_pending_question_approves_it() {
    let server = TestServer::start().await;
    let b = server.create_broadcast(json!({"premoderation": true})).await;
    let mut viewer = server.citizen("V").await;
    viewer.join(&room(&b)).await;
    let mut asker = server.citizen("A").await;
    let q = ask(&mut asker, id_of(&b), "Pin me").await;
    let mut moderator = server.moderator().await;
    moderator.ok(json!({"type": "pin", "broadcast": b["id"], "question": q["id"]})).await;
    let first = viewer.next_event().await;
    assert_eq!((first["kind"].as_str(), first["data"]["text"].as_str()), (Some("question"), Some("Pin me")));
    let second = viewer.next_event().await;
    assert_eq!((second["kind"].as_str(), second["data"]["id"].clone()), (Some("pinned"), q["id"].clone()));
}

#[tokio::test]
async fn the_keyword_filter_holds_matching_questions_even_without_premoderation() {
    let server = TestServer::start().await;
    let b = server.create_broadcast(json!({})).await;
    let mut moderator = server.moderator().await;
    moderator.join(&mod_room(&b)).await;
    let mut asker = server.citizen("Angry").await;
    let q = ask(&mut asker, id_of(&b), "هذا فساد واضح في التوزيع").await;
    assert_eq!(q["status"], "pending");
    let seen = moderator.next_event().await;
    assert_eq!(seen["data"]["held"], "keyword");
    assert_eq!(seen["data"]["matched_keywords"], json!(["فساد"]));
    let q2 = ask(&mut asker, id_of(&b), "You are all IDIOTS").await;
    assert_eq!(q2["status"], "pending");
    let fine = ask(&mut asker, id_of(&b), "What skills does the programme need?").await;
    assert_eq!(fine["status"], "approved");
}

#[tokio::test]
async fn a_custom_keyword_file_replaces_the_default_list() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("words.txt");
    std::fs::write(&path, "# custom\nbanana\n").unwrap();
    let server = TestServer::start_with(|c| c.keyword_file = Some(path.clone())).await;
    let b = server.create_broadcast(json!({})).await;
    let mut asker = server.citizen("A").await;
    assert_eq!(ask(&mut asker, id_of(&b), "banana question").await["status"], "pending");
    assert_eq!(ask(&mut asker, id_of(&b), "you idiot").await["status"], "approved");
}

#[tokio::test]
async fn a_muted_citizens_new_questions_never_reach_other_citizens() {
    let server = TestServer::start().await;
    let b = server.create_broadcast(json!({})).await;
    let id = id_of(&b);
    let mut viewer = server.citizen("Viewer").await;
    viewer.join(&room(&b)).await;
    let mut moderator = server.moderator().await;
    moderator.join(&mod_room(&b)).await;
    let mut troll = server.citizen("Troll").await;
    ask(&mut troll, id, "first question is fine").await;
    let first = moderator.next_event().await;
    let troll_sub = first["data"]["author"]["sub"].clone();
    viewer.next_event().await;

    moderator.ok(json!({"type": "mute", "broadcast": id, "user": troll_sub, "muted": true})).await;
    let muted = moderator.next_event().await;
    assert_eq!((muted["kind"].as_str(), muted["data"]["muted"].as_bool()), (Some("muted"), Some(true)));

    let held = ask(&mut troll, id, "SPAM SPAM SPAM").await;
    assert_eq!(held["status"], "pending");
    let seen = moderator.next_event().await;
    assert_eq!(seen["data"]["held"], "muted");
    viewer
        .assert_no(Duration::from_millis(300), "the muted citizen's question", |f| f.to_string().contains("SPAM"))
        .await;
}

#[tokio::test]
async fn retrying_an_ask_with_the_same_client_message_id_creates_nothing_new() {
    let server = TestServer::start().await;
    let b = server.create_broadcast(json!({})).await;
    let mut viewer = server.citizen("V").await;
    viewer.join(&room(&b)).await;
    let mut asker = server.citizen("Retry").await;
    let command = json!({"type": "ask", "broadcast": b["id"], "text": "Only once please", "client_msg_id": "m-1"});
    let first = asker.ok(command.clone()).await;
    let again = asker.ok(command).await;
    assert_eq!((first["duplicate"].as_bool(), again["duplicate"].as_bool()), (Some(false), Some(true)));
    assert_eq!(first["question"]["id"], again["question"]["id"]);
    viewer.next_event().await;
    viewer.assert_no(Duration::from_millis(200), "a second question", |f| f["type"] == "event").await;
    let snap = viewer.join(&room(&b)).await;
    assert_eq!(snap["data"]["questions"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn two_hundred_citizens_upvote_at_once_and_everyone_sees_exactly_two_hundred() {
    let server = TestServer::start_with(|c| c.max_connections_per_ip = 1000).await;
    let b = server.create_broadcast(json!({})).await;
    let id = id_of(&b);
    let mut asker = server.citizen("Asker").await;
    let q = ask(&mut asker, id, "Vote for me").await;
    let qid = id_of(&q);

    let mut clients = Vec::new();
    for i in 0..200 {
        let mut c = server.citizen(&format!("voter{i}")).await;
        c.join(&room(&b)).await;
        clients.push(c);
    }
    let vote_all = |clients: Vec<majlis_tests::Client>| async move {
        let tasks: Vec<_> = clients
            .into_iter()
            .map(|mut c| {
                tokio::spawn(async move {
                    c.ok(json!({"type": "vote", "broadcast": id, "question": qid, "value": true})).await;
                    c
                })
            })
            .collect();
        let mut back = Vec::new();
        for t in tasks {
            back.push(t.await.unwrap());
        }
        back
    };
    let mut clients = vote_all(clients).await;
    // Every client ends up seeing 200.
    for c in clients.iter_mut() {
        c.next_matching("votes = 200", |f| f["kind"] == "votes" && f["data"]["votes"] == 200).await;
    }
    // The same 200 again: still 200, and no new vote events.
    let clients = vote_all(clients).await;
    let mut check = server.citizen("Checker").await;
    let snap = check.join(&room(&b)).await;
    assert_eq!(snap["data"]["questions"][0]["votes"], 200);
    drop(clients);
}

#[tokio::test]
async fn merging_duplicates_counts_each_voter_once() {
    let server = TestServer::start().await;
    let b = server.create_broadcast(json!({})).await;
    let id = id_of(&b);
    let mut asker = server.citizen("A").await;
    let target = ask(&mut asker, id, "When do applications open?").await;
    let dup = ask(&mut asker, id, "Application opening date?").await;
    // Voters: 1,2,3 on target; 3,4 on the duplicate (3 overlaps).
    let mut voters = Vec::new();
    for i in 0..5 {
        voters.push(server.citizen(&format!("v{i}")).await);
    }
    for (i, c) in voters.iter_mut().enumerate() {
        if i < 3 {
            c.ok(json!({"type": "vote", "broadcast": id, "question": target["id"], "value": true})).await;
        }
        if i >= 2 {
            c.ok(json!({"type": "vote", "broadcast": id, "question": dup["id"], "value": true})).await;
        }
    }
    let mut viewer = server.citizen("Viewer").await;
    viewer.join(&room(&b)).await;
    let mut moderator = server.moderator().await;
    let merged =
        moderator.ok(json!({"type": "merge", "broadcast": id, "question": dup["id"], "into": target["id"]})).await;
    assert_eq!(merged["question"]["votes"], 5);
    // Vote counts flushed before the merge may still arrive first (in Redis mode they are coalesced per flush).
    let dup_event = viewer
        .next_matching("the duplicate's change", |f| f["kind"] == "question" && f["data"]["id"] == dup["id"])
        .await;
    assert_eq!(
        (dup_event["data"]["status"].as_str(), dup_event["data"]["merged_into"].clone()),
        (Some("merged"), target["id"].clone())
    );
    viewer
        .next_matching("the target with every voter", |f| f["data"]["id"] == target["id"] && f["data"]["votes"] == 5)
        .await;
    // Voting on the merged duplicate counts on the target, once per person.
    let v = voters[0].ok(json!({"type": "vote", "broadcast": id, "question": dup["id"], "value": true})).await;
    assert_eq!((v["question"].clone(), v["votes"].as_u64()), (target["id"].clone(), Some(5)));
}

#[tokio::test]
async fn every_viewer_gets_a_gap_free_ordered_stream() {
    let server = TestServer::start().await;
    let b = server.create_broadcast(json!({})).await;
    let id = id_of(&b);
    let mut viewers = Vec::new();
    for i in 0..5 {
        let mut v = server.citizen(&format!("viewer{i}")).await;
        let snap = v.join(&room(&b)).await;
        viewers.push((v, snap["seq"].as_u64().unwrap()));
    }
    let mut askers = Vec::new();
    for i in 0..4 {
        askers.push(server.citizen(&format!("asker{i}")).await);
    }
    let tasks: Vec<_> = askers
        .into_iter()
        .enumerate()
        .map(|(i, mut a)| {
            tokio::spawn(async move {
                for n in 0..3 {
                    a.ok(json!({"type": "ask", "broadcast": id, "text": format!("q {i}-{n}")})).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let mut orders = Vec::new();
    for (v, start) in viewers.iter_mut() {
        let mut texts = Vec::new();
        for expected in *start + 1..=*start + 12 {
            let e = v.next_event().await;
            assert_eq!(e["seq"].as_u64(), Some(expected), "gap-free");
            texts.push(e["data"]["text"].as_str().unwrap().to_string());
        }
        orders.push(texts);
    }
    assert!(orders.windows(2).all(|w| w[0] == w[1]), "every viewer sees the same order");
}

#[tokio::test]
async fn a_reconnecting_client_recovers_missed_events_or_gets_a_fresh_snapshot() {
    let server = TestServer::start().await;
    let b = server.create_broadcast(json!({})).await;
    let id = id_of(&b);
    let mut viewer = server.citizen("Returning").await;
    let snap = viewer.join(&room(&b)).await;
    let epoch = snap["epoch"].as_str().unwrap().to_string();
    let seq = snap["seq"].as_u64().unwrap();
    drop(viewer);

    let mut asker = server.citizen("A").await;
    ask(&mut asker, id, "missed one").await;
    ask(&mut asker, id, "missed two").await;

    let mut back = server.citizen("Returning again").await;
    let ack = back.ok(json!({"type": "join", "room": room(&b), "since": {"epoch": epoch, "seq": seq}})).await;
    assert_eq!((ack["recovered"].as_bool(), ack["seq"].as_u64()), (Some(true), Some(seq + 2)));
    let e1 = back.next_event().await;
    let e2 = back.next_event().await;
    assert_eq!((e1["data"]["text"].as_str(), e2["data"]["text"].as_str()), (Some("missed one"), Some("missed two")));

    let mut stale = server.citizen("Stale").await;
    let ack = stale.ok(json!({"type": "join", "room": room(&b), "since": {"epoch": "gone", "seq": 1}})).await;
    assert_eq!(ack["recovered"], false);
    let fresh = stale.next_matching("a snapshot", |f| f["type"] == "snapshot").await;
    assert_eq!(
        (fresh["recovered"].as_bool(), fresh["data"]["questions"].as_array().map(Vec::len)),
        (Some(false), Some(2))
    );
}

#[tokio::test]
async fn a_short_history_falls_back_to_a_snapshot() {
    let server = TestServer::start_with(|c| {
        c.history_len = 2;
        c.questions_burst = 10;
    })
    .await;
    let b = server.create_broadcast(json!({})).await;
    let mut viewer = server.citizen("V").await;
    let snap = viewer.join(&room(&b)).await;
    let mut asker = server.citizen("A").await;
    for n in 0..4 {
        ask(&mut asker, id_of(&b), &format!("q{n}")).await;
    }
    let mut back = server.citizen("V2").await;
    let since = json!({"epoch": snap["epoch"], "seq": snap["seq"]});
    let ack = back.ok(json!({"type": "join", "room": room(&b), "since": since})).await;
    assert_eq!(ack["recovered"], false);
}

#[tokio::test]
async fn statistics_count_participants_questions_and_votes_and_export_csv() {
    let server = TestServer::start().await;
    let b = server.create_broadcast(json!({})).await;
    let id = id_of(&b);
    let mut a = server.citizen("A").await;
    let mut c = server.citizen("C").await;
    a.join(&room(&b)).await;
    c.join(&room(&b)).await;
    let q1 = ask(&mut a, id, "Most popular").await;
    let q2 = ask(&mut a, id, "Hidden one").await;
    c.ok(json!({"type": "vote", "broadcast": id, "question": q1["id"], "value": true})).await;
    let mut m = server.moderator().await;
    m.ok(json!({"type": "hide", "broadcast": id, "question": q2["id"], "reason": ""})).await;
    m.ok(json!({"type": "answer", "broadcast": id, "question": q1["id"], "text": "Yes."})).await;
    m.ok(json!({"type": "tag", "broadcast": id, "question": q1["id"], "tags": ["eligibility"]})).await;

    let token = server.token(majlis_server::auth::Role::Moderator, "Mod");
    let (status, stats) = server.get_json(&format!("/api/broadcasts/{id}/stats"), Some(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(stats["unique_participants"], 2);
    assert!(stats["peak_participants"].as_u64().unwrap() >= 2);
    assert_eq!(stats["questions"]["asked"], 2);
    assert_eq!(stats["questions"]["answered"], 1);
    assert_eq!(stats["questions"]["hidden"], 1);
    assert_eq!(stats["votes"], 1);
    assert_eq!(stats["top_questions"][0]["text"], "Most popular");
    assert_eq!(stats["by_tag"]["eligibility"], 1);

    let csv = server
        .http
        .get(server.url(&format!("/api/broadcasts/{id}/stats.csv")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let body = csv.text().await.unwrap();
    assert!(body.contains("unique_participants,2") && body.contains("\"Most popular\""), "{body}");

    let (status, _) = server
        .get_json(&format!("/api/broadcasts/{id}/stats"), Some(&server.token(majlis_server::auth::Role::Citizen, "x")))
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn answered_questions_of_ended_broadcasts_form_the_public_faq() {
    let server = TestServer::start().await;
    let b = server.create_broadcast(json!({"title": {"ar": "برنامج التمويل", "en": "Financing"}})).await;
    let id = id_of(&b);
    let mut a = server.citizen("A").await;
    let q_ar = ask(&mut a, id, "هل يشمل البرنامج المطلقات؟").await;
    let q_en = ask(&mut a, id, "Does it cover widows?").await;
    let _unanswered = ask(&mut a, id, "Not answered").await;
    let mut m = server.moderator().await;
    m.ok(json!({"type": "answer", "broadcast": id, "question": q_ar["id"], "text": "نعم"})).await;
    m.ok(json!({"type": "answer", "broadcast": id, "question": q_en["id"], "text": "Yes."})).await;

    let (_, faq) = server.get_json("/api/faq", None).await;
    assert!(faq["groups"].as_array().unwrap().is_empty(), "not before the broadcast ends");
    server.set_state(id, "live").await;
    server.set_state(id, "ended").await;
    let (_, faq) = server.get_json("/api/faq", None).await;
    let group = &faq["groups"][0];
    assert_eq!(group["broadcast"]["id"], id);
    let items = group["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let langs: Vec<_> = items.iter().map(|i| i["lang"].as_str().unwrap()).collect();
    assert!(langs.contains(&"ar") && langs.contains(&"en"));
}

#[tokio::test]
async fn the_qr_code_points_at_the_join_link() {
    let server = TestServer::start().await;
    let b = server.create_broadcast(json!({})).await;
    let response = server
        .http
        .get(server.url(&format!("/api/broadcasts/{}/qr.svg", b["code"].as_str().unwrap())))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "image/svg+xml");
    assert!(response.text().await.unwrap().contains("<svg"));
    let redirect = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = redirect.get(server.url(&format!("/b/{}", b["code"].as_str().unwrap()))).send().await.unwrap();
    assert_eq!(response.headers()["location"], format!("/broadcast.html?code={}", b["code"].as_str().unwrap()));
}

#[tokio::test]
async fn presence_counts_reach_viewers() {
    let server = TestServer::start_with(|c| c.presence_interval_ms = 100).await;
    let b = server.create_broadcast(json!({})).await;
    let mut v1 = server.citizen("One").await;
    v1.join(&room(&b)).await;
    let mut v2 = server.citizen("Two").await;
    v2.join(&room(&b)).await;
    v1.next_matching("presence 2", |f| f["type"] == "presence" && f["participants"] == 2).await;
}

#[tokio::test]
async fn a_moderator_hears_each_participant_count_once_about_the_room_they_joined() {
    let server = TestServer::start_with(|c| c.presence_interval_ms = 100).await;
    let b = server.create_broadcast(json!({})).await;
    let moderation = format!("{}:moderation", room(&b));
    let mut moderator = server.moderator().await;
    moderator.join(&moderation).await;
    let mut viewer = server.citizen("Viewer").await;
    viewer.join(&room(&b)).await;
    // A tick may fall between the two joins and report 0 first; whatever comes is about the moderation room.
    let mut first = moderator.next_matching("presence", |f| f["type"] == "presence").await;
    while first["participants"] != 1 {
        assert_eq!(first["room"].as_str(), Some(moderation.as_str()), "{first}");
        first = moderator.next_matching("presence 1", |f| f["type"] == "presence").await;
    }
    assert_eq!(first["room"].as_str(), Some(moderation.as_str()), "{first}");
    // The count stays 1: nothing more may come, and above all not the same count again about another room.
    moderator.assert_no(Duration::from_millis(500), "a second presence frame", |f| f["type"] == "presence").await;
}

#[tokio::test]
async fn a_presenter_screen_is_not_counted_as_a_participant() {
    let server = TestServer::start_with(|c| c.presence_interval_ms = 100).await;
    let b = server.create_broadcast(json!({})).await;
    let mut screen = server.citizen("Big screen").await;
    screen.ok(json!({"type": "join", "room": room(&b), "observer": true})).await;
    let mut viewer = server.citizen("Person").await;
    viewer.join(&room(&b)).await;
    let mut viewer2 = server.citizen("Second person").await;
    viewer2.join(&room(&b)).await;
    screen.next_matching("presence 2", |f| f["type"] == "presence" && f["participants"] == 2).await;
    let token = server.token(majlis_server::auth::Role::Moderator, "Stats");
    let (_, stats) = server.get_json(&format!("/api/broadcasts/{}/stats", id_of(&b)), Some(&token)).await;
    assert_eq!(
        (stats["unique_participants"].as_u64(), stats["peak_participants"].as_u64()),
        (Some(2), Some(2)),
        "statistics count people, not screens: {stats}"
    );
}

#[tokio::test]
async fn a_burst_of_votes_reaches_viewers_as_a_few_coalesced_count_updates() {
    let server = TestServer::start_with(|c| c.vote_flush_ms = 500).await;
    let b = server.create_broadcast(json!({})).await;
    let id = id_of(&b);
    let mut asker = server.citizen("Asker").await;
    let q = ask(&mut asker, id, "Popular").await;
    let mut viewer = server.citizen("Viewer").await;
    viewer.join(&room(&b)).await;
    let mut voters = Vec::new();
    for i in 0..50 {
        voters.push(server.citizen(&format!("v{i}")).await);
    }
    let mut acked = Vec::new();
    for v in voters.iter_mut() {
        let ack = v.ok(json!({"type": "vote", "broadcast": id, "question": q["id"], "value": true})).await;
        acked.push(ack["votes"].as_u64().unwrap());
    }
    assert_eq!(acked, (1..=50).collect::<Vec<_>>(), "each voter's ack carries the exact count at once");
    let mut updates = 0;
    loop {
        let e = viewer.next_event().await;
        assert_eq!(e["kind"], "votes");
        updates += 1;
        if e["data"]["votes"] == 50 {
            break;
        }
    }
    assert!(updates < 10, "{updates} vote updates for 50 votes: not coalesced");
}

#[tokio::test]
async fn with_many_questions_voted_a_flush_publishes_a_bounded_number_oldest_change_first() {
    let server = TestServer::start_with(|c| {
        generous(c);
        c.vote_flush_ms = 100;
        c.vote_events_per_flush = 1;
    })
    .await;
    let b = server.create_broadcast(json!({})).await;
    let id = id_of(&b);
    let mut asker = server.citizen("Asker").await;
    let mut questions = Vec::new();
    for text in ["First", "Second", "Third"] {
        questions.push(id_of(&ask(&mut asker, id, text).await));
    }
    let mut viewer = server.citizen("Viewer").await;
    viewer.join(&room(&b)).await;
    let mut voter = server.citizen("Voter").await;
    // Voted in an order that is not the questions' order: counts come out in the order they changed (one per
    // flush here), not sorted by id.
    let voted = [questions[2], questions[0], questions[1]];
    for q in voted {
        voter.ok(json!({"type": "vote", "broadcast": id, "question": q, "value": true})).await;
    }
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let e = viewer.next_event().await;
        if e["kind"] == "votes" {
            assert_eq!(e["data"]["votes"], 1, "{e}");
            seen.push(id_of(&e["data"]));
        }
    }
    assert_eq!(seen, voted);
}

#[tokio::test]
async fn a_moderator_pauses_new_questions_while_votes_still_count_and_resumes_them() {
    let server = TestServer::start().await;
    let b = server.create_broadcast(json!({})).await;
    let id = id_of(&b);
    assert_eq!(b["paused"], false, "a new broadcast takes questions");
    let mut citizen = server.citizen("Fatima").await;
    let mut viewer = server.citizen("Viewer").await;
    viewer.join(&room(&b)).await;
    let q = ask(&mut citizen, id, "When does registration open?").await;

    let patch = |paused: bool| {
        server
            .http
            .patch(server.url(&format!("/api/broadcasts/{id}")))
            .bearer_auth(server.token(majlis_server::auth::Role::Moderator, "Mod"))
            .json(&json!({ "paused": paused }))
            .send()
    };
    let paused: Value = patch(true).await.unwrap().json().await.unwrap();
    assert_eq!(paused["paused"], true);
    let event = viewer.next_matching("the paused broadcast", |f| f["kind"] == "broadcast").await;
    assert_eq!(event["data"]["paused"], true, "viewers learn that questions are paused");
    let (_, by_code) = server.get_json(&format!("/api/broadcasts/{}", b["code"].as_str().unwrap()), None).await;
    assert_eq!(by_code["paused"], true);

    let refusal = citizen.refused(json!({"type": "ask", "broadcast": id, "text": "Another question?"})).await;
    assert_eq!((refusal.code.as_str(), refusal.frame["message"].as_str()), ("conflict", Some("Questions are paused.")));
    let vote = citizen.ok(json!({"type": "vote", "broadcast": id, "question": id_of(&q), "value": true})).await;
    assert_eq!(vote["votes"], 1, "votes still count while questions are paused");

    let resumed: Value = patch(false).await.unwrap().json().await.unwrap();
    assert_eq!(resumed["paused"], false);
    ask(&mut citizen, id, "Another question?").await;
}
