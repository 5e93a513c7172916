//! Admin API for users and their contact-sync settings (SPEC §4, B2), and the settings link.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use contracts::Trigger;
use serde::{Deserialize, Serialize};
use sync_state::StateError;
use sync_state::sessions::StartOutcome;
use sync_state::users::{self, ContactSettings, Scope, User, Winner};

use crate::Ctx;
use crate::auth::{self, Operator};
use crate::error::{ApiError, parse_json};
use crate::validate;

/// `POST /api/v1/users`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    id: String,
    mailbox: String,
    salesforce_user_id: String,
    #[serde(default)]
    org: Option<String>,
}

/// A user as the admin API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct UserView {
    pub id: String,
    pub org: String,
    pub mailbox: String,
    pub salesforce_user_id: String,
    pub created_at: DateTime<Utc>,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        UserView {
            id: u.id,
            org: u.org_id,
            mailbox: u.mailbox,
            salesforce_user_id: u.salesforce_user_id,
            created_at: u.created_at,
        }
    }
}

/// Registers a user: 201 when created, 200 for an identical repeat, 409 for a different one.
#[tracing::instrument(skip_all)]
pub async fn create_user(
    _: Operator,
    State(ctx): State<Arc<Ctx>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let new: NewUser = parse_json(&body?)?;
    validate::id("id", &new.id)?;
    validate::mailbox("mailbox", &new.mailbox)?;
    validate::salesforce_id("salesforce_user_id", &new.salesforce_user_id, "005")?;
    let org = new.org.unwrap_or_else(|| ctx.settings.default_org.clone());
    validate::id("org", &org)?;

    let mut client = ctx.pool.get().await.map_err(StateError::from)?;
    let tx = client.transaction().await?;
    let org_known = tx
        .query_opt("SELECT 1 FROM orgs WHERE id = $1", &[&org])
        .await?
        .is_some();
    if !org_known {
        return Err(ApiError::not_found(format!("org {org}")));
    }
    let user =
        match users::create_user(&tx, &new.id, &org, &new.mailbox, &new.salesforce_user_id).await {
            Ok(user) => user,
            Err(StateError::Invalid(_)) => {
                return Err(ApiError::Conflict {
                    code: "user_exists",
                    message: format!(
                        "user {} already exists with another mailbox, Salesforce user or org",
                        new.id
                    ),
                });
            }
            Err(e) => return Err(e.into()),
        };
    // A row inserted by this transaction carries its start time: that tells a creation from an
    // identical repeat without a race between two concurrent registrations.
    let now: DateTime<Utc> = tx.query_one("SELECT now()", &[]).await?.get(0);
    tx.commit().await?;
    let created = user.created_at == now;
    if created {
        tracing::info!(user_id = %user.id, org_id = %user.org_id, "Registered a user.");
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(UserView::from(user))).into_response())
}

/// `GET /api/v1/users/{id}`.
pub async fn get_user(
    _: Operator,
    State(ctx): State<Arc<Ctx>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let client = ctx.pool.get().await.map_err(StateError::from)?;
    let user = users::get_user(&**client, &id).await?;
    Ok(Json(UserView::from(user)).into_response())
}

/// The settings as the API shows and takes them (the body of a PUT round-trips).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettingsView {
    pub enabled: bool,
    pub scope: Scope,
    pub list_view_id: Option<String>,
    pub auto_removal: bool,
    pub conflict_winner: Winner,
}

impl From<&ContactSettings> for SettingsView {
    fn from(s: &ContactSettings) -> Self {
        SettingsView {
            enabled: s.enabled,
            scope: s.scope,
            list_view_id: s.list_view_id.clone(),
            auto_removal: s.auto_removal,
            conflict_winner: s.conflict_winner,
        }
    }
}

/// `PUT /api/v1/users/{id}/settings/contacts`: fields left out keep their current value.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsUpdate {
    pub enabled: Option<bool>,
    pub scope: Option<String>,
    pub list_view_id: Option<String>,
    pub auto_removal: Option<bool>,
    pub conflict_winner: Option<String>,
}

