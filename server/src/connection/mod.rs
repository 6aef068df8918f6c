//! One WebSocket connection: a reader (this task) that turns frames into commands, and a writer task
//! ([`writer`]) that owns the socket's sending half. Cleanup happens in one place, at the end of [`serve`].
//!
//! The WebSocket library reads and checks the client's frames; the server's frames are encoded by
//! [`crate::hub::WireFrame`] and written by the writer itself, so the library never writes: its automatic
//! answers to pings and closes are discarded ([`ReadOnly`]) and the reader asks the writer to send them instead.

mod rooms;
mod writer;

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::{self, protocol::Role, protocol::WebSocketConfig, Message};
use tokio_tungstenite::WebSocketStream;
use tracing::{debug, info_span, Instrument};

use crate::app::App;
use crate::auth::{unix_millis, User};
use crate::error::{Error, ErrorCode, Result};
use crate::hub::{CloseReason, ConnControl, Outbound, Outbox, PushError, WireFrame};
use crate::limits::ConnectionSlot;
use crate::protocol::{self, Command, UserView};
use crate::qa::rooms::Audience;
use crate::qa::{BroadcastId, QaCommand, QaReply};
use rooms::JoinedRoom;
use writer::Writer;

/// How long the writer may take to flush its last frames after the reader ended.
const WRITER_LINGER: Duration = Duration::from_secs(5);

/// The WebSocket library's settings for reading a client: small buffers (an idle connection holds them all its
/// life) and the transport's hard frame limit.
fn read_config(app: &App) -> WebSocketConfig {
    // Frames between max and 4×max are read and answered `too_large`; beyond that the transport closes (1009).
    let hard_limit = app.config.max_message_bytes.saturating_mul(4).max(1024);
    WebSocketConfig::default()
        .read_buffer_size(app.config.ws_read_buffer_bytes)
        .max_message_size(Some(hard_limit))
        .max_frame_size(Some(hard_limit))
}

/// Runs a connection to its end, on an upgraded socket's two halves.
pub async fn serve<R, W>(read: R, write: W, app: Arc<App>, peer: IpAddr, slot: ConnectionSlot)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let id = app.next_connection_id();
    let span = info_span!("conn", id, %peer);
    async move {
        app.metrics.connections_open.fetch_add(1, Relaxed);
        app.metrics.connections_total.fetch_add(1, Relaxed);
        debug!("open");
        let config = Some(read_config(&app));
        let stream = WebSocketStream::from_raw_socket(ReadOnly(read), Role::Server, config).await;
        let sink = write;
        let tx = Arc::new(Outbox::new(app.config.outbound_queue));
        let rx = Arc::clone(&tx);
        let control = Arc::new(ConnControl::new(Arc::clone(&tx)));
        let writer = tokio::spawn(Writer::new(&app, rx, Arc::clone(&control)).run(sink));
        let mut conn = Connection { id, app: Arc::clone(&app), tx, control, user: None, rooms: vec![], bad_frames: 0 };
        conn.read_until_done(stream).await;
        // The one cleanup place: leave every room, let the writer flush what is queued, give the slot back.
        conn.leave_all();
        conn.tx.close();
        drop(conn);
        let mut writer = writer;
        if tokio::time::timeout(WRITER_LINGER, &mut writer).await.is_err() {
            writer.abort();
        }
        drop(slot);
        app.metrics.connections_open.fetch_sub(1, Relaxed);
        debug!("closed");
    }
    .instrument(span)
    .await
}

struct Connection {
    id: u64,
    app: Arc<App>,
    tx: Arc<Outbox>,
    control: Arc<ConnControl>,
    user: Option<User>,
    rooms: Vec<JoinedRoom>,
    bad_frames: u32,
}

