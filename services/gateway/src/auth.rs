//! Who may call what: the operator token (admin API, in `Authorization: Bearer`), the operator's
//! dashboard session cookie, and the user's signed settings link, all checked in constant time.
//!
//! Links and session cookies are HMAC-SHA256 tags under the link key (`SETTINGS_LINK_KEY`), never
//! the credential encryption key. A link names its expiry and is signed for the user's current
//! link generation, which revoking bumps. A session cookie names its expiry and is bound to the
//! operator token, so rotating `ADMIN_TOKEN` signs every operator out. No secret ever travels in
//! a URL but the link's own signature.

use aws_lc_rs::{constant_time, hmac};
use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::request::Parts;
use std::sync::Arc;

use axum::extract::FromRequestParts;

use crate::Ctx;
use crate::error::ApiError;

/// The operator's dashboard session cookie.
pub const OPERATOR_COOKIE: &str = "contactsync_operator";

/// The token of an `Authorization: Bearer …` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Whether `token` is the operator's admin token.
pub fn is_operator_token(ctx: &Ctx, token: &str) -> bool {
    let expected = ctx.settings.admin_token.expose();
    // An empty configured token must never let an empty header in. Compared in constant time
    // (only the length may leak, which a token's length is not worth hiding).
    !expected.is_empty()
        && constant_time::verify_slices_are_equal(token.as_bytes(), expected.as_bytes()).is_ok()
}

/// Whether a page request comes from the operator: the token in `Authorization: Bearer` (scripts)
/// or a live session cookie (a browser that signed in).
pub fn is_operator(ctx: &Ctx, headers: &HeaderMap) -> bool {
    if let Some(token) = bearer(headers) {
        return is_operator_token(ctx, token);
    }
    cookie(headers, OPERATOR_COOKIE).is_some_and(|value| {
        verify_operator_session(
            ctx.settings.pages.link_key.expose(),
            ctx.settings.admin_token.expose(),
            value,
            chrono::Utc::now().timestamp(),
        )
    })
}

/// Extractor of the admin API: the request carries `Authorization: Bearer <ADMIN_TOKEN>`, else a
/// 401 JSON error. (Never the session cookie: the API takes no ambient credential.)
pub struct Operator;

impl FromRequestParts<Arc<Ctx>> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, ctx: &Arc<Ctx>) -> Result<Self, ApiError> {
        match bearer(&parts.headers) {
            Some(token) if is_operator_token(ctx, token) => Ok(Operator),
            _ => Err(ApiError::Unauthorized),
        }
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(k, v)| (k == name).then_some(v))
}

fn tag(key: &[u8], message: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    hex::encode(hmac::sign(&key, message).as_ref())
}

fn verify_tag(key: &[u8], message: &[u8], tag_hex: &str) -> bool {
    let Ok(tag) = hex::decode(tag_hex.trim()) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    hmac::verify(&key, message, &tag).is_ok()
}

/// What a settings link signs: its kind (so no link tag is ever a valid cookie tag), the user's
/// link generation, the expiry and the user.
fn link_message(user_id: &str, expires_at: i64, generation: i64) -> Vec<u8> {
    format!("settings-link\n{generation}\n{expires_at}\n{user_id}").into_bytes()
}

/// The `sig` of a user's settings link expiring at `expires_at` (Unix seconds).
pub fn settings_signature(key: &[u8], user_id: &str, expires_at: i64, generation: i64) -> String {
    tag(key, &link_message(user_id, expires_at, generation))
}

/// What a settings link's `exp` and `sig` say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkCheck {
    Valid,
    /// Signed for this user, but past its expiry: the user needs a new link.
    Expired,
    /// Not signed for this user and generation (forged, another user's, or revoked).
    Invalid,
}

/// Checks a settings link's `exp` and `sig` for `user_id` at `now` (Unix seconds); the signature
/// is verified in constant time before the expiry is looked at.
pub fn check_settings_link(
    key: &[u8],
    user_id: &str,
    expires_at: i64,
    generation: i64,
    sig: &str,
    now: i64,
) -> LinkCheck {
    if !verify_tag(key, &link_message(user_id, expires_at, generation), sig) {
        LinkCheck::Invalid
    } else if now >= expires_at {
        LinkCheck::Expired
    } else {
        LinkCheck::Valid
    }
}

