//! Configuration of a Graph client: endpoints, app credentials and the retry/timeout knobs.

use std::time::Duration;

use secrecy::SecretString;
use url::Url;

/// How a [`crate::GraphClient`] reaches Graph and the identity platform.
///
/// Base URLs are configuration so that tests and the dev stack can point them at the emulator.
#[derive(Debug, Clone)]
pub struct GraphConfig {
    /// e.g. `https://graph.microsoft.com/v1.0` or `http://127.0.0.1:8091/v1.0`.
    pub graph_base_url: Url,
    /// e.g. `https://login.microsoftonline.com`; the token is at `{login}/{tenant}/oauth2/v2.0/token`.
    pub login_base_url: Url,
    pub tenant: String,
    pub client_id: String,
    pub client_secret: SecretString,
    /// Sent as `Prefer: odata.maxpagesize` on delta rounds.
    pub max_page_size: u32,
    /// Whole-request timeout of one HTTP attempt.
    pub request_timeout: Duration,
    /// Retries of one call (or of the throttled items of one batch) after the first attempt.
    pub max_retries: usize,
    /// Cap on any single wait, whatever `Retry-After` asks for: a worker never parks for minutes.
    pub max_retry_after: Duration,
    /// First backoff delay when the server gives no `Retry-After`.
    pub min_backoff: Duration,
    /// Requests this client has in flight per mailbox at most: Outlook's MailboxConcurrency
    /// limit (4 per app and mailbox; more are answered 429).
    pub mailbox_concurrency: u32,
    /// How long one call (or one batch's items) keeps waiting on a throttled mailbox (429s of its
    /// request budget), `Retry-After` by `Retry-After`, before it gives up. Throttling says
    /// "later", never "no": these waits do not count against `max_retries`.
    pub max_throttled_wait: Duration,
}

impl GraphConfig {
    /// A configuration with the default knobs (page size 100, 30 s timeout, 4 retries, 30 s cap,
    /// 4 requests in flight per mailbox, 10 minutes of throttled waiting).
    pub fn new(
        graph_base_url: Url,
        login_base_url: Url,
        tenant: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: SecretString,
    ) -> Self {
        Self {
            graph_base_url,
            login_base_url,
            tenant: tenant.into(),
            client_id: client_id.into(),
            client_secret,
            max_page_size: 100,
            request_timeout: Duration::from_secs(30),
            max_retries: 4,
            max_retry_after: Duration::from_secs(30),
            min_backoff: Duration::from_millis(200),
            mailbox_concurrency: 4,
            max_throttled_wait: Duration::from_secs(600),
        }
    }
}
