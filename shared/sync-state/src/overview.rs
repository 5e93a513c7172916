//! What the pages show beyond a user's status: how many contacts of a user are in sync and
//! whether near-real-time notifications are on (the Sync Settings page), and the operators'
//! dashboard: figures per org, sessions of the last 24 hours by hour, and the users, paged,
//! filtered and searched (SPEC §4 `/dashboard?page=N&filter=errors|held|disabled`).
//!
//! Recent sessions are found by their time-ordered v7 `job_id` (see [`fleet::v7_floor`]), a
//! user's last session by `(user_id, created_at)`: every query stays an index walk at thousands
//! of users.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, DurationRound, TimeDelta, Utc};
use tokio_postgres::GenericClient;
use tokio_postgres::types::ToSql;

use crate::StateError;
use crate::api_budget::{self, ApiUsage};
use crate::fleet::{self, Fleet, UserHealth};
use crate::sessions::Progress;

/// How many of a user's contacts are linked, and on which side they exist.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InSync {
    /// Pairs present on both sides.
    pub both: i64,
    /// Linked contacts in the mailbox's Salesforce Contacts folder.
    pub mailbox: i64,
    /// Linked Salesforce Contacts.
    pub salesforce: i64,
}

/// The user's linked contacts (C4: one link per pair).
pub async fn in_sync(
    client: &(impl GenericClient + Sync),
    user_id: &str,
) -> Result<InSync, StateError> {
    let row = client
        .query_one(
            "SELECT count(*) FILTER (WHERE graph_id IS NOT NULL AND salesforce_id IS NOT NULL),
                    count(graph_id), count(salesforce_id)
             FROM contact_links WHERE user_id = $1",
            &[&user_id],
        )
        .await?;
    Ok(InSync {
        both: row.get(0),
        mailbox: row.get(1),
        salesforce: row.get(2),
    })
}

/// Until when the user's mailbox notifications (Graph subscriptions) run, if any is live at
/// `now`: near-real-time sync is on while one is.
pub async fn notifications_until(
    client: &(impl GenericClient + Sync),
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StateError> {
    let row = client
        .query_one(
            "SELECT max(expires_at) FROM graph_subscriptions
             WHERE user_id = $1 AND expires_at > $2",
            &[&user_id, &now],
        )
        .await?;
    Ok(row.get(0))
}

/// One org's figures on the dashboard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrgFigures {
    pub org_id: String,
    /// Users by state, failing users, held deletions ([`fleet::summarize`] of the org's users).
    pub fleet: Fleet,
    /// Sessions started in the last 24 hours, by state.
    pub sessions_24h: BTreeMap<String, i64>,
    /// Sessions started in the last [`fleet::RECENT_WINDOW_MINUTES`] minutes.
    pub sessions_recent: i64,
    /// Users with at least one contact that currently fails (C7).
    pub users_with_item_errors: i64,
    /// Live and lapsed Graph subscriptions (near-real-time sync per mailbox, B3).
    pub subscriptions_live: i64,
    pub subscriptions_lapsed: i64,
    /// The org's Salesforce API usage as last recorded (issue 11 §4); `None` before any report.
    pub api_usage: Option<ApiUsage>,
}

impl OrgFigures {
    pub fn failed_sessions_24h(&self) -> i64 {
        self.sessions_24h.get("failed").copied().unwrap_or(0)
    }

    /// Sessions per minute over the recent window.
    pub fn sessions_per_minute(&self) -> f64 {
        self.sessions_recent as f64 / fleet::RECENT_WINDOW_MINUTES as f64
    }
}

