//! `people.*` and `people.connections.list` (reference §2–§4): listing with page and sync
//! tokens, gets, creates, updates with etags, deletes, and the batch methods.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::cursor::{Cursor, Kind, check_sync_token, fingerprint};
use crate::errors::ApiError;
use crate::model::{
    self, Mailbox, PERSON_FIELDS, all_person_fields, parse_person, required_mask, writable_fields,
};
use crate::server::Call;

const SORT_ORDERS: &[&str] = &[
    "LAST_MODIFIED_ASCENDING",
    "LAST_MODIFIED_DESCENDING",
    "FIRST_NAME_ASCENDING",
    "LAST_NAME_ASCENDING",
];
const SOURCES: &[&str] = &[
    "READ_SOURCE_TYPE_CONTACT",
    "READ_SOURCE_TYPE_PROFILE",
    "READ_SOURCE_TYPE_DOMAIN_CONTACT",
    "READ_SOURCE_TYPE_OTHER_CONTACT",
];

/// `personFields` / `readMask` where optional: absent means every field.
fn optional_mask(raw: Option<&str>, param: &str) -> Result<BTreeSet<String>, ApiError> {
    match raw {
        None => Ok(all_person_fields()),
        Some(raw) => model::parse_mask(raw, param, PERSON_FIELDS),
    }
}

fn parse_bool(call: &Call<'_>, name: &str) -> Result<bool, ApiError> {
    match call.param(name) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") || v == "0" || v.is_empty() => Ok(false),
        Some(v) => Err(ApiError::invalid_argument(format!(
            "Invalid value at '{name}' (TYPE_BOOL), \"{v}\""
        ))),
    }
}

/// `pageSize`: 0 or absent gives `default`; negative or above `max` is 400.
pub fn page_size(call: &Call<'_>, default: usize, max: usize) -> Result<usize, ApiError> {
    let Some(raw) = call.param("pageSize") else {
        return Ok(default);
    };
    let size: i64 = raw.parse().map_err(|_| {
        ApiError::invalid_argument(format!(
            "Invalid value at 'page_size' (TYPE_INT32), \"{raw}\""
        ))
    })?;
    match size {
        0 => Ok(default),
        s if s < 0 || s as usize > max => Err(ApiError::field_violation(
            "page_size",
            format!("Page size must be between 0 and {max}."),
        )),
        s => Ok(s as usize),
    }
}

/// Whether the first page of this call is a full sync (it draws on the full-sync quota).
pub fn is_full_sync_start(call: &Call<'_>) -> bool {
    call.param("requestSyncToken")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        && call.param("syncToken").is_none()
        && call.param("pageToken").is_none()
}

