//! C5 over bursts, with change notifications on (near-real-time sync): a mass delete made one
//! contact at a time, each deletion starting its own small session, is judged as a whole.
//! Deletions wait for their burst to settle (`DELETION_SETTLE_SECS`, a few seconds here), are then
//! carried out when few, or held for an operator when they are a mass delete; the same for a bulk
//! delete in Salesforce. Gmail has no change notifications for contacts (G1): there the
//! near-real-time sessions are the scheduler's, every 2 s in these tests.

use std::collections::BTreeSet;

use contactsync_e2e::{Options, Provider, Stack, TestUser, both_providers, eventually};
use reqwest::Method;
use serde_json::{Value, json};

fn in_folder(contacts: &[Value]) -> Vec<&Value> {
    contacts
        .iter()
        .filter(|c| c["folderDisplayName"] == "Salesforce Contacts")
        .collect()
}

async fn start(provider: Provider, settle_secs: u64) -> Stack {
    let env = match provider {
        Provider::Exchange => Vec::new(),
        Provider::Gmail => vec![("GMAIL_SYNC_INTERVAL_SECS".to_owned(), "2".to_owned())],
    };
    Stack::start_with(Options {
        notifications: true,
        deletion_settle_secs: Some(settle_secs),
        env,
        ..Options::default()
    })
    .await
    .expect("stack")
}

/// A user with `n` Contacts synced down (`Burst00`…), their Salesforce Ids by last name.
async fn user_with_contacts(
    stack: &Stack,
    provider: Provider,
    id: &str,
    n: usize,
) -> (TestUser, Vec<(String, String)>) {
    let user = stack
        .add_user_on(provider, id, json!({"auto_removal": true}))
        .await
        .expect("user");
    let mut contacts = Vec::new();
    for i in 0..n {
        let name = format!("Burst{i:02}");
        let sf = stack
            .create_in_salesforce(&user, json!({"FirstName": "B", "LastName": name}))
            .await
            .expect("contact");
        contacts.push((name, sf));
    }
    let summary = stack.sync(&user).await.expect("session");
    if provider == Provider::Exchange {
        assert_eq!(summary["writes"]["exchange"]["created"], n, "{summary}");
    } else {
        // A scheduled session may have taken some of the creates.
        assert_eq!(summary["state"], "succeeded", "{summary}");
    }
    stack.settle(&user).await.expect("settled");
    assert_eq!(mirror_names(stack, &user).await.len(), n, "all mirrored");
    (user, contacts)
}

async fn status(stack: &Stack, user: &TestUser) -> Value {
    let (code, body) = stack
        .admin(
            Method::GET,
            &format!("/api/v1/users/{}/status", user.id),
            None,
        )
        .await
        .expect("status");
    assert_eq!(code, 200, "{body}");
    body
}

/// The live Salesforce Contacts' last names.
async fn live_names(stack: &Stack) -> BTreeSet<String> {
    stack
        .live_salesforce_contacts()
        .await
        .expect("contacts")
        .iter()
        .filter_map(|c| c["LastName"].as_str().map(str::to_owned))
        .filter(|n| n.starts_with("Burst"))
        .collect()
}

/// The mirrors' surnames in the user's folder.
async fn mirror_names(stack: &Stack, user: &TestUser) -> BTreeSet<String> {
    in_folder(&stack.mailbox_contacts(user).await.expect("mailbox"))
        .iter()
        .filter_map(|c| c["surname"].as_str().map(str::to_owned))
        .collect()
}

