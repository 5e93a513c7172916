//! The REST surface under `/services/`: routing to templated routes, traffic counting,
//! fault injection, bearer authentication, the daily API budget and `Sforce-Limit-Info`.

pub mod collections;
pub mod composite;
pub mod etag;
pub mod meta;
pub mod query;
pub mod replication;
pub mod rows;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value as Json};

use crate::auth::{Session, token};
use crate::errors::{ApiError, SfError, json_response};
use crate::schema::ObjectType;
use crate::state::{AppState, FaultKind};

/// Oldest API version served.
const MIN_API_VERSION: f32 = 20.0;

/// Everything a handler needs about the call.
pub struct Ctx<'a> {
    pub st: &'a AppState,
    pub method: Method,
    /// `v60.0`
    pub version: String,
    pub version_num: f32,
    pub session: Session,
    pub headers: &'a HeaderMap,
    pub params: Vec<(String, String)>,
    pub body: &'a [u8],
    pub now: DateTime<Utc>,
    /// Items this call counts as in `operations` (collections set their record count).
    pub ops: u64,
    /// A `truncate_query` fault hit this call: a query answer comes back broken.
    pub truncate_query: bool,
}

impl Ctx<'_> {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn actor(&self) -> crate::store::Actor {
        crate::store::Actor {
            user_id: self.session.user_id.clone(),
        }
    }

    /// The body as a JSON object, or Salesforce's JSON_PARSER_ERROR.
    pub fn json_object(&self) -> Result<Map<String, Json>, ApiError> {
        match self.json()? {
            Json::Object(m) => Ok(m),
            _ => Err(ApiError::bad_request(SfError::json_parser(
                "Cannot deserialize instance of sObject from START_ARRAY value [line:1, column:1]",
            ))),
        }
    }

    pub fn json(&self) -> Result<Json, ApiError> {
        serde_json::from_slice(self.body).map_err(|e| {
            ApiError::bad_request(SfError::json_parser(format!(
                "Unexpected character: {e} at [line:{}, column:{}]",
                e.line(),
                e.column()
            )))
        })
    }

    /// Write context of this request: the duplicate rule, relaxed by
    /// `Sforce-Duplicate-Rule-Header: allowSave=true` when the rule only alerts.
    pub fn claims(&self) -> crate::store::Claims {
        use crate::config::DuplicateRule;
        let allow_save = self
            .headers
            .get("sforce-duplicate-rule-header")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';').any(|p| {
                    p.split_once('=').is_some_and(|(k, v)| {
                        k.trim().eq_ignore_ascii_case("allowSave")
                            && v.trim().eq_ignore_ascii_case("true")
                    })
                })
            });
        let rule = match *self.st.duplicate_rule.lock() {
            DuplicateRule::Alert if allow_save => DuplicateRule::Off,
            other => other,
        };
        crate::store::Claims::with_duplicate_rule(rule)
    }

    pub fn sobject_url(&self, object: ObjectType, id: &str) -> String {
        format!(
            "/services/data/{}/sobjects/{}/{}",
            self.version,
            object.name(),
            id
        )
    }
}

