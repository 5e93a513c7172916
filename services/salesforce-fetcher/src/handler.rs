//! Handles one sync job: reads the Salesforce side of the session and publishes it as a change
//! batch.

use contracts::{SideRead, SyncJob};
use messaging::{Delivery, HandlerError};
use sync_core::{Disposition, SalesforceChanges};

use crate::read::{self, ReadError};
use crate::{Ctx, SalesforceFetcher};

/// Handles one delivery; `Ok` means the change batch was published with confirm.
pub async fn handle(ctx: &Ctx, delivery: Delivery) -> Result<(), HandlerError> {
    pipeline::fetch(ctx, delivery).await
}

impl pipeline::Fetcher for SalesforceFetcher {
    const SIDE: &'static str = "salesforce";
    const READS: &'static str = "Salesforce";
    type Error = ReadError;

    fn disposition(error: &ReadError) -> Disposition {
        error.disposition()
    }

    async fn read(ctx: &Ctx, job: &SyncJob) -> Result<(SideRead, serde_json::Value), ReadError> {
        let (changes, cursor) = read::read_salesforce(ctx, job).await?;
        Ok((SideRead::Salesforce(changes), cursor))
    }

    fn failed_read() -> SideRead {
        SideRead::Salesforce(SalesforceChanges::failed())
    }
}

impl ReadError {
    /// What to do next: the disposition of the Salesforce or database error underneath; a
    /// missing client or a bad value is for an operator.
    pub fn disposition(&self) -> Disposition {
        match self {
            ReadError::Salesforce(e) => e.disposition(),
            ReadError::State(e) => e.disposition(),
            // As before typed errors: even a database blip while loading the org's clients
            // fails the read rather than retrying it.
            ReadError::Clients(_) | ReadError::Invalid(_) => Disposition::Fatal,
        }
    }

    /// Worth another attempt later (outage, throttling, database trouble).
    pub fn is_transient(&self) -> bool {
        self.disposition().is_transient()
    }
}
