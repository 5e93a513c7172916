//! Test harness: a real gateway on port 0 over its own PostgreSQL database and RabbitMQ queue
//! prefix, called over real HTTP; helpers to set state up and to wait with a deadline.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use pipeline::ServiceSettings as _;
use std::sync::Arc;
use std::time::Duration;

use config::Env;
use gateway::{App, Ctx, Settings};
use messaging::{Delivery, Queue};
use reqwest::Method;
use serde_json::{Value, json};
use store::testing::{TestDatabase, fresh_database};
use sync_core::Scope;
use sync_state::users::ContactSettings;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const ADMIN_TOKEN: &str = "gateway-test-admin-token";
pub const ENCRYPTION_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// `SETTINGS_LINK_KEY` of test gateways: base64 of 32 bytes, not the encryption key.
pub const LINK_KEY: &str = "bGluay1rZXktb2YtdGhlLWdhdGV3YXktdGVzdHMtMzI=";

/// The link key's bytes, to sign links as the gateway does.
pub fn link_key() -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(LINK_KEY)
        .expect("LINK_KEY is base64")
}
/// The Salesforce emulator's default organization id (18-character form).
pub const SF_ORG_ID: &str = "00Dxx0000001gPLEAY";
pub const DEADLINE: Duration = Duration::from_secs(20);
/// Where settings links point in tests that do not need the real address.
pub const PUBLIC_BASE: &str = "http://gateway.test";

/// How to start the gateway.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Graph emulator base URL (API and login).
    pub graph_url: Option<String>,
    /// Listen on a port reserved up front, so `PUBLIC_BASE_URL` can be the real address (Graph
    /// must reach the webhook to validate a subscription).
    pub public_is_real: bool,
}

/// A running gateway with its own database and queue prefix.
pub struct Stack {
    pub base: String,
    /// The ops port (`OPS_LISTEN`): `/healthz`, `/readyz`, `/metrics`.
    pub ops_base: String,
    pub http: reqwest::Client,
    pub ctx: Arc<Ctx>,
    pub db: TestDatabase,
    shutdown: CancellationToken,
}

/// A response with its body as text and, when it parses, as JSON.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    pub fn error_code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or_default()
    }

    pub fn error_message(&self) -> &str {
        self.json["error"]["message"].as_str().unwrap_or_default()
    }
}

pub async fn start() -> Stack {
    start_with(Options::default()).await
}

pub async fn start_with(options: Options) -> Stack {
    let db = fresh_database()
        .await
        .expect("PostgreSQL must run on 127.0.0.1:5432 (scripts/test starts it)");
    let prefix = format!("gw-test-{}", Uuid::new_v4().simple());
    let amqp = std::env::var("AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
    // The public address must be known before the gateway binds it: a port held until then.
    let reserved = options
        .public_is_real
        .then(|| test_support::ports::reserve().expect("a free loopback port"));
    let (listen, public) = match &reserved {
        Some(port) => (port.addr(), port.url()),
        None => ("127.0.0.1:0".to_owned(), PUBLIC_BASE.to_owned()),
    };
    let mut pairs: Vec<(&str, String)> = vec![
        ("DATABASE_URL", db.url.clone()),
        ("AMQP_URL", amqp),
        ("QUEUE_PREFIX", prefix),
        ("HTTP_LISTEN", listen),
        ("OPS_LISTEN", "127.0.0.1:0".to_owned()),
        ("ADMIN_TOKEN", ADMIN_TOKEN.to_owned()),
        ("CONTACTSYNC_ENCRYPTION_KEY", ENCRYPTION_KEY.to_owned()),
        ("SETTINGS_LINK_KEY", LINK_KEY.to_owned()),
        ("PUBLIC_BASE_URL", public),
        ("DATABASE_POOL_SIZE", "4".to_owned()),
        ("SHUTDOWN_GRACE_SECS", "2".to_owned()),
        // The test gateway serves plain HTTP: notifications to it are a local-only exception.
        ("ALLOW_HTTP_NOTIFICATION_URL", "true".to_owned()),
    ];
    if let Some(graph) = &options.graph_url {
        pairs.push(("GRAPH_API_URL", graph.clone()));
        pairs.push(("GRAPH_LOGIN_URL", graph.clone()));
    }
    let env = Env::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())));
    let settings = Settings::from_source(&env).expect("test settings are valid");
    let app = App::build(settings)
        .await
        .expect("RabbitMQ must run on 127.0.0.1:5672 (scripts/test starts it)");
    drop(reserved);
    let base = format!("http://{}", app.local_addr());
    let ops_base = format!("http://{}", app.ops_addr());
    let ctx = app.ctx();
    let shutdown = CancellationToken::new();
    tokio::spawn(app.run_until_stopped(shutdown.clone()));
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client");
    Stack {
        base,
        ops_base,
        http,
        ctx,
        db,
        shutdown,
    }
}

