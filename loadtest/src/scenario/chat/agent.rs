//! An agent: joins its own stream `user:<sub>` and the desk, goes `available` in the run's languages (an admin
//! sets its cap over REST), and for every chat it is `assigned` joins the chat's staff room and writes a
//! message every period (typing first), acknowledging the citizen's messages with receipts.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Result};
use serde_json::json;

use super::conn::{read, InFlight, Pending, Read, DESK_EVENT};
use super::frames::{chat_of_room, citizen_of_name, Frame};
use super::shared::{Shared, Who};
use super::side::{self, ChatSide, How};
use super::{setup, Due, Phases, Plan};
use crate::clock::{backoff, now_micros};
use crate::ctx::{Ctx, Role};
use crate::stats::LatencyBuf;
use crate::ws::{Reply, Session};

/// How one agent's run went.
#[derive(Default)]
pub struct AgentEnd {
    pub chats: Vec<ChatSide>,
    pub desk_events: u64,
    pub released: u64,
    /// Times the agent's connection ended under it and it came back.
    pub reconnects: u64,
    /// The run stopped while the agent was coming back.
    away: bool,
    /// Where the agent's own stream `user:<sub>` stands, to rejoin it with `since`.
    own_epoch: Option<String>,
    own_seq: Option<u64>,
}

pub struct Agent {
    pub ctx: Arc<Ctx>,
    pub plan: Arc<Plan>,
    pub shared: Arc<Shared>,
    pub phases: Phases,
    /// The client index (tokens, source addresses).
    pub i: u64,
}

/// Tells the citizens this agent is done with its setup, however it ended.
struct Settled(Arc<Shared>);

impl Drop for Settled {
    fn drop(&mut self) {
        self.0.agent_settled();
    }
}

impl Agent {
    pub async fn run(self) -> Result<AgentEnd> {
        let settled = Settled(Arc::clone(&self.shared));
        let ctx = Arc::clone(&self.ctx);
        let mut session = Session::open(&ctx, self.i, Role::Agent).await?;
        let sub = ctx.sub(self.i, Role::Agent);
        let own = format!("user:{sub}");
        self.command(&mut session, json!({"type": "join", "room": own})).await?;
        if self.plan.desk {
            self.command(&mut session, json!({"type": "join", "room": "desk"})).await?;
        }
        let status = json!({"type": "agent_status", "availability": "available", "languages": self.plan.langs});
        self.command(&mut session, status).await?;
        if let Some(cap) = self.plan.cap {
            if let Err(e) = setup::set_cap(&ctx, &sub, cap).await {
                ctx.stats.error("set_cap_failed");
                return Err(e);
            }
        }
        drop(settled);
        let mut end = AgentEnd::default();
        let mut buf = LatencyBuf::default();
        let mut chats = HashMap::new();
        let result = self.work(session, &own, &mut chats, &mut end, &mut buf).await;
        buf.flush(&ctx.stats);
        // Whatever happened, what the agent saw of its chats counts in the reconciliation.
        let away = result.is_err() || end.away;
        end.chats.extend(chats.into_values().map(|mut side| {
            side.away_at_end = away || side.rejoining;
            side
        }));
        if result.is_err() {
            ctx.stats.error("agent_failed");
        }
        Ok(end)
    }

    /// A setup command, answered before anything else happens.
    async fn command(&self, session: &mut Session, command: serde_json::Value) -> Result<()> {
        let what = command["type"].as_str().unwrap_or("command").to_string();
        self.ctx.stats.commands.fetch_add(1, Relaxed);
        match session.request(command, |_| {}).await? {
            Reply::Ack(_) => {
                self.ctx.stats.acks.fetch_add(1, Relaxed);
                Ok(())
            }
            Reply::Error { code } => {
                self.ctx.stats.error(&format!("{what}:{code}"));
                bail!("{what} refused: {code}")
            }
        }
    }

