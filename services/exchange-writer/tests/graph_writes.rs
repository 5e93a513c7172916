//! The exchange writer's batch execution against the Graph emulator over real HTTP: creates,
//! updates, deletes and B9 moves land in the mailbox with category and stamp, a redelivered batch
//! creates nothing twice (C4), a rejected item fails alone (C7), and an unreachable Graph fails
//! the batch instead of inventing results. One test uses a mock Graph to lose a create's answer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use exchange_writer::execute::{Executed, Target, execute};
use graph_client::{
    ContactWrite, GraphClient, GraphConfig, GraphContact, NewContact, SYNC_KEY_PROPERTY_ID,
    WriteOutcome,
};
use serde_json::{Value, json};
use sync_core::fields::GraphContactFields;
use sync_core::mapping::GraphPatch;
use sync_core::{ExchangeCommand, GraphItemId, Stamp, SyncKey, WriteResult};
use tokio_util::sync::CancellationToken;
use url::Url;

const MAILBOX: &str = "ada@contoso.example";

/// A Graph emulator on port 0 with one mailbox and its sync folder, and a client for it.
struct Mailbox {
    base: String,
    http: reqwest::Client,
    graph: GraphClient,
    folder_id: String,
    shutdown: CancellationToken,
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Mailbox {
    async fn start() -> Mailbox {
        let config = graph_emulator::Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..graph_emulator::Config::default()
        };
        let (tenant, client_id, secret) = (
            config.tenant.clone(),
            config.client_id.clone(),
            config.client_secret.clone(),
        );
        let app = graph_emulator::App::build(config).await.unwrap();
        let base = app.base_url();
        let shutdown = CancellationToken::new();
        tokio::spawn(app.run_until_stopped(shutdown.clone()));
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let mut graph_config = GraphConfig::new(
            Url::parse(&format!("{base}/v1.0")).unwrap(),
            Url::parse(&base).unwrap(),
            tenant,
            client_id,
            secret.into(),
        );
        graph_config.min_backoff = Duration::from_millis(10);
        graph_config.max_retries = 2;
        graph_config.max_retry_after = Duration::from_millis(50);
        let graph = GraphClient::new(graph_config).unwrap();
        let mut mailbox = Mailbox {
            base,
            http,
            graph,
            folder_id: String::new(),
            shutdown,
        };
        mailbox
            .control(
                reqwest::Method::POST,
                "/_emulator/mailboxes",
                json!({"id": "0c5b1f8e-1111-4a57-9b1b-6c1d2e3f4a5b", "userPrincipalName": MAILBOX}),
            )
            .await;
        let folder = mailbox
            .graph
            .ensure_folder(MAILBOX, sync_core::SYNC_FOLDER_NAME)
            .await
            .unwrap();
        mailbox.folder_id = folder.id;
        mailbox
    }

    async fn control(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let response = self
            .http
            .request(method, format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.unwrap_or(Value::Null)
    }

    /// Zeroes the emulator's request counters.
    async fn reset_counters(&self) {
        self.control(reqwest::Method::DELETE, "/_emulator/requests", json!({}))
            .await;
    }

    /// `by_route` counts since the last reset.
    async fn requests(&self) -> Value {
        self.control(reqwest::Method::GET, "/_emulator/requests", json!({}))
            .await
    }

    fn target(&self) -> Target<'_> {
        Target {
            graph: &self.graph,
            mailbox: MAILBOX,
            folder_id: Some(&self.folder_id),
        }
    }

    /// Creates a contact directly (not through the writer) in `folder`.
    async fn seed(&self, folder: &str, contact: NewContact) -> GraphContact {
        let written = self
            .graph
            .write_contacts(
                MAILBOX,
                &[ContactWrite::Create {
                    folder_id: folder.to_owned(),
                    contact,
                }],
            )
            .await;
        match written.into_iter().next() {
            Some(Ok(WriteOutcome::Created(contact))) => contact,
            other => panic!("seeding failed: {other:?}"),
        }
    }

    async fn by_key(&self, key: &str) -> Vec<GraphContact> {
        self.graph
            .find_by_extended_property(MAILBOX, Some(&self.folder_id), SYNC_KEY_PROPERTY_ID, key)
            .await
            .unwrap()
    }

