//! The Salesforce read of one session (B2, B6, B7): Contacts in scope changed since the cursor
//! (by `SystemModstamp`, with an overlap so rows that commit late are not missed), deleted
//! Contacts (Get Deleted, `deleted.rs`: the delete log outlives the Recycle Bin; its answer is in
//! whole minutes, so the deletions of the minute it has not covered yet come from `queryAll` on
//! `IsDeleted`), and changed Contacts that left the scope. A scope change (or the first session)
//! reads the whole scope as a complete listing; so does a session whose deletions the delete log
//! can no longer tell, which also looks up every linked Contact the listing lacks (`Id IN (...)`)
//! to learn which are gone. Ids come out in their 18-character form whichever form Salesforce
//! answered with (B15).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use contracts::SyncJob;
use salesforce_client::{SYNC_KEY_FIELD, SalesforceClient, SalesforceError, SfContact};
use serde::{Deserialize, Serialize};
use sync_core::{
    ErrorCode, ItemError, ReadKind, SalesforceChanges, SalesforceContact, SalesforceId,
    SalesforceUserId, Scope,
};
use sync_state::StateError;
use sync_state::links::{self, CursorSide};
use sync_state::users;

use crate::Ctx;
use crate::deleted::{self, Outcome, Plan};

/// Linked ids looked up per `Id IN (...)` query: about 30 URL-encoded characters each keeps the
/// request well under Salesforce's 16 KB URI limit.
const LOOKUP_CHUNK: usize = 200;

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
    /// Where the next Get Deleted window starts: the last answer's `latestDateCovered`, or, after
    /// a full listing, the server's clock when it began (less the overlap). `None` in cursors
    /// written before deletions came from Get Deleted: the next session re-lists.
    #[serde(default)]
    pub deleted_from: Option<DateTime<Utc>>,
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
    let owner = salesforce_client::soql::quote(user.salesforce_user_id.as_str());
    // B7: Contacts created from the mailbox stay linked whatever the scope; they are the user's.
    let membership =
        scope.map(|w| format!("(({w}) OR (OwnerId = {owner} AND {SYNC_KEY_FIELD} != null))"));
    let overlap = Duration::seconds(ctx.settings.overlap_secs);
    let reader = Reader {
        sf: &sf,
        membership: membership.as_deref(),
        overlap,
    };

    let read = match stored.as_ref() {
        // First session, or a new scope: the whole scope, complete.
        None => reader.listing(ReadKind::Complete).await?,
        Some(cursor) => {
            let mut read = match cursor.high_water {
                Some(high_water) => reader.changes_since(high_water - overlap).await?,
                // A cursor that never saw a row: list the scope again, as changes.
                None => reader.listing(ReadKind::Incremental).await?,
            };
            // The server's clock as the answers just read carry it sizes the window.
            let from = cursor
                .deleted_from
                .or_else(|| cursor.high_water.map(|h| h - overlap));
            let now = sf.server_now().unwrap_or_else(Utc::now);
            let deletions = match deleted::plan(from, now) {
                Plan::Relist => Outcome::Relist,
                Plan::Wait { from } => Outcome::Deleted {
                    ids: Vec::new(),
                    next: from,
                },
                Plan::Ask { start, end } => {
                    deleted::outcome(start, sf.get_deleted("Contact", start, end).await)?
                }
            };
            match deletions {
                Outcome::Deleted { mut ids, next } => {
                    ids.extend(reader.deleted_since(next).await?);
                    read.deleted = ids;
                    read.deleted_from = next;
                    read
                }
                Outcome::Relist => {
                    tracing::info!(
                        "The delete log no longer reaches back to the cursor; re-listing the scope."
                    );
                    let mut read = reader.listing(ReadKind::Complete).await?;
                    read.deleted = reader
                        .gone(ctx, &user.id, &read.contacts)
                        .await?
                        .into_iter()
                        .map(|id| (id, DateTime::<Utc>::MAX_UTC))
                        .collect();
                    read
                }
            }
        }
    };

    let high_water = read
        .contacts
        .iter()
        .chain(&read.out_of_scope)
        .filter_map(|c| c.system_modstamp)
        .chain(stored.as_ref().and_then(|c| c.high_water))
        .max();
    // A deletion that a later change undid (an undelete) is no deletion.
    let seen: HashMap<String, DateTime<Utc>> = read
        .contacts
        .iter()
        .chain(&read.out_of_scope)
        .filter_map(|c| c.system_modstamp.map(|t| (c.id.clone(), t)))
        .collect();
    let deleted = deleted::without_undeleted(read.deleted, &seen);
    // B15: ids come out in the 18-character form whatever the query returned; a record whose
    // id is no Salesforce id is that record's error, not the session's.
    let mut errors = Vec::new();
    let contacts = read
        .contacts
        .into_iter()
        .filter_map(|c| {
            let label = sync_core::mapping::salesforce_to_canonical(&c.fields).label();
            let raw = c.id.clone();
            SalesforceContact::try_from(c)
                .map_err(|e| errors.push(malformed(label, e.field, &raw, &e.source)))
                .ok()
        })
        .collect();
    let deleted = deleted
        .into_iter()
        .filter_map(|id| {
            SalesforceId::try_from(id.as_str())
                .map_err(|e| errors.push(malformed(id.clone(), "Id", &id, &e)))
                .ok()
        })
        .collect();
    let out_of_scope = ids(read.out_of_scope, &mut errors);
    // A listing that left records out cannot say what is gone: read as changes only (C5).
    let kind = if errors.is_empty() {
        read.kind
    } else {
        ReadKind::Incremental
    };
    let changes = SalesforceChanges {
        kind,
        contacts,
        deleted,
        out_of_scope,
        errors,
    };
    tracing::info!(
        contacts = changes.contacts.len(),
        deleted = changes.deleted.len(),
        out_of_scope = changes.out_of_scope.len(),
        malformed = changes.errors.len(),
        complete = kind == ReadKind::Complete,
        "Read Salesforce."
    );
    let cursor = SalesforceCursor {
        high_water,
        scope_version: settings.scope_version,
        deleted_from: Some(read.deleted_from),
    };
    Ok((
        changes,
        serde_json::to_value(cursor).map_err(StateError::from)?,
    ))
}

