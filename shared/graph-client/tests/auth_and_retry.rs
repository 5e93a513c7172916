//! Graph client tests: app token caching and refresh, re-login on 401, retries honouring Retry-After.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::time::{Duration, Instant};

use graph_client::{Disposition, GraphClient, GraphError, TokenError};
use serde_json::json;
use std::collections::HashMap;
use wiremock::matchers::{bearer_token, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn the_app_token_is_fetched_once_and_reused() {
    let server = MockServer::start().await;
    mount_token(&server, "tok-1", 3599).await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/u1/contactFolders"))
        .and(bearer_token("tok-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(folders_body()))
        .mount(&server)
        .await;
    let client = GraphClient::new(config(&server)).unwrap();
    client.list_contact_folders("u1").await.unwrap();
    let folders = client.list_contact_folders("u1").await.unwrap();
    assert_eq!(folders[0].display_name, "Salesforce Contacts");

    let tokens = requests_to(&server, TOKEN_PATH).await;
    assert_eq!(tokens.len(), 1);
    let form: HashMap<String, String> = url::form_urlencoded::parse(&tokens[0].body)
        .into_owned()
        .collect();
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["client_id"], "client-1");
    assert_eq!(form["client_secret"], "s3cret value");
    assert_eq!(form["scope"], "https://graph.microsoft.com/.default");
    // Every Graph call asks for immutable ids.
    for r in requests_to(&server, "/v1.0/users/u1/contactFolders").await {
        assert_eq!(r.headers["prefer"], "IdType=\"ImmutableId\"");
    }
}

#[tokio::test]
async fn a_token_near_expiry_is_refreshed_before_use() {
    let server = MockServer::start().await;
    mount_token(&server, "tok-short", 0).await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/u1/contactFolders"))
        .respond_with(ResponseTemplate::new(200).set_body_json(folders_body()))
        .mount(&server)
        .await;
    let client = GraphClient::new(config(&server)).unwrap();
    client.list_contact_folders("u1").await.unwrap();
    client.list_contact_folders("u1").await.unwrap();
    assert_eq!(requests_to(&server, TOKEN_PATH).await.len(), 2);
}

#[tokio::test]
async fn a_refused_token_is_replaced_once_and_the_call_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "old"}),
        ))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    mount_token(&server, "new", 3599).await;
    Mock::given(method("GET"))
        .and(bearer_token("old"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": {
            "code": "InvalidAuthenticationToken", "message": "Access token has expired or is not yet valid."}})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(bearer_token("new"))
        .respond_with(ResponseTemplate::new(200).set_body_json(folders_body()))
        .mount(&server)
        .await;
    let client = GraphClient::new(config(&server)).unwrap();
    let folders = client.list_contact_folders("u1").await.unwrap();
    assert_eq!(folders.len(), 1);
    assert_eq!(requests_to(&server, TOKEN_PATH).await.len(), 2);
}

#[tokio::test]
async fn a_token_that_keeps_being_refused_fails_with_reauth() {
    let server = MockServer::start().await;
    mount_token(&server, "t", 3599).await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"error": {"code": "InvalidAuthenticationToken"}})),
        )
        .mount(&server)
        .await;
    let client = GraphClient::new(config(&server)).unwrap();
    let err = client.list_contact_folders("u1").await.unwrap_err();
    assert_eq!(err.disposition(), Disposition::ReAuth);
    assert_eq!(
        requests_to(&server, "/v1.0/users/u1/contactFolders")
            .await
            .len(),
        2
    );
}

#[tokio::test]
async fn a_bad_secret_is_a_fatal_token_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."})))
        .mount(&server)
        .await;
    let client = GraphClient::new(config(&server)).unwrap();
    let err = client.list_contact_folders("u1").await.unwrap_err();
    assert!(
        matches!(&err, GraphError::Token(TokenError::Refused { status: 401, error, .. }) if error == "invalid_client")
    );
    assert_eq!(err.disposition(), Disposition::Fatal);
    // The secret never appears in the error text.
    assert!(!format!("{err} {err:?}").contains("s3cret"));
}

#[tokio::test]
async fn throttling_is_retried_after_retry_after_then_succeeds() {
    let server = MockServer::start().await;
    mount_token(&server, "t", 3599).await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/u1/contactFolders"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "0.3")
                .set_body_json(json!({"error": {"code": "TooManyRequests", "message": "Please retry again later."}})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/u1/contactFolders"))
        .respond_with(ResponseTemplate::new(200).set_body_json(folders_body()))
        .mount(&server)
        .await;
    let client = GraphClient::new(config(&server)).unwrap();
    let started = Instant::now();
    let folders = client.list_contact_folders("u1").await.unwrap();
    assert_eq!(folders.len(), 1);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(
        requests_to(&server, "/v1.0/users/u1/contactFolders")
            .await
            .len(),
        2
    );
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_until_the_cap() {
    let server = MockServer::start().await;
    mount_token(&server, "t", 3599).await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/u1/contactFolders"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/u1/contactFolders"))
        .respond_with(ResponseTemplate::new(200).set_body_json(folders_body()))
        .mount(&server)
        .await;
    let client = GraphClient::new(config(&server)).unwrap();
    assert_eq!(client.list_contact_folders("u1").await.unwrap().len(), 1);
    assert_eq!(
        requests_to(&server, "/v1.0/users/u1/contactFolders")
            .await
            .len(),
        3
    );

    // A server that never recovers: 1 attempt + max_retries, then a retryable error.
    let server = MockServer::start().await;
    mount_token(&server, "t", 3599).await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let mut cfg = config(&server);
    cfg.max_retries = 2;
    let client = GraphClient::new(cfg).unwrap();
    let err = client.list_contact_folders("u1").await.unwrap_err();
    assert_eq!(err.disposition(), Disposition::Retry { after: None });
    assert_eq!(
        requests_to(&server, "/v1.0/users/u1/contactFolders")
            .await
            .len(),
        3
    );
}

#[tokio::test]
async fn a_read_that_times_out_is_retried() {
    let server = MockServer::start().await;
    mount_token(&server, "t", 3599).await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/u1/contactFolders"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(folders_body())
                .set_delay(Duration::from_secs(3)),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/u1/contactFolders"))
        .respond_with(ResponseTemplate::new(200).set_body_json(folders_body()))
        .mount(&server)
        .await;
    let mut cfg = config(&server);
    cfg.request_timeout = Duration::from_millis(300);
    let client = GraphClient::new(cfg).unwrap();
    assert_eq!(client.list_contact_folders("u1").await.unwrap().len(), 1);
    assert_eq!(
        requests_to(&server, "/v1.0/users/u1/contactFolders")
            .await
            .len(),
        2
    );
}

#[tokio::test]
async fn a_create_that_times_out_is_not_resent() {
    let server = MockServer::start().await;
    mount_token(&server, "t", 3599).await;
    Mock::given(method("POST"))
        .and(path("/v1.0/users/u1/contactFolders"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"id": "F1", "displayName": "x"}))
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    let mut cfg = config(&server);
    cfg.request_timeout = Duration::from_millis(300);
    let client = GraphClient::new(cfg).unwrap();
    let err = client.create_contact_folder("u1", "x").await.unwrap_err();
    assert!(matches!(err, GraphError::Transport(_)));
    // It may have been created: the caller re-lists (ensure_folder) rather than resending.
    assert_eq!(
        requests_to(&server, "/v1.0/users/u1/contactFolders")
            .await
            .len(),
        1
    );
}
