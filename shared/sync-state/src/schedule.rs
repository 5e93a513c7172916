//! Which users are due a periodic session (B3), claimed so that several scheduler replicas never
//! start two sessions for one user.

use chrono::{DateTime, Duration, Utc};
use contracts::Trigger;
use serde::{Deserialize, Serialize};
use tokio_postgres::{GenericClient, Transaction};
use uuid::Uuid;

use crate::users::Provider;
use crate::{StateError, api_budget};

/// How often each kind of mailbox gets a periodic session (B3). Gmail has no change
/// notifications for contacts (People API: no watch), so its users are polled more often.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intervals {
    pub exchange: Duration,
    pub gmail: Duration,
}

impl Intervals {
    /// The same interval for every provider.
    pub fn uniform(interval: Duration) -> Self {
        Intervals {
            exchange: interval,
            gmail: interval,
        }
    }

    pub fn of(&self, provider: Provider) -> Duration {
        match provider {
            Provider::Exchange => self.exchange,
            Provider::Gmail => self.gmail,
        }
    }
}

/// What stopped the user's last session, as the status shows it (`last_error`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum LastError {
    /// C5: a burst of deletions is held until an operator confirms it.
    MassDeleteGuard {
        /// Deletions held.
        #[serde(default)]
        deletions: usize,
        /// The user's synced contacts when the session was decided.
        #[serde(default)]
        links: usize,
        #[serde(default)]
        message: String,
        /// The session that held them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        job_id: Option<Uuid>,
    },
    /// Anything else a row holds, shown as stored.
    #[serde(untagged)]
    Other(serde_json::Value),
}

/// A user's scheduling row (`user_sync_state`), as the status and the pages show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserSyncState {
    pub next_sync_at: DateTime<Utc>,
    pub pending_trigger: bool,
    pub deletions_confirmed: bool,
    pub last_error: Option<LastError>,
}

impl UserSyncState {
    /// The C5 hold, when the last session stopped at the mass-delete guard.
    pub fn held_deletions(&self) -> Option<&LastError> {
        self.last_error
            .as_ref()
            .filter(|e| matches!(e, LastError::MassDeleteGuard { .. }))
    }
}

/// The user's scheduling row; `None` for an unknown user.
pub async fn user_sync_state(
    client: &(impl GenericClient + Sync),
    user_id: &str,
) -> Result<Option<UserSyncState>, StateError> {
    let row = client
        .query_opt(
            "SELECT next_sync_at, pending_trigger, deletions_confirmed, last_error
             FROM user_sync_state WHERE user_id = $1",
            &[&user_id],
        )
        .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(UserSyncState {
        next_sync_at: r.get(0),
        pending_trigger: r.get(1),
        deletions_confirmed: r.get(2),
        last_error: r
            .get::<_, Option<serde_json::Value>>(3)
            .map(serde_json::from_value)
            .transpose()?,
    }))
}

/// Claims up to `limit` enabled users whose periodic session is due, or who have a remembered
/// trigger and no session in flight, and pushes their next periodic run their provider's
/// interval (`intervals`) ahead.
/// Users of an org whose last check failed are left alone: they are due as soon as it passes.
/// A periodic session is due `interval` after the user's last session of any kind (a user whose
/// changes arrive by notification is not also synced on the clock). A user whose org is past
/// `budget_share` of its daily Salesforce API limit ([`api_budget`]) waits
/// [`api_budget::PERIODIC_STRETCH`] intervals instead; a remembered trigger (a notification, a
/// request that arrived during a session) is claimed whatever the budget. Rows locked by another
/// replica are skipped, not waited for.
pub async fn claim_due_users(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    intervals: Intervals,
    budget_share: f64,
    limit: i64,
) -> Result<Vec<(String, Trigger)>, StateError> {
    let rows = tx
        .query(
            "SELECT s.user_id, s.next_sync_at <= $1 AS periodic,
                    (SELECT max(x.created_at) FROM sync_sessions x WHERE x.user_id = s.user_id)
                        AS last_started,
                    s.pending_trigger, o.api_used, o.api_limit, o.api_usage_at, owner.provider
             FROM user_sync_state s
             JOIN contact_settings c ON c.user_id = s.user_id AND c.enabled
             JOIN users owner ON owner.id = s.user_id
             JOIN orgs o ON o.id = owner.org_id
             WHERE (s.next_sync_at <= $1 OR s.pending_trigger)
               -- An org that failed its check holds its users until a check passes.
               AND NOT EXISTS (SELECT 1 FROM users u JOIN org_checks k ON k.org_id = u.org_id
                               WHERE u.id = s.user_id AND NOT k.ready)
               AND NOT EXISTS (SELECT 1 FROM sync_sessions a
                               WHERE a.user_id = s.user_id AND a.state IN ('fetching', 'writing'))
             ORDER BY s.next_sync_at
             LIMIT $2
             FOR UPDATE OF s SKIP LOCKED",
            &[&now, &limit],
        )
        .await?;
    let mut claimed = Vec::with_capacity(rows.len());
    for row in rows {
        let user_id: String = row.get(0);
        let periodic: bool = row.get(1);
        let last_started: Option<DateTime<Utc>> = row.get(2);
        let pending: bool = row.get(3);
        let provider: String = row.get(7);
        let provider: Provider = provider
            .parse()
            .map_err(|e| StateError::Invalid(format!("stored provider: {e}")))?;
        let interval = intervals.of(provider);
        let stretched = api_budget::from_columns(row.get(4), row.get(5), row.get(6))
            .is_some_and(|usage| usage.past_budget(budget_share, now));
        let due_after = if stretched {
            interval * api_budget::PERIODIC_STRETCH
        } else {
            interval
        };
        let recent = last_started.filter(|t| *t + due_after > now);
        if periodic {
            // Looked at again within one plain interval even when stretched, so a user whose
            // org's usage fell back is not left waiting out the stretch.
            let next = recent.map_or(now + interval, |t| (t + due_after).min(now + interval));
            tx.execute(
                "UPDATE user_sync_state SET next_sync_at = $2 WHERE user_id = $1",
                &[&user_id, &next],
            )
            .await?;
        }
        if pending {
            claimed.push((user_id, Trigger::Pending));
        } else if periodic && recent.is_none() {
            claimed.push((user_id, Trigger::Schedule));
        }
    }
    Ok(claimed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_error_is_stored_as_the_status_shows_it_and_anything_else_kept_as_is() {
        let job_id = Uuid::now_v7();
        let held = LastError::MassDeleteGuard {
            deletions: 25,
            links: 30,
            message: "held".into(),
            job_id: Some(job_id),
        };
        let stored = serde_json::to_value(&held).expect("serialises");
        assert_eq!(
            stored,
            serde_json::json!({"code": "mass_delete_guard", "deletions": 25, "links": 30,
                               "message": "held", "job_id": job_id})
        );
        assert_eq!(
            serde_json::from_value::<LastError>(stored).expect("decodes"),
            held
        );
        let other = serde_json::json!({"code": "something_else", "message": "kept"});
        let decoded: LastError = serde_json::from_value(other.clone()).expect("decodes");
        assert_eq!(decoded, LastError::Other(other.clone()));
        assert_eq!(serde_json::to_value(&decoded).expect("serialises"), other);
    }
}
