//! Moving stored state through time, for `contactsync bench` and the end-to-end tests (feature
//! `testing`; no service calls these): a periodic session made due now as if the user's last
//! one were an hour old, an org's re-check made due, the org feeds' last reads pushed back, and
//! what a sweep or a test needs to see (a session's stored reads).

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;

use crate::StateError;

/// Makes the users' periodic sessions due now, as if their last sessions were an hour old.
pub async fn make_periodic_due(
    client: &(impl GenericClient + Sync),
    user_ids: &[String],
) -> Result<(), StateError> {
    client
        .execute(
            "UPDATE sync_sessions SET created_at = created_at - interval '1 hour'
             WHERE user_id = ANY($1)",
            &[&user_ids],
        )
        .await?;
    client
        .execute(
            "UPDATE user_sync_state SET next_sync_at = now() WHERE user_id = ANY($1)",
            &[&user_ids],
        )
        .await?;
    Ok(())
}

/// Makes the org's next check due now, as if its re-check interval had passed.
pub async fn make_org_check_due(
    client: &(impl GenericClient + Sync),
    org_id: &str,
) -> Result<(), StateError> {
    client
        .execute(
            "UPDATE org_checks SET next_check_at = now() WHERE org_id = $1",
            &[&org_id],
        )
        .await?;
    Ok(())
}

/// Whether the session has stored its Salesforce side's read (it waits for the mailbox's);
/// `None` for an unknown session.
pub async fn salesforce_read_stored(
    client: &(impl GenericClient + Sync),
    job_id: uuid::Uuid,
) -> Result<Option<bool>, StateError> {
    Ok(client
        .query_opt(
            "SELECT salesforce_input IS NOT NULL FROM sync_sessions WHERE job_id = $1",
            &[&job_id],
        )
        .await?
        .map(|row| row.get(0)))
}

/// How many of the users have a periodic session created since `since` that has finished.
pub async fn periodic_sessions_finished_since(
    client: &(impl GenericClient + Sync),
    user_ids: &[String],
    since: DateTime<Utc>,
) -> Result<usize, StateError> {
    let done: i64 = client
        .query_one(
            "SELECT count(DISTINCT user_id) FROM sync_sessions
             WHERE user_id = ANY($1) AND trigger = 'schedule' AND created_at >= $2
               AND state NOT IN ('fetching', 'writing')",
            &[&user_ids, &since],
        )
        .await?
        .get(0);
    Ok(usize::try_from(done).unwrap_or(0))
}

/// Pushes every org feed's last read back by `by`: the next session that wants the feed reads
/// the org.
pub async fn age_org_feeds(
    client: &(impl GenericClient + Sync),
    by: chrono::Duration,
) -> Result<(), StateError> {
    client
        .execute(
            "UPDATE org_feeds SET read_started_at = read_started_at - $1::float8 * interval '1 second'",
            &[&(by.num_milliseconds() as f64 / 1000.0)],
        )
        .await?;
    Ok(())
}

/// Every link of every user.
pub async fn count_links(client: &(impl GenericClient + Sync)) -> Result<i64, StateError> {
    Ok(client
        .query_one("SELECT count(*) FROM contact_links", &[])
        .await?
        .get(0))
}
