//! Admin API for orgs (SPEC §4): a Microsoft tenant paired with a Salesforce org, with their
//! credentials sealed at rest and never echoed.
//!
//! Registering an org checks it first (`pipeline::org_check`: a Graph token with
//! `Contacts.ReadWrite`, the JWT login, API access, Contact rights and the `Contactsync_Key__c`
//! external id): an org that fails is not stored and the answer is 422 `org_check_failed` with
//! each problem and its fix. `POST /api/v1/orgs/{id}/check` runs the check again on demand.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pipeline::org_check;
use serde::Deserialize;
use sync_core::SalesforceId;
use sync_state::StateError;
use sync_state::org_checks::{self, Problem};
use sync_state::orgs::{self, DEFAULT_JWT_AUDIENCE, Org};

use crate::Ctx;
use crate::auth::Operator;
use crate::error::{ApiError, parse_json};
use crate::validate;

/// `POST /api/v1/orgs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrg {
    id: String,
    name: String,
    /// The Microsoft tenant of the org's Exchange users; absent for a Google Workspace only org.
    #[serde(default)]
    graph: Option<GraphCredentials>,
    salesforce: SalesforceCredentials,
    /// The Google Workspace of the org's Gmail users (G1); absent for Exchange only.
    #[serde(default)]
    google: Option<GoogleCredentials>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GraphCredentials {
    tenant_id: String,
    client_id: String,
    client_secret: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SalesforceCredentials {
    login_url: String,
    consumer_key: String,
    private_key_pem: String,
    username: String,
    org_id: String,
    /// `https://login.salesforce.com` (default), `https://test.salesforce.com` for a sandbox,
    /// or the org's My Domain URL.
    #[serde(default)]
    jwt_audience: Option<String>,
}

/// A service account with domain-wide delegation for the contacts scope: either its key file as
/// Google's console downloads it (`service_account_key`), or its fields one by one.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GoogleCredentials {
    #[serde(default)]
    service_account_key: Option<ServiceAccountKey>,
    #[serde(default)]
    client_email: Option<String>,
    #[serde(default)]
    private_key_pem: Option<String>,
    /// Default `https://oauth2.googleapis.com/token`, or the key file's `token_uri`.
    #[serde(default)]
    token_uri: Option<String>,
    /// Default `https://people.googleapis.com`.
    #[serde(default)]
    api_url: Option<String>,
}

/// The fields of a Google key file this service uses; the others are ignored.
#[derive(Deserialize)]
struct ServiceAccountKey {
    #[serde(rename = "type")]
    kind: String,
    client_email: String,
    private_key: String,
    #[serde(default)]
    token_uri: Option<String>,
}

impl std::fmt::Debug for GoogleCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleCredentials")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

impl GoogleCredentials {
    /// The stored form, every field checked.
    fn resolve(&self) -> Result<orgs::GoogleCredentials, ApiError> {
        let (client_email, private_key_pem, key_token_uri) = match &self.service_account_key {
            Some(key) => {
                if self.client_email.is_some() || self.private_key_pem.is_some() {
                    return Err(ApiError::bad(
                        "google: give either service_account_key or client_email and \
                         private_key_pem, not both",
                    ));
                }
                if key.kind != "service_account" {
                    return Err(ApiError::bad(format!(
                        "google.service_account_key: type must be \"service_account\", not {:?}",
                        key.kind
                    )));
                }
                (
                    key.client_email.clone(),
                    key.private_key.clone(),
                    key.token_uri.clone(),
                )
            }
            None => (
                self.client_email.clone().ok_or_else(|| {
                    ApiError::bad("google.client_email: missing (or give service_account_key)")
                })?,
                self.private_key_pem.clone().ok_or_else(|| {
                    ApiError::bad("google.private_key_pem: missing (or give service_account_key)")
                })?,
                None,
            ),
        };
        validate::text("google.client_email", &client_email)?;
        if !client_email.contains('@') {
            return Err(ApiError::bad(format!(
                "google.client_email: {client_email:?} is not a service account's email"
            )));
        }
        validate::private_key_pem("google.private_key_pem", &private_key_pem)?;
        let pem = secrecy::SecretString::from(private_key_pem.clone());
        http_layer::jwt::RsaSigner::from_pem(&pem).map_err(|e| {
            ApiError::bad(format!(
                "google.private_key_pem: not a usable RSA private key ({e})"
            ))
        })?;
        let token_uri = self
            .token_uri
            .clone()
            .or(key_token_uri)
            .unwrap_or_else(|| orgs::GOOGLE_TOKEN_URI.to_owned());
        validate::http_url("google.token_uri", &token_uri)?;
        let api_url = self
            .api_url
            .clone()
            .unwrap_or_else(|| orgs::GOOGLE_API_URL.to_owned());
        validate::http_url("google.api_url", &api_url)?;
        Ok(orgs::GoogleCredentials {
            client_email: client_email.trim().to_owned(),
            private_key_pem,
            token_uri: token_uri.trim().trim_end_matches('/').to_owned(),
            api_url: api_url.trim().trim_end_matches('/').to_owned(),
        })
    }
}