/// `GET /v1/people/me/connections`.
pub fn connections(call: &Call<'_>, mailbox: &Mailbox) -> Result<Value, ApiError> {
    let knobs = call.knobs;
    let raw_fields = call.param("personFields").unwrap_or("");
    let mask = required_mask(Some(raw_fields), "personFields", PERSON_FIELDS)?;
    let size = page_size(call, knobs.connections_page_size, knobs.max_page_size)?;
    let request_sync = parse_bool(call, "requestSyncToken")?;
    let sort = call.param("sortOrder").unwrap_or("LAST_MODIFIED_ASCENDING");
    if !SORT_ORDERS.contains(&sort) {
        return Err(ApiError::invalid_argument(format!(
            "Invalid value at 'sort_order' (type.googleapis.com/google.social.people.v1.ConnectionsSortOrder), \"{sort}\""
        )));
    }
    let sources = call.params("sources");
    if let Some(bad) = sources.iter().find(|s| !SOURCES.contains(s)) {
        return Err(ApiError::invalid_argument(format!(
            "Invalid value at 'sources', \"{bad}\""
        )));
    }
    let sources = sources.join(",");
    let sync_token = call.param("syncToken");
    let email = mailbox.email.as_str();
    let epoch = call.epoch;
    // Sync tokens are bound to the fields and sources; page tokens to every other parameter.
    let sync_bound = fingerprint(
        email,
        &[("personFields", raw_fields), ("sources", &sources)],
    );
    let page_bound = fingerprint(
        email,
        &[
            ("personFields", raw_fields),
            ("sources", &sources),
            ("pageSize", &size.to_string()),
            ("requestSyncToken", if request_sync { "1" } else { "0" }),
            ("syncToken", sync_token.unwrap_or("")),
            ("sortOrder", call.param("sortOrder").unwrap_or("")),
        ],
    );
    let page = call
        .param("pageToken")
        .filter(|t| !t.is_empty())
        .map(|t| Cursor::decode(t, Kind::Page, epoch, &page_bound, "pageToken"))
        .transpose()?;
    let since = sync_token
        .filter(|t| !t.is_empty())
        .map(|t| check_sync_token(t, Kind::Sync, epoch, &sync_bound, mailbox, knobs))
        .transpose()?;
    let contacts_requested = sources.is_empty() || sources.contains("READ_SOURCE_TYPE_CONTACT");
    let cap = Some(knobs.list_item_cap);
    let mut people = Vec::new();
    let mut next_page = None;
    let mut next_sync = None;
    let total;
    let new_cursor = |after: u64, upto: u64, offset: usize| Cursor {
        kind: Kind::Page,
        epoch,
        bound: page_bound.clone(),
        after,
        upto,
        offset,
        sync_epoch: mailbox.sync_epoch,
        issued: mailbox.now().timestamp(),
    };
    let by_modified = sort == "LAST_MODIFIED_ASCENDING" || request_sync || since.is_some();
    if by_modified {
        // A cursor over the change sequence: changes made while paging move past `upto` and
        // come with the next sync instead of shifting the pages.
        let upto = match (&page, since) {
            (Some(p), _) => p.upto,
            (None, Some(_)) => mailbox.visible_seq(knobs.sync_lag_secs),
            (None, None) => mailbox.seq,
        };
        let start = page.as_ref().map_or(since.unwrap_or(0), |p| p.after);
        let incremental = since.is_some();
        let mut listed = mailbox
            .by_seq
            .range(start + 1..upto.max(start) + 1)
            .filter_map(|(seq, id)| Some((*seq, mailbox.contacts.get(id)?)))
            .filter(|(_, c)| contacts_requested && (incremental || !c.deleted));
        let mut last = start;
        for (seq, contact) in listed.by_ref().take(size) {
            people.push(contact.render(&mask, cap));
            last = seq;
        }
        if listed.next().is_some() {
            next_page = Some(new_cursor(last, upto, 0).encode());
        } else if request_sync {
            next_sync = Some(
                Cursor {
                    kind: Kind::Sync,
                    bound: sync_bound.clone(),
                    after: upto,
                    ..new_cursor(upto, upto, 0)
                }
                .encode(),
            );
        }
        total = if incremental {
            mailbox
                .by_seq
                .range(since.unwrap_or(0) + 1..upto.max(since.unwrap_or(0)) + 1)
                .count()
        } else {
            mailbox.live_count()
        };
    } else {
        let mut all: Vec<&model::Contact> = mailbox
            .contacts
            .values()
            .filter(|c| contacts_requested && !c.deleted)
            .collect();
        let name_part = |c: &model::Contact, part: &str| {
            c.fields
                .get("names")
                .and_then(|n| n.pointer(&format!("/0/{part}")))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_lowercase()
        };
        match sort {
            "LAST_MODIFIED_DESCENDING" => all.sort_by_key(|c| std::cmp::Reverse(c.seq)),
            "FIRST_NAME_ASCENDING" => all.sort_by_key(|c| (name_part(c, "givenName"), c.id)),
            _ => all.sort_by_key(|c| (name_part(c, "familyName"), c.id)),
        }
        let offset = page.as_ref().map_or(0, |p| p.offset);
        people = all
            .iter()
            .skip(offset)
            .take(size)
            .map(|c| c.render(&mask, cap))
            .collect();
        if offset + size < all.len() {
            next_page = Some(new_cursor(0, mailbox.seq, offset + size).encode());
        }
        total = all.len();
    }
    let mut out = Map::new();
    if !people.is_empty() {
        out.insert("connections".into(), Value::Array(people));
    }
    if let Some(t) = next_page {
        out.insert("nextPageToken".into(), json!(t));
    }
    if let Some(t) = next_sync {
        out.insert("nextSyncToken".into(), json!(t));
    }
    if total > 0 {
        out.insert("totalPeople".into(), json!(total));
        out.insert("totalItems".into(), json!(total));
    }
    Ok(Value::Object(out))
}

