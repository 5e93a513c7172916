//! The sync tables of PostgreSQL and their queries: users and settings, sessions, cursors, links,
//! the outbox and webhook subscriptions.
//!
//! Every service that touches these tables goes through this crate, so a table's invariants (one
//! active session per user, cursors moving only with the changes they cover) are kept in one place.
//! Mutations take a `Transaction`: callers decide what must commit together.

pub mod links;
pub mod orgs;
pub mod outbox;
pub mod schedule;
pub mod secrets;
pub mod sessions;
pub mod subscriptions;
pub mod trigger;
pub mod users;

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
    /// True when the same operation may succeed if retried (connection trouble, serialization
    /// failures), as opposed to a bad request or a bug.
    pub fn is_transient(&self) -> bool {
        match self {
            StateError::Pool(_) => true,
            StateError::Db(e) => {
                e.is_closed()
                    || e.code().is_some_and(|c| {
                        c == &tokio_postgres::error::SqlState::T_R_SERIALIZATION_FAILURE
                            || c == &tokio_postgres::error::SqlState::T_R_DEADLOCK_DETECTED
                    })
            }
            _ => false,
        }
    }
}
