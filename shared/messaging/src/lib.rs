//! RabbitMQ connection, topology, confirmed publishing and the consumer loop.
//!
//! Everything a service needs to talk over the broker: [`Broker`] owns one connection (re-dialled
//! by a supervisor when it drops) and declares the [`topology`]; [`Publisher`] publishes with
//! confirms; [`consume`] runs a handler per delivery and acks only after it succeeded; a
//! [`HandlerError`] says whether a failed delivery is retried or dead-lettered ([`Handling`]).
//!
//! ```no_run
//! use messaging::{Broker, BrokerSettings, HandlerError, Queue, Route, consume};
//! use tokio_util::sync::CancellationToken;
//!
//! # async fn example() -> Result<(), messaging::MessagingError> {
//! let broker = Broker::connect("amqp://guest:guest@127.0.0.1:5672/%2f", "contactsync",
//!                              BrokerSettings::default()).await?;
//! let publisher = broker.publisher().await?;
//! // Returns once the broker has the message (confirm); the id is the idempotency key.
//! publisher.publish(Route::SyncJob, "job-42", &serde_json::json!({"user_id": "u1"})).await?;
//!
//! let shutdown = CancellationToken::new();
//! consume(&broker, Queue::ExchangeFetcherJobs, |delivery| async move {
//!     let job: serde_json::Value = delivery
//!         .decode()
//!         .map_err(|error| HandlerError::reject(error).context("not a job"))?;
//!     // ... do the work, commit it; a transient failure returns `HandlerError::retry(error)`,
//!     // which keeps the error whole (its source chain) for the logs.
//!     let _ = job;
//!     Ok(())
//! }, shutdown).await
//! # }
//! ```

mod broker;
mod consumer;
pub mod dead_letters;
mod delivery;
mod depth;
mod metrics;
mod publisher;
#[cfg(feature = "testing")]
pub mod testing;
pub mod topology;

use std::time::Duration;

pub use broker::Broker;
pub use consumer::consume;
pub use delivery::Delivery;
pub use depth::queue_depths;
pub use publisher::Publisher;
pub use topology::{Queue, Route};

/// Header carrying the reason on a dead-lettered copy.
pub const ERROR_HEADER: &str = "x-contactsync-error";
/// Header naming the queue a dead-lettered copy was consumed from.
pub const SOURCE_QUEUE_HEADER: &str = "x-contactsync-queue";

/// Knobs of the broker client; every service reads them from its settings.
#[derive(Debug, Clone)]
pub struct BrokerSettings {
    /// Unacknowledged deliveries one consumer holds (and so handlers running at once).
    pub prefetch: u16,
    /// Deliveries of one message before it is dead-lettered (quorum queue `x-delivery-limit`).
    pub delivery_limit: u32,
    /// Shown in the RabbitMQ management UI, to tell connections apart.
    pub connection_name: String,
    /// How long a publish or a consumer waits for a (re)connected broker before failing.
    pub connect_wait: Duration,
    /// How long a publish waits for the broker's confirm (a broker under a resource alarm
    /// blocks publishers and would otherwise hold a handler forever).
    pub confirm_timeout: Duration,
    /// Where publish/consume counters and handler durations are registered, when given.
    pub metrics: Option<telemetry::Metrics>,
    /// Wait before requeueing after a `Retry`: doubled on every further attempt, capped at
    /// `retry_max_delay`. Without it, the delivery limit would be spent within milliseconds of
    /// a transient outage.
    pub retry_base_delay: Duration,
    pub retry_max_delay: Duration,
}

impl BrokerSettings {
    /// The wait before requeueing attempt number `attempt` (1-based) after it failed.
    pub fn retry_delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.retry_base_delay
            .saturating_mul(factor)
            .min(self.retry_max_delay)
    }
}

impl Default for BrokerSettings {
    fn default() -> Self {
        BrokerSettings {
            prefetch: 16,
            delivery_limit: 5,
            connection_name: "contactsync".to_owned(),
            connect_wait: Duration::from_secs(10),
            confirm_timeout: Duration::from_secs(30),
            metrics: None,
            retry_base_delay: Duration::from_millis(500),
            retry_max_delay: Duration::from_secs(30),
        }
    }
}

