//! Trace context survives a publish/consume hop: the handler's span is in the publisher's trace.
//! (Its own test binary: it installs a global tracing subscriber.)

mod common;

use common::{isolated_broker, next};
use messaging::{Queue, Route, consume};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

#[tokio::test]
async fn the_consumer_span_continues_the_publishers_trace() {
    telemetry::init_for_tests();
    let broker = isolated_broker(5).await;
    let publisher = broker.publisher().await.expect("publisher");

    let session = tracing::info_span!("sync session");
    let published_trace = telemetry::trace_id(&session).expect("a real trace id");
    publisher
        .publish(
            Route::SyncJob,
            "job-traced",
            &serde_json::json!({"user_id": "u1"}),
        )
        .instrument(session)
        .await
        .expect("confirmed publish");

    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let shutdown = CancellationToken::new();
    let task = {
        let broker = broker.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            consume(
                &broker,
                Queue::ExchangeFetcherJobs,
                move |delivery| {
                    let seen_tx = seen_tx.clone();
                    async move {
                        let trace = telemetry::trace_id(&tracing::Span::current());
                        tracing::info!("Handling the traced job");
                        let header = delivery.headers().get("traceparent").cloned();
                        let _ = seen_tx.send((trace, header));
                        Ok(())
                    }
                },
                shutdown,
            )
            .await
        })
    };
    let (consumed_trace, traceparent) = next(&mut seen).await;
    let traceparent = traceparent.expect("a traceparent header on the message");
    assert!(
        traceparent.contains(&published_trace),
        "{traceparent} does not carry {published_trace}"
    );
    assert_eq!(consumed_trace.as_deref(), Some(published_trace.as_str()));

    shutdown.cancel();
    task.await.expect("join").expect("consume");
    broker.delete_topology().await.expect("cleanup");
}
