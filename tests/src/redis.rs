//! A private `redis-server` for one test: its own free port and temporary directory (never a shared instance),
//! AOF with fsync on every write (so a restart loses nothing), killed when dropped.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
        while command(self.port, &["PING"]).as_deref() != Some("+PONG") {
            assert!(Instant::now() < deadline, "redis-server on port {} did not answer PING", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends one command and returns the first line of the reply (e.g. `+OK`, `:2`), `None` if unreachable.
    pub fn command(&self, args: &[&str]) -> Option<String> {
        command(self.port, args)
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

fn command(port: u16, args: &[&str]) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.write_all(request.as_bytes()).ok()?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).ok()?;
    Some(line.trim_end().to_string())
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
