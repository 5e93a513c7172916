//! Errors of the Salesforce client and the pure classification that says what a caller does next.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};

pub use http_layer::oauth::TokenError;
pub use http_layer::{Disposition, retry_after};

/// One entry of a REST error body (`[{"message","errorCode","fields"}]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestError {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub error_code: String,
    #[serde(default)]
    pub fields: Vec<String>,
}

/// The first error of a REST error body; Salesforce sends an array, rarely more than one.
pub fn first_error(body: &[u8]) -> Option<RestError> {
    serde_json::from_slice::<Vec<RestError>>(body)
        .ok()?
        .into_iter()
        .next()
}

/// What to do about an error code, wherever it appears (REST `errorCode` or collection
/// `statusCode`); `None` when the code alone does not decide.
pub fn classify_code(code: &str) -> Option<Disposition> {
    Some(match code {
        "INVALID_SESSION_ID" => Disposition::ReAuth,
        // Lock contention and all-or-none rollbacks of others' failures go away on retry.
        "UNABLE_TO_LOCK_ROW" | "ALL_OR_NONE_OPERATION_ROLLED_BACK" | "SERVER_UNAVAILABLE" => {
            Disposition::Retry { after: None }
        }
        "REQUEST_LIMIT_EXCEEDED" => Disposition::Retry { after: None },
        "INVALID_QUERY_LOCATOR" | "INVALID_REPLICATION_DATE" => Disposition::Resync,
        // Our own query or configuration is wrong: retrying or skipping will not fix it.
        "MALFORMED_QUERY"
        | "INVALID_FIELD"
        | "INVALID_TYPE"
        | "API_DISABLED_FOR_ORG"
        | "INSUFFICIENT_ACCESS" => Disposition::Fatal,
        _ => return None,
    })
}

/// Decides what to do about a non-success Salesforce response. Pure, tested without I/O.
pub fn classify(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Disposition {
    if status == StatusCode::UNAUTHORIZED {
        return Disposition::ReAuth;
    }
    if matches!(status.as_u16(), 429 | 503) {
        return Disposition::Retry {
            after: retry_after(headers),
        };
    }
    if let Some(error) = first_error(body)
        && let Some(disposition) = classify_code(&error.error_code)
    {
        return match disposition {
            Disposition::Retry { .. } => Disposition::Retry {
                after: retry_after(headers),
            },
            other => other,
        };
    }
    match status.as_u16() {
        500 | 502 | 504 => Disposition::Retry { after: None },
        300 | 400 | 404 | 409 | 412 => Disposition::PermanentItem,
        _ => Disposition::Fatal,
    }
}

/// A failed single REST call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub error: Option<RestError>,
    pub disposition: Disposition,
}

impl ApiError {
    pub fn from_response(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Self {
        Self {
            status: status.as_u16(),
            error: first_error(body),
            disposition: classify(status, headers, body),
        }
    }

    pub fn error_code(&self) -> Option<&str> {
        self.error.as_ref().map(|e| e.error_code.as_str())
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.error {
            Some(e) => write!(f, "HTTP {} {}: {}", self.status, e.error_code, e.message),
            None => write!(f, "HTTP {}", self.status),
        }
    }
}

/// Everything a Salesforce call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum SalesforceError {
    #[error("salesforce request failed: {0}")]
    Api(ApiError),
    /// The JWT bearer login failed.
    #[error("login failed: {0}")]
    Login(#[from] TokenError),
    #[error("transport error talking to salesforce: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("unexpected response body from {what}: {source}")]
    Decode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("private key unusable: {0}")]
    Key(String),
    /// A `nextRecordsUrl` or instance URL we will not send the session to.
    #[error("refusing to follow link: {0}")]
    ForeignLink(String),
    #[error("invalid url: {0}")]
    Url(#[from] url::ParseError),
    /// A Get Deleted/Updated window that Salesforce would refuse (checked before calling).
    #[error("invalid replication window: {0}")]
    InvalidWindow(String),
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A query page said `done: false` without a `nextRecordsUrl`: the rest of the answer is
    /// out of reach, so the answer is refused rather than taken as complete.
    #[error(
        "incomplete query answer: done is false but no nextRecordsUrl follows \
         ({received} of {total} records received)"
    )]
    IncompleteQuery { received: usize, total: u64 },
}