// Hand-written so a secret can never reach a log line through `{:?}`.
impl std::fmt::Debug for GraphCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphCredentials")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for SalesforceCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SalesforceCredentials")
            .field("login_url", &self.login_url)
            .field("username", &self.username)
            .field("org_id", &self.org_id)
            .field("jwt_audience", &self.jwt_audience)
            .finish_non_exhaustive()
    }
}

impl NewOrg {
    /// Checks every field; returns the Salesforce org id in its 18-character form (B15) and
    /// the Google credentials in their stored form.
    fn validate(&self) -> Result<(SalesforceId, Option<orgs::GoogleCredentials>), ApiError> {
        validate::id("id", &self.id)?;
        validate::text("name", &self.name)?;
        match &self.graph {
            Some(graph) => {
                validate::text("graph.tenant_id", &graph.tenant_id)?;
                validate::text("graph.client_id", &graph.client_id)?;
                validate::text("graph.client_secret", &graph.client_secret)?;
            }
            None if self.google.is_none() => {
                return Err(ApiError::bad(
                    "graph: an org needs a mailbox side: `graph` (a Microsoft tenant, for \
                     Exchange users), `google` (a Google Workspace, for Gmail users), or both",
                ));
            }
            None => {}
        }
        validate::http_url("salesforce.login_url", &self.salesforce.login_url)?;
        validate::text("salesforce.consumer_key", &self.salesforce.consumer_key)?;
        validate::private_key_pem(
            "salesforce.private_key_pem",
            &self.salesforce.private_key_pem,
        )?;
        // Parsed now, so a bad key is refused here rather than failing every later login.
        let pem = secrecy::SecretString::from(self.salesforce.private_key_pem.clone());
        salesforce_client::JwtSigner::from_pem(&pem).map_err(|e| {
            ApiError::bad(format!(
                "salesforce.private_key_pem: not a usable RSA private key ({e})"
            ))
        })?;
        validate::text("salesforce.username", &self.salesforce.username)?;
        let id = validate::salesforce_id("salesforce.org_id", &self.salesforce.org_id, "00D")?;
        if let Some(audience) = &self.salesforce.jwt_audience {
            validate::http_url("salesforce.jwt_audience", audience)?;
        }
        let google = self
            .google
            .as_ref()
            .map(GoogleCredentials::resolve)
            .transpose()?;
        Ok((id, google))
    }

    fn into_org(
        self,
        salesforce_org_id: &SalesforceId,
        google: Option<orgs::GoogleCredentials>,
    ) -> Org {
        Org {
            id: self.id,
            name: self.name.trim().to_owned(),
            // An org without a Microsoft tenant stores empty Graph credentials: it has no
            // Exchange users (registering one is refused) and its check skips Graph.
            graph_tenant_id: self
                .graph
                .as_ref()
                .map(|g| g.tenant_id.trim().to_owned())
                .unwrap_or_default(),
            graph_client_id: self
                .graph
                .as_ref()
                .map(|g| g.client_id.trim().to_owned())
                .unwrap_or_default(),
            graph_client_secret: self.graph.map(|g| g.client_secret).unwrap_or_default(),
            salesforce_login_url: self.salesforce.login_url.trim().to_owned(),
            salesforce_consumer_key: self.salesforce.consumer_key.trim().to_owned(),
            salesforce_private_key_pem: self.salesforce.private_key_pem,
            salesforce_username: self.salesforce.username.trim().to_owned(),
            salesforce_org_id: salesforce_org_id.to_string(),
            salesforce_jwt_audience: self
                .salesforce
                .jwt_audience
                .map(|a| a.trim().trim_end_matches('/').to_owned())
                .unwrap_or_else(|| DEFAULT_JWT_AUDIENCE.to_owned()),
            google,
        }
    }
}

/// The 422 of an org that failed its check: every problem with its fix.
fn check_failed(org_id: &str, problems: &[Problem]) -> ApiError {
    let mut details = serde_json::Map::new();
    details.insert(
        "problems".into(),
        serde_json::to_value(problems).unwrap_or_default(),
    );
    let first = problems
        .first()
        .map(|p| format!("{}: {}. Fix: {}", p.check, p.message, p.fix))
        .unwrap_or_default();
    ApiError::Unprocessable {
        code: "org_check_failed",
        message: format!(
            "org {org_id} failed its check ({} problem{}); first: {first}",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        ),
        details,
    }
}

