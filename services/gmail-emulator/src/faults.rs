//! Injected faults and request counters: the test-only state the control API drives around real
//! API traffic (same JSON as the Graph emulator's).

use std::collections::{BTreeMap, HashMap};

use axum::http::StatusCode;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::errors::{self, ApiError};

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
    /// A `by_route` key (`"GET /v1/people/me/connections"`), a prefix ending in `*`, or absent
    /// for every route.
    #[serde(default)]
    pub route: Option<String>,
    /// Only calls as this mailbox (email).
    #[serde(default)]
    pub mailbox: Option<String>,
    /// The canonical status name (`UNAVAILABLE`); default from the HTTP status.
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    /// The call takes effect and then the error is answered (a lost response).
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

    fn error(&self) -> ApiError {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let canonical = self
            .code
            .clone()
            .unwrap_or_else(|| ApiError::canonical_for(status).to_owned());
        let message = self.message.clone().unwrap_or_else(|| {
            match status.as_u16() {
                401 => errors::UNAUTHENTICATED,
                404 => errors::NOT_FOUND,
                503 => errors::UNAVAILABLE,
                429 => "Resource has been exhausted (e.g. check quota).",
                _ => "Internal error encountered.",
            }
            .to_owned()
        });
        let mut error = ApiError::new(status, &canonical, message);
        error.retry_after = self.retry_after;
        error
    }
}

/// Pending faults, consumed first-in first-out by matching calls.
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

    /// The error the next matching fault injects, consuming one of its count, and whether the
    /// call is to take effect first.
    pub fn take(&self, route: &str, mailbox: Option<&str>) -> Option<(ApiError, bool)> {
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
    inner: Mutex<CountersView>,
}

/// `GET /_emulator/requests`.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct CountersView {
    /// HTTP requests (the token endpoint included; a batch call is one).
    pub http_requests: u64,
    /// API operations: a direct call is one, a batch call one per item.
    pub operations: u64,
    pub by_route: BTreeMap<String, u64>,
    /// Mutations that started while another of the same user was running.
    pub concurrent_mutations: u64,
}

impl Counters {
    pub fn http_request(&self, route: &str) {
        let mut inner = self.inner.lock();
        inner.http_requests += 1;
        *inner.by_route.entry(route.to_owned()).or_default() += 1;
    }

    pub fn operations(&self, n: u64) {
        self.inner.lock().operations += n;
    }

    pub fn concurrent_mutation(&self) {
        self.inner.lock().concurrent_mutations += 1;
    }

    pub fn view(&self) -> CountersView {
        self.inner.lock().clone()
    }

    pub fn clear(&self) {
        *self.inner.lock() = CountersView::default();
    }
}

/// Per-user per-minute quotas: one continuously refilling bucket per (user, class).
#[derive(Default)]
pub struct Quota {
    buckets: Mutex<HashMap<(String, QuotaClass), (f64, std::time::Instant)>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QuotaClass {
    Read,
    Write,
    FullSync,
}

impl QuotaClass {
    /// Metric and limit names (reads observed; writes and full syncs UNCONFIRMED).
    fn names(self) -> (&'static str, &'static str) {
        match self {
            QuotaClass::Read => (
                "Critical read requests (Contact and Profile Reads)",
                "CriticalReadsPerMinutePerProjectPerUser",
            ),
            QuotaClass::Write => (
                "Critical write requests (Contact and Profile Writes)",
                "CriticalWritesPerMinutePerProjectPerUser",
            ),
            QuotaClass::FullSync => (
                "Full sync requests",
                "FullSyncRequestsPerMinutePerProjectPerUser",
            ),
        }
    }
}

impl Quota {
    /// Takes one unit of `class` for `user`, or the 429 when the minute's quota is spent.
    pub fn take(&self, user: &str, class: QuotaClass, per_minute: u32) -> Result<(), ApiError> {
        let capacity = f64::from(per_minute);
        let now = std::time::Instant::now();
        let mut buckets = self.buckets.lock();
        let (level, last) = buckets
            .entry((user.to_owned(), class))
            .or_insert((capacity, now));
        *level = (*level + now.duration_since(*last).as_secs_f64() * capacity / 60.0).min(capacity);
        *last = now;
        if *level < 1.0 {
            let (metric, limit) = class.names();
            return Err(ApiError::quota_exceeded(metric, limit));
        }
        *level -= 1.0;
        Ok(())
    }

    pub fn clear(&self) {
        self.buckets.lock().clear();
    }
}
