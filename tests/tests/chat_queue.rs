//! The queue: routing to the least busy agent under their cap, first come first served, live positions and
//! wait estimates that move as agents free up (the fairness test: 20 chats, 4 agents, a cap of 3).

use majlis_tests::chat::*;
use majlis_tests::{generous, Client};
use serde_json::{json, Value};

/// Each agent's load as a fresh desk snapshot shows it.
async fn loads(observer: &mut Client) -> Vec<u64> {
    let desk = observer.join("desk").await;
    desk["data"]["agents"].as_array().expect("agents").iter().map(|a| a["load"].as_u64().expect("load")).collect()
}

#[tokio::test]
async fn twenty_chats_four_agents_with_a_cap_of_three_nobody_over_the_cap_eight_wait_in_order() {
    let server = chat_server(|c| {
        generous(c);
        c.chat.agent_cap = 3;
        c.chat.starts_per_hour = 1000;
        c.chat.starts_burst = 1000;
    })
    .await;
    let mut agents = vec![];
    for name in ["Amina", "Huda", "Omar", "Salman"] {
        agents.push(agent(&server, name, &["ar"]).await);
    }
    let mut observer = server.client(majlis_server::auth::Role::Admin, "Supervisor").await;

    let mut citizens = vec![];
    for n in 0..20 {
        let (mut client, _, started) = citizen_with_chat(&server, &format!("Citizen {n}"), "ar").await;
        let chat = chat_id(&started);
        client.join(&format!("chat:{chat}")).await;
        if n < 12 {
            assert_eq!(started["position"], Value::Null, "chat {n} goes to an agent at once: {started}");
            // The least busy agent is chosen: loads never differ by more than one, nobody is over the cap.
            let loads = loads(&mut observer).await;
            let (min, max) = (*loads.iter().min().unwrap(), *loads.iter().max().unwrap());
            assert!(max - min <= 1 && max <= 3, "after chat {n}: loads {loads:?}");
            assert_eq!(loads.iter().sum::<u64>(), n as u64 + 1);
        } else {
            assert_eq!(started["position"], n - 11, "chat {n} waits at the back: {started}");
        }
        citizens.push((client, chat));
    }
    assert_eq!(loads(&mut observer).await, vec![3, 3, 3, 3]);
    let desk = observer.join("desk").await;
    let waiting: Vec<u64> =
        desk["data"]["queues"]["ar"].as_array().unwrap().iter().map(|q| q["chat"].as_u64().unwrap()).collect();
    assert_eq!(waiting, citizens[12..].iter().map(|(_, c)| *c).collect::<Vec<_>>(), "first come, first served");

    // An agent frees a place: the front of the queue goes to them, everyone behind moves up one.
    let (amina, _) = &mut agents[0];
    let first = citizens[0].1;
    let held = loads(&mut observer).await;
    assert_eq!(held[0], 3);
    let amina_chats: Vec<u64> = observer.join("desk").await["data"]["agents"][0]["chats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .collect();
    let freed = *amina_chats.first().unwrap_or(&first);
    amina.ok(json!({"type": "chat_end", "chat": freed})).await;
    let (front, front_chat) = &mut citizens[12];
    let room = format!("chat:{front_chat}");
    let taken = next_of(front, &room, "chat").await;
    assert_eq!(taken["data"]["status"], "active");
    for (i, (client, chat)) in citizens[13..].iter_mut().enumerate() {
        // Starts behind it told it its (unchanged) place too: the one that counts is the move.
        let room = format!("chat:{chat}");
        let queue = client
            .next_matching("a move up the queue", |f| {
                f["room"] == room.as_str() && f["kind"] == "queue" && f["data"]["position"] != i as u64 + 2
            })
            .await;
        assert_eq!(queue["data"]["position"], i as u64 + 1, "chat {chat} moved up: {queue}");
        assert!(queue["data"]["estimate_ms"].is_u64(), "a wait estimate from the waits so far: {queue}");
    }
    assert_eq!(loads(&mut observer).await, vec![3, 3, 3, 3], "nobody over the cap");
}

#[tokio::test]
async fn a_waiting_citizen_sees_their_position_and_estimate_move_and_may_leave_the_queue() {
    let server = one_chat_per_agent().await;
    let (mut amina, _first, started) = agent_with_a_chat(&server, "Amina", "First", "en").await;
    let first = chat_id(&started);
    assert_eq!(started["position"], Value::Null);
    let (mut second, _, started) = citizen_with_chat(&server, "Second", "en").await;
    let second_chat = chat_id(&started);
    assert_eq!(started["position"], 1);
    // A chat taken at once is a wait of 0: the estimate is known, and small.
    assert_eq!(started["estimate_ms"], 0);
    let (mut third, _, started) = citizen_with_chat(&server, "Third", "en").await;
    let third_chat = chat_id(&started);
    assert_eq!(started["position"], 2);
    let snapshot = third.join(&format!("chat:{third_chat}")).await;
    assert_eq!(
        (snapshot["data"]["position"].as_u64(), snapshot["data"]["chat"]["status"].as_str()),
        (Some(2), Some("waiting"))
    );
    second.join(&format!("chat:{second_chat}")).await;

    // While waiting, the citizen may already write.
    say(&mut second, second_chat, "Are you there?").await;

    // The second leaves the queue: the third moves to the front.
    second.ok(json!({"type": "chat_end", "chat": second_chat})).await;
    let left = next_of(&mut second, &format!("chat:{second_chat}"), "chat").await;
    assert_eq!(left["data"]["end_reason"], "left_queue");
    let moved = next_of(&mut third, &format!("chat:{third_chat}"), "queue").await;
    assert_eq!(moved["data"]["position"], 1);

    // The agent frees up: the third is taken (its `chat` event says so; a fresh snapshot has no position).
    amina.ok(json!({"type": "chat_end", "chat": first})).await;
    let chat = next_of(&mut third, &format!("chat:{third_chat}"), "chat").await;
    assert_eq!(
        (chat["data"]["status"].as_str(), chat["data"]["agent"]["name"].as_str()),
        (Some("active"), Some("Amina"))
    );
    let snapshot = third.join(&format!("chat:{third_chat}")).await;
    assert_eq!((&snapshot["data"]["position"], &snapshot["data"]["estimate_ms"]), (&Value::Null, &Value::Null));
}

#[tokio::test]
async fn the_wait_estimate_follows_the_real_waits_of_the_language() {
    let server = one_chat_per_agent().await;
    let (mut amina, _a, started) = agent_with_a_chat(&server, "Amina", "A", "ar").await;
    let first = chat_id(&started);
    let (_b, _, started) = citizen_with_chat(&server, "B", "ar").await;
    assert_eq!(started["estimate_ms"], 0, "the only wait so far was none");
    let (mut c, _, started) = citizen_with_chat(&server, "C", "ar").await;
    let third = chat_id(&started);
    c.join(&format!("chat:{third}")).await;
    // B waits at the front for a measurable while: the wait being measured, not a synchronisation.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    amina.ok(json!({"type": "chat_end", "chat": first})).await;
    let moved = c.next_matching("C at the front", |f| f["kind"] == "queue" && f["data"]["position"] == 1).await;
    // Samples: 0 ms at place 1 (A) and ~400 ms at place 1 (B): the median is ~200 ms a place.
    let estimate = moved["data"]["estimate_ms"].as_u64().expect("an estimate");
    assert!((150..2000).contains(&estimate), "{moved}");
}

#[tokio::test]
async fn a_new_chat_reaches_the_desk_live() {
    let server = one_chat_per_agent().await;
    let (mut amina, _) = agent(&server, "Amina", &["en"]).await;
    let desk = amina.join("desk").await;
    assert_eq!(desk["data"]["queues"], json!({"ar": [], "en": []}));
    let (_first, _, started) = citizen_with_chat(&server, "First", "en").await;
    let open = next_of(&mut amina, "desk", "open").await;
    assert_eq!(open["data"]["id"], chat_id(&started));
    let (_second, _, started) = citizen_with_chat(&server, "Second", "en").await;
    let queue = amina
        .next_matching("the queue with the new chat", |f| {
            f["room"] == "desk"
                && f["kind"] == "queue"
                && f["data"]["waiting"].as_array().is_some_and(|w| !w.is_empty())
        })
        .await;
    assert_eq!(queue["data"]["lang"], "en");
    let item = &queue["data"]["waiting"][0];
    assert_eq!((item["chat"].as_u64(), item["position"].as_u64()), (Some(chat_id(&started)), Some(1)));
    assert_eq!(item["citizen_name"], "Fatima");
    assert!(item.get("contact").is_none(), "no contact in the queue: {item}");
}