/// What went wrong talking to the broker. Every variant is worth a retry later except
/// [`MessagingError::Encode`], [`MessagingError::InvalidMessageId`] and
/// [`MessagingError::InvalidName`], which are bugs.
#[derive(Debug, thiserror::Error)]
pub enum MessagingError {
    #[error("could not connect to the broker: {0}")]
    Connect(#[source] lapin::Error),
    #[error("the broker is not reachable (no connection within {0:?})")]
    Unavailable(Duration),
    #[error("declaring the topology failed on {name}: {source}")]
    Topology {
        name: String,
        #[source]
        source: lapin::Error,
    },
    #[error("AMQP operation failed: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("the message could not be encoded as JSON: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("the message id is not a valid AMQP short string (at most 255 bytes)")]
    InvalidMessageId,
    #[error("`{0}` is too long for an AMQP name (at most 255 bytes)")]
    InvalidName(String),
    #[error("the broker refused (nacked) the message on route {route}")]
    Nacked { route: String },
    #[error("the message on route {route} reached no queue: {reply}")]
    Unroutable { route: String, reply: String },
    #[error("the broker did not confirm the message on route {route} within {timeout:?}")]
    ConfirmTimeout { route: String, timeout: Duration },
}

/// What the consumer does with a delivery whose handler failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handling {
    /// Transient: nack and requeue; dead-lettered with the reason once the delivery limit is
    /// reached.
    Retry,
    /// Poison (it can never succeed): dead-letter right away with the reason.
    Reject,
}

impl std::fmt::Display for Handling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Handling::Retry => "retry",
            Handling::Reject => "reject",
        })
    }
}

/// Any error a handler fails with, kept whole (its `source()` chain included).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A handler's failure: what to do with the delivery, and the error that caused it, kept whole
/// so its source chain reaches the logs. The dead-letter reason is the error's message.
#[derive(Debug, thiserror::Error)]
#[error("{handling}: {source}")]
pub struct HandlerError {
    handling: Handling,
    #[source]
    source: BoxError,
}

impl HandlerError {
    /// A transient failure: the delivery is requeued until the delivery limit.
    pub fn retry(source: impl Into<BoxError>) -> Self {
        Self::new(Handling::Retry, source)
    }

    /// A poison message: dead-lettered at once.
    pub fn reject(source: impl Into<BoxError>) -> Self {
        Self::new(Handling::Reject, source)
    }

    pub fn new(handling: Handling, source: impl Into<BoxError>) -> Self {
        Self {
            handling,
            source: source.into(),
        }
    }

    /// The same failure, its error wrapped as "`what`: error" (the error stays its source).
    pub fn context(self, what: &'static str) -> Self {
        Self {
            handling: self.handling,
            source: Box::new(Context {
                what,
                source: self.source,
            }),
        }
    }

    pub fn handling(&self) -> Handling {
        self.handling
    }

    /// The reason logged and written into a dead-lettered copy: the error's message.
    pub fn reason(&self) -> String {
        self.source.to_string()
    }
}

/// An error with what was being done when it happened.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
struct Context {
    what: &'static str,
    source: BoxError,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_and_are_capped() {
        let settings = BrokerSettings {
            retry_base_delay: Duration::from_millis(100),
            retry_max_delay: Duration::from_millis(500),
            ..BrokerSettings::default()
        };
        let delays: Vec<u128> = (1..=5)
            .map(|attempt| settings.retry_delay(attempt).as_millis())
            .collect();
        assert_eq!(delays, [100, 200, 400, 500, 500]);
        assert_eq!(settings.retry_delay(u32::MAX), Duration::from_millis(500));
    }

    #[test]
    fn a_handler_error_keeps_its_source_whole_and_its_message_as_the_reason() {
        use std::error::Error as _;

        let cause = MessagingError::InvalidName("q".to_owned());
        let error = HandlerError::retry(cause).context("publishing the results");
        assert_eq!(error.handling(), Handling::Retry);
        assert_eq!(
            error.reason(),
            "publishing the results: `q` is too long for an AMQP name (at most 255 bytes)"
        );
        assert_eq!(error.to_string(), format!("retry: {}", error.reason()));
        // The chain: the context, then the typed error itself, still downcastable.
        let context = error.source().expect("the context");
        let typed = context.source().expect("the typed error");
        assert!(matches!(
            typed.downcast_ref::<MessagingError>(),
            Some(MessagingError::InvalidName(_))
        ));
    }

    #[test]
    fn a_rejection_may_be_a_plain_message() {
        let error = HandlerError::reject("unknown contract version 99");
        assert_eq!(error.handling(), Handling::Reject);
        assert_eq!(error.reason(), "unknown contract version 99");
    }
}
