//! The wiring every service shares: connect the infrastructure, serve the ops endpoints (and the
//! service's own routes), run the service's loops — one consumer per queue handing each delivery
//! to its handler, or its own — and stop as one unit.
//!
//! A service crate says what it is once, as a [`Service`] (its name, settings, the clients it
//! needs and its work); [`App`] is the same for all of them.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use config::{CommonSettings, ConfigError, CredentialKey, Env};
use messaging::{Broker, Delivery, HandlerError, Publisher, Queue};
use service_kit::{Infra, Readiness, Router, Tasks};
use telemetry::Metrics;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{ClientError, OrgClients};

/// A service's settings: its own knobs around the common ones, read from an [`Env`].
pub trait ServiceSettings: Sized + Send + Sync + 'static {
    /// Reads any [`Env`] (the process environment, `contactsync dev`'s defaults and overrides,
    /// or a test's map).
    fn from_source(env: &Env) -> Result<Self, ConfigError>;

    fn common(&self) -> &CommonSettings;

    /// The key opening the orgs' API credentials, for a service that reads it.
    fn credential_key(&self) -> Option<&CredentialKey> {
        None
    }
}

/// The API clients a service holds, built from its settings once the infrastructure is up.
pub trait Clients: Sized + Send + Sync + 'static {
    fn build(
        settings: &impl ServiceSettings,
        pool: &store::Pool,
        metrics: &Metrics,
    ) -> Result<Self, AppError>;

    /// Runs after each delivery a service handles: records what the clients saw that other
    /// processes need (the orgs' Salesforce API usage, for the scheduler's budget).
    fn after_delivery(&self) -> impl Future<Output = ()> + Send {
        std::future::ready(())
    }
}

/// No clients: the service calls no API and never holds the credential key.
impl Clients for () {
    fn build(_: &impl ServiceSettings, _: &store::Pool, _: &Metrics) -> Result<(), AppError> {
        Ok(())
    }
}

/// Graph and Salesforce clients per org, from the org's sealed credentials; their API usage is
/// exported with the metrics.
impl Clients for OrgClients {
    fn build(
        settings: &impl ServiceSettings,
        pool: &store::Pool,
        metrics: &Metrics,
    ) -> Result<Self, AppError> {
        let key = settings
            .credential_key()
            .ok_or_else(|| ClientError::Config {
                org: "*".into(),
                reason: "this service's settings carry no CONTACTSYNC_ENCRYPTION_KEY".into(),
            })?;
        let clients = OrgClients::new(pool.clone(), settings.common(), key)?;
        clients.register_metrics(metrics);
        Ok(clients)
    }

    async fn after_delivery(&self) {
        self.record_api_usage().await;
    }
}

/// The settings of a service that needs only the common ones and the key opening the orgs'
/// API credentials (the writers).
#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub common: CommonSettings,
    /// `CONTACTSYNC_ENCRYPTION_KEY`: opens the orgs' API credentials.
    pub credential_key: CredentialKey,
}

impl ServiceSettings for ApiSettings {
    fn from_source(env: &Env) -> Result<Self, ConfigError> {
        Ok(ApiSettings {
            common: CommonSettings::from_source(env)?,
            credential_key: CredentialKey::from_source(env)?,
        })
    }

    fn common(&self) -> &CommonSettings {
        &self.common
    }

    fn credential_key(&self) -> Option<&CredentialKey> {
        Some(&self.credential_key)
    }
}

/// What a service is: its name, settings, the API clients it needs and its work. Its [`Ctx`]
/// holds only these beside the broker, the database and the metrics.
pub trait Service: Sized + Send + Sync + 'static {
    /// Its telemetry `service.name`, broker connection name and subcommand.
    const NAME: &'static str;
    type Settings: ServiceSettings;
    /// The API clients its logic calls: [`OrgClients`], or `()` for a service that calls no
    /// API (and so never holds the credential key).
    type Clients: Clients;
    /// The queues it consumes, each delivery going to [`Service::handle`].
    const QUEUES: &'static [Queue] = &[];

    /// Says what it must at start-up (a setting for development only, …).
    fn starting(_settings: &Self::Settings) {}

    /// Handles one delivery of its [`Service::QUEUES`]; `Ok` acks it.
    fn handle(
        ctx: Arc<Ctx<Self>>,
        delivery: Delivery,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send + 'static {
        let _ = (ctx, delivery);
        std::future::ready(Err(HandlerError::reject(format!(
            "{} handles no deliveries",
            Self::NAME
        ))))
    }

    /// A port of its own for the ops endpoints, apart from its routes (the gateway).
    fn ops_listen(_settings: &Self::Settings) -> Option<SocketAddr> {
        None
    }

    /// Its own HTTP routes beside (or, with [`Service::ops_listen`], apart from) the ops ones.
    fn routes(_ctx: &Arc<Ctx<Self>>) -> Router {
        Router::new()
    }

    /// Spawns its loops: by default a consumer per queue of [`Service::QUEUES`]; tickers, …
    fn work(tasks: &mut Tasks, ctx: Arc<Ctx<Self>>) {
        consume_queues(tasks, &ctx, Self::QUEUES, Self::handle);
    }
}

