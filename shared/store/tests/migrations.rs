//! Integration tests against the real PostgreSQL: fresh databases, migrations, readiness.

use store::testing::fresh_database;

#[tokio::test]
async fn migrations_apply_to_a_fresh_database_and_are_idempotent() {
    let db = fresh_database()
        .await
        .expect("PostgreSQL must run on 127.0.0.1:5432");
    // Running again applies nothing and fails nothing.
    store::migrate(&db.pool).await.expect("second run");
    let client = db.pool.get().await.expect("connection");
    let applied: i64 = client
        .query_one("SELECT count(*) FROM refinery_schema_history", &[])
        .await
        .expect("history")
        .get(0);
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .expect("migrations dir")
        .filter(|entry| {
            entry
                .as_ref()
                .is_ok_and(|entry| entry.file_name().to_string_lossy().ends_with(".sql"))
        })
        .count();
    assert_eq!(
        applied,
        i64::try_from(files).expect("small"),
        "each file applied exactly once"
    );

    // The foundation tables exist and enforce their keys.
    client
        .execute(
            "INSERT INTO orgs (id, name, graph_tenant_id, graph_client_id, graph_client_secret,
                               salesforce_login_url, salesforce_consumer_key, salesforce_private_key)
             VALUES ('o1', 'Org', 't', 'c', '\\x00', 'https://login', 'k', '\\x00')",
            &[],
        )
        .await
        .expect("insert org");
    client
        .execute(
            "INSERT INTO users (id, org_id, mailbox, salesforce_user_id) VALUES ('u1', 'o1', 'a@b', '005')",
            &[],
        )
        .await
        .expect("insert user");
    let orphan = client
        .execute(
            "INSERT INTO users (id, org_id, mailbox, salesforce_user_id) VALUES ('u2', 'nope', 'a@b', '005')",
            &[],
        )
        .await;
    assert!(orphan.is_err(), "a user needs an existing org");
    drop(client);
    db.drop_database().await.expect("cleanup");
}

#[tokio::test]
async fn concurrent_migration_runs_do_not_conflict() {
    let db = fresh_database().await.expect("database");
    // Four start-ups at once, each with its own connection, as replicas would.
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let pool = db.pool.clone();
            tokio::spawn(async move { store::migrate(&pool).await })
        })
        .collect();
    for run in runs {
        run.await.expect("join").expect("each run succeeds");
    }
    db.drop_database().await.expect("cleanup");
}

#[tokio::test]
async fn ensure_database_creates_a_missing_database_once() {
    let db = fresh_database().await.expect("database");
    // Already there: a no-op.
    store::ensure_database(&db.url).await.expect("exists");
    assert!(store::is_ready(&db.pool).await);
    let name = db.name.clone();
    db.drop_database().await.expect("cleanup");

    let admin = store::connect("postgres://postgres@127.0.0.1:5432/postgres", 1)
        .await
        .expect("pool");
    let client = admin.get().await.expect("connection");
    let left = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .expect("query");
    assert!(left.is_none(), "the test database was dropped");
}

#[tokio::test]
async fn readiness_is_false_when_the_server_is_unreachable() {
    // Port 1 on loopback: nothing listens there.
    let pool = store::connect("postgres://postgres@127.0.0.1:1/none", 1)
        .await
        .expect("pool builds lazily");
    assert!(!store::is_ready(&pool).await);
}

#[tokio::test]
async fn a_test_database_dropped_without_cleanup_is_still_removed() {
    let db = fresh_database().await.expect("database");
    let name = db.name.clone();
    // As when a test panics before its cleanup line: only Drop runs.
    drop(db);
    let admin = store::connect("postgres://postgres@127.0.0.1:5432/postgres", 1)
        .await
        .expect("pool");
    let left = admin
        .get()
        .await
        .expect("connection")
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .expect("query");
    assert!(left.is_none(), "Drop removed {name}");
}
