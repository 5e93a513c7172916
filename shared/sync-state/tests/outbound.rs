//! The routing of Salesforce Outbound Messages against a real PostgreSQL (B3): only the users the
//! message's ids name (the owner, the users linked to the record), never every user of the org.

use sync_state::outbound::{Hints, notified_users, prefix15};

const OWNER: &str = "005xx000001SvbRAAS";

/// Two orgs; users `(id, org, Salesforce user id, scope, enabled)`; links `(user, Contact id)`.
async fn database() -> store::testing::TestDatabase {
    let db = store::testing::fresh_database().await.expect("database");
    let client = db.pool.get().await.expect("client");
    for org in ["o", "other"] {
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
    let users = [
        // The owner, registered by the 15-character id Salesforce shows in its URLs.
        ("owner", "o", &OWNER[..15], "mine", true),
        ("all_scope", "o", "005xx000001SvbSAAS", "all", true),
        ("viewer", "o", "005xx000001SvbTAAS", "list_view", true),
        ("linked", "o", "005xx000001SvbUAAS", "mine", true),
        ("bystander", "o", "005xx000001SvbVAAS", "mine", true),
        ("disabled_owner", "o", OWNER, "mine", false),
        ("elsewhere", "other", OWNER, "mine", true),
    ];
    for (id, org, sf, scope, enabled) in users {
        client
            .execute(
                "INSERT INTO users (id, org_id, mailbox, salesforce_user_id) VALUES ($1, $2, $1, $3)",
                &[&id, &org, &sf],
            )
            .await
            .expect("user");
        client
            .execute(
                "INSERT INTO contact_settings (user_id, enabled, scope) VALUES ($1, $2, $3)",
                &[&id, &enabled, &scope],
            )
            .await
            .expect("settings");
    }
    for (user, contact) in [
        ("linked", "003xx00000000B1AAA"),
        ("viewer", "003xx00000000B1"),
        ("elsewhere", "003xx00000000B1AAA"),
    ] {
        client
            .execute(
                "INSERT INTO contact_links (user_id, sync_key, salesforce_id, link)
                 VALUES ($1, $2, $3, '{}'::jsonb)",
                &[&user, &format!("k-{user}"), &contact],
            )
            .await
            .expect("link");
    }
    db
}

fn hints(owners: &[&str], records: &[&str]) -> Hints {
    Hints {
        owners: owners.iter().map(|o| prefix15(o)).collect(),
        records: records.iter().map(|r| prefix15(r)).collect(),
    }
}

#[tokio::test]
async fn the_owner_and_the_linked_users_are_named_and_nobody_else() {
    let db = database().await;
    let client = db.pool.get().await.expect("client");
    // The message carries the 18-character owner id; the owner registered 15 characters.
    let users = notified_users(
        &**client,
        "o",
        &hints(&[OWNER], &["003xx00000000B1AAA"]),
        100,
    )
    .await
    .expect("users");
    assert_eq!(users, vec!["owner", "linked", "viewer"]);
    drop(client);
    db.drop_database().await.expect("drop");
}

#[tokio::test]
async fn a_notification_without_an_owner_reaches_only_the_linked_users() {
    let db = database().await;
    let client = db.pool.get().await.expect("client");
    let users = notified_users(&**client, "o", &hints(&[], &["003xx00000000B1AAA"]), 100)
        .await
        .expect("users");
    assert_eq!(users, vec!["linked", "viewer"], "no fan-out to mine or all");
    let users = notified_users(&**client, "o", &hints(&[], &["003xx00000000Z9AAA"]), 100)
        .await
        .expect("users");
    assert!(
        users.is_empty(),
        "an unknown Contact names nobody: {users:?}"
    );
    drop(client);
    db.drop_database().await.expect("drop");
}

#[tokio::test]
async fn ids_compare_case_sensitively_on_their_first_fifteen_characters() {
    let db = database().await;
    let client = db.pool.get().await.expect("client");
    // The same letters in another case are another id (15-character ids are case-sensitive).
    let users = notified_users(
        &**client,
        "o",
        &hints(&["005XX000001SVBRAAS"], &["003XX00000000B1AAA"]),
        100,
    )
    .await
    .expect("users");
    assert!(users.is_empty(), "{users:?}");
    // An 18-character id with its suffix in another case is the same id.
    let users = notified_users(&**client, "o", &hints(&["005xx000001SvbRaas"], &[]), 100)
        .await
        .expect("users");
    assert_eq!(users, vec!["owner"]);
    drop(client);
    db.drop_database().await.expect("drop");
}

#[tokio::test]
async fn the_limit_keeps_owners_first() {
    let db = database().await;
    let client = db.pool.get().await.expect("client");
    let users = notified_users(&**client, "o", &hints(&[OWNER], &["003xx00000000B1AAA"]), 2)
        .await
        .expect("users");
    assert_eq!(users, vec!["owner", "linked"]);
    assert!(
        notified_users(&**client, "o", &Hints::default(), 100)
            .await
            .expect("users")
            .is_empty()
    );
    drop(client);
    db.drop_database().await.expect("drop");
}
