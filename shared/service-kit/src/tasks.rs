//! Runs a service's long-lived tasks (HTTP server, consumer loops, tickers) as one unit.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("{task} failed: {message}")]
    Failed { task: &'static str, message: String },
    #[error("{task} panicked")]
    Panicked { task: &'static str },
    #[error("tasks still running {0:?} after shutdown began; aborted")]
    GraceExceeded(Duration),
}

/// The tasks of one service. They share a shutdown token: the outside one (signals) or the
/// first task that ends on its own, since a service missing a loop must not look healthy.
pub struct Tasks {
    set: JoinSet<(&'static str, Result<(), String>)>,
    shutdown: CancellationToken,
}

impl Tasks {
    /// Tasks stopped by `shutdown`. They watch a child token: one failing service stops itself
    /// without cancelling the caller's token (and so its siblings in `contactsync dev`).
    pub fn new(shutdown: &CancellationToken) -> Self {
        Tasks {
            set: JoinSet::new(),
            shutdown: shutdown.child_token(),
        }
    }

    /// The token each task must stop on.
    pub fn shutdown(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    pub fn spawn<F, E>(&mut self, task: &'static str, future: F)
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: Display,
    {
        self.set
            .spawn(async move { (task, future.await.map_err(|error| error.to_string())) });
    }

    /// Waits until shutdown (or the first task ending), then gives the rest `grace` to finish.
    /// Returns the first failure, if any.
    pub async fn run(mut self, grace: Duration) -> Result<(), TaskError> {
        let mut first_error = None;
        tokio::select! {
            () = self.shutdown.cancelled() => {}
            Some(ended) = self.set.join_next() => {
                first_error = outcome(ended).err();
                if let Some(error) = &first_error {
                    tracing::error!(%error, "A service task stopped; shutting the service down");
                }
                self.shutdown.cancel();
            }
        }
        let drain = async {
            let mut error = None;
            while let Some(ended) = self.set.join_next().await {
                if let Err(failure) = outcome(ended) {
                    tracing::warn!(error = %failure, "A service task failed while stopping");
                    error.get_or_insert(failure);
                }
            }
            error
        };
        match tokio::time::timeout(grace, drain).await {
            Ok(error) => match first_error.or(error) {
                Some(error) => Err(error),
                None => Ok(()),
            },
            Err(_) => {
                self.set.abort_all();
                Err(first_error.unwrap_or(TaskError::GraceExceeded(grace)))
            }
        }
    }
}

fn outcome(
    ended: Result<(&'static str, Result<(), String>), tokio::task::JoinError>,
) -> Result<(), TaskError> {
    match ended {
        Ok((_, Ok(()))) => Ok(()),
        Ok((task, Err(message))) => Err(TaskError::Failed { task, message }),
        Err(_) => Err(TaskError::Panicked { task: "a task" }),
    }
}
