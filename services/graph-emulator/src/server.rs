//! The HTTP front door and the one operation pipeline: count → authenticate → route → faults →
//! throttle → handler. `$batch` items re-enter the pipeline at `operation`, so a batched call and
//! a direct call behave the same in every respect.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use parking_lot::RwLock;
use tokio_util::sync::CancellationToken;

use crate::auth::{self, AppRegistration, Tokens};
use crate::config::{Config, Knobs};
use crate::errors::GraphError;
use crate::faults::{Counters, Faults};
use crate::router::{self, MailboxTarget, Target};
use crate::state::{MailboxRef, Registry};
use crate::throttle::Throttle;
use crate::wire::{ApiRequest, ApiResponse, parse_query};
use crate::{batch, categories, contacts, control, delta, folders, subscriptions};

/// OData system query options the router lets through (unsupported ones are then ignored or
/// refused by the handler); anything else starting with `$` is a client mistake Graph refuses.
const KNOWN_OPTIONS: &[&str] = &[
    "$select",
    "$expand",
    "$filter",
    "$top",
    "$skip",
    "$orderby",
    "$count",
    "$search",
    "$skiptoken",
    "$deltatoken",
    "$format",
];

/// Largest request body accepted (Outlook caps uploads far lower; this only bounds memory).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Everything the emulator holds, shared by all requests and background tasks.
pub struct Shared {
    pub config: Config,
    pub knobs: RwLock<Knobs>,
    pub registry: Registry,
    pub apps: RwLock<Vec<AppRegistration>>,
    pub tokens: Tokens,
    pub counters: Counters,
    pub faults: Faults,
    pub throttle: Throttle,
    pub subscriptions: subscriptions::Store,
    /// Client for validation requests and notifications.
    pub http: reqwest::Client,
    /// Change notifications still to be lost on purpose (control API), to test "missed" handling.
    pub dropped_notifications: AtomicU64,
    /// Changes on reset, so delta tokens from before a reset answer 410.
    pub epoch: AtomicU64,
    /// When the API wrote each contact, while the control API has it on.
    pub write_log: crate::write_log::WriteLog,
    pub shutdown: CancellationToken,
}

impl Shared {
    pub fn new(config: Config, http: reqwest::Client, shutdown: CancellationToken) -> Self {
        let apps = vec![AppRegistration {
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            tenant: config.tenant.clone(),
            roles: auth::default_roles(),
        }];
        Shared {
            knobs: RwLock::new(config.knobs.clone()),
            config,
            registry: Registry::default(),
            apps: RwLock::new(apps),
            tokens: Tokens::default(),
            counters: Counters::default(),
            faults: Faults::default(),
            throttle: Throttle::default(),
            subscriptions: subscriptions::Store::default(),
            http,
            dropped_notifications: AtomicU64::new(0),
            epoch: AtomicU64::new(rand::random()),
            write_log: crate::write_log::WriteLog::default(),
            shutdown,
        }
    }

    pub fn knobs(&self) -> Knobs {
        self.knobs.read().clone()
    }

    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Relaxed)
    }

    /// Scheme and authority for links: the configured public URL, else the request's Host
    /// (and `X-Forwarded-Proto`, so links stay https behind a TLS-terminating proxy).
    pub fn base_url(&self, headers: &HeaderMap) -> String {
        if let Some(url) = &self.config.public_base_url {
            return url.clone();
        }
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let host = header("host").unwrap_or("127.0.0.1");
        let scheme = match header("x-forwarded-proto") {
            _ if self.config.tls.is_some() => "https",
            Some(p) if p.eq_ignore_ascii_case("https") => "https",
            _ => "http",
        };
        format!("{scheme}://{host}")
    }

    pub fn token_lifetime(&self) -> Duration {
        Duration::from_secs(self.knobs.read().token_lifetime_secs)
    }
}

/// The request-scoped view handlers work with.
pub struct Ctx<'a> {
    pub shared: &'a Arc<Shared>,
    pub app_id: &'a str,
    pub req: &'a ApiRequest,
    pub knobs: &'a Knobs,
}

impl Ctx<'_> {
    /// The mailbox a `/users/{id | userPrincipalName}` segment names.
    pub fn mailbox(&self, user: &str) -> Result<MailboxRef, GraphError> {
        let mailbox = self.shared.registry.get(user).ok_or_else(|| {
            GraphError::not_found(
                "ErrorInvalidUser",
                format!("The requested user '{user}' is invalid."),
            )
        })?;
        if !mailbox.lock().rest_enabled {
            // The status is UNCONFIRMED (404 most often reported).
            return Err(GraphError::not_found(
                "MailboxNotEnabledForRESTAPI",
                "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
            ));
        }
        Ok(mailbox)
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
        return control::handle(&shared, &parts.method, &path, &body).await;
    }
    let client_request_id = parts
        .headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let segs = router::segments(&path);
    if let [tenant, o, v, t] = segs.as_slice()
        && o == "oauth2"
        && v == "v2.0"
        && t == "token"
    {
        shared
            .counters
            .http_request("POST /{tenant}/oauth2/v2.0/token");
        if parts.method != Method::POST {
            return StatusCode::METHOD_NOT_ALLOWED.into_response();
        }
        let apps = shared.apps.read().clone();
        let response = auth::token_endpoint(
            auth::TokenRequest {
                tenant,
                headers: &parts.headers,
                body: &body,
            },
            &apps,
            &shared.config.tenant_id,
            &shared.tokens,
            shared.token_lifetime(),
        );
        return response.into_http(&client_request_id);
    }
    if segs.first().map(String::as_str) != Some("v1.0") {
        return StatusCode::NOT_FOUND.into_response();
    }
    let request = ApiRequest {
        method: parts.method.clone(),
        path,
        query: parse_query(parts.uri.query()),
        base_url: shared.base_url(&parts.headers),
        headers: parts.headers,
        body: body.to_vec(),
    };
    let method = request.method.clone();
    let path = request.path.clone();
    let response = api_call(&shared, request).await;
    tracing::debug!(%method, path, status = response.status.as_u16(), "Graph API request");
    response.into_http(&client_request_id)
}

