//! Several generator processes: the parent re-executes this binary as K workers, each running a share of the
//! clients from the same absolute start; it sums their progress lines, samples the server itself, and merges
//! their reports. One process can hold only so many sockets (its open-files limit), hence this.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::clock::now_millis;
use crate::ctx::{Ctx, Shard};
use crate::monitor::{CounterSource, Monitor};
use crate::progress::{self, Mode, PROGRESS_PREFIX};
use crate::report::Report;
use crate::scenario::Scenario;
use crate::stats::Counters;
use crate::Common;

/// The prefix of a worker's final line on stdout: its report as JSON.
pub const REPORT_PREFIX: &str = "report ";
/// Time for the workers to start before the shared schedule begins.
const START_DELAY_MS: u64 = 1500;
/// How long after the hard deadline the parent waits before it kills a worker.
const KILL_AFTER: Duration = Duration::from_secs(30);

type Latest = Arc<Mutex<Vec<Counters>>>;

pub async fn run_parent<S: Scenario>(mut common: Common, mut scenario: S, argv: &[String]) -> Result<Report> {
    let count = common.processes;
    let start_at = now_millis() + START_DELAY_MS;
    common.start_at_unix_ms = Some(start_at);
    let ctx = Ctx::new(common.clone(), Shard::ALONE).await?;
    scenario.prepare(&ctx).await?;
    let exe = std::env::current_exe().context("finding this binary to re-execute it")?;
    let latest: Latest = Arc::new(Mutex::new(vec![Counters::default(); count as usize]));
    let mut workers = Vec::new();
    for index in 0..count {
        let mut command = Command::new(&exe);
        command
            .args(argv)
            .args(["--worker", &format!("{index}/{count}"), "--start-at-unix-ms", &start_at.to_string()])
            .args(scenario.worker_args())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let child = command.spawn().with_context(|| format!("starting worker {index}"))?;
        let limit = ctx.schedule.deadline().saturating_duration_since(std::time::Instant::now()) + KILL_AFTER;
        workers.push(watch(child, index as usize, Arc::clone(&latest), limit));
    }
    let sum = Arc::clone(&latest);
    let counters: CounterSource = Arc::new(move || {
        let mut total = Counters::default();
        for c in sum.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            total.add(c);
        }
        total
    });
    let monitor = Monitor::start(ctx.schedule, common.server_pids.clone(), ctx.nodes.clone(), Arc::clone(&counters));
    let stop_progress = CancellationToken::new();
    let mode = if common.quiet { Mode::Off } else { Mode::Human };
    let progress = progress::spawn(S::NAME, ctx.schedule, counters, mode, stop_progress.clone());
    let mut parts = Vec::new();
    let mut failures = Vec::new();
    for (index, worker) in workers.into_iter().enumerate() {
        match worker.await {
            Ok(Ok(report)) => parts.push(report),
            Ok(Err(e)) => failures.push(format!("worker {index}: {e:#}")),
            Err(e) => failures.push(format!("worker {index}: {e}")),
        }
    }
    stop_progress.cancel();
    let _ = progress.await;
    let sampled = monitor.finish().await;
    if parts.is_empty() {
        bail!("every worker failed: {}", failures.join("; "));
    }
    let mut report = Report::merge(parts);
    report.warnings.extend(failures);
    report.warnings.extend(sampled.warnings);
    report.harness.cpu_secs += sampled.harness.cpu_secs;
    report.harness.cpu_secs_window += sampled.harness.cpu_secs_window;
    report.window.harness_cpu_secs += sampled.harness.cpu_secs_window;
    report.server = sampled.server;
    // The machine is one: the parent's view of it, not the sum of the workers'.
    report.window.machine_busy_cores = sampled.window.machine_busy_cores;
    report.window.machine_softirq_cores = sampled.window.machine_softirq_cores;
    report.window.server_writes_per_sec = sampled.window.server_writes_per_sec;
    report.window.server_frames_per_write = sampled.window.server_frames_per_write;
    report.processes = count;
    crate::finalize(&scenario, &mut report);
    Ok(report)
}

/// Reads a worker's stdout (progress lines, then its report) and waits for it, killing it if it outlives the
/// run's hard bound.
fn watch(mut child: Child, index: usize, latest: Latest, limit: Duration) -> JoinHandle<Result<Report>> {
    tokio::spawn(async move {
        let stdout = child.stdout.take().context("worker stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let mut report = None;
        let read = async {
            while let Some(line) = lines.next_line().await? {
                if let Some(json) = line.strip_prefix(PROGRESS_PREFIX) {
                    if let Ok(c) = serde_json::from_str::<Counters>(json) {
                        latest.lock().unwrap_or_else(|p| p.into_inner())[index] = c;
                    }
                } else if let Some(json) = line.strip_prefix(REPORT_PREFIX) {
                    report = Some(serde_json::from_str::<Report>(json).context("parsing a worker's report")?);
                }
            }
            anyhow::Ok(())
        };
        // The worker bounds itself; this is the bound on the bound.
        if tokio::time::timeout(limit, read).await.is_err() {
            let _ = child.kill().await;
            bail!("did not finish in time and was killed");
        }
        let status = child.wait().await?;
        match report {
            Some(report) => Ok(report),
            None => bail!("ended ({status}) without a report"),
        }
    })
}
