//! The per-org Salesforce change feed (SPEC §3, issue 11): the org cursor, the ids its overlap
//! already routed, and each user's inbox of routed changes.
//!
//! The salesforce fetcher reads an org's changes once, holding the org's `org_feeds` row locked
//! ([`lock`]) from the read to the commit of its routing, so replicas never read one org twice at
//! once and a user's inbox rows are numbered (`seq`) in the order they commit. A user's session
//! then takes the rows after its cursor's `seq` ([`inbox_after`]) and, once that cursor is stored,
//! the next session deletes them ([`prune_inbox`]).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sync_core::{SalesforceContact, SalesforceId, Scope};
use tokio_postgres::{GenericClient, Transaction};

use crate::StateError;
use crate::users::ContactSettings;

/// Where an org's feed stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedState {
    /// Newest Contact `SystemModstamp` read; `None` before the feed's first read.
    pub contact_high_water: Option<DateTime<Utc>>,
    /// Newest Account `SystemModstamp` read.
    pub account_high_water: Option<DateTime<Utc>>,
    /// Where the next Get Deleted window starts.
    pub deleted_from: Option<DateTime<Utc>>,
    /// Our clock when the last completed read began.
    pub read_started_at: Option<DateTime<Utc>>,
    /// Bumped when the delete log could not tell what was deleted: users re-list once.
    pub relist_epoch: i64,
    /// Completed reads.
    pub reads: i64,
}

impl FeedState {
    /// Whether a read that began at or after `needed_after` has completed.
    pub fn is_fresh(&self, needed_after: DateTime<Utc>) -> bool {
        self.read_started_at.is_some_and(|t| t >= needed_after)
    }

    fn from_row(r: &tokio_postgres::Row) -> Self {
        FeedState {
            contact_high_water: r.get("contact_high_water"),
            account_high_water: r.get("account_high_water"),
            deleted_from: r.get("deleted_from"),
            read_started_at: r.get("read_started_at"),
            relist_epoch: r.get("relist_epoch"),
            reads: r.get("reads"),
        }
    }
}

const FEED_COLUMNS: &str =
    "contact_high_water, account_high_water, deleted_from, read_started_at, relist_epoch, reads";

/// The org's feed as last committed (`None`: never read).
pub async fn state(
    client: &(impl GenericClient + Sync),
    org_id: &str,
) -> Result<Option<FeedState>, StateError> {
    Ok(client
        .query_opt(
            &format!("SELECT {FEED_COLUMNS} FROM org_feeds WHERE org_id = $1"),
            &[&org_id],
        )
        .await?
        .map(|r| FeedState::from_row(&r)))
}

/// How long a session waits for another fetcher's read of the org before it gives up (and its
/// delivery is retried): a read stuck on a Salesforce outage does not hold the org's sessions
/// for longer.
pub const LOCK_WAIT_SECS: u32 = 60;

/// Locks the org's feed row for this transaction (creating it), waiting while another fetcher
/// reads the org (at most [`LOCK_WAIT_SECS`]: then a transient error); returns its state as that
/// reader left it.
pub async fn lock(tx: &Transaction<'_>, org_id: &str) -> Result<FeedState, StateError> {
    tx.batch_execute(&format!("SET LOCAL lock_timeout = '{LOCK_WAIT_SECS}s'"))
        .await?;
    tx.execute(
        "INSERT INTO org_feeds (org_id) VALUES ($1) ON CONFLICT (org_id) DO NOTHING",
        &[&org_id],
    )
    .await?;
    let row = tx
        .query_one(
            &format!("SELECT {FEED_COLUMNS} FROM org_feeds WHERE org_id = $1 FOR UPDATE"),
            &[&org_id],
        )
        .await?;
    Ok(FeedState::from_row(&row))
}

/// Stores the feed's new state (under [`lock`]).
pub async fn save(tx: &Transaction<'_>, org_id: &str, s: &FeedState) -> Result<(), StateError> {
    tx.execute(
        "UPDATE org_feeds SET contact_high_water = $2, account_high_water = $3,
             deleted_from = $4, read_started_at = $5, relist_epoch = $6, reads = $7,
             updated_at = now()
         WHERE org_id = $1",
        &[
            &org_id,
            &s.contact_high_water,
            &s.account_high_water,
            &s.deleted_from,
            &s.read_started_at,
            &s.relist_epoch,
            &s.reads,
        ],
    )
    .await?;
    Ok(())
}

