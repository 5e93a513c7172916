//! The exchange writer's handler on the real infrastructure: a write batch delivered for a user
//! of an org stored in PostgreSQL is carried out in the Graph emulator and answered with one
//! `WriteResults` on the broker; poison and misrouted messages are rejected; a user that cannot
//! be loaded ends the session with a failure instead of leaving it hanging.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use pipeline::ServiceSettings as _;
use std::time::Duration;

use contracts::{Commands, Header, Message, WriteBatch, WriteResults};
use exchange_writer::{App, Settings, handler};
use messaging::{Delivery, HandlerError, Handling, Queue, Route};
use serde_json::json;
use sync_core::fields::GraphContactFields;
use sync_core::{ExchangeCommand, SalesforceCommand, SyncKey, WriteResult};
use sync_state::orgs::{self, Org};
use sync_state::users;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const MAILBOX: &str = "grace@contoso.example";
/// 32 zero bytes: a valid key for sealing the test org's secrets.
const TEST_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
const DEADLINE: Duration = Duration::from_secs(20);

struct Stack {
    app_ctx: std::sync::Arc<exchange_writer::Ctx>,
    results: mpsc::UnboundedReceiver<WriteResults>,
    graph: graph_client::GraphClient,
    folder_id: String,
    stop: CancellationToken,
    db: Option<store::testing::TestDatabase>,
}

impl Stack {
    /// A Graph emulator with the user's mailbox and folder, a fresh database with the org and
    /// the user, the writer built on its own queue prefix, and a listener on the results queue.
    async fn start() -> Stack {
        let stop = CancellationToken::new();
        let emulator = graph_emulator::Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..graph_emulator::Config::default()
        };
        let (tenant, client_id, secret) = (
            emulator.tenant.clone(),
            emulator.client_id.clone(),
            emulator.client_secret.clone(),
        );
        let emulator = graph_emulator::App::build(emulator).await.unwrap();
        let base = emulator.base_url();
        tokio::spawn(emulator.run_until_stopped(stop.clone()));
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let created = http
            .post(format!("{base}/_emulator/mailboxes"))
            .json(&json!({"id": "7d0f3c2e-2222-4a57-9b1b-6c1d2e3f4a5b", "userPrincipalName": MAILBOX}))
            .send()
            .await
            .unwrap();
        assert!(created.status().is_success());
        let graph = graph_client::GraphClient::new(graph_client::GraphConfig::new(
            url::Url::parse(&format!("{base}/v1.0")).unwrap(),
            url::Url::parse(&base).unwrap(),
            tenant.clone(),
            client_id.clone(),
            secret.clone().into(),
        ))
        .unwrap();
        let folder_id = graph
            .ensure_folder(MAILBOX, sync_core::SYNC_FOLDER_NAME)
            .await
            .unwrap()
            .id;

        let db = store::testing::fresh_database().await.unwrap();
        let prefix = format!("test-{}", Uuid::new_v4().simple());
        let env = config::Env::from_pairs([
            ("DATABASE_URL", db.url.as_str()),
            ("QUEUE_PREFIX", prefix.as_str()),
            ("HTTP_LISTEN", "127.0.0.1:0"),
            ("CONTACTSYNC_ENCRYPTION_KEY", TEST_KEY),
            ("ADMIN_TOKEN", "test-admin-token"),
            ("GRAPH_API_URL", base.as_str()),
            ("GRAPH_LOGIN_URL", base.as_str()),
        ]);
        let app = App::build(Settings::from_source(&env).unwrap())
            .await
            .expect("RabbitMQ and PostgreSQL must run on 127.0.0.1 (scripts/test starts them)");
        let ctx = app.ctx();

        let mut client = db.pool.get().await.unwrap();
        orgs::put_org(
            &**client,
            ctx.clients.cipher(),
            &Org {
                id: "org-1".into(),
                name: "Contoso".into(),
                graph_tenant_id: tenant,
                graph_client_id: client_id,
                graph_client_secret: secret,
                salesforce_login_url: "http://127.0.0.1:9".into(),
                salesforce_consumer_key: "unused".into(),
                salesforce_private_key_pem: salesforce_emulator::DEV_PRIVATE_KEY_PEM.into(),
                salesforce_username: "unused@contoso.example".into(),
                salesforce_org_id: "00D000000000001AAA".into(),
                salesforce_jwt_audience: sync_state::orgs::DEFAULT_JWT_AUDIENCE.into(),
                google: None,
            },
        )
        .await
        .unwrap();
        let tx = client.transaction().await.unwrap();
        users::create_user(
            &tx,
            "user-1",
            "org-1",
            MAILBOX,
            &"005000000000001AAA".parse().expect("a Salesforce id"),
            sync_state::users::Provider::Exchange,
        )
        .await
        .unwrap();
        tx.execute(
            "UPDATE user_sync_state SET graph_folder_id = $2 WHERE user_id = $1",
            &[&"user-1", &folder_id],
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();

        // What the reconciler would receive.
        let (sender, results) = mpsc::unbounded_channel();
        let broker = ctx.broker.clone();
        let listening = stop.clone();
        tokio::spawn(async move {
            messaging::consume(
                &broker,
                Queue::ReconcilerResults,
                move |delivery: Delivery| {
                    let sender = sender.clone();
                    async move {
                        match delivery.decode::<Message>() {
                            Ok(Message::WriteResults(results)) => {
                                let _ = sender.send(results);
                                Ok(())
                            }
                            other => Err(HandlerError::reject(format!("unexpected {other:?}"))),
                        }
                    }
                },
                listening,
            )
            .await
        });
        Stack {
            app_ctx: ctx,
            results,
            graph,
            folder_id,
            stop,
            db: Some(db),
        }
    }

