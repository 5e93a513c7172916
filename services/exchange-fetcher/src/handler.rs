//! Handles one sync job: reads the mailbox side of the session and publishes it as a change batch.

use contracts::{ChangeBatch, Header, Message, SideRead};
use messaging::{Delivery, HandlerError};
use sync_core::ExchangeChanges;

use crate::Ctx;
use crate::read::{self, ReadError};

/// Handles one delivery; `Ok` means the change batch was published with confirm.
pub async fn handle(ctx: &Ctx, delivery: Delivery) -> Result<(), HandlerError> {
    let message: Message = delivery
        .decode()
        .map_err(|e| HandlerError::Reject(format!("not a Contactsync message: {e}")))?;
    let Message::SyncJob(job) = message else {
        return Err(HandlerError::Reject(format!(
            "{} does not belong on the exchange fetcher's queue",
            message.schema()
        )));
    };
    let header = Header::derived(
        job.header.job_id,
        &job.header.user_id,
        "read.exchange",
        chrono::Utc::now(),
    );
    let batch = match read::read_mailbox(ctx, &job).await {
        Ok((changes, cursor)) => ChangeBatch {
            header,
            read: SideRead::Exchange(changes),
            cursor: Some(cursor),
            failure: None,
        },
        // Transient trouble: let the broker redeliver while attempts remain; after that, report
        // the read as failed so the session ends (and deletes nothing, C5) instead of hanging.
        Err(e) if e.is_transient() && delivery.delivery_count() + 1 < delivery_limit(ctx) => {
            return Err(HandlerError::Retry(e.to_string()));
        }
        Err(e) => {
            tracing::warn!(user_id = %job.header.user_id, error = %e, "The mailbox read failed.");
            ChangeBatch {
                header,
                read: SideRead::Exchange(ExchangeChanges::failed()),
                cursor: None,
                failure: Some(format!("mailbox read failed: {e}")),
            }
        }
    };
    pipeline::publish_message(&ctx.publisher, &Message::ChangeBatch(batch))
        .await
        .map_err(|e| HandlerError::Retry(e.to_string()))
}

fn delivery_limit(ctx: &Ctx) -> u32 {
    ctx.settings.common.delivery_limit
}

impl ReadError {
    /// Worth another attempt later (outage, throttling, database trouble).
    pub fn is_transient(&self) -> bool {
        match self {
            ReadError::Graph(e) => matches!(
                e.disposition(),
                graph_client::Disposition::Retry { .. } | graph_client::Disposition::ReAuth
            ),
            ReadError::State(e) => e.is_transient(),
            ReadError::Clients(_) | ReadError::Invalid(_) => false,
        }
    }
}
