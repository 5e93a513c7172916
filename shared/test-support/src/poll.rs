//! Waiting with a deadline: every test polls through these, none sleeps a fixed time.

use std::future::Future;
use std::time::Duration;

/// How often a condition is polled.
const EVERY: Duration = Duration::from_millis(20);

/// How long [`until`] and [`next`] wait.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Polls `probe` until it yields `Some`, or panics after `secs` seconds with `what`.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {secs}s waiting for {what}"
        );
        tokio::time::sleep(EVERY).await;
    }
}

/// Polls `check` until it holds, or panics after [`DEADLINE`] with `what`.
pub async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually(DEADLINE.as_secs(), what, || {
        let holds = check();
        async move { holds.await.then_some(()) }
    })
    .await;
}

/// Polls `check` until it holds (true) or `deadline` passes (false): for a test that asserts
/// something does *not* happen in time as well as one that it does.
pub async fn poll_until<F, Fut>(deadline: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let until = tokio::time::Instant::now() + deadline;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// Receives the next item, or panics after [`DEADLINE`].
pub async fn next<T>(receiver: &mut tokio::sync::mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(DEADLINE, receiver.recv())
        .await
        .expect("nothing arrived before the deadline")
        .expect("channel closed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_the_first_value_the_probe_yields() {
        let mut calls = 0;
        let value = eventually(5, "the third call", || {
            calls += 1;
            let seen = calls;
            async move { (seen >= 3).then_some(seen) }
        })
        .await;
        assert_eq!(value, 3);
    }

    #[tokio::test]
    #[should_panic(expected = "timed out after 0s waiting for nothing")]
    async fn panics_with_what_it_waited_for_at_the_deadline() {
        eventually(0, "nothing", || async { None::<()> }).await;
    }

    #[tokio::test]
    async fn poll_until_says_whether_the_condition_came_in_time() {
        assert!(poll_until(Duration::from_secs(1), || async { true }).await);
        assert!(!poll_until(Duration::from_millis(50), || async { false }).await);
    }

    #[tokio::test]
    async fn next_receives_what_was_sent() {
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
        sender.send(7).expect("open");
        assert_eq!(next(&mut receiver).await, 7);
    }
}
