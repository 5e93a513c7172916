//! Operators sign in to the dashboard with a form: the operator token is posted once and
//! exchanged for a session cookie (`Secure`, `HttpOnly`, `SameSite=Strict`), so it never travels
//! in a URL (browser history, proxy logs). Scripts keep `Authorization: Bearer <token>`.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use chrono::Utc;
use serde::Deserialize;

use crate::Ctx;
use crate::auth::{self, OPERATOR_COOKIE};
use crate::error::ApiError;
use crate::html::{PageError, page, see_other};

#[derive(Debug, Default, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    token: String,
}

fn form_html(error: Option<&str>) -> String {
    let mut body = String::new();
    if let Some(error) = error {
        let _ = write!(
            body,
            "<p class=\"error\" role=\"alert\" id=\"login-error\">{error}</p>"
        );
    }
    let described = if error.is_some() {
        " aria-describedby=\"login-error\""
    } else {
        ""
    };
    let _ = write!(
        body,
        "<form method=\"post\" action=\"/dashboard/login\"><div class=\"field\">\
         <label for=\"token\">Operator token</label><input type=\"password\" id=\"token\" \
         name=\"token\" autocomplete=\"current-password\" required{described}></div>\
         <p class=\"help\">The gateway's <code>ADMIN_TOKEN</code>. Signing in keeps you signed in \
         on this browser for a while; the token itself is never put in a URL.</p>\
         <button type=\"submit\" class=\"primary\">Sign in</button></form>"
    );
    body
}

/// `GET /dashboard/login`: the form (or straight to the dashboard when already signed in).
pub async fn show(State(ctx): State<Arc<Ctx>>, headers: HeaderMap) -> Response {
    if auth::is_operator(&ctx, &headers) {
        return see_other("/dashboard");
    }
    page(StatusCode::OK, "Operator sign-in", &form_html(None))
}

/// `POST /dashboard/login`: the right token sets the session cookie and goes to the dashboard.
pub async fn submit(
    State(ctx): State<Arc<Ctx>>,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Result<Response, PageError> {
    let Form(form) = form.map_err(ApiError::from)?;
    if !auth::is_operator_token(&ctx, form.token.trim()) {
        tracing::info!("A dashboard sign-in with a wrong token was refused.");
        return Ok(page(
            StatusCode::UNAUTHORIZED,
            "Operator sign-in",
            &form_html(Some("That is not the operator token.")),
        ));
    }
    let ttl = ctx.settings.pages.operator_session_ttl.as_secs();
    let expires_at = Utc::now().timestamp() + i64::try_from(ttl).unwrap_or(i64::MAX / 2);
    let value = auth::operator_session(
        ctx.settings.pages.link_key.expose(),
        ctx.settings.admin_token.expose(),
        expires_at,
    );
    let cookie = format!(
        "{OPERATOR_COOKIE}={value}; Path=/; Max-Age={ttl}; Secure; HttpOnly; SameSite=Strict"
    );
    let mut response = see_other("/dashboard");
    let value = HeaderValue::from_str(&cookie)
        .map_err(|e| ApiError::Internal(format!("session cookie: {e}")))?;
    response.headers_mut().insert(header::SET_COOKIE, value);
    tracing::info!("An operator signed in to the dashboard.");
    Ok(response)
}

/// `POST /dashboard/logout`: forgets the session cookie.
pub async fn logout() -> Response {
    let mut response = see_other("/dashboard/login");
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "contactsync_operator=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict",
        ),
    );
    response
}
