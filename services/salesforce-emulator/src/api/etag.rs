//! ETags on Account rows (the only object Salesforce gives them to): `ETag` on reads,
//! `If-Match` (412 on mismatch) and `If-None-Match` (304 on reads, 412 on writes).

use aws_lc_rs::digest;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::Ctx;
use crate::errors::{ApiError, SfError};
use crate::schema::ObjectType;
use crate::store::Org;

/// `"<base64 of 20 digest bytes>-gzip"`, the shape Salesforce sends; changes with the record.
pub fn of(org: &Org, o: ObjectType, r: u32) -> Option<String> {
    if o != ObjectType::Account {
        return None;
    }
    // Every stored value (stamps included) goes in, so two writes within one millisecond
    // still give different tags when they change anything.
    let values = format!("{:?}", org.table(o).row(r));
    let d = digest::digest(&digest::SHA256, values.as_bytes());
    Some(format!("\"{}-gzip\"", STANDARD.encode(&d.as_ref()[..20])))
}

/// The opaque part of an entity tag, so `W/"x-gzip"`, `"x"` and `x` compare equal.
fn core(tag: &str) -> &str {
    let t = tag.trim().trim_start_matches("W/").trim_matches('"');
    t.strip_suffix("-gzip").unwrap_or(t)
}

fn matches(list: &str, current: &str) -> bool {
    list.split(',')
        .any(|t| t.trim() == "*" || core(t) == core(current))
}

fn precondition_failed() -> ApiError {
    ApiError::new(
        StatusCode::PRECONDITION_FAILED,
        SfError::new(
            "PRECONDITION_FAILED",
            "The requested resource's ETag does not match the If-Match or If-None-Match header",
        ),
    )
}

/// Applies If-Match / If-None-Match; `Ok(Some(304))` ends a read early.
pub fn check(
    ctx: &Ctx<'_>,
    org: &Org,
    o: ObjectType,
    r: u32,
    read: bool,
) -> Result<Option<Response>, ApiError> {
    let Some(current) = of(org, o, r) else {
        return Ok(None);
    };
    let header = |name: &str| ctx.headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(list) = header("If-Match")
        && !matches(list, &current)
    {
        return Err(precondition_failed());
    }
    if let Some(list) = header("If-None-Match")
        && matches(list, &current)
    {
        if read {
            let mut resp = StatusCode::NOT_MODIFIED.into_response();
            if let Ok(v) = HeaderValue::from_str(&current) {
                resp.headers_mut().insert(header::ETAG, v);
            }
            return Ok(Some(resp));
        }
        return Err(precondition_failed());
    }
    Ok(None)
}

/// Adds the row's ETag to a read response.
pub fn attach(resp: &mut Response, org: &Org, o: ObjectType, r: u32) {
    if let Some(tag) = of(org, o, r)
        && let Ok(v) = HeaderValue::from_str(&tag)
    {
        resp.headers_mut().insert(header::ETAG, v);
    }
}
