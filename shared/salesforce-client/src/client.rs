//! The Salesforce client core: JWT bearer login per user, cached sessions, and the retrying
//! `send` that also records the `Sforce-Limit-Info` API usage.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};
use http_layer::oauth::request_token;
use http_layer::{Api, Backoff, HttpLayer, Response, RetryPolicy};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Method;
use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tracing::debug;
use url::Url;

use crate::config::SalesforceConfig;
use crate::error::{ApiError, Disposition, SalesforceError, classify};
use crate::jwt::JwtSigner;

/// Everything but RFC 3986 unreserved characters is escaped in ids and query values.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub(crate) fn enc(value: &str) -> String {
    utf8_percent_encode(value, COMPONENT).to_string()
}

/// The org's API usage as last reported in `Sforce-Limit-Info: api-usage=used/max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiUsage {
    pub used: u64,
    pub max: u64,
}

/// Parses the `api-usage=N/M` item of a `Sforce-Limit-Info` header (other items may follow).
pub fn parse_limit_info(value: &str) -> Option<ApiUsage> {
    value.split(',').find_map(|item| {
        let (used, max) = item.trim().strip_prefix("api-usage=")?.split_once('/')?;
        Some(ApiUsage {
            used: used.trim().parse().ok()?,
            max: max.trim().parse().ok()?,
        })
    })
}

#[derive(Deserialize)]
struct LoginResponse {
    access_token: String,
    instance_url: String,
}

#[derive(Clone)]
struct Session {
    access_token: SecretString,
    instance_url: String,
}

type SessionSlot = Arc<tokio::sync::Mutex<Option<Session>>>;

struct Inner {
    /// The connection pool and the retry policy.
    layer: HttpLayer,
    config: SalesforceConfig,
    signer: JwtSigner,
    /// One slot per username; each slot's lock is held across its login so that concurrent
    /// callers for one user wait for a single login, while other users are not blocked.
    sessions: Mutex<HashMap<String, SessionSlot>>,
    api_usage: Mutex<Option<ApiUsage>>,
    /// The `Date` of the last response and when it arrived: the server's clock, which sizes
    /// replication windows (ours may be off; Salesforce judges windows by its own).
    server_clock: Mutex<Option<(DateTime<Utc>, Instant)>>,
}

/// A successful response, read whole.
#[derive(Debug)]
pub(crate) struct Reply {
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json<T: DeserializeOwned>(&self, what: &'static str) -> Result<T, SalesforceError> {
        serde_json::from_slice(&self.body)
            .map_err(|source| SalesforceError::Decode { what, source })
    }
}

/// A Salesforce REST client for one connected app, acting as one user.
///
/// Cheap to clone; [`SalesforceClient::for_user`] gives a view acting as another user that shares
/// the HTTP pool, the key and the session cache.
#[derive(Clone)]
pub struct SalesforceClient {
    inner: Arc<Inner>,
    username: Arc<str>,
}

