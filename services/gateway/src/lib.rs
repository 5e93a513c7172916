//! The gateway service: webhooks from both sides, the admin API and the pages, over HTTP.
//!
//! Wiring only (the shared `pipeline::ServiceApp`): `App::build` connects the infrastructure,
//! `run_until_stopped` serves the ops endpoints and the HTTP API until shutdown. What the service
//! does lives in `api`.

pub mod api;
pub mod auth;
pub mod dashboard;
pub mod error;
pub mod graph_webhook;
pub mod html;
pub mod metrics;
pub mod orgs;
pub mod queries;
pub mod salesforce_webhook;
pub mod sessions;
mod settings;
pub mod settings_page;
pub mod users;
pub mod validate;

use tokio_util::sync::CancellationToken;

pub use pipeline::AppError;
pub use settings::Settings;

/// The service's name: its telemetry `service.name` and its broker connection name.
pub const SERVICE: &str = "gateway";

/// Everything the service's logic needs, shared by every request.
pub type Ctx = pipeline::Ctx<Settings>;

impl pipeline::ServiceSettings for Settings {
    fn common(&self) -> &config::CommonSettings {
        &self.common
    }
}

/// The built service, ready to run.
pub struct App(pipeline::ServiceApp<Settings>);

impl App {
    /// Connects the broker (declaring the topology) and the database (applying migrations) and
    /// binds the HTTP listener (port 0 picks a free one).
    pub async fn build(settings: Settings) -> Result<App, AppError> {
        pipeline::ServiceApp::build(SERVICE, settings)
            .await
            .map(App)
    }

    /// Where the HTTP server listens.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.0.local_addr()
    }

    /// The shared context, for tests that drive the logic directly.
    pub fn ctx(&self) -> std::sync::Arc<Ctx> {
        self.0.ctx()
    }

    /// Serves until `shutdown`, then finishes in-flight requests (within the shutdown grace).
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> Result<(), AppError> {
        let routes = api::router(self.0.ctx());
        self.0.run(shutdown, routes, |_, _| {}).await
    }
}
