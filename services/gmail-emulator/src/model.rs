//! A mailbox's address book: contacts (with tombstones), contact groups, and one change sequence
//! that orders every write, which sync tokens and `LAST_MODIFIED_ASCENDING` pages are cursors
//! into. Person JSON is validated on the way in and rendered (masks, item metadata, derived
//! names) on the way out (reference §3, §5).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};
use parking_lot::{Mutex, RwLock};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::errors::ApiError;

/// Every `personFields` path the API knows.
pub const PERSON_FIELDS: &[&str] = &[
    "addresses",
    "ageRanges",
    "biographies",
    "birthdays",
    "calendarUrls",
    "clientData",
    "coverPhotos",
    "emailAddresses",
    "events",
    "externalIds",
    "genders",
    "imClients",
    "interests",
    "locales",
    "locations",
    "memberships",
    "metadata",
    "miscKeywords",
    "names",
    "nicknames",
    "occupations",
    "organizations",
    "phoneNumbers",
    "photos",
    "relations",
    "sipAddresses",
    "skills",
    "urls",
    "userDefined",
];

/// `personFields` paths that are output only (not `updatePersonFields` paths).
const READ_ONLY_FIELDS: &[&str] = &["ageRanges", "coverPhotos", "metadata", "photos", "skills"];

/// Whether a contact write may set `field`.
pub fn is_writable(field: &str) -> bool {
    PERSON_FIELDS.contains(&field) && !READ_ONLY_FIELDS.contains(&field)
}

/// The `updatePersonFields` paths.
pub fn writable_fields() -> Vec<&'static str> {
    PERSON_FIELDS
        .iter()
        .copied()
        .filter(|f| is_writable(f))
        .collect()
}

/// Fields with at most one value per source.
const SINGLETONS: &[&str] = &["names", "birthdays", "biographies", "genders"];

/// Output-only item properties dropped from input (`displayName` but on email addresses).
const OUTPUT_ONLY: &[&str] = &[
    "metadata",
    "displayName",
    "displayNameLastFirst",
    "phoneticFullName",
    "canonicalForm",
    "formattedType",
    "formattedProtocol",
    "formattedValue",
];

/// System groups (id, formattedName), in the order Google lists them.
pub const SYSTEM_GROUPS: &[(&str, &str)] = &[
    ("chatBuddies", "Chat contacts"),
    ("all", "All contacts"),
    ("friends", "Friends"),
    ("family", "Family"),
    ("coworkers", "Coworkers"),
    ("blocked", "Blocked"),
    ("myContacts", "My Contacts"),
    ("starred", "Starred"),
];

/// The system groups contacts can still be added to; the others are deprecated (reference §5).
pub const ADDABLE_SYSTEM_GROUPS: &[&str] = &["myContacts", "starred"];
pub const MY_CONTACTS: &str = "myContacts";

/// The emulator's clock: wall time plus an offset tests move (`POST /_emulator/clock`), so
/// sync-token ages, sync lag and access-token lifetimes can be exercised without waiting.
#[derive(Debug, Default)]
pub struct Clock {
    offset: Mutex<chrono::Duration>,
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + *self.offset.lock()
    }

    pub fn advance(&self, by: chrono::Duration) {
        *self.offset.lock() += by;
    }

    /// Moves the clock so that `now()` returns about `to` (backwards too: tests own it).
    pub fn set(&self, to: DateTime<Utc>) {
        *self.offset.lock() = to - Utc::now();
    }

    pub fn reset(&self) {
        *self.offset.lock() = chrono::Duration::zero();
    }
}

pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A comma-separated field mask, each path checked against `allowed`.
pub fn parse_mask(raw: &str, param: &str, allowed: &[&str]) -> Result<BTreeSet<String>, ApiError> {
    let mut fields = BTreeSet::new();
    for path in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let path = path.strip_prefix("person.").unwrap_or(path);
        if !allowed.contains(&path) {
            return Err(ApiError::field_violation(
                param,
                format!(
                    "Invalid {param} mask path: \"{path}\". Valid paths are documented at https://developers.google.com/people/api/rest/v1/people/get."
                ),
            ));
        }
        fields.insert(path.to_owned());
    }
    Ok(fields)
}

