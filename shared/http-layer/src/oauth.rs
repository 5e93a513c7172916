//! The token endpoint of OAuth 2.0 (RFC 6749 §5): one form POST, its JSON answer, and the
//! `{error, error_description}` body of a refusal, read once for every client that logs in; and
//! the cache of one bearer token ([`TokenSlot`]) that refreshes it before it expires.
//!
//! A login is not retried here: [`crate::HttpLayer::send`] retries it, through
//! [`crate::Api::credential`], when the client's error says the refusal is transient.

use std::future::Future;
use std::time::{Duration, Instant};

use reqwest::IntoUrl;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sync_core::Disposition;

/// What a token request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token request failed in transport: {0}")]
    Transport(#[from] reqwest::Error),
    /// The endpoint answered non-2xx; `error` and `description` are empty when its body was
    /// not the standard error JSON.
    #[error("token request failed with HTTP {status}: {error}: {description}")]
    Refused {
        status: u16,
        error: String,
        description: String,
    },
    /// A 2xx answer that is not the expected token JSON.
    #[error("unexpected token response: {0}")]
    Decode(#[source] serde_json::Error),
}

impl TokenError {
    /// What to do next: the endpoint's outage or throttling (5xx, 429) and transport trouble
    /// pass; a refused credential or an unreadable answer needs an operator.
    pub fn disposition(&self) -> Disposition {
        match self {
            TokenError::Transport(_) => Disposition::Retry { after: None },
            TokenError::Refused { status, .. } if *status >= 500 || *status == 429 => {
                Disposition::Retry { after: None }
            }
            TokenError::Refused { .. } | TokenError::Decode(_) => Disposition::Fatal,
        }
    }
}

/// The error body of RFC 6749 §5.2.
#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

/// POSTs `form` (`application/x-www-form-urlencoded`) to the token endpoint at `url` and decodes
/// the 2xx answer as `T`.
pub async fn request_token<T: DeserializeOwned>(
    http: &reqwest::Client,
    url: impl IntoUrl,
    form: &[(&str, &str)],
) -> Result<T, TokenError> {
    let response = http.post(url).form(form).send().await?;
    let status = response.status();
    let body = response.bytes().await?;
    if !status.is_success() {
        let parsed: ErrorBody = serde_json::from_slice(&body).unwrap_or_default();
        return Err(TokenError::Refused {
            status: status.as_u16(),
            error: parsed.error,
            description: parsed.error_description,
        });
    }
    serde_json::from_slice(&body).map_err(TokenError::Decode)
}

/// A bearer token and when to stop using it.
pub struct CachedToken {
    value: SecretString,
    refresh_at: Instant,
}

impl CachedToken {
    /// A token issued at `issued` for `expires_in` seconds (an hour less a second when the
    /// endpoint did not say). It is refreshed well before expiry (half its lifetime, at most
    /// five minutes early) so that a call never starts with a token that dies in flight.
    pub fn new(value: SecretString, expires_in: Option<u64>, issued: Instant) -> Self {
        let lifetime = Duration::from_secs(expires_in.unwrap_or(3599));
        let margin = (lifetime / 2).min(Duration::from_secs(300));
        Self {
            value,
            refresh_at: issued + (lifetime - margin),
        }
    }

    pub fn value(&self) -> &SecretString {
        &self.value
    }
}

/// The cached token of one identity (an app, a user). The lock is held across a login, so that
/// concurrent callers share one token request.
#[derive(Default)]
pub struct TokenSlot(tokio::sync::Mutex<Option<CachedToken>>);

impl TokenSlot {
    /// The cached token while it has time left, else the one `fetch` gets (and caches).
    pub async fn get_or_fetch<E, F>(&self, fetch: impl FnOnce() -> F) -> Result<SecretString, E>
    where
        F: Future<Output = Result<CachedToken, E>>,
    {
        let mut guard = self.0.lock().await;
        if let Some(cached) = guard.as_ref()
            && Instant::now() < cached.refresh_at
        {
            return Ok(cached.value.clone());
        }
        let fresh = fetch().await?;
        let value = fresh.value.clone();
        *guard = Some(fresh);
        Ok(value)
    }

    /// Drops the cached token if it is still the one that was refused (a concurrent caller may
    /// already have replaced it).
    pub async fn invalidate(&self, refused: &SecretString) {
        let mut guard = self.0.lock().await;
        if guard
            .as_ref()
            .is_some_and(|c| c.value.expose_secret() == refused.expose_secret())
        {
            *guard = None;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn token(value: &str, expires_in: u64) -> CachedToken {
        CachedToken::new(SecretString::from(value), Some(expires_in), Instant::now())
    }

    async fn get(slot: &TokenSlot, fresh: &str, expires_in: u64) -> String {
        slot.get_or_fetch(|| async { Ok::<_, TokenError>(token(fresh, expires_in)) })
            .await
            .unwrap()
            .expose_secret()
            .to_owned()
    }

    #[tokio::test]
    async fn a_token_is_reused_until_its_margin_then_fetched_again() {
        let slot = TokenSlot::default();
        assert_eq!(get(&slot, "a", 3599).await, "a");
        assert_eq!(get(&slot, "b", 3599).await, "a");
        let short = TokenSlot::default();
        assert_eq!(get(&short, "a", 0).await, "a");
        assert_eq!(get(&short, "b", 0).await, "b");
    }

    #[tokio::test]
    async fn only_the_refused_token_is_dropped() {
        let slot = TokenSlot::default();
        get(&slot, "a", 3599).await;
        slot.invalidate(&SecretString::from("other")).await;
        assert_eq!(get(&slot, "b", 3599).await, "a");
        slot.invalidate(&SecretString::from("a")).await;
        assert_eq!(get(&slot, "b", 3599).await, "b");
    }
}
