//! Handles one write batch for Salesforce: finds the user's org, carries the commands out as its
//! integration user and publishes one `WriteResults` for the batch.

use contracts::{Commands, Header, Message, WriteBatch, WriteResults};
use messaging::{Delivery, HandlerError};
use sync_core::SalesforceCommand;
use sync_state::users;

use crate::Ctx;
use crate::execute::{self, Executed};

/// Handles one delivery; `Ok` means the batch's results were published with confirm.
pub async fn handle(ctx: &Ctx, delivery: Delivery) -> Result<(), HandlerError> {
    let message: Message = delivery
        .decode()
        .map_err(|e| HandlerError::Reject(format!("not a Contactsync message: {e}")))?;
    let (header, number, commands) = match message {
        Message::WriteBatch(WriteBatch {
            header,
            batch,
            commands: Commands::Salesforce(commands),
        }) => (header, batch, commands),
        other => {
            return Err(HandlerError::Reject(format!(
                "{} (or its side) does not belong on the salesforce writer's queue",
                other.schema()
            )));
        }
    };
    let last_attempt = delivery.delivery_count() + 1 >= ctx.settings.common.delivery_limit;
    let executed = write_batch(ctx, &header, &commands, last_attempt).await?;
    if let Some(failure) = &executed.failure {
        tracing::warn!(user_id = %header.user_id, job_id = %header.job_id, batch = number, %failure, "A Salesforce write batch could not be carried out.");
    }
    let results = Message::WriteResults(WriteResults {
        header: Header::derived(
            header.job_id,
            &header.user_id,
            &format!("result.salesforce.{number}"),
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
    commands: &[SalesforceCommand],
    last_attempt: bool,
) -> Result<Executed, HandlerError> {
    let unavailable = |reason: String| Executed {
        results: Vec::new(),
        failure: Some(reason),
    };
    let user = match load_user(ctx, &header.user_id).await {
        Ok(user) => user,
        Err(e) if e.is_transient() && !last_attempt => {
            return Err(HandlerError::Retry(e.to_string()));
        }
        Err(e) => return Ok(unavailable(format!("the user cannot be loaded: {e}"))),
    };
    let salesforce = match ctx.clients.salesforce(&user.org_id).await {
        Ok(salesforce) => salesforce,
        Err(pipeline::ClientError::State(e)) if e.is_transient() && !last_attempt => {
            return Err(HandlerError::Retry(e.to_string()));
        }
        Err(e) => return Ok(unavailable(format!("no Salesforce client: {e}"))),
    };
    let executed = execute::execute(&salesforce, commands).await;
    tracing::info!(
        results = executed.results.len(),
        failed = executed.failure.is_some(),
        "Wrote to Salesforce."
    );
    Ok(executed)
}

async fn load_user(ctx: &Ctx, user_id: &str) -> Result<users::User, sync_state::StateError> {
    let client = ctx.pool.get().await?;
    users::get_user(&**client, user_id).await
}
