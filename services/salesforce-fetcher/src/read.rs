//! The Salesforce side of one session (B2, B6, B7), from the org's change feed (`feed.rs`):
//! the feed is caught up first when the session asks for fresher changes than it holds (always
//! for a session someone asked for or a notification started; for a periodic one, when the last
//! read began more than `SALESFORCE_FEED_MAX_AGE_SECS` before the session was requested), then
//! the session takes what the feed routed to its user since its cursor — with no Salesforce
//! request at all. A first session or a new scope lists the scope (one scoped query); so does a
//! session after the delete log lost track of deletions (the feed's relist epoch moved), which
//! also looks up every linked Contact the listing lacks (`Id IN (...)`) to learn which are gone.
//! Ids come out in their 18-character form whichever form Salesforce answered with (B15).

use std::collections::HashSet;

use chrono::Duration;
use contracts::{SyncJob, Trigger};
use salesforce_client::{SYNC_KEY_FIELD, SalesforceClient, SalesforceError, SfContact};
use serde::{Deserialize, Serialize};
use sync_core::{
    ErrorCode, ItemError, ReadKind, SalesforceChanges, SalesforceContact, SalesforceId,
    SalesforceUserId, Scope,
};
use sync_state::StateError;
use sync_state::links::{self, CursorSide};
use sync_state::org_feed::{self, Routed};
use sync_state::users;

use crate::{Ctx, feed};

/// Ids looked up per `Id IN (...)` query: about 30 URL-encoded characters each keeps the request
/// well under Salesforce's 16 KB URI limit.
pub(crate) const LOOKUP_CHUNK: usize = 200;

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
    /// The settings' scope version this cursor was read under (B7: a new scope reads afresh).
    pub scope_version: i32,
    /// The last inbox row taken; `None` in cursors written before the org feed: the next
    /// session re-lists (and looks up what is gone).
    #[serde(default)]
    pub inbox_seq: Option<i64>,
    /// The org feed's relist epoch this cursor was read under: a newer one means the delete log
    /// lost track of deletions, and the next session re-lists.
    #[serde(default)]
    pub feed_epoch: Option<i64>,
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
            .and_then(|v| serde_json::from_value(v).ok())
            .filter(|c: &SalesforceCursor| c.scope_version == settings.scope_version);
    drop(client);
    let sf = ctx.clients.salesforce(&user.org_id).await?;
    let needed_after = job.header.occurred_at - feed_max_age(ctx, job.trigger);
    let feed = feed::catch_up(ctx, &user.org_id, &sf, needed_after).await?;

    let resume = stored.as_ref().and_then(|c| {
        c.inbox_seq
            .filter(|_| c.feed_epoch == Some(feed.relist_epoch))
    });
    let (read, inbox_seq) = match resume {
        Some(seq) => {
            let client = ctx.pool.get().await.map_err(StateError::from)?;
            // The stored cursor covers these: the session that took them completed.
            org_feed::prune_inbox(&**client, &user.id, seq).await?;
            let entries = org_feed::inbox_after(&**client, &user.id, seq).await?;
            let last = entries.last().map_or(seq, |e| e.seq);
            (from_inbox(entries), last)
        }
        None => {
            // Everything routed so far is covered by the listing that follows.
            let head = {
                let client = ctx.pool.get().await.map_err(StateError::from)?;
                org_feed::inbox_head(&**client, &user.id).await?
            };
            let scope = scope_condition(&sf, &settings, &user.salesforce_user_id).await?;
            let owner = salesforce_client::soql::quote(user.salesforce_user_id.as_str());
            // B7: Contacts created from the mailbox stay linked whatever the scope; they are the
            // user's.
            let membership = scope
                .map(|w| format!("(({w}) OR (OwnerId = {owner} AND {SYNC_KEY_FIELD} != null))"));
            let reader = Reader {
                sf: &sf,
                membership: membership.as_deref(),
            };
            let mut read = reader.listing().await?;
            if stored.is_some() {
                // Same scope, but the changes in between cannot be told (a cursor from before
                // the org feed, or a delete log that lost track): what the listing lacks may be
                // gone, or only out of scope.
                tracing::info!("Re-listing the scope; looking up the linked Contacts it lacks.");
                read.deleted = reader.gone(ctx, &user.id, &read.contacts).await?;
            }
            (read, head)
        }
    };
    let mut errors = read.errors;
    // B15: ids come out in the 18-character form whatever the query returned; a record whose
    // id is no Salesforce id is that record's error, not the session's.
    let mut contacts = read.routed;
    contacts.extend(read.contacts.into_iter().filter_map(|c| {
        let label = sync_core::mapping::salesforce_to_canonical(&c.fields).label();
        let raw = c.id.clone();
        SalesforceContact::try_from(c)
            .map_err(|e| errors.push(malformed(label, e.field, &raw, &e.source)))
            .ok()
    }));
    let mut deleted = read.routed_deleted;
    deleted.extend(read.deleted.into_iter().filter_map(|id| {
        SalesforceId::try_from(id.as_str())
            .map_err(|e| errors.push(malformed(id.clone(), "Id", &id, &e)))
            .ok()
    }));
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
        out_of_scope: read.out_of_scope,
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
        scope_version: settings.scope_version,
        inbox_seq: Some(inbox_seq),
        feed_epoch: Some(feed.relist_epoch),
    };
    Ok((
        changes,
        serde_json::to_value(cursor).map_err(StateError::from)?,
    ))
}

