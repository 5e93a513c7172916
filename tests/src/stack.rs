//! The whole stack in one test process: emulators, services, a fresh database and queue prefix.

use std::net::SocketAddr;

use anyhow::Context as _;
use config::Env;
use serde_json::{Value, json};
use sync_state::orgs::Org;
use sync_state::secrets::Cipher;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The admin token of test stacks.
pub const ADMIN_TOKEN: &str = "e2e-admin-token";
/// A throwaway encryption key (base64 of 32 bytes) for test stacks.
const ENCRYPTION_KEY: &str = "ZTJlLWtleS1kby1ub3QtdXNlLWluLXByb2R1Y3Rpb24=";
/// The org every test user joins.
pub const ORG: &str = "dev";

/// Adjusts the Graph emulator's configuration before it starts.
pub type GraphConfigFn = Box<dyn FnOnce(&mut graph_emulator::Config) + Send>;

/// How a test wants its stack.
#[derive(Default)]
pub struct Options {
    /// Services (by their `SERVICE` name) the test runs itself, e.g. as a child process it kills.
    pub skip: Vec<&'static str>,
    /// Adjusts the Graph emulator's configuration.
    pub graph: Option<GraphConfigFn>,
    /// Subscribe to Graph change notifications. Off by default: a notification of the stack's
    /// own writes would start extra sessions at times a test cannot control, and the rule tests
    /// count each session's writes; the notification tests turn it on.
    pub notifications: bool,
}

/// A running stack.
pub struct Stack {
    pub graph_url: String,
    pub salesforce_url: String,
    pub gateway_url: String,
    pub http: reqwest::Client,
    pub pool: store::Pool,
    pub prefix: String,
    /// The environment the services run with (for a service a test starts as a process).
    pub env: Vec<(String, String)>,
    shutdown: CancellationToken,
    tasks: JoinSet<(&'static str, anyhow::Result<()>)>,
    database: Option<store::testing::TestDatabase>,
}

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

impl Stack {
    /// Starts everything; the org `dev` is wired to the emulators.
    pub async fn start() -> anyhow::Result<Stack> {
        Self::start_with(Options::default()).await
    }

