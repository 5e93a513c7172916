//! The test-only control API under `/_emulator/` (SPEC §4): reset, users, list views, tokens,
//! faults, traffic counters, the clock, Outbound Message setup, the write log (when the REST API
//! wrote each record, while it is on), and reads/writes of org data that do not count as API
//! traffic.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use serde::Deserialize;
use serde_json::{Map, Value as Json, json};

use crate::errors::json_response;
use crate::listviews::ListView;
use crate::schema::ObjectType;
use crate::soql::eval;
use crate::state::{AppState, Fault, FaultKind};
use crate::store::{Actor, Claims};
use crate::value::Value;
use crate::{ids, time};

type St = State<Arc<AppState>>;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/reset", post(reset))
        .route("/users", post(create_user).get(list_users))
        .route("/listviews", post(create_list_view))
        .route("/tokens", post(mint_token))
        .route("/tokens/expire", post(expire_tokens))
        .route(
            "/faults",
            post(add_fault).delete(clear_faults).get(list_faults),
        )
        .route("/requests", get(requests).delete(clear_requests))
        .route("/usage", post(set_usage))
        .route("/duplicate-rule", post(set_duplicate_rule))
        .route("/id-length", post(set_id_length).get(id_length))
        .route("/clock", get(clock).post(move_clock))
        .route(
            "/outbound",
            post(enable_outbound)
                .get(outbound_status)
                .delete(disable_outbound),
        )
        .route("/write-log", post(switch_write_log).get(write_log))
        .route("/recycle-bin/purge", post(purge_recycle_bin))
        .route("/delete-log/purge", post(purge_delete_log))
        .route("/sobjects/{type}", get(dump).post(seed))
        .route("/sobjects/{type}/{id}", patch(edit).delete(remove))
}

/// A control-API failure: `{"error": "..."}` with a status.
#[derive(Debug)]
pub struct ControlError(StatusCode, String);

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        json_response(self.0, &json!({"error": self.1}))
    }
}

type Reply = Result<Response, ControlError>;

fn err(status: StatusCode, message: impl Into<String>) -> ControlError {
    ControlError(status, message.into())
}

fn body_json<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ControlError> {
    serde_json::from_slice(body)
        .map_err(|e| err(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

/// Runs the Outbound Message trigger for writes made through the control API.
fn after_write(st: &AppState) {
    let changes = std::mem::take(&mut st.org.write().changes);
    if !changes.is_empty() {
        st.outbound.notify(st, &changes);
    }
}

async fn reset(State(st): St) -> Response {
    st.reset();
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NewUser {
    id: Option<String>,
    username: String,
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    alias: Option<String>,
    is_active: Option<bool>,
}

async fn create_user(State(st): St, body: Bytes) -> Reply {
    let u: NewUser = body_json(&body)?;
    let mut org = st.org.write();
    if org.user_by_username(&u.username).is_some() {
        return Err(err(
            StatusCode::CONFLICT,
            format!("username {} already exists", u.username),
        ));
    }
    let def = ObjectType::User.def();
    let last = u
        .last_name
        .clone()
        .unwrap_or_else(|| u.username.split('@').next().unwrap_or("User").to_string());
    let mut fields = vec![
        (def.must("Username"), Value::text(u.username.as_str())),
        (def.must("LastName"), Value::text(last)),
        (
            def.must("Email"),
            Value::text(u.email.clone().unwrap_or_else(|| u.username.clone())),
        ),
        (
            def.must("Alias"),
            Value::text(
                u.alias
                    .clone()
                    .unwrap_or_else(|| u.username.chars().take(8).collect::<String>()),
            ),
        ),
    ];
    if let Some(f) = &u.first_name {
        fields.push((def.must("FirstName"), Value::text(f.as_str())));
    }
    if let Some(a) = u.is_active {
        fields.push((def.must("IsActive"), Value::Bool(a)));
    }
    let id = match &u.id {
        Some(raw) => match ids::normalize(raw).filter(|i| i.starts_with("005")) {
            Some(id) if org.find(ObjectType::User, &id).is_none() => id,
            Some(id) => {
                return Err(err(
                    StatusCode::CONFLICT,
                    format!("user id {id} already exists"),
                ));
            }
            None => {
                return Err(err(
                    StatusCode::BAD_REQUEST,
                    format!("{raw} is not a User id (005…)"),
                ));
            }
        },
        None => {
            let r = org.apply_create(
                ObjectType::User,
                fields,
                &Actor {
                    user_id: AppState::integration_user_id(&st.config),
                },
                st.now(),
            );
            let id = org.table(ObjectType::User).id(r).to_string();
            return Ok(json_response(
                StatusCode::CREATED,
                &json!({"Id": id, "Username": u.username}),
            ));
        }
    };
    org.insert_with_id(ObjectType::User, id.clone(), fields, st.now());
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"Id": id, "Username": u.username}),
    ))
}

