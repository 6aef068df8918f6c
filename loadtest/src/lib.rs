//! Majlis load-test harness.
//!
//! Scenarios ([`scenario`]) drive real protocol clients ([`ws`], [`viewer`], [`actors`]) over a shared schedule
//! ([`clock`]); the counters ([`stats`]) and the server's /proc figures ([`monitor`]) end up in a [`Report`]
//! printed as a table and written as JSON with an SVG latency plot. With `--processes K` the binary re-executes
//! itself as K workers and merges their reports ([`workers`]).
//!
//! The binary (`src/main.rs`) only parses the command line and calls [`run`].

pub mod actors;
pub mod cli;
pub mod clock;
pub mod ctx;
pub mod monitor;
pub mod procfs;
pub mod progress;
pub mod report;
pub mod rest;
pub mod scenario;
pub mod stats;
pub mod svg;
pub mod target;
pub mod viewer;
pub mod wire;
pub mod workers;
pub mod ws;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio_util::sync::CancellationToken;

pub use cli::{Cli, Command, Common};
pub use report::Report;
pub use scenario::Scenario;

use crate::ctx::{Ctx, Shard};
use crate::monitor::{CounterSource, Monitor};
use crate::progress::Mode;

/// Connections a process may hold: the open-files limit, less room for the runtime's own files.
const SPARE_FILES: u64 = 200;
/// How long after the hard deadline a scenario still gets to wind down before it is abandoned.
const GRACE: Duration = Duration::from_secs(10);

/// Runs the scenario named on the command line. `argv` is what the binary was started with (without the
/// program name); it is only needed to re-execute the binary as worker processes.
pub async fn dispatch(command: Command, argv: &[String]) -> Result<Report> {
    match command {
        Command::Broadcast { common, scenario } => run(common, scenario, argv).await,
        Command::Chat { common, scenario } => run(common, scenario, argv).await,
        Command::Connections { common, scenario } => run(common, scenario, argv).await,
        Command::ReconnectStorm { common, scenario } => run(common, scenario, argv).await,
        Command::Votes { common, scenario } => run(common, scenario, argv).await,
    }
}

/// Runs `scenario`: here, as one worker of a parent, or as the parent of `common.processes` workers.
pub async fn run<S: Scenario>(common: Common, scenario: S, argv: &[String]) -> Result<Report> {
    validate(&common, &scenario)?;
    if let Some(shard) = worker_shard(&common)? {
        return run_here(common, scenario, shard).await;
    }
    if common.processes > 1 {
        if argv.is_empty() {
            bail!("--processes needs the binary's own arguments to re-execute it");
        }
        return workers::run_parent(common, scenario, argv).await;
    }
    run_here(common, scenario, Shard::ALONE).await
}

/// The hard bounds, checked before anything connects.
fn validate<S: Scenario>(common: &Common, scenario: &S) -> Result<()> {
    let planned = scenario.planned_connections();
    if planned > common.max_connections {
        bail!("this run would open {planned} connections, over --max-connections {}", common.max_connections);
    }
    let phases = common.ramp_up_secs + common.duration_secs + common.drain_secs;
    if phases + 3.0 > common.max_duration_secs as f64 {
        bail!(
            "ramp-up + duration + drain ({phases:.0} s) plus 3 s of setup exceed --max-duration-secs {}",
            common.max_duration_secs
        );
    }
    let per_process = planned.div_ceil(u64::from(common.processes.max(1)));
    if let Some(limit) = procfs::open_files_limit() {
        if per_process + SPARE_FILES > limit {
            bail!(
                "{per_process} connections per process exceed the open-files limit ({limit}, less {SPARE_FILES} \
                 spare); use --processes {}",
                (planned + SPARE_FILES).div_ceil(limit.saturating_sub(SPARE_FILES).max(1)) + 1
            );
        }
    }
    Ok(())
}

fn worker_shard(common: &Common) -> Result<Option<Shard>> {
    let Some(spec) = &common.worker else { return Ok(None) };
    let (index, count) = spec.split_once('/').context("--worker I/K")?;
    let shard = Shard { index: index.parse()?, count: count.parse()? };
    anyhow::ensure!(shard.index < shard.count, "--worker {spec}: index out of range");
    Ok(Some(shard))
}

