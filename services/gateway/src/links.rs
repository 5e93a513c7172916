//! Users' signed Sync Settings links (issue 15): made by the admin API with an expiry
//! (`SETTINGS_LINK_TTL_SECS`, 7 days by default), revocable per user, and checked when the page
//! opens. A link is `/settings/{user}?exp=<unix seconds>&sig=<hex HMAC>` (see [`crate::auth`]).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use sync_state::StateError;
use sync_state::settings_links;
use sync_state::users;

use crate::Ctx;
use crate::auth::{self, LinkCheck, Operator};
use crate::error::ApiError;
use crate::html::query_value;

/// The user's signed Sync Settings link for their current link generation, and its expiry.
pub fn settings_link(
    ctx: &Ctx,
    user_id: &str,
    generation: i64,
    now: DateTime<Utc>,
) -> Result<(String, DateTime<Utc>), ApiError> {
    let ttl = chrono::Duration::from_std(ctx.settings.pages.link_ttl)
        .map_err(|e| ApiError::Internal(format!("SETTINGS_LINK_TTL_SECS: {e}")))?;
    let expires_at = now + ttl;
    let exp = expires_at.timestamp();
    let sig = auth::settings_signature(
        ctx.settings.pages.link_key.expose(),
        user_id,
        exp,
        generation,
    );
    let mut url = ctx.settings.common.public_base_url.clone();
    url.path_segments_mut()
        .map_err(|_| ApiError::Internal("PUBLIC_BASE_URL cannot take a path".into()))?
        .pop_if_empty()
        .extend(["settings", user_id]);
    url.query_pairs_mut()
        .append_pair("exp", &exp.to_string())
        .append_pair("sig", &sig);
    let expires_at = Utc
        .timestamp_opt(exp, 0)
        .single()
        .ok_or_else(|| ApiError::Internal("link expiry out of range".into()))?;
    Ok((url.to_string(), expires_at))
}

/// `GET /api/v1/users/{id}/settings-link` → `{"url","expires_at"}` to hand to the user.
pub async fn get_settings_link(
    _: Operator,
    State(ctx): State<Arc<Ctx>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let client = ctx.pool.get().await.map_err(StateError::from)?;
    users::get_user(&**client, &id).await?;
    let generation = settings_links::generation(&**client, &id).await?;
    let (url, expires_at) = settings_link(&ctx, &id, generation, Utc::now())?;
    Ok(Json(json!({ "url": url, "expires_at": expires_at })).into_response())
}

/// `POST /api/v1/users/{id}/settings-link:revoke` → `{"revoked":true,"generation"}`: every
/// settings link of the user handed out so far stops working; links made afterwards work.
#[tracing::instrument(skip_all, fields(user_id = %id))]
pub async fn revoke_settings_links(
    _: Operator,
    State(ctx): State<Arc<Ctx>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let client = ctx.pool.get().await.map_err(StateError::from)?;
    users::get_user(&**client, &id).await?;
    let generation = settings_links::revoke(&**client, &id, Utc::now()).await?;
    tracing::info!(generation, "Revoked the user's settings links.");
    Ok(Json(json!({ "revoked": true, "generation": generation })).into_response())
}

/// Who opened a user's Sync Settings page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    /// An operator (session cookie or bearer token): may also confirm held deletions.
    Operator,
    /// The user through their link; `keep` is the link's query (`exp=…&sig=…`), carried on the
    /// page's forms and links.
    User { keep: String },
}

impl Viewer {
    /// The query that keeps this access on the page's own links and forms.
    pub fn keep(&self) -> &str {
        match self {
            Viewer::Operator => "",
            Viewer::User { keep } => keep,
        }
    }
}

/// Why the page refuses a link: said plainly, for a person holding it.
fn refused(check: LinkCheck) -> ApiError {
    match check {
        LinkCheck::Expired => ApiError::Forbidden(
            "This settings link has expired. Ask your administrator for a new one.".into(),
        ),
        _ => ApiError::Forbidden(
            "This settings link is not valid (it may have been revoked). Ask your \
             administrator for a new one."
                .into(),
        ),
    }
}

/// Checks access to `user_id`'s page: the operator, or the user's live, unrevoked link.
pub async fn page_access(
    ctx: &Ctx,
    headers: &HeaderMap,
    user_id: &str,
    exp: Option<&str>,
    sig: Option<&str>,
) -> Result<Viewer, ApiError> {
    if let (Some(exp_raw), Some(sig)) = (exp, sig) {
        let Ok(exp) = exp_raw.trim().parse::<i64>() else {
            return Err(refused(LinkCheck::Invalid));
        };
        let generation = {
            let client = ctx.pool.get().await.map_err(StateError::from)?;
            settings_links::generation(&**client, user_id).await?
        };
        return match auth::check_settings_link(
            ctx.settings.pages.link_key.expose(),
            user_id,
            exp,
            generation,
            sig,
            Utc::now().timestamp(),
        ) {
            LinkCheck::Valid => Ok(Viewer::User {
                keep: format!("exp={exp}&sig={}", query_value(sig)),
            }),
            // The operator may open any page, whatever link they clicked.
            _ if auth::is_operator(ctx, headers) => Ok(Viewer::Operator),
            check => Err(refused(check)),
        };
    }
    if auth::is_operator(ctx, headers) {
        return Ok(Viewer::Operator);
    }
    Err(ApiError::Unauthorized)
}
