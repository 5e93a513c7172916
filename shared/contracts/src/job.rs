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
    /// Deletions waiting for their burst to settle have settled (C5): the session judges them.
    DeletionsDue,
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
            Trigger::DeletionsDue => "deletions_due",
        }
    }

    /// Someone asked for this session and may be waiting for it (`sync?wait`, "Sync now", a
    /// settings change, a confirmation): deletions waiting for their burst to settle are judged
    /// at once, the guard included (C5, C6). Notifications, the schedule and settled bursts are
    /// not on demand.
    pub fn is_on_demand(self) -> bool {
        match self {
            Trigger::Manual | Trigger::Settings | Trigger::ConfirmDeletions => true,
            Trigger::Schedule
            | Trigger::Notification
            | Trigger::Pending
            | Trigger::DeletionsDue => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_someone_asked_for_is_on_demand() {
        let on_demand: Vec<&str> = [
            Trigger::Schedule,
            Trigger::Manual,
            Trigger::Notification,
            Trigger::Settings,
            Trigger::Pending,
            Trigger::ConfirmDeletions,
            Trigger::DeletionsDue,
        ]
        .into_iter()
        .filter(|t| t.is_on_demand())
        .map(Trigger::as_str)
        .collect();
        assert_eq!(on_demand, ["manual", "settings", "confirm_deletions"]);
    }

    #[test]
    fn deletions_due_is_spelled_as_stored() {
        assert_eq!(
            serde_json::to_value(Trigger::DeletionsDue).expect("serialises"),
            serde_json::json!("deletions_due")
        );
    }
}

/// Start a session: each fetcher reads its side since its cursor and publishes a change batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncJob {
    #[serde(flatten)]
    pub header: Header,
    pub trigger: Trigger,
}
