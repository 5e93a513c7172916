//! The operators' dashboard (`/dashboard`, SPEC §4): per org, users by state, sessions per
//! minute, failed sessions, users with failing contacts (C7) or held deletions (C5), the
//! Salesforce API budget and notification subscriptions, plus the dead letters; charts of the
//! last 24 hours drawn on the server; then the users, paged (`?page=N`), filtered
//! (`filter=errors|held|disabled`) and searched (`q=` part of an id or mailbox), with the
//! confirm-deletions action. Operators only: the session cookie of `/dashboard/login`, or
//! `Authorization: Bearer` for scripts.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use sync_state::StateError;
use sync_state::api_budget::{ApiBudget, ApiUsage};
use sync_state::overview::{self, HourBucket, OrgFigures, UserFilter, UserRow, UsersQuery};

use crate::Ctx;
use crate::auth;
use crate::charts::{self, Series};
use crate::error::ApiError;
use crate::html::{PageError, escape, page, query_value, see_other};
use crate::sessions;
use crate::settings_status::{count, thousands};

/// Users per page: a screenful to scan, and a bounded query at any fleet size.
pub const PAGE_SIZE: i64 = 50;
/// How long the dashboard waits for the broker's queue depths before showing it without them.
const BROKER_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Default, Deserialize)]
pub struct DashboardQuery {
    #[serde(default)]
    page: Option<String>,
    #[serde(default)]
    filter: Option<String>,
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    org: Option<String>,
    #[serde(default)]
    confirmed: Option<String>,
}

/// The view the operator asked for, validated.
#[derive(Debug, Clone, Default)]
struct View {
    page: i64,
    filter: UserFilter,
    search: Option<String>,
    org: Option<String>,
}

impl View {
    fn parse(q: &DashboardQuery) -> Result<View, ApiError> {
        let page = match q.page.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
            None => 1,
            Some(raw) => raw
                .parse::<i64>()
                .ok()
                .filter(|p| (1..=1_000_000).contains(p))
                .ok_or_else(|| {
                    ApiError::bad(format!("page: must be a whole number from 1 (got {raw:?})"))
                })?,
        };
        let filter = UserFilter::parse(q.filter.as_deref().unwrap_or("").trim())
            .map_err(|e| ApiError::bad(e.to_string().trim_start_matches("invalid: ").to_owned()))?;
        let clean = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| s.chars().take(200).collect::<String>())
        };
        Ok(View {
            page,
            filter,
            search: clean(&q.q),
            org: clean(&q.org),
        })
    }

    /// The query string of this view at `page`.
    fn query(&self, page: i64) -> String {
        let mut parts = Vec::new();
        if self.filter != UserFilter::All {
            parts.push(format!("filter={}", self.filter.as_str()));
        }
        if let Some(q) = &self.search {
            parts.push(format!("q={}", query_value(q)));
        }
        if let Some(org) = &self.org {
            parts.push(format!("org={}", query_value(org)));
        }
        if page > 1 {
            parts.push(format!("page={page}"));
        }
        parts.join("&")
    }

    fn url(&self, page: i64) -> String {
        let query = self.query(page);
        if query.is_empty() {
            "/dashboard".to_owned()
        } else {
            format!("/dashboard?{query}")
        }
    }
}

/// Operators only: `None` lets the request in; otherwise the answer to give, a 401 for a
/// script with a wrong token, the sign-in form for a browser without a session.
fn refusal(ctx: &Ctx, headers: &HeaderMap) -> Option<Response> {
    if auth::is_operator(ctx, headers) {
        return None;
    }
    if auth::bearer(headers).is_some() {
        return Some(axum::response::IntoResponse::into_response(PageError(
            ApiError::Unauthorized,
        )));
    }
    Some(see_other("/dashboard/login"))
}

