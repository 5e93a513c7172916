//! The whole stack in one process for the end-to-end suite and the bench: the emulators, every
//! service (through [`crate::compose`], as `contactsync dev` starts them), a fresh database and
//! queue prefix of its own; and the acts of an operator and of users through the admin API and
//! the emulators' real APIs ([`TestUser`]), the mailbox ones the same for Exchange and Gmail users
//! (`mailbox`, G1) so one suite runs for both ([`both_providers!`](crate::both_providers)).

use std::net::SocketAddr;

use anyhow::Context as _;
use config::Env;
use serde_json::{Value, json};
use sync_state::orgs::{GoogleCredentials, Org};
use sync_state::secrets::Cipher;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::compose::{Composition, Tasks};
use crate::emulators;

mod gmail;
mod mailbox;
pub mod processes;
mod users;

pub use processes::{Children, Processes};
pub use users::TestUser;

/// The admin token of test stacks.
pub const ADMIN_TOKEN: &str = "e2e-admin-token";
/// A throwaway encryption key (base64 of 32 bytes) for test stacks.
const ENCRYPTION_KEY: &str = "ZTJlLWtleS1kby1ub3QtdXNlLWluLXByb2R1Y3Rpb24=";
/// The org every test user joins.
pub const ORG: &str = "dev";

/// Where a user's mailbox lives (SPEC G1): the harness speaks the stored type.
pub use sync_state::users::Provider;

