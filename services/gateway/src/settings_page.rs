//! The user's Sync Settings page (`/settings/{user_id}`), in the words of the product page users
//! come from (`seed/`): the **Sync Salesforce contacts** switch, the scope (*All available
//! Contacts*, *Only my Contacts*, *Custom Salesforce view* with its picklist, B2), **Auto-removal**
//! (B12), the conflict winner (C1) and **Apply**; then the status: contacts in sync, last and next
//! sync, near-real-time on or off, held deletions (C5), the contacts that currently fail with what
//! to do about each (C7), and **Sync now**.
//!
//! Plain forms that work without JavaScript; a small same-origin script refreshes the status
//! panel while the page is visible. Open to the user's signed link or the operator.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use contracts::Trigger;
use salesforce_client::ListView;
use serde::Deserialize;
use sync_core::ConflictWinner;
use sync_state::StateError;
use sync_state::request::{self, Requested};
use sync_state::users::{self, ContactSettings};

use crate::Ctx;
use crate::error::ApiError;
use crate::html::{PageError, escape, page_with_script, query_value, see_other};
use crate::links::{self, Viewer};
use crate::settings_status;
use crate::users::{SettingsUpdate, save_settings};

/// How the page names a provider's mailbox (G1).
pub(crate) fn provider_label(provider: sync_state::users::Provider) -> &'static str {
    match provider {
        sync_state::users::Provider::Exchange => "Exchange mailbox",
        sync_state::users::Provider::Gmail => "Gmail address book",
    }
}

/// Where the mirrors live, in the provider's words (G1: a folder, or a Gmail label).
fn folder_words(provider: sync_state::users::Provider) -> &'static str {
    match provider {
        sync_state::users::Provider::Exchange => "folder of your mailbox",
        sync_state::users::Provider::Gmail => "label of your Google Contacts",
    }
}

/// How long the page waits for Salesforce's list views before rendering without them.
const LIST_VIEWS_TIMEOUT: Duration = Duration::from_secs(5);

/// The script that refreshes the status panel (served at [`SCRIPT_PATH`]).
pub const SCRIPT_PATH: &str = "/assets/settings.js";

#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    exp: Option<String>,
    #[serde(default)]
    sig: Option<String>,
    /// What the last action did: `saved`, `sync`, `confirmed`.
    #[serde(default)]
    done: Option<String>,
}

/// The form as browsers send it: unchecked checkboxes are simply absent.
#[derive(Debug, Default, Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    enabled: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    list_view_id: Option<String>,
    #[serde(default)]
    auto_removal: Option<String>,
    #[serde(default)]
    conflict_winner: Option<String>,
}

impl From<SettingsForm> for SettingsUpdate {
    fn from(form: SettingsForm) -> Self {
        // The view picker is always submitted; it only counts with the custom-view scope.
        let list_view_id = form
            .list_view_id
            .filter(|_| form.scope.as_deref() == Some("list_view"));
        SettingsUpdate {
            enabled: Some(form.enabled.is_some()),
            scope: form.scope,
            list_view_id,
            auto_removal: Some(form.auto_removal.is_some()),
            conflict_winner: form.conflict_winner,
        }
    }
}

pub(crate) async fn viewer(
    ctx: &Ctx,
    headers: &HeaderMap,
    user_id: &str,
    q: &PageQuery,
) -> Result<Viewer, PageError> {
    Ok(links::page_access(ctx, headers, user_id, q.exp.as_deref(), q.sig.as_deref()).await?)
}

/// `/settings/{user}` with the viewer's access and `extra` in the query.
pub(crate) fn page_url(user_id: &str, viewer: &Viewer, suffix: &str, extra: &str) -> String {
    let query: Vec<&str> = [viewer.keep(), extra]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect();
    let mut url = format!("/settings/{}{suffix}", query_value(user_id));
    if !query.is_empty() {
        url.push('?');
        url.push_str(&query.join("&"));
    }
    url
}

