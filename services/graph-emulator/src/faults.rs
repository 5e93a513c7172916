//! Injected faults and request counters: the two pieces of test-only state the control API
//! drives around real API traffic.

use std::collections::{BTreeMap, HashMap};

use axum::http::StatusCode;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::errors::GraphError;

/// `POST /_emulator/faults` body.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub status: u16,
    /// How many matching operations fail (default 1).
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default, alias = "retryAfter", alias = "Retry-After")]
    pub retry_after: Option<f64>,
    /// A `by_route` key (`"GET /v1.0/users/{id}/contacts/{id}"`), a prefix ending in `*`, or
    /// absent for every route.
    #[serde(default)]
    pub route: Option<String>,
    /// Only operations on this mailbox (id or user principal name).
    #[serde(default)]
    pub mailbox: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    /// The operation takes effect and then the error is answered: a lost response, as when
    /// "DELETE has answered 404 while carrying itself out". Tests retries for idempotency.
    #[serde(default)]
    pub after_effect: bool,
}

fn one() -> u32 {
    1
}

impl FaultSpec {
    fn matches(&self, route: &str, mailbox: Option<&str>) -> bool {
        let route_ok = match self.route.as_deref() {
            None | Some("*") => true,
            Some(pattern) => match pattern.strip_suffix('*') {
                Some(prefix) => route.to_lowercase().starts_with(&prefix.to_lowercase()),
                None => route.eq_ignore_ascii_case(pattern),
            },
        };
        let mailbox_ok = match (&self.mailbox, mailbox) {
            (None, _) => true,
            (Some(want), Some(got)) => want.eq_ignore_ascii_case(got),
            (Some(_), None) => false,
        };
        route_ok && mailbox_ok && self.count > 0
    }

    fn error(&self) -> GraphError {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let (code, message) = match self.status {
            429 => ("TooManyRequests", "Please retry again later."),
            503 => (
                "serviceNotAvailable",
                "The service is temporarily unavailable. Please retry later.",
            ),
            504 => (
                "UnknownError",
                "The gateway did not receive a timely response.",
            ),
            401 => (
                "InvalidAuthenticationToken",
                "Access token has expired or is not yet valid.",
            ),
            404 => (
                "ErrorItemNotFound",
                "The specified object was not found in the store.",
            ),
            409 => (
                "ErrorIrresolvableConflict",
                "The operation conflicted with another change.",
            ),
            _ => ("generalException", "An unspecified error has occurred."),
        };
        GraphError::Injected {
            status,
            code: self.code.clone().unwrap_or_else(|| code.to_owned()),
            message: self.message.clone().unwrap_or_else(|| message.to_owned()),
            retry_after: self.retry_after,
        }
    }
}

/// Pending faults, consumed first-in first-out by matching operations.
#[derive(Default)]
pub struct Faults {
    pending: Mutex<Vec<FaultSpec>>,
}

impl Faults {
    pub fn add(&self, spec: FaultSpec) {
        self.pending.lock().push(spec);
    }

    pub fn list(&self) -> Vec<FaultSpec> {
        self.pending.lock().clone()
    }

    pub fn clear(&self) {
        self.pending.lock().clear();
    }

    /// The error the next matching fault injects, consuming one of its count.
    /// The error the next matching fault injects, consuming one of its count, and whether the
    /// operation is to take effect first.
    pub fn take(&self, route: &str, mailbox: Option<&str>) -> Option<(GraphError, bool)> {
        let mut pending = self.pending.lock();
        let index = pending.iter().position(|f| f.matches(route, mailbox))?;
        let fault = &mut pending[index];
        fault.count -= 1;
        let injected = (fault.error(), fault.after_effect);
        if fault.count == 0 {
            pending.remove(index);
        }
        Some(injected)
    }
}

/// Real API traffic since the last reset.
#[derive(Default)]
pub struct Counters {
    inner: Mutex<CountersInner>,
}

#[derive(Default)]
struct CountersInner {
    http_requests: u64,
    operations: u64,
    by_route: HashMap<String, u64>,
}

/// `GET /_emulator/requests`.
#[derive(Debug, Serialize, Deserialize)]
pub struct CountersView {
    pub http_requests: u64,
    pub operations: u64,
    pub by_route: BTreeMap<String, u64>,
}

impl Counters {
    /// One HTTP request on the wire (a `$batch` is one, whatever it holds).
    pub fn http_request(&self, route: &str) {
        let mut inner = self.inner.lock();
        inner.http_requests += 1;
        *inner.by_route.entry(route.to_owned()).or_default() += 1;
    }

    /// One API operation: a direct call, or one item of a `$batch`.
    pub fn operation(&self, route: &str, also_route: bool) {
        let mut inner = self.inner.lock();
        inner.operations += 1;
        if also_route {
            *inner.by_route.entry(route.to_owned()).or_default() += 1;
        }
    }

    pub fn view(&self) -> CountersView {
        let inner = self.inner.lock();
        CountersView {
            http_requests: inner.http_requests,
            operations: inner.operations,
            by_route: inner
                .by_route
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
        }
    }

    pub fn clear(&self) {
        *self.inner.lock() = CountersInner::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_fires_count_times_on_its_route_only() {
        let faults = Faults::default();
        faults.add(FaultSpec {
            status: 503,
            count: 2,
            retry_after: Some(1.5),
            route: Some("GET /v1.0/users/{id}/contacts".to_owned()),
            mailbox: None,
            code: None,
            message: None,
            after_effect: false,
        });
        assert!(
            faults
                .take("PATCH /v1.0/users/{id}/contacts/{id}", None)
                .is_none()
        );
        assert!(faults.take("GET /v1.0/users/{id}/contacts", None).is_some());
        assert!(faults.take("get /v1.0/users/{id}/contacts", None).is_some());
        assert!(faults.take("GET /v1.0/users/{id}/contacts", None).is_none());
    }
}
