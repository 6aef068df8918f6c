//! Offline messages: left by citizens, answered once and closed by staff, heard on the desk, limited; a form
//! sent again with its `client_msg_id` leaves one message.

use majlis_server::auth::Role;
use majlis_tests::TestServer;
use reqwest::Method;
use serde_json::{json, Value};

use super::*;

#[tokio::test]
async fn an_offline_message_is_answered_once_recorded_as_sent_to_the_contact_and_then_closed() {
    let server = TestServer::start().await;
    let citizen = server.token(Role::Citizen, "Fatima");
    let sub = sub_of(&server, &citizen).await;
    let (status, left) = post(&server, "/api/chat/offline", &citizen, offline_form()).await;
    assert_eq!(status, 201, "{left}");
    let id = left["id"].as_u64().expect("an id");

    let agent = server.token(Role::Agent, "Amina");
    let (status, inbox) = get(&server, "/api/chat/offline", Some(&agent)).await;
    assert_eq!(status, 200, "{inbox}");
    let m = &inbox["messages"][0];
    assert_eq!((m["id"].as_u64(), &m["citizen"], &m["contact"]), (Some(id), &json!(sub), &json!("fatima@example.bh")));
    assert_eq!((&m["category"], &m["lang"], &m["status"]), (&json!("suggestion"), &json!("ar"), &json!("open")));
    assert_eq!(
        (&m["name"], &m["text"], &m["answer"]),
        (&json!("فاطمة"), &json!("أقترح تمديد ساعات العمل"), &Value::Null)
    );

    let answer = format!("/api/chat/offline/{id}/answer");
    let (status, answered) = post(&server, &answer, &agent, json!({"text": "  شكراً، سننظر في ذلك.  "})).await;
    assert_eq!(status, 200, "{answered}");
    assert_eq!(answered["status"], "answered");
    assert_eq!(answered["answer"]["text"], "شكراً، سننظر في ذلك.", "trimmed");
    assert_eq!(answered["answer"]["sent_to"], "fatima@example.bh", "recorded as sent to the contact left");
    assert_eq!(answered["answer"]["by"]["name"], "Amina");
    assert!(answered["answer"]["at"].is_u64());
    assert_eq!(code(&post(&server, &answer, &agent, json!({"text": "again"})).await), "conflict");

    let admin = server.token(Role::Admin, "Noor");
    let close = format!("/api/chat/offline/{id}/close");
    let (status, closed) = call(&server, Method::POST, &close, Some(&admin), None).await;
    assert_eq!(status, 200, "{closed}");
    assert_eq!((&closed["status"], &closed["closed_by"]["name"]), (&json!("closed"), &json!("Noor")));
    assert_eq!(closed["answer"], answered["answer"], "the answer stays on record");
    assert_eq!(code(&call(&server, Method::POST, &close, Some(&admin), None).await), "conflict");

    let (_, open) = get(&server, "/api/chat/offline?status=open", Some(&agent)).await;
    assert_eq!(open["messages"], json!([]));
    let (_, done) = get(&server, "/api/chat/offline?status=closed", Some(&agent)).await;
    assert_eq!(done["messages"][0]["id"].as_u64(), Some(id));
}

#[tokio::test]
async fn an_unanswered_offline_message_may_be_closed_and_then_takes_no_answer() {
    let server = TestServer::start().await;
    let citizen = server.token(Role::Citizen, "Fatima");
    let (_, left) = post(&server, "/api/chat/offline", &citizen, offline_form()).await;
    let id = left["id"].as_u64().expect("an id");
    let agent = server.token(Role::Agent, "Amina");
    let (status, closed) =
        call(&server, Method::POST, &format!("/api/chat/offline/{id}/close"), Some(&agent), None).await;
    assert_eq!((status, &closed["status"], &closed["answer"]), (200, &json!("closed"), &Value::Null), "{closed}");
    let late = post(&server, &format!("/api/chat/offline/{id}/answer"), &agent, json!({"text": "late"})).await;
    assert_eq!(code(&late), "conflict");
}