impl SettingsUpdate {
    /// The settings after this update, or a 400 naming the bad field.
    pub fn apply(self, current: &ContactSettings) -> Result<ContactSettings, ApiError> {
        let scope = match self.scope.as_deref() {
            None => current.scope,
            Some(s) => Scope::parse(s).map_err(|_| {
                ApiError::bad(format!(
                    "scope: must be one of mine, all, list_view (got {s:?})"
                ))
            })?,
        };
        let conflict_winner = match self.conflict_winner.as_deref() {
            None => current.conflict_winner,
            Some(w) => Winner::parse(w).map_err(|_| {
                ApiError::bad(format!(
                    "conflict_winner: must be salesforce or exchange (got {w:?})"
                ))
            })?,
        };
        let given_view = self.list_view_id.filter(|v| !v.trim().is_empty());
        let list_view_id = if scope == Scope::ListView {
            let view = given_view
                .or_else(|| current.list_view_id.clone())
                .ok_or_else(|| ApiError::bad("list_view_id: required when scope is list_view"))?;
            validate::salesforce_id("list_view_id", &view, "00B")?;
            Some(view)
        } else if given_view.is_some() {
            return Err(ApiError::bad(
                "list_view_id: only allowed when scope is list_view",
            ));
        } else {
            None
        };
        Ok(ContactSettings {
            enabled: self.enabled.unwrap_or(current.enabled),
            scope,
            list_view_id,
            auto_removal: self.auto_removal.unwrap_or(current.auto_removal),
            conflict_winner,
            scope_version: current.scope_version,
        })
    }
}

/// Whether new settings need a session now: contact sync was just enabled, or the scope of an
/// enabled user changed (B7: mirrors leaving the scope are removed by that session).
pub fn needs_session(before: &ContactSettings, after: &ContactSettings) -> bool {
    after.enabled && (!before.enabled || after.scope_version != before.scope_version)
}

/// Stores a settings update and starts the session it calls for.
pub async fn save_settings(
    ctx: &Ctx,
    user_id: &str,
    update: SettingsUpdate,
) -> Result<(ContactSettings, Option<StartOutcome>), ApiError> {
    let mut client = ctx.pool.get().await.map_err(StateError::from)?;
    let tx = client.transaction().await?;
    // Serialises concurrent updates of one user, so each compares against what it replaces.
    let known = tx
        .query_opt(
            "SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE",
            &[&user_id],
        )
        .await?
        .is_some();
    if !known {
        return Err(ApiError::not_found(format!("user {user_id}")));
    }
    let before = users::get_settings(&*tx, user_id).await?;
    let wanted = update.apply(&before)?;
    let stored = users::put_settings(&tx, user_id, &wanted).await?;
    tx.commit().await?;
    let outcome = if needs_session(&before, &stored) {
        let outcome =
            pipeline::start_session(&ctx.pool, &ctx.publisher, user_id, Trigger::Settings).await?;
        Some(outcome)
    } else {
        None
    };
    tracing::info!(
        user_id,
        enabled = stored.enabled,
        scope = stored.scope.as_str(),
        "Stored contact settings."
    );
    Ok((stored, outcome))
}

/// `PUT /api/v1/users/{id}/settings/contacts` → the stored settings.
#[tracing::instrument(skip_all, fields(user_id = %id))]
pub async fn put_settings(
    _: Operator,
    State(ctx): State<Arc<Ctx>>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let update: SettingsUpdate = parse_json(&body?)?;
    let (stored, _) = save_settings(&ctx, &id, update).await?;
    Ok(Json(SettingsView::from(&stored)).into_response())
}

