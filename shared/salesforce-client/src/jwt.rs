//! The RS256 JWT assertion of Salesforce's OAuth 2.0 JWT bearer flow: its claims and lifetime
//! cap; the key parsing and signing are the shared `http_layer::jwt`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use http_layer::jwt::{Header, JwtError, RsaSigner};
use secrecy::SecretString;
use serde::Serialize;

use crate::error::SalesforceError;

/// The claims Salesforce reads: consumer key, username, login URL, expiry (epoch seconds).
#[derive(Debug, Serialize)]
pub struct Claims<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    pub aud: &'a str,
    pub exp: i64,
}

/// Holds the parsed connected-app key; parsing once also rejects a bad key at start-up.
#[derive(Debug)]
pub struct JwtSigner {
    signer: RsaSigner,
}

impl From<JwtError> for SalesforceError {
    fn from(e: JwtError) -> Self {
        match e {
            JwtError::Key(reason) => SalesforceError::Key(reason),
            JwtError::Sign => SalesforceError::Key("signing failed".into()),
            JwtError::Claims(source) => SalesforceError::Decode {
                what: "jwt claims",
                source,
            },
        }
    }
}

impl JwtSigner {
    /// Parses a PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`) RSA key.
    pub fn from_pem(pem: &SecretString) -> Result<Self, SalesforceError> {
        Ok(Self {
            signer: RsaSigner::from_pem(pem)?,
        })
    }

    /// `base64url({"alg":"RS256"}).base64url(claims).base64url(RS256 signature)`, expiring
    /// `lifetime` from `now` but never more than three minutes out (Salesforce's limit).
    pub fn assertion(
        &self,
        consumer_key: &str,
        username: &str,
        audience: &str,
        now: DateTime<Utc>,
        lifetime: Duration,
    ) -> Result<String, SalesforceError> {
        let lifetime = i64::try_from(lifetime.as_secs()).unwrap_or(180).min(180);
        let claims = Claims {
            iss: consumer_key,
            sub: username,
            aud: audience,
            exp: now.timestamp() + lifetime,
        };
        Ok(self.signer.sign(&Header::default(), &claims)?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    const KEY: &str = include_str!("../tests/fixtures/test_rsa_key.pem");
    const KEY_PKCS1: &str = include_str!("../tests/fixtures/test_rsa_key_pkcs1.pem");
    const PUBLIC: &[u8] = include_bytes!("../tests/fixtures/test_rsa_pub_pkcs1.der");

    fn verify(token: &str) -> serde_json::Value {
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, PUBLIC)
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
            .unwrap();
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "RS256");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap()
    }

    #[test]
    fn an_assertion_verifies_with_the_public_key_and_carries_the_claims() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        for pem in [KEY, KEY_PKCS1] {
            let signer = JwtSigner::from_pem(&SecretString::from(pem.to_owned())).unwrap();
            let token = signer
                .assertion(
                    "ck",
                    "u@x.com",
                    "https://login.salesforce.com",
                    now,
                    Duration::from_secs(170),
                )
                .unwrap();
            let claims = verify(&token);
            assert_eq!(claims["iss"], "ck");
            assert_eq!(claims["sub"], "u@x.com");
            assert_eq!(claims["aud"], "https://login.salesforce.com");
            assert_eq!(claims["exp"], 1_700_000_170);
        }
    }

    #[test]
    fn the_expiry_never_exceeds_three_minutes() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let signer = JwtSigner::from_pem(&SecretString::from(KEY.to_owned())).unwrap();
        let token = signer
            .assertion("ck", "u", "aud", now, Duration::from_secs(3600))
            .unwrap();
        assert_eq!(verify(&token)["exp"], 1_700_000_180);
    }

    #[test]
    fn garbage_is_not_a_key() {
        let err = JwtSigner::from_pem(&SecretString::from("not a key".to_owned())).unwrap_err();
        assert!(matches!(err, SalesforceError::Key(_)));
    }
}
