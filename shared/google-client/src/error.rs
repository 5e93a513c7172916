//! Errors of the Google client and the pure classification of Google's answers into what a caller
//! does next ([`Disposition`]).
//!
//! Google's error body is `{"error":{"code","message","status","details":[{"@type":
//! "type.googleapis.com/google.rpc.ErrorInfo","reason"}]}}`; per-contact results of the batch
//! methods carry a `google.rpc.Status` (`{code, message}`, code from `google.rpc.Code`).

use std::sync::Arc;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::Deserialize;

pub use http_layer::oauth::TokenError;
pub use http_layer::{Disposition, retry_after};

/// The `ErrorInfo` reason of an expired sync token.
pub const EXPIRED_SYNC_TOKEN: &str = "EXPIRED_SYNC_TOKEN";
/// How the expired-sync-token message starts (matched when the reason is missing).
const EXPIRED_SYNC_TOKEN_MESSAGE: &str = "Sync token is expired";
/// How the stale-etag message starts.
const ETAG_MISMATCH_MESSAGE: &str = "Request person.etag is different than the current person.etag";

#[derive(Debug, Default, Deserialize)]
struct Envelope {
    #[serde(default)]
    error: Option<Body>,
}

#[derive(Debug, Default, Deserialize)]
struct Body {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    details: Vec<Detail>,
}

#[derive(Debug, Default, Deserialize)]
struct Detail {
    #[serde(rename = "@type", default)]
    kind: String,
    #[serde(default)]
    reason: Option<String>,
}

/// What Google's error body says, as far as it has the usual shape.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorBody {
    /// The canonical status (`FAILED_PRECONDITION`, `RESOURCE_EXHAUSTED`…).
    pub status: Option<String>,
    /// The `ErrorInfo` reason (`EXPIRED_SYNC_TOKEN`, `RATE_LIMIT_EXCEEDED`…).
    pub reason: Option<String>,
    pub message: Option<String>,
}

impl ErrorBody {
    pub fn parse(body: &[u8]) -> Self {
        let Ok(Envelope { error: Some(body) }) = serde_json::from_slice::<Envelope>(body) else {
            return Self::default();
        };
        let reason = body
            .details
            .into_iter()
            .find(|d| d.kind.ends_with("google.rpc.ErrorInfo"))
            .and_then(|d| d.reason);
        Self {
            status: body.status,
            reason,
            message: body.message,
        }
    }

    fn message_starts_with(&self, prefix: &str) -> bool {
        self.message
            .as_deref()
            .is_some_and(|m| m.starts_with(prefix))
    }

    /// The sync token is too old (7 days) or otherwise refused: live Google answers 400
    /// `FAILED_PRECONDITION`, old documentation says 410; both carry the reason or the message.
    fn is_expired_sync_token(&self) -> bool {
        self.reason.as_deref() == Some(EXPIRED_SYNC_TOKEN)
            || self.message_starts_with(EXPIRED_SYNC_TOKEN_MESSAGE)
    }

    fn is_etag_mismatch(&self) -> bool {
        self.message_starts_with(ETAG_MISMATCH_MESSAGE)
    }

    /// Quota, whatever the status it came with (older Google APIs used 403 for it).
    fn is_rate_limit(&self) -> bool {
        matches!(
            self.reason.as_deref(),
            Some("RATE_LIMIT_EXCEEDED" | "rateLimitExceeded" | "userRateLimitExceeded")
        ) || self.status.as_deref() == Some("RESOURCE_EXHAUSTED")
    }
}

/// Decides what to do about a non-success People API response. Pure, so it is tested without
/// I/O.
pub fn classify(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Disposition {
    let parsed = ErrorBody::parse(body);
    if status == StatusCode::GONE
        || (status == StatusCode::BAD_REQUEST && parsed.is_expired_sync_token())
    {
        return Disposition::Resync;
    }
    if status == StatusCode::TOO_MANY_REQUESTS || parsed.is_rate_limit() {
        // Google sends no Retry-After on quota errors: the layer backs off exponentially.
        return Disposition::Retry {
            after: retry_after(headers),
        };
    }
    match status.as_u16() {
        401 => Disposition::ReAuth,
        500 | 502 | 503 | 504 => Disposition::Retry {
            after: retry_after(headers),
        },
        // A bad mask or value, a stale etag, an unknown contact, a duplicate group name: this
        // one request; the rest of the work goes on.
        400 | 404 | 409 | 412 | 413 => Disposition::PermanentItem,
        // 403: missing scope or the API disabled for the project; an operator must act.
        _ => Disposition::Fatal,
    }
}

/// A non-success answer that has no more specific [`GoogleError`] variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub body: ErrorBody,
    pub disposition: Disposition,
}

