//! The Salesforce API budget of each org (issue 11 §4): its daily API usage as Salesforce last
//! reported it, recorded by the services that call Salesforce, and whether the org is past the
//! share of its limit beyond which periodic sessions of its users are stretched (notification and
//! on-demand sessions still run). The rule is here once; the scheduler applies it, the status API
//! and the dashboard show it.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use tokio_postgres::GenericClient;

use crate::StateError;

/// A periodic session of a user whose org is past its budget comes this many intervals after
/// the user's last session instead of one (`SYNC_INTERVAL_SECS` × 4: 2 hours by default).
pub const PERIODIC_STRETCH: i32 = 4;

/// Salesforce counts API requests over a rolling 24 hours: a figure older than that says nothing
/// about today, and stretches nothing.
const USAGE_WINDOW_HOURS: i64 = 24;

/// An org's daily API requests, used and allowed, as Salesforce reported them at `reported_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ApiUsage {
    pub used: i64,
    pub limit: i64,
    pub reported_at: DateTime<Utc>,
}

impl ApiUsage {
    /// Whether the org is past `share` (0 < share ≤ 1) of its daily limit as of `now`: the
    /// figure is recent enough to count and its limit is known.
    pub fn past_budget(&self, share: f64, now: DateTime<Utc>) -> bool {
        self.limit > 0
            && now - self.reported_at < Duration::hours(USAGE_WINDOW_HOURS)
            && self.used as f64 >= share * self.limit as f64
    }
}

/// What the status API and the dashboard say of an org's budget.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ApiBudget {
    #[serde(flatten)]
    pub usage: ApiUsage,
    /// `SALESFORCE_API_BUDGET_SHARE`.
    pub budget_share: f64,
    /// Past the share: periodic sessions come [`PERIODIC_STRETCH`] times less often.
    pub periodic_stretched: bool,
    /// The factor applied to the periodic interval now (1 or [`PERIODIC_STRETCH`]).
    pub periodic_interval_factor: i32,
}

impl ApiBudget {
    /// The budget of `usage` at `share` as of `now`.
    pub fn of(usage: ApiUsage, share: f64, now: DateTime<Utc>) -> ApiBudget {
        let stretched = usage.past_budget(share, now);
        ApiBudget {
            usage,
            budget_share: share,
            periodic_stretched: stretched,
            periodic_interval_factor: if stretched { PERIODIC_STRETCH } else { 1 },
        }
    }
}

/// Records the org's usage as reported at `at`; a report older than the stored one (another
/// process's, written first) is left out.
pub async fn record(
    client: &(impl GenericClient + Sync),
    org_id: &str,
    used: i64,
    limit: i64,
    at: DateTime<Utc>,
) -> Result<(), StateError> {
    client
        .execute(
            "UPDATE orgs SET api_used = $2, api_limit = $3, api_usage_at = $4
             WHERE id = $1 AND (api_usage_at IS NULL OR api_usage_at <= $4)",
            &[&org_id, &used, &limit, &at],
        )
        .await?;
    Ok(())
}

/// The org's last recorded usage; `None` before any was reported (or for an unknown org).
pub async fn usage(
    client: &(impl GenericClient + Sync),
    org_id: &str,
) -> Result<Option<ApiUsage>, StateError> {
    let row = client
        .query_opt(
            "SELECT api_used, api_limit, api_usage_at FROM orgs WHERE id = $1",
            &[&org_id],
        )
        .await?;
    Ok(row.and_then(|r| from_columns(r.get(0), r.get(1), r.get(2))))
}

/// A usage from its three nullable columns (as other queries select them too).
pub fn from_columns(
    used: Option<i64>,
    limit: Option<i64>,
    at: Option<DateTime<Utc>>,
) -> Option<ApiUsage> {
    Some(ApiUsage {
        used: used?,
        limit: limit?,
        reported_at: at?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(used: i64, limit: i64, hours_ago: i64, now: DateTime<Utc>) -> ApiUsage {
        ApiUsage {
            used,
            limit,
            reported_at: now - Duration::hours(hours_ago),
        }
    }

    #[test]
    fn an_org_is_past_its_budget_from_the_share_of_its_limit_on() {
        let now = Utc::now();
        assert!(!usage(89_999, 100_000, 0, now).past_budget(0.9, now));
        assert!(usage(90_000, 100_000, 0, now).past_budget(0.9, now));
        assert!(usage(100_000, 100_000, 0, now).past_budget(1.0, now));
        assert!(!usage(99_999, 100_000, 0, now).past_budget(1.0, now));
    }

    #[test]
    fn a_figure_older_than_a_day_or_without_a_limit_stretches_nothing() {
        let now = Utc::now();
        assert!(!usage(99_000, 100_000, 24, now).past_budget(0.9, now));
        assert!(usage(99_000, 100_000, 23, now).past_budget(0.9, now));
        assert!(!usage(5, 0, 0, now).past_budget(0.9, now));
    }

    #[test]
    fn the_budget_says_whether_and_how_much_periodic_sessions_are_stretched() {
        let now = Utc::now();
        let past = ApiBudget::of(usage(95, 100, 0, now), 0.9, now);
        assert!(past.periodic_stretched);
        assert_eq!(past.periodic_interval_factor, PERIODIC_STRETCH);
        let json = serde_json::to_value(past).expect("serialises");
        assert_eq!(json["used"], 95);
        assert_eq!(json["limit"], 100);
        assert_eq!(json["periodic_stretched"], true);
        let under = ApiBudget::of(usage(50, 100, 0, now), 0.9, now);
        assert!(!under.periodic_stretched);
        assert_eq!(under.periodic_interval_factor, 1);
    }
}
