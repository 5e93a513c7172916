//! The request and response values every API operation works on, whether it arrived as an HTTP
//! request or as an item of a `$batch`: one shape, so both go through the same router.

use axum::http::{HeaderMap, Method, StatusCode};
use serde_json::Value;

/// The JSON content type Graph answers with.
pub const ODATA_JSON: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/// One API operation to perform.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: Method,
    /// The path as sent, still percent-encoded, starting with `/v1.0/`.
    pub path: String,
    /// Query parameters, decoded, in order.
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// Scheme and authority for links we write (`http://127.0.0.1:8091`).
    pub base_url: String,
}

impl ApiRequest {
    /// The first value of a query parameter; OData option names are case-insensitive.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every `Prefer` preference, split on commas, across repeated headers.
    pub fn preferences(&self) -> impl Iterator<Item = &str> {
        self.headers
            .get_all("prefer")
            .into_iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
    }

    /// `Prefer: IdType="ImmutableId"`.
    pub fn wants_immutable_ids(&self) -> bool {
        self.preferences().any(|p| {
            let compact: String = p.chars().filter(|c| !c.is_whitespace()).collect();
            compact.eq_ignore_ascii_case("IdType=\"ImmutableId\"")
                || compact.eq_ignore_ascii_case("IdType=ImmutableId")
        })
    }

    /// `Prefer: odata.maxpagesize=N`.
    pub fn max_page_size(&self) -> Option<usize> {
        self.preferences().find_map(|p| {
            let (name, value) = p.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("odata.maxpagesize")
                .then(|| value.trim().trim_matches('"').parse().ok())
                .flatten()
        })
    }

    pub fn client_request_id(&self) -> String {
        self.header("client-request-id")
            .map(str::to_owned)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
    }
}

/// A response body.
#[derive(Debug, Clone)]
pub enum Body {
    Empty,
    Json(Value),
}

/// The answer to one API operation.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    pub status: StatusCode,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl ApiResponse {
    pub fn new(status: StatusCode, body: Body) -> Self {
        ApiResponse {
            status,
            headers: Vec::new(),
            body,
        }
    }

    /// A success with an OData JSON body.
    pub fn json(status: StatusCode, value: Value) -> Self {
        let mut response = ApiResponse::new(status, Body::Json(value));
        response.set_header("Content-Type", ODATA_JSON);
        response.set_header("OData-Version", "4.0");
        response
    }

    pub fn no_content() -> Self {
        ApiResponse::new(StatusCode::NO_CONTENT, Body::Empty)
    }

    pub fn set_header(&mut self, name: &str, value: &str) {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
    }

    /// Converts to an axum response, adding the per-request headers Graph always sends.
    pub fn into_http(self, client_request_id: &str) -> axum::response::Response {
        let mut builder = axum::http::Response::builder().status(self.status);
        let request_id = uuid::Uuid::new_v4().to_string();
        builder = builder
            .header("request-id", request_id)
            .header("client-request-id", client_request_id);
        if !self
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("cache-control"))
        {
            builder = builder.header("Cache-Control", "no-cache");
        }
        for (name, value) in &self.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let body = match self.body {
            Body::Empty => axum::body::Body::empty(),
            Body::Json(value) => axum::body::Body::from(value.to_string()),
        };
        builder.body(body).unwrap_or_else(|_| {
            // Only reachable with a header value we built wrongly; answer plainly rather than panic.
            let mut response = axum::response::Response::new(axum::body::Body::empty());
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            response
        })
    }
}

/// Percent-decodes one path segment.
pub fn decode_segment(raw: &str) -> String {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8_lossy()
        .into_owned()
}

/// Percent-encodes an id for use in a path segment we write into a link.
pub fn encode_segment(value: &str) -> String {
    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'=')
        .remove(b'@');
    percent_encoding::utf8_percent_encode(value, SEGMENT).to_string()
}

/// Parses a query string the way OData servers do (`+` is a space).
pub fn parse_query(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    })
    .unwrap_or_default()
}
