//! Throw-away databases for tests: each test gets its own, migrated, and dropped afterwards.

use std::str::FromStr as _;

use crate::{Pool, StoreError, admin_client, connect, ensure_database, migrate, quote_identifier};

/// Where test databases are created: `TEST_DATABASE_URL`, else the local server as `postgres`.
const DEFAULT_SERVER_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A migrated database of its own; dropped (best effort) when this value is dropped.
pub struct TestDatabase {
    pub pool: Pool,
    /// The URL of the database, for code that connects by itself (e.g. `App::build`).
    pub url: String,
    pub name: String,
    dropped: bool,
}

/// Creates `contactsync_test_<uuid>` and applies every migration to it.
pub async fn fresh_database() -> Result<TestDatabase, StoreError> {
    fresh_database_at(None).await
}

/// Like [`fresh_database`], but applies the migrations only up to and including `version`
/// (`None`: all), so a test can store rows as an older version would have and then run
/// [`migrate`] to see a later migration convert them.
pub async fn fresh_database_at(version: Option<i32>) -> Result<TestDatabase, StoreError> {
    let name = format!("contactsync_test_{}", uuid::Uuid::new_v4().simple());
    let server =
        std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_SERVER_URL.to_owned());
    let mut url =
        url::Url::parse(&server).map_err(|error| StoreError::InvalidUrl(error.to_string()))?;
    url.set_path(&name);
    let url = url.to_string();
    ensure_database(&url).await?;
    let pool = connect(&url, 4).await?;
    match version {
        None => migrate(&pool).await?,
        Some(version) => {
            let mut client = pool.get().await?;
            crate::embedded::migrations::runner()
                .set_target(refinery::Target::Version(version))
                .run_async(&mut **client)
                .await?;
        }
    }
    Ok(TestDatabase {
        pool,
        url,
        name,
        dropped: false,
    })
}

impl TestDatabase {
    /// Drops the database now (prefer this at the end of a test; `Drop` is the fallback).
    pub async fn drop_database(mut self) -> Result<(), StoreError> {
        self.dropped = true;
        self.pool.close();
        drop_named(&self.url, &self.name).await
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        self.pool.close();
        let (url, name) = (self.url.clone(), self.name.clone());
        // Drop cannot await, and may run inside a runtime that must not block: use a thread
        // with a runtime of its own.
        let joined = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(drop_named(&url, &name)).ok()
        })
        .join();
        if !matches!(joined, Ok(Some(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

async fn drop_named(url: &str, name: &str) -> Result<(), StoreError> {
    let config = tokio_postgres::Config::from_str(url)
        .map_err(|error| StoreError::InvalidUrl(error.to_string()))?;
    let client = admin_client(config).await?;
    // FORCE: a connection a test leaked (e.g. a still-running service task) must not keep it.
    client
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_identifier(name)
        ))
        .await?;
    Ok(())
}
