//! Users, their orgs and their contact-sync settings (SPEC §4 admin API).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync_core::{ConflictWinner, SalesforceId, SalesforceUserId, Scope};
use tokio_postgres::{GenericClient, Row, Transaction};

use crate::StateError;

/// Whose API a user's mailbox is reached through (G1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// Exchange Online / Office 365, through Microsoft Graph.
    #[default]
    Exchange,
    /// Gmail (Google Workspace), through the Google People API.
    Gmail,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Exchange => "exchange",
            Provider::Gmail => "gmail",
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Provider {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "exchange" => Ok(Provider::Exchange),
            "gmail" => Ok(Provider::Gmail),
            other => Err(format!(
                "provider must be \"exchange\" or \"gmail\", not {other:?}"
            )),
        }
    }
}

/// A user as the admin API registers them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub org_id: String,
    /// The mailbox's address: the Exchange user principal name or the Gmail address.
    pub mailbox: String,
    /// Stored in the 18-character form (B15), so it equals the `OwnerId`s Salesforce returns.
    pub salesforce_user_id: SalesforceUserId,
    #[serde(default)]
    pub provider: Provider,
    pub created_at: DateTime<Utc>,
}

impl User {
    fn from_row(row: &Row) -> Result<Self, StateError> {
        let provider: String = row.get("provider");
        Ok(User {
            id: row.get("id"),
            org_id: row.get("org_id"),
            mailbox: row.get("mailbox"),
            salesforce_user_id: stored_id(row, "salesforce_user_id")?,
            provider: provider
                .parse()
                .map_err(|e| StateError::Invalid(format!("stored provider: {e}")))?,
            created_at: row.get("created_at"),
        })
    }
}

const USER_COLUMNS: &str = "id, org_id, mailbox, salesforce_user_id, provider, created_at";

/// A Salesforce id column: written only through [`SalesforceId`] (and converted by migration V3),
/// so a value that does not parse is a damaged row, reported rather than compared.
fn stored_id(row: &Row, column: &str) -> Result<SalesforceId, StateError> {
    let value: String = row.get(column);
    SalesforceId::try_from(value).map_err(|e| StateError::Invalid(format!("stored {column}: {e}")))
}

/// A user's contact-sync settings. `scope_version` changes whenever the scope does, so the
/// Salesforce side knows to read a full listing (B7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactSettings {
    pub enabled: bool,
    /// The sync core's scope: a `list_view` one carries its view's id, in the 18-character
    /// form (B15).
    pub scope: Scope,
    pub auto_removal: bool,
    pub conflict_winner: ConflictWinner,
    pub scope_version: i32,
}

impl ContactSettings {
    /// The sync core's settings of a session for the user `salesforce_user_id` (confirmations
    /// of held deletions are per deletion, in the burst state).
    pub fn for_core(&self, salesforce_user_id: SalesforceUserId) -> sync_core::Settings {
        let mut settings = sync_core::Settings::new(salesforce_user_id);
        settings.scope = self.scope.clone();
        settings.auto_removal = self.auto_removal;
        settings.conflict_winner = self.conflict_winner;
        settings
    }
}

impl Default for ContactSettings {
    fn default() -> Self {
        ContactSettings {
            enabled: false,
            scope: Scope::Mine,
            auto_removal: false,
            conflict_winner: ConflictWinner::Salesforce,
            scope_version: 1,
        }
    }
}

/// Registers a user (idempotent for an identical repeat; a different repeat is a conflict).
pub async fn create_user(
    tx: &Transaction<'_>,
    id: &str,
    org_id: &str,
    mailbox: &str,
    salesforce_user_id: &SalesforceUserId,
    provider: Provider,
) -> Result<User, StateError> {
    let row = tx
        .query_opt(
            &format!(
                "INSERT INTO users (id, org_id, mailbox, salesforce_user_id, provider)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (id) DO NOTHING
                 RETURNING {USER_COLUMNS}"
            ),
            &[
                &id,
                &org_id,
                &mailbox,
                &salesforce_user_id.as_str(),
                &provider.as_str(),
            ],
        )
        .await?;
    let user = match row {
        Some(row) => User::from_row(&row)?,
        None => {
            let existing = get_user_tx(tx, id).await?;
            if existing.org_id != org_id
                || existing.mailbox != mailbox
                || existing.salesforce_user_id != *salesforce_user_id
                || existing.provider != provider
            {
                return Err(StateError::Invalid(format!(
                    "user {id} already exists with other values"
                )));
            }
            existing
        }
    };
    tx.execute(
        "INSERT INTO user_sync_state (user_id) VALUES ($1) ON CONFLICT DO NOTHING",
        &[&id],
    )
    .await?;
    Ok(user)
}

async fn get_user_tx(tx: &Transaction<'_>, id: &str) -> Result<User, StateError> {
    tx.query_opt(
        &format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"),
        &[&id],
    )
    .await?
    .map(|r| User::from_row(&r))
    .ok_or_else(|| StateError::NotFound(format!("user {id}")))?
}

/// Reads one user.
pub async fn get_user(client: &(impl GenericClient + Sync), id: &str) -> Result<User, StateError> {
    client
        .query_opt(
            &format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"),
            &[&id],
        )
        .await?
        .map(|r| User::from_row(&r))
        .ok_or_else(|| StateError::NotFound(format!("user {id}")))?
}