    /// Reconnects with backoff after a drop: its own stream with `since` (assignments made meanwhile are
    /// replayed), the desk, every staff room it holds with `since`, and what was sent but not acked.
    async fn come_back(
        &self,
        own: &str,
        chats: &mut HashMap<u64, ChatSide>,
        flight: &mut InFlight,
        end: &mut AgentEnd,
        buf: &mut LatencyBuf,
    ) -> Result<Option<Session>> {
        let (base, max) = self.plan.backoff;
        for attempt in 0.. {
            if !crate::scenario::sleep_until(Instant::now() + backoff(attempt, base, max), &self.phases.stop).await {
                return Ok(None);
            }
            let Ok(mut session) = Session::open(&self.ctx, self.i, Role::Agent).await else { continue };
            let mut join = json!({"type": "join", "room": own});
            if let (Some(epoch), Some(seq)) = (&end.own_epoch, end.own_seq) {
                join["since"] = json!({"epoch": epoch, "seq": seq});
            }
            let mut replayed = Vec::new();
            self.ctx.stats.commands.fetch_add(1, Relaxed);
            let Ok(Reply::Ack(_)) = session.request(join, |text| replayed.extend(Frame::parse(text))).await else {
                continue;
            };
            self.ctx.stats.acks.fetch_add(1, Relaxed);
            if self.plan.desk && self.command(&mut session, json!({"type": "join", "room": "desk"})).await.is_err() {
                continue;
            }
            end.reconnects += 1;
            flight.clear();
            let mut todo = Vec::new();
            for frame in &replayed {
                todo.extend(self.on_frame(frame, own, chats, flight, end, buf));
            }
            for (chat, side) in chats.iter_mut().filter(|(_, s)| !s.ended) {
                side.rejoining = true;
                todo.push((side.join(true), Pending::Join { chat: *chat }));
                for (id, command) in &side.unacked {
                    todo.push((command.clone(), Pending::Send { chat: *chat, client_msg_id: id.clone() }));
                }
            }
            for (command, what) in todo {
                flight.send(&self.ctx, &mut session, command, what).await?;
            }
            return Ok(Some(session));
        }
        Ok(None)
    }

