//! Google client tests of writes: batch chunking and per-contact results, stale etags, creates
//! never resent after an ambiguous failure, one user's mutations one at a time, and groups.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use google_client::mapping::{SYNC_KEY, apply_graph_fields, graph_fields, set_sync_key};
use google_client::{Disposition, GoogleError, ItemError, Person};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn body(request: &Request) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

fn named(given: &str) -> Person {
    serde_json::from_value(json!({"names": [{"givenName": given}]})).unwrap()
}

const STALE: &str = "Request person.etag is different than the current person.etag. Clear local cache and get the latest person.";

#[tokio::test]
async fn creates_go_200_at_a_time_and_answer_in_input_order() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    let counter = Arc::new(Mutex::new(0u64));
    let next = counter.clone();
    Mock::given(method("POST"))
        .and(path("/v1/people:batchCreateContacts"))
        .respond_with(move |request: &Request| {
            let contacts = body(request)["contacts"].as_array().unwrap().clone();
            let created: Vec<Value> = contacts
                .iter()
                .map(|c| {
                    let mut n = next.lock().unwrap();
                    *n += 1;
                    let mut p = c["contactPerson"].clone();
                    p["resourceName"] = json!(format!("people/c{n}"));
                    p["etag"] = json!(format!("%E{n}"));
                    json!({"person": p, "httpStatusCode": 200, "status": {}})
                })
                .collect();
            ResponseTemplate::new(200).set_body_json(json!({ "createdPeople": created }))
        })
        .mount(&server)
        .await;
    let people: Vec<Person> = (0..250)
        .map(|i| {
            let mut p = named(&format!("P{i}"));
            set_sync_key(&mut p, &format!("k-{i}"));
            p
        })
        .collect();
    let results = client(&server)
        .batch_create("ada@example.com", &people)
        .await;
    assert_eq!(results.len(), 250);
    for (i, result) in results.iter().enumerate() {
        let created = result.as_ref().unwrap();
        assert_eq!(created.resource_name, format!("people/c{}", i + 1));
        assert_eq!(
            created.names[0].given_name.as_deref(),
            Some(format!("P{i}").as_str())
        );
    }
    let calls = requests_to(&server, "/v1/people:batchCreateContacts").await;
    let sizes: Vec<usize> = calls
        .iter()
        .map(|r| body(r)["contacts"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [200, 50]);
    let first = body(&calls[0]);
    assert!(first["readMask"].as_str().unwrap().contains("clientData"));
    assert_eq!(
        first["contacts"][0]["contactPerson"]["clientData"],
        json!([{"key": SYNC_KEY, "value": "k-0"}])
    );
}

#[tokio::test]
async fn a_create_that_may_have_landed_is_not_resent_but_a_throttled_one_is() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("POST"))
        .and(path("/v1/people:createContact"))
        .respond_with(ResponseTemplate::new(429).set_body_json(google_error(
            429,
            "RESOURCE_EXHAUSTED",
            "Quota exceeded",
            Some("RATE_LIMIT_EXCEEDED"),
        )))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/people:createContact"))
        .respond_with(ResponseTemplate::new(500).set_body_json(google_error(
            500,
            "INTERNAL",
            "Internal error encountered.",
            None,
        )))
        .mount(&server)
        .await;
    let err = client(&server)
        .create_contact("ada@example.com", &named("Ada"))
        .await
        .unwrap_err();
    assert_eq!(err.disposition(), Disposition::Retry { after: None });
    // The 429 is resent (it never ran); the 500 is not (it may have made the contact).
    assert_eq!(
        requests_to(&server, "/v1/people:createContact").await.len(),
        2
    );
}

