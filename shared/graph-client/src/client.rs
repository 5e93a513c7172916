//! The Graph client core: the HTTP layer (pool, retries, re-auth), the cached app token, and
//! `send`, which adds Graph's headers and reads its errors.

use std::sync::Arc;
use std::time::Instant;

use http_layer::oauth::{CachedToken, TokenSlot, request_token};
use http_layer::{Api, Backoff, HttpLayer, Response, RetryPolicy};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Method;
use reqwest::header::LOCATION;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tracing::debug;
use url::Url;

use crate::config::GraphConfig;
use crate::error::{ApiError, Disposition, GraphError, classify};
use crate::gate::{self, Gates};

/// Everything but RFC 3986 unreserved characters is escaped: Graph ids carry `/`, `+` and `=`,
/// which must never be read as path or query syntax.
pub(crate) const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one path segment or query value.
pub(crate) fn enc(value: &str) -> String {
    utf8_percent_encode(value, COMPONENT).to_string()
}

/// Builds `?k=v&…` with values percent-encoded (spaces as `%20`, never `+`, so OData
/// expressions such as `$filter` survive any server's decoder).
pub(crate) fn query_string(pairs: &[(&str, &str)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// `Prefer` value sent on every call: ids that survive moves inside the mailbox.
pub(crate) const PREFER_IMMUTABLE_ID: &str = "IdType=\"ImmutableId\"";

/// The least pause after a 429, so that a `Retry-After: 0` still uses up the throttled wait.
pub(crate) const MIN_THROTTLED_PAUSE: std::time::Duration = std::time::Duration::from_millis(10);

/// A successful (2xx) response, read whole.
#[derive(Debug)]
pub(crate) struct Reply {
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json<T: DeserializeOwned>(&self, what: &'static str) -> Result<T, GraphError> {
        serde_json::from_slice(&self.body).map_err(|source| GraphError::Decode { what, source })
    }
}

/// One page of an OData collection.
#[derive(Debug, Deserialize)]
pub(crate) struct Page<T> {
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
    #[serde(rename = "@odata.nextLink", default)]
    pub next_link: Option<String>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

struct Inner {
    /// The connection pool and the retry policy.
    layer: HttpLayer,
    config: GraphConfig,
    /// Held across the token request so that concurrent callers wait for one login.
    token: TokenSlot,
    /// Graph's per-mailbox concurrency, kept on our side.
    gates: Gates,
}

/// A Microsoft Graph client for one app registration (tenant + client credentials).
///
/// Cheap to clone: clones share the HTTP connection pool and the token cache.
#[derive(Clone)]
pub struct GraphClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("graph_base_url", &self.inner.config.graph_base_url.as_str())
            .field("tenant", &self.inner.config.tenant)
            .finish_non_exhaustive()
    }
}

impl GraphClient {
    /// Builds the client; no network traffic happens until the first call.
    pub fn new(config: GraphConfig) -> Result<Self, GraphError> {
        if config.graph_base_url.cannot_be_a_base() || config.login_base_url.cannot_be_a_base() {
            return Err(GraphError::Config(
                "base urls must be absolute http(s) urls".into(),
            ));
        }
        if config.max_page_size == 0 {
            return Err(GraphError::Config(
                "max_page_size must be at least 1".into(),
            ));
        }
        let policy = RetryPolicy {
            max_retries: config.max_retries,
            min_backoff: config.min_backoff,
            max_wait: config.max_retry_after,
        };
        let layer = HttpLayer::new(policy, config.request_timeout)?;
        let gates = Gates::new(config.mailbox_concurrency);
        Ok(Self {
            inner: Arc::new(Inner {
                layer,
                config,
                token: TokenSlot::default(),
                gates,
            }),
        })
    }

    pub fn config(&self) -> &GraphConfig {
        &self.inner.config
    }

    /// `{graph_base_url}/{path}{query}`; `path` must already have its ids encoded with `enc`.
    pub(crate) fn url(&self, path: &str, query: &str) -> Result<Url, GraphError> {
        let base = self
            .inner
            .config
            .graph_base_url
            .as_str()
            .trim_end_matches('/');
        Ok(Url::parse(&format!("{base}{path}{query}"))?)
    }

    /// Accepts a `nextLink`/`deltaLink` only when it points under the configured Graph base URL.
    pub(crate) fn check_link(&self, link: &str) -> Result<Url, GraphError> {
        let url = Url::parse(link)?;
        let base = &self.inner.config.graph_base_url;
        let same_origin = url.scheme() == base.scheme()
            && url.host_str() == base.host_str()
            && url.port_or_known_default() == base.port_or_known_default();
        if !same_origin {
            return Err(GraphError::ForeignLink(link.to_owned()));
        }
        Ok(url)
    }

    pub(crate) async fn fetch_token(&self) -> Result<CachedToken, GraphError> {
        let config = &self.inner.config;
        let login = config.login_base_url.as_str().trim_end_matches('/');
        let url = Url::parse(&format!(
            "{login}/{}/oauth2/v2.0/token",
            enc(&config.tenant)
        ))?;
        let form = [
            ("client_id", config.client_id.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
            ("client_secret", config.client_secret.expose_secret()),
            ("grant_type", "client_credentials"),
        ];
        let issued = Instant::now();
        let parsed: TokenResponse = request_token(self.inner.layer.http(), url, &form).await?;
        debug!(expires_in = parsed.expires_in, "Fetched a Graph app token");
        Ok(CachedToken::new(
            SecretString::from(parsed.access_token),
            parsed.expires_in,
            issued,
        ))
    }

    /// A fresh backoff for rounds of retries outside [`Self::send`] (a batch's throttled items).
    pub(crate) fn backoff(&self) -> Backoff {
        self.inner.layer.policy().backoff()
    }

    pub(crate) fn max_retries(&self) -> usize {
        self.inner.layer.policy().max_retries
    }

    /// The gates of the mailboxes this client calls.
    pub(crate) fn gates(&self) -> &Gates {
        &self.inner.gates
    }

    /// Sends one Graph call with retries (transport errors, 429/5xx honouring `Retry-After`,
    /// capped) and one re-login on 401. Returns the 2xx reply or a classified error.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        prefer: Option<&str>,
    ) -> Result<Reply, GraphError> {
        let idempotent = method != Method::POST;
        self.send_with(method, url, body, prefer, idempotent).await
    }

    /// [`Self::send`] with the retry policy spelled out: a non-idempotent call (a create) is
    /// resent only after failures that prove it never took effect (no connection, 429, 503).
    /// A call on a mailbox (`/users/{mailbox}/…`) passes that mailbox's gate.
    pub(crate) async fn send_with(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        prefer: Option<&str>,
        idempotent: bool,
    ) -> Result<Reply, GraphError> {
        let mailbox = gate::mailbox_of(url.path());
        let on = mailbox.as_deref().map(|m| (m, 1));
        self.send_on(on, method, url, body, prefer, idempotent)
            .await
    }

    /// [`Self::send_with`] holding `slots` of `mailbox`'s gate (`on`). A 429 that outlasts the
    /// layer's retries pauses the mailbox for its `Retry-After` and the call waits its turn
    /// again, for at most [`GraphConfig::max_throttled_wait`] in all: Outlook's request budget
    /// refills with time, so throttling is a wait, not a failure.
    pub(crate) async fn send_on(
        &self,
        on: Option<(&str, u32)>,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        prefer: Option<&str>,
        idempotent: bool,
    ) -> Result<Reply, GraphError> {
        // The pauses this call asked for (waiting for its turn behind other calls is not counted).
        let mut throttled = std::time::Duration::ZERO;
        loop {
            let entered = std::time::Instant::now();
            let _pass = match on {
                Some((mailbox, slots)) => Some(self.inner.gates.enter(mailbox, slots).await),
                None => None,
            };
            let admitted = std::time::Instant::now();
            let sent = self
                .send_once(method.clone(), url.clone(), body, prefer, idempotent)
                .await;
            let Some((mailbox, slots)) = on else {
                return sent;
            };
            debug!(
                mailbox,
                slots,
                gate_wait_ms = admitted.duration_since(entered).as_millis() as u64,
                request_ms = admitted.elapsed().as_millis() as u64,
                "Mailbox call answered"
            );
            match sent {
                Err(GraphError::Api(e)) if e.status == 429 => {
                    let left = self
                        .inner
                        .config
                        .max_throttled_wait
                        .saturating_sub(throttled);
                    if left.is_zero() {
                        return Err(GraphError::Api(e));
                    }
                    let after = match e.disposition {
                        Disposition::Retry { after: Some(after) } => after,
                        _ => self.inner.config.min_backoff,
                    }
                    .clamp(MIN_THROTTLED_PAUSE, left.max(MIN_THROTTLED_PAUSE));
                    debug!(
                        mailbox,
                        wait_ms = after.as_millis() as u64,
                        "Mailbox throttled; waiting"
                    );
                    throttled += after;
                    self.inner.gates.pause(mailbox, after);
                }
                other => return other,
            }
        }
    }

    /// One call through the layer's retries.
    async fn send_once(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        prefer: Option<&str>,
        idempotent: bool,
    ) -> Result<Reply, GraphError> {
        // One `Prefer` line with comma-separated preferences (RFC 7240), as the Graph SDKs send
        // it when a request carries several.
        let prefer = match prefer {
            Some(extra) => format!("{extra}, {PREFER_IMMUTABLE_ID}"),
            None => PREFER_IMMUTABLE_ID.to_owned(),
        };
        let layer = &self.inner.layer;
        let response = layer
            .send(&Auth(self), idempotent, |token| {
                let request = layer
                    .http()
                    .request(method.clone(), url.clone())
                    .bearer_auth(token.expose_secret())
                    .header("Prefer", &prefer);
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

    /// GETs a collection and follows `@odata.nextLink` to the end.
    pub(crate) async fn get_all<T: DeserializeOwned>(
        &self,
        first: Url,
        what: &'static str,
    ) -> Result<Vec<T>, GraphError> {
        let mut items = Vec::new();
        let mut next = Some(first);
        while let Some(url) = next.take() {
            let page: Page<T> = self.send(Method::GET, url, None, None).await?.json(what)?;
            items.extend(page.value);
            if let Some(link) = page.next_link {
                next = Some(self.check_link(&link)?);
            }
        }
        Ok(items)
    }
}

/// The client as the HTTP layer sees it: the app token and how Graph's errors read. Private, so
/// that the token methods stay out of the client's public API.
struct Auth<'a>(&'a GraphClient);

impl Api for Auth<'_> {
    type Credential = SecretString;
    type Error = GraphError;
    const NAME: &'static str = "Graph";

    /// The app token, from the cache while it has time left, else from the token endpoint; the
    /// lock is held across the request so that concurrent callers wait for one login.
    async fn credential(&self) -> Result<SecretString, GraphError> {
        self.0
            .inner
            .token
            .get_or_fetch(|| self.0.fetch_token())
            .await
    }

    /// Drops the cached token if it is still the one that was refused.
    async fn invalidate(&self, refused: &SecretString) {
        self.0.inner.token.invalidate(refused).await;
    }

    fn disposition(error: &GraphError) -> Disposition {
        error.disposition()
    }

    fn classify(&self, response: &Response) -> Disposition {
        classify(response.status, &response.headers, &response.body)
    }

    fn failure(&self, response: Response, disposition: Disposition) -> GraphError {
        if disposition == Disposition::Resync {
            let location = response
                .headers
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            return GraphError::SyncStateNotFound { location };
        }
        GraphError::Api(ApiError::from_response(
            response.status,
            &response.headers,
            &response.body,
        ))
    }
}
