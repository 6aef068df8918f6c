//! Every refusal of the chat's limits with its documented code: message and start rate limits (retries and
//! refused commands cost nothing; staff are not limited), too long a message, too many open chats, the chat's
//! message limit, no agent for the language, closed hours, consent; which refusal a start says first; a start
//! sent again with its `client_msg_id` (never refused, never a second chat).

use majlis_server::auth::{Role, User};
use majlis_tests::chat::*;
use majlis_tests::generous;
use serde_json::json;

fn tight(c: &mut majlis_server::Config) {
    generous(c);
    c.chat.messages_per_minute = 1;
    c.chat.messages_burst = 2;
    c.chat.max_message_len = 20;
    c.chat.starts_per_hour = 1;
    c.chat.starts_burst = 1;
}

#[tokio::test]
async fn a_citizens_messages_are_rate_limited_but_retries_refusals_and_staff_cost_nothing() {
    let server = chat_server(tight).await;
    let (mut amina, _) = agent(&server, "Amina", &["en"]).await;
    let (mut fatima, _, started) = citizen_with_chat(&server, "Fatima", "en").await;
    let chat = chat_id(&started);

    // Refused messages use up nothing.
    for _ in 0..3 {
        let long = fatima.refused(json!({"type": "chat_send", "chat": chat, "text": "x".repeat(21)})).await;
        assert_eq!(long.code, "bad_request");
        let empty = fatima.refused(json!({"type": "chat_send", "chat": chat, "text": "  "})).await;
        assert_eq!(empty.code, "bad_request");
    }
    for n in 1..=2 {
        fatima
            .ok(json!({"type": "chat_send", "chat": chat, "text": format!("m{n}"), "client_msg_id": format!("m{n}")}))
            .await;
    }
    let limited = fatima.refused(json!({"type": "chat_send", "chat": chat, "text": "m3"})).await;
    assert_eq!(limited.code, "rate_limited");
    assert!(limited.frame["retry_after_ms"].as_u64().is_some_and(|ms| ms > 0), "{:?}", limited.frame);
    // A retry of an acknowledged message passes, used-up limit or not.
    let retry = fatima.ok(json!({"type": "chat_send", "chat": chat, "text": "m1", "client_msg_id": "m1"})).await;
    assert_eq!(retry["duplicate"], true);
    // Other commands are not affected, and the agent is bound by the command limit alone.
    fatima.ok(json!({"type": "chat_receipt", "chat": chat, "read": 1})).await;
    for n in 0..5 {
        say(&mut amina, chat, &format!("a{n}")).await;
    }
}

#[tokio::test]
async fn chat_starts_are_limited_per_citizen_and_a_refused_start_costs_nothing() {
    let server = chat_server(tight).await;
    let (_amina, _) = agent(&server, "Amina", &["en"]).await;
    let token = server.token(Role::Citizen, "Fatima");
    let mut fatima = connect_as(&server, &token).await;
    let mut no_consent = form(&server, "en");
    no_consent["consent"] = json!(false);
    assert_eq!(fatima.refused(no_consent).await.code, "bad_request");
    let mut old = form(&server, "en");
    old["consent_version"] = json!("an-older-text");
    assert_eq!(fatima.refused(old).await.code, "conflict");
    let mut long = form(&server, "en");
    long["name"] = json!("n".repeat(81));
    assert_eq!(fatima.refused(long).await.code, "bad_request");
    let started = fatima.ok(form(&server, "en")).await;
    // One open chat per citizen by default.
    let second = fatima.refused(form(&server, "en")).await;
    assert_eq!(
        (second.code.as_str(), second.frame["message"].as_str()),
        ("conflict", Some("You already have an open chat."))
    );
    fatima.ok(json!({"type": "chat_end", "chat": chat_id(&started)})).await;
    let limited = fatima.refused(form(&server, "en")).await;
    assert_eq!(limited.code, "rate_limited", "{:?}", limited.frame);
    // Staff don't start chats.
    let mut agent = server.client(Role::Agent, "Omar").await;
    assert_eq!(agent.refused(form(&server, "en")).await.code, "forbidden");
}

