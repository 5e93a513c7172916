//! The whole RabbitMQ topology, declared in one place: names, options and why each is set.
//!
//! One direct exchange carries every route; each queue is bound to the routes it consumes.
//! Failed messages go to a dead-letter exchange and wait in one dead-letters queue for an
//! operator (nothing consumes it automatically).

use lapin::options::{
    ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, ExchangeKind};

use crate::MessagingError;

/// Suffix of the exchange every route is published to.
pub const EVENTS_EXCHANGE: &str = "events";
/// Suffix of the exchange failed messages are dead-lettered to.
pub const DEAD_LETTER_EXCHANGE: &str = "dead-letter";

/// What a message is; each route has one routing key on the events exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// scheduler/gateway → fetchers: sync this user now.
    SyncJob,
    /// fetchers → reconciler: changes read from one side.
    ChangeBatch,
    /// reconciler → exchange-writer.
    ExchangeWrite,
    /// reconciler → salesforce-writer.
    SalesforceWrite,
    /// writers → reconciler: what a write did.
    WriteResult,
}

impl Route {
    pub const ALL: [Route; 5] = [
        Route::SyncJob,
        Route::ChangeBatch,
        Route::ExchangeWrite,
        Route::SalesforceWrite,
        Route::WriteResult,
    ];

    /// The routing key, also sent as the AMQP `type` property.
    pub const fn routing_key(self) -> &'static str {
        match self {
            Route::SyncJob => "sync-job",
            Route::ChangeBatch => "change-batch",
            Route::ExchangeWrite => "exchange-write",
            Route::SalesforceWrite => "salesforce-write",
            Route::WriteResult => "write-result",
        }
    }

    /// The queues a message on this route lands in.
    pub fn queues(self) -> impl Iterator<Item = Queue> {
        BINDINGS
            .iter()
            .filter(move |(route, _)| *route == self)
            .map(|(_, queue)| *queue)
    }
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.routing_key())
    }
}

/// Every queue of the system; names are `{prefix}.{suffix}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Queue {
    ExchangeFetcherJobs,
    SalesforceFetcherJobs,
    ReconcilerChanges,
    ExchangeWriterCommands,
    SalesforceWriterCommands,
    ReconcilerResults,
    /// Where dead-lettered messages wait for an operator.
    DeadLetters,
}

impl Queue {
    pub const ALL: [Queue; 7] = [
        Queue::ExchangeFetcherJobs,
        Queue::SalesforceFetcherJobs,
        Queue::ReconcilerChanges,
        Queue::ExchangeWriterCommands,
        Queue::SalesforceWriterCommands,
        Queue::ReconcilerResults,
        Queue::DeadLetters,
    ];

    pub const fn suffix(self) -> &'static str {
        match self {
            Queue::ExchangeFetcherJobs => "exchange-fetcher.jobs",
            Queue::SalesforceFetcherJobs => "salesforce-fetcher.jobs",
            Queue::ReconcilerChanges => "reconciler.changes",
            Queue::ExchangeWriterCommands => "exchange-writer.commands",
            Queue::SalesforceWriterCommands => "salesforce-writer.commands",
            Queue::ReconcilerResults => "reconciler.results",
            Queue::DeadLetters => "dead-letters",
        }
    }

    /// The queue's full name under `prefix`.
    pub fn name(self, prefix: &str) -> String {
        format!("{prefix}.{}", self.suffix())
    }
}

/// Which route feeds which queue. A sync job fans out to both fetchers.
pub const BINDINGS: [(Route, Queue); 6] = [
    (Route::SyncJob, Queue::ExchangeFetcherJobs),
    (Route::SyncJob, Queue::SalesforceFetcherJobs),
    (Route::ChangeBatch, Queue::ReconcilerChanges),
    (Route::ExchangeWrite, Queue::ExchangeWriterCommands),
    (Route::SalesforceWrite, Queue::SalesforceWriterCommands),
    (Route::WriteResult, Queue::ReconcilerResults),
];

pub fn events_exchange(prefix: &str) -> String {
    format!("{prefix}.{EVENTS_EXCHANGE}")
}

pub fn dead_letter_exchange(prefix: &str) -> String {
    format!("{prefix}.{DEAD_LETTER_EXCHANGE}")
}

