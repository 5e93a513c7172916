//! `contactGroups.*` (reference §5): system groups without etags, user groups with unique
//! names, listing with page and sync tokens, and `members:modify`.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value, json};

use crate::cursor::{Cursor, Kind, check_sync_token, fingerprint};
use crate::errors::ApiError;
use crate::model::{self, Group, Mailbox, SYSTEM_GROUPS, resource_name};
use crate::people::page_size;
use crate::server::Call;

const GROUP_FIELDS: &[&str] = &["clientData", "groupType", "memberCount", "metadata", "name"];

fn system_group(id: &str, counts: &HashMap<String, usize>) -> Option<Value> {
    let (id, formatted) = SYSTEM_GROUPS.iter().find(|(g, _)| *g == id)?;
    let mut group = json!({
        "resourceName": format!("contactGroups/{id}"),
        "groupType": "SYSTEM_CONTACT_GROUP",
        "name": id,
        "formattedName": formatted,
    });
    let count = counts.get(*id).copied().unwrap_or(0);
    if count > 0 {
        group["memberCount"] = json!(count);
    }
    Some(group)
}

fn user_group(group: &Group, counts: &HashMap<String, usize>) -> Value {
    if group.deleted {
        return json!({
            "resourceName": format!("contactGroups/{}", group.id),
            "etag": group.etag,
            "metadata": {"updateTime": model::timestamp(group.updated), "deleted": true},
        });
    }
    let mut out = json!({
        "resourceName": format!("contactGroups/{}", group.id),
        "etag": group.etag,
        "metadata": {"updateTime": model::timestamp(group.updated)},
        "groupType": "USER_CONTACT_GROUP",
        "name": group.name,
        "formattedName": group.name,
    });
    if let Some(count) = counts.get(&group.id).filter(|c| **c > 0) {
        out["memberCount"] = json!(count);
    }
    if let Some(data) = &group.client_data {
        out["clientData"] = data.clone();
    }
    out
}

fn check_group_fields(raw: Option<&str>, param: &str) -> Result<(), ApiError> {
    model::parse_mask(raw.unwrap_or(""), param, GROUP_FIELDS).map(|_| ())
}

/// `GET /v1/contactGroups`.
pub fn list(call: &Call<'_>, mailbox: &Mailbox) -> Result<Value, ApiError> {
    let knobs = call.knobs;
    check_group_fields(call.param("groupFields"), "groupFields")?;
    let size = page_size(call, knobs.groups_page_size, knobs.max_page_size)?;
    let email = mailbox.email.as_str();
    let sync_bound = fingerprint(
        email,
        &[("groupFields", call.param("groupFields").unwrap_or(""))],
    );
    let page_bound = fingerprint(
        email,
        &[
            ("groupFields", call.param("groupFields").unwrap_or("")),
            ("pageSize", &size.to_string()),
            ("syncToken", call.param("syncToken").unwrap_or("")),
        ],
    );
    let page = call
        .param("pageToken")
        .filter(|t| !t.is_empty())
        .map(|t| Cursor::decode(t, Kind::GroupPage, call.epoch, &page_bound, "pageToken"))
        .transpose()?;
    let since = call
        .param("syncToken")
        .filter(|t| !t.is_empty())
        .map(|t| check_sync_token(t, Kind::GroupSync, call.epoch, &sync_bound, mailbox, knobs))
        .transpose()?;
    let upto = page.as_ref().map_or(mailbox.seq, |p| p.upto);
    let counts = mailbox.member_counts();
    let mut all: Vec<Value> = Vec::new();
    if since.is_none() {
        all.extend(
            SYSTEM_GROUPS
                .iter()
                .filter_map(|(id, _)| system_group(id, &counts)),
        );
    }
    let mut user: Vec<&Group> = mailbox
        .groups
        .values()
        .filter(|g| match since {
            Some(after) => g.seq > after && g.seq <= upto,
            None => !g.deleted && g.seq <= upto,
        })
        .collect();
    user.sort_by_key(|g| g.seq);
    all.extend(user.iter().map(|g| user_group(g, &counts)));
    let offset = page.as_ref().map_or(0, |p| p.offset);
    let groups: Vec<Value> = all.iter().skip(offset).take(size).cloned().collect();
    let cursor = |kind, bound: &str, offset| Cursor {
        kind,
        epoch: call.epoch,
        bound: bound.to_owned(),
        after: upto,
        upto,
        offset,
        sync_epoch: mailbox.sync_epoch,
        issued: mailbox.now().timestamp(),
    };
    let mut out = Map::new();
    if !groups.is_empty() {
        out.insert("contactGroups".into(), Value::Array(groups));
    }
    if offset + size < all.len() {
        let token = cursor(Kind::GroupPage, &page_bound, offset + size).encode();
        out.insert("nextPageToken".into(), json!(token));
    } else {
        let token = cursor(Kind::GroupSync, &sync_bound, 0).encode();
        out.insert("nextSyncToken".into(), json!(token));
    }
    if !all.is_empty() {
        out.insert("totalItems".into(), json!(all.len()));
    }
    Ok(Value::Object(out))
}

