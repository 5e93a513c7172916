//! Graph wire types shared by the operations: contacts, folders, categories, extended properties.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sync_core::fields::GraphContactFields;
use sync_core::{ExchangeItem, FolderKind, GraphItemId, IdError, SyncKey};

/// The single-value extended property that carries our sync key on every contact we create.
///
/// Named-property form (`{type} {guid} Name {name}`), the format Graph recommends; the GUID is
/// ours and fixed forever — changing it would orphan every stamped contact.
pub const SYNC_KEY_PROPERTY_ID: &str =
    "String {6b1c7a52-3f0e-4d1a-9c59-2f8e0b7d4a11} Name ContactsyncKey";

/// `{ "id", "value" }` of a singleValueLegacyExtendedProperty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtendedProperty {
    pub id: String,
    pub value: String,
}

/// A contact as Graph returns it (GET, list, delta item, batch create/patch result).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphContact {
    pub id: String,
    #[serde(default)]
    pub change_key: Option<String>,
    #[serde(default)]
    pub parent_folder_id: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub categories: Vec<String>,
    #[serde(default)]
    pub single_value_extended_properties: Option<Vec<ExtendedProperty>>,
    #[serde(flatten)]
    pub fields: GraphContactFields,
}

impl GraphContact {
    /// The value of an expanded extended property; ids compare case-insensitively because the
    /// GUID's case on read-back is not guaranteed.
    pub fn extended_property(&self, id: &str) -> Option<&str> {
        self.single_value_extended_properties
            .as_ref()?
            .iter()
            .find(|p| p.id.eq_ignore_ascii_case(id))
            .map(|p| p.value.as_str())
    }

    /// Our sync key, when the contact was read with it expanded and carries one.
    pub fn sync_key(&self) -> Option<&str> {
        self.extended_property(SYNC_KEY_PROPERTY_ID)
    }
}

impl GraphContact {
    /// The domain form the reconciler consumes (parse at the boundary). `folder` says where the
    /// item was read. A stamp that is empty or not a valid key counts as no stamp: it cannot be
    /// one of ours.
    pub fn into_exchange_item(self, folder: FolderKind) -> Result<ExchangeItem, IdError> {
        let sync_key = self
            .sync_key()
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .and_then(|k| SyncKey::try_from(k).ok());
        Ok(ExchangeItem {
            id: GraphItemId::try_from(self.id)?,
            folder,
            categories: self.categories,
            sync_key,
            change_key: self.change_key,
            fields: self.fields,
        })
    }
}

pub(crate) fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// A contact folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactFolder {
    pub id: String,
    pub display_name: String,
    #[serde(default)]
    pub parent_folder_id: Option<String>,
}

/// A master category of a mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Category {
    pub id: String,
    pub display_name: String,
    #[serde(default)]
    pub color: Option<CategoryColor>,
}

/// An Outlook category colour: `none` or `preset0` … `preset24` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CategoryColor {
    None,
    Preset(u8),
}

impl CategoryColor {
    pub fn as_wire(&self) -> String {
        match self {
            CategoryColor::None => "none".to_owned(),
            CategoryColor::Preset(n) => format!("preset{n}"),
        }
    }

    /// Parses the wire value; the docs capitalise (`Preset0`), the wire does not, so both pass.
    pub fn parse(value: &str) -> Option<Self> {
        let lower = value.to_ascii_lowercase();
        if lower == "none" {
            return Some(CategoryColor::None);
        }
        let n: u8 = lower.strip_prefix("preset")?.parse().ok()?;
        (n <= 24).then_some(CategoryColor::Preset(n))
    }
}

impl Serialize for CategoryColor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.as_wire())
    }
}

impl<'de> Deserialize<'de> for CategoryColor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        // An unknown colour must not fail the whole category list: treat it as uncoloured.
        Ok(CategoryColor::parse(&s).unwrap_or(CategoryColor::None))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_listed_contact_parses_with_nulls_and_empty_addresses() {
        let json = r#"{
            "@odata.etag": "W/\"EQAAABYAAAAiIsqMbYjsT5e/T7KzowPTAAUcB47V\"",
            "id": "AAMkAGVmMDEz+/=",
            "changeKey": "EQAAABYAAAAiIsqMbYjsT5e/T7KzowPTAAUcB47V",
            "categories": [],
            "parentFolderId": "AAMkAGVm",
            "birthday": null,
            "displayName": "Alex Wilber",
            "givenName": "Alex",
            "surname": "Wilber",
            "homePhones": [],
            "businessPhones": [],
            "emailAddresses": [{"name": "Alex@x.net", "address": "Alex@x.net"}],
            "homeAddress": {},
            "businessAddress": {}
        }"#;
        let c: GraphContact = serde_json::from_str(json).unwrap();
        assert_eq!(c.id, "AAMkAGVmMDEz+/=");
        assert_eq!(c.fields.surname.as_deref(), Some("Wilber"));
        assert_eq!(c.fields.business_address, Some(Default::default()));
        assert_eq!(c.sync_key(), None);
    }

    #[test]
    fn the_sync_key_is_found_whatever_the_guid_case() {
        let json = r#"{"id":"a","categories":null,"singleValueExtendedProperties":[
            {"id":"String {6B1C7A52-3F0E-4D1A-9C59-2F8E0B7D4A11} Name ContactsyncKey","value":"k1"}]}"#;
        let c: GraphContact = serde_json::from_str(json).unwrap();
        assert_eq!(c.sync_key(), Some("k1"));
        assert!(c.categories.is_empty());
    }

    #[test]
    fn a_contact_becomes_an_exchange_item_and_a_foreign_stamp_is_ignored() {
        let json = r#"{"id":"AAMk/x=","changeKey":"ck","categories":["Salesforce"],
            "singleValueExtendedProperties":[{"id":"String {6b1c7a52-3f0e-4d1a-9c59-2f8e0b7d4a11} Name ContactsyncKey","value":"sf-003A"}]}"#;
        let c: GraphContact = serde_json::from_str(json).unwrap();
        let item = c
            .clone()
            .into_exchange_item(FolderKind::SyncFolder)
            .unwrap();
        assert_eq!(item.id.as_str(), "AAMk/x=");
        assert_eq!(item.sync_key.as_ref().unwrap().as_str(), "sf-003A");
        assert!(item.has_category());

        let mut foreign = c;
        foreign.single_value_extended_properties = Some(vec![ExtendedProperty {
            id: SYNC_KEY_PROPERTY_ID.into(),
            value: "not a key!".into(),
        }]);
        assert!(
            foreign
                .into_exchange_item(FolderKind::Other)
                .unwrap()
                .sync_key
                .is_none()
        );
        let empty_id = GraphContact::default();
        assert!(empty_id.into_exchange_item(FolderKind::Other).is_err());
    }

    #[test]
    fn colours_round_trip_and_tolerate_capitals() {
        assert_eq!(
            CategoryColor::parse("Preset7"),
            Some(CategoryColor::Preset(7))
        );
        assert_eq!(CategoryColor::parse("none"), Some(CategoryColor::None));
        assert_eq!(CategoryColor::parse("preset25"), None);
        assert_eq!(CategoryColor::Preset(4).as_wire(), "preset4");
    }
}
