//! Operator tools for the dead-letters queue: look at what failed and why, and replay messages
//! once the cause is fixed.

use lapin::BasicProperties;
use lapin::options::{BasicAckOptions, BasicGetOptions};
use lapin::types::FieldTable;

use crate::topology::{Queue, events_exchange, short};
use crate::{Broker, Delivery, MessagingError};

/// Headers that describe a past life of the message; a replayed copy starts afresh without them
/// (a stale `x-delivery-count` would make the consumer believe attempts were already spent).
const STALE_HEADERS: [&str; 8] = [
    "x-delivery-count",
    "x-death",
    "x-first-death-exchange",
    "x-first-death-queue",
    "x-first-death-reason",
    "x-last-death-exchange",
    "x-last-death-queue",
    "x-last-death-reason",
];

/// Header counting how often a message was replayed from the dead letters.
pub const REPLAYED_HEADER: &str = "x-contactsync-replayed";

impl Broker {
    /// Up to `max` dead letters, oldest first, left in the queue.
    pub async fn peek_dead_letters(&self, max: usize) -> Result<Vec<Delivery>, MessagingError> {
        let channel = self.connection().await?.create_channel().await?;
        let queue = short(&Queue::DeadLetters.name(self.prefix()))?;
        let mut seen = Vec::new();
        while seen.len() < max {
            // Not acknowledged: closing the channel below returns every one of them.
            let Some(message) = channel
                .basic_get(queue.clone(), BasicGetOptions { no_ack: false })
                .await?
            else {
                break;
            };
            seen.push(Delivery::from_lapin(&message.delivery));
        }
        let _ = channel.close(200, "OK".into()).await;
        Ok(seen)
    }

    /// Republishes up to `max` dead letters to the events exchange on their original route
    /// (with confirm), removing each from the dead letters only once its copy is confirmed.
    /// Returns how many were replayed.
    pub async fn replay_dead_letters(&self, max: usize) -> Result<usize, MessagingError> {
        let channel = self.connection().await?.create_channel().await?;
        let queue = short(&Queue::DeadLetters.name(self.prefix()))?;
        let publisher = self.publisher().await?;
        let exchange = events_exchange(self.prefix());
        let mut replayed = 0;
        while replayed < max {
            let Some(message) = channel
                .basic_get(queue.clone(), BasicGetOptions { no_ack: false })
                .await?
            else {
                break;
            };
            let raw = message.delivery;
            let properties = fresh_properties(&raw.properties);
            publisher
                .publish_raw(&exchange, raw.routing_key.as_str(), &raw.data, properties)
                .await?;
            raw.acker.ack(BasicAckOptions { multiple: false }).await?;
            replayed += 1;
        }
        let _ = channel.close(200, "OK".into()).await;
        Ok(replayed)
    }
}

fn fresh_properties(properties: &BasicProperties) -> BasicProperties {
    let mut headers = FieldTable::default();
    let mut times_replayed = 0u32;
    if let Some(old) = properties.headers() {
        for (key, value) in old {
            if key.as_str() == REPLAYED_HEADER {
                times_replayed = crate::delivery::value_to_string(value)
                    .and_then(|count| count.parse().ok())
                    .unwrap_or(0);
            } else if !STALE_HEADERS.contains(&key.as_str()) {
                headers.insert(key.clone(), value.clone());
            }
        }
    }
    headers.insert(
        REPLAYED_HEADER.into(),
        lapin::types::AMQPValue::LongUInt(times_replayed.saturating_add(1)),
    );
    properties.clone().with_headers(headers)
}
