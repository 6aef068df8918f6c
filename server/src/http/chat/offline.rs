//! The offline inbox: citizens leave messages when no chat can start; staff list, answer and close them. The
//! answer is recorded as sent to the contact the citizen left (`chat::offline`); sending it is not ours.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::{path_id, Key, Params};
use crate::chat::offline::{OfflineForm, OfflineStatus};
use crate::error::{Error, Result};
use crate::http::extract::{AuthUser, JsonBody, Staff};
use crate::http::AppState;
use crate::protocol::chat::rest::OfflineReceipt;
use crate::protocol::chat::views::OfflineView;
use crate::store::MAX_OFFLINE_PAGE;

/// Offline messages per page unless `limit` says otherwise.
const DEFAULT_PAGE: usize = 50;
const NO_SUCH: &str = "No such offline message.";

/// `POST /api/chat/offline` (citizens: the rules refuse anyone else), charged to the citizen's offline limit
/// only if it is kept: 201, or 200 for the form sent again with the `client_msg_id` of an open message.
pub async fn submit(
    State(app): State<AppState>,
    AuthUser(user): AuthUser,
    JsonBody(form): JsonBody<OfflineForm>,
) -> Result<Response> {
    let submitted = app.chat.submit_offline(&user, form, &app.limits.gate(&user.sub)).await?;
    let status = if submitted.duplicate { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(OfflineReceipt::of(&submitted))).into_response())
}

/// `GET /api/chat/offline?status=&before=&limit=`: newest first.
pub async fn inbox(
    State(app): State<AppState>,
    Staff(staff): Staff,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response> {
    let params = Params::of(query, &["status", "before", "limit"])?;
    let status = params.text("status").map(status_of).transpose()?;
    let before = params.number("before")?;
    let limit = params.number("limit")?.map_or(Ok(DEFAULT_PAGE), |n| {
        usize::try_from(n)
            .ok()
            .filter(|n| (1..=MAX_OFFLINE_PAGE).contains(n))
            .ok_or_else(|| Error::bad_request(format!("The \"limit\" parameter must be 1 to {MAX_OFFLINE_PAGE}.")))
    })?;
    let messages = app.chat.offline(&staff, status, before, limit).await?;
    #[derive(Serialize)]
    struct Inbox<'a> {
        messages: Vec<OfflineView<'a>>,
    }
    Ok(Json(Inbox { messages: messages.iter().map(OfflineView::from).collect() }).into_response())
}

fn status_of(text: &str) -> Result<OfflineStatus> {
    OfflineStatus::ALL
        .into_iter()
        .find(|s| s.as_str() == text)
        .ok_or_else(|| Error::bad_request("The \"status\" parameter must be one of open, answered, closed."))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerBody {
    text: String,
}

/// `POST /api/chat/offline/{id}/answer`: once, and not after it was closed.
pub async fn answer(
    State(app): State<AppState>,
    Staff(staff): Staff,
    Key(id): Key,
    JsonBody(body): JsonBody<AnswerBody>,
) -> Result<Response> {
    let message = app.chat.answer_offline(&staff, path_id(&id, NO_SUCH)?, body.text).await?;
    Ok(Json(OfflineView::from(&message)).into_response())
}

/// `POST /api/chat/offline/{id}/close`: answered or not; no body.
pub async fn close(State(app): State<AppState>, Staff(staff): Staff, Key(id): Key) -> Result<Response> {
    let message = app.chat.close_offline(&staff, path_id(&id, NO_SUCH)?).await?;
    Ok(Json(OfflineView::from(&message)).into_response())
}