/// Declares every exchange, queue and binding; idempotent, so every service runs it at
/// start-up and after each reconnect, and no deploy step has to come first.
pub(crate) async fn declare(
    channel: &Channel,
    prefix: &str,
    delivery_limit: u32,
) -> Result<(), MessagingError> {
    let events = events_exchange(prefix);
    let dead_letter = dead_letter_exchange(prefix);
    let exchange_options = ExchangeDeclareOptions {
        passive: false,     // create it when missing
        durable: true,      // survives a broker restart
        auto_delete: false, // stays while no queue is bound (e.g. between deploys)
        internal: false,    // services publish to it directly
        nowait: false,      // we want the broker's error if the declaration conflicts
    };
    // Direct: each route is one routing key, bound explicitly (no wildcard surprises).
    declare_exchange(channel, &events, ExchangeKind::Direct, exchange_options).await?;
    // Fanout: every dead-lettered message lands in the one dead-letters queue whatever its key,
    // and keeps its original routing key for an operator to republish it.
    declare_exchange(
        channel,
        &dead_letter,
        ExchangeKind::Fanout,
        exchange_options,
    )
    .await?;

    for queue in Queue::ALL {
        let name = queue.name(prefix);
        let arguments = if queue == Queue::DeadLetters {
            dead_letter_queue_arguments()
        } else {
            work_queue_arguments(&dead_letter, delivery_limit)
        };
        channel
            .queue_declare(
                short(&name)?,
                QueueDeclareOptions {
                    passive: false,     // create it when missing
                    durable: true,      // quorum queues must be durable; messages survive restarts
                    exclusive: false,   // shared by every replica of the consuming service
                    auto_delete: false, // keep messages while no consumer runs (deploys, crashes)
                    nowait: false,      // surface argument conflicts with an existing queue
                },
                arguments,
            )
            .await
            .map_err(|source| MessagingError::Topology {
                name: name.clone(),
                source,
            })?;
    }
    channel
        .queue_bind(
            short(&Queue::DeadLetters.name(prefix))?,
            short(&dead_letter)?,
            // A fanout exchange ignores the key.
            short("")?,
            QueueBindOptions { nowait: false },
            FieldTable::default(),
        )
        .await
        .map_err(|source| MessagingError::Topology {
            name: Queue::DeadLetters.name(prefix),
            source,
        })?;
    for (route, queue) in BINDINGS {
        channel
            .queue_bind(
                short(&queue.name(prefix))?,
                short(&events)?,
                short(route.routing_key())?,
                QueueBindOptions { nowait: false },
                FieldTable::default(),
            )
            .await
            .map_err(|source| MessagingError::Topology {
                name: queue.name(prefix),
                source,
            })?;
    }
    Ok(())
}

/// Deletes every queue and exchange under `prefix` (tests clean up after themselves).
pub(crate) async fn delete(channel: &Channel, prefix: &str) -> Result<(), MessagingError> {
    for queue in Queue::ALL {
        channel
            .queue_delete(short(&queue.name(prefix))?, QueueDeleteOptions::default())
            .await?;
    }
    for exchange in [events_exchange(prefix), dead_letter_exchange(prefix)] {
        channel
            .exchange_delete(short(&exchange)?, ExchangeDeleteOptions::default())
            .await?;
    }
    Ok(())
}

fn work_queue_arguments(dead_letter_exchange: &str, delivery_limit: u32) -> FieldTable {
    let mut arguments = FieldTable::default();
    // Quorum: replicated, and it counts deliveries, which makes the delivery limit possible.
    arguments.insert("x-queue-type".into(), long_string("quorum"));
    // Explicit rather than the broker's default (none before RabbitMQ 4, 20 after): a message
    // that keeps failing (or keeps crashing its consumer) is dead-lettered after this many tries.
    arguments.insert(
        "x-delivery-limit".into(),
        AMQPValue::LongLongInt(i64::from(delivery_limit)),
    );
    // Where the broker sends messages that exceed the limit or are rejected without requeue.
    arguments.insert(
        "x-dead-letter-exchange".into(),
        long_string(dead_letter_exchange),
    );
    // At-least-once dead-lettering: the broker keeps the message until the dead-letter queue
    // confirmed it, so a poison message is never silently dropped on the way.
    arguments.insert(
        "x-dead-letter-strategy".into(),
        long_string("at-least-once"),
    );
    // Required by at-least-once dead-lettering: when full, refuse publishes (the publisher
    // sees a nack) instead of dropping the oldest message.
    arguments.insert("x-overflow".into(), long_string("reject-publish"));
    arguments
}

fn dead_letter_queue_arguments() -> FieldTable {
    let mut arguments = FieldTable::default();
    // Quorum like the others: dead letters are evidence an operator needs, so replicate them.
    // No delivery limit and no dead-letter exchange: nothing leaves this queue but by hand.
    arguments.insert("x-queue-type".into(), long_string("quorum"));
    arguments
}

async fn declare_exchange(
    channel: &Channel,
    name: &str,
    kind: ExchangeKind,
    options: ExchangeDeclareOptions,
) -> Result<(), MessagingError> {
    channel
        .exchange_declare(short(name)?, kind, options, FieldTable::default())
        .await
        .map_err(|source| MessagingError::Topology {
            name: name.to_owned(),
            source,
        })
}

fn long_string(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

/// Names are built from a validated prefix, but a caller could pass any prefix: fail cleanly
/// rather than let lapin's `From<&str>` panic on an over-long name.
pub(crate) fn short(value: &str) -> Result<ShortString, MessagingError> {
    ShortString::try_new(value).map_err(|_| MessagingError::InvalidName(value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sync_job_reaches_both_fetchers() {
        let queues: Vec<Queue> = Route::SyncJob.queues().collect();
        assert_eq!(
            queues,
            [Queue::ExchangeFetcherJobs, Queue::SalesforceFetcherJobs]
        );
    }

    #[test]
    fn every_route_reaches_at_least_one_queue_and_nothing_routes_to_dead_letters() {
        for route in Route::ALL {
            assert!(route.queues().next().is_some(), "{route} is unbound");
            assert!(route.queues().all(|queue| queue != Queue::DeadLetters));
        }
    }

    #[test]
    fn names_carry_the_prefix() {
        assert_eq!(Queue::ReconcilerChanges.name("t1"), "t1.reconciler.changes");
        assert_eq!(events_exchange("t1"), "t1.events");
        assert_eq!(dead_letter_exchange("t1"), "t1.dead-letter");
    }
}
