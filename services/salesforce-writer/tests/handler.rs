//! The Salesforce writer's handler on the real infrastructure: a write batch delivered for a user
//! of an org stored in PostgreSQL is carried out in the Salesforce emulator as the org's
//! integration user and answered with one `WriteResults` on the broker; poison and misrouted
//! messages are rejected.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use pipeline::ServiceSettings as _;
use std::time::Duration;

use contracts::{Commands, Header, Message, WriteBatch, WriteResults};
use messaging::{Delivery, HandlerError, Handling, Queue, Route};
use salesforce_writer::{App, Settings, handler};
use serde_json::{Value, json};
use sync_core::fields::SalesforceContactFields;
use sync_core::{ExchangeCommand, SalesforceCommand, SalesforceUserId, SyncKey, WriteResult};
use sync_state::orgs::{self, Org};
use sync_state::users;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const INTEGRATION: &str = "integration@contoso.example";
const OWNER: &str = "grace@contoso.example";
/// 32 zero bytes: a valid key for sealing the test org's secrets.
const TEST_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
const DEADLINE: Duration = Duration::from_secs(20);

struct Stack {
    ctx: std::sync::Arc<salesforce_writer::Ctx>,
    results: mpsc::UnboundedReceiver<WriteResults>,
    base: String,
    http: reqwest::Client,
    owner_id: String,
    stop: CancellationToken,
    db: Option<store::testing::TestDatabase>,
}

impl Stack {
    /// A Salesforce emulator with the integration user, the sync user and an Account, a fresh
    /// database with the org and the user, the writer on its own queue prefix, and a listener on
    /// the results queue.
    async fn start() -> Stack {
        let stop = CancellationToken::new();
        let emulator = salesforce_emulator::Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..salesforce_emulator::Config::default()
        };
        let consumer_key = emulator.client_id.clone();
        let emulator = salesforce_emulator::App::build(emulator).await.unwrap();
        let base = emulator.base_url();
        tokio::spawn(emulator.run_until_stopped(stop.clone()));
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let control = |path: &str, body: Value| {
            let request = http.post(format!("{base}/_emulator{path}")).json(&body);
            async move {
                let response = request.send().await.unwrap();
                assert!(response.status().is_success(), "{}", response.status());
                response.json::<Value>().await.unwrap()
            }
        };
        control("/users", json!({"Username": INTEGRATION})).await;
        let owner = control("/users", json!({"Username": OWNER})).await;
        let owner_id = owner["Id"].as_str().unwrap().to_owned();
        control(
            "/sobjects/Account",
            json!({"records": [{"Name": "Contoso Pharmaceuticals"}]}),
        )
        .await;

        let db = store::testing::fresh_database().await.unwrap();
        let prefix = format!("test-{}", Uuid::new_v4().simple());
        let env = config::Env::from_pairs([
            ("DATABASE_URL", db.url.as_str()),
            ("QUEUE_PREFIX", prefix.as_str()),
            ("HTTP_LISTEN", "127.0.0.1:0"),
            ("CONTACTSYNC_ENCRYPTION_KEY", TEST_KEY),
            ("ADMIN_TOKEN", "test-admin-token"),
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
                graph_tenant_id: "unused".into(),
                graph_client_id: "unused".into(),
                graph_client_secret: "unused".into(),
                salesforce_login_url: base.clone(),
                salesforce_consumer_key: consumer_key,
                salesforce_private_key_pem: salesforce_emulator::DEV_PRIVATE_KEY_PEM.into(),
                salesforce_username: INTEGRATION.into(),
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
            OWNER,
            &owner_id.parse().unwrap(),
            users::Provider::Exchange,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();

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
            ctx,
            results,
            base,
            http,
            owner_id,
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

    /// The emulator's Contact rows, read through the control API.
    async fn contacts(&self) -> Value {
        self.http
            .get(format!("{}/_emulator/sobjects/Contact", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn stop(mut self) {
        self.stop.cancel();
        let _ = self.ctx.broker.delete_topology().await;
        self.ctx.broker.close().await;
        if let Some(db) = self.db.take() {
            db.drop_database().await.unwrap();
        }
    }
}

fn batch(job_id: Uuid, number: u32, commands: Commands) -> Vec<u8> {
    let message = Message::WriteBatch(WriteBatch {
        header: Header::derived(
            job_id,
            "user-1",
            &format!("write.salesforce.{number}"),
            chrono::Utc::now(),
        ),
        batch: number,
        commands,
    });
    serde_json::to_vec(&message).unwrap()
}

#[tokio::test]
async fn a_write_batch_is_carried_out_and_answered_with_one_results_message() {
    let mut stack = Stack::start().await;
    let job_id = Uuid::new_v4();
    let command = SalesforceCommand::Create {
        sync_key: SyncKey::try_from("ex-handler").unwrap(),
        owner_id: SalesforceUserId::try_from(stack.owner_id.as_str()).unwrap(),
        fields: Box::new(SalesforceContactFields {
            last_name: Some("Hopper".into()),
            ..Default::default()
        }),
        company_name: Some("Contoso".into()),
    };
    handler::handle(
        &stack.ctx,
        Delivery::for_tests(
            Route::SalesforceWrite,
            "m-1",
            batch(job_id, 1, Commands::Salesforce(vec![command])),
        ),
    )
    .await
    .unwrap();

    let results = stack.next_results().await;
    assert_eq!(
        results.header.message_id,
        format!("{job_id}:result.salesforce.1")
    );
    assert_eq!(results.batch, 1);
    assert_eq!(results.failure, None);
    let [
        WriteResult::SalesforceCreated {
            sync_key,
            id,
            account_name,
        },
    ] = results.results.as_slice()
    else {
        panic!("one create expected: {:?}", results.results);
    };
    assert_eq!(sync_key.as_str(), "ex-handler");
    assert_eq!(account_name.as_deref(), Some("Contoso Pharmaceuticals"));
    let contacts = stack.contacts().await;
    let rows = contacts
        .as_array()
        .or_else(|| contacts["records"].as_array())
        .unwrap_or_else(|| panic!("unexpected dump: {contacts}"));
    let row = rows
        .iter()
        .find(|r| r["Id"] == id.as_str())
        .unwrap_or_else(|| panic!("no row {id} in {contacts}"));
    assert_eq!(row["OwnerId"], stack.owner_id.as_str());
    assert_eq!(row["Contactsync_Key__c"], "ex-handler");
    stack.stop().await;
}

#[tokio::test]
async fn poison_and_misrouted_messages_are_rejected() {
    let stack = Stack::start().await;
    let poison = handler::handle(
        &stack.ctx,
        Delivery::for_tests(Route::SalesforceWrite, "m-2", b"[]".to_vec()),
    )
    .await;
    assert!(
        matches!(&poison, Err(e) if e.handling() == Handling::Reject),
        "{poison:?}"
    );
    let misrouted = handler::handle(
        &stack.ctx,
        Delivery::for_tests(
            Route::SalesforceWrite,
            "m-3",
            batch(
                Uuid::new_v4(),
                0,
                Commands::Exchange(Vec::<ExchangeCommand>::new()),
            ),
        ),
    )
    .await;
    assert!(
        matches!(&misrouted, Err(e) if e.handling() == Handling::Reject),
        "{misrouted:?}"
    );
    stack.stop().await;
}
