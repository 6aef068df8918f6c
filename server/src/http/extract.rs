//! REST extractors: who is calling, from the `Authorization: Bearer` token. They live with the router, which
//! owns the application state they read the token keys from; `auth` itself knows nothing of HTTP state.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::AppState;
use crate::auth::User;
use crate::error::{Error, Result};

/// REST extractor: a request with a valid `Authorization: Bearer` token.
pub struct AuthUser(pub User);

/// REST extractor: a moderator or admin.
pub struct Moderator(pub User);

/// REST extractor: the caller's identity when a valid token is present.
pub struct MaybeUser(pub Option<User>);

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

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = Error;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        Ok(MaybeUser(bearer(parts).and_then(|t| state.tokens.verify(t).ok())))
    }
}
