//! `connections.list`: full and incremental sync, tombstones, token expiry and binding, paging,
//! sync lag (reference §2, §9.3).

mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

const LIST: &str = "/v1/people/me/connections?personFields=names,emailAddresses";

/// Follows `nextPageToken` to the end; returns every person and the sync token.
async fn list_all(emu: &Emu, token: &str, first: &str) -> (Vec<Value>, Option<String>, usize) {
    let mut people = Vec::new();
    let mut page: Option<String> = None;
    let mut pages = 0;
    loop {
        let url = match &page {
            Some(p) => format!("{first}&pageToken={p}"),
            None => first.to_owned(),
        };
        let r = emu.get(token, &url).await;
        assert_eq!(r.status, 200, "{}", r.body);
        pages += 1;
        people.extend(
            r.body["connections"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
        match r.body["nextPageToken"].as_str() {
            Some(p) => {
                assert!(
                    r.body.get("nextSyncToken").is_none(),
                    "sync token only on the last page"
                );
                page = Some(p.to_owned());
            }
            None => {
                return (
                    people,
                    r.body["nextSyncToken"].as_str().map(str::to_owned),
                    pages,
                );
            }
        }
    }
}

#[tokio::test]
async fn full_then_incremental_sync_reports_changes_and_tombstones() {
    let emu = Emu::start().await;
    let token = emu.user("u@example.com").await;
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(emu.create(&token, &format!("P{i}")).await);
    }
    let full = format!("{LIST}&requestSyncToken=true&pageSize=2");
    let (people, sync, pages) = list_all(&emu, &token, &full).await;
    assert_eq!(people.len(), 5);
    assert_eq!(pages, 3);
    let sync = sync.expect("nextSyncToken on the last page");

    // Nothing changed: an empty answer and a fresh token.
    let incremental = format!("{full}&syncToken={sync}");
    let (none, sync2, _) = list_all(&emu, &token, &incremental).await;
    assert!(none.is_empty(), "{none:?}");
    let sync2 = sync2.expect("token");

    // One update, one delete, one create.
    let target = &created[1];
    let name = target["resourceName"].as_str().expect("name");
    let r = emu
        .patch(
            &token,
            &format!("/v1/{name}:updateContact?updatePersonFields=names"),
            json!({"etag": target["etag"], "names": [{"givenName": "Renamed"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let gone = created[3]["resourceName"].as_str().expect("name");
    assert_eq!(
        emu.delete(&token, &format!("/v1/{gone}:deleteContact"))
            .await
            .body,
        json!({})
    );
    let new = emu.create(&token, "Fresh").await;

    let incremental = format!("{full}&syncToken={sync2}");
    let (changes, sync3, _) = list_all(&emu, &token, &incremental).await;
    assert_eq!(changes.len(), 3, "{changes:?}");
    let renamed = changes
        .iter()
        .find(|p| p["resourceName"] == name)
        .expect("update");
    assert_eq!(renamed["names"][0]["givenName"], "Renamed");
    let tomb = changes
        .iter()
        .find(|p| p["resourceName"] == gone)
        .expect("tombstone");
    assert_eq!(tomb["metadata"]["deleted"], true);
    assert_eq!(tomb["metadata"]["objectType"], "PERSON");
    assert_eq!(tomb["metadata"]["sources"][0]["type"], "CONTACT");
    assert!(
        tomb.get("names").is_none() && tomb.get("emailAddresses").is_none(),
        "{tomb}"
    );
    assert!(
        changes
            .iter()
            .any(|p| p["resourceName"] == new["resourceName"])
    );

    // The old token still works and returns the same changes (tokens are not consumed).
    let (again, _, _) = list_all(&emu, &token, &format!("{full}&syncToken={sync2}")).await;
    assert_eq!(again.len(), 3);
    let (after, _, _) = list_all(
        &emu,
        &token,
        &format!("{full}&syncToken={}", sync3.expect("token")),
    )
    .await;
    assert!(after.is_empty());

    // A full listing has no tombstones.
    let (live, _, _) = list_all(&emu, &token, &full).await;
    assert_eq!(live.len(), 5);
    assert!(live.iter().all(|p| p["resourceName"] != gone));
}

#[tokio::test]
async fn expired_sync_tokens_answer_400_failed_precondition() {
    let emu = Emu::start().await;
    let token = emu.user("u@example.com").await;
    emu.create(&token, "A").await;
    let full = format!("{LIST}&requestSyncToken=true");
    let (_, sync, _) = list_all(&emu, &token, &full).await;
    let sync = sync.expect("token");
    let r = emu
        .control(
            Method::POST,
            "sync-tokens/expire",
            json!({"email": "u@example.com"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = emu.get(&token, &format!("{full}&syncToken={sync}")).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.status_name(), "FAILED_PRECONDITION");
    assert_eq!(
        r.message(),
        "Sync token is expired. Clear local cache and retry call without the sync token."
    );
    assert_eq!(
        r.body["error"]["details"][0]["reason"],
        "EXPIRED_SYNC_TOKEN"
    );
    assert_eq!(
        r.body["error"]["details"][0]["domain"],
        "people.googleapis.com"
    );

    // By age: a token older than the knob is expired; the status is a knob too.
    emu.set_knobs(json!({"sync_token_max_age_secs": 1, "expired_sync_token_status": 410}))
        .await;
    let (_, fresh, _) = list_all(&emu, &token, &full).await;
    let moved = emu
        .control(Method::POST, "clock", json!({"advance_seconds": 2.1}))
        .await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    let r = emu
        .get(
            &token,
            &format!("{full}&syncToken={}", fresh.expect("token")),
        )
        .await;
    assert_eq!(r.status, 410, "{}", r.body);
    assert_eq!(
        r.body["error"]["details"][0]["reason"],
        "EXPIRED_SYNC_TOKEN"
    );
}

#[tokio::test]
async fn page_and_sync_tokens_are_bound_to_their_parameters() {
    let emu = Emu::start().await;
    let token = emu.user("u@example.com").await;
    for i in 0..3 {
        emu.create(&token, &format!("P{i}")).await;
    }
    let first = emu.get(&token, &format!("{LIST}&pageSize=1")).await;
    let page = first.body["nextPageToken"].as_str().expect("page token");
    // Same parameters: fine. Another pageSize or field list: 400.
    let ok = emu
        .get(&token, &format!("{LIST}&pageSize=1&pageToken={page}"))
        .await;
    assert_eq!(ok.status, 200);
    let bad = emu
        .get(&token, &format!("{LIST}&pageSize=2&pageToken={page}"))
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.status_name(), "INVALID_ARGUMENT");
    let bad = emu
        .get(
            &token,
            &format!("/v1/people/me/connections?personFields=names&pageSize=1&pageToken={page}"),
        )
        .await;
    assert_eq!(bad.status, 400);

    let full = emu
        .get(&token, &format!("{LIST}&requestSyncToken=true"))
        .await;
    let sync = full.body["nextSyncToken"].as_str().expect("sync token");
    let bad = emu
        .get(&token, &format!("/v1/people/me/connections?personFields=names&requestSyncToken=true&syncToken={sync}"))
        .await;
    assert_eq!(bad.status, 400, "another personFields");
    let garbage = emu.get(&token, &format!("{LIST}&syncToken=garbage")).await;
    assert_eq!(garbage.status, 400);

    // Another user's token is refused.
    let other = emu.user("v@example.com").await;
    let r = emu
        .get(
            &other,
            &format!("{LIST}&requestSyncToken=true&syncToken={sync}"),
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn person_fields_and_page_size_are_checked() {
    let emu = Emu::start().await;
    let token = emu.user("u@example.com").await;
    let r = emu.get(&token, "/v1/people/me/connections").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.status_name(), "INVALID_ARGUMENT");
    let r = emu
        .get(&token, "/v1/people/me/connections?personFields=nosuch")
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["error"]["details"][0]["@type"],
        "type.googleapis.com/google.rpc.BadRequest"
    );
    let r = emu.get(&token, &format!("{LIST}&pageSize=1001")).await;
    assert_eq!(r.status, 400);
    let r = emu.get(&token, &format!("{LIST}&pageSize=1000")).await;
    assert_eq!(r.status, 200);
    // 0 means the default of 100.
    let seed: Vec<Value> = (0..150)
        .map(|i| json!({"names": [{"givenName": format!("S{i}")}]}))
        .collect();
    let r = emu
        .control(
            Method::POST,
            "mailboxes/u@example.com/contacts",
            json!({"contacts": seed}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = emu.get(&token, &format!("{LIST}&pageSize=0")).await;
    assert_eq!(r.body["connections"].as_array().map(Vec::len), Some(100));
    assert_eq!(r.body["totalItems"], 150);
}

#[tokio::test]
async fn list_caps_emails_at_100_but_batch_get_returns_all() {
    let emu = Emu::start().await;
    let token = emu.user("u@example.com").await;
    let emails: Vec<Value> = (0..120)
        .map(|i| json!({"value": format!("e{i}@example.com")}))
        .collect();
    let r = emu
        .post(
            &token,
            "/v1/people:createContact",
            json!({"emailAddresses": emails}),
        )
        .await;
    let name = r.body["resourceName"].as_str().expect("name").to_owned();
    let list = emu.get(&token, LIST).await;
    assert_eq!(
        list.body["connections"][0]["emailAddresses"]
            .as_array()
            .map(Vec::len),
        Some(100)
    );
    let got = emu
        .get(
            &token,
            &format!("/v1/people:batchGet?personFields=emailAddresses&resourceNames={name}"),
        )
        .await;
    assert_eq!(
        got.body["responses"][0]["person"]["emailAddresses"]
            .as_array()
            .map(Vec::len),
        Some(120)
    );
}

#[tokio::test]
async fn sync_lag_hides_fresh_changes_from_incremental_syncs() {
    let mut config = test_config();
    config.knobs.sync_lag_secs = 2;
    let emu = Emu::start_with(config).await;
    let token = emu.user("u@example.com").await;
    let full = format!("{LIST}&requestSyncToken=true");
    let (_, sync, _) = list_all(&emu, &token, &full).await;
    let sync = sync.expect("token");
    emu.create(&token, "Late").await;
    let (early, _, _) = list_all(&emu, &token, &format!("{full}&syncToken={sync}")).await;
    assert!(
        early.is_empty(),
        "a change younger than the lag is not visible yet"
    );
    let moved = emu
        .control(Method::POST, "clock", json!({"advance_seconds": 2.2}))
        .await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    let (late, _, _) = list_all(&emu, &token, &format!("{full}&syncToken={sync}")).await;
    assert_eq!(late.len(), 1);
}

#[tokio::test]
async fn a_contact_changed_while_paging_comes_with_the_next_sync() {
    let emu = Emu::start().await;
    let token = emu.user("u@example.com").await;
    let mut created = Vec::new();
    for i in 0..4 {
        created.push(emu.create(&token, &format!("P{i}")).await);
    }
    let full = format!("{LIST}&requestSyncToken=true&pageSize=2");
    let first = emu.get(&token, &full).await;
    let page = first.body["nextPageToken"]
        .as_str()
        .expect("page")
        .to_owned();
    // Edit a contact of the second page before it is read.
    let moved = &created[3];
    let r = emu
        .patch(
            &token,
            &format!(
                "/v1/{}:updateContact?updatePersonFields=names",
                moved["resourceName"].as_str().expect("n")
            ),
            json!({"etag": moved["etag"], "names": [{"givenName": "Moved"}]}),
        )
        .await;
    assert_eq!(r.status, 200);
    let second = emu.get(&token, &format!("{full}&pageToken={page}")).await;
    let sync = second.body["nextSyncToken"].as_str().expect("sync");
    let seen = names(&first.body, "connections").len() + names(&second.body, "connections").len();
    assert_eq!(seen, 3, "the moved contact left this listing");
    let next = emu.get(&token, &format!("{full}&syncToken={sync}")).await;
    assert_eq!(
        names(&next.body, "connections"),
        vec![moved["resourceName"].as_str().expect("n").to_owned()]
    );
}

#[tokio::test]
async fn moving_the_clock_ages_sync_tokens_and_access_tokens() {
    let emu = Emu::start().await;
    let token = emu.user("u@example.com").await;
    emu.create(&token, "A").await;
    let full = format!("{LIST}&requestSyncToken=true");
    let (_, sync, _) = list_all(&emu, &token, &full).await;
    let sync = sync.expect("token");
    let before = emu.control(Method::GET, "clock", Value::Null).await;
    let r = emu
        .control(
            Method::POST,
            "clock",
            json!({"advance_seconds": 6.0 * 86_400.0}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_ne!(r.body["now"], before.body["now"]);
    // Six days on, the access token has long expired; the sync token has not.
    let r = emu.get(&token, &format!("{full}&syncToken={sync}")).await;
    assert_eq!(r.status, 401);
    let token = emu.user("u@example.com").await;
    let r = emu.get(&token, &format!("{full}&syncToken={sync}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Eight days after the full sync: expired.
    emu.control(
        Method::POST,
        "clock",
        json!({"advance_seconds": 2.0 * 86_400.0}),
    )
    .await;
    let token = emu.user("u@example.com").await;
    let r = emu.get(&token, &format!("{full}&syncToken={sync}")).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        r.body["error"]["details"][0]["reason"],
        "EXPIRED_SYNC_TOKEN"
    );
    // Data written now carries the emulator's time.
    let created = emu.create(&token, "Later").await;
    let stamped = created["metadata"]["sources"][0]["updateTime"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let now = emu.control(Method::GET, "clock", Value::Null).await;
    assert_eq!(
        stamped.get(..10),
        now.body["now"].as_str().and_then(|n| n.get(..10))
    );
}