/// Reads a user's contact settings (defaults when never set).
pub async fn get_settings(
    client: &(impl GenericClient + Sync),
    user_id: &str,
) -> Result<ContactSettings, StateError> {
    let row = client
        .query_opt(
            "SELECT enabled, scope, list_view_id, auto_removal, conflict_winner, scope_version
             FROM contact_settings WHERE user_id = $1",
            &[&user_id],
        )
        .await?;
    match row {
        None => Ok(ContactSettings::default()),
        Some(row) => settings_from_row(&row),
    }
}

pub(crate) fn settings_from_row(row: &Row) -> Result<ContactSettings, StateError> {
    let list_view_id = row
        .get::<_, Option<String>>("list_view_id")
        .map(SalesforceId::try_from)
        .transpose()
        .map_err(|e| StateError::Invalid(format!("stored list_view_id: {e}")))?;
    let scope = match (row.get::<_, &str>("scope"), list_view_id) {
        ("mine", _) => Scope::Mine,
        ("all", _) => Scope::All,
        ("list_view", Some(id)) => Scope::ListView(id),
        ("list_view", None) => {
            return Err(StateError::Invalid(
                "stored scope list_view without a list view id".into(),
            ));
        }
        (other, _) => return Err(StateError::Invalid(format!("unknown scope {other:?}"))),
    };
    let winner: &str = row.get("conflict_winner");
    Ok(ContactSettings {
        enabled: row.get("enabled"),
        scope,
        auto_removal: row.get("auto_removal"),
        conflict_winner: ConflictWinner::parse(winner)
            .ok_or_else(|| StateError::Invalid(format!("unknown conflict winner {winner:?}")))?,
        scope_version: row.get("scope_version"),
    })
}

/// Stores a user's contact settings; bumps `scope_version` when the scope or list view changes,
/// and when sync is turned back on: the org's Salesforce feed routes nothing to a user whose
/// sync is off, so the Salesforce side is then read afresh (B7).
pub async fn put_settings(
    tx: &Transaction<'_>,
    user_id: &str,
    settings: &ContactSettings,
) -> Result<ContactSettings, StateError> {
    let row = tx
        .query_one(
            "INSERT INTO contact_settings AS s
                 (user_id, enabled, scope, list_view_id, auto_removal, conflict_winner)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (user_id) DO UPDATE SET
                 enabled = EXCLUDED.enabled,
                 scope = EXCLUDED.scope,
                 list_view_id = EXCLUDED.list_view_id,
                 auto_removal = EXCLUDED.auto_removal,
                 conflict_winner = EXCLUDED.conflict_winner,
                 scope_version = s.scope_version
                     + CASE WHEN s.scope IS DISTINCT FROM EXCLUDED.scope
                              OR s.list_view_id IS DISTINCT FROM EXCLUDED.list_view_id
                              OR (NOT s.enabled AND EXCLUDED.enabled)
                            THEN 1 ELSE 0 END,
                 updated_at = now()
             RETURNING enabled, scope, list_view_id, auto_removal, conflict_winner, scope_version",
            &[
                &user_id,
                &settings.enabled,
                &settings.scope.as_str(),
                &settings.scope.list_view_id().map(SalesforceId::as_str),
                &settings.auto_removal,
                &settings.conflict_winner.as_str(),
            ],
        )
        .await?;
    settings_from_row(&row)
}

/// Whether org `org_id` exists (a user can only join a registered org).
pub async fn org_exists(tx: &Transaction<'_>, org_id: &str) -> Result<bool, StateError> {
    Ok(tx
        .query_opt("SELECT 1 FROM orgs WHERE id = $1", &[&org_id])
        .await?
        .is_some())
}

/// Locks a user's row for a settings change, so concurrent changes of one user each compare
/// against what they replace (the user row first: the one lock order of a user's session steps).
pub async fn lock_user_row(tx: &Transaction<'_>, user_id: &str) -> Result<(), StateError> {
    tx.query_opt(
        "SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE",
        &[&user_id],
    )
    .await?
    .map(|_| ())
    .ok_or_else(|| StateError::NotFound(format!("user {user_id}")))
}

/// Asks for a session for the user without starting it: the scheduler starts it on its next
/// tick, at its own pace (bulk onboarding makes thousands of users due at once).
pub async fn make_due_now(tx: &Transaction<'_>, user_id: &str) -> Result<(), StateError> {
    tx.execute(
        "UPDATE user_sync_state SET pending_trigger = true, pending_notified = NULL
         WHERE user_id = $1",
        &[&user_id],
    )
    .await?;
    Ok(())
}

/// Whether `user` was inserted by this transaction: a row it inserted carries the transaction's
/// start time, which tells a creation from an identical repeat without a race between two
/// concurrent registrations.
pub async fn created_in(tx: &Transaction<'_>, user: &User) -> Result<bool, StateError> {
    let now: DateTime<Utc> = tx.query_one("SELECT now()", &[]).await?.get(0);
    Ok(user.created_at == now)
}

/// Deletes every user of an org with all their state; returns how many went.
pub async fn delete_org_users(
    client: &(impl GenericClient + Sync),
    org_id: &str,
) -> Result<u64, StateError> {
    Ok(client
        .execute("DELETE FROM users WHERE org_id = $1", &[&org_id])
        .await?)
}
