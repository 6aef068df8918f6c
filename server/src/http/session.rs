//! Anonymous citizen sessions and "who am I".

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::AuthUser;
use super::AppState;
use crate::auth::{new_citizen_sub, Role, User};
use crate::error::{Error, Result};
use crate::protocol::UserView;

/// Longest display name, in characters.
const MAX_NAME_LEN: usize = 60;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/session", post(create_session)).route("/api/me", get(me))
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
    let name = body.and_then(|Json(b)| b.name).map(|n| n.trim().to_string()).unwrap_or_default();
    if name.chars().count() > MAX_NAME_LEN {
        return Err(Error::bad_request(format!("A name is at most {MAX_NAME_LEN} characters.")));
    }
    let user = User { sub: new_citizen_sub(), name, role: Role::Citizen };
    let (token, exp) = app.tokens.mint(&user, app.config.session_ttl_hours * 3600)?;
    Ok(Json(json!({ "token": token, "user": UserView::from(&user), "expires_at": exp * 1000 })))
}

async fn me(AuthUser(user): AuthUser) -> Json<Value> {
    Json(json!(UserView::from(&user)))
}
