//! Deletions waiting for their burst to settle or held by the mass-delete guard (C5), as the
//! user's Sync Settings page shows them (from `sync_state::deletions::view`), with the confirm
//! action (`POST /settings/{user_id}/confirm-deletions`, open to whoever may open the page). The
//! dashboard's confirm button and the admin API go through the same [`sessions::confirm`].

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use sync_state::deletions::DeletionsView;

use crate::Ctx;
use crate::error::ApiError;
use crate::html::{PageError, escape, query_value, see_other};
use crate::links::Viewer;
use crate::sessions;
use crate::settings_page::{PageQuery, page_url, viewer};

/// The status panel's section on pending deletions; empty when nothing is pending. `keep` is the
/// query that keeps the viewer's access (a signed link's `exp`/`sig`).
pub fn section_html(user_id: &str, keep: &str, view: &DeletionsView) -> String {
    if view.waiting == 0 && view.held == 0 && view.confirmed == 0 {
        return String::new();
    }
    let mut h = String::from("<div class=\"held\" id=\"held\">");
    if view.held > 0 {
        let _ = write!(
            h,
            "<h3>Deletions held</h3><p>{} deletion(s) are held by the mass-delete guard. Nothing \
             was deleted. So many deletions at once may be a mistake, so they wait to be \
             confirmed; your contacts stay as they are until then. Confirm only if these \
             contacts were meant to go.</p>",
            view.held
        );
        let sep = if keep.is_empty() { "" } else { "?" };
        let action = format!(
            "/settings/{}/confirm-deletions{sep}{keep}",
            query_value(user_id)
        );
        let _ = write!(
            h,
            "<form method=\"post\" action=\"{}\"><button type=\"submit\" class=\"danger\">\
             Confirm deletions</button></form>",
            escape(&action)
        );
    } else {
        h.push_str("<h3>Deletions</h3>");
    }
    if view.waiting > 0 {
        let until = view
            .settle_until
            .map(|t| format!(" until {}", t.format("%Y-%m-%d %H:%M:%S UTC")))
            .unwrap_or_default();
        let _ = write!(
            h,
            "<p>{} deletion(s) wait{} for the burst of deletions to settle; they are then \
             judged together (more than half of the synced contacts, and at least 20, are held).</p>",
            view.waiting,
            escape(&until)
        );
    }
    if view.confirmed > 0 {
        let _ = write!(
            h,
            "<p class=\"ok\">{} confirmed deletion(s) are carried out by the next sync.</p>",
            view.confirmed
        );
    }
    h.push_str("</div>");
    h
}

/// `POST /settings/{user_id}/confirm-deletions`: confirms the held deletions (C5) and starts
/// the session that carries them out; back to the page, or 409 `nothing_held`.
pub async fn confirm(
    State(ctx): State<Arc<Ctx>>,
    Path(user_id): Path<String>,
    headers: HeaderMap,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let Query(q) = query.map_err(ApiError::from)?;
    let viewer: Viewer = viewer(&ctx, &headers, &user_id, &q).await?;
    sessions::confirm(&ctx, &user_id).await?;
    Ok(see_other(&page_url(
        &user_id,
        &viewer,
        "",
        "done=confirmed",
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_pending_shows_nothing() {
        assert_eq!(section_html("u", "", &DeletionsView::default()), "");
    }

    #[test]
    fn held_deletions_come_with_the_confirm_action_keeping_the_access() {
        let view = DeletionsView {
            held: 25,
            ..DeletionsView::default()
        };
        let html = section_html("a b", "sig=x%2By", &view);
        assert!(html.contains("25 deletion(s) are held"), "{html}");
        assert!(
            html.contains("action=\"/settings/a+b/confirm-deletions?sig=x%2By\""),
            "{html}"
        );
    }

    #[test]
    fn waiting_deletions_say_until_when() {
        let view = DeletionsView {
            waiting: 3,
            settle_until: chrono::DateTime::from_timestamp(1_800_000_000, 0),
            ..DeletionsView::default()
        };
        let html = section_html("u", "", &view);
        assert!(
            html.contains("3 deletion(s) wait until 2027-01-15"),
            "{html}"
        );
        assert!(!html.contains("<form"), "nothing to confirm: {html}");
    }
}
