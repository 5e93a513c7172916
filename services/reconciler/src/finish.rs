//! A writer's results arrive: they are kept with their batch until every batch is in; then the
//! session's decisions are put back together and the sync core folds the results into the link
//! rows, which are stored with the cursors and the user's standing
//! per-item errors (C7), and the session closes.

use chrono::Utc;
use contracts::{Trigger, WriteResults};
use sync_core::{Applied, Decisions, LinkUpdate, WriteResult};
use sync_state::item_errors::{self, ItemFailure, SessionOutcome};
use sync_state::links::{self, CursorSide};
use sync_state::sessions::{
    self, BatchDone, Cursors, Progress, SessionState, StoredDecisions, WriteCounts,
};
use sync_state::{StateError, deletions, session_batches, trigger};
use tokio_postgres::Transaction;
use uuid::Uuid;

use crate::Ctx;
use crate::batches::{self, BatchPart, SessionPart};
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
            failure: Some(failure.message.clone()),
            ..session.progress
        };
        close(&tx, job_id, SessionState::Failed, &progress).await?;
        tx.commit().await?;
        return Ok(());
    }
    let mut progress = session.progress.clone();
    count_writes(&mut progress, &results.results);
    let batch_results = serde_json::to_value(&results.results)?;
    let done = sessions::batch_done(
        &tx,
        job_id,
        &session,
        results.batch,
        &batch_results,
        &progress,
    )
    .await?;
    let remaining = match done {
        BatchDone::Counted { remaining } => remaining,
        BatchDone::Repeated => {
            tracing::info!("Results for a batch that already has them; not counted again.");
            tx.commit().await?;
            return Ok(());
        }
    };
    if remaining <= 0 {
        let (decisions, all) =
            decisions_and_results(&tx, job_id, session.decisions, results).await?;
        let held = decisions.guard.is_held();
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

/// The whole session's decisions and every writer's results, read once when the last batch is
/// in: from the batch rows, or from the session row of a session written before them.
async fn decisions_and_results(
    tx: &Transaction<'_>,
    job_id: Uuid,
    stored: StoredDecisions,
    last: WriteResults,
) -> Result<(Decisions, Vec<WriteResult>), StateError> {
    match stored {
        StoredDecisions::PerBatch(session_part) => {
            let session_part: SessionPart = serde_json::from_value(session_part)?;
            let mut parts: Vec<BatchPart> = Vec::new();
            let mut all: Vec<WriteResult> = Vec::new();
            for batch in session_batches::load(tx, job_id).await? {
                parts.push(serde_json::from_value(batch.decisions)?);
                let results: Vec<WriteResult> = match batch.results {
                    Some(results) => serde_json::from_value(results)?,
                    None => {
                        return Err(StateError::Invalid(format!(
                            "session {job_id} finished with batch {} still out",
                            batch.batch
                        )));
                    }
                };
                all.extend(results);
            }
            Ok((batches::join(session_part, parts), all))
        }
        StoredDecisions::Whole { decisions, results } => {
            let decisions: Decisions = serde_json::from_value(decisions)?;
            let mut all: Vec<WriteResult> = serde_json::from_value(results)?;
            all.extend(last.results);
            Ok((decisions, all))
        }
    }
}

/// Stores the session's outcome: link rows with the writers' results folded in, the cursors, the
/// pending deletions, and the summary.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn complete(
    tx: &Transaction<'_>,
    user_id: &str,
    job_id: Uuid,
    decisions: &Decisions,
    cursors: &Cursors,
    results: &[WriteResult],
    mut progress: Progress,
    held: bool,
) -> Result<(), StateError> {
    let applied = sync_core::apply_write_results(decisions, results);
    links::apply_link_updates(tx, user_id, &applied.links).await?;
    // The pending deletions (C5 bursts) go with the links and cursors.
    deletions::settle_session(tx, user_id, job_id, Utc::now()).await?;
    for (side, cursor) in [
        (CursorSide::Exchange, &cursors.exchange),
        (CursorSide::Salesforce, &cursors.salesforce),
    ] {
        if let Some(cursor) = cursor.as_ref().filter(|c| !c.is_null()) {
            links::store_cursor(tx, user_id, side, cursor).await?;
        }
    }
    let outcome = item_outcome(decisions, &applied);
    item_errors::record_session(tx, user_id, job_id, Utc::now(), &outcome).await?;
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
    // A session that ends without completing leaves the pending deletions as they were.
    deletions::drop_stash(tx, job_id).await?;
    let finished = sessions::finish(tx, job_id, state, progress).await?;
    tracing::info!(%job_id, state = state.as_str(), errors = progress.errors.len(), "Session finished.");
    if let Some(finished) = finished.filter(|f| f.pending_trigger) {
        trigger::start_in(tx, &finished.user_id, Trigger::Pending, Utc::now()).await?;
    }
    Ok(())
}

