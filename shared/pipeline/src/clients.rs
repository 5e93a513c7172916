//! Graph, Salesforce and (for orgs with Gmail users) Google clients per org, built from the org's sealed credentials on first use and
//! kept, so tokens are cached across sessions; and each org's Salesforce API usage as those
//! clients last saw it: exported for `/metrics`, and recorded in PostgreSQL (small changes at
//! most every [`USAGE_RECORD_EVERY`] per org and process) for the scheduler's API budget (issue
//! 11 §4).

use std::collections::HashMap;
use std::sync::Arc;

use google_client::{GoogleClient, GoogleConfig};
use graph_client::{GraphClient, GraphConfig};
use parking_lot::Mutex;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _};
use prometheus_client::metrics::gauge::ConstGauge;
use salesforce_client::{ApiUsage, SalesforceClient, SalesforceConfig};
use secrecy::SecretString;
use sync_state::StateError;
use sync_state::orgs::{self, Org};
use sync_state::secrets::Cipher;

/// One HTTP attempt of an org check: an operator waits for the answer.
const CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);
/// The longest pause before a check's one retry.
const CHECK_MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// An org's changed API usage is written to the database at most this often per process: the
/// budget moves over a day, and a busy worker must not add a write per Salesforce call.
pub const USAGE_RECORD_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Whether a usage differs enough from the one recorded `since` ago to be written: any change
/// once [`USAGE_RECORD_EVERY`] has passed, and at once a move of 1 % of the limit or more (or a
/// new limit), so the database never lags the budget by more than that.
fn worth_recording(last: &ApiUsage, now: &ApiUsage, since: std::time::Duration) -> bool {
    if last == now {
        return false;
    }
    since >= USAGE_RECORD_EVERY
        || last.max != now.max
        || last.used.abs_diff(now.used) >= (now.max / 100).max(1)
}

/// Why an org's clients could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("org {org}: {reason}")]
    Config { org: String, reason: String },
}

impl ClientError {
    /// What to do next: a state error's own disposition; an org without usable credentials is
    /// for an operator.
    pub fn disposition(&self) -> sync_state::Disposition {
        match self {
            ClientError::State(e) => e.disposition(),
            ClientError::Config { .. } => sync_state::Disposition::Fatal,
        }
    }
}

struct Entry {
    graph: Arc<GraphClient>,
    salesforce: Arc<SalesforceClient>,
    /// `None` for an org without a Google Workspace service account.
    google: Option<Arc<GoogleClient>>,
}

type Cache = Arc<Mutex<HashMap<String, Arc<Entry>>>>;

/// What this process last recorded of each org's usage, and when.
type Recorded = Mutex<HashMap<String, (ApiUsage, std::time::Instant)>>;

/// The clients of every org this process has served.
pub struct OrgClients {
    pool: store::Pool,
    cipher: Cipher,
    graph_api_url: url::Url,
    graph_login_url: url::Url,
    cache: Cache,
    recorded: Recorded,
}

impl OrgClients {
    /// Clients from the common settings (Graph URLs) and the key sealing org credentials.
    pub fn new(
        pool: store::Pool,
        common: &config::CommonSettings,
        key: &config::CredentialKey,
    ) -> Result<Self, ClientError> {
        let cipher = Cipher::from_base64(key.expose()).map_err(|e| ClientError::Config {
            org: "*".into(),
            reason: e.to_string(),
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
            cache: Cache::default(),
            recorded: Recorded::default(),
        })
    }

