//! The test-only control API under `/_emulator/` (SPEC §4): reset, mailboxes, tokens, service
//! accounts, faults, request counters, sync-token expiry, runtime knobs, and a wholesale read
//! (and a user's own edits) of a mailbox's contacts and groups. None of it counts as traffic.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth;
use crate::config::Knobs;
use crate::errors::ApiError;
use crate::faults::FaultSpec;
use crate::model::{self, all_person_fields, parse_person, resource_name};
use crate::server::{Call, Shared};

fn reply(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// A control request that cannot be done, with the status to answer.
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

impl From<ApiError> for ControlError {
    fn from(e: ApiError) -> Self {
        error(e.status, e.message)
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
struct Email {
    email: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OptionalEmail {
    #[serde(default)]
    email: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewServiceAccount {
    #[serde(default)]
    client_email: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Seed {
    contacts: Vec<Value>,
}

/// `POST /_emulator/clock` body, as the Salesforce emulator's.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveClock {
    #[serde(default)]
    advance_seconds: Option<f64>,
    /// RFC 3339.
    #[serde(default)]
    now: Option<String>,
}

fn clock(shared: &Shared) -> Response {
    let now = model::timestamp(shared.registry.clock.now());
    reply(StatusCode::OK, json!({ "now": now }))
}

fn valid_email(email: &str) -> Result<String, ControlError> {
    let email = email.trim();
    match email.split_once('@') {
        Some((user, domain)) if !user.is_empty() && domain.contains('.') => {
            Ok(email.to_ascii_lowercase())
        }
        _ => Err(error(
            StatusCode::BAD_REQUEST,
            format!("{email:?} is not an email address"),
        )),
    }
}

pub fn handle(
    shared: &Arc<Shared>,
    method: &Method,
    path: &str,
    body: &[u8],
    base_url: &str,
) -> Response {
    if !shared.config.control_api {
        return StatusCode::NOT_FOUND.into_response();
    }
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .skip(1)
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match route(shared, method, &segs, body, base_url) {
        Ok(response) => response,
        Err(e) => reply(e.status, json!({"error": e.message})),
    }
}

fn mailbox(shared: &Shared, email: &str) -> Result<crate::model::MailboxRef, ControlError> {
    shared
        .registry
        .get(email)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, format!("no mailbox {email}")))
}

fn route(
    shared: &Arc<Shared>,
    method: &Method,
    segs: &[&str],
    body: &[u8],
    base_url: &str,
) -> Result<Response, ControlError> {
    Ok(match (method.clone(), segs) {
        (Method::POST, ["reset"]) => {
            shared.registry.clear();
            shared.tokens.clear();
            shared.accounts.clear();
            shared.register_dev_account();
            shared.faults.clear();
            shared.counters.clear();
            shared.quota.clear();
            shared.registry.clock.reset();
            shared.epoch.store(rand::random(), Ordering::Relaxed);
            *shared.knobs.write() = shared.config.knobs.clone();
            reply(StatusCode::OK, json!({"reset": true}))
        }
        (Method::POST, ["mailboxes"]) => {
            let email = valid_email(&parse::<Email>(body)?.email)?;
            let (_, created) = shared.registry.get_or_create(&email);
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            reply(status, json!({"email": email}))
        }
        (Method::GET, ["mailboxes"]) => {
            let mailboxes: Vec<Value> = shared
                .registry
                .all()
                .iter()
                .map(|m| {
                    let m = m.state.lock();
                    json!({"email": m.email, "contacts": m.live_count(), "groups": m.groups.values().filter(|g| !g.deleted).count()})
                })
                .collect();
            reply(StatusCode::OK, json!({"mailboxes": mailboxes}))
        }
        (Method::GET, ["mailboxes", email, "contacts"]) => {
            let m = mailbox(shared, email)?;
            let m = m.state.lock();
            let fields = all_person_fields();
            let mut live: Vec<&model::Contact> =
                m.contacts.values().filter(|c| !c.deleted).collect();
            live.sort_by_key(|c| c.seq);
            let contacts: Vec<Value> = live.iter().map(|c| c.render(&fields, None)).collect();
            let mut deleted: Vec<&model::Contact> =
                m.contacts.values().filter(|c| c.deleted).collect();
            deleted.sort_by_key(|c| c.seq);
            let deleted: Vec<String> = deleted.iter().map(|c| resource_name(c.id)).collect();
            reply(
                StatusCode::OK,
                json!({"contacts": contacts, "deleted": deleted}),
            )
        }
        (Method::POST, ["mailboxes", email, "contacts"]) => {
            let seed: Seed = parse(body)?;
            let m = mailbox(shared, email)?;
            let mut m = m.state.lock();
            let inputs = seed
                .contacts
                .iter()
                .map(parse_person)
                .collect::<Result<Vec<_>, _>>()?;
            let mut created = Vec::with_capacity(inputs.len());
            for input in inputs {
                created.push(resource_name(m.create(input)?));
            }
            reply(StatusCode::CREATED, json!({"created": created}))
        }
        // A user's own edit in Gmail: the given fields are replaced, no etag needed.
        (Method::PATCH, ["mailboxes", email, "contacts", cid]) => {
            let person: Value = parse(body)?;
            let m = mailbox(shared, email)?;
            let mut m = m.state.lock();
            let id = m.live_by_name(&format!("people/{cid}"))?.id;
            let input = parse_person(&person)?;
            let mut mask: std::collections::BTreeSet<String> =
                input.fields.keys().cloned().collect();
            if input.groups.is_some() {
                mask.insert("memberships".to_owned());
            }
            let input = model::PersonInput {
                etag: Some(m.live(id)?.etag.clone()),
                ..input
            };
            m.check_update(id, &input, &mask)?;
            m.apply_update(id, input, &mask);
            reply(
                StatusCode::OK,
                m.live(id)?.render(&all_person_fields(), None),
            )
        }
        (Method::DELETE, ["mailboxes", email, "contacts", cid]) => {
            let m = mailbox(shared, email)?;
            let mut m = m.state.lock();
            let id = m.live_by_name(&format!("people/{cid}"))?.id;
            m.delete(id)?;
            reply(StatusCode::OK, json!({}))
        }
        (Method::GET, ["mailboxes", email, "groups"]) => {
            let m = mailbox(shared, email)?;
            let m = m.state.lock();
            let knobs = shared.knobs();
            let mut groups = Vec::new();
            let ids: Vec<String> = model::SYSTEM_GROUPS
                .iter()
                .map(|(id, _)| (*id).to_owned())
                .chain(
                    m.groups
                        .values()
                        .filter(|g| !g.deleted)
                        .map(|g| g.id.clone()),
                )
                .collect();
            for id in ids {
                let query = vec![("maxMembers".to_owned(), usize::MAX.to_string())];
                let call = Call {
                    knobs: &knobs,
                    epoch: 0,
                    query: &query,
                    body: &[],
                };
                groups.push(crate::groups::get(&call, &m, &id)?);
            }
            reply(StatusCode::OK, json!({"contactGroups": groups}))
        }
        (Method::POST, ["tokens"]) => {
            let email = parse::<Email>(body)?.email.to_ascii_lowercase();
            mailbox(shared, &email)?;
            let lifetime = shared.knobs.read().token_lifetime_secs;
            let token = shared.tokens.issue(&email, Duration::from_secs(lifetime));
            reply(
                StatusCode::OK,
                json!({"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}),
            )
        }
        (Method::POST, ["service-accounts"]) => {
            let new: NewServiceAccount = parse(body)?;
            let client_email = match new.client_email {
                Some(email) => valid_email(&email)?,
                None => format!(
                    "sa-{:08x}@contactsync-dev.iam.gserviceaccount.com",
                    rand::random::<u32>()
                ),
            };
            let key = auth::generate_key()
                .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
            let client_id = shared
                .accounts
                .register(&client_email, &key.key_id, &key.private_key_pem)
                .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
            let token_uri = format!("{base_url}/token");
            reply(
                StatusCode::CREATED,
                auth::key_file(&client_email, &client_id, &key, &token_uri),
            )
        }
        (Method::POST, ["faults"]) => {
            let spec: FaultSpec = parse(body)?;
            if StatusCode::from_u16(spec.status).is_err() || spec.status < 400 {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "status must be an HTTP error status",
                ));
            }
            shared.faults.add(spec);
            reply(StatusCode::CREATED, json!({"faults": shared.faults.list()}))
        }
        (Method::GET, ["faults"]) => reply(StatusCode::OK, json!({"faults": shared.faults.list()})),
        (Method::DELETE, ["faults"]) => {
            shared.faults.clear();
            reply(StatusCode::OK, json!({"faults": []}))
        }
        (Method::GET, ["requests"]) => reply(StatusCode::OK, json!(shared.counters.view())),
        (Method::DELETE, ["requests"]) => {
            shared.counters.clear();
            reply(StatusCode::OK, json!(shared.counters.view()))
        }
        // Every outstanding sync token (of one mailbox, or all) answers the expired error.
        (Method::POST, ["sync-tokens", "expire"]) => {
            let which: OptionalEmail = parse(body)?;
            let targets = match which.email {
                Some(email) => vec![mailbox(shared, &email)?],
                None => shared.registry.all(),
            };
            for m in &targets {
                m.state.lock().sync_epoch += 1;
            }
            reply(StatusCode::OK, json!({"expired": targets.len()}))
        }
        (Method::GET, ["clock"]) => clock(shared),
        (Method::POST, ["clock"]) => {
            let moved: MoveClock = parse(body)?;
            if let Some(secs) = moved.advance_seconds {
                let by = chrono::Duration::milliseconds((secs * 1000.0) as i64);
                shared.registry.clock.advance(by);
            }
            if let Some(now) = moved.now {
                let to = chrono::DateTime::parse_from_rfc3339(&now).map_err(|e| {
                    error(
                        StatusCode::BAD_REQUEST,
                        format!("unparseable datetime {now}: {e}"),
                    )
                })?;
                shared.registry.clock.set(to.with_timezone(&chrono::Utc));
            }
            clock(shared)
        }
        (Method::GET, ["config"]) => reply(StatusCode::OK, json!(shared.knobs())),
        (Method::POST, ["config"]) => {
            let mut current = serde_json::to_value(shared.knobs())
                .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
            let changes: serde_json::Map<String, Value> = parse(body)?;
            for (k, v) in changes {
                current[k] = v;
            }
            let knobs: Knobs = serde_json::from_value(current)
                .map_err(|e| error(StatusCode::BAD_REQUEST, format!("invalid knobs: {e}")))?;
            *shared.knobs.write() = knobs.clone();
            reply(StatusCode::OK, json!(knobs))
        }
        _ => {
            return Err(error(
                StatusCode::NOT_FOUND,
                format!("no control route {} /_emulator/{}", method, segs.join("/")),
            ));
        }
    })
}
