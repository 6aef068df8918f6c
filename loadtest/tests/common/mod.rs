//! What the harness's own tests share: a real server in this process (on 127.0.0.1:0) with its limits raised for
//! load, as the benchmarks run it, and a short run of a scenario that must pass every check.

use std::net::SocketAddr;
use std::sync::Arc;

use majlis_loadtest::report::summary;
use majlis_loadtest::{Common, Report, Scenario};
use majlis_server::{App, Config};
use tokio::sync::oneshot;

pub const SECRET: &str = "loadtest-test-secret";

/// A real server; stops when dropped.
pub struct Server {
    pub addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

/// A server whose limits on connections from one address and on commands are out of the way of a load test;
/// `tweak` raises what the test's scenario needs besides.
pub async fn server(tweak: impl FnOnce(&mut Config)) -> Server {
    let mut config = Config::defaults();
    config.listen = "127.0.0.1:0".parse().expect("literal address");
    config.jwt_secret = Some(SECRET.into());
    config.max_connections_per_ip = 100_000;
    config.commands_per_second = 1000;
    config.commands_burst = 1000;
    tweak(&mut config);
    let listener = tokio::net::TcpListener::bind(config.listen).await.expect("bind port 0");
    let addr = listener.local_addr().expect("local address");
    let app = App::new(config, format!("http://{addr}")).expect("app");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(majlis_server::run(listener, Arc::clone(&app), async move {
        let _ = stopped.await;
    }));
    Server { addr, _stop: stop }
}

/// A short, quiet run against `server`: 1 s of ramp-up, 2 s measured, 3 s to drain, 30 s at the most.
pub fn options(server: &Server) -> Common {
    let mut common = Common::new(&format!("http://{}", server.addr), SECRET);
    common.ramp_up_secs = 1.0;
    common.duration_secs = 2.0;
    common.drain_secs = 3.0;
    common.max_duration_secs = 30;
    common.quiet = true;
    common
}

/// Runs `scenario` and prints its summary; every check must pass, without a warning.
pub async fn run(common: Common, scenario: impl Scenario) -> Report {
    let report = majlis_loadtest::run(common, scenario, &[]).await.expect("the run completes");
    println!("{}", summary(&report));
    assert!(report.all_checks_pass(), "a check failed:{}", summary(&report));
    assert!(report.warnings.is_empty(), "warnings: {:?}", report.warnings);
    report
}
