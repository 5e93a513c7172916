//! C4 under crashes: a service killed (SIGKILL) in the middle of a session — after some of the
//! session's writes reached the mailbox and before everything was acknowledged — is restarted; the
//! session must finish with nothing duplicated and nothing lost; for Exchange and Gmail users
//! alike (G1).

use std::process::Stdio;

use contactsync::both_providers;
use contactsync::harness::{Options, Provider, Stack};
use reqwest::Method;
use serde_json::{Value, json};
use test_support::eventually;
use tokio::process::{Child, Command};

fn service(stack: &Stack, name: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_contactsync"))
        .arg(name)
        .envs(stack.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("HTTP_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the contactsync binary runs")
}

fn mirrors(contacts: &[Value]) -> Vec<String> {
    contacts
        .iter()
        .filter(|c| c["folderDisplayName"] == "Salesforce Contacts")
        .filter_map(|c| c["surname"].as_str().map(str::to_owned))
        .collect()
}

/// Runs a first sync of `n` Contacts with `killed` as a child process, SIGKILLs it once some
/// mirrors exist, restarts it, and checks every Contact is mirrored exactly once and that the
/// next session has nothing left to do (C3).
async fn killed_mid_session_and_restarted(provider: Provider, killed: &'static str, user_id: &str) {
    // The mailbox is slowed down so the kill lands in the middle of the session. Graph takes
    // 20 creates a `$batch`; Gmail a whole write batch (100) in one `batchCreateContacts`, the
    // writer carrying several at once, so a Gmail session needs many more contacts to be cut
    // between two calls while the test reads the mailbox.
    let (n, latency_ms) = match provider {
        Provider::Exchange => (60, 60),
        Provider::Gmail => (2000, 100),
    };
    let stack = Stack::start_with(Options {
        skip: vec![killed],
        graph: Some(Box::new(move |config| config.knobs.latency_ms = latency_ms)),
        gmail: Some(Box::new(move |config| config.knobs.latency_ms = latency_ms)),
        ..Options::default()
    })
    .await
    .expect("stack");
    let mut first = service(&stack, killed);
    let user = stack
        .add_user_on(provider, user_id, json!({}))
        .await
        .expect("user");
    // Created 200 a call (`/composite/sobjects`), as a data loader would.
    let contacts: Vec<Value> = (0..n)
        .map(|i| {
            json!({"attributes": {"type": "Contact"}, "LastName": format!("Crash{i:04}"),
                   "OwnerId": user.salesforce_user_id})
        })
        .collect();
    for chunk in contacts.chunks(200) {
        let results = stack
            .salesforce(
                &user,
                Method::POST,
                "/composite/sobjects",
                Some(json!({"allOrNone": true, "records": chunk})),
            )
            .await
            .expect("contacts");
        assert!(
            results
                .as_array()
                .is_some_and(|r| r.iter().all(|r| r["success"] == true)),
            "{results}"
        );
    }
    let (status, body) = stack
        .admin(
            Method::POST,
            &format!("/api/v1/users/{}/sync?wait=0", user.id),
            None,
        )
        .await
        .expect("sync");
    assert!(status == 200 || status == 202, "{status} {body}");

    let written = eventually(60, "the first creates", || async {
        let n = mirrors(&stack.mailbox_contacts(&user).await.ok()?).len();
        (n >= 5).then_some(n)
    })
    .await;
    first.start_kill().expect("kill");
    first.wait().await.expect("killed");
    let at_kill = mirrors(&stack.mailbox_contacts(&user).await.expect("mailbox")).len();
    assert!(
        at_kill < n,
        "the kill must land mid-session (had {written}, then {at_kill})"
    );

    let mut second = service(&stack, killed);
    let names = eventually(120, "all mirrors", || async {
        let names = mirrors(&stack.mailbox_contacts(&user).await.ok()?);
        (names.len() >= n).then_some(names)
    })
    .await;
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(names.len(), n, "no duplicate mirror: {names:?}");
    assert_eq!(unique.len(), n, "every Contact mirrored once");
    stack.settle(&user).await.expect("the session finishes");
    stack
        .assert_quiet_session(&user)
        .await
        .expect("C3 after the crash");
    second.start_kill().expect("kill");
    let _ = second.wait().await;
    stack.stop().await.expect("stop");
}

both_providers! {
    async fn c4_the_mailbox_writer_killed_mid_batch_and_restarted_leaves_no_duplicate_and_loses_nothing(provider: Provider) {
        killed_mid_session_and_restarted(provider, "exchange-writer", "crash-writer").await;
    }

    async fn c4_the_reconciler_killed_mid_session_and_restarted_finishes_it_without_duplicates(provider: Provider) {
        killed_mid_session_and_restarted(provider, "reconciler", "crash-reconciler").await;
    }
}
