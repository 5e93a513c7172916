//! Standing per-item errors (C7) and on-demand requests (SPEC §4 `sync?wait`) against a real
//! PostgreSQL.

use chrono::{Duration, Utc};
use contracts::Trigger;
use sync_state::item_errors::{self, ItemFailure, SessionOutcome};
use sync_state::request::{self, Requested};
use sync_state::sessions::StartOutcome;
use sync_state::{trigger, users};
use uuid::Uuid;

async fn database_with_user() -> store::testing::TestDatabase {
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
    users::create_user(
        &tx,
        "u",
        "o",
        "u@example.com",
        &"005000000000001AAA".parse().expect("a Salesforce id"),
        users::Provider::Exchange,
    )
    .await
    .expect("user");
    let settings = users::ContactSettings {
        enabled: true,
        ..users::ContactSettings::default()
    };
    users::put_settings(&tx, "u", &settings)
        .await
        .expect("settings");
    tx.commit().await.expect("commit");
    db
}

fn failure(key: &str, code: &str, field: Option<&str>) -> ItemFailure {
    ItemFailure {
        item_key: key.into(),
        item: format!("contact {key}"),
        code: code.into(),
        field: field.map(str::to_owned),
        message: format!("{code} on {key}"),
        graph_id: Some(format!("AAMk-{key}")),
        salesforce_id: None,
    }
}

async fn record(
    db: &store::testing::TestDatabase,
    at: chrono::DateTime<Utc>,
    outcome: SessionOutcome,
) {
    let mut client = db.pool.get().await.expect("client");
    let tx = client.transaction().await.expect("tx");
    item_errors::record_session(&tx, "u", Uuid::now_v7(), at, &outcome)
        .await
        .expect("record");
    tx.commit().await.expect("commit");
}

async fn current(db: &store::testing::TestDatabase) -> Vec<item_errors::CurrentItemError> {
    let client = db.pool.get().await.expect("client");
    item_errors::current(&**client, "u").await.expect("current")
}

#[tokio::test]
async fn c7_an_error_stays_with_its_first_since_until_the_item_syncs_or_goes() {
    let db = database_with_user().await;
    let t0 = Utc::now() - Duration::minutes(10);
    record(
        &db,
        t0,
        SessionOutcome {
            failures: vec![
                failure("a", "INVALID_EMAIL_ADDRESS", Some("Email")),
                failure("b", "STRING_TOO_LONG", Some("LastName")),
                failure("c", "REQUIRED_FIELD_MISSING", None),
            ],
            ..SessionOutcome::default()
        },
    )
    .await;
    // The next session skips every item: nothing is forgotten.
    record(&db, t0 + Duration::minutes(1), SessionOutcome::default()).await;
    assert_eq!(current(&db).await.len(), 3);

    // `a` fails again the same way (since kept), `b` now fails on another field (since anew),
    // and `c` synced: it goes even though the session reported something for other items.
    let t2 = t0 + Duration::minutes(2);
    record(
        &db,
        t2,
        SessionOutcome {
            failures: vec![
                failure("a", "INVALID_EMAIL_ADDRESS", Some("Email")),
                failure("b", "STRING_TOO_LONG", Some("FirstName")),
            ],
            // `a` is listed as synced too (a fallback row was stored): a reported failure wins.
            cleared: vec!["a".into(), "c".into()],
            ..SessionOutcome::default()
        },
    )
    .await;
    let now = current(&db).await;
    assert_eq!(now.len(), 2, "{now:?}");
    let a = now.iter().find(|e| e.item == "contact a").expect("a");
    assert_eq!(
        a.since.timestamp_micros(),
        t0.timestamp_micros(),
        "since kept"
    );
    let b = now.iter().find(|e| e.item == "contact b").expect("b");
    assert_eq!(b.field.as_deref(), Some("FirstName"));
    assert_eq!(
        b.since.timestamp_micros(),
        t2.timestamp_micros(),
        "a new failure"
    );
    assert!(now.iter().all(|e| e.item != "contact c"));

    // An item known only by its mailbox id (no sync key yet) goes once that item synced.
    record(
        &db,
        t2,
        SessionOutcome {
            failures: vec![ItemFailure {
                item_key: "graph:AAMk-x".into(),
                ..failure("x", "KEY_CONFLICT", None)
            }],
            ..SessionOutcome::default()
        },
    )
    .await;
    assert_eq!(current(&db).await.len(), 3);
    record(
        &db,
        t2,
        SessionOutcome {
            cleared: vec!["a".into(), "b".into()],
            synced_graph_ids: vec!["AAMk-x".into()],
            ..SessionOutcome::default()
        },
    )
    .await;
    assert!(current(&db).await.is_empty());
    db.drop_database().await.expect("drop");
}

#[tokio::test]
async fn a_request_joins_a_session_not_yet_reading_and_reserves_the_follow_up_of_one_that_is() {
    let db = database_with_user().await;
    let now = Utc::now();
    let Requested::Started(first) = request::request(&db.pool, "u", Trigger::Manual, now)
        .await
        .expect("request")
    else {
        panic!("no session in flight: one is started");
    };
    let joined = request::request(&db.pool, "u", Trigger::Manual, now)
        .await
        .expect("request");
    assert_eq!(joined, Requested::Joined(first));

    let client = db.pool.get().await.expect("client");
    assert!(request::mark_reading(&**client, first).await.expect("mark"));
    let Requested::Queued(reserved) = request::request(&db.pool, "u", Trigger::Manual, now)
        .await
        .expect("request")
    else {
        panic!("the session reads: the request waits for the next");
    };
    assert_ne!(reserved, first);
    assert_eq!(
        request::request(&db.pool, "u", Trigger::Manual, now)
            .await
            .expect("request"),
        Requested::Queued(reserved),
        "one reservation for every waiting request"
    );
    // Other triggers still coalesce into the session in flight (B3).
    assert_eq!(
        trigger::start(&db.pool, "u", Trigger::Notification, now)
            .await
            .expect("start"),
        StartOutcome::Coalesced(first)
    );
    client
        .execute(
            "UPDATE sync_sessions SET state = 'succeeded' WHERE job_id = $1",
            &[&first],
        )
        .await
        .expect("finish");
    assert_eq!(
        trigger::start(&db.pool, "u", Trigger::Pending, now)
            .await
            .expect("start"),
        StartOutcome::Started(reserved),
        "the next session takes the reserved id"
    );
    // The reservation is used up; a finished session is never marked.
    assert!(!request::mark_reading(&**client, first).await.expect("mark"));
    let reserved_left: Option<Uuid> = client
        .query_one(
            "SELECT pending_job_id FROM user_sync_state WHERE user_id = 'u'",
            &[],
        )
        .await
        .expect("state")
        .get(0);
    assert_eq!(reserved_left, None);
    drop(client);
    db.drop_database().await.expect("drop");
}
