//! The mailbox read of one session (B1, B4, B8, B9, B11): run the Graph delta of every followed
//! contact folder (nested ones included) from its stored deltaLink, keep the sync folder's items
//! and only those of other folders that carry the category or are linked, and look up our stamp
//! on items we do not know yet.
//!
//! The folders followed and the sync folder's id are trusted between full checks (issue 11 §3):
//! an idle session makes one delta request per followed folder and nothing else. The full check
//! (the contact folder tree listed, the master category checked, the folder re-created if gone,
//! B1) runs when the user has no cursor yet, when someone asked for the session, when the last
//! check is older than `MAILBOX_CHECK_SECS`, and when a delta says the sync folder is gone.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use contracts::{SyncJob, Trigger};
use graph_client::{CategoryColor, DeltaItem, DeltaLink, GraphClient, GraphError};
use serde::{Deserialize, Serialize};
use sync_core::{
    ExchangeChanges, ExchangeItem, FolderKind, GraphItemId, ReadKind, SALESFORCE_CATEGORY,
};
use sync_state::StateError;
use sync_state::links::{self, CursorSide};
use sync_state::users;

use crate::{Ctx, setup};

/// The well-known name of the default contact folder (it is not in the folder list).
pub const DEFAULT_FOLDER: &str = "contacts";

/// Why a mailbox read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error(transparent)]
    Google(#[from] google_client::GoogleError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Clients(#[from] pipeline::ClientError),
    /// An item's stamp could not be read: the item cannot be told from a new one, so the read
    /// fails rather than guess (C4: guessing "new" turns a lost link into a duplicate).
    #[error("reading the sync key of item {id}: {error}")]
    Stamp {
        id: String,
        error: graph_client::ItemError,
    },
    #[error("{0}")]
    Invalid(String),
}

/// Where the mailbox side stands: the sync folder it was read for, each followed folder's
/// deltaLink (its keys are the folders followed until the next full check), and when the folder
/// tree and the master category were last checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeCursor {
    pub folder_id: String,
    pub delta_links: BTreeMap<String, DeltaLink>,
    /// The last full check; `None` in cursors written before it was kept (the next session
    /// checks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<DateTime<Utc>>,
}

/// Why a session runs the full check of the mailbox instead of trusting its cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckReason {
    /// No cursor yet, no remembered sync folder, a cursor of another folder, or one that never
    /// recorded a check.
    Unknown,
    /// Someone asked for the session (`sync`, "Sync now", settings): a folder or category the
    /// user deleted comes back at once (B1).
    OnDemand,
    /// The last check is older than `MAILBOX_CHECK_SECS`.
    Due,
}

/// What [`plan`] reads of a provider's cursor.
pub trait MailboxCursor {
    /// The sync folder (Exchange) or group (Gmail) the cursor was read for.
    fn folder_id(&self) -> &str;
    /// The last full check of the mailbox, if the cursor recorded one.
    fn checked_at(&self) -> Option<DateTime<Utc>>;
}

impl MailboxCursor for ExchangeCursor {
    fn folder_id(&self) -> &str {
        &self.folder_id
    }
    fn checked_at(&self) -> Option<DateTime<Utc>> {
        self.checked_at
    }
}

/// What a session does about the folder tree and the category, decided from its cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailboxPlan<'a, C = ExchangeCursor> {
    /// List the folders and check the category first.
    Check(CheckReason),
    /// Follow the cursor's folders as they are; `checked_at` is carried forward.
    Trust {
        cursor: &'a C,
        checked_at: DateTime<Utc>,
    },
}

/// Decides whether the session checks the mailbox (pure: the clock is passed in).
pub fn plan<'a, C: MailboxCursor>(
    stored: Option<&'a C>,
    known_folder: Option<&str>,
    trigger: Trigger,
    now: DateTime<Utc>,
    check_every: Duration,
) -> MailboxPlan<'a, C> {
    let trusted = stored.filter(|c| known_folder == Some(c.folder_id()));
    let (Some(cursor), Some(checked_at)) = (trusted, trusted.and_then(|c| c.checked_at())) else {
        return MailboxPlan::Check(CheckReason::Unknown);
    };
    if trigger.is_on_demand() {
        return MailboxPlan::Check(CheckReason::OnDemand);
    }
    let every = chrono::Duration::from_std(check_every).unwrap_or(chrono::Duration::MAX);
    if now.signed_duration_since(checked_at) >= every {
        return MailboxPlan::Check(CheckReason::Due);
    }
    MailboxPlan::Trust { cursor, checked_at }
}

