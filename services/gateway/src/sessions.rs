//! Admin API around sessions: sync on demand (optionally waiting for the summary), the user's
//! status, and the operator's confirmation of held deletions (SPEC §4, B3, C5).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use contracts::Trigger;
use serde::Deserialize;
use serde_json::json;
use sync_state::StateError;
use sync_state::sessions::StartOutcome;
use sync_state::users;
use uuid::Uuid;

use crate::Ctx;
use crate::auth::Operator;
use crate::error::ApiError;
use crate::queries::{self, SessionView};
use crate::users::{SettingsView, UserView};

/// The longest `?wait=` the sync call accepts, in seconds.
pub const MAX_WAIT_SECS: u64 = 300;
/// Polling of the session row starts fast (most test sessions take well under a second) and
/// backs off, so thousands of waiting calls do not hammer the database.
const FIRST_POLL: Duration = Duration::from_millis(25);
const MAX_POLL: Duration = Duration::from_millis(500);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncQuery {
    #[serde(default)]
    wait: Option<String>,
}

fn parse_wait(raw: Option<&str>) -> Result<Duration, ApiError> {
    let Some(raw) = raw else {
        return Ok(Duration::ZERO);
    };
    let secs: u64 = raw.trim().parse().map_err(|_| {
        ApiError::bad(format!(
            "wait: must be a whole number of seconds from 0 to {MAX_WAIT_SECS}"
        ))
    })?;
    if secs > MAX_WAIT_SECS {
        return Err(ApiError::bad(format!(
            "wait: must be at most {MAX_WAIT_SECS} seconds"
        )));
    }
    Ok(Duration::from_secs(secs))
}

/// The session a sync call is about: the one it started, or, when it coalesced into one in
/// flight, the session that runs right after that one (B3).
#[derive(Debug, Clone, Copy)]
enum Awaited {
    Started(Uuid),
    After(Uuid),
}

/// `POST /api/v1/users/{id}/sync?wait=SECONDS`: 200 with the finished session's summary, or 202
/// `{"job_id","state"}` when it has not finished in time; 409 when contact sync is disabled.
#[tracing::instrument(skip_all, fields(user_id = %user_id))]
pub async fn sync(
    _: Operator,
    State(ctx): State<Arc<Ctx>>,
    Path(user_id): Path<String>,
    query: Result<Query<SyncQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let wait = parse_wait(query.wait.as_deref())?;
    {
        let client = ctx.pool.get().await.map_err(StateError::from)?;
        users::get_user(&**client, &user_id).await?;
        if !users::get_settings(&**client, &user_id).await?.enabled {
            return Err(ApiError::Conflict {
                code: "sync_disabled",
                message: format!("contact sync is disabled for user {user_id}; enable it first"),
            });
        }
    }
    let outcome =
        pipeline::start_session(&ctx.pool, &ctx.publisher, &user_id, Trigger::Manual).await?;
    let awaited = match outcome {
        StartOutcome::Started(job_id) => Awaited::Started(job_id),
        StartOutcome::Coalesced(active) => Awaited::After(active),
    };
    tracing::info!(?awaited, wait_secs = wait.as_secs(), "Sync requested.");
    wait_for(&ctx, &user_id, awaited, wait).await
}

/// Polls the awaited session until it finished or `wait` elapsed.
async fn wait_for(
    ctx: &Ctx,
    user_id: &str,
    awaited: Awaited,
    wait: Duration,
) -> Result<Response, ApiError> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut poll = FIRST_POLL;
    loop {
        let current = {
            let client = ctx.pool.get().await.map_err(StateError::from)?;
            match awaited {
                Awaited::Started(job_id) => queries::session(&**client, job_id).await?,
                Awaited::After(active) => {
                    queries::session_after(&**client, user_id, active).await?
                }
            }
        };
        if let Some(session) = current.as_ref().filter(|s| s.is_finished()) {
            return Ok((StatusCode::OK, Json(session)).into_response());
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            let (job_id, state) = match (&current, awaited) {
                (Some(s), _) => (s.job_id, s.state.clone()),
                // The follow-up session has not started yet: name the one it waits behind.
                (None, Awaited::After(active)) => (active, "queued".to_owned()),
                (None, Awaited::Started(job_id)) => (job_id, "fetching".to_owned()),
            };
            return Ok((
                StatusCode::ACCEPTED,
                Json(json!({ "job_id": job_id, "state": state })),
            )
                .into_response());
        }
        tokio::time::sleep(poll.min(deadline - now)).await;
        poll = (poll * 2).min(MAX_POLL);
    }
}

