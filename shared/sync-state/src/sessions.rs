//! Sync sessions: one per user at a time (B3 coalescing), gathering both sides' reads, counting
//! the write batches still out (their decisions and results kept per batch, in
//! `session_batches`), and keeping the finished session's summary (SPEC §4).

use chrono::{DateTime, Duration, Utc};
use contracts::Trigger;
use serde::{Deserialize, Serialize};
use tokio_postgres::{GenericClient, Row, Transaction};
use uuid::Uuid;

use crate::StateError;
use crate::session_batches::{self, BatchDecisions};

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

    /// True while the session still reads or writes.
    pub fn is_in_flight(self) -> bool {
        matches!(self, SessionState::Fetching | SessionState::Writing)
    }

    /// The state a row stores.
    fn parse(stored: &str) -> Result<Self, StateError> {
        Ok(match stored {
            "fetching" => SessionState::Fetching,
            "writing" => SessionState::Writing,
            "succeeded" => SessionState::Succeeded,
            "partial" => SessionState::Partial,
            "failed" => SessionState::Failed,
            other => {
                return Err(StateError::Invalid(format!(
                    "stored session state {other:?}"
                )));
            }
        })
    }
}

/// The read positions a session stores when it completes, one per side (opaque JSON owned by
/// that side's fetcher; `None` when the side's read gave none).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cursors {
    #[serde(default)]
    pub exchange: Option<serde_json::Value>,
    #[serde(default)]
    pub salesforce: Option<serde_json::Value>,
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
    /// The user's org failed its onboarding check: no session starts, the trigger is
    /// remembered and runs once a check of the org passes (see `org_checks`).
    Deferred,
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

/// Starts a session for a user unless one is in flight or the user's org is not ready, in which
/// cases the trigger is remembered.
///
/// A new session takes the job id a sync request reserved for it, if one did (see
/// [`crate::request`]), so that request waits on the session that really follows it.
pub async fn start_session(
    tx: &Transaction<'_>,
    user_id: &str,
    trigger: Trigger,
) -> Result<StartOutcome, StateError> {
    start_session_notified(tx, user_id, trigger, None).await
}

