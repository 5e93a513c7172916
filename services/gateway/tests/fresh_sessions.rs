//! The on-demand sync answers with a session that saw the request (SPEC §4 `sync?wait`): a
//! session not yet reading is joined, one already reading is followed by a session whose job id
//! is reserved at once; and every contact that currently fails is on the status and the pages
//! (C7 `item_errors`).

mod common;

use common::{ADMIN_TOKEN, SF_ORG_ID, Stack, eventually, start};
use reqwest::Method;
use serde_json::json;
use sync_core::Scope;
use sync_state::item_errors::{self, ItemFailure, SessionOutcome};
use sync_state::sessions::{Progress, SessionState, StartOutcome};
use uuid::Uuid;

const LOGIN: &str = "http://127.0.0.1:9";
const ALICE_SF: &str = "005xx000001SvbQAAS";

async fn alice(stack: &Stack) {
    stack.create_org("dev", SF_ORG_ID, LOGIN).await;
    stack.create_user("alice", "dev", ALICE_SF).await;
    stack.enable_quietly("alice", Scope::Mine).await;
}

async fn mark_reading(stack: &Stack, job: Uuid) {
    let client = stack.db.pool.get().await.expect("client");
    assert!(
        sync_state::request::mark_reading(&**client, job)
            .await
            .expect("mark"),
        "the session is gathering reads"
    );
}

