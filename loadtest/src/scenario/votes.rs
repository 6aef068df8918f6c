//! `votes`: V citizens upvote one question at the same moment (or spread over a few seconds) while a few
//! watchers follow the room. Measures the time from the first vote until a watcher sees the complete count, and
//! checks that the count is exact: in the acks, in the events, and in the statistics over REST.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::json;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{delivery_checks, drain, ensure_broadcast, failures_warning, final_seq, join_all, sleep_until};
use crate::clock::now_micros;
use crate::ctx::{Ctx, Role};
use crate::report::{Merge, Report};
use crate::stats::Sent;
use crate::viewer::{End, Measure, ViewState, Viewer};
use crate::ws::{Reply, Session};

#[derive(clap::Args, Debug, Clone, Serialize)]
#[group(skip)]
pub struct Votes {
    /// Citizens who each upvote the question once (not in the room).
    #[arg(long, env = "MAJLIS_LOADTEST_VOTERS", default_value_t = 1000)]
    pub voters: u64,

    /// Citizens watching the room (each parses every event).
    #[arg(long, env = "MAJLIS_LOADTEST_WATCHERS", default_value_t = 10)]
    pub watchers: u64,

    /// Spread the votes evenly over this many seconds from the start of the steady phase (0: all at once).
    #[arg(long, env = "MAJLIS_LOADTEST_SPREAD_SECS", default_value_t = 0.0)]
    pub spread_secs: f64,

    /// Use this live broadcast instead of creating one.
    #[arg(long, env = "MAJLIS_LOADTEST_BROADCAST_ID")]
    pub broadcast_id: Option<u64>,

    /// Vote on this question instead of asking a new one.
    #[arg(long, env = "MAJLIS_LOADTEST_QUESTION_ID")]
    pub question_id: Option<u64>,
}

impl super::Scenario for Votes {
    const NAME: &'static str = "votes";

    fn planned_connections(&self) -> u64 {
        self.voters + self.watchers + 3
    }

    async fn prepare(&mut self, ctx: &Ctx) -> Result<()> {
        let broadcast = ensure_broadcast(ctx, &mut self.broadcast_id, Self::NAME).await?;
        if self.question_id.is_none() {
            self.question_id = Some(ask(ctx, self.voters + self.watchers, broadcast).await?);
        }
        Ok(())
    }

    fn worker_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(id) = self.broadcast_id {
            args.extend(["--broadcast-id".to_string(), id.to_string()]);
        }
        if let Some(id) = self.question_id {
            args.extend(["--question-id".to_string(), id.to_string()]);
        }
        args
    }

    async fn run(&self, ctx: Arc<Ctx>, report: &mut Report) -> Result<()> {
        let broadcast = self.broadcast_id.context("BUG: prepare sets the broadcast")?;
        let question = self.question_id.context("BUG: prepare sets the question")?;
        let room = format!("broadcast:{broadcast}");
        let stop = ctx.deadline.child_token();
        let watchers = self.spawn_watchers(&ctx, &room, question, &stop);
        let voters = self.spawn_voters(&ctx, broadcast, question, &stop);

        sleep_until(ctx.schedule.steady_end(), &ctx.deadline).await;
        drain(&ctx, report).await;
        let probe = self.voters + self.watchers + 1 + u64::from(ctx.shard.index);
        let last = final_seq(&ctx, probe, &room).await;
        stop.cancel();
        let (acks, failed) = join_all(voters).await;
        report.warnings.extend(failures_warning("voters", &failed));
        report.set("votes acked", acks.iter().filter(|a| **a).count() as f64, "", Merge::Sum);
        report.set("votes refused", acks.iter().filter(|a| !**a).count() as f64, "", Merge::Sum);
        let (states, failed) = join_all(watchers).await;
        report.warnings.extend(failures_warning("watchers", &failed));
        self.watcher_figures(&ctx, states, last, report);
        if ctx.shard.is_first() {
            let token = ctx.token(0, Role::Moderator)?;
            match crate::rest::stats(ctx.node(0), &token, broadcast).await {
                Ok(stats) => {
                    report.set("count in REST statistics", stats["votes"].as_f64().unwrap_or(-1.0), "", Merge::Max)
                }
                Err(e) => report.warnings.push(format!("statistics: {e:#}")),
            }
        }
        Ok(())
    }

    fn finish(&self, report: &mut Report) {
        delivery_checks(report);
        let v = self.voters as f64;
        let acked = report.figure("votes acked");
        report.check("every vote acked", acked == v, format!("{acked} of {v}"));
        let seen = report.figure("count seen by watchers");
        report.check("watchers see the exact count", seen == v, format!("{seen}, expected {v}"));
        if let Some(rest) = report.figures.get("count in REST statistics").map(|f| f.value) {
            report.check("statistics hold the exact count", rest == v, format!("{rest}, expected {v}"));
        }
    }
}

