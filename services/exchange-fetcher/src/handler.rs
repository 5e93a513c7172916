//! Handles one sync job: reads the mailbox side of the session and publishes it as a change batch.

use contracts::{SideRead, SyncJob};
use messaging::{Delivery, HandlerError};
use sync_core::{Disposition, ExchangeChanges};

use crate::read::{self, ReadError};
use crate::{Ctx, ExchangeFetcher};

/// Handles one delivery; `Ok` means the change batch was published with confirm.
pub async fn handle(ctx: &Ctx, delivery: Delivery) -> Result<(), HandlerError> {
    pipeline::fetch(ctx, delivery).await
}

impl pipeline::Fetcher for ExchangeFetcher {
    const SIDE: &'static str = "exchange";
    const READS: &'static str = "mailbox";
    type Error = ReadError;

    fn disposition(error: &ReadError) -> Disposition {
        error.disposition()
    }

    async fn read(ctx: &Ctx, job: &SyncJob) -> Result<(SideRead, serde_json::Value), ReadError> {
        let (changes, cursor) = read::read_mailbox(ctx, job).await?;
        Ok((SideRead::Exchange(changes), cursor))
    }

    fn failed_read() -> SideRead {
        SideRead::Exchange(ExchangeChanges::failed())
    }
}

impl ReadError {
    /// What to do next: the disposition of the Graph or database error underneath; a missing
    /// client or a bad value is for an operator.
    pub fn disposition(&self) -> Disposition {
        match self {
            ReadError::Graph(e) => e.disposition(),
            ReadError::Google(e) => e.disposition(),
            ReadError::State(e) => e.disposition(),
            ReadError::Stamp { error, .. } => error.disposition(),
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
