//! `/readyz` follows Redis within a second, both ways (a load balancer stops sending clients to a node that
//! can't serve them, and sends them again as soon as it can), and an expected 503 is not logged as an error.
//! Each test starts its own `redis-server` (see `majlis_tests::redis`).

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Once;
use std::time::{Duration, Instant};

use majlis_tests::redis::Cluster;
use majlis_tests::{TestServer, WAIT};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// How soon `/readyz` must follow Redis.
const WITHIN: Duration = Duration::from_secs(1);

/// ERROR events logged by this test binary (its servers run in-process).
static ERRORS: AtomicUsize = AtomicUsize::new(0);

struct CountErrors;

impl<S: Subscriber> Layer<S> for CountErrors {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if *event.metadata().level() == Level::ERROR {
            ERRORS.fetch_add(1, Relaxed);
        }
    }
}

fn count_errors() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let subscriber = tracing_subscriber::registry().with(CountErrors);
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber of this binary");
    });
}

/// How long until `/readyz` answers `status` (polled every 20 ms; bounded).
async fn until_readyz(node: &TestServer, status: u16) -> Duration {
    let started = Instant::now();
    loop {
        let got = node.http.get(node.url("/readyz")).send().await.map(|r| r.status().as_u16()).ok();
        if got == Some(status) {
            return started.elapsed();
        }
        assert!(started.elapsed() < WAIT, "/readyz never answered {status} (last {got:?})");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readyz_follows_a_stopped_and_restarted_redis_within_a_second_without_error_logs() {
    count_errors();
    let mut cluster = Cluster::start(1, |_| {}).await;
    let node = &cluster.nodes[0];
    until_readyz(node, 200).await;
    for round in 0..2 {
        cluster.redis.kill();
        let down = until_readyz(&cluster.nodes[0], 503).await;
        eprintln!("round {round}: not ready {down:?} after Redis stopped");
        assert!(down < WITHIN, "round {round}: 503 only {down:?} after Redis stopped");
        // Not ready is not an error: dozens of 503s while Redis is away, and no ERROR line for them. The second
        // outage lasts a while, so the reconnect attempts have backed off as far as they go.
        let outage = Instant::now();
        while outage.elapsed() < Duration::from_millis(if round == 0 { 200 } else { 2500 }) {
            until_readyz(&cluster.nodes[0], 503).await;
        }
        cluster.redis.restart();
        let up = until_readyz(&cluster.nodes[0], 200).await;
        eprintln!("round {round}: ready {up:?} after Redis answered again");
        assert!(up < WITHIN, "round {round}: 200 only {up:?} after Redis answered again");
    }
    assert_eq!(ERRORS.load(Relaxed), 0, "ERROR lines were logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readyz_follows_a_hung_redis_within_a_second() {
    count_errors();
    let cluster = Cluster::start(1, |_| {}).await;
    let node = &cluster.nodes[0];
    until_readyz(node, 200).await;
    // A Redis that accepts nothing and answers nothing (SIGSTOP): the check's own timeout notices.
    cluster.redis.pause();
    let down = until_readyz(node, 503).await;
    cluster.redis.resume();
    eprintln!("not ready {down:?} after Redis hung");
    assert!(down < WITHIN, "503 only {down:?} after Redis hung");
    let up = until_readyz(node, 200).await;
    eprintln!("ready {up:?} after Redis went on");
    assert!(up < WITHIN, "200 only {up:?} after Redis went on");
    assert_eq!(ERRORS.load(Relaxed), 0, "ERROR lines were logged");
}
