//! RS256 JWT assertions for the OAuth JWT bearer flow: verification against the connected
//! app's certificate (aws-lc-rs), and signing for the dev stack and tests.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, RsaKeyPair, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rustls_pki_types::pem::{PemObject, SectionKind};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("assertion is not three base64url parts")]
    Shape,
    #[error("unsupported alg {0:?}")]
    Alg(String),
    #[error("signature does not verify")]
    Signature,
    #[error("claims are not JSON: {0}")]
    Claims(String),
    #[error("signing key is not a PKCS#8 RSA key")]
    Key,
}

/// The claims Salesforce reads (`prn` is the legacy spelling of `sub`; it wins when both are set).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prn: Option<String>,
    #[serde(default)]
    pub aud: Audience,
    pub exp: i64,
}

impl Claims {
    pub fn username(&self) -> Option<&str> {
        self.prn.as_deref().or(self.sub.as_deref())
    }
}

/// `aud` may be a string or an array of strings (RFC 7519).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn values(&self) -> Vec<&str> {
        match self {
            Audience::None => Vec::new(),
            Audience::One(s) => vec![s.as_str()],
            Audience::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

/// Extracts the public key (SubjectPublicKeyInfo or PKCS#1 DER) from a PEM certificate or
/// public key, the forms a connected app's certificate is uploaded in.
pub fn public_key_from_pem(pem: &str) -> Option<Vec<u8>> {
    for item in <(SectionKind, Vec<u8>)>::pem_slice_iter(pem.as_bytes()) {
        let Ok((kind, der)) = item else { continue };
        match kind {
            SectionKind::Certificate => return spki_of_certificate(&der).map(<[u8]>::to_vec),
            SectionKind::PublicKey => return Some(der),
            _ => {}
        }
    }
    None
}

/// Reads one DER TLV: (tag, header+content, content).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *input.first()?;
    let first = *input.get(1)? as usize;
    let (len, hdr) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *input.get(2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let whole = input.get(..hdr + len)?;
    Some((tag, whole, &whole[hdr..]))
}

/// Certificate → tbsCertificate → subjectPublicKeyInfo (the 7th element, or 6th without version).
fn spki_of_certificate(der: &[u8]) -> Option<&[u8]> {
    let (_, _, cert) = tlv(der)?;
    let (_, _, tbs) = tlv(cert)?;
    let mut rest = tbs;
    let mut elems = Vec::new();
    while !rest.is_empty() && elems.len() < 7 {
        let (tag, whole, _) = tlv(rest)?;
        elems.push((tag, whole));
        rest = &rest[whole.len()..];
    }
    let skip_version = usize::from(elems.first()?.0 == 0xa0);
    elems.get(5 + skip_version).map(|(_, w)| *w)
}

/// Verifies an RS256 assertion and returns its claims (expiry and audience are the caller's).
pub fn verify(assertion: &str, public_key_der: &[u8]) -> Result<Claims, JwtError> {
    let mut parts = assertion.trim().split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Shape);
    };
    let header: Header = URL_SAFE_NO_PAD
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(JwtError::Shape)?;
    if header.alg != "RS256" {
        return Err(JwtError::Alg(header.alg));
    }
    let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| JwtError::Shape)?;
    let signed = &assertion.trim()[..h.len() + 1 + p.len()];
    UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, public_key_der)
        .verify(signed.as_bytes(), &sig)
        .map_err(|_| JwtError::Signature)?;
    let payload = URL_SAFE_NO_PAD.decode(p).map_err(|_| JwtError::Shape)?;
    serde_json::from_slice(&payload).map_err(|e| JwtError::Claims(e.to_string()))
}

/// Signs claims with a PKCS#8 RSA private key (PEM) into an RS256 assertion.
pub fn sign(claims: &Claims, private_key_pem: &str) -> Result<String, JwtError> {
    let der = rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(private_key_pem.as_bytes())
        .map_err(|_| JwtError::Key)?;
    let key = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).map_err(|_| JwtError::Key)?;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#);
    let body = URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(claims).map_err(|e| JwtError::Claims(e.to_string()))?);
    let signed = format!("{header}.{body}");
    let mut sig = vec![0u8; key.public_modulus_len()];
    key.sign(
        &signature::RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        signed.as_bytes(),
        &mut sig,
    )
    .map_err(|_| JwtError::Key)?;
    Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            iss: "contactsync-dev".into(),
            sub: Some("a@b.c".into()),
            prn: None,
            aud: Audience::One("https://login.salesforce.com".into()),
            exp: 4_000_000_000,
        }
    }

    #[test]
    fn dev_key_signs_what_dev_certificate_verifies() {
        let jwt = sign(&claims(), crate::DEV_PRIVATE_KEY_PEM).expect("signs");
        let key = public_key_from_pem(crate::DEV_CERT_PEM).expect("certificate has a key");
        let c = verify(&jwt, &key).expect("verifies");
        assert_eq!(c.username(), Some("a@b.c"));
    }

    #[test]
    fn tampered_assertions_do_not_verify() {
        let jwt = sign(&claims(), crate::DEV_PRIVATE_KEY_PEM).expect("signs");
        let key = public_key_from_pem(crate::DEV_CERT_PEM).expect("certificate has a key");
        let mut parts: Vec<&str> = jwt.split('.').collect();
        let other = URL_SAFE_NO_PAD
            .encode(br#"{"iss":"contactsync-dev","sub":"admin@x.y","exp":4000000000}"#);
        parts[1] = &other;
        assert!(matches!(
            verify(&parts.join("."), &key),
            Err(JwtError::Signature)
        ));
    }
}
