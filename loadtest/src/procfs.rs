//! CPU time and memory of a process, from /proc (Linux).

use std::fs;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// The kernel reports CPU time in clock ticks of USER_HZ, which is 100 on every Linux this runs on.
const TICKS_PER_SEC: f64 = 100.0;

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct ProcSample {
    /// User + system CPU time of every thread, in seconds.
    pub cpu_secs: f64,
    /// Resident set size now.
    pub rss_bytes: u64,
    /// The kernel's high-water mark of the resident set.
    pub hwm_bytes: u64,
}

/// Samples process `pid` (`None`: this process).
pub fn sample(pid: Option<u32>) -> Result<ProcSample> {
    let dir = match pid {
        Some(pid) => format!("/proc/{pid}"),
        None => "/proc/self".to_string(),
    };
    let stat = fs::read_to_string(format!("{dir}/stat")).with_context(|| format!("reading {dir}/stat"))?;
    let status = fs::read_to_string(format!("{dir}/status")).with_context(|| format!("reading {dir}/status"))?;
    Ok(ProcSample {
        cpu_secs: cpu_secs(&stat).context("parsing /proc stat")?,
        rss_bytes: kib(&status, "VmRSS:").unwrap_or(0) * 1024,
        hwm_bytes: kib(&status, "VmHWM:").unwrap_or(0) * 1024,
    })
}

/// utime + stime (fields 14 and 15); the command name before them may hold spaces, so count from its `)`.
fn cpu_secs(stat: &str) -> Option<f64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / TICKS_PER_SEC)
}

fn kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// The soft limit on open files of this process.
pub fn open_files_limit() -> Option<u64> {
    let limits = fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_can_be_sampled() {
        let s = sample(None).expect("own /proc");
        assert!(s.rss_bytes > 0 && s.hwm_bytes >= s.rss_bytes);
        assert!(open_files_limit().is_some());
        assert_eq!(cpu_secs("1 (a b) S 1 2 3 4 5 6 7 8 9 10 250 50 0"), Some(3.0));
    }
}

/// The whole machine's CPU time so far, in seconds: busy (everything but idle and iowait), of which softirq
/// (the kernel's network processing, which on loopback is charged to no process when it runs in ksoftirqd).
#[derive(Debug, Clone, Copy, Default)]
pub struct MachineCpu {
    pub busy_secs: f64,
    pub softirq_secs: f64,
}

pub fn machine_cpu() -> Option<MachineCpu> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal ...
    let (idle, iowait) = (*v.get(3)?, *v.get(4)?);
    let total: u64 = v.iter().take(8).sum();
    Some(MachineCpu {
        busy_secs: (total - idle - iowait) as f64 / TICKS_PER_SEC,
        softirq_secs: *v.get(6)? as f64 / TICKS_PER_SEC,
    })
}
