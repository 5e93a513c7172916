//! Users, their orgs and their contact-sync settings (SPEC §4 admin API).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::{GenericClient, Row, Transaction};

use crate::StateError;

/// A user as the admin API registers them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub org_id: String,
    pub mailbox: String,
    pub salesforce_user_id: String,
    pub created_at: DateTime<Utc>,
}

impl User {
    fn from_row(row: &Row) -> Self {
        User {
            id: row.get("id"),
            org_id: row.get("org_id"),
            mailbox: row.get("mailbox"),
            salesforce_user_id: row.get("salesforce_user_id"),
            created_at: row.get("created_at"),
        }
    }
}

/// Down-sync scope (B2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    #[default]
    Mine,
    All,
    ListView,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Mine => "mine",
            Scope::All => "all",
            Scope::ListView => "list_view",
        }
    }
    pub fn parse(s: &str) -> Result<Self, StateError> {
        match s {
            "mine" => Ok(Scope::Mine),
            "all" => Ok(Scope::All),
            "list_view" => Ok(Scope::ListView),
            other => Err(StateError::Invalid(format!("unknown scope {other:?}"))),
        }
    }
}

/// Which side wins a field changed on both sides to different values (C1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Winner {
    #[default]
    Salesforce,
    Exchange,
}

impl Winner {
    pub fn as_str(self) -> &'static str {
        match self {
            Winner::Salesforce => "salesforce",
            Winner::Exchange => "exchange",
        }
    }
    pub fn parse(s: &str) -> Result<Self, StateError> {
        match s {
            "salesforce" => Ok(Winner::Salesforce),
            "exchange" => Ok(Winner::Exchange),
            other => Err(StateError::Invalid(format!(
                "unknown conflict winner {other:?}"
            ))),
        }
    }
}

/// A user's contact-sync settings. `scope_version` changes whenever the scope does, so the
/// Salesforce side knows to read a full listing (B7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactSettings {
    pub enabled: bool,
    pub scope: Scope,
    pub list_view_id: Option<String>,
    pub auto_removal: bool,
    pub conflict_winner: Winner,
    pub scope_version: i32,
}

impl Default for ContactSettings {
    fn default() -> Self {
        ContactSettings {
            enabled: false,
            scope: Scope::Mine,
            list_view_id: None,
            auto_removal: false,
            conflict_winner: Winner::Salesforce,
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
    salesforce_user_id: &str,
) -> Result<User, StateError> {
    let row = tx
        .query_opt(
            "INSERT INTO users (id, org_id, mailbox, salesforce_user_id) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO NOTHING
             RETURNING id, org_id, mailbox, salesforce_user_id, created_at",
            &[&id, &org_id, &mailbox, &salesforce_user_id],
        )
        .await?;
    let user = match row {
        Some(row) => User::from_row(&row),
        None => {
            let existing = get_user_tx(tx, id).await?;
            if existing.org_id != org_id
                || existing.mailbox != mailbox
                || existing.salesforce_user_id != salesforce_user_id
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
        "SELECT id, org_id, mailbox, salesforce_user_id, created_at FROM users WHERE id = $1",
        &[&id],
    )
    .await?
    .map(|r| User::from_row(&r))
    .ok_or_else(|| StateError::NotFound(format!("user {id}")))
}

/// Reads one user.
pub async fn get_user(client: &(impl GenericClient + Sync), id: &str) -> Result<User, StateError> {
    client
        .query_opt(
            "SELECT id, org_id, mailbox, salesforce_user_id, created_at FROM users WHERE id = $1",
            &[&id],
        )
        .await?
        .map(|r| User::from_row(&r))
        .ok_or_else(|| StateError::NotFound(format!("user {id}")))
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

fn settings_from_row(row: &Row) -> Result<ContactSettings, StateError> {
    Ok(ContactSettings {
        enabled: row.get("enabled"),
        scope: Scope::parse(row.get("scope"))?,
        list_view_id: row.get("list_view_id"),
        auto_removal: row.get("auto_removal"),
        conflict_winner: Winner::parse(row.get("conflict_winner"))?,
        scope_version: row.get("scope_version"),
    })
}

/// Stores a user's contact settings; bumps `scope_version` when the scope or list view changes.
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
                            THEN 1 ELSE 0 END,
                 updated_at = now()
             RETURNING enabled, scope, list_view_id, auto_removal, conflict_winner, scope_version",
            &[
                &user_id,
                &settings.enabled,
                &settings.scope.as_str(),
                &settings.list_view_id,
                &settings.auto_removal,
                &settings.conflict_winner.as_str(),
            ],
        )
        .await?;
    settings_from_row(&row)
}
