//! The mailbox read of one session (B1, B4, B8, B9, B11): ensure the folder and category, run the
//! Graph delta of every contact folder from its stored deltaLink, keep the sync folder's items and
//! only those of other folders that carry the category or are linked, and look up our stamp on
//! items we do not know yet.

use std::collections::{BTreeMap, HashSet};

use chrono::Utc;
use contracts::SyncJob;
use graph_client::{
    CategoryColor, DeltaItem, DeltaLink, GraphClient, GraphError, NewSubscription,
    SubscriptionResource,
};
use serde::{Deserialize, Serialize};
use sync_core::{
    ExchangeChanges, ExchangeItem, FolderKind, GraphItemId, ReadKind, SALESFORCE_CATEGORY,
    SYNC_FOLDER_NAME,
};
use sync_state::StateError;
use sync_state::links::{self, CursorSide};
use sync_state::users;

use crate::Ctx;

/// The well-known name of the default contact folder (it is not in the folder list).
pub const DEFAULT_FOLDER: &str = "contacts";

/// Why a mailbox read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Clients(#[from] pipeline::ClientError),
    #[error("{0}")]
    Invalid(String),
}

/// Where the mailbox side stands: the sync folder it was read for and each folder's deltaLink.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeCursor {
    pub folder_id: String,
    pub delta_links: BTreeMap<String, DeltaLink>,
}

/// Reads the mailbox side of a session; returns the changes and the cursor after them.
#[tracing::instrument(skip_all, fields(user_id = %job.header.user_id, job_id = %job.header.job_id))]
pub async fn read_mailbox(
    ctx: &Ctx,
    job: &SyncJob,
) -> Result<(ExchangeChanges, serde_json::Value), ReadError> {
    let client = ctx.pool.get().await.map_err(StateError::from)?;
    let user = users::get_user(&**client, &job.header.user_id).await?;
    let graph = ctx.clients.graph(&user.org_id).await?;
    let mailbox = user.mailbox.as_str();

    let folder_id = ensure_setup(ctx, &graph, &user.id, mailbox).await?;
    let stored: Option<ExchangeCursor> =
        links::load_cursor(&**client, &user.id, CursorSide::Exchange)
            .await?
            .map(serde_json::from_value)
            .transpose()
            .map_err(StateError::from)?
            .filter(|c: &ExchangeCursor| c.folder_id == folder_id);
    let linked = links::linked_graph_ids(&**client, &user.id).await?;
    drop(client);

    // Every contact folder: ours, the default one, and the user's others (B9 looks there).
    let mut folders = vec![folder_id.clone(), DEFAULT_FOLDER.to_owned()];
    for folder in graph.list_contact_folders(mailbox).await? {
        if folder.id != folder_id {
            folders.push(folder.id);
        }
    }
    let (rounds, complete) = match delta_all(&graph, mailbox, &folders, stored.as_ref()).await {
        Ok(rounds) => (rounds, stored.is_none()),
        // A token expired: every folder starts over, and the read is a complete listing.
        Err(GraphError::SyncStateNotFound { .. }) => {
            tracing::info!("A delta token expired; reading the whole mailbox again.");
            (delta_all(&graph, mailbox, &folders, None).await?, true)
        }
        Err(e) => return Err(e.into()),
    };

    let mut items = Vec::new();
    let mut removed = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    let mut cursor = ExchangeCursor {
        folder_id: folder_id.clone(),
        delta_links: BTreeMap::new(),
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
    stamp_unknown(&graph, mailbox, &mut items, &unknown).await;

    let changes = ExchangeChanges {
        kind: if complete {
            ReadKind::Complete
        } else {
            ReadKind::Incremental
        },
        items,
        removed,
    };
    tracing::info!(
        items = changes.items.len(),
        removed = changes.removed.len(),
        complete,
        "Read the mailbox."
    );
    let cursor = serde_json::to_value(&cursor).map_err(StateError::from)?;
    Ok((changes, cursor))
}

/// One delta round per folder, each from its stored link (or from scratch).
async fn delta_all(
    graph: &GraphClient,
    mailbox: &str,
    folders: &[String],
    stored: Option<&ExchangeCursor>,
) -> Result<Vec<(String, graph_client::DeltaRound)>, GraphError> {
    let mut rounds = Vec::with_capacity(folders.len());
    for folder in folders {
        let resume = stored.and_then(|c| c.delta_links.get(folder));
        let round = graph.delta_round(mailbox, folder, resume).await?;
        rounds.push((folder.clone(), round));
    }
    Ok(rounds)
}

/// Fills in the sync key of items seen for the first time (a contact we created and whose link
/// was lost in a crash, a moved-out synced contact, B11), through `$batch` GETs. An item whose
/// lookup fails keeps no stamp, which only means it is treated as new.
async fn stamp_unknown(
    graph: &GraphClient,
    mailbox: &str,
    items: &mut [ExchangeItem],
    unknown: &[String],
) {
    if unknown.is_empty() {
        return;
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
            Err(e) => tracing::warn!(error = %e, "Could not read an item's stamp."),
        }
    }
    for item in items.iter_mut() {
        if wanted.contains(item.id.as_str()) {
            item.sync_key = keys
                .get(item.id.as_str())
                .and_then(|k| sync_core::SyncKey::try_from(k.as_str()).ok());
        }
    }
}

