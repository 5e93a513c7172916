//! `POST /services/oauth2/token`: JWT bearer, refresh token and client credentials grants
//! with Salesforce's success bodies and `{error, error_description}` failures (contract §1).

use aws_lc_rs::hmac;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Duration;
use serde_json::{Map, Value as Json, json};

use super::jwt;
use crate::errors::{OAuthError, json_response};
use crate::schema::ObjectType;
use crate::state::AppState;

const JWT_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Clock skew Salesforce tolerates on `exp`.
const JWT_SKEW_SECS: i64 = 180;

pub fn handle(st: &AppState, headers: &HeaderMap, body: &[u8]) -> Response {
    match grant(st, headers, body) {
        Ok(body) => {
            let mut r = json_response(StatusCode::OK, &Json::Object(body));
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            );
            r
        }
        Err(e) => e.into_response(),
    }
}

/// `POST /services/oauth2/revoke`: forgets an access or refresh token. Always 200 for a known
/// token; unknown ones get `unsupported_token_type` like Salesforce.
pub fn revoke(st: &AppState, body: &[u8]) -> Response {
    let token = form(body).remove("token").unwrap_or_default();
    if st.sessions.lock().revoke(&token) {
        StatusCode::OK.into_response()
    } else {
        OAuthError::new("unsupported_token_type", "this token type is not supported")
            .into_response()
    }
}

fn form(body: &[u8]) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn grant(st: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Json>, OAuthError> {
    let params = form(body);
    let p = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());
    match p("grant_type") {
        Some(JWT_GRANT) => jwt_bearer(st, p("assertion")),
        Some("refresh_token") => {
            refresh(st, p("client_id"), p("client_secret"), p("refresh_token"))
        }
        Some("client_credentials") => {
            let (id, secret) = match basic_auth(headers) {
                Some((id, secret)) => (Some(id), Some(secret)),
                None => (
                    p("client_id").map(str::to_string),
                    p("client_secret").map(str::to_string),
                ),
            };
            client_credentials(st, id.as_deref(), secret.as_deref())
        }
        // Users of the emulator have no passwords, so the password flow always fails as it would.
        Some("password") => Err(OAuthError::invalid_grant("authentication failure")),
        _ => Err(OAuthError::new(
            "unsupported_grant_type",
            "grant type not supported",
        )),
    }
}

fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let b64 = v
        .strip_prefix("Basic ")
        .or_else(|| v.strip_prefix("basic "))?;
    let decoded = String::from_utf8(STANDARD.decode(b64.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let dec = |s: &str| percent_decode(s);
    Some((dec(id), dec(secret)))
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Looks up an active user by username: (id, canonical username).
fn user(st: &AppState, username: &str) -> Option<(String, String)> {
    let org = st.org.read();
    let r = org.user_by_username(username)?;
    let t = org.table(ObjectType::User);
    let def = ObjectType::User.def();
    let active = !matches!(
        t.get(r, def.must("IsActive")),
        crate::value::Value::Bool(false)
    );
    active.then(|| {
        (
            t.id(r).to_string(),
            t.get(r, def.must("Username"))
                .as_text()
                .unwrap_or_default()
                .to_string(),
        )
    })
}

fn jwt_bearer(st: &AppState, assertion: Option<&str>) -> Result<Map<String, Json>, OAuthError> {
    let assertion = assertion.ok_or_else(|| OAuthError::invalid_grant("invalid assertion"))?;
    let claims = jwt::verify(assertion, &st.jwt_key).map_err(|e| {
        tracing::debug!(error = %e, "Rejected a JWT assertion");
        OAuthError::invalid_grant("invalid assertion")
    })?;
    if claims.iss != st.config.client_id {
        return Err(OAuthError::new(
            "invalid_client_id",
            "client identifier invalid",
        ));
    }
    // Salesforce compares `aud` with its authorization server's URL (or the org's My Domain),
    // not with the host the request reached: a client that signs for the login host it calls
    // fails against a real org, so it fails here too.
    let accepted = &st.config.jwt_audiences;
    if !claims
        .aud
        .values()
        .iter()
        .any(|a| accepted.iter().any(|ok| ok == a.trim_end_matches('/')))
    {
        return Err(OAuthError::invalid_grant("audience is invalid"));
    }
    let now = st.now();
    if claims.exp + JWT_SKEW_SECS < now.timestamp() {
        return Err(OAuthError::invalid_grant("expired authorization code"));
    }
    let username = claims
        .username()
        .ok_or_else(|| OAuthError::invalid_grant("invalid assertion"))?;
    let (user_id, username) = user(st, username)
        .ok_or_else(|| OAuthError::invalid_grant("user hasn't approved this consumer"))?;
    let mut body = session_body(st, &user_id, &username, "web openid api id");
    if !st.config.jwt_response_includes_issued_at {
        body.remove("issued_at");
        body.remove("signature");
    }
    Ok(body)
}

fn check_client(
    st: &AppState,
    id: Option<&str>,
    secret: Option<&str>,
    secret_required: bool,
) -> Result<(), OAuthError> {
    if id != Some(st.config.client_id.as_str()) {
        return Err(OAuthError::new(
            "invalid_client_id",
            "client identifier invalid",
        ));
    }
    match secret {
        Some(s) if s == st.config.client_secret => Ok(()),
        None if !secret_required => Ok(()),
        _ => Err(OAuthError::new(
            "invalid_client",
            "invalid client credentials",
        )),
    }
}

fn refresh(
    st: &AppState,
    client_id: Option<&str>,
    secret: Option<&str>,
    token: Option<&str>,
) -> Result<Map<String, Json>, OAuthError> {
    check_client(st, client_id, secret, false)?;
    let rotate = st.config.refresh_token_rotation;
    let (user_id, username) = token
        .and_then(|t| st.sessions.lock().redeem_refresh(t, rotate))
        .ok_or_else(|| OAuthError::invalid_grant("expired access/refresh token"))?;
    if user(st, &username).is_none() {
        return Err(OAuthError::invalid_grant("expired access/refresh token"));
    }
    let mut body = session_body(st, &user_id, &username, "id api refresh_token");
    if rotate {
        let new = st.sessions.lock().mint_refresh(&user_id, &username);
        body.insert("refresh_token".into(), json!(new));
    }
    Ok(body)
}

fn client_credentials(
    st: &AppState,
    id: Option<&str>,
    secret: Option<&str>,
) -> Result<Map<String, Json>, OAuthError> {
    check_client(st, id, secret, true)?;
    let run_as = st
        .config
        .client_credentials_username
        .as_deref()
        .and_then(|u| user(st, u))
        .ok_or_else(|| OAuthError::invalid_grant("no client credentials user enabled"))?;
    let mut body = session_body(st, &run_as.0, &run_as.1, "api");
    if st.config.include_api_instance_url {
        body.insert("api_instance_url".into(), json!(st.base_url));
    }
    Ok(body)
}

/// Mints a session and builds the common success body.
pub fn session_body(
    st: &AppState,
    user_id: &str,
    username: &str,
    scope: &str,
) -> Map<String, Json> {
    let now = st.now();
    let ttl = Duration::from_std(st.config.token_ttl).unwrap_or(Duration::hours(2));
    let token = st
        .sessions
        .lock()
        .mint(&st.config.org_id, user_id, username, now + ttl);
    let id = st.identity_url(user_id);
    let issued_at = now.timestamp_millis().to_string();
    let key = hmac::Key::new(hmac::HMAC_SHA256, st.config.client_secret.as_bytes());
    let signature =
        STANDARD.encode(hmac::sign(&key, format!("{id}{issued_at}").as_bytes()).as_ref());
    let mut m = Map::new();
    m.insert("access_token".into(), json!(token));
    m.insert("signature".into(), json!(signature));
    m.insert("scope".into(), json!(scope));
    m.insert("instance_url".into(), json!(st.base_url));
    m.insert("id".into(), json!(id));
    m.insert("token_type".into(), json!("Bearer"));
    m.insert("issued_at".into(), json!(issued_at));
    m
}
