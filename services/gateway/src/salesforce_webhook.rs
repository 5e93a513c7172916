//! `POST /webhooks/salesforce`: Outbound Messages (SOAP). The Organization id must be a known
//! org's; then the message is routed only by the ids it carries (B3): the owner it names and the
//! users linked to the changed records each get a session, nobody else. A notification is a hint
//! that a read will find something, never data; hints for one user coalesce into one session
//! (per message here, across messages by the session start's coalescing). One request starts at
//! most `SALESFORCE_WEBHOOK_MAX_SESSIONS` sessions: the Organization id is no secret. Then `<Ack>`.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use contracts::Trigger;
use salesforce_client::outbound::{ACK_CONTENT_TYPE, ACK_RESPONSE, OutboundMessage};
use sync_core::{IdError, SalesforceId};
use sync_state::StateError;
use sync_state::outbound::{self, Hints, prefix15};

use crate::Ctx;
use crate::error::ApiError;
use crate::metrics::WebhookMetrics;

pub async fn salesforce(
    State(ctx): State<Arc<Ctx>>,
    Extension(metrics): Extension<WebhookMetrics>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad("the Outbound Message is not UTF-8"))?;
    let message = OutboundMessage::parse(text).map_err(|e| ApiError::bad(e.to_string()))?;
    let count = message.notifications.len();
    let users = match handle_message(&ctx, &message).await {
        Ok(users) => users,
        Err(e @ ApiError::Forbidden(_)) => {
            metrics.notifications("salesforce", "refused", count);
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    metrics.notifications("salesforce", "accepted", count);
    metrics.sessions("salesforce", users.len());
    // One ack covers every notification in the message; only sent once every session started,
    // so a failure makes Salesforce redeliver instead of losing the change.
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, ACK_CONTENT_TYPE)],
        ACK_RESPONSE,
    )
        .into_response())
}

/// The ids a message carries, by their 15-character prefix (B15: whichever form each side
/// holds, the first 15 characters are the same): the `OwnerId` of each changed record, and
/// the record ids themselves (users linked to them hear of it whatever their scope, so an owner
/// change removes the old owner's mirror, B7). A notification without `OwnerId` names only its
/// record; an Account's owner is named too (its Contacts' company may have changed). A malformed
/// id names nobody and is logged rather than sent to the database.
pub fn hints(message: &OutboundMessage) -> Hints {
    let mut hints = Hints::default();
    for n in &message.notifications {
        if let Some(owner) = n.owner_id().and_then(|o| well_formed(o, "OwnerId")) {
            hints.owners.push(prefix15(owner.as_str()));
        }
        if let Some(id) = n.record_id().and_then(|id| well_formed(id, "Id")) {
            hints.records.push(prefix15(id.as_str()));
        }
    }
    hints.owners.sort();
    hints.owners.dedup();
    hints.records.sort();
    hints.records.dedup();
    hints
}

fn well_formed(id: Result<SalesforceId, IdError>, field: &str) -> Option<SalesforceId> {
    id.inspect_err(|e| {
        tracing::warn!(field, error = %e, "An Outbound Message carries a malformed id; ignored.");
    })
    .ok()
}

/// Checks the org and starts one session per user the message names (at most
/// `SALESFORCE_WEBHOOK_MAX_SESSIONS`); returns those users.
#[tracing::instrument(skip_all, fields(organization_id = tracing::field::Empty, notifications = message.notifications.len()))]
pub async fn handle_message(ctx: &Ctx, message: &OutboundMessage) -> Result<Vec<String>, ApiError> {
    let organization = message
        .organization()
        .map_err(|e| ApiError::bad(format!("OrganizationId: {e}")))?;
    // Logged in the 18-character form, whichever the message used (B15).
    tracing::Span::current().record("organization_id", tracing::field::display(&organization));
    let client = ctx.pool.get().await.map_err(StateError::from)?;
    let orgs = sync_state::orgs::salesforce_org_ids(&**client).await?;
    // Stored in the 18-character form (B15): plain equality.
    let Some((org_id, _)) = orgs.iter().find(|(_, sf)| *sf == organization.as_str()) else {
        tracing::warn!("Outbound Message from an unknown Salesforce org; refused.");
        return Err(ApiError::Forbidden(format!(
            "organization {} is not a known org",
            message.organization_id
        )));
    };
    let max = ctx.settings.salesforce_webhook_max_sessions;
    let hints = hints(message);
    // One more than the bound, to know whether it cut the list.
    let limit = i64::try_from(max).unwrap_or(i64::MAX).saturating_add(1);
    let mut users = outbound::notified_users(&**client, org_id, &hints, limit).await?;
    drop(client);
    if users.len() > max {
        users.truncate(max);
        tracing::warn!(
            org_id = %org_id,
            max_sessions = max,
            "An Outbound Message names more users than one request may start; the others catch up \
             at their next session."
        );
    }
    for user_id in &users {
        pipeline::start_session(&ctx.pool, &ctx.publisher, user_id, Trigger::Notification).await?;
    }
    tracing::info!(org_id = %org_id, sessions = users.len(), "Outbound Message accepted.");
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;
    use salesforce_client::outbound::OutboundNotification;

    fn notification(id: &str, owner: Option<&str>, sobject: &str) -> OutboundNotification {
        let mut n = OutboundNotification {
            id: format!("04l{id}"),
            sobject_type: Some(sobject.into()),
            sobject_id: Some(id.into()),
            ..OutboundNotification::default()
        };
        if let Some(owner) = owner {
            n.fields.insert("OwnerId".into(), owner.into());
        }
        n
    }

    #[test]
    fn a_message_names_its_owners_and_records_by_their_first_fifteen_characters() {
        let message = OutboundMessage {
            organization_id: "00Dxx0000001gPLEAY".into(),
            notifications: vec![
                notification("003xx0000000001AAA", Some("005xx0000000001AAA"), "Contact"),
                notification("003xx0000000002AAA", Some("005xx0000000001"), "Contact"),
                notification("003xx0000000001AAA", Some("not an id"), "Contact"),
            ],
            ..OutboundMessage::default()
        };
        let h = hints(&message);
        assert_eq!(h.owners, vec!["005xx0000000001".to_owned()]);
        assert_eq!(
            h.records,
            vec!["003xx0000000001".to_owned(), "003xx0000000002".to_owned()]
        );
    }

    #[test]
    fn a_notification_without_an_owner_names_only_its_record() {
        let message = OutboundMessage {
            organization_id: "00Dxx0000001gPLEAY".into(),
            notifications: vec![notification("003xx0000000003AAA", None, "Contact")],
            ..OutboundMessage::default()
        };
        let h = hints(&message);
        assert!(h.owners.is_empty());
        assert_eq!(h.records, vec!["003xx0000000003".to_owned()]);
        let account = OutboundMessage {
            notifications: vec![notification(
                "001xx0000000003AAA",
                Some("005xx0000000001"),
                "Account",
            )],
            ..message
        };
        assert_eq!(hints(&account).owners, vec!["005xx0000000001".to_owned()]);
    }
}