/// One rule test for both mailbox providers (G1): each `async fn name(provider: Provider) {…}`
/// becomes a module `name` with the tests `exchange` and `gmail`, each running the body with its
/// provider on a multi-threaded runtime, as the suites' other tests run.
#[macro_export]
macro_rules! both_providers {
    ($(
        $(#[$meta:meta])*
        async fn $name:ident($provider:ident : $ty:ty) $body:block
    )*) => {
        $(
            $(#[$meta])*
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn run($provider: $ty) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn exchange() {
                    run($crate::harness::Provider::Exchange).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn gmail() {
                    run($crate::harness::Provider::Gmail).await
                }
            }
        )*
    };
}

/// Adjusts the Graph emulator's configuration before it starts.
pub type GraphConfigFn = Box<dyn FnOnce(&mut graph_emulator::Config) + Send>;

/// Adjusts the Salesforce emulator's configuration before it starts.
pub type SalesforceConfigFn = Box<dyn FnOnce(&mut salesforce_emulator::Config) + Send>;

/// Adjusts the Gmail emulator's configuration before it starts.
pub type GmailConfigFn = Box<dyn FnOnce(&mut gmail_emulator::Config) + Send>;

/// How a test wants its stack.
#[derive(Default)]
pub struct Options {
    /// Services (by their `pipeline::Service::NAME`) the test runs itself, e.g. as a child process it kills.
    pub skip: Vec<&'static str>,
    /// Adjusts the Graph emulator's configuration.
    pub graph: Option<GraphConfigFn>,
    /// Adjusts the Salesforce emulator's configuration.
    pub salesforce: Option<SalesforceConfigFn>,
    /// Adjusts the Gmail emulator's configuration.
    pub gmail: Option<GmailConfigFn>,
    /// Subscribe to Graph change notifications. Off by default: a notification of the stack's
    /// own writes would start extra sessions at times a test cannot control, and the rule tests
    /// count each session's writes; the notification tests turn it on.
    pub notifications: bool,
    /// Run every service, the gateway included, as child processes of the `contactsync` binary
    /// (several replicas of each) instead of in the test process.
    pub processes: Option<Processes>,
    /// Extra environment variables for every service (over the stack's own).
    pub env: Vec<(String, String)>,
    /// `DELETION_SETTLE_SECS`: how long deletions wait for their burst to settle (C5). `None`
    /// keeps the service default (60 s); burst tests set a few seconds.
    pub deletion_settle_secs: Option<u64>,
}

/// A running stack.
pub struct Stack {
    pub graph_url: String,
    /// The Gmail emulator's base URL (token at `{gmail_url}/token`, the People API under `/v1/`).
    pub gmail_url: String,
    pub salesforce_url: String,
    pub gateway_url: String,
    pub http: reqwest::Client,
    pub pool: store::Pool,
    pub prefix: String,
    /// The environment the services run with (for a service a test starts as a process).
    pub env: Vec<(String, String)>,
    shutdown: CancellationToken,
    tasks: Tasks,
    database: Option<store::testing::TestDatabase>,
    /// The services' processes, when [`Options::processes`] asked for them.
    pub children: Option<Children>,
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
        // The test gateway serves plain HTTP on localhost: notifications to it are allowed on
        // both sides, explicitly (ALLOW_HTTP_NOTIFICATION_URL below).
        gconfig.knobs.require_https = false;
        if let Some(adjust) = options.graph {
            adjust(&mut gconfig);
        }
        let graph = emulators::start_graph(gconfig, shutdown.clone()).await?;
        let graph_url = graph.base_url.clone();
        graph.spawn_into(&mut tasks, "graph-emulator");

        let mut sconfig = salesforce_emulator::Config {
            listen: any_port(),
            ..salesforce_emulator::Config::default()
        };
        if let Some(adjust) = options.salesforce {
            adjust(&mut sconfig);
        }
        let salesforce = emulators::start_salesforce(sconfig, shutdown.clone()).await?;
        let salesforce_url = salesforce.base_url.clone();
        salesforce.spawn_into(&mut tasks, "salesforce-emulator");

        let mut mconfig = gmail_emulator::Config {
            listen: any_port(),
            ..gmail_emulator::Config::default()
        };
        if let Some(adjust) = options.gmail {
            adjust(&mut mconfig);
        }
        let gmail = emulators::start_gmail(mconfig, shutdown.clone()).await?;
        let gmail_url = gmail.base_url.clone();
        gmail.spawn_into(&mut tasks, "gmail-emulator");

        let settle = options
            .deletion_settle_secs
            .map_or_else(String::new, |secs| secs.to_string());
        let pairs = [
            ("DELETION_SETTLE_SECS", settle.as_str()),
            ("DATABASE_URL", database.url.as_str()),
            ("QUEUE_PREFIX", prefix.as_str()),
            ("ADMIN_TOKEN", ADMIN_TOKEN),
            ("CONTACTSYNC_ENCRYPTION_KEY", ENCRYPTION_KEY),
            ("GRAPH_API_URL", graph_url.as_str()),
            ("GRAPH_LOGIN_URL", graph_url.as_str()),
            ("HTTP_LISTEN", "127.0.0.1:0"),
            ("OPS_LISTEN", "127.0.0.1:0"),
            ("DATABASE_POOL_SIZE", "3"),
            ("SCHEDULER_TICK_MS", "200"),
            ("SHUTDOWN_GRACE_SECS", "5"),
            ("LOG_FORMAT", "pretty"),
            ("ALLOW_HTTP_NOTIFICATION_URL", "true"),
            (
                "GRAPH_NOTIFICATIONS",
                if options.notifications {
                    "true"
                } else {
                    "false"
                },
            ),
        ];
        let env = Env::from_pairs(pairs)
            .with_overrides(options.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let mut child_env: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        child_env.extend(options.env.iter().cloned());
        let http = reqwest::Client::new();
        let (gateway_url, children) = match &options.processes {
            Some(processes) => {
                let children = Children::spawn(processes, &child_env, &http, ADMIN_TOKEN)
                    .await
                    .context("starting the services as processes")?;
                let url = children.gateway_urls()[0].clone();
                (url, Some(children))
            }
            None => {
                let started = Composition::new(env)
                    .without(&options.skip)
                    .start(&shutdown, &mut tasks)
                    .await?;
                (started.gateway_url, None)
            }
        };
        child_env.push(("PUBLIC_BASE_URL".into(), gateway_url.clone()));

        let pool = database.pool.clone();
        let stack = Stack {
            graph_url,
            gmail_url,
            salesforce_url,
            gateway_url,
            http,
            pool,
            prefix,
            env: child_env,
            shutdown,
            tasks,
            database: Some(database),
            children,
        };
        stack.create_org().await?;
        Ok(stack)
    }

    /// The org `dev`, wired to this stack's emulators with their default credentials (Google:
    /// the Gmail emulator's dev service account).
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
            salesforce_jwt_audience: sync_state::orgs::DEFAULT_JWT_AUDIENCE.into(),
            google: Some(GoogleCredentials {
                client_email: gmail_emulator::DEV_CLIENT_EMAIL.into(),
                private_key_pem: gmail_emulator::DEV_PRIVATE_KEY_PEM.into(),
                token_uri: format!("{}/token", self.gmail_url),
                api_url: self.gmail_url.clone(),
            }),
        };
        // The integration user the JWT bearer flow logs in as.
        let _ = self
            .http
            .post(format!("{}/_emulator/users", self.salesforce_url))
            .json(&json!({"Username": salesforce_emulator::config::DEFAULT_INTEGRATION_USERNAME}))
            .send()
            .await?;
        let client = self.pool.get().await?;
        sync_state::orgs::put_org(&**client, &cipher, &org).await?;
        // Checked as registering through the API does, so the scheduler's first check does not
        // land in a test's traffic counts (tests of the check itself use the API).
        let now = chrono::Utc::now();
        sync_state::org_checks::record(&**client, ORG, &[], now, now + chrono::Duration::hours(1))
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
        let url = format!("{}{path}", self.gateway_url);
        self.call(method, &url, Some(ADMIN_TOKEN), body).await
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

    /// A real API call with a bearer token; an answer of 300 or more is an error naming `what`.
    pub(crate) async fn api(
        &self,
        what: &str,
        method: reqwest::Method,
        url: &str,
        bearer: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let (status, value) = self.call(method, url, Some(bearer), body).await?;
        anyhow::ensure!(status < 300, "{what}: {status} {value}");
        Ok(value)
    }

    /// A call to an emulator's control API (`{base}/_emulator{path}`, never counted as its
    /// traffic); an answer of 300 or more is an error naming the call.
    pub async fn emulator_control(
        &self,
        base: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let (status, answer) = self
            .call(method, &format!("{base}/_emulator{path}"), None, body)
            .await?;
        anyhow::ensure!(status < 300, "{path}: {status} {answer}");
        Ok(answer)
    }

    /// Zeroes the emulators' traffic counters.
    pub async fn reset_counters(&self) -> anyhow::Result<()> {
        for base in [&self.graph_url, &self.salesforce_url, &self.gmail_url] {
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

    /// The Gmail emulator's traffic since the last reset.
    pub async fn gmail_counters(&self) -> anyhow::Result<Value> {
        self.emulator_control(&self.gmail_url, reqwest::Method::GET, "/requests", None)
            .await
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
        if let Some(children) = self.children.take()
            && let Err(e) = children.stop().await
        {
            failed.get_or_insert(e);
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
        // Child processes die first (SIGKILL on drop), so none sees its queues vanish.
        drop(self.children.take());
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
