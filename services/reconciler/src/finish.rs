//! A writer's results arrive: they are kept on the session until every batch is in; then the sync
//! core folds them into the link rows, which are stored with the cursors, and the session closes.

use chrono::Utc;
use contracts::{Trigger, WriteResults};
use sync_core::{Decisions, WriteResult};
use sync_state::links::{self, CursorSide};
use sync_state::sessions::{self, Progress, SessionState, WriteCounts};
use sync_state::{StateError, trigger};
use tokio_postgres::Transaction;
use uuid::Uuid;

use crate::Ctx;
use crate::decide::item_error;

/// Folds one batch's results into its session; completes the session after the last batch.
#[tracing::instrument(skip_all, fields(job_id = %results.header.job_id, user_id = %results.header.user_id, batch = results.batch))]
pub async fn on_write_results(ctx: &Ctx, results: WriteResults) -> Result<(), StateError> {
    let job_id = results.header.job_id;
    let mut client = ctx.pool.get().await?;
    let tx = client.transaction().await?;
    sessions::lock_user(&tx, &results.header.user_id).await?;
    // A redelivered or republished copy must not count twice.
    if !sessions::first_delivery(&tx, &results.header.message_id).await? {
        tracing::info!("Duplicate write results; already applied.");
        return Ok(());
    }
    let Some(session) = sessions::lock_writing_session(&tx, job_id).await? else {
        tracing::info!("Write results for a session that is no longer writing; dropped.");
        tx.commit().await?;
        return Ok(());
    };
    if let Some(failure) = &results.failure {
        // A writer could not carry out its batch: fail the session so its cursors stay put and
        // the same changes come again (writes are idempotent, so redoing them is safe).
        let progress = Progress {
            failure: Some(failure.clone()),
            ..session.progress
        };
        close(&tx, job_id, SessionState::Failed, &progress).await?;
        tx.commit().await?;
        return Ok(());
    }
    let mut progress = session.progress;
    count_writes(&mut progress, &results.results);
    let batch_results = serde_json::to_value(&results.results)?;
    let remaining = sessions::batch_done(&tx, job_id, &batch_results, &progress).await?;
    if remaining <= 0 {
        let decisions: Decisions = serde_json::from_value(session.decisions)?;
        let mut all: Vec<WriteResult> = serde_json::from_value(session.results)?;
        all.extend(results.results);
        let held = progress
            .errors
            .iter()
            .any(|e| e.code == "mass_delete_guard");
        complete(
            &tx,
            &session.user_id,
            job_id,
            &decisions,
            &session.cursors,
            &all,
            progress,
            held,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Stores the session's outcome: link rows with the writers' results folded in, the cursors, and
/// the summary.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn complete(
    tx: &Transaction<'_>,
    user_id: &str,
    job_id: Uuid,
    decisions: &Decisions,
    cursors: &serde_json::Value,
    results: &[WriteResult],
    mut progress: Progress,
    held: bool,
) -> Result<(), StateError> {
    let applied = sync_core::apply_write_results(decisions, results);
    links::apply_link_updates(tx, user_id, &applied.links).await?;
    for (side, key) in [
        (CursorSide::Exchange, "exchange"),
        (CursorSide::Salesforce, "salesforce"),
    ] {
        if let Some(cursor) = cursors.get(key).filter(|c| !c.is_null()) {
            links::store_cursor(tx, user_id, side, cursor).await?;
        }
    }
    progress
        .errors
        .extend(applied.errors.iter().map(item_error));
    let state = if progress.errors.is_empty() && !held {
        SessionState::Succeeded
    } else {
        SessionState::Partial
    };
    close(tx, job_id, state, &progress).await
}

/// Closes a session; a trigger remembered while it ran starts the next one (B3), its job going
/// out through the outbox with this transaction.
pub(crate) async fn close(
    tx: &Transaction<'_>,
    job_id: Uuid,
    state: SessionState,
    progress: &Progress,
) -> Result<(), StateError> {
    let user_id: Option<String> = tx
        .query_opt(
            "SELECT user_id FROM sync_sessions WHERE job_id = $1",
            &[&job_id],
        )
        .await?
        .map(|r| r.get(0));
    let pending = sessions::finish(tx, job_id, state, progress).await?;
    tracing::info!(%job_id, state = state.as_str(), errors = progress.errors.len(), "Session finished.");
    if let (true, Some(user_id)) = (pending, user_id) {
        trigger::start_in(tx, &user_id, Trigger::Pending, Utc::now()).await?;
    }
    Ok(())
}

fn count_writes(progress: &mut Progress, results: &[WriteResult]) {
    fn bump(counts: &mut WriteCounts, created: bool, updated: bool, deleted: bool) {
        counts.created += u32::from(created);
        counts.updated += u32::from(updated);
        counts.deleted += u32::from(deleted);
    }
    for result in results {
        let w = &mut progress.writes;
        match result {
            WriteResult::ExchangeCreated { .. } => bump(&mut w.exchange, true, false, false),
            WriteResult::ExchangeUpdated { .. } => bump(&mut w.exchange, false, true, false),
            WriteResult::ExchangeDeleted { .. } => bump(&mut w.exchange, false, false, true),
            WriteResult::SalesforceCreated { .. } => bump(&mut w.salesforce, true, false, false),
            WriteResult::SalesforceUpdated { .. } => bump(&mut w.salesforce, false, true, false),
            WriteResult::SalesforceDeleted { .. } => bump(&mut w.salesforce, false, false, true),
            WriteResult::ExchangeFailed { .. } | WriteResult::SalesforceFailed { .. } => {}
        }
    }
}
