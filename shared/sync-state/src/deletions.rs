//! The mass-delete guard's state across sessions (C5 per burst): the deletions that wait for
//! their burst to settle, are held, or were confirmed (`pending_deletions`), the deletions
//! carried out lately (`deletion_history`, the rolling window), when the waiting ones settle
//! (`user_sync_state.deletions_settle_at`, which the scheduler watches), and whether a session
//! is on demand (`sync_sessions.on_demand`).
//!
//! The sync core decides (`sync_core::reconcile_guarded`); this module loads its input and
//! stores its outcome. The outcome is kept on the session row while its writes run
//! ([`stash`]) and stored with the links and cursors when the session completes
//! ([`settle_session`]): a session that fails or times out leaves the pending deletions as they
//! were, and re-reads the same changes.

use chrono::{DateTime, Duration, Utc};
use contracts::Trigger;
use serde::{Deserialize, Serialize};
use sync_core::{BurstState, DeletionState, Executed, Guarded, PendingDeletion, Side, SyncKey};
use tokio_postgres::{GenericClient, Transaction};
use uuid::Uuid;

use crate::StateError;
use crate::schedule::LastError;
use crate::sessions::StartOutcome;

/// Records whether a session is on demand, once [`crate::sessions::start_session`] decided
/// whether it started or coalesced: a new session is on demand if its trigger is, or if an
/// on-demand trigger was coalesced into the session before it (whose follow-up this is); a
/// coalesced on-demand trigger makes the follow-up on demand.
pub async fn note_start(
    tx: &Transaction<'_>,
    user_id: &str,
    outcome: StartOutcome,
    trigger: Trigger,
) -> Result<(), StateError> {
    match outcome {
        StartOutcome::Started(job_id) => {
            tx.execute(
                "UPDATE sync_sessions SET on_demand = $3 OR (SELECT pending_on_demand
                                                             FROM user_sync_state
                                                             WHERE user_id = $2)
                 WHERE job_id = $1",
                &[&job_id, &user_id, &trigger.is_on_demand()],
            )
            .await?;
            tx.execute(
                "UPDATE user_sync_state SET pending_on_demand = false WHERE user_id = $1",
                &[&user_id],
            )
            .await?;
        }
        StartOutcome::Coalesced(_) | StartOutcome::Deferred if trigger.is_on_demand() => {
            tx.execute(
                "UPDATE user_sync_state SET pending_on_demand = true WHERE user_id = $1",
                &[&user_id],
            )
            .await?;
        }
        StartOutcome::Coalesced(_) | StartOutcome::Deferred => {}
    }
    Ok(())
}

/// Whether someone asked for the session (C6: its waiting deletions are judged at once).
pub async fn session_on_demand(
    client: &(impl GenericClient + Sync),
    job_id: Uuid,
) -> Result<bool, StateError> {
    Ok(client
        .query_opt(
            "SELECT on_demand FROM sync_sessions WHERE job_id = $1",
            &[&job_id],
        )
        .await?
        .is_some_and(|r| r.get(0)))
}

/// The sync core's input: the user's pending deletions and what was carried out within `window`.
pub async fn load(
    client: &(impl GenericClient + Sync),
    user_id: &str,
    now: DateTime<Utc>,
    window: Duration,
    on_demand: bool,
) -> Result<BurstState, StateError> {
    let rows = client
        .query(
            "SELECT sync_key, removal, state, first_seen FROM pending_deletions
             WHERE user_id = $1 ORDER BY sync_key",
            &[&user_id],
        )
        .await?;
    let mut pending = Vec::with_capacity(rows.len());
    for row in rows {
        let key: String = row.get(0);
        let state: String = row.get(2);
        pending.push(PendingDeletion {
            sync_key: SyncKey::try_from(key.as_str())
                .map_err(|e| StateError::Invalid(format!("pending deletion {key}: {e}")))?,
            removal: serde_json::from_value(row.get(1))?,
            state: DeletionState::parse(&state)
                .ok_or_else(|| StateError::Invalid(format!("deletion state {state:?}")))?,
            first_seen: row.get(3),
        });
    }
    let history = client
        .query(
            "SELECT carried_at, deletions FROM deletion_history
             WHERE user_id = $1 AND carried_at > $2 ORDER BY carried_at",
            &[&user_id, &(now - window)],
        )
        .await?
        .iter()
        .map(|r| Executed {
            at: r.get(0),
            deletions: usize::try_from(r.get::<_, i32>(1)).unwrap_or(0),
        })
        .collect();
    Ok(BurstState {
        pending,
        history,
        on_demand,
    })
}

