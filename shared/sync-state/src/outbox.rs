//! The transactional outbox: messages decided inside a transaction are stored with it and
//! published with confirm afterwards, so a crash between commit and publish loses nothing.

use tokio_postgres::Transaction;

use crate::StateError;

/// A stored message waiting for its confirmed publish.
#[derive(Debug, Clone)]
pub struct OutboxMessage {
    pub id: i64,
    pub message_id: String,
    pub route: String,
    pub payload: serde_json::Value,
    /// The W3C trace context of the span that decided the message.
    pub trace_context: std::collections::HashMap<String, String>,
}

/// Stores a message to publish once the transaction commits. A repeat of the same message id is
/// ignored (the decision that produced it was already taken).
pub async fn enqueue(
    tx: &Transaction<'_>,
    message_id: &str,
    route: &str,
    payload: &serde_json::Value,
) -> Result<(), StateError> {
    let trace = serde_json::to_value(telemetry::inject_context(&tracing::Span::current()))?;
    tx.execute(
        "INSERT INTO outbox (message_id, route, payload, trace_context) VALUES ($1, $2, $3, $4)
         ON CONFLICT (message_id) DO NOTHING",
        &[&message_id, &route, payload, &trace],
    )
    .await?;
    Ok(())
}

/// The oldest messages still to publish, locked so that concurrent relays (every service relays
/// after its own commits, the scheduler sweeps) skip them instead of publishing them twice.
pub async fn claim_pending(
    tx: &Transaction<'_>,
    limit: i64,
) -> Result<Vec<OutboxMessage>, StateError> {
    let rows = tx
        .query(
            "SELECT id, message_id, route, payload, trace_context FROM outbox ORDER BY id LIMIT $1
             FOR UPDATE SKIP LOCKED",
            &[&limit],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(OutboxMessage {
                id: r.get(0),
                message_id: r.get(1),
                route: r.get(2),
                payload: r.get(3),
                trace_context: serde_json::from_value(r.get(4))?,
            })
        })
        .collect()
}

/// Forgets messages once the broker confirmed them.
pub async fn delete_all(tx: &Transaction<'_>, ids: &[i64]) -> Result<(), StateError> {
    if ids.is_empty() {
        return Ok(());
    }
    tx.execute("DELETE FROM outbox WHERE id = ANY($1)", &[&ids])
        .await?;
    Ok(())
}
