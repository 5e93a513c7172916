//! Change-notification subscriptions on a mailbox's contacts: create, renew, delete.

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing::instrument;

use crate::client::{GraphClient, enc};
use crate::error::GraphError;

/// What a subscription watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionResource {
    /// `/users/{m}/contactFolders/{f}/contacts`
    Folder { mailbox: String, folder_id: String },
    /// `/users/{m}/contacts` (the whole mailbox's personal contacts).
    Mailbox { mailbox: String },
}

impl SubscriptionResource {
    pub fn to_resource(&self) -> String {
        match self {
            SubscriptionResource::Folder { mailbox, folder_id } => format!(
                "/users/{}/contactFolders/{}/contacts",
                enc(mailbox),
                enc(folder_id)
            ),
            SubscriptionResource::Mailbox { mailbox } => {
                format!("/users/{}/contacts", enc(mailbox))
            }
        }
    }
}

/// A subscription to create. The change types are always `created,updated,deleted`.
#[derive(Debug, Clone)]
pub struct NewSubscription {
    pub resource: SubscriptionResource,
    pub notification_url: String,
    pub lifecycle_notification_url: Option<String>,
    /// Echoed on every notification; the webhook checks it (max 128 characters).
    pub client_state: String,
    pub expiration: DateTime<Utc>,
}

/// A subscription as Graph returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub id: String,
    #[serde(default)]
    pub resource: Option<String>,
    #[serde(default)]
    pub change_type: Option<String>,
    #[serde(default)]
    pub notification_url: Option<String>,
    #[serde(default)]
    pub lifecycle_notification_url: Option<String>,
    /// Graph may clamp the asked expiry (45 minutes minimum, about 7 days maximum).
    pub expiration_date_time: DateTime<Utc>,
}

fn wire_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl GraphClient {
    /// Creates a subscription; Graph validates the notification URL before answering 201.
    #[instrument(skip_all)]
    pub async fn create_subscription(
        &self,
        new: &NewSubscription,
    ) -> Result<Subscription, GraphError> {
        if new.client_state.chars().count() > 128 {
            return Err(GraphError::Config(
                "clientState is limited to 128 characters".into(),
            ));
        }
        let mut body = json!({
            "changeType": "created,updated,deleted",
            "notificationUrl": new.notification_url,
            "resource": new.resource.to_resource(),
            "expirationDateTime": wire_time(new.expiration),
            "clientState": new.client_state,
        });
        if let Some(url) = &new.lifecycle_notification_url {
            body["lifecycleNotificationUrl"] = json!(url);
        }
        let url = self.url("/subscriptions", "")?;
        self.send(Method::POST, url, Some(&body), None)
            .await?
            .json("subscription")
    }

    /// Extends a subscription (this also reauthorizes it).
    #[instrument(skip_all, fields(subscription_id = %id))]
    pub async fn renew_subscription(
        &self,
        id: &str,
        expiration: DateTime<Utc>,
    ) -> Result<Subscription, GraphError> {
        let url = self.url(&format!("/subscriptions/{}", enc(id)), "")?;
        let body = json!({ "expirationDateTime": wire_time(expiration) });
        self.send(Method::PATCH, url, Some(&body), None)
            .await?
            .json("subscription")
    }

    /// Deletes a subscription; one that is already gone counts as deleted.
    #[instrument(skip_all, fields(subscription_id = %id))]
    pub async fn delete_subscription(&self, id: &str) -> Result<(), GraphError> {
        let url = self.url(&format!("/subscriptions/{}", enc(id)), "")?;
        match self.send(Method::DELETE, url, None, None).await {
            Ok(_) => Ok(()),
            Err(GraphError::Api(e)) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }
}
