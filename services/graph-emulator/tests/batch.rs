//! JSON batching (reference §7; checklist item 8).

mod common;

use common::*;
use serde_json::{Value, json};

fn json_headers() -> Value {
    json!({"Content-Type": "application/json"})
}

#[tokio::test]
async fn a_batch_runs_each_item_through_the_api_and_answers_per_item() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    emu.control(reqwest::Method::DELETE, "/_emulator/requests", json!({}))
        .await;
    let r = emu
        .post(
            "/v1.0/$batch",
            json!({"requests": [
                {"id": "1", "method": "POST", "url": "/users/u1/contacts", "headers": json_headers(), "body": {"surname": "One"}},
                {"id": "2", "method": "POST", "url": "users/u1/contacts", "headers": json_headers(), "body": {"surname": "Two"}},
                {"id": "3", "method": "GET", "url": "/users/u1/contacts/not-an-id"},
                {"id": "4", "method": "GET", "url": "/users/u1/outlook/masterCategories"}
            ]}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let responses = r.body["responses"].as_array().expect("responses");
    let by_id = |id: &str| {
        responses
            .iter()
            .find(|x| x["id"] == id)
            .expect("item")
            .clone()
    };
    assert_eq!(by_id("1")["status"], 201);
    assert_eq!(by_id("1")["body"]["surname"], "One");
    assert!(
        by_id("1")["headers"]["Content-Type"]
            .as_str()
            .unwrap_or_default()
            .starts_with("application/json")
    );
    assert_eq!(by_id("2")["status"], 201);
    assert_eq!(by_id("3")["status"], 400);
    assert_eq!(
        by_id("3")["body"]["error"]["code"],
        "ErrorInvalidIdMalformed"
    );
    assert_eq!(by_id("4")["status"], 200);
    assert_eq!(emu.state("u1").await.len(), 2);
    let counters = emu.counters().await;
    assert_eq!(counters["http_requests"], 1);
    assert_eq!(counters["operations"], 4, "{counters}");
    assert_eq!(counters["by_route"]["POST /v1.0/$batch"], 1);
    assert_eq!(counters["by_route"]["POST /v1.0/users/{id}/contacts"], 2);
    assert_eq!(
        counters["by_route"]["GET /v1.0/users/{id}/contacts/{id}"],
        1
    );
}

#[tokio::test]
async fn a_failed_dependency_fails_its_dependants_with_424_and_they_do_not_run() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let too_many_phones = json!({"surname": "X", "businessPhones": ["1", "2", "3"]});
    let r = emu
        .post(
            "/v1.0/$batch",
            json!({"requests": [
                {"id": "1", "method": "POST", "url": "/users/u1/contacts", "headers": json_headers(), "body": too_many_phones},
                {"id": "2", "dependsOn": ["1"], "method": "POST", "url": "/users/u1/contacts", "headers": json_headers(), "body": {"surname": "Dependent"}},
                {"id": "3", "dependsOn": ["2"], "method": "GET", "url": "/users/u1/contacts"},
                {"id": "4", "method": "POST", "url": "/users/u1/contacts", "headers": json_headers(), "body": {"surname": "Independent"}}
            ]}),
        )
        .await;
    assert_eq!(r.status, 200);
    let responses = r.body["responses"].as_array().expect("responses");
    let status = |id: &str| {
        responses
            .iter()
            .find(|x| x["id"] == id)
            .map(|x| x["status"].clone())
    };
    assert_eq!(status("1"), Some(json!(400)));
    assert_eq!(status("2"), Some(json!(424)));
    assert_eq!(status("3"), Some(json!(424)));
    assert_eq!(status("4"), Some(json!(201)));
    let surnames: Vec<Value> = emu
        .state("u1")
        .await
        .iter()
        .map(|c| c["surname"].clone())
        .collect();
    assert_eq!(surnames, vec![json!("Independent")]);
}

#[tokio::test]
async fn malformed_batches_are_400_as_a_whole() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let item =
        |id: usize| json!({"id": id.to_string(), "method": "GET", "url": "/users/u1/contacts"});
    let too_many: Vec<Value> = (0..21).map(item).collect();
    let cases = [
        json!({"requests": too_many}),
        json!({"requests": [item(1), item(1)]}),
        json!({"requests": [{"id": "1", "method": "GET", "url": "https://graph.microsoft.com/v1.0/users/u1/contacts"}]}),
        json!({"requests": [{"id": "1", "method": "GET", "url": "/users/u1/contacts", "dependsOn": ["9"]}]}),
        json!({"nothing": []}),
    ];
    for case in cases {
        let r = emu.post("/v1.0/$batch", case.clone()).await;
        assert_eq!(r.status, 400, "{case}: {:?}", r.body);
        assert!(r.body["error"]["code"].is_string());
    }
    let twenty: Vec<Value> = (0..20).map(item).collect();
    assert_eq!(
        emu.post("/v1.0/$batch", json!({"requests": twenty}))
            .await
            .status,
        200
    );
    let body_without_content_type = emu
        .post("/v1.0/$batch", json!({"requests": [{"id": "1", "method": "POST", "url": "/users/u1/contacts", "body": {"surname": "X"}}]}))
        .await;
    assert_eq!(
        body_without_content_type.body["responses"][0]["status"],
        400
    );
}

#[tokio::test]
async fn throttling_applies_per_item_with_retry_after_in_the_item_headers() {
    let mut config = test_config();
    config.knobs.mailbox_request_budget = 3;
    config.knobs.throttle_window_secs = 60.0;
    let emu = Emu::start_with(config).await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let requests: Vec<Value> = (0..5)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/users/u1/contacts"}))
        .collect();
    let r = emu
        .post("/v1.0/$batch", json!({"requests": requests}))
        .await;
    assert_eq!(r.status, 200, "the batch itself succeeds");
    let responses = r.body["responses"].as_array().expect("responses");
    let throttled: Vec<&Value> = responses.iter().filter(|x| x["status"] == 429).collect();
    assert_eq!(throttled.len(), 2, "{responses:?}");
    for item in throttled {
        let retry: f64 = item["headers"]["Retry-After"]
            .as_str()
            .expect("Retry-After")
            .parse()
            .expect("seconds");
        assert!(retry > 0.0);
        assert_eq!(item["body"]["error"]["code"], "TooManyRequests");
    }
}

#[tokio::test]
async fn a_batched_create_can_be_carried_out_and_still_answer_500() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let folder = emu
        .post(
            "/v1.0/users/u1/contactFolders",
            json!({"displayName": "Salesforce Contacts"}),
        )
        .await;
    let fid = folder.body["id"].as_str().expect("id").to_owned();
    emu.control(
        reqwest::Method::POST,
        "/_emulator/faults",
        json!({"status": 500, "after_effect": true, "mailbox": "u1",
               "route": "POST /v1.0/users/{id}/contactFolders/{id}/contacts"}),
    )
    .await;
    let r = emu
        .post(
            "/v1.0/$batch",
            json!({"requests": [{"id": "1", "method": "POST",
                "url": format!("/users/u1/contactFolders/{}/contacts", enc(&fid)),
                "headers": json_headers(), "body": {"surname": "Landed"}}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let item = &r.body["responses"][0];
    assert_eq!(item["status"], 500, "{item}");
    assert_eq!(item["body"]["error"]["code"], "generalException");
    let state = emu.state("u1").await;
    assert_eq!(
        state.len(),
        1,
        "the create happened although it answered 500"
    );
    assert_eq!(state[0]["surname"], "Landed");
}
