//! A citizen: starts a chat through the pre-chat form, joins `chat:<id>`, and once an agent holds it writes a
//! message every period (typing first), acknowledging the agent's messages with receipts. In a storm it drops
//! (a reset, as a network failure would), comes back with the documented backoff and rejoins with `since`,
//! then re-sends what was not acked with the same `client_msg_id`.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Result};
use serde_json::json;

use super::conn::{read, InFlight, Pending, Read};
use super::frames::{citizen_name, Frame};
use super::shared::{Shared, Who};
use super::side::{self, ChatSide, How};
use super::{Due, Phases, Plan};
use crate::clock::{backoff, now_micros};
use crate::ctx::{Ctx, Role};
use crate::scenario::sleep_until;
use crate::stats::LatencyBuf;
use crate::ws::{Reply, Session};

/// How one citizen's run went.
#[derive(Default)]
pub struct CitizenEnd {
    pub side: Option<ChatSide>,
    /// The start's ack gave a queue position (no agent free at once).
    pub queued: bool,
    /// In a storm: back in its chat, with the gap replayed (`recovered`) or a fresh snapshot.
    pub dropped: bool,
    pub back: bool,
    pub recovered: bool,
    pub attempts: u64,
}

pub struct Citizen {
    pub ctx: Arc<Ctx>,
    pub plan: Arc<Plan>,
    pub shared: Arc<Shared>,
    pub phases: Phases,
    /// The client index (tokens, source addresses) and this citizen's place in the ramp.
    pub i: u64,
    pub n: u64,
    pub of: u64,
}

/// Why the conversation's connection went away.
enum Gone {
    /// The storm: this citizen dropped it on purpose.
    Storm,
    /// The server or the network ended it (the close code or `eof`).
    Lost(String),
}

impl Citizen {
    pub async fn run(self) -> Result<CitizenEnd> {
        let mut end = CitizenEnd::default();
        if !self.wait_for_slot().await {
            return Ok(end);
        }
        let ctx = Arc::clone(&self.ctx);
        let mut session = Session::open(&ctx, self.i, Role::Citizen).await?;
        let lang = &self.plan.langs[(self.i % self.plan.langs.len() as u64) as usize];
        let start = json!({
            "type": "chat_start", "category": "inquiry", "lang": lang, "name": citizen_name(self.i),
            "consent": true, "consent_version": self.plan.consent_version,
        });
        self.shared.started(self.i, now_micros());
        ctx.stats.commands.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let chat = match session.request(start, |_| {}).await? {
            Reply::Ack(result) => {
                ctx.stats.acks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                end.queued = !result["position"].is_null();
                match result["chat"].as_u64() {
                    Some(chat) => chat,
                    None => bail!("chat_start's ack has no chat id"),
                }
            }
            Reply::Error { code } => {
                ctx.stats.error(&format!("chat_start:{code}"));
                bail!("chat_start refused: {code}");
            }
        };
        let mut chat = ChatSide::new(chat, Who::Citizen);
        let mut buf = LatencyBuf::default();
        let mut flight = InFlight::default();
        let mut attempt = 0;
        let receipt = loop {
            if let Some((_, receipt)) = self.join(&mut session, &mut chat, &mut buf, false).await? {
                break receipt;
            }
            let (base, max) = self.plan.backoff;
            if !sleep_until(Instant::now() + backoff(attempt, base, max), &self.phases.stop).await {
                chat.away_at_end = true;
                end.side = Some(chat);
                return Ok(end);
            }
            attempt += 1;
        };
        self.receipt(&mut session, &mut flight, &chat, receipt).await?;
        let result = self.converse(session, &mut chat, &mut buf, &mut flight, &mut end).await;
        buf.flush(&ctx.stats);
        // Whatever happened, what the citizen saw of its chat counts in the reconciliation.
        chat.away_at_end |= result.is_err();
        end.side = Some(chat);
        if result.is_err() {
            ctx.stats.error("citizen_failed");
        }
        Ok(end)
    }

