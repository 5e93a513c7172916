//! The test-only control API under `/_emulator/` (SPEC §4): reset, mailboxes, tokens, faults,
//! request counters, delta-token expiry, lifecycle events, runtime knobs, a read of a
//! mailbox's full state, and the write log (`write-log`: when the API wrote each contact, to
//! the microsecond, while it is on). None of it counts as API traffic.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::AppRegistration;
use crate::config::Knobs;
use crate::contacts::{self, View};
use crate::faults::FaultSpec;
use crate::folders;
use crate::ids;
use crate::model;
use crate::server::Shared;
use crate::subscriptions;
use crate::wire::decode_segment;

fn reply(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// A control request that cannot be done, with the status to answer.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct ControlError {
    status: StatusCode,
    message: String,
}

fn error(status: StatusCode, message: impl Into<String>) -> ControlError {
    ControlError {
        status,
        message: message.into(),
    }
}

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ControlError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("invalid body: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMailbox {
    #[serde(default)]
    id: Option<String>,
    #[serde(default, rename = "userPrincipalName")]
    user_principal_name: Option<String>,
    /// False: the user has no Exchange Online mailbox (calls answer `MailboxNotEnabledForRESTAPI`).
    #[serde(default = "yes", rename = "mailboxEnabled")]
    mailbox_enabled: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    #[serde(default)]
    client_id: Option<String>,
    /// Lifetime in seconds; defaults to the `token_lifetime_secs` knob.
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expire {
    #[serde(default)]
    mailbox: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DropNotifications {
    /// How many of the next change notifications are silently lost.
    count: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Lifecycle {
    event: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Seed {
    /// Folder id or well-known name; default `contacts`.
    #[serde(default)]
    folder: Option<String>,
    contacts: Vec<Value>,
}

/// `POST /_emulator/write-log`: turn the write log on (emptied) or off.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WriteLogSwitch {
    enabled: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Move {
    #[serde(rename = "destinationId")]
    destination_id: String,
}

pub async fn handle(shared: &Arc<Shared>, method: &Method, path: &str, body: &[u8]) -> Response {
    if !shared.config.control_api {
        return StatusCode::NOT_FOUND.into_response();
    }
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .skip(1)
        .map(decode_segment)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match route(shared, method, &segs, body) {
        Ok(response) => response,
        Err(e) => reply(e.status, json!({"error": e.message})),
    }
}

fn route(
    shared: &Arc<Shared>,
    method: &Method,
    segs: &[&str],
    body: &[u8],
) -> Result<Response, ControlError> {
    let m = method.clone();
    Ok(match (m, segs) {
        (Method::POST, ["reset"]) => {
            shared.registry.clear();
            shared.subscriptions.clear();
            shared.faults.clear();
            shared.counters.clear();
            shared.throttle.clear();
            shared
                .dropped_notifications
                .store(0, std::sync::atomic::Ordering::SeqCst);
            shared
                .epoch
                .store(rand::random(), std::sync::atomic::Ordering::Relaxed);
            *shared.knobs.write() = shared.config.knobs.clone();
            shared.write_log.set_enabled(false);
            reply(StatusCode::OK, json!({"reset": true}))
        }
        (Method::POST, ["mailboxes"]) => {
            let new: NewMailbox = parse(body)?;
            let id = new.id.filter(|s| !s.is_empty()).unwrap_or_else(ids::guid);
            let upn = new
                .user_principal_name
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| format!("{id}@emulator.local"));
            let default_categories = shared.knobs.read().default_categories;
            match shared.registry.create(&id, &upn, default_categories) {
                Ok((mailbox, created)) => {
                    let mut mailbox = mailbox.lock();
                    mailbox.rest_enabled = new.mailbox_enabled;
                    let status = if created {
                        StatusCode::CREATED
                    } else {
                        StatusCode::OK
                    };
                    reply(
                        status,
                        json!({
                            "id": mailbox.id,
                            "userPrincipalName": mailbox.upn,
                            "defaultContactFolderId": mailbox.default_id,
                            "deletedItemsFolderId": mailbox.deleted_id,
                        }),
                    )
                }
                Err(e) => return Err(error(StatusCode::CONFLICT, e.to_string())),
            }
        }
        (Method::GET, ["mailboxes"]) => {
            let value: Vec<Value> = shared
                .registry
                .all()
                .iter()
                .map(|m| {
                    let m = m.lock();
                    json!({"id": m.id, "userPrincipalName": m.upn, "contacts": m.contact_count()})
                })
                .collect();
            reply(StatusCode::OK, json!({"value": value}))
        }
        (Method::GET, ["mailboxes", user, what]) => {
            let mailbox = shared
                .registry
                .get(user)
                .ok_or_else(|| error(StatusCode::NOT_FOUND, format!("no mailbox '{user}'")))?;
            let mailbox = mailbox.lock();
            let value: Vec<Value> = match *what {
                "contacts" => {
                    let view = View {
                        immutable: false,
                        select: None,
                        expand: None,
                    };
                    mailbox
                        .all_contacts()
                        .map(|c| {
                            let mut out = contacts::render(c, &view);
                            let folder = mailbox.folder(&c.folder_id);
                            out.insert(
                                "immutableId".to_owned(),
                                Value::from(c.immutable_id.clone()),
                            );
                            out.insert(
                                "folderDisplayName".to_owned(),
                                json!(folder.map(|f| f.display_name.clone())),
                            );
                            out.insert(
                                "folderWellKnownName".to_owned(),
                                json!(folder.and_then(|f| f.well_known)),
                            );
                            let ext: Vec<Value> = c
                                .extended
                                .iter()
                                .map(|(id, v)| json!({"id": id, "value": v}))
                                .collect();
                            out.insert(
                                "singleValueExtendedProperties".to_owned(),
                                Value::Array(ext),
                            );
                            Value::Object(out)
                        })
                        .collect()
                }
                "folders" => mailbox
                    .all_folders()
                    .iter()
                    .map(|f| {
                        let mut v = folders::render(f);
                        v["wellKnownName"] = json!(f.well_known);
                        v["contacts"] = json!(f.len());
                        v
                    })
                    .collect(),
                "categories" => mailbox
                    .categories()
                    .iter()
                    .map(|c| json!({"id": c.id, "displayName": c.display_name, "color": c.color}))
                    .collect(),
                _ => {
                    return Err(error(
                        StatusCode::NOT_FOUND,
                        "expected contacts, folders or categories",
                    ));
                }
            };
            reply(StatusCode::OK, json!({"value": value}))
        }
        (Method::POST, ["mailboxes", user, "contacts"]) => {
            // Bulk seeding (dev data, benchmarks): creates contacts as if the user had, so
            // subscribers are notified, but without counting as API traffic.
            let request: Seed = parse(body)?;
            let knobs = shared.knobs();
            let mut inputs = Vec::with_capacity(request.contacts.len());
            for contact in &request.contacts {
                let bytes = serde_json::to_vec(contact).unwrap_or_default();
                let input = model::parse_contact(&bytes, &knobs, false)
                    .map_err(|e| error(e.status(), e.to_string()))?;
                inputs.push(input);
            }
            let mailbox_ref = shared
                .registry
                .get(user)
                .ok_or_else(|| error(StatusCode::NOT_FOUND, format!("no mailbox '{user}'")))?;
            let (created, mailbox_id, events) = {
                let mut mailbox = mailbox_ref.lock();
                let folder = request.folder.as_deref().unwrap_or("contacts");
                let folder_id = mailbox
                    .resolve_folder(folder)
                    .map_err(|e| error(e.status(), e.to_string()))?
                    .id
                    .clone();
                let now = chrono::Utc::now();
                let mut ids = Vec::with_capacity(inputs.len());
                let mut events = Vec::new();
                for input in &inputs {
                    let (key, evs) = mailbox.create_contact(&folder_id, input, now);
                    events.extend(evs);
                    if let Some(c) = mailbox.contact(key) {
                        ids.push(json!({"id": c.id, "immutableId": c.immutable_id}));
                    }
                }
                (ids, mailbox.id.clone(), events)
            };
            subscriptions::publish(shared, &mailbox_id, events);
            reply(StatusCode::CREATED, json!({"value": created}))
        }
        (Method::PATCH | Method::DELETE, ["mailboxes", user, "contacts", contact]) => {
            // A user's edit or delete in Outlook: same effect and notifications as through the
            // API, but not counted as the integration's traffic.
            let knobs = shared.knobs();
            let patch = if *method == Method::PATCH {
                Some(
                    model::parse_contact(body, &knobs, true)
                        .map_err(|e| error(e.status(), e.to_string()))?,
                )
            } else {
                None
            };
            let mailbox_ref = shared
                .registry
                .get(user)
                .ok_or_else(|| error(StatusCode::NOT_FOUND, format!("no mailbox '{user}'")))?;
            let (out, mailbox_id, events) = {
                let mut mailbox = mailbox_ref.lock();
                let key = mailbox
                    .resolve_contact(contact)
                    .map_err(|e| error(e.status(), e.to_string()))?
                    .key;
                let now = chrono::Utc::now();
                let events = match &patch {
                    Some(input) => mailbox.update_contact(key, input, now),
                    None => mailbox.delete_contact(key, knobs.soft_delete, now),
                };
                let view = View {
                    immutable: false,
                    select: None,
                    expand: None,
                };
                let out = match &patch {
                    Some(_) => mailbox
                        .contact(key)
                        .map(|c| Value::Object(contacts::render(c, &view))),
                    None => None,
                };
                (out, mailbox.id.clone(), events)
            };
            subscriptions::publish(shared, &mailbox_id, events);
            match out {
                Some(contact) => reply(StatusCode::OK, contact),
                None => StatusCode::NO_CONTENT.into_response(),
            }
        }
        (Method::POST, ["notifications", "drop"]) => {
            let request: DropNotifications = parse(body)?;
            shared
                .dropped_notifications
                .fetch_add(request.count, std::sync::atomic::Ordering::SeqCst);
            reply(
                StatusCode::OK,
                json!({"dropping": shared.dropped_notifications.load(std::sync::atomic::Ordering::SeqCst)}),
            )
        }
        (Method::POST, ["mailboxes", user, "contacts", contact, "move"]) => {
            // What a user does by dragging a contact in Outlook; Graph itself cannot.
            let request: Move = parse(body)?;
            let mailbox_ref = shared
                .registry
                .get(user)
                .ok_or_else(|| error(StatusCode::NOT_FOUND, format!("no mailbox '{user}'")))?;
            let (out, mailbox_id, events) = {
                let mut mailbox = mailbox_ref.lock();
                let key = mailbox
                    .resolve_contact(contact)
                    .map_err(|e| error(e.status(), e.to_string()))?
                    .key;
                let folder = mailbox
                    .resolve_folder(&request.destination_id)
                    .map_err(|e| error(e.status(), e.to_string()))?
                    .id
                    .clone();
                let events = mailbox.user_move(key, &folder, chrono::Utc::now());
                let view = View {
                    immutable: false,
                    select: None,
                    expand: None,
                };
                let out = mailbox.contact(key).map(|c| {
                    let mut o = contacts::render(c, &view);
                    o.insert(
                        "immutableId".to_owned(),
                        Value::from(c.immutable_id.clone()),
                    );
                    Value::Object(o)
                });
                (out, mailbox.id.clone(), events)
            };
            subscriptions::publish(shared, &mailbox_id, events);
            reply(StatusCode::OK, out.unwrap_or(Value::Null))
        }
        (Method::POST, ["tokens"]) => {
            let request: NewToken = parse(body)?;
            let client_id = request
                .client_id
                .unwrap_or_else(|| shared.config.client_id.clone());
            let Some(roles) = shared
                .apps
                .read()
                .iter()
                .find(|a| a.client_id == client_id)
                .map(|a| a.roles.clone())
            else {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    format!("no app registration '{client_id}'"),
                ));
            };
            let lifetime = request
                .expires_in
                .map(Duration::from_secs)
                .unwrap_or_else(|| shared.token_lifetime());
            let token = shared
                .tokens
                .mint(&client_id, &shared.config.tenant_id, lifetime, &roles);
            reply(
                StatusCode::OK,
                json!({"access_token": token, "token_type": "Bearer", "expires_in": lifetime.as_secs()}),
            )
        }
        (Method::POST, ["apps"]) => {
            let mut app: AppRegistration = parse(body)?;
            if app.tenant.is_empty() {
                app.tenant = shared.config.tenant.clone();
            }
            let mut apps = shared.apps.write();
            apps.retain(|a| a.client_id != app.client_id);
            apps.push(app);
            reply(StatusCode::CREATED, json!({"registered": true}))
        }
        (Method::POST, ["faults"]) => {
            let mut spec: FaultSpec = parse(body)?;
            if StatusCode::from_u16(spec.status).is_err() || spec.status < 400 {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "status must be an HTTP error status",
                ));
            }
            // Faults match on the mailbox's id, whichever name the test used.
            if let Some(m) = &spec.mailbox
                && let Some(mailbox) = shared.registry.get(m)
            {
                spec.mailbox = Some(mailbox.lock().id.clone());
            }
            shared.faults.add(spec);
            reply(StatusCode::CREATED, json!({"faults": shared.faults.list()}))
        }
        (Method::GET, ["faults"]) => reply(StatusCode::OK, json!({"faults": shared.faults.list()})),
        (Method::DELETE, ["faults"]) => {
            shared.faults.clear();
            StatusCode::NO_CONTENT.into_response()
        }
        (Method::GET, ["requests"]) => reply(StatusCode::OK, json!(shared.counters.view())),
        (Method::DELETE, ["requests"]) => {
            shared.counters.clear();
            StatusCode::NO_CONTENT.into_response()
        }
        (Method::POST, ["delta", "expire"]) => {
            let request: Expire = parse(body)?;
            let targets =
                match &request.mailbox {
                    Some(m) => vec![shared.registry.get(m).ok_or_else(|| {
                        error(StatusCode::NOT_FOUND, format!("no mailbox '{m}'"))
                    })?],
                    None => shared.registry.all(),
                };
            for mailbox in &targets {
                let mut mailbox = mailbox.lock();
                mailbox.delta_generation += 1;
            }
            reply(StatusCode::OK, json!({"expired_mailboxes": targets.len()}))
        }
        (Method::GET, ["subscriptions"]) => {
            reply(StatusCode::OK, json!({"value": shared.subscriptions.all()}))
        }
        (Method::DELETE, ["subscriptions", id]) => {
            // Graph dropping a subscription without a word (an expiry, a missed reauthorization,
            // a removal whose lifecycle event never arrived): it just answers 404 from then on.
            match shared.subscriptions.remove(id) {
                Some(_) => StatusCode::NO_CONTENT.into_response(),
                None => {
                    return Err(error(
                        StatusCode::NOT_FOUND,
                        format!("no subscription '{id}'"),
                    ));
                }
            }
        }
        (Method::POST, ["subscriptions", id, "lifecycle"]) => {
            let request: Lifecycle = parse(body)?;
            subscriptions::lifecycle(shared, id, &request.event)
                .map_err(|e| error(StatusCode::BAD_REQUEST, e))?;
            reply(StatusCode::ACCEPTED, json!({"sent": request.event}))
        }
        (Method::POST, ["write-log"]) => {
            let request: WriteLogSwitch = parse(body)?;
            shared.write_log.set_enabled(request.enabled);
            reply(StatusCode::OK, json!({"enabled": request.enabled}))
        }
        (Method::GET, ["write-log"]) => {
            let (enabled, writes) = shared.write_log.view();
            reply(
                StatusCode::OK,
                json!({"enabled": enabled, "writes": writes}),
            )
        }
        (Method::GET, ["config"]) => reply(StatusCode::OK, json!(shared.knobs())),
        (Method::POST, ["config"]) => {
            let changes: serde_json::Map<String, Value> = parse(body)?;
            let mut current = serde_json::to_value(shared.knobs()).unwrap_or(Value::Null);
            if let Some(map) = current.as_object_mut() {
                map.extend(changes);
            }
            let knobs: Knobs = serde_json::from_value(current)
                .map_err(|e| error(StatusCode::BAD_REQUEST, format!("invalid knobs: {e}")))?;
            *shared.knobs.write() = knobs.clone();
            reply(StatusCode::OK, json!(knobs))
        }
        _ => return Err(error(StatusCode::NOT_FOUND, "unknown control route")),
    })
}
