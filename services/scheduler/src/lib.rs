//! The scheduler service: posts a sync job for each user whose session is due (B3), coalescing so a user never has two in flight.
//!
//! Wiring only (the shared `pipeline::ServiceApp`): `App::build` connects the infrastructure,
//! `run_until_stopped` runs the ops server and the ticker until shutdown. What the service does
//! lives in `handler`.

pub mod handler;
mod settings;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

pub use pipeline::AppError;
pub use settings::Settings;

/// The service's name: its telemetry `service.name` and its broker connection name.
pub const SERVICE: &str = "scheduler";

/// Everything the service's logic needs, shared by every tick.
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
    pub fn ctx(&self) -> Arc<Ctx> {
        self.0.ctx()
    }

    /// Runs until `shutdown`, then lets a tick in progress finish (within the shutdown grace).
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> Result<(), AppError> {
        self.0
            .run(shutdown, service_kit::Router::new(), |tasks, ctx| {
                tasks.spawn("ticker", tick_loop(ctx, tasks.shutdown()));
            })
            .await
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
