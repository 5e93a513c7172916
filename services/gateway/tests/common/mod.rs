//! Test harness: a real gateway on port 0 over its own PostgreSQL database and RabbitMQ queue
//! prefix, called over real HTTP; helpers to set state up and to wait with a deadline.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use config::Env;
use gateway::{App, Ctx, Settings};
use messaging::{Delivery, Queue};
use reqwest::Method;
use serde_json::{Value, json};
use store::testing::{TestDatabase, fresh_database};
use sync_state::users::{ContactSettings, Scope};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const ADMIN_TOKEN: &str = "gateway-test-admin-token";
pub const ENCRYPTION_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
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

/// A free loopback port: bound on port 0, then released for the gateway to bind.
fn reserve_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("local addr").port()
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
    let (listen, public) = if options.public_is_real {
        let port = reserve_port();
        (
            format!("127.0.0.1:{port}"),
            format!("http://127.0.0.1:{port}"),
        )
    } else {
        ("127.0.0.1:0".to_owned(), PUBLIC_BASE.to_owned())
    };
    let mut pairs: Vec<(&str, String)> = vec![
        ("DATABASE_URL", db.url.clone()),
        ("AMQP_URL", amqp),
        ("QUEUE_PREFIX", prefix),
        ("HTTP_LISTEN", listen),
        ("ADMIN_TOKEN", ADMIN_TOKEN.to_owned()),
        ("CONTACTSYNC_ENCRYPTION_KEY", ENCRYPTION_KEY.to_owned()),
        ("PUBLIC_BASE_URL", public),
        ("DATABASE_POOL_SIZE", "4".to_owned()),
        ("SHUTDOWN_GRACE_SECS", "2".to_owned()),
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
    let base = format!("http://{}", app.local_addr());
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

    /// Creates an org through the API (credentials of the emulators' dev app).
    pub async fn create_org(&self, id: &str, salesforce_org_id: &str, login_url: &str) -> Resp {
        let resp = self
            .admin(
                Method::POST,
                "/api/v1/orgs",
                Some(org_body(id, salesforce_org_id, login_url)),
            )
            .await;
        assert!(
            resp.status == 201 || resp.status == 200,
            "org created: {resp:?}"
        );
        resp
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
            list_view_id: (scope == Scope::ListView).then(|| "00BDn0000000001".to_owned()),
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
        pending
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

/// Receives the next item or fails the test after the deadline.
pub async fn next<T>(receiver: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(DEADLINE, receiver.recv())
        .await
        .expect("nothing arrived before the deadline")
        .expect("channel closed")
}

/// Polls `check` until it holds or the deadline passes.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
