//! sObject Collections (contract §5): per-record results, allOrNone rollback, upsert by
//! external id, retrieve with nulls, the 200-record limit, and operation counting.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn coll(rest: &str) -> String {
    format!("/services/data/{V}/composite/sobjects{rest}")
}

fn contact(last: &str) -> Value {
    json!({"attributes": {"type": "Contact"}, "LastName": last})
}

#[tokio::test]
async fn create_reports_each_record_and_keeps_going_without_all_or_none() {
    let emu = start().await;
    let (_, token) = emu.login("c@example.com").await;
    let body = json!({"allOrNone": false, "records": [
        contact("Ok1"),
        {"attributes": {"type": "Contact"}, "FirstName": "NoLast"},
        {"attributes": {"type": "Account"}, "Name": "Acme"},
    ]});
    let r = emu.post(&coll(""), &token, body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let items = r.body.as_array().expect("array");
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["success"], true);
    assert!(
        items[0]["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("003"))
    );
    assert_eq!(
        items[1],
        json!({"success": false, "errors": [{"statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [LastName]", "fields": ["LastName"]}]})
    );
    assert!(
        items[2]["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("001"))
    );
}

#[tokio::test]
async fn all_or_none_rolls_everything_back() {
    let emu = start().await;
    let (_, token) = emu.login("a@example.com").await;
    let body = json!({"allOrNone": true, "records": [contact("Good"), {"attributes": {"type": "Contact"}, "LastName": "Bad", "Email": "nope"}]});
    let r = emu.post(&coll(""), &token, body).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body[0]["success"], false);
    assert_eq!(
        r.body[0]["errors"][0]["statusCode"],
        "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    );
    assert_eq!(
        r.body[1]["errors"][0]["statusCode"],
        "INVALID_EMAIL_ADDRESS"
    );
    let q = emu.query(&token, "SELECT COUNT() FROM Contact").await;
    assert_eq!(q.body["totalSize"], 0, "nothing was written");
}

#[tokio::test]
async fn update_delete_and_retrieve() {
    let emu = start().await;
    let (_, token) = emu.login("u@example.com").await;
    let ids = emu
        .seed(
            "Contact",
            "u@example.com",
            vec![json!({"LastName": "One"}), json!({"LastName": "Two"})],
        )
        .await;
    let body = json!({"records": [
        {"attributes": {"type": "Contact"}, "id": ids[0], "Title": "Boss"},
        {"attributes": {"type": "Contact"}, "id": "001xx000003DGb2999", "Title": "x"},
    ]});
    let r = emu.patch(&coll(""), &token, body).await;
    assert_eq!(
        r.body[0],
        json!({"id": ids[0], "success": true, "errors": []})
    );
    assert_eq!(r.body[1]["errors"][0]["statusCode"], "MALFORMED_ID");
    assert_eq!(r.body[1]["errors"][0]["fields"], json!(["Id"]));

    let r = emu
        .get(
            &coll(&format!(
                "/Contact?ids={},{},003000000000000AAA&fields=LastName,Title",
                ids[0], ids[1]
            )),
            &token,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body[0]["Title"], "Boss");
    assert_eq!(r.body[1]["LastName"], "Two");
    assert_eq!(r.body[2], Value::Null);
    let r = emu
        .get(&coll(&format!("/Contact?ids={}", ids[0])), &token)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "fields is required");

    let r = emu
        .delete(
            &coll(&format!("?ids={},{}&allOrNone=false", ids[1], "bogus")),
            &token,
        )
        .await;
    assert_eq!(
        r.body[0],
        json!({"id": ids[1], "success": true, "errors": []})
    );
    assert_eq!(r.body[1]["errors"][0]["statusCode"], "MALFORMED_ID");
    let r = emu
        .get(&coll(&format!("/Contact?ids={}&fields=Id", ids[1])), &token)
        .await;
    assert_eq!(r.body, json!([null]), "deleted ids come back as null");
}

#[tokio::test]
async fn collection_upsert_by_external_id_creates_then_updates() {
    let emu = start().await;
    let (_, token) = emu.login("up@example.com").await;
    let url = coll("/Contact/Contactsync_Key__c");
    let body = |title: &str| {
        json!({"allOrNone": false, "records": [
            {"attributes": {"type": "Contact"}, "Contactsync_Key__c": "k1", "LastName": "K1", "Title": title},
            {"attributes": {"type": "Contact"}, "Contactsync_Key__c": "k2", "LastName": "K2", "Title": title},
        ]})
    };
    let r = emu.patch(&url, &token, body("first")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body[0]["created"], true);
    assert_eq!(r.body[1]["created"], true);
    let first_ids: Vec<Value> = r
        .body
        .as_array()
        .expect("array")
        .iter()
        .map(|i| i["id"].clone())
        .collect();
    let r = emu.patch(&url, &token, body("second")).await;
    assert_eq!(r.body[0]["created"], false);
    assert_eq!(r.body[0]["success"], true);
    let second_ids: Vec<Value> = r
        .body
        .as_array()
        .expect("array")
        .iter()
        .map(|i| i["id"].clone())
        .collect();
    assert_eq!(first_ids, second_ids);
    let q = emu.query(&token, "SELECT Title FROM Contact").await;
    assert_eq!(q.body["totalSize"], 2);
    assert_eq!(q.body["records"][0]["Title"], "second");
    // The same key twice in one request fails both records.
    let dup = json!({"records": [
        {"attributes": {"type": "Contact"}, "Contactsync_Key__c": "k3", "LastName": "A"},
        {"attributes": {"type": "Contact"}, "Contactsync_Key__c": "K3", "LastName": "B"},
    ]});
    let r = emu.patch(&url, &token, dup).await;
    assert_eq!(r.body[0]["success"], false);
    assert_eq!(
        r.body[1]["errors"][0]["statusCode"],
        "DUPLICATE_EXTERNAL_ID"
    );
}

#[tokio::test]
async fn more_than_200_records_is_refused_and_operations_are_counted() {
    let emu = start().await;
    let (_, token) = emu.login("n@example.com").await;
    let too_many: Vec<Value> = (0..201).map(|i| contact(&format!("C{i}"))).collect();
    let r = emu
        .post(&coll(""), &token, json!({"records": too_many}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body[0]["errorCode"], "EXCEEDED_ID_LIMIT");
    emu.control(Method::DELETE, "/requests", None).await;
    let ok: Vec<Value> = (0..200).map(|i| contact(&format!("C{i}"))).collect();
    let r = emu.post(&coll(""), &token, json!({"records": ok})).await;
    assert_eq!(r.body.as_array().map(Vec::len), Some(200));
    let counts = emu.control(Method::GET, "/requests", None).await;
    assert_eq!(counts.body["http_requests"], 1);
    assert_eq!(counts.body["operations"], 200);
    assert_eq!(
        counts.body["by_route"][format!("POST /services/data/{V}/composite/sobjects")],
        1
    );
}
