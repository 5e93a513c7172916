//! The Google client core: the service account's login per user (an RS256 JWT grant, one token
//! per impersonated user, cached), the retrying `send` through the shared HTTP layer, and the
//! per-user lock that keeps one user's mutations sequential.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use http_layer::jwt::{Header, JwtError, RsaSigner};
use http_layer::oauth::{CachedToken, TokenSlot, request_token};
use http_layer::{Api, HttpLayer, Response, RetryPolicy};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::OwnedMutexGuard;
use tracing::debug;
use url::Url;

use crate::config::{CONTACTS_SCOPE, GoogleConfig};
use crate::error::{Disposition, GoogleError, classify};

/// The JWT bearer grant type (RFC 7523).
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Google refuses assertions that live longer than an hour.
const ASSERTION_LIFETIME: Duration = Duration::from_secs(3600);

/// The claims of the service account's assertion for one user.
#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

struct Inner {
    layer: HttpLayer,
    config: GoogleConfig,
    signer: RsaSigner,
    /// One token per user; a slot's lock is held across its login, so that concurrent callers
    /// for one user share one token request while other users are not held up.
    tokens: Mutex<HashMap<String, Arc<TokenSlot>>>,
    /// One lock per user around every mutating call: Google asks for one user's mutations to
    /// be sent sequentially, so concurrent workers for a user queue here instead of failing.
    mutations: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// A People API client for one service account; every call names the user it acts as
/// (domain-wide delegation).
///
/// Cheap to clone: clones share the connection pool, the token cache and the mutation locks.
#[derive(Clone)]
pub struct GoogleClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for GoogleClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleClient")
            .field("client_email", &self.inner.config.client_email)
            .field("api_base", &self.inner.config.api_base.as_str())
            .finish_non_exhaustive()
    }
}

/// A successful (2xx) response body.
pub(crate) struct Reply {
    body: Vec<u8>,
}

impl Reply {
    pub fn json<T: DeserializeOwned>(&self, what: &'static str) -> Result<T, GoogleError> {
        // `{}` or an empty body both mean "nothing": decode them as the empty value.
        let body: &[u8] = if self.body.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &self.body
        };
        serde_json::from_slice(body).map_err(|source| GoogleError::Decode { what, source })
    }
}

impl From<JwtError> for GoogleError {
    fn from(e: JwtError) -> Self {
        GoogleError::Key(e.to_string())
    }
}

/// Locks the map even if a panicking thread poisoned it (the map stays consistent: entries are
/// only ever added).
fn entry<T: Default + Clone>(map: &Mutex<HashMap<String, T>>, key: &str) -> T {
    let mut map = match map.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    };
    map.entry(key.to_owned()).or_default().clone()
}

