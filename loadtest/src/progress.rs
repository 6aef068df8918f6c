//! The progress line: once a second on stderr (rewritten in place on a terminal), or, in a worker process, a
//! machine-readable line on stdout that the parent sums into its own progress line.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use tokio::task::JoinHandle;
use tokio::time::{interval, Duration, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::clock::Schedule;
use crate::monitor::CounterSource;
use crate::report::group;

/// The prefix of a worker's progress lines on stdout.
pub const PROGRESS_PREFIX: &str = "progress ";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// For people, on stderr.
    Human,
    /// For the parent process, on stdout.
    Worker,
    Off,
}

pub fn spawn(
    label: &'static str,
    schedule: Schedule,
    counters: CounterSource,
    mode: Mode,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        if mode == Mode::Off {
            return;
        }
        let terminal = std::io::stderr().is_terminal();
        let mut tick = interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut last = (Instant::now(), counters().deliveries);
        let mut lines = 0u64;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.cancelled() => break,
            }
            let c = counters();
            if mode == Mode::Worker {
                let line = serde_json::to_string(&c).unwrap_or_default();
                println!("{PROGRESS_PREFIX}{line}");
                continue;
            }
            let now = Instant::now();
            let rate = (c.deliveries - last.1) as f64 / now.duration_since(last.0).as_secs_f64().max(1e-3);
            last = (now, c.deliveries);
            let line = format!(
                "[{label} {:>5.0}s {:<6}] open {}  connected {}  failed {}  events/s {}  events {}  missing {}  dup {}  errors {}",
                now.saturating_duration_since(schedule.start).as_secs_f64(),
                phase(&schedule, now),
                group(c.open.max(0) as u64),
                group(c.connected),
                group(c.connect_failures),
                group(rate.round() as u64),
                group(c.deliveries),
                group(c.missing),
                group(c.duplicates),
                group(c.errors),
            );
            lines += 1;
            // On a terminal the line is rewritten in place; in a log, one line every five seconds is plenty.
            if terminal {
                eprint!("\r\x1b[2K{line}");
            } else if lines % 5 == 1 {
                eprintln!("{line}");
            }
            let _ = std::io::stderr().flush();
        }
        if terminal && mode == Mode::Human {
            eprintln!();
        }
    })
}

fn phase(schedule: &Schedule, now: Instant) -> &'static str {
    if now < schedule.start {
        "start"
    } else if now < schedule.ramp_end() {
        "ramp"
    } else if now < schedule.steady_end() {
        "steady"
    } else {
        "drain"
    }
}