/// The folders a session reads: the sync folder, then the others (the default folder first).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Followed {
    folder_id: String,
    others: Vec<String>,
}

impl Followed {
    /// The folders a cursor followed, as they were at its last check.
    fn from_cursor(cursor: &ExchangeCursor) -> Followed {
        let others = cursor
            .delta_links
            .keys()
            .filter(|f| **f != cursor.folder_id && *f != DEFAULT_FOLDER)
            .cloned();
        Followed {
            folder_id: cursor.folder_id.clone(),
            others: std::iter::once(DEFAULT_FOLDER.to_owned())
                .chain(others)
                .collect(),
        }
    }

    /// Every folder to read, the sync folder first.
    fn all(&self) -> Vec<String> {
        std::iter::once(self.folder_id.clone())
            .chain(self.others.iter().cloned())
            .collect()
    }
}

/// The full check (B1, B9): every contact folder of the mailbox at any depth (`childFolders`
/// included, for categorized contacts anywhere), the master category re-created if the user
/// deleted it, and the sync folder found again or re-created when `known` is no longer listed.
async fn check_mailbox(
    ctx: &Ctx,
    graph: &GraphClient,
    user_id: &str,
    mailbox: &str,
    known: Option<&str>,
) -> Result<Followed, ReadError> {
    let (all_folders, _category) = tokio::try_join!(
        graph.list_all_contact_folders(mailbox),
        graph.ensure_category(mailbox, SALESFORCE_CATEGORY, CategoryColor::Preset(7)),
    )?;
    let folder_id = setup::ensure_folder(ctx, graph, user_id, mailbox, known, &all_folders).await?;
    let others = std::iter::once(DEFAULT_FOLDER.to_owned())
        .chain(
            all_folders
                .into_iter()
                .map(|f| f.id)
                .filter(|id| *id != folder_id),
        )
        .collect();
    Ok(Followed { folder_id, others })
}

