//! C4 under crashes: a writer killed (SIGKILL) in the middle of its batch, after some of its
//! writes reached the mailbox and before its acknowledgement, is restarted; the redelivered batch
//! must neither duplicate what was written nor lose what was not.

use std::process::Stdio;

use contactsync_e2e::{Options, Stack, eventually};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

fn writer(stack: &Stack) -> Child {
    Command::new(env!("CARGO_BIN_EXE_contactsync"))
        .arg("exchange-writer")
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c4_a_writer_killed_mid_batch_and_restarted_leaves_no_duplicate_and_loses_nothing() {
    let stack = Stack::start_with(Options {
        skip: vec!["exchange-writer"],
        // Slow Graph down so the kill lands in the middle of the batch.
        graph: Some(Box::new(|config| config.knobs.latency_ms = 60)),
        ..Options::default()
    })
    .await
    .expect("stack");
    let user = stack.add_user("crash", json!({})).await.expect("user");
    const N: usize = 60;
    for i in 0..N {
        stack
            .create_in_salesforce(&user, json!({"LastName": format!("Crash{i:02}")}))
            .await
            .expect("contact");
    }
    let mut first = writer(&stack);
    let (status, body) = stack
        .admin(
            Method::POST,
            &format!("/api/v1/users/{}/sync?wait=0", user.id),
            None,
        )
        .await
        .expect("sync");
    assert!(status == 200 || status == 202, "{status} {body}");

    // Kill the writer once some, not all, of its creates reached the mailbox.
    let written = eventually(60, "the first creates", || async {
        let n = mirrors(&stack.mailbox_contacts(&user).await.ok()?).len();
        (n >= 5).then_some(n)
    })
    .await;
    first.start_kill().expect("kill");
    first.wait().await.expect("killed");
    let at_kill = mirrors(&stack.mailbox_contacts(&user).await.expect("mailbox")).len();
    assert!(
        at_kill < N,
        "the kill must land mid-batch (had {written}, then {at_kill})"
    );

    // Restart: the unacknowledged batch comes back and is finished without duplicates.
    let mut second = writer(&stack);
    let names = eventually(120, "all mirrors", || async {
        let names = mirrors(&stack.mailbox_contacts(&user).await.ok()?);
        (names.len() >= N).then_some(names)
    })
    .await;
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(names.len(), N, "no duplicate mirror: {names:?}");
    assert_eq!(unique.len(), N, "every Contact mirrored once");
    // The session completes, and the next one has nothing left to do (C3).
    eventually(60, "the session to finish", || async {
        let (_, status) = stack
            .admin(
                Method::GET,
                &format!("/api/v1/users/{}/status", user.id),
                None,
            )
            .await
            .ok()?;
        (status["running"] == false || status["active_session"].is_null()).then_some(())
    })
    .await;
    stack
        .assert_quiet_session(&user)
        .await
        .expect("C3 after the crash");
    second.start_kill().expect("kill");
    let _ = second.wait().await;
    stack.stop().await.expect("stop");
}