/// Checks, then creates (201) or replaces (200) an org; answers with what is stored, secrets
/// left out. An org that fails its check is not stored (a replaced org keeps its old
/// credentials): 422 `org_check_failed`.
#[tracing::instrument(skip_all)]
pub async fn put_org(
    _: Operator,
    State(ctx): State<Arc<Ctx>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let new: NewOrg = parse_json(&body?)?;
    let (salesforce_org_id, google) = new.validate()?;
    let org = new.into_org(&salesforce_org_id, google);
    let problems = org_check::check(&ctx.clients, &org).await;
    if !problems.is_empty() {
        return Err(check_failed(&org.id, &problems));
    }
    let now = chrono::Utc::now();
    let mut client = ctx.pool.get().await.map_err(StateError::from)?;
    let tx = client.transaction().await?;
    let existed = sync_state::orgs::view(&*tx, &org.id).await?.is_some();
    orgs::put_org(&*tx, ctx.clients.cipher(), &org).await?;
    let intervals = ctx.settings.org_checks;
    org_checks::record(
        &*tx,
        &org.id,
        &[],
        now,
        org_check::next_check(now, true, intervals.ready, intervals.failing),
    )
    .await?;
    tx.commit().await?;
    // Credentials may have changed: the next use builds clients (and logs in) afresh.
    ctx.clients.invalidate(&org.id);
    let stored = view(&**client, &org.id).await?;
    tracing::info!(org_id = %org.id, replaced = existed, "Stored an org that passed its check.");
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(stored)).into_response())
}

/// An org as the API shows it: the stored settings and its last check.
async fn view(
    client: &(impl tokio_postgres::GenericClient + Sync),
    id: &str,
) -> Result<serde_json::Value, ApiError> {
    let org = sync_state::orgs::view(client, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("org {id}")))?;
    let check = org_checks::get(client, id).await?;
    let mut value = serde_json::to_value(org)
        .map_err(|e| ApiError::Internal(format!("org {id} does not serialize: {e}")))?;
    value["check"] = check_view(check.as_ref());
    Ok(value)
}

fn check_view(check: Option<&org_checks::OrgCheck>) -> serde_json::Value {
    match check {
        Some(c) => serde_json::json!({
            "ready": c.ready,
            "problems": c.problems,
            "checked_at": c.checked_at,
            "next_check_at": c.next_check_at,
        }),
        None => serde_json::json!({ "ready": true, "problems": [], "checked_at": null }),
    }
}

/// `POST /api/v1/orgs/{id}/check`: checks a stored org again now and records the result
/// (200 either way: `ready` says how it went). Users whose sessions waited for the org run
/// on the scheduler's next tick once it passes.
#[tracing::instrument(skip_all, fields(org_id = %id))]
pub async fn check_org(
    _: Operator,
    State(ctx): State<Arc<Ctx>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    {
        let client = ctx.pool.get().await.map_err(StateError::from)?;
        if sync_state::orgs::view(&**client, &id).await?.is_none() {
            return Err(ApiError::not_found(format!("org {id}")));
        }
    }
    let check = org_check::check_and_record(&ctx.pool, &ctx.clients, &id, ctx.settings.org_checks)
        .await
        .map_err(|e| match e {
            pipeline::ClientError::State(e) => ApiError::from(e),
            other => ApiError::Internal(other.to_string()),
        })?;
    let mut body = check_view(Some(&check));
    body["org"] = serde_json::json!(id);
    Ok(Json(body).into_response())
}

/// `GET /api/v1/orgs`.
pub async fn list_orgs(_: Operator, State(ctx): State<Arc<Ctx>>) -> Result<Response, ApiError> {
    let client = ctx.pool.get().await.map_err(StateError::from)?;
    let orgs = sync_state::orgs::views(&**client).await?;
    Ok(Json(serde_json::json!({ "orgs": orgs })).into_response())
}

/// `GET /api/v1/orgs/{id}`: the org with its last check.
pub async fn get_org(
    _: Operator,
    State(ctx): State<Arc<Ctx>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let client = ctx.pool.get().await.map_err(StateError::from)?;
    Ok(Json(view(&**client, &id).await?).into_response())
}

/// The dashboard's notice of orgs whose last check failed: their users' sessions wait, and each
/// problem says what to fix. Empty when every org is ready.
pub async fn not_ready_html(ctx: &Ctx) -> Result<String, StateError> {
    use std::fmt::Write as _;

    use crate::html::escape;
    let failing = {
        let client = ctx.pool.get().await?;
        org_checks::not_ready(&**client).await?
    };
    let mut html = String::new();
    for check in failing {
        let _ = write!(
            html,
            "<div class=\"error\"><p>Org <b>{}</b> is not ready: its users' sessions wait \
             until it passes its check (last checked {}, next {}).</p><ul>",
            escape(&check.org_id),
            check
                .checked_at
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default(),
            check.next_check_at.format("%Y-%m-%d %H:%M:%S"),
        );
        for problem in &check.problems {
            let _ = write!(
                html,
                "<li>{}: {} <i>Fix: {}</i></li>",
                escape(&problem.check),
                escape(&problem.message),
                escape(&problem.fix)
            );
        }
        html.push_str("</ul></div>");
    }
    Ok(html)
}
