//! The scheduler service: posts a sync job for each user whose session is due (B3), coalescing so a user never has two in flight.
//!
//! Wiring only: `App::build` connects the infrastructure, `run_until_stopped` runs the ops server
//! and the ticker until shutdown. What the service does lives in `handler`.

pub mod handler;
mod settings;

use std::net::SocketAddr;
use std::sync::Arc;

use messaging::{Broker, Publisher};
use service_kit::{Infra, Readiness, Tasks};
use telemetry::Metrics;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use settings::Settings;

/// The service's name: its telemetry `service.name` and its broker connection name.
pub const SERVICE: &str = "scheduler";

/// Everything the service's logic needs, shared by every tick.
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
                service_kit::Router::new(),
                self.readiness,
                self.ctx.metrics.clone(),
                tasks.shutdown(),
            ),
        );
        tasks.spawn("ticker", tick_loop(Arc::clone(&self.ctx), tasks.shutdown()));
        tasks.run(grace).await?;
        Ok(())
    }
}

/// Calls [`handler::tick`] every `tick_interval` until shutdown. A failed tick is logged and the
/// next one tries again; a tick in progress when shutdown comes is finished first.
async fn tick_loop(
    ctx: Arc<Ctx>,
    shutdown: CancellationToken,
) -> Result<(), std::convert::Infallible> {
    let mut ticker = tokio::time::interval(ctx.settings.tick_interval);
    // After a slow tick, run once and carry on rather than firing a burst of catch-up ticks.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            _ = ticker.tick() => {}
        }
        if let Err(error) = handler::tick(&ctx, chrono::Utc::now()).await {
            tracing::warn!(%error, "Scheduler tick failed; retrying next tick");
        }
    }
}