pub async fn show(
    State(ctx): State<Arc<Ctx>>,
    headers: HeaderMap,
    query: Result<Query<DashboardQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    if let Some(response) = refusal(&ctx, &headers) {
        return Ok(response);
    }
    let Query(q) = query.map_err(ApiError::from)?;
    let view = View::parse(&q)?;
    let now = Utc::now();
    let (figures, hours, (rows, total)) = {
        let client = ctx.pool.get().await.map_err(StateError::from)?;
        let figures = overview::org_figures(&**client, now).await?;
        let hours = overview::hourly_sessions(&**client, now, view.org.as_deref()).await?;
        let page = overview::users_page(
            &**client,
            &UsersQuery {
                filter: view.filter,
                search: view.search.clone(),
                org_id: view.org.clone(),
                limit: PAGE_SIZE,
                offset: (view.page - 1) * PAGE_SIZE,
            },
        )
        .await?;
        (figures, hours, page)
    };
    let dead_letters = dead_letters(&ctx).await;

    let mut body = String::from(
        "<form method=\"post\" action=\"/dashboard/logout\" class=\"signout\">\
         <button type=\"submit\">Sign out</button></form>",
    );
    body.push_str(&crate::orgs::not_ready_html(&ctx).await?);
    if let Some(user) = q.confirmed.as_deref() {
        let _ = write!(
            body,
            "<p class=\"ok\" role=\"status\">Deletions confirmed for {}; a session is carrying \
             them out.</p>",
            escape(user)
        );
    }
    body.push_str("<h2>Overview</h2>");
    match dead_letters {
        Some(n) => {
            let _ = write!(
                body,
                "<p id=\"dead-letters\">Dead letters waiting for an operator: <strong>{}</strong></p>",
                thousands(n)
            );
        }
        None => {
            body.push_str("<p id=\"dead-letters\">Dead letters: the broker did not answer.</p>")
        }
    }
    body.push_str("<div class=\"cards\">");
    for org in &figures {
        body.push_str(&org_card(&ctx, org).await);
    }
    if figures.is_empty() {
        body.push_str("<p>No orgs yet.</p>");
    }
    body.push_str("</div>");
    body.push_str(&charts_html(&hours, view.org.as_deref()));
    body.push_str(&users_html(&view, &rows, total, &figures, now));
    Ok(page(StatusCode::OK, "Contactsync dashboard", &body))
}

/// Messages in the dead-letters queue, if the broker answers in time.
async fn dead_letters(ctx: &Ctx) -> Option<i64> {
    let depths = tokio::time::timeout(BROKER_TIMEOUT, messaging::queue_depths(&ctx.broker))
        .await
        .ok()?
        .ok()?;
    let name = messaging::Queue::DeadLetters.name(ctx.broker.prefix());
    depths
        .into_iter()
        .find(|(queue, _)| *queue == name)
        .map(|(_, n)| i64::from(n))
}

async fn org_card(ctx: &Ctx, org: &OrgFigures) -> String {
    let f = &org.fleet;
    let users = |state: &str| thousands(f.users.get(state).copied().unwrap_or(0) as i64);
    let budget = budget_html(ctx, org).await;
    let org_q = query_value(&org.org_id);
    let mut h = String::new();
    let _ = write!(
        h,
        "<section class=\"card\" aria-labelledby=\"org-{0}\"><h3 id=\"org-{0}\">Org {1}</h3>\
         <dl class=\"facts\">\
         <dt>Users</dt><dd>{2} succeeded · {3} partial · {4} failed · {5} never synced · \
         <a href=\"/dashboard?filter=disabled&amp;org={0}\">{6} disabled</a></dd>\
         <dt>Sessions</dt><dd>{7:.1} per minute (last 15 min) · {8} in 24 h</dd>\
         <dt>Failed sessions (24 h)</dt><dd>{9}</dd>\
         <dt>Failing contacts</dt><dd><a href=\"/dashboard?filter=errors&amp;org={0}\">{10}</a></dd>\
         <dt>Held deletions</dt><dd><a href=\"/dashboard?filter=held&amp;org={0}\">{11}</a></dd>\
         <dt>Salesforce API</dt><dd>{12}</dd>\
         <dt>Notifications</dt><dd>{13} mailbox subscriptions live, {14} lapsed</dd></dl></section>",
        escape(&org_q),
        escape(&org.org_id),
        users("succeeded"),
        users("partial"),
        users("failed"),
        users("never_synced"),
        users("disabled"),
        org.sessions_per_minute(),
        thousands(org.sessions_24h.values().sum()),
        thousands(org.failed_sessions_24h()),
        count(org.users_with_item_errors, "user", "users"),
        count(f.deletions_held as i64, "user", "users"),
        budget,
        thousands(org.subscriptions_live),
        thousands(org.subscriptions_lapsed),
    );
    h
}

