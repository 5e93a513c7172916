//! The consumer loop: one handler run per delivery, ack only after the handler succeeded.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
};
use lapin::types::FieldTable;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::delivery::with_headers;
use crate::topology::{Queue, dead_letter_exchange, short};
use crate::{
    Broker, Delivery, ERROR_HEADER, HandlerError, Handling, MessagingError, Publisher,
    SOURCE_QUEUE_HEADER,
};

/// Pause before re-subscribing after the connection or the subscription was lost.
const RESUBSCRIBE_DELAY: Duration = Duration::from_millis(500);

/// The consumer loop: prefetch from settings; each delivery runs `handler` inside a span whose
/// parent is the extracted trace context; ack only after the handler returned Ok (its effect is
/// durable); on shutdown stop consuming, let in-flight handlers finish and ack, then return.
///
/// A `Retry` pauses (`retry_delay`, doubling per attempt), then nacks with requeue, until the
/// delivery limit; then it dead-letters the message with the reason in the
/// `x-contactsync-error` header; a `Reject` dead-letters it at once. A handler
/// that panics counts as a `Retry`. A lost connection is survived: the loop re-subscribes on
/// the supervisor's new connection (unacked messages are redelivered by the broker).
///
/// Returns an error only when the subscription is refused while the broker is up (e.g. the
/// queue does not exist), which no retry would fix.
///
/// Deviation from a plain `Fut: Future + Send` bound: `Fut` must also be `'static`, because each
/// handler runs in a task of its own (which is what turns a panic into a retry).
pub async fn consume<H, Fut>(
    broker: &Broker,
    queue: Queue,
    handler: H,
    shutdown: CancellationToken,
) -> Result<(), MessagingError>
where
    H: Fn(Delivery) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    let handler = Arc::new(handler);
    let dead_letters = broker.publisher().await?;
    let queue_name = queue.name(broker.prefix());
    loop {
        if shutdown.is_cancelled() || broker.closed().is_cancelled() {
            return Ok(());
        }
        let connection = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            result = broker.connection() => match result {
                Ok(connection) => connection,
                Err(error) => {
                    tracing::warn!(%error, queue = %queue_name, "Waiting for the broker to consume");
                    continue;
                }
            },
        };
        let subscription = subscribe(&connection, &queue_name, broker.settings().prefetch).await;
        let (channel, consumer) = match subscription {
            Ok(pair) => pair,
            Err(error) if connection.status().connected() && is_refusal(&error) => {
                return Err(error);
            }
            Err(error) => {
                tracing::warn!(%error, queue = %queue_name, "Subscribing failed, retrying");
                tokio::time::sleep(RESUBSCRIBE_DELAY).await;
                continue;
            }
        };
        tracing::info!(queue = %queue_name, "Consuming");
        let stopped = run_subscription(
            consumer.clone(),
            &channel,
            &handler,
            &dead_letters,
            broker,
            &queue_name,
            &shutdown,
        )
        .await;
        if stopped {
            // In-flight handlers have finished and acked: closing the channel now returns only
            // the prefetched-but-unstarted deliveries to the queue.
            let _ = channel.close(200, "OK".into()).await;
            tracing::info!(queue = %queue_name, "Stopped consuming");
            return Ok(());
        }
        tracing::warn!(queue = %queue_name, "Subscription lost, re-subscribing");
        tokio::time::sleep(RESUBSCRIBE_DELAY).await;
    }
}

async fn subscribe(
    connection: &lapin::Connection,
    queue_name: &str,
    prefetch: u16,
) -> Result<(lapin::Channel, lapin::Consumer), MessagingError> {
    let channel = connection.create_channel().await?;
    // Per consumer: bounds both the messages a replica hoards and the handlers it runs at once.
    channel
        .basic_qos(prefetch, BasicQosOptions { global: false })
        .await?;
    let consumer = channel
        .basic_consume(
            short(queue_name)?,
            // Empty: the broker generates a unique tag.
            short("")?,
            BasicConsumeOptions {
                no_local: false,  // meaningless for RabbitMQ
                no_ack: false,    // manual acks: a message is only gone once handled
                exclusive: false, // every replica of a service consumes the same queue
                nowait: false,    // we want the broker's error if the queue is missing
            },
            FieldTable::default(),
        )
        .await?;
    Ok((channel, consumer))
}

/// Channel-level refusals (404 no such queue, 403, 406) will not heal by retrying.
fn is_refusal(error: &MessagingError) -> bool {
    matches!(error, MessagingError::Amqp(error) if matches!(error.kind(), lapin::ErrorKind::ProtocolError(_)))
}

/// Runs one subscription until shutdown (returns true) or until it is lost (returns false);
/// either way, waits for in-flight handlers first.
async fn run_subscription<H, Fut>(
    mut consumer: lapin::Consumer,
    channel: &lapin::Channel,
    handler: &Arc<H>,
    dead_letters: &Publisher,
    broker: &Broker,
    queue_name: &str,
    shutdown: &CancellationToken,
) -> bool
where
    H: Fn(Delivery) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    let mut in_flight = JoinSet::new();
    let stopped = loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => {
                // Stop the broker from sending more; ignore failure (the channel closes next).
                let _ = channel
                    .basic_cancel(consumer.tag(), BasicCancelOptions { nowait: false })
                    .await;
                break true;
            }
            () = broker.closed().cancelled() => break true,
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            next = consumer.next() => match next {
                Some(Ok(delivery)) => {
                    in_flight.spawn(process(
                        delivery,
                        Arc::clone(handler),
                        dead_letters.clone(),
                        broker.clone(),
                        queue_name.to_owned(),
                        shutdown.clone(),
                    ));
                }
                Some(Err(error)) => {
                    tracing::warn!(%error, queue = %queue_name, "Consumer failed");
                    break false;
                }
                None => break false,
            },
        }
    };
    while in_flight.join_next().await.is_some() {}
    stopped
}

