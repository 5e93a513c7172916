//! sObject Collections (`/composite/sobjects`): create, update, delete, retrieve and upsert
//! of up to 200 records with per-record results and `allOrNone` (contract §5).

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value as Json, json};

use super::Ctx;
use super::query::json_text;
use crate::errors::{ApiError, SfError, json_response};
use crate::ids;
use crate::schema::ObjectType;
use crate::soql::{FieldRef, eval};
use crate::store::{FieldValues, Org};
use crate::value::fold;

/// Salesforce's collection size limit.
const MAX_RECORDS: usize = 200;
/// The retrieve POST variant takes more ids than the URL of the GET can carry.
const MAX_RETRIEVE_IDS: usize = 2000;

enum Planned {
    Create(ObjectType, FieldValues),
    Update(ObjectType, u32, FieldValues),
    Delete(ObjectType, u32),
    Failed(Vec<SfError>),
}

struct Item {
    plan: Planned,
    /// Id to report (known for updates and deletes even when they fail).
    id: Option<String>,
    created: Option<bool>,
}

fn failed(errors: Vec<SfError>, id: Option<String>) -> Item {
    Item {
        plan: Planned::Failed(errors),
        id,
        created: None,
    }
}

fn too_many() -> ApiError {
    ApiError::bad_request(SfError::new(
        "EXCEEDED_ID_LIMIT",
        "record limit reached. cannot submit more than 200 records into this call",
    ))
}

/// Reads `{"allOrNone": bool, "records": [...]}`.
fn records_body(ctx: &mut Ctx<'_>) -> Result<(bool, Vec<Json>), ApiError> {
    let body = ctx.json_object()?;
    let all_or_none = body
        .get("allOrNone")
        .and_then(Json::as_bool)
        .unwrap_or(false);
    let Some(Json::Array(records)) = body.get("records") else {
        return Err(ApiError::bad_request(SfError::json_parser(
            "Required field 'records' is missing or not a list",
        )));
    };
    if records.len() > MAX_RECORDS {
        return Err(too_many());
    }
    ctx.ops = records.len() as u64;
    Ok((all_or_none, records.clone()))
}

/// `attributes.type` of a collection record.
fn record_type(rec: &Map<String, Json>) -> Result<ObjectType, SfError> {
    rec.get("attributes")
        .and_then(|a| a.get("type"))
        .and_then(Json::as_str)
        .and_then(ObjectType::from_name)
        .ok_or_else(|| {
            SfError::with_fields("INVALID_TYPE", "Must send a concrete entity type.", &[])
        })
}

fn as_object(rec: &Json) -> Result<&Map<String, Json>, SfError> {
    rec.as_object().ok_or_else(|| {
        SfError::json_parser("Cannot deserialize instance of sObject from non-object value")
    })
}

/// Applies the plan (unless `allOrNone` and something failed) and renders per-record results.
fn finish(ctx: &Ctx<'_>, org: &mut Org, items: Vec<Item>, all_or_none: bool) -> Response {
    let any_failed = items.iter().any(|i| matches!(i.plan, Planned::Failed(_)));
    let rollback = all_or_none && any_failed;
    let actor = ctx.actor();
    let mut results = Vec::with_capacity(items.len());
    for item in items {
        let mut id = item.id.clone();
        let errors = match item.plan {
            Planned::Failed(errors) => errors,
            _ if rollback => vec![SfError::with_fields(
                "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "Record rolled back because not all records were valid and the request was using AllOrNone header",
                &[],
            )],
            Planned::Create(o, fields) => {
                let r = org.apply_create(o, fields, &actor, ctx.now);
                id = Some(org.table(o).id(r).to_string());
                Vec::new()
            }
            Planned::Update(o, r, fields) => {
                org.apply_update(o, r, fields, &actor, ctx.now);
                Vec::new()
            }
            Planned::Delete(o, r) => {
                org.delete(o, r, &actor, ctx.now);
                Vec::new()
            }
        };
        let mut out = Map::new();
        if let Some(id) = id {
            out.insert("id".into(), json!(id));
        }
        out.insert("success".into(), json!(errors.is_empty()));
        out.insert(
            "errors".into(),
            Json::Array(errors.iter().map(SfError::collection_json).collect()),
        );
        if let Some(c) = item.created {
            out.insert("created".into(), json!(c));
        }
        results.push(Json::Object(out));
    }
    json_response(StatusCode::OK, &Json::Array(results))
}

pub fn create(ctx: &mut Ctx<'_>) -> Result<Response, ApiError> {
    let (all_or_none, records) = records_body(ctx)?;
    let mut org = ctx.st.org.write();
    let mut claims = ctx.claims();
    let items = records
        .iter()
        .map(|rec| {
            let planned = as_object(rec)
                .and_then(|m| Ok((record_type(m)?, m)))
                .map_err(|e| vec![e])
                .and_then(|(o, m)| {
                    if m.keys().any(|k| k.eq_ignore_ascii_case("id")) {
                        return Err(vec![SfError::with_fields(
                            "INVALID_FIELD_FOR_INSERT_UPDATE",
                            "cannot specify Id in an insert call",
                            &["Id"],
                        )]);
                    }
                    org.prepare(o, m, None, &mut claims)
                        .map(|f| Planned::Create(o, f))
                });
            match planned {
                Ok(plan) => Item {
                    plan,
                    id: None,
                    created: None,
                },
                Err(errors) => failed(errors, None),
            }
        })
        .collect();
    Ok(finish(ctx, &mut org, items, all_or_none))
}

