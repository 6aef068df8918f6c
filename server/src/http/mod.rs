//! HTTP: the router, the WebSocket upgrade, operations endpoints and the web pages.

mod assets;
mod broadcasts;
mod chat;
pub mod extract;
mod session;
mod upgrade;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use tracing::Level;

use crate::app::App;
use crate::error::{Error, ErrorCode};
use crate::limits::ConnectionRefused;

pub type AppState = Arc<App>;

pub fn router(app: AppState) -> Router {
    Router::new()
        .route("/ws", get(ws_upgrade))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(session::router())
        .merge(broadcasts::router())
        .merge(chat::router(app.config.chat.max_body_bytes))
        .merge(assets::router())
        .layer(middleware::from_fn_with_state(Arc::clone(&app), count_requests))
        // tower-http logs every 5xx at ERROR by default, and most are expected: `/readyz` answering 503 while
        // Redis is away, `unavailable` while it restarts, `server_full`. Real internal errors are logged where
        // they happen, with their cause (`Error::internal`); here failures are only traced.
        .layer(TraceLayer::new_for_http().on_failure(DefaultOnFailure::new().level(Level::DEBUG)))
        .with_state(app)
}

async fn readyz(State(app): State<AppState>) -> Response {
    if app.is_ready() {
        "ready".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
    }
}

async fn metrics(State(app): State<AppState>) -> Response {
    ([("content-type", "text/plain; version=0.0.4")], app.metrics.render()).into_response()
}

/// Counts requests, and errors by code (an error response carries its code as an extension).
async fn count_requests(State(app): State<AppState>, request: Request, next: Next) -> Response {
    app.metrics.http_requests.fetch_add(1, Relaxed);
    let response = next.run(request).await;
    if let Some(code) = response.extensions().get::<ErrorCode>() {
        app.metrics.error(*code);
    }
    response
}

/// The client's address: the socket peer, or the first X-Forwarded-For hop behind a trusted load balancer.
pub fn client_ip(app: &App, headers: &HeaderMap, peer: SocketAddr) -> IpAddr {
    if app.config.trust_forwarded_for {
        let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
        if let Some(ip) = forwarded.and_then(|v| v.split(',').next()).and_then(|v| v.trim().parse().ok()) {
            return ip;
        }
    }
    peer.ip()
}

async fn ws_upgrade(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    mut request: Request,
) -> Response {
    let handshake = match upgrade::Handshake::check(&mut request) {
        Ok(handshake) => handshake,
        Err(error) => return error.into_response(),
    };
    if app.shutdown.is_cancelled() {
        return Error::new(ErrorCode::Unavailable, "The server is shutting down; reconnect shortly.").into_response();
    }
    let ip = client_ip(&app, &headers, peer);
    let slot = match app.limits.connect(ip) {
        Ok(slot) => slot,
        Err(refused) => {
            app.metrics.connections_rejected.fetch_add(1, Relaxed);
            let error = match refused {
                ConnectionRefused::TooManyFromAddress => {
                    Error::rate_limited(1000, "too_many_connections: too many connections from your address.")
                }
                ConnectionRefused::ServerFull => {
                    Error::new(ErrorCode::Unavailable, "server_full: try another node or later.")
                }
            };
            return error.into_response();
        }
    };
    let (response, socket) = handshake.accept();
    let connection_app = Arc::clone(&app);
    // Tracked from the 101 on, so a graceful shutdown also waits for connections still completing the upgrade.
    app.connections.spawn(async move {
        if let Some(socket) = socket.await {
            let (read, write) = tokio::io::split(socket);
            crate::connection::serve(read, write, connection_app, ip, slot).await
        }
    });
    response
}