/// A resolved route: which handler, plus the template that counters and faults key on.
#[derive(Debug, Clone)]
pub(crate) enum Route {
    Token,
    Revoke,
    Identity(String),
    Versions,
    Resources,
    Limits,
    Query {
        all: bool,
    },
    /// `query/{locator}` or `queryAll/{locator}`: the locator alone decides what is served.
    QueryMore {
        locator: String,
    },
    Global,
    Info(ObjectType),
    Describe(ObjectType),
    Updated(ObjectType),
    Deleted(ObjectType),
    ListViews(ObjectType),
    ListView(ObjectType, String, &'static str),
    Row(ObjectType, String),
    ByField(ObjectType, String, String),
    Collection,
    Composite,
    CompositeBatch,
    CollectionOf(ObjectType),
    CollectionUpsert(ObjectType, String),
    NotFound,
}

pub(crate) fn resolve(path: &str) -> (Route, String) {
    let decoded: Vec<String> = path
        .trim_start_matches('/')
        .trim_end_matches('/')
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let segs: Vec<&str> = decoded.iter().map(String::as_str).collect();
    match segs.as_slice() {
        ["services", "oauth2", "token"] => return (Route::Token, "/services/oauth2/token".into()),
        ["services", "oauth2", "revoke"] => {
            return (Route::Revoke, "/services/oauth2/revoke".into());
        }
        ["services", "data"] => return (Route::Versions, "/services/data/".into()),
        ["id", _org, user] => {
            return (Route::Identity(user.to_string()), "/id/{org}/{user}".into());
        }
        ["services", "data", v, rest @ ..] => {
            let base = format!("/services/data/{v}");
            let (route, tail) = resolve_versioned(rest);
            return (route, format!("{base}{tail}"));
        }
        _ => {}
    }
    (Route::NotFound, path.to_string())
}

fn resolve_versioned(rest: &[&str]) -> (Route, String) {
    let obj = |s: &str| ObjectType::from_name(s);
    match rest {
        [] => (Route::Resources, "/".into()),
        ["limits"] => (Route::Limits, "/limits".into()),
        ["query"] => (Route::Query { all: false }, "/query".into()),
        ["queryAll"] => (Route::Query { all: true }, "/queryAll".into()),
        ["query", loc] => (
            Route::QueryMore {
                locator: loc.to_string(),
            },
            "/query/{locator}".into(),
        ),
        ["queryAll", loc] => (
            Route::QueryMore {
                locator: loc.to_string(),
            },
            "/queryAll/{locator}".into(),
        ),
        ["sobjects"] => (Route::Global, "/sobjects".into()),
        ["composite", "sobjects"] => (Route::Collection, "/composite/sobjects".into()),
        ["composite"] => (Route::Composite, "/composite".into()),
        ["composite", "batch"] => (Route::CompositeBatch, "/composite/batch".into()),
        ["composite", "sobjects", t, tail @ ..] => match (obj(t), tail) {
            (Some(o), []) => (
                Route::CollectionOf(o),
                format!("/composite/sobjects/{}", o.name()),
            ),
            (Some(o), [f]) => (
                Route::CollectionUpsert(o, f.to_string()),
                format!("/composite/sobjects/{}/{{field}}", o.name()),
            ),
            _ => (Route::NotFound, format!("/{}", rest.join("/"))),
        },
        ["sobjects", t, tail @ ..] => {
            let Some(o) = obj(t) else {
                return (Route::NotFound, format!("/{}", rest.join("/")));
            };
            let n = o.name();
            match tail {
                [] => (Route::Info(o), format!("/sobjects/{n}")),
                ["describe"] => (Route::Describe(o), format!("/sobjects/{n}/describe")),
                ["updated"] => (Route::Updated(o), format!("/sobjects/{n}/updated")),
                ["deleted"] => (Route::Deleted(o), format!("/sobjects/{n}/deleted")),
                ["listviews"] => (Route::ListViews(o), format!("/sobjects/{n}/listviews")),
                ["listviews", "recent"] => (
                    Route::ListViews(o),
                    format!("/sobjects/{n}/listviews/recent"),
                ),
                ["listviews", id] => (
                    Route::ListView(o, id.to_string(), "info"),
                    format!("/sobjects/{n}/listviews/{{id}}"),
                ),
                ["listviews", id, what @ ("describe" | "results")] => {
                    let what: &'static str = if *what == "describe" {
                        "describe"
                    } else {
                        "results"
                    };
                    (
                        Route::ListView(o, id.to_string(), what),
                        format!("/sobjects/{n}/listviews/{{id}}/{what}"),
                    )
                }
                [id] => (
                    Route::Row(o, id.to_string()),
                    format!("/sobjects/{n}/{{id}}"),
                ),
                [f, v] => (
                    Route::ByField(o, f.to_string(), v.to_string()),
                    format!("/sobjects/{n}/{{field}}/{{value}}"),
                ),
                _ => (Route::NotFound, format!("/sobjects/{n}/…")),
            }
        }
        _ => (Route::NotFound, format!("/{}", rest.join("/"))),
    }
}

/// Validates `vNN.N` against the served range.
pub(crate) fn parse_version(path: &str) -> Option<(String, f32)> {
    let v = path.trim_start_matches('/').split('/').nth(2)?;
    let num: f32 = v.strip_prefix('v')?.parse().ok()?;
    let well_formed = v.len() >= 4 && v.contains('.');
    well_formed.then(|| (v.to_string(), num))
}

