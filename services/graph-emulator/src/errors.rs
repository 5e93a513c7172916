//! Graph's error answers: the `{"error":{"code","message","innerError"}}` body with the real codes.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::wire::{ApiResponse, Body};

/// Everything an API operation can answer other than success. Each variant is one HTTP status
/// family; the code strings are the ones the real service sends (reference §10).
#[derive(Debug, Clone, thiserror::Error)]
pub enum GraphError {
    /// 400 with a specific code (`ErrorInvalidIdMalformed`, `RequestBroker--ParseUri`, …).
    #[error("{code}: {message}")]
    BadRequest { code: &'static str, message: String },
    /// 401 `InvalidAuthenticationToken`: the caller must fetch a new token.
    #[error("unauthenticated: {0}")]
    Unauthenticated(&'static str),
    /// 403 (subscription quota).
    #[error("{code}: {message}")]
    Forbidden { code: &'static str, message: String },
    /// 404 (`ErrorItemNotFound`, `ErrorInvalidUser`, `ResourceNotFound`, …).
    #[error("{code}: {message}")]
    NotFound { code: &'static str, message: String },
    /// 405.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 415: a body without `Content-Type: application/json`.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// 409 (`ErrorFolderExists`, `nameAlreadyExists`).
    #[error("{code}: {message}")]
    Conflict { code: &'static str, message: String },
    /// 410 `syncStateNotFound`: the delta token is gone, restart from `location`.
    #[error("sync state not found")]
    SyncStateNotFound {
        token: String,
        location: Option<String>,
    },
    /// 412 `ErrorIrresolvableConflict`: a stale `If-Match`.
    #[error("stale If-Match")]
    PreconditionFailed,
    /// 429: the caller must wait `retry_after` seconds.
    #[error("{code}: throttled for {retry_after}s")]
    Throttled {
        code: &'static str,
        message: &'static str,
        retry_after: f64,
    },
    /// A fault injected through the control API.
    #[error("injected {status}")]
    Injected {
        status: StatusCode,
        code: String,
        message: String,
        retry_after: Option<f64>,
    },
}

impl GraphError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        GraphError::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        GraphError::NotFound {
            code,
            message: message.into(),
        }
    }

    /// The Exchange answer for an id that decodes but names nothing.
    pub fn item_not_found() -> Self {
        GraphError::not_found(
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
        )
    }

    /// The Exchange answer for an id that is not an id at all.
    pub fn id_malformed() -> Self {
        GraphError::bad_request("ErrorInvalidIdMalformed", "Id is malformed.")
    }

    /// The router's answer for a path segment it does not know (seen for `/contacts/{id}/move`).
    pub fn unknown_segment(segment: &str) -> Self {
        GraphError::bad_request(
            "RequestBroker--ParseUri",
            format!("Resource not found for the segment '{segment}'."),
        )
    }

    pub fn status(&self) -> StatusCode {
        match self {
            GraphError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            GraphError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            GraphError::Forbidden { .. } => StatusCode::FORBIDDEN,
            GraphError::NotFound { .. } => StatusCode::NOT_FOUND,
            GraphError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            GraphError::Conflict { .. } => StatusCode::CONFLICT,
            GraphError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            GraphError::SyncStateNotFound { .. } => StatusCode::GONE,
            GraphError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            GraphError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            GraphError::Injected { status, .. } => *status,
        }
    }

    fn code_and_message(&self) -> (String, String) {
        match self {
            GraphError::BadRequest { code, message }
            | GraphError::Forbidden { code, message }
            | GraphError::NotFound { code, message }
            | GraphError::Conflict { code, message } => ((*code).to_owned(), message.clone()),
            GraphError::Unauthenticated(message) => (
                "InvalidAuthenticationToken".to_owned(),
                (*message).to_owned(),
            ),
            GraphError::UnsupportedMediaType => (
                "UnsupportedMediaType".to_owned(),
                "The request body must be sent with Content-Type: application/json.".to_owned(),
            ),
            GraphError::MethodNotAllowed => (
                "Request_BadRequest".to_owned(),
                "Specified HTTP method is not allowed for the request target.".to_owned(),
            ),
            GraphError::SyncStateNotFound { token, .. } => (
                "syncStateNotFound".to_owned(),
                format!(
                    "The sync state identified using the request token '{token}' is not found [entryId=00000]."
                ),
            ),
            GraphError::PreconditionFailed => (
                "ErrorIrresolvableConflict".to_owned(),
                "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item.".to_owned(),
            ),
            GraphError::Throttled { code, message, .. } => {
                ((*code).to_owned(), (*message).to_owned())
            }
            GraphError::Injected { code, message, .. } => (code.clone(), message.clone()),
        }
    }

    /// The wire answer, with Graph's headers and error body.
    pub fn into_response(self, client_request_id: &str) -> ApiResponse {
        let status = self.status();
        let (code, message) = self.code_and_message();
        let request_id = uuid::Uuid::new_v4().to_string();
        let date = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string();
        let mut inner = json!({
            "date": date,
            "request-id": request_id,
            "client-request-id": client_request_id,
        });
        if status == StatusCode::TOO_MANY_REQUESTS {
            // The documented throttling sample nests the status again.
            inner["code"] = Value::from("429");
            inner["status"] = Value::from("429");
            inner["message"] = Value::from("Please retry after");
        }
        let body = json!({"error": {"code": code, "message": message, "innerError": inner}});
        let mut response = ApiResponse::new(status, Body::Json(body));
        response.set_header("Content-Type", "application/json");
        match &self {
            GraphError::Throttled { retry_after, .. } => {
                response.set_header("Retry-After", &format_seconds(*retry_after));
            }
            GraphError::Injected {
                retry_after: Some(seconds),
                ..
            } => response.set_header("Retry-After", &format_seconds(*seconds)),
            GraphError::SyncStateNotFound {
                location: Some(location),
                ..
            } => response.set_header("Location", location),
            _ => {}
        }
        response
    }
}

/// `Retry-After` as Graph writes it: seconds, fractional when needed ("2.128").
pub fn format_seconds(seconds: f64) -> String {
    let rounded = (seconds.max(0.0) * 1000.0).round() / 1000.0;
    if rounded.fract() == 0.0 {
        format!("{}", rounded as u64)
    } else {
        format!("{rounded}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_whole_or_fractional_seconds() {
        assert_eq!(format_seconds(2.0), "2");
        assert_eq!(format_seconds(2.1284), "2.128");
        assert_eq!(format_seconds(-1.0), "0");
    }
}