/// The org's Salesforce API usage, as the services recorded it (or, before any did, as the
/// gateway's own client last saw it), and a mark when its periodic sessions are stretched
/// because it is past its budget share (issue 11 §4). HTML, escaped.
async fn budget_html(ctx: &Ctx, org: &OrgFigures) -> String {
    let share = ctx.settings.api_budget_share;
    let usage = match org.api_usage {
        Some(usage) => Some(usage),
        None => match ctx.clients.salesforce(&org.org_id).await {
            Ok(client) => client.last_api_usage().map(|u| ApiUsage {
                used: i64::try_from(u.used).unwrap_or(i64::MAX),
                limit: i64::try_from(u.max).unwrap_or(i64::MAX),
                reported_at: Utc::now(),
            }),
            Err(_) => None,
        },
    };
    let Some(usage) = usage else {
        return "not reported yet".to_owned();
    };
    let budget = ApiBudget::of(usage, share, Utc::now());
    let mut h = escape(&format!(
        "{} of {} daily requests used ({}%)",
        thousands(usage.used),
        thousands(usage.limit),
        (usage.used.saturating_mul(100))
            .checked_div(usage.limit)
            .unwrap_or(0)
    ));
    if budget.periodic_stretched {
        let _ = write!(
            h,
            " · <strong class=\"error\" data-budget=\"stretched\">periodic sessions stretched \
             (every {}× the interval): API budget past {}%</strong>",
            budget.periodic_interval_factor,
            percent(share)
        );
    }
    h
}

/// A share as a whole percentage (0.9 → 90).
fn percent(share: f64) -> i64 {
    (share * 100.0).round() as i64
}

fn charts_html(hours: &[HourBucket], org: Option<&str>) -> String {
    let labels: Vec<String> = hours
        .iter()
        .map(|b| b.start.format("%H:00").to_string())
        .collect();
    let total: i64 = hours.iter().map(HourBucket::total).sum();
    let failed: i64 = hours.iter().map(|b| b.failed).sum();
    let partial: i64 = hours.iter().map(|b| b.partial).sum();
    let scope = org.map_or_else(|| "all orgs".to_owned(), |o| format!("org {o}"));
    let mut h = format!(
        "<h2>Last 24 hours <span class=\"muted\">({}, UTC)</span></h2>",
        escape(&scope)
    );
    let series = |name, colour, pick: fn(&HourBucket) -> i64| Series {
        name,
        colour,
        values: hours.iter().map(|b| pick(b) as f64).collect(),
    };
    h.push_str(&charts::stacked_bars(
        "chart-sessions",
        "Sessions per hour",
        &format!("{total} sessions in 24 hours: {failed} failed, {partial} with failing contacts."),
        &labels,
        &[
            series("succeeded", "#1d6b22", |b| b.succeeded),
            series("some contacts failed", "#b35c00", |b| b.partial),
            series("failed", "#a40000", |b| b.failed),
            series("running", "#0b57a4", |b| b.running),
        ],
        "",
    ));
    let longest = hours.iter().filter_map(|b| b.max_secs).fold(0.0, f64::max);
    h.push_str(&charts::stacked_bars(
        "chart-latency",
        "Session time, start to last write (median per hour, seconds)",
        &format!("Median time from a session's start to its last write, per hour; the longest was {longest:.1} seconds."),
        &labels,
        &[Series {
            name: "median seconds",
            colour: "#0b57a4",
            values: hours.iter().map(|b| b.median_secs.unwrap_or(0.0)).collect(),
        }],
        "s",
    ));
    h
}

