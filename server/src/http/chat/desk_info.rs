//! What the widget reads before the pre-chat form, the business hours, and agents' caps.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Deserializer};

use super::Key;
use crate::auth::Role;
use crate::chat::hours::Schedule;
use crate::chat::rules::{DeskCommand, DeskReply};
use crate::error::{Error, Result};
use crate::http::extract::{Admin, JsonBody, MaybeUser};
use crate::http::AppState;
use crate::protocol::chat::rest::StartInfoView;
use crate::protocol::chat::views::AgentWire;

/// `GET /api/chat/start-info`: open or not, each language, the consent line; with a token, one's own open chats
/// and whether one may start another (only a citizen may).
pub async fn start_info(State(app): State<AppState>, MaybeUser(user): MaybeUser) -> Result<Response> {
    let info = app.chat.start_info(user.as_ref()).await?;
    let may_start = user.as_ref().map(|u| u.role == Role::Citizen && info.may_start);
    Ok(Json(StartInfoView::of(&info, may_start)).into_response())
}

pub async fn hours(State(app): State<AppState>) -> Result<Json<Schedule>> {
    Ok(Json(app.chat.hours().await?))
}

/// `PUT /api/chat/hours`: the whole schedule, checked and sorted (`Schedule::checked`).
pub async fn set_hours(
    State(app): State<AppState>,
    Admin(admin): Admin,
    JsonBody(schedule): JsonBody<Schedule>,
) -> Result<Json<Schedule>> {
    Ok(Json(app.chat.set_hours(&admin, schedule).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapBody {
    /// Required, `null` meaning "the default": a body without it is more likely a mistake than a reset.
    #[serde(deserialize_with = "present")]
    max_chats: Option<u32>,
}

/// Reads an `Option` that must be there (serde's own `Option` handling makes a missing field `None`).
fn present<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<u32>, D::Error> {
    Option::<u32>::deserialize(d)
}

/// `PUT /api/chat/agents/{sub}`: an admin sets an agent's own cap, published to `desk` by the store.
pub async fn set_cap(
    State(app): State<AppState>,
    Admin(admin): Admin,
    Key(sub): Key,
    JsonBody(body): JsonBody<CapBody>,
) -> Result<Response> {
    let command = DeskCommand::Cap { agent: sub, max_chats: body.max_chats };
    match app.chat.desk(&admin, command).await? {
        DeskReply::Agent(agent) => Ok(Json(AgentWire::from(&*agent)).into_response()),
        DeskReply::Done => Err(Error::internal("a cap answered no agent")),
    }
}
