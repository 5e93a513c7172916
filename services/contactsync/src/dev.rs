//! `contactsync dev`: the whole stack in one process, for a laptop or a demo.
//!
//! Ensures the database exists and is migrated, starts both emulators and every service, each
//! service on its own ops port (the gateway on 8080), prints what runs where, then runs until
//! SIGTERM or Ctrl-C and stops everything gracefully.

use std::net::SocketAddr;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use config::{CommonSettings, Env};
use tokio::task::JoinSet;

use crate::emulators;

/// Used when the environment does not set them; never use these outside `dev`.
const DEV_DEFAULTS: [(&str, &str); 5] = [
    ("ADMIN_TOKEN", "dev-admin-token"),
    // base64 of "dev-key-do-not-use-in-production" (32 bytes).
    (
        "CONTACTSYNC_ENCRYPTION_KEY",
        "ZGV2LWtleS1kby1ub3QtdXNlLWluLXByb2R1Y3Rpb24=",
    ),
    ("LOG_FORMAT", "pretty"),
    // Seven pools in one process: keep the total well under PostgreSQL's 100 connections.
    ("DATABASE_POOL_SIZE", "4"),
    ("SHUTDOWN_GRACE_SECS", "10"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Seed {
    /// Sample mailboxes, Salesforce users and contacts in the emulators.
    Demo,
    /// Start empty.
    None,
}

#[derive(Debug, Args)]
pub struct DevArgs {
    /// Sample data to load once everything runs.
    #[arg(long, value_enum, default_value = "demo")]
    seed: Seed,
    /// The gateway's address (admin API, webhooks, pages, its ops endpoints).
    #[arg(long, env = "DEV_GATEWAY_LISTEN", default_value = "127.0.0.1:8080")]
    gateway_listen: SocketAddr,
    #[arg(long, env = "DEV_GRAPH_LISTEN", default_value = "127.0.0.1:8091")]
    graph_listen: SocketAddr,
    #[arg(long, env = "DEV_SALESFORCE_LISTEN", default_value = "127.0.0.1:8092")]
    salesforce_listen: SocketAddr,
    /// First ops port of the six other services (they take six consecutive ports);
    /// 0 lets each pick a free port.
    #[arg(long, env = "DEV_OPS_PORT_BASE", default_value_t = 8081)]
    ops_port_base: u16,
}

/// What the seeding hooks get: the running stack.
pub struct DevStack {
    pub settings: CommonSettings,
    pub pool: store::Pool,
    pub gateway_url: String,
    pub graph_url: String,
    pub salesforce_url: String,
}

pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    let env = Env::process().with_defaults(DEV_DEFAULTS);
    let common = CommonSettings::from_source(&env)?;
    let _telemetry = telemetry::init("contactsync-dev", &common.telemetry)?;
    let shutdown = service_kit::shutdown_on_signals();

    store::ensure_database(common.database_url.expose())
        .await
        .with_context(|| format!("creating the database {}", common.database_url))?;
    let pool = store::connect(common.database_url.expose(), 2).await?;
    store::migrate(&pool).await.context("applying migrations")?;

    let graph = emulators::start_graph_on(args.graph_listen, shutdown.clone()).await?;
    let salesforce =
        emulators::start_salesforce_on(args.salesforce_listen, shutdown.clone()).await?;

    let mut running = JoinSet::new();
    let mut table = vec![
        ("graph-emulator", graph.base_url.clone()),
        ("salesforce-emulator", salesforce.base_url.clone()),
    ];
    running.spawn(async move { ("graph-emulator", flatten(graph.task.await)) });
    running.spawn(async move { ("salesforce-emulator", flatten(salesforce.task.await)) });

    let service_env = |listen: SocketAddr, public: &str| {
        env.clone().with_overrides([
            ("HTTP_LISTEN", listen.to_string().as_str()),
            ("GRAPH_API_URL", graph.base_url.as_str()),
            ("GRAPH_LOGIN_URL", graph.base_url.as_str()),
            ("PUBLIC_BASE_URL", public),
        ])
    };

    // The gateway first: its real address is every other service's PUBLIC_BASE_URL.
    let gateway = gateway::App::build(gateway::Settings::from_source(&service_env(
        args.gateway_listen,
        &format!("http://{}", args.gateway_listen),
    ))?)
    .await
    .context("starting gateway")?;
    let gateway_url = format!("http://{}", loopback(gateway.local_addr()));
    table.push(("gateway", gateway_url.clone()));
    spawn_app(
        &mut running,
        "gateway",
        gateway.run_until_stopped(shutdown.clone()),
    );

    let mut ports = (0u16..).map(|offset| {
        if args.ops_port_base == 0 {
            0
        } else {
            args.ops_port_base.saturating_add(offset)
        }
    });
    let mut next_listen = || SocketAddr::new(args.gateway_listen.ip(), ports.next().unwrap_or(0));

    macro_rules! start {
        ($service:ident) => {{
            let settings =
                $service::Settings::from_source(&service_env(next_listen(), &gateway_url))?;
            let app = $service::App::build(settings)
                .await
                .with_context(|| format!("starting {}", $service::SERVICE))?;
            table.push((
                $service::SERVICE,
                format!("http://{}", loopback(app.local_addr())),
            ));
            spawn_app(
                &mut running,
                $service::SERVICE,
                app.run_until_stopped(shutdown.clone()),
            );
        }};
    }
    start!(scheduler);
    start!(exchange_fetcher);
    start!(salesforce_fetcher);
    start!(reconciler);
    start!(exchange_writer);
    start!(salesforce_writer);

    let stack = DevStack {
        settings: common.clone(),
        pool,
        gateway_url: gateway_url.clone(),
        graph_url: table[0].1.clone(),
        salesforce_url: table[1].1.clone(),
    };
    crate::demo::ensure_dev_org(&stack)
        .await
        .context("creating the dev org")?;
    if args.seed == Seed::Demo {
        crate::demo::seed_demo(&stack)
            .await
            .context("seeding demo data")?;
    }

    println!("Contactsync dev stack is running (Ctrl-C to stop):");
    for (name, url) in &table {
        println!("  {name:<20} {url}");
    }
    println!(
        "  admin API            {gateway_url}/api/v1  (Authorization: Bearer {})",
        common.admin_token.expose()
    );
    println!(
        "  broker prefix        {}   database {}",
        common.queue_prefix, common.database_url
    );

    // Everything stops together: on a signal, or when any part fails.
    let mut failure = None;
    while let Some(ended) = running.join_next().await {
        let (name, result) = match ended {
            Ok(pair) => pair,
            Err(join_error) => ("a task", Err(anyhow::anyhow!("panicked: {join_error}"))),
        };
        if let Err(error) = result {
            tracing::error!(component = name, error = %format!("{error:#}"), "Component failed; stopping the stack");
            failure.get_or_insert(error.context(name));
        } else if !shutdown.is_cancelled() {
            tracing::warn!(
                component = name,
                "Component stopped on its own; stopping the stack"
            );
        }
        shutdown.cancel();
    }
    match failure {
        Some(error) => Err(error),
        None => {
            println!("Contactsync dev stack stopped.");
            Ok(())
        }
    }
}

fn spawn_app<F, E>(
    running: &mut JoinSet<(&'static str, anyhow::Result<()>)>,
    name: &'static str,
    run: F,
) where
    F: std::future::Future<Output = Result<(), E>> + Send + 'static,
    E: Into<anyhow::Error>,
{
    running.spawn(async move { (name, run.await.map_err(Into::into)) });
}

fn flatten(joined: Result<anyhow::Result<()>, tokio::task::JoinError>) -> anyhow::Result<()> {
    joined.map_err(|error| anyhow::anyhow!("panicked: {error}"))?
}

/// A wildcard listen address is reachable on loopback; print that, which a browser can open.
fn loopback(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    }
}
