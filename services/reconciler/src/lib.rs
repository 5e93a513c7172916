//! The reconciler service: merges both sides' changes against the baseline and publishes write commands; records write results.
//!
//! Wiring only (the shared `pipeline::App`): `App::build` connects the infrastructure,
//! `run_until_stopped` runs the ops server and the consumer loop(s) until shutdown. What the
//! service does lives in `handler`.

mod batches;
mod decide;
mod finish;
pub mod handler;
mod settings;

use std::sync::Arc;

use messaging::{Delivery, HandlerError, Queue};
use pipeline::Service;

pub use pipeline::AppError;
pub use settings::Settings;

/// The service, as the shared wiring runs it: each delivery of its queues goes to
/// [`handler::handle`].
pub struct Reconciler;

/// Everything the service's logic needs, shared by every delivery.
pub type Ctx = pipeline::Ctx<Reconciler>;

/// The built service, ready to run.
pub type App = pipeline::App<Reconciler>;

impl Service for Reconciler {
    const NAME: &'static str = "reconciler";
    const QUEUES: &'static [Queue] = &[Queue::ReconcilerChanges, Queue::ReconcilerResults];
    type Settings = Settings;
    /// It calls no API: no clients, no credential key.
    type Clients = ();

    async fn handle(ctx: Arc<Ctx>, delivery: Delivery) -> Result<(), HandlerError> {
        handler::handle(&ctx, delivery).await
    }
}
