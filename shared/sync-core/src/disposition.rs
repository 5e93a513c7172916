//! What to do next about a failure, whatever failed (an API call, the database, a read): one
//! answer shared by the API clients, the sync state and the services that act on them.

use std::time::Duration;

/// What a caller should do about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Transient (throttling, a row lock, an outage): try again, after `after` when the server
    /// said so.
    Retry { after: Option<Duration> },
    /// The server-side cursor (a delta token, a query locator, a replication window) is gone:
    /// drop it and read everything again.
    Resync,
    /// This one item is bad or missing; the rest of the work goes on.
    PermanentItem,
    /// The credential was refused: get a new one and try once more.
    ReAuth,
    /// Nothing a retry can fix (permissions, configuration, a bug): an operator must act.
    Fatal,
}

impl Disposition {
    /// Whether trying again later may succeed (a retry, or a retry with a new credential).
    pub fn is_transient(self) -> bool {
        matches!(self, Disposition::Retry { .. } | Disposition::ReAuth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_retry_and_reauth_are_transient() {
        assert!(Disposition::Retry { after: None }.is_transient());
        assert!(Disposition::ReAuth.is_transient());
        for d in [
            Disposition::Resync,
            Disposition::PermanentItem,
            Disposition::Fatal,
        ] {
            assert!(!d.is_transient(), "{d:?}");
        }
    }
}
