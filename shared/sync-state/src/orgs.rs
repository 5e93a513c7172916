//! Orgs: a Microsoft tenant paired with a Salesforce org, with their credentials sealed at rest.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::{GenericClient, Row};

use crate::StateError;
use crate::secrets::Cipher;

/// An org's credentials, opened for use. `Debug` never shows the secrets.
#[derive(Clone)]
pub struct Org {
    pub id: String,
    pub name: String,
    pub graph_tenant_id: String,
    pub graph_client_id: String,
    pub graph_client_secret: String,
    pub salesforce_login_url: String,
    pub salesforce_consumer_key: String,
    pub salesforce_private_key_pem: String,
    pub salesforce_username: String,
    /// The Salesforce org id (`00D…`) Outbound Messages must carry.
    pub salesforce_org_id: String,
    /// The JWT bearer `aud` the org expects ([`DEFAULT_JWT_AUDIENCE`] for production,
    /// `https://test.salesforce.com` for a sandbox, or its My Domain URL).
    pub salesforce_jwt_audience: String,
    /// The Google Workspace service account its Gmail users are reached through (G1); `None`
    /// for an org without Gmail users.
    pub google: Option<GoogleCredentials>,
}

/// A Google service account with domain-wide delegation for the contacts scope.
#[derive(Clone, PartialEq, Eq)]
pub struct GoogleCredentials {
    pub client_email: String,
    /// The key file's `private_key` (PEM).
    pub private_key_pem: String,
    /// The key file's `token_uri` ([`GOOGLE_TOKEN_URI`] for Google itself).
    pub token_uri: String,
    /// The People API's base URL ([`GOOGLE_API_URL`] for Google itself).
    pub api_url: String,
}

/// Google's OAuth 2.0 token endpoint.
pub const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// The People API's base URL.
pub const GOOGLE_API_URL: &str = "https://people.googleapis.com";

impl std::fmt::Debug for GoogleCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleCredentials")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

/// The JWT audience of a production org.
pub const DEFAULT_JWT_AUDIENCE: &str = "https://login.salesforce.com";

impl Org {
    /// Whether the org has a Microsoft tenant (for Exchange users).
    pub fn has_graph(&self) -> bool {
        !self.graph_tenant_id.is_empty()
    }
}

impl std::fmt::Debug for Org {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Org")
            .field("id", &self.id)
            .field("graph_tenant_id", &self.graph_tenant_id)
            .field("graph_client_id", &self.graph_client_id)
            .field("salesforce_login_url", &self.salesforce_login_url)
            .field("salesforce_username", &self.salesforce_username)
            .field("salesforce_jwt_audience", &self.salesforce_jwt_audience)
            .field("google", &self.google)
            .finish_non_exhaustive()
    }
}

/// Creates or replaces an org, sealing its secrets.
pub async fn put_org(
    client: &(impl GenericClient + Sync),
    cipher: &Cipher,
    org: &Org,
) -> Result<(), StateError> {
    let secret = cipher
        .seal(org.graph_client_secret.as_bytes())
        .map_err(|e| StateError::Invalid(e.to_string()))?;
    let key = cipher
        .seal(org.salesforce_private_key_pem.as_bytes())
        .map_err(|e| StateError::Invalid(e.to_string()))?;
    let google_key = org
        .google
        .as_ref()
        .map(|g| cipher.seal(g.private_key_pem.as_bytes()))
        .transpose()
        .map_err(|e| StateError::Invalid(e.to_string()))?;
    let google = org.google.as_ref();
    client
        .execute(
            "INSERT INTO orgs (id, name, graph_tenant_id, graph_client_id, graph_client_secret,
                               salesforce_login_url, salesforce_consumer_key,
                               salesforce_private_key, salesforce_username, salesforce_org_id,
                               salesforce_jwt_audience, google_client_email,
                               google_private_key, google_token_uri, google_api_url)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
             ON CONFLICT (id) DO UPDATE SET
                 name = EXCLUDED.name,
                 graph_tenant_id = EXCLUDED.graph_tenant_id,
                 graph_client_id = EXCLUDED.graph_client_id,
                 graph_client_secret = EXCLUDED.graph_client_secret,
                 salesforce_login_url = EXCLUDED.salesforce_login_url,
                 salesforce_consumer_key = EXCLUDED.salesforce_consumer_key,
                 salesforce_private_key = EXCLUDED.salesforce_private_key,
                 salesforce_username = EXCLUDED.salesforce_username,
                 salesforce_org_id = EXCLUDED.salesforce_org_id,
                 salesforce_jwt_audience = EXCLUDED.salesforce_jwt_audience,
                 google_client_email = EXCLUDED.google_client_email,
                 google_private_key = EXCLUDED.google_private_key,
                 google_token_uri = EXCLUDED.google_token_uri,
                 google_api_url = EXCLUDED.google_api_url",
            &[
                &org.id,
                &org.name,
                &org.graph_tenant_id,
                &org.graph_client_id,
                &secret,
                &org.salesforce_login_url,
                &org.salesforce_consumer_key,
                &key,
                &org.salesforce_username,
                &org.salesforce_org_id,
                &org.salesforce_jwt_audience,
                &google.map(|g| g.client_email.as_str()),
                &google_key,
                &google.map(|g| g.token_uri.as_str()),
                &google.map(|g| g.api_url.as_str()),
            ],
        )
        .await?;
    Ok(())
}

