//! The wiring every service shares: connect the infrastructure, serve the ops endpoints (and the
//! service's own routes), run the service's loops — one consumer per queue handing each delivery
//! to its handler, or its own — and stop as one unit.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use config::CommonSettings;
use messaging::{Broker, Delivery, HandlerError, Publisher, Queue};
use service_kit::{Infra, Readiness, Tasks};
use telemetry::Metrics;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{ClientError, OrgClients};

/// A service's settings: its own knobs around the common ones.
pub trait ServiceSettings: Send + Sync + 'static {
    fn common(&self) -> &CommonSettings;
}

/// Everything a service's logic needs, shared by every delivery.
pub struct Ctx<S> {
    pub broker: Broker,
    pub publisher: Publisher,
    pub pool: store::Pool,
    pub metrics: Metrics,
    pub settings: S,
    /// Graph and Salesforce clients per org, built from the org's sealed credentials.
    pub clients: OrgClients,
}

/// Why a service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Boot(#[from] service_kit::BootError),
    #[error(transparent)]
    Run(#[from] service_kit::TaskError),
    #[error(transparent)]
    Clients(#[from] ClientError),
}

/// A built service, ready to run.
pub struct ServiceApp<S> {
    ctx: Arc<Ctx<S>>,
    listener: TcpListener,
    local_addr: SocketAddr,
    readiness: Readiness,
}

impl<S: ServiceSettings> ServiceApp<S> {
    /// Connects the broker (declaring the topology) and the database (applying migrations) and
    /// binds the HTTP listener (port 0 picks a free one).
    pub async fn build(service: &'static str, settings: S) -> Result<Self, AppError> {
        let infra = Infra::connect(service, settings.common()).await?;
        let readiness = infra.readiness();
        let local_addr = infra.local_addr()?;
        let Infra {
            broker,
            publisher,
            pool,
            metrics,
            listener,
        } = infra;
        let clients = OrgClients::new(pool.clone(), settings.common())?;
        let ctx = Arc::new(Ctx {
            broker,
            publisher,
            pool,
            metrics,
            settings,
            clients,
        });
        Ok(ServiceApp {
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
    pub fn ctx(&self) -> Arc<Ctx<S>> {
        Arc::clone(&self.ctx)
    }

    /// Serves the ops endpoints merged with `routes` and runs what `work` spawns, until
    /// `shutdown`; then stops taking work, lets in-flight work finish (within the shutdown grace)
    /// and returns. Also returns, with the error, if a loop fails.
    pub async fn run<W>(
        self,
        shutdown: CancellationToken,
        routes: service_kit::Router,
        work: W,
    ) -> Result<(), AppError>
    where
        W: FnOnce(&mut Tasks, Arc<Ctx<S>>),
    {
        let mut tasks = Tasks::new(&shutdown);
        let grace = self.ctx.settings.common().shutdown_grace;
        tasks.spawn(
            "http server",
            service_kit::serve(
                self.listener,
                routes,
                self.readiness,
                self.ctx.metrics.clone(),
                tasks.shutdown(),
            ),
        );
        work(&mut tasks, Arc::clone(&self.ctx));
        tasks.run(grace).await?;
        Ok(())
    }

    /// Runs a consumer loop per queue, each delivery going to `handler` (see [`Self::run`]).
    pub async fn run_consumers<H, Fut>(
        self,
        shutdown: CancellationToken,
        queues: &'static [Queue],
        handler: H,
    ) -> Result<(), AppError>
    where
        H: Fn(Arc<Ctx<S>>, Delivery) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        self.run(shutdown, service_kit::Router::new(), |tasks, ctx| {
            for &queue in queues {
                let ctx = Arc::clone(&ctx);
                let stop = tasks.shutdown();
                let handler = handler.clone();
                tasks.spawn(queue.suffix(), async move {
                    let broker = ctx.broker.clone();
                    messaging::consume(
                        &broker,
                        queue,
                        move |delivery| handler(Arc::clone(&ctx), delivery),
                        stop,
                    )
                    .await
                });
            }
        })
        .await
    }
}