/// Reads the mailbox side of a session; returns the changes and the cursor after them.
#[tracing::instrument(skip_all, fields(user_id = %job.header.user_id, job_id = %job.header.job_id))]
pub async fn read_mailbox(
    ctx: &Ctx,
    job: &SyncJob,
) -> Result<(ExchangeChanges, serde_json::Value), ReadError> {
    let client = ctx.pool.get().await.map_err(StateError::from)?;
    let user = users::get_user(&**client, &job.header.user_id).await?;
    if user.provider == users::Provider::Gmail {
        drop(client);
        return crate::gmail::read_mailbox(ctx, job, &user).await;
    }
    let known_folder = sync_state::mailbox::sync_folder(&**client, &user.id).await?;
    let stored: Option<ExchangeCursor> =
        links::load_cursor(&**client, &user.id, CursorSide::Exchange)
            .await?
            .map(serde_json::from_value)
            .transpose()
            .map_err(StateError::from)?;
    let linked = links::linked_graph_ids(&**client, &user.id).await?;
    drop(client);
    let graph = ctx.clients.graph(&user.org_id).await?;
    let mailbox = user.mailbox.as_str();

    let now = Utc::now();
    let (mut followed, mut trusted_since) = match plan(
        stored.as_ref(),
        known_folder.as_deref(),
        job.trigger,
        now,
        ctx.settings.mailbox_check,
    ) {
        MailboxPlan::Check(reason) => {
            tracing::debug!(?reason, "Checking the mailbox's folders and category.");
            let followed =
                check_mailbox(ctx, &graph, &user.id, mailbox, known_folder.as_deref()).await?;
            (followed, None)
        }
        MailboxPlan::Trust { cursor, checked_at } => {
            (Followed::from_cursor(cursor), Some(checked_at))
        }
    };
    setup::ensure_subscription(ctx, &graph, &user.id, mailbox, &followed.folder_id).await;
    let mut retried = false;
    let (rounds, complete) = loop {
        // A cursor of another folder is one of a folder that is gone: everything is read anew.
        let resume = stored
            .as_ref()
            .filter(|c| c.folder_id == followed.folder_id);
        match read_rounds(
            &graph,
            mailbox,
            &followed.all(),
            &followed.folder_id,
            resume,
        )
        .await
        {
            Ok(read) => break read,
            // Deleted for good: set up again, once. Trusted since the last check, the tree is
            // checked now (B1); just checked, the folder vanished since it was listed.
            Err(RoundsError::SyncFolderGone) if !retried => {
                retried = true;
                let lost = followed.folder_id.clone();
                if trusted_since.is_some() {
                    followed = check_mailbox(ctx, &graph, &user.id, mailbox, Some(&lost)).await?;
                    trusted_since = None;
                } else {
                    followed.folder_id =
                        setup::establish_folder(ctx, &graph, &user.id, mailbox, Some(&lost))
                            .await?;
                }
                setup::ensure_subscription(ctx, &graph, &user.id, mailbox, &followed.folder_id)
                    .await;
            }
            Err(RoundsError::SyncFolderGone) => {
                return Err(ReadError::Invalid(
                    "the Salesforce Contacts folder vanished again as soon as it was set up"
                        .to_owned(),
                ));
            }
            Err(RoundsError::Graph(e)) => return Err(e.into()),
        }
    };
    let folder_id = followed.folder_id;
    // B1: the folder the last completed session read is gone (the user deleted it). Until a
    // session that knows it completes, its mirrors count as removed together (C5 holds the
    // Salesforce deletions that would follow with Auto-removal on).
    let folder_lost = stored.as_ref().is_some_and(|c| c.folder_id != folder_id);

    let mut items = Vec::new();
    let mut removed = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    let mut cursor = ExchangeCursor {
        folder_id: folder_id.clone(),
        delta_links: BTreeMap::new(),
        // A session that checked records when; a trusting one carries the last check forward.
        checked_at: Some(trusted_since.unwrap_or(now)),
    };
    for (folder, round) in rounds {
        let kind = if folder == folder_id {
            FolderKind::SyncFolder
        } else {
            FolderKind::Other
        };
        for item in round.items {
            match item {
                DeltaItem::Removed { id, .. } => {
                    if linked.contains_key(&id) {
                        removed.push(to_item_id(id)?);
                    }
                }
                DeltaItem::Upserted(contact) => {
                    let linked_key = linked.get(&contact.id).cloned();
                    let is_linked = linked_key.is_some();
                    let categorized = contact
                        .categories
                        .iter()
                        .any(|c| c.trim().eq_ignore_ascii_case(SALESFORCE_CATEGORY));
                    // B4: personal contacts elsewhere without the category never leave the mailbox.
                    if kind == FolderKind::Other && !is_linked && !categorized {
                        continue;
                    }
                    if !is_linked {
                        // Delta carries no extended properties: our stamp is looked up below.
                        unknown.push(contact.id.clone());
                    }
                    let mut item = contact
                        .into_exchange_item(kind)
                        .map_err(|e| ReadError::Invalid(e.to_string()))?;
                    // A linked item carries the stamp we wrote; delta just does not show it.
                    if let Some(key) = linked_key {
                        item.sync_key = sync_core::SyncKey::try_from(key.as_str()).ok();
                    }
                    items.push(item);
                }
            }
        }
        cursor.delta_links.insert(folder, round.delta_link);
    }
    stamp_unknown(&graph, mailbox, &mut items, &unknown).await?;
    if folder_lost {
        // The lost folder's mirrors are in Deleted Items or purged: every linked item the full
        // listing did not show is gone, even when the listing is empty (which alone would
        // delete nothing, C5).
        let listed: HashSet<&str> = items.iter().map(|i| i.id.as_str()).collect();
        let already: HashSet<String> = removed.iter().map(|id| id.as_str().to_owned()).collect();
        let mut gone: Vec<&String> = linked
            .keys()
            .filter(|id| !listed.contains(id.as_str()) && !already.contains(*id))
            .collect();
        gone.sort();
        for id in gone {
            removed.push(to_item_id(id.clone())?);
        }
    }

    let changes = ExchangeChanges {
        kind: if complete {
            ReadKind::Complete
        } else {
            ReadKind::Incremental
        },
        items,
        removed,
        folder_lost,
    };
    tracing::info!(
        items = changes.items.len(),
        removed = changes.removed.len(),
        complete,
        folder_lost,
        "Read the mailbox."
    );
    let cursor = serde_json::to_value(&cursor).map_err(StateError::from)?;
    Ok((changes, cursor))
}