/// The queries of one read, and what they found.
struct Reader<'a> {
    sf: &'a SalesforceClient,
    /// The scope plus the user's up-synced Contacts, as a SOQL condition; `None` for all.
    membership: Option<&'a str>,
    overlap: Duration,
}

/// What one read found, before it becomes domain types.
struct Read {
    kind: ReadKind,
    contacts: Vec<SfContact>,
    /// Deleted ids with their `deletedDate`.
    deleted: Vec<(String, DateTime<Utc>)>,
    out_of_scope: Vec<SfContact>,
    /// Where the next Get Deleted window starts.
    deleted_from: DateTime<Utc>,
}

impl Reader<'_> {
    /// The server's clock now, less the overlap: a window from here catches every deletion made
    /// while a listing runs.
    fn anchor(&self) -> DateTime<Utc> {
        self.sf.server_now().unwrap_or_else(Utc::now) - self.overlap
    }

    /// Every Contact in the scope (and the user's up-synced ones).
    async fn listing(&self, kind: ReadKind) -> Result<Read, ReadError> {
        let fields = SfContact::soql_fields();
        let soql = match self.membership {
            Some(m) => format!("SELECT {fields} FROM Contact WHERE {m}"),
            None => format!("SELECT {fields} FROM Contact"),
        };
        let contacts: Vec<SfContact> = self.sf.query(&soql).await?;
        Ok(Read {
            kind,
            contacts,
            deleted: Vec::new(),
            out_of_scope: Vec::new(),
            deleted_from: self.anchor(),
        })
    }

    /// Contacts in scope changed since `since`, and changed ones that left the scope.
    async fn changes_since(&self, since: DateTime<Utc>) -> Result<Read, ReadError> {
        let fields = SfContact::soql_fields();
        let since = salesforce_client::soql::datetime(since);
        let changed = match self.membership {
            Some(m) => {
                format!("SELECT {fields} FROM Contact WHERE {m} AND SystemModstamp >= {since}")
            }
            None => format!("SELECT {fields} FROM Contact WHERE SystemModstamp >= {since}"),
        };
        let contacts: Vec<SfContact> = self.sf.query(&changed).await?;
        let out_of_scope: Vec<SfContact> = match self.membership {
            Some(m) => {
                self.sf
                    .query(&format!(
                        "SELECT Id, SystemModstamp FROM Contact WHERE SystemModstamp >= {since} AND (NOT {m})"
                    ))
                    .await?
            }
            None => Vec::new(),
        };
        Ok(Read {
            kind: ReadKind::Incremental,
            contacts,
            deleted: Vec::new(),
            out_of_scope,
            deleted_from: self.anchor(),
        })
    }

    /// Contacts deleted since `since` that are still in the Recycle Bin: the delete log answers
    /// in whole minutes up to `latestDateCovered`, so a deletion made after it (seconds ago) is
    /// read here, and again by the next window (C6: it takes effect in this session).
    async fn deleted_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(String, DateTime<Utc>)>, ReadError> {
        let since = salesforce_client::soql::datetime(since);
        let rows: Vec<SfContact> = self
            .sf
            .query_all(&format!(
                "SELECT Id, SystemModstamp FROM Contact WHERE IsDeleted = true AND SystemModstamp >= {since}"
            ))
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|c| c.system_modstamp.map(|t| (c.id, t)))
            .collect())
    }

    /// The user's linked Contacts that `listed` lacks and that no longer exist (deleted, in the
    /// Recycle Bin or purged from it): each is looked up by id, so a Contact that only left the
    /// scope is not taken for deleted.
    async fn gone(
        &self,
        ctx: &Ctx,
        user_id: &str,
        listed: &[SfContact],
    ) -> Result<Vec<String>, ReadError> {
        let client = ctx.pool.get().await.map_err(StateError::from)?;
        let linked = links::linked_salesforce_ids(&**client, user_id).await?;
        drop(client);
        let listed: HashSet<&str> = listed.iter().map(|c| c.id.as_str()).collect();
        let unlisted: Vec<&String> = linked
            .iter()
            .filter(|id| !listed.contains(id.as_str()))
            .collect();
        let mut gone = Vec::new();
        for chunk in unlisted.chunks(LOOKUP_CHUNK) {
            let quoted: Vec<String> = chunk
                .iter()
                .map(|id| salesforce_client::soql::quote(id))
                .collect();
            let alive: Vec<SfContact> = self
                .sf
                .query(&format!(
                    "SELECT Id FROM Contact WHERE Id IN ({})",
                    quoted.join(", ")
                ))
                .await?;
            // Ids compare by their first 15 characters: the case-sensitive part every form
            // shares (a stored 15-character id, or an 18-character one in any suffix case).
            let alive: HashSet<String> = alive.iter().map(|c| prefix15(&c.id)).collect();
            gone.extend(
                chunk
                    .iter()
                    .filter(|id| !alive.contains(&prefix15(id)))
                    .map(|id| (*id).clone()),
            );
        }
        Ok(gone)
    }
}

