//! The exchange-writer service: executes write commands against the mailbox — through Microsoft Graph, or for a Gmail user through the Google People API (`gmail`, G1) — and reports the results.
//!
//! Wiring only (the shared `pipeline::App`): `App::build` connects the infrastructure,
//! `run_until_stopped` runs the ops server and the consumer loop(s) until shutdown. What the
//! service does lives in `handler`.

pub mod execute;
pub mod gmail;
pub mod handler;
pub mod mapping;

use std::sync::Arc;

use messaging::{Delivery, HandlerError, Queue};
use pipeline::Service;

pub use pipeline::AppError;
/// Only the common settings and the credential key.
pub type Settings = pipeline::ApiSettings;

/// The service, as the shared wiring runs it: each delivery of its queues goes to
/// [`handler::handle`].
pub struct ExchangeWriter;

/// Everything the service's logic needs, shared by every delivery.
pub type Ctx = pipeline::Ctx<ExchangeWriter>;

/// The built service, ready to run.
pub type App = pipeline::App<ExchangeWriter>;

impl Service for ExchangeWriter {
    const NAME: &'static str = "exchange-writer";
    const QUEUES: &'static [Queue] = &[Queue::ExchangeWriterCommands];
    type Settings = Settings;
    type Clients = pipeline::OrgClients;

    async fn handle(ctx: Arc<Ctx>, delivery: Delivery) -> Result<(), HandlerError> {
        handler::handle(&ctx, delivery).await
    }
}
