//! sObject rows: create, read, update, delete, upsert by external id, and the conditional
//! request headers (contract §4).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as Json, json};

use super::query::json_text;
use super::{Ctx, etag};
use crate::config::{ConditionalStamp, DeletedRowGet};
use crate::errors::{ApiError, SfError, json_response};
use crate::ids;
use crate::schema::ObjectType;
use crate::soql::{FieldRef, eval};
use crate::store::Org;
use crate::time;

/// Why a row cannot be used: not an id, unknown, or in the Recycle Bin.
fn locate(org: &Org, o: ObjectType, id: &str) -> Result<u32, ApiError> {
    if !ids::looks_like_id(id) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            SfError::new(
                "NOT_FOUND",
                format!("Provided external ID field does not exist or is not accessible: {id}"),
            ),
        ));
    }
    let id18 = ids::normalize(id)
        .filter(|i| i.starts_with(o.def().key_prefix))
        .ok_or_else(ApiError::not_found)?;
    org.table(o).find(&id18).ok_or_else(ApiError::not_found)
}

fn entity_is_deleted(ctx: &Ctx<'_>) -> ApiError {
    let status = StatusCode::from_u16(ctx.st.config.error_statuses.entity_is_deleted)
        .unwrap_or(StatusCode::NOT_FOUND);
    ApiError::new(status, SfError::entity_is_deleted())
}

fn live(ctx: &Ctx<'_>, org: &Org, o: ObjectType, id: &str) -> Result<u32, ApiError> {
    let r = locate(org, o, id)?;
    if org.table(o).is_deleted(r) {
        return Err(entity_is_deleted(ctx));
    }
    Ok(r)
}

/// Validation failures are 400, but for a duplicate rule's refusal (status a knob).
fn dml_errors(ctx: &Ctx<'_>, errors: Vec<SfError>) -> ApiError {
    let duplicate = errors.iter().any(|e| e.code == "DUPLICATES_DETECTED");
    let status = if duplicate {
        StatusCode::from_u16(ctx.st.config.error_statuses.duplicates_detected)
            .unwrap_or(StatusCode::BAD_REQUEST)
    } else {
        StatusCode::BAD_REQUEST
    };
    ApiError { status, errors }
}

