//! The fleet at a glance, for the scheduler's gauges and the alerts built on them: users by the
//! outcome of their last session, users whose sessions keep failing, held deletions (C5), orgs
//! where every user fails, recent sessions by state, and lost Graph subscriptions.
//!
//! One query per figure, each served by an index (a user's sessions by `(user_id, created_at)`,
//! recent sessions by their time-ordered v7 `job_id`), so a scrape-sized snapshot stays cheap at
//! thousands of users; [`summarize`] folds the per-user rows without I/O.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::StateError;

/// A user whose last this-many finished sessions all failed is "failing".
pub const FAILING_STREAK: usize = 3;

/// How far back [`recent_sessions`] looks.
pub const RECENT_WINDOW_MINUTES: i64 = 15;

/// What the fleet gauges need to know of one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserHealth {
    pub org_id: String,
    pub enabled: bool,
    /// States of the user's last finished sessions, newest first, at most [`FAILING_STREAK`].
    pub recent: Vec<String>,
    /// The mass-delete guard holds deletions for the user (C5).
    pub deletions_held: bool,
}

/// The fleet's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fleet {
    /// Users by state: `disabled`, `never_synced`, or the last session's `succeeded`, `partial`,
    /// `failed`.
    pub users: BTreeMap<&'static str, u64>,
    /// Enabled users whose last [`FAILING_STREAK`] sessions all failed.
    pub failing_users: u64,
    pub deletions_held: u64,
    /// Orgs with enabled users that have had sessions, every one of whose last session failed.
    pub failing_orgs: u64,
}

/// The states a user is counted under: every one is reported, zero included, so a state that
/// empties drops to 0 instead of keeping its last value.
pub const USER_STATES: [&str; 5] = ["disabled", "never_synced", "succeeded", "partial", "failed"];

/// Session states, for [`recent_sessions`].
pub const SESSION_STATES: [&str; 5] = ["fetching", "writing", "succeeded", "partial", "failed"];

/// Folds per-user rows into the fleet's figures.
pub fn summarize(users: &[UserHealth]) -> Fleet {
    let mut fleet = Fleet {
        users: USER_STATES.iter().map(|state| (*state, 0)).collect(),
        ..Fleet::default()
    };
    // Per org: (enabled users with a finished session, of whom the last session failed).
    let mut orgs: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for user in users {
        if user.deletions_held {
            fleet.deletions_held += 1;
        }
        let state = match (user.enabled, user.recent.first()) {
            (false, _) => "disabled",
            (true, None) => "never_synced",
            (true, Some(last)) => USER_STATES
                .iter()
                .copied()
                .find(|known| known == last)
                .unwrap_or("failed"),
        };
        *fleet.users.entry(state).or_default() += 1;
        if !user.enabled || user.recent.is_empty() {
            continue;
        }
        let failed = state == "failed";
        if user.recent.len() >= FAILING_STREAK
            && user
                .recent
                .iter()
                .take(FAILING_STREAK)
                .all(|s| s == "failed")
        {
            fleet.failing_users += 1;
        }
        let org = orgs.entry(user.org_id.as_str()).or_default();
        org.0 += 1;
        if failed {
            org.1 += 1;
        }
    }
    fleet.failing_orgs = orgs
        .values()
        .filter(|(synced, failed)| *synced > 0 && synced == failed)
        .count() as u64;
    fleet
}

/// Every user with what [`summarize`] needs.
pub async fn user_health(
    client: &(impl GenericClient + Sync),
) -> Result<Vec<UserHealth>, StateError> {
    let rows = client
        .query(
            "SELECT u.org_id, COALESCE(cs.enabled, false),
                    ARRAY(SELECT s.state FROM sync_sessions s
                          WHERE s.user_id = u.id AND s.state NOT IN ('fetching', 'writing')
                          ORDER BY s.created_at DESC LIMIT $1),
                    COALESCE(st.last_error->>'code' = 'mass_delete_guard', false)
             FROM users u
             LEFT JOIN contact_settings cs ON cs.user_id = u.id
             LEFT JOIN user_sync_state st ON st.user_id = u.id",
            &[&(FAILING_STREAK as i64)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| UserHealth {
            org_id: row.get(0),
            enabled: row.get(1),
            recent: row.get(2),
            deletions_held: row.get(3),
        })
        .collect())
}