    /// Waits until every agent is on the desk, then for this citizen's share of the rest of the ramp.
    async fn wait_for_slot(&self) -> bool {
        let ramp_end = self.ctx.schedule.ramp_end();
        let mut ready = self.shared.agents_ready();
        let ready_at = tokio::select! {
            at = ready.wait_for(Option::is_some) => at.ok().and_then(|at| *at).unwrap_or_else(Instant::now),
            _ = tokio::time::sleep_until(ramp_end.into()) => ramp_end,
            _ = self.phases.stop.cancelled() => return false,
        };
        let spread = ramp_end.saturating_duration_since(ready_at);
        let slot = ready_at + spread.mul_f64(self.n as f64 / self.of.max(1) as f64);
        sleep_until(slot, &self.phases.stop).await
    }

    /// Joins the chat's room (with `since` when resuming); frames before the ack are the snapshot or the
    /// replay. Returns whether the server replayed the gap, and the receipt the joined state calls for.
    async fn join(
        &self,
        session: &mut Session,
        chat: &mut ChatSide,
        buf: &mut LatencyBuf,
        resume: bool,
    ) -> Result<Option<(bool, Option<u64>)>> {
        let (stats, shared) = (&self.ctx.stats, &self.shared);
        let mut receipt = None;
        let how = if resume { How::Replay } else { How::Live };
        let command = chat.join(resume);
        let room = chat.room.clone();
        let reply = session
            .request(command, |text| {
                if let Some(frame) = Frame::parse(text) {
                    if frame.room == room {
                        receipt = chat.on_frame(&frame, how, stats, buf, shared).or(receipt);
                    }
                }
            })
            .await?;
        match reply {
            Reply::Ack(result) => {
                chat.recovered_last = result["recovered"].as_bool().unwrap_or(false);
                chat.rejoins += u32::from(resume);
                Ok(Some((chat.recovered_last, receipt)))
            }
            Reply::Error { code } => {
                stats.error(&format!("join:{code}"));
                // A resume is retried by `come_back`; a first join only when the server says "not now".
                if resume || code == "unavailable" {
                    return Ok(None);
                }
                bail!("join {}: {code}", chat.room)
            }
        }
    }

    async fn receipt(
        &self,
        session: &mut Session,
        flight: &mut InFlight,
        chat: &ChatSide,
        seq: Option<u64>,
    ) -> Result<()> {
        let Some(seq) = seq.filter(|_| self.plan.receipts) else { return Ok(()) };
        self.shared.receipt_sent(chat.chat, Who::Citizen, seq, now_micros());
        flight.send(&self.ctx, session, side::receipt(chat.chat, seq), Pending::Signal).await
    }

