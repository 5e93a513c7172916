//! Who may call what: the operator token (admin API, dashboard) and the user's signed settings
//! link, both checked in constant time.

use std::sync::Arc;

use aws_lc_rs::hmac;
use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use base64::Engine as _;

use crate::Ctx;
use crate::error::ApiError;

/// Compares two secrets without an early exit, so response timing says nothing about how much
/// of a guess was right (only its length may leak, which a token's length is not worth hiding).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Whether `token` is the operator's admin token.
pub fn is_operator_token(ctx: &Ctx, token: &str) -> bool {
    let expected = ctx.settings.common.admin_token.expose();
    // An empty configured token must never let an empty header in.
    !expected.is_empty() && constant_time_eq(token.as_bytes(), expected.as_bytes())
}

/// Whether the request carries the operator token, in the header or (for pages opened from a
/// browser) in `?token=`.
pub fn is_operator(ctx: &Ctx, headers: &HeaderMap, query_token: Option<&str>) -> bool {
    bearer(headers)
        .or(query_token)
        .is_some_and(|token| is_operator_token(ctx, token))
}

/// Extractor of the admin API: the request carries `Authorization: Bearer <ADMIN_TOKEN>`, else a
/// 401 JSON error.
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

/// The key of settings-link signatures: the configured encryption key's 32 bytes.
fn link_key(encryption_key_b64: &str) -> Result<hmac::Key, ApiError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encryption_key_b64.trim())
        .map_err(|_| ApiError::Internal("the encryption key is not base64".into()))?;
    Ok(hmac::Key::new(hmac::HMAC_SHA256, &bytes))
}

/// The `sig` of a user's settings link: hex HMAC-SHA256 of the user id, keyed with the
/// encryption key (`CONTACTSYNC_ENCRYPTION_KEY`, base64-decoded).
pub fn settings_signature(encryption_key_b64: &str, user_id: &str) -> Result<String, ApiError> {
    let key = link_key(encryption_key_b64)?;
    Ok(hex::encode(hmac::sign(&key, user_id.as_bytes()).as_ref()))
}

/// Whether `sig` is the user's settings-link signature (verified in constant time).
pub fn verify_settings_signature(encryption_key_b64: &str, user_id: &str, sig: &str) -> bool {
    let (Ok(key), Ok(tag)) = (link_key(encryption_key_b64), hex::decode(sig.trim())) else {
        return false;
    };
    hmac::verify(&key, user_id.as_bytes(), &tag).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn constant_time_eq_is_plain_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }

    #[test]
    fn a_signature_verifies_for_its_user_only() {
        let sig = settings_signature(KEY, "alice").expect("sign");
        assert_eq!(sig.len(), 64);
        assert!(verify_settings_signature(KEY, "alice", &sig));
        assert!(!verify_settings_signature(KEY, "bob", &sig));
        assert!(!verify_settings_signature(KEY, "alice", "zz"));
        assert!(!verify_settings_signature(KEY, "alice", ""));
    }

    #[test]
    fn bearer_tokens_are_read_case_insensitively() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "bearer t0k".parse().expect("header"));
        assert_eq!(bearer(&headers), Some("t0k"));
        headers.insert("authorization", "Basic abc".parse().expect("header"));
        assert_eq!(bearer(&headers), None);
    }
}
