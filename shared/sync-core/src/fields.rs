//! The mapped field sets of each side (SPEC §2), as typed records both clients deserialize into.
//!
//! These are not the full wire objects: a client's envelope (ids, etags, categories, extended
//! properties, `@removed`) wraps one of these with `#[serde(flatten)]`. Keeping the mapped fields in
//! one place means the field mapping (`crate::mapping`) and both clients agree on names by
//! construction.

use serde::{Deserialize, Serialize};

/// Graph's `physicalAddress`. Graph returns `{}` for an unset address, never `null`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphAddress {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_or_region: Option<String>,
}

/// Graph's `emailAddress`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphEmailAddress {
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The properties of a Graph `contact` that the sync maps or needs to map (SPEC §2).
///
/// Every property is optional because `$select`, hand-created contacts (`""`) and API-created ones
/// (`null`) all differ; the mapping normalises them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphContactFields {
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub surname: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub job_title: Option<String>,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub company_name: Option<String>,
    #[serde(default)]
    pub email_addresses: Option<Vec<GraphEmailAddress>>,
    #[serde(default)]
    pub business_phones: Option<Vec<String>>,
    #[serde(default)]
    pub mobile_phone: Option<String>,
    #[serde(default)]
    pub home_phones: Option<Vec<String>>,
    #[serde(default)]
    pub assistant_name: Option<String>,
    /// `YYYY-MM-DDT11:59:00Z` as Graph returns it, or a plain date.
    #[serde(default)]
    pub birthday: Option<String>,
    #[serde(default)]
    pub business_address: Option<GraphAddress>,
    #[serde(default)]
    pub home_address: Option<GraphAddress>,
    #[serde(default)]
    pub personal_notes: Option<String>,
}

/// The Salesforce Contact fields the sync maps (SPEC §2), named as the REST API names them.
///
/// `Account` is the parent relationship as a SOQL query returns it (`Account.Name`); writes never
/// send it (they set `AccountId`, chosen by account linking, B14).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SalesforceContactFields {
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub salutation: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub mobile_phone: Option<String>,
    #[serde(default)]
    pub home_phone: Option<String>,
    #[serde(default)]
    pub assistant_name: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub birthdate: Option<String>,
    #[serde(default)]
    pub mailing_street: Option<String>,
    #[serde(default)]
    pub mailing_city: Option<String>,
    #[serde(default)]
    pub mailing_state: Option<String>,
    #[serde(default)]
    pub mailing_postal_code: Option<String>,
    #[serde(default)]
    pub mailing_country: Option<String>,
    #[serde(default)]
    pub other_street: Option<String>,
    #[serde(default)]
    pub other_city: Option<String>,
    #[serde(default)]
    pub other_state: Option<String>,
    #[serde(default)]
    pub other_postal_code: Option<String>,
    #[serde(default)]
    pub other_country: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// The parent Account as a relationship query returns it. Carried along when a read travels
    /// between services; never set on a write (B14 sets `AccountId` instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<SalesforceAccountRef>,
}

/// The `Account` relationship of a queried Contact.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SalesforceAccountRef {
    #[serde(default)]
    pub name: Option<String>,
}

impl SalesforceContactFields {
    /// The SOQL select list that fills every field of this record, `Account.Name` included.
    pub const SOQL_FIELDS: &'static str = "FirstName, LastName, Salutation, Title, Department, \
        Email, Phone, MobilePhone, HomePhone, AssistantName, Birthdate, MailingStreet, \
        MailingCity, MailingState, MailingPostalCode, MailingCountry, OtherStreet, OtherCity, \
        OtherState, OtherPostalCode, OtherCountry, Description, Account.Name";
}

impl GraphContactFields {
    /// The `$select` list that fills every field of this record.
    pub const SELECT: &'static str = "givenName,surname,displayName,title,jobTitle,department,\
        companyName,emailAddresses,businessPhones,mobilePhone,homePhones,assistantName,birthday,\
        businessAddress,homeAddress,personalNotes";
}

/// Deserializes a "patch" field where absent means "leave alone" (`None`, through
/// `#[serde(default)]`) and `null` means "clear" (`Some(None)`). Plain serde would read `null` as
/// absent, so a clear would be lost when a patch crosses the broker.
pub fn double_option<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}