/// Finds the live row of a record id for update/delete, with collection-style errors.
fn target(org: &Org, o: ObjectType, raw: &str) -> Result<u32, SfError> {
    let id = ids::normalize(raw)
        .filter(|i| i.starts_with(o.def().key_prefix))
        .ok_or_else(|| SfError::malformed_id(o.def().fields[0].label, raw, "Id"))?;
    let t = org.table(o);
    let r = t.find(&id).ok_or_else(|| {
        SfError::with_fields(
            "INVALID_CROSS_REFERENCE_KEY",
            "invalid cross reference id",
            &[],
        )
    })?;
    if t.is_deleted(r) {
        return Err(SfError::entity_is_deleted());
    }
    Ok(r)
}

pub fn update(ctx: &mut Ctx<'_>) -> Result<Response, ApiError> {
    let (all_or_none, records) = records_body(ctx)?;
    let mut org = ctx.st.org.write();
    let mut claims = ctx.claims();
    let items = records
        .iter()
        .map(|rec| {
            let m = match as_object(rec) {
                Ok(m) => m,
                Err(e) => return failed(vec![e], None),
            };
            let raw_id = m
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("id"))
                .and_then(|(_, v)| v.as_str());
            let o = match record_type(m) {
                Ok(o) => o,
                Err(e) => return failed(vec![e], raw_id.map(str::to_string)),
            };
            let Some(raw_id) = raw_id else {
                return failed(
                    vec![SfError::with_fields(
                        "MISSING_ARGUMENT",
                        "Id not specified in an update call",
                        &[],
                    )],
                    None,
                );
            };
            let r = match target(&org, o, raw_id) {
                Ok(r) => r,
                Err(e) => {
                    let known = (e.code != "MALFORMED_ID")
                        .then(|| ids::normalize(raw_id).unwrap_or_default());
                    return failed(vec![e], known);
                }
            };
            let id = Some(org.table(o).id(r).to_string());
            let mut body = m.clone();
            body.retain(|k, _| !k.eq_ignore_ascii_case("id"));
            match org.prepare(o, &body, Some(r), &mut claims) {
                Ok(f) => Item {
                    plan: Planned::Update(o, r, f),
                    id,
                    created: None,
                },
                Err(errors) => failed(errors, id),
            }
        })
        .collect();
    Ok(finish(ctx, &mut org, items, all_or_none))
}

pub fn delete(ctx: &mut Ctx<'_>) -> Result<Response, ApiError> {
    let ids_param = ctx.param("ids").unwrap_or_default().to_string();
    let all_or_none = ctx
        .param("allOrNone")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let list: Vec<&str> = ids_param
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if list.is_empty() {
        return Err(ApiError::bad_request(SfError::new(
            "MISSING_ARGUMENT",
            "Missing required parameter: ids",
        )));
    }
    if list.len() > MAX_RECORDS {
        return Err(too_many());
    }
    ctx.ops = list.len() as u64;
    let mut org = ctx.st.org.write();
    let items = list
        .iter()
        .map(|raw| {
            let Some(o) = ids::normalize(raw)
                .and_then(|i| ObjectType::from_id(&i))
                .filter(|o| o.def().deletable)
            else {
                return failed(
                    vec![SfError::with_fields(
                        "MALFORMED_ID",
                        format!("malformed id {raw}"),
                        &[],
                    )],
                    None,
                );
            };
            match target(&org, o, raw) {
                Ok(r) => Item {
                    plan: Planned::Delete(o, r),
                    id: Some(org.table(o).id(r).to_string()),
                    created: None,
                },
                Err(e) => failed(vec![e], ids::normalize(raw)),
            }
        })
        .collect();
    Ok(finish(ctx, &mut org, items, all_or_none))
}

