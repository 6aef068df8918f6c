//! Broadcasts over REST: listing, creation, lifecycle, statistics, QR codes and the FAQ.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::{JsonBody, MaybeUser, Moderator};
use super::AppState;
use crate::error::{Error, Result};
use crate::qa::stats::stats_csv;
use crate::qa::{Broadcast, BroadcastId, BroadcastPatch, BroadcastState, NewBroadcast};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/broadcasts", get(list).post(create))
        .route("/api/broadcasts/{key}", get(show).patch(update))
        .route("/api/broadcasts/{id}/stats", get(stats))
        .route("/api/broadcasts/{id}/stats.csv", get(stats_as_csv))
        .route("/api/broadcasts/{key}/qr.svg", get(qr))
        .route("/api/faq", get(faq))
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    all: bool,
}

/// Upcoming and live broadcasts, soonest first; staff may ask for all of them.
async fn list(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>> {
    let everything = q.all && user.is_some_and(|u| u.role.is_moderator());
    let mut broadcasts: Vec<Broadcast> = app
        .qa
        .broadcasts()
        .await?
        .into_iter()
        .filter(|b| everything || matches!(b.state, BroadcastState::Scheduled | BroadcastState::Live))
        .collect();
    broadcasts
        .sort_by(|a, b| live_first(a).cmp(&live_first(b)).then(a.starts_at.cmp(&b.starts_at)).then(a.id.cmp(&b.id)));
    Ok(Json(json!({ "broadcasts": broadcasts })))
}

fn live_first(b: &Broadcast) -> u8 {
    match b.state {
        BroadcastState::Live => 0,
        BroadcastState::Scheduled => 1,
        BroadcastState::Ended => 2,
        BroadcastState::Archived => 3,
    }
}

async fn create(
    State(app): State<AppState>,
    Moderator(_): Moderator,
    JsonBody(new): JsonBody<NewBroadcast>,
) -> Result<Response> {
    let broadcast = app.qa.create_broadcast(new).await?;
    Ok((StatusCode::CREATED, Json(broadcast)).into_response())
}

/// A broadcast id from a path. Read here rather than by axum's `Path<u64>`, whose refusal is plain text in the
/// parser's words, not an error body: what isn't an id names no broadcast.
fn broadcast_id(key: &str) -> Result<BroadcastId> {
    key.parse().map_err(|_| Error::not_found("No such broadcast."))
}

/// A numeric key is an id; anything else a join code.
async fn find(app: &AppState, key: &str) -> Result<Broadcast> {
    match key.parse::<BroadcastId>() {
        Ok(id) => app.qa.broadcast(id).await,
        Err(_) => app.qa.broadcast_by_code(key).await,
    }
}

async fn show(State(app): State<AppState>, Path(key): Path<String>) -> Result<Json<Broadcast>> {
    Ok(Json(find(&app, &key).await?))
}

async fn update(
    State(app): State<AppState>,
    Moderator(_): Moderator,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<BroadcastPatch>,
) -> Result<Json<Broadcast>> {
    let id = broadcast_id(&id)?;
    Ok(Json(app.qa.update_broadcast(id, patch).await?))
}

async fn stats(State(app): State<AppState>, Moderator(_): Moderator, Path(id): Path<String>) -> Result<Response> {
    Ok(Json(app.qa.stats(broadcast_id(&id)?).await?).into_response())
}

async fn stats_as_csv(
    State(app): State<AppState>,
    Moderator(_): Moderator,
    Path(id): Path<String>,
) -> Result<Response> {
    let id = broadcast_id(&id)?;
    let stats = app.qa.stats(id).await?;
    let disposition = format!("attachment; filename=\"broadcast-{id}-stats.csv\"");
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, disposition)],
        stats_csv(&stats),
    )
        .into_response())
}

async fn qr(State(app): State<AppState>, Path(key): Path<String>) -> Result<Response> {
    let broadcast = find(&app, &key).await?;
    let url = format!("{}/b/{}", app.public_url, broadcast.code);
    let code = qrcode::QrCode::new(url.as_bytes()).map_err(Error::internal)?;
    let svg = code.render::<qrcode::render::svg::Color>().min_dimensions(256, 256).quiet_zone(true).build();
    Ok(([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "public, max-age=3600")], svg)
        .into_response())
}

async fn faq(State(app): State<AppState>) -> Result<Json<Value>> {
    Ok(Json(json!({ "groups": app.qa.faq().await? })))
}
