//! A Google contact in the sync core's mailbox shape, and back.
//!
//! The sync core sees a mailbox contact as Graph's fields ([`GraphContactFields`]). A `Person`
//! holds them in its own structure: the name parts in the singleton `names`, job and company in
//! `organizations[0]`, phones and addresses as typed lists (`work`/`home`/`mobile`), the assistant
//! as a `relations` entry, notes in the singleton `biographies`.
//!
//! [`apply_graph_fields`] changes only what differs from what [`graph_fields`] reads, and inside
//! a list only the entries the mapping owns: a phone of another type, a second organization, an
//! address labelled `other`, `userDefined` fields, item metadata all stay as they were. It
//! returns the update mask naming the fields it changed, so an update replaces nothing else.
//! Applying fields and reading them back gives the same fields (a mirror round-trips), which is
//! what lets echo suppression (C3) compare by equality.

use std::collections::BTreeSet;

use sync_core::contact::normalize_date;
use sync_core::fields::{GraphAddress, GraphContactFields, GraphEmailAddress};

use crate::types::{
    Address, Biography, Birthday, ContactGroupMembership, Date, EmailAddress, KeyValue, Membership,
    Name, Organization, Person, PhoneNumber, Relation,
};

/// The `clientData` key of our stamp: the sync key that finds a contact again after a create
/// whose outcome was unknown (C4).
pub const SYNC_KEY: &str = "contactsyncKey";

/// The time of day Graph gives a birthday; the core compares dates, not times.
const BIRTHDAY_TIME: &str = "T11:59:00Z";

const WORK: &str = "work";
const HOME: &str = "home";
const MOBILE: &str = "mobile";
const ASSISTANT: &str = "assistant";

/// The person fields an update replaces (`updatePersonFields`), comma-joined when displayed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateMask(BTreeSet<&'static str>);

impl UpdateMask {
    pub const NAMES: &'static str = "names";
    pub const EMAIL_ADDRESSES: &'static str = "emailAddresses";
    pub const PHONE_NUMBERS: &'static str = "phoneNumbers";
    pub const ORGANIZATIONS: &'static str = "organizations";
    pub const ADDRESSES: &'static str = "addresses";
    pub const BIRTHDAYS: &'static str = "birthdays";
    pub const BIOGRAPHIES: &'static str = "biographies";
    pub const RELATIONS: &'static str = "relations";
    pub const MEMBERSHIPS: &'static str = "memberships";
    pub const CLIENT_DATA: &'static str = "clientData";

    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, field: &'static str) {
        self.0.insert(field);
    }

    pub fn contains(&self, field: &str) -> bool {
        self.0.contains(field)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds the other mask's fields.
    pub fn extend(&mut self, other: &UpdateMask) {
        self.0.extend(other.0.iter().copied());
    }
}

impl std::fmt::Display for UpdateMask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fields: Vec<&str> = self.0.iter().copied().collect();
        f.write_str(&fields.join(","))
    }
}

/// Our sync key from `clientData`, if the contact carries a non-empty one.
pub fn sync_key(person: &Person) -> Option<&str> {
    person
        .client_data
        .iter()
        .find(|d| d.key == SYNC_KEY)
        .map(|d| d.value.as_str())
        .filter(|v| !v.is_empty())
}

/// Stamps `key` in `clientData` (replacing an earlier stamp, keeping other apps' entries).
/// Returns whether the person changed; if so, add [`UpdateMask::CLIENT_DATA`] to an update.
pub fn set_sync_key(person: &mut Person, key: &str) -> bool {
    if sync_key(person) == Some(key) {
        return false;
    }
    person.client_data.retain(|d| d.key != SYNC_KEY);
    person.client_data.push(KeyValue {
        key: SYNC_KEY.to_owned(),
        value: key.to_owned(),
    });
    true
}

/// `contactGroups/x` for a bare id `x`.
fn group_name(group: &str) -> String {
    if group.starts_with("contactGroups/") {
        group.to_owned()
    } else {
        format!("contactGroups/{group}")
    }
}

/// Whether the person is a member of the group (`contactGroups/…` or the bare id).
pub fn in_group(person: &Person, group: &str) -> bool {
    let group = group_name(group);
    person.memberships.iter().any(|m| {
        m.contact_group_membership
            .as_ref()
            .is_some_and(|g| g.contact_group_resource_name == group)
    })
}

