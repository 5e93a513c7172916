//! Orgs that failed their onboarding check hold their users' sessions (SPEC §4), against a real
//! PostgreSQL: a trigger is remembered, the scheduler leaves the users alone, and a passing check
//! releases them; re-checks are claimed once across scheduler replicas.

use chrono::{Duration, Utc};
use contracts::Trigger;
use sync_state::org_checks::{self, Problem};
use sync_state::sessions::StartOutcome;
use sync_state::{schedule, trigger, users};

async fn database_with_user() -> store::testing::TestDatabase {
    let db = store::testing::fresh_database().await.expect("database");
    let mut client = db.pool.get().await.expect("client");
    for org in ["o", "p"] {
        client
            .execute(
                "INSERT INTO orgs (id, name, graph_tenant_id, graph_client_id, graph_client_secret,
                                   salesforce_login_url, salesforce_consumer_key, salesforce_private_key)
                 VALUES ($1, 'Org', 't', 'c', '\\x00', 'http://sf', 'k', '\\x00')",
                &[&org],
            )
            .await
            .expect("org");
    }
    let tx = client.transaction().await.expect("tx");
    users::create_user(
        &tx,
        "u0",
        "o",
        "u0@example.com",
        &"005000000000001AAA".parse().expect("a Salesforce id"),
        users::Provider::Exchange,
    )
    .await
    .expect("user");
    let settings = users::ContactSettings {
        enabled: true,
        ..users::ContactSettings::default()
    };
    users::put_settings(&tx, "u0", &settings)
        .await
        .expect("settings");
    tx.commit().await.expect("commit");
    db
}

fn missing_field() -> Problem {
    Problem {
        check: "salesforce_sync_key_field".into(),
        message: "Contact has no field Contactsync_Key__c".into(),
        fix: "deploy the package".into(),
    }
}

#[tokio::test]
async fn a_failing_org_defers_its_users_sessions_until_a_check_passes() {
    let db = database_with_user().await;
    let now = Utc::now();
    let client = db.pool.get().await.expect("client");
    org_checks::record(
        &**client,
        "o",
        &[missing_field()],
        now,
        now + Duration::minutes(1),
    )
    .await
    .expect("recorded");
    assert_eq!(
        org_checks::blocking_user(&**client, "u0")
            .await
            .expect("read")
            .map(|c| c.summary()),
        Some("salesforce_sync_key_field: Contact has no field Contactsync_Key__c".to_owned())
    );

    let outcome = trigger::start(&db.pool, "u0", Trigger::Manual, now)
        .await
        .expect("start");
    assert_eq!(outcome, StartOutcome::Deferred);
    let pending: bool = client
        .query_one(
            "SELECT pending_trigger FROM user_sync_state WHERE user_id = 'u0'",
            &[],
        )
        .await
        .expect("state")
        .get(0);
    assert!(pending, "the trigger is remembered");
    let sessions: i64 = client
        .query_one("SELECT count(*) FROM sync_sessions", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(sessions, 0, "no session starts for a failing org");

    // The scheduler leaves the user alone while the org fails, however due it is.
    {
        let mut c = db.pool.get().await.expect("client");
        let tx = c.transaction().await.expect("tx");
        let due = schedule::claim_due_users(
            &tx,
            now + Duration::hours(2),
            schedule::Intervals::uniform(Duration::minutes(30)),
            1.0,
            10,
        )
        .await
        .expect("claim");
        assert!(due.is_empty(), "{due:?}");
        tx.commit().await.expect("commit");
    }

    // A passing check releases the remembered trigger to the next claim.
    org_checks::record(&**client, "o", &[], now, now + Duration::hours(1))
        .await
        .expect("recorded");
    let mut c = db.pool.get().await.expect("client");
    let tx = c.transaction().await.expect("tx");
    let due = schedule::claim_due_users(
        &tx,
        now,
        schedule::Intervals::uniform(Duration::minutes(30)),
        1.0,
        10,
    )
    .await
    .expect("claim");
    assert_eq!(due, vec![("u0".to_owned(), contracts::Trigger::Pending)]);
    tx.commit().await.expect("commit");
}

#[tokio::test]
async fn orgs_due_a_check_are_claimed_once_across_replicas() {
    let db = database_with_user().await;
    let now = Utc::now();
    let client = db.pool.get().await.expect("client");
    // Never checked: both orgs are due, and a second claim finds them leased.
    let mut first = org_checks::claim_due(&**client, now, Duration::minutes(5), 10)
        .await
        .expect("claim");
    first.sort();
    assert_eq!(first, vec!["o".to_owned(), "p".to_owned()]);
    let again = org_checks::claim_due(&**client, now, Duration::minutes(5), 10)
        .await
        .expect("claim");
    assert!(again.is_empty(), "{again:?}");
    // A lease does not make an org ready or failing: never checked still counts as ready.
    assert!(
        org_checks::blocking_user(&**client, "u0")
            .await
            .expect("read")
            .is_none()
    );
    // A failed check is due again at its own time; the passed one is not.
    org_checks::record(
        &**client,
        "o",
        &[missing_field()],
        now,
        now + Duration::minutes(1),
    )
    .await
    .expect("recorded");
    org_checks::record(&**client, "p", &[], now, now + Duration::hours(1))
        .await
        .expect("recorded");
    let later = now + Duration::minutes(2);
    let due = org_checks::claim_due(&**client, later, Duration::minutes(5), 10)
        .await
        .expect("claim");
    assert_eq!(due, vec!["o".to_owned()]);
    let failing = org_checks::not_ready(&**client).await.expect("read");
    assert_eq!(failing.len(), 1);
    assert_eq!(failing[0].problems, vec![missing_field()]);
}
