//! One scheduler tick: find due users and post their sync jobs. (Scaffold: replaced by the
//! real scheduling.)

use chrono::{DateTime, Utc};

use crate::Ctx;

/// Why a tick failed; the ticker logs it and tries again on the next tick.
#[derive(Debug, thiserror::Error)]
pub enum TickError {
    #[error("database: {0}")]
    Database(String),
    #[error("broker: {0}")]
    Broker(#[from] messaging::MessagingError),
}

/// Runs one scheduling pass as of `now` (passed in, so tests control the clock).
pub async fn tick(ctx: &Ctx, now: DateTime<Utc>) -> Result<(), TickError> {
    let _ = ctx;
    tracing::debug!(%now, "Scheduler tick");
    Ok(())
}
