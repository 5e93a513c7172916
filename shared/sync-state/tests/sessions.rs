//! The session and scheduling invariants against a real PostgreSQL: one session in flight per user
//! with the trigger remembered (B3), due users claimed once across scheduler replicas, and a
//! writing session's decisions and results kept per write batch (issue 12), a session written
//! before that still finishing from its own row.

use chrono::{Duration, Utc};
use contracts::Trigger;
use serde_json::{Value, json};
use sync_state::session_batches::{self, BatchDecisions, BatchSide};
use sync_state::sessions::{
    self, BatchDone, Cursors, Progress, SessionState, StartOutcome, StoredDecisions,
};
use sync_state::{schedule, trigger, users};

async fn database_with_users(n: usize) -> store::testing::TestDatabase {
    database_with_users_at(None, n).await
}

/// `n` users with sync on, in a database migrated up to `version` (`None`: all).
async fn database_with_users_at(version: Option<i32>, n: usize) -> store::testing::TestDatabase {
    let db = store::testing::fresh_database_at(version)
        .await
        .expect("database");
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
        if version.is_some_and(|v| v < 13) {
            // Users as registered before V13 (no provider column yet).
            tx.execute(
                "INSERT INTO users (id, org_id, mailbox, salesforce_user_id)
                 VALUES ($1, 'o', $1 || '@example.com', '005000000000001AAA')",
                &[&id],
            )
            .await
            .expect("user");
            tx.execute("INSERT INTO user_sync_state (user_id) VALUES ($1)", &[&id])
                .await
                .expect("user state");
        } else {
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
        }
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
    let claimed_a =
        schedule::claim_due_users(&tx_a, now, schedule::Intervals::uniform(interval), 1.0, 10)
            .await
            .expect("claim a");
    let claimed_b =
        schedule::claim_due_users(&tx_b, now, schedule::Intervals::uniform(interval), 1.0, 10)
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
    let again =
        schedule::claim_due_users(&tx, now, schedule::Intervals::uniform(interval), 1.0, 10)
            .await
            .expect("claim");
    assert!(
        again.is_empty(),
        "the next periodic run is an interval away: {again:?}"
    );
    let later = schedule::claim_due_users(
        &tx,
        now + interval,
        schedule::Intervals::uniform(interval),
        1.0,
        10,
    )
    .await
    .expect("claim");
    assert_eq!(later.len(), 3, "{later:?}");
    tx.commit().await.expect("commit");
    drop((a, b));
    db.drop_database().await.expect("drop");
}

/// G1/B3: Gmail has no change notifications for contacts, so its users come round on their own
/// (shorter) interval while Exchange users keep theirs.
#[tokio::test]
async fn gmail_users_are_due_on_their_own_interval() {
    let db = database_with_users(1).await;
    {
        let mut client = db.pool.get().await.expect("client");
        let tx = client.transaction().await.expect("tx");
        users::create_user(
            &tx,
            "gina",
            "o",
            "gina@example.com",
            &"005000000000001AAA".parse().expect("a Salesforce id"),
            users::Provider::Gmail,
        )
        .await
        .expect("gmail user");
        let settings = users::ContactSettings {
            enabled: true,
            ..users::ContactSettings::default()
        };
        users::put_settings(&tx, "gina", &settings)
            .await
            .expect("settings");
        tx.commit().await.expect("commit");
        assert_eq!(
            users::get_user(&**client, "gina")
                .await
                .expect("read")
                .provider,
            users::Provider::Gmail
        );
    }
    let intervals = schedule::Intervals {
        exchange: Duration::minutes(30),
        gmail: Duration::minutes(5),
    };
    let now = Utc::now() + Duration::seconds(1);
    let mut client = db.pool.get().await.expect("client");
    let claim = async |client: &mut deadpool_postgres::Object, at| {
        let tx = client.transaction().await.expect("tx");
        let mut due: Vec<String> = schedule::claim_due_users(&tx, at, intervals, 1.0, 10)
            .await
            .expect("claim")
            .into_iter()
            .map(|(user, _)| user)
            .collect();
        tx.commit().await.expect("commit");
        due.sort();
        due
    };
    assert_eq!(claim(&mut client, now).await, ["gina", "u0"]);
    assert_eq!(
        claim(&mut client, now + Duration::minutes(5)).await,
        ["gina"],
        "five minutes on, only the Gmail user is due again"
    );
    assert_eq!(
        claim(&mut client, now + Duration::minutes(30)).await,
        ["gina", "u0"]
    );
    drop(client);
    db.drop_database().await.expect("drop");
}

