//! Salesforce's error shapes: JSON arrays of `{message, errorCode, fields?}` for REST calls,
//! `statusCode` inside collection results, and `{error, error_description}` from the token endpoint.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as Json, json};

/// One error item. `fields` is `None` where Salesforce omits the key (query, 401, 404 errors).
#[derive(Debug, Clone, PartialEq)]
pub struct SfError {
    pub code: &'static str,
    pub message: String,
    pub fields: Option<Vec<String>>,
}

impl SfError {
    pub fn new(code: &'static str, message: impl Into<String>) -> SfError {
        SfError {
            code,
            message: message.into(),
            fields: None,
        }
    }

    pub fn with_fields(code: &'static str, message: impl Into<String>, fields: &[&str]) -> SfError {
        SfError {
            code,
            message: message.into(),
            fields: Some(fields.iter().map(|f| f.to_string()).collect()),
        }
    }

    /// Single-record REST form: `errorCode`.
    pub fn rest_json(&self) -> Json {
        let mut o = json!({"message": self.message, "errorCode": self.code});
        if let Some(f) = &self.fields {
            o["fields"] = json!(f);
        }
        o
    }

    /// Collection-result form: `statusCode`, `fields` always present.
    pub fn collection_json(&self) -> Json {
        json!({
            "statusCode": self.code,
            "message": self.message,
            "fields": self.fields.clone().unwrap_or_default(),
        })
    }

    pub fn not_found() -> SfError {
        SfError::new("NOT_FOUND", "The requested resource does not exist")
    }

    pub fn entity_is_deleted() -> SfError {
        SfError::with_fields("ENTITY_IS_DELETED", "entity is deleted", &[])
    }

    pub fn invalid_session() -> SfError {
        SfError::new("INVALID_SESSION_ID", "Session expired or invalid")
    }

    pub fn json_parser(message: impl Into<String>) -> SfError {
        SfError::new("JSON_PARSER_ERROR", message)
    }

    pub fn malformed_id(label: &str, value: &str, field: &str) -> SfError {
        SfError::with_fields(
            "MALFORMED_ID",
            format!("{label}: id value of incorrect type: {value}"),
            &[field],
        )
    }
}

/// A failed REST call: status plus the error array.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub errors: Vec<SfError>,
}

impl ApiError {
    pub fn new(status: StatusCode, e: SfError) -> ApiError {
        ApiError {
            status,
            errors: vec![e],
        }
    }

    pub fn bad_request(e: SfError) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, e)
    }

    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, SfError::not_found())
    }

    pub fn method_not_allowed(method: &str) -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            SfError::new(
                "METHOD_NOT_ALLOWED",
                format!("HTTP Method '{method}' not allowed. Allowed are GET,PATCH,DELETE,HEAD"),
            ),
        )
    }
}

impl From<SfError> for ApiError {
    fn from(e: SfError) -> ApiError {
        ApiError::bad_request(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body: Vec<Json> = self.errors.iter().map(SfError::rest_json).collect();
        json_response(self.status, &Json::Array(body))
    }
}

/// Serialises a body with Salesforce's content type.
pub fn json_response(status: StatusCode, body: &Json) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut r = (status, bytes).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    r
}

/// Token-endpoint failure: `{"error","error_description"}`, HTTP 400 unless said otherwise.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{error}: {description}")]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    pub fn new(error: &'static str, description: impl Into<String>) -> OAuthError {
        OAuthError {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
        }
    }

    pub fn invalid_grant(description: impl Into<String>) -> OAuthError {
        OAuthError::new("invalid_grant", description)
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut r = json_response(
            self.status,
            &json!({"error": self.error, "error_description": self.description}),
        );
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }
}
