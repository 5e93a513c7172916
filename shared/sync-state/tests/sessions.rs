//! The session and scheduling invariants against a real PostgreSQL: one session in flight per user
//! with the trigger remembered (B3), and due users claimed once across scheduler replicas.

use chrono::{Duration, Utc};
use contracts::Trigger;
use sync_state::sessions::StartOutcome;
use sync_state::{schedule, trigger, users};

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

#[tokio::test]
async fn b3_a_second_trigger_while_a_session_runs_is_remembered_not_started() {
    let db = database_with_users(1).await;
    let now = Utc::now();
    let first = trigger::start(&db.pool, "u0", Trigger::Manual, now)
        .await
        .expect("start");
    let StartOutcome::Started(job) = first else {
        panic!("the first trigger starts a session: {first:?}");
    };
    let second = trigger::start(&db.pool, "u0", Trigger::Notification, now)
        .await
        .expect("start");
    assert_eq!(second, StartOutcome::Coalesced(job));
    let client = db.pool.get().await.expect("client");
    let pending: bool = client
        .query_one(
            "SELECT pending_trigger FROM user_sync_state WHERE user_id = 'u0'",
            &[],
        )
        .await
        .expect("state")
        .get(0);
    assert!(pending, "the trigger is remembered for after the session");
    let jobs: i64 = client
        .query_one("SELECT count(*) FROM outbox", &[])
        .await
        .expect("outbox")
        .get(0);
    assert_eq!(jobs, 1, "one job message for one session");
    drop(client);
    db.drop_database().await.expect("drop");
}

#[tokio::test]
async fn due_users_are_claimed_by_one_replica_only_and_not_again_within_the_interval() {
    let db = database_with_users(3).await;
    let now = Utc::now() + Duration::seconds(1);
    let interval = Duration::minutes(30);
    let mut a = db.pool.get().await.expect("client a");
    let mut b = db.pool.get().await.expect("client b");
    let tx_a = a.transaction().await.expect("tx a");
    let tx_b = b.transaction().await.expect("tx b");
    let claimed_a = schedule::claim_due_users(&tx_a, now, interval, 1.0, 10)
        .await
        .expect("claim a");
    let claimed_b = schedule::claim_due_users(&tx_b, now, interval, 1.0, 10)
        .await
        .expect("claim b");
    assert_eq!(claimed_a.len(), 3, "{claimed_a:?}");
    assert!(
        claimed_b.is_empty(),
        "rows another replica holds are skipped: {claimed_b:?}"
    );
    tx_a.commit().await.expect("commit");
    tx_b.commit().await.expect("commit");
    let tx = a.transaction().await.expect("tx");
    let again = schedule::claim_due_users(&tx, now, interval, 1.0, 10)
        .await
        .expect("claim");
    assert!(
        again.is_empty(),
        "the next periodic run is an interval away: {again:?}"
    );
    let later = schedule::claim_due_users(&tx, now + interval, interval, 1.0, 10)
        .await
        .expect("claim");
    assert_eq!(later.len(), 3, "{later:?}");
    tx.commit().await.expect("commit");
    drop((a, b));
    db.drop_database().await.expect("drop");
}
