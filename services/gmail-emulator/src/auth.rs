//! Service accounts with domain-wide delegation (reference §1): RS256 JWT bearer assertions
//! verified with aws-lc-rs against the registered keys, access tokens per impersonated user, and
//! key files as Google's console issues them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{self, KeyPair as _, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use parking_lot::Mutex;
use rustls_pki_types::pem::PemObject;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::errors::{ApiError, OAuthError};
use crate::model::Clock;

/// Google's token endpoint, the audience real clients sign for.
pub const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// The scope domain-wide delegation must grant.
pub const CONTACTS_SCOPE: &str = "https://www.googleapis.com/auth/contacts";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Longest assertion lifetime Google accepts.
const MAX_ASSERTION_SECS: i64 = 3600;
/// Clock skew tolerated on `iat` and `exp` (Google's is undocumented; a few minutes).
const SKEW_SECS: i64 = 300;
const TIMEFRAME: &str = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the key is not a PKCS#8 RSA private key")]
    NotRsaPkcs8,
    #[error("RSA key generation failed")]
    Generate,
    #[error("signing failed")]
    Sign,
}

/// One key of a service account: its id and the public key (PKCS#1 DER) assertions verify with.
#[derive(Clone)]
struct RegisteredKey {
    key_id: String,
    public_key: Vec<u8>,
}

#[derive(Clone)]
struct ServiceAccount {
    client_id: String,
    keys: Vec<RegisteredKey>,
}

/// A private key and its id, PEM PKCS#8.
pub struct GeneratedKey {
    pub key_id: String,
    pub private_key_pem: String,
}

/// The registered service accounts, by client email.
#[derive(Default)]
pub struct ServiceAccounts {
    accounts: Mutex<HashMap<String, ServiceAccount>>,
}

impl ServiceAccounts {
    /// Registers `private_key_pem`'s public half as a key of `client_email`.
    pub fn register(
        &self,
        client_email: &str,
        key_id: &str,
        private_key_pem: &str,
    ) -> Result<String, KeyError> {
        let public_key = public_key_of(private_key_pem)?;
        let mut accounts = self.accounts.lock();
        let account = accounts
            .entry(client_email.to_ascii_lowercase())
            .or_insert_with(|| ServiceAccount {
                client_id: numeric_client_id(),
                keys: Vec::new(),
            });
        account.keys.push(RegisteredKey {
            key_id: key_id.to_owned(),
            public_key,
        });
        Ok(account.client_id.clone())
    }

    pub fn clear(&self) {
        self.accounts.lock().clear();
    }

    fn get(&self, client_email: &str) -> Option<ServiceAccount> {
        self.accounts
            .lock()
            .get(&client_email.to_ascii_lowercase())
            .cloned()
    }
}

fn numeric_client_id() -> String {
    let n: u64 = rand::random::<u64>() % 900_000_000_000_000_000 + 100_000_000_000_000_000;
    format!("1{n}")
}

/// A fresh RSA 2048 key (aws-lc-rs) with a random 40-hex key id.
pub fn generate_key() -> Result<GeneratedKey, KeyError> {
    let pair = KeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyError::Generate)?;
    let der: Pkcs8V1Der<'static> = pair.as_der().map_err(|_| KeyError::Generate)?;
    let mut id = [0u8; 20];
    SystemRandom::new()
        .fill(&mut id)
        .map_err(|_| KeyError::Generate)?;
    Ok(GeneratedKey {
        key_id: hex::encode(id),
        private_key_pem: pem("PRIVATE KEY", der.as_ref()),
    })
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn key_pair(private_key_pem: &str) -> Result<KeyPair, KeyError> {
    let der = rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(private_key_pem.as_bytes())
        .map_err(|_| KeyError::NotRsaPkcs8)?;
    KeyPair::from_pkcs8(der.secret_pkcs8_der()).map_err(|_| KeyError::NotRsaPkcs8)
}

fn public_key_of(private_key_pem: &str) -> Result<Vec<u8>, KeyError> {
    Ok(key_pair(private_key_pem)?.public_key().as_ref().to_vec())
}