/// What a decided session will store about deletions when it completes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub pending: Vec<PendingDeletion>,
    pub carried_out: usize,
    pub settle_until: Option<DateTime<Utc>>,
    /// The user's links when the session was decided (the guard's message names them).
    pub links: usize,
    /// History older than this is outside every future window.
    pub forget_before: DateTime<Utc>,
}

impl Outcome {
    pub fn new(guarded: &Guarded, links: usize, now: DateTime<Utc>, window: Duration) -> Outcome {
        Outcome {
            pending: guarded.pending.clone(),
            carried_out: guarded.carried_out,
            settle_until: guarded.settle_until,
            links,
            forget_before: now - window,
        }
    }

    fn held(&self) -> usize {
        self.pending
            .iter()
            .filter(|p| p.state == DeletionState::Held)
            .count()
    }
}

/// Keeps the outcome on the session row until the session completes.
pub async fn stash(
    tx: &Transaction<'_>,
    job_id: Uuid,
    outcome: &Outcome,
) -> Result<(), StateError> {
    tx.execute(
        "UPDATE sync_sessions SET deletions = $2 WHERE job_id = $1",
        &[&job_id, &serde_json::to_value(outcome)?],
    )
    .await?;
    Ok(())
}

/// Stores the stashed outcome of a completing session, in its final transaction: the pending
/// deletions replace the user's (a deletion an operator confirmed meanwhile stays confirmed),
/// the carried-out ones join the window, the settle time goes where the scheduler looks, and
/// the `mass_delete_guard` error is set on the user's status while deletions are held.
pub async fn settle_session(
    tx: &Transaction<'_>,
    user_id: &str,
    job_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StateError> {
    let stashed: Option<serde_json::Value> = tx
        .query_opt(
            "WITH old AS (SELECT deletions FROM sync_sessions WHERE job_id = $1 FOR UPDATE)
             UPDATE sync_sessions s SET deletions = NULL FROM old
             WHERE s.job_id = $1 RETURNING old.deletions",
            &[&job_id],
        )
        .await?
        .and_then(|r| r.get(0));
    let Some(stashed) = stashed else {
        return Ok(());
    };
    let outcome: Outcome = serde_json::from_value(stashed)?;
    store_pending(tx, user_id, &outcome.pending).await?;
    if outcome.carried_out > 0 {
        tx.execute(
            "INSERT INTO deletion_history (user_id, carried_at, deletions) VALUES ($1, $2, $3)",
            &[
                &user_id,
                &now,
                &i32::try_from(outcome.carried_out).unwrap_or(i32::MAX),
            ],
        )
        .await?;
    }
    tx.execute(
        "DELETE FROM deletion_history WHERE user_id = $1 AND carried_at < $2",
        &[&user_id, &outcome.forget_before],
    )
    .await?;
    let held = outcome.held();
    let guard_error = (held > 0)
        .then(|| {
            serde_json::to_value(LastError::MassDeleteGuard {
                deletions: held,
                links: outcome.links,
                message: format!(
                    "This burst would delete {held} of {} synced contacts; nothing was deleted. \
                     Confirm through POST /api/v1/users/{user_id}/confirm-deletions.",
                    outcome.links
                ),
                job_id: Some(job_id),
            })
        })
        .transpose()?;
    tx.execute(
        "UPDATE user_sync_state SET
             deletions_settle_at = $2,
             deletions_confirmed = EXISTS (SELECT 1 FROM pending_deletions
                                           WHERE user_id = $1 AND state = 'confirmed'),
             last_error = CASE WHEN $3::jsonb IS NOT NULL THEN $3::jsonb
                               WHEN last_error->>'code' = 'mass_delete_guard' THEN NULL
                               ELSE last_error END
         WHERE user_id = $1",
        &[&user_id, &outcome.settle_until, &guard_error],
    )
    .await?;
    Ok(())
}

/// Replaces the user's pending deletions with `pending`, keeping an operator's confirmation that
/// arrived while the session ran.
async fn store_pending(
    tx: &Transaction<'_>,
    user_id: &str,
    pending: &[PendingDeletion],
) -> Result<(), StateError> {
    let keys: Vec<&str> = pending.iter().map(|p| p.sync_key.as_str()).collect();
    tx.execute(
        "DELETE FROM pending_deletions WHERE user_id = $1 AND NOT (sync_key = ANY($2))",
        &[&user_id, &keys],
    )
    .await?;
    let statement = tx
        .prepare(
            "INSERT INTO pending_deletions AS p (user_id, sync_key, side, removal, state, first_seen)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (user_id, sync_key) DO UPDATE SET
                 side = EXCLUDED.side,
                 removal = EXCLUDED.removal,
                 first_seen = EXCLUDED.first_seen,
                 state = CASE WHEN p.state = 'confirmed' AND EXCLUDED.state = 'held'
                              THEN 'confirmed' ELSE EXCLUDED.state END",
        )
        .await?;
    for p in pending {
        let side = match p.removal.deletes_on() {
            Side::Exchange => "exchange",
            Side::Salesforce => "salesforce",
        };
        tx.execute(
            &statement,
            &[
                &user_id,
                &p.sync_key.as_str(),
                &side,
                &serde_json::to_value(&p.removal)?,
                &p.state.as_str(),
                &p.first_seen,
            ],
        )
        .await?;
    }
    Ok(())
}

/// Forgets the stashed outcome of a session that ends without completing (a failed read or
/// write): the pending deletions stay as they were.
pub async fn drop_stash(tx: &Transaction<'_>, job_id: Uuid) -> Result<(), StateError> {
    tx.execute(
        "UPDATE sync_sessions SET deletions = NULL WHERE job_id = $1 AND deletions IS NOT NULL",
        &[&job_id],
    )
    .await?;
    Ok(())
}

/// C5: an operator confirms the held deletions; the next session carries them out. Returns how
/// many were held (0: nothing to confirm).
pub async fn confirm(
    client: &(impl GenericClient + Sync),
    user_id: &str,
) -> Result<u64, StateError> {
    let row = client
        .query_opt(
            "WITH confirmed AS (
                 UPDATE pending_deletions SET state = 'confirmed'
                 WHERE user_id = $1 AND state = 'held' RETURNING 1)
             UPDATE user_sync_state SET deletions_confirmed = true
             WHERE user_id = $1 AND EXISTS (SELECT 1 FROM confirmed)
             RETURNING (SELECT count(*) FROM confirmed)",
            &[&user_id],
        )
        .await?;
    Ok(row.map_or(0, |r| u64::try_from(r.get::<_, i64>(0)).unwrap_or(0)))
}