    async fn next_results(&mut self) -> WriteResults {
        tokio::time::timeout(DEADLINE, self.results.recv())
            .await
            .expect("no results before the deadline")
            .expect("listener stopped")
    }

    async fn stop(mut self) {
        self.stop.cancel();
        let _ = self.app_ctx.broker.delete_topology().await;
        self.app_ctx.broker.close().await;
        if let Some(db) = self.db.take() {
            db.drop_database().await.unwrap();
        }
    }
}

fn batch(job_id: Uuid, user_id: &str, number: u32, commands: Commands) -> Vec<u8> {
    let message = Message::WriteBatch(WriteBatch {
        header: Header::derived(
            job_id,
            user_id,
            &format!("write.exchange.{number}"),
            chrono::Utc::now(),
        ),
        batch: number,
        commands,
    });
    serde_json::to_vec(&message).unwrap()
}

fn create(key: &str) -> ExchangeCommand {
    ExchangeCommand::Create {
        sync_key: SyncKey::try_from(key).unwrap(),
        fields: GraphContactFields {
            given_name: Some("Grace".into()),
            surname: Some("Hopper".into()),
            ..Default::default()
        },
    }
}

#[tokio::test]
async fn a_write_batch_is_carried_out_and_answered_with_one_results_message() {
    let mut stack = Stack::start().await;
    let job_id = Uuid::new_v4();
    let body = batch(
        job_id,
        "user-1",
        3,
        Commands::Exchange(vec![create("sf-handler")]),
    );
    handler::handle(
        &stack.app_ctx,
        Delivery::for_tests(Route::ExchangeWrite, "m-1", body),
    )
    .await
    .unwrap();

    let results = stack.next_results().await;
    assert_eq!(
        results.header.message_id,
        format!("{job_id}:result.exchange.3")
    );
    assert_eq!(results.header.user_id, "user-1");
    assert_eq!(results.batch, 3);
    assert_eq!(results.failure, None);
    let [WriteResult::ExchangeCreated { sync_key, id, .. }] = results.results.as_slice() else {
        panic!("one create expected: {:?}", results.results);
    };
    assert_eq!(sync_key.as_str(), "sf-handler");
    let stored = stack
        .graph
        .get_contact(MAILBOX, id.as_str())
        .await
        .unwrap()
        .expect("the contact exists");
    assert_eq!(
        stored.parent_folder_id.as_deref(),
        Some(stack.folder_id.as_str())
    );
    assert_eq!(stored.sync_key(), Some("sf-handler"));
    stack.stop().await;
}

#[tokio::test]
async fn poison_and_misrouted_messages_are_rejected_and_an_unknown_user_fails_the_batch() {
    let mut stack = Stack::start().await;
    let poison = handler::handle(
        &stack.app_ctx,
        Delivery::for_tests(Route::ExchangeWrite, "m-2", b"{not json".to_vec()),
    )
    .await;
    assert!(
        matches!(&poison, Err(e) if e.handling() == Handling::Reject),
        "{poison:?}"
    );

    let misrouted = batch(
        Uuid::new_v4(),
        "user-1",
        0,
        Commands::Salesforce(Vec::<SalesforceCommand>::new()),
    );
    let misrouted = handler::handle(
        &stack.app_ctx,
        Delivery::for_tests(Route::ExchangeWrite, "m-3", misrouted),
    )
    .await;
    assert!(
        matches!(&misrouted, Err(e) if e.handling() == Handling::Reject),
        "{misrouted:?}"
    );

    let job_id = Uuid::new_v4();
    let body = batch(
        job_id,
        "no-such-user",
        0,
        Commands::Exchange(vec![create("sf-nobody")]),
    );
    handler::handle(
        &stack.app_ctx,
        Delivery::for_tests(Route::ExchangeWrite, "m-4", body),
    )
    .await
    .unwrap();
    let results = stack.next_results().await;
    assert_eq!(results.header.job_id, job_id);
    let failure = results.failure.expect("the batch failed");
    assert!(failure.message.contains("no-such-user"), "{failure}");
    assert!(results.results.is_empty());
    stack.stop().await;
}
