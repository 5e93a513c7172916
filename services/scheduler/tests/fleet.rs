//! The scheduler's gauges against the real PostgreSQL and RabbitMQ: users by state, held
//! deletions (C5), queue lengths of the topology, and the renewal counter, as `/metrics` renders
//! them.

use chrono::Utc;
use messaging::{Queue, Route};
use pipeline::ServiceSettings as _;
use scheduler::handler::TickReport;
use scheduler::{App, Settings, fleet::FleetMetrics};
use sync_state::users::{self, ContactSettings};

const TEST_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

#[tokio::test]
async fn the_fleet_gauges_show_users_held_deletions_queues_and_renewals() {
    let db = store::testing::fresh_database().await.expect("database");
    let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
    let env = config::Env::from_pairs([
        ("DATABASE_URL", db.url.as_str()),
        ("QUEUE_PREFIX", prefix.as_str()),
        ("HTTP_LISTEN", "127.0.0.1:0"),
        ("CONTACTSYNC_ENCRYPTION_KEY", TEST_KEY),
        ("ADMIN_TOKEN", "test-admin-token"),
    ]);
    let app = App::build(Settings::from_source(&env).expect("settings"))
        .await
        .expect("RabbitMQ and PostgreSQL must run on 127.0.0.1 (scripts/test starts them)");
    let ctx = app.ctx();
    let _cleanup = messaging::testing::cleanup_on_drop(&ctx.broker);

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
    for (id, enabled) in [("on", true), ("held", true), ("off", false)] {
        users::create_user(
            &tx,
            id,
            "o",
            &format!("{id}@example.com"),
            &"005000000000001AAA".parse().expect("a Salesforce id"),
            sync_state::users::Provider::Exchange,
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
    }
    tx.execute(
        "UPDATE user_sync_state SET last_error = '{\"code\":\"mass_delete_guard\"}'
         WHERE user_id = 'held'",
        &[],
    )
    .await
    .expect("hold");
    tx.commit().await.expect("commit");
    // Two messages wait for the reconciler.
    for n in 0..2 {
        ctx.publisher
            .publish(
                Route::ChangeBatch,
                &format!("m-{n}"),
                &serde_json::json!({"n": n}),
            )
            .await
            .expect("publish");
    }

    let metrics = FleetMetrics::register(&ctx.metrics);
    metrics.observe(&ctx, Utc::now()).await.expect("a snapshot");
    metrics.record_renewals(&TickReport {
        renewed: 2,
        renew_failed: 1,
        ..TickReport::default()
    });
    let text = ctx.metrics.render().expect("renders");
    for line in [
        "contactsync_users{state=\"never_synced\"} 2".to_owned(),
        "contactsync_users{state=\"disabled\"} 1".to_owned(),
        "contactsync_users{state=\"failed\"} 0".to_owned(),
        "contactsync_users_deletions_held 1".to_owned(),
        "contactsync_users_failing 0".to_owned(),
        "contactsync_orgs_failing 0".to_owned(),
        "contactsync_subscriptions_expired 0".to_owned(),
        "contactsync_sessions_recent{state=\"fetching\"} 0".to_owned(),
        format!(
            "contactsync_queue_messages{{queue=\"{}\"}} 2",
            Queue::ReconcilerChanges.name(&prefix)
        ),
        format!(
            "contactsync_queue_messages{{queue=\"{}\"}} 0",
            Queue::DeadLetters.name(&prefix)
        ),
        "contactsync_subscription_renewals_total{outcome=\"renewed\"} 2".to_owned(),
        "contactsync_subscription_renewals_total{outcome=\"failed\"} 1".to_owned(),
    ] {
        assert!(text.contains(&line), "{line} in\n{text}");
    }
    drop(client);
    db.drop_database().await.expect("drop");
}
