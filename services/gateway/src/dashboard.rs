//! The operators' overview (`/dashboard`): every user with their last session, errors and held
//! deletions (C5), with a button to confirm them. Operator token only.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use sync_state::StateError;

use crate::Ctx;
use crate::auth;
use crate::error::ApiError;
use crate::html::{PageError, escape, page, query_value, see_other};
use crate::queries::{self, DashboardRow};
use crate::sessions;

/// Users per page: enough for an overview, bounded so the page stays fast with thousands.
const PAGE_SIZE: i64 = 200;

#[derive(Debug, Default, Deserialize)]
pub struct DashboardQuery {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    offset: Option<i64>,
    #[serde(default)]
    confirmed: Option<String>,
}

/// The operator check; returns the query that keeps the token on links and forms.
fn access(ctx: &Ctx, headers: &HeaderMap, token: Option<&str>) -> Result<String, PageError> {
    if !auth::is_operator(ctx, headers, token) {
        return Err(PageError(ApiError::Unauthorized));
    }
    Ok(token
        .map(|t| format!("token={}", query_value(t)))
        .unwrap_or_default())
}

fn with_query(path: &str, keep: &str, extra: &str) -> String {
    let parts: Vec<&str> = [keep, extra]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", parts.join("&"))
    }
}

pub async fn show(
    State(ctx): State<Arc<Ctx>>,
    headers: HeaderMap,
    query: Result<Query<DashboardQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let Query(q) = query.map_err(ApiError::from)?;
    let keep = access(&ctx, &headers, q.token.as_deref())?;
    let offset = q.offset.unwrap_or(0).max(0);
    let rows = {
        let client = ctx.pool.get().await.map_err(StateError::from)?;
        queries::dashboard(&**client, PAGE_SIZE + 1, offset).await?
    };
    let more = rows.len() as i64 > PAGE_SIZE;
    let mut body = String::new();
    if let Some(user) = q.confirmed.as_deref() {
        let _ = write!(
            body,
            "<p class=\"ok\">Deletions confirmed for {}; a session is carrying them out.</p>",
            escape(user)
        );
    }
    body.push_str(
        "<table><tr><th>User</th><th>Org</th><th>Mailbox</th><th>Sync</th><th>Last session</th>\
         <th>Errors</th><th>Held deletions</th><th>Next sync</th></tr>",
    );
    for row in rows.iter().take(PAGE_SIZE as usize) {
        body.push_str(&row_html(row, &keep));
    }
    body.push_str("</table>");
    if rows.is_empty() {
        body.push_str("<p>No users yet.</p>");
    }
    if offset > 0 {
        let prev = format!("offset={}", (offset - PAGE_SIZE).max(0));
        let _ = write!(
            body,
            "<p><a href=\"{}\">Previous</a></p>",
            escape(&with_query("/dashboard", &keep, &prev))
        );
    }
    if more {
        let next = format!("offset={}", offset + PAGE_SIZE);
        let _ = write!(
            body,
            "<p><a href=\"{}\">Next</a></p>",
            escape(&with_query("/dashboard", &keep, &next))
        );
    }
    Ok(page(StatusCode::OK, "Contactsync dashboard", &body))
}

fn time(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

fn row_html(row: &DashboardRow, keep: &str) -> String {
    let user_path = query_value(&row.user_id);
    let settings_link = with_query(&format!("/settings/{user_path}"), keep, "");
    let sync = if row.enabled {
        format!("on ({})", row.scope)
    } else {
        "off".to_owned()
    };
    let session = match (&row.last_session, row.running) {
        (_, true) => "running".to_owned(),
        (Some(s), false) => format!("{} at {}", s.state, time(s.finished_at)),
        (None, false) => "never".to_owned(),
    };
    let errors = match &row.last_session {
        Some(s) if !s.errors.is_empty() || s.failure.is_some() => {
            let first = s
                .failure
                .clone()
                .or_else(|| {
                    s.errors
                        .first()
                        .map(|e| format!("{}: {}", e.code, e.message))
                })
                .unwrap_or_default();
            format!("{} · {}", s.errors.len(), first)
        }
        _ => String::new(),
    };
    let held = row
        .last_error
        .as_ref()
        .filter(|e| e.get("code").and_then(|c| c.as_str()) == Some("mass_delete_guard"));
    let held_html = match held {
        Some(e) => {
            let message = e
                .get("message")
                .and_then(|m| m.as_str())
                .unwrap_or("deletions held");
            let action = with_query(
                &format!("/dashboard/users/{user_path}/confirm-deletions"),
                keep,
                "",
            );
            format!(
                "{}<form method=\"post\" action=\"{}\"><button type=\"submit\">Confirm deletions</button></form>",
                escape(message),
                escape(&action)
            )
        }
        None => String::new(),
    };
    format!(
        "<tr{}><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        if held.is_some() {
            " class=\"held\""
        } else {
            ""
        },
        escape(&settings_link),
        escape(&row.user_id),
        escape(&row.org_id),
        escape(&row.mailbox),
        escape(&sync),
        escape(&session),
        escape(&errors),
        held_html,
        escape(&time(row.next_sync_at)),
    )
}

/// The dashboard's confirm button (C5): same effect as the admin API's confirm-deletions.
pub async fn confirm(
    State(ctx): State<Arc<Ctx>>,
    Path(user_id): Path<String>,
    headers: HeaderMap,
    query: Result<Query<DashboardQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let Query(q) = query.map_err(ApiError::from)?;
    let keep = access(&ctx, &headers, q.token.as_deref())?;
    sessions::confirm(&ctx, &user_id).await?;
    let confirmed = format!("confirmed={}", query_value(&user_id));
    Ok(see_other(&with_query("/dashboard", &keep, &confirmed)))
}
