//! The exchange writer as a `pipeline::Writer`: finds the user's mailbox and sync folder and
//! carries a batch's commands out through Graph, or for a Gmail user through the People API
//! (`gmail`, G1); the shared skeleton publishes one `WriteResults` for the batch.

use contracts::{Commands, Header};
use messaging::{Delivery, HandlerError};
use pipeline::{Attempt, Executed, Unavailable};
use sync_core::ExchangeCommand;
use sync_state::{StateError, users};

use crate::execute::{self, Target};
use crate::gmail;
use crate::{Ctx, ExchangeWriter};

/// Handles one delivery; `Ok` means the batch's results were published with confirm.
pub async fn handle(ctx: &Ctx, delivery: Delivery) -> Result<(), HandlerError> {
    pipeline::write(ctx, delivery).await
}

impl pipeline::Writer for ExchangeWriter {
    const SIDE: &'static str = "exchange";
    const WRITES: &'static str = "mailbox";
    type Command = ExchangeCommand;

    fn commands(commands: Commands) -> Result<Vec<ExchangeCommand>, Commands> {
        match commands {
            Commands::Exchange(commands) => Ok(commands),
            other => Err(other),
        }
    }

    /// A redelivery may follow a crash after some creates landed, and the outbox may publish a
    /// batch twice (a crash between the broker's confirm and the outbox row's delete); either
    /// way some creates may have landed, so they are looked up first (C4). A first delivery of
    /// a first publish — nearly always — costs no lookup.
    async fn seen_before(ctx: &Ctx, header: &Header) -> Result<bool, HandlerError> {
        match mark_seen(ctx, &header.message_id).await {
            Ok(first) => Ok(!first),
            Err(e) if e.is_transient() => Err(HandlerError::retry(e)),
            Err(e) => Err(HandlerError::retry(e).context("recording the batch")),
        }
    }

    async fn write(
        ctx: &Ctx,
        user: &users::User,
        commands: &[ExchangeCommand],
        attempt: Attempt,
    ) -> Result<Executed, Unavailable> {
        // The "Salesforce Contacts" folder, set by the fetcher's setup (B1).
        let folder_id = sync_folder(ctx, &user.id)
            .await
            .map_err(|e| Unavailable::state("the user cannot be loaded", e))?;
        if user.provider == users::Provider::Gmail {
            return write_gmail(ctx, user, folder_id.as_deref(), commands, attempt).await;
        }
        let graph = ctx
            .clients
            .graph(&user.org_id)
            .await
            .map_err(|e| Unavailable::client("Graph", e))?;
        let target = Target {
            graph: &graph,
            mailbox: &user.mailbox,
            folder_id: folder_id.as_deref(),
        };
        Ok(execute::execute(&target, commands, attempt.redelivered).await)
    }
}

/// [`pipeline::Writer::write`] for a Gmail user (G1): the folder is a contact group, and so is
/// the category.
async fn write_gmail(
    ctx: &Ctx,
    user: &users::User,
    folder_group: Option<&str>,
    commands: &[ExchangeCommand],
    attempt: Attempt,
) -> Result<Executed, Unavailable> {
    let category_group = {
        let client =
            ctx.pool.get().await.map_err(|e| {
                Unavailable::state("the user cannot be loaded", StateError::from(e))
            })?;
        sync_state::mailbox::category_group(&**client, &user.id)
            .await
            .map_err(|e| Unavailable::state("the user cannot be loaded", e))?
    };
    let google = ctx
        .clients
        .google(&user.org_id)
        .await
        .map_err(|e| Unavailable::client("Google", e))?;
    let target = gmail::Target {
        google: &google,
        mailbox: &user.mailbox,
        folder_group,
        category_group: category_group.as_deref(),
    };
    Ok(gmail::execute(&target, commands, attempt.redelivered).await)
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

async fn sync_folder(ctx: &Ctx, user_id: &str) -> Result<Option<String>, StateError> {
    let client = ctx.pool.get().await?;
    sync_state::mailbox::sync_folder(&**client, user_id).await
}
