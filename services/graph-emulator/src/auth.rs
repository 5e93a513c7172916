//! The Microsoft identity platform token endpoint (client credentials) and bearer checks.
//!
//! Tokens look like JWTs (some clients peek at them) but are checked by lookup: the emulator
//! only has to know which app a token belongs to and when it expires, so refresh is exercised.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use parking_lot::Mutex;
use serde_json::json;

use crate::errors::GraphError;
use crate::wire::{ApiResponse, Body};

/// The scope a client-credentials request must ask for.
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

/// An app registration: who may get tokens, and the application permissions an admin consented
/// to (they become the token's `roles`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AppRegistration {
    pub client_id: String,
    pub client_secret: String,
    pub tenant: String,
    /// Consented application permissions; the default app has `Contacts.ReadWrite` and
    /// `MailboxSettings.ReadWrite`. An app without a `Contacts.*` role is refused 403
    /// `ErrorAccessDenied` on every mailbox call, as Graph refuses it.
    #[serde(default = "default_roles")]
    pub roles: Vec<String>,
}

/// What the default app registration was granted.
pub fn default_roles() -> Vec<String> {
    vec![
        "Contacts.ReadWrite".to_owned(),
        "MailboxSettings.ReadWrite".to_owned(),
    ]
}

/// Whether `roles` let an app read or write contacts.
pub fn may_use_contacts(roles: &[String]) -> bool {
    roles.iter().any(|r| {
        r.eq_ignore_ascii_case("Contacts.ReadWrite") || r.eq_ignore_ascii_case("Contacts.Read")
    })
}

#[derive(Debug, Clone)]
struct Issued {
    client_id: String,
    expires: Instant,
}

/// Issued access tokens.
#[derive(Default)]
pub struct Tokens {
    issued: Mutex<HashMap<String, Issued>>,
}

impl Tokens {
    /// Issues a token for `client_id` valid for `lifetime`.
    pub fn mint(
        &self,
        client_id: &str,
        tenant_id: &str,
        lifetime: Duration,
        roles: &[String],
    ) -> String {
        // Ten years is "forever" for a test token, and keeps the clock arithmetic in range.
        let lifetime = lifetime.min(Duration::from_secs(10 * 365 * 24 * 3600));
        let exp = chrono::Utc::now().timestamp() + lifetime.as_secs() as i64;
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"RS256","x5t":"emulator"}"#);
        let claims = json!({
            "aud": "https://graph.microsoft.com",
            "iss": format!("https://sts.windows.net/{tenant_id}/"),
            "tid": tenant_id,
            "appid": client_id,
            "roles": roles,
            "exp": exp,
            "jti": uuid::Uuid::new_v4().to_string(),
        });
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let mut signature = [0u8; 32];
        rand::fill(&mut signature);
        let token = format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode(signature));
        let mut issued = self.issued.lock();
        let now = Instant::now();
        // Forget long-expired tokens now and then so the map stays the size of the live set.
        if issued.len() > 10_000 {
            issued.retain(|_, t| t.expires + Duration::from_secs(3600) > now);
        }
        issued.insert(
            token.clone(),
            Issued {
                client_id: client_id.to_owned(),
                expires: now + lifetime,
            },
        );
        token
    }

    /// The app (client id) a request's bearer token belongs to.
    pub fn check(&self, headers: &HeaderMap) -> Result<String, GraphError> {
        let value = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .unwrap_or_default();
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => "",
        };
        if token.is_empty() {
            return Err(GraphError::Unauthenticated("Access token is empty."));
        }
        let issued = self.issued.lock().get(token).cloned();
        match issued {
            None => Err(GraphError::Unauthenticated(
                "CompactToken parsing failed with error code: 80049217",
            )),
            Some(t) if t.expires <= Instant::now() => Err(GraphError::Unauthenticated(
                "Access token has expired or is not yet valid.",
            )),
            Some(t) => Ok(t.client_id),
        }
    }
}

/// An AADSTS error as the token endpoint writes it.
fn aad_error(status: StatusCode, error: &str, code: u32, description: &str) -> ApiResponse {
    let trace_id = uuid::Uuid::new_v4().to_string();
    let correlation_id = uuid::Uuid::new_v4().to_string();
    let timestamp = chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string();
    let body = json!({
        "error": error,
        "error_description": format!(
            "AADSTS{code}: {description}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}"
        ),
        "error_codes": [code],
        "timestamp": timestamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    });
    let mut response = ApiResponse::new(status, Body::Json(body));
    response.set_header("Content-Type", "application/json; charset=utf-8");
    response.set_header("Cache-Control", "no-store, no-cache");
    response.set_header("Pragma", "no-cache");
    response
}

/// What the token endpoint needs to answer.
pub struct TokenRequest<'a> {
    pub tenant: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// `POST /{tenant}/oauth2/v2.0/token` with `grant_type=client_credentials`.
pub fn token_endpoint(
    request: TokenRequest<'_>,
    apps: &[AppRegistration],
    tenant_id: &str,
    tokens: &Tokens,
    lifetime: Duration,
) -> ApiResponse {
    let form: HashMap<String, String> = url::form_urlencoded::parse(request.body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    // client_secret_basic is accepted as well as the form fields.
    let basic = request
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            let (id, secret) = s.split_once(':')?;
            Some((id.to_owned(), secret.to_owned()))
        });
    let field = |name: &str| form.get(name).map(String::as_str).filter(|v| !v.is_empty());
    let tenant_known = apps
        .iter()
        .any(|a| a.tenant.eq_ignore_ascii_case(request.tenant))
        || request.tenant.eq_ignore_ascii_case(tenant_id);
    if !tenant_known {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!(
                "Tenant '{}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.",
                request.tenant
            ),
        );
    }
    let Some(grant_type) = field("grant_type") else {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'grant_type'.",
        );
    };
    if grant_type != "client_credentials" {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        );
    }
    let client_id = field("client_id")
        .map(str::to_owned)
        .or_else(|| basic.as_ref().map(|(id, _)| id.clone()));
    let Some(client_id) = client_id else {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    };
    match field("scope") {
        Some(GRAPH_SCOPE) => {}
        Some(other) => {
            return aad_error(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                1002012,
                &format!(
                    "The provided value for scope {other} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
                ),
            );
        }
        None => {
            return aad_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'scope'.",
            );
        }
    }
    let Some(app) = apps.iter().find(|a| {
        a.client_id == client_id
            && (a.tenant.eq_ignore_ascii_case(request.tenant)
                || request.tenant.eq_ignore_ascii_case(tenant_id))
    }) else {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{}'.",
                request.tenant
            ),
        );
    };
    let secret = field("client_secret")
        .map(str::to_owned)
        .or_else(|| basic.map(|(_, s)| s));
    if secret.as_deref() != Some(app.client_secret.as_str()) {
        return aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            &format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
            ),
        );
    }
    let token = tokens.mint(&app.client_id, tenant_id, lifetime, &app.roles);
    let body = json!({
        "token_type": "Bearer",
        "expires_in": lifetime.as_secs(),
        "ext_expires_in": lifetime.as_secs(),
        "access_token": token,
    });
    let mut response = ApiResponse::new(StatusCode::OK, Body::Json(body));
    response.set_header("Content-Type", "application/json; charset=utf-8");
    response.set_header("Cache-Control", "no-store, no-cache");
    response.set_header("Pragma", "no-cache");
    response.set_header("Expires", "-1");
    response
}
