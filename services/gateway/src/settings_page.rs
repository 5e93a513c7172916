//! The user's Sync Settings page (`/settings/{user_id}`): shows and edits the contact-sync
//! settings (B2, B12, C1) and the last session with its errors (C7). Open to the operator token
//! or the user's signed link.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use salesforce_client::ListView;
use serde::Deserialize;
use sync_state::StateError;
use sync_state::users::{self, ContactSettings, Scope, Winner};

use crate::Ctx;
use crate::auth;
use crate::error::ApiError;
use crate::html::{PageError, escape, page, query_value, see_other};
use crate::queries::{self, SessionView};
use crate::users::{SettingsUpdate, save_settings};

/// How long the page waits for Salesforce's list views before rendering without them.
const LIST_VIEWS_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    sig: Option<String>,
    #[serde(default)]
    saved: Option<String>,
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
            .filter(|_| form.scope.as_deref() == Some(Scope::ListView.as_str()));
        SettingsUpdate {
            enabled: Some(form.enabled.is_some()),
            scope: form.scope,
            list_view_id,
            auto_removal: Some(form.auto_removal.is_some()),
            conflict_winner: form.conflict_winner,
        }
    }
}

/// Who may open the page, and the query that keeps that access on links and the form.
fn access(
    ctx: &Ctx,
    headers: &HeaderMap,
    user_id: &str,
    q: &PageQuery,
) -> Result<String, PageError> {
    if let Some(sig) = q.sig.as_deref()
        && auth::verify_settings_signature(
            ctx.settings.common.encryption_key.expose(),
            user_id,
            sig,
        )
    {
        return Ok(format!("sig={}", query_value(sig)));
    }
    if auth::is_operator(ctx, headers, q.token.as_deref()) {
        return Ok(q
            .token
            .as_deref()
            .map(|t| format!("token={}", query_value(t)))
            .unwrap_or_default());
    }
    Err(PageError(ApiError::Unauthorized))
}

pub async fn show(
    State(ctx): State<Arc<Ctx>>,
    Path(user_id): Path<String>,
    headers: HeaderMap,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let Query(q) = query.map_err(ApiError::from)?;
    let keep = access(&ctx, &headers, &user_id, &q)?;
    let notice = q.saved.is_some().then_some(Notice::Saved);
    render(&ctx, &user_id, &keep, notice, StatusCode::OK).await
}