/// [`start_session`] for change notifications that named these mailbox items (`notified`): when
/// the trigger is remembered behind a running session, so are the items, and the session that
/// closes starts no follow-up if every pending notification only echoed its own writes (C3).
/// `None`: the trigger always runs.
pub async fn start_session_notified(
    tx: &Transaction<'_>,
    user_id: &str,
    trigger: Trigger,
    notified: Option<&[crate::links::NotifiedItem]>,
) -> Result<StartOutcome, StateError> {
    lock_user(tx, user_id).await?;
    if crate::org_checks::blocking_user(tx, user_id)
        .await?
        .is_some()
    {
        tx.execute(
            "UPDATE user_sync_state SET pending_trigger = true, pending_notified = NULL
             WHERE user_id = $1",
            &[&user_id],
        )
        .await?;
        return Ok(StartOutcome::Deferred);
    }
    let fresh_id = Uuid::now_v7();
    let inserted = tx
        .query_opt(
            "INSERT INTO sync_sessions (job_id, user_id, trigger)
             SELECT COALESCE(s.pending_job_id, $1), $2, $3
             FROM user_sync_state s WHERE s.user_id = $2
             ON CONFLICT (user_id) WHERE state IN ('fetching', 'writing') DO NOTHING
             RETURNING job_id",
            &[&fresh_id, &user_id, &trigger.as_str()],
        )
        .await?;
    if let Some(row) = inserted {
        tx.execute(
            "UPDATE user_sync_state
             SET pending_trigger = false, pending_job_id = NULL, pending_notified = NULL
             WHERE user_id = $1",
            &[&user_id],
        )
        .await?;
        return Ok(StartOutcome::Started(row.get(0)));
    }
    // Remembered. The notified items join those already pending, unless another kind of
    // trigger is pending (NULL while `pending_trigger`), which runs whatever they say.
    let notified = notified.map(serde_json::to_value).transpose()?;
    tx.execute(
        "UPDATE user_sync_state
         SET pending_notified = CASE
                 WHEN $2::jsonb IS NULL THEN NULL
                 WHEN NOT pending_trigger THEN $2::jsonb
                 WHEN pending_notified IS NULL THEN NULL
                 ELSE pending_notified || $2::jsonb END,
             pending_trigger = true
         WHERE user_id = $1",
        &[&user_id, &notified],
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

/// Moves a session to writing: the session-wide part of its decisions and the cursors to store
/// at the end are kept on the row, each write batch's part in a row of its own
/// ([`crate::session_batches`]), numbered by position; as many batches are out. The raw inputs
/// are dropped.
pub async fn begin_writing(
    tx: &Transaction<'_>,
    job_id: Uuid,
    session_decisions: &serde_json::Value,
    batches: &[BatchDecisions],
    cursors: &Cursors,
    progress: &Progress,
) -> Result<(), StateError> {
    let pending = i32::try_from(batches.len())
        .map_err(|_| StateError::Invalid(format!("{} write batches", batches.len())))?;
    tx.execute(
        "UPDATE sync_sessions SET state = 'writing', pending_batches = $2, summary = $3,
                session_decisions = $4, decisions = NULL, cursors = $5, results = '[]'::jsonb,
                exchange_input = NULL, salesforce_input = NULL
         WHERE job_id = $1",
        &[
            &job_id,
            &pending,
            &serde_json::to_value(progress)?,
            session_decisions,
            &serde_json::to_value(cursors)?,
        ],
    )
    .await?;
    session_batches::store(tx, job_id, batches).await
}

/// Where a writing session keeps its decisions.
#[derive(Debug, Clone, PartialEq)]
pub enum StoredDecisions {
    /// The session-wide part; each batch's part and results are in its batch row
    /// ([`session_batches::load`]).
    PerBatch(serde_json::Value),
    /// A session that began writing before per-batch storage (migration V12): the whole
    /// decisions and the results so far on the session row. It still finishes from these.
    Whole {
        decisions: serde_json::Value,
        results: serde_json::Value,
    },
}

/// A writing session, locked for update while a batch's results are folded in.
#[derive(Debug, Clone)]
pub struct WritingSession {
    pub user_id: String,
    pub pending_batches: i32,
    pub progress: Progress,
    pub decisions: StoredDecisions,
    pub cursors: Cursors,
}

/// Locks a writing session; `None` if it is not writing (finished, failed, or unknown).
pub async fn lock_writing_session(
    tx: &Transaction<'_>,
    job_id: Uuid,
) -> Result<Option<WritingSession>, StateError> {
    // The old columns are read only for a session written before V12 (no session-wide part):
    // for any other they hold NULL and an empty array.
    let row = tx
        .query_opt(
            "SELECT user_id, pending_batches, summary, cursors, session_decisions,
                    CASE WHEN session_decisions IS NULL THEN decisions END,
                    CASE WHEN session_decisions IS NULL THEN results END
             FROM sync_sessions WHERE job_id = $1 AND state = 'writing' FOR UPDATE",
            &[&job_id],
        )
        .await?;
    let Some(r) = row else { return Ok(None) };
    let summary: Option<serde_json::Value> = r.get(2);
    let decisions = match r.get::<_, Option<serde_json::Value>>(4) {
        Some(session_wide) => StoredDecisions::PerBatch(session_wide),
        None => StoredDecisions::Whole {
            decisions: r.get::<_, Option<serde_json::Value>>(5).unwrap_or_default(),
            results: r
                .get::<_, Option<serde_json::Value>>(6)
                .unwrap_or_else(|| serde_json::Value::Array(Vec::new())),
        },
    };
    Ok(Some(WritingSession {
        user_id: r.get(0),
        pending_batches: r.get(1),
        progress: match summary {
            Some(v) => serde_json::from_value(v)?,
            None => Progress::default(),
        },
        decisions,
        cursors: match r.get::<_, Option<serde_json::Value>>(3) {
            Some(v) => serde_json::from_value(v)?,
            None => Cursors::default(),
        },
    }))
}

/// What recording a batch's results did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchDone {
    /// The results were stored and counted; `remaining` batches are still out.
    Counted { remaining: i32 },
    /// The batch already had its results (a repeated result message): nothing changed.
    Repeated,
}

/// Records a finished batch: its results stored (in its batch row, or appended on the session
/// row of a session written before V12), progress updated.
pub async fn batch_done(
    tx: &Transaction<'_>,
    job_id: Uuid,
    session: &WritingSession,
    batch: u32,
    results: &serde_json::Value,
    progress: &Progress,
) -> Result<BatchDone, StateError> {
    let row = match session.decisions {
        StoredDecisions::PerBatch(_) => {
            let batch = i32::try_from(batch)
                .map_err(|_| StateError::Invalid(format!("write batch {batch}")))?;
            if !session_batches::record_results(tx, job_id, batch, results).await? {
                return Ok(BatchDone::Repeated);
            }
            tx.query_one(
                "UPDATE sync_sessions SET pending_batches = pending_batches - 1, summary = $2
                 WHERE job_id = $1 RETURNING pending_batches",
                &[&job_id, &serde_json::to_value(progress)?],
            )
            .await?
        }
        StoredDecisions::Whole { .. } => {
            tx.query_one(
                "UPDATE sync_sessions SET pending_batches = pending_batches - 1, summary = $2,
                        results = results || $3
                 WHERE job_id = $1 RETURNING pending_batches",
                &[&job_id, &serde_json::to_value(progress)?, results],
            )
            .await?
        }
    };
    Ok(BatchDone::Counted {
        remaining: row.get(0),
    })
}

/// A session just finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub user_id: String,
    /// A trigger arrived while it ran: the caller starts the next session (B3).
    pub pending_trigger: bool,
}

