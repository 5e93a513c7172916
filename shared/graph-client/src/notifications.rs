//! Graph change-notification and lifecycle payloads as the gateway webhook receives them.

use serde::{Deserialize, Serialize};

/// The body Graph POSTs to a notification URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeNotificationCollection {
    pub value: Vec<ChangeNotification>,
    /// Only on rich notifications, which we do not subscribe to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_tokens: Option<Vec<String>>,
}

/// One change or lifecycle notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeNotification {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub subscription_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_expiration_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_type: Option<ChangeType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_data: Option<ResourceData>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_event: Option<LifecycleEvent>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ChangeType {
    Created,
    Updated,
    Deleted,
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LifecycleEvent {
    /// Renew or reauthorize the subscription.
    ReauthorizationRequired,
    /// Create a new subscription, then resync with delta.
    SubscriptionRemoved,
    /// Notifications were lost: resync with delta.
    Missed,
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceData {
    #[serde(
        rename = "@odata.type",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub odata_type: Option<String>,
    #[serde(rename = "@odata.id", default, skip_serializing_if = "Option::is_none")]
    pub odata_id: Option<String>,
    #[serde(
        rename = "@odata.etag",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub odata_etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl ChangeNotification {
    /// Whether the notification carries the `clientState` we set, compared in constant time so
    /// a forger learns nothing from response timing.
    pub fn client_state_matches(&self, expected: &str) -> bool {
        let Some(got) = self.client_state.as_deref() else {
            return false;
        };
        aws_lc_rs::constant_time::verify_slices_are_equal(got.as_bytes(), expected.as_bytes())
            .is_ok()
    }

    pub fn is_lifecycle(&self) -> bool {
        self.lifecycle_event.is_some()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_contact_change_notification_parses() {
        let json = r##"{"value":[{
            "id":"lsgTZMr9KwAAA","subscriptionId":"sub-1",
            "subscriptionExpirationDateTime":"2016-03-19T22:11:09.952Z",
            "clientState":"secretClientValue","changeType":"updated",
            "resource":"Users/u1/Contacts/AAMk=","tenantId":"t1",
            "resourceData":{"@odata.type":"#Microsoft.Graph.Contact","@odata.id":"Users/u1/Contacts/AAMk=",
                "@odata.etag":"W/\"CQAA\"","id":"AAMk="}}]}"##;
        let parsed: ChangeNotificationCollection = serde_json::from_str(json).unwrap();
        let n = &parsed.value[0];
        assert_eq!(n.change_type, Some(ChangeType::Updated));
        assert_eq!(
            n.resource_data.as_ref().unwrap().id.as_deref(),
            Some("AAMk=")
        );
        assert!(n.client_state_matches("secretClientValue"));
        assert!(!n.client_state_matches("secretClientValue2"));
        assert!(!n.client_state_matches(""));
        assert!(!n.is_lifecycle());
    }

    #[test]
    fn lifecycle_events_parse_and_unknown_ones_do_not_fail() {
        let json = r#"{"value":[
            {"subscriptionId":"s","tenantId":"t","clientState":"c","lifecycleEvent":"missed"},
            {"subscriptionId":"s","lifecycleEvent":"somethingNew"}]}"#;
        let parsed: ChangeNotificationCollection = serde_json::from_str(json).unwrap();
        assert_eq!(
            parsed.value[0].lifecycle_event,
            Some(LifecycleEvent::Missed)
        );
        assert_eq!(
            parsed.value[1].lifecycle_event,
            Some(LifecycleEvent::Unknown)
        );
        assert!(parsed.value[0].is_lifecycle());
    }
}
