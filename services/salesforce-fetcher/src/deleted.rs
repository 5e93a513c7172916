//! Where deletions come from (B6): Get Deleted reads Salesforce's delete log, which outlives the
//! Recycle Bin (a row purged from the bin before the next read is invisible to `queryAll` but
//! still in the log). Pure decisions about its window, tested without I/O:
//!
//! - The window starts where the last one's `latestDateCovered` left off (not at our clock: the
//!   log is read at minute granularity and may lag behind long-running transactions) and ends at
//!   the server's clock, truncated to the minute.
//! - Less than a minute since the start: nothing can be asked yet (Salesforce refuses such a
//!   window); the start stays where it is. Deletions after the covered minute are read from the
//!   Recycle Bin meanwhile (the feed's `queryAll` returns them with `IsDeleted`), so one read is
//!   still enough (C6).
//! - A start further back than the log keeps (15 days), an `earliestDateAvailable` after the
//!   start (the log was purged past it), or Salesforce's `INVALID_REPLICATION_DATE`: deletes may
//!   have been lost, so the session re-lists the scope and looks up every linked Contact.

use chrono::{DateTime, Duration, DurationRound, Utc};
use salesforce_client::{DELETED_MAX_AGE_DAYS, DeletedRecords, SalesforceError};

/// What to do about deletions this session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Call Get Deleted over `[start, end)`.
    Ask {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
    /// Under a minute since `from`: no window to ask yet; the next one starts at `from` still.
    Wait { from: DateTime<Utc> },
    /// The log cannot tell what was deleted since `from` (or there is no `from`): re-list.
    Relist,
}

fn minute(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::minutes(1)).unwrap_or(t)
}

/// Plans the Get Deleted window from the cursor's start and the server's clock.
pub fn plan(from: Option<DateTime<Utc>>, server_now: DateTime<Utc>) -> Plan {
    let Some(from) = from else {
        return Plan::Relist;
    };
    let (start, end) = (minute(from), minute(server_now));
    if start < server_now - Duration::days(DELETED_MAX_AGE_DAYS) {
        return Plan::Relist;
    }
    if end - start < Duration::minutes(1) {
        return Plan::Wait { from };
    }
    Plan::Ask { start, end }
}

/// What a Get Deleted answer (or refusal) means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// These ids were deleted; the next window starts at `next`.
    Deleted {
        ids: Vec<(String, DateTime<Utc>)>,
        next: DateTime<Utc>,
    },
    /// Deletes since the start may be lost: re-list.
    Relist,
}

/// Reads a Get Deleted answer for the window that started at `start`.
pub fn outcome(
    start: DateTime<Utc>,
    answer: Result<DeletedRecords, SalesforceError>,
) -> Result<Outcome, SalesforceError> {
    match answer {
        Ok(answer) if answer.missed_deletes_since(start) => Ok(Outcome::Relist),
        Ok(answer) => Ok(Outcome::Deleted {
            ids: answer
                .deleted_records
                .into_iter()
                .map(|d| (d.id, d.deleted_date))
                .collect(),
            // Never backwards, whatever the server says.
            next: answer.latest_date_covered.max(start),
        }),
        // Refused locally (too old by the server's clock) or by Salesforce.
        Err(SalesforceError::InvalidWindow(_)) => Ok(Outcome::Relist),
        Err(e) if e.error_code() == Some("INVALID_REPLICATION_DATE") => Ok(Outcome::Relist),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use salesforce_client::{ApiError, Disposition, RestError};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn answer(earliest: &str, latest: &str, ids: &[(&str, &str)]) -> DeletedRecords {
        let records: Vec<_> = ids
            .iter()
            .map(|(id, at)| serde_json::json!({"id": id, "deletedDate": at}))
            .collect();
        serde_json::from_value(serde_json::json!({
            "deletedRecords": records,
            "earliestDateAvailable": earliest,
            "latestDateCovered": latest,
        }))
        .unwrap()
    }

    #[test]
    fn the_window_runs_from_the_cursor_to_the_server_clock_in_whole_minutes() {
        assert_eq!(
            plan(Some(t("2024-05-06T10:00:40Z")), t("2024-05-06T10:07:59Z")),
            Plan::Ask {
                start: t("2024-05-06T10:00:00Z"),
                end: t("2024-05-06T10:07:00Z"),
            }
        );
    }

    #[test]
    fn under_a_minute_nothing_is_asked_and_the_start_stays() {
        let from = t("2024-05-06T10:00:00Z");
        assert_eq!(
            plan(Some(from), t("2024-05-06T10:00:59Z")),
            Plan::Wait { from }
        );
    }

    #[test]
    fn a_cursor_older_than_the_log_or_none_means_relisting() {
        let now = t("2024-05-20T10:00:00Z");
        assert_eq!(plan(Some(t("2024-05-05T09:59:00Z")), now), Plan::Relist);
        assert_eq!(plan(None, now), Plan::Relist);
        assert!(matches!(
            plan(Some(t("2024-05-05T10:01:00Z")), now),
            Plan::Ask { .. }
        ));
    }

    #[test]
    fn the_next_window_starts_at_latest_date_covered_not_at_the_end() {
        let start = t("2024-05-06T10:00:00Z");
        let got = outcome(
            start,
            Ok(answer(
                "2024-05-01T00:00:00.000+0000",
                "2024-05-06T10:05:00.000+0000",
                &[("003A", "2024-05-06T10:02:10.000+0000")],
            )),
        )
        .unwrap();
        assert_eq!(
            got,
            Outcome::Deleted {
                ids: vec![("003A".into(), t("2024-05-06T10:02:10Z"))],
                next: t("2024-05-06T10:05:00Z"),
            }
        );
    }

    #[test]
    fn a_log_purged_past_the_start_means_relisting() {
        let got = outcome(
            t("2024-05-06T10:00:00Z"),
            Ok(answer(
                "2024-05-06T11:00:00.000+0000",
                "2024-05-06T12:00:00.000+0000",
                &[],
            )),
        )
        .unwrap();
        assert_eq!(got, Outcome::Relist);
    }

    #[test]
    fn invalid_replication_date_means_relisting_and_other_errors_fail_the_read() {
        let refused = SalesforceError::Api(ApiError {
            status: 400,
            error: Some(RestError {
                message: "startDate before org replication enabled date".into(),
                error_code: "INVALID_REPLICATION_DATE".into(),
                fields: vec![],
            }),
            disposition: Disposition::Resync,
        });
        let start = t("2024-05-06T10:00:00Z");
        assert_eq!(outcome(start, Err(refused)).unwrap(), Outcome::Relist);
        assert_eq!(
            outcome(start, Err(SalesforceError::InvalidWindow("old".into()))).unwrap(),
            Outcome::Relist
        );
        let outage = SalesforceError::Api(ApiError {
            status: 503,
            error: None,
            disposition: Disposition::Retry { after: None },
        });
        assert!(outcome(start, Err(outage)).is_err());
    }
}
