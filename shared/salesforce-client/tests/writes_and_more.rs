//! Salesforce client tests: collections (split at 200, per-record errors, lock retries), upsert,
//! delete, Get Deleted, list views.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use salesforce_client::{
    Deleted, Disposition, RecordFailure, SYNC_KEY_FIELD, SalesforceError, Saved, SfContactWrite,
};
use serde_json::{Value, json};
use sync_core::fields::SalesforceContactFields;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Answers collection calls per record and records each call's size: a record whose LastName is
/// empty fails REQUIRED_FIELD_MISSING; one named `locked` hits UNABLE_TO_LOCK_ROW the first time.
#[derive(Clone, Default)]
struct CollectionResponder {
    sizes: Arc<Mutex<Vec<usize>>>,
    locked_once: Arc<Mutex<bool>>,
}

impl Respond for CollectionResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = request.body_json().unwrap();
        assert_eq!(body["allOrNone"], false);
        let records = body["records"].as_array().unwrap();
        self.sizes.lock().unwrap().push(records.len());
        let results: Vec<Value> = records
            .iter()
            .map(|r| {
                assert_eq!(r["attributes"]["type"], "Contact");
                let last = r["LastName"].as_str().unwrap_or_default();
                if last.is_empty() {
                    return json!({"success": false, "errors": [{"statusCode": "REQUIRED_FIELD_MISSING",
                        "message": "Required fields are missing: [LastName]", "fields": ["LastName"]}]});
                }
                if last == "locked" {
                    let mut done = self.locked_once.lock().unwrap();
                    if !*done {
                        *done = true;
                        return json!({"success": false, "errors": [{"statusCode": "UNABLE_TO_LOCK_ROW",
                            "message": "unable to obtain exclusive access to this record", "fields": []}]});
                    }
                }
                let id = r["id"].as_str().map(str::to_owned).unwrap_or(format!("003{last}"));
                json!({"id": id, "success": true, "errors": [], "created": r.get("id").is_none()})
            })
            .collect();
        ResponseTemplate::new(200).set_body_json(results)
    }
}

