//! Actors: clients that send commands at a steady pace (askers, voters, a moderator) and check every reply.
//!
//! An actor is a small state machine ([`Act`]) driven by one loop ([`run`]) that owns the connection: on each
//! tick it asks the actor for the next command, and it hands every reply and every other frame back.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::time::{interval_at, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::clock::now_micros;
use crate::ctx::{Ctx, Role};
use crate::stats::{SendLog, Sent};
use crate::viewer::STAMP;
use crate::wire::Incoming;
use crate::ws::{any_reply, classify, close_code, FrameKind, Reply, Session};

/// What a command was, for when its reply comes.
#[derive(Debug, Clone, Copy)]
pub enum Pending {
    Ask,
    Vote,
    Moderation,
}

pub trait Act: Send {
    /// A room to join before acting (the moderator watches the moderation room).
    fn room(&self) -> Option<String> {
        None
    }
    /// The next command, or `None` to skip this tick. `now` is the send time (µs since the epoch).
    fn next(&mut self, now: u64) -> Option<(Value, Pending)>;
    /// A command was acked.
    fn on_ack(&mut self, _what: Pending, _sent: u64, _result: &Value) {}
    /// Any other frame (room events, presence).
    fn on_frame(&mut self, _text: &str) {}
}

/// When an actor starts acting and how often.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub start: Instant,
    pub period: Duration,
}

impl Pace {
    /// `rate` commands per second, starting at a random phase within the first period after `start`, so that
    /// many actors don't all fire at the same instant.
    pub fn new(start: Instant, rate: f64) -> Pace {
        let period = Duration::from_secs_f64(1.0 / rate.max(1e-3));
        Pace { start: start + period.mul_f64(rand::random::<f64>()), period }
    }
}

/// Connects actor `i`, then acts at `pace` until `stop`; every reply is checked and counted. Returns the actor,
/// for its own tallies.
pub async fn run<A: Act>(
    ctx: Arc<Ctx>,
    i: u64,
    role: Role,
    pace: Pace,
    stop: CancellationToken,
    mut actor: A,
) -> Result<A> {
    let mut session = Session::open(&ctx, i, role).await?;
    if let Some(room) = actor.room() {
        match session.request(json!({"type": "join", "room": room}), |text| actor.on_frame(text)).await? {
            Reply::Ack(_) => {}
            Reply::Error { code } => {
                ctx.stats.error(&code);
                bail!("join {room}: {code}");
            }
        }
    }
    let mut tick = interval_at(pace.start.into(), pace.period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut outstanding: HashMap<u64, (Pending, u64)> = HashMap::new();
    let stopped = stop.cancelled();
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            biased;
            _ = &mut stopped => break,
            _ = tick.tick() => {
                let now = now_micros();
                if let Some((command, what)) = actor.next(now) {
                    let id = session.send(command).await?;
                    ctx.stats.commands.fetch_add(1, Relaxed);
                    outstanding.insert(id, (what, now));
                }
            }
            message = session.ws.next() => read(&ctx, message, &mut actor, &mut outstanding)?,
        }
    }
    linger(&ctx, &mut session, &mut actor, &mut outstanding).await?;
    Ok(actor)
}

/// Collects the replies still due after `stop`, until the end of the drain.
async fn linger(
    ctx: &Ctx,
    session: &mut Session,
    actor: &mut impl Act,
    outstanding: &mut HashMap<u64, (Pending, u64)>,
) -> Result<()> {
    let until = tokio::time::Instant::from_std(ctx.schedule.drain_end().max(std::time::Instant::now()));
    while !outstanding.is_empty() {
        match tokio::time::timeout_at(until, session.ws.next()).await {
            Ok(message) => read(ctx, message, actor, outstanding)?,
            Err(_) => {
                ctx.stats.error("no_reply");
                break;
            }
        }
    }
    Ok(())
}

fn read(
    ctx: &Ctx,
    message: Option<std::io::Result<Incoming<'_>>>,
    actor: &mut impl Act,
    outstanding: &mut HashMap<u64, (Pending, u64)>,
) -> Result<()> {
    let text = match message {
        Some(Ok(Incoming::Text(text))) => text,
        Some(Ok(Incoming::Close(code))) => {
            let code = close_code(code);
            ctx.stats.error(&code);
            bail!("the server closed an actor: {code}");
        }
        Some(Err(e)) => {
            ctx.stats.error("transport_error");
            bail!("actor connection failed: {e}");
        }
        None => {
            ctx.stats.error("eof");
            bail!("actor connection ended");
        }
    };
    if !matches!(classify(text), FrameKind::Ack | FrameKind::Error) {
        actor.on_frame(text);
        return Ok(());
    }
    let Some((id, reply)) = any_reply(text) else { return Ok(()) };
    let Some((what, sent)) = id.and_then(|id| outstanding.remove(&id)) else { return Ok(()) };
    match reply {
        Reply::Ack(result) => {
            ctx.stats.acks.fetch_add(1, Relaxed);
            actor.on_ack(what, sent, &result);
        }
        Reply::Error { code } => ctx.stats.error(&code),
    }
    Ok(())
}

/// The questions this process's askers got acked (newest last): what voters vote on.
#[derive(Default)]
pub struct Board {
    recent: Mutex<VecDeque<u64>>,
}

/// Voters pick among this many of the newest questions.
const BOARD_SIZE: usize = 32;

impl Board {
    pub fn push(&self, question: u64) {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.push_back(question);
        if recent.len() > BOARD_SIZE {
            recent.pop_front();
        }
    }

