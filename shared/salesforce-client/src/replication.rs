//! Get Deleted (the replication API) with its window rules checked before calling.

use chrono::{DateTime, Duration, DurationRound, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use tracing::instrument;

use crate::client::{SalesforceClient, enc};
use crate::error::SalesforceError;
use crate::types::{datetime, opt_datetime, serialize_datetime};

/// How far back Get Deleted can see (the delete log keeps 15 days).
pub const DELETED_MAX_AGE_DAYS: i64 = 15;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletedRecord {
    pub id: String,
    #[serde(deserialize_with = "datetime", serialize_with = "serialize_datetime")]
    pub deleted_date: DateTime<Utc>,
}

/// The answer of Get Deleted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletedRecords {
    #[serde(default)]
    pub deleted_records: Vec<DeletedRecord>,
    /// The last physically purged delete: later than the asked start means deletes were lost.
    #[serde(default, deserialize_with = "opt_datetime")]
    pub earliest_date_available: Option<DateTime<Utc>>,
    /// Where the next window starts (may lag `end` behind long-running transactions).
    #[serde(deserialize_with = "datetime")]
    pub latest_date_covered: DateTime<Utc>,
}

impl DeletedRecords {
    /// Whether deletes since `start` may have been purged before we saw them: a full read is
    /// needed to learn what is gone.
    pub fn missed_deletes_since(&self, start: DateTime<Utc>) -> bool {
        self.earliest_date_available.is_some_and(|e| e > start)
    }
}

/// Applies the replication window rules Salesforce enforces (seconds ignored, start before end
/// by at least a minute, not older than `max_age_days`), so a bad window is refused locally
/// with a clear error instead of an `INVALID_REPLICATION_DATE`. Returns the truncated window.
pub fn check_window(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
    max_age_days: i64,
) -> Result<(DateTime<Utc>, DateTime<Utc>), SalesforceError> {
    let minute = Duration::minutes(1);
    let truncate = |t: DateTime<Utc>| t.duration_trunc(minute).unwrap_or(t);
    let (start, end) = (truncate(start), truncate(end));
    if end - start < minute {
        return Err(SalesforceError::InvalidWindow(format!(
            "end {end} must be at least one minute after start {start} (seconds are ignored)"
        )));
    }
    if start < now - Duration::days(max_age_days) {
        return Err(SalesforceError::InvalidWindow(format!(
            "start {start} is more than {max_age_days} days back"
        )));
    }
    Ok((start, end))
}

fn param(t: DateTime<Utc>) -> String {
    enc(&t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string())
}

impl SalesforceClient {
    /// Ids of `sobject` records deleted in `[start, end)` (Get Deleted, 15-day window). The
    /// window is judged by the server's clock ([`SalesforceClient::server_now`]) when known.
    #[instrument(skip_all, fields(username = %self.username(), sobject = %sobject))]
    pub async fn get_deleted(
        &self,
        sobject: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<DeletedRecords, SalesforceError> {
        let now = self.server_now().unwrap_or_else(Utc::now);
        let (start, end) = check_window(start, end, now, DELETED_MAX_AGE_DAYS)?;
        let path = format!(
            "{}/sobjects/{}/deleted/?start={}&end={}",
            self.data_root(),
            enc(sobject),
            param(start),
            param(end)
        );
        self.send(Method::GET, &path, None, &[], true)
            .await?
            .json("get deleted")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::error::Disposition;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn a_window_is_truncated_to_minutes() {
        let (s, e) = check_window(
            t("2024-05-06T10:00:15Z"),
            t("2024-05-06T10:05:59Z"),
            t("2024-05-07T00:00:00Z"),
            15,
        )
        .unwrap();
        assert_eq!(s, t("2024-05-06T10:00:00Z"));
        assert_eq!(e, t("2024-05-06T10:05:00Z"));
    }

    #[test]
    fn a_window_under_a_minute_or_reversed_is_refused() {
        let now = t("2024-05-07T00:00:00Z");
        let short = check_window(
            t("2024-05-06T10:00:05Z"),
            t("2024-05-06T10:00:55Z"),
            now,
            15,
        );
        assert!(matches!(short, Err(SalesforceError::InvalidWindow(_))));
        let reversed = check_window(
            t("2024-05-06T11:00:00Z"),
            t("2024-05-06T10:00:00Z"),
            now,
            15,
        );
        assert!(matches!(reversed, Err(SalesforceError::InvalidWindow(_))));
    }

    #[test]
    fn a_start_older_than_the_log_means_resync() {
        let err = check_window(
            t("2024-04-01T00:00:00Z"),
            t("2024-05-06T00:00:00Z"),
            t("2024-05-07T00:00:00Z"),
            15,
        )
        .unwrap_err();
        assert_eq!(err.disposition(), Disposition::Resync);
    }

    #[test]
    fn a_purge_after_the_start_means_missed_deletes() {
        let json = r#"{"deletedRecords":[{"id":"003A","deletedDate":"2013-05-07T22:07:19.000+0000"}],
            "earliestDateAvailable":"2013-05-03T15:57:00.000+0000",
            "latestDateCovered":"2013-05-08T21:20:00.000+0000"}"#;
        let d: DeletedRecords = serde_json::from_str(json).unwrap();
        assert_eq!(d.deleted_records[0].id, "003A");
        assert!(d.missed_deletes_since(t("2013-05-01T00:00:00Z")));
        assert!(!d.missed_deletes_since(t("2013-05-04T00:00:00Z")));
    }
}
