//! The one error type clients ever see.
//!
//! Every failure a client can cause or observe maps to a stable [`ErrorCode`]. Internal causes are logged here,
//! never sent: the wire carries only the code and a fixed, human-readable message.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Internal errors built in this process so far. Each is logged with its cause; a healthy node builds none
/// (only a bug or a failing dependency such as Redis does), so operators can alert on
/// `majlis_internal_errors_total` and the tests check it stays at 0.
static INTERNAL_ERRORS: AtomicU64 = AtomicU64::new(0);

/// How many internal errors this process has logged.
pub fn internal_errors() -> u64 {
    INTERNAL_ERRORS.load(Relaxed)
}

/// Stable error codes of protocol v1 (`docs/protocol.md` §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    UnknownType,
    TooLarge,
    Unauthorized,
    Forbidden,
    NotFound,
    RateLimited,
    Conflict,
    Unavailable,
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 10] = [
        ErrorCode::BadRequest,
        ErrorCode::UnknownType,
        ErrorCode::TooLarge,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::RateLimited,
        ErrorCode::Conflict,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }

    /// Index into per-code metric arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    fn status(self) -> StatusCode {
        match self {
            ErrorCode::BadRequest | ErrorCode::UnknownType => StatusCode::BAD_REQUEST,
            ErrorCode::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error as a client sees it: a code, a safe message, and for `rate_limited` the wait.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct Error {
    pub code: ErrorCode,
    /// Safe to show to the client. Never built from internal error text.
    pub message: String,
    pub retry_after_ms: Option<u64>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error { code, message: message.into(), retry_after_ms: None }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }
    pub fn unauthorized() -> Self {
        Self::new(ErrorCode::Unauthorized, "A valid token is required.")
    }
    pub fn unavailable() -> Self {
        Self::new(ErrorCode::Unavailable, "The service is unavailable right now; retry shortly.")
    }
    pub fn rate_limited(retry_after_ms: u64, message: impl Into<String>) -> Self {
        Error { code: ErrorCode::RateLimited, message: message.into(), retry_after_ms: Some(retry_after_ms) }
    }
    /// Logs the real cause and returns the opaque `internal` error.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        INTERNAL_ERRORS.fetch_add(1, Relaxed);
        tracing::error!(%cause, "internal error");
        Self::new(ErrorCode::Internal, "Something went wrong on our side.")
    }
}

#[derive(Serialize)]
struct RestErrorBody<'a> {
    error: RestError<'a>,
}

#[derive(Serialize)]
struct RestError<'a> {
    code: ErrorCode,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after_ms: Option<u64>,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let body = RestErrorBody {
            error: RestError { code: self.code, message: &self.message, retry_after_ms: self.retry_after_ms },
        };
        let mut response = (self.code.status(), axum::Json(body)).into_response();
        // Picked up by the metrics middleware, which counts errors by code.
        response.extensions_mut().insert(self.code);
        if let Some(ms) = self.retry_after_ms {
            let secs = ms.div_ceil(1000).max(1);
            if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}
