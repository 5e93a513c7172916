//! The gateway's own reads (and two small writes) on the sync tables: views for the admin API,
//! the webhooks and the pages that `sync_state` has no query for.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sync_state::StateError;
use sync_state::sessions::{ItemError, Progress, Writes};
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

/// A session as the admin API shows it: the SPEC §4 summary plus when, why and (for a failed
/// session) what went wrong.
#[derive(Debug, Clone, Serialize)]
pub struct SessionView {
    pub job_id: Uuid,
    pub state: String,
    pub trigger: String,
    pub writes: Writes,
    pub errors: Vec<ItemError>,
    /// Why a failed session failed (a side's read, a writer); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl SessionView {
    pub fn is_finished(&self) -> bool {
        !matches!(self.state.as_str(), "fetching" | "writing")
    }
}

const SESSION_COLUMNS: &str = "job_id, trigger, state, summary, created_at, finished_at";

fn session_from_row(row: &Row) -> Result<SessionView, StateError> {
    let progress: Progress = match row.get::<_, Option<serde_json::Value>>("summary") {
        Some(value) => serde_json::from_value(value)?,
        None => Progress::default(),
    };
    Ok(SessionView {
        job_id: row.get("job_id"),
        state: row.get("state"),
        trigger: row.get("trigger"),
        writes: progress.writes,
        errors: progress.errors,
        failure: progress.failure,
        created_at: row.get("created_at"),
        finished_at: row.get("finished_at"),
    })
}

/// One session by id.
pub async fn session(
    client: &(impl GenericClient + Sync),
    job_id: Uuid,
) -> Result<Option<SessionView>, StateError> {
    let row = client
        .query_opt(
            &format!("SELECT {SESSION_COLUMNS} FROM sync_sessions WHERE job_id = $1"),
            &[&job_id],
        )
        .await?;
    row.as_ref().map(session_from_row).transpose()
}

/// The user's first session started after `job_id` (the one a coalesced trigger runs in).
pub async fn session_after(
    client: &(impl GenericClient + Sync),
    user_id: &str,
    job_id: Uuid,
) -> Result<Option<SessionView>, StateError> {
    let row = client
        .query_opt(
            &format!(
                "SELECT {SESSION_COLUMNS} FROM sync_sessions s
                 WHERE s.user_id = $1
                   AND (s.created_at, s.job_id) > (SELECT created_at, job_id FROM sync_sessions
                                                   WHERE job_id = $2)
                 ORDER BY s.created_at, s.job_id LIMIT 1"
            ),
            &[&user_id, &job_id],
        )
        .await?;
    row.as_ref().map(session_from_row).transpose()
}

/// The user's session in flight, if any.
pub async fn running_session(
    client: &(impl GenericClient + Sync),
    user_id: &str,
) -> Result<Option<SessionView>, StateError> {
    let row = client
        .query_opt(
            &format!(
                "SELECT {SESSION_COLUMNS} FROM sync_sessions
                 WHERE user_id = $1 AND state IN ('fetching', 'writing')"
            ),
            &[&user_id],
        )
        .await?;
    row.as_ref().map(session_from_row).transpose()
}

/// The user's most recently finished session.
pub async fn last_finished_session(
    client: &(impl GenericClient + Sync),
    user_id: &str,
) -> Result<Option<SessionView>, StateError> {
    let row = client
        .query_opt(
            &format!(
                "SELECT {SESSION_COLUMNS} FROM sync_sessions
                 WHERE user_id = $1 AND state NOT IN ('fetching', 'writing')
                 ORDER BY finished_at DESC NULLS LAST, created_at DESC LIMIT 1"
            ),
            &[&user_id],
        )
        .await?;
    row.as_ref().map(session_from_row).transpose()
}

/// The scheduling row of a user (`user_sync_state`).
#[derive(Debug, Clone, Serialize)]
pub struct SyncStateView {
    pub next_sync_at: DateTime<Utc>,
    pub pending_trigger: bool,
    pub deletions_confirmed: bool,
    pub last_error: Option<serde_json::Value>,
}

impl SyncStateView {
    /// The C5 hold, when the last session stopped at the mass-delete guard.
    pub fn held_deletions(&self) -> Option<&serde_json::Value> {
        self.last_error
            .as_ref()
            .filter(|e| e.get("code").and_then(|c| c.as_str()) == Some("mass_delete_guard"))
    }
}

pub async fn sync_state(
    client: &(impl GenericClient + Sync),
    user_id: &str,
) -> Result<Option<SyncStateView>, StateError> {
    let row = client
        .query_opt(
            "SELECT next_sync_at, pending_trigger, deletions_confirmed, last_error
             FROM user_sync_state WHERE user_id = $1",
            &[&user_id],
        )
        .await?;
    Ok(row.map(|r| SyncStateView {
        next_sync_at: r.get(0),
        pending_trigger: r.get(1),
        deletions_confirmed: r.get(2),
        last_error: r.get(3),
    }))
}

/// C5: records the operator's confirmation, only while deletions are held; false otherwise.
pub async fn confirm_deletions(
    client: &(impl GenericClient + Sync),
    user_id: &str,
) -> Result<bool, StateError> {
    let n = client
        .execute(
            "UPDATE user_sync_state SET deletions_confirmed = true
             WHERE user_id = $1 AND last_error->>'code' = 'mass_delete_guard'",
            &[&user_id],
        )
        .await?;
    Ok(n == 1)
}