/// C3 (issue 12): change notifications that arrive while the user's session writes are
/// remembered with the items they name; when the session closes, notifications that only echoed
/// its own writes (items now linked at the notified changeKey; deletions of unlinked items)
/// start no follow-up. One that names a user's edit, or any other trigger, still does.
#[tokio::test]
async fn notifications_that_only_echo_the_running_sessions_writes_start_no_follow_up() {
    use sync_state::links::{self, NotifiedItem};
    let db = database_with_users(1).await;
    let item = |id: &str, key: Option<&str>, deleted: bool| NotifiedItem {
        graph_id: id.to_owned(),
        change_key: key.map(str::to_owned),
        deleted,
    };
    // The session wrote item G1 (changeKey CK-ours) and deleted G9.
    let link = sync_core::Link {
        sync_key: "k1".try_into().expect("key"),
        salesforce_id: None,
        graph_id: Some("G1".try_into().expect("id")),
        origin: sync_core::Origin::Salesforce,
        baseline: sync_core::Contact::default(),
        account_name: None,
        snapshot: None,
        change_key: Some("CK-ours".into()),
        rejected: None,
        synced_at: Utc::now(),
    };
    type Notifications = Vec<Option<Vec<NotifiedItem>>>;
    let cases: [(&str, Notifications, bool); 4] = [
        (
            "only echoes",
            vec![
                Some(vec![item("G1", Some("CK-ours"), false)]),
                Some(vec![item("G1", Some("CK-ours"), false)]),
            ],
            false,
        ),
        (
            "a user's edit among them",
            vec![
                Some(vec![item("G1", Some("CK-ours"), false)]),
                Some(vec![item("G1", Some("CK-users"), false)]),
            ],
            true,
        ),
        (
            "a notification naming no item",
            vec![Some(vec![item("G1", Some("CK-ours"), false)]), None],
            true,
        ),
        (
            "a new contact of the user's",
            vec![Some(vec![item("G2", Some("CK-new"), false)])],
            true,
        ),
    ];
    for (case, notifications, follow_up) in cases {
        // Each case begins before the session stored its link.
        db.pool
            .get()
            .await
            .expect("client")
            .execute("DELETE FROM contact_links WHERE user_id = 'u0'", &[])
            .await
            .expect("no link yet");
        let job = started(
            trigger::start(&db.pool, "u0", Trigger::Manual, Utc::now())
                .await
                .expect("start"),
        );
        for notified in &notifications {
            let outcome = match notified {
                Some(items) => {
                    trigger::start_notified(
                        &db.pool,
                        "u0",
                        Trigger::Notification,
                        items,
                        Utc::now(),
                    )
                    .await
                }
                None => trigger::start(&db.pool, "u0", Trigger::Notification, Utc::now())
                    .await
                    .map(Some),
            }
            .expect("notified");
            assert_eq!(outcome, Some(StartOutcome::Coalesced(job)), "{case}");
        }
        let mut client = db.pool.get().await.expect("client");
        let tx = client.transaction().await.expect("tx");
        links::apply_link_updates(
            &tx,
            "u0",
            &[sync_core::LinkUpdate::Upsert(Box::new(link.clone()))],
        )
        .await
        .expect("links");
        let finished = sessions::finish(&tx, job, SessionState::Succeeded, &Progress::default())
            .await
            .expect("finish")
            .expect("was in flight");
        assert_eq!(finished.pending_trigger, follow_up, "{case}");
        // As the reconciler does: a remembered trigger starts the next session.
        if finished.pending_trigger {
            let next = trigger::start_in(&tx, "u0", Trigger::Pending, Utc::now())
                .await
                .expect("follow-up");
            let next = started(next);
            sessions::finish(&tx, next, SessionState::Succeeded, &Progress::default())
                .await
                .expect("finish");
        }
        tx.commit().await.expect("commit");
    }
    // With the session closed and its links stored, a late echo starts nothing at all, and a
    // user's edit a session.
    let late = trigger::start_notified(
        &db.pool,
        "u0",
        Trigger::Notification,
        &[item("G1", Some("CK-ours"), false)],
        Utc::now(),
    )
    .await
    .expect("late echo");
    assert_eq!(late, None);
    let unlinked_deletion = trigger::start_notified(
        &db.pool,
        "u0",
        Trigger::Notification,
        &[item("G9", None, true)],
        Utc::now(),
    )
    .await
    .expect("a deletion of an item no link points at");
    assert_eq!(unlinked_deletion, None);
    let edit = trigger::start_notified(
        &db.pool,
        "u0",
        Trigger::Notification,
        &[item("G1", Some("CK-users"), false)],
        Utc::now(),
    )
    .await
    .expect("edit");
    assert!(matches!(edit, Some(StartOutcome::Started(_))), "{edit:?}");
    db.drop_database().await.expect("drop");
}

