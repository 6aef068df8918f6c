//! Transcripts (the citizen's without notes, the staff one with them) and the ministry's report, JSON and CSV.

use majlis_server::auth::Role;
use majlis_tests::TestServer;
use serde_json::{json, Value};

use super::*;

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
    assert_eq!(header("cache-control"), "no-store", "a transcript is kept by nobody on the way");
    let text = response.text().await.expect("text");
    assert!(text.starts_with("نص المحادثة"), "in the chat's language: {text}");
    assert!(text.contains("انقطعت المياه منذ أمس") && text.contains("سنرسل فريقاً اليوم."), "{text}");
    assert!(text.contains("4/5"), "the rating: {text}");
    assert!(!text.contains("NOTE-SECRET"), "no notes for the citizen: {text}");

    let staff = download(agent).await.text().await.expect("text");
    assert!(staff.contains("NOTE-SECRET") && staff.contains("fatima@example.bh"), "{staff}");
}

#[tokio::test]
async fn the_transcript_follows_the_chat_while_it_runs_and_after_a_transfer() {
    let server = TestServer::start_with(generous).await;
    set_hours(&server, always_open()).await;
    let (amina_token, mut amina) = available_agent(&server, "Amina", json!(["en"])).await;
    let citizen_token = server.token(Role::Citizen, "Fatima");
    let mut citizen = signed_in(&server, &citizen_token).await;
    let chat = start_chat(&server, &mut citizen, "en").await.expect("started")["chat"].as_u64().expect("an id");
    citizen.ok(json!({"type": "chat_send", "chat": chat, "text": "Is anyone there?"})).await;
    let path = format!("/api/chat/chats/{chat}/transcript.json");
    let (status, running) = get(&server, &path, Some(&citizen_token)).await;
    assert_eq!((status, &running["status"], &running["ended_at"]), (200, &json!("active"), &Value::Null), "{running}");
    assert!(running.to_string().contains("Is anyone there?"), "{running}");

    let (huda_token, _huda) = available_agent(&server, "Huda", json!(["en"])).await;
    let huda = sub_of(&server, &huda_token).await;
    amina.ok(json!({"type": "chat_transfer", "chat": chat, "to": huda, "note": "HANDOVER-NOTE"})).await;
    assert_eq!(code(&get(&server, &path, Some(&amina_token)).await), "forbidden", "the old agent no longer holds it");
    let (status, theirs) = get(&server, &path, Some(&huda_token)).await;
    assert_eq!((status, &theirs["agent_name"], &theirs["staff"]["transfers"]), (200, &json!("Huda"), &json!(1)));
    assert!(theirs.to_string().contains("HANDOVER-NOTE"), "the transfer's note is a staff note: {theirs}");
    let (_, mine) = get(&server, &path, Some(&citizen_token)).await;
    assert!(!mine.to_string().contains("HANDOVER-NOTE"), "never the citizen's: {mine}");
    assert!(mine.to_string().contains("Amina transferred the chat to Huda."), "the notice, worded: {mine}");
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
    let (status, blank) = get(&server, "/api/chat/report?from=&to=", Some(&admin)).await;
    assert_eq!((status, &blank["chats"]), (200, &json!(1)), "blank parameters are left out: {blank}");
    for query in ["from=x", "to=-1", "from=10&to=5", "period=week", "from=1&from=2"] {
        let answer = get(&server, &format!("/api/chat/report?{query}"), Some(&admin)).await;
        assert_eq!(code(&answer), "bad_request", "{query}: {}", answer.1);
    }
}

#[tokio::test]
async fn the_report_counts_open_transferred_and_left_queue_chats() {
    let server = TestServer::start_with(generous).await;
    set_hours(&server, always_open()).await;
    let (amina_token, mut amina) = available_agent(&server, "Amina", json!(["en"])).await;
    let admin = server.token(Role::Admin, "Noor");
    let amina_sub = sub_of(&server, &amina_token).await;
    put(&server, &format!("/api/chat/agents/{amina_sub}"), &admin, json!({"max_chats": 1})).await;
    let mut first = server.citizen("First").await;
    let held = start_chat(&server, &mut first, "en").await.expect("taken")["chat"].clone();
    let mut second = server.citizen("Second").await;
    let waiting = start_chat(&server, &mut second, "en").await.expect("waits");
    assert_eq!(waiting["position"], 1);
    second.ok(json!({"type": "chat_end", "chat": waiting["chat"]})).await;
    let (huda_token, _huda) = available_agent(&server, "Huda", json!(["en"])).await;
    let huda = sub_of(&server, &huda_token).await;
    amina.ok(json!({"type": "chat_transfer", "chat": held, "to": huda})).await;

    let (_, report) = get(&server, "/api/chat/report", Some(&admin)).await;
    assert_eq!((&report["chats"], &report["open"], &report["answered"]), (&json!(2), &json!(1), &json!(1)), "{report}");
    assert_eq!((&report["transferred"], &report["by_end_reason"]["left_queue"]), (&json!(1), &json!(1)), "{report}");
    assert_eq!((&report["by_lang"]["en"], &report["by_category"]["complaint"]), (&json!(2), &json!(2)));
    assert_eq!(report["ratings"]["average"], Value::Null, "no ratings yet");
}
