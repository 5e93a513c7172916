//! Shared set-up of the Salesforce client tests: a mock org with a JWT-checking token endpoint.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use salesforce_client::{SalesforceClient, SalesforceConfig};
use serde_json::{Value, json};
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

pub const KEY: &str = include_str!("../fixtures/test_rsa_key.pem");
pub const PUBLIC_KEY: &[u8] = include_bytes!("../fixtures/test_rsa_pub_pkcs1.der");
pub const TOKEN_PATH: &str = "/services/oauth2/token";
pub const ROOT: &str = "/services/data/v60.0";

pub fn config(server: &MockServer) -> SalesforceConfig {
    let mut config = SalesforceConfig::new(
        Url::parse(&server.uri()).unwrap(),
        "consumer-key-1",
        KEY.to_owned().into(),
        "integration@example.com",
    );
    config.min_backoff = Duration::from_millis(10);
    config.max_retry_after = Duration::from_secs(2);
    config.query_batch_size = 200;
    config
}

pub fn client(server: &MockServer) -> SalesforceClient {
    SalesforceClient::new(config(server)).unwrap()
}

/// Verifies a JWT assertion's RS256 signature with the fixture public key; returns its claims.
pub fn verified_claims(assertion: &str) -> Value {
    let parts: Vec<&str> = assertion.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts");
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, PUBLIC_KEY)
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .expect("the assertion verifies with the connected app's public key");
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "RS256");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap()
}

pub fn form(request: &Request) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

/// A token endpoint that answers every login with `token-<n>` for the n-th login and the mock
/// server as instance URL.
pub async fn mount_login(server: &MockServer) {
    let instance = server.uri();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(move |_: &Request| {
            let n = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            ResponseTemplate::new(200).set_body_json(json!({
                "access_token": format!("token-{n}"),
                "scope": "web openid api id",
                "instance_url": instance,
                "id": format!("{instance}/id/00Dxx0000001gPLEAY/005xx000001SwiUAAS"),
                "token_type": "Bearer"
            }))
        })
        .mount(server)
        .await;
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
