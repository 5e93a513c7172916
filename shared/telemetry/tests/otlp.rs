//! OTLP export for real: spans reach an HTTP collector (here a local stand-in on port 0) as
//! protobuf, and dropping the guard flushes them. Its own binary: it installs the global
//! subscriber.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use tokio::sync::mpsc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_over_otlp_http_and_flushed_on_drop() {
    let (received_tx, mut received) = mpsc::unbounded_channel::<(String, Bytes)>();
    let collector = axum::Router::new()
        .route(
            "/v1/traces",
            post(
                |State(sink): State<mpsc::UnboundedSender<(String, Bytes)>>,
                 headers: HeaderMap,
                 body: Bytes| async move {
                    let content_type = headers
                        .get("content-type")
                        .and_then(|value| value.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let _ = sink.send((content_type, body));
                    ""
                },
            ),
        )
        .with_state(received_tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, collector).await });

    let settings = telemetry::TelemetrySettings {
        log_filter: "info".to_owned(),
        log_format: telemetry::LogFormat::Json,
        otlp_endpoint: Some(endpoint.parse().expect("url")),
    };
    // Called from inside the runtime on purpose: that is where services call it.
    let guard = telemetry::init("otlp-test-service", &settings).expect("init");
    {
        let span = tracing::info_span!("exported-span-name");
        let _entered = span.enter();
        tracing::info!("Inside the span");
    }
    // The guard's drop blocks until the exporter flushed; keep the runtime's workers free.
    tokio::task::spawn_blocking(move || drop(guard))
        .await
        .expect("guard dropped");

    let (content_type, body) = tokio::time::timeout(Duration::from_secs(20), received.recv())
        .await
        .expect("the collector got a request")
        .expect("channel open");
    assert_eq!(content_type, "application/x-protobuf");
    let contains = |needle: &str| {
        body.windows(needle.len())
            .any(|window| window == needle.as_bytes())
    };
    assert!(contains("exported-span-name"), "the span is in the export");
    assert!(
        contains("otlp-test-service"),
        "the service name is the resource"
    );
}