/// A service-account key file as the Cloud console downloads it.
pub fn key_file(client_email: &str, client_id: &str, key: &GeneratedKey, token_uri: &str) -> Value {
    let project_id = client_email
        .split('@')
        .nth(1)
        .and_then(|d| d.split('.').next())
        .unwrap_or("contactsync-dev");
    json!({
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": key.key_id,
        "private_key": key.private_key_pem,
        "client_email": client_email,
        "client_id": client_id,
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": format!(
            "https://www.googleapis.com/robot/v1/metadata/x509/{}",
            client_email.replace('@', "%40")
        ),
        "universe_domain": "googleapis.com",
    })
}

/// The claims of a delegation assertion.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct Claims {
    pub iss: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

/// Signs `claims` RS256 with a PKCS#8 PEM key, `kid` in the header as google-auth sends it.
pub fn sign(claims: &Claims, private_key_pem: &str, key_id: &str) -> Result<String, KeyError> {
    let pair = key_pair(private_key_pem)?;
    let header = URL_SAFE_NO_PAD.encode(
        serde_json::to_vec(&json!({"alg": "RS256", "typ": "JWT", "kid": key_id}))
            .map_err(|_| KeyError::Sign)?,
    );
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).map_err(|_| KeyError::Sign)?);
    let signed = format!("{header}.{body}");
    let mut sig = vec![0u8; pair.public_modulus_len()];
    pair.sign(
        &signature::RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        signed.as_bytes(),
        &mut sig,
    )
    .map_err(|_| KeyError::Sign)?;
    Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig)))
}

fn bad_signature() -> OAuthError {
    OAuthError::invalid_grant("Invalid JWT Signature.")
}

/// Checks an assertion's form and signature; returns its claims.
fn verify(assertion: &str, accounts: &ServiceAccounts) -> Result<Claims, OAuthError> {
    let mut parts = assertion.trim().split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(OAuthError::invalid_grant("Invalid JWT: not a JWS."));
    };
    let header: Header = URL_SAFE_NO_PAD
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| OAuthError::invalid_grant("Invalid JWT header."))?;
    if header.alg != "RS256" {
        return Err(bad_signature());
    }
    let claims: Claims = URL_SAFE_NO_PAD
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| {
            OAuthError::invalid_grant("Invalid JWT claims: iss, aud, iat and exp are required.")
        })?;
    let account = accounts
        .get(&claims.iss)
        .ok_or_else(|| OAuthError::invalid_grant("Invalid grant: account not found"))?;
    let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad_signature())?;
    let signed = &assertion.trim()[..h.len() + 1 + p.len()];
    let verifies = account
        .keys
        .iter()
        .filter(|k| header.kid.as_deref().is_none_or(|kid| kid == k.key_id))
        .any(|k| {
            UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &k.public_key)
                .verify(signed.as_bytes(), &sig)
                .is_ok()
        });
    if !verifies {
        return Err(bad_signature());
    }
    Ok(claims)
}

/// An issued access token: whose mailbox it reads and until when.
#[derive(Clone)]
struct Grant {
    mailbox: String,
    expires: DateTime<Utc>,
}

/// Issued access tokens; they expire on the emulator's clock.
#[derive(Default)]
pub struct Tokens {
    grants: Mutex<HashMap<String, Grant>>,
    clock: Arc<Clock>,
}

impl Tokens {
    pub fn new(clock: Arc<Clock>) -> Tokens {
        Tokens {
            grants: Mutex::default(),
            clock,
        }
    }

    pub fn issue(&self, mailbox: &str, lifetime: Duration) -> String {
        let mut raw = [0u8; 32];
        let _ = SystemRandom::new().fill(&mut raw);
        let token = format!("ya29.emu-{}", URL_SAFE_NO_PAD.encode(raw));
        let mut grants = self.grants.lock();
        let now = self.clock.now();
        grants.retain(|_, g| g.expires > now);
        let lifetime = chrono::Duration::from_std(lifetime).unwrap_or(chrono::Duration::MAX);
        grants.insert(
            token.clone(),
            Grant {
                mailbox: mailbox.to_ascii_lowercase(),
                expires: now
                    .checked_add_signed(lifetime)
                    .unwrap_or(DateTime::<Utc>::MAX_UTC),
            },
        );
        token
    }

