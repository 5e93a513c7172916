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
}

impl std::fmt::Debug for Org {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Org")
            .field("id", &self.id)
            .field("graph_tenant_id", &self.graph_tenant_id)
            .field("graph_client_id", &self.graph_client_id)
            .field("salesforce_login_url", &self.salesforce_login_url)
            .field("salesforce_username", &self.salesforce_username)
            .finish_non_exhaustive()
    }
}

/// What the admin API shows of an org: never a secret.
#[derive(Debug, Clone, Serialize)]
pub struct OrgSummary {
    pub id: String,
    pub name: String,
    pub graph_tenant_id: String,
    pub graph_client_id: String,
    pub salesforce_login_url: String,
    pub salesforce_consumer_key: String,
    pub salesforce_username: String,
    pub salesforce_org_id: String,
    pub created_at: DateTime<Utc>,
}

impl Org {
    pub fn summary(&self, created_at: DateTime<Utc>) -> OrgSummary {
        OrgSummary {
            id: self.id.clone(),
            name: self.name.clone(),
            graph_tenant_id: self.graph_tenant_id.clone(),
            graph_client_id: self.graph_client_id.clone(),
            salesforce_login_url: self.salesforce_login_url.clone(),
            salesforce_consumer_key: self.salesforce_consumer_key.clone(),
            salesforce_username: self.salesforce_username.clone(),
            salesforce_org_id: self.salesforce_org_id.clone(),
            created_at,
        }
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
    client
        .execute(
            "INSERT INTO orgs (id, name, graph_tenant_id, graph_client_id, graph_client_secret,
                               salesforce_login_url, salesforce_consumer_key,
                               salesforce_private_key, salesforce_username, salesforce_org_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (id) DO UPDATE SET
                 name = EXCLUDED.name,
                 graph_tenant_id = EXCLUDED.graph_tenant_id,
                 graph_client_id = EXCLUDED.graph_client_id,
                 graph_client_secret = EXCLUDED.graph_client_secret,
                 salesforce_login_url = EXCLUDED.salesforce_login_url,
                 salesforce_consumer_key = EXCLUDED.salesforce_consumer_key,
                 salesforce_private_key = EXCLUDED.salesforce_private_key,
                 salesforce_username = EXCLUDED.salesforce_username,
                 salesforce_org_id = EXCLUDED.salesforce_org_id",
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
            ],
        )
        .await?;
    Ok(())
}

fn open_org(cipher: &Cipher, row: &Row) -> Result<(Org, DateTime<Utc>), StateError> {
    let open = |column: &str| -> Result<String, StateError> {
        let sealed: Vec<u8> = row.get(column);
        let plain = cipher
            .open(&sealed)
            .map_err(|e| StateError::Invalid(format!("org secret {column}: {e}")))?;
        String::from_utf8(plain)
            .map_err(|_| StateError::Invalid(format!("org secret {column} is not UTF-8")))
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
