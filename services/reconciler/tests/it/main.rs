//! The reconciler on the real broker and database (its own tests; the end-to-end suite covers
//! it with every other service): both sides' reads of a session arrive as change batches, the
//! session is decided and completed through `sync-state`, its cursors stored only when it
//! completes (C5: a failed read decides nothing and moves no cursor); a session of many write
//! batches finishes from its batch rows once every batch's results are in, a repeated result
//! counted once, and a session that began writing before per-batch storage still finishes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::Utc;
use contracts::{
    ChangeBatch, Commands, Failure, FailureCode, Header, Message, SideRead, Trigger, WriteResults,
};
use messaging::Queue;
use reconciler::Reconciler;
use serde_json::{Value, json};
use sync_core::{
    Decisions, ExchangeChanges, ExchangeCommand, GraphItemId, LinkUpdate, ReadKind,
    SalesforceChanges, SalesforceContact, SyncKey, WriteResult, fields::SalesforceContactFields,
};
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
            google: None,
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
        sync_state::users::Provider::Exchange,
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

/// Publishes a writer's results for one batch, under `purpose` (the writer's is
/// `result.<side>.<batch>`; another purpose makes a copy the idempotency records do not know).
async fn publish_results(
    app: &TestApp<Reconciler>,
    job_id: Uuid,
    batch: u32,
    purpose: &str,
    results: Vec<WriteResult>,
) {
    let message = Message::WriteResults(WriteResults {
        header: Header::derived(job_id, USER, purpose, Utc::now()),
        batch,
        results,
        failure: None,
    });
    pipeline::publish_message(&app.ctx.publisher, &message)
        .await
        .unwrap();
}

fn graph_id(n: usize) -> GraphItemId {
    GraphItemId::try_from(format!("AAMkAGI2TG93AAA{n}=")).unwrap()
}

#[tokio::test]
async fn a_session_of_many_write_batches_finishes_from_its_batch_rows_counting_a_repeat_once() {
    let app = spawn_app::<Reconciler>(&[]).await;
    let mut commands = app.consume::<Message>(Queue::ExchangeWriterCommands);
    let job_id = user_with_a_session(&app).await;
    let owner: sync_core::SalesforceUserId = "005000000000001".parse().unwrap();
    let contacts: Vec<SalesforceContact> = (0..450)
        .map(|n| SalesforceContact {
            id: format!("003000000{n:06}").parse().unwrap(),
            owner_id: Some(owner.clone()),
            sync_key: None,
            fields: SalesforceContactFields {
                first_name: Some(format!("Ann{n}")),
                last_name: Some("Smith".into()),
                ..SalesforceContactFields::default()
            },
        })
        .collect();
    publish_read(&app, job_id, exchange(ReadKind::Incremental), None, None).await;
    let read = SideRead::Salesforce(SalesforceChanges {
        kind: ReadKind::Incremental,
        contacts,
        ..SalesforceChanges::failed()
    });
    publish_read(&app, job_id, read, None, None).await;

    // The mailbox writer's part: 450 mirrors to create, in batches of 200.
    let mut batches = Vec::new();
    while batches.len() < 3 {
        let message = tokio::time::timeout(std::time::Duration::from_secs(20), commands.recv())
            .await
            .expect("the write batches go out")
            .expect("a message");
        if let Message::WriteBatch(batch) = message {
            batches.push(batch);
        }
    }
    batches.sort_by_key(|b| b.batch);
    let sizes: Vec<usize> = batches.iter().map(|b| b.commands.len()).collect();
    assert_eq!(sizes, [200, 200, 50]);
    let stored: i64 = {
        let client = app.pool.get().await.unwrap();
        client
            .query_one(
                "SELECT count(*) FROM session_batches WHERE job_id = $1",
                &[&job_id],
            )
            .await
            .unwrap()
            .get(0)
    };
    assert_eq!(stored, 3, "one row per write batch");

    let mut n = 0;
    for batch in &batches {
        let Commands::Exchange(creates) = &batch.commands else {
            panic!("a Graph batch: {batch:?}")
        };
        let results: Vec<WriteResult> = creates
            .iter()
            .map(|command| {
                n += 1;
                WriteResult::ExchangeCreated {
                    sync_key: command.sync_key().clone(),
                    id: graph_id(n),
                    change_key: None,
                }
            })
            .collect();
        let purpose = format!("result.exchange.{}", batch.batch);
        publish_results(&app, job_id, batch.batch, &purpose, results.clone()).await;
        if batch.batch == 0 {
            // The same batch's results again, as a copy the idempotency records no longer know:
            // counted twice, it would finish the session with a batch still out.
            publish_results(&app, job_id, 0, "result.exchange.0.copy", results).await;
        }
    }

    let session = finished(&app, job_id).await;
    assert_eq!(session.state, SessionState::Succeeded, "{session:?}");
    assert_eq!(session.writes.exchange.created, 450, "{session:?}");
    let client = app.pool.get().await.unwrap();
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM contact_links WHERE user_id = $1 AND graph_id IS NOT NULL),
                    (SELECT count(*) FROM session_batches WHERE job_id = $2)",
            &[&USER, &job_id],
        )
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, i64>(0),
        450,
        "every mirror linked to its new item"
    );
    assert_eq!(
        row.get::<_, i64>(1),
        0,
        "a finished session keeps no batch rows"
    );
    drop(client);
    app.stop().await;
}

#[tokio::test]
async fn a_session_that_began_writing_before_per_batch_storage_still_finishes() {
    let app = spawn_app::<Reconciler>(&[]).await;
    let job_id = user_with_a_session(&app).await;
    let key = SyncKey::for_graph(&graph_id(1));
    let decisions = Decisions {
        exchange: vec![ExchangeCommand::Delete {
            sync_key: key.clone(),
            id: graph_id(1),
        }],
        links: vec![LinkUpdate::Delete {
            sync_key: key.clone(),
        }],
        ..Decisions::empty()
    };
    // As the reconciler stored a writing session before V12: the whole decisions on its row.
    let client = app.pool.get().await.unwrap();
    client
        .execute(
            "UPDATE sync_sessions SET state = 'writing', pending_batches = 1, decisions = $2,
                    results = '[]'::jsonb, cursors = $3, summary = $4
             WHERE job_id = $1",
            &[
                &job_id,
                &serde_json::to_value(&decisions).unwrap(),
                &json!({"exchange": {"delta": "m-2"}}),
                &serde_json::to_value(sessions::Progress::default()).unwrap(),
            ],
        )
        .await
        .unwrap();
    drop(client);
    publish_results(
        &app,
        job_id,
        0,
        "result.exchange.0",
        vec![WriteResult::ExchangeDeleted { sync_key: key }],
    )
    .await;

    let session = finished(&app, job_id).await;
    assert_eq!(session.state, SessionState::Succeeded, "{session:?}");
    assert_eq!(session.writes.exchange.deleted, 1);
    assert_eq!(
        cursor(&app, CursorSide::Exchange).await,
        Some(json!({"delta": "m-2"}))
    );
    app.stop().await;
}
