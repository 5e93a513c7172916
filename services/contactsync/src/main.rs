//! The one Contactsync binary: a subcommand per service, the emulators, migrations and `dev`.
//!
//! Every service subcommand is config → telemetry → build → run until SIGTERM or Ctrl-C, through
//! the one composition root (`contactsync::compose`); the wiring of each service lives in its crate.

mod bench;
mod bench_broker;
mod bench_feed;
mod bench_gmail;
mod bench_latency;
mod bench_memory;
mod bench_mirror;
mod bench_report;
mod bench_sample;
mod bench_sync;
mod dead_letters;
mod demo;
mod dev;
mod users_import;

use clap::{Parser, Subcommand};
use contactsync::compose::Service;
use contactsync::emulators;

#[derive(Parser)]
#[command(
    name = "contactsync",
    version,
    about = "Two-way contact sync between Exchange Online and Salesforce"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Posts a sync job per user when one is due.
    Scheduler,
    /// Reads contact changes from Microsoft Graph.
    ExchangeFetcher,
    /// Reads Contact changes from Salesforce.
    SalesforceFetcher,
    /// Decides the writes of a session.
    Reconciler,
    /// Writes to mailboxes through Microsoft Graph.
    ExchangeWriter,
    /// Writes to Salesforce.
    SalesforceWriter,
    /// Webhooks, the admin API and the pages.
    Gateway,
    /// A Microsoft Graph emulator (tests and `dev`).
    GraphEmulator,
    /// A Salesforce REST API emulator (tests and `dev`).
    SalesforceEmulator,
    /// A Google People API emulator for Gmail mailboxes (tests and `dev`).
    GmailEmulator,
    /// Creates the database if missing and applies pending migrations, then exits.
    Migrate,
    /// The whole stack in one process: the emulators and every service.
    Dev(dev::DevArgs),
    /// Runs the benchmark scenarios and reports figures against their floors.
    Bench(bench::BenchArgs),
    /// Lists or replays dead-lettered messages (`AMQP_URL`, `QUEUE_PREFIX`).
    DeadLetters(dead_letters::DeadLettersArgs),
    /// Bulk onboarding through the gateway (`GATEWAY_URL`, `ADMIN_TOKEN`): `users import FILE`.
    Users(users_import::UsersArgs),
}

/// Runs one service until a signal arrives.
async fn run_service(service: Service) -> anyhow::Result<()> {
    let env = config::Env::process();
    let _telemetry = telemetry::init(service.name(), &config::TelemetrySettings::from_env(&env)?)?;
    let built = service.build(&env).await?;
    tracing::info!(service = service.name(), addr = %built.local_addr, "Service started");
    built
        .run_until_stopped(service_kit::shutdown_on_signals())
        .await?;
    tracing::info!(service = service.name(), "Service stopped");
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Scheduler => run_service(Service::Scheduler).await?,
        Command::ExchangeFetcher => run_service(Service::ExchangeFetcher).await?,
        Command::SalesforceFetcher => run_service(Service::SalesforceFetcher).await?,
        Command::Reconciler => run_service(Service::Reconciler).await?,
        Command::ExchangeWriter => run_service(Service::ExchangeWriter).await?,
        Command::SalesforceWriter => run_service(Service::SalesforceWriter).await?,
        Command::Gateway => run_service(Service::Gateway).await?,
        Command::GraphEmulator => {
            let _telemetry = telemetry::init("graph-emulator", &telemetry_settings()?)?;
            emulators::run_graph_standalone(service_kit::shutdown_on_signals()).await?;
        }
        Command::SalesforceEmulator => {
            let _telemetry = telemetry::init("salesforce-emulator", &telemetry_settings()?)?;
            emulators::run_salesforce_standalone(service_kit::shutdown_on_signals()).await?;
        }
        Command::GmailEmulator => {
            let _telemetry = telemetry::init("gmail-emulator", &telemetry_settings()?)?;
            emulators::run_gmail_standalone(service_kit::shutdown_on_signals()).await?;
        }
        Command::Migrate => {
            let _telemetry = telemetry::init("migrate", &telemetry_settings()?)?;
            migrate().await?;
        }
        Command::Dev(args) => dev::run(args).await?,
        Command::Bench(args) => bench::run(args).await?,
        Command::DeadLetters(args) => dead_letters::run(args).await?,
        Command::Users(args) => users_import::run(args).await?,
    }
    Ok(())
}

fn telemetry_settings() -> anyhow::Result<config::TelemetrySettings> {
    Ok(config::TelemetrySettings::from_env(&config::Env::process())?)
}

/// `contactsync migrate`: only needs `DATABASE_URL` (the Kubernetes Job runs it before rollout).
async fn migrate() -> anyhow::Result<()> {
    let env = config::Env::process();
    let url = config::SecretUrl::parse(
        "DATABASE_URL",
        &env.get("DATABASE_URL")
            .unwrap_or_else(|| config::DEFAULT_DATABASE_URL.to_owned()),
        &["postgres", "postgresql"],
    )?;
    store::ensure_database(url.expose()).await?;
    let pool = store::connect(url.expose(), 1).await?;
    store::migrate(&pool).await?;
    tracing::info!(database = %url, "Migrations applied");
    Ok(())
}
