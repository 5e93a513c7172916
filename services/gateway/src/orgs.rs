//! Admin API for orgs (SPEC §4): a Microsoft tenant paired with a Salesforce org, with their
//! credentials sealed at rest and never echoed.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sync_state::StateError;
use sync_state::orgs::{self, Org};

use crate::Ctx;
use crate::auth::Operator;
use crate::error::{ApiError, parse_json};
use crate::queries;
use crate::validate;

/// `POST /api/v1/orgs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrg {
    id: String,
    name: String,
    graph: GraphCredentials,
    salesforce: SalesforceCredentials,
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
            .finish_non_exhaustive()
    }
}

impl NewOrg {
    fn validate(&self) -> Result<(), ApiError> {
        validate::id("id", &self.id)?;
        validate::text("name", &self.name)?;
        validate::text("graph.tenant_id", &self.graph.tenant_id)?;
        validate::text("graph.client_id", &self.graph.client_id)?;
        validate::text("graph.client_secret", &self.graph.client_secret)?;
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
        validate::salesforce_id("salesforce.org_id", &self.salesforce.org_id, "00D")?;
        Ok(())
    }

    fn into_org(self) -> Org {
        Org {
            id: self.id,
            name: self.name.trim().to_owned(),
            graph_tenant_id: self.graph.tenant_id.trim().to_owned(),
            graph_client_id: self.graph.client_id.trim().to_owned(),
            graph_client_secret: self.graph.client_secret,
            salesforce_login_url: self.salesforce.login_url.trim().to_owned(),
            salesforce_consumer_key: self.salesforce.consumer_key.trim().to_owned(),
            salesforce_private_key_pem: self.salesforce.private_key_pem,
            salesforce_username: self.salesforce.username.trim().to_owned(),
            salesforce_org_id: self.salesforce.org_id,
        }
    }
}

/// Creates (201) or replaces (200) an org; answers with what is stored, secrets left out.
#[tracing::instrument(skip_all)]
pub async fn put_org(
    _: Operator,
    State(ctx): State<Arc<Ctx>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let new: NewOrg = parse_json(&body?)?;
    new.validate()?;
    let org = new.into_org();
    let client = ctx.pool.get().await.map_err(StateError::from)?;
    let existed = queries::org(&**client, &org.id).await?.is_some();
    orgs::put_org(&**client, ctx.clients.cipher(), &org).await?;
    // Credentials may have changed: the next use builds clients (and logs in) afresh.
    ctx.clients.invalidate(&org.id);
    let stored = queries::org(&**client, &org.id)
        .await?
        .ok_or_else(|| ApiError::Internal(format!("org {} vanished after being stored", org.id)))?;
    tracing::info!(org_id = %org.id, replaced = existed, "Stored an org.");
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(stored)).into_response())
}

/// `GET /api/v1/orgs`.
pub async fn list_orgs(_: Operator, State(ctx): State<Arc<Ctx>>) -> Result<Response, ApiError> {
    let client = ctx.pool.get().await.map_err(StateError::from)?;
    let orgs = queries::orgs(&**client).await?;
    Ok(Json(serde_json::json!({ "orgs": orgs })).into_response())
}

/// `GET /api/v1/orgs/{id}`.
pub async fn get_org(
    _: Operator,
    State(ctx): State<Arc<Ctx>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let client = ctx.pool.get().await.map_err(StateError::from)?;
    let org = queries::org(&**client, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("org {id}")))?;
    Ok(Json(org).into_response())
}