fn find<'m>(mailbox: &'m Mailbox, id: &str) -> Result<Option<&'m Group>, ApiError> {
    if SYSTEM_GROUPS.iter().any(|(g, _)| *g == id) {
        return Ok(None);
    }
    match mailbox.groups.get(id) {
        Some(g) if !g.deleted => Ok(Some(g)),
        _ => Err(ApiError::not_found()),
    }
}

/// `GET /v1/contactGroups/{id}`.
pub fn get(call: &Call<'_>, mailbox: &Mailbox, id: &str) -> Result<Value, ApiError> {
    check_group_fields(call.param("groupFields"), "groupFields")?;
    let max_members: usize = match call.param("maxMembers") {
        None => 0,
        Some(raw) => raw.parse().map_err(|_| {
            ApiError::invalid_argument(format!(
                "Invalid value at 'max_members' (TYPE_INT32), \"{raw}\""
            ))
        })?,
    };
    let counts = mailbox.member_counts();
    let mut group = match find(mailbox, id)? {
        Some(g) => user_group(g, &counts),
        None => system_group(id, &counts).ok_or_else(ApiError::not_found)?,
    };
    let members: Vec<String> = mailbox
        .members(id)
        .into_iter()
        .take(max_members)
        .map(resource_name)
        .collect();
    if !members.is_empty() {
        group["memberResourceNames"] = json!(members);
    }
    Ok(group)
}

fn group_body(body: &Value) -> Result<&Map<String, Value>, ApiError> {
    body.get("contactGroup")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::field_violation("contactGroup", "contactGroup is required."))
}

fn checked_name(
    mailbox: &Mailbox,
    group: &Map<String, Value>,
    except: Option<&str>,
) -> Result<String, ApiError> {
    let name = group
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            ApiError::field_violation("contactGroup.name", "Contact group name must not be empty.")
        })?;
    let taken = mailbox
        .group_named(name)
        .is_some_and(|id| Some(id) != except)
        || SYSTEM_GROUPS
            .iter()
            .any(|(id, formatted)| *id == name || *formatted == name);
    if taken {
        // 409 documented; the status name is UNCONFIRMED (likeliest ALREADY_EXISTS).
        return Err(ApiError::already_exists(
            "Contact group name already exists.",
        ));
    }
    Ok(name.to_owned())
}

/// `POST /v1/contactGroups`.
pub fn create(call: &Call<'_>, mailbox: &mut Mailbox) -> Result<Value, ApiError> {
    let body = call.json()?;
    let group = group_body(&body)?;
    let name = checked_name(mailbox, group, None)?;
    let client_data = group.get("clientData").cloned();
    let id = mailbox.new_group(name, client_data);
    let counts = HashMap::new();
    let group = mailbox.groups.get(&id).ok_or_else(ApiError::not_found)?;
    Ok(user_group(group, &counts))
}

