//! Google client tests: the service-account grant per user (signed and checked), the token cache,
//! one re-login on 401, the token endpoint's refusals, and retries of 429 and 503.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::sync::atomic::Ordering;
use std::time::Duration;

use google_client::{Disposition, GoogleClient, GoogleError};
use serde_json::json;
use wiremock::matchers::{bearer_token, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn mount_groups(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/v1/contactGroups"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "contactGroups": [{"resourceName": "contactGroups/myContacts",
                "groupType": "SYSTEM_CONTACT_GROUP", "name": "myContacts",
                "formattedName": "My Contacts"}]})))
        .mount(server)
        .await;
}

/// Google's answer to a token it does not accept.
fn unauthenticated() -> ResponseTemplate {
    ResponseTemplate::new(401).set_body_json(google_error(
        401,
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        None,
    ))
}

#[tokio::test]
async fn each_user_gets_one_signed_token_and_reuses_it() {
    let server = MockServer::start().await;
    let tokens = mount_token(&server).await;
    mount_groups(&server).await;
    let client = client(&server);
    client.list_groups("ada@example.com").await.unwrap();
    client.list_groups("ada@example.com").await.unwrap();
    client.list_groups("bob@example.com").await.unwrap();

    // The stub verified signature and claims; one grant per user.
    assert_eq!(tokens.issued.load(Ordering::SeqCst), 2);
    let claims = tokens.claims.lock().unwrap().clone();
    assert_eq!(claims[0]["sub"], "ada@example.com");
    assert_eq!(claims[1]["sub"], "bob@example.com");
    assert_eq!(
        claims[0]["exp"].as_i64().unwrap() - claims[0]["iat"].as_i64().unwrap(),
        3600
    );
    let calls = requests_to(&server, "/v1/contactGroups").await;
    let bearer = |i: usize| {
        calls[i].headers["authorization"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(bearer(0), "Bearer tok-ada@example.com-1");
    assert_eq!(bearer(1), "Bearer tok-ada@example.com-1");
    assert_eq!(bearer(2), "Bearer tok-bob@example.com-2");
}

#[tokio::test]
async fn concurrent_callers_for_one_user_share_one_token_request() {
    let server = MockServer::start().await;
    let tokens = mount_token_with(&server, Vec::new(), Duration::from_millis(200)).await;
    mount_groups(&server).await;
    let client = client(&server);
    let calls = (0..5).map(|_| client.list_groups("ada@example.com"));
    for result in futures::future::join_all(calls).await {
        result.unwrap();
    }
    assert_eq!(tokens.issued.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_refused_token_is_dropped_and_the_call_goes_once_more() {
    let server = MockServer::start().await;
    let tokens = mount_token(&server).await;
    Mock::given(method("GET"))
        .and(bearer_token("tok-ada@example.com-1"))
        .respond_with(unauthenticated())
        .mount(&server)
        .await;
    mount_groups(&server).await;
    let groups = client(&server)
        .list_groups("ada@example.com")
        .await
        .unwrap();
    assert_eq!(groups[0].resource_name, "contactGroups/myContacts");
    assert_eq!(tokens.issued.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_token_refused_twice_is_returned_as_reauth() {
    let server = MockServer::start().await;
    let tokens = mount_token(&server).await;
    Mock::given(method("GET"))
        .respond_with(unauthenticated())
        .mount(&server)
        .await;
    let err = client(&server)
        .list_groups("ada@example.com")
        .await
        .unwrap_err();
    assert_eq!(err.disposition(), Disposition::ReAuth);
    assert_eq!(tokens.issued.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_user_outside_the_domain_is_fatal_for_that_user_only() {
    let server = MockServer::start().await;
    mount_token_with(&server, vec!["gone@example.com".into()], Duration::ZERO).await;
    mount_groups(&server).await;
    let client = client(&server);
    let err = client.list_groups("gone@example.com").await.unwrap_err();
    assert!(
        matches!(&err, GoogleError::UnknownUser { user, .. } if user == "gone@example.com"),
        "{err}"
    );
    assert_eq!(err.disposition(), Disposition::Fatal);
    assert!(!err.is_org_wide());
    client.list_groups("ada@example.com").await.unwrap();
    // Not retried: one grant attempt for the unknown user.
    assert_eq!(requests_to(&server, TOKEN_PATH).await.len(), 2);
}

#[tokio::test]
async fn a_missing_delegation_is_fatal_for_the_org() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": "unauthorized_client",
            "error_description": "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested."})))
        .mount(&server)
        .await;
    let err = client(&server)
        .list_groups("ada@example.com")
        .await
        .unwrap_err();
    assert!(
        matches!(err, GoogleError::DelegationMissing { .. }),
        "{err}"
    );
    assert!(err.is_org_wide());
    assert_eq!(err.disposition(), Disposition::Fatal);
}

#[tokio::test]
async fn a_key_that_is_not_the_service_accounts_is_refused_by_the_signature_check() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    let mut config = config(&server);
    // Same email, another key: the stub's signature check fails as Google's does.
    let other = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let der = aws_lc_rs::encoding::AsDer::as_der(&other).unwrap();
    let body = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, der.as_ref());
    config.private_key_pem =
        format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n").into();
    let err = GoogleClient::new(config)
        .unwrap()
        .list_groups("ada@example.com")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Invalid JWT Signature"), "{err}");
    assert!(err.is_org_wide());
}

#[tokio::test]
async fn a_bad_key_fails_at_construction() {
    let server = MockServer::start().await;
    let mut config = config(&server);
    config.private_key_pem = "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n"
        .to_owned()
        .into();
    let err = GoogleClient::new(config).unwrap_err();
    assert!(matches!(err, GoogleError::Key(_)), "{err}");
}

#[tokio::test]
async fn quota_errors_back_off_then_succeed() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("GET"))
        .and(path("/v1/contactGroups"))
        .respond_with(ResponseTemplate::new(429).set_body_json(google_error(
            429,
            "RESOURCE_EXHAUSTED",
            "Quota exceeded for quota metric 'Critical read requests (Contact and Profile Reads)' and limit 'Critical read requests (Contact and Profile Reads) per minute per user' of service 'people.googleapis.com' for consumer 'project_number:1'.",
            Some("RATE_LIMIT_EXCEEDED"),
        )))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/contactGroups"))
        .respond_with(ResponseTemplate::new(503).set_body_json(google_error(
            503,
            "UNAVAILABLE",
            "The service is currently unavailable.",
            None,
        )))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    mount_groups(&server).await;
    let groups = client(&server)
        .list_groups("ada@example.com")
        .await
        .unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(requests_to(&server, "/v1/contactGroups").await.len(), 4);
}

#[tokio::test]
async fn quota_that_outlasts_the_retries_is_returned_as_retry() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).set_body_json(google_error(
            429,
            "RESOURCE_EXHAUSTED",
            "Quota exceeded",
            Some("RATE_LIMIT_EXCEEDED"),
        )))
        .mount(&server)
        .await;
    let err = client(&server)
        .list_groups("ada@example.com")
        .await
        .unwrap_err();
    assert_eq!(err.disposition(), Disposition::Retry { after: None });
    // The first attempt and max_retries (3) more.
    assert_eq!(requests_to(&server, "/v1/contactGroups").await.len(), 4);
}