#[tokio::test]
async fn a_batch_update_reports_each_contact_and_a_stale_etag_by_type() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("POST"))
        .and(path("/v1/people:batchUpdateContacts"))
        .respond_with(|request: &Request| {
            let sent = body(request);
            assert_eq!(sent["updateMask"], "names");
            let results: serde_json::Map<String, Value> = sent["contacts"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(name, p)| {
                    let answer = match name.as_str() {
                        "people/c2" => json!({"status": {"code": 9, "message": STALE}}),
                        "people/c3" => json!({"status": {"code": 5, "message": "Requested entity was not found."}}),
                        _ => json!({"person": p, "status": {}}),
                    };
                    (name.clone(), answer)
                })
                .collect();
            ResponseTemplate::new(200).set_body_json(json!({ "updateResult": results }))
        })
        .mount(&server)
        .await;
    let mut people: BTreeMap<String, Person> = (1..=3)
        .map(|i| {
            let p: Person = serde_json::from_value(person(i)).unwrap();
            (p.resource_name.clone(), p)
        })
        .collect();
    // Without the etag it was read with, a contact is refused before sending.
    people.insert("people/c4".into(), named("Etagless"));
    let results = client(&server)
        .batch_update("ada@example.com", &people, "names")
        .await;
    assert_eq!(
        results["people/c1"].as_ref().unwrap().etag.as_deref(),
        Some("%E1")
    );
    assert!(matches!(
        results["people/c2"],
        Err(ItemError::EtagMismatch(_))
    ));
    let missing = results["people/c3"].as_ref().unwrap_err();
    assert_eq!(missing.disposition(), Disposition::PermanentItem);
    let etagless = results["people/c4"].as_ref().unwrap_err();
    assert_eq!(etagless.disposition(), Disposition::PermanentItem);
    assert!(etagless.to_string().contains("etag"), "{etagless}");
    let sent = body(&requests_to(&server, "/v1/people:batchUpdateContacts").await[0]);
    assert_eq!(sent["contacts"].as_object().unwrap().len(), 3);
}

#[tokio::test]
async fn an_update_sends_the_mask_and_etag_and_a_stale_etag_is_typed() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("PATCH"))
        .and(path("/v1/people/c1:updateContact"))
        .and(query_param("updatePersonFields", "names,phoneNumbers"))
        .respond_with(|request: &Request| {
            let sent = body(request);
            if sent["etag"] == "%E1" {
                ResponseTemplate::new(200).set_body_json(json!({"resourceName": "people/c1",
                    "etag": "%E2", "names": sent["names"], "phoneNumbers": sent["phoneNumbers"]}))
            } else {
                ResponseTemplate::new(400).set_body_json(google_error(
                    400,
                    "FAILED_PRECONDITION",
                    STALE,
                    None,
                ))
            }
        })
        .mount(&server)
        .await;
    let client = client(&server);
    let mut current: Person = serde_json::from_value(person(1)).unwrap();
    let mut fields = graph_fields(&current);
    fields.given_name = Some("Ada".into());
    fields.mobile_phone = Some("+44 2".into());
    let mask = apply_graph_fields(&fields, &mut current);
    let updated = client
        .update_contact("ada@example.com", &current, &mask.to_string())
        .await
        .unwrap();
    assert_eq!(updated.etag.as_deref(), Some("%E2"));
    assert_eq!(
        graph_fields(&updated).mobile_phone.as_deref(),
        Some("+44 2")
    );

    current.etag = Some("%E0".into());
    let err = client
        .update_contact("ada@example.com", &current, &mask.to_string())
        .await
        .unwrap_err();
    assert!(matches!(err, GoogleError::EtagMismatch { .. }), "{err}");
    assert_eq!(
        requests_to(&server, "/v1/people/c1:updateContact")
            .await
            .len(),
        2,
        "not retried"
    );

    current.etag = None;
    let err = client
        .update_contact("ada@example.com", &current, "names")
        .await
        .unwrap_err();
    assert!(matches!(err, GoogleError::Invalid(_)), "{err}");
}

#[tokio::test]
async fn deletes_go_500_at_a_time_and_a_single_missing_contact_counts_as_deleted() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("POST"))
        .and(path("/v1/people:batchDeleteContacts"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/v1/people/c404:deleteContact"))
        .respond_with(ResponseTemplate::new(404).set_body_json(google_error(
            404,
            "NOT_FOUND",
            "Requested entity was not found.",
            None,
        )))
        .mount(&server)
        .await;
    let client = client(&server);
    let names: Vec<String> = (1..=700).map(|i| format!("people/c{i}")).collect();
    let results = client.batch_delete("ada@example.com", &names).await;
    assert_eq!(results.len(), 700);
    assert!(results.iter().all(Result::is_ok));
    let sizes: Vec<usize> = requests_to(&server, "/v1/people:batchDeleteContacts")
        .await
        .iter()
        .map(|r| body(r)["resourceNames"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [500, 200]);
    client
        .delete_contact("ada@example.com", "people/c404")
        .await
        .unwrap();
}

#[tokio::test]
async fn one_users_mutations_are_sent_one_at_a_time() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    let arrivals = Arc::new(Mutex::new(Vec::<(String, Instant)>::new()));
    let seen = arrivals.clone();
    Mock::given(method("DELETE"))
        .respond_with(move |request: &Request| {
            let token = request.headers["authorization"]
                .to_str()
                .unwrap()
                .to_owned();
            seen.lock().unwrap().push((token, Instant::now()));
            ResponseTemplate::new(200)
                .set_body_json(json!({}))
                .set_delay(Duration::from_millis(150))
        })
        .mount(&server)
        .await;
    let client = client(&server);
    // Warm the tokens so only the deletes are timed.
    for user in ["ada@example.com", "bob@example.com"] {
        client.list_groups(user).await.ok();
    }
    let started = Instant::now();
    let names: Vec<String> = (1..=3).map(|i| format!("people/c{i}")).collect();
    let deletes = names
        .iter()
        .map(|name| client.delete_contact("ada@example.com", name))
        .chain([client.delete_contact("bob@example.com", "people/c9")]);
    for result in futures::future::join_all(deletes).await {
        result.unwrap();
    }
    let arrivals = arrivals.lock().unwrap().clone();
    let ada: Vec<Instant> = arrivals
        .iter()
        .filter(|(t, _)| t.contains("ada@"))
        .map(|(_, at)| *at)
        .collect();
    assert_eq!(ada.len(), 3);
    for pair in ada.windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(140),
            "overlapping mutations"
        );
    }
    // Another user's mutation did not wait behind Ada's.
    let bob = arrivals.iter().find(|(t, _)| t.contains("bob@")).unwrap().1;
    assert!(bob - started < Duration::from_millis(140));
}