/// `PUT /v1/contactGroups/{id}`.
pub fn update(call: &Call<'_>, mailbox: &mut Mailbox, id: &str) -> Result<Value, ApiError> {
    let body = call.json()?;
    if find(mailbox, id)?.is_none() {
        return Err(ApiError::invalid_argument(
            "Cannot modify a system contact group.",
        ));
    }
    let group = group_body(&body)?;
    let fields = model::parse_mask(
        body.get("updateGroupFields")
            .and_then(Value::as_str)
            .unwrap_or("name"),
        "updateGroupFields",
        &["name", "clientData"],
    )?;
    if let Some(etag) = group.get("etag").and_then(Value::as_str)
        && mailbox.groups.get(id).is_some_and(|g| g.etag != etag)
    {
        return Err(ApiError::failed_precondition(
            "Request contact group etag is different than the current contact group etag.",
        ));
    }
    let name = if fields.contains("name") {
        Some(checked_name(mailbox, group, Some(id))?)
    } else {
        None
    };
    if let Some(g) = mailbox.groups.get_mut(id) {
        if let Some(name) = name {
            g.name = name;
        }
        if fields.contains("clientData") {
            g.client_data = group.get("clientData").cloned();
        }
    }
    mailbox.touch_group(id);
    let counts = mailbox.member_counts();
    let group = mailbox.groups.get(id).ok_or_else(ApiError::not_found)?;
    Ok(user_group(group, &counts))
}

/// `DELETE /v1/contactGroups/{id}?deleteContacts=`.
pub fn delete(call: &Call<'_>, mailbox: &mut Mailbox, id: &str) -> Result<Value, ApiError> {
    if find(mailbox, id)?.is_none() {
        return Err(ApiError::invalid_argument(
            "Cannot delete a system contact group.",
        ));
    }
    let delete_contacts = call
        .param("deleteContacts")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    for member in mailbox.members(id) {
        if delete_contacts {
            mailbox.delete(member)?;
        } else {
            if let Some(c) = mailbox.contacts.get_mut(&member) {
                c.groups.remove(id);
            }
            mailbox.touch(member);
        }
    }
    if let Some(g) = mailbox.groups.get_mut(id) {
        g.deleted = true;
        g.client_data = None;
    }
    mailbox.touch_group(id);
    Ok(json!({}))
}

/// `POST /v1/contactGroups/{id}/members:modify`.
pub fn modify_members(call: &Call<'_>, mailbox: &mut Mailbox, id: &str) -> Result<Value, ApiError> {
    let body = call.json()?;
    let list = |key: &str| -> Vec<String> {
        body.get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (add, remove) = (list("resourceNamesToAdd"), list("resourceNamesToRemove"));
    let max = call.knobs.members_modify_max;
    if add.len() + remove.len() > max {
        return Err(ApiError::field_violation(
            "resourceNamesToAdd",
            format!("At most {max} resource names may be added and removed in one request."),
        ));
    }
    find(mailbox, id)?;
    if id == "all" && add.is_empty() && remove.is_empty() {
        return Ok(json!({}));
    }
    if !add.is_empty() {
        mailbox.check_addable(id)?;
    }
    let mut not_found = BTreeSet::new();
    let mut last_group = Vec::new();
    for name in &add {
        match mailbox
            .live_by_name(name)
            .map(|c| (c.id, c.groups.contains(id)))
        {
            Ok((cid, false)) => {
                if let Some(c) = mailbox.contacts.get_mut(&cid) {
                    c.groups.insert(id.to_owned());
                }
                mailbox.touch(cid);
            }
            Ok((_, true)) => {}
            Err(_) => {
                not_found.insert(name.clone());
            }
        }
    }
    for name in &remove {
        let Ok(contact) = mailbox.live_by_name(name) else {
            not_found.insert(name.clone());
            continue;
        };
        let cid = contact.id;
        if !contact.groups.contains(id) {
            continue;
        }
        if contact.groups.len() == 1 {
            last_group.push(name.clone());
            continue;
        }
        if let Some(c) = mailbox.contacts.get_mut(&cid) {
            c.groups.remove(id);
        }
        mailbox.touch(cid);
    }
    let mut out = Map::new();
    if !not_found.is_empty() {
        out.insert("notFoundResourceNames".into(), json!(not_found));
    }
    if !last_group.is_empty() {
        out.insert(
            "canNotRemoveLastContactGroupResourceNames".into(),
            json!(last_group),
        );
    }
    Ok(Value::Object(out))
}
