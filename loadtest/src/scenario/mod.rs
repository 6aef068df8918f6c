//! Scenarios. Each is one module: its options (a clap `Args` struct) and an implementation of [`Scenario`].
//! Adding one means writing the module and naming it in `cli::Command` and `lib::dispatch`.

pub mod broadcast;
pub mod chat;
pub mod connections;
pub mod reconnect;
pub mod votes;

use std::future::Future;
use std::sync::Arc;

use anyhow::Result;
use serde::Serialize;

use crate::ctx::Ctx;
use crate::report::Report;

pub trait Scenario: Serialize + Send + Sync + 'static {
    /// The subcommand's name, shown in reports.
    const NAME: &'static str;

    /// Connections the whole run opens at most (all processes), checked against `--max-connections` and the
    /// open-files limit before anything starts.
    fn planned_connections(&self) -> u64;

    /// Setup shared by every generator process (create a broadcast, ask the question to vote on). Runs once,
    /// before any client starts; what it made travels to worker processes through [`Scenario::worker_args`].
    fn prepare(&mut self, ctx: &Ctx) -> impl Future<Output = Result<()>> + Send;

    /// Command-line arguments that hand what [`Scenario::prepare`] made to a worker process.
    fn worker_args(&self) -> Vec<String> {
        vec![]
    }

    /// Runs this process's share of the clients over the schedule (`ctx.shard`, `ctx.schedule`). Counters and
    /// latencies go to `ctx.stats`; scenario figures to `report`.
    fn run(&self, ctx: Arc<Ctx>, report: &mut Report) -> impl Future<Output = Result<()>> + Send;

    /// Derived figures and correctness checks, computed once over the merged report of every process.
    fn finish(&self, report: &mut Report);
}

/// The checks every scenario with viewers makes: nothing missing, nothing twice, no errors.
pub fn delivery_checks(report: &mut Report) {
    let c = report.counters;
    report.check("no missing events", c.missing == 0, format!("{} missing", c.missing));
    report.check("no duplicated events", c.duplicates == 0, format!("{} duplicated", c.duplicates));
    let errors: u64 = report.errors.values().sum();
    report.check("no errors", errors == 0, format!("{errors} errors"));
}

/// Creates a live broadcast (no pre-moderation) unless one was given.
pub async fn ensure_broadcast(ctx: &Ctx, given: &mut Option<u64>, what: &str) -> Result<u64> {
    if let Some(id) = *given {
        return Ok(id);
    }
    let token = ctx.token(0, crate::ctx::Role::Moderator)?;
    let title = format!("Load test: {what} ({})", ctx.run_id);
    let id = crate::rest::create_live_broadcast(ctx.node(0), &token, &title).await?;
    *given = Some(id);
    Ok(id)
}

/// The room's current `seq`, from the snapshot a fresh client gets when it joins (client index `i`).
pub async fn final_seq(ctx: &Ctx, i: u64, room: &str) -> Option<u64> {
    let mut session = crate::ws::Session::open(ctx, i, crate::ctx::Role::Citizen).await.ok()?;
    let mut seq = None;
    let reply = session
        .request(serde_json::json!({"type": "join", "room": room}), |text| {
            if crate::ws::classify(text) == crate::ws::FrameKind::Snapshot {
                seq = crate::ws::number_after(text, r#""seq":"#);
            }
        })
        .await
        .ok()?;
    matches!(reply, crate::ws::Reply::Ack(_)).then_some(seq).flatten()
}

/// Sleeps until `at`; false if `stop` came first.
pub async fn sleep_until(at: std::time::Instant, stop: &tokio_util::sync::CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep_until(at.into()) => true,
        _ = stop.cancelled() => false,
    }
}

/// Whether viewer `i` measures latency, for a measuring share `share` (viewer 0 always does when share > 0).
pub fn measures(i: u64, share: f64) -> bool {
    if share <= 0.0 {
        return false;
    }
    let stride = (1.0 / share.min(1.0)).round().max(1.0) as u64;
    i.is_multiple_of(stride)
}

/// Collects the results of a set of tasks, counting the ones that failed.
pub async fn join_all<T: 'static>(mut tasks: tokio::task::JoinSet<Result<T>>) -> (Vec<T>, Vec<String>) {
    let mut done = Vec::new();
    let mut failed = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(value)) => done.push(value),
            Ok(Err(e)) => failed.push(format!("{e:#}")),
            Err(e) => failed.push(e.to_string()),
        }
    }
    (done, failed)
}

/// A warning that summarises failures (the first few verbatim).
pub fn failures_warning(what: &str, failed: &[String]) -> Option<String> {
    if failed.is_empty() {
        return None;
    }
    let sample: Vec<&str> = failed.iter().take(3).map(String::as_str).collect();
    Some(format!("{} {what} failed (e.g. {})", failed.len(), sample.join("; ")))
}

/// After the steady phase: waits until no viewer of this process has received an event for a while (the server
/// has caught up), but no longer than the end of the drain. A server still delivering at that point is reported,
/// since its laggards' last events will count as missing.
pub async fn drain(ctx: &Ctx, report: &mut Report) {
    const QUIET: std::time::Duration = std::time::Duration::from_millis(1500);
    const EVERY: std::time::Duration = std::time::Duration::from_millis(250);
    let until = ctx.schedule.drain_end();
    let mut last = ctx.stats.snapshot().deliveries;
    let mut quiet_since = std::time::Instant::now();
    let mut moved = false;
    loop {
        let now = std::time::Instant::now();
        if now.duration_since(quiet_since) >= QUIET {
            return;
        }
        if now >= until || ctx.deadline.is_cancelled() {
            if moved {
                report.warnings.push("events were still arriving when the drain ended (raise --drain-secs)".into());
            }
            return;
        }
        tokio::time::sleep(EVERY.min(until - now)).await;
        let now_count = ctx.stats.snapshot().deliveries;
        if now_count != last {
            last = now_count;
            moved = true;
            quiet_since = std::time::Instant::now();
        }
    }
}

/// The room's final `seq`: from a fresh client's snapshot, or, if the server is too busy to answer one, the
/// highest any viewer reached (with a warning, since then events nobody got are not counted as missing).
pub fn final_or_highest(
    probe: Option<u64>,
    lasts: impl Iterator<Item = Option<u64>>,
    report: &mut Report,
) -> Option<u64> {
    if probe.is_some() {
        return probe;
    }
    report.warnings.push("no fresh snapshot for the room's final seq; using the highest seq any viewer reached".into());
    lasts.flatten().max()
}