    /// Records in PostgreSQL each org's Salesforce API usage that changed since this process
    /// last recorded it (within [`USAGE_RECORD_EVERY`] of the last write, only a move of 1 % of
    /// the limit or more): what the
    /// scheduler's budget reads. Called after every delivery a service handles (cheap when
    /// nothing changed: no database call); a failure is logged and tried again next time.
    pub async fn record_api_usage(&self) {
        let now = std::time::Instant::now();
        let due: Vec<(String, ApiUsage)> = {
            let cache = self.cache.lock();
            let recorded = self.recorded.lock();
            cache
                .iter()
                .filter_map(|(org, entry)| Some((org, entry.salesforce.last_api_usage()?)))
                .filter(|(org, usage)| {
                    recorded.get(*org).is_none_or(|(last, at)| {
                        worth_recording(last, usage, now.duration_since(*at))
                    })
                })
                .map(|(org, usage)| (org.clone(), usage))
                .collect()
        };
        if due.is_empty() {
            return;
        }
        let client = match self.pool.get().await {
            Ok(client) => client,
            Err(e) => {
                tracing::warn!(error = %e, "Could not record the orgs' Salesforce API usage.");
                return;
            }
        };
        let reported_at = chrono::Utc::now();
        for (org, usage) in due {
            let used = i64::try_from(usage.used).unwrap_or(i64::MAX);
            let limit = i64::try_from(usage.max).unwrap_or(i64::MAX);
            match sync_state::api_budget::record(&**client, &org, used, limit, reported_at).await {
                Ok(()) => {
                    self.recorded.lock().insert(org, (usage, now));
                }
                Err(e) => {
                    tracing::warn!(org_id = %org, error = %e, "Could not record the org's Salesforce API usage.");
                }
            }
        }
    }

    /// Exports `contactsync_salesforce_api_requests_used{org}` and `…_limit{org}`: the org's
    /// daily API requests as Salesforce reported them (`Sforce-Limit-Info`) on the last response
    /// this process received, read at each scrape. Orgs this process has not called are absent.
    pub fn register_metrics(&self, metrics: &telemetry::Metrics) {
        metrics.register_collector(Box::new(ApiUsageCollector {
            cache: Arc::clone(&self.cache),
        }));
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
        let built = Arc::new(self.build(&org, |_, _| {})?);
        // Concurrent first deliveries each built one: all use the first kept, so an org has
        // one token cache (Graph's app token, Google's per-user tokens) and one set of mailbox
        // gates per process (Graph's 4 in flight per mailbox hold only if every call on the
        // mailbox passes the same gate).
        let kept = Arc::clone(self.cache.lock().entry(org_id.to_owned()).or_insert(built));
        Ok(kept)
    }

    /// Clients for `org`; `tune` adjusts their knobs before they are built.
    fn build(
        &self,
        org: &Org,
        tune: impl FnOnce(&mut GraphConfig, &mut SalesforceConfig),
    ) -> Result<Entry, ClientError> {
        let config_error = |reason: String| ClientError::Config {
            org: org.id.clone(),
            reason,
        };
        let mut graph_config = GraphConfig::new(
            self.graph_api_url.clone(),
            self.graph_login_url.clone(),
            org.graph_tenant_id.clone(),
            org.graph_client_id.clone(),
            SecretString::from(org.graph_client_secret.clone()),
        );
        let login_url = url::Url::parse(&org.salesforce_login_url)
            .map_err(|e| config_error(format!("salesforce login url: {e}")))?;
        let mut salesforce_config = SalesforceConfig::new(
            login_url,
            org.salesforce_consumer_key.clone(),
            SecretString::from(org.salesforce_private_key_pem.clone()),
            org.salesforce_username.clone(),
        );
        salesforce_config.audience = org.salesforce_jwt_audience.clone();
        tune(&mut graph_config, &mut salesforce_config);
        let graph = GraphClient::new(graph_config).map_err(|e| config_error(e.to_string()))?;
        let salesforce =
            SalesforceClient::new(salesforce_config).map_err(|e| config_error(e.to_string()))?;
        let google = match &org.google {
            Some(credentials) => {
                let mut config = GoogleConfig::new(
                    credentials.client_email.clone(),
                    SecretString::from(credentials.private_key_pem.clone()),
                );
                config.token_uri = url::Url::parse(&credentials.token_uri)
                    .map_err(|e| config_error(format!("google token uri: {e}")))?;
                config.api_base = url::Url::parse(&credentials.api_url)
                    .map_err(|e| config_error(format!("google api url: {e}")))?;
                let client =
                    GoogleClient::new(config).map_err(|e| config_error(format!("google: {e}")))?;
                Some(Arc::new(client))
            }
            None => None,
        };
        Ok(Entry {
            graph: Arc::new(graph),
            salesforce: Arc::new(salesforce),
            google,
        })
    }