pub async fn show(
    State(ctx): State<Arc<Ctx>>,
    Path(user_id): Path<String>,
    headers: HeaderMap,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let Query(q) = query.map_err(ApiError::from)?;
    let viewer = viewer(&ctx, &headers, &user_id, &q).await?;
    let notice = match q.done.as_deref() {
        Some("saved") => Some(Notice::Saved),
        Some("sync") => Some(Notice::SyncStarted),
        Some("confirmed") => Some(Notice::Confirmed),
        _ => None,
    };
    render(&ctx, &user_id, &viewer, notice, StatusCode::OK).await
}

/// **Apply**: stores the settings and, when they call for one, starts a session.
pub async fn submit(
    State(ctx): State<Arc<Ctx>>,
    Path(user_id): Path<String>,
    headers: HeaderMap,
    query: Result<Query<PageQuery>, QueryRejection>,
    form: Result<Form<SettingsForm>, FormRejection>,
) -> Result<Response, PageError> {
    let Query(q) = query.map_err(ApiError::from)?;
    let viewer = viewer(&ctx, &headers, &user_id, &q).await?;
    let Form(form) = form.map_err(ApiError::from)?;
    match save_settings(&ctx, &user_id, form.into()).await {
        Ok(_) => Ok(see_other(&page_url(&user_id, &viewer, "", "done=saved"))),
        Err(ApiError::BadRequest(message)) => {
            render(
                &ctx,
                &user_id,
                &viewer,
                Some(Notice::Invalid(message)),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(e) => Err(PageError(e)),
    }
}

/// **Sync now**: asks for a session (joining one not yet reading), as the admin API's sync does.
#[tracing::instrument(skip_all, fields(user_id = %user_id))]
pub async fn sync_now(
    State(ctx): State<Arc<Ctx>>,
    Path(user_id): Path<String>,
    headers: HeaderMap,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let Query(q) = query.map_err(ApiError::from)?;
    let viewer = viewer(&ctx, &headers, &user_id, &q).await?;
    {
        let client = ctx.pool.get().await.map_err(StateError::from)?;
        users::get_user(&**client, &user_id).await?;
        if !users::get_settings(&**client, &user_id).await?.enabled {
            let message =
                "Contacts sync is off: switch on Sync Salesforce contacts and Apply first.";
            return render(
                &ctx,
                &user_id,
                &viewer,
                Some(Notice::Invalid(message.into())),
                StatusCode::CONFLICT,
            )
            .await;
        }
    }
    let requested = request::request(&ctx.pool, &user_id, Trigger::Manual, Utc::now())
        .await
        .map_err(ApiError::from)?;
    if matches!(requested, Requested::Started(_)) {
        pipeline::relay(&ctx.pool, &ctx.publisher)
            .await
            .map_err(ApiError::from)?;
    }
    tracing::info!(?requested, "Sync requested from the settings page.");
    Ok(see_other(&page_url(&user_id, &viewer, "", "done=sync")))
}

/// The status panel alone, for the refreshing script (same access as the page).
pub async fn status_panel(
    State(ctx): State<Arc<Ctx>>,
    Path(user_id): Path<String>,
    headers: HeaderMap,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let Query(q) = query.map_err(ApiError::from)?;
    let viewer = viewer(&ctx, &headers, &user_id, &q).await?;
    let status = settings_status::load(&ctx, &user_id).await?;
    let html = settings_status::panel_html(&status, &user_id, &viewer, Utc::now());
    let mut response = (StatusCode::OK, html).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Refreshes the status panel every few seconds while the page is visible, never while the
/// keyboard focus is inside it. The page works without it.
const SCRIPT: &str = r#""use strict";
(function () {
  var panel = document.getElementById("status");
  if (!panel || !window.fetch || !document.createElement("template").content) return;
  function refresh() {
    var url = panel.getAttribute("data-refresh");
    if (!url || document.visibilityState !== "visible" || panel.contains(document.activeElement)) return;
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html || panel.contains(document.activeElement)) return;
        var t = document.createElement("template");
        t.innerHTML = html;
        var fresh = t.content.getElementById("status");
        if (fresh) { panel.replaceWith(fresh); panel = fresh; }
      })
      .catch(function () {});
  }
  setInterval(refresh, 4000);
})();
"#;