impl std::fmt::Debug for SalesforceClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SalesforceClient")
            .field("login_url", &self.inner.config.login_url.as_str())
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl SalesforceClient {
    /// Builds the client and parses the key (a bad key fails here, not at the first call).
    pub fn new(config: SalesforceConfig) -> Result<Self, SalesforceError> {
        if config.login_url.cannot_be_a_base() {
            return Err(SalesforceError::Config(
                "login_url must be an absolute url".into(),
            ));
        }
        if !(200..=2000).contains(&config.query_batch_size) {
            return Err(SalesforceError::Config(
                "query_batch_size must be 200..=2000".into(),
            ));
        }
        let signer = JwtSigner::from_pem(&config.private_key_pem)?;
        let policy = RetryPolicy {
            max_retries: config.max_retries,
            min_backoff: config.min_backoff,
            max_wait: config.max_retry_after,
        };
        let layer = HttpLayer::new(policy, config.request_timeout)?;
        let username = Arc::from(config.username.as_str());
        Ok(Self {
            inner: Arc::new(Inner {
                layer,
                config,
                signer,
                sessions: Mutex::new(HashMap::new()),
                api_usage: Mutex::new(None),
                server_clock: Mutex::new(None),
            }),
            username,
        })
    }

    /// The same client acting as `username` (its own session, same connection pool).
    pub fn for_user(&self, username: &str) -> Self {
        Self {
            inner: self.inner.clone(),
            username: Arc::from(username),
        }
    }

    pub fn username(&self) -> &str {
        &self.username
    }

    pub fn config(&self) -> &SalesforceConfig {
        &self.inner.config
    }

    /// The org's API usage from the last response that reported it.
    pub fn last_api_usage(&self) -> Option<ApiUsage> {
        self.inner.api_usage.lock().ok().and_then(|g| *g)
    }

    /// The server's clock: the `Date` of the last response plus the time since it arrived;
    /// `None` before any response carried one.
    pub fn server_now(&self) -> Option<DateTime<Utc>> {
        let (date, at) = (*self.inner.server_clock.lock().ok()?)?;
        Some(date + chrono::Duration::from_std(at.elapsed()).unwrap_or_default())
    }

    /// `/services/data/{version}`: the root every data path hangs under.
    pub(crate) fn data_root(&self) -> String {
        format!("/services/data/{}", self.inner.config.api_version)
    }

    pub(crate) fn max_retries(&self) -> usize {
        self.inner.layer.policy().max_retries
    }

    pub(crate) fn query_batch_size(&self) -> u32 {
        self.inner.config.query_batch_size
    }

    fn slot(&self) -> SessionSlot {
        let mut sessions = match self.inner.sessions.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        sessions
            .entry(self.username.to_string())
            .or_default()
            .clone()
    }

    /// JWT bearer login: no refresh token exists, so an expired session means a new login.
    async fn login(&self) -> Result<Session, SalesforceError> {
        let config = &self.inner.config;
        let login = config.login_url.as_str().trim_end_matches('/');
        let assertion = self.inner.signer.assertion(
            &config.consumer_key,
            &self.username,
            config.audience.trim_end_matches('/'),
            Utc::now(),
            config.jwt_lifetime,
        )?;
        let url = Url::parse(&format!("{login}/services/oauth2/token"))?;
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion.as_str()),
        ];
        let parsed: LoginResponse = request_token(self.inner.layer.http(), url, &form).await?;
        let instance = Url::parse(&parsed.instance_url)?;
        if !matches!(instance.scheme(), "http" | "https") || instance.cannot_be_a_base() {
            return Err(SalesforceError::ForeignLink(parsed.instance_url));
        }
        debug!(username = %self.username, "Logged in to Salesforce");
        Ok(Session {
            access_token: SecretString::from(parsed.access_token),
            instance_url: parsed.instance_url.trim_end_matches('/').to_owned(),
        })
    }

    /// A fresh backoff for rounds of retries outside [`Self::send`] (a collection's locked rows).
    pub(crate) fn backoff(&self) -> Backoff {
        self.inner.layer.policy().backoff()
    }

    fn record_server_date(&self, headers: &HeaderMap) {
        let date = headers
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| DateTime::parse_from_rfc2822(v).ok())
            .map(|d| d.to_utc());
        if let (Some(date), Ok(mut slot)) = (date, self.inner.server_clock.lock()) {
            *slot = Some((date, Instant::now()));
        }
    }

    fn record_usage(&self, headers: &HeaderMap) {
        let usage = headers
            .get("sforce-limit-info")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_limit_info);
        if let (Some(usage), Ok(mut slot)) = (usage, self.inner.api_usage.lock()) {
            *slot = Some(usage);
        }
    }

    /// Sends one call to `{instance_url}{path_and_query}` (a `/services/data/...` path) with
    /// retries (transport, 429/5xx/lock honouring `Retry-After`, capped) and one re-login on 401.
    /// A non-idempotent call (a create) is resent only when it provably did not take effect.
    pub(crate) async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&serde_json::Value>,
        headers: &[(&str, String)],
        idempotent: bool,
    ) -> Result<Reply, SalesforceError> {
        let absolute =
            path_and_query.starts_with("http://") || path_and_query.starts_with("https://");
        if !absolute && !path_and_query.starts_with("/services/") {
            return Err(SalesforceError::ForeignLink(path_and_query.to_owned()));
        }
        let layer = &self.inner.layer;
        let response = layer
            .send(&Auth(self), idempotent, |session| {
                let url = if absolute {
                    // Only a link on the session's own instance ever gets the session token.
                    let url = Url::parse(path_and_query)?;
                    let instance = Url::parse(&session.instance_url)?;
                    let same_origin = url.scheme() == instance.scheme()
                        && url.host_str() == instance.host_str()
                        && url.port_or_known_default() == instance.port_or_known_default();
                    if !same_origin || !url.path().starts_with("/services/") {
                        return Err(SalesforceError::ForeignLink(path_and_query.to_owned()));
                    }
                    url
                } else {
                    Url::parse(&format!("{}{path_and_query}", session.instance_url))?
                };
                let mut request = layer
                    .http()
                    .request(method.clone(), url)
                    .bearer_auth(session.access_token.expose_secret());
                for (name, value) in headers {
                    request = request.header(*name, value);
                }
                Ok(match body {
                    Some(body) => request.json(body),
                    None => request,
                })
            })
            .await?;
        Ok(Reply {
            body: response.body,
        })
    }
}

/// The client as the HTTP layer sees it: this user's session and how Salesforce's errors read.
/// Private, so that the session methods stay out of the client's public API.
struct Auth<'a>(&'a SalesforceClient);

impl Api for Auth<'_> {
    type Credential = Session;
    type Error = SalesforceError;
    const NAME: &'static str = "Salesforce";

    /// This user's session, from its slot, else from a JWT bearer login.
    async fn credential(&self) -> Result<Session, SalesforceError> {
        let slot = self.0.slot();
        let mut guard = slot.lock().await;
        if let Some(session) = guard.as_ref() {
            return Ok(session.clone());
        }
        let session = self.0.login().await?;
        *guard = Some(session.clone());
        Ok(session)
    }

    /// Forgets the session if it is still the one that was refused.
    async fn invalidate(&self, refused: &Session) {
        let slot = self.0.slot();
        let mut guard = slot.lock().await;
        if guard
            .as_ref()
            .is_some_and(|s| s.access_token.expose_secret() == refused.access_token.expose_secret())
        {
            *guard = None;
        }
    }

    fn disposition(error: &SalesforceError) -> Disposition {
        error.disposition()
    }

    fn classify(&self, response: &Response) -> Disposition {
        classify(response.status, &response.headers, &response.body)
    }

    fn failure(&self, response: Response, _disposition: Disposition) -> SalesforceError {
        SalesforceError::Api(ApiError::from_response(
            response.status,
            &response.headers,
            &response.body,
        ))
    }

    /// Every answer, success or not, reports the org's API usage and the server's clock.
    fn observe(&self, headers: &HeaderMap) {
        self.0.record_usage(headers);
        self.0.record_server_date(headers);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_info_yields_the_api_usage() {
        assert_eq!(
            parse_limit_info("api-usage=10018/100000"),
            Some(ApiUsage {
                used: 10018,
                max: 100000
            })
        );
        assert_eq!(
            parse_limit_info("per-app-api-usage=17/250(appName=x), api-usage=25/5000"),
            Some(ApiUsage {
                used: 25,
                max: 5000
            })
        );
        assert_eq!(parse_limit_info("api-usage=lots"), None);
    }
}
