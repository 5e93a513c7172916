//! What the last onboarding check of each org found (SPEC §4), and which orgs are due another.
//!
//! An org whose last check failed is "not ready": its users' sessions are deferred (the trigger
//! is remembered and runs once a check passes) instead of each failing on the same cause. An org
//! never checked counts as ready. Several scheduler replicas share the re-checks: a replica
//! claims an org by pushing its `next_check_at` ahead (a lease) before checking it.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::GenericClient;

use crate::StateError;

/// One thing an org's check found wrong, worded for the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Which check failed: `salesforce_login`, `salesforce_api`, `salesforce_sync_key_field`,
    /// `salesforce_contact_access`, `graph_token`, `graph_permission`, …
    pub check: String,
    /// What was found.
    pub message: String,
    /// What to do about it.
    pub fix: String,
}

/// The stored state of an org's checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgCheck {
    pub org_id: String,
    pub ready: bool,
    pub problems: Vec<Problem>,
    /// None: never checked (ready until a check says otherwise).
    pub checked_at: Option<DateTime<Utc>>,
    pub next_check_at: DateTime<Utc>,
}

impl OrgCheck {
    /// The problems in one line, for error messages and logs.
    pub fn summary(&self) -> String {
        self.problems
            .iter()
            .map(|p| format!("{}: {}", p.check, p.message))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

fn from_row(row: &tokio_postgres::Row) -> Result<OrgCheck, StateError> {
    Ok(OrgCheck {
        org_id: row.get("org_id"),
        ready: row.get("ready"),
        problems: serde_json::from_value(row.get("problems"))?,
        checked_at: row.get("checked_at"),
        next_check_at: row.get("next_check_at"),
    })
}

/// Stores a finished check of `org_id`; the next one is due at `next_check_at`.
pub async fn record(
    client: &(impl GenericClient + Sync),
    org_id: &str,
    problems: &[Problem],
    checked_at: DateTime<Utc>,
    next_check_at: DateTime<Utc>,
) -> Result<OrgCheck, StateError> {
    let row = client
        .query_one(
            "INSERT INTO org_checks (org_id, ready, problems, checked_at, next_check_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (org_id) DO UPDATE SET
                 ready = EXCLUDED.ready,
                 problems = EXCLUDED.problems,
                 checked_at = EXCLUDED.checked_at,
                 next_check_at = EXCLUDED.next_check_at
             RETURNING org_id, ready, problems, checked_at, next_check_at",
            &[
                &org_id,
                &problems.is_empty(),
                &serde_json::to_value(problems)?,
                &checked_at,
                &next_check_at,
            ],
        )
        .await?;
    from_row(&row)
}

/// The last check of an org, if it was ever checked or claimed.
pub async fn get(
    client: &(impl GenericClient + Sync),
    org_id: &str,
) -> Result<Option<OrgCheck>, StateError> {
    client
        .query_opt(
            "SELECT org_id, ready, problems, checked_at, next_check_at
             FROM org_checks WHERE org_id = $1",
            &[&org_id],
        )
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Every org whose last check failed, by id.
pub async fn not_ready(client: &(impl GenericClient + Sync)) -> Result<Vec<OrgCheck>, StateError> {
    client
        .query(
            "SELECT org_id, ready, problems, checked_at, next_check_at
             FROM org_checks WHERE NOT ready ORDER BY org_id",
            &[],
        )
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// The last check of a user's org when it failed: the user's sessions wait for the org.
pub async fn blocking_user(
    client: &(impl GenericClient + Sync),
    user_id: &str,
) -> Result<Option<OrgCheck>, StateError> {
    client
        .query_opt(
            "SELECT c.org_id, c.ready, c.problems, c.checked_at, c.next_check_at
             FROM users u JOIN org_checks c ON c.org_id = u.org_id
             WHERE u.id = $1 AND NOT c.ready",
            &[&user_id],
        )
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Claims up to `limit` orgs due a check (never checked, or `next_check_at` passed) by pushing
/// their `next_check_at` to `now + lease`, so another replica does not check them meanwhile;
/// a replica that dies mid-check leaves the org to be checked again once the lease runs out.
pub async fn claim_due(
    client: &(impl GenericClient + Sync),
    now: DateTime<Utc>,
    lease: Duration,
    limit: i64,
) -> Result<Vec<String>, StateError> {
    // One statement: the upsert's row locks (and the unique key for never-checked orgs) keep
    // two replicas from claiming the same org.
    let rows = client
        .query(
            "INSERT INTO org_checks (org_id, next_check_at)
             SELECT o.id, $2 FROM orgs o LEFT JOIN org_checks c ON c.org_id = o.id
             WHERE c.org_id IS NULL OR c.next_check_at <= $1
             ORDER BY c.next_check_at NULLS FIRST, o.id
             LIMIT $3
             ON CONFLICT (org_id) DO UPDATE SET next_check_at = EXCLUDED.next_check_at
                 WHERE org_checks.next_check_at <= $1
             RETURNING org_id",
            &[&now, &(now + lease), &limit],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