/// What a completed session tells the user's standing item errors (C7): every failure it reported
/// (decided before writing, or a writer's), and the items it synced cleanly or saw go. Items it
/// did not touch keep their errors: a session that skips a refused contact does not clear it.
fn item_outcome(decisions: &Decisions, applied: &Applied) -> SessionOutcome {
    let mut outcome = SessionOutcome::default();
    for e in decisions.errors.iter().chain(&applied.errors) {
        let Some(item_key) = item_errors::item_key(
            e.sync_key.as_ref().map(|k| k.as_str()),
            e.graph_id.as_ref().map(|id| id.as_str()),
            e.salesforce_id.as_ref().map(|id| id.as_str()),
        ) else {
            // About no item (the mass-delete guard): the status shows it apart (C5).
            continue;
        };
        outcome.failures.push(ItemFailure {
            item_key,
            item: e.item.clone(),
            code: e.code.as_str().to_owned(),
            field: e.field.clone(),
            message: e.message.clone(),
            graph_id: e.graph_id.as_ref().map(|id| id.as_str().to_owned()),
            salesforce_id: e.salesforce_id.as_ref().map(|id| id.as_str().to_owned()),
        });
    }
    for update in &applied.links {
        match update {
            LinkUpdate::Delete { sync_key } => outcome.cleared.push(sync_key.as_str().to_owned()),
            LinkUpdate::Upsert(link) if link.rejected.is_none() => {
                outcome.cleared.push(link.sync_key.as_str().to_owned());
                outcome
                    .synced_graph_ids
                    .extend(link.graph_id.as_ref().map(|id| id.as_str().to_owned()));
                outcome
                    .synced_salesforce_ids
                    .extend(link.salesforce_id.as_ref().map(|id| id.as_str().to_owned()));
            }
            // Still refused on one side (C7): its error stands.
            LinkUpdate::Upsert(_) => {}
        }
    }
    outcome
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

#[cfg(test)]
mod tests {
    use super::*;
    use sync_core::{
        Contact, ErrorCode, GraphItemId, GuardOutcome, ItemError, Link, Origin, Rejected, Side,
        SyncKey,
    };

    fn graph_id(n: u32) -> GraphItemId {
        GraphItemId::try_from(format!("AAMkAGI2TG93AAA{n}=")).expect("graph id")
    }

    fn link(n: u32, rejected: bool) -> Link {
        Link {
            sync_key: SyncKey::for_graph(&graph_id(n)),
            salesforce_id: None,
            graph_id: Some(graph_id(n)),
            origin: Origin::Exchange,
            baseline: Contact::default(),
            account_name: None,
            snapshot: None,
            change_key: None,
            rejected: rejected.then(|| Rejected {
                side: Side::Exchange,
                value: Contact::default(),
            }),
            synced_at: chrono::Utc::now(),
        }
    }

    fn error(
        code: ErrorCode,
        sync_key: Option<SyncKey>,
        graph_id: Option<GraphItemId>,
    ) -> ItemError {
        ItemError {
            item: "Ann".into(),
            code,
            field: Some("Email".into()),
            message: "refused".into(),
            sync_key,
            graph_id,
            salesforce_id: None,
        }
    }

    #[test]
    fn a_session_reports_its_failures_and_clears_only_what_it_synced_or_saw_go() {
        let refused = link(1, true);
        let synced = link(2, false);
        let gone = link(3, false);
        let decisions = Decisions {
            exchange: Vec::new(),
            salesforce: Vec::new(),
            links: Vec::new(),
            errors: vec![
                error(
                    ErrorCode::InvalidEmailAddress,
                    Some(refused.sync_key.clone()),
                    refused.graph_id.clone(),
                ),
                // Known only by its mailbox id, and the session-wide guard (about no item).
                error(ErrorCode::KeyConflict, None, Some(graph_id(4))),
                error(ErrorCode::MassDeleteGuard, None, None),
            ],
            guard: GuardOutcome::Clear,
            fallbacks: Vec::new(),
        };
        let applied = Applied {
            links: vec![
                LinkUpdate::Upsert(Box::new(refused.clone())),
                LinkUpdate::Upsert(Box::new(synced.clone())),
                LinkUpdate::Delete {
                    sync_key: gone.sync_key.clone(),
                },
            ],
            errors: Vec::new(),
        };
        let outcome = item_outcome(&decisions, &applied);
        let keys: Vec<&str> = outcome
            .failures
            .iter()
            .map(|f| f.item_key.as_str())
            .collect();
        assert_eq!(
            keys,
            [
                refused.sync_key.as_str().to_owned(),
                format!("graph:{}", graph_id(4).as_str())
            ]
        );
        assert_eq!(outcome.failures[0].code, "INVALID_EMAIL_ADDRESS");
        assert_eq!(outcome.failures[0].field.as_deref(), Some("Email"));
        assert_eq!(
            outcome.cleared,
            [
                synced.sync_key.as_str().to_owned(),
                gone.sync_key.as_str().to_owned()
            ],
            "the refused item keeps its error; the synced and the deleted ones lose theirs"
        );
        assert_eq!(outcome.synced_graph_ids, [graph_id(2).as_str().to_owned()]);
    }
}
