//! Integration tests against the real RabbitMQ: confirms, acks, dead-lettering, redelivery and
//! trace propagation, each test on its own queue prefix.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::{eventually, isolated_broker, next, same_prefix};
use messaging::{Delivery, ERROR_HEADER, HandlerError, MessagingError, Queue, Route, consume};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Ping {
    n: u32,
}

/// Runs `consume` on `queue` in the background, forwarding every delivery to a channel.
fn forward(
    broker: &messaging::Broker,
    queue: Queue,
    shutdown: &CancellationToken,
) -> (
    mpsc::UnboundedReceiver<Delivery>,
    tokio::task::JoinHandle<Result<(), MessagingError>>,
) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let broker = broker.clone();
    let shutdown = shutdown.clone();
    let task = tokio::spawn(async move {
        consume(
            &broker,
            queue,
            move |delivery| {
                let sender = sender.clone();
                async move {
                    let _ = sender.send(delivery);
                    Ok(())
                }
            },
            shutdown,
        )
        .await
    });
    (receiver, task)
}

#[tokio::test]
async fn a_confirmed_message_is_consumed_and_acked_once() {
    let broker = isolated_broker(5).await;
    let publisher = broker.publisher().await.expect("publisher");
    publisher
        .publish(Route::ChangeBatch, "msg-1", &Ping { n: 7 })
        .await
        .expect("confirmed publish");

    let shutdown = CancellationToken::new();
    let (mut received, task) = forward(&broker, Queue::ReconcilerChanges, &shutdown);
    let delivery = next(&mut received).await;
    assert_eq!(delivery.decode::<Ping>().expect("json"), Ping { n: 7 });
    assert_eq!(delivery.message_id(), Some("msg-1"));
    assert_eq!(delivery.message_type(), Some("change-batch"));
    assert_eq!(delivery.routing_key(), "change-batch");
    assert!(!delivery.redelivered());
    assert_eq!(delivery.delivery_count(), 0);

    // Stop, then look again on a fresh consumer: an acked message never comes back.
    shutdown.cancel();
    task.await.expect("join").expect("consume");
    let again = CancellationToken::new();
    let (mut received_again, task) = forward(&broker, Queue::ReconcilerChanges, &again);
    publisher
        .publish(Route::ChangeBatch, "msg-2", &Ping { n: 8 })
        .await
        .expect("confirmed publish");
    let delivery = next(&mut received_again).await;
    assert_eq!(
        delivery.message_id(),
        Some("msg-2"),
        "msg-1 was delivered twice"
    );
    again.cancel();
    task.await.expect("join").expect("consume");
    broker.delete_topology().await.expect("cleanup");
}

#[tokio::test]
async fn a_sync_job_is_delivered_to_both_fetchers() {
    let broker = isolated_broker(5).await;
    let publisher = broker.publisher().await.expect("publisher");
    publisher
        .publish(Route::SyncJob, "job-1", &Ping { n: 1 })
        .await
        .expect("confirmed publish");
    let shutdown = CancellationToken::new();
    let (mut exchange_jobs, task_a) = forward(&broker, Queue::ExchangeFetcherJobs, &shutdown);
    let (mut salesforce_jobs, task_b) = forward(&broker, Queue::SalesforceFetcherJobs, &shutdown);
    assert_eq!(next(&mut exchange_jobs).await.message_id(), Some("job-1"));
    assert_eq!(next(&mut salesforce_jobs).await.message_id(), Some("job-1"));
    shutdown.cancel();
    task_a.await.expect("join").expect("consume");
    task_b.await.expect("join").expect("consume");
    broker.delete_topology().await.expect("cleanup");
}

