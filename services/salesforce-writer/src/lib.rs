//! The salesforce-writer service: executes write commands against Salesforce and reports the results.
//!
//! Wiring only (the shared `pipeline::ServiceApp`): `App::build` connects the infrastructure,
//! `run_until_stopped` runs the ops server and the consumer loop(s) until shutdown. What the
//! service does lives in `handler`.

pub mod accounts;
pub mod execute;
pub mod handler;
pub mod mapping;
mod settings;

use messaging::Queue;
use tokio_util::sync::CancellationToken;

pub use pipeline::AppError;
pub use settings::Settings;

/// The service's name: its telemetry `service.name` and its broker connection name.
pub const SERVICE: &str = "salesforce-writer";
/// The queues this service consumes; each delivery goes to [`handler::handle`].
pub const QUEUES: &[Queue] = &[Queue::SalesforceWriterCommands];

/// Everything the service's logic needs, shared by every delivery.
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

    /// Runs until `shutdown`, then stops taking work, lets in-flight work finish (within the
    /// shutdown grace) and returns. Also returns, with the error, if a loop fails.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> Result<(), AppError> {
        self.0
            .run_consumers(shutdown, QUEUES, |ctx, delivery| async move {
                handler::handle(&ctx, delivery).await
            })
            .await
    }
}
