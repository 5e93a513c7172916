//! PostgreSQL pool and the schema migrations of Contactsync.
//!
//! One pool per process ([`connect`]), one migration runner ([`migrate`]) applied at start-up by
//! every service (and by `contactsync migrate` / the Kubernetes Job). Queries live next to the
//! code that owns each table, not here.

#[cfg(feature = "testing")]
pub mod testing;

use std::str::FromStr as _;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

pub type Pool = deadpool_postgres::Pool;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// An arbitrary constant: the advisory lock that serialises migration runs, so replicas starting
/// together (or tests sharing a server) never apply the same migration twice.
const MIGRATION_LOCK: i64 = 0x0c0_47ac_75ec;

/// How long a caller waits for a pooled connection before the operation fails.
const POOL_WAIT: Duration = Duration::from_secs(10);
/// How long opening one new connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The readiness probe's budget.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DATABASE_URL is not a valid PostgreSQL URL: {0}")]
    InvalidUrl(String),
    #[error("the database pool could not be built: {0}")]
    Pool(String),
    #[error("no database connection available: {0}")]
    Unavailable(#[from] deadpool_postgres::PoolError),
    #[error("database error: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("applying migrations failed: {0}")]
    Migration(#[from] refinery::Error),
}

/// A pool of at most `max_size` connections to `database_url` (not dialled until first use).
pub async fn connect(database_url: &str, max_size: usize) -> Result<Pool, StoreError> {
    let mut config = tokio_postgres::Config::from_str(database_url)
        .map_err(|error| StoreError::InvalidUrl(error.to_string()))?;
    config.connect_timeout(CONNECT_TIMEOUT);
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            // Verified: a cheap `SELECT 1`-like check on checkout, so a connection killed by a
            // database restart is replaced instead of failing the next query.
            recycling_method: RecyclingMethod::Verified,
        },
    );
    Pool::builder(manager)
        .max_size(max_size.max(1))
        .wait_timeout(Some(POOL_WAIT))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|error| StoreError::Pool(error.to_string()))
}

/// Creates the database named in `database_url` when it does not exist, connecting to the
/// server's `postgres` database to do so.
pub async fn ensure_database(database_url: &str) -> Result<(), StoreError> {
    let config = tokio_postgres::Config::from_str(database_url)
        .map_err(|error| StoreError::InvalidUrl(error.to_string()))?;
    let name = config
        .get_dbname()
        .map(str::to_owned)
        .or_else(|| config.get_user().map(str::to_owned))
        .ok_or_else(|| StoreError::InvalidUrl("no database name".to_owned()))?;
    let client = admin_client(config).await?;
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await?
        .is_some();
    if !exists {
        match client
            .batch_execute(&format!("CREATE DATABASE {}", quote_identifier(&name)))
            .await
        {
            Ok(()) => tracing::info!(database = %name, "Created the database"),
            // Another process created it between our check and our CREATE: that is success.
            Err(error)
                if error.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

/// Applies every pending migration; idempotent and safe to run from several processes at once.
pub async fn migrate(pool: &Pool) -> Result<(), StoreError> {
    let mut object = pool.get().await?;
    let client: &mut tokio_postgres::Client = &mut object;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let report = embedded::migrations::runner().run_async(client).await;
    // Unlock before handling the outcome; if this fails the session ends with the pooled
    // connection's next recycle check anyway.
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    let report = report?;
    unlocked?;
    for migration in report.applied_migrations() {
        tracing::info!(
            version = migration.version(),
            name = migration.name(),
            "Applied migration"
        );
    }
    Ok(())
}

/// True when a connection can be had and answers (for `/readyz`).
pub async fn is_ready(pool: &Pool) -> bool {
    let check = async {
        let client = pool.get().await.ok()?;
        client.simple_query("SELECT 1").await.ok()
    };
    matches!(
        tokio::time::timeout(READY_TIMEOUT, check).await,
        Ok(Some(_))
    )
}

/// A client on the server's `postgres` database, for CREATE/DROP DATABASE.
pub(crate) async fn admin_client(
    mut config: tokio_postgres::Config,
) -> Result<tokio_postgres::Client, StoreError> {
    config.dbname("postgres");
    config.connect_timeout(CONNECT_TIMEOUT);
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "Admin connection ended");
        }
    });
    Ok(client)
}

/// Double-quotes an identifier for the few statements that cannot take a parameter.
pub(crate) fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
