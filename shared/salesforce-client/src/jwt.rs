//! The RS256 JWT assertion of the OAuth 2.0 JWT bearer flow, signed with aws-lc-rs.

use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use secrecy::{ExposeSecret, SecretString};
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
pub struct JwtSigner {
    key: RsaKeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for JwtSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtSigner { .. }")
    }
}

impl JwtSigner {
    /// Parses a PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`) RSA key.
    pub fn from_pem(pem: &SecretString) -> Result<Self, SalesforceError> {
        let der = PrivateKeyDer::from_pem_slice(pem.expose_secret().as_bytes())
            .map_err(|e| SalesforceError::Key(format!("not a PEM private key: {e}")))?;
        let key = match &der {
            PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
            _ => return Err(SalesforceError::Key("not an RSA key".into())),
        }
        .map_err(|e| SalesforceError::Key(format!("rejected: {e}")))?;
        Ok(Self {
            key,
            rng: SystemRandom::new(),
        })
    }

    /// `base64url(header).base64url(claims).base64url(RS256 signature)`.
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
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#);
        let payload = serde_json::to_vec(&claims).map_err(|source| SalesforceError::Decode {
            what: "jwt claims",
            source,
        })?;
        let signing_input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
        let mut signature = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &self.rng,
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| SalesforceError::Key("signing failed".into()))?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};

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