    /// Fresh clients for `org` (no cached token or session) that give up quickly, for a check
    /// of its credentials that an operator waits for.
    pub fn for_check(&self, org: &Org) -> Result<(GraphClient, SalesforceClient), ClientError> {
        let entry = self.build(org, |graph, salesforce| {
            graph.max_retries = 1;
            graph.request_timeout = CHECK_TIMEOUT;
            graph.max_retry_after = CHECK_MAX_WAIT;
            graph.max_throttled_wait = CHECK_MAX_WAIT;
            salesforce.max_retries = 1;
            salesforce.request_timeout = CHECK_TIMEOUT;
            salesforce.max_retry_after = CHECK_MAX_WAIT;
        })?;
        Ok((
            Arc::unwrap_or_clone(entry.graph),
            Arc::unwrap_or_clone(entry.salesforce),
        ))
    }

    /// The org's Graph client.
    pub async fn graph(&self, org_id: &str) -> Result<Arc<GraphClient>, ClientError> {
        Ok(Arc::clone(&self.entry(org_id).await?.graph))
    }

    /// The org's Google client (its service account, G1); a configuration error for an org
    /// without one.
    pub async fn google(&self, org_id: &str) -> Result<Arc<GoogleClient>, ClientError> {
        self.entry(org_id)
            .await?
            .google
            .clone()
            .ok_or_else(|| ClientError::Config {
                org: org_id.to_owned(),
                reason: "no Google Workspace service account is registered for its Gmail users"
                    .to_owned(),
            })
    }

    /// The org's Salesforce client (as its integration user).
    pub async fn salesforce(&self, org_id: &str) -> Result<Arc<SalesforceClient>, ClientError> {
        Ok(Arc::clone(&self.entry(org_id).await?.salesforce))
    }
}

/// Which figure of an [`ApiUsage`] a family reports.
type UsageField = fn(&ApiUsage) -> u64;

const API_REQUESTS_USED: &str = "salesforce_api_requests_used";
const API_REQUESTS_LIMIT: &str = "salesforce_api_requests_limit";

/// Reads the API usage of every cached Salesforce client at scrape time.
struct ApiUsageCollector {
    cache: Cache,
}

impl std::fmt::Debug for ApiUsageCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiUsageCollector")
    }
}

impl Collector for ApiUsageCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut usage: Vec<(String, ApiUsage)> = self
            .cache
            .lock()
            .iter()
            .filter_map(|(org, entry)| Some((org.clone(), entry.salesforce.last_api_usage()?)))
            .collect();
        if usage.is_empty() {
            return Ok(());
        }
        usage.sort_by(|a, b| a.0.cmp(&b.0));
        let families: [(&str, &str, UsageField); 2] = [
            (
                API_REQUESTS_USED,
                "Daily API requests the org has used, as Salesforce last reported (Sforce-Limit-Info)",
                |u| u.used,
            ),
            (
                API_REQUESTS_LIMIT,
                "The org's daily API request limit, as Salesforce last reported (Sforce-Limit-Info)",
                |u| u.max,
            ),
        ];
        for (name, help, value) in families {
            let gauge_type = ConstGauge::new(0i64).metric_type();
            let mut family = encoder.encode_descriptor(name, help, None, gauge_type)?;
            for (org, usage) in &usage {
                let labels = [("org", org.as_str())];
                let gauge = ConstGauge::new(i64::try_from(value(usage)).unwrap_or(i64::MAX));
                gauge.encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(used: u64, max: u64) -> ApiUsage {
        ApiUsage { used, max }
    }

    #[test]
    fn usage_is_recorded_when_it_moved_a_percent_or_the_pause_has_passed() {
        let second = std::time::Duration::from_secs(1);
        let last = usage(1_000, 100_000);
        assert!(!worth_recording(&last, &last, USAGE_RECORD_EVERY * 10));
        assert!(!worth_recording(&last, &usage(1_999, 100_000), second));
        assert!(worth_recording(
            &last,
            &usage(1_999, 100_000),
            USAGE_RECORD_EVERY
        ));
        assert!(worth_recording(&last, &usage(2_000, 100_000), second));
        assert!(worth_recording(&last, &usage(95_000, 100_000), second));
        assert!(worth_recording(&last, &usage(1_000, 200_000), second));
        assert!(worth_recording(&usage(1, 50), &usage(2, 50), second));
    }
}
