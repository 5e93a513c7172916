//! The mass-delete guard's state against a real PostgreSQL (C5 per burst): on-demand sessions
//! (C6), the outcome stored when the session completes, confirmation (also while a session runs)
//! and settled users claimed once.

use chrono::{Duration, Utc};
use contracts::Trigger;
use sync_core::{
    BurstState, DeletionState, Guarded, PendingDeletion, Removal, SalesforceId, SyncKey, Verdict,
};
use sync_state::deletions::{self, Outcome};
use sync_state::sessions::{self, Progress, SessionState, StartOutcome};
use sync_state::{trigger, users};

async fn database_with_users(n: usize) -> store::testing::TestDatabase {
    let db = store::testing::fresh_database().await.expect("database");
    let mut client = db.pool.get().await.expect("client");
    client
        .execute(
            "INSERT INTO orgs (id, name, graph_tenant_id, graph_client_id, graph_client_secret,
                               salesforce_login_url, salesforce_consumer_key, salesforce_private_key)
             VALUES ('o', 'Org', 't', 'c', '\\x00', 'http://sf', 'k', '\\x00')",
            &[],
        )
        .await
        .expect("org");
    let tx = client.transaction().await.expect("tx");
    for i in 0..n {
        let id = format!("u{i}");
        users::create_user(
            &tx,
            &id,
            "o",
            &format!("{id}@example.com"),
            &"005000000000001AAA".parse().expect("a Salesforce id"),
            users::Provider::Exchange,
        )
        .await
        .expect("user");
        let settings = users::ContactSettings {
            enabled: true,
            ..users::ContactSettings::default()
        };
        users::put_settings(&tx, &id, &settings)
            .await
            .expect("settings");
    }
    tx.commit().await.expect("commit");
    db
}

fn started(outcome: StartOutcome) -> uuid::Uuid {
    match outcome {
        StartOutcome::Started(job) => job,
        StartOutcome::Coalesced(job) => panic!("coalesced into {job}"),
        StartOutcome::Deferred => panic!("deferred"),
    }
}

/// A pending mirror deletion of Contact number `n`.
fn pending(n: usize, state: DeletionState) -> PendingDeletion {
    let id = SalesforceId::try_from(format!("003{n:012}")).expect("id");
    PendingDeletion {
        sync_key: SyncKey::for_salesforce(&id),
        removal: Removal::SalesforceDeleted { id },
        state,
        first_seen: Utc::now() - Duration::seconds(5),
    }
}

fn outcome(pending: Vec<PendingDeletion>, carried_out: usize, links: usize) -> Outcome {
    let guarded = Guarded {
        decisions: sync_core::Decisions::empty(),
        settle_until: pending
            .iter()
            .any(|p| p.state == DeletionState::Waiting)
            .then(|| Utc::now() + Duration::seconds(55)),
        pending,
        carried_out,
        verdict: Verdict::Idle,
    };
    Outcome::new(&guarded, links, Utc::now(), Duration::hours(1))
}

/// Decides (stashes `outcome`) and completes `job` as the reconciler does.
async fn complete(db: &store::testing::TestDatabase, user: &str, job: uuid::Uuid, o: &Outcome) {
    let mut client = db.pool.get().await.expect("client");
    let tx = client.transaction().await.expect("tx");
    deletions::stash(&tx, job, o).await.expect("stash");
    deletions::settle_session(&tx, user, job, Utc::now())
        .await
        .expect("settle");
    sessions::finish(&tx, job, SessionState::Succeeded, &Progress::default())
        .await
        .expect("finish");
    tx.commit().await.expect("commit");
}

async fn load(db: &store::testing::TestDatabase, user: &str) -> BurstState {
    let client = db.pool.get().await.expect("client");
    deletions::load(&**client, user, Utc::now(), Duration::hours(1), false)
        .await
        .expect("load")
}

#[tokio::test]
async fn c6_an_on_demand_trigger_makes_its_session_on_demand_even_when_coalesced() {
    let db = database_with_users(1).await;
    let now = Utc::now();
    let note = started(
        trigger::start(&db.pool, "u0", Trigger::Notification, now)
            .await
            .expect("start"),
    );
    let client = db.pool.get().await.expect("client");
    assert!(
        !deletions::session_on_demand(&**client, note)
            .await
            .expect("read")
    );
    // "Sync now" while the notified session runs: the session after it is on demand.
    let coalesced = trigger::start(&db.pool, "u0", Trigger::Manual, now)
        .await
        .expect("start");
    assert_eq!(coalesced, StartOutcome::Coalesced(note));
    let mut client2 = db.pool.get().await.expect("client");
    let tx = client2.transaction().await.expect("tx");
    sessions::finish(&tx, note, SessionState::Succeeded, &Progress::default())
        .await
        .expect("finish");
    let follow = started(
        trigger::start_in(&tx, "u0", Trigger::Pending, now)
            .await
            .expect("follow-up"),
    );
    tx.commit().await.expect("commit");
    assert!(
        deletions::session_on_demand(&**client, follow)
            .await
            .expect("read")
    );
    // The one after that is not, unless asked for.
    let tx = client2.transaction().await.expect("tx");
    sessions::finish(&tx, follow, SessionState::Succeeded, &Progress::default())
        .await
        .expect("finish");
    tx.commit().await.expect("commit");
    let next = started(
        trigger::start(&db.pool, "u0", Trigger::DeletionsDue, now)
            .await
            .expect("start"),
    );
    assert!(
        !deletions::session_on_demand(&**client, next)
            .await
            .expect("read")
    );
    drop((client, client2));
    db.drop_database().await.expect("drop");
}

