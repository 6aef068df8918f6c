//! Majlis: a real-time live-chat and live-broadcast Q&A server.
//!
//! The parts, from the socket inwards:
//! - [`http`]: the axum router — WebSocket upgrade, REST, operations endpoints, the embedded web pages.
//! - [`connection`]: one WebSocket connection (reader + writer task, heartbeats, slow-consumer handling).
//! - [`protocol`]: wire protocol v1; the only module that knows the JSON on the wire.
//! - [`hub`]: rooms of local subscribers and the fan-out of encoded frames to their bounded queues.
//! - [`bus`]: how an event reaches every node's hub (in process here; Redis pub/sub with several nodes).
//! - [`store`]: where state lives, behind a trait whose methods are the atomic operations.
//! - [`qa`]: the live-broadcast Q&A domain — rules, privacy routing, keyword filter, statistics, FAQ.
//! - [`chat`]: the live-chat domain — chats, the agents' desk, routing, business hours, privacy routing,
//!   transcripts and reports (pure rules; served through [`store::ChatStore`] and `protocol::chat`).
//! - [`redis_mode`]: the Redis store and bus (the only code that knows Redis), used when `--redis-url` is set.
//! - [`auth`], [`limits`], [`metrics`], [`config`], [`error`].
//!
//! The binary (`src/main.rs`) only parses the command line and calls [`run`].

pub mod app;
pub mod auth;
pub mod bus;
pub mod chat;
pub mod chat_housekeeping;
pub mod config;
pub mod connection;
pub mod error;
pub mod http;
pub mod hub;
pub mod limits;
pub mod metrics;
pub mod presence;
pub mod protocol;
pub mod qa;
pub mod redis_mode;
pub mod store;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::serve::ListenerExt;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use app::App;
pub use config::Config;

/// How long background tasks get to finish their current pass once shutdown has drained the connections.
const BACKGROUND_STOP: Duration = Duration::from_secs(3);

/// Serves `app` on `listener` until `shutdown` resolves, then drains: stop accepting, tell every client
/// `server_shutdown`, wait up to `shutdown_grace_secs` for connections to close.
pub async fn run(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let background = CancellationToken::new();
    let presence = tokio::spawn(presence::run(Arc::clone(&app), background.clone()));
    let eviction = tokio::spawn(forget_idle(Arc::clone(&app), background.clone()));
    let votes = tokio::spawn(flush_votes(Arc::clone(&app), background.clone()));
    let chat_sweep = tokio::spawn(chat_housekeeping::run(Arc::clone(&app), background.clone()));
    app.set_ready(true);

    let drain_app = Arc::clone(&app);
    let signal = async move {
        shutdown.await;
        info!("shutting down: refusing new connections, telling clients to reconnect");
        drain_app.set_ready(false);
        drain_app.shutdown.cancel();
    };
    let router = http::router(Arc::clone(&app));
    // Frames and responses are written whole: Nagle would only hold the next one back behind a delayed ACK.
    let send_buffer = app.config.socket_send_buffer_bytes;
    let listener = listener.tap_io(move |tcp| {
        let _ = tcp.set_nodelay(true);
        if send_buffer > 0 {
            // Bytes in the kernel are lag the server can't see (`--socket-send-buffer-bytes`).
            let _ = socket2::SockRef::from(&*tcp).set_send_buffer_size(send_buffer);
        }
    });
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(signal)
        .await?;

    app.connections.close();
    let grace = Duration::from_secs(app.config.shutdown_grace_secs);
    if tokio::time::timeout(grace, app.connections.wait()).await.is_err() {
        warn!(open = app.connections.len(), "shutdown grace elapsed; dropping remaining connections");
    }
    background.cancel();
    // A background pass may be inside a call to a Redis that went away, retrying: it must neither hold the
    // process up nor live on to act against whatever Redis comes up next, so it gets a bounded time and is then
    // dropped with the runtime.
    let background_tasks = async { tokio::join!(presence, eviction, votes, chat_sweep) };
    if tokio::time::timeout(BACKGROUND_STOP, background_tasks).await.is_err() {
        warn!("background tasks were still busy after shutdown; dropping them");
    }
    info!("stopped");
    Ok(())
}

/// Publishes coalesced vote counts, at most once per `--vote-flush-ms`.
async fn flush_votes(app: Arc<App>, stop: CancellationToken) {
    if app.config.vote_flush_ms == 0 {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_millis(app.config.vote_flush_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {
                if let Err(error) = app.qa.flush_votes().await {
                    tracing::warn!(code = ?error.code, "could not publish vote counts");
                }
            }
        }
    }
}

/// Keeps per-user memory bounded: rate limiters back to a full allowance, personal streams long idle.
async fn forget_idle(app: Arc<App>, stop: CancellationToken) {
    let every = Duration::from_secs(app.config.limiter_idle_secs.max(1));
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {
                app.limits.evict_idle();
                app.personal.evict_idle();
            }
        }
    }
}
