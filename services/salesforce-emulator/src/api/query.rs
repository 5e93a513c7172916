//! `query` and `queryAll`: runs SOQL once, keeps the matching rows behind a query locator,
//! and serves them in batches through `nextRecordsUrl` (contract §2).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};

use super::Ctx;
use crate::errors::{ApiError, SfError};
use crate::ids;
use crate::schema::ObjectType;
use crate::soql::{self, FieldRef, Select, eval};

/// A query locator's state: the matching rows in order, fixed when the query ran.
#[derive(Debug)]
pub struct Cursor {
    rows: Arc<Vec<u32>>,
    object: ObjectType,
    fields: Arc<Vec<FieldRef>>,
    generation: u64,
    batch: usize,
    expires: DateTime<Utc>,
}

#[derive(Debug, Default)]
pub struct Cursors {
    map: HashMap<String, Cursor>,
    order: VecDeque<String>,
    seq: u64,
}

fn invalid_locator() -> ApiError {
    ApiError::bad_request(SfError::new(
        "INVALID_QUERY_LOCATOR",
        "invalid query locator",
    ))
}

/// `Sforce-Query-Options: batchSize=N` (200..2000; Salesforce may return fewer).
fn batch_size(ctx: &Ctx<'_>) -> Option<usize> {
    let v = ctx.headers.get("sforce-query-options")?.to_str().ok()?;
    v.split([',', ';'])
        .find_map(|part| {
            let (k, n) = part.split_once('=')?;
            (k.trim().eq_ignore_ascii_case("batchSize")).then(|| n.trim().parse::<usize>().ok())?
        })
        .map(|n| n.clamp(200, 2000))
}

pub fn start(ctx: &mut Ctx<'_>, all: bool) -> Result<Response, ApiError> {
    let Some(q) = ctx.param("q").map(str::to_string) else {
        return Err(ApiError::bad_request(SfError::new(
            "MALFORMED_QUERY",
            "A query string must be provided.",
        )));
    };
    let mut parsed =
        soql::parser::parse(&q, ctx.now).map_err(|e| ApiError::bad_request(e.to_sf(&q)))?;
    let org = ctx.st.org.read();
    drop_hidden_fields(&org, &mut parsed, &q).map_err(|e| ApiError::bad_request(e.to_sf(&q)))?;
    let run = eval::run(&org, &parsed, &ctx.session.user_id, all);
    tracing::debug!(plan = ?run.plan, rows = run.rows.len(), "Ran a SOQL query");
    if matches!(parsed.select, Select::Count) {
        let body = format!(
            "{{\"totalSize\":{},\"done\":true,\"records\":[]}}",
            run.rows.len()
        );
        return Ok(json_text(body));
    }
    let batch = batch_size(ctx).unwrap_or(ctx.st.config.default_batch_size);
    let cursor = Cursor {
        rows: Arc::new(run.rows),
        object: parsed.object,
        fields: Arc::new(eval::selected(&parsed).to_vec()),
        generation: org.generation,
        batch,
        expires: ctx.now
            + Duration::from_std(ctx.st.config.cursor_ttl).unwrap_or(Duration::days(2)),
    };
    Ok(page(ctx, &org, &cursor, None, 0, batch))
}

/// Serves a later batch. The rows were fixed when the query ran, so a `queryAll` locator keeps
/// its deleted rows whichever of `/query/` or `/queryAll/` it is fetched through.
pub fn more(ctx: &mut Ctx<'_>, locator: &str) -> Result<Response, ApiError> {
    let (id, offset) = locator.rsplit_once('-').ok_or_else(invalid_locator)?;
    let offset: usize = offset.parse().map_err(|_| invalid_locator())?;
    let (rows, object, fields, generation, batch) = {
        let mut cursors = ctx.st.cursors.lock();
        let c = cursors.map.get(id).ok_or_else(invalid_locator)?;
        if c.expires <= ctx.now {
            cursors.map.remove(id);
            return Err(invalid_locator());
        }
        (
            c.rows.clone(),
            c.object,
            c.fields.clone(),
            c.generation,
            c.batch,
        )
    };
    let org = ctx.st.org.read();
    if generation != org.generation || offset > rows.len() {
        return Err(invalid_locator());
    }
    let batch = batch_size(ctx).unwrap_or(batch);
    let cursor = Cursor {
        rows,
        object,
        fields,
        generation,
        batch,
        expires: ctx.now,
    };
    Ok(page(
        ctx,
        &org,
        &cursor,
        Some(id.to_string()),
        offset,
        batch,
    ))
}

