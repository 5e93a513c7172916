//! Handles one write batch for the mailbox: finds the user's mailbox and sync folder, carries the
//! commands out through Graph and publishes one `WriteResults` for the batch.

use contracts::{Commands, Header, Message, WriteBatch, WriteResults};
use messaging::{Delivery, HandlerError};
use sync_core::ExchangeCommand;
use sync_state::{StateError, users};

use crate::Ctx;
use crate::execute::{self, Executed, Target};

/// Handles one delivery; `Ok` means the batch's results were published with confirm.
pub async fn handle(ctx: &Ctx, delivery: Delivery) -> Result<(), HandlerError> {
    let message: Message = delivery
        .decode()
        .map_err(|e| HandlerError::Reject(format!("not a Contactsync message: {e}")))?;
    let (header, number, commands) = match message {
        Message::WriteBatch(WriteBatch {
            header,
            batch,
            commands: Commands::Exchange(commands),
        }) => (header, batch, commands),
        other => {
            return Err(HandlerError::Reject(format!(
                "{} (or its side) does not belong on the exchange writer's queue",
                other.schema()
            )));
        }
    };
    // A redelivery may follow a crash after some creates landed, and the outbox may publish a
    // batch twice (a crash between the broker's confirm and the outbox row's delete); either
    // way some creates may have landed, so they are looked up first (C4). A first delivery of a
    // first publish — nearly always — costs no lookup.
    let seen_before = match mark_seen(ctx, &header.message_id).await {
        Ok(first) => !first,
        Err(e) if e.is_transient() => return Err(HandlerError::Retry(e.to_string())),
        Err(e) => return Err(HandlerError::Retry(format!("recording the batch: {e}"))),
    };
    let redelivered = seen_before || delivery.redelivered() || delivery.delivery_count() > 0;
    let last_attempt = delivery.delivery_count() + 1 >= ctx.settings.common.delivery_limit;
    let executed = write_batch(ctx, &header, &commands, redelivered, last_attempt).await?;
    if let Some(failure) = &executed.failure {
        tracing::warn!(user_id = %header.user_id, job_id = %header.job_id, batch = number, %failure, "A mailbox write batch could not be carried out.");
    }
    let results = Message::WriteResults(WriteResults {
        header: Header::derived(
            header.job_id,
            &header.user_id,
            &format!("result.exchange.{number}"),
            chrono::Utc::now(),
        ),
        batch: number,
        results: executed.results,
        failure: executed.failure,
    });
    pipeline::publish_message(&ctx.publisher, &results)
        .await
        .map_err(|e| HandlerError::Retry(format!("publishing the results: {e}")))
}

/// Carries out one batch for its user. `Err` only for trouble worth a redelivery (the database),
/// while attempts remain; anything else, and the last attempt's trouble, is reported in
/// `Executed::failure`, so the session ends instead of waiting for a dead-lettered batch.
#[tracing::instrument(skip_all, fields(user_id = %header.user_id, job_id = %header.job_id, commands = commands.len()))]
async fn write_batch(
    ctx: &Ctx,
    header: &Header,
    commands: &[ExchangeCommand],
    redelivered: bool,
    last_attempt: bool,
) -> Result<Executed, HandlerError> {
    let unavailable = |reason: String| Executed {
        results: Vec::new(),
        failure: Some(reason),
    };
    let (user, folder_id) = match load_user(ctx, &header.user_id).await {
        Ok(found) => found,
        Err(e) if e.is_transient() && !last_attempt => {
            return Err(HandlerError::Retry(e.to_string()));
        }
        Err(e) => return Ok(unavailable(format!("the user cannot be loaded: {e}"))),
    };
    let graph = match ctx.clients.graph(&user.org_id).await {
        Ok(graph) => graph,
        Err(pipeline::ClientError::State(e)) if e.is_transient() && !last_attempt => {
            return Err(HandlerError::Retry(e.to_string()));
        }
        Err(e) => return Ok(unavailable(format!("no Graph client: {e}"))),
    };
    let target = Target {
        graph: &graph,
        mailbox: &user.mailbox,
        folder_id: folder_id.as_deref(),
    };
    let executed = execute::execute(&target, commands, redelivered).await;
    tracing::info!(
        results = executed.results.len(),
        failed = executed.failure.is_some(),
        redelivered,
        "Wrote to the mailbox."
    );
    Ok(executed)
}

/// Records that this writer is about to carry out `message_id`; false when it was seen before.
async fn mark_seen(ctx: &Ctx, message_id: &str) -> Result<bool, StateError> {
    let mut client = ctx.pool.get().await?;
    let tx = client.transaction().await?;
    let first =
        sync_state::sessions::first_delivery(&tx, &format!("exchange-writer:{message_id}")).await?;
    tx.commit().await?;
    Ok(first)
}

/// The user and the id of their "Salesforce Contacts" folder (set by the fetcher's setup, B1).
async fn load_user(ctx: &Ctx, user_id: &str) -> Result<(users::User, Option<String>), StateError> {
    let client = ctx.pool.get().await?;
    let user = users::get_user(&**client, user_id).await?;
    let folder_id: Option<String> = client
        .query_opt(
            "SELECT graph_folder_id FROM user_sync_state WHERE user_id = $1",
            &[&user_id],
        )
        .await?
        .and_then(|row| row.get(0));
    Ok((user, folder_id))
}