impl Stack {
    /// Any request; `token` goes into `Authorization: Bearer`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.expect("the gateway answers")).await
    }

    /// A GET on the ops port.
    pub async fn ops(&self, path: &str) -> Resp {
        let request = self.http.get(format!("{}{path}", self.ops_base));
        read(request.send().await.expect("the ops port answers")).await
    }

    /// A raw body with a content type.
    pub async fn send_raw(
        &self,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> Resp {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        read(request.send().await.expect("the gateway answers")).await
    }

    /// An admin API call with the operator token.
    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        self.send(method, path, Some(ADMIN_TOKEN), body).await
    }

    /// Stores an org with the emulators' dev app credentials straight in the database, as an
    /// org that passed its check (registering through the API checks it against real
    /// emulators: see `org_checks.rs`).
    pub async fn create_org(&self, id: &str, salesforce_org_id: &str, login_url: &str) {
        let cipher = sync_state::secrets::Cipher::from_base64(ENCRYPTION_KEY).expect("key");
        let org = sync_state::orgs::Org {
            id: id.to_owned(),
            name: format!("Org {id}"),
            graph_tenant_id: "dev-tenant".into(),
            graph_client_id: "contactsync-dev".into(),
            graph_client_secret: "dev-secret".into(),
            salesforce_login_url: login_url.to_owned(),
            salesforce_consumer_key: "contactsync-dev".into(),
            salesforce_private_key_pem: salesforce_emulator::DEV_PRIVATE_KEY_PEM.into(),
            salesforce_username: "integration@contactsync.dev".into(),
            salesforce_org_id: salesforce_org_id.to_owned(),
            salesforce_jwt_audience: sync_state::orgs::DEFAULT_JWT_AUDIENCE.into(),
            google: None,
        };
        let client = self.db.pool.get().await.expect("db");
        sync_state::orgs::put_org(&**client, &cipher, &org)
            .await
            .expect("org stored");
    }

    /// Registers an org through the API (which checks it first).
    pub async fn register_org(&self, body: Value) -> Resp {
        self.admin(Method::POST, "/api/v1/orgs", Some(body)).await
    }

    /// Registers a user in `org` through the API.
    pub async fn create_user(&self, id: &str, org: &str, salesforce_user_id: &str) {
        let resp = self
            .admin(
                Method::POST,
                "/api/v1/users",
                Some(json!({"id": id, "mailbox": format!("{id}@example.com"),
                            "salesforce_user_id": salesforce_user_id, "org": org})),
            )
            .await;
        assert_eq!(resp.status, 201, "user created: {resp:?}");
    }

    /// Enables contact sync straight in the database, without the session the API would start.
    pub async fn enable_quietly(&self, user_id: &str, scope: Scope) {
        let mut client = self.db.pool.get().await.expect("db");
        let tx = client.transaction().await.expect("tx");
        let settings = ContactSettings {
            enabled: true,
            scope,
            ..ContactSettings::default()
        };
        sync_state::users::put_settings(&tx, user_id, &settings)
            .await
            .expect("settings stored");
        tx.commit().await.expect("commit");
    }

    /// The user's sessions, oldest first: `(job_id, trigger, state)`.
    pub async fn sessions(&self, user_id: &str) -> Vec<(Uuid, String, String)> {
        let client = self.db.pool.get().await.expect("db");
        client
            .query(
                "SELECT job_id, trigger, state FROM sync_sessions WHERE user_id = $1
                 ORDER BY created_at, job_id",
                &[&user_id],
            )
            .await
            .expect("sessions")
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect()
    }

    /// Every session of the database: `(user_id, trigger)`.
    pub async fn all_sessions(&self) -> Vec<(String, String)> {
        let client = self.db.pool.get().await.expect("db");
        client
            .query(
                "SELECT user_id, trigger FROM sync_sessions ORDER BY user_id",
                &[],
            )
            .await
            .expect("sessions")
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    }

    /// Runs a SQL statement on the test database.
    pub async fn sql(
        &self,
        statement: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) {
        let client = self.db.pool.get().await.expect("db");
        client.execute(statement, params).await.expect("statement");
    }

    /// Holds `n` deletions for the user as the mass-delete guard would (C5): pending mirror
    /// deletions of Contacts `003…1` to `003…n`, and the guard's error on the status.
    pub async fn hold_deletions(&self, user_id: &str, n: i32, links: i32) {
        self.sql(
            "INSERT INTO pending_deletions (user_id, sync_key, side, removal, state, first_seen)
             SELECT $1, 'sf-' || id, 'exchange',
                    jsonb_build_object('kind', 'salesforce_deleted', 'id', id), 'held', now()
             FROM (SELECT '003' || lpad(n::text, 15, '0') AS id
                   FROM generate_series(1, $2::int) n) c",
            &[&user_id, &n],
        )
        .await;
        let held = serde_json::json!({"code": "mass_delete_guard", "deletions": n, "links": links,
            "message": format!("This burst would delete {n} of {links} synced contacts")});
        self.sql(
            "UPDATE user_sync_state SET last_error = $2 WHERE user_id = $1",
            &[&user_id, &held],
        )
        .await;
    }

    /// Finishes a session as the reconciler would, with `progress` as its summary.
    pub async fn finish_session(
        &self,
        job_id: Uuid,
        state: sync_state::sessions::SessionState,
        progress: &sync_state::sessions::Progress,
    ) -> bool {
        let mut client = self.db.pool.get().await.expect("db");
        let tx = client.transaction().await.expect("tx");
        let pending = sync_state::sessions::finish(&tx, job_id, state, progress)
            .await
            .expect("finish");
        tx.commit().await.expect("commit");
        pending.is_some_and(|f| f.pending_trigger)
    }

    /// Forwards every delivery of `queue` (acked) to a channel, until the stack stops.
    pub fn consume(&self, queue: Queue) -> mpsc::UnboundedReceiver<Delivery> {
        let (sender, receiver) = mpsc::unbounded_channel();
        let broker = self.ctx.broker.clone();
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            let _ = messaging::consume(
                &broker,
                queue,
                move |delivery| {
                    let sender = sender.clone();
                    async move {
                        let _ = sender.send(delivery);
                        Ok(())
                    }
                },
                shutdown,
            )
            .await;
        });
        receiver
    }

    /// Stops the gateway, removes its queues and drops its database.
    pub async fn finish(self) {
        self.shutdown.cancel();
        let _ = self.ctx.broker.delete_topology().await;
        self.ctx.broker.close().await;
        let Stack { db, .. } = self;
        let _ = db.drop_database().await;
    }
}

