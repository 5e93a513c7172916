//! Admin API for users and their contact-sync settings (SPEC §4, B2).

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
use sync_core::{ConflictWinner, SalesforceId, SalesforceUserId, Scope};
use sync_state::StateError;
use sync_state::sessions::StartOutcome;
use sync_state::users::{self, ContactSettings, Provider, User};

use crate::Ctx;
use crate::auth::Operator;
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
    /// `exchange` (default) or `gmail` (G1).
    #[serde(default)]
    provider: Option<String>,
}

/// A user as the admin API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct UserView {
    pub id: String,
    pub org: String,
    pub mailbox: String,
    /// Always the 18-character form (B15), whichever form was registered.
    pub salesforce_user_id: SalesforceUserId,
    /// `exchange` or `gmail` (G1).
    pub provider: Provider,
    pub created_at: DateTime<Utc>,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        UserView {
            id: u.id,
            org: u.org_id,
            mailbox: u.mailbox,
            salesforce_user_id: u.salesforce_user_id,
            provider: u.provider,
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
    let mut client = ctx.pool.get().await.map_err(StateError::from)?;
    let tx = client.transaction().await?;
    let user = register(
        &ctx,
        &tx,
        Registration {
            id: &new.id,
            mailbox: &new.mailbox,
            salesforce_user_id: &new.salesforce_user_id,
            provider: new.provider.as_deref(),
            org: new.org.as_deref(),
        },
    )
    .await?;
    let created = users::created_in(&tx, &user).await?;
    tx.commit().await?;
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

/// A user to register, as the API or an import row gives it.
pub(crate) struct Registration<'a> {
    pub id: &'a str,
    pub mailbox: &'a str,
    pub salesforce_user_id: &'a str,
    pub provider: Option<&'a str>,
    pub org: Option<&'a str>,
}

/// Checks a registration and registers the user in `tx`: the user as stored (an identical
/// repeat keeps the existing one; a different one is 409 `user_exists`). A Gmail user needs an
/// org with a Google Workspace service account (G1).
pub(crate) async fn register(
    ctx: &Ctx,
    tx: &tokio_postgres::Transaction<'_>,
    new: Registration<'_>,
) -> Result<User, ApiError> {
    validate::id("id", new.id)?;
    validate::mailbox("mailbox", new.mailbox)?;
    let salesforce_user_id =
        validate::salesforce_id("salesforce_user_id", new.salesforce_user_id, "005")?;
    let provider: Provider = match new.provider.map(str::trim) {
        None | Some("") => Provider::Exchange,
        Some(p) => p
            .parse()
            .map_err(|e| ApiError::bad(format!("provider: {e}")))?,
    };
    let org = new.org.unwrap_or(&ctx.settings.default_org);
    validate::id("org", org)?;
    let Some(org_view) = sync_state::orgs::view(tx, org).await? else {
        return Err(ApiError::not_found(format!("org {org}")));
    };
    if provider == Provider::Exchange && org_view.graph.is_none() {
        return Err(ApiError::bad(format!(
            "provider: org {org} has no Microsoft tenant for Exchange users; register it under \
             `graph` in PUT /api/v1/orgs/{org}, or register the user with \"provider\": \"gmail\""
        )));
    }
    if provider == Provider::Gmail && org_view.google.is_none() {
        return Err(ApiError::bad(format!(
            "provider: org {org} has no Google Workspace service account; register it under \
             `google` in PUT /api/v1/orgs/{org} before adding Gmail users"
        )));
    }
    users::create_user(tx, new.id, org, new.mailbox, &salesforce_user_id, provider)
        .await
        .map_err(|e| match e {
            StateError::Invalid(_) => ApiError::Conflict {
                code: "user_exists",
                message: format!(
                    "user {} already exists with another mailbox, Salesforce user, provider or org",
                    new.id
                ),
            },
            other => other.into(),
        })
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
    /// `mine`, `all` or `list_view`.
    pub scope: &'static str,
    /// The view of scope `list_view`, in the 18-character form (B15).
    pub list_view_id: Option<SalesforceId>,
    pub auto_removal: bool,
    pub conflict_winner: ConflictWinner,
}

impl From<&ContactSettings> for SettingsView {
    fn from(s: &ContactSettings) -> Self {
        SettingsView {
            enabled: s.enabled,
            scope: s.scope.as_str(),
            list_view_id: s.scope.list_view_id().cloned(),
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
            None => current.scope.as_str(),
            Some(s) => Scope::NAMES
                .into_iter()
                .find(|name| *name == s)
                .ok_or_else(|| {
                    ApiError::bad(format!(
                        "scope: must be one of mine, all, list_view (got {s:?})"
                    ))
                })?,
        };
        let conflict_winner = match self.conflict_winner.as_deref() {
            None => current.conflict_winner,
            Some(w) => ConflictWinner::parse(w).ok_or_else(|| {
                ApiError::bad(format!(
                    "conflict_winner: must be salesforce or exchange (got {w:?})"
                ))
            })?,
        };
        let given_view = self.list_view_id.filter(|v| !v.trim().is_empty());
        let scope = match (scope, given_view) {
            ("list_view", Some(view)) => {
                Scope::ListView(validate::salesforce_id("list_view_id", &view, "00B")?)
            }
            ("list_view", None) => {
                Scope::ListView(current.scope.list_view_id().cloned().ok_or_else(|| {
                    ApiError::bad("list_view_id: required when scope is list_view")
                })?)
            }
            (_, Some(_)) => {
                return Err(ApiError::bad(
                    "list_view_id: only allowed when scope is list_view",
                ));
            }
            ("all", None) => Scope::All,
            // The one name left of `Scope::NAMES`.
            (_, None) => Scope::Mine,
        };
        Ok(ContactSettings {
            enabled: self.enabled.unwrap_or(current.enabled),
            scope,
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
    users::lock_user_row(&tx, user_id).await?;
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
        assert_eq!(
            ok.scope.list_view_id().map(SalesforceId::as_str),
            Some("00BDn000000001AMAQ"),
            "stored in the 18-character form (B15)"
        );
        let back = update(r#"{"scope":"mine"}"#).apply(&ok).expect("valid");
        assert_eq!(back.scope, Scope::Mine);
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
            conflict_winner: ConflictWinner::Exchange,
            ..on.clone()
        };
        assert!(!needs_session(&on, &winner_only));
    }
}
