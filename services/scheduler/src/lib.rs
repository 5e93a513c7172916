//! The scheduler service: posts a sync job for each user whose session is due (B3), coalescing so a user never has two in flight.
//!
//! Wiring only (the shared `pipeline::App`): `App::build` connects the infrastructure,
//! `run_until_stopped` runs the ops server, the ticker and the fleet gauges until shutdown. What
//! the service does lives in `handler`; what it reports of the fleet in `fleet`.

pub mod fleet;
pub mod handler;
mod settings;

use std::sync::Arc;

use pipeline::{Service, Tasks};
use tokio_util::sync::CancellationToken;

pub use pipeline::AppError;
pub use settings::Settings;

/// The service, as the shared wiring runs it.
pub struct Scheduler;

/// Everything the service's logic needs, shared by every tick.
pub type Ctx = pipeline::Ctx<Scheduler>;

/// The built service, ready to run: a tick in progress at shutdown finishes (within the
/// shutdown grace).
pub type App = pipeline::App<Scheduler>;

impl Service for Scheduler {
    const NAME: &'static str = "scheduler";
    type Settings = Settings;
    type Clients = pipeline::OrgClients;

    fn work(tasks: &mut Tasks, ctx: Arc<Ctx>) {
        let metrics = fleet::FleetMetrics::register(&ctx.metrics);
        tasks.spawn(
            "ticker",
            tick_loop(Arc::clone(&ctx), metrics.clone(), tasks.shutdown()),
        );
        tasks.spawn("fleet metrics", fleet_loop(ctx, metrics, tasks.shutdown()));
    }
}

/// Calls [`handler::tick`] every `tick_interval` until shutdown. A failed tick is logged and the
/// next one tries again; a tick in progress when shutdown comes is finished first.
async fn tick_loop(
    ctx: Arc<Ctx>,
    metrics: fleet::FleetMetrics,
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
        match handler::tick(&ctx, chrono::Utc::now()).await {
            Ok(report) => metrics.record_renewals(&report),
            Err(error) => tracing::warn!(%error, "Scheduler tick failed; retrying next tick"),
        }
    }
}

/// Computes the fleet gauges every `fleet_interval` until shutdown; a failed snapshot is logged
/// and the gauges keep their last values until the next one.
async fn fleet_loop(
    ctx: Arc<Ctx>,
    metrics: fleet::FleetMetrics,
    shutdown: CancellationToken,
) -> Result<(), std::convert::Infallible> {
    let mut ticker = tokio::time::interval(ctx.settings.fleet_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            _ = ticker.tick() => {}
        }
        if let Err(error) = metrics.observe(&ctx, chrono::Utc::now()).await {
            tracing::warn!(%error, "Could not compute the fleet metrics; retrying");
        }
    }
}
