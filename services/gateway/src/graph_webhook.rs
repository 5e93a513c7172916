//! `POST /webhooks/graph`: Graph's validation handshake, change notifications (clientState
//! checked, one session per user, B3) and lifecycle events: `reauthorizationRequired` renews;
//! `subscriptionRemoved` forgets the subscription and starts the user's session, which subscribes
//! again (the exchange fetcher is the one place subscriptions are made); `missed` starts a session.
//! A notification that only echoes our own write (the item linked at the changeKey we wrote, or
//! deleted with no link left) starts nothing (C3): checked under the user's lock, and for one that
//! arrives while the writing session still runs, again when that session closes with its links
//! stored (`sync_state::trigger::start_notified_in`). A notified session no longer brings a
//! second, write-free one after it.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::Utc;
use contracts::Trigger;
use graph_client::notifications::{ChangeNotificationCollection, LifecycleEvent};
use serde::Deserialize;
use serde_json::json;
use sync_state::StateError;
use sync_state::links::NotifiedItem;
use sync_state::subscriptions::{self, StoredSubscription};
use sync_state::users;

use crate::Ctx;
use crate::error::{ApiError, parse_json};
use crate::metrics::WebhookMetrics;

/// How long a (re)created or renewed subscription asks to live: the exchange fetcher's choice,
/// just under Graph's limit for contacts (4,230 minutes).
pub const SUBSCRIPTION_MINUTES: i64 = 4200;

/// Longest subscription id looked up; Graph's are 36-character GUIDs.
const MAX_SUBSCRIPTION_ID: usize = 256;

#[derive(Debug, Deserialize)]
pub struct GraphQuery {
    #[serde(rename = "validationToken", default)]
    validation_token: Option<String>,
}

/// Lifecycle work that calls Graph: done after the reply, since Graph wants an answer within
/// seconds.
#[derive(Debug, Clone)]
pub enum LifecycleAction {
    /// `reauthorizationRequired`: extend (which also reauthorizes) the subscription.
    Renew(StoredSubscription),
}

/// What a notification batch led to (also the 202 body, for operators reading logs).
#[derive(Debug, Default)]
pub struct Handled {
    pub accepted: usize,
    pub dropped: usize,
    /// Accepted notifications that only echo our own writes (C3): no session for them.
    pub echoes: usize,
    pub users: BTreeSet<String>,
    /// Per user, the items their change notifications named; `None` once one of them named
    /// none (a `missed` event, a payload without `resourceData`): that session always runs.
    pub notified: HashMap<String, Option<Vec<NotifiedItem>>>,
    pub lifecycle: Vec<LifecycleAction>,
}

pub async fn graph(
    State(ctx): State<Arc<Ctx>>,
    Extension(metrics): Extension<WebhookMetrics>,
    query: Result<Query<GraphQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    if let Some(token) = query.validation_token {
        // The handshake: echo the (already URL-decoded) token as plain text, nothing else.
        let mut response = (StatusCode::OK, token).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        return Ok(response);
    }
    let collection: ChangeNotificationCollection = parse_json(&body?)?;
    let handled = handle_notifications(&ctx, collection).await?;
    metrics.notifications("graph", "accepted", handled.accepted);
    metrics.notifications("graph", "dropped", handled.dropped);
    metrics.sessions("graph", handled.users.len());
    let summary = json!({
        "accepted": handled.accepted,
        "dropped": handled.dropped,
        "echoes": handled.echoes,
        "sessions": handled.users.len(),
    });
    for action in handled.lifecycle {
        let ctx = Arc::clone(&ctx);
        tokio::spawn(async move { run_lifecycle(&ctx, action).await });
    }
    Ok((StatusCode::ACCEPTED, Json(summary)).into_response())
}

/// Checks each notification against its stored subscription and starts one session per user
/// concerned; returns the lifecycle work still to do. Errors only on infrastructure trouble, so
/// Graph redelivers the batch.
#[tracing::instrument(skip_all, fields(notifications = collection.value.len()))]
pub async fn handle_notifications(
    ctx: &Ctx,
    collection: ChangeNotificationCollection,
) -> Result<Handled, ApiError> {
    let mut handled = Handled::default();
    let client = ctx.pool.get().await.map_err(StateError::from)?;
    // A batch usually repeats one subscription many times: look each up once.
    let mut known: HashMap<String, Option<StoredSubscription>> = HashMap::new();
    for notification in collection.value {
        let id = notification.subscription_id.as_str();
        let stored = match known.get(id) {
            Some(stored) => stored.clone(),
            // Not an id we could have stored (Graph's are GUIDs): no lookup needed.
            None if id.is_empty() || id.len() > MAX_SUBSCRIPTION_ID || id.contains('\0') => None,
            None => {
                let stored = subscriptions::get(&**client, id).await?;
                known.insert(id.to_owned(), stored.clone());
                stored
            }
        };
        let Some(stored) = stored else {
            tracing::warn!(subscription_id = %id, "Notification for an unknown subscription; dropped.");
            handled.dropped += 1;
            continue;
        };
        if !notification.client_state_matches(&stored.client_state) {
            tracing::warn!(subscription_id = %id, user_id = %stored.user_id,
                "Notification with a wrong clientState; dropped.");
            handled.dropped += 1;
            continue;
        }
        handled.accepted += 1;
        match notification.lifecycle_event {
            None => {
                handled.users.insert(stored.user_id.clone());
                let entry = handled
                    .notified
                    .entry(stored.user_id.clone())
                    .or_insert_with(|| Some(Vec::new()));
                match (entry.as_mut(), notified_item(&notification)) {
                    (Some(items), Some(item)) => items.push(item),
                    _ => *entry = None,
                }
            }
            Some(LifecycleEvent::Missed) => {
                handled.users.insert(stored.user_id.clone());
                handled.notified.insert(stored.user_id.clone(), None);
            }
            Some(LifecycleEvent::ReauthorizationRequired) => {
                handled.lifecycle.push(LifecycleAction::Renew(stored));
            }
            Some(LifecycleEvent::SubscriptionRemoved) => {
                // Forget it now (its clientState is void) and resync now: the session finds the
                // user without a subscription and subscribes again (B3). A repeat later in the
                // batch finds nothing to forget.
                subscriptions::delete(&**client, &stored.id).await?;
                known.insert(stored.id.clone(), None);
                handled.users.insert(stored.user_id.clone());
            }
            Some(LifecycleEvent::Unknown) => {
                tracing::info!(subscription_id = %id, "Unknown lifecycle event; ignored.");
            }
        }
    }
    let mut enabled = BTreeSet::new();
    for user_id in &handled.users {
        if users::get_settings(&**client, user_id).await?.enabled {
            enabled.insert(user_id.clone());
        }
    }
    drop(client);
    let mut started = BTreeSet::new();
    for user_id in enabled {
        match handled.notified.get(&user_id) {
            Some(Some(items)) => {
                let outcome = pipeline::start_notified_session(
                    &ctx.pool,
                    &ctx.publisher,
                    &user_id,
                    Trigger::Notification,
                    items,
                )
                .await?;
                if outcome.is_none() {
                    // Every notification of this user only echoed our own writes (C3).
                    handled.echoes += items.len();
                    continue;
                }
            }
            _ => {
                pipeline::start_session(&ctx.pool, &ctx.publisher, &user_id, Trigger::Notification)
                    .await?;
            }
        }
        started.insert(user_id);
    }
    handled.users = started;
    Ok(handled)
}