/// The fallback handler for everything under `/services/`.
pub async fn dispatch(
    State(st): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (route, template) = resolve(uri.path());
    let key = format!("{method} {template}");
    {
        let mut t = st.traffic.lock();
        t.http_requests += 1;
        *t.by_route.entry(key.clone()).or_default() += 1;
    }
    let is_query = matches!(route, Route::Query { .. } | Route::QueryMore { .. });
    let truncate_query = match injected_fault(&st, &key, &headers, is_query) {
        Some(Injected::Respond(r)) => return with_date(&st, r),
        Some(Injected::TruncateQuery) => true,
        None => false,
    };
    let (response, ops) = match route {
        Route::Token if method == Method::POST => (token::handle(&st, &headers, &body), 1),
        Route::Revoke if method == Method::POST => (token::revoke(&st, &body), 1),
        Route::Versions if method == Method::GET => (meta::versions(&st), 1),
        Route::Identity(user) if method == Method::GET => (identity(&st, &headers, &user), 1),
        Route::NotFound | Route::Token | Route::Revoke | Route::Versions | Route::Identity(_) => {
            (ApiError::not_found().into_response(), 1)
        }
        route => data_call(
            &st,
            route,
            method.clone(),
            &uri,
            &headers,
            &body,
            truncate_query,
        ),
    };
    tracing::debug!(route = %key, status = response.status().as_u16(), "Served a Salesforce API call");
    st.traffic.lock().operations += ops;
    // Reads never change data; only writes pay for the write lock that drains the change log.
    if method != Method::GET && !st.org.read().changes.is_empty() {
        let changes = std::mem::take(&mut st.org.write().changes);
        st.write_log.record(&st.org.read(), &changes);
        st.outbound.notify(&st, &changes);
    }
    with_date(&st, response)
}

/// Every answer carries the server's clock in `Date` (the emulator's, which tests move), as
/// clients that size replication windows by the server's time read it.
fn with_date(st: &AppState, mut response: Response) -> Response {
    let now = st.now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    if let Ok(v) = HeaderValue::from_str(&now) {
        response.headers_mut().insert(header::DATE, v);
    }
    response
}

/// What an injected fault does to this call.
enum Injected {
    Respond(Response),
    TruncateQuery,
}

fn injected_fault(
    st: &AppState,
    key: &str,
    headers: &HeaderMap,
    is_query: bool,
) -> Option<Injected> {
    // Who is calling matters only to faults aimed at one user; the token is peeked, not checked.
    let caller = || {
        let now = st.now();
        bearer(headers)
            .and_then(|t| st.sessions.lock().check(t, now))
            .map(|s| (s.user_id, s.username))
    };
    let targeted = st.faults.lock().iter().any(|f| f.user.is_some());
    let caller = if targeted { caller() } else { None };
    let fault = {
        let mut faults = st.faults.lock();
        let f = faults.iter_mut().find(|f| {
            f.remaining > 0
                && (f.kind == FaultKind::Status || is_query)
                && f.matches(key)
                && f.applies_to(caller.as_ref())
        })?;
        f.remaining -= 1;
        let out = f.clone();
        faults.retain(|f| f.remaining > 0);
        out
    };
    if fault.kind == FaultKind::TruncateQuery {
        return Some(Injected::TruncateQuery);
    }
    let status = StatusCode::from_u16(fault.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let default_code = match fault.status {
        401 => "INVALID_SESSION_ID",
        403 => "REQUEST_LIMIT_EXCEEDED",
        404 => "NOT_FOUND",
        500 => "UNKNOWN_EXCEPTION",
        503 => "SERVER_UNAVAILABLE",
        _ => "UNKNOWN_EXCEPTION",
    };
    let code = fault.error_code.unwrap_or_else(|| default_code.to_string());
    let message = fault
        .message
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("Error").to_string());
    let mut r = json_response(
        status,
        &serde_json::json!([{ "message": message, "errorCode": code }]),
    );
    if let Some(ra) = fault
        .retry_after
        .and_then(|v| HeaderValue::from_str(&v).ok())
    {
        r.headers_mut().insert(header::RETRY_AFTER, ra);
    }
    Some(Injected::Respond(r))
}

/// `GET /id/{org}/{user}`: the identity URL of token responses. Only the token's own user.
fn identity(st: &AppState, headers: &HeaderMap, user: &str) -> Response {
    let now = st.now();
    let Some(session) = bearer(headers).and_then(|t| st.sessions.lock().check(t, now)) else {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            SfError::new("Bad_OAuth_Token", "Bad_OAuth_Token"),
        )
        .into_response();
    };
    let org = st.org.read();
    let row = crate::ids::normalize(user)
        .filter(|id| id.eq_ignore_ascii_case(&session.user_id))
        .and_then(|id| org.find(ObjectType::User, &id));
    let Some(r) = row else {
        return ApiError::not_found().into_response();
    };
    let t = org.table(ObjectType::User);
    let d = ObjectType::User.def();
    let text = |f: &str| t.get(r, d.must(f)).to_json();
    let base = format!("{}/services/data/v{{version}}", st.base_url);
    json_response(
        StatusCode::OK,
        &serde_json::json!({
            "id": st.identity_url(&session.user_id), "asserted_user": true, "user_id": session.user_id,
            "organization_id": st.config.org_id, "username": text("Username"), "nick_name": text("Alias"),
            "display_name": text("Name"), "email": text("Email"), "first_name": text("FirstName"),
            "last_name": text("LastName"), "active": t.get(r, d.must("IsActive")).to_json(), "user_type": "STANDARD",
            "language": "en_US", "locale": "en_US", "utcOffset": 0,
            "urls": {
                "rest": format!("{base}/"), "sobjects": format!("{base}/sobjects/"),
                "query": format!("{base}/query/"), "limits": format!("{base}/limits/"),
            },
        }),
    )
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    v.strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("OAuth "))
        .map(str::trim)
}

