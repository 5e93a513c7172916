//! The HTTP front door and the one call pipeline: count → authenticate → route → faults →
//! quota → sequential-mutation check → handler.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use parking_lot::RwLock;
use serde_json::Value;

use crate::auth::{self, ServiceAccounts, Tokens};
use crate::config::{ConcurrentMutations, Config, Knobs};
use crate::errors::ApiError;
use crate::faults::{Counters, Faults, Quota, QuotaClass};
use crate::model::{Mailbox, Registry};
use crate::{control, groups, people};

/// Largest request body accepted (control-API seeding of many contacts in one call).
const MAX_BODY: usize = 256 * 1024 * 1024;

/// Everything the emulator holds, shared by all requests.
pub struct Shared {
    pub config: Config,
    pub knobs: RwLock<Knobs>,
    pub registry: Registry,
    pub accounts: ServiceAccounts,
    pub tokens: Tokens,
    pub counters: Counters,
    pub faults: Faults,
    pub quota: Quota,
    /// Changes on reset, so page and sync tokens from before a reset are refused.
    pub epoch: AtomicU64,
}

impl Shared {
    pub fn new(config: Config) -> Self {
        let registry = Registry::default();
        let shared = Shared {
            knobs: RwLock::new(config.knobs.clone()),
            config,
            tokens: Tokens::new(registry.clock.clone()),
            registry,
            accounts: ServiceAccounts::default(),
            counters: Counters::default(),
            faults: Faults::default(),
            quota: Quota::default(),
            epoch: AtomicU64::new(rand::random()),
        };
        shared.register_dev_account();
        shared
    }

    /// The always-present dev service account (its committed key).
    pub fn register_dev_account(&self) {
        if let Err(e) = self.accounts.register(
            crate::DEV_CLIENT_EMAIL,
            crate::DEV_PRIVATE_KEY_ID,
            crate::DEV_PRIVATE_KEY_PEM,
        ) {
            tracing::error!(error = %e, "The dev service account key does not load");
        }
    }

    pub fn knobs(&self) -> Knobs {
        self.knobs.read().clone()
    }

    /// Scheme and authority clients reach us at: the configured public URL, else the Host.
    pub fn base_url(&self, headers: &HeaderMap) -> String {
        if let Some(url) = &self.config.public_base_url {
            return url.clone();
        }
        let host = headers
            .get("host")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("127.0.0.1");
        let scheme = if self.config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{host}")
    }
}

/// One API call as handlers see it.
pub struct Call<'a> {
    pub knobs: &'a Knobs,
    pub epoch: u64,
    pub query: &'a [(String, String)],
    pub body: &'a [u8],
}

impl Call<'_> {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn params(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The JSON body (`{}` when empty).
    pub fn json(&self) -> Result<Value, ApiError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Object(Default::default()));
        }
        serde_json::from_slice(self.body)
            .map_err(|e| ApiError::invalid_argument(format!("Invalid JSON payload received. {e}")))
    }
}

/// What a `/v1/` path names.
enum Target {
    Connections,
    BatchGet,
    Create,
    BatchCreate,
    BatchUpdate,
    BatchDelete,
    Person(String),
    Update(String),
    Delete(String),
    Groups,
    Group(String),
    ModifyMembers(String),
}

impl Target {
    fn is_mutation(&self, method: &Method) -> bool {
        match self {
            Target::Create
            | Target::BatchCreate
            | Target::BatchUpdate
            | Target::BatchDelete
            | Target::Update(_)
            | Target::Delete(_)
            | Target::ModifyMembers(_) => true,
            Target::Groups | Target::Group(_) => *method != Method::GET,
            _ => false,
        }
    }
}

/// The target and the route name counters and faults use.
fn route(method: &Method, path: &str) -> Option<(Target, String)> {
    let rest = path.strip_prefix("/v1/")?;
    let m = method.as_str();
    let named = |t: Target, r: &str| Some((t, format!("{m} /v1/{r}")));
    let segs: Vec<&str> = rest.split('/').collect();
    match (method.clone(), segs.as_slice()) {
        (Method::GET, ["people", "me", "connections"]) => {
            named(Target::Connections, "people/me/connections")
        }
        (Method::GET, ["people:batchGet"]) => named(Target::BatchGet, "people:batchGet"),
        (Method::POST, ["people:createContact"]) => named(Target::Create, "people:createContact"),
        (Method::POST, ["people:batchCreateContacts"]) => {
            named(Target::BatchCreate, "people:batchCreateContacts")
        }
        (Method::POST, ["people:batchUpdateContacts"]) => {
            named(Target::BatchUpdate, "people:batchUpdateContacts")
        }
        (Method::POST, ["people:batchDeleteContacts"]) => {
            named(Target::BatchDelete, "people:batchDeleteContacts")
        }
        (Method::PATCH, ["people", id]) if id.ends_with(":updateContact") => named(
            Target::Update(id.trim_end_matches(":updateContact").to_owned()),
            "people/{id}:updateContact",
        ),
        (Method::DELETE, ["people", id]) if id.ends_with(":deleteContact") => named(
            Target::Delete(id.trim_end_matches(":deleteContact").to_owned()),
            "people/{id}:deleteContact",
        ),
        (Method::GET, ["people", id]) if !id.contains(':') => {
            named(Target::Person((*id).to_owned()), "people/{id}")
        }
        (Method::GET | Method::POST, ["contactGroups"]) => named(Target::Groups, "contactGroups"),
        (Method::GET | Method::PUT | Method::DELETE, ["contactGroups", id])
            if !id.contains(':') =>
        {
            named(Target::Group((*id).to_owned()), "contactGroups/{id}")
        }
        (Method::POST, ["contactGroups", id, "members:modify"]) => named(
            Target::ModifyMembers((*id).to_owned()),
            "contactGroups/{id}/members:modify",
        ),
        _ => None,
    }
}

