//! The one composition root: how each service is built from its environment and how the stack
//! of services starts, the gateway first (its address is the others' `PUBLIC_BASE_URL`).
//!
//! Every way of running Contactsync goes through here: a service subcommand builds one
//! [`Service`]; `contactsync dev`, the bench and the end-to-end suite ([`crate::harness`]) start
//! the whole stack through one [`Composition`].

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use anyhow::Context as _;
use config::Env;
use pipeline::{Service as _, ServiceSettings as _};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The tasks of a running stack: each reports its name and how it ended.
pub type Tasks = JoinSet<(&'static str, anyhow::Result<()>)>;

/// A service of the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Gateway,
    Scheduler,
    ExchangeFetcher,
    SalesforceFetcher,
    Reconciler,
    ExchangeWriter,
    SalesforceWriter,
}

type Run = Box<
    dyn FnOnce(CancellationToken) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>
        + Send,
>;

/// A service built (connected, listening) and ready to run.
pub struct Built {
    pub service: Service,
    /// Where its HTTP server listens (the gateway's API and pages; the others' ops endpoints).
    pub local_addr: SocketAddr,
    /// The gateway's separate ops endpoints; `None` for the other services.
    pub ops_addr: Option<SocketAddr>,
    run: Run,
}

impl Built {
    /// Runs until `shutdown`, then stops gracefully.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        (self.run)(shutdown).await
    }
}

/// Builds one service crate's [`pipeline::App`] from `env`.
async fn build<S: pipeline::Service>(service: Service, env: &Env) -> anyhow::Result<Built> {
    let app = pipeline::App::<S>::build(S::Settings::from_source(env)?)
        .await
        .with_context(|| format!("starting {}", S::NAME))?;
    let (local_addr, ops_addr) = (app.local_addr(), app.ops_addr());
    let run: Run = Box::new(move |shutdown| {
        Box::pin(async move { Ok(app.run_until_stopped(shutdown).await?) })
    });
    Ok(Built {
        service,
        local_addr,
        ops_addr: (ops_addr != local_addr).then_some(ops_addr),
        run,
    })
}

impl Service {
    /// Every service, in start order: the gateway first.
    pub const ALL: [Service; 7] = [
        Service::Gateway,
        Service::Scheduler,
        Service::ExchangeFetcher,
        Service::SalesforceFetcher,
        Service::Reconciler,
        Service::ExchangeWriter,
        Service::SalesforceWriter,
    ];

    /// Its name: the subcommand, telemetry `service.name` and broker connection name.
    pub fn name(self) -> &'static str {
        match self {
            Service::Gateway => gateway::Gateway::NAME,
            Service::Scheduler => scheduler::Scheduler::NAME,
            Service::ExchangeFetcher => exchange_fetcher::ExchangeFetcher::NAME,
            Service::SalesforceFetcher => salesforce_fetcher::SalesforceFetcher::NAME,
            Service::Reconciler => reconciler::Reconciler::NAME,
            Service::ExchangeWriter => exchange_writer::ExchangeWriter::NAME,
            Service::SalesforceWriter => salesforce_writer::SalesforceWriter::NAME,
        }
    }

    /// Reads its settings from `env`, connects the broker and the database and binds its
    /// listeners.
    pub async fn build(self, env: &Env) -> anyhow::Result<Built> {
        match self {
            Service::Gateway => build::<gateway::Gateway>(self, env).await,
            Service::Scheduler => build::<scheduler::Scheduler>(self, env).await,
            Service::ExchangeFetcher => build::<exchange_fetcher::ExchangeFetcher>(self, env).await,
            Service::SalesforceFetcher => {
                build::<salesforce_fetcher::SalesforceFetcher>(self, env).await
            }
            Service::Reconciler => build::<reconciler::Reconciler>(self, env).await,
            Service::ExchangeWriter => build::<exchange_writer::ExchangeWriter>(self, env).await,
            Service::SalesforceWriter => {
                build::<salesforce_writer::SalesforceWriter>(self, env).await
            }
        }
    }
}

/// Where one service listens, when the environment's `HTTP_LISTEN` should not decide.
pub type Listen = Box<dyn FnMut(Service) -> SocketAddr + Send>;

/// The stack of services to start in this process, all from one environment.
pub struct Composition {
    env: Env,
    services: Vec<Service>,
    listen: Option<Listen>,
    gateway_env: Vec<(String, String)>,
}

/// A started stack: the gateway's address and what runs where, in start order.
pub struct Started {
    /// The gateway's `http://` address (every other service's `PUBLIC_BASE_URL`).
    pub gateway_url: String,
    /// `(name, http://address)` of each service, the gateway's ops endpoints as `gateway-ops`.
    pub table: Vec<(&'static str, String)>,
}

impl Composition {
    /// Every service, configured by `env`.
    pub fn new(env: Env) -> Self {
        Composition {
            env,
            services: Service::ALL.to_vec(),
            listen: None,
            gateway_env: Vec::new(),
        }
    }

    /// Leaves out the services named in `skip` (the gateway always runs).
    pub fn without(mut self, skip: &[&str]) -> Self {
        self.services
            .retain(|service| *service == Service::Gateway || !skip.contains(&service.name()));
        self
    }

    /// Each service's `HTTP_LISTEN` from `listen` instead of the environment.
    pub fn listen(mut self, listen: impl FnMut(Service) -> SocketAddr + Send + 'static) -> Self {
        self.listen = Some(Box::new(listen));
        self
    }

    /// Variables for the gateway alone, over the shared environment.
    pub fn gateway_env<'a>(mut self, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        self.gateway_env
            .extend(pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())));
        self
    }

    /// Builds the gateway, then the other services with `PUBLIC_BASE_URL` its address, and runs
    /// each as a task of `tasks` until `shutdown`.
    pub async fn start(
        mut self,
        shutdown: &CancellationToken,
        tasks: &mut Tasks,
    ) -> anyhow::Result<Started> {
        let mut table = Vec::new();
        let mut gateway_url: Option<String> = None;
        for service in self.services {
            let mut env = self.env.clone();
            if let Some(listen) = self.listen.as_mut() {
                env = env.with_overrides([("HTTP_LISTEN", listen(service).to_string().as_str())]);
            }
            env = match &gateway_url {
                None => env.with_overrides(
                    self.gateway_env
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str())),
                ),
                Some(url) => env.with_overrides([("PUBLIC_BASE_URL", url.as_str())]),
            };
            let built = service.build(&env).await?;
            let url = format!("http://{}", loopback(built.local_addr));
            table.push((service.name(), url.clone()));
            if let Some(ops) = built.ops_addr {
                table.push(("gateway-ops", format!("http://{}", loopback(ops))));
            }
            if service == Service::Gateway {
                gateway_url = Some(url);
            }
            let stop = shutdown.clone();
            tasks.spawn(async move { (service.name(), built.run_until_stopped(stop).await) });
        }
        Ok(Started {
            gateway_url: gateway_url.context("the stack has no gateway")?,
            table,
        })
    }
}

/// A wildcard listen address is reachable on loopback; print that, which a browser can open.
pub fn loopback(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    }
}
