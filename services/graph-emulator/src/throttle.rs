//! Outlook throttling: per (app, mailbox) concurrency and a request budget, answered with 429.
//!
//! "Outlook service limits are evaluated for each app ID and mailbox combination": 4 requests in
//! flight and 10,000 requests per 10 minutes. The budget is a token bucket refilled continuously,
//! so `Retry-After` says exactly when the next request will be admitted.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use crate::config::Knobs;
use crate::errors::GraphError;

#[derive(Debug)]
struct Entry {
    in_flight: u32,
    tokens: f64,
    refilled: Instant,
}

type Key = (String, String);

/// Throttling state of every (app, mailbox) pair that has been called.
#[derive(Default)]
pub struct Throttle {
    entries: Arc<Mutex<HashMap<Key, Entry>>>,
}

/// Holds one of the pair's concurrency slots until dropped.
pub struct Permit {
    entries: Arc<Mutex<HashMap<Key, Entry>>>,
    key: Key,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(entry) = self.entries.lock().get_mut(&self.key) {
            entry.in_flight = entry.in_flight.saturating_sub(1);
        }
    }
}

/// How long a caller rejected for concurrency is told to wait, seconds.
const CONCURRENCY_RETRY_AFTER: f64 = 1.0;

impl Throttle {
    /// Admits one request of `app` on `mailbox`, or answers 429.
    pub fn acquire(
        &self,
        app: &str,
        mailbox: &str,
        knobs: &Knobs,
    ) -> Result<Option<Permit>, GraphError> {
        if !knobs.throttle_enabled {
            return Ok(None);
        }
        let key = (app.to_owned(), mailbox.to_owned());
        let budget = f64::from(knobs.mailbox_request_budget.max(1));
        let window = knobs.throttle_window_secs.max(0.001);
        let rate = budget / window;
        let now = Instant::now();
        let mut entries = self.entries.lock();
        let entry = entries.entry(key.clone()).or_insert(Entry {
            in_flight: 0,
            tokens: budget,
            refilled: now,
        });
        let elapsed = now.duration_since(entry.refilled).as_secs_f64();
        entry.tokens = (entry.tokens + elapsed * rate).min(budget);
        entry.refilled = now;
        if entry.in_flight >= knobs.mailbox_concurrency {
            return Err(GraphError::Throttled {
                code: "ApplicationThrottled",
                message: "Application is over its MailboxConcurrency limit.",
                retry_after: CONCURRENCY_RETRY_AFTER,
            });
        }
        if entry.tokens < 1.0 {
            return Err(GraphError::Throttled {
                code: "TooManyRequests",
                message: "Please retry again later.",
                retry_after: ((1.0 - entry.tokens) / rate).max(0.001),
            });
        }
        entry.tokens -= 1.0;
        entry.in_flight += 1;
        Ok(Some(Permit {
            entries: self.entries.clone(),
            key,
        }))
    }

    pub fn clear(&self) {
        self.entries.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fifth_concurrent_request_is_throttled_and_a_released_slot_admits_again() {
        let throttle = Throttle::default();
        let knobs = Knobs::default();
        let permits: Vec<_> = (0..4)
            .map(|_| throttle.acquire("app", "mbx", &knobs))
            .collect();
        assert!(permits.iter().all(Result::is_ok));
        let fifth = throttle.acquire("app", "mbx", &knobs);
        assert!(matches!(
            fifth,
            Err(GraphError::Throttled {
                code: "ApplicationThrottled",
                ..
            })
        ));
        // Another mailbox, or another app, is not affected.
        assert!(throttle.acquire("app", "other", &knobs).is_ok());
        assert!(throttle.acquire("other-app", "mbx", &knobs).is_ok());
        drop(permits);
        assert!(throttle.acquire("app", "mbx", &knobs).is_ok());
    }

    #[test]
    fn an_exhausted_budget_says_when_to_retry() {
        let throttle = Throttle::default();
        let knobs = Knobs {
            mailbox_request_budget: 2,
            throttle_window_secs: 60.0,
            ..Knobs::default()
        };
        assert!(throttle.acquire("a", "m", &knobs).is_ok());
        assert!(throttle.acquire("a", "m", &knobs).is_ok());
        match throttle.acquire("a", "m", &knobs) {
            Err(GraphError::Throttled {
                code, retry_after, ..
            }) => {
                assert_eq!(code, "TooManyRequests");
                assert!(retry_after > 29.0 && retry_after <= 30.0, "{retry_after}");
            }
            _ => panic!("expected a 429"),
        }
    }
}