    /// Whether the folder lists the item (a deleted item may live on in Deleted Items).
    async fn in_folder(&self, folder: &str, id: &str) -> bool {
        self.graph
            .list_contacts(MAILBOX, Some(folder), None)
            .await
            .unwrap()
            .iter()
            .any(|c| c.id == id)
    }

    async fn get(&self, id: &str) -> Option<GraphContact> {
        self.graph.get_contact(MAILBOX, id).await.unwrap()
    }
}

fn key(k: &str) -> SyncKey {
    SyncKey::try_from(k).unwrap()
}

fn id(i: &str) -> GraphItemId {
    GraphItemId::try_from(i).unwrap()
}

fn person(given: &str, surname: &str) -> GraphContactFields {
    GraphContactFields {
        given_name: Some(given.into()),
        surname: Some(surname.into()),
        ..Default::default()
    }
}

fn created_id(result: &WriteResult) -> String {
    match result {
        WriteResult::ExchangeCreated { id, .. } => id.as_str().to_owned(),
        other => panic!("not a create: {other:?}"),
    }
}

fn ok(executed: &Executed) {
    assert_eq!(executed.failure, None, "{executed:?}");
}

#[tokio::test]
async fn a_batch_creates_updates_and_deletes_in_one_round_trip_with_results_in_order() {
    let mailbox = Mailbox::start().await;
    let kept = mailbox
        .seed(
            &mailbox.folder_id,
            NewContact {
                fields: person("Grace", "Hopper"),
                categories: vec!["Salesforce".into()],
                sync_key: Some("sf-kept".into()),
            },
        )
        .await;
    let doomed = mailbox
        .seed(
            &mailbox.folder_id,
            NewContact {
                fields: person("Old", "Contact"),
                categories: vec!["Salesforce".into()],
                sync_key: Some("sf-doomed".into()),
            },
        )
        .await;
    mailbox.reset_counters().await;

    let commands = vec![
        ExchangeCommand::Create {
            sync_key: key("sf-new"),
            fields: person("Ada", "Lovelace"),
        },
        ExchangeCommand::Update {
            sync_key: key("sf-kept"),
            id: id(&kept.id),
            patch: GraphPatch {
                job_title: Some(Some("Rear Admiral".into())),
                ..Default::default()
            },
            categories: Some(vec!["Salesforce".into(), "Navy".into()]),
            stamp: Stamp::Keep,
        },
        ExchangeCommand::Delete {
            sync_key: key("sf-doomed"),
            id: id(&doomed.id),
        },
    ];
    let executed = execute(&mailbox.target(), &commands, false).await;
    ok(&executed);
    assert_eq!(executed.results.len(), 3);
    // All three writes went in one `$batch` request, and nothing else was called.
    let requests = mailbox.requests().await;
    assert_eq!(requests["http_requests"], 1, "{requests}");
    assert_eq!(requests["by_route"]["POST /v1.0/$batch"], 1, "{requests}");

    // The create: in the sync folder, with the category and the key stamped (B5).
    let new_id = created_id(&executed.results[0]);
    let found = mailbox.by_key("sf-new").await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, new_id);
    assert_eq!(found[0].categories, vec!["Salesforce".to_owned()]);
    assert_eq!(found[0].fields.surname.as_deref(), Some("Lovelace"));
    // The update: new changeKey reported, fields and categories written, stamp kept.
    let WriteResult::ExchangeUpdated {
        sync_key,
        change_key,
    } = &executed.results[1]
    else {
        panic!("not an update: {:?}", executed.results[1]);
    };
    assert_eq!(sync_key.as_str(), "sf-kept");
    let updated = mailbox.get(&kept.id).await.unwrap();
    assert_eq!(change_key, &updated.change_key);
    assert_ne!(change_key, &kept.change_key);
    assert_eq!(updated.fields.job_title.as_deref(), Some("Rear Admiral"));
    assert_eq!(updated.categories, vec!["Salesforce", "Navy"]);
    assert_eq!(updated.sync_key(), Some("sf-kept"));
    // The delete.
    assert_eq!(
        executed.results[2],
        WriteResult::ExchangeDeleted {
            sync_key: key("sf-doomed")
        }
    );
    assert!(!mailbox.in_folder(&mailbox.folder_id, &doomed.id).await);
}

