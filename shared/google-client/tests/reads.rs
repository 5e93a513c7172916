//! Google client tests of reads: sync rounds over pages with sync tokens and tombstones, expired
//! tokens as a resync, batch gets, and the listing scan for a stamped contact.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;

use google_client::mapping::{SYNC_KEY, sync_key};
use google_client::{Disposition, GoogleError, ItemError, PERSON_FIELDS, SyncNext};
use serde_json::json;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CONNECTIONS: &str = "/v1/people/me/connections";

#[tokio::test]
async fn a_full_round_then_an_incremental_one_keep_their_parameters_on_every_page() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    // Full round: two pages, the sync token on the last.
    Mock::given(method("GET"))
        .and(path(CONNECTIONS))
        .and(query_param_is_missing("syncToken"))
        .and(query_param_is_missing("pageToken"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "connections": [person(1), person(2)], "nextPageToken": "p2", "totalItems": 3})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(CONNECTIONS))
        .and(query_param_is_missing("syncToken"))
        .and(query_param("pageToken", "p2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "connections": [person(3)], "nextSyncToken": "s1", "totalItems": 3})))
        .mount(&server)
        .await;
    // Incremental round from s1: a change and a tombstone, over two pages.
    Mock::given(method("GET"))
        .and(path(CONNECTIONS))
        .and(query_param("syncToken", "s1"))
        .and(query_param_is_missing("pageToken"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "connections": [person(2)], "nextPageToken": "q2"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(CONNECTIONS))
        .and(query_param("syncToken", "s1"))
        .and(query_param("pageToken", "q2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "connections": [{"resourceName": "people/c3", "etag": "%EgU3",
                "metadata": {"sources": [{"type": "CONTACT", "id": "3"}], "deleted": true,
                "objectType": "PERSON"}}],
            "nextSyncToken": "s2"})))
        .mount(&server)
        .await;

    let client = client(&server);
    let full = client.sync("ada@example.com", None).await.unwrap();
    assert!(full.full);
    assert_eq!(full.next_sync_token, "s1");
    let names: Vec<&str> = full
        .people
        .iter()
        .map(|p| p.resource_name.as_str())
        .collect();
    assert_eq!(names, ["people/c1", "people/c2", "people/c3"]);

    let round = client.sync("ada@example.com", Some("s1")).await.unwrap();
    assert!(!round.full);
    assert_eq!(round.next_sync_token, "s2");
    assert_eq!(round.people.len(), 2);
    assert!(!round.people[0].is_deleted());
    assert!(round.people[1].is_deleted());

    for request in requests_to(&server, CONNECTIONS).await {
        assert_eq!(
            param(&request, "personFields").as_deref(),
            Some(PERSON_FIELDS)
        );
        assert_eq!(param(&request, "pageSize").as_deref(), Some("1000"));
        assert_eq!(param(&request, "requestSyncToken").as_deref(), Some("true"));
        assert_eq!(param(&request, "sortOrder"), None);
    }
}

#[tokio::test]
async fn pages_can_be_taken_one_at_a_time() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("GET"))
        .and(path(CONNECTIONS))
        .and(query_param("pageToken", "p2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "connections": [person(3)], "nextSyncToken": "s1"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(CONNECTIONS))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "connections": [person(1)], "nextPageToken": "p2"})))
        .mount(&server)
        .await;
    let client = client(&server);
    let first = client
        .sync_page("ada@example.com", None, None)
        .await
        .unwrap();
    assert_eq!(first.next, SyncNext::Page("p2".into()));
    let last = client
        .sync_page("ada@example.com", None, Some("p2"))
        .await
        .unwrap();
    assert_eq!(last.next, SyncNext::Done("s1".into()));
    assert_eq!(last.people[0].resource_name, "people/c3");
}

#[tokio::test]
async fn an_expired_sync_token_asks_for_a_full_sync_whether_400_or_410() {
    let expired = google_error(
        400,
        "FAILED_PRECONDITION",
        "Sync token is expired. Clear local cache and retry call without the sync token.",
        Some("EXPIRED_SYNC_TOKEN"),
    );
    for status in [400, 410] {
        let server = MockServer::start().await;
        mount_token(&server).await;
        Mock::given(method("GET"))
            .and(path(CONNECTIONS))
            .respond_with(ResponseTemplate::new(status).set_body_json(expired.clone()))
            .mount(&server)
            .await;
        let err = client(&server)
            .sync("ada@example.com", Some("old"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, GoogleError::ExpiredSyncToken { .. }),
            "{status}: {err}"
        );
        assert_eq!(err.disposition(), Disposition::Resync);
        assert_eq!(
            requests_to(&server, CONNECTIONS).await.len(),
            1,
            "not retried"
        );
    }
}

#[tokio::test]
async fn a_page_without_any_token_is_refused() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("GET"))
        .and(path(CONNECTIONS))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"connections": []})))
        .mount(&server)
        .await;
    let err = client(&server)
        .sync("ada@example.com", None)
        .await
        .unwrap_err();
    assert!(matches!(err, GoogleError::Decode { .. }), "{err}");
}

