//! `POST /v1.0/$batch`: up to 20 requests, `dependsOn`, per-item status, headers and body.
//!
//! Items are dispatched through `server::operation`, the same pipeline as direct calls, so
//! faults, throttling and counting apply per item. Independent items run a few at a time, as
//! Graph hands Outlook at most four; an item whose dependency failed gets 424 without running.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::errors::GraphError;
use crate::router;
use crate::server::{self, Shared};
use crate::wire::{ApiRequest, ApiResponse, Body, parse_query};

struct Item {
    id: String,
    depends_on: Vec<String>,
    request: Result<(ApiRequest, router::Target, String), GraphError>,
}

fn malformed(message: impl Into<String>) -> GraphError {
    GraphError::bad_request("BadRequest", message)
}

/// Turns one entry of `requests` into an API request, or the item-level error it answers.
fn item_request(outer: &ApiRequest, entry: &Map<String, Value>) -> Result<ApiRequest, GraphError> {
    let method = entry
        .get("method")
        .and_then(Value::as_str)
        .and_then(|m| Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok())
        .ok_or_else(|| malformed("Invalid or missing method."))?;
    let url = entry.get("url").and_then(Value::as_str).unwrap_or_default();
    let mut headers = HeaderMap::new();
    // Only the outer request's credentials carry over: `Prefer` and the rest are per item.
    if let Some(auth) = outer.headers.get("authorization") {
        headers.insert("authorization", auth.clone());
    }
    if let Some(Value::Object(map)) = entry.get("headers") {
        for (name, value) in map {
            let value = value
                .as_str()
                .ok_or_else(|| malformed("Header values must be strings."))?;
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| malformed("Invalid header name."))?;
            let value =
                HeaderValue::from_str(value).map_err(|_| malformed("Invalid header value."))?;
            headers.append(name, value);
        }
    }
    let body = match entry.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(body) => {
            // Documented: headers are required when a body is given, with a Content-Type.
            let content_type = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| {
                    malformed(
                        "Content-Type header must be specified when a request body is present.",
                    )
                })?;
            if !content_type
                .to_ascii_lowercase()
                .starts_with("application/json")
            {
                return Err(malformed(
                    "Only application/json bodies are supported in this batch.",
                ));
            }
            serde_json::to_vec(body).unwrap_or_default()
        }
    };
    let url = url.trim_start_matches('/');
    // Clients (Microsoft's own SDKs among them) send `/v1.0/users/…`; Graph accepts the version
    // segment in a batch item's URL as well as without it.
    let url = match url.split_once('/') {
        Some((version, rest)) if version.eq_ignore_ascii_case("v1.0") => rest,
        _ => url,
    };
    let (path, query) = match url.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (url, None),
    };
    Ok(ApiRequest {
        method,
        path: format!("/v1.0/{path}"),
        query: parse_query(query),
        headers,
        body,
        base_url: outer.base_url.clone(),
    })
}

/// Parses and checks the whole batch: the answers for a malformed one are a single 400.
fn parse_batch(outer: &ApiRequest, max: usize) -> Result<Vec<Item>, GraphError> {
    let value: Value = serde_json::from_slice(&outer.body)
        .map_err(|_| malformed("Unable to deserialize content."))?;
    let requests = value
        .get("requests")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("Invalid batch payload format."))?;
    if requests.is_empty() {
        return Err(malformed("Invalid batch payload format."));
    }
    if requests.len() > max {
        return Err(malformed(format!(
            "The number of requests in the batch exceeds the limit of {max}."
        )));
    }
    let mut items = Vec::with_capacity(requests.len());
    let mut seen = std::collections::HashSet::new();
    for entry in requests {
        let entry = entry
            .as_object()
            .ok_or_else(|| malformed("Invalid batch payload format."))?;
        let id = match entry.get("id") {
            Some(Value::String(id)) if !id.is_empty() => id.clone(),
            _ => return Err(malformed("Each request in a batch needs a string id.")),
        };
        if !seen.insert(id.to_lowercase()) {
            return Err(malformed(format!(
                "Batch request contains duplicate id '{id}'."
            )));
        }
        let url = entry.get("url").and_then(Value::as_str).unwrap_or_default();
        if url.is_empty() || entry.get("method").and_then(Value::as_str).is_none() {
            return Err(malformed(
                "Each request in a batch needs a method and a url.",
            ));
        }
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            return Err(malformed("Batch request URLs must be relative."));
        }
        let depends_on = match entry.get("dependsOn") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(ids)) => ids
                .iter()
                .map(|d| {
                    d.as_str()
                        .map(str::to_lowercase)
                        .ok_or_else(|| malformed("dependsOn must list ids."))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(malformed("dependsOn must list ids.")),
        };
        let request = item_request(outer, entry).and_then(|req| {
            let segs = router::segments(&req.path);
            let (target, route) = router::parse(&req.method, segs.get(1..).unwrap_or_default())?;
            Ok((req, target, route))
        });
        items.push(Item {
            id,
            depends_on,
            request,
        });
    }
    for item in &items {
        for dep in &item.depends_on {
            if !seen.contains(dep) || *dep == item.id.to_lowercase() {
                return Err(malformed(format!(
                    "dependsOn refers to an unknown request id '{dep}'."
                )));
            }
        }
    }
    Ok(items)
}

