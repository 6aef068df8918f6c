//! A connection's writer task: owns the socket's sending half, drains the bounded outbound queue, filters room
//! events by `seq`, writes everything taken in one wake-up with one vectored write, and sends the close frame.
//!
//! A close reaches the client: the writer finishes the batch in flight, writes the replies still queued
//! (bounded by `--close-flush-bytes`), then the close frame, and shuts its side of the socket down (FIN), all
//! within `--close-linger-ms` of learning that it must close. (The reader meanwhile keeps reading and
//! discarding what the client sends, so the socket is never dropped with unread bytes, which would reset it
//! and wipe what the client had not read yet; see `connection::serve`.)
//!
//! The frames are already encoded ([`WireFrame`]): a room event's bytes are shared by every subscriber, and a
//! write borrows them, so a delivery costs no copy and no reference-count traffic in user space.

use std::future::{poll_fn, Future};
use std::io::IoSlice;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use tracing::{debug, Span};

use crate::app::App;
use crate::hub::{CloseReason, ConnControl, Outbound, Outbox, RoomId, WireFrame};
use crate::metrics::Metrics;
use crate::protocol;

/// A batch buffer larger than this is not kept between wake-ups (it goes back to the queue at the next take),
/// so a connection that once had a burst doesn't hold its memory; below it, busy connections reuse theirs.
const KEEP_BATCH_CAPACITY: usize = 32;

/// Per-room delivery state.
enum RoomState {
    /// Joined, baseline not yet sent: events are held (bounded) until it arrives.
    Awaiting(Vec<(u64, WireFrame)>),
    /// Delivering; the last seq sent.
    Live(u64),
}

/// How the writer's pumping ended.
enum Ended {
    /// Nothing more can be sent: the peer is gone, or a frame in flight could not be finished in time (a close
    /// frame after part of a frame would be garbage).
    Silent,
    /// Say goodbye with `reason`, done by `by`.
    Close { reason: CloseReason, by: Instant },
}

pub struct Writer {
    rx: Arc<Outbox>,
    /// What the writer took from the queue and is writing now (kept between wake-ups to reuse its memory).
    batch: Vec<Outbound>,
    control: Arc<ConnControl>,
    metrics: Arc<Metrics>,
    rooms: Vec<(RoomId, RoomState)>,
    max_held: usize,
    reconnect_hint_ms: u64,
    /// How long closing may take (`--close-linger-ms`).
    close_linger: Duration,
    /// Most bytes of replies written after the writer learnt it must close (`--close-flush-bytes`).
    close_flush_bytes: usize,
    /// Least time between two writes (`--write-interval-ms`); `None` writes as soon as anything is queued.
    write_interval: Option<Duration>,
    /// When the last write that carried frames ended, while `write_interval` is set.
    last_write: Option<Instant>,
    /// The connection's span. The task is not instrumented with it: entering a span on every wake-up cost 2 %
    /// of a busy node's CPU, and the writer only logs when it closes.
    span: Span,
}

/// One frame to write: borrowed from the batch (events, acks, baselines) or owned (held events let go).
enum Piece {
    Item(usize),
    BaselineFrame(usize, usize),
    Owned(WireFrame),
}

impl Writer {
    pub fn new(app: &App, rx: Arc<Outbox>, control: Arc<ConnControl>) -> Self {
        Writer {
            rx,
            batch: Vec::new(),
            control,
            metrics: Arc::clone(&app.metrics),
            rooms: Vec::new(),
            max_held: app.config.outbound_queue.max(1),
            reconnect_hint_ms: app.config.reconnect_hint_ms,
            close_linger: Duration::from_millis(app.config.close_linger_ms),
            close_flush_bytes: app.config.close_flush_bytes,
            write_interval: Some(Duration::from_millis(app.config.write_interval_ms)).filter(|d| !d.is_zero()),
            last_write: None,
            span: Span::current(),
        }
    }

    pub async fn run<W: AsyncWrite + Unpin>(mut self, mut sink: W) {
        let ended = self.pump(&mut sink).await;
        let reason = match ended {
            Ended::Close { reason, by } => {
                debug!(parent: &self.span, reason = reason.text(), "closing");
                // The reader may still be running the command it read last: its reply goes out too. The reader
                // ends as soon as that command is done (the connection is killed, or already over).
                let _ = tokio::time::timeout_at(by, self.reader_done()).await;
                self.rx.close();
                // A slow consumer's socket may stay full forever: the goodbye gets a bounded chance.
                let said = tokio::time::timeout_at(by, self.say_goodbye(&mut sink, reason)).await;
                if !matches!(said, Ok(Ok(()))) {
                    debug!(parent: &self.span, "the close frame could not be sent in time");
                }
                reason
            }
            Ended::Silent => {
                debug!(parent: &self.span, "ending without a close frame");
                self.rx.close();
                CloseReason::Internal
            }
        };
        // Ends the reader too, should it still be waiting.
        self.control.kill(reason);
    }

