//! The link store (C4: one link per Salesforce Contact and per mailbox contact, per user) and the
//! read cursors of both sides.

use std::collections::HashMap;

use sync_core::{Link, LinkUpdate};
use tokio_postgres::{GenericClient, Transaction};

use crate::StateError;

/// Links stored per statement.
const UPSERT_CHUNK: usize = 5_000;

/// Every link of a user.
pub async fn load_links(
    client: &(impl GenericClient + Sync),
    user_id: &str,
) -> Result<Vec<Link>, StateError> {
    let rows = client
        .query(
            "SELECT link FROM contact_links WHERE user_id = $1 ORDER BY sync_key",
            &[&user_id],
        )
        .await?;
    rows.iter()
        .map(|r| Ok(serde_json::from_value(r.get(0))?))
        .collect()
}

/// What the user's link says of a mailbox item a change notification names: whether the item is
/// linked, and whether its `changeKey` is the one we last wrote or read (then the notification
/// is the echo of our own write, C3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnownItem {
    /// No link points at the item.
    Unlinked,
    /// Linked, and at the change key we know.
    AsWeLeftIt,
    /// Linked, and changed since (or no change key to compare).
    Changed,
}

/// A mailbox item a change notification named (Graph's `resourceData`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NotifiedItem {
    pub graph_id: String,
    /// The item's changeKey after the change (`None` for a deletion, or when Graph sent none).
    #[serde(default)]
    pub change_key: Option<String>,
    #[serde(default)]
    pub deleted: bool,
}

/// Whether the notification of `item` only reports what we did ourselves (C3): an item created
/// or updated that is linked at exactly the changeKey of our own last write or read, or a
/// deleted item no link points at (our own delete, its link already gone; or an item that was
/// never synced).
pub async fn is_echo(
    client: &(impl GenericClient + Sync),
    user_id: &str,
    item: &NotifiedItem,
) -> Result<bool, StateError> {
    let known = known_item(client, user_id, &item.graph_id, item.change_key.as_deref()).await?;
    Ok(if item.deleted {
        known == KnownItem::Unlinked
    } else {
        known == KnownItem::AsWeLeftIt
    })
}

