//! Configuration of a Google client: the service account's identity and key, the endpoints, and
//! the retry/timeout knobs; read from a service-account key file as Google issues it.

use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use crate::error::GoogleError;

/// Google's token endpoint, the JWT `aud` and the form POST's target.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// The People API's root; paths are `/v1/...` under it.
pub const DEFAULT_API_BASE: &str = "https://people.googleapis.com";
/// The one scope the sync asks for (read and write contacts and contact groups).
pub const CONTACTS_SCOPE: &str = "https://www.googleapis.com/auth/contacts";

/// How a [`crate::GoogleClient`] logs in (service account with domain-wide delegation) and
/// reaches the People API.
///
/// Endpoints are configuration so that tests and the dev stack can point them at the emulator.
#[derive(Debug, Clone)]
pub struct GoogleConfig {
    /// The service account's email: the JWT `iss`.
    pub client_email: String,
    /// PEM (PKCS#8, as Google issues it, or PKCS#1) RSA key of the service account.
    pub private_key_pem: SecretString,
    /// The key's id, sent as the JWT header's `kid` when known.
    pub private_key_id: Option<String>,
    /// The token endpoint; also the JWT `aud`.
    pub token_uri: Url,
    /// e.g. `https://people.googleapis.com` or `http://127.0.0.1:8093`.
    pub api_base: Url,
    /// `pageSize` of connection listings (1–1000).
    pub page_size: u32,
    /// Whole-request timeout of one HTTP attempt.
    pub request_timeout: Duration,
    /// Retries of one call after the first attempt (a re-login does not count).
    pub max_retries: usize,
    /// Cap on any single wait.
    pub max_retry_after: Duration,
    /// First backoff delay: Google's 429 carries no `Retry-After`, so this is the usual wait.
    pub min_backoff: Duration,
}

/// The fields of a service-account key file (`"type": "service_account"`) the client uses; the
/// others (`project_id`, `client_id`, `auth_uri`, certificate URLs) are ignored.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key: Option<String>,
    private_key_id: Option<String>,
    token_uri: Option<String>,
}

impl GoogleConfig {
    /// A configuration with Google's endpoints and the default knobs (page size 1000, 30 s
    /// timeout, 5 retries from 500 ms backoff, 30 s cap).
    pub fn new(client_email: impl Into<String>, private_key_pem: SecretString) -> Self {
        Self {
            client_email: client_email.into(),
            private_key_pem,
            private_key_id: None,
            token_uri: default_url(DEFAULT_TOKEN_URI),
            api_base: default_url(DEFAULT_API_BASE),
            page_size: 1000,
            request_timeout: Duration::from_secs(30),
            max_retries: 5,
            max_retry_after: Duration::from_secs(30),
            min_backoff: Duration::from_millis(500),
        }
    }

    /// A configuration from the JSON key file Google gives out for a service account. Its
    /// `token_uri` is used when present; the API base stays Google's.
    pub fn from_service_account_json(json: &str) -> Result<Self, GoogleError> {
        let file: KeyFile = serde_json::from_str(json).map_err(|e| {
            GoogleError::Config(format!("not a service-account key file (JSON): {e}"))
        })?;
        if file.kind.as_deref() != Some("service_account") {
            return Err(GoogleError::Config(format!(
                "key file type is {:?}, not \"service_account\"",
                file.kind.unwrap_or_default()
            )));
        }
        let missing = |what: &str| GoogleError::Config(format!("key file has no {what}"));
        let client_email = file
            .client_email
            .filter(|e| !e.is_empty())
            .ok_or_else(|| missing("client_email"))?;
        let private_key = file
            .private_key
            .filter(|k| !k.is_empty())
            .ok_or_else(|| missing("private_key"))?;
        let mut config = Self::new(client_email, SecretString::from(private_key));
        config.private_key_id = file.private_key_id.filter(|k| !k.is_empty());
        if let Some(uri) = file.token_uri.filter(|u| !u.is_empty()) {
            config.token_uri = Url::parse(&uri)
                .map_err(|e| GoogleError::Config(format!("key file token_uri {uri:?}: {e}")))?;
        }
        Ok(config)
    }
}

/// Parses one of the constants above.
fn default_url(constant: &str) -> Url {
    match Url::parse(constant) {
        Ok(url) => url,
        // The constants are valid URLs; a test below proves it.
        Err(e) => unreachable!("{constant} is not a url: {e}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn the_defaults_are_googles_endpoints() {
        let config = GoogleConfig::new("sa@p.iam.gserviceaccount.com", SecretString::from("k"));
        assert_eq!(config.token_uri.as_str(), DEFAULT_TOKEN_URI);
        assert_eq!(config.api_base.as_str(), "https://people.googleapis.com/");
    }

    #[test]
    fn a_service_account_key_file_gives_email_key_and_token_uri() {
        let json = r#"{
          "type": "service_account", "project_id": "p", "private_key_id": "abc123",
          "private_key": "-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----\n",
          "client_email": "sync@p.iam.gserviceaccount.com", "client_id": "1234",
          "auth_uri": "https://accounts.google.com/o/oauth2/auth",
          "token_uri": "http://127.0.0.1:8093/token",
          "universe_domain": "googleapis.com"
        }"#;
        let config = GoogleConfig::from_service_account_json(json).unwrap();
        assert_eq!(config.client_email, "sync@p.iam.gserviceaccount.com");
        assert!(
            config
                .private_key_pem
                .expose_secret()
                .contains("BEGIN PRIVATE KEY")
        );
        assert_eq!(config.private_key_id.as_deref(), Some("abc123"));
        assert_eq!(config.token_uri.as_str(), "http://127.0.0.1:8093/token");
    }

    #[test]
    fn other_files_are_refused_with_the_reason() {
        let err =
            GoogleConfig::from_service_account_json(r#"{"type":"authorized_user"}"#).unwrap_err();
        assert!(err.to_string().contains("authorized_user"), "{err}");
        let err = GoogleConfig::from_service_account_json(
            r#"{"type":"service_account","private_key":"k"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("client_email"), "{err}");
        let err = GoogleConfig::from_service_account_json("nope").unwrap_err();
        assert!(err.to_string().contains("JSON"), "{err}");
    }
}
