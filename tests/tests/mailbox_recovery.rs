//! The mailbox side recovers from what users and Graph do to it: a stamp that cannot be read, a
//! contact in a nested folder, a deleted sync folder or category, a lost subscription, a create
//! that took effect although Graph answered 5xx; for Gmail users (G1) a deleted "Salesforce" or
//! "Salesforce Contacts" group. Each test is named after the rule it proves.

use contactsync_e2e::{Options, Provider, Stack, TestUser, both_providers, eventually};
use reqwest::Method;
use serde_json::{Value, json};

/// Injects a Graph fault (`POST /_emulator/faults`) on the user's mailbox.
async fn graph_fault(stack: &Stack, user: &TestUser, mut fault: Value) {
    fault["mailbox"] = json!(user.mailbox);
    let (status, body) = stack
        .call(
            Method::POST,
            &format!("{}/_emulator/faults", stack.graph_url),
            None,
            Some(fault),
        )
        .await
        .expect("fault");
    assert!(status < 300, "injecting the fault: {status} {body}");
}

/// A user's edit in Outlook (control API: notified like one, not counted as our traffic).
async fn edit_in_outlook(stack: &Stack, user: &TestUser, contact_id: &str, patch: Value) {
    let (status, body) = stack
        .call(
            Method::PATCH,
            &format!(
                "{}/_emulator/mailboxes/{}/contacts/{contact_id}",
                stack.graph_url, user.mailbox
            ),
            None,
            Some(patch),
        )
        .await
        .expect("edit");
    assert!(status < 300, "editing in Outlook: {status} {body}");
}

/// The user's link rows.
async fn link_count(stack: &Stack, user: &TestUser) -> i64 {
    let client = stack.pool.get().await.expect("db");
    client
        .query_one(
            "SELECT count(*) FROM contact_links WHERE user_id = $1",
            &[&user.id],
        )
        .await
        .expect("links")
        .get(0)
}

/// The live mailbox contacts with this surname.
async fn mirrors(stack: &Stack, user: &TestUser, surname: &str) -> Vec<Value> {
    stack
        .mailbox_contacts(user)
        .await
        .expect("mailbox")
        .into_iter()
        .filter(|c| c["surname"] == surname)
        .collect()
}