#[tokio::test]
async fn only_citizens_leave_offline_messages_and_only_staff_work_the_inbox() {
    let server = TestServer::start().await;
    let citizen = server.token(Role::Citizen, "Fatima");
    let (_, left) = post(&server, "/api/chat/offline", &citizen, offline_form()).await;
    let id = left["id"].as_u64().expect("an id");
    for role in [Role::Agent, Role::Admin, Role::Moderator] {
        let token = server.token(role, "Staff");
        assert_eq!(code(&post(&server, "/api/chat/offline", &token, offline_form()).await), "forbidden", "{role:?}");
    }
    let anonymous = call(&server, Method::POST, "/api/chat/offline", None, Some(offline_form())).await;
    assert_eq!(code(&anonymous), "unauthorized");

    for role in [Role::Citizen, Role::Moderator] {
        let token = server.token(role, "Nosy");
        assert_eq!(code(&get(&server, "/api/chat/offline", Some(&token)).await), "forbidden", "{role:?} lists");
        let answer = post(&server, &format!("/api/chat/offline/{id}/answer"), &token, json!({"text": "x"})).await;
        assert_eq!(code(&answer), "forbidden", "{role:?} answers");
        let close = call(&server, Method::POST, &format!("/api/chat/offline/{id}/close"), Some(&token), None).await;
        assert_eq!(code(&close), "forbidden", "{role:?} closes");
    }
    assert_eq!(code(&get(&server, "/api/chat/offline", None).await), "unauthorized");
    let agent = server.token(Role::Agent, "Amina");
    let (_, inbox) = get(&server, "/api/chat/offline", Some(&agent)).await;
    assert_eq!(inbox["messages"][0]["status"], "open", "nothing refused changed anything");
}

#[tokio::test]
async fn bad_offline_messages_get_plain_sentences_and_a_citizen_may_leave_only_a_few() {
    let server = TestServer::start_with(|c| c.chat.offline_burst = 100).await;
    let citizen = server.token(Role::Citizen, "Fatima");
    let with = |field: &str, value: Value| {
        let mut form = offline_form();
        form[field] = value;
        form
    };
    let mut without_contact = offline_form();
    without_contact.as_object_mut().map(|f| f.remove("contact"));
    let cases = [
        (without_contact, "\"contact\" field is missing"),
        (with("category", json!("praise")), "must be one of inquiry, suggestion, complaint, other"),
        (with("lang", json!("fr")), "must be ar or en"),
        (with("text", json!("   ")), ""),
        (with("text", json!("x".repeat(4001))), ""),
        (with("contact", json!("line one\nline two")), ""),
        (with("text", json!(5)), "\"text\" field must be a string"),
        // A valid body with a value of the wrong kind where a name is read: the field is named, the body is
        // not called "not valid JSON".
        (with("category", json!(3)), "\"category\" field must be a string"),
        (with("lang", json!(["ar"])), "\"lang\" field must be a string"),
        (with("colour", json!("red")), "\"colour\" is not a field this accepts"),
    ];
    for (body, says) in cases {
        let answer = post(&server, "/api/chat/offline", &citizen, body.clone()).await;
        assert_eq!((answer.0, code(&answer)), (400, "bad_request".to_string()), "{body}: {}", answer.1);
        let message = answer.1["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{message:?} should say {says:?}");
    }
    let not_json = server
        .http
        .post(server.url("/api/chat/offline"))
        .bearer_auth(&citizen)
        .body(offline_form().to_string())
        .send()
        .await
        .expect("POST");
    assert_eq!(not_json.status(), 400, "Content-Type must be JSON");
    let huge = with("text", json!("x".repeat(70 * 1024)));
    let answer = post(&server, "/api/chat/offline", &citizen, huge).await;
    assert_eq!((answer.0, code(&answer)), (413, "too_large".to_string()), "past --chat-max-body-bytes: {}", answer.1);

    for _ in 0..3 {
        assert_eq!(post(&server, "/api/chat/offline", &citizen, offline_form()).await.0, 201);
    }
    let fourth = post(&server, "/api/chat/offline", &citizen, offline_form()).await;
    assert_eq!(code(&fourth), "conflict", "at most 3 open offline messages per citizen: {}", fourth.1);
    let other = server.token(Role::Citizen, "Ali");
    assert_eq!(
        post(&server, "/api/chat/offline", &other, offline_form()).await.0,
        201,
        "another citizen is not affected"
    );

    let agent = server.token(Role::Agent, "Amina");
    for path in [
        "/api/chat/offline/999/answer",
        "/api/chat/offline/x/answer",
        "/api/chat/offline/-1/answer",
        "/api/chat/offline/%FF/answer",
    ] {
        assert_eq!(code(&post(&server, path, &agent, json!({"text": "x"})).await), "not_found", "{path}");
    }
    let (_, inbox) = get(&server, "/api/chat/offline", Some(&agent)).await;
    let id = inbox["messages"][0]["id"].as_u64().expect("an id");
    let empty = post(&server, &format!("/api/chat/offline/{id}/answer"), &agent, json!({"text": ""})).await;
    assert_eq!(code(&empty), "bad_request");
    let missing = post(&server, &format!("/api/chat/offline/{id}/answer"), &agent, json!({})).await;
    assert_eq!(code(&missing), "bad_request");
}

