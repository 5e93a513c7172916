//! The ops endpoints over real HTTP: health, readiness naming the failing check, metrics,
//! and a graceful stop.

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use service_kit::{Readiness, Tasks, serve};
use telemetry::Metrics;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

async fn start(
    readiness: Readiness,
    metrics: Metrics,
) -> (
    String,
    CancellationToken,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let shutdown = CancellationToken::new();
    let routes = axum::Router::new().route("/hello", axum::routing::get(|| async { "hi" }));
    let server = tokio::spawn(serve(
        listener,
        routes,
        readiness,
        metrics,
        shutdown.clone(),
    ));
    (base, shutdown, server)
}

#[tokio::test]
async fn readyz_names_the_failing_check_and_healthz_stays_ok() {
    let readiness = Readiness::new()
        .with_check("broker", || async { true })
        .with_check("database", || async { false });
    let (base, shutdown, server) = start(readiness, Metrics::new()).await;
    let client = reqwest::Client::new();

    let health = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);

    let ready = client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.expect("json");
    assert_eq!(body["checks"]["database"], "failing");
    assert_eq!(body["checks"]["broker"], "ok");

    let own = client
        .get(format!("{base}/hello"))
        .send()
        .await
        .expect("own route");
    assert_eq!(own.text().await.expect("text"), "hi");

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("stops")
        .expect("join")
        .expect("serve");
}

#[tokio::test]
async fn readyz_is_200_when_every_check_passes_and_metrics_render() {
    let metrics = Metrics::new();
    let counter = metrics.register("widgets", "Widgets made", Counter::<u64>::default());
    counter.inc();
    let readiness = Readiness::new().with_check("broker", || async { true });
    let (base, shutdown, server) = start(readiness, metrics).await;
    let client = reqwest::Client::new();
    let ready = client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(text.contains("contactsync_widgets_total 1"), "{text}");
    // The readiness request above was counted under its route template.
    assert!(
        text.contains(
            r#"contactsync_http_requests_total{method="GET",route="/readyz",status="200"} 1"#
        ),
        "{text}"
    );
    shutdown.cancel();
    server.await.expect("join").expect("serve");
}

#[tokio::test]
async fn a_failing_task_stops_its_siblings_and_is_reported() {
    let outer = CancellationToken::new();
    let mut tasks = Tasks::new(&outer);
    let sibling_stop = tasks.shutdown();
    tasks.spawn("sibling", async move {
        sibling_stop.cancelled().await;
        Ok::<(), String>(())
    });
    tasks.spawn("consumer", async { Err::<(), _>("queue is gone") });
    let error = tasks.run(Duration::from_secs(5)).await.expect_err("fails");
    assert!(error.to_string().contains("queue is gone"), "{error}");
    assert!(!outer.is_cancelled(), "the caller's token is left alone");
}

#[tokio::test]
async fn tasks_that_outlive_the_grace_period_are_aborted() {
    tokio::time::pause();
    let outer = CancellationToken::new();
    let mut tasks = Tasks::new(&outer);
    tasks.spawn("stubborn", async {
        std::future::pending::<()>().await;
        Ok::<(), String>(())
    });
    outer.cancel();
    let error = tasks
        .run(Duration::from_secs(3))
        .await
        .expect_err("grace exceeded");
    assert!(
        matches!(error, service_kit::TaskError::GraceExceeded(_)),
        "{error}"
    );
}

#[tokio::test]
async fn readyz_checks_the_real_broker_and_database() {
    let broker = messaging::testing::isolated_broker(messaging::BrokerSettings::default())
        .await
        .expect("RabbitMQ");
    let _cleanup = messaging::testing::cleanup_on_drop(&broker);
    let db = store::testing::fresh_database().await.expect("PostgreSQL");
    // Nothing listens on port 1: this pool can never hand out a connection.
    let unreachable = store::connect("postgres://postgres@127.0.0.1:1/none", 1)
        .await
        .expect("lazy pool");

    let healthy = Readiness::new()
        .with_broker(broker.clone())
        .with_database(db.pool.clone());
    let (base, shutdown, server) = start(healthy, Metrics::new()).await;
    let status = reqwest::get(format!("{base}/readyz"))
        .await
        .expect("readyz")
        .status();
    assert_eq!(status, 200);
    shutdown.cancel();
    server.await.expect("join").expect("serve");

    let broken = Readiness::new()
        .with_broker(broker.clone())
        .with_database(unreachable);
    let (base, shutdown, server) = start(broken, Metrics::new()).await;
    let response = reqwest::get(format!("{base}/readyz"))
        .await
        .expect("readyz");
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["checks"]["broker"], "ok");
    assert_eq!(body["checks"]["database"], "failing");
    shutdown.cancel();
    server.await.expect("join").expect("serve");

    broker.close().await;
    db.drop_database().await.expect("cleanup database");
}
