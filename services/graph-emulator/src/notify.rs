//! Delivery of change and lifecycle notifications, and the validation handshake, over reqwest.
//!
//! A notification that is not answered 2xx within the timeout is retried with doubling delays,
//! as Graph does (for up to four hours there; a knob here), and dropped after the last attempt.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::errors::GraphError;
use crate::server::Shared;

/// Sends `payload` to `url` until it is accepted, the attempts run out, the subscription is
/// gone, or the emulator stops. Runs as its own task.
pub fn deliver(shared: &Arc<Shared>, subscription_id: String, url: String, payload: Value) {
    let shared = shared.clone();
    tokio::spawn(async move {
        let knobs = shared.knobs();
        let mut delay = Duration::from_millis(knobs.notification_retry_base_ms.max(1));
        for attempt in 1..=knobs.notification_max_attempts.max(1) {
            if !shared.subscriptions.exists(&subscription_id) && attempt > 1 {
                return;
            }
            let sent = shared
                .http
                .post(&url)
                .timeout(Duration::from_millis(knobs.notification_timeout_ms))
                .json(&payload)
                .send()
                .await;
            let accepted = matches!(&sent, Ok(r) if r.status().is_success());
            shared.subscriptions.record(&subscription_id, accepted);
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
    });
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