/// Decrements a mailbox's in-flight mutation count when the call ends.
struct InFlight(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The axum handler for every path.
pub async fn entry(State(shared): State<Arc<Shared>>, request: axum::extract::Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let path = parts.uri.path().to_owned();
    if path == "/_emulator" || path.starts_with("/_emulator/") {
        let base = shared.base_url(&parts.headers);
        return control::handle(&shared, &parts.method, &path, &body, &base);
    }
    if path == "/token" {
        shared.counters.http_request("POST /token");
        if parts.method != Method::POST {
            return StatusCode::METHOD_NOT_ALLOWED.into_response();
        }
        let own = format!("{}/token", shared.base_url(&parts.headers));
        let lifetime = Duration::from_secs(shared.knobs.read().token_lifetime_secs);
        let exists = |email: &str| shared.registry.get(email).is_some();
        let ctx = auth::TokenContext {
            accounts: &shared.accounts,
            tokens: &shared.tokens,
            own_token_url: &own,
            mailbox_exists: &exists,
            lifetime,
        };
        return match auth::token_endpoint(&body, &ctx) {
            Ok(json) => (StatusCode::OK, axum::Json(json)).into_response(),
            Err(e) => e.into_response(),
        };
    }
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(parts.uri.query().unwrap_or("")).unwrap_or_default();
    let response = api_call(&shared, &parts.method, &path, &parts.headers, &query, &body).await;
    tracing::debug!(method = %parts.method, path, status = response.status().as_u16(), "People API request");
    response
}

async fn api_call(
    shared: &Arc<Shared>,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    query: &[(String, String)],
    body: &[u8],
) -> Response {
    let Some((target, route)) = route(method, path) else {
        shared
            .counters
            .http_request(&format!("{} (unrouted)", method.as_str()));
        let message = format!("The requested URL {path} was not found on this server.");
        return ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", message).into_response();
    };
    shared.counters.http_request(&route);
    let knobs = shared.knobs();
    let call = Call {
        knobs: &knobs,
        epoch: shared.epoch.load(Ordering::Relaxed),
        query,
        body,
    };
    shared
        .counters
        .operations(people::operation_count(&route, &call));
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok());
    let email = match shared.tokens.check(authorization) {
        Ok(email) => email,
        Err(e) => return e.into_response(),
    };
    let (mailbox, _) = shared.registry.get_or_create(&email);
    let injected = shared.faults.take(&route, Some(&email));
    let lost_response = match injected {
        Some((error, false)) => return error.into_response(),
        Some((error, true)) => Some(error),
        None => None,
    };
    let mutation = target.is_mutation(method);
    if knobs.quota_enabled {
        let mut classes = Vec::new();
        if !mutation || matches!(target, Target::Update(_)) {
            classes.push((QuotaClass::Read, knobs.read_requests_per_minute));
        }
        if mutation {
            classes.push((QuotaClass::Write, knobs.write_requests_per_minute));
        }
        if matches!(target, Target::Connections) && people::is_full_sync_start(&call) {
            classes.push((QuotaClass::FullSync, knobs.full_sync_requests_per_minute));
        }
        for (class, limit) in classes {
            if let Err(e) = shared.quota.take(&email, class, limit) {
                return e.into_response();
            }
        }
    }
    let _in_flight = if mutation {
        let before = mailbox.mutations_in_flight.fetch_add(1, Ordering::SeqCst);
        let guard = InFlight(mailbox.mutations_in_flight.clone());
        if before > 0 {
            shared.counters.concurrent_mutation();
            if knobs.concurrent_mutations == ConcurrentMutations::Reject {
                let mut error = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "RESOURCE_EXHAUSTED",
                    "Mutate requests for the same user should be sent sequentially.",
                );
                error.details =
                    ApiError::quota_exceeded("Concurrent mutations", "SequentialMutationsPerUser")
                        .details;
                return error.into_response();
            }
        }
        Some(guard)
    } else {
        None
    };
    if knobs.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(knobs.latency_ms)).await;
    }
    let result = {
        let mut state = mailbox.state.lock();
        handle(&call, &mut state, method, target)
    };
    match (lost_response, result) {
        (Some(error), _) | (None, Err(error)) => error.into_response(),
        (None, Ok(json)) => (StatusCode::OK, axum::Json(json)).into_response(),
    }
}

fn handle(
    call: &Call<'_>,
    mailbox: &mut Mailbox,
    method: &Method,
    target: Target,
) -> Result<Value, ApiError> {
    match target {
        Target::Connections => people::connections(call, mailbox),
        Target::BatchGet => people::batch_get(call, mailbox),
        Target::Create => people::create(call, mailbox),
        Target::BatchCreate => people::batch_create(call, mailbox),
        Target::BatchUpdate => people::batch_update(call, mailbox),
        Target::BatchDelete => people::batch_delete(call, mailbox),
        Target::Person(id) => people::get(call, mailbox, &id),
        Target::Update(id) => people::update(call, mailbox, &id),
        Target::Delete(id) => people::delete(mailbox, &id),
        Target::Groups if *method == Method::GET => groups::list(call, mailbox),
        Target::Groups => groups::create(call, mailbox),
        Target::Group(id) => match *method {
            Method::GET => groups::get(call, mailbox, &id),
            Method::PUT => groups::update(call, mailbox, &id),
            _ => groups::delete(call, mailbox, &id),
        },
        Target::ModifyMembers(id) => groups::modify_members(call, mailbox, &id),
    }
}
