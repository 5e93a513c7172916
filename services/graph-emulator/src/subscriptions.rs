//! Change-notification subscriptions: create (with the validation handshake), get, list, renew,
//! reauthorize, delete, expiry, and fan-out of contact changes and lifecycle events.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Duration, Utc};
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use crate::config::{Knobs, OverMaxLifetime};
use crate::errors::GraphError;
use crate::folders;
use crate::ids;
use crate::model::parse_object;
use crate::notify;
use crate::router::{self, Target};
use crate::server::{Ctx, Shared};
use crate::state::{ChangeEvent, ChangeType};
use crate::wire::ApiResponse;

#[derive(Debug, Clone, Serialize)]
pub struct Subscription {
    pub id: String,
    pub resource: String,
    pub application_id: String,
    pub change_types: Vec<String>,
    pub notification_url: String,
    pub lifecycle_notification_url: Option<String>,
    pub client_state: Option<String>,
    pub expiration: DateTime<Utc>,
    pub mailbox_id: String,
    /// None: every folder of the mailbox (`users/{id}/contacts`).
    pub folder_id: Option<String>,
    /// Created with `Prefer: IdType="ImmutableId"`: notifications carry immutable ids.
    pub immutable_ids: bool,
    pub latest_supported_tls_version: String,
    pub reauthorization_required: bool,
    pub delivered: u64,
    pub failed_attempts: u64,
}

#[derive(Default)]
struct Inner {
    by_id: HashMap<String, Subscription>,
    by_mailbox: HashMap<String, Vec<String>>,
    /// Delivery queue of each subscription that has had a notification; dropping the sender
    /// (on removal) ends its delivery task.
    queues: HashMap<String, UnboundedSender<Value>>,
}

/// All subscriptions, indexed by mailbox for the fan-out on every change.
#[derive(Default)]
pub struct Store {
    inner: Mutex<Inner>,
}

impl Store {
    fn insert(&self, sub: Subscription) {
        let mut inner = self.inner.lock();
        inner
            .by_mailbox
            .entry(sub.mailbox_id.to_lowercase())
            .or_default()
            .push(sub.id.clone());
        inner.by_id.insert(sub.id.clone(), sub);
    }

    /// The delivery queue of a subscription, with its receiver when the queue is new (the
    /// caller starts the delivery task). None when the subscription no longer exists.
    pub fn queue(
        &self,
        id: &str,
    ) -> Option<(UnboundedSender<Value>, Option<UnboundedReceiver<Value>>)> {
        let mut inner = self.inner.lock();
        if !inner.by_id.contains_key(id) {
            return None;
        }
        if let Some(sender) = inner.queues.get(id) {
            return Some((sender.clone(), None));
        }
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        inner.queues.insert(id.to_owned(), sender.clone());
        Some((sender, Some(receiver)))
    }

    pub fn remove(&self, id: &str) -> Option<Subscription> {
        let mut inner = self.inner.lock();
        inner.queues.remove(id);
        let sub = inner.by_id.remove(id)?;
        let key = sub.mailbox_id.to_lowercase();
        if let Some(ids) = inner.by_mailbox.get_mut(&key) {
            ids.retain(|s| s != id);
            if ids.is_empty() {
                inner.by_mailbox.remove(&key);
            }
        }
        Some(sub)
    }

    pub fn get(&self, id: &str) -> Option<Subscription> {
        self.inner.lock().by_id.get(id).cloned()
    }

    pub fn exists(&self, id: &str) -> bool {
        self.inner.lock().by_id.contains_key(id)
    }

    pub fn record(&self, id: &str, accepted: bool) {
        if let Some(sub) = self.inner.lock().by_id.get_mut(id) {
            if accepted {
                sub.delivered += 1;
            } else {
                sub.failed_attempts += 1;
            }
        }
    }

    pub fn update(&self, id: &str, f: impl FnOnce(&mut Subscription)) -> Option<Subscription> {
        let mut inner = self.inner.lock();
        let sub = inner.by_id.get_mut(id)?;
        f(sub);
        Some(sub.clone())
    }

    pub fn all(&self) -> Vec<Subscription> {
        let mut subs: Vec<Subscription> = self.inner.lock().by_id.values().cloned().collect();
        subs.sort_by(|a, b| a.id.cmp(&b.id));
        subs
    }

    fn for_mailbox(&self, mailbox_id: &str) -> Vec<Subscription> {
        let inner = self.inner.lock();
        inner
            .by_mailbox
            .get(&mailbox_id.to_lowercase())
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| inner.by_id.get(id))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn clear(&self) {
        *self.inner.lock() = Inner::default();
    }

