//! A real Majlis server on port 0 for one test, in memory or on a Redis of its own.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use majlis_server::auth::{Role, User};
use majlis_server::{App, Config};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::{redis, Client, SECRET, WAIT};

pub struct TestServer {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    pub http: reqwest::Client,
    /// The server's own Redis when the suite runs in Redis mode (`MAJLIS_TEST_REDIS=1`).
    _redis: Option<redis::RedisServer>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a server with the default configuration as changed by `tweak`.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config::defaults();
        config.listen = "127.0.0.1:0".parse().expect("BUG: literal address");
        config.jwt_secret = Some(SECRET.into());
        tweak(&mut config);
        let own_redis = (config.redis_url.is_none() && redis_mode()).then(redis::RedisServer::start);
        if let Some(r) = &own_redis {
            config.redis_url = Some(r.url());
        }
        let listener = tokio::net::TcpListener::bind(config.listen).await.expect("bind port 0");
        let addr = listener.local_addr().expect("local addr");
        let app = App::new(config, format!("http://{addr}")).expect("app");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(majlis_server::run(listener, Arc::clone(&app), async move {
            let _ = stopped.await;
        }));
        let server = TestServer {
            addr,
            app,
            stop: Some(stop),
            task: Some(task),
            http: reqwest::Client::new(),
            _redis: own_redis,
        };
        server.wait_ready().await;
        server
    }

    /// Waits until `/readyz` says ready (in Redis mode: Redis answered).
    pub async fn wait_ready(&self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !self.app.is_ready() {
            assert!(tokio::time::Instant::now() < deadline, "server not ready within {WAIT:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    pub fn token(&self, role: Role, name: &str) -> String {
        let sub = format!("{}-{}", name.to_lowercase().replace(' ', "-"), rand_suffix());
        let user = User { sub, name: name.into(), role };
        self.app.tokens.mint(&user, 3600).expect("mint").0
    }

    /// A connected, authenticated client with a fresh identity of `role`.
    pub async fn client(&self, role: Role, name: &str) -> Client {
        let mut client = Client::connect(&self.ws_url()).await;
        client.ok(json!({"type": "auth", "token": self.token(role, name)})).await;
        client
    }

    pub async fn citizen(&self, name: &str) -> Client {
        self.client(Role::Citizen, name).await
    }

    pub async fn moderator(&self) -> Client {
        self.client(Role::Moderator, "Mod").await
    }

    /// Creates a broadcast through REST as a moderator; `settings` are merged over a default title.
    pub async fn create_broadcast(&self, settings: Value) -> Value {
        let mut body = json!({"title": {"en": "Housing programme Q&A", "ar": "أسئلة برنامج الإسكان"}});
        if let (Some(b), Some(s)) = (body.as_object_mut(), settings.as_object()) {
            for (k, v) in s {
                b.insert(k.clone(), v.clone());
            }
        }
        let response = self
            .http
            .post(self.url("/api/broadcasts"))
            .bearer_auth(self.token(Role::Moderator, "Mod"))
            .json(&body)
            .send()
            .await
            .expect("POST /api/broadcasts");
        assert_eq!(response.status(), 201, "create broadcast");
        response.json().await.expect("broadcast json")
    }

    pub async fn set_state(&self, broadcast: u64, state: &str) -> Value {
        let response = self
            .http
            .patch(self.url(&format!("/api/broadcasts/{broadcast}")))
            .bearer_auth(self.token(Role::Moderator, "Mod"))
            .json(&json!({"state": state}))
            .send()
            .await
            .expect("PATCH broadcast");
        assert!(response.status().is_success(), "set state {state}: {}", response.status());
        response.json().await.expect("json")
    }

    pub async fn get_json(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut request = self.http.get(self.url(path));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        let response = request.send().await.expect("GET");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Stops the server as SIGTERM would, and waits for it to finish draining.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(30), task).await.expect("server stops in time").ok();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // A safety net for bugs no assertion looks for: an internal error is logged and the client gets an
        // opaque `internal`, which a test may well not notice (every Redis-mode command once logged one). The
        // count is per process, so the test that fails here may not be the one that caused it.
        let internal = majlis_server::error::internal_errors();
        if internal > 0 && !std::thread::panicking() {
            panic!("{internal} internal error(s) were logged in this test binary; none is expected");
        }
    }
}

/// Whether test servers run in Redis mode, each with its own Redis: with `MAJLIS_TEST_REDIS=1`, and always in
/// the `shared_in_redis` test binary, which runs the shared behaviour tests again so both modes pass the same.
fn redis_mode() -> bool {
    let in_redis_binary = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.file_name()?.to_str().map(|name| name.starts_with("shared_in_redis")))
        .unwrap_or(false);
    in_redis_binary || std::env::var("MAJLIS_TEST_REDIS").is_ok_and(|v| v == "1")
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{}", NEXT.fetch_add(1, Ordering::Relaxed))
}
