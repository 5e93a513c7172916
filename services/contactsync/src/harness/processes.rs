//! The services as separate processes, as Kubernetes runs them: the `contactsync` binary's
//! subcommands, several replicas of each competing for the same queues, each with its own
//! connections, its own runtime and its own trace exporter; a replica can be killed (SIGKILL)
//! and started again.

use std::os::fd::AsFd as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use tokio::process::{Child, Command};

use test_support::ports::Port;

use crate::compose::Service;

/// How a test wants its services run as processes.
#[derive(Debug, Clone)]
pub struct Processes {
    /// The `contactsync` binary (`env!("CARGO_BIN_EXE_contactsync")` in its own package's tests).
    pub binary: PathBuf,
    /// Replicas of every service.
    pub replicas: usize,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` of every process (traces exported only when set).
    pub otlp_endpoint: Option<String>,
    /// `RUST_LOG` of every process.
    pub log_filter: String,
    /// `DATABASE_POOL_SIZE` of every process: few connections by default (many processes on one
    /// PostgreSQL beside the rest of the suite); the bench asks for the services' default.
    pub database_pool_size: usize,
}

impl Processes {
    /// `replicas` of each service, logging warnings and errors, no trace export.
    pub fn new(binary: impl Into<PathBuf>, replicas: usize) -> Self {
        Processes {
            binary: binary.into(),
            replicas,
            otlp_endpoint: None,
            log_filter: "warn".to_owned(),
            database_pool_size: 2,
        }
    }
}

struct Replica {
    service: &'static str,
    index: usize,
    env: Vec<(String, String)>,
    /// Where its `/healthz`, `/readyz` and `/metrics` answer.
    ops_url: String,
    child: Option<Child>,
}

/// The running processes of a stack.
pub struct Children {
    binary: PathBuf,
    replicas: Vec<Replica>,
    gateway_urls: Vec<String>,
    /// The ports the children listen on, held for as long as they may run (a restarted replica
    /// binds its port again).
    ports: Vec<Port>,
}

/// A loopback port for a child to bind, held in `ports`.
fn reserve_port(ports: &mut Vec<Port>) -> anyhow::Result<String> {
    let port = test_support::ports::reserve().context("reserving a loopback port")?;
    let addr = port.addr();
    ports.push(port);
    Ok(addr)
}

impl Children {
    /// Starts `replicas` of every service with `env` (the stack's settings), the gateways on
    /// ports reserved here so that their address is known before they run, and waits until the
    /// first gateway answers.
    pub async fn spawn(
        processes: &Processes,
        env: &[(String, String)],
        http: &reqwest::Client,
        admin_token: &str,
    ) -> anyhow::Result<Children> {
        let mut ports = Vec::new();
        let mut gateway_urls = Vec::new();
        for _ in 0..processes.replicas {
            gateway_urls.push(format!("http://{}", reserve_port(&mut ports)?));
        }
        let public = gateway_urls
            .first()
            .cloned()
            .context("no replica asked for")?;
        let mut children = Children {
            binary: processes.binary.clone(),
            replicas: Vec::new(),
            gateway_urls: gateway_urls.clone(),
            ports,
        };
        for service in Service::ALL.map(Service::name) {
            for (index, gateway_url) in gateway_urls.iter().enumerate() {
                let mut env: Vec<(String, String)> = env
                    .iter()
                    .filter(|(key, _)| key != "PUBLIC_BASE_URL" && key != "HTTP_LISTEN")
                    .cloned()
                    .collect();
                // Ports reserved here, so the test knows every replica's ops address.
                let ops = reserve_port(&mut children.ports)?;
                let listen = if service == "gateway" {
                    env.push(("OPS_LISTEN".into(), ops.clone()));
                    gateway_url.trim_start_matches("http://").to_owned()
                } else {
                    ops.clone()
                };
                env.push(("HTTP_LISTEN".into(), listen));
                env.push(("PUBLIC_BASE_URL".into(), public.clone()));
                env.push(("RUST_LOG".into(), processes.log_filter.clone()));
                // Fourteen processes on one PostgreSQL beside the rest of the suite: few
                // connections each (handlers wait for one rather than fail).
                env.push((
                    "DATABASE_POOL_SIZE".into(),
                    processes.database_pool_size.to_string(),
                ));
                // The fleet gauges every second, so a test reads them soon after a session.
                env.push(("FLEET_METRICS_SECS".into(), "1".into()));
                // Spans leave each process within half a second instead of five.
                env.push(("OTEL_BSP_SCHEDULE_DELAY".into(), "500".into()));
                if let Some(endpoint) = &processes.otlp_endpoint {
                    env.push(("OTEL_EXPORTER_OTLP_ENDPOINT".into(), endpoint.clone()));
                }
                let mut replica = Replica {
                    service,
                    index,
                    env,
                    ops_url: format!("http://{ops}"),
                    child: None,
                };
                replica.child = Some(children.start(&replica)?);
                children.replicas.push(replica);
            }
        }
        children.wait_for_gateways(http, admin_token).await?;
        Ok(children)
    }

    fn start(&self, replica: &Replica) -> anyhow::Result<Child> {
        // The children log to our stderr: our stdout is for what we print (the bench's table).
        let logs = std::io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .context("duplicating stderr for a child's logs")?;
        let mut command = Command::new(&self.binary);
        command
            .arg(replica.service)
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .envs(replica.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::from(logs))
            .kill_on_drop(true);
        command.spawn().with_context(|| {
            format!(
                "starting {} #{} ({})",
                replica.service,
                replica.index,
                self.binary.display()
            )
        })
    }

    async fn wait_for_gateways(
        &mut self,
        http: &reqwest::Client,
        admin_token: &str,
    ) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        for url in self.gateway_urls.clone() {
            loop {
                let answered = http
                    .get(format!("{url}/api/v1/orgs"))
                    .bearer_auth(admin_token)
                    .send()
                    .await
                    .is_ok_and(|response| response.status().is_success());
                if answered {
                    break;
                }
                if let Some(dead) = self.exited() {
                    anyhow::bail!("{dead} exited while the stack started");
                }
                anyhow::ensure!(
                    tokio::time::Instant::now() < deadline,
                    "the gateway at {url} did not answer within 60 s"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    /// Where a replica's `/healthz`, `/readyz` and `/metrics` answer.
    pub fn ops_url(&self, service: &str, index: usize) -> Option<&str> {
        self.replicas
            .iter()
            .find(|replica| replica.service == service && replica.index == index)
            .map(|replica| replica.ops_url.as_str())
    }

    /// Every running replica: (service, index, process id).
    pub fn pids(&self) -> Vec<(&'static str, usize, u32)> {
        self.replicas
            .iter()
            .filter_map(|replica| {
                let pid = replica.child.as_ref()?.id()?;
                Some((replica.service, replica.index, pid))
            })
            .collect()
    }

    /// The public address of each gateway replica.
    pub fn gateway_urls(&self) -> &[String] {
        &self.gateway_urls
    }

    /// A replica that exited on its own, if any (`service #index: status`).
    pub fn exited(&mut self) -> Option<String> {
        self.replicas.iter_mut().find_map(|replica| {
            let status = replica.child.as_mut()?.try_wait().ok()??;
            Some(format!("{} #{}: {status}", replica.service, replica.index))
        })
    }