fn open_org(cipher: &Cipher, row: &Row) -> Result<(Org, DateTime<Utc>), StateError> {
    let open_sealed = |column: &str, sealed: Vec<u8>| -> Result<String, StateError> {
        let plain = cipher
            .open(&sealed)
            .map_err(|e| StateError::Invalid(format!("org secret {column}: {e}")))?;
        String::from_utf8(plain)
            .map_err(|_| StateError::Invalid(format!("org secret {column} is not UTF-8")))
    };
    let open = |column: &str| open_sealed(column, row.get(column));
    let google = match row.get::<_, Option<String>>("google_client_email") {
        Some(client_email) => Some(GoogleCredentials {
            client_email,
            private_key_pem: open("google_private_key")?,
            token_uri: row.get("google_token_uri"),
            api_url: row.get("google_api_url"),
        }),
        None => None,
    };
    Ok((
        Org {
            id: row.get("id"),
            name: row.get("name"),
            graph_tenant_id: row.get("graph_tenant_id"),
            graph_client_id: row.get("graph_client_id"),
            graph_client_secret: open("graph_client_secret")?,
            salesforce_login_url: row.get("salesforce_login_url"),
            salesforce_consumer_key: row.get("salesforce_consumer_key"),
            salesforce_private_key_pem: open("salesforce_private_key")?,
            salesforce_username: row.get("salesforce_username"),
            salesforce_org_id: row.get("salesforce_org_id"),
            salesforce_jwt_audience: row.get("salesforce_jwt_audience"),
            google,
        },
        row.get("created_at"),
    ))
}

/// Reads an org with its secrets opened.
pub async fn get_org(
    client: &(impl GenericClient + Sync),
    cipher: &Cipher,
    id: &str,
) -> Result<(Org, DateTime<Utc>), StateError> {
    let row = client
        .query_opt("SELECT * FROM orgs WHERE id = $1", &[&id])
        .await?
        .ok_or_else(|| StateError::NotFound(format!("org {id}")))?;
    open_org(cipher, &row)
}

/// What the admin API shows of an org: never a secret.
#[derive(Debug, Clone, Serialize)]
pub struct OrgView {
    pub id: String,
    pub name: String,
    /// `None` for an org without a Microsoft tenant (Gmail users only).
    pub graph: Option<GraphView>,
    pub salesforce: SalesforceView,
    /// `None` for an org without a Google Workspace.
    pub google: Option<GoogleView>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GraphView {
    pub tenant_id: String,
    pub client_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SalesforceView {
    pub login_url: String,
    pub consumer_key: String,
    pub username: String,
    pub org_id: String,
    pub jwt_audience: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct GoogleView {
    pub client_email: String,
    pub token_uri: String,
    pub api_url: String,
}

const VIEW_COLUMNS: &str = "id, name, graph_tenant_id, graph_client_id, salesforce_login_url,
     salesforce_consumer_key, salesforce_username, salesforce_org_id, salesforce_jwt_audience,
     google_client_email, google_token_uri, google_api_url, created_at";

fn view_from_row(r: &Row) -> OrgView {
    OrgView {
        id: r.get("id"),
        name: r.get("name"),
        graph: Some(r.get::<_, String>("graph_tenant_id"))
            .filter(|tenant| !tenant.is_empty())
            .map(|tenant_id| GraphView {
                tenant_id,
                client_id: r.get("graph_client_id"),
            }),
        salesforce: SalesforceView {
            login_url: r.get("salesforce_login_url"),
            consumer_key: r.get("salesforce_consumer_key"),
            username: r.get("salesforce_username"),
            org_id: r.get("salesforce_org_id"),
            jwt_audience: r.get("salesforce_jwt_audience"),
        },
        google: r
            .get::<_, Option<String>>("google_client_email")
            .map(|client_email| GoogleView {
                client_email,
                token_uri: r.get("google_token_uri"),
                api_url: r.get("google_api_url"),
            }),
        created_at: r.get("created_at"),
    }
}

/// One org without opening its secrets.
pub async fn view(
    client: &(impl GenericClient + Sync),
    id: &str,
) -> Result<Option<OrgView>, StateError> {
    let row = client
        .query_opt(
            &format!("SELECT {VIEW_COLUMNS} FROM orgs WHERE id = $1"),
            &[&id],
        )
        .await?;
    Ok(row.as_ref().map(view_from_row))
}

/// Every org without its secrets, by id.
pub async fn views(client: &(impl GenericClient + Sync)) -> Result<Vec<OrgView>, StateError> {
    let rows = client
        .query(&format!("SELECT {VIEW_COLUMNS} FROM orgs ORDER BY id"), &[])
        .await?;
    Ok(rows.iter().map(view_from_row).collect())
}

/// `(org id, Salesforce org id)` of every org that has one, for the Outbound Message check.
pub async fn salesforce_org_ids(
    client: &(impl GenericClient + Sync),
) -> Result<Vec<(String, String)>, StateError> {
    let rows = client
        .query(
            "SELECT id, salesforce_org_id FROM orgs WHERE salesforce_org_id <> ''",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}
