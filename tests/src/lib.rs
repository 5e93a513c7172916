//! End-to-end tests of the whole Contactsync stack against both emulators.
//!
//! [`Stack::start`] runs both emulators and all seven services in the test process, each test with
//! its own database, queue prefix and ports, over the real RabbitMQ and PostgreSQL. Tests act as
//! users do: through Graph's and Salesforce's real APIs on the emulators (a user editing in
//! Outlook or in Salesforce) and through the admin API; they read final state through the
//! emulators' control API, which does not count as traffic.

mod stack;
mod users;

pub use stack::{Options, Stack};
pub use users::TestUser;

/// Polls `probe` until it yields `Some`, or panics after `secs` seconds with `what`.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {secs}s waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
