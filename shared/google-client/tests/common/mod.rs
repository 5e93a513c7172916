//! Shared set-up of the Google client tests: a fresh service-account key, a token endpoint stub
//! that verifies the JWT grant as Google does, and a client pointed at the mock server.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_2048_8192_SHA256, RsaKeyPair, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use google_client::{GoogleClient, GoogleConfig};
use serde_json::{Value, json};
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const TOKEN_PATH: &str = "/token";
pub const SERVICE_ACCOUNT: &str = "sync@contactsync-test.iam.gserviceaccount.com";

/// One key for the whole test binary (RSA generation is slow): PKCS#8 PEM and public DER.
pub fn key() -> &'static (String, Vec<u8>) {
    static KEY: OnceLock<(String, Vec<u8>)> = OnceLock::new();
    KEY.get_or_init(|| {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let body = STANDARD.encode(pair.as_der().unwrap().as_ref());
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            lines.join("\n")
        );
        (pem, pair.public_key().as_ref().to_vec())
    })
}

pub fn config(server: &MockServer) -> GoogleConfig {
    let mut config = GoogleConfig::new(SERVICE_ACCOUNT, key().0.clone().into());
    config.token_uri = Url::parse(&format!("{}{TOKEN_PATH}", server.uri())).unwrap();
    config.api_base = Url::parse(&server.uri()).unwrap();
    config.min_backoff = Duration::from_millis(10);
    config.max_retry_after = Duration::from_millis(200);
    config.max_retries = 3;
    config
}

pub fn client(server: &MockServer) -> GoogleClient {
    GoogleClient::new(config(server)).unwrap()
}

/// The token endpoint as Google runs it: checks the grant type, the assertion's signature with
/// the service account's public key, and its claims (`iss`, `scope`, `aud`, an hour at most),
/// then issues `tok-<sub>-<n>`. Users in `unknown` get `invalid_grant`.
pub struct TokenEndpoint {
    pub audience: String,
    pub issued: AtomicUsize,
    pub claims: Mutex<Vec<Value>>,
    pub unknown: Vec<String>,
}

impl TokenEndpoint {
    fn refuse(status: u16, error: &str, description: &str) -> ResponseTemplate {
        ResponseTemplate::new(status)
            .set_body_json(json!({"error": error, "error_description": description}))
    }
}

impl Respond for TokenEndpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let form: HashMap<String, String> = url::form_urlencoded::parse(&request.body)
            .into_owned()
            .collect();
        if form.get("grant_type").map(String::as_str)
            != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
        {
            return Self::refuse(400, "unsupported_grant_type", "Invalid grant_type");
        }
        let assertion = form.get("assertion").cloned().unwrap_or_default();
        let parts: Vec<&str> = assertion.split('.').collect();
        let verified = parts.len() == 3
            && UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &key().1)
                .verify(
                    format!("{}.{}", parts[0], parts[1]).as_bytes(),
                    &URL_SAFE_NO_PAD.decode(parts[2]).unwrap_or_default(),
                )
                .is_ok();
        if !verified {
            return Self::refuse(400, "invalid_grant", "Invalid JWT Signature.");
        }
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        let lifetime = claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0);
        if header["alg"] != "RS256"
            || claims["iss"] != SERVICE_ACCOUNT
            || claims["scope"] != "https://www.googleapis.com/auth/contacts"
            || claims["aud"] != self.audience.as_str()
            || !(1..=3600).contains(&lifetime)
        {
            return Self::refuse(
                400,
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
            );
        }
        let sub = claims["sub"].as_str().unwrap_or_default().to_owned();
        self.claims.lock().unwrap().push(claims);
        if self.unknown.contains(&sub) {
            return Self::refuse(400, "invalid_grant", "Invalid email or User ID");
        }
        let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        ResponseTemplate::new(200).set_body_json(json!({
            "access_token": format!("tok-{sub}-{n}"), "scope": "https://www.googleapis.com/auth/contacts",
            "token_type": "Bearer", "expires_in": 3599
        }))
    }
}

/// Mounts a verifying token endpoint and returns it for inspection.
pub async fn mount_token(server: &MockServer) -> Arc<TokenEndpoint> {
    mount_token_with(server, Vec::new(), Duration::ZERO).await
}

pub async fn mount_token_with(
    server: &MockServer,
    unknown: Vec<String>,
    delay: Duration,
) -> Arc<TokenEndpoint> {
    let endpoint = Arc::new(TokenEndpoint {
        audience: format!("{}{TOKEN_PATH}", server.uri()),
        issued: AtomicUsize::new(0),
        claims: Mutex::new(Vec::new()),
        unknown,
    });
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(Shared(endpoint.clone(), delay))
        .mount(server)
        .await;
    endpoint
}

/// Lets the test keep a handle on the responder wiremock owns.
struct Shared(Arc<TokenEndpoint>, Duration);

impl Respond for Shared {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.0.respond(request).set_delay(self.1)
    }
}

pub async fn requests_to(server: &MockServer, p: &str) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == p)
        .collect()
}

/// The query of a request as pairs (repeated keys kept).
pub fn query(request: &Request) -> Vec<(String, String)> {
    request.url.query_pairs().into_owned().collect()
}

pub fn param(request: &Request, key: &str) -> Option<String> {
    query(request)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

pub fn person(n: u64) -> Value {
    json!({"resourceName": format!("people/c{n}"), "etag": format!("%E{n}"),
        "names": [{"givenName": format!("Given{n}"), "familyName": "Family"}]})
}

/// Google's error body.
pub fn google_error(code: u16, status: &str, message: &str, reason: Option<&str>) -> Value {
    let mut error = json!({"code": code, "message": message, "status": status});
    if let Some(reason) = reason {
        error["details"] = json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": reason, "domain": "people.googleapis.com"}]);
    }
    json!({ "error": error })
}
