//! One scheduler tick: start the sessions that are due (B3), fail sessions that ran too long,
//! sweep the outbox, and renew Graph subscriptions before they expire.
//!
//! Safe with several replicas: due users are claimed with `FOR UPDATE SKIP LOCKED` and a session
//! is started only when none is in flight for the user (a unique index backs that up).

use chrono::{DateTime, Utc};
use contracts::Trigger;
use sync_state::{StateError, schedule, sessions, subscriptions, trigger, users};

use crate::Ctx;

/// Users claimed per tick: bounds one transaction's size; the next tick takes the rest.
const CLAIM_BATCH: i64 = 500;

/// Why a tick failed; the ticker logs it and tries again on the next tick.
#[derive(Debug, thiserror::Error)]
pub enum TickError {
    #[error("database: {0}")]
    Database(#[from] StateError),
    #[error("broker: {0}")]
    Broker(#[from] messaging::MessagingError),
}

/// What one tick did, for tests and logs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TickReport {
    pub started: usize,
    pub timed_out: usize,
    pub relayed: usize,
    pub renewed: usize,
}

/// Runs one scheduling pass as of `now` (passed in, so tests control the clock).
pub async fn tick(ctx: &Ctx, now: DateTime<Utc>) -> Result<TickReport, TickError> {
    let mut report = TickReport::default();
    {
        let mut client = ctx.pool.get().await.map_err(StateError::from)?;
        let tx = client.transaction().await.map_err(StateError::from)?;
        let timeout = chrono::Duration::from_std(ctx.settings.session_timeout)
            .unwrap_or(chrono::Duration::minutes(15));
        let stale = sessions::fail_stale(&tx, now, timeout).await?;
        for (job_id, user_id) in &stale {
            tracing::warn!(%job_id, %user_id, "A session ran past its timeout and was failed.");
        }
        report.timed_out = stale.len();
        // Idempotency records only need to outlive redeliveries and outbox repeats (minutes);
        // a week is ample and keeps the table small.
        tx.execute(
            "DELETE FROM processed_messages WHERE processed_at < $1",
            &[&(now - chrono::Duration::days(7))],
        )
        .await
        .map_err(StateError::from)?;
        let interval = chrono::Duration::from_std(ctx.settings.sync_interval)
            .unwrap_or(chrono::Duration::minutes(30));
        loop {
            let due = schedule::claim_due_users(&tx, now, interval, CLAIM_BATCH).await?;
            let n = due.len();
            for (user_id, why) in due {
                let kind = if why == "pending" {
                    Trigger::Pending
                } else {
                    Trigger::Schedule
                };
                trigger::start_in(&tx, &user_id, kind, now).await?;
                report.started += 1;
            }
            if (n as i64) < CLAIM_BATCH {
                break;
            }
        }
        tx.commit().await.map_err(StateError::from)?;
    }
    // Also publishes what a crashed peer committed but never relayed.
    report.relayed = pipeline::relay(&ctx.pool, &ctx.publisher).await?;
    report.renewed = renew_subscriptions(ctx, now).await;
    if report != TickReport::default() {
        tracing::info!(
            started = report.started,
            timed_out = report.timed_out,
            relayed = report.relayed,
            renewed = report.renewed,
            "Scheduler tick."
        );
    }
    Ok(report)
}

/// Renews the Graph subscriptions that expire soon; returns how many were renewed. A failure is
/// logged and retried next tick; a subscription Graph no longer knows is forgotten.
async fn renew_subscriptions(ctx: &Ctx, now: DateTime<Utc>) -> usize {
    let before = now
        + chrono::Duration::from_std(ctx.settings.subscription_renew_before)
            .unwrap_or(chrono::Duration::days(1));
    let due = match ctx.pool.get().await {
        Ok(client) => subscriptions::expiring(&**client, before, 100).await,
        Err(e) => Err(StateError::from(e)),
    };
    let due = match due {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(error = %e, "Could not list expiring subscriptions.");
            return 0;
        }
    };
    let mut renewed = 0;
    for subscription in due {
        let result = async {
            let client = ctx.pool.get().await.map_err(|e| e.to_string())?;
            let user = users::get_user(&**client, &subscription.user_id)
                .await
                .map_err(|e| e.to_string())?;
            let graph = ctx
                .clients
                .graph(&user.org_id)
                .await
                .map_err(|e| e.to_string())?;
            let expiry = now + chrono::Duration::minutes(4200);
            match graph.renew_subscription(&subscription.id, expiry).await {
                Ok(renewed) => subscriptions::store(
                    &**client,
                    &subscription.id,
                    &subscription.user_id,
                    &subscription.resource,
                    &subscription.client_state,
                    renewed.expiration_date_time,
                )
                .await
                .map_err(|e| e.to_string()),
                Err(e) if e.disposition() == graph_client::Disposition::PermanentItem => {
                    subscriptions::delete(&**client, &subscription.id)
                        .await
                        .map_err(|e| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            }
        }
        .await;
        match result {
            Ok(()) => renewed += 1,
            Err(e) => {
                tracing::warn!(subscription_id = %subscription.id, error = %e, "Could not renew a subscription.")
            }
        }
    }
    renewed
}