    /// Removes subscriptions whose expiry has passed, as Graph does.
    pub fn sweep(&self, now: DateTime<Utc>) -> usize {
        let expired: Vec<String> = self
            .inner
            .lock()
            .by_id
            .values()
            .filter(|s| s.expiration <= now)
            .map(|s| s.id.clone())
            .collect();
        for id in &expired {
            self.remove(id);
        }
        expired.len()
    }
}

fn invalid(message: impl Into<String>) -> GraphError {
    GraphError::bad_request("InvalidRequest", message)
}

fn not_found() -> GraphError {
    // UNCONFIRMED for unknown or expired subscriptions.
    GraphError::not_found("ResourceNotFound", "The object was not found.")
}

/// Graph writes subscription expiries with seven fractional digits ("…45.9356913Z").
fn format_expiry(t: DateTime<Utc>) -> String {
    use chrono::Timelike;
    format!(
        "{}.{:07}Z",
        t.format("%Y-%m-%dT%H:%M:%S"),
        t.nanosecond() % 1_000_000_000 / 100
    )
}

fn render(ctx: &Ctx<'_>, sub: &Subscription) -> Value {
    json!({
        "@odata.context": format!("{}/v1.0/$metadata#subscriptions/$entity", ctx.req.base_url),
        "id": sub.id,
        "resource": sub.resource,
        "applicationId": sub.application_id,
        "changeType": sub.change_types.join(","),
        "clientState": sub.client_state,
        "notificationUrl": sub.notification_url,
        "notificationQueryOptions": null,
        "notificationContentType": null,
        "lifecycleNotificationUrl": sub.lifecycle_notification_url,
        "expirationDateTime": format_expiry(sub.expiration),
        "creatorId": sub.application_id,
        "includeResourceData": false,
        "latestSupportedTlsVersion": sub.latest_supported_tls_version,
        "encryptionCertificate": null,
        "encryptionCertificateId": null,
        "notificationUrlAppId": null,
    })
}

/// The expiry a requested one becomes: raised to the minimum, rejected or clamped above the max.
fn effective_expiry(
    requested: DateTime<Utc>,
    now: DateTime<Utc>,
    knobs: &Knobs,
) -> Result<DateTime<Utc>, GraphError> {
    // Knobs can hold any number: saturate instead of overflowing the calendar.
    let after = |m: f64| {
        now.checked_add_signed(Duration::milliseconds((m * 60_000.0) as i64))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    };
    let min = after(knobs.subscription_min_minutes);
    let max = after(knobs.subscription_max_minutes);
    let slack = max
        .checked_add_signed(Duration::seconds(60))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    if requested > slack {
        return match knobs.subscription_over_max {
            OverMaxLifetime::Reject => Err(invalid(format!(
                "Subscription expiration can only be {} minutes in the future.",
                knobs.subscription_max_minutes
            ))),
            OverMaxLifetime::Clamp => Ok(max),
        };
    }
    Ok(requested.max(min))
}

fn parse_expiry(body: &serde_json::Map<String, Value>) -> Result<DateTime<Utc>, GraphError> {
    let raw = body
        .get("expirationDateTime")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            invalid("expirationDateTime is a required property for subscription creation.")
        })?;
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            invalid(format!(
                "The expirationDateTime '{raw}' is not a valid date and time."
            ))
        })
}

fn check_url(raw: &str, knobs: &Knobs) -> Result<(), GraphError> {
    let url = url::Url::parse(raw).map_err(|_| notify::invalid_url(raw))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if !knobs.require_https => Ok(()),
        // Graph delivers notifications over TLS only (the wording is UNCONFIRMED).
        "http" => Err(GraphError::bad_request(
            "InvalidRequest",
            format!("The notification URL '{raw}' must use https."),
        )),
        _ => Err(notify::invalid_url(raw)),
    }
}

