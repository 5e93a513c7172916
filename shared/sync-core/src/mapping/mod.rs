//! The field mapping of SPEC §2, both ways: Graph ↔ canonical ↔ Salesforce, and the change sets
//! (a Graph PATCH body, a Salesforce field set) for changed fields only.
//!
//! Table-driven so a later per-org mapping replaces [`FIELD_TABLE`] and the accessors, not the
//! reconcile logic. Mailbox-only data that rides along a mapped property (email addresses and
//! phones beyond `[0]`, a hand-set `displayName`) is read from the item's current Graph fields
//! ([`ExchangeExtras`]; the link keeps a snapshot of them), so an update rebuilds those properties
//! without losing it. The Graph PATCH body lives in `graph_patch.rs`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::contact::{Contact, Field, normalize_date, normalize_text};
use crate::fields::{GraphAddress, GraphContactFields, GraphEmailAddress, SalesforceContactFields};

mod graph_patch;

pub use graph_patch::{GraphAddressPatch, GraphPatch, graph_patch};

/// One row of the mapping table: the Salesforce side of a canonical field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    pub field: Field,
    /// The Contact field's API name; `None` for the company (it is `Account.Name`, B14).
    pub salesforce: Option<&'static str>,
    /// The label Salesforce uses in its error messages.
    pub label: &'static str,
    /// Salesforce's maximum length in characters (reference table, §8), if any.
    pub max_len: Option<usize>,
}

const fn spec(
    field: Field,
    salesforce: &'static str,
    label: &'static str,
    max_len: usize,
) -> FieldSpec {
    FieldSpec {
        field,
        salesforce: Some(salesforce),
        label,
        max_len: Some(max_len),
    }
}

/// The default mapping (SPEC §2) with Salesforce's lengths (salesforce-contract §8).
pub const FIELD_TABLE: [FieldSpec; 23] = [
    spec(Field::FirstName, "FirstName", "First Name", 40),
    spec(Field::LastName, "LastName", "Last Name", 80),
    spec(Field::Salutation, "Salutation", "Salutation", 40),
    spec(Field::Title, "Title", "Title", 128),
    spec(Field::Department, "Department", "Department", 80),
    spec(Field::Email, "Email", "Email", 80),
    spec(Field::Phone, "Phone", "Business Phone", 40),
    spec(Field::MobilePhone, "MobilePhone", "Mobile Phone", 40),
    spec(Field::HomePhone, "HomePhone", "Home Phone", 40),
    spec(
        Field::AssistantName,
        "AssistantName",
        "Assistant's Name",
        40,
    ),
    FieldSpec {
        field: Field::Birthdate,
        salesforce: Some("Birthdate"),
        label: "Birthdate",
        max_len: None,
    },
    spec(Field::MailingStreet, "MailingStreet", "Mailing Street", 255),
    spec(Field::MailingCity, "MailingCity", "Mailing City", 40),
    spec(
        Field::MailingState,
        "MailingState",
        "Mailing State/Province",
        80,
    ),
    spec(
        Field::MailingPostalCode,
        "MailingPostalCode",
        "Mailing Zip/Postal Code",
        20,
    ),
    spec(
        Field::MailingCountry,
        "MailingCountry",
        "Mailing Country",
        80,
    ),
    spec(Field::OtherStreet, "OtherStreet", "Other Street", 255),
    spec(Field::OtherCity, "OtherCity", "Other City", 40),
    spec(Field::OtherState, "OtherState", "Other State/Province", 80),
    spec(
        Field::OtherPostalCode,
        "OtherPostalCode",
        "Other Zip/Postal Code",
        20,
    ),
    spec(Field::OtherCountry, "OtherCountry", "Other Country", 80),
    spec(
        Field::Description,
        "Description",
        "Contact Description",
        32000,
    ),
    FieldSpec {
        field: Field::Company,
        salesforce: None,
        label: "Account Name",
        max_len: Some(255),
    },
];

/// The table row of a field.
pub fn spec_of(field: Field) -> &'static FieldSpec {
    // FIELD_TABLE is in `Field::ALL` order, which the unit test below pins.
    &FIELD_TABLE[field as usize]
}