impl ApiError {
    /// The contact or group does not exist.
    pub fn is_not_found(&self) -> bool {
        self.status == 404
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "HTTP {} {}: {}",
            self.status,
            self.body.status.as_deref().unwrap_or("-"),
            self.body.message.as_deref().unwrap_or("")
        )
    }
}

/// Everything a People API call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum GoogleError {
    #[error("people api request failed: {0}")]
    Api(ApiError),
    /// The sync token is expired: drop it and sync from scratch.
    #[error("sync token expired; a full sync is needed: {message}")]
    ExpiredSyncToken { message: String },
    /// The person's etag is stale: read the contact again, merge, and write again.
    #[error("stale etag: {message}")]
    EtagMismatch { message: String },
    /// A contact group of that name exists already.
    #[error("already exists: {message}")]
    AlreadyExists { message: String },
    /// The token endpoint does not know the user (`invalid_grant` "Invalid email or User ID"):
    /// not in the Workspace domain, or deleted. Fatal for this user only.
    #[error("google does not know the user {user} (not in the domain?): {description}")]
    UnknownUser { user: String, description: String },
    /// `unauthorized_client`: the domain's admin has not granted the service account's client
    /// id the contacts scope (domain-wide delegation). Fatal for the whole org.
    #[error("domain-wide delegation is missing for the service account: {description}")]
    DelegationMissing { description: String },
    /// Any other refusal or failure of the token endpoint.
    #[error("login failed: {0}")]
    Token(#[from] TokenError),
    #[error("service-account key unusable: {0}")]
    Key(String),
    #[error("transport error talking to google: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("unexpected response body from {what}: {source}")]
    Decode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("invalid url: {0}")]
    Url(#[from] url::ParseError),
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Input the API would refuse, caught before sending.
    #[error("invalid request: {0}")]
    Invalid(String),
}

impl GoogleError {
    /// What the caller should do next.
    pub fn disposition(&self) -> Disposition {
        match self {
            GoogleError::Api(e) => e.disposition,
            GoogleError::ExpiredSyncToken { .. } => Disposition::Resync,
            GoogleError::EtagMismatch { .. }
            | GoogleError::AlreadyExists { .. }
            | GoogleError::Invalid(_) => Disposition::PermanentItem,
            GoogleError::Token(e) => e.disposition(),
            GoogleError::Transport(_) => Disposition::Retry { after: None },
            GoogleError::UnknownUser { .. }
            | GoogleError::DelegationMissing { .. }
            | GoogleError::Key(_)
            | GoogleError::Decode { .. }
            | GoogleError::Url(_)
            | GoogleError::Config(_) => Disposition::Fatal,
        }
    }

    /// Whether a fatal error stops every user of the org (the service account, its key or its
    /// delegation is wrong), rather than the one user or call it came from.
    pub fn is_org_wide(&self) -> bool {
        match self {
            GoogleError::DelegationMissing { .. }
            | GoogleError::Key(_)
            | GoogleError::Config(_)
            | GoogleError::Url(_) => true,
            // `invalid_client`, a bad signature: the service account or its key.
            GoogleError::Token(TokenError::Refused {
                error, description, ..
            }) => error == "invalid_client" || description.contains("Invalid JWT Signature"),
            GoogleError::Api(e) => e.status == 403,
            _ => false,
        }
    }

    /// The contact or group does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, GoogleError::Api(e) if e.is_not_found())
    }

    /// The error of a non-success response that is not retried.
    pub(crate) fn from_response(status: StatusCode, body: &[u8], disposition: Disposition) -> Self {
        let body = ErrorBody::parse(body);
        let message = body.message.clone().unwrap_or_default();
        if disposition == Disposition::Resync {
            return GoogleError::ExpiredSyncToken { message };
        }
        if status == StatusCode::BAD_REQUEST && body.is_etag_mismatch() {
            return GoogleError::EtagMismatch { message };
        }
        if status == StatusCode::CONFLICT {
            return GoogleError::AlreadyExists { message };
        }
        GoogleError::Api(ApiError {
            status: status.as_u16(),
            body,
            disposition,
        })
    }

    /// A refusal of the token endpoint, read for the two cases an operator needs told apart.
    pub(crate) fn from_token(user: &str, error: TokenError) -> Self {
        match &error {
            TokenError::Refused {
                error: code,
                description,
                ..
            } if code == "invalid_grant" && description.contains("Invalid email or User ID") => {
                GoogleError::UnknownUser {
                    user: user.to_owned(),
                    description: description.clone(),
                }
            }
            TokenError::Refused {
                error: code,
                description,
                ..
            } if code == "unauthorized_client" => GoogleError::DelegationMissing {
                description: description.clone(),
            },
            _ => GoogleError::Token(error),
        }
    }
}