pub async fn script() -> Response {
    let mut response = (StatusCode::OK, SCRIPT).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

enum Notice {
    Saved,
    SyncStarted,
    Confirmed,
    Invalid(String),
}

async fn render(
    ctx: &Ctx,
    user_id: &str,
    viewer: &Viewer,
    notice: Option<Notice>,
    status_code: StatusCode,
) -> Result<Response, PageError> {
    let (user, settings) = {
        let client = ctx.pool.get().await.map_err(StateError::from)?;
        let user = users::get_user(&**client, user_id).await?;
        let settings = users::get_settings(&**client, user_id).await?;
        (user, settings)
    };
    let status = settings_status::load(ctx, user_id).await?;
    let views = list_views(ctx, &user.org_id).await;

    let mut body = String::new();
    if *viewer == Viewer::Operator {
        body.push_str(
            "<nav aria-label=\"Operator\"><a href=\"/dashboard\">Back to the dashboard</a></nav>",
        );
    }
    let _ = write!(
        body,
        "<p class=\"who\">{} · {} {}</p>",
        escape(&user.id),
        provider_label(user.provider),
        escape(&user.mailbox)
    );
    match notice {
        Some(Notice::Saved) => body.push_str(
            "<p class=\"ok\" role=\"status\">Settings applied. A sync with the new settings \
             starts if they need one.</p>",
        ),
        Some(Notice::SyncStarted) => body.push_str(
            "<p class=\"ok\" role=\"status\">Sync started. The status below updates when it \
             finishes.</p>",
        ),
        Some(Notice::Confirmed) => body.push_str(
            "<p class=\"ok\" role=\"status\">Deletions confirmed; a sync is carrying them \
             out.</p>",
        ),
        Some(Notice::Invalid(message)) => {
            let _ = write!(
                body,
                "<p class=\"error\" role=\"alert\">Not applied: {}</p>",
                escape(&message)
            );
        }
        None => {}
    }
    body.push_str(&form_html(
        user_id,
        viewer,
        &settings,
        views.as_deref(),
        user.provider,
    ));
    body.push_str(&settings_status::panel_html(
        &status,
        user_id,
        viewer,
        Utc::now(),
    ));
    Ok(page_with_script(
        status_code,
        "Sync Settings",
        &body,
        SCRIPT_PATH,
    ))
}

/// The org's Contact list views, or `None` when Salesforce could not be asked (the page then
/// offers a plain id field).
async fn list_views(ctx: &Ctx, org_id: &str) -> Option<Vec<ListView>> {
    let fetch = async {
        let client = ctx
            .clients
            .salesforce(org_id)
            .await
            .map_err(|e| e.to_string())?;
        client
            .list_views("Contact")
            .await
            .map_err(|e| e.to_string())
    };
    match tokio::time::timeout(LIST_VIEWS_TIMEOUT, fetch).await {
        Ok(Ok(views)) => Some(views),
        Ok(Err(error)) => {
            tracing::warn!(org_id, %error, "Could not list the org's Contact list views.");
            None
        }
        Err(_) => {
            tracing::warn!(org_id, "Listing the org's Contact list views timed out.");
            None
        }
    }
}

fn checked(on: bool) -> &'static str {
    if on { " checked" } else { "" }
}