/// Runs the clients of one process: the whole run when alone, or one worker's share.
async fn run_here<S: Scenario>(common: Common, mut scenario: S, shard: Shard) -> Result<Report> {
    let alone = common.worker.is_none();
    let ctx = Ctx::new(common, shard).await?;
    if alone {
        scenario.prepare(&ctx).await?;
    }
    let stats = Arc::clone(&ctx.stats);
    let counters: CounterSource = Arc::new(move || stats.snapshot());
    let pids = if alone { ctx.common.server_pids.clone() } else { vec![] };
    let nodes = if alone { ctx.nodes.clone() } else { vec![] };
    let monitor = Monitor::start(ctx.schedule, pids, nodes, Arc::clone(&counters));
    let mode = match (alone, ctx.common.quiet) {
        (false, _) => Mode::Worker,
        (true, true) => Mode::Off,
        (true, false) => Mode::Human,
    };
    let stop_progress = CancellationToken::new();
    let progress = progress::spawn(S::NAME, ctx.schedule, counters, mode, stop_progress.clone());
    let mut report = base_report(&ctx, &scenario);
    let bound = tokio::time::Instant::from_std(ctx.schedule.deadline() + GRACE);
    let outcome = tokio::time::timeout_at(bound, scenario.run(Arc::clone(&ctx), &mut report)).await;
    ctx.deadline.cancel();
    stop_progress.cancel();
    let _ = progress.await;
    let sampled = monitor.finish().await;
    collect(&mut report, &ctx, sampled);
    match outcome {
        Err(_) => report.warnings.push("the run hit its hard time bound and was cut short".into()),
        Ok(Err(e)) => return Err(e),
        Ok(Ok(())) => {}
    }
    if alone {
        finalize(&scenario, &mut report);
    }
    Ok(report)
}

fn base_report<S: Scenario>(ctx: &Ctx, scenario: &S) -> Report {
    let settings = serde_json::json!({ "common": ctx.common, "scenario": scenario });
    Report {
        scenario: S::NAME.into(),
        started_unix_ms: ctx.schedule.start_unix_ms,
        nodes: ctx.nodes.iter().map(|n| n.ws_url.clone()).collect(),
        processes: 1,
        threads: threads(&ctx.common),
        settings,
        ramp_secs: ctx.schedule.ramp.as_secs_f64(),
        steady_secs: ctx.schedule.steady.as_secs_f64(),
        ..Report::default()
    }
}

pub fn threads(common: &Common) -> usize {
    common.threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2))
}

/// Moves what this process counted and sampled into the report.
fn collect(report: &mut Report, ctx: &Ctx, sampled: monitor::Sampled) {
    report.counters = ctx.stats.snapshot();
    report.errors = ctx.stats.error_codes();
    report.set_histograms(&ctx.stats.latencies());
    report.window = sampled.window;
    report.harness = sampled.harness;
    report.server = sampled.server;
    report.warnings.extend(sampled.warnings);
    report.wall_secs = ctx.schedule.start.elapsed().as_secs_f64();
}

/// Warns when something besides the server and the harness kept the machine busy during the window (another
/// build, say): the rates and latencies then are not the system's alone.
fn warn_about_other_load(report: &mut Report) {
    let w = &report.window;
    let (Some(busy), Some(softirq), Some(server)) = (w.machine_busy_cores, w.machine_softirq_cores, &report.server)
    else {
        return;
    };
    if w.secs <= 0.0 {
        return;
    }
    let ours = (server.cpu.cpu_secs_window + report.harness.cpu_secs_window) / w.secs;
    let other = busy - ours - softirq;
    if other > 0.25 {
        report.warnings.push(format!(
            "other processes kept {other:.2} cores busy during the window: the figures are not the server's alone"
        ));
    }
}

/// The kinds of latency that are "an event reaching a viewer" (the rest time other things: connects, acks).
pub const EVENT_KINDS: [&str; 5] = ["ask", "vote", "approve", "pin", "answer"];

/// One histogram over every event kind, when there are several.
fn add_all_events(report: &mut Report) {
    let kinds: Vec<&str> = EVENT_KINDS.iter().copied().filter(|k| report.latency.contains_key(*k)).collect();
    if kinds.len() < 2 {
        return;
    }
    let mut histograms = report.histograms();
    let mut all = stats::new_histogram();
    for kind in kinds {
        let _ = all.add(&histograms[kind]);
    }
    histograms.insert("all events".into(), all);
    report.set_histograms(&histograms);
}

/// Derived figures, the scenario's checks and the plot, once over the whole (merged) report.
pub fn finalize<S: Scenario>(scenario: &S, report: &mut Report) {
    let deliveries = report.window.deliveries;
    if report.window.secs > 0.0 {
        report.window.deliveries_per_sec = deliveries as f64 / report.window.secs;
    }
    let per = |cpu: f64| (deliveries > 0).then(|| cpu * 1e6 / deliveries as f64);
    report.harness.cpu_us_per_delivery = per(report.harness.cpu_secs_window);
    if let Some(server) = &mut report.server {
        server.cpu.cpu_us_per_delivery = per(server.cpu.cpu_secs_window);
        let open = report.window.open;
        if open > 0 {
            let grown = server.rss_window_end_bytes as f64 - server.rss_before_bytes as f64;
            server.rss_per_connection_bytes = Some(grown / open as f64);
        }
    }
    warn_about_other_load(report);
    add_all_events(report);
    scenario.finish(report);
    let title = format!("Majlis {}: latency by percentile", report.scenario);
    report.svg = svg::latency_plot(&title, &report.histograms());
}
