//! Starting a session together with its job message, in one transaction through the outbox, so a
//! session row never exists without its job on the way (or a job without its row).

use chrono::{DateTime, Utc};
use contracts::{Header, Message, SyncJob, Trigger};
use deadpool_postgres::Pool;

use crate::StateError;
use crate::deletions;
use crate::outbox::{self, OutboxMessage};
use crate::sessions::{self, StartOutcome};

/// The outbox route name of sync jobs.
pub const ROUTE_SYNC_JOB: &str = "sync_job";

/// Starts a session for `user_id` (or remembers the trigger if one is in flight) inside `tx`,
/// enqueueing its job in the outbox.
pub async fn start_in(
    tx: &tokio_postgres::Transaction<'_>,
    user_id: &str,
    trigger: Trigger,
    now: DateTime<Utc>,
) -> Result<StartOutcome, StateError> {
    let outcome = sessions::start_session(tx, user_id, trigger).await?;
    deletions::note_start(tx, user_id, outcome, trigger).await?;
    if let StartOutcome::Started(job_id) = outcome {
        let job = Message::SyncJob(SyncJob {
            header: Header::derived(job_id, user_id, "job", now),
            trigger,
        });
        outbox::enqueue(
            tx,
            &job.header().message_id,
            ROUTE_SYNC_JOB,
            &serde_json::to_value(&job)?,
        )
        .await?;
    }
    Ok(outcome)
}

/// Starts a session in its own transaction.
pub async fn start(
    pool: &Pool,
    user_id: &str,
    trigger: Trigger,
    now: DateTime<Utc>,
) -> Result<StartOutcome, StateError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let outcome = start_in(&tx, user_id, trigger, now).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// Publishes every pending outbox message through `publish` (which must return only once the
/// broker confirmed), deleting each after its confirm. Stops at the first failure, leaving the rest
/// for the next relay; returns how many went out.
pub async fn relay_outbox<F, Fut, E>(pool: &Pool, publish: F) -> Result<usize, StateError>
where
    F: Fn(OutboxMessage) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut client = pool.get().await?;
    let mut sent = 0;
    loop {
        let tx = client.transaction().await?;
        let batch = outbox::claim_pending(&tx, 50).await?;
        if batch.is_empty() {
            return Ok(sent);
        }
        for message in batch {
            let id = message.id;
            if let Err(e) = publish(message).await {
                tracing::warn!(error = %e, outbox_id = id, "Outbox publish failed; will retry.");
                tx.commit().await?;
                return Ok(sent);
            }
            outbox::delete(&tx, id).await?;
            sent += 1;
        }
        tx.commit().await?;
    }
}
