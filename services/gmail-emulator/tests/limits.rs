//! Quotas, sequential mutations, injected faults and request counters (reference §6, §9.6).

mod common;

use common::*;
use gmail_emulator::ConcurrentMutations;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn an_exhausted_read_quota_answers_429_without_retry_after() {
    let mut config = test_config();
    config.knobs.read_requests_per_minute = 3;
    let emu = Emu::start_with(config).await;
    let token = emu.user("u@example.com").await;
    let other = emu.user("v@example.com").await;
    for _ in 0..3 {
        let r = emu
            .get(&token, "/v1/people/me/connections?personFields=names")
            .await;
        assert_eq!(r.status, 200);
    }
    let r = emu
        .get(&token, "/v1/people/me/connections?personFields=names")
        .await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.status_name(), "RESOURCE_EXHAUSTED");
    assert!(r.message().starts_with(
        "Quota exceeded for quota metric 'Critical read requests (Contact and Profile Reads)'"
    ));
    let info = &r.body["error"]["details"][0];
    assert_eq!(info["reason"], "RATE_LIMIT_EXCEEDED");
    assert_eq!(info["domain"], "googleapis.com");
    assert_eq!(
        info["metadata"]["quota_limit"],
        "CriticalReadsPerMinutePerProjectPerUser"
    );
    assert!(r.header("retry-after").is_none());
    let r = emu
        .get(&other, "/v1/people/me/connections?personFields=names")
        .await;
    assert_eq!(r.status, 200, "quotas are per user");
    emu.set_knobs(json!({"quota_enabled": false})).await;
    let r = emu
        .get(&token, "/v1/people/me/connections?personFields=names")
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn the_first_page_of_a_full_sync_draws_on_its_own_quota() {
    let mut config = test_config();
    config.knobs.full_sync_requests_per_minute = 1;
    let emu = Emu::start_with(config).await;
    let token = emu.user("u@example.com").await;
    let full = "/v1/people/me/connections?personFields=names&requestSyncToken=true";
    let first = emu.get(&token, full).await;
    assert_eq!(first.status, 200);
    assert_eq!(emu.get(&token, full).await.status, 429);
    // Incremental syncs are not full syncs.
    let sync = first.body["nextSyncToken"].as_str().expect("sync");
    assert_eq!(
        emu.get(&token, &format!("{full}&syncToken={sync}"))
            .await
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_mutations_of_one_user_are_counted_or_rejected() {
    let mut config = test_config();
    config.knobs.latency_ms = 300;
    let emu = Emu::start_with(config).await;
    let token = emu.user("u@example.com").await;
    let body = || json!({"names": [{"givenName": "C"}]});
    let (a, b) = tokio::join!(
        emu.post(&token, "/v1/people:createContact", body()),
        emu.post(&token, "/v1/people:createContact", body())
    );
    assert_eq!((a.status, b.status), (200, 200));
    assert_eq!(emu.counters().await["concurrent_mutations"], 1);

    let reject = serde_json::to_value(ConcurrentMutations::Reject).expect("knob");
    emu.set_knobs(json!({ "concurrent_mutations": reject }))
        .await;
    let (a, b) = tokio::join!(
        emu.post(&token, "/v1/people:createContact", body()),
        emu.post(&token, "/v1/people:createContact", body())
    );
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 429]);
    let rejected = if a.status == 429 { a } else { b };
    assert_eq!(rejected.status_name(), "RESOURCE_EXHAUSTED");
}

#[tokio::test]
async fn faults_fire_on_their_route_and_after_effect_loses_the_response() {
    let emu = Emu::start().await;
    let token = emu.user("u@example.com").await;
    let r = emu
        .control(
            Method::POST,
            "faults",
            json!({"status": 503, "count": 2, "retry_after": 3, "route": "GET /v1/people/me/connections"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    for _ in 0..2 {
        let r = emu
            .get(&token, "/v1/people/me/connections?personFields=names")
            .await;
        assert_eq!(r.status, 503);
        assert_eq!(r.status_name(), "UNAVAILABLE");
        assert_eq!(r.message(), "The service is currently unavailable.");
        assert_eq!(r.header("retry-after").as_deref(), Some("3"));
    }
    assert_eq!(
        emu.get(&token, "/v1/people/me/connections?personFields=names")
            .await
            .status,
        200
    );

    emu.control(
        Method::POST,
        "faults",
        json!({"status": 500, "route": "POST /v1/people:createContact", "after_effect": true}),
    )
    .await;
    let r = emu
        .post(
            &token,
            "/v1/people:createContact",
            json!({"names": [{"givenName": "Lost"}]}),
        )
        .await;
    assert_eq!(r.status, 500);
    let state = emu
        .control(Method::GET, "mailboxes/u@example.com/contacts", Value::Null)
        .await;
    assert_eq!(
        state.body["contacts"].as_array().map(Vec::len),
        Some(1),
        "it was created"
    );
}

#[tokio::test]
async fn counters_count_requests_and_batch_items() {
    let emu = Emu::start().await;
    let token = emu.user("u@example.com").await;
    let contacts: Vec<Value> = (0..5)
        .map(|i| json!({"contactPerson": {"names": [{"givenName": format!("N{i}")}]}}))
        .collect();
    let r = emu
        .post(
            &token,
            "/v1/people:batchCreateContacts",
            json!({"contacts": contacts, "readMask": ""}),
        )
        .await;
    assert_eq!(r.status, 200);
    emu.get(&token, "/v1/people/me/connections?personFields=names")
        .await;
    let c = emu.counters().await;
    assert_eq!(c["http_requests"], 2);
    assert_eq!(c["operations"], 6);
    assert_eq!(c["by_route"]["POST /v1/people:batchCreateContacts"], 1);
    assert_eq!(c["by_route"]["GET /v1/people/me/connections"], 1);
    let cleared = emu.control(Method::DELETE, "requests", Value::Null).await;
    assert_eq!(cleared.body["http_requests"], 0);

    // Reset forgets mailboxes and tokens.
    emu.control(Method::POST, "reset", json!({})).await;
    let r = emu
        .get(&token, "/v1/people/me/connections?personFields=names")
        .await;
    assert_eq!(r.status, 401);
}
