//! The People API's `Person` and `ContactGroup` as the client reads and writes them.
//!
//! Fields are camelCase and empty values are left out, as Google sends them. Every struct keeps
//! what it does not map in `extra` (item `metadata`, `formattedType`, fields we never asked
//! about), so a person read, changed and written back loses nothing: an update replaces whole
//! fields (`updatePersonFields`), and whatever we did not model would otherwise be cleared.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Fields Google sent that the client does not model, written back unchanged.
pub type Extra = Map<String, Value>;

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

/// A contact (`people/c…`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Person {
    /// `people/c<decimal>`; empty on a contact not yet created.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_name: String,
    /// Required by `updateContact`: the write is refused when it is stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<PersonMetadata>,
    /// A singleton: at most one per source.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<Name>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub email_addresses: Vec<EmailAddress>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phone_numbers: Vec<PhoneNumber>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub organizations: Vec<Organization>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<Address>,
    /// A singleton.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub birthdays: Vec<Birthday>,
    /// A singleton.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub biographies: Vec<Biography>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relations: Vec<Relation>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub memberships: Vec<Membership>,
    /// Key/value pairs for the app (our sync key); not shown to the user.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_data: Vec<KeyValue>,
    /// The user's own custom fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_defined: Vec<KeyValue>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Person {
    /// A tombstone of an incremental sync: the contact was deleted; no other field is set.
    pub fn is_deleted(&self) -> bool {
        self.metadata.as_ref().is_some_and(|m| m.deleted)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonMetadata {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<Source>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
    /// Earlier names of this person (contact/profile linking); sync answers only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_resource_names: Vec<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Where a person's data comes from (`CONTACT` for the user's own contacts).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Name {
    /// Output only: Google composes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub honorific_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub honorific_suffix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unstructured_name: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailAddress {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `home`, `work`, `other` or the user's own label.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhoneNumber {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `home`, `work`, `mobile`, `workFax`, `main`… or the user's own label.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// The whole address as one text; Google derives it when it is not sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted_value: Option<String>,
    /// `home`, `work`, `other` or the user's own label.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A calendar date; a zero part is unset (year 0: a birthday without a year).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Date {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub year: i32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub month: i32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub day: i32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Birthday {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<Date>,
    /// A birthday given as free text, not a date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Biography {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `TEXT_PLAIN` or `TEXT_HTML`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Relation {
    /// The related person's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    /// `assistant`, `manager`, `spouse`… or the user's own label.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Membership {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_group_membership: Option<ContactGroupMembership>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactGroupMembership {
    /// `contactGroups/…`.
    #[serde(default)]
    pub contact_group_resource_name: String,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One `clientData` or `userDefined` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub value: String,
}

/// A contact group (`contactGroups/…`): a user's label, or a system group (`myContacts`…).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactGroup {
    #[serde(default)]
    pub resource_name: String,
    /// System groups have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<GroupMetadata>,
    /// `USER_CONTACT_GROUP` or `SYSTEM_CONTACT_GROUP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_type: Option<String>,
    #[serde(default)]
    pub name: String,
    /// The name as shown (localised for system groups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted_name: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub member_count: i32,
    /// Filled by `get` up to its `maxMembers`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub member_resource_names: Vec<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl ContactGroup {
    /// A group the user made (not `myContacts`, `starred`…).
    pub fn is_user_group(&self) -> bool {
        self.group_type.as_deref() == Some("USER_CONTACT_GROUP")
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_time: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_person_round_trips_with_the_fields_it_does_not_model() {
        let wire = json!({
            "resourceName": "people/c2638222672945904267",
            "etag": "%EgU3CT4BLhoEAgEHBSIMbWVZejFVL01JVFE9",
            "metadata": {"sources": [{"type": "CONTACT", "id": "249cd98b0b527a8b",
                "etag": "#x", "updateTime": "2020-12-29T14:21:59.167Z"}], "objectType": "PERSON"},
            "names": [{"metadata": {"primary": true, "source": {"type": "CONTACT", "id": "249cd98b0b527a8b"}},
                "displayName": "Ada Lovelace", "givenName": "Ada", "familyName": "Lovelace"}],
            "phoneNumbers": [{"value": "+1 555", "type": "workFax", "formattedType": "Work Fax",
                "canonicalForm": "+1555"}],
            "birthdays": [{"date": {"month": 12, "day": 10}}],
            "userDefined": [{"key": "Shoe size", "value": "38"}],
            "nicknames": [{"value": "Countess"}],
            "urls": [{"value": "https://example.com", "type": "work"}]
        });
        let person: Person = serde_json::from_value(wire.clone()).unwrap();
        assert_eq!(person.names[0].given_name.as_deref(), Some("Ada"));
        assert_eq!(
            person.birthdays[0].date,
            Some(Date {
                year: 0,
                month: 12,
                day: 10
            })
        );
        assert!(person.extra.contains_key("nicknames"));
        assert_eq!(serde_json::to_value(&person).unwrap(), wire);
    }

    #[test]
    fn a_tombstone_reads_as_deleted() {
        let wire = json!({"resourceName": "people/c1", "etag": "%E",
            "metadata": {"sources": [{"type": "CONTACT", "id": "1"}], "deleted": true, "objectType": "PERSON"}});
        let person: Person = serde_json::from_value(wire).unwrap();
        assert!(person.is_deleted());
        assert!(!Person::default().is_deleted());
    }

    #[test]
    fn empty_values_are_left_out() {
        assert_eq!(serde_json::to_value(Person::default()).unwrap(), json!({}));
    }
}