/// One HTTP request to `/v1.0/…`.
pub async fn api_call(shared: &Arc<Shared>, req: ApiRequest) -> ApiResponse {
    let client_request_id = req.client_request_id();
    let segs = router::segments(&req.path);
    let parsed = router::parse(&req.method, segs.get(1..).unwrap_or_default());
    let route = match &parsed {
        Ok((_, route)) => route.clone(),
        Err(_) => format!("{} (unrouted)", req.method.as_str()),
    };
    shared.counters.http_request(&route);
    let is_batch = matches!(parsed, Ok((Target::Batch, _)));
    if !is_batch {
        shared.counters.operation(&route, false);
    }
    let app_id = match shared.tokens.check(&req.headers) {
        Ok(app_id) => app_id,
        Err(e) => return e.into_response(&client_request_id),
    };
    // Without a consented Contacts permission every call here is refused, as by Graph.
    let permitted = shared
        .apps
        .read()
        .iter()
        .find(|a| a.client_id == app_id)
        .is_some_and(|a| auth::may_use_contacts(&a.roles));
    if !permitted {
        let error = GraphError::Forbidden {
            code: "ErrorAccessDenied",
            message: "Access is denied. Check credentials and try again.".to_owned(),
        };
        return error.into_response(&client_request_id);
    }
    let (target, route) = match parsed {
        Ok(p) => p,
        Err(e) => return e.into_response(&client_request_id),
    };
    if is_batch {
        return batch::run(shared, &app_id, &req).await;
    }
    operation(shared, &app_id, &req, target, &route).await
}

/// One API operation, direct or batched, after counting and authentication.
pub async fn operation(
    shared: &Arc<Shared>,
    app_id: &str,
    req: &ApiRequest,
    target: Target,
    route: &str,
) -> ApiResponse {
    let client_request_id = req.client_request_id();
    let knobs = shared.knobs();
    let mailbox_id = target
        .user()
        .and_then(|u| shared.registry.get(u))
        .map(|m| m.lock().id.clone());
    let injected = shared.faults.take(route, mailbox_id.as_deref());
    let lost_response = match injected {
        Some((error, false)) => return error.into_response(&client_request_id),
        Some((error, true)) => Some(error),
        None => None,
    };
    let _permit = match &mailbox_id {
        Some(mailbox) => match shared.throttle.acquire(app_id, mailbox, &knobs) {
            Ok(permit) => permit,
            Err(e) => return e.into_response(&client_request_id),
        },
        None => None,
    };
    if knobs.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(knobs.latency_ms)).await;
    }
    let has_body = !req.body.iter().all(u8::is_ascii_whitespace);
    if knobs.require_json_content_type
        && has_body
        && matches!(req.method, Method::POST | Method::PATCH | Method::PUT)
        && !req.header("content-type").is_some_and(|t| {
            t.trim()
                .to_ascii_lowercase()
                .starts_with("application/json")
        })
    {
        let error = GraphError::UnsupportedMediaType;
        return error.into_response(&client_request_id);
    }
    if let Some((name, _)) = req.query.iter().find(|(k, _)| {
        k.starts_with('$') && !KNOWN_OPTIONS.iter().any(|o| o.eq_ignore_ascii_case(k))
    }) {
        let error = GraphError::bad_request(
            "BadRequest",
            format!("Query option '{name}' is not allowed."),
        );
        return error.into_response(&client_request_id);
    }
    let ctx = Ctx {
        shared,
        app_id,
        req,
        knobs: &knobs,
    };
    let response = match handle(&ctx, target).await {
        Ok(response) => response,
        Err(e) => e.into_response(&client_request_id),
    };
    match lost_response {
        Some(error) => error.into_response(&client_request_id),
        None => response,
    }
}

async fn handle(ctx: &Ctx<'_>, target: Target) -> Result<ApiResponse, GraphError> {
    match target {
        Target::Batch => Err(GraphError::bad_request(
            "BadRequest",
            "A $batch request cannot be nested in a $batch request.",
        )),
        Target::Subscriptions | Target::Subscription(_) | Target::Reauthorize(_) => {
            subscriptions::handle(ctx, target).await
        }
        Target::Mailbox { user, target } => {
            let mailbox = ctx.mailbox(&user)?;
            match target {
                MailboxTarget::User => folders::user(ctx, &mailbox),
                MailboxTarget::Contacts(folder) => contacts::collection(ctx, &mailbox, &folder),
                MailboxTarget::Contact { id } => contacts::item(ctx, &mailbox, &id),
                MailboxTarget::ContactAction { id, action } => {
                    contacts::action(ctx, &mailbox, &id, &action)
                }
                MailboxTarget::Delta(folder) => delta::handle(ctx, &mailbox, &folder),
                MailboxTarget::Folders => folders::top_level(ctx, &mailbox),
                MailboxTarget::Folder(chain) => folders::item(ctx, &mailbox, &chain),
                MailboxTarget::ChildFolders(chain) => folders::children(ctx, &mailbox, &chain),
                MailboxTarget::Categories => categories::collection(ctx, &mailbox),
                MailboxTarget::Category(id) => categories::item(ctx, &mailbox, &id),
            }
        }
    }
}
