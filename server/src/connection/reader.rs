//! The reading side of a connection: frames in, one reply per command out. It is also the connection's clock
//! (pings, idle timeout, shutdown), so the writer waits on nothing but its queue.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use tokio::io::AsyncRead;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;
use tracing::debug;

use super::rooms::JoinedRoom;
use super::ReadOnly;
use crate::app::App;
use crate::auth::User;
use crate::error::{Error, ErrorCode, Result};
use crate::hub::{CloseReason, ConnControl, Outbound, Outbox, WireFrame};
use crate::protocol;

pub(super) struct Connection {
    pub id: u64,
    pub app: Arc<App>,
    pub tx: Arc<Outbox>,
    pub control: Arc<ConnControl>,
    pub user: Option<User>,
    pub rooms: Vec<JoinedRoom>,
    bad_frames: u32,
}

impl Connection {
    pub fn new(id: u64, app: Arc<App>, tx: Arc<Outbox>, control: Arc<ConnControl>) -> Self {
        Connection { id, app, tx, control, user: None, rooms: vec![], bad_frames: 0 }
    }

    /// Reads and handles the client's frames until the connection ends. Also the connection's clock: it queues
    /// the pings, notices the idle timeout and the server's shutdown, so the writer only ever waits on its queue.
    ///
    /// While as many of its own frames wait as `--reply-queue` allows, it reads no further commands: a client
    /// that doesn't read its replies is slowed down, never closed for it.
    pub async fn read_until_done<R: AsyncRead + Unpin>(&mut self, stream: &mut WebSocketStream<ReadOnly<R>>) {
        let idle = Duration::from_secs(self.app.config.idle_timeout_secs.max(1));
        let mut ping = tokio::time::interval(Duration::from_secs(self.app.config.ping_interval_secs.max(1)));
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.tick().await;
        let control = Arc::clone(&self.control);
        let killed = control.killed();
        tokio::pin!(killed);
        let shutdown = self.app.shutdown.clone();
        let cancelled = shutdown.cancelled();
        tokio::pin!(cancelled);
        let silence = tokio::time::sleep(idle);
        tokio::pin!(silence);
        let tx = Arc::clone(&self.tx);
        loop {
            // Killed while handling the last frame (the abuse close, say): read nothing more.
            if self.control.is_killed() {
                return;
            }
            let waiting_for_writer = tx.own_full();
            let frame = tokio::select! {
                biased;
                _ = &mut killed => return,
                _ = &mut cancelled => {
                    self.control.kill(CloseReason::Shutdown);
                    return;
                }
                _ = &mut silence => {
                    self.app.metrics.heartbeat_closes.fetch_add(1, Relaxed);
                    self.control.kill(CloseReason::HeartbeatTimeout);
                    return;
                }
                _ = ping.tick() => {
                    // Frames already waiting to be written will tell whether the peer is alive.
                    if !waiting_for_writer {
                        self.enqueue(Outbound::Reply(WireFrame::ping()));
                    }
                    continue;
                }
                _ = tx.own_room(), if waiting_for_writer => continue,
                frame = stream.next(), if !waiting_for_writer => frame,
            };
            // Any frame, pongs included, proves the peer is alive.
            silence.as_mut().reset(tokio::time::Instant::now() + idle);
            let message = match frame {
                None => return,
                Some(Err(error)) => return self.read_failed(error),
                Some(Ok(message)) => message,
            };
            match message {
                Message::Text(text) => self.on_text(&text).await,
                Message::Binary(_) => {
                    self.refuse_frame(Error::bad_request("Binary frames are not used; send JSON text."));
                }
                // The writer answers with its own close frame (1000) once the reader is done.
                Message::Close(_) => return,
                Message::Ping(payload) => self.enqueue(Outbound::Reply(WireFrame::pong(&payload))),
                // Pongs only prove the peer is alive, which resetting the silence timer above noted.
                Message::Pong(_) | Message::Frame(_) => {}
            }
        }
    }

    /// A frame the WebSocket library refused. Too big and not UTF-8 get their documented close codes (the
    /// latter after an error reply, as any frame that can't be read); otherwise the peer broke the protocol
    /// or went away, and the connection just ends.
    fn read_failed(&mut self, error: tungstenite::Error) {
        debug!(%error, "read failed");
        match error {
            tungstenite::Error::Capacity(_) => {
                self.control.kill(CloseReason::MessageTooBig);
            }
            tungstenite::Error::Utf8(_) => {
                self.reply(&Value::Null, Err(Error::bad_request("Text frames must be valid UTF-8.")));
                self.control.kill(CloseReason::InvalidPayload);
            }
            _ => {}
        }
    }

    async fn on_text(&mut self, text: &str) {
        self.app.metrics.commands.fetch_add(1, Relaxed);
        if text.len() > self.app.config.max_message_bytes {
            let error = Error::new(
                ErrorCode::TooLarge,
                format!("Frames are limited to {} bytes.", self.app.config.max_message_bytes),
            );
            return self.refuse_frame(error);
        }
        let (id, parsed) = protocol::parse(text);
        match parsed {
            Ok(command) => {
                self.bad_frames = 0;
                let result = self.handle(command).await;
                self.reply(&id, result);
            }
            Err(error) => {
                self.reply(&id, Err(error));
                self.bad_frame();
            }
        }
    }

    /// Answers a frame that could not be read as a command at all (its error's `id` is `null`).
    fn refuse_frame(&mut self, error: Error) {
        self.reply(&Value::Null, Err(error));
        self.bad_frame();
    }

    /// Counts a malformed frame, after its error reply is queued; the `--max-bad-frames`-th in a row is abuse,
    /// not a bug to help with: the connection is closed (1008) once its replies are written.
    fn bad_frame(&mut self) {
        self.bad_frames += 1;
        if self.bad_frames >= self.app.config.max_bad_frames {
            self.control.kill(CloseReason::ProtocolAbuse);
        }
    }

    fn reply(&self, id: &Value, result: Result<Value>) {
        let frame = match result {
            Ok(value) => protocol::ack(id, &value),
            Err(error) => {
                self.app.metrics.error(error.code);
                protocol::error(id, &error)
            }
        };
        self.enqueue(Outbound::Reply(WireFrame::text(frame.as_str())));
    }

    /// Queues one of the connection's own items for the writer (never refused for a bound: see
    /// `read_until_done`; a closed queue means the connection is ending anyway).
    pub fn enqueue(&self, item: Outbound) {
        let _ = self.tx.push_own(item);
    }

    /// The end of the connection: out of every room, nothing more for the writer but what is queued, and one
    /// connection fewer for its person.
    pub async fn finish(mut self) {
        self.leave_all();
        self.tx.close();
        if let Some(user) = self.user.take() {
            super::people::closed(&self.app, &user).await;
        }
    }
}
