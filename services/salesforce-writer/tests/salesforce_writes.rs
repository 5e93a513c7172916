//! The Salesforce writer's batch execution against the Salesforce emulator over real HTTP:
//! account linking shared across a batch (B14), creates as one upsert by key that never
//! duplicates (C4), updates with relinks and deletes in one call each, per-record rejections that
//! fail alone (C7), and an unreachable Salesforce that fails the batch.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use salesforce_client::{SalesforceClient, SalesforceConfig};
use salesforce_writer::execute::{Executed, execute};
use serde_json::{Value, json};
use sync_core::fields::SalesforceContactFields;
use sync_core::mapping::SalesforcePatch;
use sync_core::{Relink, SalesforceCommand, SalesforceId, SalesforceUserId, SyncKey, WriteResult};
use tokio_util::sync::CancellationToken;
use url::Url;

const INTEGRATION: &str = "integration@contoso.example";
const OWNER: &str = "ada@contoso.example";

/// A Salesforce emulator on port 0 with an integration user and a sync user, and a client.
struct Org {
    base: String,
    http: reqwest::Client,
    salesforce: SalesforceClient,
    owner_id: String,
    shutdown: CancellationToken,
}

impl Drop for Org {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Org {
    async fn start() -> Org {
        let config = salesforce_emulator::Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..salesforce_emulator::Config::default()
        };
        let consumer_key = config.client_id.clone();
        let app = salesforce_emulator::App::build(config).await.unwrap();
        let base = app.base_url();
        let shutdown = CancellationToken::new();
        tokio::spawn(app.run_until_stopped(shutdown.clone()));
        let mut client_config = SalesforceConfig::new(
            Url::parse(&base).unwrap(),
            consumer_key,
            salesforce_emulator::DEV_PRIVATE_KEY_PEM.to_owned().into(),
            INTEGRATION,
        );
        client_config.min_backoff = Duration::from_millis(10);
        client_config.max_retries = 2;
        client_config.max_retry_after = Duration::from_millis(50);
        let mut org = Org {
            base,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            salesforce: SalesforceClient::new(client_config).unwrap(),
            owner_id: String::new(),
            shutdown,
        };
        org.control(
            reqwest::Method::POST,
            "/users",
            json!({"Username": INTEGRATION}),
        )
        .await;
        let owner = org
            .control(reqwest::Method::POST, "/users", json!({"Username": OWNER}))
            .await;
        org.owner_id = owner["Id"].as_str().unwrap().to_owned();
        org
    }

