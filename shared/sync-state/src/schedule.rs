//! Which users are due a periodic session (B3), claimed so that several scheduler replicas never
//! start two sessions for one user.

use chrono::{DateTime, Duration, Utc};
use tokio_postgres::Transaction;

use crate::StateError;

/// Claims up to `limit` enabled users whose periodic session is due, or who have a remembered
/// trigger and no session in flight, and pushes their next periodic run `interval` ahead.
/// Rows locked by another replica are skipped, not waited for.
pub async fn claim_due_users(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    interval: Duration,
    limit: i64,
) -> Result<Vec<(String, &'static str)>, StateError> {
    let rows = tx
        .query(
            "SELECT s.user_id, s.next_sync_at <= $1 AS periodic
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
        if periodic {
            tx.execute(
                "UPDATE user_sync_state SET next_sync_at = $2 WHERE user_id = $1",
                &[&user_id, &next],
            )
            .await?;
        }
        claimed.push((user_id, if periodic { "schedule" } else { "pending" }));
    }
    Ok(claimed)
}
