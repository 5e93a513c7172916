//! On-demand sessions that see the request (SPEC §4 `sync?wait`): the session a sync request is
//! answered with must have begun reading after the request arrived, so a change made just before
//! the call is in it.
//!
//! The fetchers mark a session `reading_at` before their first read of either side
//! ([`mark_reading`]). A request joins the session in flight only while it is unmarked (it will
//! read after the request); once it is reading, the request reserves the job id of the follow-up
//! session on the user's row (`pending_job_id`, with the remembered trigger of B3), and the next
//! session started for the user takes that id ([`crate::sessions::start_session`]). Every step
//! runs under the user's row lock, so a request and a session's start never interleave.

use chrono::{DateTime, Utc};
use contracts::Trigger;
use deadpool_postgres::Pool;
use tokio_postgres::{GenericClient, Transaction};
use uuid::Uuid;

use crate::sessions::{self, StartOutcome};
use crate::{StateError, trigger};

/// Which session answers a sync request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requested {
    /// No session was in flight: this one was started for the request.
    Started(Uuid),
    /// A session in flight had not begun reading: it will see the request's changes.
    Joined(Uuid),
    /// The session in flight was already reading: the request waits for the follow-up session,
    /// whose job id is reserved here (the session row appears when it starts).
    Queued(Uuid),
    /// The user's org is not ready (its onboarding check failed): no session started; the
    /// trigger is remembered for when the org passes its check.
    Deferred,
}

impl Requested {
    /// The job id of the session that answers the request.
    pub fn job_id(self) -> Option<Uuid> {
        match self {
            Requested::Started(id) | Requested::Joined(id) | Requested::Queued(id) => Some(id),
            Requested::Deferred => None,
        }
    }

    /// Whether the request shares its session with an earlier trigger.
    pub fn coalesced(self) -> bool {
        !matches!(self, Requested::Started(_))
    }
}

/// Finds or starts the session that answers a sync request made now, inside `tx` (the job of a
/// started session goes into the outbox with it).
pub async fn request_in(
    tx: &Transaction<'_>,
    user_id: &str,
    trigger: Trigger,
    now: DateTime<Utc>,
) -> Result<Requested, StateError> {
    sessions::lock_user(tx, user_id).await?;
    let active = tx
        .query_opt(
            "SELECT job_id, state = 'fetching' AND reading_at IS NULL FROM sync_sessions
             WHERE user_id = $1 AND state IN ('fetching', 'writing')",
            &[&user_id],
        )
        .await?;
    if let Some(row) = active {
        let job_id: Uuid = row.get(0);
        // A writing session read long ago (and one from before reads were marked has no mark).
        let not_reading: bool = row.get(1);
        if not_reading {
            return Ok(Requested::Joined(job_id));
        }
        // The remembered trigger (B3) starts the follow-up when this session closes; the
        // reserved id is the one it will run under. Several requests share one reservation.
        let reserved: Uuid = tx
            .query_one(
                "UPDATE user_sync_state
                 SET pending_trigger = true, pending_job_id = COALESCE(pending_job_id, $2),
                     pending_notified = NULL
                 WHERE user_id = $1 RETURNING pending_job_id",
                &[&user_id, &Uuid::now_v7()],
            )
            .await?
            .get(0);
        return Ok(Requested::Queued(reserved));
    }
    match trigger::start_in(tx, user_id, trigger, now).await? {
        StartOutcome::Started(job_id) => Ok(Requested::Started(job_id)),
        StartOutcome::Deferred => Ok(Requested::Deferred),
        // The user's row is locked and no session was in flight: nothing can have started one.
        StartOutcome::Coalesced(job_id) => Err(StateError::Invalid(format!(
            "session {job_id} appeared while user {user_id} was locked"
        ))),
    }
}

/// [`request_in`] in its own transaction.
pub async fn request(
    pool: &Pool,
    user_id: &str,
    trigger: Trigger,
    now: DateTime<Utc>,
) -> Result<Requested, StateError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let requested = request_in(&tx, user_id, trigger, now).await?;
    tx.commit().await?;
    Ok(requested)
}

/// Marks a session as reading, before a fetcher's first read of its side; the first mark counts.
/// Must be committed before the read starts: a request that still sees the session unmarked
/// joins it, and is then sure the read comes after it. Returns false when the session is not
/// gathering reads (finished or unknown: the read will be dropped anyway).
pub async fn mark_reading(
    client: &(impl GenericClient + Sync),
    job_id: Uuid,
) -> Result<bool, StateError> {
    let n = client
        .execute(
            "UPDATE sync_sessions SET reading_at = COALESCE(reading_at, now())
             WHERE job_id = $1 AND state = 'fetching'",
            &[&job_id],
        )
        .await?;
    Ok(n == 1)
}
