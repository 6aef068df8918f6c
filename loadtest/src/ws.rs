//! The client side of the wire: connecting (from a chosen source address, with small buffers), commands and
//! their replies, and cheap recognition of server frames without parsing them.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::net::TcpSocket;
use tokio::time::timeout;

use crate::ctx::{Ctx, Role};
use crate::stats::Stats;
use crate::target::source_address;
use crate::wire::Incoming;

pub type Ws = crate::wire::Client;

/// The longest a connect, a handshake or a command's reply may take before the client gives up on it.
pub const WAIT: Duration = Duration::from_secs(10);

/// Opens a WebSocket for client `i`: TCP from its source address to its node, then the upgrade. The error is a
/// short code (`http_429`, `connect_refused`, ...) for the error table.
pub async fn connect(ctx: &Ctx, i: u64) -> Result<Ws, String> {
    let node = ctx.node(i);
    let socket = if node.addr.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() };
    let socket = socket.map_err(|e| io_code("socket", &e))?;
    if let Some(source) = source_address(node, i, ctx.common.source_addresses) {
        socket.bind(SocketAddr::new(source, 0)).map_err(|e| io_code("bind", &e))?;
    }
    let stream = match timeout(WAIT, socket.connect(node.addr)).await {
        Err(_) => return Err("connect_timeout".into()),
        Ok(Err(e)) => return Err(io_code("connect", &e)),
        Ok(Ok(stream)) => stream,
    };
    // Commands are single small frames; Nagle would only add latency to them.
    let _ = stream.set_nodelay(true);
    let upgrade = Ws::handshake(stream, &node.authority, &node.path, ctx.common.read_buffer_bytes, i);
    timeout(WAIT, upgrade).await.unwrap_or_else(|_| Err("handshake_timeout".into()))
}

fn io_code(stage: &str, e: &std::io::Error) -> String {
    match (e.kind(), e.raw_os_error()) {
        (_, Some(24)) => "too_many_open_files".into(),
        (ErrorKind::ConnectionRefused, _) => "connect_refused".into(),
        (ErrorKind::AddrNotAvailable, _) => "addr_not_available".into(),
        (ErrorKind::AddrInUse, _) => "addr_in_use".into(),
        (ErrorKind::ConnectionReset, _) => format!("{stage}_reset"),
        (kind, _) => format!("{stage}_{kind:?}").to_lowercase(),
    }
}

/// The server's answer to one command.
#[derive(Debug)]
pub enum Reply {
    Ack(Value),
    Error { code: String },
}

/// Counts an open connection for as long as it lives.
struct OpenGuard(Arc<Stats>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Relaxed);
    }
}

/// An authenticated connection.
pub struct Session {
    pub ws: Ws,
    /// When the connect began (after waiting for a handshake slot), for connect latencies.
    pub began: std::time::Instant,
    next_id: u64,
    _open: OpenGuard,
}

impl Session {
    /// Connects client `i` and authenticates it with a freshly minted token. Failures are counted (and the error
    /// names their code).
    pub async fn open(ctx: &Ctx, i: u64, role: Role) -> Result<Session> {
        let stats = &ctx.stats;
        stats.attempted.fetch_add(1, Relaxed);
        let token = ctx.token(i, role)?;
        let (ws, began) = {
            let _permit = ctx.connect_permit().await;
            let began = std::time::Instant::now();
            (connect(ctx, i).await, began)
        };
        let ws = ws.map_err(|code| {
            stats.connect_failures.fetch_add(1, Relaxed);
            stats.error(&code);
            anyhow!("connecting: {code}")
        })?;
        stats.open.fetch_add(1, Relaxed);
        let mut session = Session { ws, began, next_id: 0, _open: OpenGuard(Arc::clone(stats)) };
        match session.request(json!({"type": "auth", "token": token}), |_| {}).await {
            Ok(Reply::Ack(_)) => {
                stats.connected.fetch_add(1, Relaxed);
                Ok(session)
            }
            Ok(Reply::Error { code }) => {
                stats.connect_failures.fetch_add(1, Relaxed);
                stats.error(&code);
                bail!("auth refused: {code}")
            }
            Err(e) => {
                stats.connect_failures.fetch_add(1, Relaxed);
                stats.error(&format!("auth_{}", e.code()));
                Err(anyhow::Error::new(e).context("auth"))
            }
        }
    }

    /// Sends `command` with a fresh id; returns the id.
    pub async fn send(&mut self, mut command: Value) -> Result<u64> {
        self.next_id += 1;
        let id = self.next_id;
        command["id"] = json!(id);
        self.ws.send_text(&command.to_string()).await?;
        Ok(id)
    }

    /// Sends `command` and waits (bounded) for its reply; every other frame meanwhile goes to `other`.
    pub async fn request(&mut self, command: Value, mut other: impl FnMut(&str)) -> Result<Reply, NoReply> {
        let id = self.send(command).await.map_err(NoReply::Broken)?;
        let wait = async {
            while let Some(message) = self.ws.next().await {
                let text = match message.map_err(|e| NoReply::Broken(e.into()))? {
                    Incoming::Text(text) => text,
                    Incoming::Close(code) => return Err(NoReply::Closed(close_code(code))),
                };
                match reply_to(text, id) {
                    Some(reply) => return Ok(reply),
                    None => other(text),
                }
            }
            Err(NoReply::Ended)
        };
        timeout(WAIT, wait).await.map_err(|_| NoReply::InTime)?
    }

    /// Drops the connection the hard way (RST), as a network failure would.
    pub fn abort(self) {
        let _ = self.ws.get_ref().set_zero_linger();
    }
}