    /// The conversation: frames, the citizen's own messages, and the storm.
    async fn converse(
        &self,
        mut session: Session,
        chat: &mut ChatSide,
        buf: &mut LatencyBuf,
        flight: &mut InFlight,
        end: &mut CitizenEnd,
    ) -> Result<()> {
        let ctx = &self.ctx;
        let phases = &self.phases;
        let mut writing = true;
        let mut due: Option<(Instant, Due)> = None;
        let mut next_send: Option<Instant> = None;
        let mut storm = phases.storm;
        loop {
            if writing && chat.active && next_send.is_none() {
                let first = Instant::now() + self.plan.period.mul_f64(rand::random::<f64>());
                next_send = Some(first);
                due = Some(self.plan.first_due(first));
            }
            let sleep = due.map(|(at, _)| at).unwrap_or_else(|| Instant::now() + std::time::Duration::from_secs(3600));
            let storm_at = storm.unwrap_or(sleep);
            let lost = tokio::select! {
                biased;
                _ = phases.stop.cancelled() => break,
                _ = phases.stop_writing.cancelled(), if writing => {
                    writing = false;
                    due = None;
                    None
                }
                _ = tokio::time::sleep_until(storm_at.into()), if storm.is_some() => {
                    storm = None;
                    Some(Gone::Storm)
                }
                _ = tokio::time::sleep_until(sleep.into()), if due.is_some() => {
                    let (_, what) = due.take().unwrap_or((sleep, Due::Send));
                    let Some(at) = next_send else { continue };
                    if !chat.active || chat.ended {
                        next_send = None;
                        continue;
                    }
                    match what {
                        Due::Typing => {
                            self.shared.typed(chat.chat, Who::Citizen, now_micros());
                            flight.send(ctx, &mut session, side::typing(chat.chat), Pending::Signal).await?;
                            due = Some((at, Due::Send));
                        }
                        Due::Send => {
                            let (command, id) = chat.write(now_micros(), self.i);
                            if Instant::now() >= self.ctx.schedule.ramp_end() {
                                self.shared.window_sends.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                            flight.send(ctx, &mut session, command, Pending::Send { chat: chat.chat, client_msg_id: id }).await?;
                            let next = at + self.plan.period;
                            next_send = Some(next);
                            due = Some(self.plan.first_due(next));
                        }
                    }
                    None
                }
                message = session.ws.next() => match read(message, None) {
                    Read::Frame(frame) => {
                        let receipt = self.on_frame(&frame, chat, buf, flight);
                        self.receipt(&mut session, flight, chat, receipt).await?;
                        None
                    }
                    Read::Garbled => {
                        ctx.stats.error("unparsable_frame");
                        None
                    }
                    Read::Skipped => None,
                    Read::Lost(code) => Some(Gone::Lost(code)),
                },
            };
            let Some(gone) = lost else { continue };
            let stormed = matches!(gone, Gone::Storm);
            match gone {
                Gone::Storm => {
                    end.dropped = true;
                    session.abort();
                }
                Gone::Lost(code) => {
                    ctx.stats.error(&code);
                    drop(session);
                }
            }
            flight.clear();
            let Some(back) = self.come_back(chat, buf, flight, end).await? else {
                chat.away_at_end = true;
                return Ok(());
            };
            session = back;
            if stormed {
                if let Some(at) = phases.storm {
                    ctx.stats.record(&[("reconnect", at.elapsed().as_micros() as u64)]);
                }
                end.back = true;
            }
            // What was sent but not acked before the drop goes again, under the same client_msg_id.
            let resend: Vec<(String, serde_json::Value)> =
                chat.unacked.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            for (id, command) in resend {
                flight.send(ctx, &mut session, command, Pending::Send { chat: chat.chat, client_msg_id: id }).await?;
            }
        }
        Ok(())
    }

    /// Handles one frame; returns the receipt it calls for.
    fn on_frame(&self, frame: &Frame, chat: &mut ChatSide, buf: &mut LatencyBuf, flight: &mut InFlight) -> Option<u64> {
        if let Some((what, ok)) = flight.answered(&self.ctx, frame) {
            if let Pending::Send { client_msg_id, .. } = what {
                if ok {
                    chat.acked(&client_msg_id, &frame.result);
                } else {
                    chat.unacked.remove(&client_msg_id);
                }
            }
            return None;
        }
        if frame.room == chat.room {
            return chat.on_frame(frame, How::Live, &self.ctx.stats, buf, &self.shared);
        }
        if frame.r#type == "error" {
            self.ctx.stats.error(&frame.code);
        } else {
            self.ctx.stats.other_frames.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        None
    }

    /// Reconnects with backoff until back in the chat (or stopped).
    async fn come_back(
        &self,
        chat: &mut ChatSide,
        buf: &mut LatencyBuf,
        flight: &mut InFlight,
        end: &mut CitizenEnd,
    ) -> Result<Option<Session>> {
        let (base, max) = self.plan.backoff;
        for attempt in 0.. {
            if !sleep_until(Instant::now() + backoff(attempt, base, max), &self.phases.stop).await {
                return Ok(None);
            }
            end.attempts += 1;
            let Ok(mut session) = Session::open(&self.ctx, self.i, Role::Citizen).await else { continue };
            let Ok(Some((recovered, receipt))) = self.join(&mut session, chat, buf, true).await else { continue };
            end.recovered = recovered;
            self.receipt(&mut session, flight, chat, receipt).await?;
            return Ok(Some(session));
        }
        Ok(None)
    }
}
