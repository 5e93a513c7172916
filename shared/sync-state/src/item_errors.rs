//! Per-item errors that stay visible until fixed (C7): every contact of a user that currently
//! fails, with when it started failing.
//!
//! A session's summary lists the errors of that session only, and the next session rightly skips
//! a refused contact until it changes; this table keeps the failure on the user's status
//! meanwhile. It is written when a session completes ([`record_session`]): the errors it reported
//! are stored (keeping `since` while the same code and field persist for the item), and the items
//! it synced or saw disappear are cleared. Items the session did not touch keep their rows.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::{GenericClient, Transaction};
use uuid::Uuid;

use crate::StateError;

/// One failure a session reported, with the key of the item it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemFailure {
    /// Which item: its sync key, else `graph:<id>` / `salesforce:<id>` (see [`item_key`]).
    pub item_key: String,
    pub item: String,
    pub code: String,
    pub field: Option<String>,
    pub message: String,
    pub graph_id: Option<String>,
    pub salesforce_id: Option<String>,
}

/// What a session's completion tells this table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionOutcome {
    /// Every failure the session reported (its decisions' and its writers').
    pub failures: Vec<ItemFailure>,
    /// Items the session synced without error, or saw disappear: their rows go. A key that is
    /// also among `failures` is not cleared.
    pub cleared: Vec<String>,
    /// Ids of the mailbox items and Salesforce Contacts now synced without error: they clear
    /// the rows of failures reported before the item had a sync key (`graph:<id>`, …).
    pub synced_graph_ids: Vec<String>,
    pub synced_salesforce_ids: Vec<String>,
}

/// A failing item as the status shows it: `{"item","code","field","message","since"}` (C7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CurrentItemError {
    pub item: String,
    pub code: String,
    pub field: Option<String>,
    pub message: String,
    pub since: DateTime<Utc>,
}

/// The key of an item: its sync key when it has one, else the id of whichever side holds it.
/// `None` for errors about no item (the session-wide mass-delete guard, C5).
pub fn item_key(
    sync_key: Option<&str>,
    graph_id: Option<&str>,
    salesforce_id: Option<&str>,
) -> Option<String> {
    sync_key
        .map(str::to_owned)
        .or_else(|| graph_id.map(|id| format!("graph:{id}")))
        .or_else(|| salesforce_id.map(|id| format!("salesforce:{id}")))
}

/// Stores a completed session's outcome for `user_id`, inside the transaction that completes it.
pub async fn record_session(
    tx: &Transaction<'_>,
    user_id: &str,
    job_id: Uuid,
    now: DateTime<Utc>,
    outcome: &SessionOutcome,
) -> Result<(), StateError> {
    let mut reported: Vec<&str> = outcome
        .failures
        .iter()
        .map(|f| f.item_key.as_str())
        .collect();
    reported.sort_unstable();
    reported.dedup();
    // An item's failures are replaced as a whole: a code or field no longer reported for it is
    // fixed, while one reported again keeps its `since`.
    for key in &reported {
        let (codes, fields): (Vec<&str>, Vec<&str>) = outcome
            .failures
            .iter()
            .filter(|f| f.item_key == *key)
            .map(|f| (f.code.as_str(), f.field.as_deref().unwrap_or("")))
            .unzip();
        tx.execute(
            "DELETE FROM item_errors e
             WHERE e.user_id = $1 AND e.item_key = $2
               AND NOT EXISTS (SELECT 1 FROM unnest($3::text[], $4::text[]) AS r (code, field)
                               WHERE r.code = e.code AND r.field = e.field)",
            &[&user_id, key, &codes, &fields],
        )
        .await?;
    }
    for f in &outcome.failures {
        tx.execute(
            "INSERT INTO item_errors (user_id, item_key, code, field, item, message, graph_id,
                                      salesforce_id, since, job_id, seen_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $9)
             ON CONFLICT (user_id, item_key, code, field) DO UPDATE
             SET item = EXCLUDED.item, message = EXCLUDED.message,
                 graph_id = COALESCE(EXCLUDED.graph_id, item_errors.graph_id),
                 salesforce_id = COALESCE(EXCLUDED.salesforce_id, item_errors.salesforce_id),
                 job_id = EXCLUDED.job_id, seen_at = EXCLUDED.seen_at",
            &[
                &user_id,
                &f.item_key,
                &f.code,
                &f.field.as_deref().unwrap_or(""),
                &f.item,
                &f.message,
                &f.graph_id,
                &f.salesforce_id,
                &now,
                &job_id,
            ],
        )
        .await?;
    }
    let cleared: Vec<&str> = outcome
        .cleared
        .iter()
        .map(String::as_str)
        .filter(|k| reported.binary_search(k).is_err())
        .collect();
    if !cleared.is_empty() {
        tx.execute(
            "DELETE FROM item_errors WHERE user_id = $1 AND item_key = ANY($2)",
            &[&user_id, &cleared],
        )
        .await?;
    }
    if !outcome.synced_graph_ids.is_empty() || !outcome.synced_salesforce_ids.is_empty() {
        tx.execute(
            "DELETE FROM item_errors
             WHERE user_id = $1 AND (item_key LIKE 'graph:%' OR item_key LIKE 'salesforce:%')
               AND (graph_id = ANY($2) OR salesforce_id = ANY($3))
               AND item_key <> ALL($4)",
            &[
                &user_id,
                &outcome.synced_graph_ids,
                &outcome.synced_salesforce_ids,
                &reported,
            ],
        )
        .await?;
    }
    Ok(())
}

/// Every item of the user that currently fails, oldest first.
pub async fn current(
    client: &(impl GenericClient + Sync),
    user_id: &str,
) -> Result<Vec<CurrentItemError>, StateError> {
    let rows = client
        .query(
            "SELECT item, code, field, message, since FROM item_errors WHERE user_id = $1
             ORDER BY since, item, code, field",
            &[&user_id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let field: String = r.get(2);
            CurrentItemError {
                item: r.get(0),
                code: r.get(1),
                field: (!field.is_empty()).then_some(field),
                message: r.get(3),
                since: r.get(4),
            }
        })
        .collect())
}

/// How many items fail per user, for the users given (the dashboard's page); users without
/// failures are absent.
pub async fn counts(
    client: &(impl GenericClient + Sync),
    user_ids: &[String],
) -> Result<Vec<(String, i64)>, StateError> {
    let rows = client
        .query(
            "SELECT user_id, count(DISTINCT item_key) FROM item_errors
             WHERE user_id = ANY($1) GROUP BY user_id",
            &[&user_ids],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}