impl Connection {
    /// Reads and handles the client's frames until the connection ends. Also the connection's clock: it queues
    /// the pings, notices the idle timeout and the server's shutdown, so the writer only ever waits on its queue.
    async fn read_until_done<R: AsyncRead + Unpin>(&mut self, mut stream: WebSocketStream<ReadOnly<R>>) {
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
        loop {
            let frame = tokio::select! {
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
                    self.enqueue(Outbound::Frame(WireFrame::ping()));
                    continue;
                }
                frame = stream.next() => frame,
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
                    self.bad_frame();
                    self.reply(&Value::Null, Err(Error::bad_request("Binary frames are not used; send JSON text.")));
                }
                // The writer answers with its own close frame (1000) once the reader is done.
                Message::Close(_) => return,
                Message::Ping(payload) => self.enqueue(Outbound::Frame(WireFrame::pong(&payload))),
                // Pongs only prove the peer is alive, which resetting the silence timer above noted.
                Message::Pong(_) | Message::Frame(_) => {}
            }
        }
    }

    /// A frame the WebSocket library refused: too big gets its documented close code; otherwise the peer broke
    /// the protocol or went away, and the connection just ends.
    fn read_failed(&self, error: tungstenite::Error) {
        debug!(%error, "read failed");
        if let tungstenite::Error::Capacity(_) = error {
            self.control.kill(CloseReason::MessageTooBig);
        }
    }

    async fn on_text(&mut self, text: &str) {
        self.app.metrics.commands.fetch_add(1, Relaxed);
        if text.len() > self.app.config.max_message_bytes {
            self.bad_frame();
            let error = Error::new(
                ErrorCode::TooLarge,
                format!("Frames are limited to {} bytes.", self.app.config.max_message_bytes),
            );
            return self.reply(&Value::Null, Err(error));
        }
        let (id, parsed) = protocol::parse(text);
        let result = match parsed {
            Ok(command) => {
                self.bad_frames = 0;
                self.handle(command).await
            }
            Err(error) => {
                self.bad_frame();
                Err(error)
            }
        };
        self.reply(&id, result);
    }

    /// Counts a malformed frame; too many in a row is abuse, not a bug to help with.
    fn bad_frame(&mut self) {
        self.bad_frames += 1;
        if self.bad_frames > self.app.config.max_bad_frames {
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
        self.enqueue(Outbound::Frame(WireFrame::text(frame.as_str())));
    }

    /// Queues a frame for the writer. A full queue means the client is not reading: close it.
    fn enqueue(&self, item: Outbound) {
        if let Err(PushError::Full) = self.tx.push(item) {
            self.control.kill_slow_consumer(&self.app.metrics);
        }
    }

    async fn handle(&mut self, command: Command) -> Result<Value> {
        let limiter_key = match &self.user {
            Some(user) => user.sub.clone(),
            // Per connection, not per address: many citizens share one address behind NAT, and the number of
            // connections per address is limited on its own.
            None => format!("conn:{}", self.id),
        };
        self.app.limits.command(&limiter_key)?;
        match command {
            Command::Auth { token } => self.auth(&token),
            Command::Ping => Ok(json!({ "time": unix_millis() })),
            Command::Join { room, since, observer } => self.join(&self.signed_in()?, &room, since, observer).await,
            Command::Leave { room } => {
                self.signed_in()?;
                self.leave(&room)
            }
            Command::Qa { broadcast, command } => self.qa(&self.signed_in()?, broadcast, command).await,
        }
    }

    /// Who this connection acts for: every command but `auth` and `ping` needs a prior `auth`.
    fn signed_in(&self) -> Result<User> {
        self.user.clone().ok_or_else(Error::unauthorized)
    }

    fn auth(&mut self, token: &str) -> Result<Value> {
        let user = self.app.tokens.verify(token)?;
        // A new identity keeps only the rooms it may see.
        self.leave_rooms_not_allowed(&user);
        let result = json!({ "user": UserView::from(&user) });
        self.user = Some(user);
        Ok(result)
    }

    async fn qa(&self, user: &User, broadcast: BroadcastId, command: QaCommand) -> Result<Value> {
        if command.needs_moderator() && !user.role.is_moderator() {
            return Err(Error::forbidden("Only moderators may do this."));
        }
        match &command {
            QaCommand::Ask { .. } => {
                self.app.limits.question(&user.sub)?;
                self.app.qa.limit_question(&user.sub).await?;
            }
            QaCommand::Vote { .. } => self.app.limits.vote(&user.sub)?,
            _ => {}
        }
        let audience = if user.role.is_moderator() { Audience::Moderation } else { Audience::Public };
        Ok(match self.app.qa.execute(broadcast, user, command).await? {
            QaReply::Asked { question, duplicate } => {
                json!({ "question": protocol::qa::question_result(&question, Audience::Public), "duplicate": duplicate })
            }
            QaReply::Question(question) => json!({ "question": protocol::qa::question_result(&question, audience) }),
            QaReply::Voted { question, votes, voted } => {
                json!({ "question": question, "votes": votes, "voted": voted })
            }
            QaReply::Done => json!({}),
        })
    }
}

/// The reading half as the WebSocket library sees it: reads go to the socket, writes (its automatic pong and close
/// answers) are dropped, since the writer task owns the sending half and sends those itself.
struct ReadOnly<R>(R);

impl<R: AsyncRead + Unpin> AsyncRead for ReadOnly<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<R: Unpin> AsyncWrite for ReadOnly<R> {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
