//! Helpers for tests against the real broker: an isolated prefix, and looking into queues
//! without running a consumer (so a test can drive a handler directly and drain until empty).

use lapin::options::{BasicGetOptions, QueueDeclareOptions};
use lapin::types::FieldTable;

use crate::topology::short;
use crate::{Broker, BrokerSettings, Delivery, MessagingError, Queue};

/// `AMQP_URL`, else the local broker with the default guest account.
pub fn amqp_url() -> String {
    std::env::var("AMQP_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// A broker on a fresh `test-<uuid>` prefix (its own exchanges and queues). Call
/// [`Broker::delete_topology`] at the end of the test.
pub async fn isolated_broker(settings: BrokerSettings) -> Result<Broker, MessagingError> {
    let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
    Broker::connect(&amqp_url(), &prefix, settings).await
}

/// Takes the next message from `queue`, if any, acknowledging it at once (it is gone).
pub async fn take(broker: &Broker, queue: Queue) -> Result<Option<Delivery>, MessagingError> {
    let channel = broker.connection().await?.create_channel().await?;
    let message = channel
        .basic_get(
            short(&queue.name(broker.prefix()))?,
            // Auto-ack: a test that takes a message means to remove it.
            BasicGetOptions { no_ack: true },
        )
        .await?;
    let _ = channel.close(200, "OK".into()).await;
    Ok(message.map(|message| Delivery::from_lapin(&message.delivery)))
}

/// Messages ready in `queue` (not counting deliveries a consumer holds unacknowledged).
pub async fn ready_count(broker: &Broker, queue: Queue) -> Result<u32, MessagingError> {
    let channel = broker.connection().await?.create_channel().await?;
    let declared = channel
        .queue_declare(
            short(&queue.name(broker.prefix()))?,
            // Passive: only look, never create or conflict with the real arguments.
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    let _ = channel.close(200, "OK".into()).await;
    Ok(declared.message_count())
}

/// Deletes a test's exchanges and queues when dropped, so a test that fails half-way leaves
/// nothing behind on the shared broker. Hold it for the whole test:
/// `let _cleanup = testing::cleanup_on_drop(&broker);`
#[must_use = "the topology is deleted when the guard is dropped"]
pub struct TopologyGuard {
    url: String,
    prefix: String,
}

pub fn cleanup_on_drop(broker: &Broker) -> TopologyGuard {
    TopologyGuard {
        url: amqp_url(),
        prefix: broker.prefix().to_owned(),
    }
}

impl Drop for TopologyGuard {
    fn drop(&mut self) {
        let (url, prefix) = (self.url.clone(), self.prefix.clone());
        // Drop cannot await and may run on a runtime that must not block: use a thread with a
        // runtime of its own and a connection of its own.
        let joined = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let broker = Broker::connect(&url, &prefix, BrokerSettings::default())
                    .await
                    .ok()?;
                let deleted = broker.delete_topology().await.ok();
                broker.close().await;
                deleted
            })
        })
        .join();
        if !matches!(joined, Ok(Some(()))) {
            eprintln!("could not delete the test topology {}", self.prefix);
        }
    }
}