    async fn control(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let response = self
            .http
            .request(method, format!("{}/_emulator{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    /// Seeds Accounts; returns their ids in order.
    async fn accounts(&self, names: &[&str]) -> Vec<String> {
        let records: Vec<Value> = names.iter().map(|n| json!({"Name": n})).collect();
        let seeded = self
            .control(
                reqwest::Method::POST,
                "/sobjects/Account",
                json!({"records": records}),
            )
            .await;
        serde_json::from_value(seeded["ids"].clone()).unwrap()
    }

    async fn reset_counters(&self) {
        self.control(reqwest::Method::DELETE, "/requests", json!({}))
            .await;
    }

    async fn requests(&self) -> Value {
        self.control(reqwest::Method::GET, "/requests", json!({}))
            .await
    }

    /// Every live Contact with the fields the tests look at.
    async fn contacts(&self) -> Vec<Value> {
        self.salesforce
            .query(
                "SELECT Id, OwnerId, AccountId, Contactsync_Key__c, LastName, Title, Phone \
                 FROM Contact ORDER BY LastName ASC",
            )
            .await
            .unwrap()
    }

    fn owner(&self) -> SalesforceUserId {
        SalesforceUserId::try_from(self.owner_id.as_str()).unwrap()
    }

    fn create(
        &self,
        key: &str,
        last_name: Option<&str>,
        company: Option<&str>,
    ) -> SalesforceCommand {
        SalesforceCommand::Create {
            sync_key: SyncKey::try_from(key).unwrap(),
            owner_id: self.owner(),
            fields: Box::new(SalesforceContactFields {
                first_name: Some("Test".into()),
                last_name: last_name.map(str::to_owned),
                ..Default::default()
            }),
            company_name: company.map(str::to_owned),
        }
    }
}

fn key(k: &str) -> SyncKey {
    SyncKey::try_from(k).unwrap()
}

fn ok(executed: &Executed) {
    assert_eq!(executed.failure, None, "{executed:?}");
}

fn created(result: &WriteResult) -> (String, Option<String>) {
    match result {
        WriteResult::SalesforceCreated {
            id, account_name, ..
        } => (id.as_str().to_owned(), account_name.clone()),
        other => panic!("not a create: {other:?}"),
    }
}

fn total_requests(requests: &Value, prefix: &str) -> u64 {
    requests["by_route"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(route, _)| route.starts_with(prefix))
        .map(|(_, n)| n.as_u64().unwrap())
        .sum()
}

#[tokio::test]
async fn b14_creates_link_their_accounts_with_one_shared_lookup_and_one_upsert() {
    let org = Org::start().await;
    // "Acme" twice: the earlier CreatedDate wins although its Id sorts later.
    let clock = org.control(reqwest::Method::GET, "/clock", json!({})).await;
    let late_acme = org.accounts(&["Acme"]).await;
    org.control(
        reqwest::Method::POST,
        "/clock",
        json!({"now": "2020-01-01T00:00:00.000+0000"}),
    )
    .await;
    let early_acme = org.accounts(&["ACME"]).await;
    org.control(
        reqwest::Method::POST,
        "/clock",
        json!({"now": clock["now"]}),
    )
    .await;
    let others = org
        .accounts(&["Globex Corporation", "Initech East", "Initech West"])
        .await;
    assert_ne!(late_acme, early_acme);

    let commands = vec![
        org.create("ex-1", Some("Lovelace"), Some(" acme ")),
        org.create("ex-2", Some("Babbage"), Some("Acme")),
        org.create("ex-3", Some("Hopper"), Some("Globex")),
        org.create("ex-4", Some("Turing"), Some("Initech")),
        org.create("ex-5", Some("Noether"), None),
    ];
    org.salesforce
        .query::<Value>("SELECT Id FROM Account LIMIT 1")
        .await
        .unwrap();
    org.reset_counters().await;
    let executed = execute(&org.salesforce, &commands).await;
    ok(&executed);
    let requests = org.requests().await;
    // One Account query for both companies' lookups (Acme and acme are one), one upsert.
    assert_eq!(requests["http_requests"], 2, "{requests}");
    assert_eq!(
        total_requests(&requests, "GET /services/data/v60.0/query"),
        1,
        "{requests}"
    );

    let names: Vec<Option<String>> = executed.results.iter().map(|r| created(r).1).collect();
    assert_eq!(
        names,
        vec![
            Some("ACME".into()),
            Some("ACME".into()),
            Some("Globex Corporation".into()),
            None,
            None
        ]
    );
    let contacts = org.contacts().await;
    assert_eq!(contacts.len(), 5);
    let by_key = |k: &str| {
        contacts
            .iter()
            .find(|c| c["Contactsync_Key__c"] == k)
            .unwrap_or_else(|| panic!("no contact {k}"))
            .clone()
    };
    for (k, account) in [
        ("ex-1", Value::String(early_acme[0].clone())),
        ("ex-2", Value::String(early_acme[0].clone())),
        ("ex-3", Value::String(others[0].clone())),
        ("ex-4", Value::Null),
        ("ex-5", Value::Null),
    ] {
        let contact = by_key(k);
        assert_eq!(contact["AccountId"], account, "{k}");
        assert_eq!(contact["OwnerId"], org.owner_id.as_str(), "{k}");
    }
    assert_eq!(created(&executed.results[0]).0, by_key("ex-1")["Id"]);
}

#[tokio::test]
async fn c4_a_repeated_create_upserts_the_same_contact() {
    let org = Org::start().await;
    let commands = vec![org.create("ex-once", Some("Lovelace"), None)];
    let first = execute(&org.salesforce, &commands).await;
    ok(&first);
    let again = execute(&org.salesforce, &commands).await;
    ok(&again);
    assert_eq!(created(&first.results[0]).0, created(&again.results[0]).0);
    assert_eq!(org.contacts().await.len(), 1);
}

#[tokio::test]
async fn c7_rejected_records_fail_alone_with_code_and_field() {
    let org = Org::start().await;
    let mut bad_email = org.create("ex-email", Some("Email"), None);
    if let SalesforceCommand::Create { fields, .. } = &mut bad_email {
        fields.email = Some("not an email".into());
    }
    let commands = vec![
        org.create("ex-nameless", None, None),
        bad_email,
        org.create("ex-fine", Some("Fine"), None),
    ];
    let executed = execute(&org.salesforce, &commands).await;
    ok(&executed);
    let failure = |i: usize| match &executed.results[i] {
        WriteResult::SalesforceFailed { failure, .. } => failure.clone(),
        other => panic!("not a failure: {other:?}"),
    };
    assert_eq!(failure(0).code, "REQUIRED_FIELD_MISSING");
    assert_eq!(failure(0).field.as_deref(), Some("LastName"));
    assert_eq!(failure(1).code, "INVALID_EMAIL_ADDRESS");
    assert_eq!(failure(1).field.as_deref(), Some("Email"));
    assert!(!failure(1).message.is_empty());
    created(&executed.results[2]);
    let contacts = org.contacts().await;
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0]["Contactsync_Key__c"], "ex-fine");
}

#[tokio::test]
async fn updates_with_relinks_and_deletes_take_one_call_each() {
    let org = Org::start().await;
    let globex = org.accounts(&["Globex Corporation"]).await;
    let setup = execute(
        &org.salesforce,
        &[
            org.create("ex-a", Some("Alpha"), Some("Globex")),
            org.create("ex-b", Some("Beta"), Some("Globex")),
            org.create("ex-c", Some("Gamma"), None),
            org.create("ex-d", Some("Delta"), None),
        ],
    )
    .await;
    ok(&setup);
    let ids: Vec<SalesforceId> = setup
        .results
        .iter()
        .map(|r| SalesforceId::try_from(created(r).0).unwrap())
        .collect();
    // Delta is deleted behind our back: deleting it again counts as done.
    org.salesforce.delete(&[ids[3].to_string()]).await;

    let mut patch = SalesforcePatch::default();
    patch.0.insert("Title".into(), Some("CTO".into()));
    patch.0.insert("Phone".into(), None);
    let commands = vec![
        SalesforceCommand::Update {
            sync_key: key("ex-a"),
            id: ids[0].clone(),
            patch: patch.clone(),
            relink: None,
        },
        SalesforceCommand::Update {
            sync_key: key("ex-b"),
            id: ids[1].clone(),
            patch: SalesforcePatch::default(),
            relink: Some(Relink { company_name: None }),
        },
        SalesforceCommand::Update {
            sync_key: key("ex-c"),
            id: ids[2].clone(),
            patch,
            relink: Some(Relink {
                company_name: Some("globex corporation".into()),
            }),
        },
        SalesforceCommand::Delete {
            sync_key: key("ex-d"),
            id: ids[3].clone(),
        },
    ];
    org.reset_counters().await;
    let executed = execute(&org.salesforce, &commands).await;
    ok(&executed);
    let requests = org.requests().await;
    // One Account lookup, one collection update, one collection delete.
    assert_eq!(requests["http_requests"], 3, "{requests}");

    assert_eq!(
        executed.results,
        vec![
            WriteResult::SalesforceUpdated {
                sync_key: key("ex-a"),
                account_name: None,
            },
            WriteResult::SalesforceUpdated {
                sync_key: key("ex-b"),
                account_name: Some(None),
            },
            WriteResult::SalesforceUpdated {
                sync_key: key("ex-c"),
                account_name: Some(Some("Globex Corporation".into())),
            },
            WriteResult::SalesforceDeleted {
                sync_key: key("ex-d"),
            },
        ]
    );
    let contacts = org.contacts().await;
    let by_key = |k: &str| {
        contacts
            .iter()
            .find(|c| c["Contactsync_Key__c"] == k)
            .unwrap_or_else(|| panic!("no contact {k}"))
            .clone()
    };
    assert_eq!(contacts.len(), 3);
    assert_eq!(by_key("ex-a")["Title"], "CTO");
    assert_eq!(by_key("ex-a")["AccountId"], globex[0].as_str());
    assert_eq!(by_key("ex-b")["AccountId"], Value::Null);
    assert_eq!(by_key("ex-c")["AccountId"], globex[0].as_str());
    assert_eq!(by_key("ex-c")["Title"], "CTO");
}

#[tokio::test]
async fn an_unreachable_salesforce_fails_the_batch_instead_of_reporting_results() {
    let org = Org::start().await;
    org.salesforce
        .query::<Value>("SELECT Id FROM Account LIMIT 1")
        .await
        .unwrap();
    org.control(
        reqwest::Method::POST,
        "/faults",
        json!({"status": 503, "count": 1000}),
    )
    .await;
    let executed = execute(
        &org.salesforce,
        &[org.create("ex-down", Some("Down"), Some("Acme"))],
    )
    .await;
    let failure = executed.failure.expect("the batch must fail");
    assert!(failure.message.contains("1 of 1"), "{failure}");
    assert!(executed.results.is_empty());
}