/// Renders one batch; registers the cursor when more rows remain.
fn page(
    ctx: &Ctx<'_>,
    org: &crate::store::Org,
    cursor: &Cursor,
    id: Option<String>,
    offset: usize,
    batch: usize,
) -> Response {
    let total = cursor.rows.len();
    let mut end = (offset + batch).min(total);
    let mut done = end >= total;
    if ctx.truncate_query {
        // The injected broken answer: half the batch, "not done", and no way to the rest.
        end = offset + (end - offset) / 2;
        done = false;
    }
    let mut out = String::with_capacity(64 + (end - offset) * 400);
    out.push_str(&format!("{{\"totalSize\":{total},\"done\":{done},"));
    if !done && !ctx.truncate_query {
        let id = match id {
            Some(id) => id,
            None => register(ctx, cursor),
        };
        out.push_str(&format!(
            "\"nextRecordsUrl\":\"/services/data/{}/query/{id}-{end}\",",
            ctx.version
        ));
    }
    out.push_str("\"records\":[");
    let ids = *ctx.st.id_length.lock();
    for (i, &r) in cursor.rows[offset..end].iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        eval::write_record_ids(
            &mut out,
            org,
            cursor.object,
            r,
            &cursor.fields,
            &ctx.version,
            ids,
        );
    }
    out.push_str("]}");
    json_text(out)
}

fn register(ctx: &Ctx<'_>, cursor: &Cursor) -> String {
    let mut cursors = ctx.st.cursors.lock();
    cursors.seq += 1;
    let id = ids::generate("01g", &ctx.st.config.pod, cursors.seq);
    cursors.map.insert(
        id.clone(),
        Cursor {
            rows: cursor.rows.clone(),
            object: cursor.object,
            fields: cursor.fields.clone(),
            generation: cursor.generation,
            batch: cursor.batch,
            expires: cursor.expires,
        },
    );
    cursors.order.push_back(id.clone());
    // Bound memory: the oldest locators go first, as if they had expired.
    while cursors.order.len() > ctx.st.config.max_cursors {
        if let Some(old) = cursors.order.pop_front() {
            cursors.map.remove(&old);
        }
    }
    id
}

pub fn json_text(body: String) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    r
}

/// A field this org does not have: named in the query, the error Salesforce gives for an
/// unknown column (positioned at its first mention); brought in by `FIELDS(...)`, left out.
fn drop_hidden_fields(
    org: &crate::store::Org,
    parsed: &mut soql::Query,
    q: &str,
) -> Result<(), soql::SoqlError> {
    fn hidden(org: &crate::store::Org, f: &FieldRef) -> bool {
        org.hides(f.object, f.field) || f.hops.iter().any(|(o, i)| org.hides(*o, *i))
    }
    let mut named = Vec::new();
    if let Select::Fields(fields) = &parsed.select {
        named.extend(fields.iter().filter(|f| hidden(org, f)).cloned());
    }
    if let Some(filter) = &parsed.filter {
        filter.visit_fields(&mut |f| {
            if hidden(org, f) {
                named.push(f.clone());
            }
        });
    }
    named.extend(
        parsed
            .order
            .iter()
            .map(|o| &o.field)
            .filter(|f| hidden(org, f))
            .cloned(),
    );
    let lower = q.to_ascii_lowercase();
    for field in &named {
        let name = field.def().name;
        if let Some(pos) = lower.find(&name.to_ascii_lowercase()) {
            return Err(soql::SoqlError::at(
                "INVALID_FIELD",
                format!(
                    "No such column '{}' on entity '{}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.",
                    &q[pos..pos + name.len()],
                    field.object.name()
                ),
                pos,
            ));
        }
    }
    if let Select::Fields(fields) = &mut parsed.select {
        fields.retain(|f| !hidden(org, f));
    }
    Ok(())
}
