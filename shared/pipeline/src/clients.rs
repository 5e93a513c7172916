//! Graph and Salesforce clients per org, built from the org's sealed credentials on first use and
//! kept, so tokens are cached across sessions.

use std::collections::HashMap;
use std::sync::Arc;

use graph_client::{GraphClient, GraphConfig};
use parking_lot::Mutex;
use salesforce_client::{SalesforceClient, SalesforceConfig};
use secrecy::SecretString;
use sync_state::StateError;
use sync_state::orgs::{self, Org};
use sync_state::secrets::Cipher;

/// Why an org's clients could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("org {org}: {reason}")]
    Config { org: String, reason: String },
}

struct Entry {
    graph: Arc<GraphClient>,
    salesforce: Arc<SalesforceClient>,
}

/// The clients of every org this process has served.
pub struct OrgClients {
    pool: store::Pool,
    cipher: Cipher,
    graph_api_url: url::Url,
    graph_login_url: url::Url,
    cache: Mutex<HashMap<String, Arc<Entry>>>,
}

impl OrgClients {
    /// Clients from the common settings (Graph URLs, encryption key).
    pub fn new(pool: store::Pool, common: &config::CommonSettings) -> Result<Self, ClientError> {
        let cipher = Cipher::from_base64(common.encryption_key.expose()).map_err(|e| {
            ClientError::Config {
                org: "*".into(),
                reason: e.to_string(),
            }
        })?;
        let mut graph_api_url = common.graph_api_url.clone();
        if !graph_api_url
            .path()
            .trim_end_matches('/')
            .ends_with("/v1.0")
        {
            let path = format!("{}/v1.0", graph_api_url.path().trim_end_matches('/'));
            graph_api_url.set_path(&path);
        }
        Ok(OrgClients {
            pool,
            cipher,
            graph_api_url,
            graph_login_url: common.graph_login_url.clone(),
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The cipher sealing org secrets (the admin API stores orgs with it).
    pub fn cipher(&self) -> &Cipher {
        &self.cipher
    }

    /// Forgets an org's clients (its credentials changed).
    pub fn invalidate(&self, org_id: &str) {
        self.cache.lock().remove(org_id);
    }

    async fn entry(&self, org_id: &str) -> Result<Arc<Entry>, ClientError> {
        if let Some(entry) = self.cache.lock().get(org_id) {
            return Ok(Arc::clone(entry));
        }
        let client = self.pool.get().await.map_err(StateError::from)?;
        let (org, _) = orgs::get_org(&**client, &self.cipher, org_id).await?;
        let entry = Arc::new(self.build(&org)?);
        self.cache
            .lock()
            .insert(org_id.to_owned(), Arc::clone(&entry));
        Ok(entry)
    }

    fn build(&self, org: &Org) -> Result<Entry, ClientError> {
        let config_error = |reason: String| ClientError::Config {
            org: org.id.clone(),
            reason,
        };
        let graph = GraphClient::new(GraphConfig::new(
            self.graph_api_url.clone(),
            self.graph_login_url.clone(),
            org.graph_tenant_id.clone(),
            org.graph_client_id.clone(),
            SecretString::from(org.graph_client_secret.clone()),
        ))
        .map_err(|e| config_error(e.to_string()))?;
        let login_url = url::Url::parse(&org.salesforce_login_url)
            .map_err(|e| config_error(format!("salesforce login url: {e}")))?;
        let salesforce = SalesforceClient::new(SalesforceConfig::new(
            login_url,
            org.salesforce_consumer_key.clone(),
            SecretString::from(org.salesforce_private_key_pem.clone()),
            org.salesforce_username.clone(),
        ))
        .map_err(|e| config_error(e.to_string()))?;
        Ok(Entry {
            graph: Arc::new(graph),
            salesforce: Arc::new(salesforce),
        })
    }

    /// The org's Graph client.
    pub async fn graph(&self, org_id: &str) -> Result<Arc<GraphClient>, ClientError> {
        Ok(Arc::clone(&self.entry(org_id).await?.graph))
    }

    /// The org's Salesforce client (as its integration user).
    pub async fn salesforce(&self, org_id: &str) -> Result<Arc<SalesforceClient>, ClientError> {
        Ok(Arc::clone(&self.entry(org_id).await?.salesforce))
    }
}