#[tokio::test]
async fn a_message_whose_handler_keeps_failing_is_dead_lettered_with_its_reason() {
    let limit = 3;
    let metrics = telemetry::Metrics::new();
    let broker = common::isolated_broker_with_metrics(limit, Some(metrics.clone())).await;
    let publisher = broker.publisher().await.expect("publisher");
    let attempts = Arc::new(AtomicU32::new(0));
    let shutdown = CancellationToken::new();
    let failing = {
        let broker = broker.clone();
        let attempts = Arc::clone(&attempts);
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            consume(
                &broker,
                Queue::ExchangeWriterCommands,
                move |_delivery| {
                    attempts.fetch_add(1, Ordering::SeqCst);
                    async { Err(HandlerError::retry("graph answered 503")) }
                },
                shutdown,
            )
            .await
        })
    };
    publisher
        .publish(Route::ExchangeWrite, "write-1", &Ping { n: 1 })
        .await
        .expect("confirmed publish");

    let (mut dead, dead_task) = forward(&broker, Queue::DeadLetters, &shutdown);
    let dead_letter = next(&mut dead).await;
    assert_eq!(dead_letter.message_id(), Some("write-1"));
    assert_eq!(dead_letter.decode::<Ping>().expect("json"), Ping { n: 1 });
    let reason = dead_letter
        .headers()
        .get(ERROR_HEADER)
        .expect("reason header");
    assert!(reason.contains("graph answered 503"), "{reason}");
    assert_eq!(
        dead_letter
            .headers()
            .get("x-contactsync-queue")
            .map(String::as_str),
        Some(Queue::ExchangeWriterCommands.name(broker.prefix()).as_str())
    );
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        limit,
        "tried exactly delivery_limit times"
    );

    shutdown.cancel();
    failing.await.expect("join").expect("consume");
    dead_task.await.expect("join").expect("consume");
    broker.delete_topology().await.expect("cleanup");
}

#[tokio::test]
async fn a_rejected_message_is_dead_lettered_at_once() {
    let broker = isolated_broker(5).await;
    let publisher = broker.publisher().await.expect("publisher");
    let attempts = Arc::new(AtomicU32::new(0));
    let shutdown = CancellationToken::new();
    let rejecting = {
        let broker = broker.clone();
        let attempts = Arc::clone(&attempts);
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            consume(
                &broker,
                Queue::SalesforceWriterCommands,
                move |_delivery| {
                    attempts.fetch_add(1, Ordering::SeqCst);
                    async {
                        Err(HandlerError::reject(
                            "unknown contract version 99".to_owned(),
                        ))
                    }
                },
                shutdown,
            )
            .await
        })
    };
    publisher
        .publish(Route::SalesforceWrite, "poison-1", &Ping { n: 99 })
        .await
        .expect("confirmed publish");
    let (mut dead, dead_task) = forward(&broker, Queue::DeadLetters, &shutdown);
    let dead_letter = next(&mut dead).await;
    assert_eq!(dead_letter.message_id(), Some("poison-1"));
    assert_eq!(
        dead_letter.headers().get(ERROR_HEADER).map(String::as_str),
        Some("unknown contract version 99")
    );
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    shutdown.cancel();
    rejecting.await.expect("join").expect("consume");
    dead_task.await.expect("join").expect("consume");
    broker.delete_topology().await.expect("cleanup");
}

#[tokio::test]
async fn a_consumer_killed_before_acking_leaves_the_message_redelivered() {
    let broker = isolated_broker(5).await;
    let publisher = broker.publisher().await.expect("publisher");
    publisher
        .publish(Route::WriteResult, "result-1", &Ping { n: 3 })
        .await
        .expect("confirmed publish");

    // The doomed consumer has its own connection, as a separate process would.
    let doomed = same_prefix(&broker).await;
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let never = CancellationToken::new();
    let doomed_task = {
        let doomed = doomed.clone();
        let never = never.clone();
        tokio::spawn(async move {
            consume(
                &doomed,
                Queue::ReconcilerResults,
                move |delivery| {
                    let started_tx = started_tx.clone();
                    async move {
                        let _ = started_tx.send(delivery.message_id().map(str::to_owned));
                        // Hangs mid-work: the message is never acked.
                        std::future::pending::<()>().await;
                        Ok(())
                    }
                },
                never,
            )
            .await
        })
    };
    assert_eq!(next(&mut started).await.as_deref(), Some("result-1"));
    // "Kill" it: the connection goes away with the delivery unacked.
    doomed_task.abort();
    doomed.close().await;

    let shutdown = CancellationToken::new();
    let (mut received, task) = forward(&broker, Queue::ReconcilerResults, &shutdown);
    let delivery = next(&mut received).await;
    assert_eq!(delivery.message_id(), Some("result-1"));
    assert!(delivery.redelivered(), "the broker marks it redelivered");
    assert_eq!(delivery.decode::<Ping>().expect("json"), Ping { n: 3 });
    shutdown.cancel();
    task.await.expect("join").expect("consume");
    broker.delete_topology().await.expect("cleanup");
}