/// A required mask: missing or empty is 400.
pub fn required_mask(
    raw: Option<&str>,
    param: &str,
    allowed: &[&str],
) -> Result<BTreeSet<String>, ApiError> {
    let fields = parse_mask(raw.unwrap_or(""), param, allowed)?;
    if fields.is_empty() {
        return Err(ApiError::field_violation(
            param,
            format!(
                "{param} mask is required. Please specify one or more valid paths. Valid paths are documented at https://developers.google.com/people/api/rest/v1/people/get."
            ),
        ));
    }
    Ok(fields)
}

pub fn all_person_fields() -> BTreeSet<String> {
    PERSON_FIELDS.iter().map(|f| (*f).to_owned()).collect()
}

/// `people/c<decimal>` → the contact id.
pub fn parse_resource_name(name: &str) -> Option<u64> {
    name.strip_prefix("people/c")?.parse().ok()
}

pub fn resource_name(id: u64) -> String {
    format!("people/c{id}")
}

/// `contactGroups/<id>` → the group id.
pub fn parse_group_name(name: &str) -> Option<&str> {
    name.strip_prefix("contactGroups/")
        .filter(|s| !s.is_empty())
}

fn etag_of(prefix: &str, id: &str, seq: u64) -> String {
    let digest = Sha256::digest(format!("{id}/{seq}"));
    format!("{prefix}{}", STANDARD_NO_PAD.encode(&digest[..18]))
}

/// A contact, or the tombstone of one.
pub struct Contact {
    pub id: u64,
    /// Writable person fields, each an array of items (memberships excluded).
    pub fields: Map<String, Value>,
    /// Group ids the contact belongs to.
    pub groups: BTreeSet<String>,
    pub etag: String,
    pub updated: DateTime<Utc>,
    pub seq: u64,
    pub deleted: bool,
}

impl Contact {
    pub fn source_id(&self) -> String {
        format!("{:016x}", self.id)
    }

    /// The CONTACT source's etag (`metadata.sources[0].etag`), which updates may send instead.
    pub fn source_etag(&self) -> String {
        etag_of("#", &self.source_id(), self.seq)
    }

    /// The person as the API shows it with `mask`; `cap` limits email and phone items (lists).
    pub fn render(&self, mask: &BTreeSet<String>, cap: Option<usize>) -> Value {
        let source_id = self.source_id();
        let mut person = Map::new();
        person.insert("resourceName".into(), json!(resource_name(self.id)));
        person.insert("etag".into(), json!(self.etag));
        let source = json!({"type": "CONTACT", "id": source_id});
        if self.deleted {
            person.insert(
                "metadata".into(),
                json!({"sources": [source], "deleted": true, "objectType": "PERSON"}),
            );
            return Value::Object(person);
        }
        if mask.contains("metadata") {
            person.insert(
                "metadata".into(),
                json!({
                    "sources": [{
                        "type": "CONTACT",
                        "id": source_id,
                        "etag": self.source_etag(),
                        "updateTime": timestamp(self.updated),
                    }],
                    "objectType": "PERSON",
                }),
            );
        }
        for field in mask {
            let items: Vec<Value> = if field == "memberships" {
                self.groups
                    .iter()
                    .map(|g| {
                        json!({"contactGroupMembership": {
                            "contactGroupId": g,
                            "contactGroupResourceName": format!("contactGroups/{g}"),
                        }})
                    })
                    .collect()
            } else {
                match self.fields.get(field) {
                    Some(Value::Array(items)) => items.clone(),
                    _ => continue,
                }
            };
            let limit = match (field.as_str(), cap) {
                ("emailAddresses" | "phoneNumbers", Some(cap)) => cap,
                _ => usize::MAX,
            };
            let items: Vec<Value> = items
                .into_iter()
                .take(limit)
                .enumerate()
                .map(|(i, item)| decorate(field, item, i == 0, &source))
                .collect();
            if !items.is_empty() {
                person.insert(field.clone(), Value::Array(items));
            }
        }
        Value::Object(person)
    }
}

