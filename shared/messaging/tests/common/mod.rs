//! Helpers shared by the broker integration tests: an isolated prefix per test, and waiting.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::time::Duration;

use messaging::{Broker, BrokerSettings};

pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A broker on a fresh `test-<uuid>` prefix: its own exchanges and queues.
pub async fn isolated_broker(delivery_limit: u32) -> Broker {
    isolated_broker_with_metrics(delivery_limit, None).await
}

pub async fn isolated_broker_with_metrics(
    delivery_limit: u32,
    metrics: Option<telemetry::Metrics>,
) -> Broker {
    let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
    let settings = BrokerSettings {
        prefetch: 4,
        delivery_limit,
        connection_name: format!("messaging-test {prefix}"),
        metrics,
        // Keep retry pauses short: the tests count attempts, not time.
        retry_base_delay: Duration::from_millis(10),
        ..BrokerSettings::default()
    };
    Broker::connect(&url(), &prefix, settings)
        .await
        .expect("RabbitMQ must run on 127.0.0.1:5672 (scripts/test starts it)")
}

/// A second connection on the same prefix, as another process would have.
pub async fn same_prefix(broker: &Broker) -> Broker {
    Broker::connect(&url(), broker.prefix(), broker.settings().clone())
        .await
        .expect("second connection")
}

pub fn url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| AMQP_URL.to_owned())
}

/// The polling helpers, once for every suite (`test-support`).
#[allow(unused_imports)] // Each test binary uses a different subset.
pub use test_support::{next, until as eventually};
