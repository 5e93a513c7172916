//! Handles one sync job: reads the Salesforce side of the session and publishes it as a change
//! batch.

use contracts::{ChangeBatch, Header, Message, SideRead};
use messaging::{Delivery, HandlerError};
use sync_core::SalesforceChanges;

use crate::Ctx;
use crate::read::{self, ReadError};

/// Handles one delivery; `Ok` means the change batch was published with confirm.
pub async fn handle(ctx: &Ctx, delivery: Delivery) -> Result<(), HandlerError> {
    let message: Message = delivery
        .decode()
        .map_err(|e| HandlerError::Reject(format!("not a Contactsync message: {e}")))?;
    let Message::SyncJob(job) = message else {
        return Err(HandlerError::Reject(format!(
            "{} does not belong on the salesforce fetcher's queue",
            message.schema()
        )));
    };
    let header = Header::derived(
        job.header.job_id,
        &job.header.user_id,
        "read.salesforce",
        chrono::Utc::now(),
    );
    let batch = match read::read_salesforce(ctx, &job).await {
        Ok((changes, cursor)) => ChangeBatch {
            header,
            read: SideRead::Salesforce(changes),
            cursor: Some(cursor),
            failure: None,
        },
        // Transient trouble: redelivery while attempts remain; then a failed read ends the session
        // without deleting anything (C5).
        Err(e)
            if e.is_transient()
                && delivery.delivery_count() + 1 < ctx.settings.common.delivery_limit =>
        {
            return Err(HandlerError::Retry(e.to_string()));
        }
        Err(e) => {
            tracing::warn!(user_id = %job.header.user_id, error = %e, "The Salesforce read failed.");
            ChangeBatch {
                header,
                read: SideRead::Salesforce(SalesforceChanges::failed()),
                cursor: None,
                failure: Some(format!("Salesforce read failed: {e}")),
            }
        }
    };
    pipeline::publish_message(&ctx.publisher, &Message::ChangeBatch(batch))
        .await
        .map_err(|e| HandlerError::Retry(e.to_string()))
}

impl ReadError {
    /// Worth another attempt later (outage, throttling, database trouble).
    pub fn is_transient(&self) -> bool {
        match self {
            ReadError::Salesforce(e) => matches!(
                e.disposition(),
                salesforce_client::Disposition::Retry { .. }
                    | salesforce_client::Disposition::ReAuth
            ),
            ReadError::State(e) => e.is_transient(),
            ReadError::Clients(_) | ReadError::Invalid(_) => false,
        }
    }
}
