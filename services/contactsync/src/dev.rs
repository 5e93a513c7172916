//! `contactsync dev`: the whole stack in one process, for a laptop or a demo.
//!
//! Ensures the database exists and is migrated, starts the three emulators (Graph, Salesforce,
//! Gmail) and every service, each service on its own ops port (the gateway on 8080), prints what
//! runs where, then runs until SIGTERM or Ctrl-C and stops everything gracefully.

use std::net::SocketAddr;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use config::{CommonSettings, CredentialKey, Env};
use tokio::task::JoinSet;

use contactsync::compose::{Composition, Service};
use contactsync::emulators;

/// Used when the environment does not set them; never use these outside `dev`.
const DEV_DEFAULTS: [(&str, &str); 7] = [
    ("ADMIN_TOKEN", "dev-admin-token"),
    // base64 of "dev-link-key-do-not-use-in-prod!" (32 bytes): signs settings links.
    (
        "SETTINGS_LINK_KEY",
        "ZGV2LWxpbmsta2V5LWRvLW5vdC11c2UtaW4tcHJvZCE=",
    ),
    // base64 of "dev-key-do-not-use-in-production" (32 bytes).
    (
        "CONTACTSYNC_ENCRYPTION_KEY",
        "ZGV2LWtleS1kby1ub3QtdXNlLWluLXByb2R1Y3Rpb24=",
    ),
    ("LOG_FORMAT", "pretty"),
    // Seven pools in one process: keep the total well under PostgreSQL's 100 connections.
    ("DATABASE_POOL_SIZE", "4"),
    ("SHUTDOWN_GRACE_SECS", "10"),
    // The gateway serves plain HTTP on a laptop: Graph notifications to it are allowed here
    // only, with the Graph emulator's https rule relaxed to match (said at start-up).
    ("ALLOW_HTTP_NOTIFICATION_URL", "true"),
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
    /// The Gmail (Google People API) emulator's address.
    #[arg(long, env = "DEV_GMAIL_LISTEN", default_value = "127.0.0.1:8093")]
    gmail_listen: SocketAddr,
    /// First ops port of the six other services (they take six consecutive ports, the gateway's
    /// ops port the seventh);
    /// 0 lets each pick a free port.
    #[arg(long, env = "DEV_OPS_PORT_BASE", default_value_t = 8081)]
    ops_port_base: u16,
}

/// What the seeding hooks get: the running stack.
pub struct DevStack {
    /// The admin API's token (`ADMIN_TOKEN`).
    pub admin_token: String,
    /// The key sealing org credentials (`CONTACTSYNC_ENCRYPTION_KEY`).
    pub credential_key: CredentialKey,
    pub pool: store::Pool,
    pub gateway_url: String,
    pub graph_url: String,
    pub salesforce_url: String,
    pub gmail_url: String,
}

/// The pages a newcomer looks at first: the dashboard and, with the demo, each demo user's Sync
/// Settings link (from the admin API, as an operator would hand it out).
async fn print_pages(stack: &DevStack, demo: bool) {
    println!(
        "  dashboard            {}/dashboard  (sign in with the admin token)",
        stack.gateway_url
    );
    if !demo {
        return;
    }
    let http = reqwest::Client::new();
    for user in crate::demo::USERS {
        let link = http
            .get(format!(
                "{}/api/v1/users/{user}/settings-link",
                stack.gateway_url
            ))
            .bearer_auth(&stack.admin_token)
            .send()
            .await;
        let url = match link {
            Ok(resp) => resp
                .json::<serde_json::Value>()
                .await
                .ok()
                .and_then(|v| v["url"].as_str().map(str::to_owned)),
            Err(_) => None,
        };
        match url {
            Some(url) => println!("  settings of {user:<8}   {url}"),
            None => println!("  settings of {user:<8}   (the gateway gave no link)"),
        }
    }
}

pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    let env = Env::process().with_defaults(DEV_DEFAULTS);
    let common = CommonSettings::from_source(&env)?;
    let admin_token = env.require("ADMIN_TOKEN")?;
    let credential_key = CredentialKey::from_source(&env)?;
    let _telemetry = telemetry::init("contactsync-dev", &common.telemetry)?;
    let shutdown = service_kit::shutdown_on_signals();

    store::ensure_database(common.database_url.expose())
        .await
        .with_context(|| format!("creating the database {}", common.database_url))?;
    let pool = store::connect(common.database_url.expose(), 2).await?;
    store::migrate(&pool).await.context("applying migrations")?;

    let graph = emulators::start_graph_on(args.graph_listen, shutdown.clone(), |knobs| {
        // The one check relaxed for the laptop: the gateway has no TLS here.
        knobs.require_https = false;
    })
    .await?;
    tracing::warn!(
        "Dev only: Graph change notifications go to the gateway over plain http \
         (ALLOW_HTTP_NOTIFICATION_URL=true, the Graph emulator's require_https off); a real \
         tenant needs an https PUBLIC_BASE_URL."
    );
    let salesforce =
        emulators::start_salesforce_on(args.salesforce_listen, shutdown.clone()).await?;
    let gmail = emulators::start_gmail_on(args.gmail_listen, shutdown.clone()).await?;

    let mut running = JoinSet::new();
    let mut table = vec![
        ("graph-emulator", graph.base_url.clone()),
        ("salesforce-emulator", salesforce.base_url.clone()),
        ("gmail-emulator", gmail.base_url.clone()),
    ];
    let graph_url = graph.base_url.clone();
    graph.spawn_into(&mut running, "graph-emulator");
    salesforce.spawn_into(&mut running, "salesforce-emulator");
    gmail.spawn_into(&mut running, "gmail-emulator");

    // The gateway on its address; the six other services on consecutive ops ports from the base
    // in start order, the gateway's ops port after them (8087 by default); 0 lets each pick.
    let ip = args.gateway_listen.ip();
    let port = move |offset: u16| match args.ops_port_base {
        0 => 0,
        base => base.saturating_add(offset),
    };
    let gateway_ops = SocketAddr::new(ip, port(6));
    let gateway_listen = args.gateway_listen;
    let gateway_public = format!("http://{gateway_listen}");
    let started = Composition::new(env.clone().with_overrides([
        ("GRAPH_API_URL", graph_url.as_str()),
        ("GRAPH_LOGIN_URL", graph_url.as_str()),
    ]))
    .listen(move |service| match service {
        Service::Gateway => gateway_listen,
        other => {
            let index = Service::ALL
                .iter()
                .position(|s| *s == other)
                .unwrap_or_default();
            SocketAddr::new(
                ip,
                port(u16::try_from(index).unwrap_or(0).saturating_sub(1)),
            )
        }
    })
    .gateway_env([
        ("OPS_LISTEN", gateway_ops.to_string().as_str()),
        ("PUBLIC_BASE_URL", gateway_public.as_str()),
    ])
    .start(&shutdown, &mut running)
    .await?;
    let gateway_url = started.gateway_url;
    table.extend(started.table);

    let stack = DevStack {
        admin_token,
        credential_key,
        pool,
        gateway_url: gateway_url.clone(),
        graph_url: table[0].1.clone(),
        salesforce_url: table[1].1.clone(),
        gmail_url: table[2].1.clone(),
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
        stack.admin_token
    );
    println!(
        "  broker prefix        {}   database {}",
        common.queue_prefix, common.database_url
    );
    print_pages(&stack, args.seed == Seed::Demo).await;

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