async fn list_users(State(st): St) -> Response {
    dump_rows(&st, ObjectType::User)
}

#[derive(Deserialize)]
struct NewListView {
    label: String,
    #[serde(rename = "where")]
    filter: Option<String>,
    #[serde(rename = "developerName")]
    developer_name: Option<String>,
    #[serde(default)]
    mine: bool,
}

async fn create_list_view(State(st): St, body: Bytes) -> Reply {
    let v: NewListView = body_json(&body)?;
    let filter = v.filter.filter(|f| !f.trim().is_empty());
    if let Some(f) = &filter {
        let q = format!("SELECT Id FROM Contact WHERE {f}");
        if let Err(e) = crate::soql::parser::parse(&q, st.now()) {
            return Err(err(
                StatusCode::BAD_REQUEST,
                format!("{}: {}", e.code, e.to_sf(&q).message),
            ));
        }
    }
    let mut org = st.org.write();
    let id = org.next_list_view_id();
    let developer_name = v.developer_name.unwrap_or_else(|| {
        v.label
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect()
    });
    org.list_views.push(ListView {
        id: id.clone(),
        developer_name,
        label: v.label,
        filter,
        mine: v.mine,
    });
    Ok(json_response(StatusCode::CREATED, &json!({"id": id})))
}

#[derive(Deserialize)]
struct TokenRequest {
    username: Option<String>,
    user_id: Option<String>,
}

