//! Graph change-notification subscriptions: stored when created (by the exchange fetcher, which
//! re-creates a user's missing one at each session), looked up by the webhook (id and
//! clientState), renewed by the scheduler before they expire, forgotten when Graph removed them.

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;

use crate::StateError;

/// A stored subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSubscription {
    pub id: String,
    pub user_id: String,
    pub resource: String,
    pub client_state: String,
    pub expires_at: DateTime<Utc>,
}

fn from_row(r: &tokio_postgres::Row) -> StoredSubscription {
    StoredSubscription {
        id: r.get("id"),
        user_id: r.get("user_id"),
        resource: r.get("resource"),
        client_state: r.get("client_state"),
        expires_at: r.get("expires_at"),
    }
}

/// Stores (or refreshes) a subscription.
pub async fn store(
    client: &(impl GenericClient + Sync),
    id: &str,
    user_id: &str,
    resource: &str,
    client_state: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), StateError> {
    client
        .execute(
            "INSERT INTO graph_subscriptions (id, user_id, resource, client_state, expires_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at",
            &[&id, &user_id, &resource, &client_state, &expires_at],
        )
        .await?;
    Ok(())
}

/// One subscription by id.
pub async fn get(
    client: &(impl GenericClient + Sync),
    id: &str,
) -> Result<Option<StoredSubscription>, StateError> {
    Ok(client
        .query_opt("SELECT * FROM graph_subscriptions WHERE id = $1", &[&id])
        .await?
        .as_ref()
        .map(from_row))
}

/// A user's subscriptions (normally one: on the sync folder), soonest expiry first.
pub async fn for_user(
    client: &(impl GenericClient + Sync),
    user_id: &str,
) -> Result<Vec<StoredSubscription>, StateError> {
    let rows = client
        .query(
            "SELECT * FROM graph_subscriptions WHERE user_id = $1 ORDER BY expires_at, id",
            &[&user_id],
        )
        .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// Subscriptions expiring before `before`, soonest first.
pub async fn expiring(
    client: &(impl GenericClient + Sync),
    before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<StoredSubscription>, StateError> {
    let rows = client
        .query(
            "SELECT * FROM graph_subscriptions WHERE expires_at < $1 ORDER BY expires_at LIMIT $2",
            &[&before, &limit],
        )
        .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// Forgets a subscription (removed by Graph, or its user's folder changed). A user without one
/// gets a new one at their next session (B3).
pub async fn delete(client: &(impl GenericClient + Sync), id: &str) -> Result<(), StateError> {
    client
        .execute("DELETE FROM graph_subscriptions WHERE id = $1", &[&id])
        .await?;
    Ok(())
}