pub async fn handle(ctx: &Ctx<'_>, target: Target) -> Result<ApiResponse, GraphError> {
    let store = &ctx.shared.subscriptions;
    let owned = |id: &str| {
        store
            .get(id)
            .filter(|s| s.application_id == ctx.app_id)
            .ok_or_else(not_found)
    };
    match (target, ctx.req.method.clone()) {
        (Target::Subscriptions, Method::GET) => {
            let value: Vec<Value> = store
                .all()
                .iter()
                .filter(|s| s.application_id == ctx.app_id)
                .map(|s| {
                    let mut v = render(ctx, s);
                    if let Some(o) = v.as_object_mut() {
                        o.remove("@odata.context");
                    }
                    v
                })
                .collect();
            Ok(ApiResponse::json(
                StatusCode::OK,
                json!({"@odata.context": format!("{}/v1.0/$metadata#subscriptions", ctx.req.base_url), "value": value}),
            ))
        }
        (Target::Subscriptions, Method::POST) => create(ctx).await,
        (Target::Subscription(id), Method::GET) => {
            Ok(ApiResponse::json(StatusCode::OK, render(ctx, &owned(&id)?)))
        }
        (Target::Subscription(id), Method::PATCH) => {
            owned(&id)?;
            let body = parse_object(&ctx.req.body)?;
            let expiry = effective_expiry(parse_expiry(&body)?, Utc::now(), ctx.knobs)?;
            // A renew also reauthorizes.
            let sub = store
                .update(&id, |s| {
                    s.expiration = expiry;
                    s.reauthorization_required = false;
                })
                .ok_or_else(not_found)?;
            Ok(ApiResponse::json(StatusCode::OK, render(ctx, &sub)))
        }
        (Target::Subscription(id), Method::DELETE) => {
            owned(&id)?;
            store.remove(&id);
            Ok(ApiResponse::no_content())
        }
        (Target::Reauthorize(id), Method::POST) => {
            owned(&id)?;
            store.update(&id, |s| s.reauthorization_required = false);
            Ok(ApiResponse::no_content())
        }
        _ => Err(GraphError::MethodNotAllowed),
    }
}

async fn create(ctx: &Ctx<'_>) -> Result<ApiResponse, GraphError> {
    let body = parse_object(&ctx.req.body)?;
    let text = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
    let change_type = text("changeType")
        .ok_or_else(|| invalid("changeType is a required property for subscription creation."))?;
    let change_types: Vec<String> = change_type
        .split(',')
        .map(|s| s.trim().to_owned())
        .collect();
    if change_types
        .iter()
        .any(|c| !matches!(c.as_str(), "created" | "updated" | "deleted"))
    {
        return Err(invalid(format!(
            "'{change_type}' is not a valid changeType for contacts."
        )));
    }
    let notification_url = text("notificationUrl").ok_or_else(|| {
        invalid("notificationUrl is a required property for subscription creation.")
    })?;
    check_url(&notification_url, ctx.knobs)?;
    let lifecycle_url = text("lifecycleNotificationUrl");
    if let Some(url) = &lifecycle_url {
        check_url(url, ctx.knobs)?;
    }
    let client_state = text("clientState");
    if client_state
        .as_ref()
        .is_some_and(|s| s.chars().count() > 128)
    {
        return Err(invalid("clientState must be at most 128 characters."));
    }
    let resource = text("resource")
        .ok_or_else(|| invalid("resource is a required property for subscription creation."))?;
    let requested = parse_expiry(&body)?;
    let now = Utc::now();
    let expiration = effective_expiry(requested, now, ctx.knobs)?;
    let (mailbox_id, folder_id) = resolve_resource(ctx, &resource)?;
    if ctx.shared.subscriptions.for_mailbox(&mailbox_id).len()
        >= ctx.knobs.subscriptions_per_mailbox_max
    {
        return Err(GraphError::Forbidden {
            code: "ExtensionError",
            message: format!(
                "Operation: Create; Exception: [Status Code: Forbidden; Reason: The mailbox has reached its limit of {} subscriptions.]",
                ctx.knobs.subscriptions_per_mailbox_max
            ),
        });
    }
    notify::validate(ctx.shared, &notification_url).await?;
    if let Some(url) = &lifecycle_url {
        notify::validate(ctx.shared, url).await?;
    }
    let sub = Subscription {
        id: ids::guid(),
        resource,
        application_id: ctx.app_id.to_owned(),
        change_types,
        notification_url,
        lifecycle_notification_url: lifecycle_url,
        client_state,
        expiration,
        mailbox_id,
        folder_id,
        immutable_ids: ctx.req.wants_immutable_ids(),
        latest_supported_tls_version: text("latestSupportedTlsVersion")
            .unwrap_or_else(|| "v1_2".to_owned()),
        reauthorization_required: false,
        delivered: 0,
        failed_attempts: 0,
    };
    ctx.shared.subscriptions.insert(sub.clone());
    Ok(ApiResponse::json(StatusCode::CREATED, render(ctx, &sub)))
}

