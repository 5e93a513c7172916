//! Revocation of users' signed Sync Settings links: each link is signed for the user's current
//! link generation, and revoking bumps it, so every link handed out before stops working while
//! links signed afterwards work.

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;

use crate::StateError;

/// The user's current link generation (0 until the first revocation).
pub async fn generation(
    client: &(impl GenericClient + Sync),
    user_id: &str,
) -> Result<i64, StateError> {
    let row = client
        .query_opt(
            "SELECT generation FROM settings_link_generations WHERE user_id = $1",
            &[&user_id],
        )
        .await?;
    Ok(row.map_or(0, |r| r.get(0)))
}

/// Revokes every settings link of the user signed so far; returns the new generation. The user
/// must exist (a foreign key refuses an unknown one).
pub async fn revoke(
    client: &(impl GenericClient + Sync),
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<i64, StateError> {
    let row = client
        .query_one(
            "INSERT INTO settings_link_generations (user_id, generation, revoked_at)
             VALUES ($1, 1, $2)
             ON CONFLICT (user_id) DO UPDATE
                 SET generation = settings_link_generations.generation + 1, revoked_at = $2
             RETURNING generation",
            &[&user_id, &now],
        )
        .await?;
    Ok(row.get(0))
}