/// Finishes a session with its final state; `None` when it was not in flight.
pub async fn finish(
    tx: &Transaction<'_>,
    job_id: Uuid,
    state: SessionState,
    progress: &Progress,
) -> Result<Option<Finished>, StateError> {
    let row = tx
        .query_opt(
            "UPDATE sync_sessions SET state = $2, summary = $3, finished_at = now(),
                    exchange_input = NULL, salesforce_input = NULL, decisions = NULL, cursors = NULL,
                    results = '[]'::jsonb, session_decisions = NULL
             WHERE job_id = $1 AND state IN ('fetching', 'writing') RETURNING user_id",
            &[&job_id, &state.as_str(), &serde_json::to_value(progress)?],
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    session_batches::forget(tx, &[job_id]).await?;
    let user_id: String = row.get(0);
    let pending = tx
        .query_opt(
            "SELECT pending_trigger, pending_notified, pending_job_id IS NULL
             FROM user_sync_state WHERE user_id = $1",
            &[&user_id],
        )
        .await?;
    let Some(pending) = pending else {
        return Ok(Some(Finished {
            user_id,
            pending_trigger: false,
        }));
    };
    let mut pending_trigger: bool = pending.get(0);
    let notified: Option<serde_json::Value> = pending.get(1);
    let unreserved: bool = pending.get(2);
    // Only notifications are pending, and no sync request waits on the follow-up: if each only
    // echoed this session's writes (checked against the links it just stored), no follow-up.
    if let (true, true, Some(notified)) = (pending_trigger, unreserved, notified) {
        let items: Vec<crate::links::NotifiedItem> = serde_json::from_value(notified)?;
        if crate::links::all_echoes(tx, &user_id, &items).await? {
            tx.execute(
                "UPDATE user_sync_state SET pending_trigger = false, pending_notified = NULL
                 WHERE user_id = $1",
                &[&user_id],
            )
            .await?;
            tracing::debug!(%user_id, notifications = items.len(),
                "The notifications pending only echoed the session's own writes: no follow-up.");
            pending_trigger = false;
        }
    }
    Ok(Some(Finished {
        user_id,
        pending_trigger,
    }))
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
    let failed: Vec<(Uuid, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let job_ids: Vec<Uuid> = failed.iter().map(|(job_id, _)| *job_id).collect();
    session_batches::forget(tx, &job_ids).await?;
    Ok(failed)
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

/// Forgets the idempotency records of messages processed before `before`: they only need to
/// outlive redeliveries and outbox repeats.
pub async fn forget_processed_before(
    tx: &Transaction<'_>,
    before: DateTime<Utc>,
) -> Result<u64, StateError> {
    Ok(tx
        .execute(
            "DELETE FROM processed_messages WHERE processed_at < $1",
            &[&before],
        )
        .await?)
}

/// A session as the admin API shows it: the SPEC §4 summary plus when, why and (for a failed
/// session) what went wrong.
#[derive(Debug, Clone, Serialize)]
pub struct SessionView {
    pub job_id: Uuid,
    pub state: SessionState,
    pub trigger: Trigger,
    pub writes: Writes,
    pub errors: Vec<ItemError>,
    /// Why a failed session failed (a side's read, a writer); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl SessionView {
    pub fn is_finished(&self) -> bool {
        !self.state.is_in_flight()
    }
}

const VIEW_COLUMNS: &str = "job_id, trigger, state, summary, created_at, finished_at";

fn view_from_row(row: &Row) -> Result<SessionView, StateError> {
    let progress: Progress = match row.get::<_, Option<serde_json::Value>>("summary") {
        Some(value) => serde_json::from_value(value)?,
        None => Progress::default(),
    };
    let trigger: String = row.get("trigger");
    Ok(SessionView {
        job_id: row.get("job_id"),
        state: SessionState::parse(row.get("state"))?,
        trigger: serde_json::from_value(serde_json::Value::String(trigger))?,
        writes: progress.writes,
        errors: progress.errors,
        failure: progress.failure,
        created_at: row.get("created_at"),
        finished_at: row.get("finished_at"),
    })
}

/// The first session (by `rest`'s order) that matches `condition` on `$1`.
async fn view_where(
    client: &(impl GenericClient + Sync),
    condition: &str,
    param: &(dyn tokio_postgres::types::ToSql + Sync),
) -> Result<Option<SessionView>, StateError> {
    let row = client
        .query_opt(
            &format!("SELECT {VIEW_COLUMNS} FROM sync_sessions WHERE {condition}"),
            &[param],
        )
        .await?;
    row.as_ref().map(view_from_row).transpose()
}

/// One session by id.
pub async fn view(
    client: &(impl GenericClient + Sync),
    job_id: Uuid,
) -> Result<Option<SessionView>, StateError> {
    view_where(client, "job_id = $1", &job_id).await
}

/// The user's session in flight, if any.
pub async fn running(
    client: &(impl GenericClient + Sync),
    user_id: &str,
) -> Result<Option<SessionView>, StateError> {
    view_where(
        client,
        "user_id = $1 AND state IN ('fetching', 'writing')",
        &user_id,
    )
    .await
}

/// The user's most recently finished session.
pub async fn last_finished(
    client: &(impl GenericClient + Sync),
    user_id: &str,
) -> Result<Option<SessionView>, StateError> {
    view_where(
        client,
        "user_id = $1 AND state NOT IN ('fetching', 'writing')
         ORDER BY finished_at DESC NULLS LAST, created_at DESC LIMIT 1",
        &user_id,
    )
    .await
}
