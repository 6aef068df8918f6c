//! One WebSocket connection: a reader ([`reader`]) that turns frames into commands ([`commands`]), and a
//! writer task ([`writer`]) that owns the socket's sending half. Cleanup happens in one place, at the end of
//! [`serve`].
//!
//! The WebSocket library reads and checks the client's frames; the server's frames are encoded by
//! [`crate::hub::WireFrame`] and written by the writer itself, so the library never writes: its automatic
//! answers to pings and closes are discarded ([`ReadOnly`]) and the reader asks the writer to send them instead.
//!
//! **A close reaches the client.** The writer writes the close frame after what was in flight and the replies
//! still queued, then shuts its side down (FIN). Meanwhile the reader keeps reading and discarding until the
//! client closes its side or `--close-linger-ms` passes: a socket dropped with unread bytes in it is reset
//! (RST), and a reset makes the client's system throw away whatever it had received but not yet read, the
//! close frame and the last replies included.

mod chat;
mod commands;
mod people;
mod reader;
mod rooms;
mod writer;

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{protocol::Role, protocol::WebSocketConfig};
use tokio_tungstenite::WebSocketStream;
use tracing::{debug, info_span, Instrument};

use crate::app::App;
use crate::hub::{ConnControl, Outbox, OutboxBounds};
use crate::limits::ConnectionSlot;
pub use people::People;
use reader::Connection;
use writer::Writer;

/// What is read at a time while discarding a closing client's last bytes.
const DISCARD_CHUNK: usize = 512;

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

fn outbox_bounds(app: &App) -> OutboxBounds {
    OutboxBounds {
        room_items: app.config.outbound_queue,
        own_items: app.config.reply_queue,
        max_lag: Duration::from_millis(app.config.max_lag_ms),
    }
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
        let mut stream = WebSocketStream::from_raw_socket(ReadOnly(read), Role::Server, config).await;
        let tx = Arc::new(Outbox::new(outbox_bounds(&app)));
        let control = Arc::new(ConnControl::new(Arc::clone(&tx)));
        let writer = tokio::spawn(Writer::new(&app, Arc::clone(&tx), Arc::clone(&control)).run(write));
        let mut conn = Connection::new(id, Arc::clone(&app), tx, control);
        conn.read_until_done(&mut stream).await;
        // The one cleanup place: leave every room, let the writer say goodbye, give the slot back.
        conn.finish().await;
        let linger = Duration::from_millis(app.config.close_linger_ms);
        close_without_reset(&mut stream.get_mut().0, writer, Instant::now() + linger).await;
        drop(stream);
        drop(slot);
        app.metrics.connections_open.fetch_sub(1, Relaxed);
        debug!("closed");
    }
    .instrument(span)
    .await
}

/// Waits for the writer to send its last frames and the close frame, reading and discarding whatever the
/// client sends meanwhile and after, until the client closes its side or `by`; then the socket may be dropped
/// without a reset.
async fn close_without_reset<R: AsyncRead + Unpin>(read: &mut R, mut writer: JoinHandle<()>, by: Instant) {
    let drain = discard_until_end(read);
    tokio::pin!(drain);
    let (mut written, mut drained) = (false, false);
    let _ = tokio::time::timeout_at(by, async {
        while !(written && drained) {
            tokio::select! {
                _ = &mut writer, if !written => written = true,
                _ = &mut drain, if !drained => drained = true,
            }
        }
    })
    .await;
    if !written {
        writer.abort();
    }
}

/// Reads and throws away until the end of the stream (or an error: then there is nothing left to read either).
async fn discard_until_end<R: AsyncRead + Unpin>(read: &mut R) {
    let mut chunk = [0u8; DISCARD_CHUNK];
    while let Ok(n) = read.read(&mut chunk).await {
        if n == 0 {
            return;
        }
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