impl GoogleClient {
    /// Builds the client and parses the key (a bad key fails here, not at the first call).
    pub fn new(config: GoogleConfig) -> Result<Self, GoogleError> {
        for (what, url) in [
            ("token_uri", &config.token_uri),
            ("api_base", &config.api_base),
        ] {
            if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
                return Err(GoogleError::Config(format!(
                    "{what} must be an absolute http(s) url, not {url}"
                )));
            }
        }
        if config.client_email.trim().is_empty() {
            return Err(GoogleError::Config("client_email is empty".into()));
        }
        if !(1..=1000).contains(&config.page_size) {
            return Err(GoogleError::Config("page_size must be 1..=1000".into()));
        }
        let signer = RsaSigner::from_pem(&config.private_key_pem)?;
        let policy = RetryPolicy {
            max_retries: config.max_retries,
            min_backoff: config.min_backoff,
            max_wait: config.max_retry_after,
        };
        let layer = HttpLayer::new(policy, config.request_timeout)?;
        Ok(Self {
            inner: Arc::new(Inner {
                layer,
                config,
                signer,
                tokens: Mutex::new(HashMap::new()),
                mutations: Mutex::new(HashMap::new()),
            }),
        })
    }

    pub fn config(&self) -> &GoogleConfig {
        &self.inner.config
    }

    /// `{api_base}/v1/{path}` with `query` (values form-encoded); `path` must hold only
    /// checked resource names.
    pub(crate) fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<Url, GoogleError> {
        let base = self.inner.config.api_base.as_str().trim_end_matches('/');
        let mut url = Url::parse(&format!("{base}/v1/{path}"))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    /// Waits for the user's turn to mutate; hold the guard across the one call.
    pub(crate) async fn mutation_turn(&self, user: &str) -> OwnedMutexGuard<()> {
        entry(&self.inner.mutations, user).lock_owned().await
    }

    /// Asks the token endpoint for a token of `user`, with a fresh assertion.
    async fn fetch_token(&self, user: &str) -> Result<CachedToken, GoogleError> {
        let config = &self.inner.config;
        let now = Utc::now().timestamp();
        let audience = config.token_uri.as_str();
        let claims = Claims {
            iss: &config.client_email,
            sub: user,
            scope: CONTACTS_SCOPE,
            aud: audience,
            iat: now,
            exp: now + ASSERTION_LIFETIME.as_secs() as i64,
        };
        let header = Header {
            typ: Some("JWT"),
            kid: config.private_key_id.as_deref(),
        };
        let assertion = self.inner.signer.sign(&header, &claims)?;
        let form = [
            ("grant_type", JWT_BEARER),
            ("assertion", assertion.as_str()),
        ];
        let issued = Instant::now();
        let parsed: TokenResponse =
            request_token(self.inner.layer.http(), config.token_uri.clone(), &form)
                .await
                .map_err(|e| GoogleError::from_token(user, e))?;
        debug!(
            user,
            expires_in = parsed.expires_in,
            "Fetched a Google token"
        );
        Ok(CachedToken::new(
            SecretString::from(parsed.access_token),
            parsed.expires_in,
            issued,
        ))
    }

    /// Sends one call as `user`, with retries (transport, 429/5xx with backoff) and one re-login
    /// on 401. GET, PATCH and DELETE are resent after any transient failure; POST only when
    /// `idempotent` says so (a batch update, a delete), since a create may have taken effect.
    pub(crate) async fn send(
        &self,
        user: &str,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        idempotent: bool,
    ) -> Result<Reply, GoogleError> {
        if user.trim().is_empty() {
            return Err(GoogleError::Invalid("the user's email is empty".into()));
        }
        let layer = &self.inner.layer;
        let auth = Auth { client: self, user };
        let response = layer
            .send(&auth, idempotent, |token| {
                let request = layer
                    .http()
                    .request(method.clone(), url.clone())
                    .bearer_auth(token.expose_secret());
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

    /// [`Self::send`] of a mutation: waits for the user's turn first.
    pub(crate) async fn mutate(
        &self,
        user: &str,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        idempotent: bool,
    ) -> Result<Reply, GoogleError> {
        let _turn = self.mutation_turn(user).await;
        self.send(user, method, url, body, idempotent).await
    }

    /// A mutating POST of `body` to `{api_base}/v1/{path}`, its answer decoded as `T`.
    pub(crate) async fn post<T: DeserializeOwned>(
        &self,
        user: &str,
        path: &str,
        body: &serde_json::Value,
        idempotent: bool,
        what: &'static str,
    ) -> Result<T, GoogleError> {
        let url = self.url(path, &[])?;
        self.mutate(user, Method::POST, url, Some(body), idempotent)
            .await?
            .json(what)
    }
}

/// The client, for one user, as the HTTP layer sees it. Private, so that the token methods stay
/// out of the client's public API.
struct Auth<'a> {
    client: &'a GoogleClient,
    user: &'a str,
}

impl Api for Auth<'_> {
    type Credential = SecretString;
    type Error = GoogleError;
    const NAME: &'static str = "Google";

    /// The user's token from the cache while it has time left, else from the token endpoint.
    async fn credential(&self) -> Result<SecretString, GoogleError> {
        entry(&self.client.inner.tokens, self.user)
            .get_or_fetch(|| self.client.fetch_token(self.user))
            .await
    }

    /// Drops the user's cached token if it is still the one that was refused.
    async fn invalidate(&self, refused: &SecretString) {
        entry(&self.client.inner.tokens, self.user)
            .invalidate(refused)
            .await;
    }

    fn disposition(error: &GoogleError) -> Disposition {
        error.disposition()
    }

    fn classify(&self, response: &Response) -> Disposition {
        classify(response.status, &response.headers, &response.body)
    }

    fn failure(&self, response: Response, disposition: Disposition) -> GoogleError {
        GoogleError::from_response(response.status, &response.body, disposition)
    }
}

/// Checks a resource name (`people/c123`, `contactGroups/abc`) before it goes into a path, so
/// that no input can reach another endpoint. A bare id gets the prefix.
pub(crate) fn resource_name(prefix: &str, name: &str) -> Result<String, GoogleError> {
    let id = name
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(name);
    let valid = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return Err(GoogleError::Invalid(format!(
            "{name:?} is not a {prefix}/… resource name"
        )));
    }
    Ok(format!("{prefix}/{id}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn resource_names_are_checked_and_bare_ids_completed() {
        assert_eq!(
            resource_name("people", "people/c123").unwrap(),
            "people/c123"
        );
        assert_eq!(resource_name("people", "c123").unwrap(), "people/c123");
        assert_eq!(
            resource_name("contactGroups", "contactGroups/myContacts").unwrap(),
            "contactGroups/myContacts"
        );
        for bad in [
            "",
            "people/",
            "people/c1/../x",
            "people/c1:deleteContact",
            "people/c 1",
        ] {
            assert!(resource_name("people", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_empty_body_reads_as_the_empty_object() {
        #[derive(Deserialize, Default)]
        struct Nothing {}
        let _: Nothing = Reply { body: Vec::new() }.json("delete").unwrap();
        let _: Nothing = Reply {
            body: b"{}".to_vec(),
        }
        .json("delete")
        .unwrap();
    }
}