#[tokio::test]
async fn an_unroutable_publish_is_an_error() {
    let broker = isolated_broker(5).await;
    let publisher = broker.publisher().await.expect("publisher");
    // Remove the only queue bound to change batches: the route now reaches nothing.
    let raw = lapin::Connection::connect(&common::url(), lapin::ConnectionProperties::default())
        .await
        .expect("raw connection");
    let channel = raw.create_channel().await.expect("channel");
    channel
        .queue_delete(
            Queue::ReconcilerChanges
                .name(broker.prefix())
                .as_str()
                .into(),
            lapin::options::QueueDeleteOptions::default(),
        )
        .await
        .expect("queue delete");
    let error = publisher
        .publish(Route::ChangeBatch, "batch-1", &Ping { n: 1 })
        .await
        .expect_err("nothing is bound");
    assert!(
        matches!(error, MessagingError::Unroutable { .. }),
        "{error:?}"
    );
    // The publisher stays usable after a returned message.
    publisher
        .publish(Route::WriteResult, "after", &Ping { n: 2 })
        .await
        .expect("next publish works");
    let _ = raw.close(200, "OK".into()).await;
    broker.delete_topology().await.expect("cleanup");
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_handler_finish_and_ack() {
    let broker = isolated_broker(5).await;
    let publisher = broker.publisher().await.expect("publisher");
    publisher
        .publish(Route::ChangeBatch, "slow-1", &Ping { n: 1 })
        .await
        .expect("confirmed publish");
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let (release_tx, release) = tokio::sync::watch::channel(false);
    let finished = Arc::new(AtomicU32::new(0));
    let shutdown = CancellationToken::new();
    let mut task = {
        let broker = broker.clone();
        let shutdown = shutdown.clone();
        let finished = Arc::clone(&finished);
        tokio::spawn(async move {
            consume(
                &broker,
                Queue::ReconcilerChanges,
                move |_delivery| {
                    let started_tx = started_tx.clone();
                    let mut release = release.clone();
                    let finished = Arc::clone(&finished);
                    async move {
                        let _ = started_tx.send(());
                        let _ = release.wait_for(|go| *go).await;
                        finished.fetch_add(1, Ordering::SeqCst);
                        Ok(())
                    }
                },
                shutdown,
            )
            .await
        })
    };
    next(&mut started).await;
    shutdown.cancel();
    // The loop must wait for the handler rather than return at once: give it the chance to
    // return and check it did not.
    let returned = tokio::time::timeout(Duration::from_millis(200), &mut task).await;
    assert!(
        returned.is_err(),
        "consume returned while a handler was running"
    );
    release_tx.send(true).expect("release");
    tokio::time::timeout(common::DEADLINE, task)
        .await
        .expect("consume returns after the handler")
        .expect("join")
        .expect("consume");
    assert_eq!(finished.load(Ordering::SeqCst), 1);

    // It was acked: a new consumer finds the queue empty (a marker published now comes first).
    publisher
        .publish(Route::ChangeBatch, "marker", &Ping { n: 2 })
        .await
        .expect("confirmed publish");
    let again = CancellationToken::new();
    let (mut received, task) = forward(&broker, Queue::ReconcilerChanges, &again);
    assert_eq!(next(&mut received).await.message_id(), Some("marker"));
    again.cancel();
    task.await.expect("join").expect("consume");
    broker.delete_topology().await.expect("cleanup");
}

#[tokio::test]
async fn readiness_follows_the_connection() {
    let broker = isolated_broker(5).await;
    assert!(broker.is_ready().await);
    broker.delete_topology().await.expect("cleanup");
    broker.close().await;
    eventually("not ready after close", || async {
        !broker.is_ready().await
    })
    .await;
}

#[tokio::test]
async fn a_message_that_keeps_crashing_its_consumer_is_dead_lettered_by_the_broker() {
    // Our loop never gets to count these attempts (the process "dies" each time); the queue's
    // x-delivery-limit is what stops the crash loop.
    let limit = 2;
    let broker = isolated_broker(limit).await;
    let publisher = broker.publisher().await.expect("publisher");
    publisher
        .publish(Route::WriteResult, "crasher", &Ping { n: 13 })
        .await
        .expect("confirmed publish");

    let shutdown = CancellationToken::new();
    let (mut dead, dead_task) = forward(&broker, Queue::DeadLetters, &shutdown);
    let mut crashes = 0;
    let dead_letter = loop {
        let doomed = same_prefix(&broker).await;
        let (started_tx, mut started) = mpsc::unbounded_channel();
        let task = {
            let doomed = doomed.clone();
            tokio::spawn(async move {
                consume(
                    &doomed,
                    Queue::ReconcilerResults,
                    move |_delivery| {
                        let started_tx = started_tx.clone();
                        async move {
                            let _ = started_tx.send(());
                            std::future::pending::<()>().await;
                            Ok(())
                        }
                    },
                    CancellationToken::new(),
                )
                .await
            })
        };
        // Either this consumer gets the message (and crashes), or the broker has already
        // dead-lettered it.
        let outcome = tokio::select! {
            Some(()) = started.recv() => None,
            delivery = next(&mut dead) => Some(delivery),
        };
        task.abort();
        doomed.close().await;
        if let Some(delivery) = outcome {
            break delivery;
        }
        crashes += 1;
        assert!(
            crashes <= limit + 2,
            "still redelivered after {crashes} crashes"
        );
    };
    assert_eq!(dead_letter.message_id(), Some("crasher"));
    assert_eq!(
        dead_letter
            .headers()
            .get("x-first-death-reason")
            .map(String::as_str),
        Some("delivery_limit")
    );
    assert!(crashes >= 1);
    shutdown.cancel();
    dead_task.await.expect("join").expect("consume");
    broker.delete_topology().await.expect("cleanup");
}

#[tokio::test]
async fn testing_helpers_count_and_take_messages_without_a_consumer() {
    let broker = messaging::testing::isolated_broker(messaging::BrokerSettings::default())
        .await
        .expect("broker");
    let publisher = broker.publisher().await.expect("publisher");
    for n in 0..3 {
        publisher
            .publish(Route::SalesforceWrite, &format!("m-{n}"), &Ping { n })
            .await
            .expect("publish");
    }
    let queue = Queue::SalesforceWriterCommands;
    assert_eq!(
        messaging::testing::ready_count(&broker, queue)
            .await
            .expect("count"),
        3
    );
    let first = messaging::testing::take(&broker, queue)
        .await
        .expect("take")
        .expect("a message");
    assert_eq!(first.message_id(), Some("m-0"));
    assert_eq!(first.decode::<Ping>().expect("json"), Ping { n: 0 });
    assert_eq!(
        messaging::testing::ready_count(&broker, queue)
            .await
            .expect("count"),
        2
    );
    broker.delete_topology().await.expect("cleanup");
}

#[tokio::test]
async fn a_panicking_handler_counts_as_a_retry_and_the_message_is_not_lost() {
    let broker = isolated_broker(5).await;
    let publisher = broker.publisher().await.expect("publisher");
    publisher
        .publish(Route::ChangeBatch, "panics-once", &Ping { n: 1 })
        .await
        .expect("confirmed publish");
    let attempts = Arc::new(AtomicU32::new(0));
    let (done_tx, mut done) = mpsc::unbounded_channel();
    let shutdown = CancellationToken::new();
    let task = {
        let broker = broker.clone();
        let attempts = Arc::clone(&attempts);
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            consume(
                &broker,
                Queue::ReconcilerChanges,
                move |delivery| {
                    let attempt = attempts.fetch_add(1, Ordering::SeqCst);
                    let done_tx = done_tx.clone();
                    async move {
                        assert!(attempt > 0, "a bug in the first attempt");
                        let _ = done_tx.send(delivery.delivery_count());
                        Ok(())
                    }
                },
                shutdown,
            )
            .await
        })
    };
    let delivery_count = next(&mut done).await;
    assert_eq!(
        delivery_count, 1,
        "the second delivery knows one failed before it"
    );
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    shutdown.cancel();
    task.await
        .expect("join")
        .expect("consume survives the panic");
    assert_eq!(
        messaging::testing::ready_count(&broker, Queue::ReconcilerChanges)
            .await
            .expect("count"),
        0,
        "acked after the successful attempt"
    );
    broker.delete_topology().await.expect("cleanup");
}

