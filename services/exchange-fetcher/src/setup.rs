//! B1 on the mailbox side, checked at each full check of the mailbox (see `read`: on demand, when
//! due, and when a delta says the folder is gone): the "Salesforce Contacts" folder and the
//! "Salesforce" master category exist, and are re-created when the user deleted them; and B3: the
//! folder has a change-notification subscription, re-created when Graph removed it (a renewal that
//! answered 404, a `subscriptionRemoved` lifecycle event, an expiry: each only forgets the stored
//! row, and the next session subscribes again). This is the one place subscriptions are created.
//!
//! A deleted folder is noticed without extra requests: the check walks the folder tree anyway
//! (B9), and a folder the user deleted is no longer in it (Exchange's delete is soft: the folder
//! moves under Deleted Items, where its id still resolves and its delta still answers; emptied
//! from there, its delta answers 404 `ErrorItemNotFound`, which the read also treats as a lost
//! folder).

use chrono::Utc;
use graph_client::{ContactFolder, GraphClient, NewSubscription, SubscriptionResource};
use sync_core::SYNC_FOLDER_NAME;
use sync_state::StateError;

use crate::Ctx;
use crate::read::ReadError;

/// The sync folder's id: the remembered one while it is still among the mailbox's folders, else
/// the folder found by name or created (B1), remembered from now on.
pub async fn ensure_folder(
    ctx: &Ctx,
    graph: &GraphClient,
    user_id: &str,
    mailbox: &str,
    known: Option<&str>,
    folders: &[ContactFolder],
) -> Result<String, ReadError> {
    match known {
        Some(id) if folders.iter().any(|f| f.id == id) => Ok(id.to_owned()),
        lost => establish_folder(ctx, graph, user_id, mailbox, lost).await,
    }
}

/// Finds the top-level folder by name or creates it, and remembers it. `lost`: the folder that
/// was remembered and is gone (the user deleted it).
pub async fn establish_folder(
    ctx: &Ctx,
    graph: &GraphClient,
    user_id: &str,
    mailbox: &str,
    lost: Option<&str>,
) -> Result<String, ReadError> {
    let folder = graph.ensure_folder(mailbox, SYNC_FOLDER_NAME).await?;
    {
        let client = ctx.pool.get().await.map_err(StateError::from)?;
        sync_state::mailbox::set_sync_folder(&**client, user_id, &folder.id).await?;
    }
    match lost {
        Some(old) => tracing::info!(old_folder_id = %old, folder_id = %folder.id,
            "The Salesforce Contacts folder was deleted; it is back, and its contacts follow."),
        None => tracing::info!(folder_id = %folder.id, "Set up the Salesforce Contacts folder."),
    }
    Ok(folder.id)
}

/// Makes sure the folder has a live subscription (B3), when notifications are on. Costs one
/// database read when it has: Graph is called only to replace what is missing, expired or on
/// another (deleted) folder. A failure only costs latency: the periodic sessions still run, and
/// the next one tries again.
pub async fn ensure_subscription(
    ctx: &Ctx,
    graph: &GraphClient,
    user_id: &str,
    mailbox: &str,
    folder_id: &str,
) {
    if !ctx.settings.notifications {
        return;
    }
    let wanted = SubscriptionResource::Folder {
        mailbox: mailbox.to_owned(),
        folder_id: folder_id.to_owned(),
    }
    .to_resource();
    let stored = async {
        let client = ctx.pool.get().await.map_err(StateError::from)?;
        sync_state::subscriptions::for_user(&**client, user_id).await
    };
    let stored = match stored.await {
        Ok(stored) => stored,
        Err(e) => {
            tracing::warn!(error = %e, "Could not read the user's subscriptions.");
            return;
        }
    };
    let now = Utc::now();
    let mut live = false;
    for subscription in stored {
        if !live && subscription.resource == wanted && subscription.expires_at > now {
            live = true;
            continue;
        }
        // Expired, on a folder that is gone, or a spare: dropped at Graph (gone already is fine)
        // and forgotten. A delete that fails leaves a subscription whose notifications the
        // webhook no longer knows and drops; it expires on its own.
        if let Err(e) = graph.delete_subscription(&subscription.id).await {
            tracing::info!(subscription_id = %subscription.id, error = %e,
                "Could not delete a stale subscription at Graph; it will expire.");
        }
        let forgotten = async {
            let client = ctx.pool.get().await.map_err(StateError::from)?;
            sync_state::subscriptions::delete(&**client, &subscription.id).await
        };
        if let Err(e) = forgotten.await {
            tracing::warn!(subscription_id = %subscription.id, error = %e,
                "Could not forget a stale subscription.");
        }
    }
    if !live {
        subscribe(ctx, graph, user_id, mailbox, folder_id).await;
    }
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
            match stored.await {
                Ok(()) => tracing::info!(subscription_id = %subscription.id,
                    "Subscribed to the folder's change notifications."),
                Err(e) => tracing::warn!(error = %e, "Could not store the Graph subscription."),
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "Could not subscribe to mailbox changes; periodic sessions still run.")
        }
    }
}
