//! Anonymous citizen sessions and "who am I".

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::{AuthUser, JsonBody};
use super::AppState;
use crate::auth::{new_citizen_sub, Role, User};
use crate::error::{Error, Result};
use crate::protocol::UserView;

/// Longest display name, in characters.
const MAX_NAME_LEN: usize = 60;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/session", post(create_session).patch(rename)).route("/api/me", get(me))
}

#[derive(Deserialize, Default)]
struct SessionRequest {
    #[serde(default)]
    name: Option<String>,
}

async fn create_session(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Option<Json<SessionRequest>>,
) -> Result<Json<Value>> {
    app.limits.session(&super::client_ip(&app, &headers, peer))?;
    let name = checked_name(body.and_then(|Json(b)| b.name))?;
    session(&app, User { sub: new_citizen_sub(), name, role: Role::Citizen })
}

/// A new display name for the same citizen: the same `sub` in a new token, so their questions, votes, chats
/// and personal stream stay theirs. Staff names come from the token the operator minted.
async fn rename(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    AuthUser(user): AuthUser,
    JsonBody(body): JsonBody<SessionRequest>,
) -> Result<Json<Value>> {
    if user.role != Role::Citizen {
        return Err(Error::forbidden("Staff names are set when their token is minted."));
    }
    app.limits.session(&super::client_ip(&app, &headers, peer))?;
    let name = checked_name(body.name)?;
    session(&app, User { name, ..user })
}

fn checked_name(name: Option<String>) -> Result<String> {
    let name = name.map(|n| n.trim().to_string()).unwrap_or_default();
    if name.chars().count() > MAX_NAME_LEN {
        return Err(Error::bad_request(format!("A name is at most {MAX_NAME_LEN} characters.")));
    }
    Ok(name)
}

/// A citizen session for `user`: a token valid for `--session-ttl-hours`.
fn session(app: &AppState, user: User) -> Result<Json<Value>> {
    let (token, exp) = app.tokens.mint(&user, app.config.session_ttl_hours * 3600)?;
    Ok(Json(json!({ "token": token, "user": UserView::from(&user), "expires_at": exp * 1000 })))
}

async fn me(AuthUser(user): AuthUser) -> Json<Value> {
    Json(json!(UserView::from(&user)))
}
