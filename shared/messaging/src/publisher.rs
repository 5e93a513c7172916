//! Publishing with publisher confirms: a publish returns only once the broker has the message.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel, Confirmation};
use tokio::sync::Mutex;
use tracing::Instrument as _;

use crate::topology::{self, Route, short};
use crate::{Broker, MessagingError};

/// AMQP delivery mode 2: the broker writes the message to disk.
const PERSISTENT: u8 = 2;

/// Publishes to the events exchange on its own confirm-mode channel. Cheap to clone; clones
/// share the channel (confirms are matched per message, so concurrent publishes are fine).
#[derive(Clone)]
pub struct Publisher {
    broker: Broker,
    channel: Arc<Mutex<Option<Channel>>>,
}

impl Publisher {
    pub(crate) fn new(broker: Broker) -> Self {
        Publisher {
            broker,
            channel: Arc::new(Mutex::new(None)),
        }
    }

    /// Publishes persistent JSON with content-type, message_id and type headers, injects W3C
    /// trace context from the current span into the headers, and waits for the broker's
    /// confirm; a nack or an unroutable (mandatory + basic.return) message is an error.
    pub async fn publish<M: serde::Serialize>(
        &self,
        route: Route,
        message_id: &str,
        message: &M,
    ) -> Result<(), MessagingError> {
        let body = serde_json::to_vec(message)?;
        let span = tracing::info_span!(
            "publish",
            otel.kind = "producer",
            otel.name = %format!("{route} publish"),
            messaging.system = "rabbitmq",
            messaging.destination = %route,
            message_id = %message_id,
            trace_id = tracing::field::Empty,
        );
        if let Some(trace_id) = telemetry::trace_id(&span) {
            span.record("trace_id", trace_id.as_str());
        }
        let mut headers = FieldTable::default();
        for (key, value) in telemetry::inject_context(&span) {
            headers.insert(short(&key)?, AMQPValue::LongString(LongString::from(value)));
        }
        let properties = BasicProperties::default()
            .with_content_type(short("application/json")?)
            .with_delivery_mode(PERSISTENT)
            .with_message_id(
                lapin::types::ShortString::try_new(message_id)
                    .map_err(|_| MessagingError::InvalidMessageId)?,
            )
            .with_type(short(route.routing_key())?)
            .with_timestamp(unix_now())
            .with_headers(headers);
        let exchange = topology::events_exchange(self.broker.prefix());
        let result = self
            .publish_raw(&exchange, route.routing_key(), &body, properties)
            .instrument(span)
            .await;
        if let Some(metrics) = self.broker.metrics() {
            let outcome = match &result {
                Ok(()) => "confirmed",
                Err(MessagingError::Nacked { .. }) => "nacked",
                Err(MessagingError::Unroutable { .. }) => "unroutable",
                Err(_) => "failed",
            };
            metrics.published(route.routing_key(), outcome);
        }
        result
    }

    /// Publishes `body` as is and waits for the confirm. Used for dead-lettering copies too.
    pub(crate) async fn publish_raw(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
    ) -> Result<(), MessagingError> {
        // One retry on a fresh channel: the first attempt may have hit a connection that died
        // since our last publish. A duplicate is harmless (consumers are idempotent on
        // message_id); a lost message is not.
        match self
            .timed_publish(exchange, routing_key, body, properties.clone())
            .await
        {
            Err(MessagingError::Amqp(error)) => {
                tracing::debug!(%error, "Publish failed on a stale channel, retrying once");
                self.reset_channel().await;
                self.timed_publish(exchange, routing_key, body, properties)
                    .await
            }
            other => other,
        }
    }

    async fn timed_publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
    ) -> Result<(), MessagingError> {
        let timeout = self.broker.settings().confirm_timeout;
        let attempt = self.try_publish(exchange, routing_key, body, properties);
        match tokio::time::timeout(timeout, attempt).await {
            Ok(result) => result,
            Err(_) => {
                // The confirm may still come on this channel; a fresh one keeps later publishes
                // from queueing behind it.
                self.reset_channel().await;
                Err(MessagingError::ConfirmTimeout {
                    route: routing_key.to_owned(),
                    timeout,
                })
            }
        }
    }

    async fn try_publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
    ) -> Result<(), MessagingError> {
        let channel = self.channel().await?;
        let confirmation = channel
            .basic_publish(
                short(exchange)?,
                short(routing_key)?,
                BasicPublishOptions {
                    // Return the message when no queue is bound, instead of dropping it.
                    mandatory: true,
                    // Not supported by RabbitMQ.
                    immediate: false,
                },
                body,
                properties,
            )
            .await?
            .await?;
        match confirmation {
            Confirmation::Ack(None) => Ok(()),
            Confirmation::Ack(Some(returned)) | Confirmation::Nack(Some(returned)) => {
                Err(MessagingError::Unroutable {
                    route: routing_key.to_owned(),
                    reply: returned.reply_text.to_string(),
                })
            }
            Confirmation::Nack(None) => Err(MessagingError::Nacked {
                route: routing_key.to_owned(),
            }),
            // Our channels are always in confirm mode; treat the impossible as a refusal.
            Confirmation::NotRequested => Err(MessagingError::Nacked {
                route: routing_key.to_owned(),
            }),
        }
    }

    /// The shared channel, (re)opened in confirm mode when missing or closed.
    async fn channel(&self) -> Result<Channel, MessagingError> {
        let mut slot = self.channel.lock().await;
        if let Some(channel) = slot.as_ref()
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        let channel = self.broker.connection().await?.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions { nowait: false })
            .await?;
        *slot = Some(channel.clone());
        Ok(channel)
    }

    async fn reset_channel(&self) {
        *self.channel.lock().await = None;
    }
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("prefix", &self.broker.prefix())
            .finish_non_exhaustive()
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or_default()
}
