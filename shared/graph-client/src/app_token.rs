//! What the app registration's token says about it: onboarding asks for a fresh token (proving
//! tenant, client id and secret) and reads the application permissions it carries.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::ExposeSecret as _;
use serde::Deserialize;

use crate::client::GraphClient;
use crate::error::GraphError;

/// The application permission the sync needs, granted with admin consent.
pub const CONTACTS_PERMISSION: &str = "Contacts.ReadWrite";

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    roles: Vec<String>,
}

impl GraphClient {
    /// Fetches a fresh app token (never the cached one) and returns the application permissions
    /// (`roles`) it carries, or `None` when the token is not a readable JWT (Entra issues JWTs
    /// for Graph; a token we cannot read is not proof of a missing permission).
    pub async fn app_token_roles(&self) -> Result<Option<Vec<String>>, GraphError> {
        let token = self.fetch_token().await?;
        Ok(roles(token.value().expose_secret()))
    }
}

/// The `roles` claim of a JWT access token, unverified: the token came straight from the token
/// endpoint over TLS, and this only tells an operator what was granted.
pub fn roles(token: &str) -> Option<Vec<String>> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice::<Claims>(&bytes)
        .ok()
        .map(|c| c.roles)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_roles_of_a_jwt_are_read_and_an_opaque_token_has_none() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"roles":["Contacts.ReadWrite"],"tid":"t"}"#);
        assert_eq!(
            roles(&format!("eyJhbGciOiJSUzI1NiJ9.{payload}.c2ln")),
            Some(vec!["Contacts.ReadWrite".to_owned()])
        );
        let none = URL_SAFE_NO_PAD.encode(br#"{"tid":"t"}"#);
        assert_eq!(roles(&format!("h.{none}.s")), Some(Vec::new()));
        assert_eq!(roles("opaque-token"), None);
    }
}
