//! Moving stored state through time, for `contactsync bench` and the end-to-end tests (feature
//! `testing`; no service calls these): a periodic session made due now as if the user's last
//! one were an hour old, the org feeds' last reads pushed back, and what a sweep needs to count.

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
