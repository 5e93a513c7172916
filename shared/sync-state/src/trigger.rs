//! Starting a session together with its job message, in one transaction through the outbox, so a
//! session row never exists without its job on the way (or a job without its row).

use chrono::{DateTime, Utc};
use contracts::{Header, Message, SyncJob, Trigger};
use deadpool_postgres::Pool;

use crate::StateError;
use crate::deletions;
use crate::links::NotifiedItem;
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
    start_with(tx, user_id, trigger, None, now).await
}

/// [`start_in`] for change notifications naming these mailbox items (C3): `None` when every
/// item is as our own last write left it (checked under the user's lock, so after the session
/// that wrote it has stored its links), so no session is needed; else the session starts, or is
/// remembered with the items behind a running one, whose close checks them again
/// ([`sessions::start_session_notified`]).
pub async fn start_notified_in(
    tx: &tokio_postgres::Transaction<'_>,
    user_id: &str,
    trigger: Trigger,
    notified: &[NotifiedItem],
    now: DateTime<Utc>,
) -> Result<Option<StartOutcome>, StateError> {
    sessions::lock_user(tx, user_id).await?;
    if crate::links::all_echoes(tx, user_id, notified).await? {
        return Ok(None);
    }
    start_with(tx, user_id, trigger, Some(notified), now)
        .await
        .map(Some)
}

async fn start_with(
    tx: &tokio_postgres::Transaction<'_>,
    user_id: &str,
    trigger: Trigger,
    notified: Option<&[NotifiedItem]>,
    now: DateTime<Utc>,
) -> Result<StartOutcome, StateError> {
    let outcome = sessions::start_session_notified(tx, user_id, trigger, notified).await?;
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

/// [`start_notified_in`] in its own transaction.
pub async fn start_notified(
    pool: &Pool,
    user_id: &str,
    trigger: Trigger,
    notified: &[NotifiedItem],
    now: DateTime<Utc>,
) -> Result<Option<StartOutcome>, StateError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let outcome = start_notified_in(&tx, user_id, trigger, notified, now).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// Publishes every pending outbox message through `publish` (which must return only once the
/// broker confirmed), deleting each after its confirm. A batch is published at once, its confirms
/// awaited together (the broker keeps a channel's order; a sweep that starts thousands of
/// sessions is not one confirm round trip per job); a failure leaves it and the rest of the
/// batch for the next relay (a message published twice is dropped by its consumer's idempotency
/// on the message id); returns how many went out.
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
        let batch = outbox::claim_pending(&tx, 200).await?;
        if batch.is_empty() {
            return Ok(sent);
        }
        let results = futures::future::join_all(batch.into_iter().map(|message| {
            let id = message.id;
            let published = publish(message);
            async move { (id, published.await) }
        }))
        .await;
        let mut confirmed = Vec::with_capacity(results.len());
        let mut failed = false;
        for (id, result) in results {
            match result {
                Ok(()) => confirmed.push(id),
                Err(e) => {
                    if !failed {
                        tracing::warn!(error = %e, outbox_id = id, "Outbox publish failed; will retry.");
                    }
                    failed = true;
                }
            }
        }
        outbox::delete_all(&tx, &confirmed).await?;
        tx.commit().await?;
        sent += confirmed.len();
        if failed {
            return Ok(sent);
        }
    }
}
