//! The knobs that stand for UNCONFIRMED behaviour switch it as documented.

mod common;

use common::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn parent_folder_id_in_a_patch_is_ignored_by_default_and_rejected_when_asked() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    let folder = emu
        .post("/v1.0/users/u1/contactFolders", json!({"displayName": "F"}))
        .await
        .body;
    let created = emu.post("/v1.0/users/u1/contacts", pavel()).await.body;
    let path = format!(
        "/v1.0/users/u1/contacts/{}",
        enc(created["id"].as_str().expect("id"))
    );
    let r = emu
        .patch(&path, json!({"parentFolderId": folder["id"]}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["parentFolderId"], created["parentFolderId"],
        "never a move"
    );
    emu.set_knobs(json!({"patch_parent_folder": "reject"}))
        .await;
    let r = emu
        .patch(&path, json!({"parentFolderId": folder["id"]}))
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn hard_delete_and_all_folder_listing_can_be_switched_on() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    emu.set_knobs(json!({"soft_delete": false, "list_all_folders": true}))
        .await;
    let folder = emu
        .post("/v1.0/users/u1/contactFolders", json!({"displayName": "F"}))
        .await
        .body;
    emu.post(
        &format!(
            "/v1.0/users/u1/contactFolders/{}/contacts",
            enc(folder["id"].as_str().expect("id"))
        ),
        pavel(),
    )
    .await;
    let created = emu.post("/v1.0/users/u1/contacts", pavel()).await.body;
    let listed = emu.get("/v1.0/users/u1/contacts").await;
    assert_eq!(listed.body["value"].as_array().map(Vec::len), Some(2));
    emu.delete(&format!(
        "/v1.0/users/u1/contacts/{}",
        enc(created["id"].as_str().expect("id"))
    ))
    .await;
    assert_eq!(
        emu.state("u1").await.len(),
        1,
        "nothing kept in Deleted Items"
    );
}

#[tokio::test]
async fn over_long_subscriptions_are_clamped_when_asked_and_unknown_knobs_are_refused() {
    let emu = Emu::start().await;
    let r = emu
        .control(
            Method::POST,
            "/_emulator/config",
            json!({"no_such_knob": 1}),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = emu
        .control(
            Method::POST,
            "/_emulator/config",
            json!({"subscription_over_max": "clamp"}),
        )
        .await;
    assert_eq!(r.body["subscription_over_max"], "clamp");
    let r = emu
        .control(Method::GET, "/_emulator/config", json!({}))
        .await;
    assert_eq!(r.body["mailbox_concurrency"], 4);
    emu.control(Method::POST, "/_emulator/reset", json!({}))
        .await;
    let r = emu
        .control(Method::GET, "/_emulator/config", json!({}))
        .await;
    assert_eq!(
        r.body["subscription_over_max"], "reject",
        "reset restores the start-up knobs"
    );
}

#[tokio::test]
async fn with_replays_on_every_change_is_reported_in_two_consecutive_rounds() {
    let emu = Emu::start().await;
    emu.mailbox("u1", "u1@contoso.com").await;
    emu.set_knobs(json!({"delta_replay": true})).await;
    let first = emu.get("/v1.0/users/u1/contacts/delta").await;
    let link = first.body["@odata.deltaLink"]
        .as_str()
        .expect("deltaLink")
        .to_owned();
    let created = emu.post("/v1.0/users/u1/contacts", pavel()).await.body;
    let round2 = emu.get(&link).await;
    assert_eq!(round2.body["value"][0]["id"], created["id"]);
    let link = round2.body["@odata.deltaLink"]
        .as_str()
        .expect("deltaLink")
        .to_owned();
    let round3 = emu.get(&link).await;
    assert_eq!(round3.body["value"][0]["id"], created["id"], "replayed");
    let link = round3.body["@odata.deltaLink"]
        .as_str()
        .expect("deltaLink")
        .to_owned();
    let round4 = emu.get(&link).await;
    assert_eq!(
        round4.body["value"],
        json!([]),
        "a change is replayed once, not forever"
    );
}
