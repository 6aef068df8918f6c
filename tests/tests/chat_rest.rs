//! The live chat's REST API (docs/protocol.md §10.7): the start info, business hours, offline messages,
//! canned responses, agents' caps, transcripts and the ministry's report, each with who may and who may not,
//! and bad bodies answered with plain sentences. Nothing here depends on the storage mode: the same tests run in
//! Redis mode from `shared_in_redis.rs`.

use majlis_server::auth::Role;
use majlis_tests::{generous, Client, TestServer};
use reqwest::Method;
use serde_json::{json, Value};

/// One REST call: (status, JSON body or `Null`).
async fn call(
    server: &TestServer,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = server.http.request(method, server.url(path));
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    if let Some(b) = body {
        request = request.json(&b);
    }
    let response = request.send().await.expect("REST call");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(server: &TestServer, path: &str, token: Option<&str>) -> (u16, Value) {
    call(server, Method::GET, path, token, None).await
}

async fn post(server: &TestServer, path: &str, token: &str, body: Value) -> (u16, Value) {
    call(server, Method::POST, path, Some(token), Some(body)).await
}

async fn put(server: &TestServer, path: &str, token: &str, body: Value) -> (u16, Value) {
    call(server, Method::PUT, path, Some(token), Some(body)).await
}

/// The error code of a refusal, checking that its message is a plain sentence.
fn code(status_and_body: &(u16, Value)) -> String {
    let (status, body) = status_and_body;
    let message = body["error"]["message"].as_str().unwrap_or_else(|| panic!("no error message ({status}): {body}"));
    assert_plain(message);
    body["error"]["code"].as_str().unwrap_or_default().to_string()
}

/// A message a person can read: a sentence, no parser or server wording.
fn assert_plain(message: &str) {
    assert!(message.ends_with('.') || message.ends_with('?'), "not a sentence: {message}");
    for word in ["expected", "invalid type", " at line ", "column", "u64", "u32", "`", "Failed to", "deserialize"] {
        assert!(!message.contains(word), "parser wording in {message:?}");
    }
}

/// A schedule open every minute of every day, or never.
fn always_open() -> Value {
    let day = json!([{"open": "00:00", "close": "24:00"}]);
    json!({"time_zone": "Asia/Bahrain", "week": {"sun": day, "mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day}, "holidays": []})
}

fn never_open() -> Value {
    json!({"time_zone": "Asia/Bahrain", "week": {}, "holidays": []})
}

async fn set_hours(server: &TestServer, schedule: Value) {
    let admin = server.token(Role::Admin, "Noor");
    let answer = put(server, "/api/chat/hours", &admin, schedule).await;
    assert_eq!(answer.0, 200, "PUT hours: {}", answer.1);
}

/// The `sub` behind a token.
async fn sub_of(server: &TestServer, token: &str) -> String {
    let (status, me) = get(server, "/api/me", Some(token)).await;
    assert_eq!(status, 200, "{me}");
    me["sub"].as_str().unwrap_or_default().to_string()
}

async fn signed_in(server: &TestServer, token: &str) -> Client {
    let mut client = Client::connect(&server.ws_url()).await;
    client.ok(json!({"type": "auth", "token": token})).await;
    client
}

/// An agent on the desk, available for `langs`: (token, connection).
async fn available_agent(server: &TestServer, name: &str, langs: Value) -> (String, Client) {
    let token = server.token(Role::Agent, name);
    let mut agent = signed_in(server, &token).await;
    agent.ok(json!({"type": "agent_status", "availability": "available", "languages": langs})).await;
    (token, agent)
}

async fn consent_version(server: &TestServer) -> Value {
    let (status, info) = get(server, "/api/chat/start-info", None).await;
    assert_eq!(status, 200, "{info}");
    info["consent"]["version"].clone()
}

async fn start_chat(server: &TestServer, citizen: &mut Client, lang: &str) -> Result<Value, majlis_tests::Refusal> {
    let version = consent_version(server).await;
    citizen
        .request(json!({"type": "chat_start", "category": "complaint", "lang": lang, "name": "Fatima",
            "contact": "fatima@example.bh", "consent": true, "consent_version": version}))
        .await
}

fn offline_form() -> Value {
    json!({"category": "suggestion", "lang": "ar", "name": "فاطمة", "contact": "fatima@example.bh", "text": "أقترح تمديد ساعات العمل"})
}

// ---------------------------------------------------------------------------------------------------------------
// Start info and business hours

#[tokio::test]
async fn the_start_info_shows_the_desk_and_the_consent_line_and_needs_a_token_only_for_ones_own_chats() {
    let server = TestServer::start().await;
    let (status, info) = get(&server, "/api/chat/start-info", None).await;
    assert_eq!(status, 200, "{info}");
    assert!(info["open"].is_boolean(), "{info}");
    assert_eq!(info["time_zone"], "Asia/Bahrain");
    for lang in ["ar", "en"] {
        let l = &info["langs"][lang];
        assert!(l["unavailable"].is_string(), "nobody is on the desk, so no chat may start: {info}");
        assert_eq!(l["waiting"], 0);
    }
    assert!(info["consent"]["text"]["en"].is_string() && info["consent"]["text"]["ar"].is_string(), "{info}");
    assert!(info["consent"]["version"].as_str().is_some_and(|v| !v.is_empty()), "{info}");
    assert_eq!((&info["my_chats"], &info["may_start"]), (&Value::Null, &Value::Null), "no token, no personal part");

    let citizen = server.token(Role::Citizen, "Fatima");
    let (_, mine) = get(&server, "/api/chat/start-info", Some(&citizen)).await;
    assert_eq!((&mine["my_chats"], &mine["may_start"]), (&json!([]), &json!(true)), "{mine}");
}

#[tokio::test]
async fn business_hours_default_to_the_governments_and_only_admins_change_them() {
    let server = TestServer::start().await;
    let (status, hours) = get(&server, "/api/chat/hours", None).await;
    assert_eq!(status, 200, "{hours}");
    assert_eq!(hours["time_zone"], "Asia/Bahrain");
    assert_eq!(hours["week"]["sun"], json!([{"open": "07:00", "close": "14:00"}]));
    assert_eq!(hours["week"]["fri"], json!([]));
    assert_eq!(hours["holidays"], json!([]));

    let wanted = json!({"time_zone": "Europe/London",
        "week": {"mon": [{"open": "13:00", "close": "17:00"}, {"open": "08:00", "close": "12:00"}]},
        "holidays": ["2026-12-25", "2026-12-16"]});
    for (role, expected) in [(Role::Agent, "forbidden"), (Role::Moderator, "forbidden"), (Role::Citizen, "forbidden")] {
        let token = server.token(role, "Someone");
        assert_eq!(code(&put(&server, "/api/chat/hours", &token, wanted.clone()).await), expected, "{role:?}");
    }
    let anonymous = call(&server, Method::PUT, "/api/chat/hours", None, Some(wanted.clone())).await;
    assert_eq!(code(&anonymous), "unauthorized");

    let admin = server.token(Role::Admin, "Noor");
    let (status, set) = put(&server, "/api/chat/hours", &admin, wanted).await;
    assert_eq!(status, 200, "{set}");
    assert_eq!(set["time_zone"], "Europe/London");
    assert_eq!(
        set["week"]["mon"],
        json!([{"open": "08:00", "close": "12:00"}, {"open": "13:00", "close": "17:00"}]),
        "spans come back sorted"
    );
    assert_eq!(set["week"]["sun"], json!([]), "absent days are closed");
    assert_eq!(set["holidays"], json!(["2026-12-16", "2026-12-25"]));
    let (_, read) = get(&server, "/api/chat/hours", None).await;
    assert_eq!(read, set, "what was set is what everyone reads");
    let (_, info) = get(&server, "/api/chat/start-info", None).await;
    assert_eq!(info["time_zone"], "Europe/London", "the start info shows the schedule's zone");
}

#[tokio::test]
async fn a_bad_schedule_is_refused_with_the_reason_in_a_plain_sentence() {
    let server = TestServer::start().await;
    let admin = server.token(Role::Admin, "Noor");
    let span = |open: &str, close: &str| json!({"open": open, "close": close});
    let cases = [
        (
            json!({"time_zone": "Asia/Bahrain", "week": {"sun": [span("07:00", "12:00"), span("11:00", "14:00")]}}),
            "overlaps",
        ),
        (json!({"time_zone": "Asia/Bahrain", "week": {"sun": [span("14:00", "07:00")]}}), "closes before it opens"),
        (json!({"time_zone": "Asia/Bahrain", "week": {"sun": [span("25:00", "26:00")]}}), "not a time of day"),
        (json!({"time_zone": "Mars/Olympus", "week": {}}), "time_zone"),
        (json!({"time_zone": "Asia/Bahrain", "week": {"someday": []}}), "\"week.someday\" is not a field"),
        (json!({"time_zone": "Asia/Bahrain", "week": {}, "holidays": ["16/12/2026"]}), "holidays"),
        (json!({"week": {}}), "\"time_zone\" field is missing"),
        (json!({"time_zone": "Asia/Bahrain", "week": {}, "colour": "red"}), "\"colour\" is not a field"),
    ];
    for (body, reason) in cases {
        let answer = put(&server, "/api/chat/hours", &admin, body.clone()).await;
        assert_eq!((answer.0, code(&answer)), (400, "bad_request".to_string()), "{body}: {}", answer.1);
        let message = answer.1["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(reason), "{body}: {message:?} should say {reason:?}");
    }
    let five = json!([
        span("01:00", "02:00"),
        span("03:00", "04:00"),
        span("05:00", "06:00"),
        span("07:00", "08:00"),
        span("09:00", "10:00")
    ]);
    let answer =
        put(&server, "/api/chat/hours", &admin, json!({"time_zone": "Asia/Bahrain", "week": {"sun": five}})).await;
    assert_eq!(code(&answer), "bad_request", "at most 4 spans a day");

    let not_json = server
        .http
        .put(server.url("/api/chat/hours"))
        .bearer_auth(&admin)
        .body("time_zone=Asia/Bahrain")
        .send()
        .await
        .expect("PUT");
    assert_eq!(not_json.status(), 400);
    let (_, hours) = get(&server, "/api/chat/hours", None).await;
    assert_eq!(hours["week"]["sun"], json!([{"open": "07:00", "close": "14:00"}]), "nothing refused was kept");
}

#[tokio::test]
async fn outside_business_hours_the_chat_is_closed_and_an_offline_message_still_goes_through() {
    let server = TestServer::start_with(generous).await;
    let (_agent_token, _agent) = available_agent(&server, "Amina", json!(["ar", "en"])).await;
    set_hours(&server, never_open()).await;

    let token = server.token(Role::Citizen, "Fatima");
    let (_, info) = get(&server, "/api/chat/start-info", Some(&token)).await;
    assert_eq!(info["open"], false, "{info}");
    assert_eq!(info["next_open"], Value::Null, "a schedule that never opens has no next opening");
    assert_eq!(info["langs"]["ar"]["unavailable"], "closed");
    assert_eq!(info["langs"]["en"]["unavailable"], "closed");

    let mut citizen = signed_in(&server, &token).await;
    let refusal = start_chat(&server, &mut citizen, "ar").await.expect_err("closed");
    assert_eq!(refusal.code, "conflict", "{:?}", refusal.frame);

    let (status, left) = post(&server, "/api/chat/offline", &token, offline_form()).await;
    assert_eq!(status, 201, "{left}");
    assert_eq!(left["status"], "open");
    assert!(left["id"].is_u64() && left["created_at"].is_u64(), "{left}");
}

/// The date `days` after 1970-01-01, as `YYYY-MM-DD` (the civil calendar, proleptic Gregorian).
fn date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[tokio::test]
async fn a_holiday_closes_a_desk_that_is_open_every_other_day() {
    let server = TestServer::start_with(generous).await;
    let (_agent_token, _agent) = available_agent(&server, "Amina", json!(["ar"])).await;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    // Bahrain is UTC+3 all year; today there, and the days either side, so the test holds at any hour.
    let today = (now_ms + 3 * 3_600_000).div_euclid(86_400_000);
    let mut schedule = always_open();
    schedule["holidays"] = json!([date(today - 1), date(today), date(today + 1)]);
    set_hours(&server, schedule).await;

    let (_, info) = get(&server, "/api/chat/start-info", None).await;
    assert_eq!(info["open"], false, "{info}");
    assert_eq!(info["langs"]["ar"]["unavailable"], "closed");
    // It opens again at midnight after the last holiday, Bahrain time (21:00 UTC).
    let next_open = info["next_open"].as_i64().expect("it opens again");
    assert_eq!(next_open, (today + 2) * 86_400_000 - 3 * 3_600_000, "{info}");
    let mut citizen = server.citizen("Fatima").await;
    assert_eq!(start_chat(&server, &mut citizen, "ar").await.expect_err("a holiday").code, "conflict");

    set_hours(&server, always_open()).await;
    let (_, info) = get(&server, "/api/chat/start-info", None).await;
    assert_eq!((&info["open"], &info["langs"]["ar"]["unavailable"]), (&json!(true), &Value::Null), "{info}");
    start_chat(&server, &mut citizen, "ar").await.expect("open again");
}

#[tokio::test]
async fn while_open_the_start_info_says_which_languages_have_an_agent_and_lists_ones_own_chats() {
    let server = TestServer::start_with(generous).await;
    set_hours(&server, always_open()).await;
    let (_, info) = get(&server, "/api/chat/start-info", None).await;
    assert_eq!(info["open"], true);
    assert_eq!(info["langs"]["ar"]["unavailable"], "no_agents");
    let next_open = info["next_open"].as_u64().expect("while open, next_open is now");
    assert!(next_open > 1_700_000_000_000, "{info}");

    // An agent for Arabic only, at a cap of 1 so the second chat waits.
    let (agent_token, _agent) = available_agent(&server, "Amina", json!(["ar"])).await;
    let admin = server.token(Role::Admin, "Noor");
    let sub = sub_of(&server, &agent_token).await;
    let answer = put(&server, &format!("/api/chat/agents/{sub}"), &admin, json!({"max_chats": 1})).await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    let (_, info) = get(&server, "/api/chat/start-info", None).await;
    assert_eq!(info["langs"]["ar"]["unavailable"], Value::Null, "{info}");
    assert_eq!(info["langs"]["en"]["unavailable"], "no_agents", "{info}");

    let first_token = server.token(Role::Citizen, "First");
    let mut first = signed_in(&server, &first_token).await;
    let started = start_chat(&server, &mut first, "ar").await.expect("a chat starts");
    let token = server.token(Role::Citizen, "Fatima");
    let mut citizen = signed_in(&server, &token).await;
    let waiting = start_chat(&server, &mut citizen, "ar").await.expect("a second chat waits");
    assert_eq!(waiting["position"], 1, "{waiting}");

    let (_, info) = get(&server, "/api/chat/start-info", Some(&token)).await;
    assert_eq!(info["langs"]["ar"]["waiting"], 1, "{info}");
    assert_eq!(info["may_start"], false, "one open chat per citizen");
    let mine = info["my_chats"].as_array().cloned().unwrap_or_default();
    assert_eq!(mine.len(), 1, "{info}");
    assert_eq!(
        (&mine[0]["id"], &mine[0]["status"], &mine[0]["lang"]),
        (&waiting["chat"], &json!("waiting"), &json!("ar"))
    );
    let (_, theirs) = get(&server, "/api/chat/start-info", Some(&first_token)).await;
    let ids: Vec<&Value> =
        theirs["my_chats"].as_array().map(|m| m.iter().map(|c| &c["id"]).collect()).unwrap_or_default();
    assert_eq!(ids, vec![&started["chat"]], "each citizen sees only their own chats");
}

// ---------------------------------------------------------------------------------------------------------------
// Offline messages

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
    for path in ["/api/chat/offline/999/answer", "/api/chat/offline/x/answer", "/api/chat/offline/-1/answer"] {
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

// ---------------------------------------------------------------------------------------------------------------
// Canned responses

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

// ---------------------------------------------------------------------------------------------------------------
// Agents' caps

#[tokio::test]
async fn admins_set_an_agents_cap_and_nobody_else_may() {
    let server = TestServer::start().await;
    let (agent_token, mut agent) = available_agent(&server, "Amina", json!(["ar"])).await;
    agent.join("desk").await;
    let sub = sub_of(&server, &agent_token).await;
    let path = format!("/api/chat/agents/{sub}");
    let admin = server.token(Role::Admin, "Noor");

    let (status, set) = put(&server, &path, &admin, json!({"max_chats": 5})).await;
    assert_eq!(status, 200, "{set}");
    assert_eq!((&set["sub"], &set["cap"], &set["max_chats"]), (&json!(sub), &json!(5), &json!(5)), "{set}");
    let event = agent.next_matching("the agent event", |f| f["room"] == "desk" && f["kind"] == "agent").await;
    assert_eq!(event["data"]["cap"], 5, "the desk hears of it");
    let (_, default) = put(&server, &path, &admin, json!({"max_chats": null})).await;
    assert_eq!((&default["cap"], &default["max_chats"]), (&json!(3), &Value::Null), "null: back to the default");

    for body in
        [json!({"max_chats": 0}), json!({"max_chats": 21}), json!({"max_chats": "5"}), json!({}), json!({"cap": 5})]
    {
        let answer = put(&server, &path, &admin, body.clone()).await;
        assert_eq!(code(&answer), "bad_request", "{body}: {}", answer.1);
    }
    assert_eq!(code(&put(&server, "/api/chat/agents/nobody-here", &admin, json!({"max_chats": 2})).await), "not_found");
    for role in [Role::Agent, Role::Moderator, Role::Citizen] {
        let token = server.token(role, "Someone");
        assert_eq!(code(&put(&server, &path, &token, json!({"max_chats": 9})).await), "forbidden", "{role:?}");
    }
    assert_eq!(
        code(&put(&server, &path, &agent_token, json!({"max_chats": 9})).await),
        "forbidden",
        "not even one's own"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Transcripts

/// A whole chat: started, answered, annotated, ended by the agent and rated. Returns (chat id, citizen token,
/// agent token).
async fn finished_chat(server: &TestServer) -> (u64, String, String) {
    set_hours(server, always_open()).await;
    let (agent_token, mut agent) = available_agent(server, "Amina", json!(["ar"])).await;
    let citizen_token = server.token(Role::Citizen, "Fatima");
    let mut citizen = signed_in(server, &citizen_token).await;
    let started = start_chat(server, &mut citizen, "ar").await.expect("started");
    let chat = started["chat"].as_u64().expect("a chat id");
    citizen.ok(json!({"type": "chat_send", "chat": chat, "text": "انقطعت المياه منذ أمس"})).await;
    agent.ok(json!({"type": "chat_send", "chat": chat, "text": "سنرسل فريقاً اليوم."})).await;
    agent.ok(json!({"type": "chat_note", "chat": chat, "text": "NOTE-SECRET: the third outage this month"})).await;
    agent.ok(json!({"type": "chat_tag", "chat": chat, "tags": ["water"]})).await;
    agent.ok(json!({"type": "chat_end", "chat": chat})).await;
    citizen.ok(json!({"type": "chat_rate", "chat": chat, "score": 4, "comment": "شكراً"})).await;
    (chat, citizen_token, agent_token)
}

#[tokio::test]
async fn the_citizen_gets_their_transcript_without_notes_and_staff_get_it_with_them() {
    let server = TestServer::start_with(generous).await;
    let (chat, citizen, agent) = finished_chat(&server).await;
    let path = format!("/api/chat/chats/{chat}/transcript.json");

    let (status, mine) = get(&server, &path, Some(&citizen)).await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!((mine["chat"].as_u64(), &mine["status"], &mine["lang"]), (Some(chat), &json!("ended"), &json!("ar")));
    assert_eq!(
        (&mine["end_reason"], &mine["agent_name"], &mine["rating"]["score"]),
        (&json!("agent"), &json!("Amina"), &json!(4))
    );
    let kinds: Vec<&str> =
        mine["entries"].as_array().map(|e| e.iter().filter_map(|e| e["kind"].as_str()).collect()).unwrap_or_default();
    assert!(kinds.contains(&"text") && kinds.contains(&"system"), "{mine}");
    assert!(!kinds.contains(&"note"), "no notes for the citizen");
    assert!(mine.get("staff").is_none(), "no staff part for the citizen");
    let text = mine.to_string();
    for secret in ["NOTE-SECRET", "fatima@example.bh", "water", "_sub"] {
        assert!(!text.contains(secret), "{secret} in the citizen's transcript: {text}");
    }
    let joined =
        mine["entries"].as_array().and_then(|e| e.iter().find(|e| e["kind"] == "system")).cloned().unwrap_or_default();
    assert!(joined["text"].as_str().is_some_and(|t| t.contains("Amina")), "system entries are worded: {joined}");

    let admin = server.token(Role::Admin, "Noor");
    for staff in [&agent, &admin] {
        let (status, theirs) = get(&server, &path, Some(staff)).await;
        assert_eq!(status, 200, "{theirs}");
        let note = theirs["entries"]
            .as_array()
            .and_then(|e| e.iter().find(|e| e["kind"] == "note"))
            .cloned()
            .unwrap_or_default();
        assert_eq!(note["text"], "NOTE-SECRET: the third outage this month", "{theirs}");
        assert_eq!(note["author"], "Amina");
        assert_eq!(
            (&theirs["staff"]["contact"], &theirs["staff"]["tags"]),
            (&json!("fatima@example.bh"), &json!(["water"]))
        );
        assert!(theirs["staff"]["citizen_sub"].is_string() && theirs["staff"]["consent"]["version"].is_string());
    }
}

#[tokio::test]
async fn the_plain_text_transcript_is_a_download_in_the_chats_language() {
    let server = TestServer::start_with(generous).await;
    let (chat, citizen, agent) = finished_chat(&server).await;
    let path = format!("/api/chat/chats/{chat}/transcript.txt");
    let download = |token: String| {
        let request = server.http.get(server.url(&path)).bearer_auth(token);
        async move { request.send().await.expect("GET transcript.txt") }
    };
    let response = download(citizen).await;
    assert_eq!(response.status(), 200);
    let header =
        |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert_eq!(header("content-type"), "text/plain; charset=utf-8");
    assert_eq!(header("content-disposition"), format!("attachment; filename=\"chat-{chat}.txt\""));
    let text = response.text().await.expect("text");
    assert!(text.starts_with("نص المحادثة"), "in the chat's language: {text}");
    assert!(text.contains("انقطعت المياه منذ أمس") && text.contains("سنرسل فريقاً اليوم."), "{text}");
    assert!(text.contains("4/5"), "the rating: {text}");
    assert!(!text.contains("NOTE-SECRET"), "no notes for the citizen: {text}");

    let staff = download(agent).await.text().await.expect("text");
    assert!(staff.contains("NOTE-SECRET") && staff.contains("fatima@example.bh"), "{staff}");
}

#[tokio::test]
async fn nobody_else_reads_a_chats_transcript() {
    let server = TestServer::start_with(generous).await;
    let (chat, _, _) = finished_chat(&server).await;
    for format in ["json", "txt"] {
        let path = format!("/api/chat/chats/{chat}/transcript.{format}");
        for (role, name) in [(Role::Citizen, "Other citizen"), (Role::Agent, "Other agent"), (Role::Moderator, "Mod")] {
            let token = server.token(role, name);
            assert_eq!(code(&get(&server, &path, Some(&token)).await), "forbidden", "{role:?} reads {path}");
        }
        assert_eq!(code(&get(&server, &path, None).await), "unauthorized", "{path}");
        let admin = server.token(Role::Admin, "Noor");
        for missing in
            [format!("/api/chat/chats/999999/transcript.{format}"), format!("/api/chat/chats/abc/transcript.{format}")]
        {
            assert_eq!(code(&get(&server, &missing, Some(&admin)).await), "not_found", "{missing}");
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The report

#[tokio::test]
async fn the_report_counts_chats_and_offline_messages_for_admins_in_json_and_csv() {
    let server = TestServer::start_with(generous).await;
    let (chat, _, agent) = finished_chat(&server).await;
    let citizen = server.token(Role::Citizen, "Ali");
    post(&server, "/api/chat/offline", &citizen, offline_form()).await;
    let admin = server.token(Role::Admin, "Noor");

    let (status, report) = get(&server, "/api/chat/report", Some(&admin)).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["chats"], 1, "chat {chat}: {report}");
    assert_eq!(report["by_category"], json!({"inquiry": 0, "suggestion": 0, "complaint": 1, "other": 0}));
    assert_eq!(report["by_lang"], json!({"ar": 1, "en": 0}));
    assert_eq!(report["by_end_reason"]["agent"], 1);
    assert_eq!(report["by_end_reason"]["abandoned"], 0, "every ending is listed");
    assert_eq!((&report["open"], &report["answered"], &report["transferred"]), (&json!(0), &json!(1), &json!(0)));
    assert_eq!(report["waits"]["count"], 1);
    assert_eq!((&report["ratings"]["count"], &report["ratings"]["by_score"]), (&json!(1), &json!([0, 0, 0, 1, 0])));
    assert_eq!(report["ratings"]["average"].as_f64(), Some(4.0));
    assert_eq!(report["by_tag"], json!({"water": 1}));
    assert_eq!((&report["offline"]["total"], &report["offline"]["open"]), (&json!(1), &json!(1)));
    assert_eq!(report["offline"]["by_category"]["suggestion"], 1);
    let (from, to) = (report["from"].as_u64().expect("from"), report["to"].as_u64().expect("to"));
    assert_eq!(to - from, 30 * 24 * 3600 * 1000, "the last 30 days by default");

    let (_, before) = get(&server, &format!("/api/chat/report?from=0&to={}", from.min(1_000)), Some(&admin)).await;
    assert_eq!(
        (&before["chats"], &before["offline"]["total"], &before["ratings"]["average"]),
        (&json!(0), &json!(0), &Value::Null)
    );

    let response =
        server.http.get(server.url("/api/chat/report.csv")).bearer_auth(&admin).send().await.expect("GET csv");
    assert_eq!(response.status(), 200);
    let header =
        |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert_eq!(header("content-type"), "text/csv; charset=utf-8");
    assert!(
        header("content-disposition").starts_with("attachment; filename=\"chat-report-"),
        "{}",
        header("content-disposition")
    );
    let csv = response.text().await.expect("csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "metric,value");
    assert!(!csv.starts_with('\u{feff}') && !csv.contains('\r'), "no byte-order mark, \\n line ends");
    for row in [
        "chats,1",
        "category:complaint,1",
        "category:inquiry,0",
        "lang:ar,1",
        "ended:agent,1",
        "answered,1",
        "rating:4,1",
        "ratings,1",
        "rating_average,4.00",
        "offline_total,1",
        "offline_category:suggestion,1",
        "\"tag:water\",1",
    ] {
        assert!(lines.contains(&row), "no row {row:?} in\n{csv}");
    }
    assert!(lines.iter().all(|l| l.split(',').count() == 2), "two cells a row:\n{csv}");

    for token in [agent, server.token(Role::Moderator, "Mod"), server.token(Role::Citizen, "Fatima")] {
        assert_eq!(code(&get(&server, "/api/chat/report", Some(&token)).await), "forbidden");
        assert_eq!(code(&get(&server, "/api/chat/report.csv", Some(&token)).await), "forbidden");
    }
    assert_eq!(code(&get(&server, "/api/chat/report", None).await), "unauthorized");
    for query in ["from=x", "to=-1", "from=10&to=5", "period=week"] {
        let answer = get(&server, &format!("/api/chat/report?{query}"), Some(&admin)).await;
        assert_eq!(code(&answer), "bad_request", "{query}: {}", answer.1);
    }
}