/// `users/{id}/contacts` or `users/{id}/contactFolders/{id}/contacts` → (mailbox id, folder).
fn resolve_resource(ctx: &Ctx<'_>, resource: &str) -> Result<(String, Option<String>), GraphError> {
    let segs = router::segments(resource.trim_start_matches('/'));
    let unsupported = || {
        invalid(format!(
            "Resource '{resource}' is not supported for contact subscriptions."
        ))
    };
    let is = |s: &String, n: &str| s.eq_ignore_ascii_case(n);
    match segs.as_slice() {
        [me, ..] if is(me, "me") => Err(GraphError::bad_request(
            "BadRequest",
            "/me request is only valid with delegated authentication flow.",
        )),
        [u, user, c] if is(u, "users") && is(c, "contacts") => {
            let mailbox = ctx.mailbox(user)?;
            let id = mailbox.lock().id.clone();
            Ok((id, None))
        }
        [u, user, f, folder, c]
            if is(u, "users") && is(f, "contactFolders") && is(c, "contacts") =>
        {
            let mailbox = ctx.mailbox(user)?;
            let mailbox = mailbox.lock();
            let folder_id = folders::resolve_chain(&mailbox, std::slice::from_ref(folder))?;
            Ok((mailbox.id.clone(), Some(folder_id)))
        }
        _ => Err(unsupported()),
    }
}

/// Sends a change notification to every subscription the changes fall under.
pub fn publish(shared: &Arc<Shared>, mailbox_id: &str, events: Vec<ChangeEvent>) {
    if events.is_empty() {
        return;
    }
    let subs = shared.subscriptions.for_mailbox(mailbox_id);
    if subs.is_empty() {
        return;
    }
    let knobs = shared.knobs();
    for sub in subs {
        for event in &events {
            let in_scope = match &sub.folder_id {
                Some(folder) => *folder == event.folder_id,
                None if knobs.subscription_all_folders => event.well_known != Some("deleteditems"),
                None => event.well_known == Some("contacts"),
            };
            if !in_scope || !sub.change_types.iter().any(|c| c == event.change.as_str()) {
                continue;
            }
            let id = if sub.immutable_ids {
                &event.immutable_id
            } else {
                &event.id
            };
            // Resource casing by analogy with messages (UNCONFIRMED).
            let resource = format!("Users/{}/Contacts/{id}", sub.mailbox_id);
            let mut notification = json!({
                "id": ids::guid(),
                "subscriptionId": sub.id,
                "subscriptionExpirationDateTime": format_expiry(sub.expiration),
                "changeType": event.change.as_str(),
                "resource": resource,
                "tenantId": shared.config.tenant_id,
                "resourceData": {
                    "@odata.type": "#Microsoft.Graph.Contact",
                    "@odata.id": resource,
                    "id": id,
                },
                "clientState": sub.client_state,
            });
            if event.change != ChangeType::Deleted {
                notification["resourceData"]["@odata.etag"] =
                    Value::String(format!("W/\"{}\"", event.change_key));
            }
            notify::enqueue(shared, &sub.id, &sub.notification_url, notification);
        }
    }
}

/// The lifecycle events Outlook sends for contacts.
pub const LIFECYCLE_EVENTS: &[&str] = &["reauthorizationRequired", "subscriptionRemoved", "missed"];

/// Sends a lifecycle event to a subscription's `lifecycleNotificationUrl` (control API).
pub fn lifecycle(shared: &Arc<Shared>, id: &str, event: &str) -> Result<(), String> {
    if !LIFECYCLE_EVENTS.contains(&event) {
        return Err(format!(
            "unknown lifecycle event '{event}'; expected one of {LIFECYCLE_EVENTS:?}"
        ));
    }
    let sub = shared
        .subscriptions
        .get(id)
        .ok_or_else(|| format!("no subscription '{id}'"))?;
    let Some(url) = sub.lifecycle_notification_url.clone() else {
        return Err(
            "the subscription has no lifecycleNotificationUrl, so Graph would send it nothing"
                .to_owned(),
        );
    };
    let payload = json!({"value": [{
        "subscriptionId": sub.id,
        "subscriptionExpirationDateTime": format_expiry(sub.expiration),
        "tenantId": shared.config.tenant_id,
        "clientState": sub.client_state,
        "lifecycleEvent": event,
    }]});
    notify::deliver(shared, sub.id.clone(), url, payload);
    match event {
        "subscriptionRemoved" => {
            shared.subscriptions.remove(id);
        }
        "reauthorizationRequired" => {
            shared
                .subscriptions
                .update(id, |s| s.reauthorization_required = true);
        }
        _ => {}
    }
    Ok(())
}
