//! The exchange-fetcher service: consumes sync jobs and reads the mailbox side of each session —
//! an Exchange user's contact changes from Microsoft Graph (`read`), a Gmail user's from the
//! Google People API (`gmail`, G1) — in the one mailbox shape the sync core takes.
//!
//! Wiring only (the shared `pipeline::App`): `App::build` connects the infrastructure,
//! `run_until_stopped` runs the ops server and the consumer loop(s) until shutdown. What the
//! service does lives in `handler`.

pub mod gmail;
pub mod handler;
pub mod read;
mod settings;
pub mod setup;

use std::sync::Arc;

use messaging::{Delivery, HandlerError, Queue};
use pipeline::Service;

pub use pipeline::AppError;
pub use settings::Settings;

/// The service, as the shared wiring runs it: each delivery of its queues goes to
/// [`handler::handle`].
pub struct ExchangeFetcher;

/// Everything the service's logic needs, shared by every delivery.
pub type Ctx = pipeline::Ctx<ExchangeFetcher>;

/// The built service, ready to run.
pub type App = pipeline::App<ExchangeFetcher>;

impl Service for ExchangeFetcher {
    const NAME: &'static str = "exchange-fetcher";
    const QUEUES: &'static [Queue] = &[Queue::ExchangeFetcherJobs];
    type Settings = Settings;
    type Clients = pipeline::OrgClients;

    fn starting(settings: &Settings) {
        pipeline::notification_url::warn_if_http(&settings.common, settings.http_notification_url);
    }

    async fn handle(ctx: Arc<Ctx>, delivery: Delivery) -> Result<(), HandlerError> {
        handler::handle(&ctx, delivery).await
    }
}
