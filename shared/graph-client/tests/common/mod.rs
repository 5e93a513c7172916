//! Shared set-up of the Graph client tests: a mock Graph with a token endpoint.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use graph_client::GraphConfig;
use serde_json::{Value, json};
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

pub const TOKEN_PATH: &str = "/tenant-1/oauth2/v2.0/token";

pub fn config(server: &MockServer) -> GraphConfig {
    let mut config = GraphConfig::new(
        Url::parse(&format!("{}/v1.0", server.uri())).unwrap(),
        Url::parse(&server.uri()).unwrap(),
        "tenant-1",
        "client-1",
        "s3cret value".to_owned().into(),
    );
    config.min_backoff = Duration::from_millis(10);
    config.max_retry_after = Duration::from_secs(2);
    config.max_page_size = 2;
    config
}

pub async fn mount_token(server: &MockServer, token: &str, expires_in: u64) {
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "token_type": "Bearer", "expires_in": expires_in, "ext_expires_in": expires_in,
            "access_token": token
        })))
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

pub fn folders_body() -> Value {
    json!({"value": [{"id": "F1", "displayName": "Salesforce Contacts", "parentFolderId": "P"}]})
}
