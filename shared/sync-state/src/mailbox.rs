//! What the mailbox side remembers of a user's mailbox setup (B1): the id of the "Salesforce
//! Contacts" folder (for a Gmail user, that contact group), and for a Gmail user the "Salesforce"
//! contact group (G1). The exchange fetcher sets them when it finds or (re-)creates them; the
//! exchange writer creates mirrors in them.

use tokio_postgres::GenericClient;

use crate::StateError;

/// The user's sync folder id, if setup ran.
pub async fn sync_folder(
    client: &(impl GenericClient + Sync),
    user_id: &str,
) -> Result<Option<String>, StateError> {
    Ok(client
        .query_opt(
            "SELECT graph_folder_id FROM user_sync_state WHERE user_id = $1",
            &[&user_id],
        )
        .await?
        .and_then(|row| row.get(0)))
}

/// Remembers the user's sync folder (found, created, or re-created after the user deleted it).
pub async fn set_sync_folder(
    client: &(impl GenericClient + Sync),
    user_id: &str,
    folder_id: &str,
) -> Result<(), StateError> {
    let updated = client
        .execute(
            "UPDATE user_sync_state SET graph_folder_id = $2 WHERE user_id = $1",
            &[&user_id, &folder_id],
        )
        .await?;
    if updated == 0 {
        return Err(StateError::NotFound(format!(
            "sync state of user {user_id}"
        )));
    }
    Ok(())
}

/// A Gmail user's "Salesforce" contact group (G1), if setup ran.
pub async fn category_group(
    client: &(impl GenericClient + Sync),
    user_id: &str,
) -> Result<Option<String>, StateError> {
    Ok(client
        .query_opt(
            "SELECT category_group FROM user_sync_state WHERE user_id = $1",
            &[&user_id],
        )
        .await?
        .and_then(|row| row.get(0)))
}

/// Remembers a Gmail user's "Salesforce" contact group (found, or created).
pub async fn set_category_group(
    client: &(impl GenericClient + Sync),
    user_id: &str,
    group: &str,
) -> Result<(), StateError> {
    client
        .execute(
            "UPDATE user_sync_state SET category_group = $2 WHERE user_id = $1",
            &[&user_id, &group],
        )
        .await?;
    Ok(())
}