/// Mailbox-only values that share a Graph property with a mapped field, snapshotted from the last
/// read of the item so an update can rewrite the property without losing them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeExtras {
    /// `emailAddresses[1..]` (mailbox-only, SPEC §2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_emails: Vec<GraphEmailAddress>,
    /// The `name` of `emailAddresses[0]`, kept while its address does not change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_email_name: Option<String>,
    /// `businessPhones[1..]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_business_phones: Vec<String>,
    /// `homePhones[1..]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_home_phones: Vec<String>,
    /// A `displayName` the user set by hand (not the one Graph generates from the name parts);
    /// sent back on name changes because Graph otherwise regenerates it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_display_name: Option<String>,
}

impl ExchangeExtras {
    /// The extras of a Graph item as read.
    pub fn from_graph(fields: &GraphContactFields) -> ExchangeExtras {
        let emails = fields.email_addresses.as_deref().unwrap_or_default();
        let display = normalize_text(fields.display_name.as_deref());
        let generated =
            generated_display_name(fields.given_name.as_deref(), fields.surname.as_deref());
        ExchangeExtras {
            other_emails: emails.iter().skip(1).cloned().collect(),
            first_email_name: emails.first().and_then(|e| e.name.clone()),
            other_business_phones: tail(fields.business_phones.as_deref()),
            other_home_phones: tail(fields.home_phones.as_deref()),
            custom_display_name: display.filter(|d| Some(d) != generated.as_ref()),
        }
    }
}

fn tail(values: Option<&[String]>) -> Vec<String> {
    values.unwrap_or_default().iter().skip(1).cloned().collect()
}