/// `GET /api/v1/users/{id}/settings/contacts`.
pub async fn get_settings(
    _: Operator,
    State(ctx): State<Arc<Ctx>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let client = ctx.pool.get().await.map_err(StateError::from)?;
    users::get_user(&**client, &id).await?;
    let settings = users::get_settings(&**client, &id).await?;
    Ok(Json(SettingsView::from(&settings)).into_response())
}

/// The user's signed Sync Settings link.
pub fn settings_link(ctx: &Ctx, user_id: &str) -> Result<String, ApiError> {
    let sig = auth::settings_signature(ctx.settings.common.encryption_key.expose(), user_id)?;
    let mut url = ctx.settings.common.public_base_url.clone();
    url.path_segments_mut()
        .map_err(|_| ApiError::Internal("PUBLIC_BASE_URL cannot take a path".into()))?
        .pop_if_empty()
        .extend(["settings", user_id]);
    url.query_pairs_mut().append_pair("sig", &sig);
    Ok(url.to_string())
}

/// `GET /api/v1/users/{id}/settings-link` → `{"url"}` to hand to the user.
pub async fn get_settings_link(
    _: Operator,
    State(ctx): State<Arc<Ctx>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let client = ctx.pool.get().await.map_err(StateError::from)?;
    users::get_user(&**client, &id).await?;
    Ok(Json(serde_json::json!({ "url": settings_link(&ctx, &id)? })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(json: &str) -> SettingsUpdate {
        serde_json::from_str(json).expect("update parses")
    }

    #[test]
    fn left_out_fields_keep_their_value() {
        let current = ContactSettings {
            auto_removal: true,
            ..ContactSettings::default()
        };
        let next = update(r#"{"enabled":true}"#)
            .apply(&current)
            .expect("valid");
        assert!(next.enabled && next.auto_removal);
        assert_eq!(next.scope, Scope::Mine);
    }

    #[test]
    fn list_view_scope_needs_a_view_id_and_others_refuse_one() {
        let current = ContactSettings::default();
        let err = update(r#"{"scope":"list_view"}"#)
            .apply(&current)
            .expect_err("no view");
        assert!(err.to_string().starts_with("list_view_id:"));
        let err = update(r#"{"scope":"all","list_view_id":"00BDn000000001A"}"#)
            .apply(&current)
            .expect_err("view on all");
        assert!(err.to_string().starts_with("list_view_id:"));
        let ok = update(r#"{"scope":"list_view","list_view_id":"00BDn000000001A"}"#)
            .apply(&current)
            .expect("valid");
        assert_eq!(ok.list_view_id.as_deref(), Some("00BDn000000001A"));
        let back = update(r#"{"scope":"mine"}"#).apply(&ok).expect("valid");
        assert_eq!(back.list_view_id, None);
    }

    #[test]
    fn unknown_fields_and_bad_enums_are_refused_by_name() {
        assert!(serde_json::from_str::<SettingsUpdate>(r#"{"enabled":true,"color":1}"#).is_err());
        let err = update(r#"{"scope":"everything"}"#)
            .apply(&ContactSettings::default())
            .expect_err("bad scope");
        assert!(err.to_string().starts_with("scope:"));
        let err = update(r#"{"conflict_winner":"me"}"#)
            .apply(&ContactSettings::default())
            .expect_err("bad winner");
        assert!(err.to_string().starts_with("conflict_winner:"));
    }

    #[test]
    fn enabling_or_changing_the_scope_of_an_enabled_user_needs_a_session() {
        let off = ContactSettings::default();
        let on = ContactSettings {
            enabled: true,
            ..off.clone()
        };
        assert!(needs_session(&off, &on));
        assert!(!needs_session(&on, &on));
        assert!(!needs_session(&on, &off));
        let rescoped = ContactSettings {
            scope: Scope::All,
            scope_version: 2,
            ..on.clone()
        };
        assert!(needs_session(&on, &rescoped));
        let winner_only = ContactSettings {
            conflict_winner: Winner::Exchange,
            ..on.clone()
        };
        assert!(!needs_session(&on, &winner_only));
    }
}