    /// A random recent question not in `voted`.
    fn pick(&self, voted: &HashSet<u64>) -> Option<u64> {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let open: Vec<u64> = recent.iter().copied().filter(|q| !voted.contains(q)).collect();
        if open.is_empty() {
            return None;
        }
        Some(open[rand::random_range(0..open.len())])
    }
}

/// Asks questions whose text carries the send time (`lt:<µs>:<n> ...`), so that measuring viewers can time them.
/// Every `held_every`-th question contains a word of the server's default keyword filter instead, so it waits
/// for the moderator's approval.
pub struct Asker {
    pub broadcast: u64,
    pub client: u64,
    pub held_every: u64,
    pub board: Arc<Board>,
    pub asked: u64,
}

impl Act for Asker {
    fn next(&mut self, now: u64) -> Option<(Value, Pending)> {
        self.asked += 1;
        let n = self.asked;
        let text = if self.held_every > 0 && n.is_multiple_of(self.held_every) {
            format!("lth:{n} is this a scam? (load test, client {})", self.client)
        } else {
            format!("{STAMP}{now}:{n} load-test question {n} from client {}", self.client)
        };
        let command = json!({
            "type": "ask", "broadcast": self.broadcast, "text": text, "anonymous": n.is_multiple_of(2),
            "client_msg_id": format!("{}-{n}", self.client),
        });
        Some((command, Pending::Ask))
    }

    fn on_ack(&mut self, _what: Pending, _sent: u64, result: &Value) {
        let question = &result["question"];
        if question["status"] == "approved" {
            if let Some(id) = question["id"].as_u64() {
                self.board.push(id);
            }
        }
    }
}

/// Upvotes recent questions, each at most once, and notes when each vote was sent so that viewers can time the
/// `votes` event it caused.
pub struct Voter {
    pub broadcast: u64,
    pub board: Arc<Board>,
    pub sends: Arc<SendLog>,
    pub voted: HashSet<u64>,
    /// Votes skipped because every recent question already had this voter's vote.
    pub skipped: u64,
}

impl Act for Voter {
    fn next(&mut self, _now: u64) -> Option<(Value, Pending)> {
        let Some(question) = self.board.pick(&self.voted) else {
            self.skipped += 1;
            return None;
        };
        self.voted.insert(question);
        let command = json!({"type": "vote", "broadcast": self.broadcast, "question": question, "value": true});
        Some((command, Pending::Vote))
    }

    fn on_ack(&mut self, _what: Pending, sent: u64, result: &Value) {
        if let (Some(question), Some(votes)) = (result["question"].as_u64(), result["votes"].as_u64()) {
            self.sends.insert(Sent::Vote { question, votes }, sent);
        }
    }
}

/// Watches the moderation room and, in turn: approves the oldest held question, pins the newest approved one,
/// answers the pinned one. Each action is noted in the send log before it is sent.
pub struct Moderator {
    pub broadcast: u64,
    pub sends: Arc<SendLog>,
    pending: VecDeque<u64>,
    candidates: VecDeque<u64>,
    answered: HashSet<u64>,
    pinned: Option<u64>,
    step: u64,
}

impl Moderator {
    pub fn new(broadcast: u64, sends: Arc<SendLog>) -> Self {
        Moderator {
            broadcast,
            sends,
            pending: VecDeque::new(),
            candidates: VecDeque::new(),
            answered: HashSet::new(),
            pinned: None,
            step: 0,
        }
    }

    fn command(&self, kind: &str, question: u64, now: u64, sent: Sent) -> Option<(Value, Pending)> {
        self.sends.insert(sent, now);
        let mut command = json!({"type": kind, "broadcast": self.broadcast, "question": question});
        if kind == "answer" {
            command["text"] = json!("Answered by the load test.");
        }
        Some((command, Pending::Moderation))
    }

    fn approve(&mut self, now: u64) -> Option<(Value, Pending)> {
        let question = self.pending.pop_front()?;
        self.command("approve", question, now, Sent::Approve(question))
    }

    fn pin(&mut self, now: u64) -> Option<(Value, Pending)> {
        let question = *self.candidates.back()?;
        if self.pinned == Some(question) {
            return None;
        }
        self.pinned = Some(question);
        self.command("pin", question, now, Sent::Pin(question))
    }

    fn answer(&mut self, now: u64) -> Option<(Value, Pending)> {
        let question = self.pinned?;
        if !self.answered.insert(question) {
            return None;
        }
        self.command("answer", question, now, Sent::Answer(question))
    }
}

#[derive(Deserialize)]
struct ModEvent {
    kind: String,
    #[serde(default)]
    data: ModData,
}

#[derive(Deserialize, Default)]
struct ModData {
    id: Option<u64>,
    status: Option<String>,
}

impl Act for Moderator {
    fn room(&self) -> Option<String> {
        Some(format!("broadcast:{}:moderation", self.broadcast))
    }

    fn next(&mut self, now: u64) -> Option<(Value, Pending)> {
        self.step += 1;
        match self.step % 3 {
            0 => self.approve(now).or_else(|| self.pin(now)),
            1 => self.pin(now),
            _ => self.answer(now),
        }
    }

    fn on_frame(&mut self, text: &str) {
        if classify(text) != FrameKind::Event {
            return;
        }
        let Ok(event) = serde_json::from_str::<ModEvent>(text) else { return };
        let (Some(id), Some(status)) = (event.data.id, event.data.status.as_deref()) else { return };
        if event.kind != "question" {
            return;
        }
        match status {
            "pending" if !self.pending.contains(&id) => self.pending.push_back(id),
            "approved" if !self.answered.contains(&id) && !self.candidates.contains(&id) => {
                self.candidates.push_back(id);
                if self.candidates.len() > BOARD_SIZE {
                    self.candidates.pop_front();
                }
            }
            _ => {}
        }
    }
}