/// What Graph makes of the name parts when no `displayName` is given (as the emulator and the
/// real service do for contacts without a middle name).
pub(crate) fn generated_display_name(given: Option<&str>, surname: Option<&str>) -> Option<String> {
    let parts: Vec<String> = [given, surname]
        .into_iter()
        .filter_map(normalize_text)
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

fn first(values: Option<&[String]>) -> Option<&str> {
    values.and_then(|v| v.first()).map(String::as_str)
}

fn address_part(
    address: Option<&GraphAddress>,
    part: fn(&GraphAddress) -> &Option<String>,
) -> Option<&str> {
    address.and_then(|a| part(a).as_deref())
}

/// The raw Graph value of one mapped field (no fallback applied).
fn graph_value(g: &GraphContactFields, field: Field) -> Option<&str> {
    let business = g.business_address.as_ref();
    let home = g.home_address.as_ref();
    match field {
        Field::FirstName => g.given_name.as_deref(),
        Field::LastName => g.surname.as_deref(),
        Field::Salutation => g.title.as_deref(),
        Field::Title => g.job_title.as_deref(),
        Field::Department => g.department.as_deref(),
        Field::Email => g
            .email_addresses
            .as_deref()
            .and_then(|e| e.first())
            .and_then(|e| e.address.as_deref()),
        Field::Phone => first(g.business_phones.as_deref()),
        Field::MobilePhone => g.mobile_phone.as_deref(),
        Field::HomePhone => first(g.home_phones.as_deref()),
        Field::AssistantName => g.assistant_name.as_deref(),
        Field::Birthdate => g.birthday.as_deref(),
        Field::MailingStreet => address_part(business, |a| &a.street),
        Field::MailingCity => address_part(business, |a| &a.city),
        Field::MailingState => address_part(business, |a| &a.state),
        Field::MailingPostalCode => address_part(business, |a| &a.postal_code),
        Field::MailingCountry => address_part(business, |a| &a.country_or_region),
        Field::OtherStreet => address_part(home, |a| &a.street),
        Field::OtherCity => address_part(home, |a| &a.city),
        Field::OtherState => address_part(home, |a| &a.state),
        Field::OtherPostalCode => address_part(home, |a| &a.postal_code),
        Field::OtherCountry => address_part(home, |a| &a.country_or_region),
        Field::Description => g.personal_notes.as_deref(),
        Field::Company => g.company_name.as_deref(),
    }
}

/// The canonical form of a Graph contact, with the LastName fallback of SPEC §2 applied
/// (`surname`, else `displayName`, else the first email address), so that what Salesforce holds
/// after an up-sync compares equal to the mailbox item it came from.
pub fn graph_to_canonical(g: &GraphContactFields) -> Contact {
    let mut c = Contact::default();
    for field in Field::ALL {
        c.set(field, graph_value(g, field));
    }
    if c.last_name.is_none() {
        c.last_name = normalize_text(g.display_name.as_deref()).or_else(|| c.email.clone());
    }
    c
}

fn salesforce_slot(s: &SalesforceContactFields, field: Field) -> Option<&Option<String>> {
    Some(match field {
        Field::FirstName => &s.first_name,
        Field::LastName => &s.last_name,
        Field::Salutation => &s.salutation,
        Field::Title => &s.title,
        Field::Department => &s.department,
        Field::Email => &s.email,
        Field::Phone => &s.phone,
        Field::MobilePhone => &s.mobile_phone,
        Field::HomePhone => &s.home_phone,
        Field::AssistantName => &s.assistant_name,
        Field::Birthdate => &s.birthdate,
        Field::MailingStreet => &s.mailing_street,
        Field::MailingCity => &s.mailing_city,
        Field::MailingState => &s.mailing_state,
        Field::MailingPostalCode => &s.mailing_postal_code,
        Field::MailingCountry => &s.mailing_country,
        Field::OtherStreet => &s.other_street,
        Field::OtherCity => &s.other_city,
        Field::OtherState => &s.other_state,
        Field::OtherPostalCode => &s.other_postal_code,
        Field::OtherCountry => &s.other_country,
        Field::Description => &s.description,
        Field::Company => return None,
    })
}

fn salesforce_slot_mut(
    s: &mut SalesforceContactFields,
    field: Field,
) -> Option<&mut Option<String>> {
    Some(match field {
        Field::FirstName => &mut s.first_name,
        Field::LastName => &mut s.last_name,
        Field::Salutation => &mut s.salutation,
        Field::Title => &mut s.title,
        Field::Department => &mut s.department,
        Field::Email => &mut s.email,
        Field::Phone => &mut s.phone,
        Field::MobilePhone => &mut s.mobile_phone,
        Field::HomePhone => &mut s.home_phone,
        Field::AssistantName => &mut s.assistant_name,
        Field::Birthdate => &mut s.birthdate,
        Field::MailingStreet => &mut s.mailing_street,
        Field::MailingCity => &mut s.mailing_city,
        Field::MailingState => &mut s.mailing_state,
        Field::MailingPostalCode => &mut s.mailing_postal_code,
        Field::MailingCountry => &mut s.mailing_country,
        Field::OtherStreet => &mut s.other_street,
        Field::OtherCity => &mut s.other_city,
        Field::OtherState => &mut s.other_state,
        Field::OtherPostalCode => &mut s.other_postal_code,
        Field::OtherCountry => &mut s.other_country,
        Field::Description => &mut s.description,
        Field::Company => return None,
    })
}

/// The canonical form of a queried Salesforce Contact; the company is its `Account.Name`.
pub fn salesforce_to_canonical(s: &SalesforceContactFields) -> Contact {
    let mut c = Contact::default();
    for field in Field::ALL {
        let value = match salesforce_slot(s, field) {
            Some(slot) => slot.as_deref(),
            None => s.account.as_ref().and_then(|a| a.name.as_deref()),
        };
        c.set(field, value);
    }
    c
}

/// The Salesforce record for a create (the company is not a Contact field: B14 links an Account).
pub fn canonical_to_salesforce(c: &Contact) -> SalesforceContactFields {
    let mut s = SalesforceContactFields::default();
    for field in Field::ALL {
        if let Some(slot) = salesforce_slot_mut(&mut s, field) {
            *slot = c.get(field).map(str::to_owned);
        }
    }
    s
}

/// A Salesforce update body: API field name → new value, `null` clearing the field. Serializes
/// to exactly the JSON object `PATCH /sobjects/Contact/{id}` expects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SalesforcePatch(pub BTreeMap<String, Option<String>>);

impl SalesforcePatch {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The Salesforce fields of `target` that differ from `current` (the company excluded).
pub fn salesforce_patch(current: &Contact, target: &Contact) -> SalesforcePatch {
    let mut patch = SalesforcePatch::default();
    for spec in &FIELD_TABLE {
        let Some(name) = spec.salesforce else {
            continue;
        };
        if current.get(spec.field) != target.get(spec.field) {
            patch
                .0
                .insert(name.to_owned(), target.get(spec.field).map(str::to_owned));
        }
    }
    patch
}

/// The date Graph stores for a birthday; writing it in that form means the read-back is identical.
fn graph_birthday(date: Option<&str>) -> Option<String> {
    let date = date?;
    Some(match normalize_date(Some(date)) {
        Some(d) if d.len() == 10 => format!("{d}T11:59:00Z"),
        _ => date.to_owned(),
    })
}

pub(crate) fn graph_address(c: &Contact, parts: [Field; 5]) -> GraphAddress {
    let get = |f: Field| c.get(f).map(str::to_owned);
    GraphAddress {
        street: get(parts[0]),
        city: get(parts[1]),
        state: get(parts[2]),
        postal_code: get(parts[3]),
        country_or_region: get(parts[4]),
    }
}

pub(crate) const BUSINESS_ADDRESS: [Field; 5] = [
    Field::MailingStreet,
    Field::MailingCity,
    Field::MailingState,
    Field::MailingPostalCode,
    Field::MailingCountry,
];
pub(crate) const HOME_ADDRESS: [Field; 5] = [
    Field::OtherStreet,
    Field::OtherCity,
    Field::OtherState,
    Field::OtherPostalCode,
    Field::OtherCountry,
];

pub(crate) fn graph_emails(c: &Contact, extras: &ExchangeExtras) -> Vec<GraphEmailAddress> {
    let first = c.email.as_ref().map(|address| GraphEmailAddress {
        address: Some(address.clone()),
        name: extras
            .first_email_name
            .clone()
            .or_else(|| Some(address.clone())),
    });
    first
        .into_iter()
        .chain(extras.other_emails.iter().cloned())
        .collect()
}

pub(crate) fn with_tail(first: Option<&str>, rest: &[String]) -> Vec<String> {
    first
        .map(str::to_owned)
        .into_iter()
        .chain(rest.iter().cloned())
        .collect()
}

/// The full Graph record of a canonical contact plus its mailbox-only extras (for creates, and to
/// predict what an update leaves on the item).
pub fn canonical_to_graph(c: &Contact, extras: &ExchangeExtras) -> GraphContactFields {
    let get = |f: Field| c.get(f).map(str::to_owned);
    let display_name = extras
        .custom_display_name
        .clone()
        .or_else(|| generated_display_name(c.first_name.as_deref(), c.last_name.as_deref()));
    GraphContactFields {
        given_name: get(Field::FirstName),
        surname: get(Field::LastName),
        display_name,
        title: get(Field::Salutation),
        job_title: get(Field::Title),
        department: get(Field::Department),
        company_name: get(Field::Company),
        email_addresses: Some(graph_emails(c, extras)),
        business_phones: Some(with_tail(c.phone.as_deref(), &extras.other_business_phones)),
        mobile_phone: get(Field::MobilePhone),
        home_phones: Some(with_tail(
            c.home_phone.as_deref(),
            &extras.other_home_phones,
        )),
        assistant_name: get(Field::AssistantName),
        birthday: graph_birthday(c.birthdate.as_deref()),
        business_address: Some(graph_address(c, BUSINESS_ADDRESS)),
        home_address: Some(graph_address(c, HOME_ADDRESS)),
        personal_notes: get(Field::Description),
    }
}

/// What the mailbox item will read as after being written from `c`: the identity for ordinary
/// values, but it shows where Graph's shapes win (clearing `emailAddresses[0]` promotes the next
/// address), so the baseline can record the value the item will really have.
pub fn through_graph(c: &Contact, extras: &ExchangeExtras) -> Contact {
    let mut out = graph_to_canonical(&canonical_to_graph(c, extras));
    // The LastName fallback is a reading rule; keep the merged value when Graph would derive the
    // same one anyway, and never invent a company.
    out.company = c.company.clone();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_in_field_order() {
        for (i, field) in Field::ALL.into_iter().enumerate() {
            assert_eq!(FIELD_TABLE[i].field, field);
            assert_eq!(spec_of(field).field, field);
        }
    }

    fn sample() -> Contact {
        Contact {
            first_name: Some("Ann".into()),
            last_name: Some("Lee".into()),
            email: Some("ann@example.com".into()),
            phone: Some("+1 555".into()),
            birthdate: Some("1980-01-02".into()),
            mailing_city: Some("Oslo".into()),
            description: Some("line1\nline2".into()),
            company: Some("Acme".into()),
            ..Contact::default()
        }
    }

    #[test]
    fn canonical_round_trips_through_both_sides() {
        let c = sample();
        let extras = ExchangeExtras::default();
        assert_eq!(graph_to_canonical(&canonical_to_graph(&c, &extras)), c);
        let mut s = canonical_to_salesforce(&c);
        s.account = Some(crate::fields::SalesforceAccountRef {
            name: Some("Acme".into()),
        });
        assert_eq!(salesforce_to_canonical(&s), c);
    }

    #[test]
    fn last_name_falls_back_to_display_name_then_email() {
        let mut g = GraphContactFields {
            display_name: Some("Big Co Desk".into()),
            email_addresses: Some(vec![GraphEmailAddress {
                address: Some("desk@bigco.example".into()),
                name: None,
            }]),
            ..GraphContactFields::default()
        };
        assert_eq!(
            graph_to_canonical(&g).last_name.as_deref(),
            Some("Big Co Desk")
        );
        g.display_name = Some(" ".into());
        assert_eq!(
            graph_to_canonical(&g).last_name.as_deref(),
            Some("desk@bigco.example")
        );
    }

    #[test]
    fn a_patch_keeps_other_emails_phones_and_a_hand_set_display_name() {
        let g = GraphContactFields {
            given_name: Some("Ann".into()),
            surname: Some("Lee".into()),
            display_name: Some("Ann (Acme buyer)".into()),
            email_addresses: Some(vec![
                GraphEmailAddress {
                    address: Some("ann@example.com".into()),
                    name: Some("Ann".into()),
                },
                GraphEmailAddress {
                    address: Some("ann@home.example".into()),
                    name: None,
                },
            ]),
            business_phones: Some(vec!["1".into(), "2".into()]),
            ..GraphContactFields::default()
        };
        let current = graph_to_canonical(&g);
        let extras = ExchangeExtras::from_graph(&g);
        let mut target = current.clone();
        target.email = Some("ann@new.example".into());
        target.first_name = Some("Anne".into());
        target.phone = Some("9".into());
        let patch = graph_patch(&current, &target, &extras);
        let mut after = g.clone();
        patch.apply_to(&mut after);
        assert_eq!(graph_to_canonical(&after), target);
        let emails = after.email_addresses.unwrap_or_default();
        assert_eq!(emails[1].address.as_deref(), Some("ann@home.example"));
        assert_eq!(after.business_phones, Some(vec!["9".into(), "2".into()]));
        assert_eq!(after.display_name.as_deref(), Some("Ann (Acme buyer)"));
        assert!(
            patch.surname.is_none(),
            "unchanged fields stay out of the patch"
        );
    }

    #[test]
    fn salesforce_patch_holds_changed_fields_only_and_nulls_clears() {
        let current = sample();
        let mut target = current.clone();
        target.phone = None;
        target.title = Some("CTO".into());
        target.company = Some("Other".into());
        let patch = salesforce_patch(&current, &target);
        let expected: BTreeMap<String, Option<String>> = [
            ("Phone".to_owned(), None),
            ("Title".to_owned(), Some("CTO".to_owned())),
        ]
        .into_iter()
        .collect();
        assert_eq!(patch.0, expected);
    }

    #[test]
    fn clearing_the_first_email_promotes_the_next_one() {
        let mut c = sample();
        let extras = ExchangeExtras {
            other_emails: vec![GraphEmailAddress {
                address: Some("second@example.com".into()),
                name: None,
            }],
            ..ExchangeExtras::default()
        };
        c.email = None;
        assert_eq!(
            through_graph(&c, &extras).email.as_deref(),
            Some("second@example.com")
        );
    }
}
