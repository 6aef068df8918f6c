//! Transcripts (for the chat's citizen without notes, for its staff with them) and the ministry's report.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::Json;

use super::{download, path_id, Key, Params};
use crate::auth::unix_millis;
use crate::chat::report::{report_csv as csv_of, ChatReport};
use crate::chat::transcript::{plain_text, Transcript};
use crate::error::{Error, Result};
use crate::http::extract::{Admin, AuthUser};
use crate::http::AppState;

/// The period a report covers unless `from` says otherwise.
const DEFAULT_PERIOD_MS: u64 = 30 * 24 * 60 * 60 * 1000;
const NO_SUCH: &str = "No such chat.";

async fn transcript_of(app: &AppState, id: &str, user: &crate::auth::User) -> Result<Transcript> {
    app.chat.transcript(path_id(id, NO_SUCH)?, user).await
}

/// `GET /api/chat/chats/{id}/transcript.json`: the citizen's or the staff transcript, by who asks.
pub async fn transcript_json(
    State(app): State<AppState>,
    AuthUser(user): AuthUser,
    Key(id): Key,
) -> Result<Json<Transcript>> {
    Ok(Json(transcript_of(&app, &id, &user).await?))
}

/// `GET /api/chat/chats/{id}/transcript.txt`: the same in the chat's language, times in the desk's zone.
pub async fn transcript_text(State(app): State<AppState>, AuthUser(user): AuthUser, Key(id): Key) -> Result<Response> {
    let transcript = transcript_of(&app, &id, &user).await?;
    let zone = app.chat.hours().await?.time_zone;
    let filename = format!("chat-{}.txt", transcript.chat);
    Ok(download("text/plain; charset=utf-8", &filename, plain_text(&transcript, zone)))
}

/// The report's period from `from` and `to` (Unix ms): by default the 30 days up to now.
async fn report_of(
    app: &AppState,
    admin: &crate::auth::User,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<ChatReport> {
    let params = Params::of(query, &["from", "to"])?;
    // By default up to now inclusive: what was created this very millisecond counts (the period is half-open).
    let to = params.number("to")?.unwrap_or_else(|| unix_millis() + 1);
    let from = params.number("from")?.unwrap_or_else(|| to.saturating_sub(DEFAULT_PERIOD_MS));
    if from > to {
        return Err(Error::bad_request("The period must not end (\"to\") before it starts (\"from\")."));
    }
    app.chat.report(admin, from, to).await
}

pub async fn report(
    State(app): State<AppState>,
    Admin(admin): Admin,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<ChatReport>> {
    Ok(Json(report_of(&app, &admin, query).await?))
}

pub async fn report_csv(
    State(app): State<AppState>,
    Admin(admin): Admin,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response> {
    let report = report_of(&app, &admin, query).await?;
    let filename = format!("chat-report-{}-{}.csv", report.from, report.to);
    Ok(download("text/csv; charset=utf-8", &filename, csv_of(&report)))
}