#[tokio::test]
async fn offline_messages_are_rate_limited_per_citizen_and_refused_ones_cost_nothing() {
    let server = TestServer::start_with(|c| {
        c.chat.offline_burst = 2;
        c.chat.offline_per_hour = 1;
    })
    .await;
    let citizen = server.token(Role::Citizen, "Fatima");
    let mut blank = offline_form();
    blank["text"] = json!(" ");
    for _ in 0..5 {
        assert_eq!(code(&post(&server, "/api/chat/offline", &citizen, blank.clone()).await), "bad_request");
    }
    for _ in 0..2 {
        assert_eq!(post(&server, "/api/chat/offline", &citizen, offline_form()).await.0, 201, "the burst passes");
    }
    let response = server
        .http
        .post(server.url("/api/chat/offline"))
        .bearer_auth(&citizen)
        .json(&offline_form())
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 429);
    assert!(response.headers().get("retry-after").is_some(), "Retry-After says when");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "rate_limited");
    assert!(body["error"]["retry_after_ms"].as_u64().is_some_and(|ms| ms > 0), "{body}");
    let other = server.token(Role::Citizen, "Ali");
    assert_eq!(post(&server, "/api/chat/offline", &other, offline_form()).await.0, 201, "per citizen");
}

#[tokio::test]
async fn an_offline_form_sent_again_with_its_client_msg_id_leaves_one_message_and_is_never_refused_for_it() {
    let server = TestServer::start_with(|c| {
        c.chat.offline_burst = 1;
        c.chat.offline_per_hour = 1;
    })
    .await;
    let citizen = server.token(Role::Citizen, "Fatima");
    let form = |id: &str| {
        let mut form = offline_form();
        form["client_msg_id"] = json!(id);
        form
    };
    let (status, first) = post(&server, "/api/chat/offline", &citizen, form("offline-1")).await;
    assert_eq!((status, first["duplicate"].clone()), (201, json!(false)), "{first}");
    // The answer was lost: the page sends the form again. Her one message an hour is used up, and it is still
    // answered, with the message it left.
    let (status, again) = post(&server, "/api/chat/offline", &citizen, form("offline-1")).await;
    assert_eq!((status, again["duplicate"].clone(), again["id"].clone()), (200, json!(true), first["id"].clone()));
    let agent = server.token(Role::Agent, "Amina");
    let (_, inbox) = get(&server, "/api/chat/offline", Some(&agent)).await;
    assert_eq!(inbox["messages"].as_array().map(Vec::len), Some(1), "one message: {inbox}");
    assert_eq!(code(&post(&server, "/api/chat/offline", &citizen, form("offline-2")).await), "rate_limited");
    // Another citizen's id is theirs; a bad one is refused.
    let ali = server.token(Role::Citizen, "Ali");
    let long = post(&server, "/api/chat/offline", &ali, form(&"x".repeat(65))).await;
    assert_eq!(code(&long), "bad_request", "{}", long.1);
    let (status, his) = post(&server, "/api/chat/offline", &ali, form("offline-1")).await;
    assert_eq!((status, his["duplicate"].clone()), (201, json!(false)), "{his}");
    assert_ne!(his["id"], first["id"]);
    // Once answered, the id names nothing open: the form is a new message (and her limit says no).
    let id = first["id"].as_u64().expect("an id");
    let answer = format!("/api/chat/offline/{id}/answer");
    assert_eq!(post(&server, &answer, &agent, json!({"text": "Done."})).await.0, 200);
    assert_eq!(code(&post(&server, "/api/chat/offline", &citizen, form("offline-1")).await), "rate_limited");
}