/// Why a request got no reply, so that a run's error table tells a saturated server (no reply in time) from
/// one that closed the connection (with which code) or a connection that broke.
#[derive(Debug)]
pub enum NoReply {
    InTime,
    Closed(String),
    Ended,
    Broken(anyhow::Error),
}

impl NoReply {
    /// The error-table key.
    pub fn code(&self) -> String {
        match self {
            NoReply::InTime => "no_reply_in_time".into(),
            NoReply::Closed(code) => code.clone(),
            NoReply::Ended => "connection_ended".into(),
            NoReply::Broken(_) => "connection_broken".into(),
        }
    }
}

impl std::fmt::Display for NoReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoReply::InTime => write!(f, "no reply within {WAIT:?}"),
            NoReply::Closed(code) => write!(f, "closed: {code}"),
            NoReply::Ended => write!(f, "connection ended"),
            NoReply::Broken(e) => write!(f, "connection broken: {e:#}"),
        }
    }
}

impl std::error::Error for NoReply {}

/// The close code as an error-table key.
pub fn close_code(code: Option<u16>) -> String {
    match code {
        Some(code) => format!("close_{code}"),
        None => "close_without_code".into(),
    }
}

#[derive(Deserialize)]
struct ReplyFrame {
    r#type: String,
    #[serde(default)]
    id: Value,
    #[serde(default)]
    result: Value,
    #[serde(default)]
    code: String,
}

/// The reply carried by `text` if it is the ack or error of command `id`.
pub fn reply_to(text: &str, id: u64) -> Option<Reply> {
    if !matches!(classify(text), FrameKind::Ack | FrameKind::Error) {
        return None;
    }
    let frame: ReplyFrame = serde_json::from_str(text).ok()?;
    if frame.id.as_u64() != Some(id) {
        return None;
    }
    match frame.r#type.as_str() {
        "ack" => Some(Reply::Ack(frame.result)),
        _ => Some(Reply::Error { code: frame.code }),
    }
}

/// Any reply: its command id and the reply.
pub fn any_reply(text: &str) -> Option<(Option<u64>, Reply)> {
    let frame: ReplyFrame = serde_json::from_str(text).ok()?;
    let reply = match frame.r#type.as_str() {
        "ack" => Reply::Ack(frame.result),
        "error" => Reply::Error { code: frame.code },
        _ => return None,
    };
    Some((frame.id.as_u64(), reply))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    Event,
    Snapshot,
    Ack,
    Error,
    Presence,
    Shutdown,
    Other,
}

/// What a server frame is, from its first bytes. The server writes `type` first; anything else takes the slow
/// path of a real parse, so a reordering server is still understood, only slower.
pub fn classify(text: &str) -> FrameKind {
    let Some(rest) = text.strip_prefix(r#"{"type":""#) else { return classify_slowly(text) };
    let kind = match rest.find('"') {
        Some(end) => &rest[..end],
        None => return FrameKind::Other,
    };
    kind_of(kind)
}

fn kind_of(kind: &str) -> FrameKind {
    match kind {
        "event" => FrameKind::Event,
        "snapshot" => FrameKind::Snapshot,
        "ack" => FrameKind::Ack,
        "error" => FrameKind::Error,
        "presence" => FrameKind::Presence,
        "server_shutdown" => FrameKind::Shutdown,
        _ => FrameKind::Other,
    }
}

fn classify_slowly(text: &str) -> FrameKind {
    #[derive(Deserialize)]
    struct Typed {
        r#type: String,
    }
    serde_json::from_str::<Typed>(text).map(|t| kind_of(&t.r#type)).unwrap_or(FrameKind::Other)
}

/// The first unsigned integer after `key` (e.g. `"seq":`). Events and snapshots carry `seq` before their data,
/// so the first match is the frame's own.
pub fn number_after(text: &str, key: &str) -> Option<u64> {
    leading_number(&text[text.find(key)? + key.len()..])
}

/// The unsigned integer `text` starts with.
pub fn leading_number(text: &str) -> Option<u64> {
    let len = text.bytes().take_while(u8::is_ascii_digit).count();
    text[..len].parse().ok()
}

/// The string value after `key` (e.g. `"epoch":"`), up to the closing quote.
pub fn string_after<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let start = text.find(key)? + key.len();
    let len = text[start..].find('"')?;
    Some(&text[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_recognised_by_their_first_bytes() {
        let event = r#"{"type":"event","room":"broadcast:3","seq":42,"kind":"votes","data":{"id":17,"votes":13}}"#;
        assert_eq!(classify(event), FrameKind::Event);
        assert_eq!(number_after(event, r#""seq":"#), Some(42));
        let snapshot = r#"{"type":"snapshot","room":"broadcast:3","epoch":"9f1c2a","seq":7,"recovered":false}"#;
        assert_eq!(classify(snapshot), FrameKind::Snapshot);
        assert_eq!(string_after(snapshot, r#""epoch":""#), Some("9f1c2a"));
        assert_eq!(classify(r#"{"room":"b","type":"presence"}"#), FrameKind::Presence);
        assert_eq!(classify("not json"), FrameKind::Other);
    }

    #[test]
    fn replies_match_their_command() {
        let ack = r#"{"type":"ack","id":4,"result":{"votes":2}}"#;
        assert!(matches!(reply_to(ack, 4), Some(Reply::Ack(v)) if v["votes"] == 2));
        assert!(reply_to(ack, 5).is_none());
        let error = r#"{"type":"error","id":5,"code":"rate_limited","message":"x","retry_after_ms":10}"#;
        assert!(matches!(reply_to(error, 5), Some(Reply::Error { code }) if code == "rate_limited"));
    }
}