/// `google.rpc.Status` of one contact in a batch answer.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct RpcStatus {
    #[serde(default)]
    pub code: i32,
    #[serde(default)]
    pub message: String,
}

/// Why one contact of a batch call did not succeed. The other contacts' results stand.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ItemError {
    /// Google answered this contact with an error status.
    #[error("item failed with code {code}: {message}")]
    Api {
        /// A `google.rpc.Code` (5 = NOT_FOUND, 9 = FAILED_PRECONDITION…).
        code: i32,
        message: String,
        disposition: Disposition,
    },
    /// This contact's etag is stale: read it again, merge, and write again.
    #[error("stale etag: {0}")]
    EtagMismatch(String),
    /// The request carrying this contact failed as a whole (after its retries).
    #[error("batch request failed: {0}")]
    Request(Arc<GoogleError>),
    /// The answer had no result for this contact.
    #[error("batch response carried no answer for this item")]
    Missing,
}

impl ItemError {
    pub fn disposition(&self) -> Disposition {
        match self {
            ItemError::Api { disposition, .. } => *disposition,
            ItemError::EtagMismatch(_) => Disposition::PermanentItem,
            ItemError::Request(e) => e.disposition(),
            ItemError::Missing => Disposition::Retry { after: None },
        }
    }

    /// A per-contact status that is not OK, read into an item error.
    pub(crate) fn from_status(status: &RpcStatus) -> Self {
        if status.message.starts_with(ETAG_MISMATCH_MESSAGE) {
            return ItemError::EtagMismatch(status.message.clone());
        }
        ItemError::Api {
            code: status.code,
            message: status.message.clone(),
            disposition: rpc_disposition(status.code),
        }
    }
}