/// Adds the person to the group (for a create, or an update with
/// [`UpdateMask::MEMBERSHIPS`]); returns whether it was not a member yet.
pub fn join_group(person: &mut Person, group: &str) -> bool {
    if in_group(person, group) {
        return false;
    }
    person.memberships.push(Membership {
        contact_group_membership: Some(ContactGroupMembership {
            contact_group_resource_name: group_name(group),
            ..ContactGroupMembership::default()
        }),
        ..Membership::default()
    });
    true
}

fn is_kind(kind: &Option<String>, wanted: &str) -> bool {
    kind.as_deref()
        .is_some_and(|k| k.eq_ignore_ascii_case(wanted))
}

/// `None` for an empty string: Google leaves empty values out.
fn text(value: &Option<String>) -> Option<String> {
    value.clone().filter(|v| !v.is_empty())
}

fn phones_of(person: &Person, kind: &str) -> Vec<String> {
    person
        .phone_numbers
        .iter()
        .filter(|p| is_kind(&p.kind, kind))
        .filter_map(|p| p.value.clone())
        .collect()
}

fn address_of(person: &Person, kind: &str) -> GraphAddress {
    person
        .addresses
        .iter()
        .find(|a| is_kind(&a.kind, kind))
        .map(|a| GraphAddress {
            street: a.street_address.clone(),
            city: a.city.clone(),
            state: a.region.clone(),
            postal_code: a.postal_code.clone(),
            country_or_region: a.country.clone(),
        })
        .unwrap_or_default()
}

/// A birthday as Graph renders it (`YYYY-MM-DDT11:59:00Z`), or its free text. A date without a
/// year has no Graph form and reads as none (and is left alone by an update that keeps it so).
fn birthday_of(person: &Person) -> Option<String> {
    let birthday = person.birthdays.first()?;
    match birthday.date {
        Some(Date { year, month, day }) if year > 0 && month > 0 && day > 0 => {
            Some(format!("{year:04}-{month:02}-{day:02}{BIRTHDAY_TIME}"))
        }
        Some(_) => None,
        None => text(&birthday.text),
    }
}

/// The person's mapped fields in the sync core's mailbox shape. Lists and addresses are always
/// present (empty when unset), as Graph returns them.
pub fn graph_fields(person: &Person) -> GraphContactFields {
    let name = person.names.first();
    let name_part = |part: fn(&Name) -> &Option<String>| name.and_then(|n| text(part(n)));
    let org = person.organizations.first();
    let org_part = |part: fn(&Organization) -> &Option<String>| org.and_then(|o| text(part(o)));
    GraphContactFields {
        given_name: name_part(|n| &n.given_name),
        surname: name_part(|n| &n.family_name),
        display_name: name_part(|n| &n.display_name)
            .or_else(|| name_part(|n| &n.unstructured_name)),
        title: name_part(|n| &n.honorific_prefix),
        job_title: org_part(|o| &o.title),
        department: org_part(|o| &o.department),
        company_name: org_part(|o| &o.name),
        email_addresses: Some(
            person
                .email_addresses
                .iter()
                .filter(|e| e.value.is_some())
                .map(|e| GraphEmailAddress {
                    address: e.value.clone(),
                    name: text(&e.display_name),
                })
                .collect(),
        ),
        business_phones: Some(phones_of(person, WORK)),
        mobile_phone: phones_of(person, MOBILE).into_iter().next(),
        home_phones: Some(phones_of(person, HOME)),
        assistant_name: person
            .relations
            .iter()
            .find(|r| is_kind(&r.kind, ASSISTANT))
            .and_then(|r| text(&r.person)),
        birthday: birthday_of(person),
        business_address: Some(address_of(person, WORK)),
        home_address: Some(address_of(person, HOME)),
        personal_notes: person.biographies.first().and_then(|b| text(&b.value)),
    }
}

