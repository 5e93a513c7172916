//! Salesforce client tests: JWT login, session reuse and re-login, retries, SOQL paging.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use salesforce_client::{ApiUsage, Disposition, SalesforceError, SfContact, TokenError};
use serde_json::json;
use wiremock::matchers::{bearer_token, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn page(records: serde_json::Value, next: Option<&str>) -> serde_json::Value {
    json!({"totalSize": 3, "done": next.is_none(), "nextRecordsUrl": next, "records": records})
}

#[tokio::test]
async fn the_jwt_login_is_signed_and_the_session_is_reused() {
    let server = MockServer::start().await;
    mount_login(&server).await;
    Mock::given(method("GET"))
        .and(path(format!("{ROOT}/query")))
        .and(bearer_token("token-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(json!([]), None)))
        .mount(&server)
        .await;
    let client = client(&server);
    let before = chrono::Utc::now().timestamp();
    client
        .query::<SfContact>("SELECT Id FROM Contact")
        .await
        .unwrap();
    client
        .query::<SfContact>("SELECT Id FROM Contact")
        .await
        .unwrap();

    let logins = requests_to(&server, TOKEN_PATH).await;
    assert_eq!(logins.len(), 1, "one login serves both calls");
    let form = form(&logins[0]);
    assert_eq!(
        form["grant_type"],
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    );
    let claims = verified_claims(&form["assertion"]);
    assert_eq!(claims["iss"], "consumer-key-1");
    assert_eq!(claims["sub"], "integration@example.com");
    // The audience is Salesforce's authorization server, not the host the request goes to.
    assert_eq!(claims["aud"], "https://login.salesforce.com");
    let exp = claims["exp"].as_i64().unwrap();
    assert!(
        exp > before && exp <= before + 180 + 5,
        "exp {exp} within three minutes"
    );
}

#[tokio::test]
async fn a_sandbox_signs_for_test_salesforce_com() {
    let server = MockServer::start().await;
    mount_login(&server).await;
    Mock::given(method("GET"))
        .and(path(format!("{ROOT}/query")))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(json!([]), None)))
        .mount(&server)
        .await;
    let mut config = config(&server);
    config.audience = "https://test.salesforce.com/".to_owned();
    let client = salesforce_client::SalesforceClient::new(config).unwrap();
    client
        .query::<SfContact>("SELECT Id FROM Contact")
        .await
        .unwrap();
    let logins = requests_to(&server, TOKEN_PATH).await;
    let claims = verified_claims(&form(&logins[0])["assertion"]);
    assert_eq!(claims["aud"], "https://test.salesforce.com");
}

#[tokio::test]
async fn an_invalid_session_logs_in_again_once() {
    let server = MockServer::start().await;
    mount_login(&server).await;
    Mock::given(method("GET"))
        .and(bearer_token("token-1"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(bearer_token("token-2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(json!([{"Id": "003A"}]), None)))
        .mount(&server)
        .await;
    let client = client(&server);
    let rows: Vec<SfContact> = client.query("SELECT Id FROM Contact").await.unwrap();
    assert_eq!(rows[0].id, "003A");
    assert_eq!(requests_to(&server, TOKEN_PATH).await.len(), 2);
}

#[tokio::test]
async fn a_session_refused_twice_fails_with_reauth() {
    let server = MockServer::start().await;
    mount_login(&server).await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]),
        ))
        .mount(&server)
        .await;
    let err = client(&server)
        .query::<SfContact>("SELECT Id FROM Contact")
        .await
        .unwrap_err();
    assert_eq!(err.disposition(), Disposition::ReAuth);
    assert_eq!(err.error_code(), Some("INVALID_SESSION_ID"));
    assert_eq!(requests_to(&server, TOKEN_PATH).await.len(), 2);
}

#[tokio::test]
async fn each_user_logs_in_as_themself() {
    let server = MockServer::start().await;
    mount_login(&server).await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(json!([]), None)))
        .mount(&server)
        .await;
    let integration = client(&server);
    let user = integration.for_user("jane@example.com");
    user.query::<SfContact>("SELECT Id FROM Contact")
        .await
        .unwrap();
    integration
        .query::<SfContact>("SELECT Id FROM Contact")
        .await
        .unwrap();
    user.query::<SfContact>("SELECT Id FROM Contact")
        .await
        .unwrap();
    let subs: Vec<String> = requests_to(&server, TOKEN_PATH)
        .await
        .iter()
        .map(|r| {
            verified_claims(&form(r)["assertion"])["sub"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(subs, vec!["jane@example.com", "integration@example.com"]);
}

#[tokio::test]
async fn a_refused_login_is_fatal_and_says_why() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"error": "invalid_grant", "error_description": "user hasn't approved this consumer"}),
        ))
        .mount(&server)
        .await;
    let err = client(&server)
        .query::<SfContact>("SELECT Id FROM Contact")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SalesforceError::Login(TokenError::Refused { status: 400, error, description })
        if error == "invalid_grant" && description.contains("approved"))
    );
    assert_eq!(err.disposition(), Disposition::Fatal);
}

