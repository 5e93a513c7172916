//! `POST /webhooks/salesforce`: Outbound Messages (SOAP). The Organization id must be a known
//! org's; the users who may see the changed Contacts get a session each (B3); then `<Ack>`.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use contracts::Trigger;
use salesforce_client::outbound::{ACK_CONTENT_TYPE, ACK_RESPONSE, OutboundMessage};
use sync_state::StateError;

use crate::Ctx;
use crate::error::ApiError;
use crate::metrics::WebhookMetrics;
use crate::queries::{self, Audience};
use crate::validate::same_salesforce_id;

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

/// Who the message concerns: the owners of changed Contacts (when the message carries
/// `OwnerId`), and the changed records themselves (for users linked to them).
pub fn audience(message: &OutboundMessage) -> Audience {
    let mut audience = Audience::default();
    for n in &message.notifications {
        let is_contact = n
            .sobject_type
            .as_deref()
            .is_none_or(|t| t.eq_ignore_ascii_case("Contact"));
        match n.fields.get("OwnerId").filter(|o| is_record_id(o)) {
            Some(owner) if is_contact => audience.owners.push(prefix15(owner)),
            // No owner, or not a Contact (an Account rename changes its Contacts' company):
            // any `mine` user may see it.
            _ => audience.every_mine_user = true,
        }
        if let Some(id) = n.sobject_id.as_deref().filter(|id| is_record_id(id)) {
            audience.records.push(prefix15(id));
        }
    }
    audience.owners.sort();
    audience.owners.dedup();
    audience.records.sort();
    audience.records.dedup();
    audience
}

/// A Salesforce record id (15 or 18 letters and digits); anything else is ignored rather than
/// sent to the database.
fn is_record_id(id: &str) -> bool {
    matches!(id.len(), 15 | 18) && id.chars().all(|c| c.is_ascii_alphanumeric())
}

fn prefix15(id: &str) -> String {
    id.chars().take(15).collect()
}

/// Checks the org and starts one session per concerned user; returns those users.
#[tracing::instrument(skip_all, fields(organization_id = %message.organization_id, notifications = message.notifications.len()))]
pub async fn handle_message(ctx: &Ctx, message: &OutboundMessage) -> Result<Vec<String>, ApiError> {
    let client = ctx.pool.get().await.map_err(StateError::from)?;
    let orgs = queries::salesforce_org_ids(&**client).await?;
    let Some((org_id, _)) = orgs
        .iter()
        .find(|(_, sf)| same_salesforce_id(sf, &message.organization_id))
    else {
        tracing::warn!("Outbound Message from an unknown Salesforce org; refused.");
        return Err(ApiError::Forbidden(format!(
            "organization {} is not a known org",
            message.organization_id
        )));
    };
    if message.notifications.is_empty() {
        return Ok(Vec::new());
    }
    let users = queries::notified_users(&**client, org_id, &audience(message)).await?;
    drop(client);
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
    fn owners_of_contacts_are_named_and_missing_owners_widen_to_every_mine_user() {
        let message = OutboundMessage {
            organization_id: "00Dxx0000001gPLEAY".into(),
            notifications: vec![
                notification("003xx0000000001AAA", Some("005xx0000000001AAA"), "Contact"),
                notification("003xx0000000002AAA", Some("005xx0000000001"), "Contact"),
            ],
            ..OutboundMessage::default()
        };
        let a = audience(&message);
        assert!(!a.every_mine_user);
        assert_eq!(a.owners, vec!["005xx0000000001".to_owned()]);
        assert_eq!(a.records.len(), 2);

        let message = OutboundMessage {
            notifications: vec![notification("003xx0000000003AAA", None, "Contact")],
            ..message
        };
        assert!(audience(&message).every_mine_user);
        let message = OutboundMessage {
            notifications: vec![notification(
                "001xx0000000003AAA",
                Some("005xx0000000001"),
                "Account",
            )],
            ..message
        };
        assert!(audience(&message).every_mine_user);
    }
}
