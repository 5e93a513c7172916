//! Connects what every service needs: broker, database, metrics and its HTTP listener.

use config::CommonSettings;
use messaging::{Broker, BrokerSettings, Publisher};
use telemetry::Metrics;
use tokio::net::TcpListener;

use crate::Readiness;

#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("broker: {0}")]
    Broker(#[from] messaging::MessagingError),
    #[error("database: {0}")]
    Database(#[from] store::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// The connected infrastructure of one service, built from its [`CommonSettings`].
pub struct Infra {
    pub broker: Broker,
    pub publisher: Publisher,
    pub pool: store::Pool,
    pub metrics: Metrics,
    pub listener: TcpListener,
}

impl Infra {
    /// Binds the listener first (so a port clash fails fast), connects the broker (declaring the
    /// topology) and the database, and applies pending migrations: every service can start
    /// first on an empty database.
    pub async fn connect(service: &str, common: &CommonSettings) -> Result<Infra, BootError> {
        let listener = TcpListener::bind(common.http_listen)
            .await
            .map_err(|source| BootError::Listen {
                addr: common.http_listen,
                source,
            })?;
        let metrics = Metrics::new();
        let broker = Broker::connect(
            common.amqp_url.expose(),
            &common.queue_prefix,
            BrokerSettings {
                prefetch: common.prefetch,
                delivery_limit: common.delivery_limit,
                connection_name: service.to_owned(),
                metrics: Some(metrics.clone()),
                retry_base_delay: common.retry_base_delay,
                retry_max_delay: common.retry_max_delay,
                ..BrokerSettings::default()
            },
        )
        .await?;
        let publisher = broker.publisher().await?;
        let pool = store::connect(common.database_url.expose(), common.database_pool_size).await?;
        store::migrate(&pool).await?;
        Ok(Infra {
            broker,
            publisher,
            pool,
            metrics,
            listener,
        })
    }

    /// The bound address (differs from the setting when it asked for port 0).
    pub fn local_addr(&self) -> Result<std::net::SocketAddr, BootError> {
        self.listener
            .local_addr()
            .map_err(|source| BootError::Listen {
                addr: std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
                source,
            })
    }

    /// `/readyz` checks for the broker and the database.
    pub fn readiness(&self) -> Readiness {
        Readiness::new()
            .with_broker(self.broker.clone())
            .with_database(self.pool.clone())
    }
}
