//! RS256 JWTs (RFC 7519) for the OAuth 2.0 JWT bearer grant (RFC 7523) of the clients that log
//! in with a private key (Salesforce's connected app, Google's service account): the PEM key
//! parsed once, and any serializable claims signed with aws-lc-rs.
//!
//! Which claims a service reads, and how long an assertion may live, is the client's business;
//! this module only encodes and signs.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

/// Why a key could not be used or a JWT not made.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    /// The PEM text is not an RSA private key we can use; the text says why.
    #[error("{0}")]
    Key(String),
    #[error("signing failed")]
    Sign,
    #[error("jwt claims do not serialize: {0}")]
    Claims(#[source] serde_json::Error),
}

/// The JOSE header: always `RS256`; `typ` and `kid` only when the service wants them (Salesforce
/// takes the bare `{"alg":"RS256"}`, Google documents `{"alg":"RS256","typ":"JWT"}`).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Header<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub typ: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<&'a str>,
}

#[derive(Serialize)]
struct WireHeader<'a> {
    alg: &'static str,
    #[serde(flatten)]
    rest: &'a Header<'a>,
}

/// An RSA private key, parsed once (so a bad key is rejected at start-up, not at the first
/// login), that signs RS256 JWTs.
pub struct RsaSigner {
    key: RsaKeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for RsaSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RsaSigner { .. }")
    }
}

impl RsaSigner {
    /// Parses a PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`) RSA key.
    pub fn from_pem(pem: &SecretString) -> Result<Self, JwtError> {
        let der = PrivateKeyDer::from_pem_slice(pem.expose_secret().as_bytes())
            .map_err(|e| JwtError::Key(format!("not a PEM private key: {e}")))?;
        let key = match &der {
            PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
            _ => return Err(JwtError::Key("not an RSA key".into())),
        }
        .map_err(|e| JwtError::Key(format!("rejected: {e}")))?;
        Ok(Self {
            key,
            rng: SystemRandom::new(),
        })
    }

    /// `base64url(header).base64url(claims).base64url(RS256 signature)`.
    pub fn sign<C: Serialize>(&self, header: &Header<'_>, claims: &C) -> Result<String, JwtError> {
        let header = serde_json::to_vec(&WireHeader {
            alg: "RS256",
            rest: header,
        })
        .map_err(JwtError::Claims)?;
        let payload = serde_json::to_vec(claims).map_err(JwtError::Claims)?;
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let mut signature = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &self.rng,
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| JwtError::Sign)?;
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
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::KeySize;
    use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};

    /// A fresh key as PKCS#8 PEM, and its public key (PKCS#1 DER) to verify with.
    fn key() -> (SecretString, Vec<u8>) {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let der = pair.as_der().unwrap();
        let body = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            lines.join("\n")
        );
        (SecretString::from(pem), pair.public_key().as_ref().to_vec())
    }

    fn part(token: &str, i: usize) -> serde_json::Value {
        let part = token.split('.').nth(i).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn a_jwt_verifies_with_the_public_key_and_carries_header_and_claims() {
        let (pem, public) = key();
        let signer = RsaSigner::from_pem(&pem).unwrap();
        let claims =
            serde_json::json!({"iss": "a@b.iam.gserviceaccount.com", "exp": 1_700_003_600});
        let header = Header {
            typ: Some("JWT"),
            kid: Some("k1"),
        };
        let token = signer.sign(&header, &claims).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &public)
            .verify(
                format!("{}.{}", parts[0], parts[1]).as_bytes(),
                &URL_SAFE_NO_PAD.decode(parts[2]).unwrap(),
            )
            .unwrap();
        assert_eq!(
            part(&token, 0),
            serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": "k1"})
        );
        assert_eq!(part(&token, 1), claims);
    }

    #[test]
    fn the_bare_header_is_alg_only() {
        let (pem, _) = key();
        let token = RsaSigner::from_pem(&pem)
            .unwrap()
            .sign(&Header::default(), &serde_json::json!({}))
            .unwrap();
        assert_eq!(
            token.split('.').next().unwrap(),
            URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#)
        );
    }

    #[test]
    fn text_that_is_no_rsa_pem_key_is_refused_with_a_reason() {
        let err = RsaSigner::from_pem(&SecretString::from("not a key".to_owned())).unwrap_err();
        assert!(
            err.to_string().starts_with("not a PEM private key"),
            "{err}"
        );
        let empty_key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        let err = RsaSigner::from_pem(&SecretString::from(empty_key.to_owned())).unwrap_err();
        assert!(matches!(err, JwtError::Key(_)), "{err}");
    }
}
