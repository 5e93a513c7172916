//! Admin API around sessions: sync on demand (optionally waiting for the summary of a session
//! that saw the call), the user's status with the contacts that currently fail (C7) and its
//! org's Salesforce API budget (issue 11 §4), and the operator's confirmation of held deletions
//! (SPEC §4, B3, C5).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use contracts::Trigger;
use serde::Deserialize;
use serde_json::json;
use sync_state::StateError;
use sync_state::api_budget::{self, ApiBudget};
use sync_state::item_errors;
use sync_state::request::{self, Requested};
use sync_state::sessions::StartOutcome;
use sync_state::{deletions, users};
use uuid::Uuid;

use crate::Ctx;
use crate::auth::Operator;
use crate::error::ApiError;
use crate::users::{SettingsView, UserView};
use sync_state::schedule;
use sync_state::sessions::{self as session_rows, SessionView};

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

/// `POST /api/v1/users/{id}/sync?wait=SECONDS`: 200 with the finished session's summary, or 202
/// `{"job_id","state","coalesced"}` when it has not finished in time; 409 when contact sync is
/// disabled.
///
/// The session answered began reading after the request arrived (SPEC §4): one not yet reading is
/// joined, otherwise the call waits for the follow-up session, whose job id is reserved now
/// (`state` is `queued` until it starts).
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
    let requested = request::request(&ctx.pool, &user_id, Trigger::Manual, Utc::now()).await?;
    if matches!(requested, Requested::Started(_)) {
        pipeline::relay(&ctx.pool, &ctx.publisher).await?;
    }
    tracing::info!(?requested, wait_secs = wait.as_secs(), "Sync requested.");
    let Some(job_id) = requested.job_id() else {
        return Err(org_not_ready(&ctx, &user_id).await);
    };
    wait_for(&ctx, job_id, requested.coalesced(), wait).await
}

/// Polls the requested session until it finished or `wait` elapsed.
async fn wait_for(
    ctx: &Ctx,
    job_id: Uuid,
    coalesced: bool,
    wait: Duration,
) -> Result<Response, ApiError> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut poll = FIRST_POLL;
    loop {
        let current = {
            let client = ctx.pool.get().await.map_err(StateError::from)?;
            session_rows::view(&**client, job_id).await?
        };
        if let Some(session) = current.as_ref().filter(|s| s.is_finished()) {
            return Ok((StatusCode::OK, Json(session)).into_response());
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            // No row yet: the follow-up session whose id was reserved has not started.
            let state = current.map_or("queued", |s| s.state.as_str());
            return Ok((
                StatusCode::ACCEPTED,
                Json(json!({ "job_id": job_id, "state": state,
                             "coalesced": coalesced })),
            )
                .into_response());
        }
        tokio::time::sleep(poll.min(deadline - now)).await;
        poll = (poll * 2).min(MAX_POLL);
    }
}

/// The 409 of a session that waits for its org: the org's failed check, and what to do.
pub async fn org_not_ready(ctx: &Ctx, user_id: &str) -> ApiError {
    let check = match ctx.pool.get().await {
        Ok(client) => sync_state::org_checks::blocking_user(&**client, user_id).await,
        Err(e) => Err(StateError::from(e)),
    };
    let (org, why) = match check {
        Ok(Some(check)) => (check.org_id.clone(), check.summary()),
        Ok(None) => ("of the user".to_owned(), "its last check failed".to_owned()),
        Err(e) => return e.into(),
    };
    ApiError::Conflict {
        code: "org_not_ready",
        message: format!(
            "org {org} is not ready ({why}); the session runs once the org passes its check \
             (fix it, then POST /api/v1/orgs/{org}/check)"
        ),
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

/// The user, settings, the session in flight, the last finished session's summary, the
/// deletions waiting for their burst to settle or held (C5: `deletions {waiting, settle_until,
/// held, confirmed}`; `held_deletions` is the guard's error), every contact that currently fails
/// (`item_errors`, C7), when the next periodic session is due, and the org's Salesforce API
/// budget (`salesforce_api`: `{used, limit, reported_at, budget_share, periodic_stretched,
/// periodic_interval_factor}`, `null` before Salesforce reported any usage; issue 11 §4).
///
/// Read from one snapshot, so that what a session commits at once (held deletions and the
/// guard's error, a finished session and its summary) is never seen half.
pub async fn status_of(ctx: &Ctx, user_id: &str) -> Result<serde_json::Value, ApiError> {
    let mut client = ctx.pool.get().await.map_err(StateError::from)?;
    let tx = sync_state::snapshot(&mut client).await?;
    let db = &*tx;
    let user = users::get_user(db, user_id).await?;
    let budget = api_budget::usage(db, &user.org_id)
        .await?
        .map(|usage| ApiBudget::of(usage, ctx.settings.api_budget_share, Utc::now()));
    let settings = users::get_settings(db, user_id).await?;
    let running = session_rows::running(db, user_id).await?;
    let last = session_rows::last_finished(db, user_id).await?;
    let state = schedule::user_sync_state(db, user_id).await?;
    let held = state.as_ref().and_then(|s| s.held_deletions()).cloned();
    let item_errors = item_errors::current(db, user_id).await?;
    let deletions = deletions::view(db, user_id).await?;
    tx.commit().await.map_err(StateError::from)?;
    Ok(json!({
        "user": UserView::from(user),
        "settings": SettingsView::from(&settings),
        "running": running.is_some(),
        "active_session": running,
        "last_session": last,
        "held_deletions": held,
        "deletions": deletions,
        "deletions_confirmed": state.as_ref().is_some_and(|s| s.deletions_confirmed),
        "pending_trigger": state.as_ref().is_some_and(|s| s.pending_trigger),
        "last_error": state.as_ref().and_then(|s| s.last_error.clone()),
        "next_sync_at": state.as_ref().map(|s| s.next_sync_at),
        "item_errors": item_errors,
        "salesforce_api": budget,
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
        if deletions::confirm(&**client, user_id).await? == 0 {
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
        StartOutcome::Deferred => return Err(org_not_ready(ctx, user_id).await),
    };
    let client = ctx.pool.get().await.map_err(StateError::from)?;
    Ok((outcome, session_rows::view(&**client, job_id).await?))
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
        StartOutcome::Deferred => return Err(org_not_ready(&ctx, &user_id).await),
    };
    let state = session.map_or("fetching", |s| s.state.as_str());
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