/// Handles one delivery to the end: handler, then ack, requeue or dead-letter.
async fn process<H, Fut>(
    raw: lapin::message::Delivery,
    handler: Arc<H>,
    dead_letters: Publisher,
    broker: Broker,
    queue_name: String,
    shutdown: CancellationToken,
) where
    H: Fn(Delivery) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    let delivery = Delivery::from_lapin(&raw);
    let span = tracing::info_span!(
        "consume",
        otel.kind = "consumer",
        otel.name = %format!("{queue_name} process"),
        messaging.system = "rabbitmq",
        messaging.source = %queue_name,
        message_id = delivery.message_id().unwrap_or_default(),
        delivery_count = delivery.delivery_count(),
        trace_id = tracing::field::Empty,
    );
    telemetry::set_parent(&span, delivery.headers());
    // On every log line inside the handler (JSON logs list the spans' fields), so an operator
    // can go from a log line to the session's trace in Jaeger.
    if let Some(trace_id) = telemetry::trace_id(&span) {
        span.record("trace_id", trace_id.as_str());
    }
    let attempt = delivery.delivery_count().saturating_add(1);
    let delivery_limit = broker.settings().delivery_limit;
    let prefix = broker.prefix();
    let started = std::time::Instant::now();
    // The handler runs in its own task so that a panic is caught and becomes a retry instead
    // of leaving the message unacked (and holding a prefetch slot) forever.
    let outcome = match tokio::spawn(handler(delivery).instrument(span.clone())).await {
        Ok(outcome) => outcome,
        Err(join_error) => Err(HandlerError::retry(join_error).context("handler panicked")),
    };
    let metrics = broker.metrics();
    if let Some(metrics) = metrics {
        metrics.handled(&queue_name, started.elapsed().as_secs_f64());
    }
    let retry_delay = broker.settings().retry_delay(attempt);
    async {
        let (settled, how) = match outcome {
            Ok(()) => (
                raw.acker.ack(BasicAckOptions { multiple: false }).await,
                "ack",
            ),
            Err(error) if error.handling() == Handling::Retry && attempt < delivery_limit => {
                let delay = retry_delay;
                let reason = error.reason();
                tracing::warn!(%reason, attempt, ?delay, "Handler failed, requeueing after a pause");
                // Holding the message for the pause keeps it from being retried at once (here
                // or on another replica); a shutdown cuts the pause short.
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = shutdown.cancelled() => {}
                }
                let nacked = raw
                    .acker
                    .nack(BasicNackOptions {
                        multiple: false,
                        requeue: true,
                    })
                    .await;
                (nacked, "requeue")
            }
            Err(error) => {
                let reason = match error.handling() {
                    Handling::Retry => {
                        format!("delivery limit {delivery_limit} reached: {}", error.reason())
                    }
                    Handling::Reject => error.reason(),
                };
                dead_letter(&raw, &dead_letters, prefix, &queue_name, &reason).await
            }
        };
        let how = match settled {
            Ok(_) => how,
            Err(error) => {
                // The channel is gone: the broker redelivers the message, nothing is lost.
                tracing::warn!(%error, "Could not settle the delivery; it will be redelivered");
                "unsettled"
            }
        };
        if let Some(metrics) = metrics {
            metrics.settled(&queue_name, how);
        }
    }
    .instrument(span)
    .await;
}

/// Publishes a copy carrying the reason to the dead-letter exchange (with confirm), then acks
/// the original. If the copy cannot be published the original is requeued, never dropped.
async fn dead_letter(
    raw: &lapin::message::Delivery,
    dead_letters: &Publisher,
    prefix: &str,
    queue_name: &str,
    reason: &str,
) -> (Result<bool, lapin::Error>, &'static str) {
    tracing::error!(%reason, queue = %queue_name, "Dead-lettering a message");
    let headers = with_headers(
        &raw.properties,
        &[
            (ERROR_HEADER, reason.to_owned()),
            (SOURCE_QUEUE_HEADER, queue_name.to_owned()),
        ],
    );
    let properties = raw.properties.clone().with_headers(headers);
    let copied = dead_letters
        .publish_raw(
            &dead_letter_exchange(prefix),
            raw.routing_key.as_str(),
            &raw.data,
            properties,
        )
        .await;
    match copied {
        Ok(()) => (
            raw.acker.ack(BasicAckOptions { multiple: false }).await,
            "dead_letter",
        ),
        Err(error) => {
            tracing::warn!(%error, "Dead-lettering failed, requeueing instead");
            let nacked = raw
                .acker
                .nack(BasicNackOptions {
                    multiple: false,
                    requeue: true,
                })
                .await;
            (nacked, "requeue")
        }
    }
}
