//! Graph client tests: $batch writes (split at 20, per-item results, throttled-item retry for as
//! long as the throttled wait lasts), subscriptions.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use graph_client::{
    ContactPatch, ContactWrite, Disposition, GraphClient, ItemError, NewContact, NewSubscription,
    SYNC_KEY_PROPERTY_ID, SubscriptionResource, WriteOutcome,
};
use serde_json::{Value, json};
use sync_core::fields::GraphContactFields;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Answers `$batch` per item: records every batch's size, throttles item ids listed in
/// `throttle_once` and answers 500 to those in `error_once` the first time they are seen, fails
/// PATCH of `bad`, 404s DELETE of `gone`.
#[derive(Clone, Default)]
struct BatchResponder {
    sizes: Arc<Mutex<Vec<usize>>>,
    seen: Arc<Mutex<HashMap<String, usize>>>,
    throttle_once: Vec<String>,
    error_once: Vec<String>,
    /// How many times the `throttle_once` items are throttled (0: once).
    throttle_times: usize,
    /// Throttle for the request budget (`TooManyRequests`) rather than for concurrency.
    over_budget: bool,
}

impl Respond for BatchResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = request.body_json().unwrap();
        let requests = body["requests"].as_array().unwrap();
        self.sizes.lock().unwrap().push(requests.len());
        let responses: Vec<Value> = requests
            .iter()
            .map(|r| {
                let id = r["id"].as_str().unwrap().to_owned();
                let url = r["url"].as_str().unwrap();
                let method = r["method"].as_str().unwrap();
                let target = url.rsplit('/').next().unwrap().to_owned();
                let key = r["body"]["surname"].as_str().unwrap_or(&target).to_owned();
                let times = {
                    let mut seen = self.seen.lock().unwrap();
                    let n = seen.entry(format!("{method} {key}")).or_default();
                    *n += 1;
                    *n
                };
                if self.throttle_once.contains(&key) && times <= self.throttle_times.max(1) {
                    return if self.over_budget {
                        json!({"id": id, "status": 429, "headers": {"Retry-After": "0.1"},
                            "body": {"error": {"code": "TooManyRequests",
                            "message": "Please retry again later."}}})
                    } else {
                        json!({"id": id, "status": 429, "headers": {"Retry-After": "0.2"},
                            "body": {"error": {"code": "ApplicationThrottled",
                            "message": "Application is over its MailboxConcurrency limit."}}})
                    };
                }
                if self.error_once.contains(&key) && times == 1 {
                    return json!({"id": id, "status": 500, "body": {"error": {
                        "code": "generalException", "message": "An unspecified error has occurred."}}});
                }
                match (method, target.as_str()) {
                    ("PATCH", "bad") => json!({"id": id, "status": 400, "body": {"error": {
                        "code": "ErrorInvalidProperty", "message": "The multi value property EmailAddresses has 4 entries"}}}),
                    ("DELETE", "gone") => json!({"id": id, "status": 404, "body": {"error": {"code": "ErrorItemNotFound"}}}),
                    ("DELETE", _) => json!({"id": id, "status": 204}),
                    ("POST", _) => json!({"id": id, "status": 201, "body": {
                        "id": format!("new-{key}"), "changeKey": "ck1", "surname": key}}),
                    _ => json!({"id": id, "status": 200, "body": {"id": target, "changeKey": "ck2"}}),
                }
            })
            .collect();
        // Graph may answer in any order; the client must restore input order.
        let mut responses = responses;
        responses.reverse();
        ResponseTemplate::new(200).set_body_json(json!({ "responses": responses }))
    }
}

/// A mock Graph whose `$batch` answers as `responder` does.
async fn batch_server(responder: &BatchResponder) -> MockServer {
    let server = MockServer::start().await;
    mount_token(&server, "t", 3599).await;
    Mock::given(method("POST"))
        .and(path("/v1.0/$batch"))
        .respond_with(responder.clone())
        .mount(&server)
        .await;
    server
}

fn create(surname: &str) -> ContactWrite {
    ContactWrite::Create {
        folder_id: "F1".into(),
        contact: NewContact {
            fields: GraphContactFields {
                surname: Some(surname.into()),
                ..Default::default()
            },
            categories: vec!["Salesforce".into()],
            sync_key: Some(format!("key-{surname}")),
        },
    }
}

