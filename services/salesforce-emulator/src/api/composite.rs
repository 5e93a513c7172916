//! Composite (`/composite`, up to 25 dependent subrequests with `@{ref.field}` references and
//! `allOrNone`) and Composite Batch (`/composite/batch`, up to 25 independent subrequests),
//! contract §6. Subrequests run through the same handlers as top-level calls.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value as Json, json};

use super::{Ctx, Route, parse_version, resolve, route_call};
use crate::errors::{ApiError, SfError, json_response};

const MAX_SUBREQUESTS: usize = 25;
/// At most this many of a composite's subrequests may be queries or collections.
const MAX_QUERY_OR_COLLECTION: usize = 5;

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(SfError::new("INVALID_REQUEST", message))
}

/// Status, headers and JSON body of a finished subrequest.
struct SubResult {
    status: StatusCode,
    headers: HeaderMap,
    body: Json,
}

/// Reads a handler's fully buffered body. Every handler answers with an in-memory body, so
/// the future is ready on its first poll; anything else is reported as an empty body.
fn buffered_body(resp: Response) -> (StatusCode, HeaderMap, Json) {
    let (parts, body) = resp.into_parts();
    let mut fut = pin!(axum::body::to_bytes(body, usize::MAX));
    let bytes = match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok(b)) => b,
        _ => Default::default(),
    };
    let json = serde_json::from_slice(&bytes).unwrap_or(Json::Null);
    (parts.status, parts.headers, json)
}

/// Runs one subrequest as the caller. `url` is `/services/data/vNN.N/...` or `vNN.N/...`.
fn run_sub(
    ctx: &Ctx<'_>,
    method: Method,
    url: &str,
    body: Option<&Json>,
) -> Result<(Route, SubResult), ApiError> {
    let full = if url.starts_with('/') {
        url.to_string()
    } else {
        format!("/services/data/{url}")
    };
    let (path, query) = full
        .split_once('?')
        .map_or((full.as_str(), ""), |(p, q)| (p, q));
    let (route, _) = resolve(path);
    if matches!(
        route,
        Route::Composite | Route::CompositeBatch | Route::Token | Route::Revoke | Route::Versions
    ) {
        return Err(invalid(format!(
            "Subrequest URL not supported in a composite request: {url}"
        )));
    }
    let (version, version_num) =
        parse_version(path).ok_or_else(|| invalid(format!("Invalid subrequest URL: {url}")))?;
    let body_bytes = body
        .map(|b| serde_json::to_vec(b).unwrap_or_default())
        .unwrap_or_default();
    let mut sub = Ctx {
        st: ctx.st,
        method,
        version,
        version_num,
        session: ctx.session.clone(),
        headers: ctx.headers,
        params: url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect(),
        body: &body_bytes,
        now: ctx.now,
        ops: 1,
        truncate_query: false,
    };
    let resp = match route_call(&mut sub, route.clone()) {
        Ok(r) => r,
        Err(e) => axum::response::IntoResponse::into_response(e),
    };
    let (status, headers, body) = buffered_body(resp);
    Ok((
        route,
        SubResult {
            status,
            headers,
            body,
        },
    ))
}

fn method_of(v: Option<&Json>) -> Result<Method, ApiError> {
    let m = v.and_then(Json::as_str).unwrap_or_default();
    match m.to_ascii_uppercase().as_str() {
        "GET" => Ok(Method::GET),
        "POST" => Ok(Method::POST),
        "PATCH" => Ok(Method::PATCH),
        "PUT" => Ok(Method::PUT),
        "DELETE" => Ok(Method::DELETE),
        "HEAD" => Ok(Method::HEAD),
        _ => Err(invalid(format!("Invalid HTTP method: {m}"))),
    }
}

/// `POST /composite/batch`: independent subrequests, each counting against the daily limit.
pub fn batch(ctx: &mut Ctx<'_>) -> Result<Response, ApiError> {
    let body = ctx.json_object()?;
    let requests = body
        .get("batchRequests")
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default();
    if requests.is_empty() || requests.len() > MAX_SUBREQUESTS {
        return Err(invalid(format!(
            "A batch must contain between 1 and {MAX_SUBREQUESTS} requests"
        )));
    }
    let halt = body
        .get("haltOnError")
        .and_then(Json::as_bool)
        .unwrap_or(false);
    ctx.ops = requests.len() as u64;
    // The call itself was counted once already; each further subrequest counts too.
    ctx.st.usage.lock().add(ctx.now, requests.len() as u64 - 1);
    let mut has_errors = false;
    let mut results = Vec::with_capacity(requests.len());
    for r in &requests {
        if halt && has_errors {
            results.push(json!({"statusCode": 412, "result": [{"errorCode": "BATCH_PROCESSING_HALTED", "message": "Batch processing halted per request"}]}));
            continue;
        }
        let method = method_of(r.get("method"))?;
        let url = r
            .get("url")
            .and_then(Json::as_str)
            .ok_or_else(|| invalid("Subrequest without url"))?;
        let (_, res) = run_sub(ctx, method, url, r.get("richInput"))?;
        has_errors |= res.status.as_u16() >= 400;
        let result = if res.body.is_null() {
            Json::Null
        } else {
            res.body
        };
        results.push(json!({"statusCode": res.status.as_u16(), "result": result}));
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"hasErrors": has_errors, "results": results}),
    ))
}

