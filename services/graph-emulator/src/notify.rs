//! Delivery of change and lifecycle notifications, and the validation handshake, over reqwest.
//!
//! A notification that is not answered 2xx within the timeout is retried with doubling delays,
//! as Graph does (for up to four hours there; a knob here), and dropped after the last attempt.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::errors::GraphError;
use crate::server::Shared;

/// Sends `payload` to `url` in its own task until it is accepted, the attempts run out, the
/// subscription is gone, or the emulator stops (lifecycle events).
pub fn deliver(shared: &Arc<Shared>, subscription_id: String, url: String, payload: Value) {
    let shared = shared.clone();
    tokio::spawn(async move { send_with_retries(&shared, &subscription_id, &url, &payload).await });
}

/// Queues a change notification for its subscription. Each subscription has one delivery task
/// that sends what has queued up (at most `notification_batch_max` per POST) and waits for the
/// answer before the next POST, so a burst of changes arrives batched and in order, and a slow
/// endpoint slows its own deliveries only.
pub fn enqueue(shared: &Arc<Shared>, subscription_id: &str, url: &str, notification: Value) {
    let Some((sender, new_receiver)) = shared.subscriptions.queue(subscription_id) else {
        return;
    };
    if let Some(receiver) = new_receiver {
        tokio::spawn(worker(
            shared.clone(),
            subscription_id.to_owned(),
            url.to_owned(),
            receiver,
        ));
    }
    // A closed queue means the subscription was removed meanwhile: nothing to deliver.
    let _ = sender.send(notification);
}

async fn worker(shared: Arc<Shared>, id: String, url: String, mut queue: UnboundedReceiver<Value>) {
    loop {
        let first = tokio::select! {
            () = shared.shutdown.cancelled() => return,
            next = queue.recv() => match next {
                Some(value) => value,
                None => return,
            },
        };
        let max = shared.knobs().notification_batch_max.max(1);
        let mut batch = vec![first];
        while batch.len() < max {
            match queue.try_recv() {
                Ok(value) => batch.push(value),
                Err(_) => break,
            }
        }
        // Notifications the control API asked to lose vanish here, before any attempt.
        batch.retain(|_| {
            shared
                .dropped_notifications
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_err()
        });
        if batch.is_empty() {
            continue;
        }
        if !shared.subscriptions.exists(&id) {
            return;
        }
        send_with_retries(&shared, &id, &url, &serde_json::json!({ "value": batch })).await;
    }
}

async fn send_with_retries(shared: &Shared, subscription_id: &str, url: &str, payload: &Value) {
    let knobs = shared.knobs();
    let mut delay = Duration::from_millis(knobs.notification_retry_base_ms.max(1));
    for attempt in 1..=knobs.notification_max_attempts.max(1) {
        if attempt > 1 && !shared.subscriptions.exists(subscription_id) {
            return;
        }
        let sent = shared
            .http
            .post(url)
            .timeout(Duration::from_millis(knobs.notification_timeout_ms))
            .json(payload)
            .send()
            .await;
        let accepted = matches!(&sent, Ok(r) if r.status().is_success());
        shared.subscriptions.record(subscription_id, accepted);
        if accepted {
            return;
        }
        tracing::debug!(
            subscription_id,
            attempt,
            "Notification not accepted, will retry"
        );
        tokio::select! {
            () = shared.shutdown.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
        delay = delay.saturating_mul(2);
    }
    tracing::info!(
        subscription_id,
        "Notification dropped after the last attempt"
    );
}

/// The validation handshake: POST `?validationToken=…`, expect a 200 `text/plain` echo in time.
pub async fn validate(shared: &Shared, url: &str) -> Result<(), GraphError> {
    let knobs = shared.knobs();
    let token = format!(
        "Validation: Testing client application reachability for subscription Request-Id: {}",
        uuid::Uuid::new_v4()
    );
    let mut target = url::Url::parse(url).map_err(|_| invalid_url(url))?;
    target
        .query_pairs_mut()
        .append_pair("validationToken", &token);
    let failed = || {
        GraphError::bad_request(
            "InvalidRequest",
            "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.",
        )
    };
    let response = shared
        .http
        .post(target)
        .header("Content-Type", "text/plain; charset=utf-8")
        .timeout(Duration::from_millis(knobs.validation_timeout_ms))
        .send()
        .await;
    let response = match response {
        Ok(r) => r,
        Err(e) if e.is_timeout() => {
            return Err(GraphError::bad_request(
                "ValidationError",
                "Subscription validation request timed out.",
            ));
        }
        Err(_) => return Err(failed()),
    };
    if response.status() != reqwest::StatusCode::OK {
        return Err(failed());
    }
    let is_text = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("text/plain"));
    if knobs.validation_requires_text_plain && !is_text {
        return Err(failed());
    }
    let body = tokio::time::timeout(
        Duration::from_millis(knobs.validation_timeout_ms),
        response.text(),
    )
    .await
    .map_err(|_| {
        GraphError::bad_request(
            "ValidationError",
            "Subscription validation request timed out.",
        )
    })?
    .map_err(|_| failed())?;
    if body.trim() != token {
        return Err(failed());
    }
    Ok(())
}

pub fn invalid_url(url: &str) -> GraphError {
    GraphError::bad_request(
        "InvalidRequest",
        format!("The notification URL '{url}' is not a valid absolute URL."),
    )
}