/// B1: the folder and the category, created once and remembered; plus the change-notification
/// subscription on the folder when the gateway is reachable for Graph.
async fn ensure_setup(
    ctx: &Ctx,
    graph: &GraphClient,
    user_id: &str,
    mailbox: &str,
) -> Result<String, ReadError> {
    let client = ctx.pool.get().await.map_err(StateError::from)?;
    let known: Option<String> = client
        .query_one(
            "SELECT graph_folder_id FROM user_sync_state WHERE user_id = $1",
            &[&user_id],
        )
        .await
        .map_err(StateError::from)?
        .get(0);
    if let Some(folder_id) = known {
        return Ok(folder_id);
    }
    let folder = graph.ensure_folder(mailbox, SYNC_FOLDER_NAME).await?;
    graph
        .ensure_category(mailbox, SALESFORCE_CATEGORY, CategoryColor::Preset(7))
        .await?;
    client
        .execute(
            "UPDATE user_sync_state SET graph_folder_id = $2 WHERE user_id = $1",
            &[&user_id, &folder.id],
        )
        .await
        .map_err(StateError::from)?;
    tracing::info!(folder_id = %folder.id, "Created the Salesforce Contacts folder and category.");
    if ctx.settings.notifications {
        subscribe(ctx, graph, user_id, mailbox, &folder.id).await;
    }
    Ok(folder.id)
}

/// Subscribes to changes in the folder so the gateway hears of them within seconds (B3). A
/// failure only costs latency: the periodic session still runs.
async fn subscribe(ctx: &Ctx, graph: &GraphClient, user_id: &str, mailbox: &str, folder_id: &str) {
    let base = ctx
        .settings
        .common
        .public_base_url
        .as_str()
        .trim_end_matches('/');
    let client_state = format!("cs-{}", uuid::Uuid::new_v4().simple());
    let new = NewSubscription {
        resource: SubscriptionResource::Folder {
            mailbox: mailbox.to_owned(),
            folder_id: folder_id.to_owned(),
        },
        notification_url: format!("{base}/webhooks/graph"),
        lifecycle_notification_url: Some(format!("{base}/webhooks/graph")),
        client_state: client_state.clone(),
        expiration: Utc::now() + chrono::Duration::minutes(4200),
    };
    match graph.create_subscription(&new).await {
        Ok(subscription) => {
            let stored = async {
                let client = ctx.pool.get().await.map_err(StateError::from)?;
                sync_state::subscriptions::store(
                    &**client,
                    &subscription.id,
                    user_id,
                    &new.resource.to_resource(),
                    &client_state,
                    subscription.expiration_date_time,
                )
                .await
            };
            if let Err(e) = stored.await {
                tracing::warn!(error = %e, "Could not store the Graph subscription.");
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "Could not subscribe to mailbox changes; periodic sessions still run.")
        }
    }
}

fn to_item_id(id: String) -> Result<GraphItemId, ReadError> {
    GraphItemId::try_from(id).map_err(|e| ReadError::Invalid(e.to_string()))
}
