//! Publishing through the outbox: messages decided inside a transaction are published with confirm
//! after the commit, continuing the trace of the span that decided them.

use chrono::Utc;
use contracts::{Message, Trigger};
use messaging::{Publisher, Route};
use sync_state::sessions::StartOutcome;
use sync_state::{StateError, trigger};
use tracing::Instrument as _;

/// The broker route of a message.
pub fn route_for(message: &Message) -> Route {
    match message {
        Message::SyncJob(_) => Route::SyncJob,
        Message::ChangeBatch(_) => Route::ChangeBatch,
        Message::WriteBatch(batch) => match batch.commands {
            contracts::Commands::Exchange(_) => Route::ExchangeWrite,
            contracts::Commands::Salesforce(_) => Route::SalesforceWrite,
        },
        Message::WriteResults(_) => Route::WriteResult,
    }
}

/// Publishes one message with confirm on its route.
pub async fn publish_message(
    publisher: &Publisher,
    message: &Message,
) -> Result<(), messaging::MessagingError> {
    publisher
        .publish(route_for(message), &message.header().message_id, message)
        .await
}

/// Publishes every pending outbox message (the ones this service just committed and any a crashed
/// peer left behind); returns how many went out.
pub async fn relay(pool: &store::Pool, publisher: &Publisher) -> Result<usize, StateError> {
    trigger::relay_outbox(pool, |stored| async move {
        let message: Message = serde_json::from_value(stored.payload)
            .map_err(|e| format!("outbox message {} does not decode: {e}", stored.message_id))?;
        let span = tracing::info_span!("outbox relay", message_id = %stored.message_id);
        telemetry::set_parent(&span, &stored.trace_context);
        publish_message(publisher, &message)
            .instrument(span)
            .await
            .map_err(|e| e.to_string())
    })
    .await
}

/// [`start_session`] for change notifications naming these mailbox items: `None` when they only
/// echo our own writes (see `sync_state::trigger::start_notified_in`).
pub async fn start_notified_session(
    pool: &store::Pool,
    publisher: &Publisher,
    user_id: &str,
    trigger_kind: Trigger,
    notified: &[sync_state::links::NotifiedItem],
) -> Result<Option<StartOutcome>, StateError> {
    let outcome =
        trigger::start_notified(pool, user_id, trigger_kind, notified, Utc::now()).await?;
    if matches!(outcome, Some(StartOutcome::Started(_))) {
        relay(pool, publisher).await?;
    }
    Ok(outcome)
}

/// Starts a session for a user (or remembers the trigger while one runs) and publishes its job.
pub async fn start_session(
    pool: &store::Pool,
    publisher: &Publisher,
    user_id: &str,
    trigger_kind: Trigger,
) -> Result<StartOutcome, StateError> {
    let outcome = trigger::start(pool, user_id, trigger_kind, Utc::now()).await?;
    if matches!(outcome, StartOutcome::Started(_)) {
        relay(pool, publisher).await?;
    }
    Ok(outcome)
}