    /// The mailbox a request's bearer token was issued for.
    pub fn check(&self, authorization: Option<&str>) -> Result<String, ApiError> {
        let token = authorization
            .and_then(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .ok_or_else(ApiError::unauthenticated)?;
        let grants = self.grants.lock();
        match grants.get(token) {
            Some(g) if g.expires > self.clock.now() => Ok(g.mailbox.clone()),
            _ => Err(ApiError::unauthenticated()),
        }
    }

    pub fn clear(&self) {
        self.grants.lock().clear();
    }
}

/// What the token endpoint needs to know about the emulator.
pub struct TokenContext<'a> {
    pub accounts: &'a ServiceAccounts,
    pub tokens: &'a Tokens,
    /// This emulator's own `/token` URL, also accepted as `aud`.
    pub own_token_url: &'a str,
    pub mailbox_exists: &'a dyn Fn(&str) -> bool,
    pub lifetime: Duration,
}

/// `POST /token` with a JWT bearer grant; the JSON answer.
pub fn token_endpoint(body: &[u8], ctx: &TokenContext<'_>) -> Result<Value, OAuthError> {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(body)
        .map_err(|e| OAuthError::invalid_request(format!("Malformed form body: {e}")))?;
    match form.get("grant_type").map(String::as_str) {
        Some(JWT_BEARER) => {}
        Some(_) => return Err(OAuthError::unsupported_grant_type()),
        None => {
            return Err(OAuthError::invalid_request(
                "Missing required parameter: grant_type",
            ));
        }
    }
    let assertion = form
        .get("assertion")
        .ok_or_else(|| OAuthError::invalid_request("Missing required parameter: assertion"))?;
    let claims = verify(assertion, ctx.accounts)?;
    // Wall time, not the emulator's clock: clients sign with their own (real) clocks.
    let now = Utc::now().timestamp();
    if claims.exp - claims.iat > MAX_ASSERTION_SECS
        || claims.exp <= claims.iat
        || claims.iat > now + SKEW_SECS
        || claims.exp < now - SKEW_SECS
    {
        return Err(OAuthError::invalid_grant(TIMEFRAME));
    }
    if claims.aud != GOOGLE_TOKEN_URL && claims.aud != ctx.own_token_url {
        return Err(OAuthError::invalid_grant(format!(
            "Invalid JWT: Failed audience check. The right audience is {GOOGLE_TOKEN_URL}"
        )));
    }
    // Without `sub` the token is the service account's own (an address book nobody sees).
    let mailbox = claims.sub.clone().unwrap_or_else(|| claims.iss.clone());
    if claims.sub.is_some() && !(ctx.mailbox_exists)(&mailbox) {
        return Err(OAuthError::invalid_grant("Invalid email or User ID"));
    }
    if !claims.scope.split_whitespace().any(|s| s == CONTACTS_SCOPE) {
        return Err(OAuthError::unauthorized_client());
    }
    let token = ctx.tokens.issue(&mailbox, ctx.lifetime);
    Ok(json!({
        "access_token": token,
        "expires_in": ctx.lifetime.as_secs(),
        "token_type": "Bearer",
        "scope": claims.scope,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_signs_what_its_registration_verifies() {
        let key = generate_key().expect("generates");
        let accounts = ServiceAccounts::default();
        accounts
            .register(
                "a@p.iam.gserviceaccount.com",
                &key.key_id,
                &key.private_key_pem,
            )
            .expect("registers");
        let now = Utc::now().timestamp();
        let claims = Claims {
            iss: "a@p.iam.gserviceaccount.com".into(),
            sub: None,
            scope: CONTACTS_SCOPE.into(),
            aud: GOOGLE_TOKEN_URL.into(),
            iat: now,
            exp: now + 3600,
        };
        let jwt = sign(&claims, &key.private_key_pem, &key.key_id).expect("signs");
        assert!(verify(&jwt, &accounts).is_ok());
        let other = generate_key().expect("generates");
        let forged = sign(&claims, &other.private_key_pem, &key.key_id).expect("signs");
        assert_eq!(
            verify(&forged, &accounts).err().map(|e| e.description),
            Some("Invalid JWT Signature.".to_owned())
        );
    }
}
