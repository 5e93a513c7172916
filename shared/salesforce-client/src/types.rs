//! Salesforce record types the sync reads and writes: the Contact envelope and datetimes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sync_core::fields::SalesforceContactFields;
use sync_core::{IdError, SalesforceContact, SalesforceId, SyncKey};

/// The external-id field carrying our sync key on Contact (upsert key, C4).
pub const SYNC_KEY_FIELD: &str = "Contactsync_Key__c";

/// A Contact as a query returns it: sync bookkeeping plus the mapped fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct SfContact {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "OwnerId", default)]
    pub owner_id: Option<String>,
    #[serde(rename = "SystemModstamp", default, deserialize_with = "opt_datetime")]
    pub system_modstamp: Option<DateTime<Utc>>,
    #[serde(rename = "IsDeleted", default)]
    pub is_deleted: bool,
    #[serde(rename = "Contactsync_Key__c", default)]
    pub sync_key: Option<String>,
    #[serde(rename = "AccountId", default)]
    pub account_id: Option<String>,
    #[serde(flatten)]
    pub fields: SalesforceContactFields,
}

impl SfContact {
    /// The SOQL select list that fills every field of this record.
    pub fn soql_fields() -> String {
        format!(
            "Id, OwnerId, SystemModstamp, IsDeleted, {SYNC_KEY_FIELD}, AccountId, {}",
            SalesforceContactFields::SOQL_FIELDS
        )
    }
}

/// Any record's id and `SystemModstamp`: what the org feed reads of Accounts (a renamed Account
/// changes the company its Contacts' mirrors show).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SfStamp {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "SystemModstamp", deserialize_with = "datetime")]
    pub system_modstamp: DateTime<Utc>,
}

/// A record whose id field is not a Salesforce id (B15): which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {source}")]
pub struct BadRecordId {
    /// The API name of the field (`Id`, `OwnerId`).
    pub field: &'static str,
    pub source: IdError,
}

impl TryFrom<SfContact> for SalesforceContact {
    type Error = BadRecordId;

    /// The domain form the reconciler consumes, ids in their 18-character form whichever form
    /// the query returned (B15). A `Contactsync_Key__c` that is not a valid key was not written
    /// by us and counts as none.
    fn try_from(c: SfContact) -> Result<Self, BadRecordId> {
        let bad = |field| move |source| BadRecordId { field, source };
        Ok(SalesforceContact {
            id: SalesforceId::try_from(c.id).map_err(bad("Id"))?,
            owner_id: c
                .owner_id
                .map(SalesforceId::try_from)
                .transpose()
                .map_err(bad("OwnerId"))?,
            sync_key: c
                .sync_key
                .as_deref()
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .and_then(|k| SyncKey::try_from(k).ok()),
            fields: c.fields,
        })
    }
}

/// A Contact to create or update. Unset bookkeeping fields are left out of the body; the mapped
/// fields are written as given (`null` clears a field in Salesforce).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SfContactWrite {
    #[serde(rename = "OwnerId", skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
    #[serde(rename = "AccountId", skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(rename = "Contactsync_Key__c", skip_serializing_if = "Option::is_none")]
    pub sync_key: Option<String>,
    #[serde(flatten)]
    pub fields: SalesforceContactFields,
}

/// Parses Salesforce datetimes: `2011-07-07T00:37:00.000+0000` (REST) or RFC 3339 (`…Z`).
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(s))
        .ok()
        .map(|t| t.to_utc())
}

pub(crate) fn opt_datetime<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) => parse_datetime(&s)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("not a Salesforce datetime: {s}"))),
    }
}

pub(crate) fn datetime<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let s = String::deserialize(d)?;
    parse_datetime(&s)
        .ok_or_else(|| serde::de::Error::custom(format!("not a Salesforce datetime: {s}")))
}

/// Writes the REST form, `2011-07-07T00:37:00.000+0000`.
pub(crate) fn serialize_datetime<S: Serializer>(
    t: &DateTime<Utc>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_queried_contact_parses_with_its_account_and_attributes() {
        let json = r#"{"attributes":{"type":"Contact","url":"/services/data/v60.0/sobjects/Contact/003A"},
            "Id":"003A","OwnerId":"005U","SystemModstamp":"2011-07-07T00:37:00.000+0000","IsDeleted":false,
            "Contactsync_Key__c":null,"AccountId":"001A","FirstName":"Ada","LastName":"Lovelace",
            "Birthdate":"1815-12-10","Account":{"attributes":{"type":"Account"},"Name":"Analytical"}}"#;
        let c: SfContact = serde_json::from_str(json).unwrap();
        assert_eq!(c.id, "003A");
        assert_eq!(
            c.system_modstamp.unwrap().to_rfc3339(),
            "2011-07-07T00:37:00+00:00"
        );
        assert_eq!(c.fields.last_name.as_deref(), Some("Lovelace"));
        assert_eq!(
            c.fields.account.unwrap().name.as_deref(),
            Some("Analytical")
        );
        assert!(c.sync_key.is_none());
    }

    #[test]
    fn a_contact_becomes_the_domain_record() {
        let c = SfContact {
            id: "003000000000001AAA".into(),
            owner_id: Some("005000000000001AAA".into()),
            sync_key: Some("sf-003000000000001AAA".into()),
            ..Default::default()
        };
        let d = SalesforceContact::try_from(c.clone()).unwrap();
        assert_eq!(d.sync_key.unwrap().as_str(), "sf-003000000000001AAA");
        let foreign = SfContact {
            sync_key: Some("has spaces".into()),
            ..c.clone()
        };
        assert!(
            SalesforceContact::try_from(foreign)
                .unwrap()
                .sync_key
                .is_none()
        );
        let bad = SfContact {
            id: "nope".into(),
            ..c.clone()
        };
        assert!(SalesforceContact::try_from(bad).is_err());
        let bad_owner = SfContact {
            owner_id: Some("005000000000001XYZ".into()),
            ..c
        };
        assert_eq!(
            SalesforceContact::try_from(bad_owner).map_err(|e| e.field),
            Err("OwnerId"),
            "a wrong checksum is an error, not another owner"
        );
    }

    #[test]
    fn ids_a_query_returns_as_15_characters_become_18() {
        let c = SfContact {
            id: "003RO0000035WQg".into(),
            owner_id: Some("005xx000001SvbQ".into()),
            ..Default::default()
        };
        let d = SalesforceContact::try_from(c).unwrap();
        assert_eq!(d.id.as_str(), "003RO0000035WQgYAM");
        assert_eq!(d.owner_id.unwrap().as_str(), "005xx000001SvbQAAS");
    }

    #[test]
    fn both_datetime_forms_parse() {
        assert_eq!(
            parse_datetime("2013-05-07T22:07:19.000+0000"),
            parse_datetime("2013-05-07T22:07:19Z")
        );
        assert!(parse_datetime("yesterday").is_none());
    }

    #[test]
    fn a_write_leaves_out_unset_bookkeeping_and_never_sends_the_account_name() {
        let write = SfContactWrite {
            sync_key: Some("k".into()),
            fields: SalesforceContactFields {
                last_name: Some("Hopper".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let json = serde_json::to_value(&write).unwrap();
        assert_eq!(json["Contactsync_Key__c"], "k");
        assert_eq!(json["LastName"], "Hopper");
        assert!(json.get("OwnerId").is_none());
        assert!(json.get("Account").is_none());
    }
}