pub async fn submit(
    State(ctx): State<Arc<Ctx>>,
    Path(user_id): Path<String>,
    headers: HeaderMap,
    query: Result<Query<PageQuery>, QueryRejection>,
    form: Result<Form<SettingsForm>, FormRejection>,
) -> Result<Response, PageError> {
    let Query(q) = query.map_err(ApiError::from)?;
    let keep = access(&ctx, &headers, &user_id, &q)?;
    let Form(form) = form.map_err(ApiError::from)?;
    match save_settings(&ctx, &user_id, form.into()).await {
        Ok(_) => {
            let sep = if keep.is_empty() { "" } else { "&" };
            let location = format!("/settings/{}?{keep}{sep}saved=1", query_value(&user_id));
            Ok(see_other(&location))
        }
        Err(ApiError::BadRequest(message)) => {
            render(
                &ctx,
                &user_id,
                &keep,
                Some(Notice::Invalid(message)),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(e) => Err(PageError(e)),
    }
}

enum Notice {
    Saved,
    Invalid(String),
}

async fn render(
    ctx: &Ctx,
    user_id: &str,
    keep: &str,
    notice: Option<Notice>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let (user, settings, last, running) = {
        let client = ctx.pool.get().await.map_err(StateError::from)?;
        let user = users::get_user(&**client, user_id).await?;
        let settings = users::get_settings(&**client, user_id).await?;
        let last = queries::last_finished_session(&**client, user_id).await?;
        let running = queries::running_session(&**client, user_id)
            .await?
            .is_some();
        (user, settings, last, running)
    };
    let views = list_views(ctx, &user.org_id).await;

    let mut body = String::new();
    let _ = write!(
        body,
        "<p>User <strong>{}</strong> · mailbox {}</p>",
        escape(&user.id),
        escape(&user.mailbox)
    );
    match notice {
        Some(Notice::Saved) => body.push_str("<p class=\"ok\">Settings saved.</p>"),
        Some(Notice::Invalid(message)) => {
            let _ = write!(
                body,
                "<p class=\"error\">Not saved: {}</p>",
                escape(&message)
            );
        }
        None => {}
    }
    body.push_str(&form_html(user_id, keep, &settings, views.as_deref()));
    body.push_str(&session_html(last.as_ref(), running));
    Ok(page(status, "Sync Settings", &body))
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

fn form_html(user_id: &str, keep: &str, s: &ContactSettings, views: Option<&[ListView]>) -> String {
    let action = format!(
        "/settings/{}{}{}",
        query_value(user_id),
        if keep.is_empty() { "" } else { "?" },
        keep
    );
    let mut f = String::new();
    let _ = write!(f, "<form method=\"post\" action=\"{}\">", escape(&action));
    let _ = write!(
        f,
        "<fieldset><legend>Contacts sync</legend>\
         <label><input type=\"checkbox\" name=\"enabled\" value=\"on\"{}> Sync my business contacts \
         between my mailbox and Salesforce</label></fieldset>",
        checked(s.enabled)
    );
    f.push_str("<fieldset><legend>Which Salesforce Contacts come to my mailbox</legend>");
    for (scope, label) in [
        (Scope::All, "All available Contacts"),
        (Scope::Mine, "Only my Contacts"),
        (Scope::ListView, "Custom Salesforce view"),
    ] {
        let _ = write!(
            f,
            "<label><input type=\"radio\" name=\"scope\" value=\"{}\"{}> {}</label>",
            scope.as_str(),
            checked(s.scope == scope),
            label
        );
    }
    let current = s.list_view_id.as_deref().unwrap_or_default();
    match views {
        Some(views) => {
            f.push_str("<label>View: <select name=\"list_view_id\"><option value=\"\">(choose a view)</option>");
            // A stored view the org no longer lists stays selectable, so saving other
            // settings does not silently drop it.
            if !current.is_empty()
                && !views
                    .iter()
                    .any(|v| crate::validate::same_salesforce_id(&v.id, current))
            {
                let _ = write!(
                    f,
                    "<option value=\"{0}\" selected>{0} (no longer listed)</option>",
                    escape(current)
                );
            }
            for v in views {
                let selected = crate::validate::same_salesforce_id(&v.id, current);
                let _ = write!(
                    f,
                    "<option value=\"{}\"{}>{}</option>",
                    escape(&v.id),
                    if selected { " selected" } else { "" },
                    escape(&v.label)
                );
            }
            f.push_str("</select></label>");
        }
        None => {
            let _ = write!(
                f,
                "<p class=\"error\">The list of Salesforce views could not be loaded; enter a view id.</p>\
                 <label>View id: <input type=\"text\" name=\"list_view_id\" value=\"{}\" maxlength=\"18\"></label>",
                escape(current)
            );
        }
    }
    f.push_str("</fieldset>");
    let _ = write!(
        f,
        "<fieldset><legend>Removal</legend><label><input type=\"checkbox\" name=\"auto_removal\" value=\"on\"{}> \
         Auto-removal: deleting a synced contact from the Salesforce Contacts folder deletes it in Salesforce</label></fieldset>",
        checked(s.auto_removal)
    );
    f.push_str("<fieldset><legend>When both sides changed the same field</legend>");
    for (winner, label) in [
        (Winner::Salesforce, "Salesforce wins"),
        (Winner::Exchange, "My mailbox wins"),
    ] {
        let _ = write!(
            f,
            "<label><input type=\"radio\" name=\"conflict_winner\" value=\"{}\"{}> {}</label>",
            winner.as_str(),
            checked(s.conflict_winner == winner),
            label
        );
    }
    f.push_str("</fieldset><button type=\"submit\">Save</button></form>");
    f
}

fn session_html(last: Option<&SessionView>, running: bool) -> String {
    let mut h = String::from("<h2>Last sync</h2>");
    if running {
        h.push_str("<p>A sync is running now.</p>");
    }
    let Some(s) = last else {
        h.push_str("<p>No sync has finished yet.</p>");
        return h;
    };
    let finished = s
        .finished_at
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default();
    let _ = write!(
        h,
        "<p>{} at {} · mailbox: {} created, {} updated, {} deleted · Salesforce: {} created, {} updated, {} deleted</p>",
        escape(&s.state),
        escape(&finished),
        s.writes.exchange.created,
        s.writes.exchange.updated,
        s.writes.exchange.deleted,
        s.writes.salesforce.created,
        s.writes.salesforce.updated,
        s.writes.salesforce.deleted,
    );
    if let Some(failure) = &s.failure {
        let _ = write!(h, "<p class=\"error\">{}</p>", escape(failure));
    }
    if !s.errors.is_empty() {
        h.push_str("<table><tr><th>Contact</th><th>Code</th><th>Field</th><th>Message</th></tr>");
        for e in &s.errors {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&e.item),
                escape(&e.code),
                escape(e.field.as_deref().unwrap_or("")),
                escape(&e.message)
            );
        }
        h.push_str("</table>");
    }
    h
}
