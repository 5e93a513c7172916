//! Graph's per-mailbox limits kept on our side: Outlook admits at most four requests in flight per
//! app and mailbox and answers more with 429 (reference §7; "MailboxConcurrency"). Every call on a
//! mailbox first takes slots of that mailbox's gate — a `$batch` as many as Graph runs its items
//! at once — and a 429 pauses every call on that mailbox until its `Retry-After` has passed. The
//! concurrent batches of one user's session then queue here, instead of being refused there and
//! failing the session once their retries run out.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use percent_encoding::percent_decode_str;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Graph runs the items of one `$batch` at most this many at a time (reference §7), so a batch
/// holds this many of its mailbox's slots.
pub(crate) const BATCH_PARALLELISM: u32 = 4;

/// Gates kept before idle ones are dropped (an idle gate is rebuilt on the mailbox's next call).
const PRUNE_AT: usize = 1024;

/// One mailbox's slots and pause.
#[derive(Debug)]
struct Gate {
    slots: Arc<Semaphore>,
    /// No call on the mailbox starts before this (the last 429's `Retry-After`).
    resume_at: Mutex<Option<Instant>>,
}

/// The gates of every mailbox this client calls.
#[derive(Debug)]
pub(crate) struct Gates {
    concurrency: u32,
    gates: Mutex<HashMap<String, Arc<Gate>>>,
}

/// A call's hold on its mailbox's slots, released when dropped.
#[derive(Debug)]
pub(crate) struct Pass {
    _gate: Arc<Gate>,
    _slots: OwnedSemaphorePermit,
}

impl Gates {
    /// Gates admitting `concurrency` requests in flight per mailbox (at least one).
    pub(crate) fn new(concurrency: u32) -> Self {
        Self {
            concurrency: concurrency.max(1),
            gates: Mutex::new(HashMap::new()),
        }
    }

    /// Waits until `slots` of the mailbox's slots are free and its pause has passed.
    pub(crate) async fn enter(&self, mailbox: &str, slots: u32) -> Pass {
        let gate = self.gate(mailbox);
        let wanted = slots.clamp(1, self.concurrency);
        let permit = Arc::clone(&gate.slots)
            .acquire_many_owned(wanted)
            .await
            .expect("a gate's semaphore is never closed");
        loop {
            let resume_at = *gate.resume_at.lock();
            match resume_at {
                Some(at) if at > Instant::now() => tokio::time::sleep_until(at).await,
                _ => break,
            }
        }
        Pass {
            _gate: gate,
            _slots: permit,
        }
    }

    /// Graph throttled a call on `mailbox`: no call on it starts for `after`.
    pub(crate) fn pause(&self, mailbox: &str, after: Duration) {
        let gate = self.gate(mailbox);
        let until = Instant::now() + after;
        let mut resume_at = gate.resume_at.lock();
        *resume_at = Some(resume_at.map_or(until, |at| at.max(until)));
    }

    /// A mailbox's gate; UPNs are case-insensitive, so is the key.
    fn gate(&self, mailbox: &str) -> Arc<Gate> {
        let key = mailbox.to_lowercase();
        let mut gates = self.gates.lock();
        if gates.len() >= PRUNE_AT {
            let now = Instant::now();
            gates.retain(|_, gate| {
                Arc::strong_count(gate) > 1 || gate.resume_at.lock().is_some_and(|at| at > now)
            });
        }
        let gate = gates.entry(key).or_insert_with(|| {
            Arc::new(Gate {
                slots: Arc::new(Semaphore::new(self.concurrency as usize)),
                resume_at: Mutex::new(None),
            })
        });
        Arc::clone(gate)
    }
}

/// The mailbox a Graph URL path works on (the segment after `users`), decoded.
pub(crate) fn mailbox_of(path: &str) -> Option<String> {
    let mut segments = path.split('/');
    segments.find(|s| *s == "users")?;
    segments
        .next()
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mailbox_is_the_segment_after_users() {
        assert_eq!(
            mailbox_of("/v1.0/users/ada%40contoso.test/contactFolders/f/contacts").as_deref(),
            Some("ada@contoso.test")
        );
        assert_eq!(mailbox_of("/v1.0/$batch"), None);
        assert_eq!(mailbox_of("/v1.0/subscriptions/s"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_mailbox_admits_four_in_flight_and_others_are_not_held_up() {
        let gates = Gates::new(4);
        let batch = gates.enter("m", BATCH_PARALLELISM).await;
        // A fifth request on the same mailbox waits for the batch; another mailbox does not.
        let _other = gates.enter("n", 1).await;
        let waiting = tokio::time::timeout(Duration::from_secs(1), gates.enter("m", 1)).await;
        assert!(waiting.is_err(), "the mailbox's slots are all taken");
        drop(batch);
        let _single = gates.enter("m", 1).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttled_call_pauses_its_mailbox_for_the_retry_after() {
        let gates = Gates::new(4);
        let first = gates.enter("m", 1).await;
        gates.pause("m", Duration::from_secs(3));
        drop(first);
        let started = Instant::now();
        let _next = gates.enter("m", 1).await;
        assert!(started.elapsed() >= Duration::from_secs(3));
        let started = Instant::now();
        let _other = gates.enter("n", 1).await;
        assert_eq!(started.elapsed(), Duration::ZERO);
    }
}