/// Whether there are notified items and each only reports our own writes ([`is_echo`]).
pub async fn all_echoes(
    client: &(impl GenericClient + Sync),
    user_id: &str,
    items: &[NotifiedItem],
) -> Result<bool, StateError> {
    if items.is_empty() {
        return Ok(false);
    }
    for item in items {
        if !is_echo(client, user_id, item).await? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// [`KnownItem`] of the user's item `graph_id` at `change_key` (`None`: the notification carried
/// none, as for a deletion).
pub async fn known_item(
    client: &(impl GenericClient + Sync),
    user_id: &str,
    graph_id: &str,
    change_key: Option<&str>,
) -> Result<KnownItem, StateError> {
    let row = client
        .query_opt(
            "SELECT link->>'change_key' FROM contact_links WHERE user_id = $1 AND graph_id = $2",
            &[&user_id, &graph_id],
        )
        .await?;
    Ok(match row {
        None => KnownItem::Unlinked,
        Some(row) => {
            let stored: Option<String> = row.get(0);
            match (stored.as_deref(), change_key) {
                (Some(stored), Some(notified)) if stored == notified => KnownItem::AsWeLeftIt,
                _ => KnownItem::Changed,
            }
        }
    })
}

/// The Graph ids a user's links point at, with their sync keys: the exchange fetcher keeps other
/// folders' items that are linked (B11), and knows a linked item's stamp without reading it
/// (delta carries no extended properties).
pub async fn linked_graph_ids(
    client: &(impl GenericClient + Sync),
    user_id: &str,
) -> Result<HashMap<String, String>, StateError> {
    let rows = client
        .query(
            "SELECT graph_id, sync_key FROM contact_links WHERE user_id = $1 AND graph_id IS NOT NULL",
            &[&user_id],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// The Salesforce Contact ids a user's links point at: the salesforce fetcher looks them up one
/// by one (`Id IN (...)`) when the delete log no longer reaches back to its cursor, to learn which
/// are gone (B6).
pub async fn linked_salesforce_ids(
    client: &(impl GenericClient + Sync),
    user_id: &str,
) -> Result<Vec<String>, StateError> {
    let rows = client
        .query(
            "SELECT salesforce_id FROM contact_links
             WHERE user_id = $1 AND salesforce_id IS NOT NULL ORDER BY salesforce_id",
            &[&user_id],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Applies a session's link updates. Ids move between rows within one session (a re-created
/// mirror, a moved contact), so the rows being rewritten first let go of their ids; a final state
/// that still gives one id to two links violates the unique indexes and fails the transaction
/// (C4 is enforced by the database, not only by the logic).
pub async fn apply_link_updates(
    tx: &Transaction<'_>,
    user_id: &str,
    updates: &[LinkUpdate],
) -> Result<(), StateError> {
    let mut deleted = Vec::new();
    let mut upserts: Vec<&Link> = Vec::new();
    for update in updates {
        match update {
            LinkUpdate::Delete { sync_key } => deleted.push(sync_key.as_str().to_owned()),
            LinkUpdate::Upsert(link) => upserts.push(&**link),
        }
    }
    if !deleted.is_empty() {
        tx.execute(
            "DELETE FROM contact_links WHERE user_id = $1 AND sync_key = ANY($2)",
            &[&user_id, &deleted],
        )
        .await?;
    }
    let keys: Vec<String> = upserts
        .iter()
        .map(|l| l.sync_key.as_str().to_owned())
        .collect();
    if !keys.is_empty() {
        tx.execute(
            "UPDATE contact_links SET graph_id = NULL, salesforce_id = NULL
             WHERE user_id = $1 AND sync_key = ANY($2)",
            &[&user_id, &keys],
        )
        .await?;
    }
    // One statement per chunk of rows, not one round trip per link: a first mirror stores
    // 100,000 of them at once (issue 12). A key given twice keeps its last link, as it would
    // row by row.
    let mut last: HashMap<&str, &Link> = HashMap::new();
    for link in &upserts {
        last.insert(link.sync_key.as_str(), link);
    }
    let upserts: Vec<&Link> = upserts
        .into_iter()
        .filter(|link| {
            last.get(link.sync_key.as_str())
                .is_some_and(|kept| std::ptr::eq(*kept, *link))
        })
        .collect();
    let statement = tx
        .prepare(
            "INSERT INTO contact_links (user_id, sync_key, salesforce_id, graph_id, link, updated_at)
             SELECT $1, u.sync_key, u.salesforce_id, u.graph_id, u.link, now()
             FROM unnest($2::text[], $3::text[], $4::text[], $5::jsonb[])
                  AS u(sync_key, salesforce_id, graph_id, link)
             ON CONFLICT (user_id, sync_key) DO UPDATE SET
                 salesforce_id = EXCLUDED.salesforce_id,
                 graph_id = EXCLUDED.graph_id,
                 link = EXCLUDED.link,
                 updated_at = now()",
        )
        .await?;
    for chunk in upserts.chunks(UPSERT_CHUNK) {
        let keys: Vec<&str> = chunk.iter().map(|l| l.sync_key.as_str()).collect();
        let salesforce_ids: Vec<Option<&str>> = chunk
            .iter()
            .map(|l| l.salesforce_id.as_ref().map(|id| id.as_str()))
            .collect();
        let graph_ids: Vec<Option<&str>> = chunk
            .iter()
            .map(|l| l.graph_id.as_ref().map(|id| id.as_str()))
            .collect();
        let bodies = chunk
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<Vec<_>, _>>()?;
        tx.execute(
            &statement,
            &[&user_id, &keys, &salesforce_ids, &graph_ids, &bodies],
        )
        .await?;
    }
    Ok(())
}

/// Which side's feed a cursor follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorSide {
    Exchange,
    Salesforce,
}

impl CursorSide {
    fn as_str(self) -> &'static str {
        match self {
            CursorSide::Exchange => "exchange",
            CursorSide::Salesforce => "salesforce",
        }
    }
}

/// A side's stored cursor (opaque JSON owned by its fetcher).
pub async fn load_cursor(
    client: &(impl GenericClient + Sync),
    user_id: &str,
    side: CursorSide,
) -> Result<Option<serde_json::Value>, StateError> {
    Ok(client
        .query_opt(
            "SELECT cursor FROM sync_cursors WHERE user_id = $1 AND side = $2",
            &[&user_id, &side.as_str()],
        )
        .await?
        .map(|r| r.get(0)))
}

/// Stores a side's cursor.
pub async fn store_cursor(
    tx: &Transaction<'_>,
    user_id: &str,
    side: CursorSide,
    cursor: &serde_json::Value,
) -> Result<(), StateError> {
    tx.execute(
        "INSERT INTO sync_cursors (user_id, side, cursor) VALUES ($1, $2, $3)
         ON CONFLICT (user_id, side) DO UPDATE SET cursor = EXCLUDED.cursor, updated_at = now()",
        &[&user_id, &side.as_str(), cursor],
    )
    .await?;
    Ok(())
}

/// Forgets a side's cursor: the user's next session reads that side afresh (a full listing).
pub async fn forget_cursor(
    tx: &Transaction<'_>,
    user_id: &str,
    side: CursorSide,
) -> Result<(), StateError> {
    tx.execute(
        "DELETE FROM sync_cursors WHERE user_id = $1 AND side = $2",
        &[&user_id, &side.as_str()],
    )
    .await?;
    Ok(())
}