/// Writes `fields` into `person`, changing only what differs from [`graph_fields`]`(person)`,
/// and returns the update mask of the person fields it changed (empty: nothing to write).
pub fn apply_graph_fields(fields: &GraphContactFields, person: &mut Person) -> UpdateMask {
    let current = graph_fields(person);
    let mut mask = UpdateMask::new();
    let differs = |a: &Option<String>, b: &Option<String>| text(a) != text(b);

    if differs(&fields.given_name, &current.given_name)
        || differs(&fields.surname, &current.surname)
        || differs(&fields.title, &current.title)
        || differs(&fields.display_name, &current.display_name)
    {
        apply_name(fields, person);
        mask.insert(UpdateMask::NAMES);
    }
    if differs(&fields.job_title, &current.job_title)
        || differs(&fields.department, &current.department)
        || differs(&fields.company_name, &current.company_name)
    {
        apply_organization(fields, person);
        mask.insert(UpdateMask::ORGANIZATIONS);
    }
    let emails: Vec<GraphEmailAddress> = fields
        .email_addresses
        .iter()
        .flatten()
        .filter(|e| text(&e.address).is_some())
        .cloned()
        .collect();
    if Some(&emails) != current.email_addresses.as_ref() {
        apply_emails(&emails, person);
        mask.insert(UpdateMask::EMAIL_ADDRESSES);
    }
    let work = non_empty(fields.business_phones.as_deref());
    let home = non_empty(fields.home_phones.as_deref());
    let mobile = text(&fields.mobile_phone);
    if Some(&work) != current.business_phones.as_ref()
        || Some(&home) != current.home_phones.as_ref()
        || mobile != current.mobile_phone
    {
        apply_phones(work, home, mobile, person);
        mask.insert(UpdateMask::PHONE_NUMBERS);
    }
    if differs(&fields.assistant_name, &current.assistant_name) {
        apply_assistant(text(&fields.assistant_name), person);
        mask.insert(UpdateMask::RELATIONS);
    }
    if differs(&fields.birthday, &current.birthday) {
        apply_birthday(text(&fields.birthday), person);
        mask.insert(UpdateMask::BIRTHDAYS);
    }
    let business = clean_address(fields.business_address.as_ref());
    let home_address = clean_address(fields.home_address.as_ref());
    if Some(&business) != current.business_address.as_ref()
        || Some(&home_address) != current.home_address.as_ref()
    {
        apply_address(WORK, &business, person);
        apply_address(HOME, &home_address, person);
        mask.insert(UpdateMask::ADDRESSES);
    }
    if differs(&fields.personal_notes, &current.personal_notes) {
        apply_notes(text(&fields.personal_notes), person);
        mask.insert(UpdateMask::BIOGRAPHIES);
    }
    mask
}

fn non_empty(values: Option<&[String]>) -> Vec<String> {
    values
        .unwrap_or_default()
        .iter()
        .filter(|v| !v.is_empty())
        .cloned()
        .collect()
}

fn clean_address(address: Option<&GraphAddress>) -> GraphAddress {
    let a = address.cloned().unwrap_or_default();
    GraphAddress {
        street: text(&a.street),
        city: text(&a.city),
        state: text(&a.state),
        postal_code: text(&a.postal_code),
        country_or_region: text(&a.country_or_region),
    }
}

/// The displayed name goes in `unstructuredName`: `displayName` is Google's output, composed on
/// its side, so it is dropped here rather than sent stale.
fn apply_name(fields: &GraphContactFields, person: &mut Person) {
    if person.names.is_empty() {
        person.names.push(Name::default());
    }
    let name = &mut person.names[0];
    name.given_name = text(&fields.given_name);
    name.family_name = text(&fields.surname);
    name.honorific_prefix = text(&fields.title);
    name.unstructured_name = text(&fields.display_name);
    name.display_name = None;
    let empty = name.given_name.is_none()
        && name.family_name.is_none()
        && name.honorific_prefix.is_none()
        && name.unstructured_name.is_none()
        && name.middle_name.is_none()
        && name.honorific_suffix.is_none();
    if empty {
        person.names.remove(0);
    }
}

fn apply_organization(fields: &GraphContactFields, person: &mut Person) {
    if person.organizations.is_empty() {
        person.organizations.push(Organization::default());
    }
    let org = &mut person.organizations[0];
    org.title = text(&fields.job_title);
    org.department = text(&fields.department);
    org.name = text(&fields.company_name);
    if org.title.is_none() && org.department.is_none() && org.name.is_none() {
        person.organizations.remove(0);
    }
}

/// Entry `i` stays entry `i` (its type and metadata kept), with the new address and name.
fn apply_emails(emails: &[GraphEmailAddress], person: &mut Person) {
    person.email_addresses.truncate(emails.len());
    for (i, email) in emails.iter().enumerate() {
        if i == person.email_addresses.len() {
            person.email_addresses.push(EmailAddress::default());
        }
        let entry = &mut person.email_addresses[i];
        entry.value = text(&email.address);
        entry.display_name = text(&email.name);
    }
}