/// `GET /api/v1/users/{id}/status`.
pub async fn status(
    _: Operator,
    State(ctx): State<Arc<Ctx>>,
    Path(user_id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(status_of(&ctx, &user_id).await?).into_response())
}

/// The user, settings, the session in flight, the last finished session's summary, the held
/// deletions (C5) and when the next periodic session is due.
pub async fn status_of(ctx: &Ctx, user_id: &str) -> Result<serde_json::Value, ApiError> {
    let client = ctx.pool.get().await.map_err(StateError::from)?;
    let user = users::get_user(&**client, user_id).await?;
    let settings = users::get_settings(&**client, user_id).await?;
    let running = queries::running_session(&**client, user_id).await?;
    let last = queries::last_finished_session(&**client, user_id).await?;
    let state = queries::sync_state(&**client, user_id).await?;
    let held = state.as_ref().and_then(|s| s.held_deletions()).cloned();
    Ok(json!({
        "user": UserView::from(user),
        "settings": SettingsView::from(&settings),
        "running": running.is_some(),
        "active_session": running,
        "last_session": last,
        "held_deletions": held,
        "deletions_confirmed": state.as_ref().is_some_and(|s| s.deletions_confirmed),
        "pending_trigger": state.as_ref().is_some_and(|s| s.pending_trigger),
        "last_error": state.as_ref().and_then(|s| s.last_error.clone()),
        "next_sync_at": state.as_ref().map(|s| s.next_sync_at),
    }))
}

/// Confirms held deletions and starts the session that carries them out (C5); what the API and
/// the dashboard button both call.
pub async fn confirm(
    ctx: &Ctx,
    user_id: &str,
) -> Result<(StartOutcome, Option<SessionView>), ApiError> {
    {
        let client = ctx.pool.get().await.map_err(StateError::from)?;
        users::get_user(&**client, user_id).await?;
        if !queries::confirm_deletions(&**client, user_id).await? {
            return Err(ApiError::Conflict {
                code: "nothing_held",
                message: format!("no deletions are held for user {user_id}"),
            });
        }
    }
    tracing::info!(user_id, "An operator confirmed held deletions.");
    let outcome = pipeline::start_session(
        &ctx.pool,
        &ctx.publisher,
        user_id,
        Trigger::ConfirmDeletions,
    )
    .await?;
    let job_id = match outcome {
        StartOutcome::Started(id) | StartOutcome::Coalesced(id) => id,
    };
    let client = ctx.pool.get().await.map_err(StateError::from)?;
    Ok((outcome, queries::session(&**client, job_id).await?))
}

/// `POST /api/v1/users/{id}/confirm-deletions` → 202 `{"job_id","state","coalesced"}`.
#[tracing::instrument(skip_all, fields(user_id = %user_id))]
pub async fn confirm_deletions(
    _: Operator,
    State(ctx): State<Arc<Ctx>>,
    Path(user_id): Path<String>,
) -> Result<Response, ApiError> {
    let (outcome, session) = confirm(&ctx, &user_id).await?;
    let (job_id, coalesced) = match outcome {
        StartOutcome::Started(id) => (id, false),
        StartOutcome::Coalesced(id) => (id, true),
    };
    let state = session.map_or_else(|| "fetching".to_owned(), |s| s.state);
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "job_id": job_id, "state": state, "coalesced": coalesced })),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_is_whole_seconds_up_to_300() {
        assert_eq!(parse_wait(None).expect("none"), Duration::ZERO);
        assert_eq!(parse_wait(Some("1")).expect("1"), Duration::from_secs(1));
        assert_eq!(
            parse_wait(Some("300")).expect("300"),
            Duration::from_secs(300)
        );
        assert!(parse_wait(Some("301")).is_err());
        assert!(parse_wait(Some("-1")).is_err());
        assert!(parse_wait(Some("1.5")).is_err());
        assert!(
            parse_wait(Some("soon"))
                .expect_err("bad wait")
                .to_string()
                .starts_with("wait:")
        );
    }
}
