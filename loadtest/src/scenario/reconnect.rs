//! `reconnect-storm`: viewers watch a broadcast while questions keep coming; at one instant every viewer drops
//! its connection (a reset, as a network failure would) and reconnects with the documented backoff (full jitter,
//! 0.5 s × 2^n capped at 30 s), then rejoins with `since` its last `(epoch, seq)`. Measures the time until all
//! are back, how many had their gap replayed and how many needed a snapshot, and that no event went missing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{drain, ensure_broadcast, failures_warning, final_or_highest, final_seq, join_all, measures, sleep_until};
use crate::actors::{self, Asker, Board, Pace};
use crate::clock::backoff;
use crate::ctx::{Ctx, Role};
use crate::report::{Merge, Report};
use crate::viewer::{End, Measure, ViewState, Viewer};
use crate::ws::Session;

#[derive(clap::Args, Debug, Clone, Serialize)]
#[group(skip)]
pub struct ReconnectStorm {
    /// Viewers that drop and come back.
    #[arg(long, env = "MAJLIS_LOADTEST_VIEWERS", default_value_t = 1000)]
    pub viewers: u64,

    /// Share of viewers that parse every event and time it (replayed events then show their delay too).
    #[arg(long, env = "MAJLIS_LOADTEST_MEASURE_SHARE", default_value_t = 0.0)]
    pub measure_share: f64,

    /// Questions per second through the whole run, so that events flow while the viewers are away.
    #[arg(long, env = "MAJLIS_LOADTEST_EVENT_RATE", default_value_t = 20.0)]
    pub event_rate: f64,

    /// Citizens asking those questions.
    #[arg(long, env = "MAJLIS_LOADTEST_ASKERS", default_value_t = 4)]
    pub askers: u64,

    /// Seconds into the steady phase at which every viewer drops (default: a third of it).
    #[arg(long, env = "MAJLIS_LOADTEST_STORM_AT_SECS")]
    pub storm_at_secs: Option<f64>,

    #[command(flatten)]
    #[serde(flatten)]
    pub backoff: crate::clock::Backoff,

    /// Use this live broadcast instead of creating one.
    #[arg(long, env = "MAJLIS_LOADTEST_BROADCAST_ID")]
    pub broadcast_id: Option<u64>,
}

/// How one viewer's storm went.
#[derive(Default)]
struct Outcome {
    back: bool,
    recovered: bool,
    attempts: u64,
}

impl super::Scenario for ReconnectStorm {
    const NAME: &'static str = "reconnect-storm";

    fn planned_connections(&self) -> u64 {
        self.viewers + self.askers + 2
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
        let storm_after = self.storm_at_secs.unwrap_or(ctx.schedule.steady.as_secs_f64() / 3.0);
        let storm_at = ctx.schedule.ramp_end() + Duration::from_secs_f64(storm_after.max(0.0));
        let stop_actors = ctx.deadline.child_token();
        let stop_viewers = ctx.deadline.child_token();
        let viewers = self.spawn_viewers(&ctx, &room, storm_at, &stop_viewers);
        let askers = self.spawn_askers(&ctx, broadcast, &stop_actors);

        sleep_until(ctx.schedule.steady_end(), &ctx.deadline).await;
        stop_actors.cancel();
        let (_, failed) = join_all(askers).await;
        report.warnings.extend(failures_warning("askers", &failed));
        drain(&ctx, report).await;
        let probe = final_seq(&ctx, self.viewers + self.askers + u64::from(ctx.shard.index), &room).await;
        stop_viewers.cancel();
        let (outcomes, failed) = join_all(viewers).await;
        report.warnings.extend(failures_warning("viewers", &failed));
        let last = final_or_highest(probe, outcomes.iter().map(|(s, _)| s.seq.last), report);
        let mut back = 0;
        let mut recovered = 0;
        let mut attempts = 0;
        let total = outcomes.len() as f64;
        for (mut state, outcome) in outcomes {
            state.finish(last);
            back += u64::from(outcome.back);
            recovered += u64::from(outcome.recovered);
            attempts += outcome.attempts;
        }
        report.set("viewers dropped", total, "", Merge::Sum);
        report.set("back", back as f64, "", Merge::Sum);
        report.set("recovered their gap (replay)", recovered as f64, "", Merge::Sum);
        report.set("needed a snapshot", (back - recovered) as f64, "", Merge::Sum);
        report.set("reconnect attempts", attempts as f64, "", Merge::Sum);
        report.set("room events (final seq)", last.unwrap_or(0) as f64, "", Merge::Max);
        Ok(())
    }