/// Deletes the mirrors of `names` from the folder, one request after another, as a phone
/// emptying the folder would.
async fn delete_mirrors(stack: &Stack, user: &TestUser, names: &[String]) {
    let mailbox = stack.mailbox_contacts(user).await.expect("mailbox");
    let ids: Vec<String> = in_folder(&mailbox)
        .iter()
        .filter(|c| {
            c["surname"]
                .as_str()
                .is_some_and(|s| names.iter().any(|n| n == s))
        })
        .filter_map(|c| c["id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(ids.len(), names.len());
    for id in ids {
        stack.delete_in_mailbox(user, &id).await.expect("delete");
    }
}

/// The trigger of the sessions that see a user's mailbox change soon after it: a Graph
/// notification, or for Gmail the scheduler's.
fn mailbox_trigger(provider: Provider) -> &'static str {
    match provider {
        Provider::Exchange => "notification",
        Provider::Gmail => "schedule",
    }
}

/// Why the user's sessions ran, oldest first.
async fn triggers(stack: &Stack, user: &TestUser) -> Vec<String> {
    let client = stack.pool.get().await.expect("db");
    client
        .query(
            "SELECT trigger FROM sync_sessions WHERE user_id = $1 ORDER BY created_at",
            &[&user.id],
        )
        .await
        .expect("sessions")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn names(contacts: &[(String, String)]) -> Vec<String> {
    contacts.iter().map(|(n, _)| n.clone()).collect()
}

both_providers! {
    async fn c5_25_of_30_mirrors_deleted_one_by_one_are_held_until_an_operator_confirms(provider: Provider) {
        let stack = start(provider, 3).await;
        let (user, contacts) = user_with_contacts(&stack, provider, "pia", 30).await;
        let all = names(&contacts);
        let doomed = all[..25].to_vec();
        delete_mirrors(&stack, &user, &doomed).await;

        // Each deletion's notification (Gmail: the next scheduled session) starts a small
        // session; together they are one burst.
        let held = eventually(60, "the burst to be held", || async {
            let s = status(&stack, &user).await;
            (s["deletions"]["held"] == 25).then_some(s)
        })
        .await;
        assert_eq!(held["deletions"]["waiting"], 0, "{held}");
        assert_eq!(
            held["held_deletions"]["code"], "mass_delete_guard",
            "{held}"
        );
        assert_eq!(
            live_names(&stack).await.len(),
            30,
            "nothing deleted in Salesforce"
        );
        // Notified sessions saw the deletions; the session the settled burst started judged them.
        let why = triggers(&stack, &user).await;
        assert!(
            why.iter().any(|t| t == mailbox_trigger(provider)),
            "{why:?}"
        );
        assert!(why.iter().any(|t| t == "deletions_due"), "{why:?}");
        // "Sync now" judges at once, guard included: still held, still nothing deleted.
        let summary = stack.sync(&user).await.expect("session");
        assert_eq!(summary["writes"]["salesforce"]["deleted"], 0, "{summary}");
        assert!(
            summary["errors"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e["code"] == "mass_delete_guard")),
            "{summary}"
        );
        assert_eq!(live_names(&stack).await.len(), 30);

        let (code, body) = stack
            .admin(
                Method::POST,
                &format!("/api/v1/users/{}/confirm-deletions", user.id),
                None,
            )
            .await
            .expect("confirm");
        assert_eq!(code, 202, "{body}");
        let left = eventually(30, "the confirmed deletions", || async {
            let left = live_names(&stack).await;
            (left.len() == 5).then_some(left)
        })
        .await;
        assert_eq!(
            left,
            all[25..].iter().cloned().collect(),
            "exactly those 25"
        );
        stack.settle(&user).await.expect("settled");
        let after = status(&stack, &user).await;
        assert_eq!(
            after["deletions"],
            json!({"waiting": 0, "settle_until": null, "held": 0, "confirmed": 0}),
            "{after}"
        );
        assert!(after["held_deletions"].is_null(), "{after}");
        let (code, body) = stack
            .admin(
                Method::POST,
                &format!("/api/v1/users/{}/confirm-deletions", user.id),
                None,
            )
            .await
            .expect("confirm again");
        assert_eq!(code, 409, "{body}");
        assert_eq!(body["error"]["code"], "nothing_held");
        stack.assert_quiet_session(&user).await.expect("C3");
        stack.stop().await.expect("stop");
    }

    async fn c5_3_of_30_mirrors_deleted_reach_salesforce_once_the_burst_settles(provider: Provider) {
        let stack = start(provider, 5).await;
        let (user, contacts) = user_with_contacts(&stack, provider, "quin", 30).await;
        let all = names(&contacts);
        delete_mirrors(&stack, &user, &all[..3]).await;

        let waiting = eventually(30, "the deletions to wait", || async {
            let s = status(&stack, &user).await;
            (s["deletions"]["waiting"] == 3).then_some(s)
        })
        .await;
        assert!(
            waiting["deletions"]["settle_until"].is_string(),
            "{waiting}"
        );
        assert_eq!(
            live_names(&stack).await.len(),
            30,
            "not before the burst settles"
        );
        let settle_until: chrono::DateTime<chrono::Utc> =
            serde_json::from_value(waiting["deletions"]["settle_until"].clone()).expect("time");

        let left = eventually(60, "the deletions to reach Salesforce", || async {
            let left = live_names(&stack).await;
            (left.len() == 27).then_some(left)
        })
        .await;
        assert!(
            chrono::Utc::now() >= settle_until,
            "carried out after the settle time"
        );
        let why = triggers(&stack, &user).await;
        assert!(why.iter().any(|t| t == "deletions_due"), "{why:?}");
        assert_eq!(left, all[3..].iter().cloned().collect(), "exactly those 3");
        stack.settle(&user).await.expect("settled");
        let after = status(&stack, &user).await;
        assert_eq!(after["deletions"]["waiting"], 0, "{after}");
        assert_eq!(after["deletions"]["held"], 0, "{after}");
        assert!(after["held_deletions"].is_null(), "{after}");
        stack.assert_quiet_session(&user).await.expect("C3");
        stack.stop().await.expect("stop");
    }

    async fn c5_a_bulk_delete_in_salesforce_seen_by_many_notified_sessions_is_held(provider: Provider) {
        let stack = start(provider, 8).await;
        let (user, contacts) = user_with_contacts(&stack, provider, "rex", 30).await;
        let all = names(&contacts);
        // Salesforce notifies the gateway of changes (Outbound Messages); deletions themselves send
        // none, so each slice of the data loader's run comes with an update of a kept Contact.
        let (code, body) = stack
            .call(
                Method::POST,
                &format!("{}/_emulator/outbound", stack.salesforce_url),
                None,
                Some(
                    json!({"endpoint_url": format!("{}/webhooks/salesforce", stack.gateway_url),
                            "fields": ["Id", "OwnerId", "LastName"]}),
                ),
            )
            .await
            .expect("outbound");
        assert!(code < 300, "{code} {body}");
        let kept = &contacts[29].1;
        for (slice, chunk) in contacts[..25].chunks(5).enumerate() {
            for (_, id) in chunk {
                stack
                    .salesforce(
                        &user,
                        Method::DELETE,
                        &format!("/sobjects/Contact/{id}"),
                        None,
                    )
                    .await
                    .expect("delete");
            }
            stack
                .salesforce(
                    &user,
                    Method::PATCH,
                    &format!("/sobjects/Contact/{kept}"),
                    Some(json!({"Title": format!("Run {slice}")})),
                )
                .await
                .expect("update");
            let seen = (slice + 1) * 5;
            eventually(30, "a notified session to see the slice", || async {
                let s = status(&stack, &user).await;
                let pending = s["deletions"]["waiting"].as_u64().unwrap_or(0)
                    + s["deletions"]["held"].as_u64().unwrap_or(0);
                (pending == seen as u64).then_some(())
            })
            .await;
            assert_eq!(
                mirror_names(&stack, &user).await.len(),
                30,
                "no mirror deleted yet"
            );
        }
        let held = eventually(60, "the burst to be held", || async {
            let s = status(&stack, &user).await;
            (s["deletions"]["held"] == 25).then_some(s)
        })
        .await;
        assert_eq!(
            held["held_deletions"]["code"], "mass_delete_guard",
            "{held}"
        );
        assert_eq!(
            mirror_names(&stack, &user).await.len(),
            30,
            "every mirror is still there"
        );
        // The kept Contact's edit was not delayed.
        let mailbox = stack.mailbox_contacts(&user).await.expect("mailbox");
        assert!(
            in_folder(&mailbox)
                .iter()
                .any(|c| c["surname"] == "Burst29" && c["jobTitle"] == "Run 4"),
            "edits go through while deletions are held"
        );

        let (code, body) = stack
            .admin(
                Method::POST,
                &format!("/api/v1/users/{}/confirm-deletions", user.id),
                None,
            )
            .await
            .expect("confirm");
        assert_eq!(code, 202, "{body}");
        let left = eventually(30, "the confirmed mirror deletions", || async {
            let left = mirror_names(&stack, &user).await;
            (left.len() == 5).then_some(left)
        })
        .await;
        assert_eq!(left, all[25..].iter().cloned().collect());
        stack.settle(&user).await.expect("settled");
        stack.assert_quiet_session(&user).await.expect("C3");
        stack.stop().await.expect("stop");
    }
}