fn contact(last: &str) -> SfContactWrite {
    SfContactWrite {
        owner_id: Some("005U".into()),
        sync_key: Some(format!("key-{last}")),
        fields: SalesforceContactFields {
            last_name: Some(last.into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[tokio::test]
async fn creates_split_at_200_keep_order_and_retry_only_locked_records() {
    let server = MockServer::start().await;
    mount_login(&server).await;
    let responder = CollectionResponder::default();
    Mock::given(method("POST"))
        .and(path(format!("{ROOT}/composite/sobjects")))
        .respond_with(responder.clone())
        .mount(&server)
        .await;
    let mut records: Vec<SfContactWrite> = (0..450).map(|i| contact(&format!("n{i}"))).collect();
    records[10] = contact("");
    records[333] = contact("locked");
    let results = client(&server).create("Contact", &records).await;

    assert_eq!(results.len(), 450);
    assert_eq!(*responder.sizes.lock().unwrap(), vec![200, 200, 50, 1]);
    assert_eq!(
        results[0].as_ref().unwrap(),
        &Saved {
            id: "003n0".into(),
            created: Some(true)
        }
    );
    assert_eq!(results[449].as_ref().unwrap().id, "003n449");
    assert_eq!(results[333].as_ref().unwrap().id, "003locked");
    let failure = results[10].as_ref().unwrap_err();
    assert_eq!(failure.disposition(), Disposition::PermanentItem);
    let error = failure.first_error().unwrap();
    assert_eq!(error.status_code, "REQUIRED_FIELD_MISSING");
    assert_eq!(error.fields, vec!["LastName"]);

    let first: Value = requests_to(&server, &format!("{ROOT}/composite/sobjects")).await[0]
        .body_json()
        .unwrap();
    let record = &first["records"][0];
    assert_eq!(record["OwnerId"], "005U");
    assert_eq!(record[SYNC_KEY_FIELD], "key-n0");
    assert!(
        record.get("AccountId").is_none(),
        "unset bookkeeping is left out"
    );
    assert!(
        record.get("Account").is_none(),
        "the account name is never written"
    );
}

#[tokio::test]
async fn a_create_that_may_have_landed_is_not_resent() {
    let server = MockServer::start().await;
    mount_login(&server).await;
    Mock::given(method("POST"))
        .and(path(format!("{ROOT}/composite/sobjects")))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let results = client(&server)
        .create("Contact", &[contact("a"), contact("b")])
        .await;
    assert_eq!(
        requests_to(&server, &format!("{ROOT}/composite/sobjects"))
            .await
            .len(),
        1
    );
    for r in results {
        assert!(matches!(r, Err(RecordFailure::Request(_))));
    }
}

#[tokio::test]
async fn updates_carry_the_id_and_are_retried_after_server_errors() {
    let server = MockServer::start().await;
    mount_login(&server).await;
    Mock::given(method("PATCH"))
        .and(path(format!("{ROOT}/composite/sobjects")))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("{ROOT}/composite/sobjects")))
        .respond_with(CollectionResponder::default())
        .mount(&server)
        .await;
    let records = vec![
        (
            "003X".to_owned(),
            json!({"LastName": "Renamed", "Title": null}),
        ),
        ("003Y".to_owned(), json!({"LastName": "Other"})),
    ];
    let results = client(&server).update("Contact", &records).await;
    assert_eq!(results[0].as_ref().unwrap().id, "003X");
    assert_eq!(results[1].as_ref().unwrap().id, "003Y");
    let sent: Value = requests_to(&server, &format!("{ROOT}/composite/sobjects")).await[1]
        .body_json()
        .unwrap();
    assert_eq!(
        sent["records"][0],
        json!({"attributes": {"type": "Contact"}, "id": "003X", "LastName": "Renamed", "Title": null})
    );
}

#[tokio::test]
async fn upserts_go_by_the_sync_key_and_report_created() {
    let server = MockServer::start().await;
    mount_login(&server).await;
    Mock::given(method("PATCH"))
        .and(path(format!("{ROOT}/composite/sobjects/Contact/{SYNC_KEY_FIELD}")))
        .respond_with(|request: &Request| {
            let body: Value = request.body_json().unwrap();
            let results: Vec<Value> = body["records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    let key = r[SYNC_KEY_FIELD].as_str().unwrap();
                    json!({"id": format!("003{key}"), "success": true, "errors": [], "created": key == "key-new"})
                })
                .collect();
            ResponseTemplate::new(200).set_body_json(results)
        })
        .mount(&server)
        .await;
    let client = client(&server);
    let results = client
        .upsert_contacts(&[contact("new"), contact("old")])
        .await;
    assert_eq!(results[0].as_ref().unwrap().created, Some(true));
    assert_eq!(results[1].as_ref().unwrap().created, Some(false));

    let mut keyless = contact("x");
    keyless.sync_key = None;
    let refused = client.upsert_contacts(&[keyless]).await;
    assert!(
        matches!(&refused[0], Err(RecordFailure::Request(e)) if matches!(**e, SalesforceError::Config(_)))
    );
}

#[tokio::test]
async fn deletes_treat_already_deleted_records_as_done() {
    let server = MockServer::start().await;
    mount_login(&server).await;
    Mock::given(method("DELETE"))
        .and(path(format!("{ROOT}/composite/sobjects")))
        .respond_with(|request: &Request| {
            let query: std::collections::HashMap<String, String> =
                request.url.query_pairs().into_owned().collect();
            assert_eq!(query["allOrNone"], "false");
            let results: Vec<Value> = query["ids"]
                .split(',')
                .map(|id| match id {
                    "003gone" => json!({"id": id, "success": false, "errors": [
                        {"statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted", "fields": []}]}),
                    "003bad" => json!({"success": false, "errors": [
                        {"statusCode": "MALFORMED_ID", "message": "malformed id 003bad", "fields": ["Id"]}]}),
                    _ => json!({"id": id, "success": true, "errors": []}),
                })
                .collect();
            ResponseTemplate::new(200).set_body_json(results)
        })
        .mount(&server)
        .await;
    let ids: Vec<String> = ["003a", "003gone", "003bad"].map(String::from).to_vec();
    let results = client(&server).delete(&ids).await;
    assert_eq!(
        results[0].as_ref().unwrap(),
        &Deleted {
            id: "003a".into(),
            already_gone: false
        }
    );
    assert_eq!(
        results[1].as_ref().unwrap(),
        &Deleted {
            id: "003gone".into(),
            already_gone: true
        }
    );
    assert_eq!(
        results[2].as_ref().unwrap_err().disposition(),
        Disposition::PermanentItem
    );
}

#[tokio::test]
async fn get_deleted_sends_the_window_and_parses_the_log() {
    let server = MockServer::start().await;
    mount_login(&server).await;
    let now = chrono::Utc::now();
    let start = now - chrono::Duration::hours(2);
    Mock::given(method("GET"))
        .and(path(format!("{ROOT}/sobjects/Contact/deleted/")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "deletedRecords": [{"id": "003D", "deletedDate": "2024-05-07T22:07:19.000+0000"}],
            "earliestDateAvailable": "2024-05-03T15:57:00.000+0000",
            "latestDateCovered": "2024-05-08T21:20:00.000+0000"})))
        .mount(&server)
        .await;
    let client = client(&server);
    let deleted = client.get_deleted("Contact", start, now).await.unwrap();
    assert_eq!(deleted.deleted_records[0].id, "003D");

    let request = &requests_to(&server, &format!("{ROOT}/sobjects/Contact/deleted/")).await[0];
    let raw_query = request.url.query().unwrap();
    assert!(
        raw_query.contains("%2B00%3A00"),
        "the offset is url-encoded: {raw_query}"
    );
    let query: std::collections::HashMap<String, String> =
        request.url.query_pairs().into_owned().collect();
    assert_eq!(
        query["start"],
        start.format("%Y-%m-%dT%H:%M:00+00:00").to_string()
    );
    assert_eq!(
        query["end"],
        now.format("%Y-%m-%dT%H:%M:00+00:00").to_string()
    );

    // A window Salesforce would refuse is refused here, without a call.
    let err = client
        .get_deleted("Contact", now - chrono::Duration::days(20), now)
        .await
        .unwrap_err();
    assert_eq!(err.disposition(), Disposition::Resync);
    assert_eq!(
        requests_to(&server, &format!("{ROOT}/sobjects/Contact/deleted/"))
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn a_list_view_describe_yields_its_filter() {
    let server = MockServer::start().await;
    mount_login(&server).await;
    Mock::given(method("GET"))
        .and(path(format!("{ROOT}/sobjects/Contact/listviews")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "done": true, "nextRecordsUrl": null, "size": 1, "sobjectType": "Contact",
            "listviews": [{"describeUrl": "/x", "developerName": "VIPs", "id": "00BD0000005WcCNMA0",
                "label": "VIPs", "resultsUrl": "/y", "soqlCompatible": true, "url": "/z"}]})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{ROOT}/sobjects/Contact/listviews/00BD0000005WcCNMA0/describe")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "columns": [], "id": "00BD0000005WcCN", "orderBy": [], "scope": null, "sobjectType": "Contact",
            "query": "SELECT name, id FROM Contact WHERE Title LIKE '%VP%' ORDER BY Name ASC NULLS FIRST, Id ASC NULLS FIRST",
            "whereCondition": {"field": "Title", "operator": "contains", "values": ["VP"]}})))
        .mount(&server)
        .await;
    let client = client(&server);
    let views = client.list_views("Contact").await.unwrap();
    assert_eq!(views[0].label, "VIPs");
    let describe = client
        .describe_list_view("Contact", &views[0].id)
        .await
        .unwrap();
    assert_eq!(describe.where_clause(), Some("Title LIKE '%VP%'"));
    assert_eq!(
        describe.id, views[0].id,
        "the describe's 15-character id is the listed view (B15)"
    );
}

#[tokio::test]
async fn a_create_that_times_out_is_not_resent() {
    let server = MockServer::start().await;
    mount_login(&server).await;
    Mock::given(method("POST"))
        .and(path(format!("{ROOT}/composite/sobjects")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([{"id": "003a", "success": true, "errors": []}]))
                .set_delay(std::time::Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    let mut cfg = config(&server);
    cfg.request_timeout = std::time::Duration::from_millis(300);
    let client = salesforce_client::SalesforceClient::new(cfg).unwrap();
    let results = client.create("Contact", &[contact("a")]).await;
    let failure = results[0].as_ref().unwrap_err();
    assert!(
        matches!(failure, RecordFailure::Request(e) if matches!(**e, SalesforceError::Transport(_)))
    );
    assert_eq!(failure.disposition(), Disposition::Retry { after: None });
    assert_eq!(
        requests_to(&server, &format!("{ROOT}/composite/sobjects"))
            .await
            .len(),
        1
    );
}