#[tokio::test]
async fn c4_a_redelivered_create_finds_its_item_instead_of_creating_it_again() {
    let mailbox = Mailbox::start().await;
    let create = vec![ExchangeCommand::Create {
        sync_key: key("sf-once"),
        fields: person("Ada", "Lovelace"),
    }];
    let first = execute(&mailbox.target(), &create, false).await;
    ok(&first);

    mailbox.reset_counters().await;
    let again = execute(&mailbox.target(), &create, true).await;
    ok(&again);
    assert_eq!(again.results, first.results, "the same item is reported");
    assert_eq!(mailbox.by_key("sf-once").await.len(), 1);
    let requests = mailbox.requests().await;
    assert_eq!(
        requests["by_route"].get("POST /v1.0/$batch"),
        None,
        "a found item is not written again: {requests}"
    );
}

#[tokio::test]
async fn b9_a_move_copies_into_the_folder_with_its_stamp_then_deletes_the_original() {
    let mailbox = Mailbox::start().await;
    let original = mailbox
        .seed(
            "contacts",
            NewContact {
                fields: GraphContactFields {
                    company_name: Some("Analytical Engines".into()),
                    ..person("Charles", "Babbage")
                },
                categories: vec!["Salesforce".into()],
                sync_key: None,
            },
        )
        .await;
    let command = ExchangeCommand::MoveIntoFolder {
        sync_key: key("ex-moved"),
        id: id(&original.id),
        categories: vec!["Salesforce".into()],
        patch: GraphPatch {
            job_title: Some(Some("Inventor".into())),
            ..Default::default()
        },
    };
    let executed = execute(&mailbox.target(), std::slice::from_ref(&command), false).await;
    ok(&executed);
    let copy_id = created_id(&executed.results[0]);
    assert_ne!(copy_id, original.id);

    let copy = mailbox.get(&copy_id).await.unwrap();
    assert_eq!(
        copy.parent_folder_id.as_deref(),
        Some(mailbox.folder_id.as_str())
    );
    assert_eq!(copy.sync_key(), Some("ex-moved"));
    assert_eq!(copy.categories, vec!["Salesforce"]);
    assert_eq!(copy.fields.surname.as_deref(), Some("Babbage"));
    assert_eq!(
        copy.fields.company_name.as_deref(),
        Some("Analytical Engines")
    );
    assert_eq!(copy.fields.job_title.as_deref(), Some("Inventor"));
    assert!(
        !mailbox.in_folder("contacts", &original.id).await,
        "original deleted"
    );

    // Carried out again (a redelivery): the copy is found by its key, nothing is duplicated.
    let again = execute(&mailbox.target(), &[command], true).await;
    ok(&again);
    assert_eq!(created_id(&again.results[0]), copy_id);
    assert_eq!(mailbox.by_key("ex-moved").await.len(), 1);
}

#[tokio::test]
async fn c7_a_rejected_item_fails_alone_and_the_rest_of_the_batch_goes_on() {
    let mailbox = Mailbox::start().await;
    let commands = vec![
        ExchangeCommand::Update {
            sync_key: key("sf-ghost"),
            id: id("AAMkAGhvc3QtZG9lcy1ub3QtZXhpc3Q="),
            patch: GraphPatch {
                job_title: Some(Some("Nobody".into())),
                ..Default::default()
            },
            categories: None,
            stamp: Stamp::Keep,
        },
        ExchangeCommand::Create {
            sync_key: key("sf-fine"),
            fields: person("Alan", "Turing"),
        },
    ];
    let executed = execute(&mailbox.target(), &commands, false).await;
    ok(&executed);
    let WriteResult::ExchangeFailed { sync_key, failure } = &executed.results[0] else {
        panic!("not a failure: {:?}", executed.results[0]);
    };
    assert_eq!(sync_key.as_str(), "sf-ghost");
    assert!(failure.code.starts_with("Error"), "{failure:?}");
    assert!(!failure.message.is_empty());
    created_id(&executed.results[1]);
    assert_eq!(mailbox.by_key("sf-fine").await.len(), 1);
}