/// What the admin API shows of an org: never a secret.
#[derive(Debug, Clone, Serialize)]
pub struct OrgView {
    pub id: String,
    pub name: String,
    pub graph: GraphView,
    pub salesforce: SalesforceView,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GraphView {
    pub tenant_id: String,
    pub client_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SalesforceView {
    pub login_url: String,
    pub consumer_key: String,
    pub username: String,
    pub org_id: String,
}

const ORG_COLUMNS: &str = "id, name, graph_tenant_id, graph_client_id, salesforce_login_url,
     salesforce_consumer_key, salesforce_username, salesforce_org_id, created_at";

fn org_from_row(r: &Row) -> OrgView {
    OrgView {
        id: r.get("id"),
        name: r.get("name"),
        graph: GraphView {
            tenant_id: r.get("graph_tenant_id"),
            client_id: r.get("graph_client_id"),
        },
        salesforce: SalesforceView {
            login_url: r.get("salesforce_login_url"),
            consumer_key: r.get("salesforce_consumer_key"),
            username: r.get("salesforce_username"),
            org_id: r.get("salesforce_org_id"),
        },
        created_at: r.get("created_at"),
    }
}

/// One org without opening its secrets.
pub async fn org(
    client: &(impl GenericClient + Sync),
    id: &str,
) -> Result<Option<OrgView>, StateError> {
    let row = client
        .query_opt(
            &format!("SELECT {ORG_COLUMNS} FROM orgs WHERE id = $1"),
            &[&id],
        )
        .await?;
    Ok(row.as_ref().map(org_from_row))
}

pub async fn orgs(client: &(impl GenericClient + Sync)) -> Result<Vec<OrgView>, StateError> {
    let rows = client
        .query(&format!("SELECT {ORG_COLUMNS} FROM orgs ORDER BY id"), &[])
        .await?;
    Ok(rows.iter().map(org_from_row).collect())
}

/// `(org id, Salesforce org id)` of every org that has one, for the Outbound Message check.
pub async fn salesforce_org_ids(
    client: &(impl GenericClient + Sync),
) -> Result<Vec<(String, String)>, StateError> {
    let rows = client
        .query(
            "SELECT id, salesforce_org_id FROM orgs WHERE salesforce_org_id <> ''",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Who an Outbound Message concerns, among the org's users with contact sync enabled.
#[derive(Debug, Clone, Default)]
pub struct Audience {
    /// Some notification names no owner (or is not a Contact): every `mine` user may see it.
    pub every_mine_user: bool,
    /// 15-character owner ids of the changed Contacts.
    pub owners: Vec<String>,
    /// 15-character ids of the changed records (users linked to them hear of it whatever
    /// their scope: an owner change must remove the old owner's mirror, B7).
    pub records: Vec<String>,
}

/// The enabled users of `org_id` an Outbound Message concerns: scope `all`/`list_view` always,
/// scope `mine` when they own a changed Contact (or the owner is unknown), and anyone linked to a
/// changed record.
pub async fn notified_users(
    client: &(impl GenericClient + Sync),
    org_id: &str,
    audience: &Audience,
) -> Result<Vec<String>, StateError> {
    let rows = client
        .query(
            "SELECT u.id FROM users u JOIN contact_settings s ON s.user_id = u.id
             WHERE u.org_id = $1 AND s.enabled
               AND (s.scope IN ('all', 'list_view')
                    OR $2
                    OR left(u.salesforce_user_id, 15) = ANY($3)
                    OR EXISTS (SELECT 1 FROM contact_links l
                               WHERE l.user_id = u.id AND left(l.salesforce_id, 15) = ANY($4)))
             ORDER BY u.id",
            &[
                &org_id,
                &audience.every_mine_user,
                &audience.owners,
                &audience.records,
            ],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// One line of the operators' dashboard.
#[derive(Debug, Clone)]
pub struct DashboardRow {
    pub user_id: String,
    pub org_id: String,
    pub mailbox: String,
    pub enabled: bool,
    pub scope: String,
    pub next_sync_at: Option<DateTime<Utc>>,
    pub last_error: Option<serde_json::Value>,
    pub running: bool,
    pub last_session: Option<SessionView>,
}

/// Users in id order, `limit` from `offset`, with their last finished session.
pub async fn dashboard(
    client: &(impl GenericClient + Sync),
    limit: i64,
    offset: i64,
) -> Result<Vec<DashboardRow>, StateError> {
    let rows = client
        .query(
            "SELECT u.id, u.org_id, u.mailbox,
                    COALESCE(cs.enabled, false) AS enabled, COALESCE(cs.scope, 'mine') AS scope,
                    st.next_sync_at, st.last_error,
                    EXISTS (SELECT 1 FROM sync_sessions r WHERE r.user_id = u.id
                            AND r.state IN ('fetching', 'writing')) AS running,
                    l.job_id, l.trigger, l.state, l.summary, l.created_at, l.finished_at
             FROM users u
             LEFT JOIN contact_settings cs ON cs.user_id = u.id
             LEFT JOIN user_sync_state st ON st.user_id = u.id
             LEFT JOIN LATERAL (
                 SELECT job_id, trigger, state, summary, created_at, finished_at
                 FROM sync_sessions s WHERE s.user_id = u.id
                   AND s.state NOT IN ('fetching', 'writing')
                 ORDER BY s.finished_at DESC NULLS LAST, s.created_at DESC LIMIT 1) l ON true
             ORDER BY u.id LIMIT $1 OFFSET $2",
            &[&limit, &offset],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let last_session = match r.get::<_, Option<Uuid>>("job_id") {
                Some(_) => Some(session_from_row(r)?),
                None => None,
            };
            Ok(DashboardRow {
                user_id: r.get("id"),
                org_id: r.get("org_id"),
                mailbox: r.get("mailbox"),
                enabled: r.get("enabled"),
                scope: r.get("scope"),
                next_sync_at: r.get("next_sync_at"),
                last_error: r.get("last_error"),
                running: r.get("running"),
                last_session,
            })
        })
        .collect()
}