pub fn create(ctx: &mut Ctx<'_>, o: ObjectType) -> Result<Response, ApiError> {
    let body = ctx.json_object()?;
    let mut org = ctx.st.org.write();
    let fields = org
        .prepare(o, &body, None, &mut ctx.claims())
        .map_err(|e| dml_errors(ctx, e))?;
    let r = org.apply_create(o, fields, &ctx.actor(), ctx.now);
    let id = org.table(o).id(r).to_string();
    let mut resp = json_response(
        StatusCode::CREATED,
        &json!({"id": id, "success": true, "errors": []}),
    );
    if ctx.st.config.location_on_create
        && let Ok(v) = HeaderValue::from_str(&ctx.sobject_url(o, &id))
    {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// Parses `?fields=A,B` into field refs; unknown names are INVALID_FIELD.
fn requested_fields(ctx: &Ctx<'_>, o: ObjectType) -> Result<Vec<FieldRef>, ApiError> {
    let Some(list) = ctx.param("fields").filter(|l| !l.trim().is_empty()) else {
        return Ok(eval::all_fields(o));
    };
    let mut out = Vec::new();
    for name in list.split(',').map(str::trim) {
        let field = o.def().field_index(name).filter(|i| !ctx.st.org.read().hides(o, *i)).ok_or_else(|| {
            ApiError::bad_request(SfError::new(
                "INVALID_FIELD",
                format!("No such column '{name}' on entity '{}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.", o.name()),
            ))
        })?;
        let f = FieldRef {
            hops: Vec::new(),
            object: o,
            field,
            rel_names: Vec::new(),
        };
        if !out.contains(&f) {
            out.push(f);
        }
    }
    // Salesforce always adds Id to a `fields` read.
    let id = FieldRef {
        hops: Vec::new(),
        object: o,
        field: 0,
        rel_names: Vec::new(),
    };
    if !out.contains(&id) {
        out.push(id);
    }
    Ok(out)
}

fn render(ctx: &Ctx<'_>, org: &Org, o: ObjectType, r: u32, fields: &[FieldRef]) -> Response {
    let mut out = String::with_capacity(1024);
    let ids = *ctx.st.id_length.lock();
    eval::write_record_ids(&mut out, org, o, r, fields, &ctx.version, ids);
    json_text(out)
}

/// Second-granularity modification stamp used by the conditional headers.
fn stamp(ctx: &Ctx<'_>, org: &Org, o: ObjectType, r: u32) -> i64 {
    let name = match ctx.st.config.conditional_stamp {
        ConditionalStamp::LastModifiedDate => "LastModifiedDate",
        ConditionalStamp::SystemModstamp => "SystemModstamp",
    };
    org.table(o)
        .get(r, o.def().must(name))
        .as_datetime()
        .map_or(0, |t| t.timestamp())
}

fn header_date(ctx: &Ctx<'_>, name: &str) -> Result<Option<i64>, ApiError> {
    let Some(v) = ctx.headers.get(name) else {
        return Ok(None);
    };
    let parsed = v.to_str().ok().and_then(time::parse_http_date);
    match parsed {
        Some(t) => Ok(Some(t.timestamp())),
        None => Err(ApiError::bad_request(SfError::new(
            "INVALID_HEADER_VALUE",
            format!(
                "{name} header value is not a valid HTTP date: {}",
                v.to_str().unwrap_or("")
            ),
        ))),
    }
}

fn precondition_failed() -> ApiError {
    ApiError::new(
        StatusCode::PRECONDITION_FAILED,
        SfError::new(
            "PRECONDITION_FAILED",
            "The requested resource has been modified since the date specified in the If-Unmodified-Since header",
        ),
    )
}

/// If-Unmodified-Since: 412 when the record changed after the given date.
fn check_unmodified(ctx: &Ctx<'_>, org: &Org, o: ObjectType, r: u32) -> Result<(), ApiError> {
    match header_date(ctx, "If-Unmodified-Since")? {
        Some(since) if stamp(ctx, org, o, r) > since => Err(precondition_failed()),
        _ => Ok(()),
    }
}

pub fn get(ctx: &mut Ctx<'_>, o: ObjectType, id: &str) -> Result<Response, ApiError> {
    let fields = requested_fields(ctx, o)?;
    let org = ctx.st.org.read();
    let r = locate(&org, o, id)?;
    if org.table(o).is_deleted(r) {
        return Err(match ctx.st.config.deleted_row_get {
            DeletedRowGet::EntityIsDeleted => entity_is_deleted(ctx),
            DeletedRowGet::NotFound => ApiError::not_found(),
        });
    }
    // A malformed If-Modified-Since on a read is ignored, as HTTP caches do.
    if let Ok(Some(since)) = header_date(ctx, "If-Modified-Since")
        && stamp(ctx, &org, o, r) <= since
    {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    }
    check_unmodified(ctx, &org, o, r)?;
    if let Some(not_modified) = etag::check(ctx, &org, o, r, true)? {
        return Ok(not_modified);
    }
    let mut resp = render(ctx, &org, o, r, &fields);
    etag::attach(&mut resp, &org, o, r);
    Ok(resp)
}

pub fn update(ctx: &mut Ctx<'_>, o: ObjectType, id: &str) -> Result<Response, ApiError> {
    let body = ctx.json_object()?;
    let mut org = ctx.st.org.write();
    let r = live(ctx, &org, o, id)?;
    check_unmodified(ctx, &org, o, r)?;
    etag::check(ctx, &org, o, r, false)?;
    let fields = org
        .prepare(o, &body, Some(r), &mut ctx.claims())
        .map_err(|e| dml_errors(ctx, e))?;
    org.apply_update(o, r, fields, &ctx.actor(), ctx.now);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// DELETE ignores conditional headers (Salesforce does not support them on delete).
pub fn delete(ctx: &mut Ctx<'_>, o: ObjectType, id: &str) -> Result<Response, ApiError> {
    if !o.def().deletable {
        return Err(ApiError::bad_request(SfError::new(
            "INVALID_TYPE",
            format!("entity type {} does not support delete", o.name()),
        )));
    }
    let mut org = ctx.st.org.write();
    let r = live(ctx, &org, o, id)?;
    org.delete(o, r, &ctx.actor(), ctx.now);
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn no_such_external_field(f: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        SfError::new(
            "NOT_FOUND",
            format!("Provided external ID field does not exist or is not accessible: {f}"),
        ),
    )
}

/// Field usable as an upsert key: external ids, `Email` (idLookup on Contact) and `Id`.
fn key_field(ctx: &Ctx<'_>, o: ObjectType, f: &str) -> Result<usize, ApiError> {
    match o.def().field(f) {
        Some((i, _)) if ctx.st.org.read().hides(o, i) => Err(no_such_external_field(f)),
        Some((i, def)) if def.external_id || (def.id_lookup && def.writable) || i == 0 => Ok(i),
        _ => Err(no_such_external_field(f)),
    }
}

/// Live rows whose key field equals `value` (case-insensitively, like Salesforce).
fn matches_of(org: &Org, o: ObjectType, field: usize, value: &str) -> Vec<u32> {
    let t = org.table(o);
    t.lookup(field, value)
        .into_iter()
        .filter(|&r| !t.is_deleted(r))
        .collect()
}

/// 300 Multiple Choices: the URLs of the matching records.
fn multiple(ctx: &Ctx<'_>, org: &Org, o: ObjectType, rows: &[u32]) -> Response {
    let urls: Vec<String> = rows
        .iter()
        .map(|&r| ctx.sobject_url(o, org.table(o).id(r)))
        .collect();
    json_response(StatusCode::MULTIPLE_CHOICES, &json!(urls))
}

pub fn get_by_field(
    ctx: &mut Ctx<'_>,
    o: ObjectType,
    f: &str,
    value: &str,
) -> Result<Response, ApiError> {
    let field = key_field(ctx, o, f)?;
    let fields = requested_fields(ctx, o)?;
    let org = ctx.st.org.read();
    match matches_of(&org, o, field, value).as_slice() {
        [] => Err(ApiError::not_found()),
        [r] => Ok(render(ctx, &org, o, *r, &fields)),
        rows => Ok(multiple(ctx, &org, o, rows)),
    }
}

pub fn upsert(
    ctx: &mut Ctx<'_>,
    o: ObjectType,
    f: &str,
    value: &str,
) -> Result<Response, ApiError> {
    let field = key_field(ctx, o, f)?;
    let def = &o.def().fields[field];
    let mut body = ctx.json_object()?;
    // The key belongs in the URL; a body repeating the same value is tolerated.
    if let Some(k) = body
        .keys()
        .find(|k| k.eq_ignore_ascii_case(def.name))
        .cloned()
    {
        let same = body
            .get(&k)
            .and_then(Json::as_str)
            .is_some_and(|v| v.eq_ignore_ascii_case(value));
        if !same {
            return Err(ApiError::bad_request(SfError::with_fields(
                "INVALID_FIELD",
                format!(
                    "The value of {} in the request body does not match the value in the URL",
                    def.name
                ),
                &[def.name],
            )));
        }
        body.remove(&k);
    }
    let update_only = ctx
        .param("updateOnly")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let v46 = ctx.version_num >= 46.0;
    let mut org = ctx.st.org.write();
    let found = matches_of(&org, o, field, value);
    match found.as_slice() {
        [] if update_only || field == 0 => Err(ApiError::not_found()),
        [] => {
            body.insert(def.name.to_string(), Json::String(value.to_string()));
            let fields = org
                .prepare(o, &body, None, &mut ctx.claims())
                .map_err(|e| dml_errors(ctx, e))?;
            let r = org.apply_create(o, fields, &ctx.actor(), ctx.now);
            let mut out = json!({"id": org.table(o).id(r), "success": true, "errors": []});
            if v46 {
                out["created"] = json!(true);
            }
            Ok(json_response(StatusCode::CREATED, &out))
        }
        [r] => {
            let r = *r;
            check_unmodified(ctx, &org, o, r)?;
            let fields = org
                .prepare(o, &body, Some(r), &mut ctx.claims())
                .map_err(|e| dml_errors(ctx, e))?;
            org.apply_update(o, r, fields, &ctx.actor(), ctx.now);
            if v46 {
                let out = json!({"id": org.table(o).id(r), "success": true, "errors": [], "created": false});
                Ok(json_response(StatusCode::OK, &out))
            } else {
                Ok(StatusCode::NO_CONTENT.into_response())
            }
        }
        rows => Ok(multiple(ctx, &org, o, rows)),
    }
}

pub fn delete_by_field(
    ctx: &mut Ctx<'_>,
    o: ObjectType,
    f: &str,
    value: &str,
) -> Result<Response, ApiError> {
    let field = key_field(ctx, o, f)?;
    let mut org = ctx.st.org.write();
    match matches_of(&org, o, field, value).as_slice() {
        [] => Err(ApiError::not_found()),
        [r] => {
            let r = *r;
            org.delete(o, r, &ctx.actor(), ctx.now);
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        rows => Ok(multiple(ctx, &org, o, rows)),
    }
}
