//! What the webhooks did, for `/metrics`: notifications by source and outcome, and sessions they
//! started. (Requests by route and status are counted by service-kit for every route.)

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use telemetry::Metrics;

type Labels = Vec<(&'static str, &'static str)>;

/// Counter handles, registered once when the router is built.
#[derive(Clone, Debug)]
pub struct WebhookMetrics {
    notifications: Family<Labels, Counter>,
    sessions: Family<Labels, Counter>,
}

impl WebhookMetrics {
    pub fn register(metrics: &Metrics) -> Self {
        WebhookMetrics {
            notifications: metrics.register(
                "gateway_webhook_notifications",
                "Webhook notifications by source (graph, salesforce) and outcome \
                 (accepted, dropped: unknown subscription or wrong clientState, refused: unknown org)",
                Family::default(),
            ),
            sessions: metrics.register(
                "gateway_webhook_sessions",
                "Sessions started (or coalesced into one in flight) by webhooks, by source",
                Family::default(),
            ),
        }
    }

    pub fn notifications(&self, source: &'static str, outcome: &'static str, count: usize) {
        self.notifications
            .get_or_create(&vec![("source", source), ("outcome", outcome)])
            .inc_by(count as u64);
    }

    pub fn sessions(&self, source: &'static str, count: usize) {
        self.sessions
            .get_or_create(&vec![("source", source)])
            .inc_by(count as u64);
    }
}
