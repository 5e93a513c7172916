//! The Standard Contact Duplicate Rule (contract §9: DUPLICATES_DETECTED), switched on
//! through the control API.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn duplicate_rule_alerts_blocks_and_honours_allow_save() {
    let emu = start().await;
    let (_, token) = emu.login("dup@example.com").await;
    let url = format!("/services/data/{V}/sobjects/Contact");
    let twin = json!({"LastName": "Twin", "Email": "twin@example.com"});
    assert_eq!(
        emu.post(&url, &token, twin.clone()).await.status,
        StatusCode::CREATED
    );
    // Off by default: a second identical contact is saved.
    assert_eq!(
        emu.post(&url, &token, twin.clone()).await.status,
        StatusCode::CREATED
    );

    let r = emu
        .control(
            Method::POST,
            "/duplicate-rule",
            Some(json!({"mode": "alert"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = emu
        .post(
            &url,
            &token,
            json!({"LastName": "TWIN", "Email": "Twin@Example.com"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.body,
        json!([{"message": "Use one of these records?", "errorCode": "DUPLICATES_DETECTED", "fields": []}])
    );
    let r = emu
        .send(
            Method::POST,
            &url,
            Some(&token),
            Some(twin.clone()),
            &[(
                "Sforce-Duplicate-Rule-Header",
                "allowSave=true; includeRecordDetails=false",
            )],
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "allowSave passes an alert: {}",
        r.text
    );
    // Different last name: not a duplicate.
    assert_eq!(
        emu.post(
            &url,
            &token,
            json!({"LastName": "Other", "Email": "twin@example.com"})
        )
        .await
        .status,
        StatusCode::CREATED
    );

    emu.control(
        Method::POST,
        "/duplicate-rule",
        Some(json!({"mode": "block"})),
    )
    .await;
    let r = emu
        .send(
            Method::POST,
            &url,
            Some(&token),
            Some(twin.clone()),
            &[("Sforce-Duplicate-Rule-Header", "allowSave=true")],
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "a blocking rule ignores allowSave"
    );
    // In collections the error is per record, with statusCode.
    let r = emu
        .post(&format!("/services/data/{V}/composite/sobjects"), &token, json!({"records": [
            {"attributes": {"type": "Contact"}, "LastName": "Twin", "Email": "twin@example.com"},
            {"attributes": {"type": "Contact"}, "LastName": "Unique", "Email": "unique@example.com"},
        ]}))
        .await;
    assert_eq!(
        r.body[0],
        json!({"success": false, "errors": [{"statusCode": "DUPLICATES_DETECTED", "message": "Use one of these records?", "fields": []}]})
    );
    assert_eq!(r.body[1]["success"], true);
    // Reset restores the configured rule (off).
    emu.control(Method::POST, "/reset", None).await;
    let (_, token) = emu.login("dup@example.com").await;
    assert_eq!(
        emu.post(&url, &token, twin.clone()).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        emu.post(&url, &token, twin).await.status,
        StatusCode::CREATED
    );
}