/// The user's deletions as the status and the pages show them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionsView {
    /// Waiting for their burst to settle.
    pub waiting: u64,
    /// When they settle (and are judged); `None` when none waits.
    pub settle_until: Option<DateTime<Utc>>,
    /// Held by the mass-delete guard until an operator confirms.
    pub held: u64,
    /// Confirmed, to be carried out by the next session.
    pub confirmed: u64,
}

/// The user's pending deletions, counted by state.
pub async fn view(
    client: &(impl GenericClient + Sync),
    user_id: &str,
) -> Result<DeletionsView, StateError> {
    let row = client
        .query_one(
            "SELECT count(*) FILTER (WHERE d.state = 'waiting'),
                    count(*) FILTER (WHERE d.state = 'held'),
                    count(*) FILTER (WHERE d.state = 'confirmed'),
                    (SELECT deletions_settle_at FROM user_sync_state WHERE user_id = $1)
             FROM pending_deletions d WHERE d.user_id = $1",
            &[&user_id],
        )
        .await?;
    let count = |i: usize| u64::try_from(row.get::<_, i64>(i)).unwrap_or(0);
    let waiting = count(0);
    Ok(DeletionsView {
        waiting,
        settle_until: if waiting > 0 { row.get(3) } else { None },
        held: count(1),
        confirmed: count(2),
    })
}

/// Claims up to `limit` enabled users whose waiting deletions have settled and who have no
/// session in flight, and moves their settle time `retry` ahead (the session they get sets it
/// again; should it fail, they are claimed again then). Rows another replica holds are skipped.
pub async fn claim_settled(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    retry: Duration,
    limit: i64,
) -> Result<Vec<String>, StateError> {
    let rows = tx
        .query(
            "SELECT s.user_id FROM user_sync_state s
             JOIN contact_settings c ON c.user_id = s.user_id AND c.enabled
             WHERE s.deletions_settle_at <= $1
               AND NOT EXISTS (SELECT 1 FROM sync_sessions a
                               WHERE a.user_id = s.user_id AND a.state IN ('fetching', 'writing'))
             ORDER BY s.deletions_settle_at
             LIMIT $2
             FOR UPDATE OF s SKIP LOCKED",
            &[&now, &limit],
        )
        .await?;
    let users: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    if !users.is_empty() {
        tx.execute(
            "UPDATE user_sync_state SET deletions_settle_at = $2 WHERE user_id = ANY($1)",
            &[&users, &(now + retry)],
        )
        .await?;
    }
    Ok(users)
}
