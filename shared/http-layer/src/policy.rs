//! How many times a call is retried and how long each wait is: backoff from `backon`, the
//! server's `Retry-After` when given, and one cap over both.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

/// The retry knobs of one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries of one call after its first attempt (a re-auth does not count).
    pub max_retries: usize,
    /// First backoff delay when the server gives no `Retry-After`; it doubles, with jitter.
    pub min_backoff: Duration,
    /// Cap on any single wait, whatever `Retry-After` asks for.
    pub max_wait: Duration,
}

impl RetryPolicy {
    /// A fresh backoff sequence, for one call or one batch's rounds.
    pub fn backoff(&self) -> Backoff {
        Backoff {
            cap: self.max_wait,
            delays: ExponentialBuilder::new()
                .with_min_delay(self.min_backoff)
                .with_max_delay(self.max_wait)
                .with_jitter()
                .without_max_times()
                .build(),
        }
    }
}

/// The waits between the attempts of one call (or the rounds of one batch).
#[derive(Debug)]
pub struct Backoff {
    cap: Duration,
    delays: ExponentialBackoff,
}

impl Backoff {
    /// The wait before the next attempt: the server's `after` when it gave one, else the next
    /// backoff delay; never more than the policy's cap.
    pub fn wait(&mut self, after: Option<Duration>) -> Duration {
        after
            .or_else(|| self.delays.next())
            .unwrap_or(self.cap)
            .min(self.cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 3,
            min_backoff: Duration::from_millis(100),
            max_wait: Duration::from_secs(2),
        }
    }

    #[test]
    fn the_servers_retry_after_wins_but_is_capped() {
        let mut backoff = policy().backoff();
        assert_eq!(
            backoff.wait(Some(Duration::from_millis(1500))),
            Duration::from_millis(1500)
        );
        assert_eq!(
            backoff.wait(Some(Duration::from_secs(600))),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn without_retry_after_the_backoff_grows_and_stays_under_the_cap() {
        let mut backoff = policy().backoff();
        let waits: Vec<Duration> = (0..10).map(|_| backoff.wait(None)).collect();
        assert!(waits[0] >= Duration::from_millis(100), "{waits:?}");
        assert!(
            waits.iter().all(|w| *w <= Duration::from_secs(2)),
            "{waits:?}"
        );
        assert!(waits[9] > waits[0], "{waits:?}");
    }
}