#[tokio::test]
async fn c5_a_completed_session_stores_its_pending_deletions_window_and_guard_error() {
    let db = database_with_users(1).await;
    let job = started(
        trigger::start(&db.pool, "u0", Trigger::Notification, Utc::now())
            .await
            .expect("start"),
    );
    let mut held: Vec<PendingDeletion> = (0..25).map(|n| pending(n, DeletionState::Held)).collect();
    held.push(pending(99, DeletionState::Waiting));
    complete(&db, "u0", job, &outcome(held, 3, 30)).await;

    let state = load(&db, "u0").await;
    assert_eq!(state.pending.len(), 26);
    assert_eq!(state.recent(Utc::now(), Duration::hours(1)), 3);
    let client = db.pool.get().await.expect("client");
    let view = deletions::view(&**client, "u0").await.expect("view");
    assert_eq!((view.waiting, view.held, view.confirmed), (1, 25, 0));
    assert!(view.settle_until.is_some());
    let error: serde_json::Value = client
        .query_one(
            "SELECT last_error FROM user_sync_state WHERE user_id = 'u0'",
            &[],
        )
        .await
        .expect("state")
        .get(0);
    assert_eq!(error["code"], "mass_delete_guard");
    assert_eq!(error["deletions"], 25);
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("25 of 30"))
    );

    // Confirmed, then carried out by the next session: the error goes, nothing is pending.
    assert_eq!(
        deletions::confirm(&**client, "u0").await.expect("confirm"),
        25
    );
    assert_eq!(deletions::confirm(&**client, "u0").await.expect("again"), 0);
    let view = deletions::view(&**client, "u0").await.expect("view");
    assert_eq!((view.held, view.confirmed), (0, 25));
    let job = started(
        trigger::start(&db.pool, "u0", Trigger::ConfirmDeletions, Utc::now())
            .await
            .expect("start"),
    );
    complete(&db, "u0", job, &outcome(Vec::new(), 1, 5)).await;
    let view = deletions::view(&**client, "u0").await.expect("view");
    assert_eq!(view, deletions::DeletionsView::default());
    let error: Option<serde_json::Value> = client
        .query_one(
            "SELECT last_error FROM user_sync_state WHERE user_id = 'u0'",
            &[],
        )
        .await
        .expect("state")
        .get(0);
    assert_eq!(error, None);
    assert_eq!(
        load(&db, "u0").await.recent(Utc::now(), Duration::hours(1)),
        4
    );
    drop(client);
    db.drop_database().await.expect("drop");
}

#[tokio::test]
async fn c5_a_confirmation_while_a_session_runs_is_not_lost() {
    let db = database_with_users(1).await;
    let job = started(
        trigger::start(&db.pool, "u0", Trigger::Notification, Utc::now())
            .await
            .expect("start"),
    );
    let held: Vec<PendingDeletion> = (0..21).map(|n| pending(n, DeletionState::Held)).collect();
    complete(&db, "u0", job, &outcome(held.clone(), 0, 30)).await;
    // The next session decides with the held deletions; the operator confirms before it ends.
    let job = started(
        trigger::start(&db.pool, "u0", Trigger::Notification, Utc::now())
            .await
            .expect("start"),
    );
    let client = db.pool.get().await.expect("client");
    assert_eq!(
        deletions::confirm(&**client, "u0").await.expect("confirm"),
        21
    );
    complete(&db, "u0", job, &outcome(held, 0, 30)).await;
    let view = deletions::view(&**client, "u0").await.expect("view");
    assert_eq!((view.held, view.confirmed), (0, 21));
    drop(client);
    db.drop_database().await.expect("drop");
}

#[tokio::test]
async fn settled_users_are_claimed_once_and_not_while_a_session_runs() {
    let db = database_with_users(3).await;
    let now = Utc::now();
    let mut client = db.pool.get().await.expect("client");
    client
        .execute(
            "UPDATE user_sync_state SET deletions_settle_at = $1 WHERE user_id IN ('u0', 'u1')",
            &[&(now - Duration::seconds(1))],
        )
        .await
        .expect("settle times");
    // u1 has a session in flight: its settled deletions wait for it.
    started(
        trigger::start(&db.pool, "u1", Trigger::Notification, now)
            .await
            .expect("start"),
    );
    let tx = client.transaction().await.expect("tx");
    let claimed = deletions::claim_settled(&tx, now, Duration::seconds(60), 10)
        .await
        .expect("claim");
    assert_eq!(claimed, vec!["u0".to_owned()]);
    let again = deletions::claim_settled(&tx, now, Duration::seconds(60), 10)
        .await
        .expect("claim");
    assert!(again.is_empty(), "retried only after {again:?}");
    let later =
        deletions::claim_settled(&tx, now + Duration::seconds(61), Duration::seconds(60), 10)
            .await
            .expect("claim");
    assert_eq!(later, vec!["u0".to_owned()]);
    tx.commit().await.expect("commit");
    drop(client);
    db.drop_database().await.expect("drop");
}