fn item_json(id: &str, response: ApiResponse) -> Value {
    let mut headers = Map::new();
    for (name, value) in &response.headers {
        headers.insert(name.clone(), Value::String(value.clone()));
    }
    let mut out = json!({"id": id, "status": response.status.as_u16(), "headers": headers});
    if let Body::Json(body) = response.body {
        out["body"] = body;
    }
    out
}

pub async fn run(shared: &Arc<Shared>, app_id: &str, outer: &ApiRequest) -> ApiResponse {
    let client_request_id = outer.client_request_id();
    if outer.method != Method::POST {
        return GraphError::MethodNotAllowed.into_response(&client_request_id);
    }
    let knobs = shared.knobs();
    let items = match parse_batch(outer, knobs.batch_max) {
        Ok(items) => items,
        Err(e) => return e.into_response(&client_request_id),
    };
    // Status of finished items by lower-cased id.
    let mut done: HashMap<String, StatusCode> = HashMap::new();
    let mut responses: Vec<Option<Value>> = vec![None; items.len()];
    let parallelism = knobs.batch_parallelism.max(1);
    while done.len() < items.len() {
        let ready: Vec<usize> = (0..items.len())
            .filter(|&i| responses[i].is_none())
            .filter(|&i| items[i].depends_on.iter().all(|d| done.contains_key(d)))
            .collect();
        if ready.is_empty() {
            // Only a dependency cycle gets here: answer 424 for what cannot run.
            for (i, item) in items.iter().enumerate() {
                if responses[i].is_none() {
                    responses[i] = Some(failed_dependency(&item.id, &client_request_id));
                    done.insert(item.id.to_lowercase(), StatusCode::FAILED_DEPENDENCY);
                }
            }
            break;
        }
        for chunk in ready.chunks(parallelism) {
            let client_request_id = client_request_id.as_str();
            let finished = &done;
            let futures = chunk.iter().map(|&i| {
                let item = &items[i];
                let dependency_failed = item
                    .depends_on
                    .iter()
                    .any(|d| finished.get(d).is_some_and(|s| !s.is_success()));
                async move {
                    if dependency_failed {
                        return (
                            i,
                            StatusCode::FAILED_DEPENDENCY,
                            failed_dependency(&item.id, client_request_id),
                        );
                    }
                    let response = match &item.request {
                        Ok((req, target, route)) => {
                            shared.counters.operation(route, true);
                            server::operation(shared, app_id, req, target.clone(), route).await
                        }
                        Err(e) => {
                            shared.counters.operation("(invalid batch item)", false);
                            e.clone().into_response(client_request_id)
                        }
                    };
                    (i, response.status, item_json(&item.id, response))
                }
            });
            let results = futures::future::join_all(futures).await;
            for (i, status, json) in results {
                done.insert(items[i].id.to_lowercase(), status);
                responses[i] = Some(json);
            }
        }
    }
    let responses: Vec<Value> = responses.into_iter().flatten().collect();
    ApiResponse::json(StatusCode::OK, json!({"responses": responses}))
}

fn failed_dependency(id: &str, client_request_id: &str) -> Value {
    let error = GraphError::Injected {
        status: StatusCode::FAILED_DEPENDENCY,
        code: "FailedDependency".to_owned(),
        message: "The request could not be performed because a request it depends on failed."
            .to_owned(),
        retry_after: None,
    };
    item_json(id, error.into_response(client_request_id))
}