/// Every org's figures at `now`, in org id order (orgs without users included).
pub async fn org_figures(
    client: &(impl GenericClient + Sync),
    now: DateTime<Utc>,
) -> Result<Vec<OrgFigures>, StateError> {
    let mut orgs: BTreeMap<String, OrgFigures> = BTreeMap::new();
    for row in client
        .query(
            "SELECT id, api_used, api_limit, api_usage_at FROM orgs",
            &[],
        )
        .await?
    {
        let id: String = row.get(0);
        orgs.insert(
            id.clone(),
            OrgFigures {
                org_id: id,
                api_usage: api_budget::from_columns(row.get(1), row.get(2), row.get(3)),
                ..OrgFigures::default()
            },
        );
    }
    let mut health: BTreeMap<String, Vec<UserHealth>> = BTreeMap::new();
    for user in fleet::user_health(client).await? {
        health.entry(user.org_id.clone()).or_default().push(user);
    }
    for (org, users) in &health {
        entry(&mut orgs, org).fleet = fleet::summarize(users);
    }
    let day = now - Duration::hours(24);
    let recent = now - Duration::minutes(fleet::RECENT_WINDOW_MINUTES);
    let rows = client
        .query(
            "SELECT u.org_id, s.state, count(*), count(*) FILTER (WHERE s.created_at >= $3)
             FROM sync_sessions s JOIN users u ON u.id = s.user_id
             WHERE s.job_id >= $1 AND s.created_at >= $2
             GROUP BY u.org_id, s.state",
            &[&fleet::v7_floor(day), &day, &recent],
        )
        .await?;
    for row in rows {
        let figures = entry(&mut orgs, &row.get::<_, String>(0));
        figures.sessions_24h.insert(row.get(1), row.get(2));
        figures.sessions_recent += row.get::<_, i64>(3);
    }
    let rows = client
        .query(
            "SELECT u.org_id, count(DISTINCT e.user_id)
             FROM item_errors e JOIN users u ON u.id = e.user_id GROUP BY u.org_id",
            &[],
        )
        .await?;
    for row in rows {
        entry(&mut orgs, &row.get::<_, String>(0)).users_with_item_errors = row.get(1);
    }
    let rows = client
        .query(
            "SELECT u.org_id, count(*) FILTER (WHERE g.expires_at > $1),
                    count(*) FILTER (WHERE g.expires_at <= $1)
             FROM graph_subscriptions g JOIN users u ON u.id = g.user_id GROUP BY u.org_id",
            &[&now],
        )
        .await?;
    for row in rows {
        let figures = entry(&mut orgs, &row.get::<_, String>(0));
        figures.subscriptions_live = row.get(1);
        figures.subscriptions_lapsed = row.get(2);
    }
    Ok(orgs.into_values().collect())
}

fn entry<'a>(orgs: &'a mut BTreeMap<String, OrgFigures>, org: &str) -> &'a mut OrgFigures {
    orgs.entry(org.to_owned()).or_insert_with(|| OrgFigures {
        org_id: org.to_owned(),
        ..OrgFigures::default()
    })
}

/// Sessions started in one hour.
#[derive(Debug, Clone, PartialEq)]
pub struct HourBucket {
    pub start: DateTime<Utc>,
    pub succeeded: i64,
    pub partial: i64,
    pub failed: i64,
    /// Still fetching or writing.
    pub running: i64,
    /// Median and longest time from a session's start to its last write, seconds (finished
    /// sessions only).
    pub median_secs: Option<f64>,
    pub max_secs: Option<f64>,
}

impl HourBucket {
    fn empty(start: DateTime<Utc>) -> Self {
        HourBucket {
            start,
            succeeded: 0,
            partial: 0,
            failed: 0,
            running: 0,
            median_secs: None,
            max_secs: None,
        }
    }

    pub fn total(&self) -> i64 {
        self.succeeded + self.partial + self.failed + self.running
    }
}

