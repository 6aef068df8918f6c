//! Operator configuration. Every option is a flag with an environment variable; `majlis --help` is the manual.

mod chat;

use std::net::SocketAddr;
use std::path::PathBuf;

pub use chat::{ChatConfig, PresenceError, PresenceLeases};

/// How `majlis serve` runs. Every limit the server enforces is named here with its default.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address to listen on. Use 0.0.0.0:8080 to accept connections from other machines.
    #[arg(long, env = "MAJLIS_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Public base URL of this service (used in printed links and QR codes), e.g. https://majlis.example.gov.
    /// Defaults to http://<listen address>.
    #[arg(long, env = "MAJLIS_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Sites that may show the live-chat widget's page (`/chat.html`) in a frame: space-separated origins for
    /// the Content-Security-Policy `frame-ancestors`, e.g. "https://www.housing.gov.bh https://eservices.gov.bh".
    /// The default "*" lets any site embed the widget; "'none'" forbids it. Every other page refuses framing.
    #[arg(long, env = "MAJLIS_CHAT_EMBED_ORIGINS", default_value = "*", value_parser = parse_embed_origins)]
    pub chat_embed_origins: String,

    /// The pages' language for a reader who has not chosen one and whose browser asks for neither Arabic nor
    /// English (nor, for the chat widget, its host page): "ar" or "en". A reader's own choice and the browser's
    /// languages come first.
    #[arg(long, env = "MAJLIS_PAGE_DEFAULT_LANG", default_value = "ar", value_parser = ["ar", "en"])]
    pub page_default_lang: String,

    /// Secret that signs tokens (HS256). If unset, a random one is generated at start, so tokens die with the
    /// process; set it for several nodes or for `majlis token`.
    #[arg(long, env = "MAJLIS_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Lifetime of anonymous citizen sessions from POST /api/session, in hours.
    #[arg(long, env = "MAJLIS_SESSION_TTL_HOURS", default_value_t = 24 * 30)]
    pub session_ttl_hours: u64,

    /// Log format: "human" or "json".
    #[arg(long, env = "MAJLIS_LOG_FORMAT", default_value = "human", value_parser = ["human", "json"])]
    pub log_format: String,

    /// Keyword filter: a UTF-8 file with one word or phrase per line (# starts a comment). Questions that
    /// contain one are held for review even without pre-moderation. Defaults to the built-in Arabic and
    /// English list.
    #[arg(long, env = "MAJLIS_KEYWORD_FILE")]
    pub keyword_file: Option<PathBuf>,

    /// Largest WebSocket frame the server reads, in bytes; longer frames are answered `too_large`. Frames above
    /// four times this close the connection (1009).
    #[arg(long, env = "MAJLIS_MAX_MESSAGE_BYTES", default_value_t = 16 * 1024)]
    pub max_message_bytes: usize,

    /// Most WebSocket connections this node holds at once; further upgrades get 503.
    #[arg(long, env = "MAJLIS_MAX_CONNECTIONS", default_value_t = 100_000)]
    pub max_connections: usize,

    /// Most WebSocket connections from one client address; further upgrades get 429.
    #[arg(long, env = "MAJLIS_MAX_CONNECTIONS_PER_IP", default_value_t = 200)]
    pub max_connections_per_ip: u32,

    /// Take the client address from X-Forwarded-For (only behind a trusted load balancer).
    #[arg(long, env = "MAJLIS_TRUST_FORWARDED_FOR", default_value_t = false)]
    pub trust_forwarded_for: bool,

    /// Threads that run connections and commands; 0: one per CPU core. Lower it when several nodes share a
    /// machine (e.g. 1 each for three nodes on two cores), so they don't preempt each other mid-fan-out.
    #[arg(long, env = "MAJLIS_WORKER_THREADS", default_value_t = 0)]
    pub worker_threads: usize,

    /// Room events (and presence frames) queued per connection before it counts as a slow consumer and is
    /// closed (4008). The connection's own replies don't count here (see --reply-queue).
    #[arg(long, env = "MAJLIS_OUTBOUND_QUEUE", default_value_t = 1024)]
    pub outbound_queue: usize,

    /// Most milliseconds a viewer may fall behind a room's newest event before it is shed (closed 4008) and
    /// catches up by reconnecting with `since`: a connection whose oldest unwritten room event is older than
    /// this is a slow consumer, whatever the event rate. In Redis mode a node also measures the age of every
    /// event it dispatches (by Redis' clock) and, while that is over this limit and not shrinking, closes a
    /// growing share of its largest rooms' local viewers; clients that only send commands are never shed.
    #[arg(long, env = "MAJLIS_MAX_LAG_MS", default_value_t = 3000)]
    pub max_lag_ms: u64,

    /// Kernel send buffer of each client connection, in bytes (0: the system's autotuning, which lets it grow
    /// to megabytes). What sits there is already written as far as the server can tell, so it is lag that
    /// --max-lag-ms can't see, and a slow consumer must read through it to reach its close frame: keep it
    /// small. The system may double it for its own bookkeeping.
    #[arg(long, env = "MAJLIS_SOCKET_SEND_BUFFER_BYTES", default_value_t = 256 * 1024)]
    pub socket_send_buffer_bytes: usize,

    /// Replies (acks and errors) and other frames of a connection's own (snapshots, pings, pongs) that may
    /// wait to be written before the server stops reading that connection's commands until the client reads.
    /// They never close the connection: a client can only have as many unanswered replies as commands it
    /// sent, and room events have their own bounds (--outbound-queue, --max-lag-ms).
    #[arg(long, env = "MAJLIS_REPLY_QUEUE", default_value_t = 64)]
    pub reply_queue: usize,

    /// When the server closes a connection, how long, in milliseconds, it gives the frames already in flight,
    /// the replies still queued and the close frame to reach the client, and the client to close its end;
    /// then the socket is dropped. A slow consumer that resumes reading within it gets everything in flight
    /// and then its 4008.
    #[arg(long, env = "MAJLIS_CLOSE_LINGER_MS", default_value_t = 5000)]
    pub close_linger_ms: u64,

    /// When the server closes a connection, most bytes of queued replies (acks, errors, snapshots) it still
    /// writes before the close frame; room events still queued are dropped (a client resumes them with
    /// `since`). Replies beyond it are not sent.
    #[arg(long, env = "MAJLIS_CLOSE_FLUSH_BYTES", default_value_t = 1024 * 1024)]
    pub close_flush_bytes: usize,

    /// Least milliseconds between two writes to one connection (0: write as soon as anything is queued).
    /// Frames that arrive sooner wait and go out together in one write, so a viewer of a busy broadcast costs
    /// one system call per interval instead of one per event; it adds at most this much latency, and only to
    /// a connection that was written to less than this long ago. Raise it (e.g. 30) when CPU, not the
    /// network, limits a node with a large, busy audience.
    #[arg(long, env = "MAJLIS_WRITE_INTERVAL_MS", default_value_t = 0)]
    pub write_interval_ms: u64,

    /// Most rooms one connection may join at once. An agent's console is in the desk, their own stream and the
    /// staff room of every chat they hold (up to --chat-max-agent-cap, 20), so keep it above that.
    #[arg(long, env = "MAJLIS_MAX_ROOMS_PER_CONNECTION", default_value_t = 32)]
    pub max_rooms_per_connection: usize,

    /// Events kept per room for reconnect recovery.
    #[arg(long, env = "MAJLIS_HISTORY_LEN", default_value_t = 1000)]
    pub history_len: usize,

    /// Events kept per person's own stream (`user:<sub>`) for reconnect recovery.
    #[arg(long, env = "MAJLIS_PERSONAL_HISTORY_LEN", default_value_t = 100)]
    pub personal_history_len: usize,

    /// A person's own stream is forgotten this many hours after it was last written or joined; its snapshot
    /// is rebuilt from the broadcasts (and chats), so only an older `since` falls back to a snapshot.
    #[arg(long, env = "MAJLIS_PERSONAL_RETENTION_HOURS", default_value_t = 24)]
    pub personal_retention_hours: u64,

    /// Default maximum question length (characters) of a new broadcast.
    #[arg(long, env = "MAJLIS_DEFAULT_MAX_QUESTION_LEN", default_value_t = 300)]
    pub default_max_question_len: usize,

    /// Upper bound a moderator may set as a broadcast's maximum question length.
    #[arg(long, env = "MAJLIS_MAX_QUESTION_LEN_LIMIT", default_value_t = 2000)]
    pub max_question_len_limit: usize,

    /// Most questions one broadcast accepts (a bound on memory, not a rate).
    #[arg(long, env = "MAJLIS_MAX_QUESTIONS_PER_BROADCAST", default_value_t = 50_000)]
    pub max_questions_per_broadcast: usize,

    /// Most tags on one question.
    #[arg(long, env = "MAJLIS_MAX_TAGS", default_value_t = 10)]
    pub max_tags: usize,

    /// Questions one citizen may ask per minute (sustained).
    #[arg(long, env = "MAJLIS_QUESTIONS_PER_MINUTE", default_value_t = 5)]
    pub questions_per_minute: u32,

    /// Questions one citizen may ask in a burst.
    #[arg(long, env = "MAJLIS_QUESTIONS_BURST", default_value_t = 3)]
    pub questions_burst: u32,

    /// Votes one user may cast per second (sustained).
    #[arg(long, env = "MAJLIS_VOTES_PER_SECOND", default_value_t = 10)]
    pub votes_per_second: u32,

    /// Votes one user may cast in a burst.
    #[arg(long, env = "MAJLIS_VOTES_BURST", default_value_t = 20)]
    pub votes_burst: u32,

    /// Commands of any kind one user may send per second (sustained).
    #[arg(long, env = "MAJLIS_COMMANDS_PER_SECOND", default_value_t = 30)]
    pub commands_per_second: u32,

    /// Commands of any kind one user may send in a burst.
    #[arg(long, env = "MAJLIS_COMMANDS_BURST", default_value_t = 60)]
    pub commands_burst: u32,

    /// Anonymous sessions (POST /api/session) one client address may create per minute.
    #[arg(long, env = "MAJLIS_SESSIONS_PER_MINUTE", default_value_t = 20)]
    pub sessions_per_minute: u32,

    /// Rate-limiter entries idle this long are evicted, keeping limiter memory bounded.
    #[arg(long, env = "MAJLIS_LIMITER_IDLE_SECS", default_value_t = 300)]
    pub limiter_idle_secs: u64,

    /// Consecutive bad frames after which a connection is closed for protocol abuse (1008): the last one is
    /// answered like the others, then the connection is closed.
    #[arg(long, env = "MAJLIS_MAX_BAD_FRAMES", default_value_t = 20)]
    pub max_bad_frames: u32,

    /// Seconds between server pings.
    #[arg(long, env = "MAJLIS_PING_INTERVAL_SECS", default_value_t = 20)]
    pub ping_interval_secs: u64,

    /// A connection silent (no pong, no frame) this long is closed (4009).
    #[arg(long, env = "MAJLIS_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    pub idle_timeout_secs: u64,

    /// Vote counts are published to viewers at most once per this many milliseconds per question (0: after
    /// every vote). The voter's own ack always carries the exact count at once.
    #[arg(long, env = "MAJLIS_VOTE_FLUSH_MS", default_value_t = 200)]
    pub vote_flush_ms: u64,

    /// Most vote-count events one broadcast publishes per flush, so a room's viewers get at most this many per
    /// `--vote-flush-ms` however many questions are being voted on (default: at most 100 a second). Counts
    /// beyond it wait for the next flush, those that changed first going first.
    #[arg(long, env = "MAJLIS_VOTE_EVENTS_PER_FLUSH", default_value_t = 20)]
    pub vote_events_per_flush: usize,

    /// Milliseconds between participant-count updates per room.
    #[arg(long, env = "MAJLIS_PRESENCE_INTERVAL_MS", default_value_t = 2000)]
    pub presence_interval_ms: u64,

    /// On SIGTERM or Ctrl-C, how long to wait for connections to drain before exiting anyway.
    #[arg(long, env = "MAJLIS_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,

    /// Reconnect hint sent to clients in `server_shutdown`, in milliseconds.
    #[arg(long, env = "MAJLIS_RECONNECT_HINT_MS", default_value_t = 1000)]
    pub reconnect_hint_ms: u64,

    /// Redis URL, e.g. redis://:password@redis:6379/0. Setting it runs this node in Redis mode: broadcasts,
    /// questions, votes and room histories live in Redis and events travel through Redis pub/sub, so several
    /// nodes behind a load balancer act as one. Unset, the node keeps everything in memory (single node).
    #[arg(long, env = "MAJLIS_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// In Redis mode, how long a command may wait for Redis before it is answered `unavailable`, in
    /// milliseconds. Also bounds the reconnect attempts' connect time.
    #[arg(long, env = "MAJLIS_REDIS_TIMEOUT_MS", default_value_t = 2000)]
    pub redis_timeout_ms: u64,

    /// In Redis mode, milliseconds between the node's checks of Redis (readiness, the generation fence, the
    /// clock offset used to measure lag). A check not answered within this long counts as Redis unreachable,
    /// and lost connections are retried at least this often, so `/readyz` follows Redis within about twice
    /// this, both ways.
    #[arg(long, env = "MAJLIS_REDIS_HEALTH_MS", default_value_t = 250)]
    pub redis_health_ms: u64,

    /// In Redis mode, use sharded pub/sub (SSUBSCRIBE/SPUBLISH, Redis 7+) so that on a Redis Cluster each
    /// room's events stay on the shard that owns its keys instead of being broadcast to every shard. Keys and
    /// channels of one broadcast share a hash tag, so they land on one shard. Off: plain SUBSCRIBE/PUBLISH,
    /// which is what a single Redis (with or without replicas) needs.
    #[arg(long, env = "MAJLIS_REDIS_SHARDED_PUBSUB", default_value_t = false)]
    pub redis_sharded_pubsub: bool,

    /// WebSocket read buffer per connection, in bytes. Clients send small commands, and an idle connection
    /// holds this buffer all its life: small keeps a 20,000-viewer broadcast cheap (a larger frame still
    /// arrives, in several reads).
    #[arg(long, env = "MAJLIS_WS_READ_BUFFER_BYTES", default_value_t = 512)]
    pub ws_read_buffer_bytes: usize,

    /// The live chat's limits, rate limits and consent line (`--chat-…`).
    #[command(flatten)]
    pub chat: ChatConfig,
}

impl Config {
    /// The defaults, as `majlis serve` with no flags would have them (tests start from this).
    pub fn defaults() -> Self {
        use clap::{Args, Command, FromArgMatches};
        let matches = Config::augment_args(Command::new("majlis"))
            .no_binary_name(true)
            .get_matches_from(std::iter::empty::<String>());
        Config::from_arg_matches(&matches).expect("BUG: defaults always parse")
    }

    pub fn public_url(&self, bound: SocketAddr) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{bound}"),
        }
    }
}

/// A `frame-ancestors` source list: origins, `*` or `'none'`/`'self'`, separated by spaces; nothing that could
/// end the directive or the header.
fn parse_embed_origins(value: &str) -> Result<String, String> {
    let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
    if value.is_empty() {
        return Err("give at least one origin, \"*\" or \"'none'\"".into());
    }
    if let Some(c) = value.chars().find(|c| !(c.is_ascii_graphic() || *c == ' ') || matches!(c, ';' | ',')) {
        return Err(format!("{c:?} can't be part of an origin list"));
    }
    Ok(value)
}
