//! Canned responses: managed by admins, listed for agents, heard on the desk, sent by shortcut.

use majlis_server::auth::Role;
use majlis_tests::TestServer;
use reqwest::Method;
use serde_json::{json, Value};

use super::*;

#[tokio::test]
async fn admins_manage_canned_responses_and_agents_list_them_by_shortcut() {
    let server = TestServer::start().await;
    let admin = server.token(Role::Admin, "Noor");
    let (status, greet) = post(
        &server,
        "/api/chat/canned",
        &admin,
        json!({"shortcut": "/Greet", "text": {"ar": "أهلاً بك، كيف أستطيع مساعدتك؟", "en": "Hello, how can I help?"}}),
    )
    .await;
    assert_eq!(status, 201, "{greet}");
    assert_eq!(greet["shortcut"], "greet", "stored lower-case, without the slash");
    assert!(greet["updated_at"].is_u64());
    let (status, bye) =
        post(&server, "/api/chat/canned", &admin, json!({"shortcut": "bye", "text": {"en": "Goodbye."}})).await;
    assert_eq!(status, 201, "{bye}");
    assert_eq!(bye["text"], json!({"en": "Goodbye."}), "an absent language stays absent");

    let agent = server.token(Role::Agent, "Amina");
    let (status, list) = get(&server, "/api/chat/canned", Some(&agent)).await;
    assert_eq!(status, 200, "{list}");
    let shortcuts: Vec<&Value> =
        list["canned"].as_array().map(|c| c.iter().map(|c| &c["shortcut"]).collect()).unwrap_or_default();
    assert_eq!(shortcuts, vec![&json!("bye"), &json!("greet")], "by shortcut");

    let path = format!("/api/chat/canned/{}", bye["id"]);
    let (status, edited) =
        put(&server, &path, &admin, json!({"shortcut": "goodbye", "text": {"ar": "مع السلامة", "en": "Goodbye!"}}))
            .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(
        (&edited["id"], &edited["shortcut"], &edited["text"]["ar"]),
        (&bye["id"], &json!("goodbye"), &json!("مع السلامة"))
    );
    let taken = put(&server, &path, &admin, json!({"shortcut": "greet", "text": {"en": "x"}})).await;
    assert_eq!(code(&taken), "conflict", "a shortcut is taken");

    let deleted = server.http.delete(server.url(&path)).bearer_auth(&admin).send().await.expect("DELETE");
    assert_eq!(deleted.status(), 204);
    let again = call(&server, Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(code(&again), "not_found");
    assert_eq!(code(&put(&server, &path, &admin, json!({"shortcut": "x", "text": {"en": "x"}})).await), "not_found");
    let (_, list) = get(&server, "/api/chat/canned", Some(&admin)).await;
    assert_eq!(list["canned"].as_array().map(Vec::len), Some(1), "{list}");
}

#[tokio::test]
async fn agents_may_not_edit_canned_responses_and_citizens_and_moderators_may_not_read_them() {
    let server = TestServer::start().await;
    let admin = server.token(Role::Admin, "Noor");
    let body = json!({"shortcut": "greet", "text": {"en": "Hello."}});
    let (_, greet) = post(&server, "/api/chat/canned", &admin, body.clone()).await;
    let path = format!("/api/chat/canned/{}", greet["id"]);
    let agent = server.token(Role::Agent, "Amina");
    assert_eq!(code(&post(&server, "/api/chat/canned", &agent, body.clone()).await), "forbidden");
    assert_eq!(code(&put(&server, &path, &agent, body.clone()).await), "forbidden");
    assert_eq!(code(&call(&server, Method::DELETE, &path, Some(&agent), None).await), "forbidden");
    for role in [Role::Citizen, Role::Moderator] {
        let token = server.token(role, "Nosy");
        assert_eq!(code(&get(&server, "/api/chat/canned", Some(&token)).await), "forbidden", "{role:?}");
        assert_eq!(code(&post(&server, "/api/chat/canned", &token, body.clone()).await), "forbidden", "{role:?}");
    }
    assert_eq!(code(&get(&server, "/api/chat/canned", None).await), "unauthorized");
    let (_, list) = get(&server, "/api/chat/canned", Some(&agent)).await;
    assert_eq!(list["canned"], json!([greet]), "nothing refused changed anything");
}

#[tokio::test]
async fn bad_canned_responses_get_plain_sentences() {
    let server = TestServer::start_with(|c| c.chat.max_canned = 1).await;
    let admin = server.token(Role::Admin, "Noor");
    let cases = [
        json!({"shortcut": "two words", "text": {"en": "x"}}),
        json!({"shortcut": "", "text": {"en": "x"}}),
        json!({"shortcut": "x".repeat(33), "text": {"en": "x"}}),
        json!({"shortcut": "empty", "text": {"ar": " ", "en": ""}}),
        json!({"shortcut": "empty", "text": {}}),
        json!({"shortcut": "long", "text": {"en": "x".repeat(2001)}}),
        json!({"shortcut": "greet"}),
        json!({"shortcut": "greet", "text": "Hello"}),
        json!({"shortcut": "greet", "text": {"en": "x"}, "colour": "red"}),
        // A third language would be dropped without a word: refused instead.
        json!({"shortcut": "greet", "text": {"en": "Hello", "fr": "Bonjour"}}),
    ];
    for body in cases {
        let answer = post(&server, "/api/chat/canned", &admin, body.clone()).await;
        assert_eq!((answer.0, code(&answer)), (400, "bad_request".to_string()), "{body}: {}", answer.1);
    }
    assert_eq!(
        post(&server, "/api/chat/canned", &admin, json!({"shortcut": "تحية", "text": {"ar": "أهلاً"}})).await.0,
        201
    );
    let more = post(&server, "/api/chat/canned", &admin, json!({"shortcut": "more", "text": {"en": "x"}})).await;
    assert_eq!(code(&more), "conflict", "at most --chat-max-canned");
    for path in ["/api/chat/canned/999", "/api/chat/canned/abc"] {
        assert_eq!(code(&put(&server, path, &admin, json!({"shortcut": "x", "text": {"en": "x"}})).await), "not_found");
    }
}

#[tokio::test]
async fn the_desk_hears_of_canned_responses_created_changed_and_removed() {
    let server = TestServer::start().await;
    let (_, mut agent) = available_agent(&server, "Amina", json!(["en"])).await;
    agent.join("desk").await;
    let admin = server.token(Role::Admin, "Noor");
    let (_, greet) =
        post(&server, "/api/chat/canned", &admin, json!({"shortcut": "greet", "text": {"en": "Hello."}})).await;
    let event = agent.next_matching("canned", |f| f["room"] == "desk" && f["kind"] == "canned").await;
    assert_eq!(event["data"], greet);
    let path = format!("/api/chat/canned/{}", greet["id"]);
    let (_, edited) = put(&server, &path, &admin, json!({"shortcut": "hello", "text": {"en": "Hi."}})).await;
    let event = agent.next_matching("canned edit", |f| f["room"] == "desk" && f["kind"] == "canned").await;
    assert_eq!(event["data"], edited);
    call(&server, Method::DELETE, &path, Some(&admin), None).await;
    let event = agent.next_matching("canned removal", |f| f["room"] == "desk" && f["kind"] == "canned_removed").await;
    assert_eq!(event["data"], json!({"id": greet["id"]}));
}

#[tokio::test]
async fn an_agent_sends_a_canned_response_by_its_shortcut() {
    let server = TestServer::start_with(generous).await;
    set_hours(&server, always_open()).await;
    let admin = server.token(Role::Admin, "Noor");
    post(&server, "/api/chat/canned", &admin, json!({"shortcut": "greet", "text": {"ar": "أهلاً بك", "en": "Welcome."}}))
        .await;
    let (_, mut agent) = available_agent(&server, "Amina", json!(["en"])).await;
    let mut citizen = server.citizen("Fatima").await;
    let started = start_chat(&server, &mut citizen, "en").await.expect("started");
    let chat = started["chat"].clone();
    let sent = agent.ok(json!({"type": "chat_send", "chat": chat, "text": "/greet"})).await;
    assert_eq!(sent["message"]["text"], "Welcome.", "{sent}");
}