/// The 24 hours up to `now`, oldest first, each with its sessions (of one org, or all).
pub async fn hourly_sessions(
    client: &(impl GenericClient + Sync),
    now: DateTime<Utc>,
    org_id: Option<&str>,
) -> Result<Vec<HourBucket>, StateError> {
    let current_hour = now
        .duration_trunc(TimeDelta::hours(1))
        .map_err(|e| StateError::Invalid(format!("hour of {now}: {e}")))?;
    let first = current_hour - Duration::hours(23);
    let rows = client
        .query(
            "SELECT date_trunc('hour', s.created_at) AS hour,
                    count(*) FILTER (WHERE s.state = 'succeeded'),
                    count(*) FILTER (WHERE s.state = 'partial'),
                    count(*) FILTER (WHERE s.state = 'failed'),
                    count(*) FILTER (WHERE s.state IN ('fetching', 'writing')),
                    percentile_cont(0.5) WITHIN GROUP (
                        ORDER BY extract(epoch FROM s.finished_at - s.created_at)::float8),
                    max(extract(epoch FROM s.finished_at - s.created_at)::float8)
             FROM sync_sessions s JOIN users u ON u.id = s.user_id
             WHERE s.job_id >= $1 AND s.created_at >= $2
               AND ($3::text IS NULL OR u.org_id = $3)
             GROUP BY hour",
            &[&fleet::v7_floor(first), &first, &org_id],
        )
        .await?;
    let mut buckets: Vec<HourBucket> = (0..24)
        .map(|h| HourBucket::empty(first + Duration::hours(h)))
        .collect();
    for row in rows {
        let hour: DateTime<Utc> = row.get(0);
        let Some(bucket) = buckets.iter_mut().find(|b| b.start == hour) else {
            continue;
        };
        bucket.succeeded = row.get(1);
        bucket.partial = row.get(2);
        bucket.failed = row.get(3);
        bucket.running = row.get(4);
        bucket.median_secs = row.get(5);
        bucket.max_secs = row.get(6);
    }
    Ok(buckets)
}

/// Which users the dashboard lists (SPEC §4 `filter=`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UserFilter {
    #[default]
    All,
    /// Users with a contact that currently fails (C7) or whose last session failed.
    Errors,
    /// Users whose deletions the mass-delete guard holds (C5).
    Held,
    /// Users with contact sync off.
    Disabled,
}

