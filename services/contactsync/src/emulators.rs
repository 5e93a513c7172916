//! Starting the emulators (Graph, Salesforce, Gmail), alone (`contactsync graph-emulator`, …) or
//! inside `contactsync dev`.

use std::net::SocketAddr;

use anyhow::Context as _;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::compose::Tasks;

/// A running emulator: where it answers and the task serving it.
pub struct Running {
    pub base_url: String,
    pub task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Hands the emulator's task to a stack's `tasks`, under `name`.
    pub fn spawn_into(self, tasks: &mut Tasks, name: &'static str) {
        let task = self.task;
        tasks.spawn(async move {
            let ended = task
                .await
                .map_err(|error| anyhow::anyhow!("panicked: {error}"));
            (name, ended.and_then(|result| result))
        });
    }
}

pub async fn run_graph_standalone(shutdown: CancellationToken) -> anyhow::Result<()> {
    let config = graph_emulator::Config::from_env()?;
    let running = start_graph(config, shutdown).await?;
    tracing::info!(base_url = %running.base_url, "Graph emulator started");
    running.task.await?
}

pub async fn run_salesforce_standalone(shutdown: CancellationToken) -> anyhow::Result<()> {
    let config = salesforce_emulator::Config::from_env()?;
    let running = start_salesforce(config, shutdown).await?;
    tracing::info!(base_url = %running.base_url, "Salesforce emulator started");
    running.task.await?
}

pub async fn run_gmail_standalone(shutdown: CancellationToken) -> anyhow::Result<()> {
    let config = gmail_emulator::Config::from_env()?;
    let running = start_gmail(config, shutdown).await?;
    tracing::info!(base_url = %running.base_url, "Gmail emulator started");
    running.task.await?
}

/// The Graph emulator with its defaults (and `GRAPH_EMULATOR_*`), knobs adjusted by `adjust`,
/// listening on `listen`.
pub async fn start_graph_on(
    listen: SocketAddr,
    shutdown: CancellationToken,
    adjust: impl FnOnce(&mut graph_emulator::Knobs),
) -> anyhow::Result<Running> {
    let mut config = graph_emulator::Config::from_env()?;
    config.listen = listen;
    adjust(&mut config.knobs);
    start_graph(config, shutdown).await
}

/// The Salesforce emulator with its defaults (and its variables), listening on `listen`.
pub async fn start_salesforce_on(
    listen: SocketAddr,
    shutdown: CancellationToken,
) -> anyhow::Result<Running> {
    let mut config = salesforce_emulator::Config::from_env()?;
    config.listen = listen;
    start_salesforce(config, shutdown).await
}

/// Starts the Graph emulator as `config` says.
pub async fn start_graph(
    config: graph_emulator::Config,
    shutdown: CancellationToken,
) -> anyhow::Result<Running> {
    let listen = config.listen;
    let app = graph_emulator::App::build(config)
        .await
        .with_context(|| format!("starting the Graph emulator on {listen}"))?;
    let base_url = app.base_url();
    let task = tokio::spawn(async move { Ok(app.run_until_stopped(shutdown).await?) });
    Ok(Running { base_url, task })
}

/// Starts the Salesforce emulator as `config` says.
pub async fn start_salesforce(
    config: salesforce_emulator::Config,
    shutdown: CancellationToken,
) -> anyhow::Result<Running> {
    let listen = config.listen;
    let app = salesforce_emulator::App::build(config)
        .await
        .with_context(|| format!("starting the Salesforce emulator on {listen}"))?;
    let base_url = app.base_url();
    let task = tokio::spawn(async move { Ok(app.run_until_stopped(shutdown).await?) });
    Ok(Running { base_url, task })
}

/// The Gmail (People API) emulator with its defaults (and `GMAIL_EMULATOR_*`), listening on
/// `listen`.
pub async fn start_gmail_on(
    listen: SocketAddr,
    shutdown: CancellationToken,
) -> anyhow::Result<Running> {
    let mut config = gmail_emulator::Config::from_env()?;
    config.listen = listen;
    start_gmail(config, shutdown).await
}

/// Starts the Gmail (People API) emulator as `config` says.
pub async fn start_gmail(
    config: gmail_emulator::Config,
    shutdown: CancellationToken,
) -> anyhow::Result<Running> {
    let listen = config.listen;
    let app = gmail_emulator::App::build(config)
        .await
        .with_context(|| format!("starting the Gmail emulator on {listen}"))?;
    let base_url = app.base_url();
    let task = tokio::spawn(async move { Ok(app.run_until_stopped(shutdown).await?) });
    Ok(Running { base_url, task })
}
