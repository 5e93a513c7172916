//! Change batches: one side's read of a session, from a fetcher to the reconciler.

use serde::{Deserialize, Serialize};
use sync_core::{ExchangeChanges, SalesforceChanges};

use crate::{Failure, Header};

/// One side's read, as the sync core takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "side", content = "changes")]
pub enum SideRead {
    Exchange(ExchangeChanges),
    Salesforce(SalesforceChanges),
}

impl SideRead {
    /// True for the mailbox side.
    pub fn is_exchange(&self) -> bool {
        matches!(self, SideRead::Exchange(_))
    }
}

/// A fetcher's read of one side for one session.
///
/// `cursor` is the side's position after this read, opaque to everyone but its fetcher; the
/// reconciler stores it only when the session that took these changes finishes, so a cursor never
/// passes changes that were not durably processed. A failed read carries `failure` and a read
/// of kind `Failed`: the session then ends failed and nothing is deleted (C5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeBatch {
    #[serde(flatten)]
    pub header: Header,
    pub read: SideRead,
    #[serde(default)]
    pub cursor: Option<serde_json::Value>,
    #[serde(default)]
    pub failure: Option<Failure>,
}
