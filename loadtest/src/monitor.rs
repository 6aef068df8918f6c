//! Samples the server (by pid) and the harness itself over the schedule: CPU time at the edges of the steady
//! window, resident memory before the run and at the window's end, and peaks once a second.

use std::sync::Arc;
use std::time::Instant;

use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Duration};
use tokio_util::sync::CancellationToken;

use crate::clock::Schedule;
use crate::procfs::{self, ProcSample};
use crate::report::{ProcFigures, ServerFigures, Window};
use crate::stats::Counters;
use crate::target::Node;

/// Where the monitor reads the client counters (this process's, or the sum of the workers' progress lines).
pub type CounterSource = Arc<dyn Fn() -> Counters + Send + Sync>;

const EVERY: Duration = Duration::from_secs(1);

pub struct Monitor {
    stop: CancellationToken,
    task: JoinHandle<Sampled>,
}

/// What the monitor saw.
pub struct Sampled {
    pub window: Window,
    pub harness: ProcFigures,
    pub server: Option<ServerFigures>,
    pub warnings: Vec<String>,
}

/// One moment: counters, CPU and memory.
struct Mark {
    at: Instant,
    counters: Counters,
    harness: ProcSample,
    server: Option<ProcSample>,
    machine: Option<procfs::MachineCpu>,
}

struct Sampler {
    pids: Vec<u32>,
    /// Whose `/metrics` to read at the window's edges (none in a worker process: the parent reads them).
    nodes: Vec<Node>,
    counters: CounterSource,
    peak_server_rss: u64,
    peak_harness_rss: u64,
    warnings: Vec<String>,
}

impl Monitor {
    pub fn start(schedule: Schedule, pids: Vec<u32>, nodes: Vec<Node>, counters: CounterSource) -> Monitor {
        let stop = CancellationToken::new();
        let sampler = Sampler { pids, nodes, counters, peak_server_rss: 0, peak_harness_rss: 0, warnings: vec![] };
        let task = tokio::spawn(sampler.run(schedule, stop.clone()));
        Monitor { stop, task }
    }

    pub async fn finish(self) -> Sampled {
        self.stop.cancel();
        match self.task.await {
            Ok(sampled) => sampled,
            Err(e) => Sampled {
                window: Window::default(),
                harness: ProcFigures::default(),
                server: None,
                warnings: vec![format!("the monitor failed: {e}")],
            },
        }
    }
}

impl Sampler {
    async fn run(mut self, schedule: Schedule, stop: CancellationToken) -> Sampled {
        let before = self.mark();
        self.sample_until(schedule.ramp_end(), &stop).await;
        let start = self.mark();
        let writes_start = self.write_counters().await;
        self.sample_until(schedule.steady_end(), &stop).await;
        let end = self.mark();
        let writes_end = self.write_counters().await;
        self.sample_until(schedule.deadline(), &stop).await;
        let last = self.mark();
        let mut sampled = self.result(before, start, end, last);
        if let (Some((f0, w0)), Some((f1, w1))) = (writes_start, writes_end) {
            let (frames, writes) = (f1.saturating_sub(f0), w1.saturating_sub(w0));
            let window = &mut sampled.window;
            if window.secs > 0.0 && writes > 0 {
                window.server_writes_per_sec = Some(writes as f64 / window.secs);
                window.server_frames_per_write = Some(frames as f64 / writes as f64);
            }
        }
        sampled
    }

    /// The nodes' frames delivered and socket writes, summed (`None` if any node doesn't say).
    async fn write_counters(&self) -> Option<(u64, u64)> {
        if self.nodes.is_empty() {
            return None;
        }
        let mut sum = (0, 0);
        for node in &self.nodes {
            let (frames, writes) = crate::rest::write_counters(node).await?;
            sum = (sum.0 + frames, sum.1 + writes);
        }
        Some(sum)
    }

    /// Samples peaks once a second until `at` (or until stopped).
    async fn sample_until(&mut self, at: Instant, stop: &CancellationToken) {
        loop {
            let now = Instant::now();
            if now >= at || stop.is_cancelled() {
                return;
            }
            let next = (now + EVERY).min(at);
            tokio::select! {
                _ = sleep_until(next.into()) => {}
                _ = stop.cancelled() => return,
            }
            self.mark();
        }
    }

    fn mark(&mut self) -> Mark {
        let harness = procfs::sample(None).unwrap_or_default();
        self.peak_harness_rss = self.peak_harness_rss.max(harness.rss_bytes);
        let server = self.sample_servers();
        if let Some(s) = &server {
            self.peak_server_rss = self.peak_server_rss.max(s.rss_bytes);
        }
        Mark { at: Instant::now(), counters: (self.counters)(), harness, server, machine: procfs::machine_cpu() }
    }

    /// The servers' samples summed (a cluster's CPU and memory).
    fn sample_servers(&mut self) -> Option<ProcSample> {
        if self.pids.is_empty() {
            return None;
        }
        let mut sum = ProcSample::default();
        for pid in &self.pids {
            match procfs::sample(Some(*pid)) {
                Ok(s) => {
                    sum.cpu_secs += s.cpu_secs;
                    sum.rss_bytes += s.rss_bytes;
                    sum.hwm_bytes += s.hwm_bytes;
                }
                Err(e) => {
                    let warning = format!("server pid {pid}: {e:#}");
                    if !self.warnings.contains(&warning) {
                        self.warnings.push(warning);
                    }
                }
            }
        }
        Some(sum)
    }

    fn result(self, before: Mark, start: Mark, end: Mark, last: Mark) -> Sampled {
        let secs = end.at.saturating_duration_since(start.at).as_secs_f64();
        let deliveries = end.counters.deliveries.saturating_sub(start.counters.deliveries);
        let window = Window {
            secs,
            deliveries,
            deliveries_per_sec: if secs > 0.0 { deliveries as f64 / secs } else { 0.0 },
            open: end.counters.open,
            harness_cpu_secs: end.harness.cpu_secs - start.harness.cpu_secs,
            machine_busy_cores: None,
            machine_softirq_cores: None,
            server_writes_per_sec: None,
            server_frames_per_write: None,
        };
        let mut window = window;
        if let (Some(s), Some(e)) = (start.machine, end.machine) {
            if secs > 0.0 {
                window.machine_busy_cores = Some((e.busy_secs - s.busy_secs) / secs);
                window.machine_softirq_cores = Some((e.softirq_secs - s.softirq_secs) / secs);
            }
        }
        let harness = ProcFigures {
            cpu_secs: last.harness.cpu_secs - before.harness.cpu_secs,
            cpu_secs_window: window.harness_cpu_secs,
            peak_rss_bytes: self.peak_harness_rss,
            cpu_us_per_delivery: None,
        };
        let server = match (before.server, start.server, end.server, last.server) {
            (Some(b), Some(s), Some(e), Some(l)) => Some(ServerFigures {
                pids: self.pids.clone(),
                cpu: ProcFigures {
                    cpu_secs: l.cpu_secs - b.cpu_secs,
                    cpu_secs_window: e.cpu_secs - s.cpu_secs,
                    peak_rss_bytes: self.peak_server_rss,
                    cpu_us_per_delivery: None,
                },
                rss_before_bytes: b.rss_bytes,
                rss_window_end_bytes: e.rss_bytes,
                rss_per_connection_bytes: None,
            }),
            _ => None,
        };
        Sampled { window, harness, server, warnings: self.warnings }
    }
}