#[tokio::test]
async fn batches_split_at_twenty_keep_input_order_and_retry_only_throttled_items() {
    let responder = BatchResponder {
        throttle_once: vec!["s7".into(), "s30".into()],
        ..Default::default()
    };
    let server = batch_server(&responder).await;
    let client = GraphClient::new(config(&server)).unwrap();

    let mut writes: Vec<ContactWrite> = (0..41).map(|i| create(&format!("s{i}"))).collect();
    writes.push(ContactWrite::Update {
        contact_id: "bad".into(),
        patch: ContactPatch::new().with_categories(vec!["Salesforce".into()]),
    });
    writes.push(ContactWrite::Delete {
        contact_id: "gone".into(),
    });
    writes.push(ContactWrite::Delete {
        contact_id: "C9".into(),
    });
    writes.push(ContactWrite::Update {
        contact_id: "C8".into(),
        patch: ContactPatch::new().with_sync_key("k8"),
    });

    let results = client.write_contacts("u1", &writes).await;
    assert_eq!(results.len(), 45);
    for (i, result) in results.iter().take(41).enumerate() {
        match result {
            Ok(WriteOutcome::Created(c)) => assert_eq!(c.id, format!("new-s{i}")),
            other => panic!("item {i}: {other:?}"),
        }
    }
    match &results[41] {
        Err(ItemError::Api(e)) => {
            assert_eq!(e.status, 400);
            assert_eq!(e.code.as_deref(), Some("ErrorInvalidProperty"));
            assert_eq!(e.disposition, Disposition::PermanentItem);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        results[42].as_ref().unwrap(),
        &WriteOutcome::Deleted { already_gone: true }
    );
    assert_eq!(
        results[43].as_ref().unwrap(),
        &WriteOutcome::Deleted {
            already_gone: false
        }
    );
    assert!(matches!(&results[44], Ok(WriteOutcome::Updated(c)) if c.id == "C8"));

    // 45 items → 20 + 20 + 5, then one batch holding only the two throttled items.
    assert_eq!(*responder.sizes.lock().unwrap(), vec![20, 20, 5, 2]);

    let batches = requests_to(&server, "/v1.0/$batch").await;
    let first: Value = batches[0].body_json().unwrap();
    let item = &first["requests"][0];
    assert_eq!(item["method"], "POST");
    assert_eq!(item["url"], "/users/u1/contactFolders/F1/contacts");
    assert_eq!(item["headers"]["Content-Type"], "application/json");
    assert_eq!(item["body"]["categories"], json!(["Salesforce"]));
    assert_eq!(
        item["body"]["singleValueExtendedProperties"],
        json!([{"id": SYNC_KEY_PROPERTY_ID, "value": "key-s0"}])
    );
    let last: Value = batches[2].body_json().unwrap();
    assert_eq!(last["requests"][4]["url"], "/users/u1/contacts/C8");
    assert_eq!(
        last["requests"][4]["body"]["singleValueExtendedProperties"][0]["value"],
        "k8"
    );
}

#[tokio::test]
async fn a_create_answering_500_is_not_sent_again_but_an_update_is() {
    let responder = BatchResponder {
        error_once: vec!["once".into(), "C5".into()],
        throttle_once: vec!["slow".into()],
        ..Default::default()
    };
    let server = batch_server(&responder).await;
    let client = GraphClient::new(config(&server)).unwrap();
    let writes = vec![
        create("once"),
        create("slow"),
        ContactWrite::Update {
            contact_id: "C5".into(),
            patch: ContactPatch::new().with_sync_key("k5"),
        },
    ];
    let results = client.write_contacts("u1", &writes).await;

    // The create may have been carried out before its 500: resending it could make a second
    // contact, so the caller gets the error and looks the contact up by its stamp first (C4).
    match &results[0] {
        Err(ItemError::Api(e)) => assert_eq!(e.status, 500),
        other => panic!("the create's 500 is the caller's: {other:?}"),
    }
    // A throttled create was refused before it ran, and an update is idempotent: both retried.
    assert!(matches!(&results[1], Ok(WriteOutcome::Created(c)) if c.id == "new-slow"));
    assert!(matches!(&results[2], Ok(WriteOutcome::Updated(_))));
    let seen = responder.seen.lock().unwrap().clone();
    assert_eq!(seen["POST once"], 1, "{seen:?}");
    assert_eq!(seen["POST slow"], 2, "{seen:?}");
    assert_eq!(seen["PATCH C5"], 2, "{seen:?}");
}

#[tokio::test]
async fn throttled_items_wait_past_the_retry_count_while_the_throttled_wait_lasts() {
    let server = MockServer::start().await;
    mount_token(&server, "t", 3599).await;
    // Throttled 7 times (each Retry-After 0.2 s): more rounds than `max_retries` (4) allows for
    // other failures, and well inside the throttled wait.
    let responder = BatchResponder {
        throttle_once: vec!["busy".into()],
        throttle_times: 7,
        ..Default::default()
    };
    Mock::given(method("POST"))
        .and(path("/v1.0/$batch"))
        .respond_with(responder.clone())
        .mount(&server)
        .await;
    let client = GraphClient::new(config(&server)).unwrap();
    let results = client
        .write_contacts("u1", &[create("busy"), create("calm")])
        .await;
    assert!(matches!(&results[0], Ok(WriteOutcome::Created(c)) if c.id == "new-busy"));
    assert!(matches!(&results[1], Ok(WriteOutcome::Created(c)) if c.id == "new-calm"));
    assert_eq!(responder.seen.lock().unwrap()["POST busy"], 8);
    assert_eq!(
        *responder.sizes.lock().unwrap(),
        vec![2, 1, 1, 1, 1, 1, 1, 1]
    );
}

#[tokio::test]
async fn a_mailbox_throttled_longer_than_the_throttled_wait_fails_the_item_with_its_429() {
    let responder = BatchResponder {
        throttle_once: vec!["stuck".into()],
        throttle_times: usize::MAX,
        ..Default::default()
    };
    let server = batch_server(&responder).await;
    let mut config = config(&server);
    config.max_throttled_wait = std::time::Duration::from_millis(500);
    let client = GraphClient::new(config).unwrap();
    let results = client.write_contacts("u1", &[create("stuck")]).await;
    match &results[0] {
        Err(ItemError::Api(e)) => assert_eq!(e.status, 429),
        other => panic!("the last 429 is the caller's: {other:?}"),
    }
    // 0.5 s of waits of 0.2 s: the first attempt and three more.
    assert_eq!(responder.seen.lock().unwrap()["POST stuck"], 4);
}

#[tokio::test]
async fn items_over_the_request_budget_rest_the_mailbox_for_each_of_them_before_one_more_round() {
    // Five items refused for the budget, each "retry after 0.1 s" (the next request's turn):
    // the mailbox rests 0.5 s, then all five go in one round (not one admitted per round).
    let responder = BatchResponder {
        throttle_once: (0..5).map(|i| format!("b{i}")).collect(),
        over_budget: true,
        ..Default::default()
    };
    let server = batch_server(&responder).await;
    let client = GraphClient::new(config(&server)).unwrap();
    let writes: Vec<ContactWrite> = (0..5).map(|i| create(&format!("b{i}"))).collect();
    let started = std::time::Instant::now();
    let results = client.write_contacts("u1", &writes).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert!(started.elapsed() >= std::time::Duration::from_millis(500));
    assert_eq!(*responder.sizes.lock().unwrap(), vec![5, 5]);
}

#[tokio::test]
async fn a_batch_that_fails_whole_fails_each_of_its_items() {
    let server = MockServer::start().await;
    mount_token(&server, "t", 3599).await;
    Mock::given(method("POST"))
        .and(path("/v1.0/$batch"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"error": {
            "code": "ErrorAccessDenied", "message": "Access to OData is disabled."}})))
        .mount(&server)
        .await;
    let client = GraphClient::new(config(&server)).unwrap();
    let results = client
        .write_contacts(
            "u1",
            &[
                create("a"),
                ContactWrite::Delete {
                    contact_id: "x".into(),
                },
            ],
        )
        .await;
    assert_eq!(results.len(), 2);
    for r in results {
        assert_eq!(r.unwrap_err().disposition(), Disposition::Fatal);
    }
}

