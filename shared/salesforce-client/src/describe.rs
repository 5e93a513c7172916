//! sObject describe: what an object and its fields allow the integration user, so onboarding can
//! tell a missing `Contactsync_Key__c` or a missing permission before the first session does.

use reqwest::Method;
use serde::Deserialize;
use tracing::instrument;

use crate::client::{SalesforceClient, enc};
use crate::error::SalesforceError;

/// `GET /sobjects/{T}/describe`, the parts onboarding reads. Fields the user cannot see (field
/// level security) are absent from `fields`, as Salesforce leaves them out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SObjectDescribe {
    pub name: String,
    #[serde(default)]
    pub createable: bool,
    #[serde(default)]
    pub updateable: bool,
    #[serde(default)]
    pub deletable: bool,
    #[serde(default)]
    pub queryable: bool,
    #[serde(default)]
    pub fields: Vec<FieldDescribe>,
}

impl SObjectDescribe {
    /// The field named `name` (API names are case-insensitive).
    pub fn field(&self, name: &str) -> Option<&FieldDescribe> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }
}

/// One field of a describe.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldDescribe {
    pub name: String,
    /// `string`, `id`, `reference`, `email`, …
    #[serde(rename = "type", default)]
    pub field_type: String,
    #[serde(default)]
    pub length: u32,
    #[serde(default)]
    pub external_id: bool,
    #[serde(default)]
    pub unique: bool,
    #[serde(default)]
    pub createable: bool,
    #[serde(default)]
    pub updateable: bool,
    #[serde(default)]
    pub filterable: bool,
}

impl SalesforceClient {
    /// Describes one sObject (e.g. `Contact`) as the client's user sees it.
    #[instrument(skip_all, fields(username = %self.username(), sobject = %sobject))]
    pub async fn describe(&self, sobject: &str) -> Result<SObjectDescribe, SalesforceError> {
        let path = format!("{}/sobjects/{}/describe", self.data_root(), enc(sobject));
        self.send(Method::GET, &path, None, &[], true)
            .await?
            .json("sobject describe")
    }
}