/// Everything a service's logic needs, shared by every delivery or request.
pub struct Ctx<S: Service> {
    pub broker: Broker,
    pub publisher: Publisher,
    pub pool: store::Pool,
    pub metrics: Metrics,
    pub settings: S::Settings,
    pub clients: S::Clients,
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
pub struct App<S: Service> {
    ctx: Arc<Ctx<S>>,
    listener: TcpListener,
    local_addr: SocketAddr,
    /// A port of its own for the ops endpoints, apart from the service's routes (the gateway).
    ops: Option<(TcpListener, SocketAddr)>,
    readiness: Readiness,
}

impl<S: Service> App<S> {
    /// Connects the broker (declaring the topology) and the database (applying migrations) and
    /// binds the HTTP listener(s) (port 0 picks a free one).
    pub async fn build(settings: S::Settings) -> Result<Self, AppError> {
        S::starting(&settings);
        let infra = Infra::connect(S::NAME, settings.common()).await?;
        let readiness = infra.readiness();
        let local_addr = infra.local_addr()?;
        let Infra {
            broker,
            publisher,
            pool,
            metrics,
            listener,
        } = infra;
        let clients = S::Clients::build(&settings, &pool, &metrics)?;
        let ops = match S::ops_listen(&settings) {
            None => None,
            Some(addr) => {
                let listener = TcpListener::bind(addr)
                    .await
                    .map_err(|source| service_kit::BootError::Listen { addr, source })?;
                let bound = listener
                    .local_addr()
                    .map_err(|source| service_kit::BootError::Listen { addr, source })?;
                Some((listener, bound))
            }
        };
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
            ops,
            readiness,
        })
    }

    /// Where the HTTP server listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Where the ops endpoints answer: their own port, or the HTTP server's.
    pub fn ops_addr(&self) -> SocketAddr {
        self.ops.as_ref().map_or(self.local_addr, |(_, addr)| *addr)
    }

    /// The shared context, for tests that drive the logic directly.
    pub fn ctx(&self) -> Arc<Ctx<S>> {
        Arc::clone(&self.ctx)
    }

    /// Serves the ops endpoints and the service's routes and runs its work until `shutdown`;
    /// then stops taking work, lets in-flight work finish (within the shutdown grace) and
    /// returns. Also returns, with the error, if a loop fails.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> Result<(), AppError> {
        let mut tasks = Tasks::new(&shutdown);
        let grace = self.ctx.settings.common().shutdown_grace;
        let routes = S::routes(&self.ctx);
        match self.ops {
            None => tasks.spawn(
                "http server",
                service_kit::serve(
                    self.listener,
                    routes,
                    self.readiness,
                    self.ctx.metrics.clone(),
                    tasks.shutdown(),
                ),
            ),
            Some((ops, _)) => tasks.spawn(
                "http servers",
                service_kit::serve_apart(
                    self.listener,
                    ops,
                    routes,
                    self.readiness,
                    self.ctx.metrics.clone(),
                    tasks.shutdown(),
                ),
            ),
        }
        S::work(&mut tasks, Arc::clone(&self.ctx));
        tasks.run(grace).await?;
        Ok(())
    }
}

/// Runs a consumer loop per queue in `tasks`, each delivery going to `handler`, then to
/// [`Clients::after_delivery`].
pub fn consume_queues<S, H, Fut>(
    tasks: &mut Tasks,
    ctx: &Arc<Ctx<S>>,
    queues: &'static [Queue],
    handler: H,
) where
    S: Service,
    H: Fn(Arc<Ctx<S>>, Delivery) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    for &queue in queues {
        let ctx = Arc::clone(ctx);
        let stop = tasks.shutdown();
        let handler = handler.clone();
        tasks.spawn(queue.suffix(), async move {
            let broker = ctx.broker.clone();
            messaging::consume(
                &broker,
                queue,
                move |delivery| {
                    let ctx = Arc::clone(&ctx);
                    let handled = handler(Arc::clone(&ctx), delivery);
                    async move {
                        let outcome = handled.await;
                        ctx.clients.after_delivery().await;
                        outcome
                    }
                },
                stop,
            )
            .await
        });
    }
}
