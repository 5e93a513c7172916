//! Graph subscriptions end to end with the Graph emulator: the real validation handshake, a
//! change notification starting a session (B3), and the lifecycle events `reauthorizationRequired`
//! (renewed, expiry stored) and `subscriptionRemoved` (forgotten, and a resync, whose mailbox read
//! subscribes again: see the end-to-end `b3_` tests).

mod common;

use chrono::Utc;
use common::{Options, SF_ORG_ID, eventually, start_with};
use graph_client::{NewSubscription, SubscriptionResource};
use reqwest::Method;
use serde_json::{Value, json};
use sync_core::Scope;
use sync_state::sessions::{Progress, SessionState};
use sync_state::subscriptions::StoredSubscription;
use tokio_util::sync::CancellationToken;

async fn stored(stack: &common::Stack) -> Vec<StoredSubscription> {
    let client = stack.db.pool.get().await.expect("db");
    let rows = client
        .query("SELECT id FROM graph_subscriptions ORDER BY id", &[])
        .await
        .expect("rows");
    let mut out = Vec::new();
    for row in rows {
        let id: String = row.get(0);
        if let Some(s) = sync_state::subscriptions::get(&**client, &id)
            .await
            .expect("get")
        {
            out.push(s);
        }
    }
    out
}

#[tokio::test]
async fn subscriptions_validate_notify_renew_and_resync_after_removal() {
    let mut config = graph_emulator::Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        ..graph_emulator::Config::default()
    };
    // The test gateway serves plain HTTP on localhost.
    config.knobs.require_https = false;
    let emulator = graph_emulator::App::build(config)
        .await
        .expect("emulator binds");
    let graph = emulator.base_url();
    let stop = CancellationToken::new();
    tokio::spawn(emulator.run_until_stopped(stop.clone()));
    let stack = start_with(Options {
        graph_url: Some(graph.clone()),
        public_is_real: true,
    })
    .await;
    let http = stack.http.clone();
    let control = |method: Method, path: &str, body: Value| {
        let request = http
            .request(method, format!("{graph}/_emulator{path}"))
            .json(&body);
        async move {
            let response = request.send().await.expect("control call");
            assert!(response.status().is_success(), "{response:?}");
            response.json::<Value>().await.unwrap_or(Value::Null)
        }
    };
    let mailbox = control(
        Method::POST,
        "/mailboxes",
        json!({"id": "m-alice", "userPrincipalName": "alice@example.com"}),
    )
    .await;
    let folder_id = mailbox["defaultContactFolderId"]
        .as_str()
        .expect("folder")
        .to_owned();

    stack
        .create_org("dev", SF_ORG_ID, "https://login.salesforce.example")
        .await;
    let user = stack
        .admin(
            Method::POST,
            "/api/v1/users",
            Some(json!({"id": "alice", "mailbox": "m-alice", "salesforce_user_id": "005xx000001SvbQAAS"})),
        )
        .await;
    assert_eq!(user.status, 201);
    stack.enable_quietly("alice", Scope::Mine).await;

    // Subscribing makes Graph call the webhook's validation handshake for real.
    let client = stack.ctx.clients.graph("dev").await.expect("graph client");
    let webhook = format!("{}/webhooks/graph", stack.base);
    let new = NewSubscription {
        resource: SubscriptionResource::Folder {
            mailbox: "m-alice".into(),
            folder_id: folder_id.clone(),
        },
        notification_url: webhook.clone(),
        lifecycle_notification_url: Some(webhook),
        client_state: "cs-original".into(),
        expiration: Utc::now() + chrono::Duration::minutes(60),
    };
    let created = client
        .create_subscription(&new)
        .await
        .expect("subscription created");
    {
        let db = stack.db.pool.get().await.expect("db");
        sync_state::subscriptions::store(
            &**db,
            &created.id,
            "alice",
            &new.resource.to_resource(),
            "cs-original",
            created.expiration_date_time,
        )
        .await
        .expect("stored");
    }

    // A contact created in the folder: Graph notifies, the gateway starts the user's session.
    control(
        Method::POST,
        "/mailboxes/m-alice/contacts",
        json!({"folder": folder_id, "contacts": [{"givenName": "Ann", "surname": "Lee"}]}),
    )
    .await;
    eventually("a notification session", || async {
        !stack.sessions("alice").await.is_empty()
    })
    .await;
    let first = stack.sessions("alice").await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].1, "notification");
    stack
        .finish_session(first[0].0, SessionState::Succeeded, &Progress::default())
        .await;

    // reauthorizationRequired: renewed through Graph, the new expiry stored.
    let before = created.expiration_date_time;
    control(
        Method::POST,
        &format!("/subscriptions/{}/lifecycle", created.id),
        json!({"event": "reauthorizationRequired"}),
    )
    .await;
    eventually("the renewed expiry", || async {
        stored(&stack)
            .await
            .first()
            .is_some_and(|s| s.expires_at > before + chrono::Duration::days(1))
    })
    .await;

    // subscriptionRemoved: forgotten, and a resync (the session subscribes again, B3).
    control(
        Method::POST,
        &format!("/subscriptions/{}/lifecycle", created.id),
        json!({"event": "subscriptionRemoved"}),
    )
    .await;
    eventually("the resync", || async {
        stack.sessions("alice").await.len() == 2
    })
    .await;
    assert!(
        stored(&stack).await.is_empty(),
        "the removed one is forgotten"
    );
    let sessions = stack.sessions("alice").await;
    assert_eq!(sessions[1].1, "notification");
    let at_graph = control(Method::GET, "/subscriptions", Value::Null).await;
    assert_eq!(
        at_graph["value"],
        json!([]),
        "nothing re-created behind the session's back"
    );

    stop.cancel();
    stack.finish().await;
}