#[tokio::test]
async fn get_contacts_reads_many_ids_through_batch() {
    let server = MockServer::start().await;
    mount_token(&server, "t", 3599).await;
    Mock::given(method("POST"))
        .and(path("/v1.0/$batch"))
        .respond_with(|request: &Request| {
            let body: Value = request.body_json().unwrap();
            let responses: Vec<Value> = body["requests"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    let url = r["url"].as_str().unwrap();
                    assert!(url.contains("$expand=singleValueExtendedProperties"), "{url}");
                    if url.starts_with("/users/u1/contacts/missing?") {
                        json!({"id": r["id"], "status": 404, "body": {"error": {"code": "ErrorItemNotFound"}}})
                    } else {
                        json!({"id": r["id"], "status": 200, "body": {"id": "C1",
                            "singleValueExtendedProperties": [{"id": SYNC_KEY_PROPERTY_ID, "value": "k1"}]}})
                    }
                })
                .collect();
            ResponseTemplate::new(200).set_body_json(json!({ "responses": responses }))
        })
        .mount(&server)
        .await;
    let client = GraphClient::new(config(&server)).unwrap();
    let results = client
        .get_contacts("u1", &["C1".to_owned(), "missing".to_owned()])
        .await;
    assert_eq!(
        results[0].as_ref().unwrap().as_ref().unwrap().sync_key(),
        Some("k1")
    );
    assert!(results[1].as_ref().unwrap().is_none());
}

