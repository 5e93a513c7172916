//! Which users are due a periodic session (B3), claimed so that several scheduler replicas never
//! start two sessions for one user.

use chrono::{DateTime, Duration, Utc};
use tokio_postgres::Transaction;

use crate::StateError;

/// Claims up to `limit` enabled users whose periodic session is due, or who have a remembered
/// trigger and no session in flight, and pushes their next periodic run `interval` ahead.
/// A periodic session is due `interval` after the user's last session of any kind (a user whose
/// changes arrive by notification is not also synced on the clock). Rows locked by another
/// replica are skipped, not waited for.
pub async fn claim_due_users(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    interval: Duration,
    limit: i64,
) -> Result<Vec<(String, &'static str)>, StateError> {
    let rows = tx
        .query(
            "SELECT s.user_id, s.next_sync_at <= $1 AS periodic,
                    (SELECT max(x.created_at) FROM sync_sessions x WHERE x.user_id = s.user_id)
                        AS last_started,
                    s.pending_trigger
             FROM user_sync_state s
             JOIN contact_settings c ON c.user_id = s.user_id AND c.enabled
             WHERE (s.next_sync_at <= $1 OR s.pending_trigger)
               AND NOT EXISTS (SELECT 1 FROM sync_sessions a
                               WHERE a.user_id = s.user_id AND a.state IN ('fetching', 'writing'))
             ORDER BY s.next_sync_at
             LIMIT $2
             FOR UPDATE OF s SKIP LOCKED",
            &[&now, &limit],
        )
        .await?;
    let next = now + interval;
    let mut claimed = Vec::with_capacity(rows.len());
    for row in rows {
        let user_id: String = row.get(0);
        let periodic: bool = row.get(1);
        let last_started: Option<DateTime<Utc>> = row.get(2);
        let pending: bool = row.get(3);
        let recent = last_started.filter(|t| *t + interval > now);
        if periodic {
            let next = recent.map_or(next, |t| t + interval);
            tx.execute(
                "UPDATE user_sync_state SET next_sync_at = $2 WHERE user_id = $1",
                &[&user_id, &next],
            )
            .await?;
        }
        if pending {
            claimed.push((user_id, "pending"));
        } else if periodic && recent.is_none() {
            claimed.push((user_id, "schedule"));
        }
    }
    Ok(claimed)
}
