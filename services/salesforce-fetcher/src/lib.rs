//! The salesforce-fetcher service: consumes sync jobs, reads each org's Contact changes from
//! Salesforce once (`feed`) and gives each user's session what concerns it (`read`).
//!
//! Wiring only (the shared `pipeline::App`): `App::build` connects the infrastructure,
//! `run_until_stopped` runs the ops server and the consumer loop(s) until shutdown. What the
//! service does lives in `handler`.

pub mod deleted;
pub mod feed;
pub mod handler;
pub mod read;
mod settings;

use std::sync::Arc;

use messaging::{Delivery, HandlerError, Queue};
use pipeline::Service;

pub use pipeline::AppError;
pub use settings::Settings;

/// The service, as the shared wiring runs it: each delivery of its queues goes to
/// [`handler::handle`].
pub struct SalesforceFetcher;

/// Everything the service's logic needs, shared by every delivery.
pub type Ctx = pipeline::Ctx<SalesforceFetcher>;

/// The built service, ready to run.
pub type App = pipeline::App<SalesforceFetcher>;

impl Service for SalesforceFetcher {
    const NAME: &'static str = "salesforce-fetcher";
    const QUEUES: &'static [Queue] = &[Queue::SalesforceFetcherJobs];
    type Settings = Settings;
    type Clients = pipeline::OrgClients;

    async fn handle(ctx: Arc<Ctx>, delivery: Delivery) -> Result<(), HandlerError> {
        handler::handle(&ctx, delivery).await
    }
}
