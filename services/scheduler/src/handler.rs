//! One scheduler tick: start the sessions that are due (B3; stretched for orgs past their
//! Salesforce API budget, issue 11 §4) and those of users whose waiting deletions have settled
//! (C5 bursts), fail sessions that ran too long, sweep the outbox, renew Graph subscriptions
//! before they expire (one Graph removed leads to a session that re-creates it), and check again the orgs whose onboarding check has gone stale (a failing org's users
//! wait for it, SPEC §4).
//!
//! Safe with several replicas: due users are claimed with `FOR UPDATE SKIP LOCKED` and a session
//! is started only when none is in flight for the user (a unique index backs that up).

use chrono::{DateTime, Utc};
use contracts::Trigger;
use sync_state::{
    StateError, deletions, org_checks, schedule, sessions, subscriptions, trigger, users,
};

use crate::Ctx;

/// Users claimed per tick: bounds one transaction's size; the next tick takes the rest.
const CLAIM_BATCH: i64 = 500;
/// A user whose settled deletions got a session is claimed again this long after, should that
/// session fail before judging them (a completed session sets the settle time itself).
const SETTLED_RETRY: chrono::Duration = chrono::Duration::seconds(60);

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
    /// Renewals that failed (retried next tick).
    pub renew_failed: usize,
    /// Subscriptions Graph no longer knew, forgotten.
    pub forgotten: usize,
    /// Orgs checked this tick, and how many of them failed.
    pub orgs_checked: usize,
    pub orgs_failing: usize,
}