/// How old the org feed's last read may be for a session requested with `trigger`: someone asked
/// for this session, or something changed (a notification, a trigger that arrived meanwhile),
/// so the feed must have been read since; a periodic session takes a read up to
/// `SALESFORCE_FEED_MAX_AGE_SECS` older, so a sweep of the org's users reads it once.
fn feed_max_age(ctx: &Ctx, trigger: Trigger) -> Duration {
    match trigger {
        Trigger::Schedule | Trigger::DeletionsDue => {
            Duration::seconds(ctx.settings.feed_max_age_secs)
        }
        Trigger::Manual
        | Trigger::Notification
        | Trigger::Settings
        | Trigger::Pending
        | Trigger::ConfirmDeletions => Duration::zero(),
    }
}

/// The session's share of the inbox, as the reconciler takes it: changed Contacts in scope,
/// linked ones that left it, deletions. Newest state per Contact (the inbox keeps one row each).
fn from_inbox(entries: Vec<org_feed::InboxEntry>) -> Read {
    let mut read = Read::new(ReadKind::Incremental);
    for entry in entries {
        match entry.routed {
            Routed::Changed {
                contact,
                in_scope: true,
            } => read.routed.push(*contact),
            Routed::Changed {
                in_scope: false, ..
            } => read.out_of_scope.push(entry.salesforce_id),
            Routed::Deleted { .. } => read.routed_deleted.push(entry.salesforce_id),
        }
    }
    read
}

/// The queries of a listing.
struct Reader<'a> {
    sf: &'a SalesforceClient,
    /// The scope plus the user's up-synced Contacts, as a SOQL condition; `None` for all.
    membership: Option<&'a str>,
}

/// What one read found.
struct Read {
    kind: ReadKind,
    /// Listed Contacts, as Salesforce answered (ids not yet checked).
    contacts: Vec<SfContact>,
    /// Ids of listed-as-gone Contacts, as Salesforce answered.
    deleted: Vec<String>,
    /// From the inbox: Contacts in scope, deletions, linked Contacts out of scope.
    routed: Vec<SalesforceContact>,
    routed_deleted: Vec<SalesforceId>,
    out_of_scope: Vec<SalesforceId>,
    errors: Vec<ItemError>,
}

impl Read {
    fn new(kind: ReadKind) -> Self {
        Read {
            kind,
            contacts: Vec::new(),
            deleted: Vec::new(),
            routed: Vec::new(),
            routed_deleted: Vec::new(),
            out_of_scope: Vec::new(),
            errors: Vec::new(),
        }
    }
}

impl Reader<'_> {
    /// Every Contact in the scope (and the user's up-synced ones), as a complete listing.
    async fn listing(&self) -> Result<Read, ReadError> {
        let fields = SfContact::soql_fields();
        let soql = match self.membership {
            Some(m) => format!("SELECT {fields} FROM Contact WHERE {m}"),
            None => format!("SELECT {fields} FROM Contact"),
        };
        let mut read = Read::new(ReadKind::Complete);
        read.contacts = self.sf.query(&soql).await?;
        Ok(read)
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
        let listed: HashSet<String> = listed.iter().map(|c| prefix15(&c.id)).collect();
        let unlisted: Vec<&String> = linked
            .iter()
            .filter(|id| !listed.contains(&prefix15(id)))
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