#[tokio::test]
async fn an_unreachable_graph_fails_the_batch_instead_of_reporting_results() {
    let mailbox = Mailbox::start().await;
    mailbox
        .control(
            reqwest::Method::POST,
            "/_emulator/faults",
            // Every attempt at the item fails: the client's retries run out.
            json!({"status": 503, "count": 1000, "route": "DELETE /v1.0/users/{id}/contacts/{id}"}),
        )
        .await;
    let executed = execute(
        &mailbox.target(),
        &[ExchangeCommand::Delete {
            sync_key: key("sf-x"),
            id: id("AAMkAGFueS1pZA=="),
        }],
        false,
    )
    .await;
    let failure = executed.failure.expect("the batch must fail");
    assert!(failure.message.contains("1 of 1"), "{failure}");
    assert!(executed.results.is_empty());
}

#[tokio::test]
async fn c4_a_create_whose_answer_is_lost_is_found_by_its_key_not_resent() {
    use wiremock::matchers::{method, path, path_regex};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/tenant-1/oauth2/v2.0/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "token_type": "Bearer", "expires_in": 3599, "access_token": "t"
        })))
        .mount(&server)
        .await;
    // The create reaches Graph but its answer never comes back in time.
    Mock::given(method("POST"))
        .and(path("/v1.0/$batch"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/v1\.0/users/.+/contactFolders/F1/contacts$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "value": [{"id": "LANDED", "changeKey": "ck-1", "categories": ["Salesforce"]}]
        })))
        .mount(&server)
        .await;
    let mut config = GraphConfig::new(
        Url::parse(&format!("{}/v1.0", server.uri())).unwrap(),
        Url::parse(&server.uri()).unwrap(),
        "tenant-1",
        "client-1",
        "secret".to_owned().into(),
    );
    config.request_timeout = Duration::from_millis(300);
    config.min_backoff = Duration::from_millis(10);
    let graph = GraphClient::new(config).unwrap();
    let target = Target {
        graph: &graph,
        mailbox: MAILBOX,
        folder_id: Some("F1"),
    };
    let executed = execute(
        &target,
        &[ExchangeCommand::Create {
            sync_key: key("sf-lost"),
            fields: person("Ada", "Lovelace"),
        }],
        false,
    )
    .await;
    ok(&executed);
    assert_eq!(
        executed.results,
        vec![WriteResult::ExchangeCreated {
            sync_key: key("sf-lost"),
            id: id("LANDED"),
            change_key: Some("ck-1".into()),
        }]
    );
    let batches = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == "/v1.0/$batch")
        .count();
    assert_eq!(batches, 1, "a create is never resent after a timeout");
}

#[tokio::test]
async fn b9_a_half_done_move_finishes_with_the_existing_copy() {
    let mailbox = Mailbox::start().await;
    let fields = person("Ada", "Lovelace");
    let original = mailbox
        .seed(
            "contacts",
            NewContact {
                fields: fields.clone(),
                categories: vec!["Salesforce".into()],
                sync_key: None,
            },
        )
        .await;
    // An earlier attempt made the copy and stopped before deleting the original.
    let copy = mailbox
        .seed(
            &mailbox.folder_id,
            NewContact {
                fields,
                categories: vec!["Salesforce".into()],
                sync_key: Some("ex-half".into()),
            },
        )
        .await;
    let executed = execute(
        &mailbox.target(),
        &[ExchangeCommand::MoveIntoFolder {
            sync_key: key("ex-half"),
            id: id(&original.id),
            categories: vec!["Salesforce".into()],
            patch: GraphPatch::default(),
        }],
        false,
    )
    .await;
    ok(&executed);
    assert_eq!(created_id(&executed.results[0]), copy.id);
    assert_eq!(mailbox.by_key("ex-half").await.len(), 1, "no second copy");
    assert!(!mailbox.in_folder("contacts", &original.id).await);
}