/// The live Salesforce Contacts with this LastName.
async fn contacts_named(stack: &Stack, last_name: &str) -> Vec<Value> {
    stack
        .live_salesforce_contacts()
        .await
        .expect("contacts")
        .into_iter()
        .filter(|c| c["LastName"] == last_name)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c4_a_failed_stamp_lookup_fails_the_read_instead_of_making_a_duplicate() {
    let stack = Stack::start().await.expect("stack");
    let user = stack.add_user("stampy", json!({})).await.expect("user");
    stack
        .create_in_salesforce(&user, json!({"FirstName": "Lost", "LastName": "Link"}))
        .await
        .expect("contact");
    let summary = stack.sync(&user).await.expect("session");
    assert_eq!(summary["writes"]["exchange"]["created"], 1, "{summary}");

    // A crash lost the link row: the mirror still carries its stamp, the store forgets it. The
    // user then edits the mirror, so the next delta shows an item the store does not know.
    {
        let client = stack.pool.get().await.expect("db");
        client
            .execute("DELETE FROM contact_links WHERE user_id = $1", &[&user.id])
            .await
            .expect("forget the link");
    }
    let mirror = mirrors(&stack, &user, "Link").await;
    assert_eq!(mirror.len(), 1, "{mirror:?}");
    let mirror_id = mirror[0]["immutableId"].as_str().expect("id").to_owned();
    edit_in_outlook(&stack, &user, &mirror_id, json!({"jobTitle": "Edited"})).await;

    // Reading the item's stamp fails: the read must fail, not take the item for a new contact.
    graph_fault(
        &stack,
        &user,
        json!({"status": 403, "code": "ErrorAccessDenied", "count": 1,
               "route": "GET /v1.0/users/{id}/contacts/{id}"}),
    )
    .await;
    let failed = stack.sync(&user).await.expect("session");
    assert_ne!(failed["state"], "succeeded", "{failed}");
    assert_eq!(failed["writes"]["salesforce"]["created"], 0, "{failed}");
    assert_eq!(contacts_named(&stack, "Link").await.len(), 1);

    // The next session reads the stamp and links the pair again: one Contact, one mirror.
    let summary = stack.sync(&user).await.expect("session");
    assert_eq!(summary["state"], "succeeded", "{summary}");
    assert_eq!(summary["writes"]["salesforce"]["created"], 0, "{summary}");
    assert_eq!(summary["writes"]["exchange"]["created"], 0, "{summary}");
    assert_eq!(contacts_named(&stack, "Link").await.len(), 1);
    assert_eq!(mirrors(&stack, &user, "Link").await.len(), 1);
    assert_eq!(link_count(&stack, &user).await, 1);
    stack.assert_quiet_session(&user).await.expect("quiet");
    stack.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b9_a_categorized_contact_in_a_nested_folder_moves_into_the_folder_and_reaches_salesforce()
{
    let stack = Stack::start().await.expect("stack");
    let user = stack.add_user("nestor", json!({})).await.expect("user");
    // Work › Clients › Key accounts: two levels below a top-level folder.
    let mut parent = stack
        .create_folder(&user, None, "Work")
        .await
        .expect("folder");
    for name in ["Clients", "Key accounts"] {
        parent = stack
            .create_folder(&user, Some(&parent), name)
            .await
            .expect("child folder");
    }
    stack
        .create_in_mailbox(
            &user,
            Some(&parent),
            json!({"givenName": "Deep", "surname": "Nested", "categories": ["Salesforce"]}),
        )
        .await
        .expect("categorized");
    stack
        .create_in_mailbox(
            &user,
            Some(&parent),
            json!({"givenName": "Private", "surname": "Nestling"}),
        )
        .await
        .expect("personal");

    let summary = stack.sync(&user).await.expect("session");
    assert_eq!(summary["state"], "succeeded", "{summary}");
    assert_eq!(summary["writes"]["salesforce"]["created"], 1, "{summary}");
    assert_eq!(contacts_named(&stack, "Nested").await.len(), 1);
    assert!(
        contacts_named(&stack, "Nestling").await.is_empty(),
        "B4: the uncategorized contact stays private"
    );
    let moved = mirrors(&stack, &user, "Nested").await;
    assert_eq!(moved.len(), 1, "moved, not copied: {moved:?}");
    assert_eq!(moved[0]["folderDisplayName"], "Salesforce Contacts");
    stack.assert_quiet_session(&user).await.expect("quiet");
    stack.stop().await.expect("stop");
}

/// The mirrors' surnames (for Gmail, the members of the "Salesforce Contacts" group), sorted.
async fn mirror_surnames(stack: &Stack, user: &TestUser) -> Vec<String> {
    let mut names: Vec<String> = stack
        .mailbox_mirrors(user)
        .await
        .expect("mailbox")
        .iter()
        .filter_map(|c| c["surname"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}

/// Two Contacts owned by the user, mirrored by a first session.
async fn two_mirrored(stack: &Stack, user: &TestUser) {
    for last in ["Keep", "Safe"] {
        stack
            .create_in_salesforce(user, json!({"FirstName": "Still", "LastName": last}))
            .await
            .expect("contact");
    }
    let summary = stack.sync(user).await.expect("session");
    assert_eq!(summary["writes"]["exchange"]["created"], 2, "{summary}");
}

/// The mirrors in the top-level "Salesforce Contacts" folder (not in a deleted one, which keeps
/// its name under Deleted Items), by surname.
async fn in_sync_folder(stack: &Stack, user: &TestUser) -> Vec<String> {
    let folder = stack
        .folder_id(user, "Salesforce Contacts")
        .await
        .expect("the sync folder");
    let mut names: Vec<String> = stack
        .mailbox_contacts(user)
        .await
        .expect("mailbox")
        .into_iter()
        .filter(|c| c["parentFolderId"] == folder.as_str())
        .filter_map(|c| c["surname"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    names
}

/// The user deletes the sync folder in Outlook (soft: it moves to Deleted Items); `for_good`
/// empties it from there too.
async fn delete_sync_folder(stack: &Stack, user: &TestUser, for_good: bool) -> String {
    let folder = stack
        .folder_id(user, "Salesforce Contacts")
        .await
        .expect("folder");
    let times = if for_good { 2 } else { 1 };
    for _ in 0..times {
        stack
            .graph(
                user,
                Method::DELETE,
                &format!("/contactFolders/{folder}"),
                None,
            )
            .await
            .expect("delete the folder");
    }
    folder
}

fn held_by_the_guard(summary: &Value) -> bool {
    summary["errors"]
        .as_array()
        .is_some_and(|e| e.iter().any(|e| e["code"] == "mass_delete_guard"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b1_b12_a_deleted_sync_folder_comes_back_with_its_mirrors() {
    let stack = Stack::start().await.expect("stack");
    let user = stack.add_user("folda", json!({})).await.expect("user");
    two_mirrored(&stack, &user).await;

    // Deleted in Outlook: the folder sits in Deleted Items, its id still resolves.
    let old = delete_sync_folder(&stack, &user, false).await;
    let summary = stack.sync(&user).await.expect("session");
    assert_eq!(summary["state"], "succeeded", "{summary}");
    assert_eq!(summary["writes"]["exchange"]["created"], 2, "{summary}");
    assert_eq!(summary["writes"]["salesforce"]["deleted"], 0, "{summary}");
    let new = stack
        .folder_id(&user, "Salesforce Contacts")
        .await
        .expect("the folder is back");
    assert_ne!(new, old, "a new top-level folder");
    assert_eq!(in_sync_folder(&stack, &user).await, ["Keep", "Safe"]);
    assert_eq!(stack.live_salesforce_contacts().await.expect("sf").len(), 2);
    stack.assert_quiet_session(&user).await.expect("quiet");

    // Deleted for good (emptied from Deleted Items): the same again.
    delete_sync_folder(&stack, &user, true).await;
    let summary = stack.sync(&user).await.expect("session");
    assert_eq!(summary["state"], "succeeded", "{summary}");
    assert_eq!(summary["writes"]["exchange"]["created"], 2, "{summary}");
    assert_eq!(in_sync_folder(&stack, &user).await, ["Keep", "Safe"]);
    assert_eq!(stack.live_salesforce_contacts().await.expect("sf").len(), 2);
    stack.assert_quiet_session(&user).await.expect("quiet");

    // A delta on a folder that vanished after it was listed answers 404 ErrorItemNotFound: the
    // session sets the folder up again and reads on.
    graph_fault(
        &stack,
        &user,
        json!({"status": 404, "count": 1,
               "route": "GET /v1.0/users/{id}/contactFolders/{id}/contacts/delta"}),
    )
    .await;
    let summary = stack.sync(&user).await.expect("session");
    assert_eq!(summary["state"], "succeeded", "{summary}");
    assert_eq!(in_sync_folder(&stack, &user).await, ["Keep", "Safe"]);
    let folders = stack
        .graph(&user, Method::GET, "/contactFolders", None)
        .await
        .expect("folders");
    let live_sync_folders = folders["value"]
        .as_array()
        .expect("folders")
        .iter()
        .filter(|f| f["displayName"] == "Salesforce Contacts")
        .count();
    assert_eq!(live_sync_folders, 1, "never a second folder: {folders}");
    stack.stop().await.expect("stop");
}

both_providers! {
    async fn b1_a_deleted_salesforce_category_is_created_again(provider: Provider) {
        let stack = Stack::start().await.expect("stack");
        let user = stack
            .add_user_on(provider, "cato", json!({}))
            .await
            .expect("user");
        two_mirrored(&stack, &user).await;
        // Outlook's master category, or Gmail's "Salesforce" group (its contacts kept).
        stack
            .delete_category(&user, "Salesforce")
            .await
            .expect("delete the category");

        let summary = stack.sync(&user).await.expect("session");
        assert_eq!(summary["state"], "succeeded", "{summary}");
        let categories = stack.category_names(&user).await.expect("categories");
        let named = categories.iter().filter(|c| *c == "Salesforce").count();
        assert_eq!(named, 1, "the category is back, once: {categories:?}");
        assert_eq!(mirror_surnames(&stack, &user).await, ["Keep", "Safe"]);
        let mirrors = stack.mailbox_mirrors(&user).await.expect("mailbox");
        assert!(
            mirrors.iter().all(|m| m["categories"] == json!(["Salesforce"])),
            "B10: the mirrors have it again: {mirrors:?}"
        );
        assert_eq!(stack.live_salesforce_contacts().await.expect("sf").len(), 2);
        stack.assert_quiet_session(&user).await.expect("quiet");
        stack.stop().await.expect("stop");
    }
}

/// G1's counterpart of the deleted sync folder: the user deletes the "Salesforce Contacts" group
/// in Google Contacts, keeping its contacts (they leave the group). The next session makes the
/// group again, once, with the mirrors in it; nothing is deleted in Salesforce.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b1_b12_a_deleted_sync_group_comes_back_with_its_mirrors_gmail() {
    let stack = Stack::start().await.expect("stack");
    let user = stack
        .add_user_on(Provider::Gmail, "grace", json!({}))
        .await
        .expect("user");
    two_mirrored(&stack, &user).await;
    let old = stack
        .folder_id(&user, "Salesforce Contacts")
        .await
        .expect("the sync group");
    stack
        .delete_folder(&user, &old)
        .await
        .expect("delete the group");
    assert!(mirror_surnames(&stack, &user).await.is_empty());

    let summary = stack.sync(&user).await.expect("session");
    assert_eq!(summary["state"], "succeeded", "{summary}");
    assert_eq!(summary["writes"]["salesforce"]["deleted"], 0, "{summary}");
    let folders = stack.folder_names(&user).await.expect("groups");
    let named = folders
        .iter()
        .filter(|f| *f == "Salesforce Contacts")
        .count();
    assert_eq!(named, 1, "one group again: {folders:?}");
    let new = stack
        .folder_id(&user, "Salesforce Contacts")
        .await
        .expect("the group is back");
    assert_ne!(new, old, "a new group");
    assert_eq!(mirror_surnames(&stack, &user).await, ["Keep", "Safe"]);
    assert_eq!(stack.live_salesforce_contacts().await.expect("sf").len(), 2);
    stack.assert_quiet_session(&user).await.expect("quiet");
    stack.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b1_c5_a_deleted_folder_with_auto_removal_on_deletes_nothing_in_salesforce() {
    let stack = Stack::start().await.expect("stack");
    let user = stack
        .add_user("remy", json!({"auto_removal": true}))
        .await
        .expect("user");
    two_mirrored(&stack, &user).await;
    delete_sync_folder(&stack, &user, false).await;

    // Two deletions are below the guard's count, but a lost folder holds them for an operator.
    for _ in 0..2 {
        let summary = stack.sync(&user).await.expect("session");
        assert!(held_by_the_guard(&summary), "{summary}");
        assert_eq!(summary["writes"]["salesforce"]["deleted"], 0, "{summary}");
        assert_eq!(stack.live_salesforce_contacts().await.expect("sf").len(), 2);
        stack
            .folder_id(&user, "Salesforce Contacts")
            .await
            .expect("the folder is back");
    }
    let (_, status) = stack
        .admin(
            Method::GET,
            &format!("/api/v1/users/{}/status", user.id),
            None,
        )
        .await
        .expect("status");
    assert!(
        status.to_string().contains("mass_delete_guard"),
        "the operator sees it: {status}"
    );

    // The operator turns Auto-removal off instead of confirming: B12 brings the mirrors back.
    let (code, body) = stack
        .admin(
            Method::PUT,
            &format!("/api/v1/users/{}/settings/contacts", user.id),
            Some(
                json!({"enabled": true, "scope": "mine", "auto_removal": false,
                        "conflict_winner": "salesforce"}),
            ),
        )
        .await
        .expect("settings");
    assert!(code < 300, "{code} {body}");
    let summary = stack.sync(&user).await.expect("session");
    assert_eq!(summary["state"], "succeeded", "{summary}");
    assert_eq!(summary["writes"]["exchange"]["created"], 2, "{summary}");
    assert_eq!(in_sync_folder(&stack, &user).await, ["Keep", "Safe"]);
    assert_eq!(stack.live_salesforce_contacts().await.expect("sf").len(), 2);
    stack.assert_quiet_session(&user).await.expect("quiet");
    stack.stop().await.expect("stop");
}

/// A stack whose users subscribe to Graph change notifications (B3).
async fn notifying_stack() -> Stack {
    Stack::start_with(Options {
        notifications: true,
        ..Options::default()
    })
    .await
    .expect("stack")
}

/// The ids of the user's stored subscriptions.
async fn stored_subscriptions(stack: &Stack, user: &TestUser) -> Vec<String> {
    let client = stack.pool.get().await.expect("db");
    client
        .query(
            "SELECT id FROM graph_subscriptions WHERE user_id = $1 ORDER BY id",
            &[&user.id],
        )
        .await
        .expect("subscriptions")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The ids of the subscriptions Graph holds.
async fn graph_subscriptions(stack: &Stack) -> Vec<String> {
    let (_, body) = stack
        .call(
            Method::GET,
            &format!("{}/_emulator/subscriptions", stack.graph_url),
            None,
            None,
        )
        .await
        .expect("subscriptions");
    let mut ids: Vec<String> = body["value"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|s| s["id"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

/// The user's one subscription, once it exists both in the store and at Graph.
async fn one_live_subscription(stack: &Stack, user: &TestUser, not: Option<&str>) -> String {
    eventually(30, "one live subscription", || async {
        let stored = stored_subscriptions(stack, user).await;
        let at_graph = graph_subscriptions(stack).await;
        match stored.as_slice() {
            [id] if Some(id.as_str()) != not && at_graph == stored => Some(id.clone()),
            _ => None,
        }
    })
    .await
}

/// A contact created in the folder in Outlook reaches Salesforce on its notification alone.
async fn notifications_flow(stack: &Stack, user: &TestUser, surname: &str) {
    stack.settle(user).await.expect("settled");
    let folder = stack
        .folder_id(user, "Salesforce Contacts")
        .await
        .expect("folder");
    stack
        .create_in_mailbox(
            user,
            Some(&folder),
            json!({"givenName": "Heard", "surname": surname}),
        )
        .await
        .expect("contact");
    eventually(30, "the notified contact to reach Salesforce", || async {
        let live = stack.live_salesforce_contacts().await.ok()?;
        live.iter().any(|c| c["LastName"] == surname).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b3_a_subscription_whose_renewal_answers_404_is_created_again_and_notifications_flow() {
    let stack = notifying_stack().await;
    let user = stack.add_user("renee", json!({})).await.expect("user");
    let first = one_live_subscription(&stack, &user, None).await;

    // Graph drops the subscription without a word; days later its renewal comes due.
    let (status, body) = stack
        .call(
            Method::DELETE,
            &format!("{}/_emulator/subscriptions/{first}", stack.graph_url),
            None,
            None,
        )
        .await
        .expect("drop");
    assert_eq!(status, 204, "{body}");
    {
        let client = stack.pool.get().await.expect("db");
        client
            .execute(
                "UPDATE graph_subscriptions SET expires_at = now() + interval '1 hour'
                 WHERE id = $1",
                &[&first],
            )
            .await
            .expect("due for renewal");
    }

    // The renewal answers 404: the user's session subscribes again, without being asked.
    let second = one_live_subscription(&stack, &user, Some(&first)).await;
    assert_ne!(second, first);
    notifications_flow(&stack, &user, "Renewed").await;
    stack.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b3_a_subscription_removed_event_is_answered_by_sessions_that_subscribe_again() {
    let stack = notifying_stack().await;
    let user = stack.add_user("remo", json!({})).await.expect("user");
    let first = one_live_subscription(&stack, &user, None).await;

    // Graph removes the subscription, and the first attempt to subscribe again fails.
    let (status, body) = stack
        .call(
            Method::POST,
            &format!("{}/_emulator/faults", stack.graph_url),
            None,
            Some(json!({"status": 500, "count": 1, "route": "POST /v1.0/subscriptions"})),
        )
        .await
        .expect("fault");
    assert!(status < 300, "{status} {body}");
    let (status, body) = stack
        .call(
            Method::POST,
            &format!(
                "{}/_emulator/subscriptions/{first}/lifecycle",
                stack.graph_url
            ),
            None,
            Some(json!({"event": "subscriptionRemoved"})),
        )
        .await
        .expect("lifecycle event");
    assert!(status < 300, "{status} {body}");
    eventually(30, "the failed attempt to subscribe again", || async {
        let (_, faults) = stack
            .call(
                Method::GET,
                &format!("{}/_emulator/faults", stack.graph_url),
                None,
                None,
            )
            .await
            .ok()?;
        faults["faults"]
            .as_array()
            .is_some_and(Vec::is_empty)
            .then_some(())
    })
    .await;
    stack.settle(&user).await.expect("settled");
    assert!(stored_subscriptions(&stack, &user).await.is_empty());

    // The next session (here an on-demand one) subscribes again.
    let summary = stack.sync(&user).await.expect("session");
    assert_eq!(summary["state"], "succeeded", "{summary}");
    let second = one_live_subscription(&stack, &user, Some(&first)).await;
    assert_ne!(second, first);
    notifications_flow(&stack, &user, "Resubscribed").await;
    stack.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b3_a_missed_event_runs_a_session_that_catches_up() {
    let stack = notifying_stack().await;
    let user = stack.add_user("miss", json!({})).await.expect("user");
    let subscription = one_live_subscription(&stack, &user, None).await;
    let drop_url = format!("{}/_emulator/notifications/drop", stack.graph_url);
    let drop_notifications =
        |count: u64| stack.call(Method::POST, &drop_url, None, Some(json!({"count": count})));
    drop_notifications(1).await.expect("drop");
    let folder = stack
        .folder_id(&user, "Salesforce Contacts")
        .await
        .expect("folder");
    stack
        .create_in_mailbox(
            &user,
            Some(&folder),
            json!({"givenName": "Never", "surname": "Announced"}),
        )
        .await
        .expect("contact");
    eventually(30, "the change notification to be lost", || async {
        let (_, body) = drop_notifications(0).await.ok()?;
        (body["dropping"] == 0).then_some(())
    })
    .await;
    stack.settle(&user).await.expect("settled");
    assert!(contacts_named(&stack, "Announced").await.is_empty());

    let (status, body) = stack
        .call(
            Method::POST,
            &format!(
                "{}/_emulator/subscriptions/{subscription}/lifecycle",
                stack.graph_url
            ),
            None,
            Some(json!({"event": "missed"})),
        )
        .await
        .expect("lifecycle event");
    assert!(status < 300, "{status} {body}");
    eventually(30, "the missed change to reach Salesforce", || async {
        (!contacts_named(&stack, "Announced").await.is_empty()).then_some(())
    })
    .await;
    assert_eq!(stored_subscriptions(&stack, &user).await, [subscription]);
    stack.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b1_b3_a_folder_created_again_is_subscribed_again() {
    let stack = notifying_stack().await;
    let user = stack.add_user("phoenix", json!({})).await.expect("user");
    let first = one_live_subscription(&stack, &user, None).await;
    delete_sync_folder(&stack, &user, true).await;
    stack.settle(&user).await.expect("settled");
    let summary = stack.sync(&user).await.expect("session");
    assert_eq!(summary["state"], "succeeded", "{summary}");
    // The subscription on the deleted folder is dropped; the new folder has its own.
    let second = one_live_subscription(&stack, &user, Some(&first)).await;
    let folder = stack
        .folder_id(&user, "Salesforce Contacts")
        .await
        .expect("folder");
    let (_, at_graph) = stack
        .call(
            Method::GET,
            &format!("{}/_emulator/subscriptions", stack.graph_url),
            None,
            None,
        )
        .await
        .expect("subscriptions");
    assert_eq!(at_graph["value"][0]["id"], second.as_str());
    assert_eq!(at_graph["value"][0]["folder_id"], folder.as_str());
    notifications_flow(&stack, &user, "Reborn").await;
    stack.stop().await.expect("stop");
}

/// Graph fails the next `count` contact creates in a folder with a 500, after carrying them out
/// when `after_effect`.
async fn failing_creates(stack: &Stack, user: &TestUser, after_effect: bool) {
    graph_fault(
        stack,
        user,
        json!({"status": 500, "count": 1, "after_effect": after_effect,
               "route": "POST /v1.0/users/{id}/contactFolders/{id}/contacts"}),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c4_a_create_carried_out_before_its_500_is_found_by_its_stamp_not_made_twice() {
    let stack = Stack::start().await.expect("stack");
    let user = stack
        .add_user("fivehundred", json!({}))
        .await
        .expect("user");
    stack
        .create_in_salesforce(&user, json!({"FirstName": "Made", "LastName": "Already"}))
        .await
        .expect("contact");
    failing_creates(&stack, &user, true).await;
    let summary = stack.sync(&user).await.expect("session");
    assert_eq!(summary["state"], "succeeded", "{summary}");
    assert_eq!(summary["writes"]["exchange"]["created"], 1, "{summary}");
    let mirrors = mirrors(&stack, &user, "Already").await;
    assert_eq!(mirrors.len(), 1, "one mirror, not two: {mirrors:?}");
    assert_eq!(link_count(&stack, &user).await, 1);
    stack.assert_quiet_session(&user).await.expect("quiet");
    stack.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c4_a_create_that_failed_with_500_is_made_once_the_stamp_shows_it_was_not() {
    let stack = Stack::start().await.expect("stack");
    let user = stack.add_user("retry", json!({})).await.expect("user");
    stack
        .create_in_salesforce(&user, json!({"FirstName": "Second", "LastName": "Try"}))
        .await
        .expect("contact");
    failing_creates(&stack, &user, false).await;
    let summary = stack.sync(&user).await.expect("session");
    assert_eq!(summary["state"], "succeeded", "{summary}");
    assert_eq!(summary["writes"]["exchange"]["created"], 1, "{summary}");
    assert_eq!(mirrors(&stack, &user, "Try").await.len(), 1);
    stack.assert_quiet_session(&user).await.expect("quiet");
    stack.stop().await.expect("stop");
}
