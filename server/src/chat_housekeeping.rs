//! The chat's housekeeping task: runs the store's sweep every `--chat-sweep-ms` (chats whose citizen stayed
//! away past the resume window end as abandoned; staff past their grace period go offline and their chats go
//! back to the front of the queue), then has it forget what is past its retention (ended chats, settled
//! offline messages: `--chat-retention-secs`). An application task, like `presence.rs`: the domain only
//! decides.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::app::App;

pub async fn run(app: Arc<App>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_millis(app.config.chat.sweep_ms.max(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {
                if let Err(error) = app.chat.sweep().await {
                    tracing::debug!(code = ?error.code, "chat sweep failed; the next one retries");
                }
                match app.chat.forget_expired().await {
                    Ok(f) if f.chats + f.offline > 0 => {
                        tracing::debug!(chats = f.chats, offline = f.offline, "chat records past their retention forgotten");
                    }
                    Ok(_) => {}
                    Err(error) => tracing::debug!(code = ?error.code, "chat retention pass failed; the next one retries"),
                }
            }
        }
    }
}
