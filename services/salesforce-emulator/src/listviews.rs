//! Contact list views: the standard ones (AllContacts, MyContacts, ...) plus custom views
//! created through the control API, with list, describe (the view's SOQL) and results
//! (contract §7).

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value as Json, json};

use crate::api::Ctx;
use crate::errors::{ApiError, SfError, json_response};
use crate::ids;
use crate::schema::ObjectType;
use crate::soql::parser::{CmpOp, Operand};
use crate::soql::{self, Cond, eval};
use crate::value::Value;

#[derive(Debug, Clone)]
pub struct ListView {
    pub id: String,
    pub developer_name: String,
    pub label: String,
    /// SOQL condition (the part after WHERE), if the view filters.
    pub filter: Option<String>,
    /// "My" views: only records the viewing user owns.
    pub mine: bool,
}

/// The standard Contact views of a fresh org (from retrieved org metadata).
pub fn standard_views(pod: &str) -> Vec<ListView> {
    let views = [
        ("AllContacts", "All Contacts", None, false),
        ("MyContacts", "My Contacts", None, true),
        (
            "NewThisWeek",
            "New This Week",
            Some("CreatedDate = THIS_WEEK"),
            false,
        ),
        (
            "NewLastWeek",
            "New Last Week",
            Some("CreatedDate = LAST_WEEK"),
            false,
        ),
        (
            "BirthdaysThisMonth",
            "Birthdays This Month",
            Some("Birthdate = THIS_MONTH"),
            false,
        ),
        (
            "RecentlyViewedContacts",
            "Recently Viewed Contacts",
            Some("LastViewedDate != NULL"),
            false,
        ),
    ];
    views
        .iter()
        .enumerate()
        .map(|(i, (dev, label, filter, mine))| ListView {
            id: ids::generate("00B", pod, i as u64 + 1),
            developer_name: dev.to_string(),
            label: label.to_string(),
            filter: filter.map(str::to_string),
            mine: *mine,
        })
        .collect()
}

/// (path, label, hidden) of the columns, in Salesforce's order for AllContacts.
const COLUMNS: [(&str, Option<&str>, &str); 14] = [
    ("Name", Some("Name"), "string"),
    ("Account.Name", Some("Account Name"), "string"),
    ("Title", Some("Title"), "string"),
    ("Phone", Some("Phone"), "phone"),
    ("Email", Some("Email"), "email"),
    ("Owner.Alias", Some("Contact Owner Alias"), "string"),
    ("Id", None, "id"),
    ("CreatedDate", None, "datetime"),
    ("LastModifiedDate", None, "datetime"),
    ("SystemModstamp", None, "datetime"),
    ("Account.Id", None, "id"),
    ("AccountId", None, "reference"),
    ("Owner.Id", None, "id"),
    ("OwnerId", None, "reference"),
];

fn columns_json() -> Json {
    let cols: Vec<Json> = COLUMNS
        .iter()
        .enumerate()
        .map(|(i, (path, label, ty))| {
            let hidden = label.is_none();
            json!({
                "ascendingLabel": if hidden { Json::Null } else { json!("A-Z") },
                "descendingLabel": if hidden { Json::Null } else { json!("Z-A") },
                "fieldNameOrPath": path, "hidden": hidden, "label": label,
                "selectListItem": path, "sortDirection": if i == 0 { json!("ascending") } else { Json::Null },
                "sortIndex": if i == 0 { json!(0) } else { Json::Null },
                "sortable": !hidden, "type": ty,
            })
        })
        .collect();
    Json::Array(cols)
}

/// The view's SOQL, as describe returns it (lower-cased select list, Id tiebreaker).
pub fn soql_of(view: &ListView, user_id: &str, using_scope: bool) -> String {
    let select: Vec<String> = COLUMNS
        .iter()
        .map(|(p, _, _)| p.to_ascii_lowercase())
        .collect();
    let mut q = format!("SELECT {} FROM Contact", select.join(", "));
    let mut conds: Vec<String> = Vec::new();
    if view.mine {
        if using_scope {
            q.push_str(" USING SCOPE mine");
        } else {
            conds.push(format!("OwnerId = '{user_id}'"));
        }
    }
    if let Some(f) = &view.filter {
        conds.push(if conds.is_empty() {
            f.clone()
        } else {
            format!("({f})")
        });
    }
    if !conds.is_empty() {
        q.push_str(" WHERE ");
        q.push_str(&conds.join(" AND "));
    }
    q.push_str(" ORDER BY Name ASC NULLS FIRST, Id ASC NULLS FIRST");
    q
}

fn find<'a>(views: &'a [ListView], id: &str) -> Option<&'a ListView> {
    let id18 = ids::normalize(id)?;
    views.iter().find(|v| v.id == id18)
}

/// One entry of the list (and the basic info of `GET /listviews/{id}`).
fn summary(version: &str, v: &ListView) -> Json {
    let base = format!("/services/data/{version}/sobjects/Contact/listviews");
    json!({
        "describeUrl": format!("{base}/{}/describe", v.id), "developerName": v.developer_name,
        "id": v.id, "label": v.label, "resultsUrl": format!("{base}/{}/results", v.id),
        "soqlCompatible": true, "url": format!("{base}/{}", v.id),
    })
}

