//! What the run needs from the server's REST API before and while the clients connect: the consent line's
//! version (the pre-chat form must name it), a desk open around the clock, and each agent's cap.

use std::sync::OnceLock;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::ctx::{Ctx, Role};
use crate::rest::{client, json_or_error};
use crate::target::Node;

fn http() -> Result<&'static reqwest::Client> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c);
    }
    let made = client()?;
    Ok(CLIENT.get_or_init(|| made))
}

/// `GET /api/chat/start-info`: the consent line's current version.
pub async fn consent_version(node: &Node) -> Result<String> {
    let url = format!("{}/api/chat/start-info", node.http_base);
    let response = http()?.get(&url).send().await.context("GET /api/chat/start-info")?;
    let info = json_or_error(response, "reading the chat's start info").await?;
    info["consent"]["version"].as_str().map(str::to_string).context("the start info names no consent version")
}

/// `PUT /api/chat/hours`: open every day, all day, no holidays, so the run does not depend on the clock.
pub async fn open_around_the_clock(ctx: &Ctx) -> Result<()> {
    let day = json!([{"open": "00:00", "close": "24:00"}]);
    let week: serde_json::Map<String, Value> =
        ["sun", "mon", "tue", "wed", "thu", "fri", "sat"].iter().map(|d| (d.to_string(), day.clone())).collect();
    let body = json!({"time_zone": "UTC", "week": week, "holidays": []});
    let url = format!("{}/api/chat/hours", ctx.node(0).http_base);
    let token = ctx.token(0, Role::Admin)?;
    let response = http()?.put(&url).bearer_auth(token).json(&body).send().await.context("PUT /api/chat/hours")?;
    json_or_error(response, "opening the desk around the clock (PUT /api/chat/hours)").await?;
    Ok(())
}

/// `PUT /api/chat/agents/{sub}`: the agent's own cap (the agent must be on the desk already).
pub async fn set_cap(ctx: &Ctx, sub: &str, cap: u32) -> Result<()> {
    let url = format!("{}/api/chat/agents/{sub}", ctx.node(0).http_base);
    let token = ctx.token(0, Role::Admin)?;
    let response =
        http()?.put(&url).bearer_auth(token).json(&json!({"max_chats": cap})).send().await.context("PUT agent cap")?;
    json_or_error(response, "setting an agent's cap (PUT /api/chat/agents/{sub})").await?;
    Ok(())
}