/// Looks `ref.path[0].field` up in earlier results.
fn lookup(results: &Map<String, Json>, reference: &str) -> Option<String> {
    let mut parts = reference.split('.');
    let mut cur = results.get(parts.next()?)?;
    for part in parts {
        let (name, index) = match part.split_once('[') {
            Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        cur = cur.get(name)?;
        if let Some(i) = index {
            cur = cur.get(i)?;
        }
    }
    match cur {
        Json::String(s) => Some(s.clone()),
        Json::Null => None,
        other => Some(other.to_string()),
    }
}

/// Replaces every `@{ref...}` in `text`; `Err(ref)` names the first unresolvable one.
fn substitute(text: &str, results: &Map<String, Json>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("@{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| after.to_string())?;
        let reference = &after[..end];
        out.push_str(&lookup(results, reference).ok_or_else(|| reference.to_string())?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn halted() -> Json {
    json!([{"errorCode": "PROCESSING_HALTED", "message": "The transaction was rolled back since another operation in the same transaction failed."}])
}

/// `POST /composite`. With `allOrNone`, a failure restores the org as it was before the call
/// (the emulator snapshots it; writes by other clients during the call are lost too).
pub fn composite(ctx: &mut Ctx<'_>) -> Result<Response, ApiError> {
    let body = ctx.json_object()?;
    let requests = body
        .get("compositeRequest")
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default();
    if requests.is_empty() || requests.len() > MAX_SUBREQUESTS {
        return Err(invalid(format!(
            "A composite request must contain between 1 and {MAX_SUBREQUESTS} subrequests"
        )));
    }
    let all_or_none = body
        .get("allOrNone")
        .and_then(Json::as_bool)
        .unwrap_or(false);
    let heavy = requests
        .iter()
        .filter_map(|r| r.get("url").and_then(Json::as_str))
        .filter(|u| {
            u.contains("/query") || u.contains("/queryAll") || u.contains("/composite/sobjects")
        })
        .count();
    if heavy > MAX_QUERY_OR_COLLECTION {
        return Err(invalid(format!(
            "A composite request may contain at most {MAX_QUERY_OR_COLLECTION} query or collection subrequests"
        )));
    }
    ctx.ops = requests.len() as u64;
    let snapshot = all_or_none.then(|| ctx.st.org.read().clone());
    let mut by_ref: Map<String, Json> = Map::new();
    let mut out: Vec<Json> = Vec::with_capacity(requests.len());
    let mut failed = false;
    for r in &requests {
        let reference_id = r
            .get("referenceId")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string();
        if failed && all_or_none {
            out.push(json!({"body": halted(), "httpHeaders": {}, "httpStatusCode": 400, "referenceId": reference_id}));
            continue;
        }
        let method = method_of(r.get("method"))?;
        let url = r
            .get("url")
            .and_then(Json::as_str)
            .ok_or_else(|| invalid("Subrequest without url"))?;
        let resolved = substitute(url, &by_ref).and_then(|u| {
            let b = match r.get("body") {
                Some(b) => Some(
                    serde_json::from_str::<Json>(&substitute(&b.to_string(), &by_ref)?)
                        .map_err(|e| e.to_string())?,
                ),
                None => None,
            };
            Ok((u, b))
        });
        let (url, sub_body) = match resolved {
            Ok(v) => v,
            Err(missing) => {
                failed = true;
                let body = json!([{"errorCode": "PROCESSING_HALTED", "message": format!("Invalid reference specified. No value for {missing} found in {}.", missing.split('.').next().unwrap_or_default())}]);
                out.push(json!({"body": body, "httpHeaders": {}, "httpStatusCode": 400, "referenceId": reference_id}));
                continue;
            }
        };
        let (_, res) = run_sub(ctx, method, &url, sub_body.as_ref())?;
        let mut headers = Map::new();
        if res.status == StatusCode::CREATED
            && let Some(id) = res.body.get("id").and_then(Json::as_str)
        {
            let object = url
                .split('/')
                .skip_while(|s| *s != "sobjects")
                .nth(1)
                .unwrap_or_default();
            headers.insert(
                "Location".into(),
                json!(format!(
                    "/services/data/{}/sobjects/{object}/{id}",
                    ctx.version
                )),
            );
        }
        if let Some(loc) = res.headers.get("location").and_then(|v| v.to_str().ok()) {
            headers.insert("Location".into(), json!(loc));
        }
        failed |= res.status.as_u16() >= 400;
        by_ref.insert(reference_id.clone(), res.body.clone());
        out.push(json!({"body": res.body, "httpHeaders": headers, "httpStatusCode": res.status.as_u16(), "referenceId": reference_id}));
    }
    if failed && let Some(before) = snapshot {
        let mut org = ctx.st.org.write();
        *org = before;
        org.generation = ctx.st.next_generation();
        // Nothing of the rolled-back work happened: no Outbound Messages for it.
        org.changes.clear();
        for item in out.iter_mut() {
            if item["httpStatusCode"].as_u64().is_some_and(|s| s < 400) {
                *item = json!({"body": halted(), "httpHeaders": {}, "httpStatusCode": 400, "referenceId": item["referenceId"].clone()});
            }
        }
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"compositeResponse": out}),
    ))
}