#[tokio::test]
async fn a_taken_group_name_is_already_exists() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("POST"))
        .and(path("/v1/contactGroups"))
        .respond_with(|request: &Request| {
            let name = body(request)["contactGroup"]["name"]
                .as_str()
                .unwrap()
                .to_owned();
            if name == "Salesforce" {
                ResponseTemplate::new(409).set_body_json(google_error(
                    409,
                    "ALREADY_EXISTS",
                    "Contact group name already exists.",
                    None,
                ))
            } else {
                ResponseTemplate::new(200).set_body_json(json!({
                    "resourceName": "contactGroups/65189743883aabaf", "etag": "%G1",
                    "groupType": "USER_CONTACT_GROUP", "name": name, "formattedName": name}))
            }
        })
        .mount(&server)
        .await;
    let client = client(&server);
    let group = client
        .create_group("ada@example.com", "Salesforce Contacts")
        .await
        .unwrap();
    assert!(group.is_user_group());
    assert_eq!(group.resource_name, "contactGroups/65189743883aabaf");
    let err = client
        .create_group("ada@example.com", "Salesforce")
        .await
        .unwrap_err();
    assert!(matches!(err, GoogleError::AlreadyExists { .. }), "{err}");
    assert_eq!(err.disposition(), Disposition::PermanentItem);
}

#[tokio::test]
async fn members_are_modified_1000_at_a_time_and_a_group_read_with_its_members() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("POST"))
        .and(path("/v1/contactGroups/g1/members:modify"))
        .respond_with(|request: &Request| {
            let sent = body(request);
            let removes = sent["resourceNamesToRemove"].as_array().unwrap();
            ResponseTemplate::new(200).set_body_json(json!({
                "notFoundResourceNames": removes.iter().filter(|n| *n == "people/c404").collect::<Vec<_>>()}))
        })
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/contactGroups/g1"))
        .and(query_param("maxMembers", "5"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "resourceName": "contactGroups/g1", "etag": "%G", "groupType": "USER_CONTACT_GROUP",
            "name": "Salesforce", "memberCount": 2, "memberResourceNames": ["people/c1", "people/c2"]})))
        .mount(&server)
        .await;
    let client = client(&server);
    let add: Vec<String> = (1..=1500).map(|i| format!("people/c{i}")).collect();
    let remove = vec!["people/c404".to_owned()];
    let outcome = client
        .modify_members("ada@example.com", "contactGroups/g1", &add, &remove)
        .await
        .unwrap();
    assert_eq!(outcome.not_found_resource_names, ["people/c404"]);
    let calls = requests_to(&server, "/v1/contactGroups/g1/members:modify").await;
    let sizes: Vec<(usize, usize)> = calls
        .iter()
        .map(|r| {
            let b = body(r);
            (
                b["resourceNamesToAdd"].as_array().unwrap().len(),
                b["resourceNamesToRemove"].as_array().unwrap().len(),
            )
        })
        .collect();
    assert_eq!(sizes, [(1000, 0), (500, 1)]);
    let group = client.get_group("ada@example.com", "g1", 5).await.unwrap();
    assert_eq!(group.member_resource_names.len(), 2);
    let err = client
        .modify_members("ada@example.com", "g1", &["../people".to_owned()], &[])
        .await
        .unwrap_err();
    assert!(matches!(err, GoogleError::Invalid(_)), "{err}");
}
