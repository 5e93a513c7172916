//! Server-rendered HTML: escaping, the page frame with its protective headers, and error pages.
//!
//! Every value that reaches a page goes through [`escape`]; pages carry a strict Content
//! Security Policy (no inline script ever; at most one same-origin script) and
//! `Referrer-Policy: no-referrer`, since a settings link's URL holds the user's signature.

use std::fmt::Write as _;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Escapes text for HTML element content and double- or single-quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query value (for links and form actions built from ids and secrets).
pub fn query_value(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// One stylesheet for every page: readable type, visible keyboard focus, and colours whose
/// contrast against their background is at least 4.5:1 (WCAG AA for normal text).
const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0 auto;padding:1.5rem;max-width:72rem;color:#1a1a1a;background:#fff;line-height:1.45}\
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:1.8rem}h3{font-size:1.05rem}\
a{color:#0b57a4}:focus-visible{outline:3px solid #0b57a4;outline-offset:2px}\
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #8a8a8a;padding:.3rem .5rem;text-align:left;vertical-align:top}th{background:#f0f0f0}\
.error{color:#a40000}.ok{color:#1d6b22}.muted,.help{color:#555}.help{margin:.2rem 0 .8rem;font-size:.95rem}\
.held{background:#fff4f4;border:2px solid #a40000;padding:.2rem 1rem;margin:1rem 0}tr.held{background:#fff4f4}\
fieldset{margin:1rem 0;border:1px solid #8a8a8a;padding:.5rem 1rem}legend{font-weight:600}\
.choice,.field,.switch-row{margin:.4rem 0}.field label{display:block}.switch-row label{font-weight:600;margin-left:.5rem}\
input.switch{appearance:none;width:2.8rem;height:1.5rem;border-radius:1rem;background:#6b6b6b;position:relative;vertical-align:middle;margin:0;cursor:pointer}\
input.switch::before{content:\"\";position:absolute;top:.2rem;left:.2rem;width:1.1rem;height:1.1rem;border-radius:50%;background:#fff}\
input.switch:checked{background:#0b57a4}input.switch:checked::before{left:1.5rem}\
button{font:inherit;padding:.4rem 1rem;border:1px solid #0b57a4;border-radius:4px;background:#fff;color:#0b57a4;cursor:pointer}\
button.primary{background:#0b57a4;color:#fff}button.danger{background:#a40000;border-color:#a40000;color:#fff}\
select,input[type=text],input[type=search],input[type=password]{font:inherit;padding:.3rem;border:1px solid #6b6b6b;border-radius:4px}\
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}dl.facts dt{font-weight:600}dl.facts dd{margin:0}\
.cards{display:flex;flex-wrap:wrap;gap:1rem}.card{border:1px solid #8a8a8a;border-radius:6px;padding:.5rem 1rem;min-width:16rem}\
nav.pages{display:flex;gap:1rem;align-items:center;margin:.5rem 0}svg text{fill:#1a1a1a;font-size:11px}";

/// A complete page with `title` and an already-escaped `body`: no script at all.
pub fn page(status: StatusCode, title: &str, body: &str) -> Response {
    frame(status, title, body, None)
}

/// A page that loads one same-origin script (which may only fetch from the same origin); the
/// page must work without it.
pub fn page_with_script(status: StatusCode, title: &str, body: &str, script: &str) -> Response {
    frame(status, title, body, Some(script))
}

fn frame(status: StatusCode, title: &str, body: &str, script: Option<&str>) -> Response {
    let mut html = String::new();
    let script_tag = script
        .map(|src| format!("<script src=\"{}\" defer></script>", escape(src)))
        .unwrap_or_default();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Contactsync</title><style>{STYLE}</style>{script_tag}</head>\
         <body><main><h1>{title}</h1>\n{body}\n</main></body></html>\n",
        title = escape(title),
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(if script.is_some() {
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; \
             img-src 'self' data:; form-action 'self'; frame-ancestors 'none'"
        } else {
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'"
        }),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// An [`ApiError`] shown as a page, for browsers.
#[derive(Debug)]
pub struct PageError(pub ApiError);

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        PageError(error)
    }
}

impl From<sync_state::StateError> for PageError {
    fn from(error: sync_state::StateError) -> Self {
        PageError(error.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        if status.is_server_error() {
            tracing::warn!(error = %self.0, "A page failed.");
        }
        let title = status.canonical_reason().unwrap_or("Error");
        let body = match self.0 {
            // A person without credentials: say how to get in, not how a script would.
            ApiError::Unauthorized => "<p class=\"error\">Open this page from your settings \
                link, or <a href=\"/dashboard/login\">sign in as an operator</a>.</p>"
                .to_owned(),
            ref e => format!("<p class=\"error\">{}</p>", escape(&e.to_string())),
        };
        page(status, title, &body)
    }
}

/// A 303 to `location` (after a form POST, so a reload does not resubmit it).
pub fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_quotes_are_escaped() {
        assert_eq!(
            escape(r#"<script>alert('x')</script> & "q""#),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(escape("plain"), "plain");
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(query_value("a b&c=d"), "a+b%26c%3Dd");
    }
}
