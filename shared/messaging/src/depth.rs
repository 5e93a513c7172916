//! How many messages wait in each queue: the scheduler's `contactsync_queue_messages` gauge, the
//! figure KEDA scales the workers on and the queue-lag and dead-letter alerts read.

use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;

use crate::topology::short;
use crate::{Broker, MessagingError, Queue};

/// Ready messages (not counting deliveries a consumer holds unacknowledged) of every queue of
/// the topology, by full queue name, in [`Queue::ALL`] order.
pub async fn queue_depths(broker: &Broker) -> Result<Vec<(String, u32)>, MessagingError> {
    let channel = broker.connection().await?.create_channel().await?;
    let mut depths = Vec::with_capacity(Queue::ALL.len());
    for queue in Queue::ALL {
        let name = queue.name(broker.prefix());
        let declared = channel
            .queue_declare(
                short(&name)?,
                // Passive: only look, never create or conflict with the real arguments.
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        depths.push((name, declared.message_count()));
    }
    // Closing a channel we are done with; an error here changes nothing for the caller.
    let _ = channel.close(200, "OK".into()).await;
    Ok(depths)
}
