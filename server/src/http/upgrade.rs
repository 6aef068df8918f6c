//! The WebSocket opening handshake (RFC 6455 §4.2), done here rather than by axum's extractor because the
//! connection needs the raw socket: it writes pre-encoded frames to it directly ([`crate::hub::WireFrame`]).

use std::future::Future;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::error::Error;

/// A checked upgrade request: answer it with [`Handshake::accept`].
pub struct Handshake {
    accept_key: String,
    on_upgrade: OnUpgrade,
}

/// The socket after the handshake (hyper's upgraded connection: the TCP stream, plus whatever the HTTP server
/// had already read past the request).
pub type Socket = TokioIo<Upgraded>;

impl Handshake {
    /// Checks that `request` asks for a WebSocket (version 13) and takes its upgrade handle.
    pub fn check(request: &mut Request) -> Result<Self, Error> {
        let headers = request.headers();
        if request.method() != Method::GET
            || !has_token(headers, header::CONNECTION, "upgrade")
            || !has_token(headers, header::UPGRADE, "websocket")
        {
            return Err(Error::bad_request("This endpoint speaks WebSocket: send an upgrade request."));
        }
        if headers.get(header::SEC_WEBSOCKET_VERSION).map(|v| v.as_bytes()) != Some(b"13") {
            return Err(Error::bad_request("Only WebSocket version 13 is supported."));
        }
        let key = headers
            .get(header::SEC_WEBSOCKET_KEY)
            .ok_or_else(|| Error::bad_request("The upgrade request lacks Sec-WebSocket-Key."))?;
        let accept_key = derive_accept_key(key.as_bytes());
        let on_upgrade = request
            .extensions_mut()
            .remove::<OnUpgrade>()
            .ok_or_else(|| Error::bad_request("This connection cannot be upgraded."))?;
        Ok(Handshake { accept_key, on_upgrade })
    }

    /// The 101 response, and the socket it leads to: the caller spawns the connection on `socket` (where its
    /// shutdown can track it); it resolves once the response has gone out, or to `None` if the client left.
    pub fn accept(self) -> (Response, impl Future<Output = Option<Socket>> + Send + 'static) {
        let on_upgrade = self.on_upgrade;
        let socket = async move {
            match on_upgrade.await {
                Ok(upgraded) => Some(TokioIo::new(upgraded)),
                Err(error) => {
                    tracing::debug!(%error, "upgrade failed");
                    None
                }
            }
        };
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(
            header::SEC_WEBSOCKET_ACCEPT,
            HeaderValue::from_str(&self.accept_key).expect("BUG: base64 is a valid header value"),
        );
        (response, socket)
    }
}

/// Whether a comma-separated header has `token` (case-insensitively), as `Connection: keep-alive, Upgrade`.
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}