    fn finish(&self, report: &mut Report) {
        let back = report.figure("back");
        let dropped = report.figure("viewers dropped");
        if let Some(r) = report.latency.get("reconnect") {
            let all_back = r.max_us as f64 / 1000.0;
            report.set("time until all back", all_back, "ms", Merge::Max);
        }
        report.check(
            "every viewer came back",
            back == dropped && back as u64 == self.viewers,
            format!("{back} of {}", self.viewers),
        );
        let c = report.counters;
        report.check("no missing events", c.missing == 0, format!("{} missing", c.missing));
        report.check("no duplicated events", c.duplicates == 0, format!("{} duplicated", c.duplicates));
        // Refused reconnects are part of a storm (clients back off and retry): they are in the error table, but
        // not a failed check.
    }
}

impl ReconnectStorm {
    fn spawn_viewers(
        &self,
        ctx: &Arc<Ctx>,
        room: &str,
        storm_at: Instant,
        stop: &CancellationToken,
    ) -> JoinSet<Result<(ViewState, Outcome)>> {
        let mut tasks = JoinSet::new();
        let share = ctx.shard.share(self.viewers);
        let count = share.end - share.start;
        let backoff = self.backoff.durations();
        for (n, i) in share.enumerate() {
            let slot = ctx.schedule.ramp_slot(n as u64, count);
            let measure = measures(i, self.measure_share).then(|| Measure::new(Arc::clone(&ctx.sends)));
            let storm = Storm { at: storm_at, backoff };
            tasks.spawn(storm.ride(Arc::clone(ctx), i, room.to_string(), measure, slot, stop.clone()));
        }
        tasks
    }

    fn spawn_askers(&self, ctx: &Arc<Ctx>, broadcast: u64, stop: &CancellationToken) -> JoinSet<Result<()>> {
        let mut tasks = JoinSet::new();
        let board = Arc::new(Board::default());
        for k in ctx.shard.share(self.askers) {
            let client = self.viewers + k;
            let asker = Asker { broadcast, client, held_every: 0, board: board.clone(), asked: 0 };
            let pace = Pace::new(ctx.schedule.ramp_end(), self.event_rate / self.askers.max(1) as f64);
            let run = actors::run(Arc::clone(ctx), client, Role::Citizen, pace, stop.clone(), asker);
            tasks.spawn(async move { run.await.map(|_| ()) });
        }
        tasks
    }
}

struct Storm {
    at: Instant,
    backoff: (Duration, Duration),
}

impl Storm {
    /// One viewer: connect at its slot, watch until the storm, drop, come back, watch until stopped.
    async fn ride(
        self,
        ctx: Arc<Ctx>,
        i: u64,
        room: String,
        measure: Option<Measure>,
        slot: Instant,
        stop: CancellationToken,
    ) -> Result<(ViewState, Outcome)> {
        if !sleep_until(slot, &stop).await {
            anyhow::bail!("stopped before its ramp slot");
        }
        let mut viewer = Viewer::open(&ctx, i, &room, measure).await?;
        let storm = stop.child_token();
        let fire = storm.clone();
        let at = self.at;
        tokio::spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            fire.cancel();
        });
        if let End::Lost(code) = viewer.watch(&storm).await {
            ctx.stats.error(&code);
            return Ok((viewer.state, Outcome::default()));
        }
        if stop.is_cancelled() {
            return Ok((viewer.state, Outcome::default()));
        }
        let Viewer { session, room, state } = viewer;
        session.abort();
        let (mut viewer, outcome) = match self.come_back(&ctx, i, room, state, &stop).await {
            Ok(back) => back,
            Err((state, outcome)) => return Ok((state, outcome)),
        };
        if let End::Lost(code) = viewer.watch(&stop).await {
            ctx.stats.error(&code);
        }
        Ok((viewer.state, outcome))
    }

    /// Reconnects with backoff until back (or stopped); the time from the storm to the rejoin is recorded.
    async fn come_back(
        &self,
        ctx: &Ctx,
        i: u64,
        room: String,
        mut state: ViewState,
        stop: &CancellationToken,
    ) -> Result<(Viewer, Outcome), (ViewState, Outcome)> {
        let mut outcome = Outcome::default();
        for attempt in 0.. {
            let wait = backoff(attempt, self.backoff.0, self.backoff.1);
            if !sleep_until(Instant::now() + wait, stop).await {
                return Err((state, outcome));
            }
            outcome.attempts += 1;
            let Ok(session) = Session::open(ctx, i, Role::Citizen).await else { continue };
            let mut viewer = Viewer { session, room: room.clone(), state };
            match viewer.join(true).await {
                Ok(recovered) => {
                    ctx.stats.record(&[("reconnect", self.at.elapsed().as_micros() as u64)]);
                    outcome.back = true;
                    outcome.recovered = recovered;
                    return Ok((viewer, outcome));
                }
                Err(_) => state = viewer.state,
            }
        }
        Err((state, outcome))
    }
}