impl UserFilter {
    pub fn parse(s: &str) -> Result<Self, StateError> {
        match s {
            "" | "all" => Ok(UserFilter::All),
            "errors" => Ok(UserFilter::Errors),
            "held" => Ok(UserFilter::Held),
            "disabled" => Ok(UserFilter::Disabled),
            other => Err(StateError::Invalid(format!(
                "filter: must be errors, held or disabled (got {other:?})"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            UserFilter::All => "all",
            UserFilter::Errors => "errors",
            UserFilter::Held => "held",
            UserFilter::Disabled => "disabled",
        }
    }

    fn condition(self) -> &'static str {
        match self {
            UserFilter::All => "true",
            UserFilter::Errors => {
                "(EXISTS (SELECT 1 FROM item_errors e WHERE e.user_id = u.id)
                  OR l.state = 'failed')"
            }
            UserFilter::Held => {
                "EXISTS (SELECT 1 FROM pending_deletions p WHERE p.user_id = u.id AND p.state = 'held')"
            }
            UserFilter::Disabled => "NOT COALESCE(cs.enabled, false)",
        }
    }
}

/// What the dashboard asks for: a page of users, in id order.
#[derive(Debug, Clone, Default)]
pub struct UsersQuery {
    pub filter: UserFilter,
    /// Part of a user id or mailbox, case-insensitive.
    pub search: Option<String>,
    pub org_id: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// One user on the dashboard.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRow {
    pub user_id: String,
    pub org_id: String,
    pub mailbox: String,
    /// `exchange` or `gmail` (G1).
    pub provider: crate::users::Provider,
    pub enabled: bool,
    pub scope: String,
    pub next_sync_at: Option<DateTime<Utc>>,
    /// The C5 hold (`{"code":"mass_delete_guard","deletions","message"}`) while the guard
    /// holds deletions (`pending_deletions` in state `held`).
    pub held: Option<serde_json::Value>,
    pub running: bool,
    /// The last finished session: state, when, why it failed, how many item errors it had.
    pub last_state: Option<String>,
    pub last_finished_at: Option<DateTime<Utc>>,
    pub last_failure: Option<String>,
    /// Contacts that currently fail (C7).
    pub failing_items: i64,
}

/// The `LIKE` pattern matching `text` anywhere, with its wildcards taken literally.
pub fn contains_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

const USERS_FROM: &str = "FROM users u
     LEFT JOIN contact_settings cs ON cs.user_id = u.id
     LEFT JOIN user_sync_state st ON st.user_id = u.id
     LEFT JOIN LATERAL (
         SELECT s.state, s.finished_at, s.summary FROM sync_sessions s
         WHERE s.user_id = u.id AND s.state NOT IN ('fetching', 'writing')
         ORDER BY s.created_at DESC LIMIT 1) l ON true
     WHERE ($1::text IS NULL OR u.org_id = $1)
       AND ($2::text IS NULL OR u.id ILIKE $2 OR u.mailbox ILIKE $2)";

/// A page of users and how many match in all.
pub async fn users_page(
    client: &(impl GenericClient + Sync),
    query: &UsersQuery,
) -> Result<(Vec<UserRow>, i64), StateError> {
    let pattern = query
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(contains_pattern);
    let condition = query.filter.condition();
    let params: [&(dyn ToSql + Sync); 2] = [&query.org_id, &pattern];
    let total: i64 = client
        .query_one(
            &format!("SELECT count(*) {USERS_FROM} AND {condition}"),
            &params,
        )
        .await?
        .get(0);
    let rows = client
        .query(
            &format!(
                "SELECT u.id, u.org_id, u.mailbox, u.provider, COALESCE(cs.enabled, false) AS enabled,
                        COALESCE(cs.scope, 'mine') AS scope, st.next_sync_at,
                        (SELECT CASE WHEN count(*) > 0 THEN jsonb_build_object(
                                    'code', 'mass_delete_guard', 'deletions', count(*),
                                    'message', COALESCE(
                                        CASE WHEN st.last_error->>'code' = 'mass_delete_guard'
                                             THEN st.last_error->>'message' END,
                                        count(*) || ' deletion(s) held'))
                                END
                         FROM pending_deletions p
                         WHERE p.user_id = u.id AND p.state = 'held') AS held,
                        EXISTS (SELECT 1 FROM sync_sessions r WHERE r.user_id = u.id
                                AND r.state IN ('fetching', 'writing')) AS running,
                        l.state, l.finished_at, l.summary,
                        (SELECT count(DISTINCT e.item_key) FROM item_errors e
                         WHERE e.user_id = u.id) AS failing
                 {USERS_FROM} AND {condition}
                 ORDER BY u.id LIMIT $3 OFFSET $4"
            ),
            &[&query.org_id, &pattern, &query.limit, &query.offset],
        )
        .await?;
    let users = rows
        .iter()
        .map(|r| {
            let progress: Option<Progress> = r
                .get::<_, Option<serde_json::Value>>("summary")
                .map(serde_json::from_value)
                .transpose()?;
            Ok(UserRow {
                user_id: r.get("id"),
                org_id: r.get("org_id"),
                mailbox: r.get("mailbox"),
                provider: r
                    .get::<_, String>("provider")
                    .parse()
                    .map_err(|e: String| StateError::Invalid(format!("stored provider: {e}")))?,
                enabled: r.get("enabled"),
                scope: r.get("scope"),
                next_sync_at: r.get("next_sync_at"),
                held: r.get("held"),
                running: r.get("running"),
                last_state: r.get("state"),
                last_finished_at: r.get("finished_at"),
                last_failure: progress.and_then(|p| p.failure),
                failing_items: r.get("failing"),
            })
        })
        .collect::<Result<Vec<_>, StateError>>()?;
    Ok((users, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_in_a_search_are_taken_literally() {
        assert_eq!(contains_pattern("ali"), "%ali%");
        assert_eq!(contains_pattern("a_b%c\\"), "%a\\_b\\%c\\\\%");
    }

    #[test]
    fn filters_parse_by_their_query_names_and_refuse_others_by_name() {
        for filter in [
            UserFilter::All,
            UserFilter::Errors,
            UserFilter::Held,
            UserFilter::Disabled,
        ] {
            assert_eq!(UserFilter::parse(filter.as_str()).ok(), Some(filter));
        }
        assert_eq!(UserFilter::parse("").ok(), Some(UserFilter::All));
        let err = UserFilter::parse("broken").expect_err("unknown filter");
        assert!(err.to_string().contains("filter:"), "{err}");
    }

    #[test]
    fn sessions_per_minute_spread_the_recent_window() {
        let figures = OrgFigures {
            sessions_recent: 30,
            ..OrgFigures::default()
        };
        assert!((figures.sessions_per_minute() - 2.0).abs() < f64::EPSILON);
    }
}
