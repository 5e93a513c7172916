//! The gateway service: webhooks from both sides, the admin API and the pages, over HTTP.
//!
//! Wiring only: `App::build` connects the infrastructure, `run_until_stopped` runs the ops server
//! and the HTTP API until shutdown. What the service does lives in `api`.

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

use std::net::SocketAddr;
use std::sync::Arc;

use messaging::{Broker, Publisher};
use service_kit::{Infra, Readiness, Tasks};
use telemetry::Metrics;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use settings::Settings;

/// The service's name: its telemetry `service.name` and its broker connection name.
pub const SERVICE: &str = "gateway";

/// Everything the service's logic needs, shared by every request.
pub struct Ctx {
    pub broker: Broker,
    pub publisher: Publisher,
    pub pool: store::Pool,
    pub metrics: Metrics,
    pub settings: Settings,
    /// Graph and Salesforce clients per org, built from the org's sealed credentials.
    pub clients: pipeline::OrgClients,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Boot(#[from] service_kit::BootError),
    #[error(transparent)]
    Run(#[from] service_kit::TaskError),
    #[error(transparent)]
    Clients(#[from] pipeline::ClientError),
}

/// The built service, ready to run.
pub struct App {
    ctx: Arc<Ctx>,
    listener: TcpListener,
    local_addr: SocketAddr,
    readiness: Readiness,
}

impl App {
    /// Connects the broker (declaring the topology) and the database (applying migrations) and
    /// binds the HTTP listener (port 0 picks a free one).
    pub async fn build(settings: Settings) -> Result<App, AppError> {
        let infra = Infra::connect(SERVICE, &settings.common).await?;
        let readiness = infra.readiness();
        let local_addr = infra.local_addr()?;
        let Infra {
            broker,
            publisher,
            pool,
            metrics,
            listener,
        } = infra;
        let clients = pipeline::OrgClients::new(pool.clone(), &settings.common)?;
        let ctx = Arc::new(Ctx {
            broker,
            publisher,
            pool,
            metrics,
            settings,
            clients,
        });
        Ok(App {
            ctx,
            listener,
            local_addr,
            readiness,
        })
    }

    /// Where the HTTP server listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The shared context, for tests that drive the logic directly.
    pub fn ctx(&self) -> Arc<Ctx> {
        Arc::clone(&self.ctx)
    }

    /// Runs until `shutdown`, then stops taking work, lets in-flight work finish (within the
    /// shutdown grace) and returns. Also returns, with the error, if a loop fails.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> Result<(), AppError> {
        let mut tasks = Tasks::new(&shutdown);
        let grace = self.ctx.settings.common.shutdown_grace;
        tasks.spawn(
            "http server",
            service_kit::serve(
                self.listener,
                api::router(Arc::clone(&self.ctx)),
                self.readiness,
                self.ctx.metrics.clone(),
                tasks.shutdown(),
            ),
        );
        tasks.run(grace).await?;
        Ok(())
    }
}