#[tokio::test]
async fn the_offline_inbox_lists_newest_first_in_pages_and_filters_by_status() {
    let server = TestServer::start_with(|c| c.chat.offline_burst = 100).await;
    let agent = server.token(Role::Agent, "Amina");
    let mut ids = vec![];
    for n in 0..5 {
        let citizen = server.token(Role::Citizen, &format!("Citizen {n}"));
        let (status, left) = post(&server, "/api/chat/offline", &citizen, offline_form()).await;
        assert_eq!(status, 201, "{left}");
        ids.push(left["id"].as_u64().expect("an id"));
    }
    let listed = |body: &Value| -> Vec<u64> {
        body["messages"].as_array().map(|m| m.iter().filter_map(|m| m["id"].as_u64()).collect()).unwrap_or_default()
    };
    let (_, all) = get(&server, "/api/chat/offline", Some(&agent)).await;
    let newest_first: Vec<u64> = ids.iter().rev().copied().collect();
    assert_eq!(listed(&all), newest_first);
    let (_, page) = get(&server, "/api/chat/offline?limit=2", Some(&agent)).await;
    assert_eq!(listed(&page), newest_first[..2]);
    let (_, next) = get(&server, &format!("/api/chat/offline?limit=2&before={}", newest_first[1]), Some(&agent)).await;
    assert_eq!(listed(&next), newest_first[2..4]);

    let oldest = ids[0];
    let close = format!("/api/chat/offline/{oldest}/close");
    assert_eq!(call(&server, Method::POST, &close, Some(&agent), None).await.0, 200);
    let (_, open) = get(&server, "/api/chat/offline?status=open", Some(&agent)).await;
    assert_eq!(listed(&open), newest_first[..4]);

    for query in ["limit=101", "limit=0", "limit=x", "before=x", "status=done", "colour=red"] {
        let answer = get(&server, &format!("/api/chat/offline?{query}"), Some(&agent)).await;
        assert_eq!(code(&answer), "bad_request", "{query}: {}", answer.1);
    }
}

#[tokio::test]
async fn the_desk_hears_of_offline_messages_left_answered_and_closed() {
    let server = TestServer::start().await;
    let (_, mut agent) = available_agent(&server, "Amina", json!(["ar"])).await;
    let desk = agent.join("desk").await;
    let before = desk["data"]["offline_open"].as_u64().expect("the desk counts open offline messages");

    let citizen = server.token(Role::Citizen, "Fatima");
    let (_, left) = post(&server, "/api/chat/offline", &citizen, offline_form()).await;
    let event = agent.next_matching("the offline event", |f| f["room"] == "desk" && f["kind"] == "offline").await;
    assert_eq!((&event["data"]["id"], &event["data"]["status"]), (&left["id"], &json!("open")), "{event}");
    let id = left["id"].as_u64().expect("an id");
    let staff = server.token(Role::Agent, "Huda");
    post(&server, &format!("/api/chat/offline/{id}/answer"), &staff, json!({"text": "Done."})).await;
    let event = agent.next_matching("the answer", |f| f["room"] == "desk" && f["kind"] == "offline").await;
    assert_eq!(event["data"]["status"], "answered");
    assert_eq!(event["data"]["answer"]["sent_to"], "fatima@example.bh");
    call(&server, Method::POST, &format!("/api/chat/offline/{id}/close"), Some(&staff), None).await;
    let event = agent.next_matching("the close", |f| f["room"] == "desk" && f["kind"] == "offline").await;
    assert_eq!(event["data"]["status"], "closed");
    let again = agent.join("desk").await;
    assert_eq!(again["data"]["offline_open"].as_u64(), Some(before), "closed ones are not counted");
}
