//! REST extractors: who is calling, from the `Authorization: Bearer` token, and JSON bodies with errors a
//! person can read. They live with the router, which owns the application state they read the token keys
//! from; `auth` itself knows nothing of HTTP state.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use super::AppState;
use crate::auth::{Role, User};
use crate::chat;
use crate::error::{Error, ErrorCode, Result};
use crate::protocol::fields;

/// REST extractor: a request with a valid `Authorization: Bearer` token.
pub struct AuthUser(pub User);

/// REST extractor: a moderator or admin.
pub struct Moderator(pub User);

/// REST extractor: the caller's identity when a valid token is present.
pub struct MaybeUser(pub Option<User>);

/// REST extractor: a citizen (the chat's offline messages).
pub struct Citizen(pub User);

/// REST extractor: desk staff, an agent or an admin (`chat::is_desk_staff`).
pub struct Staff(pub User);

/// REST extractor: an admin, the chat's supervisor (`chat::is_supervisor`).
pub struct Admin(pub User);

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ").map(str::trim)
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = Error;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let token = bearer(parts).ok_or_else(Error::unauthorized)?;
        state.tokens.verify(token).map(AuthUser)
    }
}

impl FromRequestParts<AppState> for Moderator {
    type Rejection = Error;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let AuthUser(user) = AuthUser::from_request_parts(parts, state).await?;
        if !user.role.is_moderator() {
            return Err(Error::forbidden("Only moderators and admins may do this."));
        }
        Ok(Moderator(user))
    }
}

/// A verified caller whose role passes `allowed`, else `forbidden` with `refusal`.
async fn with_role(parts: &mut Parts, state: &AppState, allowed: fn(Role) -> bool, refusal: &str) -> Result<User> {
    let AuthUser(user) = AuthUser::from_request_parts(parts, state).await?;
    if !allowed(user.role) {
        return Err(Error::forbidden(refusal));
    }
    Ok(user)
}

impl FromRequestParts<AppState> for Citizen {
    type Rejection = Error;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let user = with_role(parts, state, |r| r == Role::Citizen, "Only citizens may do this.").await?;
        Ok(Citizen(user))
    }
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = Error;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let user = with_role(parts, state, chat::is_desk_staff, "Only agents and admins may do this.").await?;
        Ok(Staff(user))
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Error;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let user = with_role(parts, state, chat::is_supervisor, "Only admins may do this.").await?;
        Ok(Admin(user))
    }
}

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = Error;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        Ok(MaybeUser(bearer(parts).and_then(|t| state.tokens.verify(t).ok())))
    }
}

/// REST extractor: a JSON body. Unlike axum's `Json`, whose rejections carry the parser's wording ("Failed to
/// deserialize the JSON body…"), a bad body is `bad_request` with a plain sentence naming the field at fault.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = Error;
    async fn from_request(request: Request, state: &S) -> Result<Self> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(Error::bad_request("Send the body as JSON, with Content-Type: application/json."));
        }
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Error::new(ErrorCode::TooLarge, "The body is too large.")
            } else {
                Error::bad_request("The body could not be read.")
            }
        })?;
        fields::from_slice(&bytes).map(JsonBody)
    }
}