/// What to do about a `google.rpc.Code` (an HTTP status, should one appear instead, is read as
/// such).
pub fn rpc_disposition(code: i32) -> Disposition {
    let retry = Disposition::Retry { after: None };
    match code {
        100.. => match u16::try_from(code)
            .ok()
            .and_then(|c| StatusCode::from_u16(c).ok())
        {
            Some(status) => classify(status, &HeaderMap::new(), b""),
            None => Disposition::PermanentItem,
        },
        // CANCELLED, UNKNOWN, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, INTERNAL,
        // UNAVAILABLE: transient.
        1 | 2 | 4 | 8 | 10 | 13 | 14 => retry,
        7 | 16 => Disposition::Fatal,
        _ => Disposition::PermanentItem,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    const EXPIRED: &[u8] = br#"{"error":{"code":400,"message":"Sync token is expired. Clear local cache and retry call without the sync token.","status":"FAILED_PRECONDITION","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"EXPIRED_SYNC_TOKEN","domain":"people.googleapis.com"}]}}"#;
    const STALE: &[u8] = br#"{"error":{"code":400,"message":"Request person.etag is different than the current person.etag. Clear local cache and get the latest person.","status":"FAILED_PRECONDITION"}}"#;
    const QUOTA: &[u8] = br#"{"error":{"code":429,"message":"Quota exceeded for quota metric 'Critical read requests (Contact and Profile Reads)'","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"RATE_LIMIT_EXCEEDED","domain":"googleapis.com","metadata":{"quota_limit":"CriticalReadsPerMinutePerProjectPerUser"}}]}}"#;

    fn none() -> HeaderMap {
        HeaderMap::new()
    }

    #[test]
    fn an_expired_sync_token_means_resync_as_400_or_410() {
        assert_eq!(
            classify(StatusCode::BAD_REQUEST, &none(), EXPIRED),
            Disposition::Resync
        );
        assert_eq!(
            classify(StatusCode::GONE, &none(), EXPIRED),
            Disposition::Resync
        );
        assert_eq!(
            classify(StatusCode::GONE, &none(), b""),
            Disposition::Resync
        );
        // The message alone suffices (a fixture shows INVALID_ARGUMENT without ErrorInfo).
        let bare = br#"{"error":{"code":400,"message":"Sync token is expired. Clear local cache.","status":"INVALID_ARGUMENT"}}"#;
        assert_eq!(
            classify(StatusCode::BAD_REQUEST, &none(), bare),
            Disposition::Resync
        );
        let err = GoogleError::from_response(StatusCode::BAD_REQUEST, EXPIRED, Disposition::Resync);
        assert!(matches!(err, GoogleError::ExpiredSyncToken { .. }), "{err}");
    }

    #[test]
    fn quota_without_retry_after_is_retried_with_backoff() {
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, &none(), QUOTA),
            Disposition::Retry { after: None }
        );
        let mut headers = HeaderMap::new();
        headers.insert(reqwest::header::RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(
            classify(StatusCode::SERVICE_UNAVAILABLE, &headers, b""),
            Disposition::Retry {
                after: Some(Duration::from_secs(2))
            }
        );
        let legacy = br#"{"error":{"code":403,"message":"Rate Limit Exceeded","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"RATE_LIMIT_EXCEEDED"}]}}"#;
        assert_eq!(
            classify(StatusCode::FORBIDDEN, &none(), legacy),
            Disposition::Retry { after: None }
        );
    }

    #[test]
    fn a_stale_etag_is_its_own_error_for_that_contact() {
        let d = classify(StatusCode::BAD_REQUEST, &none(), STALE);
        assert_eq!(d, Disposition::PermanentItem);
        let err = GoogleError::from_response(StatusCode::BAD_REQUEST, STALE, d);
        assert!(matches!(err, GoogleError::EtagMismatch { .. }), "{err}");
    }

    #[test]
    fn unauthenticated_asks_for_a_new_token_and_missing_scope_is_fatal_for_the_org() {
        assert_eq!(
            classify(StatusCode::UNAUTHORIZED, &none(), b""),
            Disposition::ReAuth
        );
        let scope = br#"{"error":{"code":403,"message":"Request had insufficient authentication scopes.","status":"PERMISSION_DENIED"}}"#;
        let d = classify(StatusCode::FORBIDDEN, &none(), scope);
        assert_eq!(d, Disposition::Fatal);
        assert!(GoogleError::from_response(StatusCode::FORBIDDEN, scope, d).is_org_wide());
    }

    #[test]
    fn not_found_and_conflict_concern_the_one_item() {
        let missing = br#"{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND"}}"#;
        let d = classify(StatusCode::NOT_FOUND, &none(), missing);
        assert_eq!(d, Disposition::PermanentItem);
        assert!(GoogleError::from_response(StatusCode::NOT_FOUND, missing, d).is_not_found());
        let dup =
            GoogleError::from_response(StatusCode::CONFLICT, b"{}", Disposition::PermanentItem);
        assert!(matches!(dup, GoogleError::AlreadyExists { .. }), "{dup}");
    }

    #[test]
    fn token_refusals_name_the_user_or_the_missing_delegation() {
        let refused = |error: &str, description: &str| TokenError::Refused {
            status: 400,
            error: error.into(),
            description: description.into(),
        };
        let unknown = GoogleError::from_token(
            "x@d.com",
            refused("invalid_grant", "Invalid email or User ID"),
        );
        assert!(matches!(&unknown, GoogleError::UnknownUser { user, .. } if user == "x@d.com"));
        assert_eq!(unknown.disposition(), Disposition::Fatal);
        assert!(!unknown.is_org_wide());
        let delegation = GoogleError::from_token(
            "x@d.com",
            refused("unauthorized_client", "Client is unauthorized"),
        );
        assert!(matches!(delegation, GoogleError::DelegationMissing { .. }));
        assert!(delegation.is_org_wide());
        let signature = GoogleError::from_token(
            "x@d.com",
            refused("invalid_grant", "Invalid JWT Signature."),
        );
        assert!(signature.is_org_wide());
        assert_eq!(signature.disposition(), Disposition::Fatal);
    }

    #[test]
    fn item_statuses_map_by_rpc_code() {
        let item = ItemError::from_status(&RpcStatus {
            code: 5,
            message: "Requested entity was not found.".into(),
        });
        assert_eq!(item.disposition(), Disposition::PermanentItem);
        let item = ItemError::from_status(&RpcStatus {
            code: 9,
            message: String::from_utf8_lossy(
                b"Request person.etag is different than the current person.etag.",
            )
            .into(),
        });
        assert!(matches!(item, ItemError::EtagMismatch(_)));
        assert_eq!(rpc_disposition(14), Disposition::Retry { after: None });
        assert_eq!(rpc_disposition(503), Disposition::Retry { after: None });
        assert_eq!(rpc_disposition(3), Disposition::PermanentItem);
    }
}