/// Item metadata and derived output fields.
fn decorate(field: &str, item: Value, primary: bool, source: &Value) -> Value {
    let Value::Object(mut item) = item else {
        return item;
    };
    let mut metadata = json!({"source": source});
    if primary {
        metadata["primary"] = json!(true);
        if field != "memberships" {
            metadata["sourcePrimary"] = json!(true);
        }
    }
    item.insert("metadata".into(), metadata);
    if field == "names" {
        let part = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let (given, middle, family) = (part("givenName"), part("middleName"), part("familyName"));
        let display = [given.as_str(), middle.as_str(), family.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        let display = if display.is_empty() {
            part("unstructuredName")
        } else {
            display
        };
        if !display.is_empty() {
            let last_first = match (family.is_empty(), given.is_empty()) {
                (false, false) => format!("{family}, {given}"),
                _ => display.clone(),
            };
            item.insert("displayName".into(), json!(display));
            item.insert("displayNameLastFirst".into(), json!(last_first));
            item.entry("unstructuredName").or_insert(json!(display));
        }
    }
    Value::Object(item)
}

/// Validated contact input: fields and, if given, memberships.
pub struct PersonInput {
    pub fields: Map<String, Value>,
    pub groups: Option<BTreeSet<String>>,
    pub etag: Option<String>,
}

/// Checks a Person body: known fields, arrays of objects, singletons, output-only dropped.
pub fn parse_person(body: &Value) -> Result<PersonInput, ApiError> {
    let Value::Object(object) = body else {
        return Err(ApiError::invalid_argument(
            "Invalid JSON payload received. Expected an object for 'person'.",
        ));
    };
    let mut fields = Map::new();
    let mut groups = None;
    let mut etag = None;
    for (name, value) in object {
        match name.as_str() {
            "resourceName" => {}
            "etag" => etag = value.as_str().map(str::to_owned),
            "metadata" => {
                if etag.is_none() {
                    etag = value
                        .pointer("/sources/0/etag")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                }
            }
            field if READ_ONLY_FIELDS.contains(&field) => {}
            field if is_writable(field) => {
                let Value::Array(items) = value else {
                    return Err(ApiError::invalid_argument(format!(
                        "Invalid value at 'person.{field}', expected a list."
                    )));
                };
                if SINGLETONS.contains(&field) && items.len() > 1 {
                    return Err(ApiError::invalid_argument(format!(
                        "Cannot have more than one person.{field} per source."
                    )));
                }
                if field == "memberships" {
                    groups = Some(parse_memberships(items)?);
                    continue;
                }
                let mut clean = Vec::with_capacity(items.len());
                for item in items {
                    let Value::Object(item) = item else {
                        return Err(ApiError::invalid_argument(format!(
                            "Invalid value at 'person.{field}', expected objects."
                        )));
                    };
                    let mut item = item.clone();
                    for key in OUTPUT_ONLY {
                        // An email address's `displayName` is the user's to write (reference
                        // §3); a name's is computed.
                        if *key == "displayName" && field == "emailAddresses" {
                            continue;
                        }
                        item.remove(*key);
                    }
                    if !item.is_empty() {
                        clean.push(Value::Object(item));
                    }
                }
                if !clean.is_empty() {
                    fields.insert(field.to_owned(), Value::Array(clean));
                }
            }
            other => {
                return Err(ApiError::invalid_argument(format!(
                    "Invalid JSON payload received. Unknown name \"{other}\" at 'person': Cannot find field."
                )));
            }
        }
    }
    Ok(PersonInput {
        fields,
        groups,
        etag,
    })
}

fn parse_memberships(items: &[Value]) -> Result<BTreeSet<String>, ApiError> {
    let mut groups = BTreeSet::new();
    for item in items {
        let membership = item.get("contactGroupMembership");
        let id = membership
            .and_then(|m| m.get("contactGroupResourceName"))
            .and_then(Value::as_str)
            .and_then(parse_group_name)
            .or_else(|| {
                membership
                    .and_then(|m| m.get("contactGroupId"))
                    .and_then(Value::as_str)
            });
        match id {
            Some(id) => {
                groups.insert(id.to_owned());
            }
            None => {
                return Err(ApiError::invalid_argument(
                    "Membership must set contactGroupMembership.contactGroupResourceName.",
                ));
            }
        }
    }
    Ok(groups)
}

/// A user contact group, or the tombstone of one.
pub struct Group {
    pub id: String,
    pub name: String,
    pub client_data: Option<Value>,
    pub etag: String,
    pub updated: DateTime<Utc>,
    pub seq: u64,
    pub deleted: bool,
}

/// One user's address book.
pub struct Mailbox {
    pub email: String,
    pub contacts: HashMap<u64, Contact>,
    /// Change sequence → contact id, one entry per contact (its latest change).
    pub by_seq: BTreeMap<u64, u64>,
    pub groups: BTreeMap<String, Group>,
    /// The last change sequence number handed out.
    pub seq: u64,
    /// Bumped to expire every outstanding sync token (control API).
    pub sync_epoch: u64,
    clock: Arc<Clock>,
}

impl Mailbox {
    pub fn new(email: &str, clock: Arc<Clock>) -> Mailbox {
        Mailbox {
            clock,
            email: email.to_ascii_lowercase(),
            contacts: HashMap::new(),
            by_seq: BTreeMap::new(),
            groups: BTreeMap::new(),
            seq: 0,
            sync_epoch: 0,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// A live contact, or 404.
    pub fn live(&self, id: u64) -> Result<&Contact, ApiError> {
        self.contacts
            .get(&id)
            .filter(|c| !c.deleted)
            .ok_or_else(ApiError::not_found)
    }

    pub fn live_by_name(&self, name: &str) -> Result<&Contact, ApiError> {
        let id = parse_resource_name(name).ok_or_else(|| {
            ApiError::invalid_argument(format!(
                "Resource name \"{name}\" is not a valid contact person resource."
            ))
        })?;
        self.live(id)
    }

    /// Whether contacts may be added to group `id` (404 when it does not exist).
    pub fn check_addable(&self, id: &str) -> Result<(), ApiError> {
        if SYSTEM_GROUPS.iter().any(|(g, _)| *g == id) {
            if ADDABLE_SYSTEM_GROUPS.contains(&id) {
                return Ok(());
            }
            return Err(ApiError::invalid_argument(
                "Cannot add contacts to deprecated system contact group",
            ));
        }
        match self.groups.get(id) {
            Some(g) if !g.deleted => Ok(()),
            _ => Err(ApiError::invalid_argument(format!(
                "Contact group \"contactGroups/{id}\" was not found."
            ))),
        }
    }

    /// Marks a contact changed: new sequence, etag and update time.
    pub fn touch(&mut self, id: u64) {
        let seq = self.next_seq();
        let now = self.now();
        if let Some(contact) = self.contacts.get_mut(&id) {
            self.by_seq.remove(&contact.seq);
            contact.seq = seq;
            contact.updated = now;
            contact.etag = etag_of("%Eg", &contact.source_id(), seq);
            self.by_seq.insert(seq, id);
        }
    }

    fn new_id(&self) -> u64 {
        loop {
            // 16 hex digits, below 2^63, as live ids are.
            let id = (rand::random::<u64>() >> 2) | (1 << 60);
            if !self.contacts.contains_key(&id) {
                return id;
            }
        }
    }

    /// Creates a contact; it always joins `myContacts` (reference §4).
    pub fn create(&mut self, input: PersonInput) -> Result<u64, ApiError> {
        let mut groups = input.groups.unwrap_or_default();
        for g in &groups {
            self.check_addable(g)?;
        }
        groups.insert(MY_CONTACTS.to_owned());
        let id = self.new_id();
        self.contacts.insert(
            id,
            Contact {
                id,
                fields: input.fields,
                groups,
                etag: String::new(),
                updated: self.now(),
                seq: 0,
                deleted: false,
            },
        );
        self.touch(id);
        Ok(id)
    }

    /// Checks an update of `id` without applying it.
    pub fn check_update(
        &self,
        id: u64,
        input: &PersonInput,
        mask: &BTreeSet<String>,
    ) -> Result<(), ApiError> {
        let contact = self.live(id)?;
        let Some(etag) = &input.etag else {
            return Err(ApiError::invalid_argument(
                "Request must set person.etag or person.metadata.sources.etag for the source that is being updated.",
            ));
        };
        if *etag != contact.etag && *etag != contact.source_etag() {
            return Err(ApiError::stale_etag());
        }
        if mask.contains("memberships") {
            let groups = input.groups.clone().unwrap_or_default();
            if groups.is_empty() {
                return Err(ApiError::invalid_argument(
                    "Person must have at least one contact group membership.",
                ));
            }
            for g in groups.iter().filter(|g| !contact.groups.contains(*g)) {
                self.check_addable(g)?;
            }
        }
        Ok(())
    }

    /// Replaces the masked fields of `id` (listed but absent: cleared). Call `check_update` first.
    pub fn apply_update(&mut self, id: u64, input: PersonInput, mask: &BTreeSet<String>) {
        let PersonInput {
            mut fields, groups, ..
        } = input;
        if let Some(contact) = self.contacts.get_mut(&id) {
            for field in mask {
                if field == "memberships" {
                    contact.groups = groups.clone().unwrap_or_default();
                } else {
                    match fields.remove(field) {
                        Some(value) => contact.fields.insert(field.clone(), value),
                        None => contact.fields.remove(field),
                    };
                }
            }
        }
        self.touch(id);
    }

    /// Turns a live contact into a tombstone.
    pub fn delete(&mut self, id: u64) -> Result<(), ApiError> {
        self.live(id)?;
        if let Some(contact) = self.contacts.get_mut(&id) {
            contact.deleted = true;
            contact.fields.clear();
            contact.groups.clear();
        }
        self.touch(id);
        Ok(())
    }

    /// The sequence number below which every change is visible to incremental syncs, given the
    /// configured lag.
    pub fn visible_seq(&self, lag_secs: u64) -> u64 {
        if lag_secs == 0 {
            return self.seq;
        }
        let cutoff = self.now() - chrono::Duration::seconds(lag_secs as i64);
        let mut visible = self.seq;
        for (seq, id) in self.by_seq.iter().rev() {
            match self.contacts.get(id) {
                Some(c) if c.updated > cutoff => visible = seq - 1,
                _ => break,
            }
        }
        visible
    }

    pub fn live_count(&self) -> usize {
        self.contacts.values().filter(|c| !c.deleted).count()
    }

    /// Members of group `id` (live contacts), by resource name order.
    pub fn members(&self, id: &str) -> Vec<u64> {
        let mut members: Vec<u64> = self
            .contacts
            .values()
            .filter(|c| !c.deleted && c.groups.contains(id))
            .map(|c| c.id)
            .collect();
        members.sort_unstable();
        members
    }

    pub fn member_counts(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for contact in self.contacts.values().filter(|c| !c.deleted) {
            for g in &contact.groups {
                *counts.entry(g.clone()).or_insert(0) += 1;
            }
        }
        counts
    }

    pub fn new_group(&mut self, name: String, client_data: Option<Value>) -> String {
        let id = loop {
            let id = format!("{:016x}", rand::random::<u64>() >> 4 | (1 << 58));
            if !self.groups.contains_key(&id) {
                break id;
            }
        };
        let seq = self.next_seq();
        self.groups.insert(
            id.clone(),
            Group {
                etag: etag_of("#", &id, seq),
                id: id.clone(),
                name,
                client_data,
                updated: self.now(),
                seq,
                deleted: false,
            },
        );
        id
    }

    pub fn touch_group(&mut self, id: &str) {
        let seq = self.next_seq();
        let now = self.now();
        if let Some(group) = self.groups.get_mut(id) {
            group.seq = seq;
            group.updated = now;
            group.etag = etag_of("#", id, seq);
        }
    }

    /// A live user group's id with this name, if any.
    pub fn group_named(&self, name: &str) -> Option<&str> {
        self.groups
            .values()
            .find(|g| !g.deleted && g.name == name)
            .map(|g| g.id.as_str())
    }
}

/// Every mailbox, by lower-cased email, on one clock.
#[derive(Default)]
pub struct Registry {
    mailboxes: RwLock<HashMap<String, MailboxRef>>,
    pub clock: Arc<Clock>,
}

/// A mailbox and its count of mutations in flight.
#[derive(Clone)]
pub struct MailboxRef {
    pub state: Arc<Mutex<Mailbox>>,
    pub mutations_in_flight: Arc<AtomicUsize>,
}

impl Registry {
    /// The mailbox, created when new; whether it was created.
    pub fn get_or_create(&self, email: &str) -> (MailboxRef, bool) {
        let key = email.to_ascii_lowercase();
        if let Some(m) = self.mailboxes.read().get(&key) {
            return (m.clone(), false);
        }
        let mut all = self.mailboxes.write();
        if let Some(m) = all.get(&key) {
            return (m.clone(), false);
        }
        let m = MailboxRef {
            state: Arc::new(Mutex::new(Mailbox::new(&key, self.clock.clone()))),
            mutations_in_flight: Arc::new(AtomicUsize::new(0)),
        };
        all.insert(key, m.clone());
        (m, true)
    }

    pub fn get(&self, email: &str) -> Option<MailboxRef> {
        self.mailboxes
            .read()
            .get(&email.to_ascii_lowercase())
            .cloned()
    }

    pub fn all(&self) -> Vec<MailboxRef> {
        let mut all: Vec<_> = self.mailboxes.read().values().cloned().collect();
        all.sort_by_key(|m| m.state.lock().email.clone());
        all
    }

    pub fn clear(&self) {
        self.mailboxes.write().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_names_are_the_decimal_of_the_hex_source_id() {
        let mut mailbox = Mailbox::new("u@example.com", Arc::default());
        let id = mailbox
            .create(parse_person(&json!({"names": [{"givenName": "A"}]})).expect("valid"))
            .expect("created");
        let person = mailbox
            .live(id)
            .expect("live")
            .render(&all_person_fields(), None);
        let name = person["resourceName"].as_str().unwrap_or_default();
        let hex = person["metadata"]["sources"][0]["id"]
            .as_str()
            .unwrap_or_default();
        assert_eq!(hex.len(), 16);
        assert_eq!(
            name.trim_start_matches("people/c").parse::<u64>().ok(),
            u64::from_str_radix(hex, 16).ok()
        );
        assert_eq!(person["names"][0]["displayName"], "A");
    }

    #[test]
    fn an_email_keeps_the_display_name_written_and_a_name_computes_its_own() {
        let mut mailbox = Mailbox::new("u@example.com", Arc::default());
        let id = mailbox
            .create(
                parse_person(&json!({
                    "names": [{"givenName": "A", "displayName": "ignored"}],
                    "emailAddresses": [{"value": "a@example.com", "displayName": "Work A"}]
                }))
                .expect("valid"),
            )
            .expect("created");
        let person = mailbox
            .live(id)
            .expect("live")
            .render(&all_person_fields(), None);
        assert_eq!(person["emailAddresses"][0]["displayName"], "Work A");
        assert_eq!(person["names"][0]["displayName"], "A");
    }

    #[test]
    fn a_second_name_is_refused() {
        let err = parse_person(&json!({"names": [{"givenName": "A"}, {"givenName": "B"}]}))
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert_eq!(err, "Cannot have more than one person.names per source.");
    }
}
