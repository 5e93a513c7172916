//! The gateway's HTTP API: webhooks, the admin API and the pages. (Scaffold: replaced by the
//! real routes.)

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use crate::Ctx;

/// The gateway's routes, merged with `/healthz`, `/readyz` and `/metrics`.
pub fn router(ctx: Arc<Ctx>) -> Router {
    Router::new()
        .route("/", get(|| async { "Contactsync gateway" }))
        .with_state(ctx)
}
