//! The sync tables of PostgreSQL and their queries: orgs, their onboarding checks and their
//! Salesforce API budget, users and settings, sessions (their decisions and results kept per
//! write batch, and the on-demand requests that wait on them), cursors, links, per-item errors,
//! the outbox, webhook subscriptions, the mass-delete guard's pending deletions, the routing of
//! Salesforce Outbound Messages, and the per-org Salesforce change feed and its users' inboxes;
//! the pages' views of them (`overview`) and settings-link revocation.
//!
//! Every service that touches these tables goes through this crate, so a table's invariants (one
//! active session per user, cursors moving only with the changes they cover) are kept in one place.
//! Mutations take a `Transaction`: callers decide what must commit together.

pub mod api_budget;
pub mod deletions;
pub mod fleet;
pub mod item_errors;
pub mod links;
pub mod mailbox;
pub mod org_checks;
pub mod org_feed;
pub mod orgs;
pub mod outbound;
pub mod outbox;
pub mod overview;
pub mod request;
pub mod schedule;
pub mod secrets;
pub mod session_batches;
pub mod sessions;
pub mod settings_links;
#[cfg(feature = "testing")]
pub mod simulate;
pub mod subscriptions;
pub mod trigger;
pub mod users;

pub use sync_core::Disposition;

/// A read-only transaction on one snapshot (`REPEATABLE READ`): a page or a status assembled
/// from several queries sees each session's commit whole or not at all (held deletions with the
/// guard's error, a finished session with its summary).
pub async fn snapshot(
    client: &mut deadpool_postgres::Object,
) -> Result<deadpool_postgres::Transaction<'_>, StateError> {
    Ok(client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?)
}

/// What can go wrong reading or writing the sync state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("database error: {0}")]
    Db(#[from] tokio_postgres::Error),
    #[error("no database connection available: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("stored JSON does not decode: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("{0} not found")]
    NotFound(String),
    #[error("invalid: {0}")]
    Invalid(String),
}

impl StateError {
    /// What to do next: connection trouble, serialization failures, deadlocks and lock waits
    /// that timed out go away on a retry; a missing row is that one item's problem; a bad value
    /// or stored JSON that does not decode is a bug an operator must look at.
    pub fn disposition(&self) -> Disposition {
        match self {
            StateError::Pool(_) => Disposition::Retry { after: None },
            StateError::Db(e)
                if e.is_closed()
                    || e.code().is_some_and(|c| {
                        c == &tokio_postgres::error::SqlState::T_R_SERIALIZATION_FAILURE
                            || c == &tokio_postgres::error::SqlState::T_R_DEADLOCK_DETECTED
                            || c == &tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE
                    }) =>
            {
                Disposition::Retry { after: None }
            }
            StateError::NotFound(_) => Disposition::PermanentItem,
            StateError::Db(_) | StateError::Decode(_) | StateError::Invalid(_) => {
                Disposition::Fatal
            }
        }
    }

    /// True when the same operation may succeed if retried ([`Self::disposition`] is a retry).
    pub fn is_transient(&self) -> bool {
        self.disposition().is_transient()
    }
}
