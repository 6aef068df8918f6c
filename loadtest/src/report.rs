//! The report: what a run measured, merged over generator processes, as a table for people and JSON for tools.

use std::collections::BTreeMap;
use std::fmt::Write;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::stats::{new_histogram, Counters};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Report {
    pub scenario: String,
    pub started_unix_ms: u64,
    pub nodes: Vec<String>,
    pub processes: u32,
    pub threads: usize,
    /// The options of the run (the secret left out).
    pub settings: Value,
    pub ramp_secs: f64,
    pub steady_secs: f64,
    pub wall_secs: f64,
    /// Totals at the end of the run.
    pub counters: Counters,
    /// The steady phase: what rates and CPU costs are computed over.
    pub window: Window,
    /// Errors by code: protocol error codes, `http_<status>` of refused upgrades, `close_<code>` of closes the
    /// client did not ask for, `connect_*` of failed connects.
    pub errors: BTreeMap<String, u64>,
    /// Latency by kind of event (microseconds).
    pub latency: BTreeMap<String, LatencyReport>,
    /// Scenario-specific figures.
    pub figures: BTreeMap<String, Figure>,
    pub harness: ProcFigures,
    pub server: Option<ServerFigures>,
    pub checks: Vec<Check>,
    pub warnings: Vec<String>,
    /// The latency plot (SVG).
    pub svg: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Window {
    pub secs: f64,
    pub deliveries: u64,
    pub deliveries_per_sec: f64,
    /// Connections open at the end of the window.
    pub open: i64,
    pub harness_cpu_secs: f64,
    /// The whole machine's busy CPU over the window, in cores (everything, not only these processes).
    pub machine_busy_cores: Option<f64>,
    /// Of which kernel softirq (loopback network processing), in cores.
    pub machine_softirq_cores: Option<f64>,
    /// The servers' socket writes per second and frames per write over the window, from their `/metrics`:
    /// how much the load and `--write-interval-ms` coalesce (CPU per delivery falls as frames per write rise).
    #[serde(default)]
    pub server_writes_per_sec: Option<f64>,
    #[serde(default)]
    pub server_frames_per_write: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProcFigures {
    /// CPU time over the whole run (summed over generator processes for the harness).
    pub cpu_secs: f64,
    pub cpu_secs_window: f64,
    pub peak_rss_bytes: u64,
    /// CPU time per event delivered in the window, in microseconds.
    pub cpu_us_per_delivery: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServerFigures {
    pub pids: Vec<u32>,
    pub cpu: ProcFigures,
    /// Resident memory before any client connected.
    pub rss_before_bytes: u64,
    /// Resident memory at the end of the steady window.
    pub rss_window_end_bytes: u64,
    /// (RSS at the end of the window − RSS before) / connections open then.
    pub rss_per_connection_bytes: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Merge {
    #[default]
    Sum,
    Max,
    Min,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Figure {
    pub value: f64,
    pub unit: String,
    /// How the figures of several processes combine.
    pub merge: Merge,
}

impl Figure {
    pub fn new(value: f64, unit: &str, merge: Merge) -> Self {
        Figure { value, unit: unit.into(), merge }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LatencyReport {
    pub count: u64,
    pub min_us: u64,
    pub mean_us: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    #[serde(default)]
    pub p95_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    /// The histogram itself, `(value µs, count)` per recorded bucket, so reports of several processes merge exactly.
    pub buckets: Vec<(u64, u64)>,
}

impl LatencyReport {
    pub fn of(h: &Histogram<u64>) -> Self {
        LatencyReport {
            count: h.len(),
            min_us: h.min(),
            mean_us: h.mean(),
            p50_us: h.value_at_quantile(0.5),
            p90_us: h.value_at_quantile(0.9),
            p95_us: h.value_at_quantile(0.95),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
            buckets: h.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect(),
        }
    }

    pub fn histogram(&self) -> Histogram<u64> {
        let mut h = new_histogram();
        for (value, count) in &self.buckets {
            h.saturating_record_n((*value).max(1), *count);
        }
        h
    }
}

impl Report {
    pub fn histograms(&self) -> BTreeMap<String, Histogram<u64>> {
        self.latency.iter().map(|(k, l)| (k.clone(), l.histogram())).collect()
    }

    pub fn set_histograms(&mut self, histograms: &BTreeMap<String, Histogram<u64>>) {
        self.latency = histograms.iter().map(|(k, h)| (k.clone(), LatencyReport::of(h))).collect();
    }

    pub fn figure(&self, name: &str) -> f64 {
        self.figures.get(name).map(|f| f.value).unwrap_or(0.0)
    }

    pub fn set(&mut self, name: &str, value: f64, unit: &str, merge: Merge) {
        self.figures.insert(name.into(), Figure::new(value, unit, merge));
    }

    pub fn check(&mut self, name: &str, ok: bool, detail: String) {
        self.checks.push(Check { name: name.into(), ok, detail });
    }

    pub fn all_checks_pass(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }

    /// Combines the reports of worker processes (counts add up, histograms merge, figures by their rule).
    pub fn merge(parts: Vec<Report>) -> Report {
        let mut parts = parts.into_iter();
        let Some(mut out) = parts.next() else { return Report::default() };
        let mut histograms = out.histograms();
        for part in parts {
            out.processes += part.processes;
            out.wall_secs = out.wall_secs.max(part.wall_secs);
            out.counters.add(&part.counters);
            out.window.deliveries += part.window.deliveries;
            out.window.open += part.window.open;
            out.window.harness_cpu_secs += part.window.harness_cpu_secs;
            out.window.secs = out.window.secs.max(part.window.secs);
            out.harness.cpu_secs += part.harness.cpu_secs;
            out.harness.cpu_secs_window += part.harness.cpu_secs_window;
            out.harness.peak_rss_bytes += part.harness.peak_rss_bytes;
            for (code, n) in part.errors {
                *out.errors.entry(code).or_default() += n;
            }
            for (kind, latency) in &part.latency {
                let h = histograms.entry(kind.clone()).or_insert_with(new_histogram);
                let _ = h.add(latency.histogram());
            }
            merge_figures(&mut out.figures, part.figures);
            out.warnings.extend(part.warnings);
        }
        out.set_histograms(&histograms);
        out.warnings.dedup();
        out
    }
}

fn merge_figures(into: &mut BTreeMap<String, Figure>, from: BTreeMap<String, Figure>) {
    for (name, f) in from {
        match into.get_mut(&name) {
            None => {
                into.insert(name, f);
            }
            Some(g) => {
                g.value = match g.merge {
                    Merge::Sum => g.value + f.value,
                    Merge::Max => g.value.max(f.value),
                    Merge::Min => g.value.min(f.value),
                }
            }
        }
    }
}

/// `1234567` → `1,234,567`.
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

/// The summary table printed at the end of a run.
pub fn summary(r: &Report) -> String {
    let mut o = String::new();
    let c = &r.counters;
    let _ =
        writeln!(o, "\nMajlis load test: {}  ({} process(es), {} thread(s) each)", r.scenario, r.processes, r.threads);
    let _ = writeln!(o, "  nodes      {}", r.nodes.join(", "));
    let _ = writeln!(
        o,
        "  schedule   ramp-up {:.1} s, steady {:.1} s, wall {:.1} s (window measured: {:.1} s)",
        r.ramp_secs, r.steady_secs, r.wall_secs, r.window.secs
    );
    let _ = writeln!(
        o,
        "  conns      attempted {}  connected {}  failed {}  open at window end {}",
        group(c.attempted),
        group(c.connected),
        group(c.connect_failures),
        r.window.open
    );
    let _ = writeln!(
        o,
        "  events     delivered {}  in window {}  per second {}  missing {}  duplicated {}",
        group(c.deliveries),
        group(r.window.deliveries),
        group(r.window.deliveries_per_sec.round() as u64),
        group(c.missing),
        group(c.duplicates)
    );
    let _ = writeln!(
        o,
        "  commands   sent {}  acked {}  errors {}  other frames {}  unmatched latencies {}",
        group(c.commands),
        group(c.acks),
        group(c.errors),
        group(c.other_frames),
        group(c.unmatched)
    );
    write_errors(&mut o, r);
    write_latency(&mut o, r);
    write_costs(&mut o, r);
    write_figures(&mut o, r);
    for check in &r.checks {
        let _ = writeln!(o, "  [{}] {}: {}", if check.ok { " ok " } else { "FAIL" }, check.name, check.detail);
    }
    for warning in &r.warnings {
        let _ = writeln!(o, "  warning: {warning}");
    }
    o
}

fn write_errors(o: &mut String, r: &Report) {
    if r.errors.is_empty() {
        return;
    }
    let list: Vec<String> = r.errors.iter().map(|(code, n)| format!("{code} {}", group(*n))).collect();
    let _ = writeln!(o, "  errors     {}", list.join(", "));
}

fn write_latency(o: &mut String, r: &Report) {
    if r.latency.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "  latency    {:<10} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}   (ms)",
        "kind", "count", "p50", "p90", "p95", "p99", "p99.9", "max"
    );
    for (kind, l) in &r.latency {
        let _ = writeln!(
            o,
            "             {:<10} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            kind,
            group(l.count),
            ms(l.p50_us),
            ms(l.p90_us),
            ms(l.p95_us),
            ms(l.p99_us),
            ms(l.p999_us),
            ms(l.max_us)
        );
    }
}

fn write_costs(o: &mut String, r: &Report) {
    let per = |x: Option<f64>| x.map(|v| format!("{v:.2} µs/delivery")).unwrap_or_else(|| "n/a".into());
    let cores = |cpu: f64| if r.window.secs > 0.0 { cpu / r.window.secs } else { 0.0 };
    let h = &r.harness;
    let _ = writeln!(
        o,
        "  harness    CPU {:.1} s total, {:.1} s in window ({:.2} cores, {}), peak RSS {}",
        h.cpu_secs,
        h.cpu_secs_window,
        cores(h.cpu_secs_window),
        per(h.cpu_us_per_delivery),
        mib(h.peak_rss_bytes)
    );
    if let (Some(busy), Some(softirq)) = (r.window.machine_busy_cores, r.window.machine_softirq_cores) {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
        let _ = writeln!(o, "  machine    busy {busy:.2} of {cores} cores in window (kernel softirq {softirq:.2})");
    }
    match &r.server {
        None => {
            let _ = writeln!(o, "  server     not sampled (give --server-pid)");
        }
        Some(s) => {
            let _ = writeln!(
                o,
                "  server     CPU {:.1} s total, {:.1} s in window ({:.2} cores, {}), peak RSS {}",
                s.cpu.cpu_secs,
                s.cpu.cpu_secs_window,
                cores(s.cpu.cpu_secs_window),
                per(s.cpu.cpu_us_per_delivery),
                mib(s.cpu.peak_rss_bytes)
            );
            let per_conn = s.rss_per_connection_bytes.map(|b| format!("{:.1} KiB", b / 1024.0));
            let _ = writeln!(
                o,
                "  server mem RSS before {}, at window end {}, per open connection {}",
                mib(s.rss_before_bytes),
                mib(s.rss_window_end_bytes),
                per_conn.unwrap_or_else(|| "n/a".into())
            );
        }
    }
    if let (Some(writes), Some(frames)) = (r.window.server_writes_per_sec, r.window.server_frames_per_write) {
        let _ = writeln!(
            o,
            "  writes     {writes:.0} socket writes/s, {frames:.1} frames per write (the servers' /metrics)"
        );
    }
}

fn write_figures(o: &mut String, r: &Report) {
    for (name, f) in &r.figures {
        let value = if f.value.fract() == 0.0 && f.value.abs() < 1e15 {
            group(f.value.abs() as u64)
        } else {
            format!("{:.2}", f.value)
        };
        let sign = if f.value < 0.0 { "-" } else { "" };
        let _ = writeln!(o, "  {:<34} {sign}{value} {}", name, f.unit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1234567), "1,234,567");
    }

    #[test]
    fn reports_merge_counts_histograms_and_figures() {
        let mut h = new_histogram();
        h.record(1000).expect("in range");
        let mut a = Report { processes: 1, ..Default::default() };
        a.counters.deliveries = 10;
        a.set_histograms(&BTreeMap::from([("ask".to_string(), h.clone())]));
        a.set("back", 3.0, "clients", Merge::Sum);
        a.set("slowest", 2.0, "ms", Merge::Max);
        let mut b = a.clone();
        b.set("slowest", 5.0, "ms", Merge::Max);
        let m = Report::merge(vec![a, b]);
        assert_eq!((m.processes, m.counters.deliveries, m.latency["ask"].count), (2, 20, 2));
        assert_eq!((m.figure("back"), m.figure("slowest")), (6.0, 5.0));
    }
}
