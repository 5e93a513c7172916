//! The Salesforce API budget end to end (issue 11 §4): the usage Salesforce reports on the
//! services' calls is recorded for the org, and the user's status says when the org is past its
//! budget share and its periodic sessions are stretched; a session someone asks for still runs.

use contactsync_e2e::{Stack, eventually};
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_usage_salesforce_reports_is_recorded_and_past_the_budget_the_status_says_so() {
    let stack = Stack::start().await.expect("stack");
    let user = stack.add_user("spender", json!({})).await.expect("user");
    // Other integrations of the org have spent 95 % of its daily requests.
    let (status, body) = stack
        .call(
            Method::POST,
            &format!("{}/_emulator/usage", stack.salesforce_url),
            None,
            Some(json!({"used": 950_000})),
        )
        .await
        .expect("usage");
    assert!(status < 300, "{status} {body}");

    // On demand still runs, and its Salesforce calls report the usage, which is recorded.
    let summary = stack.sync(&user).await.expect("session");
    assert_eq!(summary["state"], "succeeded", "{summary}");
    let api = eventually(10, "the usage is recorded", || async {
        let status = stack.status(&user).await.ok()?;
        let api = status["salesforce_api"].clone();
        (api["used"].as_i64()? >= 950_000).then_some(api)
    })
    .await;
    assert_eq!(api["limit"], 1_000_000, "{api}");
    assert_eq!(api["periodic_stretched"], true, "{api}");
    stack.stop().await.expect("stop");
}
