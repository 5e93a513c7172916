//! The fleet gauges: users by state, failing users and orgs, held deletions, recent sessions,
//! lost subscriptions and queue lengths, computed from the database and the broker every
//! `FLEET_METRICS_SECS`; and the subscription renewal counter. The alerts of
//! `deploy/base/monitoring/prometheus-rules.yaml` read them.
//!
//! Every scheduler replica computes the same figures: dashboards and alerts take `max`.

use chrono::{DateTime, Utc};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use sync_state::{StateError, fleet};
use telemetry::Metrics;

use crate::Ctx;
use crate::handler::TickReport;

type Labels = Vec<(&'static str, String)>;

/// Why a snapshot failed; logged, and the next one tries again (the gauges keep their values).
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("database: {0}")]
    Database(#[from] StateError),
    #[error("broker: {0}")]
    Broker(#[from] messaging::MessagingError),
}

/// The scheduler's own metrics, registered once at start-up.
#[derive(Clone, Debug)]
pub struct FleetMetrics {
    users: Family<Labels, Gauge>,
    users_failing: Gauge,
    users_deletions_held: Gauge,
    orgs_failing: Gauge,
    sessions_recent: Family<Labels, Gauge>,
    subscriptions_expired: Gauge,
    queue_messages: Family<Labels, Gauge>,
    renewals: Family<Labels, Counter>,
}

impl FleetMetrics {
    pub fn register(metrics: &Metrics) -> Self {
        FleetMetrics {
            users: metrics.register(
                "users",
                "Users by state: disabled, never_synced, or their last session's outcome \
                 (succeeded, partial, failed)",
                Family::default(),
            ),
            users_failing: metrics.register(
                "users_failing",
                "Enabled users whose last three sessions all failed",
                Gauge::default(),
            ),
            users_deletions_held: metrics.register(
                "users_deletions_held",
                "Users whose deletions the mass-delete guard holds until an operator confirms (C5)",
                Gauge::default(),
            ),
            orgs_failing: metrics.register(
                "orgs_failing",
                "Orgs where every enabled user's last session failed",
                Gauge::default(),
            ),
            sessions_recent: metrics.register(
                "sessions_recent",
                "Sessions started in the last 15 minutes, by state",
                Family::default(),
            ),
            subscriptions_expired: metrics.register(
                "subscriptions_expired",
                "Graph change-notification subscriptions past their expiry (not renewed in time)",
                Gauge::default(),
            ),
            queue_messages: metrics.register(
                "queue_messages",
                "Messages ready in each queue (not counting deliveries held by consumers)",
                Family::default(),
            ),
            renewals: metrics.register(
                "subscription_renewals",
                "Graph subscription renewals by outcome (renewed, failed, forgotten: Graph no \
                 longer knew it)",
                Family::default(),
            ),
        }
    }

    /// Counts a tick's renewals.
    pub fn record_renewals(&self, report: &TickReport) {
        for (outcome, count) in [
            ("renewed", report.renewed),
            ("failed", report.renew_failed),
            ("forgotten", report.forgotten),
        ] {
            self.renewals
                .get_or_create(&vec![("outcome", outcome.to_owned())])
                .inc_by(count as u64);
        }
    }

    /// Takes one snapshot of the fleet as of `now` and sets the gauges.
    pub async fn observe(&self, ctx: &Ctx, now: DateTime<Utc>) -> Result<(), FleetError> {
        let (health, recent, expired) = {
            let client = ctx.pool.get().await.map_err(StateError::from)?;
            (
                fleet::user_health(&**client).await?,
                fleet::recent_sessions(&**client, now).await?,
                fleet::expired_subscriptions(&**client, now).await?,
            )
        };
        let depths = messaging::queue_depths(&ctx.broker).await?;
        let summary = fleet::summarize(&health);
        for (state, count) in &summary.users {
            set(&self.users, "state", state, *count);
        }
        self.users_failing.set(gauge_value(summary.failing_users));
        self.users_deletions_held
            .set(gauge_value(summary.deletions_held));
        self.orgs_failing.set(gauge_value(summary.failing_orgs));
        for (state, count) in &recent {
            set(&self.sessions_recent, "state", state, *count);
        }
        self.subscriptions_expired.set(gauge_value(expired));
        for (queue, count) in depths {
            set(&self.queue_messages, "queue", &queue, u64::from(count));
        }
        Ok(())
    }
}

fn set(family: &Family<Labels, Gauge>, label: &'static str, value: &str, count: u64) {
    family
        .get_or_create(&vec![(label, value.to_owned())])
        .set(gauge_value(count));
}

fn gauge_value(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}
