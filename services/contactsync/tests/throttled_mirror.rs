//! A first mirror larger than the mailbox's Graph request budget, with Outlook's throttling on
//! (issue 12): four requests in flight per mailbox, and a budget far smaller than the mirror, so
//! the exchange writer's concurrent batches meet both 429s. The session must still finish with
//! every Contact mirrored exactly once (C4) and leave nothing for the next session (C3).

use contactsync::harness::{Options, Stack};
use reqwest::Method;
use serde_json::{Value, json};

/// Contacts mirrored: four write batches of the reconciler's 100, written concurrently.
const CONTACTS: usize = 400;
/// Graph admits this many requests per mailbox per window: under a third of the mirror's creates.
const BUDGET: u32 = 120;
const WINDOW_SECS: f64 = 2.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c4_a_first_mirror_over_the_mailboxs_request_budget_waits_out_the_throttling_and_completes()
{
    const { assert!((BUDGET as usize) < CONTACTS) };
    let stack = Stack::start_with(Options {
        graph: Some(Box::new(|config| {
            config.knobs.throttle_enabled = true;
            config.knobs.mailbox_concurrency = 4;
            config.knobs.mailbox_request_budget = BUDGET;
            config.knobs.throttle_window_secs = WINDOW_SECS;
        })),
        ..Options::default()
    })
    .await
    .expect("stack");
    let user = stack.add_user("throttled", json!({})).await.expect("user");
    let records: Vec<Value> = (0..CONTACTS)
        .map(|i| {
            json!({"FirstName": "Throttled", "LastName": format!("Mirror{i:04}"),
                   "OwnerId": user.salesforce_user_id})
        })
        .collect();
    for chunk in records.chunks(200) {
        stack
            .emulator_control(
                &stack.salesforce_url,
                Method::POST,
                "/sobjects/Contact",
                Some(json!({"as_user": user.salesforce_user_id, "records": chunk})),
            )
            .await
            .expect("seeding Contacts");
    }

    let summary = stack.sync(&user).await.expect("the first session");
    assert_eq!(summary["state"], "succeeded", "{summary}");
    assert_eq!(
        summary["writes"]["exchange"]["created"].as_u64(),
        Some(CONTACTS as u64),
        "{summary}"
    );
    let mut names: Vec<String> = stack
        .mailbox_contacts(&user)
        .await
        .expect("mailbox")
        .iter()
        .filter(|c| c["folderDisplayName"] == "Salesforce Contacts")
        .filter_map(|c| c["surname"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(names.len(), CONTACTS, "one mirror per Contact");
    names.sort();
    names.dedup();
    assert_eq!(names.len(), CONTACTS, "no duplicate mirror");
    stack
        .assert_quiet_session(&user)
        .await
        .expect("C3: nothing left after the throttled mirror");
    stack.stop().await.expect("stop");
}
