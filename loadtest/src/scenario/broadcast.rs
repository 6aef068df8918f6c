//! `broadcast`: N viewers watch one live broadcast while A citizens ask, V citizens vote and a moderator
//! approves, pins and answers. Every viewer checks `seq` continuity; a share of them times every event.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{
    delivery_checks, drain, ensure_broadcast, failures_warning, final_or_highest, final_seq, join_all, measures,
    sleep_until,
};
use crate::actors::{self, Asker, Board, Moderator, Pace, Voter};
use crate::ctx::{Ctx, Role};
use crate::report::{Merge, Report};
use crate::viewer::{End, Measure, ViewState, Viewer};

#[derive(clap::Args, Debug, Clone, Serialize)]
#[group(skip)]
pub struct Broadcast {
    /// Viewers in the broadcast's public room.
    #[arg(long, env = "MAJLIS_LOADTEST_VIEWERS", default_value_t = 100)]
    pub viewers: u64,

    /// Share of viewers that parse every event and measure its latency; the rest only check `seq`.
    #[arg(long, env = "MAJLIS_LOADTEST_MEASURE_SHARE", default_value_t = 0.1)]
    pub measure_share: f64,

    /// Citizens who ask (separate connections, not in the room).
    #[arg(long, env = "MAJLIS_LOADTEST_ASKERS", default_value_t = 10)]
    pub askers: u64,

    /// Questions per second, all askers together.
    #[arg(long, env = "MAJLIS_LOADTEST_ASK_RATE", default_value_t = 5.0)]
    pub ask_rate: f64,

    /// Citizens who vote (separate connections, not in the room); each votes a question at most once.
    #[arg(long, env = "MAJLIS_LOADTEST_VOTERS", default_value_t = 50)]
    pub voters: u64,

    /// Votes per second, all voters together.
    #[arg(long, env = "MAJLIS_LOADTEST_VOTE_RATE", default_value_t = 20.0)]
    pub vote_rate: f64,

    /// Moderator actions per second (in turn: approve a held question, pin, answer). 0: no moderator.
    #[arg(long, env = "MAJLIS_LOADTEST_MODERATOR_RATE", default_value_t = 1.0)]
    pub moderator_rate: f64,

    /// Every Nth question contains a filtered word, so it waits for the moderator's approval. 0: none.
    #[arg(long, env = "MAJLIS_LOADTEST_HELD_EVERY", default_value_t = 10)]
    pub held_every: u64,

    /// Use this live broadcast (without pre-moderation) instead of creating one.
    #[arg(long, env = "MAJLIS_LOADTEST_BROADCAST_ID")]
    pub broadcast_id: Option<u64>,
}

/// The index layout of this scenario's clients (global over every process).
struct Layout {
    viewers: u64,
    askers: u64,
    voters: u64,
}

impl Layout {
    fn asker(&self, k: u64) -> u64 {
        self.viewers + k
    }
    fn voter(&self, k: u64) -> u64 {
        self.viewers + self.askers + k
    }
    fn moderator(&self) -> u64 {
        self.viewers + self.askers + self.voters
    }
    fn probe(&self, shard: u32) -> u64 {
        self.moderator() + 1 + u64::from(shard)
    }
}

/// What one process's actors did.
#[derive(Default)]
struct Tally {
    asked: u64,
    voted: u64,
    skipped_votes: u64,
}

impl super::Scenario for Broadcast {
    const NAME: &'static str = "broadcast";

    fn planned_connections(&self) -> u64 {
        self.viewers + self.askers + self.voters + 2
    }

    async fn prepare(&mut self, ctx: &Ctx) -> Result<()> {
        ensure_broadcast(ctx, &mut self.broadcast_id, Self::NAME).await?;
        Ok(())
    }

    fn worker_args(&self) -> Vec<String> {
        self.broadcast_id.map(|id| vec!["--broadcast-id".into(), id.to_string()]).unwrap_or_default()
    }

    async fn run(&self, ctx: Arc<Ctx>, report: &mut Report) -> Result<()> {
        let broadcast = self.broadcast_id.context("BUG: prepare sets the broadcast")?;
        let room = format!("broadcast:{broadcast}");
        let layout = Layout { viewers: self.viewers, askers: self.askers, voters: self.voters };
        let stop_actors = ctx.deadline.child_token();
        let stop_viewers = ctx.deadline.child_token();
        let viewers = self.spawn_viewers(&ctx, &room, &stop_viewers);
        let actors = self.spawn_actors(&ctx, broadcast, &layout, &stop_actors);

        sleep_until(ctx.schedule.steady_end(), &ctx.deadline).await;
        stop_actors.cancel();
        let tally = collect_actors(actors, report).await;
        drain(&ctx, report).await;
        let probe = final_seq(&ctx, layout.probe(ctx.shard.index), &room).await;
        stop_viewers.cancel();
        let (states, failed) = join_all(viewers).await;
        report.warnings.extend(failures_warning("viewers", &failed));
        let last = final_or_highest(probe, states.iter().map(|s| s.seq.last), report);
        let connected = states.len() as u64;
        let (mut expected, mut received) = (0, 0);
        for mut state in states {
            expected += state.expected(last.unwrap_or(0));
            received += state.received;
            state.finish(last);
        }
        report.set("viewers connected", connected as f64, "", Merge::Sum);
        report.set("events due to viewers", expected as f64, "", Merge::Sum);
        report.set("events received by viewers", received as f64, "", Merge::Sum);
        report.set("room events (final seq)", last.unwrap_or(0) as f64, "", Merge::Max);
        report.set("questions asked", tally.asked as f64, "", Merge::Sum);
        report.set("votes sent", tally.voted as f64, "", Merge::Sum);
        report.set("votes skipped (nothing new to vote on)", tally.skipped_votes as f64, "", Merge::Sum);
        Ok(())
    }

