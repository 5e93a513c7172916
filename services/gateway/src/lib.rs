//! The gateway service: webhooks from both sides, the admin API and the pages, over HTTP.
//!
//! Wiring only (the shared `pipeline::App`): `App::build` connects the infrastructure,
//! `run_until_stopped` serves the HTTP API (`HTTP_LISTEN`) and, on a port of their own
//! (`OPS_LISTEN`), the ops endpoints until shutdown. What the service does lives in `api`.

pub mod api;
pub mod auth;
pub mod charts;
pub mod dashboard;
pub mod deletions;
pub mod error;
pub mod graph_webhook;
pub mod html;
pub mod import;
pub mod links;
pub mod login;
pub mod metrics;
pub mod orgs;
pub mod salesforce_webhook;
pub mod sessions;
mod settings;
pub mod settings_page;
pub mod settings_status;
pub mod users;
pub mod validate;

use std::net::SocketAddr;
use std::sync::Arc;

use pipeline::Service;

pub use pipeline::AppError;
pub use settings::Settings;

/// The service, as the shared wiring runs it: the public API on `HTTP_LISTEN`, the ops
/// endpoints on `OPS_LISTEN`.
pub struct Gateway;

/// Everything the service's logic needs, shared by every request.
pub type Ctx = pipeline::Ctx<Gateway>;

/// The built service, ready to run: in-flight requests finish at shutdown (within the grace).
pub type App = pipeline::App<Gateway>;

impl Service for Gateway {
    const NAME: &'static str = "gateway";
    type Settings = Settings;
    type Clients = pipeline::OrgClients;

    fn starting(settings: &Settings) {
        pipeline::notification_url::warn_if_http(&settings.common, settings.http_notification_url);
        if settings.pages.link_key_derived {
            tracing::warn!(
                "SETTINGS_LINK_KEY is not set: settings links and operator sessions are signed \
                 with a key derived from CONTACTSYNC_ENCRYPTION_KEY. Set a key of their own."
            );
        }
    }

    fn ops_listen(settings: &Settings) -> Option<SocketAddr> {
        Some(settings.ops_listen)
    }

    fn routes(ctx: &Arc<Ctx>) -> axum::Router {
        api::router(Arc::clone(ctx))
    }
}