#[tokio::test]
async fn subscriptions_are_created_renewed_and_deleted() {
    let server = MockServer::start().await;
    mount_token(&server, "t", 3599).await;
    let sub = json!({"id": "sub-1", "resource": "/users/u1/contactFolders/F1/contacts",
        "changeType": "created,updated,deleted", "notificationUrl": "https://hook/graph",
        "expirationDateTime": "2030-01-01T00:00:00Z"});
    Mock::given(method("POST"))
        .and(path("/v1.0/subscriptions"))
        .respond_with(ResponseTemplate::new(201).set_body_json(sub.clone()))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/v1.0/subscriptions/sub-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(sub.clone()))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/v1.0/subscriptions/sub-1"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"error": {"code": "ResourceNotFound"}})),
        )
        .mount(&server)
        .await;
    let client = GraphClient::new(config(&server)).unwrap();
    let expiration = chrono::DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")
        .unwrap()
        .to_utc();
    let created = client
        .create_subscription(&NewSubscription {
            resource: SubscriptionResource::Folder {
                mailbox: "u1".into(),
                folder_id: "F1".into(),
            },
            notification_url: "https://hook/graph".into(),
            lifecycle_notification_url: Some("https://hook/graph/lifecycle".into()),
            client_state: "state-1".into(),
            expiration,
        })
        .await
        .unwrap();
    assert_eq!(created.id, "sub-1");
    client
        .renew_subscription("sub-1", expiration)
        .await
        .unwrap();
    client.delete_subscription("sub-1").await.unwrap();

    let post = &requests_to(&server, "/v1.0/subscriptions").await[0];
    assert_eq!(
        post.body_json::<Value>().unwrap(),
        json!({"changeType": "created,updated,deleted", "notificationUrl": "https://hook/graph",
            "resource": "/users/u1/contactFolders/F1/contacts",
            "expirationDateTime": "2030-01-01T00:00:00.000Z", "clientState": "state-1",
            "lifecycleNotificationUrl": "https://hook/graph/lifecycle"})
    );
    let patch = &requests_to(&server, "/v1.0/subscriptions/sub-1").await[0];
    assert_eq!(
        patch.body_json::<Value>().unwrap(),
        json!({"expirationDateTime": "2030-01-01T00:00:00.000Z"})
    );
}

#[tokio::test]
async fn a_move_copies_the_whole_contact_into_the_folder() {
    let server = MockServer::start().await;
    mount_token(&server, "t", 3599).await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/u1/contacts/OLD"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "@odata.etag": "W/\"ck\"", "id": "OLD", "changeKey": "ck", "parentFolderId": "DEFAULT",
            "createdDateTime": "2020-01-01T00:00:00Z", "lastModifiedDateTime": "2020-01-01T00:00:00Z",
            "categories": ["Salesforce"], "surname": "Moved", "nickName": "Mo", "children": ["Kid"]})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1.0/$batch"))
        .respond_with(|request: &Request| {
            let body: Value = request.body_json().unwrap();
            let item = &body["requests"][0];
            ResponseTemplate::new(200).set_body_json(json!({"responses": [{
                "id": item["id"], "status": 201,
                "body": {"id": "NEW", "changeKey": "ck1", "parentFolderId": "F1", "surname": "Moved"}}]}))
        })
        .mount(&server)
        .await;
    let client = GraphClient::new(config(&server)).unwrap();
    let copy = client
        .get_contact_for_copy("u1", "OLD")
        .await
        .unwrap()
        .unwrap()
        .with_categories(vec!["Salesforce".into()])
        .with_sync_key("key-9");
    let results = client
        .write_contacts(
            "u1",
            &[ContactWrite::Copy {
                folder_id: "F1".into(),
                copy,
            }],
        )
        .await;
    assert!(matches!(&results[0], Ok(WriteOutcome::Created(c)) if c.id == "NEW"));

    let batch: Value = requests_to(&server, "/v1.0/$batch").await[0]
        .body_json()
        .unwrap();
    let item = &batch["requests"][0];
    assert_eq!(item["url"], "/users/u1/contactFolders/F1/contacts");
    assert_eq!(
        item["body"],
        json!({"categories": ["Salesforce"], "surname": "Moved", "nickName": "Mo", "children": ["Kid"],
            "singleValueExtendedProperties": [{"id": SYNC_KEY_PROPERTY_ID, "value": "key-9"}]})
    );
}
