//! Metadata resources: API versions, the resource map, `/limits`, describe global and
//! sObject describe (enough for clients that look before they write).

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value as Json, json};

use super::Ctx;
use crate::errors::json_response;
use crate::schema::{FieldType, ObjectType};
use crate::state::AppState;

/// Release names of the versions a client is likely to ask about.
fn label(v: u32) -> String {
    let seasons = ["Spring", "Summer", "Winter"];
    // v20.0 was Winter '11; three releases a year since.
    let n = v.saturating_sub(20);
    let season = seasons[((n + 2) % 3) as usize];
    let year = 11 + n / 3;
    format!("{season} '{year:02}")
}

/// `GET /services/data/`: every served version; needs no session and costs no API call.
pub fn versions(st: &AppState) -> Response {
    let max = st.config.max_api_version as u32;
    let list: Vec<Json> = (20..=max)
        .map(|v| json!({"label": label(v), "url": format!("/services/data/v{v}.0"), "version": format!("{v}.0")}))
        .collect();
    json_response(StatusCode::OK, &Json::Array(list))
}

pub fn resources(ctx: &Ctx<'_>) -> Response {
    let base = format!("/services/data/{}", ctx.version);
    let mut m = serde_json::Map::new();
    for r in ["sobjects", "query", "queryAll", "limits", "composite"] {
        m.insert(r.to_string(), json!(format!("{base}/{r}")));
    }
    json_response(StatusCode::OK, &Json::Object(m))
}

pub fn limits(ctx: &Ctx<'_>) -> Response {
    let max = ctx.st.config.daily_api_limit;
    let used = ctx.st.usage.lock().used(ctx.now);
    let mb = |m: u64, r: u64| json!({"Max": m, "Remaining": r});
    json_response(
        StatusCode::OK,
        &json!({
            "DailyApiRequests": {"Max": max, "Remaining": max.saturating_sub(used)},
            "DailyBulkApiBatches": mb(15000, 15000),
            "DailyBulkV2QueryJobs": mb(10000, 10000),
            "DailyAsyncApexExecutions": mb(250000, 250000),
            "DailyStreamingApiEvents": mb(1000000, 1000000),
            "DataStorageMB": mb(1024, 1024),
            "FileStorageMB": mb(1024, 1024),
            "SingleEmail": mb(5000, 5000),
        }),
    )
}

fn object_summary(ctx: &Ctx<'_>, o: ObjectType) -> Json {
    let d = o.def();
    let base = format!("/services/data/{}/sobjects/{}", ctx.version, d.name);
    json!({
        "name": d.name, "label": d.label, "labelPlural": format!("{}s", d.label), "keyPrefix": d.key_prefix,
        "custom": false, "createable": o != ObjectType::User, "updateable": o != ObjectType::User,
        "deletable": d.deletable, "queryable": true, "replicateable": true, "retrieveable": true,
        "urls": {"sobject": base, "describe": format!("{base}/describe"), "rowTemplate": format!("{base}/{{ID}}")},
    })
}

pub fn global(ctx: &Ctx<'_>) -> Response {
    let list: Vec<Json> = ObjectType::ALL
        .iter()
        .map(|o| object_summary(ctx, *o))
        .collect();
    json_response(
        StatusCode::OK,
        &json!({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": list}),
    )
}

pub fn info(ctx: &Ctx<'_>, o: ObjectType) -> Response {
    json_response(
        StatusCode::OK,
        &json!({"objectDescribe": object_summary(ctx, o), "recentItems": []}),
    )
}

pub fn describe(ctx: &Ctx<'_>, o: ObjectType) -> Response {
    let org = ctx.st.org.read();
    let fields: Vec<Json> = o
        .def()
        .fields
        .iter()
        .enumerate()
        .filter(|(i, _)| !org.hides(o, *i))
        .map(|(_, f)| {
            let reference_to: Vec<&str> = match f.ty {
                FieldType::Reference(t) => vec![t.name()],
                _ => Vec::new(),
            };
            json!({
                "name": f.name, "label": f.label, "type": f.ty.describe_name(), "length": f.length,
                "nillable": !f.required && f.writable && f.ty != FieldType::Boolean,
                "createable": f.writable, "updateable": f.writable, "filterable": f.filterable(),
                "sortable": f.filterable(), "externalId": f.external_id, "unique": f.unique,
                "idLookup": f.id_lookup, "custom": f.name.ends_with("__c"),
                "referenceTo": reference_to, "relationshipName": f.relationship,
                "defaultedOnCreate": f.ty == FieldType::Boolean || !f.writable,
            })
        })
        .collect();
    let mut body = object_summary(ctx, o);
    body["fields"] = Json::Array(fields);
    json_response(StatusCode::OK, &body)
}