#[tokio::test]
async fn batch_get_asks_200_at_a_time_and_answers_in_input_order() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("GET"))
        .and(path("/v1/people:batchGet"))
        .respond_with(|request: &wiremock::Request| {
            let names: Vec<String> = query(request)
                .into_iter()
                .filter(|(k, _)| k == "resourceNames")
                .map(|(_, v)| v)
                .collect();
            // Answered in reverse, and people/c7 does not exist.
            let responses: Vec<_> = names
                .iter()
                .rev()
                .map(|n| {
                    let id: u64 = n.trim_start_matches("people/c").parse().unwrap();
                    if id == 7 {
                        json!({"requestedResourceName": n, "status": {"code": 5,
                            "message": "Requested entity was not found."}})
                    } else {
                        json!({"requestedResourceName": n, "person": person(id), "status": {}})
                    }
                })
                .collect();
            ResponseTemplate::new(200).set_body_json(json!({ "responses": responses }))
        })
        .mount(&server)
        .await;
    let names: Vec<String> = (1..=250).map(|i| format!("people/c{i}")).collect();
    let results = client(&server).batch_get("ada@example.com", &names).await;
    assert_eq!(results.len(), 250);
    for (i, result) in results.iter().enumerate() {
        if i == 6 {
            let err = result.as_ref().unwrap_err();
            assert!(matches!(err, ItemError::Api { code: 5, .. }), "{err}");
            assert_eq!(err.disposition(), Disposition::PermanentItem);
        } else {
            assert_eq!(result.as_ref().unwrap().resource_name, names[i]);
        }
    }
    let calls = requests_to(&server, "/v1/people:batchGet").await;
    let counts: Vec<usize> = calls
        .iter()
        .map(|r| {
            query(r)
                .iter()
                .filter(|(k, _)| k == "resourceNames")
                .count()
        })
        .collect();
    assert_eq!(counts, [200, 50]);
}

#[tokio::test]
async fn a_malformed_name_fails_alone_in_a_batch_get() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("GET"))
        .and(path("/v1/people:batchGet"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"responses": [
            {"requestedResourceName": "people/c1", "person": person(1)}]})),
        )
        .mount(&server)
        .await;
    let names = vec!["people/c1".to_owned(), "people/../x".to_owned()];
    let results = client(&server).batch_get("ada@example.com", &names).await;
    assert!(results[0].is_ok());
    assert_eq!(
        results[1].as_ref().unwrap_err().disposition(),
        Disposition::PermanentItem
    );
}

#[tokio::test]
async fn the_stamped_contact_is_found_by_scanning_the_listing() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    let mut stamped = person(9);
    stamped["clientData"] =
        json!([{"key": "other", "value": "k-9"}, {"key": SYNC_KEY, "value": "k-9"}]);
    Mock::given(method("GET"))
        .and(path(CONNECTIONS))
        .and(query_param("pageToken", "p2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"connections": [stamped]})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(CONNECTIONS))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "connections": [person(1), person(2)], "nextPageToken": "p2"})))
        .mount(&server)
        .await;
    let client = client(&server);
    let found = client
        .find_by_client_data("ada@example.com", SYNC_KEY, "k-9")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.resource_name, "people/c9");
    assert_eq!(sync_key(&found), Some("k-9"));
    assert!(
        client
            .find_by_client_data("ada@example.com", SYNC_KEY, "k-404")
            .await
            .unwrap()
            .is_none()
    );
    // A plain listing: no sync token asked for or consumed.
    for request in requests_to(&server, CONNECTIONS).await {
        assert_eq!(param(&request, "requestSyncToken"), None);
        assert_eq!(param(&request, "syncToken"), None);
    }
}
