//! The command line: options common to every scenario, and one subcommand per scenario.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use serde::Serialize;

use crate::scenario::{broadcast, chat, connections, reconnect, votes};

/// Load-test harness for Majlis: real protocol clients against one or several nodes, with latency histograms,
/// delivery checks and the server's CPU and memory. Sends traffic to loopback addresses only (unless told
/// otherwise), and always stops by itself (--max-duration-secs, --max-connections).
#[derive(Parser, Debug)]
#[command(name = "majlis-loadtest", version, args_override_self = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Viewers watch a live broadcast while citizens ask and vote and a moderator approves, pins and answers.
    Broadcast {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        scenario: broadcast::Broadcast,
    },
    /// Live chats: citizens start chats, agents are routed them, both sides write with typing and receipts;
    /// message latency, routing, nothing lost or duplicated, and optionally a reconnect storm of the citizens.
    Chat {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        scenario: chat::Chat,
    },
    /// Opens and holds idle connections (each authenticated and in a room); connect rate, server memory each.
    Connections {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        scenario: connections::Connections,
    },
    /// Every viewer drops at once and reconnects with the documented backoff, resuming from its last seq.
    ReconnectStorm {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        scenario: reconnect::ReconnectStorm,
    },
    /// Many citizens upvote one question at once; time until the count is complete, and whether it is exact.
    Votes {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        scenario: votes::Votes,
    },
}

/// Options of every scenario.
#[derive(clap::Args, Debug, Clone, Serialize)]
pub struct Common {
    /// Server node: http://host:port or ws://host:port/ws. Repeat (or separate with commas) for a cluster;
    /// clients are spread over the nodes round-robin.
    #[arg(long = "url", env = "MAJLIS_LOADTEST_URL", value_delimiter = ',', default_value = "http://127.0.0.1:8080")]
    pub urls: Vec<String>,

    /// The servers' --jwt-secret: the harness mints its clients' tokens with it.
    #[arg(long, env = "MAJLIS_JWT_SECRET", hide_env_values = true)]
    #[serde(skip)]
    pub jwt_secret: String,

    /// Seconds over which clients connect.
    #[arg(long, env = "MAJLIS_LOADTEST_RAMP_UP_SECS", default_value_t = 5.0)]
    pub ramp_up_secs: f64,

    /// Seconds of the steady phase (the measured window) after the ramp-up.
    #[arg(long, env = "MAJLIS_LOADTEST_DURATION_SECS", default_value_t = 20.0)]
    pub duration_secs: f64,

    /// At most this many seconds after the steady phase for in-flight events to arrive before the final checks
    /// (the drain ends sooner once nothing has arrived for 1.5 s).
    #[arg(long, env = "MAJLIS_LOADTEST_DRAIN_SECS", default_value_t = 10.0)]
    pub drain_secs: f64,

    /// Hard bound on the whole run: every client stops by then, whatever happens.
    #[arg(long, env = "MAJLIS_LOADTEST_MAX_DURATION_SECS", default_value_t = 120)]
    pub max_duration_secs: u64,

    /// Hard bound on the connections one run may open (all processes together).
    #[arg(long, env = "MAJLIS_LOADTEST_MAX_CONNECTIONS", default_value_t = 60_000)]
    pub max_connections: u64,

    /// Generator processes: the binary re-executes itself this many times, each with a share of the clients
    /// (one process may hold about 19,000 connections here), and merges their reports.
    #[arg(long, env = "MAJLIS_LOADTEST_PROCESSES", default_value_t = 1)]
    pub processes: u32,

    /// Runtime worker threads per process (default: the number of cores).
    #[arg(long, env = "MAJLIS_LOADTEST_THREADS")]
    pub threads: Option<usize>,

    /// A server process to sample (CPU time, resident memory) from /proc; repeat for several nodes.
    #[arg(long = "server-pid", env = "MAJLIS_LOADTEST_SERVER_PIDS")]
    pub server_pids: Vec<u32>,

    /// Write the full report as JSON here (includes the latency plot).
    #[arg(long, env = "MAJLIS_LOADTEST_JSON")]
    pub json: Option<PathBuf>,

    /// Write the latency plot (SVG) here.
    #[arg(long, env = "MAJLIS_LOADTEST_SVG")]
    pub svg: Option<PathBuf>,

    /// Spread client source addresses over 127.0.0.1 ..= 127.0.0.N (0: let the kernel choose). Lets one
    /// machine exceed one address's ephemeral ports and the server's per-address connection limit.
    #[arg(long, env = "MAJLIS_LOADTEST_SOURCE_ADDRESSES", default_value_t = 250, value_parser = clap::value_parser!(u8).range(0..=254))]
    pub source_addresses: u8,

    /// WebSocket handshakes in flight at once, per process.
    #[arg(long, env = "MAJLIS_LOADTEST_CONNECT_CONCURRENCY", default_value_t = 256)]
    pub connect_concurrency: usize,

    /// Read buffer per client connection, in bytes (small keeps thousands of clients cheap); it grows for a
    /// larger frame, such as a big snapshot.
    #[arg(long, env = "MAJLIS_LOADTEST_READ_BUFFER_BYTES", default_value_t = 4096)]
    pub read_buffer_bytes: usize,

    /// Allow targets outside 127.0.0.0/8 and ::1. Never aim at a machine that isn't yours.
    #[arg(long, env = "MAJLIS_LOADTEST_ALLOW_NON_LOOPBACK")]
    pub allow_non_loopback: bool,

    /// No progress line.
    #[arg(long, env = "MAJLIS_LOADTEST_QUIET")]
    pub quiet: bool,

    /// (internal) Run as worker I of K: `I/K`.
    #[arg(long, hide = true)]
    pub worker: Option<String>,

    /// (internal) The shared start of the schedule, Unix milliseconds.
    #[arg(long, hide = true)]
    pub start_at_unix_ms: Option<u64>,
}

impl Common {
    /// Defaults for a run against `url` (as the command line would give them), for tests and library use.
    pub fn new(url: &str, jwt_secret: &str) -> Common {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            common: Common,
        }
        let mut common = Only::parse_from(["majlis-loadtest", "--jwt-secret", jwt_secret]).common;
        common.urls = vec![url.to_string()];
        common
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
