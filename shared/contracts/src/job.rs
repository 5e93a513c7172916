//! The sync job: one session for one user, read by both fetchers.

use serde::{Deserialize, Serialize};

use crate::Header;

/// Why a session runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The periodic schedule (B3).
    Schedule,
    /// The admin API's `sync` call.
    Manual,
    /// A change notification from Graph or Salesforce.
    Notification,
    /// Settings changed (enabling, scope).
    Settings,
    /// A trigger that arrived while the previous session was in flight.
    Pending,
    /// An operator confirmed held deletions (C5).
    ConfirmDeletions,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Manual => "manual",
            Trigger::Notification => "notification",
            Trigger::Settings => "settings",
            Trigger::Pending => "pending",
            Trigger::ConfirmDeletions => "confirm_deletions",
        }
    }
}

/// Start a session: each fetcher reads its side since its cursor and publishes a change batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncJob {
    #[serde(flatten)]
    pub header: Header,
    pub trigger: Trigger,
}
