//! Errors of the Graph client and the pure classification that says what a caller does next.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::Deserialize;

pub use http_layer::oauth::TokenError;
pub use http_layer::{Disposition, retry_after};

/// Graph's error envelope: `{"error":{"code","message"}}`.
#[derive(Debug, Default, Deserialize)]
struct ErrorEnvelope {
    error: Option<ErrorBody>,
}

#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// The `code` and `message` of a Graph error body, if it has the usual envelope.
pub fn error_code_and_message(body: &[u8]) -> (Option<String>, Option<String>) {
    match serde_json::from_slice::<ErrorEnvelope>(body) {
        Ok(ErrorEnvelope {
            error: Some(ErrorBody { code, message }),
        }) => (code, message),
        _ => (None, None),
    }
}

/// Decides what to do about a non-success Graph response. Pure, so it is tested without I/O.
pub fn classify(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Disposition {
    let (code, _) = error_code_and_message(body);
    let code = code.unwrap_or_default().to_ascii_lowercase();
    // The delta state codes are compared case-insensitively: both `syncStateNotFound` and
    // `SyncStateNotFound` are seen on the wire, and not always with 410.
    if status == StatusCode::GONE || code == "syncstatenotfound" || code == "resyncrequired" {
        return Disposition::Resync;
    }
    match status.as_u16() {
        429 | 503 | 504 => Disposition::Retry {
            after: retry_after(headers),
        },
        500 | 502 => Disposition::Retry { after: None },
        401 => Disposition::ReAuth,
        // A mailbox that does not exist or is not on Exchange Online is an operator problem.
        _ if code == "mailboxnotenabledforrestapi" => Disposition::Fatal,
        400 | 404 | 409 | 412 | 413 | 422 | 424 => Disposition::PermanentItem,
        _ => Disposition::Fatal,
    }
}

/// A failure of one item of a `$batch`, or of one single call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: Option<String>,
    pub message: Option<String>,
    pub disposition: Disposition,
}

impl ApiError {
    /// Builds the error from a raw response; the body's message is kept (it names the field).
    pub fn from_response(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Self {
        let (code, message) = error_code_and_message(body);
        Self {
            status: status.as_u16(),
            code,
            message,
            disposition: classify(status, headers, body),
        }
    }
}

impl ApiError {
    /// The item does not exist (404 of an item, not of a whole mailbox that is unreachable).
    pub fn is_not_found(&self) -> bool {
        self.status == 404 && self.disposition == Disposition::PermanentItem
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "HTTP {} {}: {}",
            self.status,
            self.code.as_deref().unwrap_or("-"),
            self.message.as_deref().unwrap_or("")
        )
    }
}

/// Everything a Graph call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("graph request failed: {0}")]
    Api(ApiError),
    /// The delta token is expired or invalidated; `location` is the fresh initial delta URL, if given.
    #[error("delta sync state not found; a full resync is needed")]
    SyncStateNotFound { location: Option<String> },
    /// The app token could not be had from the identity platform.
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("transport error talking to graph: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("unexpected response body from {what}: {source}")]
    Decode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// A `nextLink`/`deltaLink` that points away from the configured Graph base URL: never
    /// followed, since it would carry our token elsewhere.
    #[error("refusing to follow a link outside the graph base url: {0}")]
    ForeignLink(String),
    #[error("invalid url: {0}")]
    Url(#[from] url::ParseError),
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl GraphError {
    /// What the caller should do next.
    pub fn disposition(&self) -> Disposition {
        match self {
            GraphError::Api(e) => e.disposition,
            GraphError::SyncStateNotFound { .. } => Disposition::Resync,
            GraphError::Token(e) => e.disposition(),
            GraphError::Transport(_) => Disposition::Retry { after: None },
            GraphError::Decode { .. }
            | GraphError::ForeignLink(_)
            | GraphError::Url(_)
            | GraphError::Config(_) => Disposition::Fatal,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderValue, RETRY_AFTER};
    use std::time::Duration;

    fn headers(retry_after: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = retry_after {
            h.insert(RETRY_AFTER, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn throttling_is_retried_after_the_fractional_retry_after() {
        let body = br#"{"error":{"code":"ApplicationThrottled","message":"Application is over its MailboxConcurrency limit."}}"#;
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, &headers(Some("2.128")), body),
            Disposition::Retry {
                after: Some(Duration::from_millis(2128))
            }
        );
    }

    #[test]
    fn unavailable_without_retry_after_is_retried_with_backoff() {
        assert_eq!(
            classify(StatusCode::SERVICE_UNAVAILABLE, &headers(None), b""),
            Disposition::Retry { after: None }
        );
        assert_eq!(
            classify(StatusCode::GATEWAY_TIMEOUT, &headers(Some("3")), b""),
            Disposition::Retry {
                after: Some(Duration::from_secs(3))
            }
        );
        assert_eq!(
            classify(StatusCode::INTERNAL_SERVER_ERROR, &headers(None), b"oops"),
            Disposition::Retry { after: None }
        );
    }

    #[test]
    fn gone_and_sync_state_codes_mean_resync_whatever_the_casing() {
        assert_eq!(
            classify(StatusCode::GONE, &headers(None), b""),
            Disposition::Resync
        );
        let body = br#"{"error":{"code":"SyncStateNotFound","message":"The sync state ... is not found"}}"#;
        assert_eq!(
            classify(StatusCode::BAD_REQUEST, &headers(None), body),
            Disposition::Resync
        );
        let body = br#"{"error":{"code":"resyncRequired","message":"x"}}"#;
        assert_eq!(
            classify(StatusCode::BAD_REQUEST, &headers(None), body),
            Disposition::Resync
        );
    }

    #[test]
    fn an_unauthorized_call_asks_for_a_new_token() {
        let body = br#"{"error":{"code":"InvalidAuthenticationToken","message":"Access token has expired or is not yet valid."}}"#;
        assert_eq!(
            classify(StatusCode::UNAUTHORIZED, &headers(None), body),
            Disposition::ReAuth
        );
    }

    #[test]
    fn item_errors_are_permanent_for_that_item() {
        let body = br#"{"error":{"code":"ErrorItemNotFound","message":"The specified object was not found in the store."}}"#;
        assert_eq!(
            classify(StatusCode::NOT_FOUND, &headers(None), body),
            Disposition::PermanentItem
        );
        let body = br#"{"error":{"code":"ErrorInvalidIdMalformed","message":"Id is malformed."}}"#;
        assert_eq!(
            classify(StatusCode::BAD_REQUEST, &headers(None), body),
            Disposition::PermanentItem
        );
    }

    #[test]
    fn access_denied_and_disabled_mailboxes_are_fatal() {
        let body =
            br#"{"error":{"code":"ErrorAccessDenied","message":"Access to OData is disabled."}}"#;
        assert_eq!(
            classify(StatusCode::FORBIDDEN, &headers(None), body),
            Disposition::Fatal
        );
        let body = br#"{"error":{"code":"MailboxNotEnabledForRESTAPI","message":"The mailbox is either inactive"}}"#;
        assert_eq!(
            classify(StatusCode::NOT_FOUND, &headers(None), body),
            Disposition::Fatal
        );
    }
}