fn users_html(
    view: &View,
    rows: &[UserRow],
    total: i64,
    orgs: &[OrgFigures],
    now: DateTime<Utc>,
) -> String {
    let mut h = String::from(
        "<h2 id=\"users-title\">Users</h2><form method=\"get\" action=\"/dashboard\" \
         class=\"filters\" role=\"search\">",
    );
    let _ = write!(
        h,
        "<label for=\"q\">User id or mailbox</label> <input type=\"search\" id=\"q\" name=\"q\" \
         value=\"{}\"> <label for=\"filter\">Show</label> <select id=\"filter\" name=\"filter\">",
        escape(view.search.as_deref().unwrap_or(""))
    );
    for (filter, label) in [
        (UserFilter::All, "All users"),
        (UserFilter::Errors, "With errors"),
        (UserFilter::Held, "Held deletions"),
        (UserFilter::Disabled, "Sync off"),
    ] {
        let _ = write!(
            h,
            "<option value=\"{}\"{}>{label}</option>",
            filter.as_str(),
            if view.filter == filter {
                " selected"
            } else {
                ""
            }
        );
    }
    h.push_str("</select> <label for=\"org\">Org</label> <select id=\"org\" name=\"org\"><option value=\"\">All orgs</option>");
    for org in orgs {
        let selected = view.org.as_deref() == Some(org.org_id.as_str());
        let _ = write!(
            h,
            "<option value=\"{0}\"{1}>{0}</option>",
            escape(&org.org_id),
            if selected { " selected" } else { "" }
        );
    }
    h.push_str("</select> <button type=\"submit\">Show</button></form>");

    let pages = ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let first = (view.page - 1) * PAGE_SIZE + 1;
    let last = first + rows.len() as i64 - 1;
    if rows.is_empty() {
        let _ = write!(
            h,
            "<p id=\"shown\">No users match ({} in all).</p>",
            thousands(total)
        );
    } else {
        let _ = write!(
            h,
            "<p id=\"shown\">Showing {}–{} of {}</p>",
            thousands(first),
            thousands(last),
            count(total, "user", "users")
        );
        h.push_str(
            "<table aria-labelledby=\"users-title\"><thead><tr><th scope=\"col\">User</th>\
             <th scope=\"col\">Org</th><th scope=\"col\">Mailbox</th><th scope=\"col\">Sync</th>\
             <th scope=\"col\">Last session</th><th scope=\"col\">Failing contacts</th>\
             <th scope=\"col\">Held deletions</th><th scope=\"col\">Next sync</th></tr></thead><tbody>",
        );
        let back = view.query(view.page);
        for row in rows {
            h.push_str(&row_html(row, &back, now));
        }
        h.push_str("</tbody></table>");
    }
    h.push_str("<nav class=\"pages\" aria-label=\"Pages\">");
    if view.page > 1 {
        let _ = write!(
            h,
            "<a href=\"{}\" rel=\"prev\">Previous</a>",
            escape(&view.url(view.page - 1))
        );
    }
    let _ = write!(
        h,
        "<span aria-current=\"page\">Page {} of {}</span>",
        thousands(view.page),
        thousands(pages)
    );
    if view.page < pages {
        let _ = write!(
            h,
            "<a href=\"{}\" rel=\"next\">Next</a>",
            escape(&view.url(view.page + 1))
        );
    }
    h.push_str("</nav>");
    h
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// One user's line; `back` is the view's query, to return to after confirming.
fn row_html(row: &UserRow, back: &str, now: DateTime<Utc>) -> String {
    let user_path = query_value(&row.user_id);
    let sync = if row.enabled {
        format!("on ({})", row.scope)
    } else {
        "off".to_owned()
    };
    let session = match (&row.last_state, row.running) {
        (_, true) => "running".to_owned(),
        (Some(state), false) => {
            let mut s = format!("{state} at {}", time(row.last_finished_at));
            if let Some(failure) = &row.last_failure {
                let _ = write!(s, ": {failure}");
            }
            s
        }
        (None, false) => "never".to_owned(),
    };
    let failing = match row.failing_items {
        0 => String::new(),
        1 => "1 contact failing".to_owned(),
        n => format!("{} contacts failing", thousands(n)),
    };
    let held_html = match &row.held {
        Some(e) => {
            let message = e
                .get("message")
                .and_then(|m| m.as_str())
                .unwrap_or("deletions held");
            let sep = if back.is_empty() { "" } else { "?" };
            let action = format!("/dashboard/users/{user_path}/confirm-deletions{sep}{back}");
            format!(
                "{}<form method=\"post\" action=\"{}\"><button type=\"submit\" class=\"danger\" \
                 aria-label=\"Confirm deletions for {}\">Confirm deletions</button></form>",
                escape(message),
                escape(&action),
                escape(&row.user_id)
            )
        }
        None => String::new(),
    };
    let next = match row.next_sync_at {
        Some(t) if row.enabled && t > now => time(Some(t)),
        Some(_) if row.enabled => "due".to_owned(),
        _ => String::new(),
    };
    format!(
        "<tr{}><td><a href=\"/settings/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
         <td>{}</td><td>{}</td><td>{}</td></tr>",
        if row.held.is_some() {
            " class=\"held\""
        } else {
            ""
        },
        escape(&user_path),
        escape(&row.user_id),
        escape(&row.org_id),
        escape(&format!(
            "{} ({})",
            row.mailbox,
            crate::settings_page::provider_label(row.provider)
        )),
        escape(&sync),
        escape(&session),
        escape(&failing),
        held_html,
        escape(&next),
    )
}

/// The dashboard's confirm button (C5): the same effect as the admin API's confirm-deletions.
pub async fn confirm(
    State(ctx): State<Arc<Ctx>>,
    Path(user_id): Path<String>,
    headers: HeaderMap,
    query: Result<Query<DashboardQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    if let Some(response) = refusal(&ctx, &headers) {
        return Ok(response);
    }
    let Query(q) = query.map_err(ApiError::from)?;
    let view = View::parse(&q)?;
    sessions::confirm(&ctx, &user_id).await?;
    let query = view.query(view.page);
    let sep = if query.is_empty() { "" } else { "&" };
    Ok(see_other(&format!(
        "/dashboard?{query}{sep}confirmed={}",
        query_value(&user_id)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(page: &str, filter: &str) -> DashboardQuery {
        DashboardQuery {
            page: Some(page.into()),
            filter: Some(filter.into()),
            ..DashboardQuery::default()
        }
    }

    #[test]
    fn views_parse_pages_from_one_and_known_filters_only() {
        let view = View::parse(&q("3", "held")).expect("valid");
        assert_eq!((view.page, view.filter), (3, UserFilter::Held));
        assert_eq!(View::parse(&q("", "")).expect("defaults").page, 1);
        for bad in ["0", "-1", "x", "1.5"] {
            let err = View::parse(&q(bad, "")).expect_err("bad page");
            assert!(err.to_string().starts_with("page:"), "{err}");
        }
        let err = View::parse(&q("1", "everything")).expect_err("bad filter");
        assert!(err.to_string().starts_with("filter:"), "{err}");
    }

    #[test]
    fn page_links_keep_the_filter_search_and_org() {
        let view = View {
            page: 2,
            filter: UserFilter::Errors,
            search: Some("a&b".into()),
            org: Some("dev".into()),
        };
        assert_eq!(
            view.url(3),
            "/dashboard?filter=errors&q=a%26b&org=dev&page=3"
        );
        assert_eq!(View::default().url(1), "/dashboard");
    }
}
