//! The start info, business hours (holidays too) and agents' caps.

use majlis_server::auth::Role;
use majlis_tests::TestServer;
use reqwest::Method;
use serde_json::{json, Value};

use super::*;

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
    for nobody in ["/api/chat/agents/nobody-here", "/api/chat/agents/%FF%FE"] {
        assert_eq!(code(&put(&server, nobody, &admin, json!({"max_chats": 2})).await), "not_found", "{nobody}");
    }
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
