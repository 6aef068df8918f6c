//! Canned responses: admins create, replace and delete them; agents list them (and send one with
//! `/shortcut` over the WebSocket). Each change is published to `desk` by the store.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::{path_id, Key};
use crate::chat::canned::NewCanned;
use crate::error::Result;
use crate::http::extract::{Admin, JsonBody, Staff};
use crate::http::AppState;
use crate::protocol::chat::views::CannedView;

const NO_SUCH: &str = "No such canned response.";

/// `GET /api/chat/canned`: every canned response, by shortcut.
pub async fn list(State(app): State<AppState>, Staff(_): Staff) -> Result<Response> {
    let all = app.chat.canned().await?;
    #[derive(Serialize)]
    struct List<'a> {
        canned: Vec<CannedView<'a>>,
    }
    Ok(Json(List { canned: all.iter().map(CannedView::from).collect() }).into_response())
}

pub async fn create(
    State(app): State<AppState>,
    Admin(admin): Admin,
    JsonBody(new): JsonBody<NewCanned>,
) -> Result<Response> {
    let canned = app.chat.upsert_canned(&admin, None, new).await?;
    Ok((StatusCode::CREATED, Json(CannedView::from(&canned))).into_response())
}

pub async fn replace(
    State(app): State<AppState>,
    Admin(admin): Admin,
    Key(id): Key,
    JsonBody(new): JsonBody<NewCanned>,
) -> Result<Response> {
    let canned = app.chat.upsert_canned(&admin, Some(path_id(&id, NO_SUCH)?), new).await?;
    Ok(Json(CannedView::from(&canned)).into_response())
}

pub async fn remove(State(app): State<AppState>, Admin(admin): Admin, Key(id): Key) -> Result<StatusCode> {
    app.chat.delete_canned(&admin, path_id(&id, NO_SUCH)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