#[tokio::test]
async fn sync_during_a_read_answers_with_the_reserved_follow_up_job_which_the_next_session_takes() {
    let stack = start().await;
    alice(&stack).await;
    let first = stack
        .admin(Method::POST, "/api/v1/users/alice/sync", None)
        .await;
    assert_eq!(
        (first.status, &first.json["coalesced"]),
        (202, &json!(false))
    );
    let running: Uuid = first.json["job_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("job id");
    mark_reading(&stack, running).await;

    // Already reading: the answer names the follow-up session, not the one in flight.
    let queued = stack
        .admin(Method::POST, "/api/v1/users/alice/sync", None)
        .await;
    assert_eq!(queued.status, 202, "{queued:?}");
    assert_eq!(queued.json["state"], "queued");
    assert_eq!(queued.json["coalesced"], true);
    let reserved = queued.json["job_id"].as_str().expect("job id").to_owned();
    assert_ne!(reserved, running.to_string());
    // Later callers share the reservation.
    let again = stack
        .admin(Method::POST, "/api/v1/users/alice/sync?wait=1", None)
        .await;
    assert_eq!(again.status, 202, "{again:?}");
    assert_eq!(again.json["job_id"].as_str(), Some(reserved.as_str()));
    let status = stack
        .admin(Method::GET, "/api/v1/users/alice/status", None)
        .await;
    assert_eq!(status.json["pending_trigger"], true);

    // The reconciler closes the session and starts the remembered trigger: it runs as the
    // reserved job, which the next answer reports.
    assert!(
        stack
            .finish_session(running, SessionState::Succeeded, &Progress::default())
            .await
    );
    let next = sync_state::trigger::start(
        &stack.db.pool,
        "alice",
        contracts::Trigger::Pending,
        chrono::Utc::now(),
    )
    .await
    .expect("next session");
    assert_eq!(
        next,
        StartOutcome::Started(reserved.parse().expect("uuid")),
        "the follow-up session runs under the reserved id"
    );
    let answer = stack
        .admin(Method::POST, "/api/v1/users/alice/sync", None)
        .await;
    assert_eq!(answer.json["job_id"].as_str(), Some(reserved.as_str()));
    assert_eq!(answer.json["state"], "fetching");
    assert_eq!(answer.json["coalesced"], true, "not reading yet: joined");
    let status = stack
        .admin(Method::GET, "/api/v1/users/alice/status", None)
        .await;
    assert_eq!(status.json["pending_trigger"], false);

    // A later session gets a fresh id: the reservation was used once.
    stack
        .finish_session(
            reserved.parse().expect("uuid"),
            SessionState::Succeeded,
            &Progress::default(),
        )
        .await;
    let later = stack
        .admin(Method::POST, "/api/v1/users/alice/sync", None)
        .await;
    assert_eq!(later.json["coalesced"], false);
    assert_ne!(later.json["job_id"].as_str(), Some(reserved.as_str()));
    stack.finish().await;
}

#[tokio::test]
async fn a_waiting_sync_returns_the_follow_up_session_not_the_one_that_was_reading() {
    let stack = start().await;
    alice(&stack).await;
    let first = stack
        .admin(Method::POST, "/api/v1/users/alice/sync", None)
        .await;
    let running: Uuid = first.json["job_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("job id");
    mark_reading(&stack, running).await;
    let http = stack.http.clone();
    let url = format!("{}/api/v1/users/alice/sync?wait=20", stack.base);
    let waiting = tokio::spawn(async move {
        common::read(
            http.post(url)
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .expect("sent"),
        )
        .await
    });
    eventually("the follow-up is reserved", || async {
        let status = stack
            .admin(Method::GET, "/api/v1/users/alice/status", None)
            .await;
        status.json["pending_trigger"] == true
    })
    .await;
    stack
        .finish_session(running, SessionState::Succeeded, &Progress::default())
        .await;
    let next = match sync_state::trigger::start(
        &stack.db.pool,
        "alice",
        contracts::Trigger::Pending,
        chrono::Utc::now(),
    )
    .await
    .expect("next")
    {
        StartOutcome::Started(id) => id,
        other => panic!("{other:?}"),
    };
    assert!(
        !waiting.is_finished(),
        "the reading session is not the answer"
    );
    stack
        .finish_session(next, SessionState::Succeeded, &Progress::default())
        .await;
    let resp = waiting.await.expect("join");
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(
        resp.json["job_id"].as_str(),
        Some(next.to_string().as_str())
    );
    stack.finish().await;
}

fn failure(key: &str, code: &str, field: Option<&str>, item: &str) -> ItemFailure {
    ItemFailure {
        item_key: key.into(),
        item: item.into(),
        code: code.into(),
        field: field.map(str::to_owned),
        message: format!("{item}: <b>{code}</b>"),
        graph_id: None,
        salesforce_id: None,
    }
}

#[tokio::test]
async fn c7_item_errors_show_on_the_status_the_settings_page_and_the_dashboard() {
    let stack = start().await;
    alice(&stack).await;
    let status = stack
        .admin(Method::GET, "/api/v1/users/alice/status", None)
        .await;
    assert_eq!(status.json["item_errors"], json!([]));
    {
        let mut client = stack.db.pool.get().await.expect("client");
        let tx = client.transaction().await.expect("tx");
        let outcome = SessionOutcome {
            failures: vec![
                failure("k1", "INVALID_EMAIL_ADDRESS", Some("Email"), "Bad <Email>"),
                failure("k2", "STRING_TOO_LONG", Some("LastName"), "Long"),
            ],
            ..SessionOutcome::default()
        };
        item_errors::record_session(&tx, "alice", Uuid::now_v7(), chrono::Utc::now(), &outcome)
            .await
            .expect("record");
        tx.commit().await.expect("commit");
    }
    let status = stack
        .admin(Method::GET, "/api/v1/users/alice/status", None)
        .await;
    let errors = status.json["item_errors"].as_array().expect("item_errors");
    assert_eq!(errors.len(), 2, "{status:?}");
    let email = errors
        .iter()
        .find(|e| e["code"] == "INVALID_EMAIL_ADDRESS")
        .expect("email error");
    assert_eq!(email["item"], "Bad <Email>");
    assert_eq!(email["field"], "Email");
    assert!(email["message"].is_string());
    assert!(email["since"].is_string());

    let page = stack.admin(Method::GET, "/settings/alice", None).await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("Contacts not syncing"), "{}", page.text);
    assert!(
        page.text.contains("Bad &lt;Email&gt;"),
        "escaped: {}",
        page.text
    );
    assert!(page.text.contains("STRING_TOO_LONG"));
    assert!(!page.text.contains("<b>"), "escaped: {}", page.text);

    let dashboard = stack.admin(Method::GET, "/dashboard", None).await;
    assert_eq!(dashboard.status, 200);
    assert!(
        dashboard.text.contains("2 contacts failing"),
        "{}",
        dashboard.text
    );
    stack.finish().await;
}