fn started(outcome: StartOutcome) -> uuid::Uuid {
    match outcome {
        StartOutcome::Started(job_id) => job_id,
        other => panic!("expected a new session, got {other:?}"),
    }
}

/// A Graph batch's part of the decisions about as large as a real one: 100 creates, each with
/// a contact's fields, and their planned link rows. The batch's number makes each one its own;
/// the rest is the same for every batch, so that building 2,000 of them stays quick.
fn batch_decisions(template: &Value, batch: usize) -> BatchDecisions {
    BatchDecisions {
        side: BatchSide::Exchange,
        decisions: json!({"batch": batch, "part": template.clone()}),
    }
}

fn batch_template() -> Value {
    let contact = |n: usize| {
        json!({
            "givenName": format!("Given{n}"), "surname": format!("Surname{n}"),
            "emailAddresses": [{"address": format!("person{n}@contoso.example"), "name": "x"}],
            "businessPhones": ["+1 425 555 0100"], "companyName": "Contoso Ltd",
            "jobTitle": "Purchasing manager", "categories": ["Salesforce"]
        })
    };
    let keys = (0..100).map(|n| format!("sf:003000000000{n:06}AAA"));
    let commands: Vec<Value> = keys
        .clone()
        .enumerate()
        .map(|(n, key)| json!({"op": "create", "sync_key": key, "fields": contact(n)}))
        .collect();
    let links: Vec<Value> = keys
        .enumerate()
        .map(|(n, key)| json!([n, {"op": "upsert", "sync_key": key, "baseline": contact(n)}]))
        .collect();
    json!({"commands": {"side": "exchange", "commands": commands}, "links": links})
}

/// A batch's results; `attempt` tells a repeat apart from the first.
fn batch_results(batch: usize, attempt: &str) -> Value {
    json!({"batch": batch, "attempt": attempt})
}

async fn lock_writing(
    db: &store::testing::TestDatabase,
    job_id: uuid::Uuid,
) -> sessions::WritingSession {
    let mut client = db.pool.get().await.expect("client");
    let tx = client.transaction().await.expect("tx");
    let session = sessions::lock_writing_session(&tx, job_id)
        .await
        .expect("lock")
        .expect("the session is writing");
    tx.commit().await.expect("commit");
    session
}

