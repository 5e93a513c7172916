//! Handles one delivery from the salesforce-fetcher's queue(s). (Scaffold: replaced by the real logic.)

use messaging::{Delivery, HandlerError};

use crate::Ctx;

/// Handles one delivery; `Ok` means its effect is durable and the message may be acked.
pub async fn handle(ctx: &Ctx, delivery: Delivery) -> Result<(), HandlerError> {
    let _ = ctx;
    let message: serde_json::Value = delivery
        .decode()
        .map_err(|error| HandlerError::Reject(format!("the body is not JSON: {error}")))?;
    tracing::info!(
        message_id = delivery.message_id().unwrap_or_default(),
        route = delivery.routing_key(),
        fields = message
            .as_object()
            .map(|object| object.len())
            .unwrap_or_default(),
        "Received a message"
    );
    Ok(())
}