    fn finish(&self, report: &mut Report) {
        let secs = report.window.secs.max(1e-9);
        let events = report.figure("room events (final seq)");
        report.set("room events per second (steady)", events / secs, "", Merge::Max);
        delivery_checks(report);
        let (due, received) = (report.figure("events due to viewers"), report.figure("events received by viewers"));
        report.check(
            "every viewer got every event after its snapshot",
            due == received,
            format!("{received} received of {due} due"),
        );
        let connected = report.figure("viewers connected") as u64;
        report.check("every viewer connected", connected == self.viewers, format!("{connected} of {}", self.viewers));
    }
}

impl Broadcast {
    fn spawn_viewers(&self, ctx: &Arc<Ctx>, room: &str, stop: &CancellationToken) -> JoinSet<Result<ViewState>> {
        let mut tasks = JoinSet::new();
        let share = ctx.shard.share(self.viewers);
        let count = share.end - share.start;
        for (n, i) in share.enumerate() {
            let slot = ctx.schedule.ramp_slot(n as u64, count);
            let measure = measures(i, self.measure_share).then(|| Measure::new(Arc::clone(&ctx.sends)));
            tasks.spawn(watch(Arc::clone(ctx), i, room.to_string(), measure, slot, stop.clone()));
        }
        tasks
    }

    fn spawn_actors(
        &self,
        ctx: &Arc<Ctx>,
        broadcast: u64,
        layout: &Layout,
        stop: &CancellationToken,
    ) -> JoinSet<Result<Tally>> {
        let mut tasks = JoinSet::new();
        let start = ctx.schedule.ramp_end();
        let board = Arc::new(Board::default());
        for k in ctx.shard.share(self.askers) {
            let asker = Asker {
                broadcast,
                client: layout.asker(k),
                held_every: self.held_every,
                board: board.clone(),
                asked: 0,
            };
            let pace = Pace::new(start, self.ask_rate / self.askers.max(1) as f64);
            let run = actors::run(Arc::clone(ctx), layout.asker(k), Role::Citizen, pace, stop.clone(), asker);
            tasks.spawn(async move { run.await.map(|a| Tally { asked: a.asked, ..Tally::default() }) });
        }
        for k in ctx.shard.share(self.voters) {
            let voter = Voter {
                broadcast,
                board: board.clone(),
                sends: ctx.sends.clone(),
                voted: Default::default(),
                skipped: 0,
            };
            let pace = Pace::new(start, self.vote_rate / self.voters.max(1) as f64);
            let run = actors::run(Arc::clone(ctx), layout.voter(k), Role::Citizen, pace, stop.clone(), voter);
            tasks.spawn(async move {
                run.await.map(|v| Tally { voted: v.voted.len() as u64, skipped_votes: v.skipped, ..Tally::default() })
            });
        }
        if ctx.shard.is_first() && self.moderator_rate > 0.0 {
            let moderator = Moderator::new(broadcast, ctx.sends.clone());
            let pace = Pace::new(start, self.moderator_rate);
            let run = actors::run(Arc::clone(ctx), layout.moderator(), Role::Moderator, pace, stop.clone(), moderator);
            tasks.spawn(async move { run.await.map(|_| Tally::default()) });
        }
        tasks
    }
}

async fn collect_actors(actors: JoinSet<Result<Tally>>, report: &mut Report) -> Tally {
    let (tallies, failed) = join_all(actors).await;
    report.warnings.extend(failures_warning("actors", &failed));
    tallies.into_iter().fold(Tally::default(), |a, b| Tally {
        asked: a.asked + b.asked,
        voted: a.voted + b.voted,
        skipped_votes: a.skipped_votes + b.skipped_votes,
    })
}

/// One viewer: connect at its ramp slot, join, watch until stopped.
async fn watch(
    ctx: Arc<Ctx>,
    i: u64,
    room: String,
    measure: Option<Measure>,
    slot: Instant,
    stop: CancellationToken,
) -> Result<ViewState> {
    if !sleep_until(slot, &stop).await {
        anyhow::bail!("stopped before its ramp slot");
    }
    let mut viewer = Viewer::open(&ctx, i, &room, measure).await?;
    if let End::Lost(code) = viewer.watch(&stop).await {
        ctx.stats.error(&code);
    }
    Ok(viewer.state)
}
