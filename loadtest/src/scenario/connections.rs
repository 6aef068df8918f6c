//! `connections`: open N connections (each authenticated and joined to a broadcast's room, as an idle viewer
//! is), hold them through the steady phase, and measure the connect rate and the server's memory per connection.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use serde::Serialize;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{ensure_broadcast, failures_warning, join_all, sleep_until};
use crate::clock::now_millis;
use crate::ctx::{Ctx, Role};
use crate::report::{Merge, Report};
use crate::viewer::{End, ViewState, Viewer};
use crate::ws::Session;

#[derive(clap::Args, Debug, Clone, Serialize)]
#[group(skip)]
pub struct Connections {
    /// Connections to open and hold (all processes together).
    #[arg(long, env = "MAJLIS_LOADTEST_CONNECTIONS", default_value_t = 1000)]
    pub connections: u64,

    /// Only connect and authenticate; join no room.
    #[arg(long, env = "MAJLIS_LOADTEST_NO_JOIN")]
    pub no_join: bool,

    /// Join this broadcast's room instead of a new one.
    #[arg(long, env = "MAJLIS_LOADTEST_BROADCAST_ID")]
    pub broadcast_id: Option<u64>,
}

const HOLD_PAST_WINDOW: std::time::Duration = std::time::Duration::from_millis(500);

/// How one connection went.
struct Held {
    /// When it was up (ms since the epoch), for the connect rate.
    up_at_ms: u64,
    lost: bool,
}

impl super::Scenario for Connections {
    const NAME: &'static str = "connections";

    fn planned_connections(&self) -> u64 {
        self.connections
    }

    async fn prepare(&mut self, ctx: &Ctx) -> Result<()> {
        if !self.no_join {
            ensure_broadcast(ctx, &mut self.broadcast_id, Self::NAME).await?;
        }
        Ok(())
    }

    fn worker_args(&self) -> Vec<String> {
        self.broadcast_id.map(|id| vec!["--broadcast-id".into(), id.to_string()]).unwrap_or_default()
    }

    async fn run(&self, ctx: Arc<Ctx>, report: &mut Report) -> Result<()> {
        let room = self.broadcast_id.filter(|_| !self.no_join).map(|id| format!("broadcast:{id}"));
        let stop = ctx.deadline.child_token();
        let mut tasks = JoinSet::new();
        let share = ctx.shard.share(self.connections);
        let count = share.end - share.start;
        for (n, i) in share.enumerate() {
            let slot = ctx.schedule.ramp_slot(n as u64, count);
            tasks.spawn(hold(Arc::clone(&ctx), i, room.clone(), slot, stop.clone()));
        }
        // Hold a little past the window, so that its last sample (open connections, server memory) sees them all.
        sleep_until(ctx.schedule.steady_end() + HOLD_PAST_WINDOW, &ctx.deadline).await;
        stop.cancel();
        let (held, failed) = join_all(tasks).await;
        report.warnings.extend(failures_warning("connections", &failed));
        let last_up = held.iter().map(|h| h.up_at_ms).max().unwrap_or(ctx.schedule.start_unix_ms);
        report.set("connections held", held.len() as f64, "", Merge::Sum);
        report.set("lost during the hold", held.iter().filter(|h| h.lost).count() as f64, "", Merge::Sum);
        let connect_secs = last_up.saturating_sub(ctx.schedule.start_unix_ms) as f64 / 1000.0;
        report.set("time to connect all", connect_secs, "s", Merge::Max);
        Ok(())
    }

    fn finish(&self, report: &mut Report) {
        let held = report.figure("connections held");
        let secs = report.figure("time to connect all");
        if secs > 0.0 {
            report.set("connect rate", held / secs, "connections/s", Merge::Max);
        }
        let lost = report.figure("lost during the hold");
        report.check(
            "every connection opened",
            held as u64 == self.connections,
            format!("{held} of {}", self.connections),
        );
        report.check("none lost while held", lost == 0.0, format!("{lost} lost"));
        let errors: u64 = report.errors.values().sum();
        report.check("no errors", errors == 0, format!("{errors} errors"));
    }
}

/// One idle client: connect at its slot, authenticate, join, then only answer pings until stopped.
async fn hold(ctx: Arc<Ctx>, i: u64, room: Option<String>, slot: Instant, stop: CancellationToken) -> Result<Held> {
    if !sleep_until(slot, &stop).await {
        anyhow::bail!("stopped before its ramp slot");
    }
    let mut viewer = match &room {
        Some(room) => Viewer::open(&ctx, i, room, None).await?,
        None => {
            let session = Session::open(&ctx, i, Role::Citizen).await?;
            Viewer { session, room: String::new(), state: ViewState::new(Arc::clone(&ctx.stats), "", None) }
        }
    };
    // From the start of the TCP connect (not of the wait for a handshake slot) to the join's ack.
    ctx.stats.record(&[("connect", viewer.session.began.elapsed().as_micros() as u64)]);
    let up_at_ms = now_millis();
    let end = viewer.watch(&stop).await;
    if let End::Lost(code) = &end {
        ctx.stats.error(code);
    }
    Ok(Held { up_at_ms, lost: end != End::Stopped })
}