impl Votes {
    fn spawn_watchers(
        &self,
        ctx: &Arc<Ctx>,
        room: &str,
        question: u64,
        stop: &CancellationToken,
    ) -> JoinSet<Result<ViewState>> {
        let mut tasks = JoinSet::new();
        if !ctx.shard.is_first() {
            return tasks;
        }
        for k in 0..self.watchers {
            let mut measure = Measure::new(Arc::clone(&ctx.sends));
            measure.target = Some((question, self.voters));
            let (ctx, room, stop) = (Arc::clone(ctx), room.to_string(), stop.clone());
            let i = self.voters + k;
            tasks.spawn(async move {
                let mut viewer = Viewer::open(&ctx, i, &room, Some(measure)).await?;
                if let End::Lost(code) = viewer.watch(&stop).await {
                    ctx.stats.error(&code);
                }
                Ok(viewer.state)
            });
        }
        tasks
    }

    fn spawn_voters(
        &self,
        ctx: &Arc<Ctx>,
        broadcast: u64,
        question: u64,
        stop: &CancellationToken,
    ) -> JoinSet<Result<bool>> {
        let mut tasks = JoinSet::new();
        let share = ctx.shard.share(self.voters);
        let count = share.end - share.start;
        let vote_start = ctx.schedule.ramp_end();
        let spread = Duration::from_secs_f64(self.spread_secs.max(0.0));
        for (n, i) in share.enumerate() {
            let slot = ctx.schedule.ramp_slot(n as u64, count);
            let at = vote_start + spread.mul_f64(i as f64 / self.voters.max(1) as f64);
            let vote = Vote { broadcast, question, at };
            tasks.spawn(vote.cast(Arc::clone(ctx), i, slot, stop.clone()));
        }
        tasks
    }

    fn watcher_figures(&self, ctx: &Ctx, states: Vec<ViewState>, last: Option<u64>, report: &mut Report) {
        let vote_start_us = (ctx.schedule.start_unix_ms + ctx.schedule.ramp.as_millis() as u64) * 1000;
        let mut seen = 0;
        let mut reached = Vec::new();
        for mut state in states {
            state.finish(last);
            if let Some(m) = &state.measure {
                seen = seen.max(m.target_votes);
                reached.extend(m.reached_at);
            }
        }
        if ctx.shard.is_first() {
            report.set("count seen by watchers", seen as f64, "", Merge::Max);
        }
        if let Some(latest) = reached.iter().max() {
            let ms = latest.saturating_sub(vote_start_us) as f64 / 1000.0;
            report.set("time from first vote to complete count", ms, "ms", Merge::Max);
        }
    }
}

/// One voter's vote.
struct Vote {
    broadcast: u64,
    question: u64,
    at: Instant,
}

impl Vote {
    /// Connect at the ramp slot, upvote at `at`, note the ack, then stay connected until stopped. Returns whether
    /// the vote was acked.
    async fn cast(self, ctx: Arc<Ctx>, i: u64, slot: Instant, stop: CancellationToken) -> Result<bool> {
        if !sleep_until(slot, &stop).await {
            bail!("stopped before its ramp slot");
        }
        let mut session = Session::open(&ctx, i, Role::Citizen).await?;
        if !sleep_until(self.at, &stop).await {
            bail!("stopped before voting");
        }
        let sent = now_micros();
        let command = json!({"type": "vote", "broadcast": self.broadcast, "question": self.question, "value": true});
        ctx.stats.commands.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let reply = session.request(command, |_| {}).await.inspect_err(|_| ctx.stats.error("no_reply"))?;
        let acked = match reply {
            Reply::Ack(result) => {
                ctx.stats.acks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let votes = result["votes"].as_u64().unwrap_or(0);
                ctx.sends.insert(Sent::Vote { question: self.question, votes }, sent);
                ctx.stats.record(&[("vote ack", now_micros().saturating_sub(sent))]);
                true
            }
            Reply::Error { code } => {
                ctx.stats.error(&code);
                false
            }
        };
        let mut holder =
            Viewer { session, room: String::new(), state: ViewState::new(Arc::clone(&ctx.stats), "", None) };
        if let End::Lost(code) = holder.watch(&stop).await {
            ctx.stats.error(&code);
        }
        Ok(acked)
    }
}

/// Asks the question to vote on, as a citizen (client index `i`).
async fn ask(ctx: &Ctx, i: u64, broadcast: u64) -> Result<u64> {
    let mut session = Session::open(ctx, i, Role::Citizen).await?;
    let command =
        json!({"type": "ask", "broadcast": broadcast, "text": "Load test: which question gets the most votes?"});
    match session.request(command, |_| {}).await? {
        Reply::Ack(result) => result["question"]["id"].as_u64().context("the ask's ack has no question id"),
        Reply::Error { code } => bail!("asking the question: {code}"),
    }
}