/// Work and home phones are all mapped; of the mobiles only the first (Graph has one). Phones
/// of other types (`workFax`, `main`, a custom label) keep their place.
fn apply_phones(work: Vec<String>, home: Vec<String>, mobile: Option<String>, person: &mut Person) {
    let mut work = work.into_iter();
    let mut home = home.into_iter();
    let mut mobile = Some(mobile);
    let mut phones = Vec::with_capacity(person.phone_numbers.len());
    for mut phone in std::mem::take(&mut person.phone_numbers) {
        let next = if is_kind(&phone.kind, WORK) {
            work.next()
        } else if is_kind(&phone.kind, HOME) {
            home.next()
        } else if is_kind(&phone.kind, MOBILE) {
            match mobile.take() {
                Some(value) => value,
                None => {
                    phones.push(phone);
                    continue;
                }
            }
        } else {
            phones.push(phone);
            continue;
        };
        if let Some(value) = next {
            if phone.value.as_ref() != Some(&value) {
                phone.value = Some(value);
                phone.extra.remove("canonicalForm");
            }
            phones.push(phone);
        }
    }
    let new = |value: String, kind: &str| PhoneNumber {
        value: Some(value),
        kind: Some(kind.to_owned()),
        ..PhoneNumber::default()
    };
    phones.extend(work.map(|v| new(v, WORK)));
    phones.extend(mobile.flatten().map(|v| new(v, MOBILE)));
    phones.extend(home.map(|v| new(v, HOME)));
    person.phone_numbers = phones;
}

fn apply_assistant(assistant: Option<String>, person: &mut Person) {
    let index = person
        .relations
        .iter()
        .position(|r| is_kind(&r.kind, ASSISTANT));
    match (index, assistant) {
        (Some(i), Some(name)) => person.relations[i].person = Some(name),
        (Some(i), None) => {
            person.relations.remove(i);
        }
        (None, Some(name)) => person.relations.push(Relation {
            person: Some(name),
            kind: Some(ASSISTANT.to_owned()),
            ..Relation::default()
        }),
        (None, None) => {}
    }
}

/// A date (plain, or Graph's `…T11:59:00Z`) becomes `date`; anything else is kept as `text`,
/// so validation (C7) can report it rather than the sync dropping it.
fn apply_birthday(birthday: Option<String>, person: &mut Person) {
    let Some(value) = birthday else {
        person.birthdays.clear();
        return;
    };
    let extra = person
        .birthdays
        .first()
        .map(|b| b.extra.clone())
        .unwrap_or_default();
    let date = normalize_date(Some(&value)).and_then(|d| {
        let mut parts = d.splitn(3, '-').map(|p| p.parse::<i32>().ok());
        match (parts.next(), parts.next(), parts.next(), d.len()) {
            (Some(Some(year)), Some(Some(month)), Some(Some(day)), 10) => {
                Some(Date { year, month, day })
            }
            _ => None,
        }
    });
    let birthday = match date {
        Some(date) => Birthday {
            date: Some(date),
            text: None,
            extra,
        },
        None => Birthday {
            date: None,
            text: Some(value),
            extra,
        },
    };
    person.birthdays = vec![birthday];
}

/// The first address of `kind` is the mapped one; an emptied one is removed.
fn apply_address(kind: &str, address: &GraphAddress, person: &mut Person) {
    let index = person.addresses.iter().position(|a| is_kind(&a.kind, kind));
    if address == &GraphAddress::default() {
        if let Some(i) = index {
            person.addresses.remove(i);
        }
        return;
    }
    let i = match index {
        Some(i) => i,
        None => {
            person.addresses.push(Address {
                kind: Some(kind.to_owned()),
                ..Address::default()
            });
            person.addresses.len() - 1
        }
    };
    let entry = &mut person.addresses[i];
    let changed = entry.street_address != address.street
        || entry.city != address.city
        || entry.region != address.state
        || entry.postal_code != address.postal_code
        || entry.country != address.country_or_region;
    if changed {
        entry.street_address = address.street.clone();
        entry.city = address.city.clone();
        entry.region = address.state.clone();
        entry.postal_code = address.postal_code.clone();
        entry.country = address.country_or_region.clone();
        // Google derives the one-line form again from the parts; a stale one would win.
        entry.formatted_value = None;
    }
}

fn apply_notes(notes: Option<String>, person: &mut Person) {
    match notes {
        None => person.biographies.clear(),
        Some(value) => {
            let mut bio = person.biographies.first().cloned().unwrap_or(Biography {
                content_type: Some("TEXT_PLAIN".to_owned()),
                ..Biography::default()
            });
            bio.value = Some(value);
            person.biographies = vec![bio];
        }
    }
}

#[cfg(test)]
mod tests;