/// Authenticated calls under `/services/data/vNN.N/`: budget, handler, `Sforce-Limit-Info`.
fn data_call(
    st: &AppState,
    route: Route,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    truncate_query: bool,
) -> (Response, u64) {
    let Some((version, version_num)) = parse_version(uri.path())
        .filter(|(_, n)| (MIN_API_VERSION..=st.config.max_api_version).contains(n))
    else {
        return (ApiError::not_found().into_response(), 1);
    };
    let now = st.now();
    let session = bearer(headers).and_then(|t| st.sessions.lock().check(t, now));
    // A token outlives its user only until the next call: users removed by a reset are logged out.
    let session = session.filter(|s| st.org.read().find(ObjectType::User, &s.user_id).is_some());
    let Some(session) = session else {
        return (
            ApiError::new(StatusCode::UNAUTHORIZED, SfError::invalid_session()).into_response(),
            1,
        );
    };
    let limit = st.config.daily_api_limit;
    let used = {
        let mut u = st.usage.lock();
        let used = u.used(now);
        if used >= limit {
            let mut r = ApiError::new(
                StatusCode::FORBIDDEN,
                SfError::new("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
            )
            .into_response();
            add_limit_info(&mut r, used, limit);
            return (r, 1);
        }
        u.add(now, 1);
        used + 1
    };
    let params = uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let mut ctx = Ctx {
        st,
        method,
        version,
        version_num,
        session,
        headers,
        params,
        body,
        now,
        ops: 1,
        truncate_query,
    };
    let result = route_call(&mut ctx, route);
    let mut r = result.unwrap_or_else(IntoResponse::into_response);
    add_limit_info(&mut r, used, limit);
    (r, ctx.ops)
}

fn add_limit_info(r: &mut Response, used: u64, limit: u64) {
    if let Ok(v) = HeaderValue::from_str(&format!("api-usage={used}/{limit}")) {
        r.headers_mut().insert("Sforce-Limit-Info", v);
    }
}

pub(crate) fn route_call(ctx: &mut Ctx<'_>, route: Route) -> Result<Response, ApiError> {
    let m = ctx.method.clone();
    let get = m == Method::GET || m == Method::HEAD;
    match route {
        Route::Resources if get => Ok(meta::resources(ctx)),
        Route::Limits if get => Ok(meta::limits(ctx)),
        Route::Query { all } if get => query::start(ctx, all),
        Route::QueryMore { locator } if get => query::more(ctx, &locator),
        Route::Global if get => Ok(meta::global(ctx)),
        Route::Info(o) if get => Ok(meta::info(ctx, o)),
        Route::Info(o) if m == Method::POST => rows::create(ctx, o),
        Route::Describe(o) if get => Ok(meta::describe(ctx, o)),
        Route::Updated(o) if get => replication::updated(ctx, o),
        Route::Deleted(o) if get => replication::deleted(ctx, o),
        Route::ListViews(o) if get => crate::listviews::list(ctx, o),
        Route::ListView(o, id, what) if get => crate::listviews::view(ctx, o, &id, what),
        Route::Row(o, id) if get => rows::get(ctx, o, &id),
        Route::Row(o, id) if m == Method::PATCH => rows::update(ctx, o, &id),
        Route::Row(o, id) if m == Method::DELETE => rows::delete(ctx, o, &id),
        Route::ByField(o, f, v) if get => rows::get_by_field(ctx, o, &f, &v),
        Route::ByField(o, f, v) if m == Method::PATCH => rows::upsert(ctx, o, &f, &v),
        Route::ByField(o, f, v) if m == Method::DELETE => rows::delete_by_field(ctx, o, &f, &v),
        Route::Composite if m == Method::POST => composite::composite(ctx),
        Route::CompositeBatch if m == Method::POST => composite::batch(ctx),
        Route::Collection if m == Method::POST => collections::create(ctx),
        Route::Collection if m == Method::PATCH => collections::update(ctx),
        Route::Collection if m == Method::DELETE => collections::delete(ctx),
        Route::CollectionOf(o) if get || m == Method::POST => collections::retrieve(ctx, o),
        Route::CollectionUpsert(o, f) if m == Method::PATCH => collections::upsert(ctx, o, &f),
        Route::NotFound => Err(ApiError::not_found()),
        _ => Err(ApiError::method_not_allowed(m.as_str())),
    }
}