fn form_html(
    user_id: &str,
    viewer: &Viewer,
    s: &ContactSettings,
    views: Option<&[ListView]>,
    provider: sync_state::users::Provider,
) -> String {
    let action = page_url(user_id, viewer, "", "");
    let mut f = String::new();
    let _ = write!(
        f,
        "<form method=\"post\" action=\"{}\" class=\"settings\">\
         <section aria-labelledby=\"contacts-title\"><h2 id=\"contacts-title\">Contacts</h2>\
         <div class=\"switch-row\"><input type=\"checkbox\" role=\"switch\" class=\"switch\" \
         id=\"enabled\" name=\"enabled\" value=\"on\" aria-describedby=\"enabled-help\"{}>\
         <label for=\"enabled\">Sync Salesforce contacts</label></div>\
         <p id=\"enabled-help\" class=\"help\">Two-way sync between the <strong>Salesforce \
         Contacts</strong> {} and Salesforce.</p>",
        escape(&action),
        checked(s.enabled),
        folder_words(provider),
    );
    f.push_str(
        "<fieldset><legend>Customize scope</legend>\
         <p class=\"help\" id=\"scope-help\">Which Salesforce Contacts come to your mailbox.</p>",
    );
    for (scope, id, label) in [
        ("all", "scope-all", "All available Contacts"),
        ("mine", "scope-mine", "Only my Contacts"),
        ("list_view", "scope-view", "Custom Salesforce view"),
    ] {
        let _ = write!(
            f,
            "<div class=\"choice\"><input type=\"radio\" id=\"{id}\" name=\"scope\" value=\"{}\" \
             aria-describedby=\"scope-help\"{}><label for=\"{id}\">{label}</label></div>",
            scope,
            checked(s.scope.as_str() == scope),
        );
    }
    f.push_str(&view_picker(
        s.scope
            .list_view_id()
            .map(|id| id.as_str())
            .unwrap_or_default(),
        views,
    ));
    f.push_str("</fieldset>");
    let _ = write!(
        f,
        "<div class=\"switch-row\"><input type=\"checkbox\" class=\"switch\" role=\"switch\" \
         id=\"auto_removal\" name=\"auto_removal\" value=\"on\" \
         aria-describedby=\"auto-removal-help\"{}><label for=\"auto_removal\">Auto-removal</label></div>\
         <p id=\"auto-removal-help\" class=\"help\">On: a synced contact you delete from the \
         Salesforce Contacts folder (or move out of it) is deleted in Salesforce too. Off: it comes \
         back to the folder from Salesforce on the next sync.</p>",
        checked(s.auto_removal)
    );
    f.push_str("<fieldset><legend>When a contact was changed on both sides</legend>");
    for (winner, id, label) in [
        (
            ConflictWinner::Salesforce,
            "winner-salesforce",
            "Salesforce wins",
        ),
        (
            ConflictWinner::Exchange,
            "winner-mailbox",
            "My mailbox wins",
        ),
    ] {
        let _ = write!(
            f,
            "<div class=\"choice\"><input type=\"radio\" id=\"{id}\" name=\"conflict_winner\" \
             value=\"{}\"{}><label for=\"{id}\">{label}</label></div>",
            winner.as_str(),
            checked(s.conflict_winner == winner),
        );
    }
    f.push_str(
        "<p class=\"help\">Only fields changed on both sides since the last sync; other \
         changes are kept from either side.</p></fieldset>\
         <button type=\"submit\" class=\"primary\">Apply</button></section></form>",
    );
    f
}

/// The picklist of the org's Contact list views (or an id field when they could not be read).
fn view_picker(current: &str, views: Option<&[ListView]>) -> String {
    let mut f = String::new();
    match views {
        Some(views) => {
            f.push_str(
                "<div class=\"field\"><label for=\"list_view_id\">Salesforce view (for Custom \
                 Salesforce view)</label><select id=\"list_view_id\" name=\"list_view_id\">\
                 <option value=\"\">Choose a view</option>",
            );
            // A stored view the org no longer lists stays selectable, so applying other
            // settings does not silently drop it.
            if !current.is_empty() && !views.iter().any(|v| v.id.as_str() == current) {
                let _ = write!(
                    f,
                    "<option value=\"{0}\" selected>{0} (no longer listed)</option>",
                    escape(current)
                );
            }
            for v in views {
                let selected = v.id.as_str() == current;
                let _ = write!(
                    f,
                    "<option value=\"{}\"{}>{}</option>",
                    escape(v.id.as_str()),
                    if selected { " selected" } else { "" },
                    escape(&v.label)
                );
            }
            f.push_str("</select></div>");
        }
        None => {
            let _ = write!(
                f,
                "<p class=\"error\" id=\"views-error\">The list of Salesforce views could not be \
                 loaded; enter a view id.</p><div class=\"field\"><label for=\"list_view_id\">\
                 Salesforce view id (for Custom Salesforce view)</label><input type=\"text\" \
                 id=\"list_view_id\" name=\"list_view_id\" value=\"{}\" maxlength=\"18\" \
                 aria-describedby=\"views-error\"></div>",
                escape(current)
            );
        }
    }
    f
}
