//! One WebSocket connection: a reader (this task) that turns frames into commands, and a writer task that owns
//! the socket's sending half, drains the bounded outbound queue, coalesces frames into fewer writes, pings, and
//! sends the close frame. Cleanup happens in one place, at the end of [`serve`].

use std::net::IpAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info_span, Instrument};

use crate::app::App;
use crate::auth::{unix_millis, User};
use crate::error::{Error, ErrorCode, Result};
use crate::hub::{CloseReason, ConnControl, Outbound, Outbox, PushError, RoomId, Subscriber};
use crate::limits::ConnectionSlot;
use crate::metrics::Metrics;
use crate::protocol::{self, Command, Position, UserView};
use crate::qa::rooms::{Audience, RoomRef};
use crate::qa::QaReply;

/// A batch buffer larger than this is not kept between wake-ups, so idle connections stay small.
const KEEP_BATCH_CAPACITY: usize = 16;
/// Most queued frames written before one flush: bounds the time one batch holds the writer.
const MAX_BATCH: usize = 256;
/// How long the writer may take to flush its last frames after the reader ended.
const WRITER_LINGER: Duration = Duration::from_secs(5);
/// How long the writer tries to send its close frame.
const CLOSE_LINGER: Duration = Duration::from_secs(3);

/// Runs a connection to its end.
pub async fn serve(socket: WebSocket, app: Arc<App>, peer: IpAddr, slot: ConnectionSlot) {
    let id = app.next_connection_id();
    let span = info_span!("conn", id, %peer);
    async move {
        app.metrics.connections_open.fetch_add(1, Relaxed);
        app.metrics.connections_total.fetch_add(1, Relaxed);
        debug!("open");
        let (sink, stream) = socket.split();
        let tx = Arc::new(Outbox::new(app.config.outbound_queue));
        let rx = Arc::clone(&tx);
        let control = Arc::new(ConnControl::default());
        let writer =
            tokio::spawn(Writer::new(&app, rx, Arc::clone(&control)).run(sink).instrument(tracing::Span::current()));
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

struct JoinedRoom {
    key: String,
    room: RoomRef,
    id: RoomId,
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
    async fn read_until_done(&mut self, mut stream: SplitStream<WebSocket>) {
        let idle = Duration::from_secs(self.app.config.idle_timeout_secs.max(1));
        let control = Arc::clone(&self.control);
        loop {
            let frame = tokio::select! {
                _ = control.killed() => return,
                frame = tokio::time::timeout(idle, stream.next()) => frame,
            };
            let message = match frame {
                Err(_elapsed) => {
                    self.app.metrics.heartbeat_closes.fetch_add(1, Relaxed);
                    self.control.kill(CloseReason::HeartbeatTimeout);
                    return;
                }
                Ok(None) | Ok(Some(Err(_))) => return,
                Ok(Some(Ok(message))) => message,
            };
            match message {
                Message::Text(text) => self.on_text(&text).await,
                Message::Binary(_) => {
                    self.bad_frame();
                    self.reply(&Value::Null, Err(Error::bad_request("Binary frames are not used; send JSON text.")));
                }
                Message::Close(_) => return,
                // Pongs and pings only prove the peer is alive, which the timeout above already noted.
                Message::Ping(_) | Message::Pong(_) => {}
            }
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
        self.enqueue(Outbound::Frame(frame));
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
            command => {
                let user = self.user.clone().ok_or_else(Error::unauthorized)?;
                match command {
                    Command::Join { room, since } => self.join(&user, &room, since).await,
                    Command::Leave { room } => self.leave(&room),
                    command => self.qa(&user, command).await,
                }
            }
        }
    }

    fn auth(&mut self, token: &str) -> Result<Value> {
        let user = self.app.tokens.verify(token)?;
        if !user.role.is_moderator() {
            // A new identity keeps only the rooms it may see.
            let moderation: Vec<String> =
                self.rooms.iter().filter(|r| r.room.audience == Audience::Moderation).map(|r| r.key.clone()).collect();
            for key in moderation {
                self.leave_room(&key);
            }
        }
        let result = json!({ "user": UserView::from(&user) });
        self.user = Some(user);
        Ok(result)
    }

    async fn join(&mut self, user: &User, name: &str, since: Option<Position>) -> Result<Value> {
        let room = RoomRef::parse(name).ok_or_else(|| Error::not_found("No such room."))?;
        if room.audience == Audience::Moderation && !user.role.is_moderator() {
            return Err(Error::forbidden("Only moderators may join the moderation room."));
        }
        self.app.store.broadcast(room.broadcast).await?;
        let key = room.key();
        // Joining again is how a client asks for a fresh start: leave, then join as new.
        self.leave_room(&key);
        if self.rooms.len() >= self.app.config.max_rooms_per_connection {
            return Err(Error::conflict("This connection has joined too many rooms."));
        }
        let subscriber = Subscriber { conn_id: self.id, tx: self.tx.clone(), control: Arc::clone(&self.control) };
        let id = self.app.hub.subscribe(&key, subscriber).map_err(|_full| {
            self.control.kill_slow_consumer(&self.app.metrics);
            Error::unavailable()
        })?;
        self.rooms.push(JoinedRoom { key: key.clone(), room, id });
        if !self.listening(&key).await {
            self.leave_room(&key);
            return Err(Error::unavailable());
        }
        match self.send_baseline(user, room, id, since).await {
            Ok(result) => {
                if room.audience == Audience::Public {
                    let concurrent = self.app.hub.subscriber_count(&key) as u32;
                    self.app.store.record_participant(room.broadcast, user, concurrent).await?;
                }
                Ok(result)
            }
            Err(error) => {
                self.leave_room(&key);
                Err(error)
            }
        }
    }

    /// Waits (bounded) until the room's live events reach this node, so the baseline read next can't miss any.
    async fn listening(&self, key: &str) -> bool {
        let wait = Duration::from_millis(self.app.config.redis_timeout_ms.max(1));
        tokio::time::timeout(wait, self.app.hub.until_listening(key)).await.unwrap_or(false)
    }

    /// Sends what the client starts from: the missed events if the history still has them, else a snapshot.
    async fn send_baseline(&self, user: &User, room: RoomRef, id: RoomId, since: Option<Position>) -> Result<Value> {
        if let Some(since) = since {
            if let Some(replay) = self.app.store.replay(room, &since).await? {
                self.enqueue(Outbound::Baseline { room: id, seq: replay.seq, frames: replay.frames });
                return Ok(json!({ "room": room.key(), "seq": replay.seq, "recovered": true }));
            }
        }
        let snapshot = self.app.store.snapshot(room, user).await?;
        self.enqueue(Outbound::Baseline { room: id, seq: snapshot.seq, frames: vec![snapshot.frame] });
        Ok(json!({ "room": room.key(), "seq": snapshot.seq, "recovered": false }))
    }

    fn leave(&mut self, name: &str) -> Result<Value> {
        if !self.leave_room(name) {
            return Err(Error::not_found("You are not in this room."));
        }
        Ok(json!({}))
    }

    fn leave_room(&mut self, key: &str) -> bool {
        let Some(pos) = self.rooms.iter().position(|r| r.key == key) else { return false };
        let joined = self.rooms.swap_remove(pos);
        self.app.hub.unsubscribe(&joined.key, self.id);
        self.enqueue(Outbound::Unwatch { room: joined.id });
        true
    }

    fn leave_all(&mut self) {
        for joined in self.rooms.drain(..) {
            self.app.hub.unsubscribe(&joined.key, self.id);
        }
    }

    async fn qa(&self, user: &User, command: Command) -> Result<Value> {
        let (broadcast, command) = command.into_qa().expect("BUG: every other command was handled before");
        if command.needs_moderator() && !user.role.is_moderator() {
            return Err(Error::forbidden("Only moderators may do this."));
        }
        match &command {
            crate::qa::QaCommand::Ask { .. } => {
                self.app.limits.question(&user.sub)?;
                self.app.store.limit_question(&user.sub).await?;
            }
            crate::qa::QaCommand::Vote { .. } => self.app.limits.vote(&user.sub)?,
            _ => {}
        }
        let audience = if user.role.is_moderator() { Audience::Moderation } else { Audience::Public };
        Ok(match self.app.store.execute(broadcast, user, command).await? {
            QaReply::Asked { question, duplicate } => {
                json!({ "question": protocol::question_result(&question, Audience::Public), "duplicate": duplicate })
            }
            QaReply::Question(question) => json!({ "question": protocol::question_result(&question, audience) }),
            QaReply::Voted { question, votes, voted } => {
                json!({ "question": question, "votes": votes, "voted": voted })
            }
            QaReply::Done => json!({}),
        })
    }
}

/// Per-room delivery state of one connection's writer.
enum RoomState {
    /// Joined, baseline not yet sent: events are held (bounded) until it arrives.
    Awaiting(Vec<(u64, Utf8Bytes)>),
    /// Delivering; the last seq sent.
    Live(u64),
}

struct Writer {
    rx: Arc<Outbox>,
    /// What the writer took from the queue and is writing now (kept between wake-ups to reuse its memory).
    batch: Vec<Outbound>,
    control: Arc<ConnControl>,
    shutdown: CancellationToken,
    metrics: Arc<Metrics>,
    rooms: Vec<(RoomId, RoomState)>,
    max_held: usize,
    ping_every: Duration,
    reconnect_hint_ms: u64,
}

type Sink = SplitSink<WebSocket, Message>;

impl Writer {
    fn new(app: &App, rx: Arc<Outbox>, control: Arc<ConnControl>) -> Self {
        Writer {
            rx,
            batch: Vec::new(),
            control,
            shutdown: app.shutdown.clone(),
            metrics: Arc::clone(&app.metrics),
            rooms: Vec::new(),
            max_held: app.config.outbound_queue.max(1),
            ping_every: Duration::from_secs(app.config.ping_interval_secs.max(1)),
            reconnect_hint_ms: app.config.reconnect_hint_ms,
        }
    }

    async fn run(mut self, mut sink: Sink) {
        let reason = self.pump(&mut sink).await;
        // Nothing more is taken: the hub drops this connection from its rooms at the next fan-out.
        self.rx.close();
        if let Some(reason) = reason {
            debug!(reason = reason.text(), "closing");
            let frame = CloseFrame { code: reason.code(), reason: Utf8Bytes::from_static(reason.text()) };
            // A slow consumer's socket may stay full forever: give the close frame a bounded chance.
            let _ = tokio::time::timeout(CLOSE_LINGER, sink.send(Message::Close(Some(frame)))).await;
            self.control.kill(reason);
        } else {
            let _ = sink.close().await;
            // Ends the reader too, should it still be waiting.
            self.control.kill(CloseReason::Internal);
        }
    }

    /// Writes until the connection must close; returns the reason to send, or `None` if the peer is gone.
    async fn pump(&mut self, sink: &mut Sink) -> Option<CloseReason> {
        let mut ping = tokio::time::interval(self.ping_every);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.tick().await;
        // Created once and polled in place: making these futures anew on every wake-up would register and
        // unregister a waiter (a lock each) per delivered frame.
        let control = Arc::clone(&self.control);
        let killed = control.killed();
        tokio::pin!(killed);
        let shutdown = self.shutdown.clone();
        let cancelled = shutdown.cancelled();
        tokio::pin!(cancelled);
        loop {
            tokio::select! {
                biased;
                reason = &mut killed => return Some(reason),
                _ = &mut cancelled => {
                    let frame = protocol::server_shutdown(self.reconnect_hint_ms);
                    let _ = sink.send(Message::Text(frame)).await;
                    return Some(CloseReason::Shutdown);
                }
                more = self.rx.take(&mut self.batch, MAX_BATCH) => {
                    if !more {
                        return None;
                    }
                    // A write blocked on a full socket must not hide a kill (the slow consumer case).
                    let written = tokio::select! {
                        biased;
                        written = self.write_batch(sink) => written,
                        reason = &mut killed => return Some(reason),
                    };
                    match written {
                        Ok(()) => {}
                        Err(Some(reason)) => return Some(reason),
                        Err(None) => return None,
                    }
                }
                _ = ping.tick() => {
                    if sink.send(Message::Ping(Default::default())).await.is_err() {
                        return None;
                    }
                }
            }
        }
    }

    /// Writes `first` and whatever else is queued (up to a batch), then flushes once.
    async fn write_batch(&mut self, sink: &mut Sink) -> Result<(), Option<CloseReason>> {
        let mut batch = std::mem::take(&mut self.batch);
        let mut written = 0;
        for item in batch.drain(..) {
            written += self.write_item(sink, item).await?;
        }
        if batch.capacity() <= KEEP_BATCH_CAPACITY {
            self.batch = batch;
        }
        sink.flush().await.map_err(|_| None)?;
        self.metrics.frames_delivered.fetch_add(written as u64, Relaxed);
        Ok(())
    }

    fn room(&mut self, id: RoomId) -> Option<&mut RoomState> {
        self.rooms.iter_mut().find(|(r, _)| *r == id).map(|(_, s)| s)
    }

    /// Feeds one queue item to the socket (or holds or skips it); returns the frames written.
    async fn write_item(&mut self, sink: &mut Sink, item: Outbound) -> Result<usize, Option<CloseReason>> {
        match item {
            Outbound::Frame(frame) => feed(sink, frame).await,
            Outbound::Watch { room } => {
                self.rooms.retain(|(r, _)| *r != room);
                self.rooms.push((room, RoomState::Awaiting(Vec::new())));
                Ok(0)
            }
            Outbound::Unwatch { room } => {
                self.rooms.retain(|(r, _)| *r != room);
                Ok(0)
            }
            Outbound::Event { room, seq, frame } => {
                let max_held = self.max_held;
                match self.room(room) {
                    Some(RoomState::Live(last)) if seq > *last => {
                        *last = seq;
                        feed(sink, frame).await
                    }
                    Some(RoomState::Awaiting(held)) if held.len() < max_held => {
                        held.push((seq, frame));
                        Ok(0)
                    }
                    Some(RoomState::Awaiting(_)) => {
                        self.control.kill_slow_consumer(&self.metrics);
                        Err(Some(CloseReason::SlowConsumer))
                    }
                    // Already covered by the baseline, or the room was left.
                    _ => {
                        self.metrics.frames_dropped_before_snapshot.fetch_add(1, Relaxed);
                        Ok(0)
                    }
                }
            }
            Outbound::Baseline { room, seq, frames } => {
                let Some(state) = self.room(room) else { return Ok(0) };
                let held = match std::mem::replace(state, RoomState::Live(seq)) {
                    RoomState::Awaiting(held) => held,
                    RoomState::Live(_) => Vec::new(),
                };
                let mut last = seq;
                let mut written = 0;
                for frame in frames {
                    written += feed(sink, frame).await?;
                }
                for (s, frame) in held {
                    if s > last {
                        last = s;
                        written += feed(sink, frame).await?;
                    }
                }
                if let Some(state) = self.room(room) {
                    *state = RoomState::Live(last);
                }
                Ok(written)
            }
        }
    }
}

async fn feed(sink: &mut Sink, frame: Utf8Bytes) -> Result<usize, Option<CloseReason>> {
    sink.feed(Message::Text(frame)).await.map_err(|_| None)?;
    Ok(1)
}