#[tokio::test]
async fn a_start_sent_again_with_its_client_msg_id_answers_with_its_chat_and_is_never_refused_for_it() {
    // Three open chats allowed: a start sent again that made a chat would show as a second one.
    let server = chat_server(|c| {
        tight(c);
        c.chat.max_open_per_citizen = 3;
    })
    .await;
    let (_amina, _) = agent(&server, "Amina", &["en"]).await;
    let token = server.token(Role::Citizen, "Fatima");
    let start = |id: &str| {
        let mut start = form(&server, "en");
        start["client_msg_id"] = json!(id);
        start
    };
    let mut fatima = connect_as(&server, &token).await;
    let first = fatima.ok(start("start-1")).await;
    assert_eq!(first["duplicate"], false, "{first}");
    // The ack was lost with the connection: the page sends the start again on its next one. Her one start an
    // hour is used up, and it is still answered, with the same chat.
    drop(fatima);
    let mut fatima = connect_as(&server, &token).await;
    let again = fatima.ok(start("start-1")).await;
    assert_eq!((again["chat"].clone(), again["duplicate"].clone()), (first["chat"].clone(), json!(true)), "{again}");
    let (_, info) = server.get_json("/api/chat/start-info", Some(&token)).await;
    assert_eq!(info["my_chats"].as_array().map(Vec::len), Some(1), "one chat: {info}");
    // A start of its own is a new one, and her limit says no.
    assert_eq!(fatima.refused(start("start-2")).await.code, "rate_limited");
    // The id is hers: another citizen's start with it is his own chat.
    let mut ali = connect_as(&server, &server.token(Role::Citizen, "Ali")).await;
    assert_eq!(ali.refused(start(&"x".repeat(65))).await.code, "bad_request");
    let his = ali.ok(start("start-1")).await;
    assert_ne!(his["chat"], first["chat"]);
    assert_eq!(his["duplicate"], false);
    // Once her chat ended, the id names nothing open: a start with it is a new one.
    fatima.ok(json!({"type": "chat_end", "chat": chat_id(&first)})).await;
    assert_eq!(fatima.refused(start("start-1")).await.code, "rate_limited");
}

#[tokio::test]
async fn a_chat_takes_at_most_the_configured_messages() {
    let server = chat_server(|c| {
        generous(c);
        c.chat.max_messages = 3;
        c.chat.messages_burst = 100;
    })
    .await;
    let (mut amina, _) = agent(&server, "Amina", &["en"]).await;
    let (mut fatima, _, started) = citizen_with_chat(&server, "Fatima", "en").await;
    let chat = chat_id(&started);
    say(&mut fatima, chat, "one").await;
    say(&mut amina, chat, "two").await;
    say(&mut fatima, chat, "three").await;
    let full = fatima.refused(json!({"type": "chat_send", "chat": chat, "text": "four"})).await;
    assert_eq!(full.code, "conflict");
    let full = amina.refused(json!({"type": "chat_send", "chat": chat, "text": "four"})).await;
    assert_eq!(full.code, "conflict");
    // Ending still works, and tells both sides.
    amina.ok(json!({"type": "chat_end", "chat": chat})).await;
}

#[tokio::test]
async fn without_an_agent_for_the_language_or_outside_business_hours_a_start_is_refused() {
    let server = chat_server(generous).await;
    let mut fatima = server.citizen("Fatima").await;
    let none = fatima.refused(form(&server, "ar")).await;
    assert_eq!(none.code, "conflict", "nobody on the desk");
    let (_amina, _) = agent(&server, "Amina", &["en"]).await;
    assert_eq!(fatima.refused(form(&server, "ar")).await.code, "conflict", "nobody serves Arabic");
    let closed = serde_json::from_value(json!({"time_zone": "Asia/Bahrain", "week": {}})).expect("a schedule");
    let admin = User { sub: "a-admin".into(), name: "Admin".into(), role: Role::Admin };
    server.app.chat.set_hours(&admin, closed).await.expect("set hours");
    let closed = fatima.refused(form(&server, "en")).await;
    assert_eq!(closed.code, "conflict");
    assert!(closed.frame["message"].as_str().unwrap().contains("closed"), "{:?}", closed.frame);
}

#[tokio::test]
async fn a_start_says_who_first_then_the_desks_refusal_then_the_form() {
    let server = chat_server(generous).await;
    // Nobody on the desk: staff still hear that they don't start chats, not that no agent serves the language.
    for role in [Role::Agent, Role::Admin, Role::Moderator] {
        let mut staff = server.client(role, "Staff").await;
        let refused = staff.refused(form(&server, "en")).await;
        assert_eq!(refused.code, "forbidden", "{role:?}: {:?}", refused.frame);
    }
    // A citizen's bad form waits behind the desk's refusal, so the page offers the offline message first.
    let mut fatima = server.citizen("Fatima").await;
    let mut unconsented = form(&server, "en");
    unconsented["consent"] = json!(false);
    assert_eq!(fatima.refused(unconsented.clone()).await.code, "conflict", "no agent comes first");
    let (_amina, _) = agent(&server, "Amina", &["en"]).await;
    assert_eq!(fatima.refused(unconsented).await.code, "bad_request", "then the form");
    let mut stale = form(&server, "en");
    stale["name"] = json!("n".repeat(81));
    stale["consent_version"] = json!("an-older-text");
    assert_eq!(fatima.refused(stale).await.code, "bad_request", "the form before the consent version");
}

#[tokio::test]
async fn a_bad_client_msg_id_is_named_like_any_bad_field() {
    let server = chat_server(generous).await;
    let (_amina, _) = agent(&server, "Amina", &["en"]).await;
    let (mut fatima, _, started) = citizen_with_chat(&server, "Fatima", "en").await;
    let chat = chat_id(&started);
    for id in [String::new(), "x".repeat(65)] {
        let refused =
            fatima.refused(json!({"type": "chat_send", "chat": chat, "text": "hi", "client_msg_id": id})).await;
        assert_eq!(
            (refused.code.as_str(), refused.frame["message"].as_str()),
            ("bad_request", Some("The \"client_msg_id\" field must be 1 to 64 bytes."))
        );
    }
}
