//! Composite and Composite Batch (contract §6).

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn composite_resolves_references_between_subrequests() {
    let emu = start().await;
    let (_, token) = emu.login("comp@example.com").await;
    let body = json!({"allOrNone": false, "compositeRequest": [
        {"method": "POST", "url": format!("/services/data/{V}/sobjects/Account"), "referenceId": "refAccount", "body": {"Name": "Composite Co"}},
        {"method": "POST", "url": format!("/services/data/{V}/sobjects/Contact"), "referenceId": "refContact", "body": {"LastName": "Linked", "AccountId": "@{refAccount.id}"}},
        {"method": "GET", "url": format!("/services/data/{V}/sobjects/Contact/@{{refContact.id}}?fields=AccountId"), "referenceId": "readBack"},
    ]});
    let r = emu
        .post(&format!("/services/data/{V}/composite"), &token, body)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let items = r.body["compositeResponse"]
        .as_array()
        .expect("compositeResponse");
    assert_eq!(items[0]["httpStatusCode"], 201);
    let account = items[0]["body"]["id"].as_str().expect("account id");
    assert_eq!(
        items[0]["httpHeaders"]["Location"],
        format!("/services/data/{V}/sobjects/Account/{account}").as_str()
    );
    assert_eq!(items[2]["body"]["AccountId"], account);
}

#[tokio::test]
async fn composite_all_or_none_rolls_back_and_halts() {
    let emu = start().await;
    let (_, token) = emu.login("aon@example.com").await;
    let body = json!({"allOrNone": true, "compositeRequest": [
        {"method": "POST", "url": format!("/services/data/{V}/sobjects/Contact"), "referenceId": "ok", "body": {"LastName": "Kept?"}},
        {"method": "POST", "url": format!("/services/data/{V}/sobjects/Contact"), "referenceId": "bad", "body": {"FirstName": "NoLast"}},
        {"method": "POST", "url": format!("/services/data/{V}/sobjects/Contact"), "referenceId": "after", "body": {"LastName": "Never"}},
    ]});
    let r = emu
        .post(&format!("/services/data/{V}/composite"), &token, body)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let items = r.body["compositeResponse"].as_array().expect("items");
    assert_eq!(items[0]["body"][0]["errorCode"], "PROCESSING_HALTED");
    assert_eq!(items[1]["body"][0]["errorCode"], "REQUIRED_FIELD_MISSING");
    assert_eq!(items[2]["body"][0]["errorCode"], "PROCESSING_HALTED");
    let q = emu.query(&token, "SELECT COUNT() FROM Contact").await;
    assert_eq!(q.body["totalSize"], 0, "the first create was rolled back");
}

#[tokio::test]
async fn composite_batch_runs_independent_subrequests_and_counts_each() {
    let emu = start().await;
    let (_, token) = emu.login("batch@example.com").await;
    let body = json!({"haltOnError": false, "batchRequests": [
        {"method": "POST", "url": "v60.0/sobjects/Contact", "richInput": {"LastName": "B1"}},
        {"method": "GET", "url": "v60.0/query?q=SELECT+Id+FROM+Contact"},
        {"method": "GET", "url": "v60.0/sobjects/Contact/003000000000000AAA"},
    ]});
    let r = emu
        .post(&format!("/services/data/{V}/composite/batch"), &token, body)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["hasErrors"], true);
    assert_eq!(r.body["results"][0]["statusCode"], 201);
    assert_eq!(r.body["results"][1]["result"]["totalSize"], 1);
    assert_eq!(r.body["results"][2]["statusCode"], 404);
    let limits = emu.get(&format!("/services/data/{V}/limits"), &token).await;
    // 3 subrequests + this limits call.
    assert_eq!(limits.headers["Sforce-Limit-Info"], "api-usage=4/1000000");
    let halting = json!({"haltOnError": true, "batchRequests": [
        {"method": "GET", "url": "v60.0/sobjects/Contact/003000000000000AAA"},
        {"method": "GET", "url": "v60.0/limits"},
    ]});
    let r = emu
        .post(
            &format!("/services/data/{V}/composite/batch"),
            &token,
            halting,
        )
        .await;
    assert_eq!(r.body["results"][1]["statusCode"], 412);
    assert_eq!(
        r.body["results"][1]["result"][0]["errorCode"],
        "BATCH_PROCESSING_HALTED"
    );
}
