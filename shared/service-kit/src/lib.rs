//! What every service shares at run time: health endpoints and shutdown.
//!
//! A service's `App::build` calls [`Infra::connect`] (broker, database, metrics, listener) and its
//! `run_until_stopped` hands [`serve`] and its consumer loops to [`Tasks`], which stops them all
//! together on SIGTERM/Ctrl-C or when one of them fails.

mod infra;
mod ops;
mod tasks;

pub use infra::{BootError, Infra};
pub use ops::{Readiness, serve, serve_apart};
pub use tasks::{TaskError, Tasks};

/// Re-exported so services merge routes without depending on axum themselves.
pub use axum::Router;

use tokio_util::sync::CancellationToken;

/// A token cancelled on the first SIGTERM or Ctrl-C: the start of a graceful shutdown.
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("Shutdown signal received, stopping");
        cancel.cancel();
    });
    token
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(error) => {
            tracing::warn!(%error, "Cannot listen for SIGTERM; only Ctrl-C stops the service");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
