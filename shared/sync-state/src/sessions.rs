//! Sync sessions: one per user at a time (B3 coalescing), gathering both sides' reads, counting
//! the write batches still out, and keeping the finished session's summary (SPEC §4).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::Transaction;
use uuid::Uuid;

use crate::StateError;

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    Fetching,
    Writing,
    Succeeded,
    Partial,
    Failed,
}

impl SessionState {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Fetching => "fetching",
            SessionState::Writing => "writing",
            SessionState::Succeeded => "succeeded",
            SessionState::Partial => "partial",
            SessionState::Failed => "failed",
        }
    }
}

/// Writes of one side in a session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteCounts {
    pub created: u32,
    pub updated: u32,
    pub deleted: u32,
}

/// Writes of both sides.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Writes {
    pub exchange: WriteCounts,
    pub salesforce: WriteCounts,
}

/// A per-item error reported on the user's status (C7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemError {
    pub item: String,
    pub code: String,
    #[serde(default)]
    pub field: Option<String>,
    pub message: String,
}

/// The accumulating part of a summary, stored as JSON on the session row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub writes: Writes,
    pub errors: Vec<ItemError>,
    /// Set when the session cannot finish normally (a side's read failed, a guard fired).
    #[serde(default)]
    pub failure: Option<String>,
}

/// The outcome of asking for a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOutcome {
    /// A new session was created; its job must be published.
    Started(Uuid),
    /// One is already in flight; the trigger is remembered and runs right after it (B3).
    Coalesced(Uuid),
}

/// Locks the user's scheduling row for the rest of the transaction.
///
/// Every transaction that touches a user's sessions takes this lock first (starting a session,
/// taking a read, folding in results, the scheduler's claim): one lock order everywhere, so two
/// of them never deadlock, and one user's session steps run one at a time.
pub async fn lock_user(tx: &Transaction<'_>, user_id: &str) -> Result<(), StateError> {
    let found = tx
        .query_opt(
            "SELECT 1 FROM user_sync_state WHERE user_id = $1 FOR UPDATE",
            &[&user_id],
        )
        .await?;
    match found {
        Some(_) => Ok(()),
        None => Err(StateError::NotFound(format!("user {user_id}"))),
    }
}

/// Starts a session for a user unless one is in flight, in which case the trigger is remembered.
pub async fn start_session(
    tx: &Transaction<'_>,
    user_id: &str,
    trigger: &str,
) -> Result<StartOutcome, StateError> {
    lock_user(tx, user_id).await?;
    let job_id = Uuid::now_v7();
    let inserted = tx
        .query_opt(
            "INSERT INTO sync_sessions (job_id, user_id, trigger) VALUES ($1, $2, $3)
             ON CONFLICT (user_id) WHERE state IN ('fetching', 'writing') DO NOTHING
             RETURNING job_id",
            &[&job_id, &user_id, &trigger],
        )
        .await?;
    if inserted.is_some() {
        tx.execute(
            "UPDATE user_sync_state SET pending_trigger = false WHERE user_id = $1",
            &[&user_id],
        )
        .await?;
        return Ok(StartOutcome::Started(job_id));
    }
    tx.execute(
        "UPDATE user_sync_state SET pending_trigger = true WHERE user_id = $1",
        &[&user_id],
    )
    .await?;
    let active: Uuid = tx
        .query_one(
            "SELECT job_id FROM sync_sessions WHERE user_id = $1 AND state IN ('fetching', 'writing')",
            &[&user_id],
        )
        .await?
        .get(0);
    Ok(StartOutcome::Coalesced(active))
}

/// The session's user, when it is still gathering reads.
pub async fn lock_fetching_session(
    tx: &Transaction<'_>,
    job_id: Uuid,
) -> Result<Option<(String, Option<serde_json::Value>, Option<serde_json::Value>)>, StateError> {
    let row = tx
        .query_opt(
            "SELECT user_id, exchange_input, salesforce_input FROM sync_sessions
             WHERE job_id = $1 AND state = 'fetching' FOR UPDATE",
            &[&job_id],
        )
        .await?;
    Ok(row.map(|r| (r.get(0), r.get(1), r.get(2))))
}

/// Stores one side's read of a session.
pub async fn store_input(
    tx: &Transaction<'_>,
    job_id: Uuid,
    exchange_side: bool,
    input: &serde_json::Value,
) -> Result<(), StateError> {
    let sql = if exchange_side {
        "UPDATE sync_sessions SET exchange_input = $2 WHERE job_id = $1"
    } else {
        "UPDATE sync_sessions SET salesforce_input = $2 WHERE job_id = $1"
    };
    tx.execute(sql, &[&job_id, input]).await?;
    Ok(())
}

