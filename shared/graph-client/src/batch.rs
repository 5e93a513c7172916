//! JSON batching (`POST /$batch`): chunks of at most 20 on one mailbox's gate, per-item results in
//! input order, and a retry of only the throttled or failed items after their `Retry-After`
//! (creates only when throttled: a create that failed otherwise may have been carried out, C4).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{debug, instrument};

use crate::client::{GraphClient, MIN_THROTTLED_PAUSE, PREFER_IMMUTABLE_ID};
use crate::error::{ApiError, Disposition, GraphError};
use crate::gate::BATCH_PARALLELISM;

/// Graph refuses batches of more than 20 requests.
pub const MAX_BATCH: usize = 20;

/// One request inside a batch; `url` is relative to the version root (`/users/...`).
#[derive(Debug, Clone)]
pub(crate) struct BatchRequest {
    pub method: Method,
    pub url: String,
    pub body: Option<Value>,
}

/// A non-throttled answer to one batch item.
#[derive(Debug, Clone)]
pub(crate) struct ItemReply {
    pub body: Value,
}

/// Why one item of a batch did not succeed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ItemError {
    /// Graph answered this item with an error status.
    #[error("{0}")]
    Api(ApiError),
    /// The batch request carrying this item failed as a whole (after its retries).
    #[error("batch request failed: {0}")]
    Request(Arc<GraphError>),
    /// The batch answer had no response for this item.
    #[error("batch response carried no answer for this item")]
    Missing,
}

impl ItemError {
    pub fn disposition(&self) -> Disposition {
        match self {
            ItemError::Api(e) => e.disposition,
            ItemError::Request(e) => e.disposition(),
            ItemError::Missing => Disposition::Retry { after: None },
        }
    }
}

#[derive(Serialize)]
struct WireRequest<'a> {
    id: String,
    method: &'a str,
    url: &'a str,
    headers: HashMap<&'static str, &'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<&'a Value>,
}

#[derive(Deserialize)]
struct WireResponses {
    #[serde(default)]
    responses: Vec<WireResponse>,
}

#[derive(Deserialize)]
struct WireResponse {
    id: String,
    status: u16,
    #[serde(default)]
    headers: HashMap<String, String>,
    #[serde(default)]
    body: Value,
}

/// Whether a failed item may simply be sent again. A create (POST) only after a 429: throttling
/// refuses an item before it runs, whereas a 5xx may come after the contact was made, and a
/// resent create would then be a second contact (C4). The caller looks such a create up by its
/// stamp before creating again. Other methods are idempotent.
fn may_resend(request: &BatchRequest, error: &ApiError) -> bool {
    request.method != Method::POST || error.status == StatusCode::TOO_MANY_REQUESTS.as_u16()
}

/// A 429 for the mailbox's concurrency (Outlook's `ApplicationThrottled`, "MailboxConcurrency"
/// limit), which frees as soon as a request in flight ends, unlike its request budget.
fn is_concurrency_limit(error: &ApiError) -> bool {
    error
        .code
        .as_deref()
        .is_some_and(|code| code.eq_ignore_ascii_case("ApplicationThrottled"))
}

fn header_map(headers: &HashMap<String, String>) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            map.insert(name, value);
        }
    }
    map
}