/// The mailbox item a change notification names, with the changeKey after the change
/// (`resourceData.@odata.etag` is `W/"<changeKey>"`); `None` when it names none we can check.
/// Whether it only echoes our own write is `links::is_echo` (C3): at once here, and again, for a
/// notification that arrived while the session that wrote was still running, when that session
/// closes.
fn notified_item(
    notification: &graph_client::notifications::ChangeNotification,
) -> Option<NotifiedItem> {
    use graph_client::notifications::ChangeType;
    let data = notification.resource_data.as_ref()?;
    let graph_id = data.id.as_deref().filter(|id| !id.is_empty())?;
    let deleted = match notification.change_type? {
        ChangeType::Created | ChangeType::Updated => false,
        ChangeType::Deleted => true,
        ChangeType::Unknown => return None,
    };
    let change_key = data
        .odata_etag
        .as_deref()
        .and_then(|etag| etag.strip_prefix("W/\""))
        .and_then(|etag| etag.strip_suffix('"'))
        .map(str::to_owned);
    Some(NotifiedItem {
        graph_id: graph_id.to_owned(),
        change_key,
        deleted,
    })
}

/// Why a lifecycle action could not be carried out (it is logged; the scheduler's renewal and
/// the periodic sessions keep the user in sync meanwhile).
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Clients(#[from] pipeline::ClientError),
    #[error("graph: {0}")]
    Graph(#[from] graph_client::GraphError),
}

/// Runs one lifecycle action, logging the outcome.
pub async fn run_lifecycle(ctx: &Ctx, action: LifecycleAction) {
    let LifecycleAction::Renew(stored) = &action;
    let (subscription_id, user_id) = (stored.id.clone(), stored.user_id.clone());
    match lifecycle(ctx, action).await {
        Ok(id) => {
            tracing::info!(kind = "renew", subscription_id = %id, %user_id, "Handled a subscription lifecycle event.")
        }
        Err(error) => tracing::warn!(kind = "renew", %subscription_id, %user_id, %error,
            "A subscription lifecycle event could not be handled; periodic sessions still run."),
    }
}

/// Carries out one lifecycle action; returns the subscription id now stored.
pub async fn lifecycle(ctx: &Ctx, action: LifecycleAction) -> Result<String, LifecycleError> {
    let expiration = Utc::now() + chrono::Duration::minutes(SUBSCRIPTION_MINUTES);
    let LifecycleAction::Renew(stored) = action;
    let graph = graph_of(ctx, &stored.user_id).await?;
    let renewed = match graph.renew_subscription(&stored.id, expiration).await {
        Ok(renewed) => renewed,
        // Already gone at Graph: forget it; the session started here subscribes again (B3).
        Err(graph_client::GraphError::Api(e)) if e.is_not_found() => {
            let enabled = {
                let client = ctx.pool.get().await.map_err(StateError::from)?;
                subscriptions::delete(&**client, &stored.id).await?;
                users::get_settings(&**client, &stored.user_id)
                    .await?
                    .enabled
            };
            if enabled {
                pipeline::start_session(
                    &ctx.pool,
                    &ctx.publisher,
                    &stored.user_id,
                    Trigger::Notification,
                )
                .await?;
            }
            return Ok(stored.id);
        }
        Err(e) => return Err(e.into()),
    };
    let client = ctx.pool.get().await.map_err(StateError::from)?;
    subscriptions::store(
        &**client,
        &stored.id,
        &stored.user_id,
        &stored.resource,
        &stored.client_state,
        renewed.expiration_date_time,
    )
    .await?;
    Ok(stored.id)
}

async fn graph_of(
    ctx: &Ctx,
    user_id: &str,
) -> Result<Arc<graph_client::GraphClient>, LifecycleError> {
    let org_id = {
        let client = ctx.pool.get().await.map_err(StateError::from)?;
        users::get_user(&**client, user_id).await?.org_id
    };
    Ok(ctx.clients.graph(&org_id).await?)
}
