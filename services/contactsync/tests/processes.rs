//! Production-shaped: every service as its own process (the `contactsync` binary's subcommands, as
//! Kubernetes runs them) with two replicas of each competing for the same queues. The rules hold
//! (B1, B5, B6, B8, C1, C3), one session is one trace across the services, exported over OTLP/HTTP
//! to a receiver in the test, a worker replica killed with SIGKILL in the middle of a large
//! session loses nothing and duplicates nothing (C4), and random edits on both sides end where a
//! model of the rules says, session after session.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use contactsync::harness::{ADMIN_TOKEN, Options, Processes, Stack};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use prost::Message as _;
use reqwest::Method;
use serde_json::{Value, json};
use test_support::eventually;

const BIN: &str = env!("CARGO_BIN_EXE_contactsync");

/// One span as the receiver got it.
#[derive(Debug, Clone)]
struct ReceivedSpan {
    service: String,
    name: String,
    trace_id: String,
    attributes: BTreeMap<String, String>,
}

/// An OTLP/HTTP trace receiver (`POST /v1/traces`, protobuf) on a free loopback port.
#[derive(Clone, Default)]
struct Receiver {
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
}

impl Receiver {
    async fn start() -> (Receiver, String) {
        let receiver = Receiver::default();
        let app = axum::Router::new()
            .route("/v1/traces", post(receive))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, url)
    }

    fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().expect("not poisoned").clone()
    }
}

async fn receive(
    State(receiver): State<Receiver>,
    body: Bytes,
) -> ([(&'static str, &'static str); 1], Vec<u8>) {
    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP trace export");
    let mut spans = receiver.spans.lock().expect("not poisoned");
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|resource| resource.attributes.iter())
            .find(|kv| kv.key == "service.name")
            .map(|kv| text(kv.value.as_ref()))
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                spans.push(ReceivedSpan {
                    service: service.clone(),
                    name: span.name.clone(),
                    trace_id: span.trace_id.iter().map(|b| format!("{b:02x}")).collect(),
                    attributes: span
                        .attributes
                        .iter()
                        .map(|kv| (kv.key.clone(), text(kv.value.as_ref())))
                        .collect(),
                });
            }
        }
    }
    // An empty ExportTraceServiceResponse: everything accepted.
    ([("content-type", "application/x-protobuf")], Vec::new())
}