fn prefix15(id: &str) -> String {
    id.chars().take(15).collect()
}

/// The user's scope as a SOQL condition (B2); `None` for every Contact.
async fn scope_condition(
    sf: &SalesforceClient,
    settings: &users::ContactSettings,
    salesforce_user_id: &SalesforceUserId,
) -> Result<Option<String>, ReadError> {
    match &settings.scope {
        Scope::All => Ok(None),
        Scope::Mine => Ok(Some(format!(
            "OwnerId = {}",
            salesforce_client::soql::quote(salesforce_user_id.as_str())
        ))),
        Scope::ListView(id) => {
            let view = sf.describe_list_view("Contact", id).await?;
            let mine = view.is_mine_scope().then(|| {
                format!(
                    "OwnerId = {}",
                    salesforce_client::soql::quote(salesforce_user_id.as_str())
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

/// The ids of deleted or out-of-scope rows; a malformed one becomes its row's error (B15).
fn ids(rows: Vec<SfContact>, errors: &mut Vec<ItemError>) -> Vec<SalesforceId> {
    rows.into_iter()
        .filter_map(|c| {
            SalesforceId::try_from(c.id.as_str())
                .map_err(|e| {
                    let label = sync_core::mapping::salesforce_to_canonical(&c.fields).label();
                    errors.push(malformed(label, "Id", &c.id, &e));
                })
                .ok()
        })
        .collect()
}

/// The per-item error of a record read with a malformed id; logged with the raw value, which
/// never reaches the link store.
fn malformed(label: String, field: &str, raw_id: &str, error: &sync_core::IdError) -> ItemError {
    tracing::warn!(field, record = raw_id, %error, "Salesforce returned a malformed id; the record is left out.");
    ItemError {
        item: label,
        code: ErrorCode::MalformedId,
        field: Some(field.to_owned()),
        message: format!(
            "Salesforce returned a record whose {field} is not a Salesforce id: {error}"
        ),
        sync_key: None,
        graph_id: None,
        salesforce_id: None,
    }
}