/// Both emulators on free ports, for tests that register orgs through the API (the check logs in
/// to them); stopped when dropped.
pub struct Emulators {
    pub graph_url: String,
    pub salesforce_url: String,
    shutdown: CancellationToken,
}

impl Drop for Emulators {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Starts both emulators with their defaults adjusted by `graph` and `salesforce`.
pub async fn emulators(
    graph: impl FnOnce(&mut graph_emulator::Config),
    salesforce: impl FnOnce(&mut salesforce_emulator::Config),
) -> Emulators {
    let shutdown = CancellationToken::new();
    let mut gconfig = graph_emulator::Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        ..graph_emulator::Config::default()
    };
    gconfig.knobs.require_https = false;
    graph(&mut gconfig);
    let graph_app = graph_emulator::App::build(gconfig)
        .await
        .expect("graph emulator");
    let graph_url = graph_app.base_url();
    tokio::spawn(graph_app.run_until_stopped(shutdown.clone()));
    let mut sconfig = salesforce_emulator::Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        ..salesforce_emulator::Config::default()
    };
    salesforce(&mut sconfig);
    let sf_app = salesforce_emulator::App::build(sconfig)
        .await
        .expect("salesforce emulator");
    let salesforce_url = sf_app.base_url();
    tokio::spawn(sf_app.run_until_stopped(shutdown.clone()));
    Emulators {
        graph_url,
        salesforce_url,
        shutdown,
    }
}

pub fn org_body(id: &str, salesforce_org_id: &str, login_url: &str) -> Value {
    json!({
        "id": id,
        "name": format!("Org {id}"),
        "graph": {"tenant_id": "dev-tenant", "client_id": "contactsync-dev",
                  "client_secret": "dev-secret"},
        "salesforce": {"login_url": login_url, "consumer_key": "contactsync-dev",
                       "private_key_pem": salesforce_emulator::DEV_PRIVATE_KEY_PEM,
                       "username": "integration@contactsync.dev", "org_id": salesforce_org_id},
    })
}

pub async fn read(response: reqwest::Response) -> Resp {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        text,
        json,
    }
}

/// The polling helpers, once for every suite (`test-support`).
#[allow(unused_imports)] // Each test binary uses a different subset.
pub use test_support::{next, until as eventually};
