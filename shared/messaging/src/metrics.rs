//! Prometheus metrics of the broker client: what was published and consumed, and how long
//! handlers took. Labels are queue and route names only (bounded), never message content.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

type Labels = Vec<(&'static str, String)>;

#[derive(Clone)]
pub(crate) struct MessagingMetrics {
    published: Family<Labels, Counter>,
    settled: Family<Labels, Counter>,
    handling: Family<Labels, Histogram>,
}

impl MessagingMetrics {
    pub(crate) fn register(metrics: &telemetry::Metrics) -> Self {
        MessagingMetrics {
            published: metrics.register(
                "messages_published",
                "Publishes by route and outcome (confirmed, nacked, unroutable, failed)",
                Family::default(),
            ),
            settled: metrics.register(
                "messages_settled",
                "Deliveries by queue and how they ended (ack, requeue, dead_letter, unsettled)",
                Family::default(),
            ),
            handling: metrics.register(
                "message_handling_seconds",
                "Time a handler took per delivery, by queue",
                Family::new_with_constructor(|| {
                    Histogram::new(exponential_buckets(0.001, 2.0, 16))
                }),
            ),
        }
    }

    pub(crate) fn published(&self, route: &str, outcome: &'static str) {
        self.published
            .get_or_create(&vec![
                ("route", route.to_owned()),
                ("outcome", outcome.to_owned()),
            ])
            .inc();
    }

    pub(crate) fn settled(&self, queue: &str, outcome: &'static str) {
        self.settled
            .get_or_create(&vec![
                ("queue", queue.to_owned()),
                ("outcome", outcome.to_owned()),
            ])
            .inc();
    }

    pub(crate) fn handled(&self, queue: &str, seconds: f64) {
        self.handling
            .get_or_create(&vec![("queue", queue.to_owned())])
            .observe(seconds);
    }
}
