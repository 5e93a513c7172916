//! Salesforce client tests of the reads a sync session relies on: a query answer that cannot be
//! completed is an error (never a silent truncation), and the server's clock as Get Deleted needs it.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use salesforce_client::{Disposition, SalesforceError, SfContact};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn a_page_that_is_not_done_without_a_next_records_url_is_an_incomplete_query() {
    let server = MockServer::start().await;
    mount_login(&server).await;
    Mock::given(method("GET"))
        .and(path(format!("{ROOT}/query")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "totalSize": 3, "done": false,
            "records": [{"Id": "003A"}]})))
        .mount(&server)
        .await;
    let err = client(&server)
        .query::<SfContact>("SELECT Id FROM Contact")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SalesforceError::IncompleteQuery {
                received: 1,
                total: 3
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.disposition(), Disposition::Retry { after: None });
}

#[tokio::test]
async fn a_later_page_that_is_not_done_without_a_next_records_url_is_an_incomplete_query() {
    let server = MockServer::start().await;
    mount_login(&server).await;
    Mock::given(method("GET"))
        .and(path(format!("{ROOT}/queryAll")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "totalSize": 3, "done": false,
            "nextRecordsUrl": format!("{ROOT}/query/01gxx-1"),
            "records": [{"Id": "003A"}]})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{ROOT}/query/01gxx-1")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "totalSize": 3, "done": false,
            "records": [{"Id": "003B"}]})))
        .mount(&server)
        .await;
    let err = client(&server)
        .query_all::<SfContact>("SELECT Id FROM Contact")
        .await
        .unwrap_err();
    assert!(
        matches!(err, SalesforceError::IncompleteQuery { received: 2, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_server_clock_comes_from_date_and_judges_the_get_deleted_window() {
    let server = MockServer::start().await;
    mount_login(&server).await;
    // The server's clock runs ten days ahead of ours.
    let server_time = chrono::Utc::now() + chrono::Duration::days(10);
    Mock::given(method("GET"))
        .and(path(format!("{ROOT}/query")))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header(
                    "Date",
                    server_time
                        .format("%a, %d %b %Y %H:%M:%S GMT")
                        .to_string()
                        .as_str(),
                )
                .set_body_json(json!({"totalSize": 0, "done": true, "records": []})),
        )
        .mount(&server)
        .await;
    let client = client(&server);
    assert!(client.server_now().is_none(), "unknown before any answer");
    client
        .query::<SfContact>("SELECT Id FROM Contact")
        .await
        .unwrap();
    let seen = client.server_now().unwrap();
    assert!(
        (seen - server_time).num_seconds().abs() < 5,
        "{seen} vs {server_time}"
    );
    // Eight days back by our clock is eighteen by Salesforce's: refused without a call.
    let ours = chrono::Utc::now();
    let err = client
        .get_deleted("Contact", ours - chrono::Duration::days(8), ours)
        .await
        .unwrap_err();
    assert!(matches!(err, SalesforceError::InvalidWindow(_)), "{err:?}");
    assert!(
        requests_to(&server, &format!("{ROOT}/sobjects/Contact/deleted/"))
            .await
            .is_empty()
    );
}
