//! A private `redis-server` for one test: its own free port and temporary directory (never a shared instance),
//! AOF with fsync on every write (so a restart loses nothing), killed when dropped. For failure drills it can be
//! paused (SIGSTOP), killed (SIGKILL), and restarted from an older copy of its AOF, as after a machine crash
//! that lost the last writes. [`NodeProcess`] is a Majlis node on it in a process of its own, to be killed.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use majlis_server::auth::{Role, TokenKeys, User};
use tempfile::TempDir;

const MISSING: &str = "redis-server not found on PATH: apt-get install redis-server";

pub struct RedisServer {
    pub port: u16,
    dir: TempDir,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a fresh Redis and waits until it answers PING.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory for redis");
        let port = free_port();
        let mut server = RedisServer { port, dir, child: None };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server at once (SIGKILL: no shutdown save; the AOF is all that survives).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// (Re)starts the server on the same port and directory, and waits until it answers PING.
    pub fn restart(&mut self) {
        self.kill();
        self.child = Some(spawn(self.port, self.dir.path()));
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.command(&["PING"]).as_deref() != Some("+PONG") {
            assert!(Instant::now() < deadline, "redis-server on port {} did not answer PING", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends one command and returns the first line of the reply (e.g. `+OK`, `:2`), `None` if unreachable.
    pub fn command(&self, args: &[&str]) -> Option<String> {
        command(self.port, args).map(|(line, _)| line)
    }

    /// Sends one command whose reply is a bulk string (e.g. `GET`), and returns it (`None` for nil).
    pub fn bulk(&self, args: &[&str]) -> Option<String> {
        command(self.port, args).and_then(|(_, bulk)| bulk)
    }

    /// The keys matching `pattern` (`KEYS`: fine for a test's small Redis), in no particular order.
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        keys(self.port, pattern).unwrap_or_else(|| panic!("KEYS {pattern} on port {}", self.port))
    }

    /// The generation the nodes follow (what `mj:instance` names after the run_id), if any.
    pub fn generation(&self) -> Option<String> {
        self.bulk(&["GET", "mj:instance"])?.split(' ').nth(1).map(str::to_string)
    }

    /// A copy of the append-only file as it is now (Redis 7: the `appendonlydir/` of a manifest and its parts).
    /// Redis keeps writing meanwhile: a command cut off at the copy's end is dropped when it loads, as after a
    /// crash.
    pub fn copy_aof(&self) -> AofCopy {
        let copy = tempfile::tempdir().expect("temporary directory for the AOF copy");
        copy_dir(&self.dir.path().join(AOF_DIR), &copy.path().join(AOF_DIR));
        AofCopy(copy)
    }

    /// Kills the server (SIGKILL), puts `copy` in place of its append-only file, and starts it again: Redis
    /// comes back without every write after the copy, as after a machine crash with `appendfsync everysec`.
    pub fn restart_from(&mut self, copy: &AofCopy) {
        self.kill();
        let live = self.dir.path().join(AOF_DIR);
        std::fs::remove_dir_all(&live).expect("remove the append-only directory");
        copy_dir(&copy.0.path().join(AOF_DIR), &live);
        self.restart();
    }

    /// Stops the process (SIGSTOP): connections stay open, nothing answers.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused process go on (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("redis-server is running").id();
        let status = Command::new("kill").args([signal, &pid.to_string()]).status().expect("run kill");
        assert!(status.success(), "kill {signal} {pid}");
    }
}

/// Where Redis 7 keeps its multi-part append-only file, under `--dir`.
const AOF_DIR: &str = "appendonlydir";

/// An older copy of a server's append-only file (see [`RedisServer::copy_aof`]).
pub struct AofCopy(TempDir);

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy's directory");
    for entry in std::fs::read_dir(from).expect("read the append-only directory") {
        let entry = entry.expect("directory entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy an append-only file");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn(port: u16, dir: &Path) -> Child {
    let result = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--dir"])
        .arg(dir)
        .args(["--save", "", "--appendonly", "yes", "--appendfsync", "always", "--protected-mode", "no"])
        // No rewrite mid-test: a copy of the append-only file must be one consistent set of parts.
        .args(["--auto-aof-rewrite-percentage", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    match result {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!("{MISSING}"),
        Err(e) => panic!("starting redis-server: {e}"),
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// The reply's first line, and for a bulk string its value.
fn command(port: u16, args: &[&str]) -> Option<(String, Option<String>)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.write_all(request.as_bytes()).ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let line = line.trim_end().to_string();
    let bulk = match line.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()) {
        Some(len) => {
            let mut value = vec![0; len + 2];
            std::io::Read::read_exact(&mut reader, &mut value).ok()?;
            value.truncate(len);
            String::from_utf8(value).ok()
        }
        None => None,
    };
    Some((line, bulk))
}

/// `KEYS pattern`: an array of bulk strings.
fn keys(port: u16, pattern: &str) -> Option<Vec<String>> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!("*2\r\n$4\r\nKEYS\r\n${}\r\n{pattern}\r\n", pattern.len());
    stream.write_all(request.as_bytes()).ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let count: usize = line.trim_end().strip_prefix('*')?.parse().ok()?;
    let mut found = Vec::with_capacity(count);
    for _ in 0..count {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let len: usize = line.trim_end().strip_prefix('$')?.parse().ok()?;
        let mut value = vec![0; len + 2];
        std::io::Read::read_exact(&mut reader, &mut value).ok()?;
        value.truncate(len);
        found.push(String::from_utf8(value).ok()?);
    }
    Some(found)
}

/// Several in-process nodes on one private Redis, as behind a load balancer.
pub struct Cluster {
    pub nodes: Vec<crate::TestServer>,
    pub redis: RedisServer,
}

impl Cluster {
    /// `n` nodes; `tweak` adjusts each node's configuration (the Redis URL is set already).
    pub async fn start(n: usize, tweak: impl Fn(&mut majlis_server::Config)) -> Self {
        let redis = RedisServer::start();
        let mut nodes = Vec::with_capacity(n);
        for _ in 0..n {
            let url = redis.url();
            nodes.push(
                crate::TestServer::start_with(|c| {
                    c.redis_url = Some(url);
                    tweak(c);
                })
                .await,
            );
        }
        Cluster { nodes, redis }
    }

    /// A new broadcast (created through the first node); its id.
    pub async fn broadcast(&self) -> u64 {
        crate::id_of(&self.nodes[0].create_broadcast(serde_json::json!({})).await)
    }

    /// On every node, a citizen in the broadcast's public room and a moderator in its moderation room.
    pub async fn watchers(&self, broadcast: u64) -> Vec<(crate::Client, crate::Client)> {
        let mut watchers = Vec::with_capacity(self.nodes.len());
        for node in &self.nodes {
            let mut citizen = node.citizen("Watcher").await;
            citizen.join(&format!("broadcast:{broadcast}")).await;
            let mut moderator = node.moderator().await;
            moderator.join(&format!("broadcast:{broadcast}:moderation")).await;
            watchers.push((citizen, moderator));
        }
        watchers
    }
}

/// How a test binary tells the copy of itself it starts as a node (see [`NodeProcess`]) which Redis and port to use.
const NODE_REDIS: &str = "MAJLIS_NODE_REDIS";
const NODE_PORT: &str = "MAJLIS_NODE_PORT";

/// The body of the `node_process` "test" that a binary using [`NodeProcess`] must have: a Majlis node (on the
/// test [`SECRET`](crate::SECRET), with [`generous`](crate::generous) limits and then `tweak`) on the Redis and
/// port its parent names; nothing when run as an ordinary test, without them.
pub fn run_node_process(tweak: impl FnOnce(&mut majlis_server::Config)) {
    let (Ok(redis), Ok(port)) = (std::env::var(NODE_REDIS), std::env::var(NODE_PORT)) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let mut config = majlis_server::Config::defaults();
        config.listen = format!("127.0.0.1:{port}").parse().expect("address");
        config.jwt_secret = Some(crate::SECRET.into());
        config.redis_url = Some(redis);
        crate::generous(&mut config);
        tweak(&mut config);
        let listener = tokio::net::TcpListener::bind(config.listen).await.expect("bind");
        let app = majlis_server::App::new(config, format!("http://127.0.0.1:{port}")).expect("app");
        majlis_server::run(listener, app, std::future::pending()).await.expect("serve");
    });
}

/// A node in its own process on `redis`, so that a test can kill it with SIGKILL as a crash would (and does when
/// it is dropped). The process is the test binary run again as its `node_process` test (see [`run_node_process`]),
/// so no other binary must be found.
pub struct NodeProcess {
    pub port: u16,
    child: Child,
}

impl NodeProcess {
    /// Starts the process; [`NodeProcess::wait_ready`] waits until it serves.
    pub fn start(redis: &RedisServer) -> Self {
        let port = free_port();
        let child = Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", "node_process", "--nocapture", "--test-threads=1"])
            .env(NODE_REDIS, redis.url())
            .env(NODE_PORT, port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start a node process");
        NodeProcess { port, child }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    /// Waits until `/readyz` says ready (the node answers and Redis answered it).
    pub async fn wait_ready(&self) {
        let deadline = Instant::now() + crate::WAIT;
        let http = reqwest::Client::new();
        loop {
            let ready = http.get(self.url("/readyz")).send().await;
            if ready.is_ok_and(|r| r.status() == 200) {
                return;
            }
            assert!(Instant::now() < deadline, "node on port {} never became ready", self.port);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the process at once (SIGKILL: no shutdown, open connections just drop).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A token for `sub` that every [`NodeProcess`] accepts (it is signed with the test secret, as theirs is).
pub fn node_token(role: Role, sub: &str, name: &str) -> String {
    let user = User { sub: sub.into(), name: name.into(), role };
    TokenKeys::new(crate::SECRET.as_bytes()).mint(&user, 3600).expect("mint").0
}