/// Why the delta rounds of a session could not be read.
enum RoundsError {
    /// The sync folder's delta answered 404: the folder was deleted for good.
    SyncFolderGone,
    Graph(GraphError),
}

/// Every folder's delta round, resumed from `resume` when given; returns the rounds and whether
/// they are a complete listing. An expired token restarts every folder (a complete listing).
async fn read_rounds(
    graph: &GraphClient,
    mailbox: &str,
    folders: &[String],
    sync_folder: &str,
    resume: Option<&ExchangeCursor>,
) -> Result<(Vec<(String, graph_client::DeltaRound)>, bool), RoundsError> {
    match delta_all(graph, mailbox, folders, sync_folder, resume).await {
        Ok(rounds) => Ok((rounds, resume.is_none())),
        Err(RoundsError::Graph(GraphError::SyncStateNotFound { .. })) if resume.is_some() => {
            tracing::info!("A delta token expired; reading the whole mailbox again.");
            Ok((
                delta_all(graph, mailbox, folders, sync_folder, None).await?,
                true,
            ))
        }
        Err(e) => Err(e),
    }
}

/// One delta round per folder, each from its stored link (or from scratch). A user's folder
/// deleted since it was listed is left out (its contacts are gone with it).
async fn delta_all(
    graph: &GraphClient,
    mailbox: &str,
    folders: &[String],
    sync_folder: &str,
    stored: Option<&ExchangeCursor>,
) -> Result<Vec<(String, graph_client::DeltaRound)>, RoundsError> {
    let mut rounds = Vec::with_capacity(folders.len());
    for folder in folders {
        let resume = stored.and_then(|c| c.delta_links.get(folder));
        match graph.delta_round(mailbox, folder, resume).await {
            Ok(round) => rounds.push((folder.clone(), round)),
            Err(GraphError::Api(e)) if e.is_not_found() && folder == sync_folder => {
                return Err(RoundsError::SyncFolderGone);
            }
            Err(GraphError::Api(e)) if e.is_not_found() && folder != DEFAULT_FOLDER => {
                tracing::info!(folder_id = %folder, "A contact folder was deleted while it was read.");
            }
            Err(e) => return Err(RoundsError::Graph(e)),
        }
    }
    Ok(rounds)
}

/// Fills in the sync key of items seen for the first time (a contact we created and whose link
/// was lost in a crash, a moved-out synced contact, B11), through `$batch` GETs. A lookup that
/// fails fails the read (C4): an item whose stamp is unknown cannot be told from a new contact,
/// and treating it as new would make a second Salesforce Contact and a second mirror. An item
/// gone since the delta (404) has no stamp to find and is kept as read.
async fn stamp_unknown(
    graph: &GraphClient,
    mailbox: &str,
    items: &mut [ExchangeItem],
    unknown: &[String],
) -> Result<(), ReadError> {
    if unknown.is_empty() {
        return Ok(());
    }
    let wanted: HashSet<&str> = unknown.iter().map(String::as_str).collect();
    let results = graph.get_contacts(mailbox, unknown).await;
    let mut keys = std::collections::HashMap::new();
    for (id, result) in unknown.iter().zip(results) {
        match result {
            Ok(Some(contact)) => {
                if let Some(key) = contact.sync_key() {
                    keys.insert(id.clone(), key.to_owned());
                }
            }
            Ok(None) => {}
            Err(error) => {
                return Err(ReadError::Stamp {
                    id: id.clone(),
                    error,
                });
            }
        }
    }
    for item in items.iter_mut() {
        if wanted.contains(item.id.as_str()) {
            item.sync_key = keys
                .get(item.id.as_str())
                .and_then(|k| sync_core::SyncKey::try_from(k.as_str()).ok());
        }
    }
    Ok(())
}

