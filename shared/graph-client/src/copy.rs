//! B9 moves: Graph cannot move a contact, so a move is a full GET, a create of that body in the
//! target folder, then a delete of the original. This module reads the copyable body.

use reqwest::Method;
use serde_json::{Map, Value, json};
use tracing::instrument;

use crate::client::{GraphClient, enc};
use crate::error::GraphError;
use crate::types::SYNC_KEY_PROPERTY_ID;

/// Properties Graph sets itself; a create that carries them is refused or ignores them.
const READ_ONLY: [&str; 5] = [
    "id",
    "changeKey",
    "createdDateTime",
    "lastModifiedDateTime",
    "parentFolderId",
];

/// Every writable property of an existing contact, ready to be created elsewhere.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactCopy {
    body: Map<String, Value>,
}

impl ContactCopy {
    /// Strips what Graph owns (ids, timestamps, folder, `@odata.*` annotations) from a full read.
    pub fn from_read(contact: Map<String, Value>) -> Self {
        let body = contact
            .into_iter()
            .filter(|(k, _)| !READ_ONLY.contains(&k.as_str()) && !k.contains("@odata"))
            .collect();
        Self { body }
    }

    /// Sets the copy's categories (B9: the "Salesforce" category is what brought it over).
    pub fn with_categories(mut self, categories: Vec<String>) -> Self {
        self.body.insert("categories".into(), json!(categories));
        self
    }

    /// Stamps our sync key on the copy, so the link follows it to its new id (C4).
    pub fn with_sync_key(mut self, key: &str) -> Self {
        self.body.insert(
            "singleValueExtendedProperties".into(),
            json!([{ "id": SYNC_KEY_PROPERTY_ID, "value": key }]),
        );
        self
    }

    pub fn as_json(&self) -> &Map<String, Value> {
        &self.body
    }

    pub(crate) fn to_body(&self) -> Value {
        Value::Object(self.body.clone())
    }
}

impl GraphClient {
    /// Reads a contact whole (no `$select`) for a copy; `None` when it no longer exists.
    #[instrument(skip_all, fields(mailbox = %mailbox, contact_id = %contact_id))]
    pub async fn get_contact_for_copy(
        &self,
        mailbox: &str,
        contact_id: &str,
    ) -> Result<Option<ContactCopy>, GraphError> {
        let url = self.url(
            &format!("/users/{}/contacts/{}", enc(mailbox), enc(contact_id)),
            "",
        )?;
        match self.send(Method::GET, url, None, None).await {
            Ok(reply) => Ok(Some(ContactCopy::from_read(reply.json("contact")?))),
            Err(GraphError::Api(e)) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_keeps_every_property_but_what_graph_owns() {
        let read = json!({
            "@odata.context": "x", "@odata.etag": "W/\"ck\"", "id": "A", "changeKey": "ck",
            "createdDateTime": "2020-01-01T00:00:00Z", "lastModifiedDateTime": "2020-01-01T00:00:00Z",
            "parentFolderId": "P", "categories": [], "nickName": "Bo", "imAddresses": ["sip:b@x"],
            "surname": "Bo", "homeAddress": {}
        });
        let Value::Object(map) = read else {
            unreachable!()
        };
        let copy = ContactCopy::from_read(map)
            .with_categories(vec!["Salesforce".into()])
            .with_sync_key("k");
        let body = copy.as_json();
        for gone in [
            "@odata.context",
            "@odata.etag",
            "id",
            "changeKey",
            "parentFolderId",
            "createdDateTime",
        ] {
            assert!(!body.contains_key(gone), "{gone}");
        }
        assert_eq!(body["nickName"], "Bo");
        assert_eq!(body["imAddresses"], json!(["sip:b@x"]));
        assert_eq!(body["categories"], json!(["Salesforce"]));
        assert_eq!(body["singleValueExtendedProperties"][0]["value"], "k");
    }
}
