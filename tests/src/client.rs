//! A small WebSocket client that speaks protocol v1, with every wait bounded by [`WAIT`].

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::WAIT;

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A protocol v1 client. Frames that arrive while waiting for a reply are kept, in order, for `next`.
pub struct Client {
    pub ws: Ws,
    pending: VecDeque<Value>,
    next_id: u64,
}

/// An `error` frame's code and the whole frame.
#[derive(Debug)]
pub struct Refusal {
    pub code: String,
    pub frame: Value,
}

impl Client {
    pub async fn connect(url: &str) -> Self {
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("connect in time")
            .expect("connect");
        Client { ws, pending: VecDeque::new(), next_id: 1 }
    }

    /// A client connected to `url` and authenticated with `token`.
    pub async fn authed(url: &str, token: &str) -> Self {
        let mut client = Client::connect(url).await;
        client.ok(json!({"type": "auth", "token": token})).await;
        client
    }

    /// A client whose socket buffers only a few kilobytes it has not read yet, so that when it stops reading,
    /// the server's writes to it block soon (instead of filling megabytes of kernel buffers first).
    pub async fn connect_tight(url: &str) -> Self {
        let addr = url.trim_start_matches("ws://").split('/').next().expect("BUG: ws:// url").to_string();
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        let tcp = tokio::time::timeout(WAIT, socket.connect(addr.parse().expect("BUG: address")))
            .await
            .expect("connect in time")
            .expect("connect");
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(tcp)))
            .await
            .expect("handshake in time")
            .expect("handshake");
        Client::from_ws(ws)
    }

    /// A client over an already connected socket.
    pub fn from_ws(ws: Ws) -> Self {
        Client { ws, pending: VecDeque::new(), next_id: 1 }
    }

    /// The next frame (kept or new), or `None` once the connection is closed, broken or silent for [`WAIT`].
    pub async fn try_next(&mut self) -> Option<Value> {
        if let Some(frame) = self.pending.pop_front() {
            return Some(frame);
        }
        loop {
            match tokio::time::timeout(WAIT, self.ws.next()).await.ok()?? {
                Ok(Message::Text(text)) => return serde_json::from_str(&text).ok(),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.ws.send(message).await.expect("send");
    }

    /// Sends a command (an `id` is added) and returns its ack's `result`, or the error.
    pub async fn request(&mut self, mut command: Value) -> Result<Value, Refusal> {
        let id = self.next_id;
        self.next_id += 1;
        command["id"] = json!(id);
        self.send_raw(Message::text(command.to_string())).await;
        self.reply_to(json!(id)).await
    }

    /// Waits for the ack or error carrying `id`, keeping every other frame for later.
    pub async fn reply_to(&mut self, id: Value) -> Result<Value, Refusal> {
        loop {
            let frame = self.read().await;
            let kind = frame["type"].as_str().unwrap_or_default();
            if (kind == "ack" || kind == "error") && frame["id"] == id {
                return if kind == "ack" {
                    Ok(frame["result"].clone())
                } else {
                    Err(Refusal { code: frame["code"].as_str().unwrap_or_default().to_string(), frame })
                };
            }
            self.pending.push_back(frame);
        }
    }

    /// Sends a command that must succeed.
    pub async fn ok(&mut self, command: Value) -> Value {
        let kind = command["type"].clone();
        match self.request(command).await {
            Ok(result) => result,
            Err(refusal) => panic!("{kind} was refused: {:?}", refusal.frame),
        }
    }

    /// Sends a command that must fail, and returns the error code.
    pub async fn refused(&mut self, command: Value) -> Refusal {
        let kind = command["type"].clone();
        match self.request(command).await {
            Ok(result) => panic!("{kind} should have been refused, got {result}"),
            Err(refusal) => refusal,
        }
    }

    /// The next frame (kept or new).
    pub async fn next(&mut self) -> Value {
        match self.pending.pop_front() {
            Some(frame) => frame,
            None => self.read().await,
        }
    }

    /// The next frame that matches, skipping (and dropping) others.
    pub async fn next_matching(&mut self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.next())
                .await
                .unwrap_or_else(|_| panic!("no frame matching {what} within {WAIT:?}"));
            if matches(&frame) {
                return frame;
            }
        }
    }

    /// The next `event` frame (of any room), skipping presence frames.
    pub async fn next_event(&mut self) -> Value {
        self.next_matching("an event", |f| f["type"] == "event").await
    }

    /// Joins a room and returns its snapshot.
    pub async fn join(&mut self, room: &str) -> Value {
        self.ok(json!({"type": "join", "room": room})).await;
        self.next_matching("a snapshot", |f| f["type"] == "snapshot" && f["room"] == room).await
    }

    async fn read(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("no frame from the server within {WAIT:?}"))
                .expect("connection closed while waiting for a frame")
                .expect("websocket error");
            match message {
                Message::Text(text) => return serde_json::from_str(&text).expect("server sent JSON"),
                Message::Close(frame) => panic!("connection closed by the server: {frame:?}"),
                _ => continue,
            }
        }
    }

    /// Asserts that no frame matching `matches` arrives within `quiet`.
    pub async fn assert_no(&mut self, quiet: Duration, what: &str, matches: impl Fn(&Value) -> bool) {
        if let Some(frame) = self.pending.iter().find(|f| matches(f)) {
            panic!("unexpected {what}: {frame}");
        }
        let deadline = tokio::time::Instant::now() + quiet;
        while let Ok(frame) = tokio::time::timeout_at(deadline, self.read()).await {
            if matches(&frame) {
                panic!("unexpected {what}: {frame}");
            }
            self.pending.push_back(frame);
        }
    }

    /// Reads until the server sends a pong; returns its payload. Text frames read meanwhile are kept.
    pub async fn next_pong(&mut self) -> Vec<u8> {
        loop {
            let message = tokio::time::timeout(WAIT, self.ws.next()).await.expect("a pong within the wait");
            match message.expect("connection open").expect("websocket ok") {
                Message::Pong(payload) => return payload.to_vec(),
                Message::Text(text) => self.pending.push_back(serde_json::from_str(&text).expect("server sent JSON")),
                _ => continue,
            }
        }
    }

    /// Every text frame up to the server's close frame, and its code and reason (see [`frames_until_close`]).
    pub async fn frames_until_close(&mut self) -> (Vec<Value>, (u16, String)) {
        let (mut frames, close) = frames_until_close(&mut self.ws, Duration::ZERO).await;
        let mut kept: Vec<Value> = self.pending.drain(..).collect();
        kept.append(&mut frames);
        (kept, close)
    }

    /// Reads until the server closes the connection; returns the close code and reason.
    pub async fn closed(&mut self) -> (u16, String) {
        loop {
            let message = tokio::time::timeout(WAIT, self.ws.next()).await.expect("close within the wait");
            match message {
                Some(Ok(Message::Close(Some(frame)))) => return (frame.code.into(), frame.reason.to_string()),
                Some(Ok(Message::Close(None))) | None => return (1005, String::new()),
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("connection failed before a close frame: {e}"),
            }
        }
    }
}

/// Every text frame from `stream` up to the server's close frame, and its code and reason, pausing `pause`
/// after each frame (a client that reads slowly). Panics if the stream ends without a close frame (a reset,
/// or the end of the stream: what a browser reports as 1006).
pub async fn frames_until_close<S>(stream: &mut S, pause: Duration) -> (Vec<Value>, (u16, String))
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let mut frames = vec![];
    loop {
        let message = tokio::time::timeout(WAIT, stream.next())
            .await
            .unwrap_or_else(|_| panic!("no frame within {WAIT:?} after {} frames", frames.len()));
        match message {
            Some(Ok(Message::Text(text))) => frames.push(serde_json::from_str(&text).expect("server sent JSON")),
            Some(Ok(Message::Close(Some(frame)))) => return (frames, (frame.code.into(), frame.reason.to_string())),
            Some(Ok(Message::Close(None))) => return (frames, (1005, String::new())),
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("the connection failed after {} frames, before a close frame: {e}", frames.len()),
            None => panic!("the stream ended after {} frames without a close frame", frames.len()),
        }
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
}
