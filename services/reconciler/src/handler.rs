//! Handles one delivery from the reconciler's queues: a side's read (gathered until both sides of
//! the session are in, then decided) or a writer's results (folded in until the session is done).
//!
//! Per-user serialisation: a user has at most one session in flight (a unique index), and every
//! step of a session runs under a row lock on that session, so two reconciler replicas never
//! decide or finish the same user's session at once.

use contracts::Message;
use messaging::{Delivery, HandlerError};
use sync_state::StateError;
use sync_state::sessions::{Progress, SessionState};
use uuid::Uuid;

use crate::Ctx;
use crate::{decide, finish};

/// Handles one delivery; `Ok` means its effect is durable and the message may be acked.
pub async fn handle(ctx: &Ctx, delivery: Delivery) -> Result<(), HandlerError> {
    let message: Message = delivery
        .decode()
        .map_err(|e| HandlerError::reject(e).context("not a Contactsync message"))?;
    let job_id = message.header().job_id;
    let user_id = message.header().user_id.clone();
    let outcome = match message {
        Message::ChangeBatch(batch) => decide::on_change_batch(ctx, batch).await,
        Message::WriteResults(results) => finish::on_write_results(ctx, results).await,
        other => {
            return Err(HandlerError::reject(format!(
                "{} does not belong on the reconciler's queues",
                other.schema()
            )));
        }
    };
    match outcome {
        Ok(()) => {}
        Err(e) if e.is_transient() => return Err(HandlerError::retry(e)),
        // Anything else will fail the same way again: end the session with the reason instead of
        // leaving it hanging, and take the message off the queue.
        Err(e) => {
            tracing::warn!(%job_id, error = %e, "The session cannot go on; failing it.");
            fail_session(ctx, job_id, &user_id, &e.to_string())
                .await
                .map_err(HandlerError::retry)?;
        }
    }
    pipeline::relay(&ctx.pool, &ctx.publisher)
        .await
        .map_err(|e| HandlerError::retry(e).context("outbox relay"))?;
    Ok(())
}

/// Ends a session as failed with `reason`; a trigger that arrived meanwhile starts the next one.
pub(crate) async fn fail_session(
    ctx: &Ctx,
    job_id: Uuid,
    user_id: &str,
    reason: &str,
) -> Result<(), StateError> {
    let mut client = ctx.pool.get().await?;
    let tx = client.transaction().await?;
    sync_state::sessions::lock_user(&tx, user_id).await?;
    let progress = Progress {
        failure: Some(reason.to_owned()),
        ..Progress::default()
    };
    finish::close(&tx, job_id, SessionState::Failed, &progress).await?;
    tx.commit().await?;
    Ok(())
}
