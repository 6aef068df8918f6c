//! The few REST calls the scenarios need: create a broadcast, set it live, read its statistics.

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::target::Node;

pub(crate) fn client() -> Result<reqwest::Client> {
    reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build().context("building the HTTP client")
}

/// Creates a broadcast without pre-moderation (questions go straight to the public room) and sets it live.
pub async fn create_live_broadcast(node: &Node, moderator_token: &str, title: &str) -> Result<u64> {
    let http = client()?;
    let body = json!({
        "title": {"en": title, "ar": "اختبار الحمل"},
        "premoderation": false,
        "allow_anonymous": true,
        "max_question_len": 300,
    });
    let url = format!("{}/api/broadcasts", node.http_base);
    let response =
        http.post(&url).bearer_auth(moderator_token).json(&body).send().await.context("POST /api/broadcasts")?;
    let broadcast = json_or_error(response, "creating the broadcast").await?;
    let id = broadcast["id"].as_u64().context("the created broadcast has no id")?;
    let url = format!("{}/api/broadcasts/{id}", node.http_base);
    let response =
        http.patch(&url).bearer_auth(moderator_token).json(&json!({"state": "live"})).send().await.context("PATCH")?;
    json_or_error(response, "setting the broadcast live").await?;
    Ok(id)
}

/// `GET /api/broadcasts/{id}/stats`.
pub async fn stats(node: &Node, moderator_token: &str, id: u64) -> Result<Value> {
    let url = format!("{}/api/broadcasts/{id}/stats", node.http_base);
    let response = client()?.get(&url).bearer_auth(moderator_token).send().await.context("GET stats")?;
    json_or_error(response, "reading the statistics").await
}

/// A node's frames delivered and socket writes so far, from its `/metrics` (`None` if it doesn't say).
pub async fn write_counters(node: &Node) -> Option<(u64, u64)> {
    let text = client().ok()?.get(format!("{}/metrics", node.http_base)).send().await.ok()?.text().await.ok()?;
    let value = |name: &str| {
        text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse::<u64>().ok())
    };
    Some((value("majlis_frames_delivered_total")?, value("majlis_socket_writes_total")?))
}

pub(crate) async fn json_or_error(response: reqwest::Response, what: &str) -> Result<Value> {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{what}: HTTP {status}: {body} (is --jwt-secret the server's?)");
    }
    Ok(body)
}