    fn replica(&mut self, service: &str, index: usize) -> anyhow::Result<&mut Replica> {
        self.replicas
            .iter_mut()
            .find(|replica| replica.service == service && replica.index == index)
            .with_context(|| format!("no replica {service} #{index}"))
    }

    /// SIGKILLs one replica, as a crashed node or the OOM killer would: no shutdown, no ack, no
    /// flush. Returns once it is gone.
    pub async fn kill(&mut self, service: &str, index: usize) -> anyhow::Result<()> {
        let replica = self.replica(service, index)?;
        if let Some(mut child) = replica.child.take() {
            child.start_kill()?;
            child.wait().await?;
        }
        Ok(())
    }

    /// Starts a killed replica again, with the same settings.
    pub async fn restart(&mut self, service: &str, index: usize) -> anyhow::Result<()> {
        let position = self
            .replicas
            .iter()
            .position(|replica| replica.service == service && replica.index == index)
            .with_context(|| format!("no replica {service} #{index}"))?;
        anyhow::ensure!(
            self.replicas[position].child.is_none(),
            "{service} #{index} still runs"
        );
        let child = self.start(&self.replicas[position])?;
        self.replicas[position].child = Some(child);
        Ok(())
    }

    /// Stops every process as Kubernetes does (SIGTERM, then SIGKILL after a grace), so each
    /// finishes its in-flight work and flushes its traces. Fails when one had died on its own.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let died = self.exited();
        for replica in &self.replicas {
            if let Some(pid) = replica.child.as_ref().and_then(Child::id) {
                let _ = Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status()
                    .await;
            }
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        for replica in &mut self.replicas {
            if let Some(child) = replica.child.as_mut() {
                let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
                if tokio::time::timeout(remaining, child.wait()).await.is_err() {
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                }
            }
        }
        match died {
            Some(dead) => Err(anyhow::anyhow!("{dead} exited while the test ran")),
            None => Ok(()),
        }
    }
}
