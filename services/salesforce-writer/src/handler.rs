//! The salesforce writer as a `pipeline::Writer`: finds the user's org and carries a batch's
//! commands out as its integration user; the shared skeleton publishes one `WriteResults` for
//! the batch.

use contracts::Commands;
use messaging::{Delivery, HandlerError};
use pipeline::{Attempt, Executed, Unavailable};
use sync_core::SalesforceCommand;
use sync_state::users;

use crate::execute;
use crate::{Ctx, SalesforceWriter};

/// Handles one delivery; `Ok` means the batch's results were published with confirm.
pub async fn handle(ctx: &Ctx, delivery: Delivery) -> Result<(), HandlerError> {
    pipeline::write(ctx, delivery).await
}

impl pipeline::Writer for SalesforceWriter {
    const SIDE: &'static str = "salesforce";
    const WRITES: &'static str = "Salesforce";
    type Command = SalesforceCommand;

    fn commands(commands: Commands) -> Result<Vec<SalesforceCommand>, Commands> {
        match commands {
            Commands::Salesforce(commands) => Ok(commands),
            other => Err(other),
        }
    }

    /// Every write is idempotent (upsert by key, update and delete by Id): a redelivered batch
    /// is simply run again.
    async fn write(
        ctx: &Ctx,
        user: &users::User,
        commands: &[SalesforceCommand],
        _attempt: Attempt,
    ) -> Result<Executed, Unavailable> {
        let salesforce = ctx
            .clients
            .salesforce(&user.org_id)
            .await
            .map_err(|e| Unavailable::client("Salesforce", e))?;
        Ok(execute::execute(&salesforce, commands).await)
    }
}