#[tokio::test]
async fn throttling_waits_for_retry_after_then_succeeds() {
    let server = MockServer::start().await;
    mount_login(&server).await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "0.3"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(json!([{"Id": "003A"}]), None)))
        .mount(&server)
        .await;
    let started = Instant::now();
    let rows: Vec<SfContact> = client(&server)
        .query("SELECT Id FROM Contact")
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(
        requests_to(&server, &format!("{ROOT}/query")).await.len(),
        2
    );
}

#[tokio::test]
async fn server_errors_and_row_locks_are_retried() {
    let server = MockServer::start().await;
    mount_login(&server).await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!([{"message": "unable to obtain exclusive access to this record", "errorCode": "UNABLE_TO_LOCK_ROW"}])))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(json!([]), None)))
        .with_priority(3)
        .mount(&server)
        .await;
    client(&server)
        .query::<SfContact>("SELECT Id FROM Contact")
        .await
        .unwrap();
    assert_eq!(
        requests_to(&server, &format!("{ROOT}/query")).await.len(),
        3
    );
}

#[tokio::test]
async fn a_malformed_query_fails_at_once() {
    let server = MockServer::start().await;
    mount_login(&server).await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!([{"message": "unexpected token: 'invalid'", "errorCode": "MALFORMED_QUERY"}]),
        ))
        .mount(&server)
        .await;
    let err = client(&server)
        .query::<SfContact>("invalid")
        .await
        .unwrap_err();
    assert_eq!(err.disposition(), Disposition::Fatal);
    assert_eq!(err.error_code(), Some("MALFORMED_QUERY"));
    assert_eq!(
        requests_to(&server, &format!("{ROOT}/query")).await.len(),
        1
    );
}

#[tokio::test]
async fn a_query_follows_next_records_url_and_reports_api_usage() {
    let server = MockServer::start().await;
    mount_login(&server).await;
    let soql = format!(
        "SELECT {} FROM Contact WHERE LastName = 'O\\'Brien'",
        SfContact::soql_fields()
    );
    Mock::given(method("GET"))
        .and(path(format!("{ROOT}/query")))
        .and(query_param("q", soql.as_str()))
        .and(header("Sforce-Query-Options", "batchSize=200"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("Sforce-Limit-Info", "api-usage=41/15000")
                .set_body_json(page(
                    json!([
                        {"attributes": {"type": "Contact", "url": "/x"}, "Id": "003A", "OwnerId": "005U",
                         "SystemModstamp": "2024-01-02T03:04:05.000+0000", "IsDeleted": false,
                         "Contactsync_Key__c": "k1", "AccountId": null, "LastName": "O'Brien",
                         "Account": null},
                        {"Id": "003B", "LastName": "B"}
                    ]),
                    Some(&format!("{ROOT}/query/01gRO0000016PIAYA2-2")),
                )),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{ROOT}/query/01gRO0000016PIAYA2-2")))
        .and(header("Sforce-Query-Options", "batchSize=200"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("Sforce-Limit-Info", "api-usage=42/15000")
                .set_body_json(page(json!([{"Id": "003C", "LastName": "C"}]), None)),
        )
        .mount(&server)
        .await;
    let client = client(&server);
    let rows: Vec<SfContact> = client.query(&soql).await.unwrap();
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, vec!["003A", "003B", "003C"]);
    assert_eq!(rows[0].sync_key.as_deref(), Some("k1"));
    assert_eq!(rows[0].fields.last_name.as_deref(), Some("O'Brien"));
    assert_eq!(
        client.last_api_usage(),
        Some(ApiUsage {
            used: 42,
            max: 15000
        })
    );
}

#[tokio::test]
async fn query_all_asks_for_deleted_rows_too() {
    let server = MockServer::start().await;
    mount_login(&server).await;
    Mock::given(method("GET"))
        .and(path(format!("{ROOT}/queryAll")))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            json!([{"Id": "003A", "IsDeleted": true, "LastName": "Gone"}]),
            None,
        )))
        .mount(&server)
        .await;
    let rows: Vec<SfContact> = client(&server)
        .query_all("SELECT Id, IsDeleted FROM Contact")
        .await
        .unwrap();
    assert!(rows[0].is_deleted);
}

#[tokio::test]
async fn a_next_records_url_off_the_data_api_is_refused() {
    let server = MockServer::start().await;
    mount_login(&server).await;
    Mock::given(method("GET"))
        .and(path(format!("{ROOT}/query")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(page(json!([]), Some("https://evil.example/steal"))),
        )
        .mount(&server)
        .await;
    let err = client(&server)
        .query::<SfContact>("SELECT Id FROM Contact")
        .await
        .unwrap_err();
    assert!(matches!(err, SalesforceError::ForeignLink(_)));
    assert_eq!(
        requests_to(&server, &format!("{ROOT}/query")).await.len(),
        1
    );
}

#[tokio::test]
async fn an_absolute_next_records_url_on_the_instance_is_followed() {
    let server = MockServer::start().await;
    mount_login(&server).await;
    Mock::given(method("GET"))
        .and(path(format!("{ROOT}/query")))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            json!([{"Id": "003A"}]),
            Some(&format!("{}{ROOT}/query/01g-1", server.uri())),
        )))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{ROOT}/query/01g-1")))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(json!([{"Id": "003B"}]), None)))
        .mount(&server)
        .await;
    let rows: Vec<SfContact> = client(&server)
        .query("SELECT Id FROM Contact")
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
}