async fn mint_token(State(st): St, body: Bytes) -> Reply {
    let req: TokenRequest = body_json(&body)?;
    let user = {
        let org = st.org.read();
        let row = match (&req.username, &req.user_id) {
            (Some(u), _) => org.user_by_username(u),
            (None, Some(id)) => org.find(ObjectType::User, id),
            (None, None) => None,
        };
        row.map(|r| {
            let t = org.table(ObjectType::User);
            (
                t.id(r).to_string(),
                t.get(r, ObjectType::User.def().must("Username"))
                    .as_text()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
    };
    let Some((user_id, username)) = user else {
        return Err(err(
            StatusCode::NOT_FOUND,
            "no such user; create it with POST /_emulator/users",
        ));
    };
    let mut body = crate::auth::token::session_body(&st, &user_id, &username, "api refresh_token");
    let refresh = st.sessions.lock().mint_refresh(&user_id, &username);
    body.insert("refresh_token".into(), json!(refresh));
    Ok(json_response(StatusCode::OK, &Json::Object(body)))
}

async fn expire_tokens(State(st): St) -> Response {
    st.sessions.lock().expire_all();
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct NewFault {
    /// `"status"` (default) or `"truncate_query"`.
    kind: Option<String>,
    /// Required for `"status"` faults.
    status: Option<u16>,
    #[serde(default = "one")]
    count: u64,
    #[serde(alias = "retryAfter", alias = "Retry-After")]
    retry_after: Option<Json>,
    route: Option<String>,
    #[serde(rename = "errorCode", alias = "code")]
    error_code: Option<String>,
    message: Option<String>,
    user: Option<String>,
}

fn one() -> u64 {
    1
}

async fn add_fault(State(st): St, body: Bytes) -> Reply {
    let f: NewFault = body_json(&body)?;
    let kind = match f.kind.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("status") => FaultKind::Status,
        Some("truncate_query") => FaultKind::TruncateQuery,
        Some(other) => {
            return Err(err(
                StatusCode::BAD_REQUEST,
                format!("unknown fault kind {other}: expected status or truncate_query"),
            ));
        }
    };
    let status = match (kind, f.status) {
        (FaultKind::TruncateQuery, status) => status.unwrap_or(200),
        (FaultKind::Status, Some(status)) => status,
        (FaultKind::Status, None) => {
            return Err(err(
                StatusCode::BAD_REQUEST,
                "a status fault needs a status",
            ));
        }
    };
    if StatusCode::from_u16(status).is_err() {
        return Err(err(
            StatusCode::BAD_REQUEST,
            format!("invalid status {status}"),
        ));
    }
    let retry_after = f.retry_after.map(|v| match v {
        Json::String(s) => s,
        other => other.to_string(),
    });
    st.faults.lock().push(Fault {
        kind,
        status,
        remaining: f.count,
        retry_after,
        route: f.route,
        error_code: f.error_code,
        message: f.message,
        user: f.user,
    });
    Ok(StatusCode::CREATED.into_response())
}

async fn clear_faults(State(st): St) -> Response {
    st.faults.lock().clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn list_faults(State(st): St) -> Response {
    let list: Vec<Json> = st
        .faults
        .lock()
        .iter()
        .map(|f| {
            let kind = match f.kind {
                FaultKind::Status => "status",
                FaultKind::TruncateQuery => "truncate_query",
            };
            json!({"kind": kind, "status": f.status, "remaining": f.remaining, "route": f.route, "retry_after": f.retry_after})
        })
        .collect();
    json_response(StatusCode::OK, &Json::Array(list))
}

async fn requests(State(st): St) -> Response {
    let t = st.traffic.lock();
    json_response(
        StatusCode::OK,
        &json!({"http_requests": t.http_requests, "operations": t.operations, "by_route": t.by_route}),
    )
}

async fn clear_requests(State(st): St) -> Response {
    *st.traffic.lock() = Default::default();
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct SetUsage {
    used: u64,
}

/// Sets the API calls already made today, so tests reach the daily limit without making them.
async fn set_usage(State(st): St, body: Bytes) -> Reply {
    let u: SetUsage = body_json(&body)?;
    let now = st.now();
    let mut usage = st.usage.lock();
    usage.clear();
    usage.add(now, u.used);
    Ok(json_response(
        StatusCode::OK,
        &json!({"used": u.used, "max": st.config.daily_api_limit}),
    ))
}

#[derive(Deserialize)]
struct SetDuplicateRule {
    mode: String,
}

/// Switches the Standard Contact Duplicate Rule: `off`, `alert` or `block`.
async fn set_duplicate_rule(State(st): St, body: Bytes) -> Reply {
    let m: SetDuplicateRule = body_json(&body)?;
    let rule = m.mode.parse().map_err(|()| {
        err(
            StatusCode::BAD_REQUEST,
            format!("mode must be off, alert or block, not {}", m.mode),
        )
    })?;
    *st.duplicate_rule.lock() = rule;
    Ok(json_response(
        StatusCode::OK,
        &json!({"mode": m.mode.to_ascii_lowercase()}),
    ))
}

#[derive(Deserialize)]
struct SetIdLength {
    length: u8,
}

/// `POST /_emulator/id-length {"length": 15|18}`: the length of record ids in API answers from
/// now on (until the next reset).
async fn set_id_length(State(st): St, body: Bytes) -> Reply {
    let m: SetIdLength = body_json(&body)?;
    let length = m.length.to_string().parse().map_err(|()| {
        err(
            StatusCode::BAD_REQUEST,
            format!("length must be 15 or 18, not {}", m.length),
        )
    })?;
    *st.id_length.lock() = length;
    Ok(id_length(State(st)).await)
}

async fn id_length(State(st): St) -> Response {
    let length = *st.id_length.lock();
    json_response(StatusCode::OK, &json!({"length": length.chars()}))
}

async fn clock(State(st): St) -> Response {
    json_response(
        StatusCode::OK,
        &json!({"now": time::format_rest(&st.now())}),
    )
}

#[derive(Deserialize)]
struct MoveClock {
    advance_seconds: Option<f64>,
    now: Option<String>,
}

async fn move_clock(State(st): St, body: Bytes) -> Reply {
    let m: MoveClock = body_json(&body)?;
    if let Some(s) = m.advance_seconds {
        st.clock
            .advance(chrono::Duration::milliseconds((s * 1000.0) as i64));
    }
    if let Some(n) = m.now {
        match time::parse_datetime(&n) {
            Some(t) => st.clock.set(t),
            None => {
                return Err(err(
                    StatusCode::BAD_REQUEST,
                    format!("unparseable datetime {n}"),
                ));
            }
        }
    }
    Ok(clock(State(st)).await)
}

#[derive(Deserialize, Default)]
struct Purge {
    /// Only this sObject type (default: every type).
    sobject: Option<String>,
    /// Only what was deleted before this datetime (default: everything).
    before: Option<String>,
}

fn purge_request(
    body: &[u8],
) -> Result<(Vec<ObjectType>, Option<chrono::DateTime<chrono::Utc>>), ControlError> {
    let p: Purge = if body.iter().all(u8::is_ascii_whitespace) {
        Purge::default()
    } else {
        body_json(body)?
    };
    let objects = match &p.sobject {
        Some(name) => vec![object(name)?],
        None => ObjectType::ALL.to_vec(),
    };
    let before = p
        .before
        .map(|b| {
            time::parse_datetime(&b)
                .ok_or_else(|| err(StatusCode::BAD_REQUEST, format!("unparseable datetime {b}")))
        })
        .transpose()?;
    Ok((objects, before))
}

/// Empties the Recycle Bin (what Salesforce does after 15 days, when the bin is full, or when an
/// admin empties it): the rows are gone for good, `queryAll` included, while the delete log
/// still reports their deletions. `{"sobject"?, "before"?}` → `{"purged": [ids]}`.
async fn purge_recycle_bin(State(st): St, body: Bytes) -> Reply {
    let (objects, before) = purge_request(&body)?;
    let mut org = st.org.write();
    let mut ids = Vec::new();
    for o in objects {
        ids.extend(org.purge_recycle_bin(o, before));
    }
    Ok(json_response(StatusCode::OK, &json!({"purged": ids})))
}

/// Purges the delete log Get Deleted reads (Salesforce's background purge): entries deleted
/// before `before` (default: now) go, and `earliestDateAvailable` moves past them.
/// `{"before"?}` → `{"purged": n, "earliestDateAvailable"}`.
async fn purge_delete_log(State(st): St, body: Bytes) -> Reply {
    let (_, before) = purge_request(&body)?;
    let before = before.unwrap_or_else(|| st.now());
    let mut org = st.org.write();
    let n = org.deletions.purge_before(before);
    let through = org.deletions.purged_through.map(|t| time::format_rest(&t));
    Ok(json_response(
        StatusCode::OK,
        &json!({"purged": n, "purgedThrough": through}),
    ))
}

#[derive(Deserialize)]
struct EnableOutbound {
    endpoint_url: String,
    fields: Option<Vec<String>>,
    #[serde(default)]
    send_session_id: bool,
}

async fn enable_outbound(State(st): St, body: Bytes) -> Reply {
    let e: EnableOutbound = body_json(&body)?;
    if url::Url::parse(&e.endpoint_url).is_err() {
        return Err(err(
            StatusCode::BAD_REQUEST,
            format!("invalid endpoint_url {}", e.endpoint_url),
        ));
    }
    let cfg = st
        .outbound
        .configure(e.endpoint_url, e.fields, e.send_session_id);
    Ok(json_response(
        StatusCode::OK,
        &serde_json::to_value(cfg).unwrap_or_default(),
    ))
}

async fn outbound_status(State(st): St) -> Response {
    json_response(
        StatusCode::OK,
        &serde_json::to_value(st.outbound.status()).unwrap_or_default(),
    )
}

async fn disable_outbound(State(st): St) -> Response {
    st.outbound.reset();
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WriteLogSwitch {
    enabled: bool,
}

/// `POST /_emulator/write-log` `{"enabled"}`: the write log on (emptied) or off.
async fn switch_write_log(State(st): St, body: Bytes) -> Reply {
    let switch: WriteLogSwitch = body_json(&body)?;
    st.write_log.set_enabled(switch.enabled);
    Ok(json_response(
        StatusCode::OK,
        &json!({"enabled": switch.enabled}),
    ))
}

/// `GET /_emulator/write-log` → `{"enabled", "writes": [{"Id", "sobject", "at_ms"}]}`.
async fn write_log(State(st): St) -> Response {
    let (enabled, writes) = st.write_log.view();
    json_response(
        StatusCode::OK,
        &json!({"enabled": enabled, "writes": writes}),
    )
}

fn object(name: &str) -> Result<ObjectType, ControlError> {
    ObjectType::from_name(name).ok_or_else(|| {
        err(
            StatusCode::NOT_FOUND,
            format!("unknown sObject type {name}"),
        )
    })
}

/// Every row of a type, deleted ones included, in REST record form.
fn dump_rows(st: &AppState, o: ObjectType) -> Response {
    let org = st.org.read();
    let t = org.table(o);
    let fields = eval::all_fields(o);
    let mut out = format!("{{\"totalSize\":{},\"records\":[", t.len());
    for (i, r) in t.all().enumerate() {
        if i > 0 {
            out.push(',');
        }
        eval::write_record(&mut out, &org, o, r, &fields, "v60.0");
    }
    out.push_str("]}");
    crate::api::query::json_text(out)
}

async fn dump(State(st): St, Path(ty): Path<String>) -> Reply {
    Ok(dump_rows(&st, object(&ty)?))
}

/// Resolves `as_user` (id or username) to a User id; default: the Run-As integration user.
fn actor_of(st: &AppState, who: Option<&str>) -> Result<Actor, ControlError> {
    let org = st.org.read();
    let Some(who) = who else {
        return Ok(Actor {
            user_id: AppState::integration_user_id(&st.config),
        });
    };
    let row = org
        .find(ObjectType::User, who)
        .or_else(|| org.user_by_username(who));
    row.map(|r| Actor {
        user_id: org.table(ObjectType::User).id(r).to_string(),
    })
    .ok_or_else(|| err(StatusCode::BAD_REQUEST, format!("no such user {who}")))
}

fn errors_json(errors: &[crate::errors::SfError]) -> Json {
    Json::Array(
        errors
            .iter()
            .map(crate::errors::SfError::rest_json)
            .collect(),
    )
}

/// Creates records as a user, all or none: `{"as_user": "...", "records": [{...}, ...]}`
/// or a single record object. Validation is the API's; nothing is counted as traffic.
async fn seed(State(st): St, Path(ty): Path<String>, body: Bytes) -> Reply {
    let o = object(&ty)?;
    let body: Map<String, Json> = body_json(&body)?;
    let actor = actor_of(&st, body.get("as_user").and_then(Json::as_str))?;
    let records: Vec<Map<String, Json>> = match body.get("records") {
        Some(Json::Array(list)) => list
            .iter()
            .enumerate()
            .map(|(i, r)| {
                r.as_object().cloned().ok_or_else(|| {
                    err(
                        StatusCode::BAD_REQUEST,
                        format!("records[{i}] is not an object"),
                    )
                })
            })
            .collect::<Result<_, _>>()?,
        _ => {
            let mut single = body.clone();
            single.remove("as_user");
            vec![single]
        }
    };
    let now = st.now();
    let ids = {
        let mut org = st.org.write();
        let mut claims = Claims::default();
        let mut planned = Vec::with_capacity(records.len());
        for (i, rec) in records.iter().enumerate() {
            match org.prepare(o, rec, None, &mut claims) {
                Ok(f) => planned.push(f),
                Err(e) => {
                    return Ok(json_response(
                        StatusCode::BAD_REQUEST,
                        &json!({"index": i, "errors": errors_json(&e)}),
                    ));
                }
            }
        }
        planned
            .into_iter()
            .map(|f| {
                let r = org.apply_create(o, f, &actor, now);
                org.table(o).id(r).to_string()
            })
            .collect::<Vec<_>>()
    };
    after_write(&st);
    Ok(json_response(StatusCode::CREATED, &json!({"ids": ids})))
}

#[derive(Deserialize)]
struct AsUser {
    as_user: Option<String>,
}

async fn edit(State(st): St, Path((ty, id)): Path<(String, String)>, body: Bytes) -> Reply {
    let o = object(&ty)?;
    let mut body: Map<String, Json> = body_json(&body)?;
    let who = body
        .remove("as_user")
        .and_then(|v| v.as_str().map(str::to_string));
    let actor = actor_of(&st, who.as_deref())?;
    {
        let mut org = st.org.write();
        let Some(r) = org.find(o, &id).filter(|&r| !org.table(o).is_deleted(r)) else {
            return Err(err(StatusCode::NOT_FOUND, format!("no live {ty} {id}")));
        };
        match org.prepare(o, &body, Some(r), &mut Claims::default()) {
            Ok(f) => org.apply_update(o, r, f, &actor, st.now()),
            Err(e) => {
                return Ok(json_response(
                    StatusCode::BAD_REQUEST,
                    &json!({"errors": errors_json(&e)}),
                ));
            }
        }
    }
    after_write(&st);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn remove(
    State(st): St,
    Path((ty, id)): Path<(String, String)>,
    Query(q): Query<AsUser>,
) -> Reply {
    let o = object(&ty)?;
    let actor = actor_of(&st, q.as_user.as_deref())?;
    {
        let mut org = st.org.write();
        let Some(r) = org.find(o, &id).filter(|&r| !org.table(o).is_deleted(r)) else {
            return Err(err(StatusCode::NOT_FOUND, format!("no live {ty} {id}")));
        };
        org.delete(o, r, &actor, st.now());
    }
    after_write(&st);
    Ok(StatusCode::NO_CONTENT.into_response())
}