    /// Starts the stack as `options` say.
    pub async fn start_with(options: Options) -> anyhow::Result<Stack> {
        telemetry::init_for_tests();
        let database = store::testing::fresh_database()
            .await
            .context("creating the test database")?;
        let prefix = format!(
            "cs-e2e-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();

        let mut gconfig = graph_emulator::Config {
            listen: any_port(),
            ..graph_emulator::Config::default()
        };
        if let Some(adjust) = options.graph {
            adjust(&mut gconfig);
        }
        let graph = graph_emulator::App::build(gconfig).await?;
        let graph_url = graph.base_url();
        let stop = shutdown.clone();
        tasks.spawn(async move {
            (
                "graph-emulator",
                graph.run_until_stopped(stop).await.map_err(Into::into),
            )
        });

        let sconfig = salesforce_emulator::Config {
            listen: any_port(),
            ..salesforce_emulator::Config::default()
        };
        let salesforce = salesforce_emulator::App::build(sconfig).await?;
        let salesforce_url = salesforce.base_url();
        let stop = shutdown.clone();
        tasks.spawn(async move {
            (
                "salesforce-emulator",
                salesforce.run_until_stopped(stop).await.map_err(Into::into),
            )
        });

        let pairs = [
            ("DATABASE_URL", database.url.as_str()),
            ("QUEUE_PREFIX", prefix.as_str()),
            ("ADMIN_TOKEN", ADMIN_TOKEN),
            ("CONTACTSYNC_ENCRYPTION_KEY", ENCRYPTION_KEY),
            ("GRAPH_API_URL", graph_url.as_str()),
            ("GRAPH_LOGIN_URL", graph_url.as_str()),
            ("HTTP_LISTEN", "127.0.0.1:0"),
            ("DATABASE_POOL_SIZE", "3"),
            ("SCHEDULER_TICK_MS", "200"),
            ("SHUTDOWN_GRACE_SECS", "5"),
            ("LOG_FORMAT", "pretty"),
            (
                "GRAPH_NOTIFICATIONS",
                if options.notifications {
                    "true"
                } else {
                    "false"
                },
            ),
        ];
        let env = Env::from_pairs(pairs);
        let gateway = gateway::App::build(gateway::Settings::from_source(&env)?).await?;
        let gateway_url = format!("http://{}", gateway.local_addr());
        let stop = shutdown.clone();
        tasks.spawn(async move {
            (
                "gateway",
                gateway.run_until_stopped(stop).await.map_err(Into::into),
            )
        });
        let env = env.with_overrides([("PUBLIC_BASE_URL", gateway_url.as_str())]);
        let mut child_env: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        child_env.push(("PUBLIC_BASE_URL".into(), gateway_url.clone()));

        macro_rules! start {
            ($service:ident) => {{
                if !options.skip.contains(&$service::SERVICE) {
                    let app = $service::App::build($service::Settings::from_source(&env)?)
                        .await
                        .with_context(|| format!("starting {}", $service::SERVICE))?;
                    let stop = shutdown.clone();
                    tasks.spawn(async move {
                        (
                            $service::SERVICE,
                            app.run_until_stopped(stop).await.map_err(Into::into),
                        )
                    });
                }
            }};
        }
        start!(scheduler);
        start!(exchange_fetcher);
        start!(salesforce_fetcher);
        start!(reconciler);
        start!(exchange_writer);
        start!(salesforce_writer);

        let pool = database.pool.clone();
        let stack = Stack {
            graph_url,
            salesforce_url,
            gateway_url,
            http: reqwest::Client::new(),
            pool,
            prefix,
            env: child_env,
            shutdown,
            tasks,
            database: Some(database),
        };
        stack.create_org().await?;
        Ok(stack)
    }

    /// The org `dev`, wired to this stack's emulators with their default credentials.
    async fn create_org(&self) -> anyhow::Result<()> {
        let cipher = Cipher::from_base64(ENCRYPTION_KEY)?;
        let org = Org {
            id: ORG.into(),
            name: "Test org".into(),
            graph_tenant_id: "dev-tenant".into(),
            graph_client_id: "contactsync-dev".into(),
            graph_client_secret: "dev-secret".into(),
            salesforce_login_url: self.salesforce_url.clone(),
            salesforce_consumer_key: salesforce_emulator::config::DEFAULT_CLIENT_ID.into(),
            salesforce_private_key_pem: salesforce_emulator::DEV_PRIVATE_KEY_PEM.into(),
            salesforce_username: salesforce_emulator::config::DEFAULT_INTEGRATION_USERNAME.into(),
            salesforce_org_id: salesforce_emulator::config::DEFAULT_ORG_ID.into(),
        };
        let client = self.pool.get().await?;
        sync_state::orgs::put_org(&**client, &cipher, &org).await?;
        // The integration user the JWT bearer flow logs in as.
        let _ = self
            .http
            .post(format!("{}/_emulator/users", self.salesforce_url))
            .json(&json!({"Username": salesforce_emulator::config::DEFAULT_INTEGRATION_USERNAME}))
            .send()
            .await?;
        Ok(())
    }

    /// An admin API call; returns the status and the JSON body (Null when empty).
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.gateway_url))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok((status, value))
    }

    /// A control-API or plain call to an emulator; returns the status and JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        url: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self.http.request(method, url);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok((status, value))
    }

    /// Zeroes both emulators' traffic counters.
    pub async fn reset_counters(&self) -> anyhow::Result<()> {
        for base in [&self.graph_url, &self.salesforce_url] {
            self.call(
                reqwest::Method::DELETE,
                &format!("{base}/_emulator/requests"),
                None,
                None,
            )
            .await?;
        }
        Ok(())
    }

    /// Both emulators' traffic since the last reset: (graph, salesforce).
    pub async fn counters(&self) -> anyhow::Result<(Value, Value)> {
        let (_, graph) = self
            .call(
                reqwest::Method::GET,
                &format!("{}/_emulator/requests", self.graph_url),
                None,
                None,
            )
            .await?;
        let (_, salesforce) = self
            .call(
                reqwest::Method::GET,
                &format!("{}/_emulator/requests", self.salesforce_url),
                None,
                None,
            )
            .await?;
        Ok((graph, salesforce))
    }

    /// Stops everything and drops the database and queues.
    /// A component that failed while the test ran fails the test; one that reports an error
    /// while being stopped (a handler cut short by the shutdown grace) is only logged.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let mut failed = None;
        while let Some(ended) = self.tasks.try_join_next() {
            let (name, result) = ended?;
            if let Err(e) = result {
                failed.get_or_insert(e.context(format!("{name} failed while the test ran")));
            }
        }
        self.shutdown.cancel();
        while let Some(ended) = self.tasks.join_next().await {
            let (name, result) = ended?;
            if let Err(e) = result {
                tracing::warn!(component = name, error = %format!("{e:#}"), "A component failed while stopping.");
            }
        }
        if let Some(database) = self.database.take() {
            cleanup(&self.prefix, Some(database)).await;
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Deletes a stack's queues and database (best effort: what is left is only litter).
async fn cleanup(prefix: &str, database: Option<store::testing::TestDatabase>) {
    if let Ok(broker) = messaging::Broker::connect(
        config::DEFAULT_AMQP_URL,
        prefix,
        messaging::BrokerSettings::default(),
    )
    .await
    {
        let _ = broker.delete_topology().await;
        broker.close().await;
    }
    if let Some(database) = database {
        let _ = database.drop_database().await;
    }
}

impl Drop for Stack {
    /// A test that failed before `stop` still leaves no queues or database behind: quorum queues
    /// are heavy for the broker, and every test run would otherwise add eight.
    fn drop(&mut self) {
        let Some(database) = self.database.take() else {
            return;
        };
        self.shutdown.cancel();
        self.tasks.abort_all();
        let prefix = self.prefix.clone();
        let _ = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                runtime.block_on(cleanup(&prefix, Some(database)));
            }
        })
        .join();
    }
}
