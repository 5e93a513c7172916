//! A side's read arrives: it is stored on the session; once both sides are in, the sync core
//! decides (the mass-delete guard judging bursts of deletions across sessions, C5) and the write
//! batches go into the outbox, all in one transaction. The guard's outcome (deletions waiting,
//! held, carried out) is kept on the session and stored when it completes (`finish`).

use chrono::Utc;
use contracts::{ChangeBatch, Header, Message, SideRead, WriteBatch};
use sync_state::session_batches::BatchDecisions;
use sync_state::sessions::{self, Cursors, ItemError, Progress, SessionState};
use sync_state::users;
use sync_state::{StateError, deletions, links, outbox};
use tokio_postgres::Transaction;
use uuid::Uuid;

use crate::Ctx;
use crate::batches::{self, BatchPart, Split};
use crate::finish;

/// Stores a side's read; decides the session when it completes the pair.
#[tracing::instrument(skip_all, fields(job_id = %batch.header.job_id, user_id = %batch.header.user_id))]
pub async fn on_change_batch(ctx: &Ctx, batch: ChangeBatch) -> Result<(), StateError> {
    let job_id = batch.header.job_id;
    let mut client = ctx.pool.get().await?;
    let tx = client.transaction().await?;
    sessions::lock_user(&tx, &batch.header.user_id).await?;
    let Some((user_id, exchange_in, salesforce_in)) =
        sessions::lock_fetching_session(&tx, job_id).await?
    else {
        tracing::info!("A read arrived for a session that is no longer reading; dropped.");
        return Ok(());
    };
    if user_id != batch.header.user_id {
        return Err(StateError::Invalid(format!(
            "read for user {} on a session of user {user_id}",
            batch.header.user_id
        )));
    }
    let is_exchange = batch.read.is_exchange();
    let other = if is_exchange {
        salesforce_in
    } else {
        exchange_in
    };
    match other {
        // The first side in: keep it on the session until the other arrives.
        None => {
            let value = serde_json::to_value(&batch)?;
            sessions::store_input(&tx, job_id, is_exchange, &value).await?;
        }
        Some(other) => {
            let other: ChangeBatch = serde_json::from_value(other)?;
            let (exchange, salesforce) = if is_exchange {
                (batch, other)
            } else {
                (other, batch)
            };
            decide_session(ctx, &tx, &user_id, job_id, exchange, salesforce).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Decides a session whose two reads are in.
async fn decide_session(
    ctx: &Ctx,
    tx: &Transaction<'_>,
    user_id: &str,
    job_id: Uuid,
    exchange: ChangeBatch,
    salesforce: ChangeBatch,
) -> Result<(), StateError> {
    let failures: Vec<String> = [&exchange.failure, &salesforce.failure]
        .into_iter()
        .flatten()
        .map(|failure| failure.message.clone())
        .collect();
    if !failures.is_empty() {
        // C5: a failed read decides nothing and deletes nothing; the cursors stay put.
        let progress = Progress {
            failure: Some(failures.join("; ")),
            ..Progress::default()
        };
        return finish::close(tx, job_id, SessionState::Failed, &progress).await;
    }
    let (SideRead::Exchange(exchange_read), SideRead::Salesforce(salesforce_read)) =
        (&exchange.read, &salesforce.read)
    else {
        return Err(StateError::Invalid(
            "a session's reads are of the wrong sides".into(),
        ));
    };

    let user = users::get_user(tx, user_id).await?;
    let stored = users::get_settings(tx, user_id).await?;
    let settings = stored.for_core(user.salesforce_user_id.clone());
    let links = links::load_links(tx, user_id).await?;
    let now = Utc::now();
    // C5 per burst: deletions wait for their burst to settle (unless someone asked for this
    // session), are judged with the recent ones, and are held above the threshold.
    let policy = ctx.settings.burst;
    let on_demand = deletions::session_on_demand(tx, job_id).await?;
    let burst = deletions::load(tx, user_id, now, policy.window, on_demand).await?;
    let guarded = sync_core::reconcile_guarded(
        &links,
        exchange_read,
        salesforce_read,
        &settings,
        &burst,
        &policy,
        now,
    );
    // Stored with the links and cursors when the session completes.
    let outcome = deletions::Outcome::new(&guarded, links.len(), now, policy.window);
    deletions::stash(tx, job_id, &outcome).await?;
    let decisions = guarded.decisions;

    let held = decisions.guard.is_held();
    let progress = Progress {
        errors: decisions.errors.iter().map(item_error).collect(),
        ..Progress::default()
    };
    // What waits or is held is kept as pending deletions, so the cursors move on.
    let cursors = Cursors {
        exchange: exchange.cursor.clone(),
        salesforce: salesforce.cursor.clone(),
    };

    tracing::debug!(exchange = ?decisions.exchange, salesforce = ?decisions.salesforce, "Commands.");
    let exchange_writes = decisions.exchange.len();
    let salesforce_writes = decisions.salesforce.len();
    let log = |batches: usize| {
        tracing::info!(
            exchange_writes,
            salesforce_writes,
            links = links.len(),
            batches,
            held,
            on_demand,
            verdict = ?guarded.verdict,
            pending_deletions = outcome.pending.len(),
            "Decided the session."
        );
    };
    let (session_part, parts) = match batches::split(decisions) {
        Split::Batches(session_part, parts) => (session_part, parts),
        Split::NoWrites(decisions) => {
            log(0);
            return finish::complete(
                tx,
                user_id,
                job_id,
                &decisions,
                &cursors,
                &[],
                progress,
                held,
            )
            .await;
        }
    };
    log(parts.len());
    let stored = enqueue_batches(tx, user_id, job_id, &parts, now).await?;
    sessions::begin_writing(
        tx,
        job_id,
        &serde_json::to_value(&session_part)?,
        &stored,
        &cursors,
        &progress,
    )
    .await
}

/// Puts the session's write batches in the outbox; returns each batch's part of the decisions
/// as it is stored, numbered as the messages are.
async fn enqueue_batches(
    tx: &Transaction<'_>,
    user_id: &str,
    job_id: Uuid,
    parts: &[BatchPart],
    now: chrono::DateTime<Utc>,
) -> Result<Vec<BatchDecisions>, StateError> {
    let mut stored = Vec::with_capacity(parts.len());
    for (n, part) in parts.iter().enumerate() {
        let batch = u32::try_from(n)
            .map_err(|_| StateError::Invalid(format!("{n} write batches in one session")))?;
        let side = part.side();
        let message = Message::WriteBatch(WriteBatch {
            header: Header::derived(
                job_id,
                user_id,
                &format!("write.{}.{batch}", side.as_str()),
                now,
            ),
            batch,
            commands: part.commands.clone(),
        });
        let route = pipeline::route_for(&message).routing_key();
        outbox::enqueue(
            tx,
            &message.header().message_id,
            route,
            &serde_json::to_value(&message)?,
        )
        .await?;
        stored.push(BatchDecisions {
            side,
            decisions: serde_json::to_value(part)?,
        });
    }
    Ok(stored)
}

/// A core per-item error as the status shows it (C7).
pub(crate) fn item_error(e: &sync_core::ItemError) -> ItemError {
    ItemError {
        item: e.item.clone(),
        code: e.code.as_str().to_owned(),
        field: e.field.clone(),
        message: e.message.clone(),
    }
}
