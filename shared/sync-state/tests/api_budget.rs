//! The Salesforce API budget against a real PostgreSQL (issue 11 §4): an org's reported usage is
//! recorded (a late, older report never overwrites a newer one), and while the org is past its
//! budget share its users' periodic sessions are stretched, while notification and on-demand
//! sessions still start.

use chrono::{DateTime, Duration, Utc};
use contracts::Trigger;
use sync_state::sessions::{self, StartOutcome};
use sync_state::{api_budget, schedule, trigger, users};

const SHARE: f64 = 0.9;

/// Two orgs, `busy` (user `b`) and `calm` (user `c`), each user enabled.
async fn two_orgs() -> store::testing::TestDatabase {
    let db = store::testing::fresh_database().await.expect("database");
    let mut client = db.pool.get().await.expect("client");
    let tx = client.transaction().await.expect("tx");
    for (org, user) in [("busy", "b"), ("calm", "c")] {
        tx.execute(
            "INSERT INTO orgs (id, name, graph_tenant_id, graph_client_id, graph_client_secret,
                               salesforce_login_url, salesforce_consumer_key, salesforce_private_key)
             VALUES ($1, 'Org', 't', 'c', '\\x00', 'http://sf', 'k', '\\x00')",
            &[&org],
        )
        .await
        .expect("org");
        users::create_user(
            &tx,
            user,
            org,
            &format!("{user}@example.com"),
            &"005000000000001AAA".parse().expect("a Salesforce id"),
            users::Provider::Exchange,
        )
        .await
        .expect("user");
        let settings = users::ContactSettings {
            enabled: true,
            ..users::ContactSettings::default()
        };
        users::put_settings(&tx, user, &settings)
            .await
            .expect("settings");
    }
    tx.commit().await.expect("commit");
    db
}

/// Claims due users as the scheduler does at `at`, starts their sessions and ends them at once
/// (as if they had run); returns who was claimed, and why.
async fn tick(db: &store::testing::TestDatabase, at: DateTime<Utc>) -> Vec<(String, Trigger)> {
    let mut client = db.pool.get().await.expect("client");
    let tx = client.transaction().await.expect("tx");
    let due = schedule::claim_due_users(
        &tx,
        at,
        schedule::Intervals::uniform(Duration::minutes(30)),
        SHARE,
        10,
    )
    .await
    .expect("claim");
    for (user, why) in &due {
        trigger::start_in(&tx, user, *why, at).await.expect("start");
    }
    tx.commit().await.expect("commit");
    end_sessions(db).await;
    let mut due = due;
    due.sort_by(|a, b| a.0.cmp(&b.0));
    due
}

/// Ends every session in flight (as if it had run).
async fn end_sessions(db: &store::testing::TestDatabase) {
    let mut client = db.pool.get().await.expect("client");
    let tx = client.transaction().await.expect("tx");
    sessions::fail_stale(&tx, Utc::now() + Duration::days(365), Duration::zero())
        .await
        .expect("end the sessions");
    tx.commit().await.expect("commit");
}

#[tokio::test]
async fn the_last_report_is_recorded_and_an_older_one_never_overwrites_it() {
    let db = two_orgs().await;
    let client = db.pool.get().await.expect("client");
    assert_eq!(
        api_budget::usage(&**client, "busy").await.expect("read"),
        None
    );
    let now = Utc::now();
    api_budget::record(&**client, "busy", 950, 1000, now)
        .await
        .expect("record");
    api_budget::record(&**client, "busy", 900, 1000, now - Duration::seconds(5))
        .await
        .expect("a late report");
    let usage = api_budget::usage(&**client, "busy")
        .await
        .expect("read")
        .expect("recorded");
    assert_eq!((usage.used, usage.limit), (950, 1000));
    assert_eq!(
        api_budget::usage(&**client, "calm").await.expect("read"),
        None
    );
    drop(client);
    db.drop_database().await.expect("drop");
}

#[tokio::test]
async fn an_org_past_its_budget_has_its_periodic_sessions_stretched_but_notifications_still_run() {
    let db = two_orgs().await;
    let t0 = Utc::now() + Duration::seconds(1);
    {
        let client = db.pool.get().await.expect("client");
        api_budget::record(&**client, "busy", 95_000, 100_000, Utc::now())
            .await
            .expect("record");
        api_budget::record(&**client, "calm", 10_000, 100_000, Utc::now())
            .await
            .expect("record");
    }
    // A first session is never held back.
    let first = tick(&db, t0).await;
    assert_eq!(
        first,
        [
            ("b".to_owned(), Trigger::Schedule),
            ("c".to_owned(), Trigger::Schedule)
        ]
    );

    // An interval and a half later: the calm org's user is due, the busy org's is not.
    let later = tick(&db, t0 + Duration::minutes(45)).await;
    assert_eq!(later, [("c".to_owned(), Trigger::Schedule)]);

    // A notification still starts the busy org's user's session at once; one that arrives
    // while it runs is remembered and claimed on the next tick, whatever the budget.
    let notified = trigger::start(&db.pool, "b", Trigger::Notification, Utc::now())
        .await
        .expect("start");
    assert!(matches!(notified, StartOutcome::Started(_)), "{notified:?}");
    let again = trigger::start(&db.pool, "b", Trigger::Notification, Utc::now())
        .await
        .expect("start");
    assert!(matches!(again, StartOutcome::Coalesced(_)), "{again:?}");
    end_sessions(&db).await;
    let pending = tick(&db, t0 + Duration::minutes(46)).await;
    assert!(
        pending.contains(&("b".to_owned(), Trigger::Pending)),
        "{pending:?}"
    );
    // On demand too.
    let manual = trigger::start(&db.pool, "b", Trigger::Manual, Utc::now())
        .await
        .expect("start");
    assert!(matches!(manual, StartOutcome::Started(_)), "{manual:?}");
    end_sessions(&db).await;

    // Four intervals after its last session, the stretched periodic session comes.
    let stretched = tick(&db, Utc::now() + Duration::minutes(121)).await;
    assert!(
        stretched.contains(&("b".to_owned(), Trigger::Schedule)),
        "{stretched:?}"
    );

    // Once the usage falls back under the share, one plain interval is enough again.
    {
        let client = db.pool.get().await.expect("client");
        api_budget::record(&**client, "busy", 50_000, 100_000, Utc::now())
            .await
            .expect("record");
    }
    let normal = tick(&db, Utc::now() + Duration::minutes(121 + 31)).await;
    assert!(
        normal.contains(&("b".to_owned(), Trigger::Schedule)),
        "{normal:?}"
    );
    db.drop_database().await.expect("drop");
}