#[tokio::test]
async fn a_session_of_2000_write_batches_keeps_each_batchs_decisions_and_results_and_counts_a_repeat_once()
 {
    const BATCHES: usize = 2_000;
    let db = database_with_users(1).await;
    let job_id = started(
        trigger::start(&db.pool, "u0", Trigger::Manual, Utc::now())
            .await
            .expect("start"),
    );
    let template = batch_template();
    let batches: Vec<BatchDecisions> = (0..BATCHES)
        .map(|n| batch_decisions(&template, n))
        .collect();
    let session_wide = json!({"errors": [], "guard": {"state": "clear"}});
    let mut client = db.pool.get().await.expect("client");
    let tx = client.transaction().await.expect("tx");
    sessions::begin_writing(
        &tx,
        job_id,
        &session_wide,
        &batches,
        &Cursors::default(),
        &Progress::default(),
    )
    .await
    .expect("begin writing");
    tx.commit().await.expect("commit");

    let session = lock_writing(&db, job_id).await;
    assert_eq!(session.pending_batches, BATCHES as i32);
    assert_eq!(session.decisions, StoredDecisions::PerBatch(session_wide));
    let (largest, session_row): (i32, i32) = {
        let row = client
            .query_one(
                "SELECT (SELECT max(pg_column_size(decisions)) FROM session_batches WHERE job_id = $1),
                        (SELECT pg_column_size(s.*) FROM sync_sessions s WHERE job_id = $1)",
                &[&job_id],
            )
            .await
            .expect("sizes");
        (row.get(0), row.get(1))
    };
    assert!(
        largest < 1 << 20,
        "a batch row holds one batch: {largest} bytes"
    );
    assert!(
        session_row < 4 << 10,
        "the session row stays small: {session_row} bytes"
    );

    for batch in 0..BATCHES {
        let tx = client.transaction().await.expect("tx");
        let session = sessions::lock_writing_session(&tx, job_id)
            .await
            .expect("lock")
            .expect("writing");
        let done = sessions::batch_done(
            &tx,
            job_id,
            &session,
            batch as u32,
            &batch_results(batch, "first"),
            &session.progress,
        )
        .await
        .expect("batch done");
        assert_eq!(
            done,
            BatchDone::Counted {
                remaining: (BATCHES - batch - 1) as i32
            }
        );
        if batch == 7 {
            // The same batch's results again (a copy whose idempotency record is gone).
            let repeat = sessions::batch_done(
                &tx,
                job_id,
                &session,
                7,
                &batch_results(7, "again"),
                &session.progress,
            )
            .await
            .expect("repeat");
            assert_eq!(repeat, BatchDone::Repeated);
        }
        tx.commit().await.expect("commit");
    }

    let tx = client.transaction().await.expect("tx");
    let stored = session_batches::load(&tx, job_id).await.expect("load");
    assert_eq!(stored.len(), BATCHES);
    for (n, batch) in stored.iter().enumerate() {
        assert_eq!(batch.batch, n as i32);
        assert_eq!(batch.side, BatchSide::Exchange);
        assert_eq!(batch.decisions, batches[n].decisions, "batch {n}");
        let first = batch_results(n, "first");
        assert_eq!(
            batch.results.as_ref(),
            Some(&first),
            "batch {n} keeps its first results"
        );
    }
    sessions::finish(&tx, job_id, SessionState::Succeeded, &Progress::default())
        .await
        .expect("finish");
    let left = session_batches::load(&tx, job_id).await.expect("load");
    assert!(left.is_empty(), "a finished session keeps no batch rows");
    tx.commit().await.expect("commit");
    drop(client);
    db.drop_database().await.expect("drop");
}

#[tokio::test]
async fn a_session_that_began_writing_before_v12_keeps_its_decisions_and_results_on_its_row() {
    let db = database_with_users_at(Some(11), 1).await;
    // Started as the code before V12 did (the schema is V11's).
    let job_id = uuid::Uuid::now_v7();
    db.pool
        .get()
        .await
        .expect("client")
        .execute(
            "INSERT INTO sync_sessions (job_id, user_id, trigger) VALUES ($1, 'u0', 'manual')",
            &[&job_id],
        )
        .await
        .expect("start");
    let whole = json!({"exchange": [], "salesforce": [], "links": [], "errors": [],
                       "guard": {"state": "clear"}, "fallbacks": []});
    let client = db.pool.get().await.expect("client");
    // As the reconciler before V12 stored it: everything on the session row.
    client
        .execute(
            "UPDATE sync_sessions SET state = 'writing', pending_batches = 2, decisions = $2,
                    results = '[]'::jsonb, cursors = '{}'::jsonb
             WHERE job_id = $1",
            &[&job_id, &whole],
        )
        .await
        .expect("old writing session");
    drop(client);
    store::migrate(&db.pool).await.expect("upgrade");

    let session = lock_writing(&db, job_id).await;
    assert_eq!(
        session.decisions,
        StoredDecisions::Whole {
            decisions: whole.clone(),
            results: json!([])
        }
    );
    let mut client = db.pool.get().await.expect("client");
    let tx = client.transaction().await.expect("tx");
    let done = sessions::batch_done(
        &tx,
        job_id,
        &session,
        0,
        &json!([{"n": 0}]),
        &session.progress,
    )
    .await
    .expect("batch done");
    assert_eq!(done, BatchDone::Counted { remaining: 1 });
    tx.commit().await.expect("commit");
    drop(client);
    let session = lock_writing(&db, job_id).await;
    assert_eq!(
        session.decisions,
        StoredDecisions::Whole {
            decisions: whole,
            results: json!([{"n": 0}])
        }
    );
    db.drop_database().await.expect("drop");
}
