//! The broker connection: dialled at start-up, watched and re-dialled by a supervisor.
//!
//! Services hold a [`Broker`] for their whole life; when RabbitMQ restarts or the network
//! drops, the supervisor re-dials with exponential backoff and re-declares the topology, and
//! publishers and consumers pick up the new connection on their next operation.

use std::sync::{Arc, Weak};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable as _};
use lapin::{Connection, ConnectionProperties};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::metrics::MessagingMetrics;
use crate::publisher::Publisher;
use crate::{BrokerSettings, MessagingError, topology};

/// How often the supervisor looks at the connection's state.
const WATCH_INTERVAL: Duration = Duration::from_millis(250);

/// A cheap-to-clone handle on the service's broker connection.
#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    prefix: String,
    settings: BrokerSettings,
    /// The live connection; `None` while re-dialling.
    current: watch::Sender<Option<Arc<Connection>>>,
    /// Stops the supervisor: on `close`, or when the last handle is dropped.
    closed: CancellationToken,
    metrics: Option<MessagingMetrics>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.closed.cancel();
    }
}

impl Broker {
    /// Connects (retrying briefly, so a broker that starts alongside us is waited for),
    /// declares the topology under `prefix` and starts the reconnect supervisor.
    pub async fn connect(
        url: &str,
        prefix: &str,
        settings: BrokerSettings,
    ) -> Result<Broker, MessagingError> {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(2))
            .with_max_times(6);
        let connection = (|| dial_and_declare(url, prefix, &settings))
            .retry(backoff)
            .when(|error| {
                matches!(
                    error,
                    MessagingError::Connect(_) | MessagingError::Unavailable(_)
                )
            })
            .notify(|error, delay| {
                tracing::warn!(%error, ?delay, "Broker not reachable yet, retrying");
            })
            .await?;
        let (current, _) = watch::channel(Some(Arc::new(connection)));
        let metrics = settings.metrics.as_ref().map(MessagingMetrics::register);
        let inner = Arc::new(Inner {
            metrics,
            url: url.to_owned(),
            prefix: prefix.to_owned(),
            settings,
            current,
            closed: CancellationToken::new(),
        });
        tokio::spawn(supervise(Arc::downgrade(&inner), inner.closed.clone()));
        Ok(Broker { inner })
    }

    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    pub fn settings(&self) -> &BrokerSettings {
        &self.inner.settings
    }

    /// True while the connection is up and not blocked by a broker resource alarm (for
    /// `/readyz`: a blocked broker accepts no publishes).
    pub async fn is_ready(&self) -> bool {
        self.inner
            .current
            .borrow()
            .as_ref()
            .is_some_and(|connection| {
                let status = connection.status();
                status.connected() && !status.blocked()
            })
    }

    /// A publisher with its own confirm-mode channel.
    pub async fn publisher(&self) -> Result<Publisher, MessagingError> {
        Ok(Publisher::new(self.clone()))
    }

    /// Deletes every queue and exchange under this broker's prefix; tests call it to clean up.
    pub async fn delete_topology(&self) -> Result<(), MessagingError> {
        let channel = self.connection().await?.create_channel().await?;
        topology::delete(&channel, &self.inner.prefix).await?;
        // Closing a channel we are done with; an error here changes nothing for the caller.
        let _ = channel.close(200, "OK".into()).await;
        Ok(())
    }

    /// Closes the connection and stops reconnecting. Unacknowledged deliveries go back to
    /// their queues, exactly as if the process had died.
    pub async fn close(&self) {
        self.inner.closed.cancel();
        let connection = self.inner.current.send_replace(None);
        if let Some(connection) = connection {
            let _ = connection.close(200, "OK".into()).await;
        }
    }

    /// The live connection, waiting up to `connect_wait` for the supervisor to re-dial.
    pub(crate) async fn connection(&self) -> Result<Arc<Connection>, MessagingError> {
        let wait = self.inner.settings.connect_wait;
        let mut receiver = self.inner.current.subscribe();
        let ready = tokio::time::timeout(wait, async {
            receiver
                .wait_for(|current| {
                    current
                        .as_ref()
                        .is_some_and(|connection| connection.status().connected())
                })
                .await
                .ok()
                .and_then(|current| current.clone())
        })
        .await;
        match ready {
            Ok(Some(connection)) => Ok(connection),
            _ => Err(MessagingError::Unavailable(wait)),
        }
    }

    pub(crate) fn metrics(&self) -> Option<&MessagingMetrics> {
        self.inner.metrics.as_ref()
    }

    /// Resolves once the broker is closed for good.
    pub(crate) fn closed(&self) -> &CancellationToken {
        &self.inner.closed
    }
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: show only the prefix.
        f.debug_struct("Broker")
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

async fn dial_and_declare(
    url: &str,
    prefix: &str,
    settings: &BrokerSettings,
) -> Result<Connection, MessagingError> {
    let properties = ConnectionProperties::default()
        .with_connection_name(settings.connection_name.clone().into());
    // Bounded: on a network that silently drops packets the handshake would otherwise hang,
    // and with it the supervisor, for as long as the TCP stack keeps trying.
    let dial = async {
        let connection = Connection::connect(url, properties)
            .await
            .map_err(MessagingError::Connect)?;
        let channel = connection.create_channel().await?;
        topology::declare(&channel, prefix, settings.delivery_limit).await?;
        let _ = channel.close(200, "OK".into()).await;
        Ok(connection)
    };
    tokio::time::timeout(settings.connect_wait, dial)
        .await
        .map_err(|_| MessagingError::Unavailable(settings.connect_wait))?
}

/// Watches the connection and re-dials it when it breaks, until the broker is closed.
/// Holds only a weak reference, so dropping every [`Broker`] handle ends it.
async fn supervise(inner: Weak<Inner>, closed: CancellationToken) {
    loop {
        tokio::select! {
            () = closed.cancelled() => return,
            () = tokio::time::sleep(WATCH_INTERVAL) => {}
        }
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let healthy = strong
            .current
            .borrow()
            .as_ref()
            .is_some_and(|connection| connection.status().connected());
        if healthy {
            continue;
        }
        tracing::warn!(prefix = %strong.prefix, "Broker connection lost, reconnecting");
        strong.current.send_replace(None);
        let (url, prefix, settings) = (
            strong.url.clone(),
            strong.prefix.clone(),
            strong.settings.clone(),
        );
        drop(strong);

        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(10))
            .with_jitter()
            .without_max_times();
        let redial = (|| dial_and_declare(&url, &prefix, &settings))
            .retry(backoff)
            .notify(|error, delay| {
                tracing::warn!(%error, ?delay, "Broker reconnect failed, retrying");
            });
        let connection = tokio::select! {
            () = closed.cancelled() => return,
            result = redial => match result {
                Ok(connection) => connection,
                // Unreachable with an unbounded backoff; stay in the loop to try again.
                Err(error) => {
                    tracing::warn!(%error, "Broker reconnect gave up");
                    continue;
                }
            },
        };
        let Some(strong) = inner.upgrade() else {
            return;
        };
        strong.current.send_replace(Some(Arc::new(connection)));
        tracing::info!(prefix = %prefix, "Broker connection re-established");
    }
}