/// `GET /v1/people/{id}`.
pub fn get(call: &Call<'_>, mailbox: &Mailbox, id: &str) -> Result<Value, ApiError> {
    let mask = required_mask(call.param("personFields"), "personFields", PERSON_FIELDS)?;
    let contact = mailbox.live_by_name(&format!("people/{id}"))?;
    Ok(contact.render(&mask, None))
}

fn person_response(requested: Option<&str>, result: Result<Value, ApiError>) -> Value {
    let mut out = Map::new();
    if let Some(name) = requested {
        out.insert("requestedResourceName".into(), json!(name));
    }
    match result {
        Ok(person) => {
            out.insert("httpStatusCode".into(), json!(200));
            out.insert("person".into(), person);
            out.insert("status".into(), json!({}));
        }
        Err(e) => {
            out.insert("httpStatusCode".into(), json!(e.status.as_u16()));
            out.insert("status".into(), e.rpc_status());
        }
    }
    Value::Object(out)
}

fn check_count(n: usize, max: usize, what: &str) -> Result<(), ApiError> {
    if n == 0 {
        return Err(ApiError::field_violation(
            what,
            format!("{what} must not be empty."),
        ));
    }
    if n > max {
        return Err(ApiError::field_violation(
            what,
            format!("{what} can have at most {max} items; {n} were given."),
        ));
    }
    Ok(())
}

/// `GET /v1/people:batchGet`.
pub fn batch_get(call: &Call<'_>, mailbox: &Mailbox) -> Result<Value, ApiError> {
    let mask = required_mask(call.param("personFields"), "personFields", PERSON_FIELDS)?;
    let names = call.params("resourceNames");
    check_count(names.len(), call.knobs.batch_get_max, "resourceNames")?;
    let responses: Vec<Value> = names
        .iter()
        .map(|name| {
            let result = mailbox.live_by_name(name).map(|c| c.render(&mask, None));
            person_response(Some(name), result)
        })
        .collect();
    Ok(json!({ "responses": responses }))
}

/// `POST /v1/people:createContact`.
pub fn create(call: &Call<'_>, mailbox: &mut Mailbox) -> Result<Value, ApiError> {
    let mask = optional_mask(call.param("personFields"), "personFields")?;
    let input = parse_person(&call.json()?)?;
    let id = mailbox.create(input)?;
    Ok(mailbox.live(id)?.render(&mask, None))
}

fn update_mask(raw: Option<&str>, param: &str) -> Result<BTreeSet<String>, ApiError> {
    required_mask(raw, param, &writable_fields())
}

/// `PATCH /v1/people/{id}:updateContact`.
pub fn update(call: &Call<'_>, mailbox: &mut Mailbox, id: &str) -> Result<Value, ApiError> {
    let fields = update_mask(call.param("updatePersonFields"), "updatePersonFields")?;
    let mask = optional_mask(call.param("personFields"), "personFields")?;
    let input = parse_person(&call.json()?)?;
    let id = mailbox.live_by_name(&format!("people/{id}"))?.id;
    mailbox.check_update(id, &input, &fields)?;
    mailbox.apply_update(id, input, &fields);
    Ok(mailbox.live(id)?.render(&mask, None))
}

/// `DELETE /v1/people/{id}:deleteContact`.
pub fn delete(mailbox: &mut Mailbox, id: &str) -> Result<Value, ApiError> {
    let id = mailbox.live_by_name(&format!("people/{id}"))?.id;
    mailbox.delete(id)?;
    Ok(json!({}))
}