/// Sessions started in the [`RECENT_WINDOW_MINUTES`] before `now`, by state (every state of
/// [`SESSION_STATES`] present, zero included).
pub async fn recent_sessions(
    client: &(impl GenericClient + Sync),
    now: DateTime<Utc>,
) -> Result<BTreeMap<&'static str, u64>, StateError> {
    let since = now - Duration::minutes(RECENT_WINDOW_MINUTES);
    let rows = client
        .query(
            // Job ids are UUIDv7, ordered by creation time: the primary key finds the window
            // without scanning every session ever run; created_at trims the boundary exactly.
            "SELECT state, count(*) FROM sync_sessions
             WHERE job_id >= $1 AND created_at >= $2 GROUP BY state",
            &[&v7_floor(since), &since],
        )
        .await?;
    let mut counts: BTreeMap<&'static str, u64> =
        SESSION_STATES.iter().map(|state| (*state, 0)).collect();
    for row in rows {
        let state: String = row.get(0);
        let count: i64 = row.get(1);
        if let Some(known) = SESSION_STATES.iter().find(|known| **known == state) {
            counts.insert(known, u64::try_from(count).unwrap_or(0));
        }
    }
    Ok(counts)
}

/// Graph subscriptions whose expiry has passed: renewal failed for too long (lost).
pub async fn expired_subscriptions(
    client: &(impl GenericClient + Sync),
    now: DateTime<Utc>,
) -> Result<u64, StateError> {
    let row = client
        .query_one(
            "SELECT count(*) FROM graph_subscriptions WHERE expires_at < $1",
            &[&now],
        )
        .await?;
    Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
}

/// The smallest UUIDv7 of `at`'s millisecond: every v7 id created at or after `at` sorts after it.
pub fn v7_floor(at: DateTime<Utc>) -> Uuid {
    let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    bytes[6] = 0x70; // version 7
    bytes[8] = 0x80; // RFC 4122 variant
    Uuid::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(org: &str, enabled: bool, recent: &[&str]) -> UserHealth {
        UserHealth {
            org_id: org.into(),
            enabled,
            recent: recent.iter().map(|s| (*s).to_owned()).collect(),
            deletions_held: false,
        }
    }

    #[test]
    fn users_are_counted_by_their_last_session_and_every_state_is_reported() {
        let fleet = summarize(&[
            user("a", false, &["failed"]),
            user("a", true, &[]),
            user("a", true, &["succeeded", "failed"]),
            user("a", true, &["partial"]),
        ]);
        assert_eq!(fleet.users["disabled"], 1);
        assert_eq!(fleet.users["never_synced"], 1);
        assert_eq!(fleet.users["succeeded"], 1);
        assert_eq!(fleet.users["partial"], 1);
        assert_eq!(fleet.users["failed"], 0);
        assert_eq!(fleet.failing_orgs, 0);
    }

    #[test]
    fn a_user_is_failing_only_after_three_failed_sessions_in_a_row() {
        let fleet = summarize(&[
            user("a", true, &["failed", "failed", "failed"]),
            user("a", true, &["failed", "failed"]),
            user("a", true, &["failed", "succeeded", "failed"]),
            user("a", false, &["failed", "failed", "failed"]),
        ]);
        assert_eq!(fleet.failing_users, 1);
        assert_eq!(fleet.users["failed"], 3);
    }

    #[test]
    fn an_org_fails_when_every_enabled_user_with_a_session_failed_last() {
        let fleet = summarize(&[
            // Org a: both synced users failed; the disabled and the new one do not count.
            user("a", true, &["failed"]),
            user("a", true, &["failed", "succeeded"]),
            user("a", false, &["succeeded"]),
            user("a", true, &[]),
            // Org b: one user still succeeds.
            user("b", true, &["failed"]),
            user("b", true, &["succeeded"]),
            // Org c: nobody synced yet.
            user("c", true, &[]),
        ]);
        assert_eq!(fleet.failing_orgs, 1);
    }

    #[test]
    fn held_deletions_are_counted_per_user() {
        let mut held = user("a", true, &["succeeded"]);
        held.deletions_held = true;
        let fleet = summarize(&[held, user("a", true, &["succeeded"])]);
        assert_eq!(fleet.deletions_held, 1);
    }

    #[test]
    fn the_v7_floor_sorts_before_every_v7_id_of_the_same_millisecond_and_after() {
        let at = Utc::now();
        let floor = v7_floor(at);
        assert_eq!(floor.get_version_num(), 7);
        let later = Uuid::now_v7();
        assert!(floor <= later, "{floor} <= {later}");
        let earlier = v7_floor(at - Duration::milliseconds(1));
        assert!(earlier < floor);
    }
}