fn session_message(admin_token: &str, expires_at: i64) -> Vec<u8> {
    let mut message = format!("operator-session\n{expires_at}\n").into_bytes();
    message.extend_from_slice(admin_token.as_bytes());
    message
}

/// The operator session cookie's value: `<expiry>.<tag>`.
pub fn operator_session(key: &[u8], admin_token: &str, expires_at: i64) -> String {
    format!(
        "{expires_at}.{}",
        tag(key, &session_message(admin_token, expires_at))
    )
}

/// Whether a session cookie's value is live at `now` for the current operator token.
pub fn verify_operator_session(key: &[u8], admin_token: &str, value: &str, now: i64) -> bool {
    let Some((expiry, tag_hex)) = value.split_once('.') else {
        return false;
    };
    let Ok(expires_at) = expiry.parse::<i64>() else {
        return false;
    };
    !admin_token.is_empty()
        && verify_tag(key, &session_message(admin_token, expires_at), tag_hex)
        && now < expires_at
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn a_link_works_for_its_user_generation_and_time_only() {
        let sig = settings_signature(KEY, "alice", 1_000, 0);
        assert_eq!(sig.len(), 64);
        let check = |user, exp, generation, sig: &str, now| {
            check_settings_link(KEY, user, exp, generation, sig, now)
        };
        assert_eq!(check("alice", 1_000, 0, &sig, 999), LinkCheck::Valid);
        assert_eq!(check("alice", 1_000, 0, &sig, 1_000), LinkCheck::Expired);
        assert_eq!(check("bob", 1_000, 0, &sig, 999), LinkCheck::Invalid);
        // A longer life written into the link breaks its signature.
        assert_eq!(check("alice", 9_000, 0, &sig, 999), LinkCheck::Invalid);
        // Revoked: the user's generation moved on.
        assert_eq!(check("alice", 1_000, 1, &sig, 999), LinkCheck::Invalid);
        assert_eq!(check("alice", 1_000, 0, "zz", 999), LinkCheck::Invalid);
        assert_eq!(check("alice", 1_000, 0, "", 999), LinkCheck::Invalid);
        let other_key = b"another key, not the link key!!!";
        let forged = settings_signature(other_key, "alice", 1_000, 0);
        assert_eq!(check("alice", 1_000, 0, &forged, 999), LinkCheck::Invalid);
    }

    #[test]
    fn an_operator_session_lasts_until_its_expiry_and_the_token_it_was_made_for() {
        let value = operator_session(KEY, "token-1", 500);
        assert!(verify_operator_session(KEY, "token-1", &value, 499));
        assert!(!verify_operator_session(KEY, "token-1", &value, 500));
        assert!(!verify_operator_session(KEY, "token-2", &value, 499));
        assert!(!verify_operator_session(KEY, "", &value, 499));
        let stretched = value.replacen("500", "900", 1);
        assert!(!verify_operator_session(KEY, "token-1", &stretched, 499));
        assert!(!verify_operator_session(KEY, "token-1", "garbage", 0));
        // A link's signature is never a session.
        let link = settings_signature(KEY, "x", 500, 0);
        assert!(!verify_operator_session(
            KEY,
            "token-1",
            &format!("500.{link}"),
            0
        ));
    }

    #[test]
    fn bearer_tokens_are_read_case_insensitively() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "bearer t0k".parse().expect("header"));
        assert_eq!(bearer(&headers), Some("t0k"));
        headers.insert("authorization", "Basic abc".parse().expect("header"));
        assert_eq!(bearer(&headers), None);
    }

    #[test]
    fn cookies_are_found_by_name_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, "a=1; contactsync_operator=9.ab".parse().expect("h"));
        headers.append(COOKIE, "b=2".parse().expect("h"));
        assert_eq!(cookie(&headers, OPERATOR_COOKIE), Some("9.ab"));
        assert_eq!(cookie(&headers, "b"), Some("2"));
        assert_eq!(cookie(&headers, "c"), None);
    }
}
