//! Google's error bodies: `{"error":{"code","message","status","details"}}` for the People API
//! (reference §6) and `{"error","error_description"}` for the token endpoint (reference §1).

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub const INVALID_ARGUMENT: &str = "Request contains an invalid argument.";
pub const NOT_FOUND: &str = "Requested entity was not found.";
pub const UNAUTHENTICATED: &str = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.";
pub const STALE_ETAG: &str = "Request person.etag is different than the current person.etag. Clear local cache and get the latest person.";
pub const EXPIRED_SYNC_TOKEN: &str =
    "Sync token is expired. Clear local cache and retry call without the sync token.";
pub const UNAVAILABLE: &str = "The service is currently unavailable.";

/// An API error as Google answers it.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// The canonical `google.rpc.Code` name.
    pub canonical: String,
    pub message: String,
    pub details: Vec<Value>,
    /// `Retry-After` seconds (injected faults only; Google documents none).
    pub retry_after: Option<f64>,
}

impl ApiError {
    pub fn new(status: StatusCode, canonical: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            canonical: canonical.to_owned(),
            message: message.into(),
            details: Vec::new(),
            retry_after: None,
        }
    }

    pub fn invalid_argument(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", message)
    }

    /// 400 with a `BadRequest.fieldViolations` detail, as for a bad mask.
    pub fn field_violation(field: &str, description: impl Into<String>) -> ApiError {
        let description = description.into();
        let mut error = ApiError::invalid_argument(INVALID_ARGUMENT);
        error.details.push(json!({
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"field": field, "description": description}],
        }));
        error
    }

    pub fn failed_precondition(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "FAILED_PRECONDITION", message)
    }

    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", NOT_FOUND)
    }

    pub fn already_exists(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "ALREADY_EXISTS", message)
    }

    pub fn unauthenticated() -> ApiError {
        let mut error = ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", UNAUTHENTICATED);
        error.details.push(error_info(
            "ACCESS_TOKEN_TYPE_UNSUPPORTED",
            "googleapis.com",
            json!({"service": "people.googleapis.com"}),
        ));
        error
    }

    pub fn stale_etag() -> ApiError {
        ApiError::failed_precondition(STALE_ETAG)
    }

    /// The expired sync token (reference §2): 400 `FAILED_PRECONDITION` live, 410 in old docs.
    pub fn expired_sync_token(status: u16) -> ApiError {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
        let canonical = if status == StatusCode::GONE {
            "NOT_FOUND"
        } else {
            "FAILED_PRECONDITION"
        };
        let mut error = ApiError::new(status, canonical, EXPIRED_SYNC_TOKEN);
        error.details.push(error_info(
            "EXPIRED_SYNC_TOKEN",
            "people.googleapis.com",
            Value::Null,
        ));
        error
    }

    /// 429 for an exhausted per-user quota (reference §6).
    pub fn quota_exceeded(metric: &str, limit_name: &str) -> ApiError {
        let message = format!(
            "Quota exceeded for quota metric '{metric}' and limit '{metric} per minute per user' \
             of service 'people.googleapis.com' for consumer 'project_number:1000000000000'."
        );
        let mut error = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "RESOURCE_EXHAUSTED", message);
        error.details.push(error_info(
            "RATE_LIMIT_EXCEEDED",
            "googleapis.com",
            json!({
                "quota_metric": format!("people.googleapis.com/{}", metric.to_lowercase().replace(' ', "_")),
                "quota_limit": limit_name,
                "service": "people.googleapis.com",
                "consumer": "projects/1000000000000",
            }),
        ));
        error
    }

    /// The status name Google pairs with an HTTP status, for injected faults.
    pub fn canonical_for(status: StatusCode) -> &'static str {
        match status.as_u16() {
            400 => "INVALID_ARGUMENT",
            401 => "UNAUTHENTICATED",
            403 => "PERMISSION_DENIED",
            404 => "NOT_FOUND",
            409 => "ABORTED",
            429 => "RESOURCE_EXHAUSTED",
            499 => "CANCELLED",
            501 => "UNIMPLEMENTED",
            503 => "UNAVAILABLE",
            504 => "DEADLINE_EXCEEDED",
            _ => "INTERNAL",
        }
    }

    /// The body alone (batch items carry it as their `status`).
    pub fn body(&self) -> Value {
        let mut error = json!({
            "code": self.status.as_u16(),
            "message": self.message,
            "status": self.canonical,
        });
        if !self.details.is_empty() {
            error["details"] = Value::Array(self.details.clone());
        }
        json!({ "error": error })
    }

    /// `google.rpc.Status` as a batch item's `status`.
    pub fn rpc_status(&self) -> Value {
        json!({"code": grpc_code(&self.canonical), "message": self.message})
    }
}

/// The numeric `google.rpc.Code` of a canonical name.
pub fn grpc_code(canonical: &str) -> u32 {
    match canonical {
        "CANCELLED" => 1,
        "INVALID_ARGUMENT" => 3,
        "DEADLINE_EXCEEDED" => 4,
        "NOT_FOUND" => 5,
        "ALREADY_EXISTS" => 6,
        "PERMISSION_DENIED" => 7,
        "RESOURCE_EXHAUSTED" => 8,
        "FAILED_PRECONDITION" => 9,
        "ABORTED" => 10,
        "UNIMPLEMENTED" => 12,
        "INTERNAL" => 13,
        "UNAVAILABLE" => 14,
        "UNAUTHENTICATED" => 16,
        _ => 2,
    }
}

fn error_info(reason: &str, domain: &str, metadata: Value) -> Value {
    let mut info = json!({
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": domain,
    });
    if !metadata.is_null() {
        info["metadata"] = metadata;
    }
    info
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = self.retry_after;
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if let Some(secs) = retry_after
            && let Ok(value) = HeaderValue::from_str(&format!("{}", secs.max(0.0).ceil() as u64))
        {
            response.headers_mut().insert("retry-after", value);
        }
        response
    }
}

/// A token endpoint error (reference §1).
#[derive(Debug, Clone)]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    pub fn invalid_grant(description: impl Into<String>) -> OAuthError {
        OAuthError {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_grant",
            description: description.into(),
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> OAuthError {
        OAuthError {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_request",
            description: description.into(),
        }
    }

    pub fn unsupported_grant_type() -> OAuthError {
        OAuthError {
            status: StatusCode::BAD_REQUEST,
            error: "unsupported_grant_type",
            description: "Invalid grant_type: ".to_owned(),
        }
    }

    pub fn unauthorized_client() -> OAuthError {
        OAuthError {
            status: StatusCode::UNAUTHORIZED,
            error: "unauthorized_client",
            description: "Client is unauthorized to retrieve access tokens using this method, or \
                          client not authorized for any of the scopes requested."
                .to_owned(),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(json!({"error": self.error, "error_description": self.description})),
        )
            .into_response()
    }
}