/// Moves a session to writing: its decisions and the cursors to store at the end are kept on the
/// row, with `batches` write batches out. The raw inputs are dropped.
pub async fn begin_writing(
    tx: &Transaction<'_>,
    job_id: Uuid,
    decisions: &serde_json::Value,
    cursors: &serde_json::Value,
    batches: i32,
    progress: &Progress,
) -> Result<(), StateError> {
    tx.execute(
        "UPDATE sync_sessions SET state = 'writing', pending_batches = $2, summary = $3,
                decisions = $4, cursors = $5, results = '[]'::jsonb,
                exchange_input = NULL, salesforce_input = NULL
         WHERE job_id = $1",
        &[
            &job_id,
            &batches,
            &serde_json::to_value(progress)?,
            decisions,
            cursors,
        ],
    )
    .await?;
    Ok(())
}

/// A writing session, locked for update while a batch's results are folded in.
#[derive(Debug, Clone)]
pub struct WritingSession {
    pub user_id: String,
    pub pending_batches: i32,
    pub progress: Progress,
    pub decisions: serde_json::Value,
    pub cursors: serde_json::Value,
    pub results: serde_json::Value,
}

/// Locks a writing session; `None` if it is not writing (finished, failed, or unknown).
pub async fn lock_writing_session(
    tx: &Transaction<'_>,
    job_id: Uuid,
) -> Result<Option<WritingSession>, StateError> {
    let row = tx
        .query_opt(
            "SELECT user_id, pending_batches, summary, decisions, cursors, results
             FROM sync_sessions WHERE job_id = $1 AND state = 'writing' FOR UPDATE",
            &[&job_id],
        )
        .await?;
    let Some(r) = row else { return Ok(None) };
    let summary: Option<serde_json::Value> = r.get(2);
    Ok(Some(WritingSession {
        user_id: r.get(0),
        pending_batches: r.get(1),
        progress: match summary {
            Some(v) => serde_json::from_value(v)?,
            None => Progress::default(),
        },
        decisions: r.get::<_, Option<serde_json::Value>>(3).unwrap_or_default(),
        cursors: r.get::<_, Option<serde_json::Value>>(4).unwrap_or_default(),
        results: r.get(5),
    }))
}

/// Records a finished batch: its results appended, progress updated; returns the batches still out.
pub async fn batch_done(
    tx: &Transaction<'_>,
    job_id: Uuid,
    results: &serde_json::Value,
    progress: &Progress,
) -> Result<i32, StateError> {
    let row = tx
        .query_one(
            "UPDATE sync_sessions SET pending_batches = pending_batches - 1, summary = $2,
                    results = results || $3
             WHERE job_id = $1 RETURNING pending_batches",
            &[&job_id, &serde_json::to_value(progress)?, results],
        )
        .await?;
    Ok(row.get(0))
}

/// Finishes a session with its final state; returns whether a trigger arrived meanwhile (the caller
/// then starts the next session).
pub async fn finish(
    tx: &Transaction<'_>,
    job_id: Uuid,
    state: SessionState,
    progress: &Progress,
) -> Result<bool, StateError> {
    let row = tx
        .query_opt(
            "UPDATE sync_sessions SET state = $2, summary = $3, finished_at = now(),
                    exchange_input = NULL, salesforce_input = NULL, decisions = NULL, cursors = NULL,
                    results = '[]'::jsonb
             WHERE job_id = $1 AND state IN ('fetching', 'writing') RETURNING user_id",
            &[&job_id, &state.as_str(), &serde_json::to_value(progress)?],
        )
        .await?;
    let Some(row) = row else { return Ok(false) };
    let user_id: String = row.get(0);
    let pending = tx
        .query_opt(
            "SELECT pending_trigger FROM user_sync_state WHERE user_id = $1",
            &[&user_id],
        )
        .await?
        .map(|r| r.get::<_, bool>(0))
        .unwrap_or(false);
    Ok(pending)
}

/// Marks as failed the sessions in flight for longer than `max_age`, so a lost message cannot block
/// a user forever; returns their job ids.
pub async fn fail_stale(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    max_age: Duration,
) -> Result<Vec<(Uuid, String)>, StateError> {
    let cutoff = now - max_age;
    let progress = Progress {
        failure: Some("session timed out".into()),
        ..Progress::default()
    };
    let rows = tx
        .query(
            "UPDATE sync_sessions SET state = 'failed', finished_at = now(),
                    summary = COALESCE(summary, '{}'::jsonb) || jsonb_build_object('failure', $2::text)
             WHERE state IN ('fetching', 'writing') AND created_at < $1
             RETURNING job_id, user_id",
            &[&cutoff, &progress.failure],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Records that a message's effect is being applied in this transaction; false when it was
/// already applied (a redelivered duplicate).
pub async fn first_delivery(tx: &Transaction<'_>, message_id: &str) -> Result<bool, StateError> {
    let n = tx
        .execute(
            "INSERT INTO processed_messages (message_id) VALUES ($1) ON CONFLICT DO NOTHING",
            &[&message_id],
        )
        .await?;
    Ok(n == 1)
}