    /// Serves the assigned chats until stopped.
    async fn work(
        &self,
        mut session: Session,
        own: &str,
        chats: &mut HashMap<u64, ChatSide>,
        end: &mut AgentEnd,
        buf: &mut LatencyBuf,
    ) -> Result<()> {
        let ctx = &self.ctx;
        let phases: &Phases = &self.phases;
        // When each chat's next message is due (its own time per chat); typing goes first.
        let mut next_send: HashMap<u64, Instant> = HashMap::new();
        let mut due: BinaryHeap<Reverse<(Instant, u64, Due)>> = BinaryHeap::new();
        let mut flight = InFlight::default();
        let mut writing = true;
        let far = || Instant::now() + std::time::Duration::from_secs(3600);
        loop {
            let sleep = due.peek().map(|Reverse((at, _, _))| *at).unwrap_or_else(far);
            tokio::select! {
                biased;
                _ = phases.stop.cancelled() => break,
                _ = phases.stop_writing.cancelled(), if writing => {
                    writing = false;
                    due.clear();
                    next_send.clear();
                }
                _ = tokio::time::sleep_until(sleep.into()), if !due.is_empty() => {
                    let Some(Reverse((_, chat, what))) = due.pop() else { continue };
                    let (Some(side), Some(&at)) = (chats.get_mut(&chat), next_send.get(&chat)) else { continue };
                    if !side.active || side.ended {
                        next_send.remove(&chat);
                        continue;
                    }
                    match what {
                        Due::Typing => {
                            self.shared.typed(chat, Who::Agent, now_micros());
                            flight.send(ctx, &mut session, side::typing(chat), Pending::Signal).await?;
                        }
                        Due::Send => {
                            let (command, id) = side.write(now_micros(), self.i);
                            if Instant::now() >= self.ctx.schedule.ramp_end() {
                                self.shared.window_sends.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                            flight.send(ctx, &mut session, command, Pending::Send { chat, client_msg_id: id }).await?;
                            let next = at + self.plan.period;
                            next_send.insert(chat, next);
                            let (typing_at, first) = self.plan.first_due(next);
                            if first == Due::Typing {
                                due.push(Reverse((typing_at, chat, Due::Typing)));
                            }
                            due.push(Reverse((next, chat, Due::Send)));
                        }
                    }
                }
                message = session.ws.next() => match read(message, Some(DESK_EVENT)) {
                    Read::Frame(frame) => {
                        let todo = self.on_frame(&frame, own, chats, &mut flight, end, buf);
                        for command in todo {
                            flight.send(ctx, &mut session, command.0, command.1).await?;
                        }
                    }
                    Read::Garbled => ctx.stats.error("unparsable_frame"),
                    Read::Skipped => {
                        ctx.stats.deliveries.fetch_add(1, Relaxed);
                        end.desk_events += 1;
                    }
                    Read::Lost(code) => {
                        ctx.stats.error(&code);
                        match self.come_back(own, chats, &mut flight, end, buf).await? {
                            Some(back) => session = back,
                            None => {
                                end.away = true;
                                break;
                            }
                        }
                    }
                },
            }
            if writing {
                for (id, side) in chats.iter() {
                    if side.active && !side.ended && !next_send.contains_key(id) {
                        let first = Instant::now() + self.plan.period.mul_f64(rand::random::<f64>());
                        next_send.insert(*id, first);
                        let (typing_at, what) = self.plan.first_due(first);
                        if what == Due::Typing {
                            due.push(Reverse((typing_at, *id, Due::Typing)));
                        }
                        due.push(Reverse((first, *id, Due::Send)));
                    }
                }
            }
        }
        Ok(())
    }

    /// Handles one frame; returns the commands it calls for (joins of newly assigned chats, receipts).
    fn on_frame(
        &self,
        frame: &Frame,
        own: &str,
        chats: &mut HashMap<u64, ChatSide>,
        flight: &mut InFlight,
        end: &mut AgentEnd,
        buf: &mut LatencyBuf,
    ) -> Vec<(serde_json::Value, Pending)> {
        let stats = &self.ctx.stats;
        if let Some((what, ok)) = flight.answered(&self.ctx, frame) {
            match what {
                Pending::Send { chat, client_msg_id } => {
                    if let Some(side) = chats.get_mut(&chat) {
                        if ok {
                            side.acked(&client_msg_id, &frame.result);
                        } else {
                            side.unacked.remove(&client_msg_id);
                        }
                    }
                }
                Pending::Join { chat } => {
                    if let Some(side) = chats.get_mut(&chat) {
                        // `unavailable` is the server (or its Redis) saying "not now": join again, as a page does.
                        if !ok && frame.code == "unavailable" {
                            return vec![(side.join(side.rejoining), Pending::Join { chat })];
                        }
                        side.rejoining = false;
                        side.ended |= !ok;
                    }
                }
                _ => {}
            }
            return vec![];
        }
        if frame.room == own {
            match frame.r#type.as_str() {
                "snapshot" => {
                    end.own_epoch.clone_from(&frame.epoch);
                    end.own_seq = frame.seq;
                }
                "event" => {
                    stats.deliveries.fetch_add(1, Relaxed);
                    end.own_seq = frame.seq.or(end.own_seq);
                }
                _ => {}
            }
            return self.on_own(frame, chats, end, buf);
        }
        if frame.room == "desk" {
            if frame.r#type == "event" {
                stats.deliveries.fetch_add(1, Relaxed);
                end.desk_events += 1;
            }
            return vec![];
        }
        let Some(side) = chat_of_room(&frame.room).and_then(|chat| chats.get_mut(&chat)) else {
            match frame.r#type.as_str() {
                "error" => stats.error(&frame.code),
                _ => {
                    stats.other_frames.fetch_add(1, Relaxed);
                }
            }
            return vec![];
        };
        if frame.room != side.room {
            return vec![];
        }
        let how = if side.rejoining { How::Replay } else { How::Live };
        let Some(seq) = side.on_frame(frame, how, stats, buf, &self.shared) else { return vec![] };
        if !self.plan.receipts {
            return vec![];
        }
        self.shared.receipt_sent(side.chat, Who::Agent, seq, now_micros());
        vec![(side::receipt(side.chat, seq), Pending::Signal)]
    }

    /// The agent's own stream: a chat assigned (join its staff room) or released.
    fn on_own(
        &self,
        frame: &Frame,
        chats: &mut HashMap<u64, ChatSide>,
        end: &mut AgentEnd,
        buf: &mut LatencyBuf,
    ) -> Vec<(serde_json::Value, Pending)> {
        if frame.r#type != "event" {
            return vec![];
        }
        match frame.kind.as_str() {
            "assigned" => {
                let summary = &frame.data["chat"];
                let Some(chat) = summary["id"].as_u64() else {
                    self.ctx.stats.error("assigned_without_chat");
                    return vec![];
                };
                if chats.get(&chat).is_some_and(|side| !side.ended) {
                    // Replayed after a reconnect: the chat is already held.
                    return vec![];
                }
                let citizen = summary["citizen_name"].as_str().and_then(citizen_of_name);
                if let Some(us) = self.shared.on_assigned(citizen, now_micros()) {
                    buf.push(&self.ctx.stats, "assigned", us);
                }
                let side = chats.entry(chat).or_insert_with(|| ChatSide::new(chat, Who::Agent));
                side.ended = false;
                vec![(side.join(false), Pending::Join { chat })]
            }
            "released" => {
                end.released += 1;
                if let Some(side) = frame.data["chat"].as_u64().and_then(|chat| chats.get_mut(&chat)) {
                    side.active = false;
                }
                vec![]
            }
            _ => vec![],
        }
    }
}
