//! The mailbox side at its floor (issue 11 §3): between full checks of the mailbox, a scheduled
//! session makes one Graph delta request per folder it follows and nothing else, still finds
//! categorized contacts in those folders (B9), and a session someone asks for checks the folder
//! tree and the category, so a deleted folder comes back at once (B1).

use chrono::Utc;
use contactsync_e2e::{Stack, TestUser};
use contracts::Trigger;
use reqwest::Method;
use serde_json::{Value, json};

/// Runs a scheduled session for the user (as the scheduler starts one) and waits for its end.
async fn scheduled_session(stack: &Stack, user: &TestUser) {
    sync_state::trigger::start(&stack.pool, &user.id, Trigger::Schedule, Utc::now())
        .await
        .expect("a scheduled session starts");
    stack.settle(user).await.expect("the session ends");
}

/// The Graph requests counted since the last reset, by route, leaving out token requests.
fn graph_api_routes(graph: &Value) -> Vec<(String, u64)> {
    graph["by_route"]
        .as_object()
        .expect("by_route")
        .iter()
        .filter(|(route, _)| !route.contains("/oauth2/"))
        .map(|(route, n)| (route.clone(), n.as_u64().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b1_b9_an_idle_scheduled_session_reads_one_delta_per_followed_folder_and_on_demand_brings_a_deleted_folder_back()
 {
    let stack = Stack::start().await.expect("stack");
    let user = stack.add_user("idler", json!({})).await.expect("user");
    let work = stack
        .create_folder(&user, None, "Work")
        .await
        .expect("folder");
    stack
        .create_in_salesforce(&user, json!({"FirstName": "Idle", "LastName": "Mirror"}))
        .await
        .expect("contact");
    // On demand: the full check lists the folders (now with "Work") and the category.
    let summary = stack.sync(&user).await.expect("session");
    assert_eq!(summary["writes"]["exchange"]["created"], 1, "{summary}");

    // Idle and scheduled: the sync folder, the default folder and "Work", one delta each.
    stack.reset_counters().await.expect("reset");
    scheduled_session(&stack, &user).await;
    let (graph, _) = stack.counters().await.expect("counters");
    let routes = graph_api_routes(&graph);
    let deltas: u64 = routes
        .iter()
        .filter(|(route, _)| route.starts_with("GET ") && route.ends_with("/delta"))
        .map(|(_, n)| n)
        .sum();
    let all: u64 = routes.iter().map(|(_, n)| n).sum();
    assert_eq!(deltas, 3, "one delta per followed folder: {graph}");
    assert_eq!(all, 3, "and nothing else: {graph}");

    // B9 between checks: a contact the user categorizes in a followed folder still moves into
    // the sync folder and reaches Salesforce with a scheduled session.
    stack
        .create_in_mailbox(
            &user,
            Some(&work),
            json!({"givenName": "Tagged", "surname": "Between", "categories": ["Salesforce"]}),
        )
        .await
        .expect("categorized");
    scheduled_session(&stack, &user).await;
    let moved: Vec<Value> = stack
        .mailbox_contacts(&user)
        .await
        .expect("mailbox")
        .into_iter()
        .filter(|c| c["surname"] == "Between")
        .collect();
    assert_eq!(moved.len(), 1, "moved, not copied: {moved:?}");
    assert_eq!(moved[0]["folderDisplayName"], "Salesforce Contacts");
    let in_salesforce = stack
        .live_salesforce_contacts()
        .await
        .expect("contacts")
        .into_iter()
        .filter(|c| c["LastName"] == "Between")
        .count();
    assert_eq!(in_salesforce, 1);

    // B1: the user deletes the folder; a session someone asks for checks and brings it back.
    let old = stack
        .folder_id(&user, "Salesforce Contacts")
        .await
        .expect("folder");
    stack
        .graph(
            &user,
            Method::DELETE,
            &format!("/contactFolders/{old}"),
            None,
        )
        .await
        .expect("delete the folder");
    let summary = stack.sync(&user).await.expect("session");
    assert_eq!(summary["state"], "succeeded", "{summary}");
    assert_eq!(summary["writes"]["exchange"]["created"], 2, "{summary}");
    assert_eq!(summary["writes"]["salesforce"]["deleted"], 0, "{summary}");
    let new = stack
        .folder_id(&user, "Salesforce Contacts")
        .await
        .expect("the folder is back");
    assert_ne!(new, old, "a new top-level folder");
    stack.assert_quiet_session(&user).await.expect("quiet");

    // Idle again after that check: still one delta per followed folder.
    stack.reset_counters().await.expect("reset");
    scheduled_session(&stack, &user).await;
    let (graph, _) = stack.counters().await.expect("counters");
    let all: u64 = graph_api_routes(&graph).iter().map(|(_, n)| n).sum();
    assert_eq!(all, 3, "one delta per followed folder: {graph}");
    stack.stop().await.expect("stop");
}
