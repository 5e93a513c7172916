//! Configuration of a Salesforce client: login endpoint, connected-app key, API version, knobs.

use std::time::Duration;

use secrecy::SecretString;
use url::Url;

/// The JWT audience of production orgs.
pub const DEFAULT_AUDIENCE: &str = "https://login.salesforce.com";

/// How a [`crate::SalesforceClient`] logs in (JWT bearer flow) and talks to the REST API.
#[derive(Debug, Clone)]
pub struct SalesforceConfig {
    /// Where the token endpoint is: e.g. `https://login.salesforce.com`, a My Domain URL, or
    /// `http://127.0.0.1:8092` (the emulator).
    pub login_url: Url,
    /// The JWT `aud` claim. Salesforce accepts only its authorization server's URL:
    /// `https://login.salesforce.com` (production, the default), `https://test.salesforce.com`
    /// (sandboxes) or the org's My Domain URL, whatever host the token request goes to.
    pub audience: String,
    /// The connected app's consumer key: the JWT `iss`.
    pub consumer_key: String,
    /// PEM (PKCS#8 or PKCS#1) RSA key whose certificate is on the connected app.
    pub private_key_pem: SecretString,
    /// The user the client acts as by default (the integration user); `for_user` switches.
    pub username: String,
    /// e.g. `v60.0`.
    pub api_version: String,
    /// `Sforce-Query-Options: batchSize` (200–2000).
    pub query_batch_size: u32,
    pub request_timeout: Duration,
    /// Retries of one call after the first attempt (and rounds for retryable collection items).
    pub max_retries: usize,
    /// Cap on any single wait, whatever `Retry-After` asks for.
    pub max_retry_after: Duration,
    /// First backoff delay when the server gives no `Retry-After`.
    pub min_backoff: Duration,
    /// JWT `exp` distance from now; Salesforce allows at most about three minutes.
    pub jwt_lifetime: Duration,
}

impl SalesforceConfig {
    /// A configuration with default knobs (production audience, v60.0, batch 2000, 60 s timeout, 4 retries, 30 s cap).
    pub fn new(
        login_url: Url,
        consumer_key: impl Into<String>,
        private_key_pem: SecretString,
        username: impl Into<String>,
    ) -> Self {
        Self {
            login_url,
            audience: DEFAULT_AUDIENCE.to_owned(),
            consumer_key: consumer_key.into(),
            private_key_pem,
            username: username.into(),
            api_version: "v60.0".to_owned(),
            query_batch_size: 2000,
            request_timeout: Duration::from_secs(60),
            max_retries: 4,
            max_retry_after: Duration::from_secs(30),
            min_backoff: Duration::from_millis(200),
            jwt_lifetime: Duration::from_secs(170),
        }
    }
}
