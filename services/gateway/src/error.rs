//! The one error type of the HTTP surface, rendered as `{"error":{"code","message"}}` (SPEC §4).
//!
//! Every handler returns [`ApiError`]; axum's own rejections (bad JSON, bad query, a body over the
//! limit) are converted into it, so no caller ever sees a plain-text or empty error body.

use axum::Json;
use axum::extract::rejection::{BytesRejection, FormRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sync_state::StateError;

/// What went wrong with a request, and so what the caller should do.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed or a field is invalid: fix the request.
    #[error("{0}")]
    BadRequest(String),
    /// No or a wrong operator token.
    #[error("a valid operator token is required (Authorization: Bearer <token>)")]
    Unauthorized,
    /// Authenticated as something that may not do this (a webhook from an unknown org).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("this route does not take that method")]
    MethodNotAllowed,
    /// The request conflicts with the current state; `code` says which rule.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("{0}")]
    TooLarge(String),
    /// Understood but refused on what it was checked against (an org failing its onboarding
    /// check): `details` go into the error object beside code and message.
    #[error("{message}")]
    Unprocessable {
        code: &'static str,
        message: String,
        details: serde_json::Map<String, serde_json::Value>,
    },
    /// Trouble with the database, the broker or an upstream: retry later.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or broken stored data: an operator must look.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn bad(message: impl Into<String>) -> Self {
        ApiError::BadRequest(message.into())
    }

    pub fn not_found(what: impl std::fmt::Display) -> Self {
        ApiError::NotFound(format!("{what} not found"))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Conflict { code, .. } => code,
            ApiError::TooLarge(_) => "payload_too_large",
            ApiError::Unprocessable { code, .. } => code,
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            ApiError::Internal(_) => {
                tracing::error!(error = %self, "A request failed on a bug or bad stored data.")
            }
            ApiError::Unavailable(_) => {
                tracing::warn!(error = %self, "A request failed on unavailable infrastructure.")
            }
            _ => {}
        }
        let mut error = serde_json::Map::new();
        error.insert("code".into(), json!(self.code()));
        error.insert("message".into(), json!(self.to_string()));
        if let ApiError::Unprocessable { details, .. } = self {
            error.extend(details);
        }
        let mut response = (status, Json(json!({ "error": error }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl From<StateError> for ApiError {
    fn from(error: StateError) -> Self {
        match error {
            StateError::NotFound(what) => ApiError::not_found(what),
            // Input PostgreSQL cannot store (a NUL byte in a path segment or an id): bad input.
            StateError::Db(e)
                if e.code()
                    == Some(&tokio_postgres::error::SqlState::CHARACTER_NOT_IN_REPERTOIRE) =>
            {
                ApiError::bad("the request contains characters that cannot be stored (NUL)")
            }
            e if e.is_transient() => ApiError::Unavailable(format!("database: {e}")),
            StateError::Pool(e) => ApiError::Unavailable(format!("database: {e}")),
            e => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<tokio_postgres::Error> for ApiError {
    fn from(error: tokio_postgres::Error) -> Self {
        ApiError::from(StateError::from(error))
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(format!("request body too large: {}", rejection.body_text()))
        } else {
            ApiError::BadRequest(format!(
                "unreadable request body: {}",
                rejection.body_text()
            ))
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadRequest(format!("invalid query string: {}", rejection.body_text()))
    }
}

impl From<FormRejection> for ApiError {
    fn from(rejection: FormRejection) -> Self {
        ApiError::BadRequest(format!("invalid form: {}", rejection.body_text()))
    }
}

/// Parses a JSON body, naming the offending field in the message (serde's messages do).
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad("a JSON body is required"));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

/// The longest rejection text carried into a JSON error (axum's are one line).
const MAX_REJECTION_TEXT: usize = 4096;

/// Safety net for the errors no handler shaped: axum's own rejections (a path segment that is
/// not UTF-8, a missing content type…) answer in plain text; this rewrites any 4xx/5xx that is
/// neither JSON nor an HTML page into the `{"error":{"code","message"}}` shape.
pub async fn json_errors(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let content_type = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if !(status.is_client_error() || status.is_server_error())
        || content_type.starts_with("application/json")
        || content_type.starts_with("text/html")
    {
        return response;
    }
    let text = match axum::body::to_bytes(response.into_body(), MAX_REJECTION_TEXT).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_owned(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    let error = match status {
        StatusCode::NOT_FOUND => ApiError::NotFound(message),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge(message),
        StatusCode::UNAUTHORIZED => ApiError::Unauthorized,
        StatusCode::SERVICE_UNAVAILABLE => ApiError::Unavailable(message),
        s if s.is_server_error() => ApiError::Internal(message),
        _ => ApiError::BadRequest(message),
    };
    let mut shaped = error.into_response();
    // Keep the original status (e.g. 415) even where the variant would say 400.
    *shaped.status_mut() = status;
    shaped
}