pub fn retrieve(ctx: &mut Ctx<'_>, o: ObjectType) -> Result<Response, ApiError> {
    let (id_list, field_list): (Vec<String>, Vec<String>) =
        if ctx.method == axum::http::Method::POST {
            let body = ctx.json_object()?;
            let strings = |k: &str| -> Vec<String> {
                body.get(k)
                    .and_then(Json::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            (strings("ids"), strings("fields"))
        } else {
            let split = |k: &str| -> Vec<String> {
                ctx.param(k)
                    .unwrap_or_default()
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            };
            (split("ids"), split("fields"))
        };
    for (name, list) in [("ids", &id_list), ("fields", &field_list)] {
        if list.is_empty() {
            return Err(ApiError::bad_request(SfError::new(
                "MISSING_ARGUMENT",
                format!("Missing required parameter: {name}"),
            )));
        }
    }
    if id_list.len() > MAX_RETRIEVE_IDS {
        return Err(too_many());
    }
    let mut fields: Vec<FieldRef> = Vec::new();
    for name in &field_list {
        let field = o
            .def()
            .field_index(name)
            .filter(|i| !ctx.st.org.read().hides(o, *i))
            .ok_or_else(|| {
                ApiError::bad_request(SfError::new(
                    "INVALID_FIELD",
                    format!("No such column '{name}' on entity '{}'.", o.name()),
                ))
            })?;
        let f = FieldRef {
            hops: Vec::new(),
            object: o,
            field,
            rel_names: Vec::new(),
        };
        if !fields.contains(&f) {
            fields.push(f);
        }
    }
    let ids = *ctx.st.id_length.lock();
    let org = ctx.st.org.read();
    let t = org.table(o);
    let mut out = String::from("[");
    for (i, raw) in id_list.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let row = ids::normalize(raw)
            .filter(|id| id.starts_with(o.def().key_prefix))
            .and_then(|id| t.find(&id))
            .filter(|&r| !t.is_deleted(r));
        match row {
            Some(r) => eval::write_record_ids(&mut out, &org, o, r, &fields, &ctx.version, ids),
            None => out.push_str("null"),
        }
    }
    out.push(']');
    Ok(json_text(out))
}

pub fn upsert(ctx: &mut Ctx<'_>, o: ObjectType, field_name: &str) -> Result<Response, ApiError> {
    let (idx, def) = o
        .def()
        .field(field_name)
        .filter(|(i, _)| !ctx.st.org.read().hides(o, *i))
        .filter(|(i, f)| f.external_id || *i == 0 || (f.id_lookup && f.writable))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                SfError::new("NOT_FOUND", format!("Provided external ID field does not exist or is not accessible: {field_name}")),
            )
        })?;
    let (all_or_none, records) = records_body(ctx)?;
    let key_of = |rec: &Json| -> Option<String> {
        rec.as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(def.name))
            .and_then(|(_, v)| v.as_str())
            .map(str::to_string)
    };
    // Values given twice in one request fail on every record carrying them.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for rec in &records {
        if let Some(k) = key_of(rec) {
            *seen.entry(fold(&k)).or_default() += 1;
        }
    }
    let mut org = ctx.st.org.write();
    let mut claims = ctx.claims();
    let items = records
        .iter()
        .map(|rec| {
            let m = match as_object(rec) {
                Ok(m) => m,
                Err(e) => return failed(vec![e], None),
            };
            match record_type(m) {
                Ok(t) if t == o => {}
                Ok(_) | Err(_) => {
                    return failed(
                        vec![SfError::with_fields(
                            "INVALID_TYPE",
                            "Must send a concrete entity type.",
                            &[],
                        )],
                        None,
                    );
                }
            }
            let Some(key) = key_of(rec) else {
                return failed(
                    vec![SfError::with_fields(
                        "MISSING_ARGUMENT",
                        format!("{} not specified", def.name),
                        &[],
                    )],
                    None,
                );
            };
            if seen.get(&fold(&key)).copied().unwrap_or(0) > 1 {
                return failed(
                    vec![SfError::with_fields(
                        "DUPLICATE_EXTERNAL_ID",
                        format!("Duplicate external id specified: {key}"),
                        &[def.name],
                    )],
                    None,
                );
            }
            let t = org.table(o);
            let found: Vec<u32> = t
                .lookup(idx, &key)
                .into_iter()
                .filter(|&r| !t.is_deleted(r))
                .collect();
            let mut item = match found.as_slice() {
                [] if idx == 0 => failed(
                    vec![SfError::with_fields(
                        "INVALID_CROSS_REFERENCE_KEY",
                        "invalid cross reference id",
                        &[],
                    )],
                    None,
                ),
                [] => match org.prepare(o, m, None, &mut claims) {
                    Ok(f) => Item {
                        plan: Planned::Create(o, f),
                        id: None,
                        created: None,
                    },
                    Err(e) => failed(e, None),
                },
                [r] => {
                    let mut body = m.clone();
                    if idx == 0 {
                        body.retain(|k, _| !k.eq_ignore_ascii_case("id"));
                    }
                    let id = Some(t.id(*r).to_string());
                    match org.prepare(o, &body, Some(*r), &mut claims) {
                        Ok(f) => Item {
                            plan: Planned::Update(o, *r, f),
                            id,
                            created: None,
                        },
                        Err(e) => failed(e, id),
                    }
                }
                _ => failed(
                    vec![SfError::with_fields(
                        "DUPLICATE_EXTERNAL_ID",
                        format!("Duplicate external id specified: {key}"),
                        &[def.name],
                    )],
                    None,
                ),
            };
            item.created = Some(found.is_empty());
            item
        })
        .collect();
    Ok(finish(ctx, &mut org, items, all_or_none))
}