#[tokio::test]
async fn dead_letters_can_be_inspected_and_replayed_once_the_cause_is_fixed() {
    let broker = isolated_broker(5).await;
    let publisher = broker.publisher().await.expect("publisher");
    publisher
        .publish(Route::SalesforceWrite, "poison-then-fixed", &Ping { n: 5 })
        .await
        .expect("publish");

    // First a consumer that rejects it (the bug), ...
    let fixed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (handled_tx, mut handled) = mpsc::unbounded_channel();
    let shutdown = CancellationToken::new();
    let task = {
        let broker = broker.clone();
        let fixed = Arc::clone(&fixed);
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            consume(
                &broker,
                Queue::SalesforceWriterCommands,
                move |delivery| {
                    let fixed = fixed.load(Ordering::SeqCst);
                    let handled_tx = handled_tx.clone();
                    async move {
                        if !fixed {
                            return Err(HandlerError::reject("a bug"));
                        }
                        let _ = handled_tx.send(delivery);
                        Ok(())
                    }
                },
                shutdown,
            )
            .await
        })
    };
    eventually("the message to be dead-lettered", || async {
        messaging::testing::ready_count(&broker, Queue::DeadLetters)
            .await
            .is_ok_and(|count| count == 1)
    })
    .await;

    // ... an operator looks (the message stays) ...
    let seen = broker.peek_dead_letters(10).await.expect("peek");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].message_id(), Some("poison-then-fixed"));
    assert_eq!(
        seen[0].headers().get(ERROR_HEADER).map(String::as_str),
        Some("a bug")
    );
    // Peeking hands the message back (a requeueing nack the broker applies asynchronously), so
    // the count is polled rather than read once.
    eventually("the peeked message to be back in the queue", || async {
        messaging::testing::ready_count(&broker, Queue::DeadLetters)
            .await
            .is_ok_and(|count| count == 1)
    })
    .await;

    // ... the fix ships, and the replay delivers it as a first attempt.
    fixed.store(true, Ordering::SeqCst);
    assert_eq!(broker.replay_dead_letters(10).await.expect("replay"), 1);
    let delivery = next(&mut handled).await;
    assert_eq!(delivery.message_id(), Some("poison-then-fixed"));
    assert_eq!(delivery.decode::<Ping>().expect("json"), Ping { n: 5 });
    assert_eq!(delivery.delivery_count(), 0);
    assert_eq!(
        delivery
            .headers()
            .get(messaging::dead_letters::REPLAYED_HEADER)
            .map(String::as_str),
        Some("1")
    );
    assert_eq!(
        messaging::testing::ready_count(&broker, Queue::DeadLetters)
            .await
            .expect("count"),
        0
    );
    shutdown.cancel();
    task.await.expect("join").expect("consume");
    broker.delete_topology().await.expect("cleanup");
}

#[tokio::test]
async fn the_cleanup_guard_deletes_the_topology_when_dropped() {
    let broker = isolated_broker(5).await;
    let guard = messaging::testing::cleanup_on_drop(&broker);
    assert_eq!(
        messaging::testing::ready_count(&broker, Queue::DeadLetters)
            .await
            .expect("exists"),
        0
    );
    drop(guard);
    let gone = messaging::testing::ready_count(&broker, Queue::DeadLetters).await;
    assert!(gone.is_err(), "the queue is still there: {gone:?}");
}
