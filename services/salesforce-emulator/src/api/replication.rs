//! Get Updated / Get Deleted (`/sobjects/{type}/updated|deleted/?start=&end=`): minute
//! granularity, 30- and 15-day windows, `INVALID_REPLICATION_DATE` (contract §3). Get Deleted
//! reads the delete log, which outlives the Recycle Bin; its `earliestDateAvailable` moves
//! forward when the log is purged (`POST /_emulator/delete-log/purge`).

use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::Ctx;
use crate::errors::{ApiError, SfError, json_response};
use crate::schema::ObjectType;
use crate::time;

/// Results reach back this far.
const UPDATED_WINDOW_DAYS: i64 = 30;
const DELETED_WINDOW_DAYS: i64 = 15;
/// More ids than this in one answer → EXCEEDED_ID_LIMIT.
const MAX_IDS: usize = 600_000;

fn replication_error(ctx: &Ctx<'_>, message: impl Into<String>) -> ApiError {
    let status =
        axum::http::StatusCode::from_u16(ctx.st.config.error_statuses.invalid_replication_date)
            .unwrap_or(axum::http::StatusCode::BAD_REQUEST);
    ApiError::new(status, SfError::new("INVALID_REPLICATION_DATE", message))
}

/// Parses and checks `start`/`end`, returning them truncated to the minute and the
/// `latestDateCovered` (≤ end and ≤ now).
/// (start, end, latestDateCovered)
type Window = (DateTime<Utc>, DateTime<Utc>, DateTime<Utc>);

fn window(ctx: &Ctx<'_>, days: i64) -> Result<Window, ApiError> {
    let get = |name: &str| -> Result<DateTime<Utc>, ApiError> {
        let raw = ctx.param(name).ok_or_else(|| {
            ApiError::bad_request(SfError::new(
                "MISSING_ARGUMENT",
                format!("Missing required parameter: {name}"),
            ))
        })?;
        time::parse_datetime(raw).ok_or_else(|| {
            ApiError::bad_request(SfError::new(
                "INVALID_REPLICATION_DATE",
                format!("{name}: unable to parse date '{raw}', expected yyyy-MM-ddTHH:mm:ss+hh:mm"),
            ))
        })
    };
    let start = time::truncate_minute(get("start")?);
    let end = time::truncate_minute(get("end")?);
    if end < start + Duration::minutes(1) {
        // Salesforce's own wording, reversed as it is.
        return Err(replication_error(
            ctx,
            "startDate must be at least one minute greater than endDate",
        ));
    }
    if start < time::truncate_minute(ctx.now) - Duration::days(days) {
        return Err(replication_error(
            ctx,
            format!("startDate cannot be more than {days} days ago"),
        ));
    }
    let latest = end.min(time::truncate_minute(ctx.now));
    Ok((start, end, latest))
}

pub fn updated(ctx: &mut Ctx<'_>, o: ObjectType) -> Result<Response, ApiError> {
    let (start, _end, latest) = window(ctx, UPDATED_WINDOW_DAYS)?;
    let org = ctx.st.org.read();
    let t = org.table(o);
    let stamp = o.def().must("SystemModstamp");
    let mut rows = t.range(
        stamp,
        std::ops::Bound::Included(start),
        std::ops::Bound::Excluded(latest),
    );
    rows.retain(|&r| !t.is_deleted(r));
    if rows.len() > MAX_IDS {
        return Err(ApiError::bad_request(SfError::new(
            "EXCEEDED_ID_LIMIT",
            "record limit reached. cannot submit more than 600000 records into this call",
        )));
    }
    rows.sort_unstable();
    let ids: Vec<&str> = rows.iter().map(|&r| t.id(r)).collect();
    Ok(json_response(
        axum::http::StatusCode::OK,
        &json!({"ids": ids, "latestDateCovered": time::format_rest(&latest)}),
    ))
}

pub fn deleted(ctx: &mut Ctx<'_>, o: ObjectType) -> Result<Response, ApiError> {
    let (start, _end, latest) = window(ctx, DELETED_WINDOW_DAYS)?;
    let org = ctx.st.org.read();
    let records: Vec<_> = org
        .deletions
        .entries
        .iter()
        .filter(|d| d.object == o && d.at >= start && d.at < latest)
        .map(|d| json!({"id": d.id, "deletedDate": time::format_rest(&d.at)}))
        .collect();
    if records.len() > MAX_IDS {
        return Err(ApiError::bad_request(SfError::new(
            "EXCEEDED_ID_LIMIT",
            "record limit reached. cannot submit more than 600000 records into this call",
        )));
    }
    Ok(json_response(
        axum::http::StatusCode::OK,
        &json!({
            "deletedRecords": records,
            "earliestDateAvailable": time::format_rest(&earliest_date_available(ctx, &org)),
            "latestDateCovered": time::format_rest(&latest),
        }),
    ))
}

/// Where the delete log begins: the window's edge, or later if a purge of the log
/// (`POST /_emulator/delete-log/purge`) removed deletes after it. Rounded up to the minute, so a
/// `start` before it, as the replication API compares at minute granularity, always means
/// deletes may have been missed.
fn earliest_date_available(ctx: &Ctx<'_>, org: &crate::store::Org) -> DateTime<Utc> {
    let edge = time::truncate_minute(ctx.now) - Duration::days(DELETED_WINDOW_DAYS);
    match org.deletions.purged_through {
        // The minute after the newest purged delete: a window starting at or before its
        // minute would have reported it.
        Some(purged) => edge.max(time::truncate_minute(purged) + Duration::minutes(1)),
        None => edge,
    }
}
