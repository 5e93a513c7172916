//! The gateway's HTTP routes: the admin API, the webhooks of both sides and the pages, each
//! group with its own body-size limit; unknown routes answer with the JSON error shape too.

use std::sync::Arc;

use axum::Extension;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::error::ApiError;
use crate::metrics::WebhookMetrics;
use crate::{
    Ctx, dashboard, deletions, graph_webhook, import, links, login, orgs, salesforce_webhook,
    sessions, settings_page, users,
};

/// Admin API bodies are small JSON documents; an org with its PEM key is the largest.
pub const ADMIN_BODY_LIMIT: usize = 64 * 1024;
/// Webhook batches: Graph sends up to a few hundred notifications, Salesforce up to 100 records
/// with their selected fields.
pub const WEBHOOK_BODY_LIMIT: usize = 2 * 1024 * 1024;
/// The settings form is a handful of short fields.
pub const FORM_BODY_LIMIT: usize = 16 * 1024;

/// The gateway's public routes (the ops endpoints are served apart, on `OPS_LISTEN`).
/// Registers the gateway's own metrics, so call it once per process.
pub fn router(ctx: Arc<Ctx>) -> Router {
    let webhook_metrics = WebhookMetrics::register(&ctx.metrics);
    let admin = Router::new()
        .route("/api/v1/orgs", post(orgs::put_org).get(orgs::list_orgs))
        .route("/api/v1/orgs/{id}", get(orgs::get_org))
        .route("/api/v1/orgs/{id}/check", post(orgs::check_org))
        .route("/api/v1/users", post(users::create_user))
        .route("/api/v1/users/{id}", get(users::get_user))
        .route(
            "/api/v1/users/{id}/settings/contacts",
            get(users::get_settings).put(users::put_settings),
        )
        .route(
            "/api/v1/users/{id}/settings-link",
            get(links::get_settings_link),
        )
        .route(
            "/api/v1/users/{id}/settings-link:revoke",
            post(links::revoke_settings_links),
        )
        .route("/api/v1/users/{id}/sync", post(sessions::sync))
        .route("/api/v1/users/{id}/status", get(sessions::status))
        .route(
            "/api/v1/users/{id}/confirm-deletions",
            post(sessions::confirm_deletions),
        )
        .layer(DefaultBodyLimit::max(ADMIN_BODY_LIMIT));
    // Bulk onboarding takes thousands of rows: its own, larger limit.
    let import = Router::new()
        .route("/api/v1/users:import", post(import::import))
        .layer(DefaultBodyLimit::max(import::IMPORT_BODY_LIMIT));
    let webhooks = Router::new()
        .route("/webhooks/graph", post(graph_webhook::graph))
        .route("/webhooks/salesforce", post(salesforce_webhook::salesforce))
        .layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT))
        .layer(Extension(webhook_metrics));
    let pages = Router::new()
        .route(
            "/settings/{user_id}",
            get(settings_page::show).post(settings_page::submit),
        )
        .route("/settings/{user_id}/sync", post(settings_page::sync_now))
        .route(
            "/settings/{user_id}/status",
            get(settings_page::status_panel),
        )
        .route(
            "/settings/{user_id}/confirm-deletions",
            post(deletions::confirm),
        )
        .route(settings_page::SCRIPT_PATH, get(settings_page::script))
        .route("/dashboard", get(dashboard::show))
        .route("/dashboard/login", get(login::show).post(login::submit))
        .route("/dashboard/logout", post(login::logout))
        .route(
            "/dashboard/users/{user_id}/confirm-deletions",
            post(dashboard::confirm),
        )
        .layer(DefaultBodyLimit::max(FORM_BODY_LIMIT));
    Router::new()
        .route("/", get(|| async { "Contactsync gateway" }))
        .merge(admin)
        .merge(import)
        .merge(webhooks)
        .merge(pages)
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::middleware::from_fn(crate::error::json_errors))
        .with_state(ctx)
}