fn text(value: Option<&opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

/// The one trace that holds the spans carrying `job_id`, once it has a span of every expected
/// `(service, span name)`; panics after a deadline with what did arrive.
async fn session_trace(
    receiver: &Receiver,
    job_id: &str,
    expected: &[(&str, &str)],
) -> Vec<ReceivedSpan> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let spans = receiver.spans();
        let trace_ids: BTreeSet<&str> = spans
            .iter()
            .filter(|s| s.attributes.get("job_id").map(String::as_str) == Some(job_id))
            .map(|s| s.trace_id.as_str())
            .collect();
        let trace: Vec<ReceivedSpan> = spans
            .iter()
            .filter(|s| trace_ids.contains(s.trace_id.as_str()))
            .cloned()
            .collect();
        let complete = expected.iter().all(|(service, name)| {
            trace
                .iter()
                .any(|s| s.service == *service && s.name == *name)
        });
        if trace_ids.len() == 1 && complete {
            return trace;
        }
        if tokio::time::Instant::now() >= deadline {
            let seen: BTreeSet<(String, String, String)> = trace
                .iter()
                .map(|s| (s.trace_id.clone(), s.service.clone(), s.name.clone()))
                .collect();
            panic!(
                "no single complete trace for job {job_id} after 60 s: {} trace(s), {} spans \
                 received in all; the job's traces hold {seen:#?}",
                trace_ids.len(),
                spans.len()
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

fn in_folder(contacts: &[Value]) -> Vec<&Value> {
    contacts
        .iter()
        .filter(|c| c["folderDisplayName"] == "Salesforce Contacts")
        .collect()
}

async fn metrics(stack: &Stack, service: &str, index: usize) -> String {
    let url = stack
        .children
        .as_ref()
        .and_then(|children| children.ops_url(service, index))
        .expect("a replica")
        .to_owned();
    match stack.http.get(format!("{url}/metrics")).send().await {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_of_every_service_as_processes_keep_the_rules_and_a_session_is_one_trace() {
    let (receiver, otlp) = Receiver::start().await;
    let stack = Stack::start_with(Options {
        processes: Some(Processes {
            otlp_endpoint: Some(otlp),
            // The spans are at INFO: RUST_LOG gates the trace layer as well as the logs.
            log_filter: "info".to_owned(),
            ..Processes::new(BIN, 2)
        }),
        ..Options::default()
    })
    .await
    .expect("stack");
    let user = stack.add_user("ada", json!({})).await.expect("user");
    stack.sync(&user).await.expect("B1 setup session");
    let folder = stack
        .folder_id(&user, "Salesforce Contacts")
        .await
        .expect("B1 folder");

    // One session that writes on both sides: two Contacts down (B5, B6), one up (B8).
    let grace = stack
        .create_in_salesforce(
            &user,
            json!({"FirstName": "Grace", "LastName": "Hopper",
                                             "Title": "Rear Admiral"}),
        )
        .await
        .expect("contact");
    stack
        .create_in_salesforce(&user, json!({"FirstName": "Alan", "LastName": "Turing"}))
        .await
        .expect("contact");
    stack
        .create_in_mailbox(
            &user,
            Some(&folder),
            json!({"givenName": "Margaret",
                                                        "surname": "Hamilton"}),
        )
        .await
        .expect("contact");
    let summary = stack.sync(&user).await.expect("session");
    assert_eq!(summary["writes"]["exchange"]["created"], 2, "{summary}");
    assert_eq!(summary["writes"]["salesforce"]["created"], 1, "{summary}");
    let job_id = summary["job_id"]
        .as_str()
        .expect("the session's job id")
        .to_owned();
    let mailbox = stack.mailbox_contacts(&user).await.expect("mailbox");
    let mut names: Vec<&str> = in_folder(&mailbox)
        .iter()
        .filter_map(|c| c["surname"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["Hamilton", "Hopper", "Turing"]);
    let live = stack.live_salesforce_contacts().await.expect("contacts");
    let margaret = live
        .iter()
        .find(|c| c["LastName"] == "Hamilton")
        .expect("B8: created in Salesforce");
    assert_eq!(margaret["OwnerId"], user.salesforce_user_id.as_str());
    stack.assert_quiet_session(&user).await.expect("C3");

    // C1: different fields changed on each side merge, whichever replicas take the work.
    let mailbox = stack.mailbox_contacts(&user).await.expect("mailbox");
    let mirror = in_folder(&mailbox)
        .into_iter()
        .find(|c| c["surname"] == "Hopper")
        .expect("mirror")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    stack
        .graph(
            &user,
            Method::PATCH,
            &format!("/contacts/{mirror}"),
            Some(json!({"department": "Navy"})),
        )
        .await
        .expect("mailbox edit");
    stack
        .salesforce(
            &user,
            Method::PATCH,
            &format!("/sobjects/Contact/{grace}"),
            Some(json!({"Title": "Commodore"})),
        )
        .await
        .expect("salesforce edit");
    stack.sync(&user).await.expect("session");
    let live = stack.live_salesforce_contacts().await.expect("contacts");
    let c = live
        .iter()
        .find(|c| c["Id"] == grace.as_str())
        .expect("contact");
    assert_eq!(c["Department"], "Navy");
    let mailbox = stack.mailbox_contacts(&user).await.expect("mailbox");
    let m = in_folder(&mailbox)
        .into_iter()
        .find(|c| c["id"] == mirror.as_str())
        .expect("mirror");
    assert_eq!(m["jobTitle"], "Commodore");

    // B6: deleted in Salesforce, gone from the mailbox.
    stack
        .salesforce(
            &user,
            Method::DELETE,
            &format!("/sobjects/Contact/{grace}"),
            None,
        )
        .await
        .expect("delete");
    let summary = stack.sync(&user).await.expect("session");
    assert_eq!(summary["writes"]["exchange"]["deleted"], 1, "{summary}");
    stack
        .assert_quiet_session(&user)
        .await
        .expect("C3 after the delete");

    // The second gateway replica serves the same state.
    let second = &stack.children.as_ref().expect("processes").gateway_urls()[1];
    let status = stack
        .http
        .get(format!("{second}/api/v1/users/ada/status"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("the second gateway answers");
    assert_eq!(status.status().as_u16(), 200);

    // The fleet and the Salesforce budget on the ops ports.
    eventually(30, "the scheduler's fleet gauges", || async {
        let text = metrics(&stack, "scheduler", 0).await;
        (text.contains("contactsync_users{state=\"succeeded\"} 1")
            && text.contains("contactsync_queue_messages{queue=\"")
            && text.contains("contactsync_sessions_recent{state=\"succeeded\"}"))
        .then_some(())
    })
    .await;
    let mut budget = String::new();
    for index in 0..2 {
        budget.push_str(&metrics(&stack, "salesforce-fetcher", index).await);
    }
    assert!(
        budget.contains("contactsync_salesforce_api_requests_used{org=\"dev\"}")
            && budget.contains("contactsync_salesforce_api_requests_limit{org=\"dev\"}"),
        "a Salesforce fetcher reports the org's API usage: {budget}"
    );

    // One trace holds the trigger, both reads, the decision, every write and the results.
    let expected = [
        ("gateway", "sync"),
        ("exchange-fetcher", "read_mailbox"),
        ("salesforce-fetcher", "read_salesforce"),
        ("reconciler", "on_change_batch"),
        ("exchange-writer", "write_batch"),
        ("salesforce-writer", "write_batch"),
        ("reconciler", "on_write_results"),
    ];
    let trace = session_trace(&receiver, &job_id, &expected).await;
    for (service, name) in expected {
        for span in trace
            .iter()
            .filter(|s| s.service == service && s.name == name)
        {
            assert_eq!(
                span.attributes.get("user_id").map(String::as_str),
                Some("ada"),
                "{span:?}"
            );
            if service != "gateway" {
                assert_eq!(span.attributes.get("job_id"), Some(&job_id), "{span:?}");
            }
        }
    }
    let services: BTreeSet<&str> = trace.iter().map(|s| s.service.as_str()).collect();
    assert!(services.len() >= 6, "{services:?}");

    stack.stop().await.expect("stop");

    // No secret in any attribute of any span any process sent.
    let secrets = [
        ADMIN_TOKEN,
        "dev-secret",
        "PRIVATE KEY",
        "Bearer ",
        "access_token",
        "client_secret",
    ];
    for span in receiver.spans() {
        for (key, value) in &span.attributes {
            for secret in secrets {
                assert!(
                    !value.contains(secret),
                    "{} {} attribute {key} holds a secret: {value}",
                    span.service,
                    span.name
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c4_a_writer_replica_killed_mid_session_on_200_contacts_loses_nothing_and_duplicates_nothing()
 {
    const N: usize = 200;
    let mut stack = Stack::start_with(Options {
        processes: Some(Processes::new(BIN, 2)),
        // Slow Graph down so the kill lands in the middle of the writes.
        graph: Some(Box::new(|config| config.knobs.latency_ms = 150)),
        ..Options::default()
    })
    .await
    .expect("stack");
    let user = stack.add_user("kim", json!({})).await.expect("user");
    for i in 0..N {
        stack
            .create_in_salesforce(&user, json!({"LastName": format!("Crash{i:03}")}))
            .await
            .expect("contact");
    }
    let (status, body) = stack
        .admin(
            Method::POST,
            &format!("/api/v1/users/{}/sync?wait=0", user.id),
            None,
        )
        .await
        .expect("sync");
    assert!(status == 200 || status == 202, "{status} {body}");

    let written = eventually(120, "the first mirrors", || async {
        let n = in_folder(&stack.mailbox_contacts(&user).await.ok()?).len();
        (n >= 5).then_some(n)
    })
    .await;
    let children = stack.children.as_mut().expect("processes");
    children.kill("exchange-writer", 0).await.expect("SIGKILL");
    let at_kill = in_folder(&stack.mailbox_contacts(&user).await.expect("mailbox")).len();
    assert!(
        at_kill < N,
        "the kill must land mid-session (had {written}, then {at_kill})"
    );

    // The surviving replica takes the killed one's unacknowledged batch over and looks its
    // creates up by their stamp before creating (C4). A write it could not carry out (Graph
    // throttling those lookups when the machine is busy) fails the item for this session only:
    // the next session finds a stamped contact and links it, or creates the missing one.
    eventually(180, "the session to finish", || async {
        stack.settle(&user).await.ok()
    })
    .await;
    let mut names = Vec::new();
    for session in 0..4 {
        let mailbox = stack.mailbox_contacts(&user).await.expect("mailbox");
        names = in_folder(&mailbox)
            .iter()
            .filter_map(|c| c["surname"].as_str().map(str::to_owned))
            .collect();
        if names.len() >= N || session == 3 {
            break;
        }
        stack.sync(&user).await.expect("a follow-up session");
    }
    let unique: BTreeSet<&String> = names.iter().collect();
    assert_eq!(unique.len(), N, "every Contact mirrored: nothing lost");
    assert_eq!(names.len(), N, "no duplicate mirror");

    // Back to two replicas; the next session has nothing left to do (C3).
    stack
        .children
        .as_mut()
        .expect("processes")
        .restart("exchange-writer", 0)
        .await
        .expect("restart");
    stack
        .assert_quiet_session(&user)
        .await
        .expect("C3 after the crash");
    stack.stop().await.expect("stop");
}

/// A small deterministic generator (SplitMix64): the seed is printed, so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Both sides as the user sees them: surname -> title, of the Salesforce Contacts and of the
/// mailbox folder.
async fn observed(
    stack: &Stack,
    user: &contactsync::harness::TestUser,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let salesforce = stack
        .live_salesforce_contacts()
        .await
        .expect("contacts")
        .iter()
        .filter_map(|c| {
            Some((
                c["LastName"].as_str()?.to_owned(),
                c["Title"].as_str().unwrap_or_default().to_owned(),
            ))
        })
        .collect();
    let mailbox = stack.mailbox_contacts(user).await.expect("mailbox");
    let folder = in_folder(&mailbox)
        .iter()
        .filter_map(|c| {
            Some((
                c["surname"].as_str()?.to_owned(),
                c["jobTitle"].as_str().unwrap_or_default().to_owned(),
            ))
        })
        .collect();
    (salesforce, folder)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_edits_on_both_sides_end_where_the_model_says_with_two_replicas_of_each() {
    const ROUNDS: usize = 8;
    const EDITS_PER_ROUND: usize = 4;
    let seed = std::env::var("CONTACTSYNC_MODEL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(7)
        });
    println!("model seed {seed} (CONTACTSYNC_MODEL_SEED={seed} replays it)");
    let mut rng = Rng(seed);
    let stack = Stack::start_with(Options {
        processes: Some(Processes::new(BIN, 2)),
        ..Options::default()
    })
    .await
    .expect("stack");
    let user = stack.add_user("max", json!({})).await.expect("user");
    stack.sync(&user).await.expect("B1 setup session");
    let folder = stack
        .folder_id(&user, "Salesforce Contacts")
        .await
        .expect("B1 folder");

    // The model: what both sides hold after each session, surname -> title.
    let mut model: BTreeMap<String, String> = BTreeMap::new();
    let titles = ["Engineer", "Manager", "Director", "Analyst", ""];
    let mut next = 0usize;
    for round in 0..ROUNDS {
        // Each contact is touched once per round at most: a change on each side of the same
        // field is C1's conflict, which the consistency tests cover.
        let mut touched: BTreeSet<String> = BTreeSet::new();
        let mut log = Vec::new();
        for _ in 0..EDITS_PER_ROUND {
            let title = titles[rng.below(titles.len())].to_owned();
            let untouched: Vec<String> = model
                .keys()
                .filter(|k| !touched.contains(*k))
                .cloned()
                .collect();
            let op = if untouched.is_empty() {
                rng.below(2)
            } else {
                rng.below(5)
            };
            match op {
                0 => {
                    next += 1;
                    let name = format!("Sf{next:03}");
                    stack
                        .create_in_salesforce(&user, json!({"LastName": name, "Title": title}))
                        .await
                        .expect("B6 create in Salesforce");
                    log.push(format!("salesforce create {name} {title:?}"));
                    touched.insert(name.clone());
                    model.insert(name, title);
                }
                1 => {
                    next += 1;
                    let name = format!("Mb{next:03}");
                    stack
                        .create_in_mailbox(
                            &user,
                            Some(&folder),
                            json!({"surname": name, "jobTitle": title}),
                        )
                        .await
                        .expect("B8 create in the folder");
                    log.push(format!("mailbox create {name} {title:?}"));
                    touched.insert(name.clone());
                    model.insert(name, title);
                }
                2 | 3 => {
                    let name = untouched[rng.below(untouched.len())].clone();
                    if op == 2 {
                        let live = stack.live_salesforce_contacts().await.expect("contacts");
                        let id = live
                            .iter()
                            .find(|c| c["LastName"] == name.as_str())
                            .and_then(|c| c["Id"].as_str())
                            .expect("in Salesforce")
                            .to_owned();
                        stack
                            .salesforce(
                                &user,
                                Method::PATCH,
                                &format!("/sobjects/Contact/{id}"),
                                Some(json!({"Title": title})),
                            )
                            .await
                            .expect("edit in Salesforce");
                        log.push(format!("salesforce edit {name} {title:?}"));
                    } else {
                        let mailbox = stack.mailbox_contacts(&user).await.expect("mailbox");
                        let id = in_folder(&mailbox)
                            .iter()
                            .find(|c| c["surname"] == name.as_str())
                            .and_then(|c| c["id"].as_str())
                            .expect("in the folder")
                            .to_owned();
                        stack
                            .graph(
                                &user,
                                Method::PATCH,
                                &format!("/contacts/{id}"),
                                Some(json!({"jobTitle": title})),
                            )
                            .await
                            .expect("edit in the mailbox");
                        log.push(format!("mailbox edit {name} {title:?}"));
                    }
                    touched.insert(name.clone());
                    model.insert(name, title);
                }
                _ => {
                    let name = untouched[rng.below(untouched.len())].clone();
                    let live = stack.live_salesforce_contacts().await.expect("contacts");
                    let id = live
                        .iter()
                        .find(|c| c["LastName"] == name.as_str())
                        .and_then(|c| c["Id"].as_str())
                        .expect("in Salesforce")
                        .to_owned();
                    stack
                        .salesforce(
                            &user,
                            Method::DELETE,
                            &format!("/sobjects/Contact/{id}"),
                            None,
                        )
                        .await
                        .expect("B6 delete in Salesforce");
                    log.push(format!("salesforce delete {name}"));
                    touched.insert(name.clone());
                    model.remove(&name);
                }
            }
        }
        let summary = stack.sync(&user).await.expect("session");
        let (salesforce, mailbox) = observed(&stack, &user).await;
        assert_eq!(
            salesforce, model,
            "seed {seed}, round {round} ({log:?}): Salesforce differs from the model; {summary}"
        );
        assert_eq!(
            mailbox, model,
            "seed {seed}, round {round} ({log:?}): the folder differs from the model; {summary}"
        );
    }
    stack
        .assert_quiet_session(&user)
        .await
        .expect("C3 after the last round");
    stack.stop().await.expect("stop");
}