fn to_item_id(id: String) -> Result<GraphItemId, ReadError> {
    GraphItemId::try_from(id).map_err(|e| ReadError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn cursor(checked_at: Option<DateTime<Utc>>) -> ExchangeCursor {
        let link = |f: &str| DeltaLink(format!("https://graph.example/{f}/delta?token=1"));
        ExchangeCursor {
            folder_id: "sync".into(),
            delta_links: ["sync", DEFAULT_FOLDER, "nested"]
                .into_iter()
                .map(|f| (f.to_owned(), link(f)))
                .collect(),
            checked_at,
        }
    }

    #[test]
    fn a_scheduled_or_notified_session_trusts_a_recent_check() {
        let now = Utc::now();
        let stored = cursor(Some(now - chrono::Duration::minutes(59)));
        for trigger in [Trigger::Schedule, Trigger::Notification, Trigger::Pending] {
            assert_eq!(
                plan(Some(&stored), Some("sync"), trigger, now, HOUR),
                MailboxPlan::Trust {
                    cursor: &stored,
                    checked_at: now - chrono::Duration::minutes(59)
                },
                "{trigger:?}"
            );
        }
    }

    #[test]
    fn the_check_runs_when_asked_for_when_due_and_when_the_cursor_is_not_the_folders() {
        let now = Utc::now();
        let recent = cursor(Some(now - chrono::Duration::minutes(1)));
        let old = cursor(Some(now - chrono::Duration::hours(1)));
        let never = cursor(None);
        let check = MailboxPlan::Check;
        assert_eq!(
            plan(Some(&recent), Some("sync"), Trigger::Manual, now, HOUR),
            check(CheckReason::OnDemand)
        );
        assert_eq!(
            plan(Some(&recent), Some("sync"), Trigger::Settings, now, HOUR),
            check(CheckReason::OnDemand)
        );
        assert_eq!(
            plan(Some(&old), Some("sync"), Trigger::Schedule, now, HOUR),
            check(CheckReason::Due)
        );
        assert_eq!(
            plan(
                Some(&recent),
                Some("sync"),
                Trigger::Schedule,
                now,
                Duration::ZERO
            ),
            check(CheckReason::Due),
            "MAILBOX_CHECK_SECS=0 checks at every session"
        );
        assert_eq!(
            plan(Some(&never), Some("sync"), Trigger::Schedule, now, HOUR),
            check(CheckReason::Unknown)
        );
        assert_eq!(
            plan(None, Some("sync"), Trigger::Schedule, now, HOUR),
            check(CheckReason::Unknown)
        );
        assert_eq!(
            plan(Some(&recent), None, Trigger::Schedule, now, HOUR),
            check(CheckReason::Unknown)
        );
        assert_eq!(
            plan(Some(&recent), Some("another"), Trigger::Schedule, now, HOUR),
            check(CheckReason::Unknown)
        );
    }

    #[test]
    fn the_followed_folders_are_the_cursors_the_sync_folder_then_the_default_one_first() {
        let followed = Followed::from_cursor(&cursor(None));
        assert_eq!(followed.all(), ["sync", DEFAULT_FOLDER, "nested"]);
    }

    #[test]
    fn a_cursor_without_a_check_time_still_reads_and_one_with_it_round_trips() {
        let old: ExchangeCursor =
            serde_json::from_value(serde_json::json!({"folder_id": "f", "delta_links": {}}))
                .expect("an old cursor");
        assert_eq!(old.checked_at, None);
        let now = Utc::now();
        let new = cursor(Some(now));
        let json = serde_json::to_value(&new).expect("serialises");
        assert_eq!(
            serde_json::from_value::<ExchangeCursor>(json).expect("reads back"),
            new
        );
    }
}
