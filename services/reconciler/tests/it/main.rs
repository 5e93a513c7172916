//! The reconciler on the real broker and database (its own tests; the end-to-end suite covers
//! it with every other service): both sides' reads of a session arrive as change batches, the
//! session is decided and completed through `sync-state`, its cursors stored only when it
//! completes (C5: a failed read decides nothing and moves no cursor).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::Utc;
use contracts::{ChangeBatch, Failure, FailureCode, Header, Message, SideRead, Trigger};
use reconciler::Reconciler;
use serde_json::{Value, json};
use sync_core::{ExchangeChanges, ReadKind, SalesforceChanges};
use sync_state::links::{self, CursorSide};
use sync_state::orgs::{self, Org};
use sync_state::secrets::Cipher;
use sync_state::sessions::{self, SessionState, SessionView, StartOutcome};
use sync_state::users::{self, ContactSettings};
use test_support::{TEST_KEY, TestApp, eventually, spawn_app};
use uuid::Uuid;

const USER: &str = "alice";

/// A user of an org, with contact sync enabled, and a session started for them.
async fn user_with_a_session(app: &TestApp<Reconciler>) -> Uuid {
    let mut client = app.pool.get().await.unwrap();
    let cipher = Cipher::from_base64(TEST_KEY).unwrap();
    orgs::put_org(
        &**client,
        &cipher,
        &Org {
            id: "org-1".into(),
            name: "Contoso".into(),
            graph_tenant_id: "tenant".into(),
            graph_client_id: "client".into(),
            graph_client_secret: "secret".into(),
            salesforce_login_url: "http://127.0.0.1:9".into(),
            salesforce_consumer_key: "unused".into(),
            salesforce_private_key_pem: "unused".into(),
            salesforce_username: "unused@contoso.example".into(),
            salesforce_org_id: "00D000000000001AAA".into(),
            salesforce_jwt_audience: orgs::DEFAULT_JWT_AUDIENCE.into(),
        },
    )
    .await
    .unwrap();
    let tx = client.transaction().await.unwrap();
    users::create_user(
        &tx,
        USER,
        "org-1",
        "alice@contoso.example",
        &"005000000000001".parse().unwrap(),
    )
    .await
    .unwrap();
    let settings = ContactSettings {
        enabled: true,
        ..ContactSettings::default()
    };
    users::put_settings(&tx, USER, &settings).await.unwrap();
    tx.commit().await.unwrap();
    match sync_state::trigger::start(&app.pool, USER, Trigger::Manual, Utc::now())
        .await
        .unwrap()
    {
        StartOutcome::Started(job_id) => job_id,
        other => panic!("expected a new session, got {other:?}"),
    }
}

/// Publishes one side's read of the session, as its fetcher does.
async fn publish_read(
    app: &TestApp<Reconciler>,
    job_id: Uuid,
    read: SideRead,
    cursor: Option<Value>,
    failure: Option<Failure>,
) {
    let side = if read.is_exchange() {
        "exchange"
    } else {
        "salesforce"
    };
    let batch = Message::ChangeBatch(ChangeBatch {
        header: Header::derived(job_id, USER, &format!("read.{side}"), Utc::now()),
        read,
        cursor,
        failure,
    });
    pipeline::publish_message(&app.ctx.publisher, &batch)
        .await
        .unwrap();
}

fn exchange(kind: ReadKind) -> SideRead {
    SideRead::Exchange(ExchangeChanges {
        kind,
        ..ExchangeChanges::failed()
    })
}

fn salesforce(kind: ReadKind) -> SideRead {
    SideRead::Salesforce(SalesforceChanges {
        kind,
        ..SalesforceChanges::failed()
    })
}

/// The session once it has finished.
async fn finished(app: &TestApp<Reconciler>, job_id: Uuid) -> SessionView {
    eventually(20, "the session to finish", || async {
        let client = app.pool.get().await.ok()?;
        sessions::view(&**client, job_id)
            .await
            .unwrap()
            .filter(SessionView::is_finished)
    })
    .await
}

async fn cursor(app: &TestApp<Reconciler>, side: CursorSide) -> Option<Value> {
    let client = app.pool.get().await.unwrap();
    links::load_cursor(&**client, USER, side).await.unwrap()
}

#[tokio::test]
async fn both_reads_decide_the_session_and_its_cursors_are_stored_when_it_completes() {
    let app = spawn_app::<Reconciler>(&[]).await;
    let job_id = user_with_a_session(&app).await;
    let (mailbox, org) = (
        json!({"delta": "m-1"}),
        json!({"since": "2026-12-03T10:00:00Z"}),
    );

    publish_read(
        &app,
        job_id,
        exchange(ReadKind::Incremental),
        Some(mailbox.clone()),
        None,
    )
    .await;
    // One side in: the session keeps gathering and no cursor moves.
    assert_eq!(cursor(&app, CursorSide::Exchange).await, None);
    publish_read(
        &app,
        job_id,
        salesforce(ReadKind::Incremental),
        Some(org.clone()),
        None,
    )
    .await;

    let session = finished(&app, job_id).await;
    assert_eq!(session.state, SessionState::Succeeded, "{session:?}");
    assert_eq!(session.trigger, Trigger::Manual);
    assert!(session.errors.is_empty() && session.failure.is_none());
    assert_eq!(cursor(&app, CursorSide::Exchange).await, Some(mailbox));
    assert_eq!(cursor(&app, CursorSide::Salesforce).await, Some(org));
    app.stop().await;
}

#[tokio::test]
async fn c5_a_failed_read_fails_the_session_and_moves_no_cursor() {
    let app = spawn_app::<Reconciler>(&[]).await;
    let job_id = user_with_a_session(&app).await;

    publish_read(
        &app,
        job_id,
        exchange(ReadKind::Incremental),
        Some(json!({"delta": "m-1"})),
        None,
    )
    .await;
    publish_read(
        &app,
        job_id,
        salesforce(ReadKind::Failed),
        None,
        Some(Failure::new(
            FailureCode::Unavailable,
            "Salesforce read failed: unavailable",
        )),
    )
    .await;

    let session = finished(&app, job_id).await;
    assert_eq!(session.state, SessionState::Failed, "{session:?}");
    assert_eq!(
        session.failure.as_deref(),
        Some("Salesforce read failed: unavailable")
    );
    assert_eq!(cursor(&app, CursorSide::Exchange).await, None);
    assert_eq!(cursor(&app, CursorSide::Salesforce).await, None);
    app.stop().await;
}
