//! The fleet figures behind the scheduler's gauges, against a real PostgreSQL: users by their last
//! session, a failing streak, held deletions (C5), a failing org, recent sessions by state and
//! expired subscriptions.

use chrono::{Duration, Utc};
use sync_state::fleet;
use sync_state::users::{self, ContactSettings};

async fn org(client: &tokio_postgres::Client, id: &str) {
    client
        .execute(
            "INSERT INTO orgs (id, name, graph_tenant_id, graph_client_id, graph_client_secret,
                               salesforce_login_url, salesforce_consumer_key, salesforce_private_key)
             VALUES ($1, 'Org', 't', 'c', '\\x00', 'http://sf', 'k', '\\x00')",
            &[&id],
        )
        .await
        .expect("org");
}

/// A user of `org` with sessions in these states, oldest first, one minute apart.
async fn user(
    client: &mut tokio_postgres::Client,
    id: &str,
    org: &str,
    enabled: bool,
    sessions: &[&str],
) {
    let tx = client.transaction().await.expect("tx");
    users::create_user(
        &tx,
        id,
        org,
        &format!("{id}@example.com"),
        &"005000000000001AAA".parse().expect("a Salesforce id"),
        users::Provider::Exchange,
    )
    .await
    .expect("user");
    users::put_settings(
        &tx,
        id,
        &ContactSettings {
            enabled,
            ..ContactSettings::default()
        },
    )
    .await
    .expect("settings");
    let start = Utc::now() - Duration::minutes(sessions.len() as i64 + 1);
    for (i, state) in sessions.iter().enumerate() {
        let at = start + Duration::minutes(i as i64);
        tx.execute(
            "INSERT INTO sync_sessions (job_id, user_id, trigger, state, created_at, finished_at)
             VALUES ($1, $2, 'schedule', $3, $4, $4)",
            &[&uuid::Uuid::now_v7(), &id, state, &at],
        )
        .await
        .expect("session");
    }
    tx.commit().await.expect("commit");
}

#[tokio::test]
async fn the_fleet_is_read_from_the_sessions_settings_and_subscriptions() {
    let db = store::testing::fresh_database().await.expect("database");
    let mut client = db.pool.get().await.expect("client");
    org(&client, "healthy").await;
    org(&client, "broken").await;
    user(&mut client, "ok", "healthy", true, &["failed", "succeeded"]).await;
    user(&mut client, "new", "healthy", true, &[]).await;
    user(&mut client, "off", "healthy", false, &["succeeded"]).await;
    user(
        &mut client,
        "stuck",
        "healthy",
        true,
        &["failed", "failed", "failed"],
    )
    .await;
    user(&mut client, "b1", "broken", true, &["succeeded", "failed"]).await;
    user(&mut client, "b2", "broken", true, &["partial", "failed"]).await;
    // A session still running is no outcome: the last finished one counts.
    user(
        &mut client,
        "busy",
        "healthy",
        true,
        &["partial", "fetching"],
    )
    .await;
    client
        .execute(
            "UPDATE user_sync_state SET last_error = '{\"code\":\"mass_delete_guard\"}'
             WHERE user_id = 'ok'",
            &[],
        )
        .await
        .expect("hold");
    let now = Utc::now();
    for (id, expires) in [
        ("gone", now - Duration::hours(1)),
        ("live", now + Duration::days(2)),
    ] {
        sync_state::subscriptions::store(&**client, id, "ok", "r", "cs", expires)
            .await
            .expect("subscription");
    }

    let summary = fleet::summarize(&fleet::user_health(&**client).await.expect("health"));
    assert_eq!(summary.users["disabled"], 1);
    assert_eq!(summary.users["never_synced"], 1);
    assert_eq!(summary.users["succeeded"], 1);
    assert_eq!(summary.users["partial"], 1);
    assert_eq!(summary.users["failed"], 3);
    assert_eq!(
        summary.failing_users, 1,
        "stuck failed three times in a row"
    );
    assert_eq!(summary.deletions_held, 1);
    assert_eq!(
        summary.failing_orgs, 1,
        "every user of `broken` failed last"
    );

    let recent = fleet::recent_sessions(&**client, Utc::now())
        .await
        .expect("recent");
    assert_eq!(recent["failed"], 6);
    assert_eq!(recent["succeeded"], 3);
    assert_eq!(recent["partial"], 2);
    assert_eq!(recent["fetching"], 1);
    assert_eq!(recent["writing"], 0);
    let later = fleet::recent_sessions(&**client, Utc::now() + Duration::hours(1))
        .await
        .expect("recent");
    assert!(later.values().all(|n| *n == 0), "{later:?}");

    assert_eq!(
        fleet::expired_subscriptions(&**client, now)
            .await
            .expect("expired"),
        1
    );
    drop(client);
    db.drop_database().await.expect("drop");
}
