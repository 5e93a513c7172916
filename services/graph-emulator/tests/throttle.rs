//! Throttling, injected faults and the request counters (reference §9; checklist item 10).

mod common;

use std::time::Duration;

use common::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn more_than_four_concurrent_requests_on_one_mailbox_get_application_throttled() {
    let mut config = test_config();
    config.knobs.latency_ms = 1500;
    let emu = Emu::start_with(config).await;
    emu.mailbox("u1", "u1@contoso.com").await;
    emu.mailbox("u2", "u2@contoso.com").await;
    let calls = (0..8).map(|_| emu.get("/v1.0/users/u1/contacts"));
    let other = emu.get("/v1.0/users/u2/contacts");
    let (results, other) = tokio::join!(futures::future::join_all(calls), other);
    let ok = results.iter().filter(|r| r.status == 200).count();
    let throttled: Vec<_> = results.iter().filter(|r| r.status == 429).collect();
    assert_eq!(ok, 4, "exactly the concurrency limit got through");
    assert_eq!(throttled.len(), 4);
    for r in throttled {
        assert_eq!(r.error_code(), "ApplicationThrottled");
        assert_eq!(
            r.body["error"]["message"],
            "Application is over its MailboxConcurrency limit."
        );
        assert!(r.header("retry-after").is_some());
    }
    assert_eq!(other.status, 200, "another mailbox is not affected");
}

#[tokio::test]
async fn an_exhausted_budget_answers_429_too_many_requests_with_retry_after() {
    let mut config = test_config();
    config.knobs.mailbox_request_budget = 5;
    config.knobs.throttle_window_secs = 10.0;
    let emu = Emu::start_with(config).await;
    emu.mailbox("u1", "u1@contoso.com").await;
    for _ in 0..5 {
        assert_eq!(emu.get("/v1.0/users/u1/contacts").await.status, 200);
    }
    let r = emu.get("/v1.0/users/u1/contacts").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.error_code(), "TooManyRequests");
    assert_eq!(r.body["error"]["innerError"]["code"], "429");
    let retry_after: f64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!(retry_after > 0.0 && retry_after <= 2.0, "{retry_after}");
    // Waiting as told admits the next request.
    tokio::time::sleep(Duration::from_secs_f64(retry_after)).await;
    assert_eq!(emu.get("/v1.0/users/u1/contacts").await.status, 200);
    // Throttling can be switched off at run time.
    emu.set_knobs(json!({"throttle_enabled": false})).await;
    for _ in 0..10 {
        assert_eq!(emu.get("/v1.0/users/u1/contacts").await.status, 200);
    }
}

#[tokio::test]
async fn injected_faults_fire_on_their_route_count_times_with_retry_after() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let created = emu.post("/v1.0/users/u1/contacts", pavel()).await.body;
    let path = format!(
        "/v1.0/users/u1/contacts/{}",
        enc(created["id"].as_str().expect("id"))
    );
    let r = emu
        .control(
            Method::POST,
            "/_emulator/faults",
            json!({"status": 503, "count": 2, "retry_after": 1.5, "route": "GET /v1.0/users/{id}/contacts/{id}"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(
        emu.get("/v1.0/users/u1/contacts").await.status,
        200,
        "other routes unaffected"
    );
    for _ in 0..2 {
        let r = emu.get(&path).await;
        assert_eq!(r.status, 503);
        assert_eq!(r.header("retry-after"), Some("1.5"));
        assert_eq!(r.error_code(), "serviceNotAvailable");
    }
    assert_eq!(emu.get(&path).await.status, 200);
}

#[tokio::test]
async fn counters_count_real_traffic_by_templated_route_and_reset_alone() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let created = emu.post("/v1.0/users/u1/contacts", pavel()).await.body;
    emu.get(&format!(
        "/v1.0/users/u1/contacts/{}",
        enc(created["id"].as_str().expect("id"))
    ))
    .await;
    emu.state("u1").await; // control traffic does not count
    let c = emu.counters().await;
    assert_eq!(c["http_requests"], 2, "{c}");
    assert_eq!(c["operations"], 2);
    assert_eq!(c["by_route"]["POST /v1.0/users/{id}/contacts"], 1);
    assert_eq!(c["by_route"]["GET /v1.0/users/{id}/contacts/{id}"], 1);
    assert_eq!(
        emu.control(Method::DELETE, "/_emulator/requests", json!({}))
            .await
            .status,
        204
    );
    let c = emu.counters().await;
    assert_eq!(
        (c["http_requests"].clone(), c["operations"].clone()),
        (json!(0), json!(0))
    );
    assert_eq!(
        emu.state("u1").await.len(),
        1,
        "zeroing counters keeps the data"
    );
    let reset = emu
        .control(Method::POST, "/_emulator/reset", json!({}))
        .await;
    assert_eq!(reset.status, 200);
    assert_eq!(
        emu.get("/v1.0/users/u1/contacts").await.status,
        404,
        "reset drops mailboxes"
    );
}

#[tokio::test]
async fn an_after_effect_fault_loses_the_response_but_not_the_write() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    emu.control(
        Method::POST,
        "/_emulator/faults",
        json!({"status": 504, "route": "POST /v1.0/users/{id}/contacts", "after_effect": true}),
    )
    .await;
    let r = emu.post("/v1.0/users/u1/contacts", pavel()).await;
    assert_eq!(r.status, 504);
    assert_eq!(
        emu.state("u1").await.len(),
        1,
        "the create happened although the answer was lost"
    );
}