/// Of `(id, SystemModstamp)` pairs read, those not routed before with that stamp or a newer one
/// (the org cursor's overlap reads rows again); records them as routed.
pub async fn unseen(
    tx: &Transaction<'_>,
    org_id: &str,
    read: &[(String, DateTime<Utc>)],
) -> Result<HashSet<String>, StateError> {
    if read.is_empty() {
        return Ok(HashSet::new());
    }
    let (ids, stamps): (Vec<&str>, Vec<DateTime<Utc>>) =
        read.iter().map(|(id, t)| (id.as_str(), *t)).unzip();
    let rows = tx
        .query(
            "INSERT INTO org_feed_seen AS s (org_id, salesforce_id, system_modstamp)
             SELECT $1, id, max(stamp) FROM unnest($2::text[], $3::timestamptz[]) AS r(id, stamp)
             GROUP BY id
             ON CONFLICT (org_id, salesforce_id) DO UPDATE
                 SET system_modstamp = EXCLUDED.system_modstamp
                 WHERE s.system_modstamp < EXCLUDED.system_modstamp
             RETURNING salesforce_id",
            &[&org_id, &ids, &stamps],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Forgets routed stamps older than `before` (behind the cursor by more than the overlap: never
/// read again).
pub async fn forget_seen_before(
    tx: &Transaction<'_>,
    org_id: &str,
    before: DateTime<Utc>,
) -> Result<u64, StateError> {
    Ok(tx
        .execute(
            "DELETE FROM org_feed_seen WHERE org_id = $1 AND system_modstamp < $2",
            &[&org_id, &before],
        )
        .await?)
}

/// An enabled user of the org as routing sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub user_id: String,
    pub salesforce_user_id: SalesforceId,
    pub scope: Scope,
}

/// The org's users with sync enabled, and their scopes.
pub async fn recipients(
    client: &(impl GenericClient + Sync),
    org_id: &str,
) -> Result<Vec<Recipient>, StateError> {
    let rows = client
        .query(
            "SELECT u.id, u.salesforce_user_id, s.enabled, s.scope, s.list_view_id,
                    s.auto_removal, s.conflict_winner, s.scope_version
             FROM users u JOIN contact_settings s ON s.user_id = u.id
             WHERE u.org_id = $1 AND s.enabled ORDER BY u.id",
            &[&org_id],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let settings: ContactSettings = crate::users::settings_from_row(r)?;
            let owner: String = r.get(1);
            Ok(Recipient {
                user_id: r.get(0),
                salesforce_user_id: SalesforceId::try_from(owner)
                    .map_err(|e| StateError::Invalid(format!("stored salesforce_user_id: {e}")))?,
                scope: settings.scope,
            })
        })
        .collect()
}

/// The users of `org_id` linked to each of `ids` (18-character ids, as links store them).
pub async fn linked_users(
    client: &(impl GenericClient + Sync),
    org_id: &str,
    ids: &[&str],
) -> Result<HashMap<String, Vec<String>>, StateError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = client
        .query(
            "SELECT l.salesforce_id, l.user_id FROM contact_links l
             JOIN users u ON u.id = l.user_id
             WHERE l.salesforce_id = ANY($2) AND u.org_id = $1",
            &[&org_id, &ids],
        )
        .await?;
    let mut linked: HashMap<String, Vec<String>> = HashMap::new();
    for r in rows {
        linked.entry(r.get(0)).or_default().push(r.get(1));
    }
    Ok(linked)
}

/// What the feed routes to one user about one Contact.
#[derive(Debug, Clone, PartialEq)]
pub enum Routed {
    /// The Contact as read; `in_scope` false: the user only holds a link to it (a scope exit).
    Changed {
        contact: Box<SalesforceContact>,
        in_scope: bool,
    },
    /// Deleted at that time.
    Deleted { at: DateTime<Utc> },
}

/// One inbox row to write.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub user_id: String,
    pub salesforce_id: SalesforceId,
    pub routed: Routed,
}