pub fn list(ctx: &mut Ctx<'_>, o: ObjectType) -> Result<Response, ApiError> {
    let org = ctx.st.org.read();
    let views: Vec<Json> = if o == ObjectType::Contact {
        org.list_views
            .iter()
            .map(|v| summary(&ctx.version, v))
            .collect()
    } else {
        Vec::new()
    };
    Ok(json_response(
        StatusCode::OK,
        &json!({"done": true, "listviews": views, "nextRecordsUrl": Json::Null, "size": views.len(), "sobjectType": o.name()}),
    ))
}

pub fn view(ctx: &mut Ctx<'_>, o: ObjectType, id: &str, what: &str) -> Result<Response, ApiError> {
    let org = ctx.st.org.read();
    let view = find(&org.list_views, id)
        .filter(|_| o == ObjectType::Contact)
        .cloned()
        .ok_or_else(ApiError::not_found)?;
    if what == "info" {
        return Ok(json_response(StatusCode::OK, &summary(&ctx.version, &view)));
    }
    let using_scope = ctx.st.config.my_contacts_using_scope;
    let q = soql_of(&view, &ctx.session.user_id, using_scope);
    let parsed =
        soql::parser::parse(&q, ctx.now).map_err(|e| ApiError::bad_request(e.to_sf(&q)))?;
    if what == "describe" {
        let where_json = parsed.filter.as_ref().map_or(Json::Null, where_condition);
        return Ok(json_response(
            StatusCode::OK,
            &json!({
                "columns": columns_json(), "id": ids::to_15(&view.id),
                "orderBy": [
                    {"fieldNameOrPath": "Name", "nullsPosition": "first", "sortDirection": "ascending"},
                    {"fieldNameOrPath": "Id", "nullsPosition": "first", "sortDirection": "ascending"},
                ],
                "query": q, "relatedEntityId": Json::Null,
                "scope": if view.mine && using_scope { json!("mine") } else { Json::Null },
                "scopeEntityId": Json::Null, "sobjectType": "Contact", "whereCondition": where_json,
            }),
        ));
    }
    let limit = match ctx.param("limit") {
        None => 25,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=2000).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(SfError::new(
                    "INVALID_QUERY_FILTER_OPERATOR",
                    format!("Invalid limit: {l}. Limit must be between 1 and 2000"),
                ))
            })?,
    };
    let offset = match ctx.param("offset") {
        None => 0,
        Some(s) => s.parse::<usize>().map_err(|_| {
            ApiError::bad_request(SfError::new(
                "INVALID_QUERY_FILTER_OPERATOR",
                format!("Invalid offset: {s}"),
            ))
        })?,
    };
    let run = eval::run(&org, &parsed, &ctx.session.user_id, false);
    let total = run.rows.len();
    let fields = eval::selected(&parsed);
    let table = org.table(ObjectType::Contact);
    let records: Vec<Json> = run
        .rows
        .iter()
        .skip(offset)
        .take(limit)
        .map(|&r| {
            let cols: Vec<Json> = fields
                .iter()
                .map(|f| json!({"fieldNameOrPath": f.path(), "value": eval::value_of(&org, table, r, f).to_list_view()}))
                .collect();
            json!({"columns": cols})
        })
        .collect();
    let done = offset + records.len() >= total;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "columns": columns_json(), "developerName": view.developer_name, "done": done,
            "id": ids::to_15(&view.id), "label": view.label, "records": records, "size": total,
        }),
    ))
}

/// Describe's `whereCondition`: leaves `{field, operator, values}`, groups `{conditions, conjunction}`.
fn where_condition(c: &Cond) -> Json {
    let text = |v: &Value| match v {
        Value::Null => "null".to_string(),
        other => other.to_soap().unwrap_or_default(),
    };
    match c {
        Cond::And(items) => {
            json!({"conditions": items.iter().map(where_condition).collect::<Vec<_>>(), "conjunction": "and"})
        }
        Cond::Or(items) => {
            json!({"conditions": items.iter().map(where_condition).collect::<Vec<_>>(), "conjunction": "or"})
        }
        Cond::Not(inner) => json!({"conditions": [where_condition(inner)], "conjunction": "not"}),
        Cond::Cmp { field, op, rhs } => {
            let operator = match op {
                CmpOp::Eq => "equals",
                CmpOp::Ne => "notEqual",
                CmpOp::Lt => "lessThan",
                CmpOp::Le => "lessOrEqual",
                CmpOp::Gt => "greaterThan",
                CmpOp::Ge => "greaterOrEqual",
            };
            let values = match rhs {
                Operand::Value(v) => vec![text(v)],
                Operand::Range(_, _, literal) => vec![literal.clone()],
            };
            json!({"field": field.path(), "operator": operator, "values": values})
        }
        Cond::In {
            field,
            negated,
            values,
        } => json!({
            "field": field.path(), "operator": if *negated { "notEqual" } else { "equals" },
            "values": values.iter().map(text).collect::<Vec<_>>(),
        }),
        Cond::Like { field, .. } => {
            json!({"field": field.path(), "operator": "like", "values": []})
        }
    }
}