/// The `readMask` of a batch mutation: required, and empty means no data (resource name and
/// etag only).
fn read_mask(body: &Value) -> Result<BTreeSet<String>, ApiError> {
    match body.get("readMask").and_then(Value::as_str) {
        Some(raw) => model::parse_mask(raw, "readMask", PERSON_FIELDS),
        None => Err(ApiError::field_violation(
            "readMask",
            "readMask is required. Please specify one or more valid paths.",
        )),
    }
}

/// `POST /v1/people:batchCreateContacts`: validated whole, then applied.
pub fn batch_create(call: &Call<'_>, mailbox: &mut Mailbox) -> Result<Value, ApiError> {
    let body = call.json()?;
    let mask = read_mask(&body)?;
    let contacts = body
        .get("contacts")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    check_count(contacts.len(), call.knobs.batch_create_max, "contacts")?;
    let mut inputs = Vec::with_capacity(contacts.len());
    for item in &contacts {
        let person = item.get("contactPerson").ok_or_else(|| {
            ApiError::field_violation("contacts", "Each contact must set contactPerson.")
        })?;
        let input = parse_person(person)?;
        for g in input.groups.iter().flatten() {
            mailbox.check_addable(g)?;
        }
        inputs.push(input);
    }
    let mut created = Vec::with_capacity(inputs.len());
    for input in inputs {
        let id = mailbox.create(input)?;
        created.push(person_response(
            None,
            Ok(mailbox.live(id)?.render(&mask, None)),
        ));
    }
    Ok(json!({ "createdPeople": created }))
}

/// `POST /v1/people:batchUpdateContacts`: every item is checked (existence, etag, fields)
/// before any is applied; one bad item fails the call (per-item errors UNCONFIRMED).
pub fn batch_update(call: &Call<'_>, mailbox: &mut Mailbox) -> Result<Value, ApiError> {
    let body = call.json()?;
    let mask = read_mask(&body)?;
    let fields = update_mask(body.get("updateMask").and_then(Value::as_str), "updateMask")?;
    let contacts = body
        .get("contacts")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    check_count(contacts.len(), call.knobs.batch_update_max, "contacts")?;
    let mut checked = Vec::with_capacity(contacts.len());
    for (name, person) in &contacts {
        let id = mailbox.live_by_name(name)?.id;
        let input = parse_person(person)?;
        mailbox.check_update(id, &input, &fields)?;
        checked.push((name.clone(), id, input));
    }
    let mut results = Map::new();
    for (name, id, input) in checked {
        mailbox.apply_update(id, input, &fields);
        let person = mailbox.live(id)?.render(&mask, None);
        results.insert(name, person_response(None, Ok(person)));
    }
    Ok(json!({ "updateResult": results }))
}

/// `POST /v1/people:batchDeleteContacts`: an unknown name fails the call, nothing deleted.
pub fn batch_delete(call: &Call<'_>, mailbox: &mut Mailbox) -> Result<Value, ApiError> {
    let body = call.json()?;
    let names: Vec<String> = body
        .get("resourceNames")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    check_count(names.len(), call.knobs.batch_delete_max, "resourceNames")?;
    let ids = names
        .iter()
        .map(|n| mailbox.live_by_name(n).map(|c| c.id))
        .collect::<Result<BTreeSet<u64>, _>>()?;
    for id in ids {
        mailbox.delete(id)?;
    }
    Ok(json!({}))
}

/// How many operations a call carries (batch items count one each).
pub fn operation_count(route: &str, call: &Call<'_>) -> u64 {
    let body = || call.json().unwrap_or(Value::Null);
    let n = match route {
        "GET /v1/people:batchGet" => call.params("resourceNames").len(),
        "POST /v1/people:batchCreateContacts" => body()["contacts"].as_array().map_or(0, Vec::len),
        "POST /v1/people:batchUpdateContacts" => body()["contacts"].as_object().map_or(0, Map::len),
        "POST /v1/people:batchDeleteContacts" => {
            body()["resourceNames"].as_array().map_or(0, Vec::len)
        }
        _ => 1,
    };
    n.max(1) as u64
}