/// Writes routed changes into the users' inboxes (under [`lock`]): each replaces what the inbox
/// held for that user and Contact, with a new `seq`.
pub async fn deliver(tx: &Transaction<'_>, deliveries: &[Delivery]) -> Result<u64, StateError> {
    let mut users = Vec::with_capacity(deliveries.len());
    let mut ids = Vec::with_capacity(deliveries.len());
    let mut in_scope = Vec::with_capacity(deliveries.len());
    let mut deleted_at: Vec<Option<DateTime<Utc>>> = Vec::with_capacity(deliveries.len());
    let mut records: Vec<Option<serde_json::Value>> = Vec::with_capacity(deliveries.len());
    for d in deliveries {
        users.push(d.user_id.as_str());
        ids.push(d.salesforce_id.as_str());
        match &d.routed {
            Routed::Changed {
                contact,
                in_scope: s,
            } => {
                in_scope.push(*s);
                deleted_at.push(None);
                records.push(Some(serde_json::to_value(contact)?));
            }
            Routed::Deleted { at } => {
                in_scope.push(false);
                deleted_at.push(Some(*at));
                records.push(None);
            }
        }
    }
    let mut written = 0;
    // Bounded statements: a burst of changes routed to many users stays a few round trips.
    const CHUNK: usize = 5_000;
    for start in (0..deliveries.len()).step_by(CHUNK) {
        let end = (start + CHUNK).min(deliveries.len());
        written += tx
            .execute(
                "INSERT INTO salesforce_inbox (user_id, salesforce_id, in_scope, deleted_at, record)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::bool[], $4::timestamptz[],
                                      $5::jsonb[])
                 ON CONFLICT (user_id, salesforce_id) DO UPDATE
                     SET seq = nextval('salesforce_inbox_seq'), in_scope = EXCLUDED.in_scope,
                         deleted_at = EXCLUDED.deleted_at, record = EXCLUDED.record,
                         routed_at = now()",
                &[
                    &&users[start..end],
                    &&ids[start..end],
                    &&in_scope[start..end],
                    &&deleted_at[start..end],
                    &&records[start..end],
                ],
            )
            .await?;
    }
    Ok(written)
}

/// One routed change as a session takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct InboxEntry {
    pub seq: i64,
    pub salesforce_id: SalesforceId,
    pub routed: Routed,
}

/// The user's inbox rows after `seq`, in order.
pub async fn inbox_after(
    client: &(impl GenericClient + Sync),
    user_id: &str,
    seq: i64,
) -> Result<Vec<InboxEntry>, StateError> {
    let rows = client
        .query(
            "SELECT seq, salesforce_id, in_scope, deleted_at, record FROM salesforce_inbox
             WHERE user_id = $1 AND seq > $2 ORDER BY seq",
            &[&user_id, &seq],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let id: String = r.get(1);
            let salesforce_id = SalesforceId::try_from(id)
                .map_err(|e| StateError::Invalid(format!("stored inbox salesforce_id: {e}")))?;
            let deleted_at: Option<DateTime<Utc>> = r.get(3);
            let record: Option<serde_json::Value> = r.get(4);
            let routed = match (deleted_at, record) {
                (Some(at), _) => Routed::Deleted { at },
                (None, Some(record)) => Routed::Changed {
                    contact: Box::new(serde_json::from_value(record)?),
                    in_scope: r.get(2),
                },
                (None, None) => {
                    return Err(StateError::Invalid(
                        "an inbox row with neither a record nor a deletion".into(),
                    ));
                }
            };
            Ok(InboxEntry {
                seq: r.get(0),
                salesforce_id,
                routed,
            })
        })
        .collect()
}

/// The newest `seq` in the user's inbox (0 when empty): a session that lists its whole scope
/// takes this as its cursor, since the listing covers every row routed before it.
pub async fn inbox_head(
    client: &(impl GenericClient + Sync),
    user_id: &str,
) -> Result<i64, StateError> {
    Ok(client
        .query_one(
            "SELECT COALESCE(max(seq), 0) FROM salesforce_inbox WHERE user_id = $1",
            &[&user_id],
        )
        .await?
        .get(0))
}

/// Deletes the user's inbox rows up to `seq`: a stored cursor covers them.
pub async fn prune_inbox(
    client: &(impl GenericClient + Sync),
    user_id: &str,
    seq: i64,
) -> Result<u64, StateError> {
    Ok(client
        .execute(
            "DELETE FROM salesforce_inbox WHERE user_id = $1 AND seq <= $2",
            &[&user_id, &seq],
        )
        .await?)
}