/// Runs one scheduling pass as of `now` (passed in, so tests control the clock).
pub async fn tick(ctx: &Ctx, now: DateTime<Utc>) -> Result<TickReport, TickError> {
    let mut report = TickReport::default();
    // Before claiming due users: an org that now passes releases its users in this same tick.
    let (checked, failing) = check_due_orgs(ctx, now).await;
    report.orgs_checked = checked;
    report.orgs_failing = failing;
    {
        let mut client = ctx.pool.get().await.map_err(StateError::from)?;
        let tx = client.transaction().await.map_err(StateError::from)?;
        let timeout = chrono::Duration::from_std(ctx.settings.session_timeout)
            .unwrap_or(chrono::Duration::minutes(15));
        let stale = sessions::fail_stale(&tx, now, timeout).await?;
        for (job_id, user_id) in &stale {
            tracing::warn!(%job_id, %user_id, "A session ran past its timeout and was failed.");
            // Its pending deletions stay as they were (C5); the next session decides them again.
            deletions::drop_stash(&tx, *job_id).await?;
        }
        report.timed_out = stale.len();
        // Idempotency records only need to outlive redeliveries and outbox repeats (minutes);
        // a week is ample and keeps the table small.
        sessions::forget_processed_before(&tx, now - chrono::Duration::days(7)).await?;
        let minutes = |d: std::time::Duration, default: i64| {
            chrono::Duration::from_std(d).unwrap_or(chrono::Duration::minutes(default))
        };
        let intervals = schedule::Intervals {
            exchange: minutes(ctx.settings.sync_interval, 30),
            gmail: minutes(ctx.settings.gmail_sync_interval, 5),
        };
        loop {
            let due = schedule::claim_due_users(
                &tx,
                now,
                intervals,
                ctx.settings.api_budget_share,
                CLAIM_BATCH,
            )
            .await?;
            let n = due.len();
            for (user_id, why) in due {
                trigger::start_in(&tx, &user_id, why, now).await?;
                report.started += 1;
            }
            if (n as i64) < CLAIM_BATCH {
                break;
            }
        }
        // C5 bursts: deletions that waited for their burst to settle are judged now.
        loop {
            let settled = deletions::claim_settled(&tx, now, SETTLED_RETRY, CLAIM_BATCH).await?;
            let n = settled.len();
            for user_id in settled {
                trigger::start_in(&tx, &user_id, Trigger::DeletionsDue, now).await?;
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
    let renewals = renew_subscriptions(ctx, now).await;
    report.renewed = renewals.renewed;
    report.renew_failed = renewals.failed;
    report.forgotten = renewals.forgotten;
    if report != TickReport::default() {
        tracing::info!(
            started = report.started,
            timed_out = report.timed_out,
            relayed = report.relayed,
            renewed = report.renewed,
            renew_failed = report.renew_failed,
            forgotten = report.forgotten,
            orgs_checked = report.orgs_checked,
            orgs_failing = report.orgs_failing,
            "Scheduler tick."
        );
    }
    Ok(report)
}

/// Orgs checked per tick at most: each check costs a few calls to both sides.
const ORG_CHECK_BATCH: i64 = 10;
/// How long a replica holds its claim on an org it checks (longer than a check can take).
const ORG_CHECK_LEASE_SECS: i64 = 300;

/// Checks the orgs whose last check is older than its interval (or that were never checked);
/// returns how many were checked and how many failed. A failure to claim is logged and
/// retried next tick.
async fn check_due_orgs(ctx: &Ctx, now: DateTime<Utc>) -> (usize, usize) {
    let due = match ctx.pool.get().await {
        Ok(client) => {
            org_checks::claim_due(
                &**client,
                now,
                chrono::Duration::seconds(ORG_CHECK_LEASE_SECS),
                ORG_CHECK_BATCH,
            )
            .await
        }
        Err(e) => Err(StateError::from(e)),
    };
    let due = match due {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(error = %e, "Could not claim the orgs due a check.");
            return (0, 0);
        }
    };
    let checks = due.iter().map(|org_id| {
        pipeline::org_check::check_and_record(
            &ctx.pool,
            &ctx.clients,
            org_id,
            ctx.settings.org_checks,
        )
    });
    let mut failing = 0;
    for (org_id, result) in due.iter().zip(futures::future::join_all(checks).await) {
        match result {
            Ok(check) if check.ready => {}
            Ok(check) => {
                failing += 1;
                tracing::warn!(org_id = %org_id, problems = %check.summary(), "An org failed its check; its users' sessions wait.");
            }
            Err(e) => {
                tracing::warn!(org_id = %org_id, error = %e, "Could not check an org.");
            }
        }
    }
    (due.len(), failing)
}

/// What the renewals of one tick came to.
#[derive(Debug, Default)]
struct Renewals {
    renewed: usize,
    failed: usize,
    forgotten: usize,
}

/// Renews the Graph subscriptions that expire soon. A failure is logged and retried next tick; a
/// subscription Graph no longer knows (404) is forgotten and the user's session started, which
/// subscribes again (B3: never silently without notifications).
async fn renew_subscriptions(ctx: &Ctx, now: DateTime<Utc>) -> Renewals {
    let mut renewals = Renewals::default();
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
            renewals.failed += 1;
            return renewals;
        }
    };
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
                .map(|()| false)
                .map_err(|e| e.to_string()),
                // Graph no longer knows it: forget it and run the user's session now, which
                // subscribes again and reads what the lost notifications would have announced.
                Err(e) if e.disposition() == graph_client::Disposition::PermanentItem => {
                    tracing::info!(subscription_id = %subscription.id, user_id = %subscription.user_id,
                        error = %e, "Graph removed a subscription; the user's next session re-creates it.");
                    subscriptions::delete(&**client, &subscription.id)
                        .await
                        .map_err(|e| e.to_string())?;
                    if users::get_settings(&**client, &subscription.user_id)
                        .await
                        .map_err(|e| e.to_string())?
                        .enabled
                    {
                        drop(client);
                        trigger::start(&ctx.pool, &subscription.user_id, Trigger::Schedule, now)
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                    Ok(true)
                }
                Err(e) => Err(e.to_string()),
            }
        }
        .await;
        match result {
            Ok(false) => renewals.renewed += 1,
            Ok(true) => {
                tracing::warn!(subscription_id = %subscription.id, user_id = %subscription.user_id,
                    "Graph no longer knows a subscription; forgotten, and the user's session started to make it again.");
                renewals.forgotten += 1;
            }
            Err(e) => {
                renewals.failed += 1;
                tracing::warn!(subscription_id = %subscription.id, error = %e, "Could not renew a subscription.")
            }
        }
    }
    renewals
}