impl SalesforceError {
    /// What the caller should do next.
    pub fn disposition(&self) -> Disposition {
        match self {
            SalesforceError::Api(e) => e.disposition,
            SalesforceError::Login(e) => e.disposition(),
            SalesforceError::Transport(_) => Disposition::Retry { after: None },
            // Server trouble: asking again may well get the whole answer.
            SalesforceError::IncompleteQuery { .. } => Disposition::Retry { after: None },
            SalesforceError::InvalidWindow(_) => Disposition::Resync,
            SalesforceError::Decode { .. }
            | SalesforceError::Key(_)
            | SalesforceError::ForeignLink(_)
            | SalesforceError::Url(_)
            | SalesforceError::Config(_) => Disposition::Fatal,
        }
    }

    /// The REST error code, when Salesforce sent one.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            SalesforceError::Api(e) => e.error_code(),
            _ => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderValue, RETRY_AFTER};
    use std::time::Duration;

    fn no_headers() -> HeaderMap {
        HeaderMap::new()
    }

    #[test]
    fn an_expired_session_asks_for_a_new_login() {
        let body =
            br#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#;
        assert_eq!(
            classify(StatusCode::UNAUTHORIZED, &no_headers(), body),
            Disposition::ReAuth
        );
    }

    #[test]
    fn throttling_and_outages_are_retried_honouring_retry_after() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(
            classify(StatusCode::SERVICE_UNAVAILABLE, &headers, b""),
            Disposition::Retry {
                after: Some(Duration::from_secs(2))
            }
        );
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, &no_headers(), b""),
            Disposition::Retry { after: None }
        );
        assert_eq!(
            classify(StatusCode::INTERNAL_SERVER_ERROR, &no_headers(), b"<html>"),
            Disposition::Retry { after: None }
        );
    }

    #[test]
    fn a_row_lock_is_transient_whatever_the_status() {
        let body = br#"[{"message":"unable to obtain exclusive access to this record","errorCode":"UNABLE_TO_LOCK_ROW","fields":[]}]"#;
        assert_eq!(
            classify(StatusCode::BAD_REQUEST, &no_headers(), body),
            Disposition::Retry { after: None }
        );
    }

    #[test]
    fn an_expired_cursor_or_window_means_resync() {
        let body = br#"[{"message":"invalid query locator","errorCode":"INVALID_QUERY_LOCATOR"}]"#;
        assert_eq!(
            classify(StatusCode::BAD_REQUEST, &no_headers(), body),
            Disposition::Resync
        );
        let body = br#"[{"message":"startDate before org replication enabled date","errorCode":"INVALID_REPLICATION_DATE"}]"#;
        assert_eq!(
            classify(StatusCode::BAD_REQUEST, &no_headers(), body),
            Disposition::Resync
        );
    }

    #[test]
    fn a_malformed_query_is_fatal_but_a_bad_record_is_not() {
        let body = br#"[{"message":"unexpected token: 'invalid'","errorCode":"MALFORMED_QUERY"}]"#;
        assert_eq!(
            classify(StatusCode::BAD_REQUEST, &no_headers(), body),
            Disposition::Fatal
        );
        let body = br#"[{"message":"Email: invalid email address: not an email","errorCode":"INVALID_EMAIL_ADDRESS","fields":["Email"]}]"#;
        assert_eq!(
            classify(StatusCode::BAD_REQUEST, &no_headers(), body),
            Disposition::PermanentItem
        );
        let body =
            br#"[{"message":"entity is deleted","errorCode":"ENTITY_IS_DELETED","fields":[]}]"#;
        assert_eq!(
            classify(StatusCode::NOT_FOUND, &no_headers(), body),
            Disposition::PermanentItem
        );
    }

    #[test]
    fn a_refusal_without_a_known_code_is_fatal() {
        assert_eq!(
            classify(StatusCode::FORBIDDEN, &no_headers(), b"[]"),
            Disposition::Fatal
        );
        let body = br#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#;
        assert_eq!(
            classify(StatusCode::FORBIDDEN, &no_headers(), body),
            Disposition::Retry { after: None }
        );
    }

    #[test]
    fn the_error_body_keeps_message_and_fields() {
        let body = br#"[{"message":"Required fields are missing: [LastName]","errorCode":"REQUIRED_FIELD_MISSING","fields":["LastName"]}]"#;
        let e = ApiError::from_response(StatusCode::BAD_REQUEST, &no_headers(), body);
        assert_eq!(e.error_code(), Some("REQUIRED_FIELD_MISSING"));
        assert_eq!(e.error.unwrap().fields, vec!["LastName"]);
    }
}
