//! The token endpoint of OAuth 2.0 (RFC 6749 §5): one form POST, its JSON answer, and the
//! `{error, error_description}` body of a refusal, read once for every client that logs in.
//!
//! A login is not retried here: [`crate::HttpLayer::send`] retries it, through
//! [`crate::Api::credential`], when the client's error says the refusal is transient.

use reqwest::IntoUrl;
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
