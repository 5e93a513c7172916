//! The Salesforce read of a session is right or it is refused (B6, B7, C5): a query answer that
//! cannot be completed fails the read instead of being taken as whole, an empty complete listing
//! (scope changed to an empty list view) is a real answer, and deletions are found through Get
//! Deleted even after the Recycle Bin was purged, with a full re-listing when the delete log no
//! longer reaches back to the cursor.

use contactsync_e2e::{Stack, TestUser};
use reqwest::Method;
use serde_json::{Value, json};

fn in_folder(contacts: &[Value]) -> Vec<&Value> {
    contacts
        .iter()
        .filter(|c| c["folderDisplayName"] == "Salesforce Contacts")
        .collect()
}

async fn mirrors(stack: &Stack, user: &TestUser) -> Vec<String> {
    let mailbox = stack.mailbox_contacts(user).await.expect("mailbox");
    let mut names: Vec<String> = in_folder(&mailbox)
        .iter()
        .filter_map(|c| c["surname"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}

async fn control(stack: &Stack, method: Method, path: &str, body: Option<Value>) -> Value {
    stack
        .emulator_control(&stack.salesforce_url, method, path, body)
        .await
        .expect("control call")
}

async fn set_settings(stack: &Stack, user: &TestUser, settings: Value) {
    let mut merged = json!({"enabled": true, "scope": "mine", "auto_removal": false,
                            "conflict_winner": "salesforce"});
    if let (Some(m), Some(extra)) = (merged.as_object_mut(), settings.as_object()) {
        for (k, v) in extra {
            m.insert(k.clone(), v.clone());
        }
    }
    let (status, body) = stack
        .admin(
            Method::PUT,
            &format!("/api/v1/users/{}/settings/contacts", user.id),
            Some(merged),
        )
        .await
        .expect("settings");
    assert!(status < 300, "{status} {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c5_a_query_answer_not_done_without_a_next_records_url_fails_the_read_and_deletes_nothing()
{
    let stack = Stack::start().await.expect("stack");
    let user = stack.add_user("quinn", json!({})).await.expect("user");
    for i in 0..4 {
        stack
            .create_in_salesforce(&user, json!({"LastName": format!("Whole{i}")}))
            .await
            .expect("contact");
    }
    stack.sync(&user).await.expect("first session");
    assert_eq!(mirrors(&stack, &user).await.len(), 4);

    // Every query answer now stops half-way with `done: false` and nowhere to go for the rest;
    // then a scope change reads the whole scope as a complete listing.
    control(
        &stack,
        Method::POST,
        "/faults",
        Some(json!({"kind": "truncate_query", "count": 1000})),
    )
    .await;
    set_settings(&stack, &user, json!({"scope": "all"})).await;
    let summary = stack.sync(&user).await.expect("session");
    assert_eq!(summary["state"], "failed", "{summary}");
    assert_eq!(summary["writes"]["exchange"]["deleted"], 0, "{summary}");
    assert_eq!(
        mirrors(&stack, &user).await.len(),
        4,
        "a truncated listing removes nothing"
    );
    let (_, status) = stack
        .admin(
            Method::GET,
            &format!("/api/v1/users/{}/status", user.id),
            None,
        )
        .await
        .expect("status");
    assert!(
        status.to_string().contains("incomplete query"),
        "the failure says why: {status}"
    );

    control(&stack, Method::DELETE, "/faults", None).await;
    let summary = stack.sync(&user).await.expect("session");
    assert_eq!(summary["state"], "succeeded", "{summary}");
    assert_eq!(mirrors(&stack, &user).await.len(), 4);
    stack.stop().await.expect("stop");
}

/// A Contact list view whose filter matches no Contact; returns its id.
async fn empty_list_view(stack: &Stack) -> String {
    let view = control(
        stack,
        Method::POST,
        "/listviews",
        Some(json!({"label": "Nobody yet", "where": "LastName = 'Nobody at all'"})),
    )
    .await;
    view["id"].as_str().expect("view id").to_owned()
}

/// Creates `n` Contacts owned by the user through the control API (no API traffic).
async fn seed_contacts(stack: &Stack, user: &TestUser, prefix: &str, n: usize) {
    let records: Vec<Value> = (0..n)
        .map(|i| json!({"LastName": format!("{prefix}{i:02}"), "OwnerId": user.salesforce_user_id}))
        .collect();
    control(
        stack,
        Method::POST,
        "/sobjects/Contact",
        Some(json!({"as_user": user.salesforce_username, "records": records})),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b7_a_scope_changed_to_an_empty_list_view_removes_the_mirrors_and_leaves_salesforce_alone()
{
    let stack = Stack::start().await.expect("stack");
    let user = stack.add_user("vera", json!({})).await.expect("user");
    seed_contacts(&stack, &user, "Viewless", 3).await;
    stack.sync(&user).await.expect("first session");
    assert_eq!(mirrors(&stack, &user).await.len(), 3);

    let view = empty_list_view(&stack).await;
    set_settings(
        &stack,
        &user,
        json!({"scope": "list_view", "list_view_id": view}),
    )
    .await;
    // The settings change starts the session that reads the new scope (C6: one is enough).
    stack
        .settle(&user)
        .await
        .expect("the scope change's session");
    assert!(
        mirrors(&stack, &user).await.is_empty(),
        "the scope is empty"
    );
    assert_eq!(
        stack
            .live_salesforce_contacts()
            .await
            .expect("contacts")
            .len(),
        3,
        "Salesforce is untouched"
    );
    stack.assert_quiet_session(&user).await.expect("C3");
    stack.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c5_a_scope_changed_to_an_empty_list_view_with_many_mirrors_waits_for_an_operator() {
    let stack = Stack::start().await.expect("stack");
    let user = stack.add_user("wren", json!({})).await.expect("user");
    seed_contacts(&stack, &user, "Many", 22).await;
    stack.sync(&user).await.expect("first session");
    assert_eq!(mirrors(&stack, &user).await.len(), 22);

    let view = empty_list_view(&stack).await;
    set_settings(
        &stack,
        &user,
        json!({"scope": "list_view", "list_view_id": view}),
    )
    .await;
    let summary = stack.sync(&user).await.expect("session");
    assert_eq!(summary["writes"]["exchange"]["deleted"], 0, "{summary}");
    assert!(
        summary["errors"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["code"] == "mass_delete_guard")),
        "the guard holds the empty listing: {summary}"
    );
    assert_eq!(mirrors(&stack, &user).await.len(), 22);

    let (code, body) = stack
        .admin(
            Method::POST,
            &format!("/api/v1/users/{}/confirm-deletions", user.id),
            None,
        )
        .await
        .expect("confirm");
    assert!(code < 300, "{code} {body}");
    contactsync_e2e::eventually(30, "the confirmed scope change", || async {
        let mailbox = stack.mailbox_contacts(&user).await.ok()?;
        in_folder(&mailbox).is_empty().then_some(())
    })
    .await;
    assert_eq!(
        stack
            .live_salesforce_contacts()
            .await
            .expect("contacts")
            .len(),
        22
    );
    stack.stop().await.expect("stop");
}

/// Moves the Salesforce emulator's clock forward, as time passing would.
async fn advance_salesforce_clock(stack: &Stack, seconds: u64) {
    control(
        stack,
        Method::POST,
        "/clock",
        Some(json!({"advance_seconds": seconds})),
    )
    .await;
}

/// A Contact created in the mailbox's sync folder and synced up (B8); returns its Salesforce id.
async fn up_synced(stack: &Stack, user: &TestUser, last: &str) -> String {
    let folder = stack
        .folder_id(user, "Salesforce Contacts")
        .await
        .expect("folder");
    stack
        .create_in_mailbox(
            user,
            Some(&folder),
            json!({"givenName": "Up", "surname": last}),
        )
        .await
        .expect("mailbox contact");
    stack.sync(user).await.expect("up-sync");
    stack
        .live_salesforce_contacts()
        .await
        .expect("contacts")
        .into_iter()
        .find(|c| c["LastName"] == last)
        .and_then(|c| c["Id"].as_str().map(str::to_owned))
        .expect("the up-synced Contact")
}

async fn delete_in_salesforce(stack: &Stack, user: &TestUser, id: &str) {
    stack
        .salesforce(
            user,
            Method::DELETE,
            &format!("/sobjects/Contact/{id}"),
            None,
        )
        .await
        .expect("delete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b6_a_contact_purged_from_the_recycle_bin_before_the_next_session_still_leaves_the_folder()
{
    let stack = Stack::start().await.expect("stack");
    let user = stack.add_user("pia", json!({})).await.expect("user");
    let gone = stack
        .create_in_salesforce(&user, json!({"LastName": "Purged"}))
        .await
        .expect("contact");
    stack
        .create_in_salesforce(&user, json!({"LastName": "Stays"}))
        .await
        .expect("contact");
    stack.sync(&user).await.expect("first session");
    assert_eq!(mirrors(&stack, &user).await, vec!["Purged", "Stays"]);

    // Deleted, and the Recycle Bin emptied a few minutes later, before the next session.
    delete_in_salesforce(&stack, &user, &gone).await;
    advance_salesforce_clock(&stack, 180).await;
    let purged = control(&stack, Method::POST, "/recycle-bin/purge", None).await;
    assert_eq!(purged["purged"], json!([gone]));

    let summary = stack.sync(&user).await.expect("session");
    assert_eq!(summary["writes"]["exchange"]["deleted"], 1, "{summary}");
    assert_eq!(mirrors(&stack, &user).await, vec!["Stays"]);
    stack.assert_quiet_session(&user).await.expect("C3");
    stack.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b6_a_contact_deleted_seconds_ago_leaves_the_folder_in_the_next_session() {
    // Get Deleted answers in whole minutes: the minute not covered yet is read from the bin.
    let stack = Stack::start().await.expect("stack");
    let user = stack.add_user("sid", json!({})).await.expect("user");
    let id = stack
        .create_in_salesforce(&user, json!({"LastName": "Brief"}))
        .await
        .expect("contact");
    stack.sync(&user).await.expect("first session");
    delete_in_salesforce(&stack, &user, &id).await;
    let summary = stack.sync(&user).await.expect("session");
    assert_eq!(summary["writes"]["exchange"]["deleted"], 1, "{summary}");
    assert!(mirrors(&stack, &user).await.is_empty());
    // The next window reports the same deletion again: nothing left to do.
    advance_salesforce_clock(&stack, 120).await;
    stack.assert_quiet_session(&user).await.expect("C3");
    stack.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b6_a_delete_log_purged_past_the_cursor_relists_and_looks_up_the_linked_contacts() {
    let stack = Stack::start().await.expect("stack");
    let user = stack.add_user("lia", json!({})).await.expect("user");
    let other = stack
        .add_user("mo", json!({"enabled": false}))
        .await
        .expect("other user");
    let down = stack
        .create_in_salesforce(&user, json!({"LastName": "DownGone"}))
        .await
        .expect("contact");
    stack
        .create_in_salesforce(&user, json!({"LastName": "DownKept"}))
        .await
        .expect("contact");
    stack.sync(&user).await.expect("first session");
    let up_gone = up_synced(&stack, &user, "UpGone").await;
    let up_moved = up_synced(&stack, &user, "UpReassigned").await;
    assert_eq!(
        mirrors(&stack, &user).await,
        vec!["DownGone", "DownKept", "UpGone", "UpReassigned"]
    );

    // Two Contacts deleted, one created from the mailbox given to someone else (it stays
    // linked, B7); then the bin is emptied and the delete log purged past the cursor.
    delete_in_salesforce(&stack, &user, &down).await;
    delete_in_salesforce(&stack, &user, &up_gone).await;
    stack
        .salesforce(
            &user,
            Method::PATCH,
            &format!("/sobjects/Contact/{up_moved}"),
            Some(json!({"OwnerId": other.salesforce_user_id})),
        )
        .await
        .expect("reassign");
    advance_salesforce_clock(&stack, 180).await;
    control(&stack, Method::POST, "/recycle-bin/purge", None).await;
    let log = control(&stack, Method::POST, "/delete-log/purge", None).await;
    assert_eq!(log["purged"], 2, "{log}");

    let summary = stack.sync(&user).await.expect("session");
    assert_eq!(summary["state"], "succeeded", "{summary}");
    assert_eq!(summary["writes"]["exchange"]["deleted"], 2, "{summary}");
    assert_eq!(summary["writes"]["salesforce"]["deleted"], 0, "{summary}");
    assert_eq!(
        mirrors(&stack, &user).await,
        vec!["DownKept", "UpReassigned"]
    );
    let (_, traffic) = stack.counters().await.expect("counters");
    assert!(
        traffic["by_route"]
            .as_object()
            .is_some_and(|r| r.keys().any(|k| k.contains("sobjects/Contact/deleted"))),
        "deletions were asked of the delete log: {traffic}"
    );
    stack.assert_quiet_session(&user).await.expect("C3");
    stack.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b6_invalid_replication_date_relists_instead_of_failing() {
    let stack = Stack::start().await.expect("stack");
    let user = stack.add_user("ivy", json!({})).await.expect("user");
    let gone = stack
        .create_in_salesforce(&user, json!({"LastName": "Gone"}))
        .await
        .expect("contact");
    stack
        .create_in_salesforce(&user, json!({"LastName": "Kept"}))
        .await
        .expect("contact");
    stack.sync(&user).await.expect("first session");
    delete_in_salesforce(&stack, &user, &gone).await;
    advance_salesforce_clock(&stack, 180).await;
    control(&stack, Method::POST, "/recycle-bin/purge", None).await;
    control(
        &stack,
        Method::POST,
        "/faults",
        Some(
            json!({"status": 400, "errorCode": "INVALID_REPLICATION_DATE",
                    "message": "startDate before org replication enabled date",
                    "route": "GET /services/data/v60.0/sobjects/Contact/deleted"}),
        ),
    )
    .await;
    let summary = stack.sync(&user).await.expect("session");
    assert_eq!(summary["state"], "succeeded", "{summary}");
    assert_eq!(summary["writes"]["exchange"]["deleted"], 1, "{summary}");
    assert_eq!(mirrors(&stack, &user).await, vec!["Kept"]);
    stack.assert_quiet_session(&user).await.expect("C3");
    stack.stop().await.expect("stop");
}
