//! The exchange fetcher on the real broker and database (its own tests; the end-to-end suite
//! covers its reads against the Graph emulator): a sync job whose mailbox cannot be read is
//! answered with a failed change batch, so the session ends and deletes nothing (C5) instead of
//! waiting; a message that is not a sync job is rejected, never retried.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::Utc;
use contracts::{ChangeBatch, Header, Message, SideRead, SyncJob, Trigger};
use exchange_fetcher::{ExchangeFetcher, handler};
use messaging::{Delivery, Handling, Queue, Route};
use sync_core::ReadKind;
use test_support::{next, spawn_app};
use uuid::Uuid;

#[tokio::test]
async fn c5_a_job_for_a_mailbox_that_cannot_be_read_is_answered_with_a_failed_read() {
    let app = spawn_app::<ExchangeFetcher>(&[("GRAPH_NOTIFICATIONS", "false")]).await;
    let mut reads = app.consume::<Message>(Queue::ReconcilerChanges);
    let job_id = Uuid::now_v7();
    let job = Message::SyncJob(SyncJob {
        header: Header::derived(job_id, "nobody", "job", Utc::now()),
        trigger: Trigger::Manual,
    });
    pipeline::publish_message(&app.ctx.publisher, &job)
        .await
        .unwrap();

    let Message::ChangeBatch(ChangeBatch {
        header,
        read: SideRead::Exchange(changes),
        cursor,
        failure,
    }) = next(&mut reads).await
    else {
        panic!("expected the mailbox side's change batch");
    };
    assert_eq!(header.job_id, job_id);
    assert_eq!(header.message_id, format!("{job_id}:read.exchange"));
    assert_eq!(changes.kind, ReadKind::Failed);
    assert_eq!(cursor, None, "a failed read moves no cursor");
    let failure = failure.expect("the failure is said");
    assert!(
        failure.message.starts_with("mailbox read failed: "),
        "{failure}"
    );
    app.stop().await;
}

#[tokio::test]
async fn what_is_not_a_sync_job_is_rejected() {
    let app = spawn_app::<ExchangeFetcher>(&[("GRAPH_NOTIFICATIONS", "false")]).await;
    let poison = handler::handle(
        &app.ctx,
        Delivery::for_tests(Route::SyncJob, "m-1", b"{not json".to_vec()),
    )
    .await;
    assert!(
        matches!(&poison, Err(e) if e.handling() == Handling::Reject),
        "{poison:?}"
    );

    let results = Message::ChangeBatch(ChangeBatch {
        header: Header::derived(Uuid::now_v7(), "alice", "read.salesforce", Utc::now()),
        read: SideRead::Salesforce(sync_core::SalesforceChanges::failed()),
        cursor: None,
        failure: None,
    });
    let misrouted = handler::handle(
        &app.ctx,
        Delivery::for_tests(Route::SyncJob, "m-2", serde_json::to_vec(&results).unwrap()),
    )
    .await;
    match misrouted {
        Err(e) if e.handling() == Handling::Reject => assert!(
            e.reason()
                .contains("does not belong on the exchange fetcher's queue"),
            "{e}"
        ),
        other => panic!("expected a rejection, got {other:?}"),
    }
    app.stop().await;
}
