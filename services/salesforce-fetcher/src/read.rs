//! The Salesforce read of one session (B2, B6, B7): Contacts in scope changed since the cursor
//! (by `SystemModstamp`, with an overlap so rows that commit late are not missed), deleted
//! Contacts (`queryAll` on `IsDeleted`), and changed Contacts that left the scope. A scope change
//! (or the first session) reads the whole scope as a complete listing.

use chrono::{DateTime, Duration, Utc};
use contracts::SyncJob;
use salesforce_client::{SYNC_KEY_FIELD, SalesforceClient, SalesforceError, SfContact};
use serde::{Deserialize, Serialize};
use sync_core::{ReadKind, SalesforceChanges, SalesforceContact, SalesforceId};
use sync_state::StateError;
use sync_state::links::{self, CursorSide};
use sync_state::users::{self, Scope};

use crate::Ctx;

/// Why a Salesforce read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Salesforce(#[from] SalesforceError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Clients(#[from] pipeline::ClientError),
    #[error("{0}")]
    Invalid(String),
}

/// Where the Salesforce side stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalesforceCursor {
    /// The newest `SystemModstamp` seen; `None` before any row was seen.
    pub high_water: Option<DateTime<Utc>>,
    /// The settings' scope version this cursor was read under (B7: a new scope reads afresh).
    pub scope_version: i32,
}

/// Reads the Salesforce side of a session; returns the changes and the cursor after them.
#[tracing::instrument(skip_all, fields(user_id = %job.header.user_id, job_id = %job.header.job_id))]
pub async fn read_salesforce(
    ctx: &Ctx,
    job: &SyncJob,
) -> Result<(SalesforceChanges, serde_json::Value), ReadError> {
    let client = ctx.pool.get().await.map_err(StateError::from)?;
    let user = users::get_user(&**client, &job.header.user_id).await?;
    let settings = users::get_settings(&**client, &user.id).await?;
    let stored: Option<SalesforceCursor> =
        links::load_cursor(&**client, &user.id, CursorSide::Salesforce)
            .await?
            .map(serde_json::from_value)
            .transpose()
            .map_err(StateError::from)?
            .filter(|c: &SalesforceCursor| c.scope_version == settings.scope_version);
    drop(client);
    let sf = ctx.clients.salesforce(&user.org_id).await?;

    let scope = scope_condition(&sf, &settings, &user.salesforce_user_id).await?;
    let owner = salesforce_client::soql::quote(&user.salesforce_user_id);
    // B7: Contacts created from the mailbox stay linked whatever the scope; they are the user's.
    let membership =
        scope.map(|w| format!("(({w}) OR (OwnerId = {owner} AND {SYNC_KEY_FIELD} != null))"));
    let fields = SfContact::soql_fields();
    let overlap = Duration::seconds(ctx.settings.overlap_secs);

    let (contacts, deleted, out_of_scope, kind) = match stored.as_ref().and_then(|c| c.high_water) {
        Some(high_water) if stored.is_some() => {
            let since = salesforce_client::soql::datetime(high_water - overlap);
            let changed = match &membership {
                Some(m) => {
                    format!("SELECT {fields} FROM Contact WHERE {m} AND SystemModstamp >= {since}")
                }
                None => format!("SELECT {fields} FROM Contact WHERE SystemModstamp >= {since}"),
            };
            let contacts: Vec<SfContact> = sf.query(&changed).await?;
            let deleted: Vec<SfContact> = sf
                .query_all(&format!(
                    "SELECT Id, SystemModstamp FROM Contact WHERE IsDeleted = true AND SystemModstamp >= {since}"
                ))
                .await?;
            let out: Vec<SfContact> = match &membership {
                Some(m) => {
                    sf.query(&format!(
                        "SELECT Id, SystemModstamp FROM Contact WHERE SystemModstamp >= {since} AND (NOT {m})"
                    ))
                    .await?
                }
                None => Vec::new(),
            };
            (contacts, deleted, out, ReadKind::Incremental)
        }
        _ => {
            let soql = match &membership {
                Some(m) => format!("SELECT {fields} FROM Contact WHERE {m}"),
                None => format!("SELECT {fields} FROM Contact"),
            };
            let contacts: Vec<SfContact> = sf.query(&soql).await?;
            // Without a cursor this is a full listing: what is linked and not listed left.
            let kind = if stored.is_none() {
                ReadKind::Complete
            } else {
                ReadKind::Incremental
            };
            (contacts, Vec::new(), Vec::new(), kind)
        }
    };

    let high_water = contacts
        .iter()
        .chain(&deleted)
        .chain(&out_of_scope)
        .filter_map(|c| c.system_modstamp)
        .chain(stored.as_ref().and_then(|c| c.high_water))
        .max();
    let changes = SalesforceChanges {
        kind,
        contacts: contacts
            .into_iter()
            .map(SalesforceContact::try_from)
            .collect::<Result<_, _>>()
            .map_err(|e| ReadError::Invalid(e.to_string()))?,
        deleted: ids(deleted)?,
        out_of_scope: ids(out_of_scope)?,
    };
    tracing::info!(
        contacts = changes.contacts.len(),
        deleted = changes.deleted.len(),
        out_of_scope = changes.out_of_scope.len(),
        complete = kind == ReadKind::Complete,
        "Read Salesforce."
    );
    let cursor = SalesforceCursor {
        high_water,
        scope_version: settings.scope_version,
    };
    Ok((
        changes,
        serde_json::to_value(cursor).map_err(StateError::from)?,
    ))
}

/// The user's scope as a SOQL condition (B2); `None` for every Contact.
async fn scope_condition(
    sf: &SalesforceClient,
    settings: &users::ContactSettings,
    salesforce_user_id: &str,
) -> Result<Option<String>, ReadError> {
    match settings.scope {
        Scope::All => Ok(None),
        Scope::Mine => Ok(Some(format!(
            "OwnerId = {}",
            salesforce_client::soql::quote(salesforce_user_id)
        ))),
        Scope::ListView => {
            let id = settings.list_view_id.as_deref().ok_or_else(|| {
                ReadError::Invalid("scope list_view without a list view id".into())
            })?;
            let view = sf.describe_list_view("Contact", id).await?;
            let mine = view.is_mine_scope().then(|| {
                format!(
                    "OwnerId = {}",
                    salesforce_client::soql::quote(salesforce_user_id)
                )
            });
            Ok(match (view.where_clause(), mine) {
                (Some(w), Some(m)) => Some(format!("({w}) AND {m}")),
                (Some(w), None) => Some(w.to_owned()),
                (None, m) => m,
            })
        }
    }
}

fn ids(rows: Vec<SfContact>) -> Result<Vec<SalesforceId>, ReadError> {
    rows.into_iter()
        .map(|c| SalesforceId::try_from(c.id).map_err(|e| ReadError::Invalid(e.to_string())))
        .collect()
}
