//! Test fixtures: a real Majlis server on port 0, and a small WebSocket client that speaks protocol v1.
//!
//! Every wait is bounded ([`WAIT`]), so a missing frame fails the test quickly instead of hanging it.

pub mod browser;
pub mod chat;
pub mod redis;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use majlis_server::auth::{Role, User};
use majlis_server::{App, Config};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The longest any single expected frame or response may take.
pub const WAIT: Duration = Duration::from_secs(10);
pub const SECRET: &str = "test-secret-not-for-production";

pub struct TestServer {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    pub http: reqwest::Client,
    /// The server's own Redis when the suite runs in Redis mode (`MAJLIS_TEST_REDIS=1`).
    _redis: Option<redis::RedisServer>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a server with the default configuration as changed by `tweak`.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config::defaults();
        config.listen = "127.0.0.1:0".parse().expect("BUG: literal address");
        config.jwt_secret = Some(SECRET.into());
        tweak(&mut config);
        let own_redis = (config.redis_url.is_none() && redis_mode()).then(redis::RedisServer::start);
        if let Some(r) = &own_redis {
            config.redis_url = Some(r.url());
        }
        let listener = tokio::net::TcpListener::bind(config.listen).await.expect("bind port 0");
        let addr = listener.local_addr().expect("local addr");
        let app = App::new(config, format!("http://{addr}")).expect("app");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(majlis_server::run(listener, Arc::clone(&app), async move {
            let _ = stopped.await;
        }));
        let server = TestServer {
            addr,
            app,
            stop: Some(stop),
            task: Some(task),
            http: reqwest::Client::new(),
            _redis: own_redis,
        };
        server.wait_ready().await;
        server
    }

    /// Waits until `/readyz` says ready (in Redis mode: Redis answered).
    pub async fn wait_ready(&self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !self.app.is_ready() {
            assert!(tokio::time::Instant::now() < deadline, "server not ready within {WAIT:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    pub fn token(&self, role: Role, name: &str) -> String {
        let sub = format!("{}-{}", name.to_lowercase().replace(' ', "-"), rand_suffix());
        let user = User { sub, name: name.into(), role };
        self.app.tokens.mint(&user, 3600).expect("mint").0
    }

    /// A connected, authenticated client with a fresh identity of `role`.
    pub async fn client(&self, role: Role, name: &str) -> Client {
        let mut client = Client::connect(&self.ws_url()).await;
        client.ok(json!({"type": "auth", "token": self.token(role, name)})).await;
        client
    }

    pub async fn citizen(&self, name: &str) -> Client {
        self.client(Role::Citizen, name).await
    }

    pub async fn moderator(&self) -> Client {
        self.client(Role::Moderator, "Mod").await
    }

    /// Creates a broadcast through REST as a moderator; `settings` are merged over a default title.
    pub async fn create_broadcast(&self, settings: Value) -> Value {
        let mut body = json!({"title": {"en": "Housing programme Q&A", "ar": "أسئلة برنامج الإسكان"}});
        if let (Some(b), Some(s)) = (body.as_object_mut(), settings.as_object()) {
            for (k, v) in s {
                b.insert(k.clone(), v.clone());
            }
        }
        let response = self
            .http
            .post(self.url("/api/broadcasts"))
            .bearer_auth(self.token(Role::Moderator, "Mod"))
            .json(&body)
            .send()
            .await
            .expect("POST /api/broadcasts");
        assert_eq!(response.status(), 201, "create broadcast");
        response.json().await.expect("broadcast json")
    }

    pub async fn set_state(&self, broadcast: u64, state: &str) -> Value {
        let response = self
            .http
            .patch(self.url(&format!("/api/broadcasts/{broadcast}")))
            .bearer_auth(self.token(Role::Moderator, "Mod"))
            .json(&json!({"state": state}))
            .send()
            .await
            .expect("PATCH broadcast");
        assert!(response.status().is_success(), "set state {state}: {}", response.status());
        response.json().await.expect("json")
    }

    pub async fn get_json(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut request = self.http.get(self.url(path));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        let response = request.send().await.expect("GET");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Stops the server as SIGTERM would, and waits for it to finish draining.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(30), task).await.expect("server stops in time").ok();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // A safety net for bugs no assertion looks for: an internal error is logged and the client gets an
        // opaque `internal`, which a test may well not notice (every Redis-mode command once logged one). The
        // count is per process, so the test that fails here may not be the one that caused it.
        let internal = majlis_server::error::internal_errors();
        if internal > 0 && !std::thread::panicking() {
            panic!("{internal} internal error(s) were logged in this test binary; none is expected");
        }
    }
}

/// Whether test servers run in Redis mode, each with its own Redis: with `MAJLIS_TEST_REDIS=1`, and always in
/// the `shared_in_redis` test binary, which runs the shared behaviour tests again so both modes pass the same.
fn redis_mode() -> bool {
    let in_redis_binary = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.file_name()?.to_str().map(|name| name.starts_with("shared_in_redis")))
        .unwrap_or(false);
    in_redis_binary || std::env::var("MAJLIS_TEST_REDIS").is_ok_and(|v| v == "1")
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

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

/// Rate limits out of the way, and one `votes` event per vote (so events can be counted exactly): for tests
/// about something else than limits or coalescing.
pub fn generous(c: &mut Config) {
    c.questions_per_minute = 100_000;
    c.questions_burst = 100_000;
    c.votes_per_second = 100_000;
    c.votes_burst = 100_000;
    c.commands_per_second = 100_000;
    c.commands_burst = 100_000;
    c.vote_flush_ms = 0;
}

/// The next `n` events of `room`, in arrival order (events of other rooms are skipped).
pub async fn events_of(client: &mut Client, room: &str, n: usize) -> Vec<Value> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let frame = client.next_event().await;
        if frame["room"] == room {
            out.push(frame);
        }
    }
    out
}

/// Asserts that `events` carry the seqs `after + 1`, `after + 2`, … with no gap and in order.
pub fn assert_gap_free(events: &[Value], after: u64) {
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["seq"].as_u64(), Some(after + 1 + i as u64), "seq gap or disorder at {i}: {e}");
    }
}

/// Asks a question and returns it (from the ack).
pub async fn ask(client: &mut Client, broadcast: u64, text: &str) -> Value {
    let result = client.ok(json!({"type": "ask", "broadcast": broadcast, "text": text})).await;
    result["question"].clone()
}

pub fn id_of(value: &Value) -> u64 {
    value["id"].as_u64().unwrap_or_else(|| panic!("no id in {value}"))
}