impl GraphClient {
    /// Runs `requests` on `mailbox` through `$batch` and returns one result per request, in
    /// input order.
    ///
    /// `idempotent` is false when any item creates something: the batch is then never resent
    /// after a failure that may have reached Graph (a timeout), only after ones that did not.
    /// Throttled items (429) are sent again after the longest `Retry-After`, the mailbox paused
    /// meanwhile, for at most [`crate::GraphConfig::max_throttled_wait`] in all; other
    /// retryable failures at most `max_retries` times.
    #[instrument(skip_all, fields(items = requests.len()))]
    pub(crate) async fn run_batch(
        &self,
        mailbox: &str,
        requests: &[BatchRequest],
        idempotent: bool,
    ) -> Vec<Result<ItemReply, ItemError>> {
        let mut results: Vec<Option<Result<ItemReply, ItemError>>> = vec![None; requests.len()];
        let mut pending: Vec<usize> = (0..requests.len()).collect();
        let mut backoff = self.backoff();
        let mut failed_rounds = 0;
        let mut throttled_for = Duration::ZERO;
        let max_throttled = self.config().max_throttled_wait;
        while !pending.is_empty() {
            let mut again = Vec::new();
            let mut throttled = false;
            // Items refused for the mailbox's request budget, not for its concurrency.
            let mut over_budget: u32 = 0;
            let mut wait: Option<Duration> = None;
            for chunk in pending.chunks(MAX_BATCH) {
                for (index, outcome) in self.send_chunk(mailbox, requests, chunk, idempotent).await
                {
                    match outcome {
                        Err(ItemError::Api(e))
                            if may_resend(&requests[index], &e)
                                && if e.status == StatusCode::TOO_MANY_REQUESTS.as_u16() {
                                    throttled_for < max_throttled
                                } else {
                                    failed_rounds < self.max_retries()
                                } =>
                        {
                            if let Disposition::Retry { after } = e.disposition {
                                let is_429 = e.status == StatusCode::TOO_MANY_REQUESTS.as_u16();
                                throttled |= is_429;
                                over_budget += u32::from(is_429 && !is_concurrency_limit(&e));
                                again.push(index);
                                wait = wait.max(after);
                            }
                            results[index] = Some(Err(ItemError::Api(e)));
                        }
                        other => results[index] = Some(other),
                    }
                }
            }
            if again.is_empty() {
                break;
            }
            // Retry only those items, all together after the longest Retry-After.
            if throttled {
                // Throttling is about the mailbox: every call on it waits, not only this batch.
                // A budget's `Retry-After` says when the next request is admitted; the items
                // refused for it are as many requests, so the mailbox rests for each of them and
                // the next round finds room for all, instead of one admitted per round.
                let pause = wait
                    .unwrap_or(self.config().min_backoff)
                    .saturating_mul(over_budget.max(1))
                    .clamp(MIN_THROTTLED_PAUSE, max_throttled);
                throttled_for += pause;
                debug!(
                    items = again.len(),
                    wait_ms = pause.as_millis() as u64,
                    "Retrying throttled batch items"
                );
                self.gates().pause(mailbox, pause);
            } else {
                let pause = backoff.wait(wait);
                debug!(
                    items = again.len(),
                    wait_ms = pause.as_millis() as u64,
                    "Retrying failed batch items"
                );
                failed_rounds += 1;
                tokio::time::sleep(pause).await;
            }
            pending = again;
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or(Err(ItemError::Missing)))
            .collect()
    }

    /// Sends one `$batch` of at most 20 items; item ids are the input indices.
    async fn send_chunk(
        &self,
        mailbox: &str,
        requests: &[BatchRequest],
        chunk: &[usize],
        idempotent: bool,
    ) -> Vec<(usize, Result<ItemReply, ItemError>)> {
        let wire: Vec<WireRequest<'_>> = chunk
            .iter()
            .map(|&i| {
                let request = &requests[i];
                let mut headers = HashMap::from([("Prefer", PREFER_IMMUTABLE_ID)]);
                if request.body.is_some() {
                    headers.insert("Content-Type", "application/json");
                }
                WireRequest {
                    id: i.to_string(),
                    method: request.method.as_str(),
                    url: &request.url,
                    headers,
                    body: request.body.as_ref(),
                }
            })
            .collect();
        let body = serde_json::json!({ "requests": wire });
        let answer = match self.url("/$batch", "") {
            // Graph runs up to four of a batch's items at once: the batch holds as many slots.
            Ok(url) => self
                .send_on(
                    Some((mailbox, (chunk.len() as u32).min(BATCH_PARALLELISM))),
                    Method::POST,
                    url,
                    Some(&body),
                    None,
                    idempotent,
                )
                .await
                .and_then(|reply| reply.json::<WireResponses>("batch response")),
            Err(e) => Err(e),
        };
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) => {
                let shared = Arc::new(e);
                return chunk
                    .iter()
                    .map(|&i| (i, Err(ItemError::Request(shared.clone()))))
                    .collect();
            }
        };
        let mut by_id: HashMap<String, WireResponse> = answer
            .responses
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
        chunk
            .iter()
            .map(|&i| {
                let outcome = match by_id.remove(&i.to_string()) {
                    None => Err(ItemError::Missing),
                    Some(r) if (200..300).contains(&r.status) => Ok(ItemReply { body: r.body }),
                    Some(r) => {
                        let status = StatusCode::from_u16(r.status)
                            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                        let body = serde_json::to_vec(&r.body).unwrap_or_default();
                        Err(ItemError::Api(ApiError::from_response(
                            status,
                            &header_map(&r.headers),
                            &body,
                        )))
                    }
                };
                (i, outcome)
            })
            .collect()
    }
}