    /// Resolves once the reader has closed the queue: it queues nothing more.
    async fn reader_done(&self) {
        poll_fn(|cx| {
            self.rx.register_writer(cx.waker());
            if self.rx.is_closed() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }

    /// The replies still queued, the close frame, and the end of this side of the stream (FIN), in that order.
    async fn say_goodbye<W: AsyncWrite + Unpin>(&mut self, sink: &mut W, reason: CloseReason) -> std::io::Result<()> {
        self.write_replies_left(sink).await?;
        if reason == CloseReason::Shutdown {
            let frame = WireFrame::text(protocol::server_shutdown(self.reconnect_hint_ms).as_str());
            sink.write_all(frame.as_bytes()).await?;
        }
        sink.write_all(WireFrame::close(reason.code(), reason.text()).as_bytes()).await?;
        sink.shutdown().await
    }

    /// Writes, in order, the replies left in a batch the writer gave up on and those still queued, up to
    /// `--close-flush-bytes`: every command the reader answered gets its answer before the close frame. Room
    /// events are dropped (a client resumes them with `since`).
    async fn write_replies_left<W: AsyncWrite + Unpin>(&mut self, sink: &mut W) -> std::io::Result<()> {
        let mut left = std::mem::take(&mut self.batch);
        let mut queued = Vec::new();
        if self.rx.try_take(&mut queued) == Some(true) {
            left.append(&mut queued);
        }
        let mut budget = self.close_flush_bytes;
        let mut slices = Vec::new();
        'items: for item in &left {
            let frames = match item {
                Outbound::Reply(frame) => std::slice::from_ref(frame),
                Outbound::Baseline { frames, .. } => frames.as_slice(),
                _ => &[],
            };
            for frame in frames {
                let Some(rest) = budget.checked_sub(frame.as_bytes().len()) else { break 'items };
                budget = rest;
                slices.push(IoSlice::new(frame.as_bytes()));
            }
        }
        write_all_vectored(sink, &mut slices).await
    }

    /// Writes until the connection must close, or can't be written to any more.
    ///
    /// The writer waits on one thing, its queue: a kill wakes it there too (see [`ConnControl`]), and pings
    /// and shutdown come from the reader, so a delivery costs one wake-up and one look at the kill switch.
    async fn pump<W: AsyncWrite + Unpin>(&mut self, sink: &mut W) -> Ended {
        let rx = Arc::clone(&self.rx);
        let control = Arc::clone(&self.control);
        loop {
            if let Some(due) = self.next_write_at() {
                if let Err(reason) = pause_until(due, &control).await {
                    return self.closing(reason);
                }
            }
            let batch = &mut self.batch;
            let taken = poll_fn(|cx| {
                rx.register_writer(cx.waker());
                if let Some(reason) = control.reason() {
                    return Poll::Ready(Err(reason));
                }
                match rx.try_take(batch) {
                    Some(more) => Poll::Ready(Ok(more)),
                    None => Poll::Pending,
                }
            })
            .await;
            match taken {
                Err(reason) => return self.closing(reason),
                Ok(false) => return self.closing(CloseReason::Normal),
                Ok(true) => {}
            }
            if let Err(ended) = self.write_watching_kill(sink, &rx, &control).await {
                return ended;
            }
        }
    }

    fn closing(&self, reason: CloseReason) -> Ended {
        Ended::Close { reason, by: Instant::now() + self.close_linger }
    }

    /// Writes the batch; a write blocked on a full socket must not hide a kill (the slow consumer case).
    /// `Err` ends the connection.
    async fn write_watching_kill<W: AsyncWrite + Unpin>(
        &mut self,
        sink: &mut W,
        rx: &Outbox,
        control: &ConnControl,
    ) -> Result<(), Ended> {
        let linger = self.close_linger;
        let write = self.write_batch(sink);
        tokio::pin!(write);
        let written = poll_fn(|cx| {
            rx.register_writer(cx.waker());
            if let Some(reason) = control.reason() {
                return Poll::Ready(Err(reason));
            }
            write.as_mut().poll(cx).map(Ok)
        })
        .await;
        match written {
            Ok(result) => result,
            Err(reason) => {
                // Finish the batch in flight first (bounded), or the close frame would land inside a frame: a
                // slow consumer that resumes reading gets everything it was sent, then the close frame. A peer
                // that takes no more gets no close frame, only the end of the stream.
                let by = Instant::now() + linger;
                match tokio::time::timeout_at(by, &mut write).await {
                    Ok(Ok(())) => Err(Ended::Close { reason, by }),
                    _ => Err(Ended::Silent),
                }
            }
        }
    }

    /// When the next write may start, if that is still to come (`--write-interval-ms`).
    fn next_write_at(&self) -> Option<Instant> {
        let due = self.last_write? + self.write_interval?;
        (due > Instant::now()).then_some(due)
    }

    /// Writes everything taken in one vectored write (as many calls as the socket needs).
    async fn write_batch<W: AsyncWrite + Unpin>(&mut self, sink: &mut W) -> Result<(), Ended> {
        let mut batch = std::mem::take(&mut self.batch);
        let pieces = self.pick(&batch);
        let result = match pieces {
            Ok(pieces) => {
                let mut slices: Vec<IoSlice<'_>> = pieces.iter().map(|p| IoSlice::new(bytes_of(&batch, p))).collect();
                let written = write_all_vectored(sink, &mut slices).await.map_err(|_| Ended::Silent);
                if written.is_ok() && !pieces.is_empty() {
                    self.metrics.frames_delivered.fetch_add(pieces.len() as u64, Relaxed);
                    self.metrics.socket_writes.fetch_add(1, Relaxed);
                    if self.write_interval.is_some() {
                        self.last_write = Some(Instant::now());
                    }
                }
                written
            }
            Err(reason) => {
                // Nothing of it was written: its replies still go out before the close frame.
                self.batch = batch;
                return Err(self.closing(reason));
            }
        };
        batch.clear();
        if batch.capacity() <= KEEP_BATCH_CAPACITY {
            self.batch = batch;
        }
        result
    }

    /// Decides what of the batch goes out, in order: filters room events by `seq`, holds a joining room's events
    /// until its baseline, and lets them go after it.
    fn pick(&mut self, batch: &[Outbound]) -> Result<Vec<Piece>, CloseReason> {
        let mut pieces = Vec::with_capacity(batch.len());
        for (i, item) in batch.iter().enumerate() {
            match item {
                Outbound::Reply(_) | Outbound::Frame(_) => pieces.push(Piece::Item(i)),
                Outbound::Watch { room } => {
                    self.rooms.retain(|(r, _)| r != room);
                    self.rooms.push((*room, RoomState::Awaiting(Vec::new())));
                }
                Outbound::Unwatch { room } => self.rooms.retain(|(r, _)| r != room),
                Outbound::Event { room, seq, frame } => {
                    if self.admit(*room, *seq, frame)? {
                        pieces.push(Piece::Item(i));
                    }
                }
                Outbound::Baseline { room, seq, frames } => {
                    let Some(state) = self.room(*room) else { continue };
                    let held = match std::mem::replace(state, RoomState::Live(*seq)) {
                        RoomState::Awaiting(held) => held,
                        RoomState::Live(_) => Vec::new(),
                    };
                    pieces.extend((0..frames.len()).map(|j| Piece::BaselineFrame(i, j)));
                    let mut last = *seq;
                    for (s, frame) in held {
                        if s > last {
                            last = s;
                            pieces.push(Piece::Owned(frame));
                        }
                    }
                    if let Some(state) = self.room(*room) {
                        *state = RoomState::Live(last);
                    }
                }
            }
        }
        Ok(pieces)
    }

    /// Whether a room event goes out now; holds it if the room's baseline is still to come.
    fn admit(&mut self, room: RoomId, seq: u64, frame: &WireFrame) -> Result<bool, CloseReason> {
        let max_held = self.max_held;
        match self.room(room) {
            Some(RoomState::Live(last)) if seq > *last => {
                *last = seq;
                Ok(true)
            }
            Some(RoomState::Awaiting(held)) if held.len() < max_held => {
                held.push((seq, frame.clone()));
                Ok(false)
            }
            Some(RoomState::Awaiting(_)) => {
                self.control.kill_slow_consumer(&self.metrics);
                Err(CloseReason::SlowConsumer)
            }
            // Already covered by the baseline, or the room was left.
            _ => {
                self.metrics.frames_dropped_before_snapshot.fetch_add(1, Relaxed);
                Ok(false)
            }
        }
    }

    fn room(&mut self, id: RoomId) -> Option<&mut RoomState> {
        self.rooms.iter_mut().find(|(r, _)| *r == id).map(|(_, s)| s)
    }
}

fn bytes_of<'a>(batch: &'a [Outbound], piece: &'a Piece) -> &'a [u8] {
    match piece {
        Piece::Item(i) => match &batch[*i] {
            Outbound::Reply(frame) | Outbound::Frame(frame) | Outbound::Event { frame, .. } => frame.as_bytes(),
            _ => unreachable!("BUG: only frames and events are picked whole"),
        },
        Piece::BaselineFrame(i, j) => match &batch[*i] {
            Outbound::Baseline { frames, .. } => frames[*j].as_bytes(),
            _ => unreachable!("BUG: baseline pieces point at baselines"),
        },
        Piece::Owned(frame) => frame.as_bytes(),
    }
}

/// Waits until `due`, or until the connection is killed (then its reason). Frames queued meanwhile don't wake
/// the writer for long: the queue's wake-up finds the timer still running, and the next take gets them all.
async fn pause_until(due: Instant, control: &ConnControl) -> Result<(), CloseReason> {
    let sleep = tokio::time::sleep_until(due);
    tokio::pin!(sleep);
    poll_fn(|cx| match control.reason() {
        Some(reason) => Poll::Ready(Err(reason)),
        None => sleep.as_mut().poll(cx).map(Ok),
    })
    .await
}

/// Writes every slice, calling `write_vectored` as often as the socket needs (each call takes what fits).
async fn write_all_vectored<W: AsyncWrite + Unpin>(
    sink: &mut W,
    mut slices: &mut [IoSlice<'_>],
) -> std::io::Result<()> {
    while !slices.is_empty() {
        let n = sink.write_vectored(slices).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut slices, n);
    }
    Ok(())
}
