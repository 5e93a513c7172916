//! Scale scenarios of `contactsync bench` on the Exchange side (issue 12): a first mirror of a
//! user's many Salesforce Contacts into the mailbox, and an up-sync of many contacts created in
//! the mailbox's folder, each timed against a minimal direct client that makes the least calls
//! against the same emulators in the same run.
//!
//! The Graph emulator throttles as Outlook does (four requests in flight per app and mailbox);
//! its request budget (10,000 per 10 minutes, which alone makes a 100,000-contact mirror take 90
//! minutes for anyone) is raised to `BENCH_GRAPH_REQUEST_BUDGET` (default 10,000,000) so that
//! the figures compare the work, not the budget's wait; set it to 10000 to measure with Outlook's.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use contactsync::harness::{Options, Stack, TestUser};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::bench_feed::{env_usize, salesforce_user};
use crate::bench_sample::{folder_contacts, rate, sampled, written_per_second};

/// Graph's `$batch` limit.
const BATCH: usize = 20;
/// Salesforce's query page (`Sforce-Query-Options: batchSize`) at most.
const QUERY_PAGE: usize = 2_000;
/// Salesforce's sObject Collections at most.
const COLLECTION: usize = 200;
/// Graph's page size cap (`Prefer: odata.maxpagesize`).
const GRAPH_PAGE: usize = 1_000;
const API: &str = "/services/data/v60.0";
/// How often the mirror's written contacts are counted for its chart.
const SAMPLE_EVERY: Duration = Duration::from_millis(500);
/// The name of the direct mirror's mailbox (`{name}@contoso.test`).
const DIRECT_MIRROR: &str = "direct-mirror";

/// How large the scenarios are (`--scale`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scale {
    /// A quick look: 2,000 contacts mirrored, 500 up-synced.
    Small,
    /// The issue's: 100,000 contacts mirrored, 10,000 up-synced.
    Full,
}

impl Scale {
    /// Contacts of the first mirror; `BENCH_MIRROR_CONTACTS` overrides the scale's.
    fn mirror_contacts(self) -> anyhow::Result<usize> {
        env_usize(
            "BENCH_MIRROR_CONTACTS",
            match self {
                Scale::Small => 2_000,
                Scale::Full => 100_000,
            },
        )
    }

    /// Contacts of the up-sync; `BENCH_UP_SYNC_CONTACTS` overrides the scale's.
    fn up_sync_contacts(self) -> anyhow::Result<usize> {
        env_usize(
            "BENCH_UP_SYNC_CONTACTS",
            match self {
                Scale::Small => 500,
                Scale::Full => 10_000,
            },
        )
    }
}

static SCALE: OnceLock<Scale> = OnceLock::new();

/// Sets the scale of this run (before any scenario runs; later calls are ignored).
pub fn set_scale(scale: Scale) {
    let _ = SCALE.set(scale);
}

pub(crate) fn scale() -> Scale {
    SCALE.get().copied().unwrap_or(Scale::Full)
}

/// The least API requests of a first mirror of `n` Contacts: one `$batch` per 20 creates, one
/// query page per 2,000 Contacts, one delta round per contact folder (ours and the default
/// one), one Graph and one Salesforce login.
pub fn least_mirror_requests(n: usize) -> f64 {
    (n.div_ceil(BATCH) + n.div_ceil(QUERY_PAGE) + 2 + 2) as f64
}

/// A stack whose Graph emulator throttles per mailbox as Outlook does, with the request budget
/// of `BENCH_GRAPH_REQUEST_BUDGET`.
pub(crate) async fn throttled_stack() -> anyhow::Result<Stack> {
    let budget = u32::try_from(env_usize("BENCH_GRAPH_REQUEST_BUDGET", 10_000_000)?)
        .context("BENCH_GRAPH_REQUEST_BUDGET is too large")?;
    Stack::start_with(Options {
        graph: Some(Box::new(move |config| {
            config.knobs.throttle_enabled = true;
            config.knobs.mailbox_concurrency = 4;
            config.knobs.mailbox_request_budget = budget;
        })),
        // The services' production pool size (the test stack keeps theirs small).
        env: vec![(
            "DATABASE_POOL_SIZE".into(),
            config::DEFAULT_DATABASE_POOL_SIZE.to_string(),
        )],
        ..Options::default()
    })
    .await
}

/// What one first mirror cost, and its floors.
pub struct Mirror {
    pub seconds: f64,
    pub direct_seconds: f64,
    pub requests: f64,
    pub least_requests: f64,
    /// Contacts written per second over the session and over the direct client's run.
    pub written: crate::bench_report::Chart,
}

/// The first mirror, measured once per run for both of its scenarios.
pub async fn first_mirror() -> anyhow::Result<&'static Mirror> {
    static MEASURED: tokio::sync::OnceCell<Mirror> = tokio::sync::OnceCell::const_new();
    MEASURED.get_or_try_init(measure_mirror).await
}

async fn measure_mirror() -> anyhow::Result<Mirror> {
    let n = scale().mirror_contacts()?;
    let stack = throttled_stack().await?;
    let user = stack.add_user("mirror", json!({})).await?;
    eprintln!("  mirror: seeding {n} Salesforce Contacts");
    let records: Vec<Value> = (0..n)
        .map(|i| {
            json!({"FirstName": format!("Mirror{i}"), "LastName": format!("Contact{i:06}"),
                   "Email": format!("mirror{i}@example.com"), "Phone": "+1 555 0100",
                   "OwnerId": user.salesforce_user_id})
        })
        .collect();
    for chunk in records.chunks(COLLECTION) {
        stack
            .emulator_control(
                &stack.salesforce_url,
                Method::POST,
                "/sobjects/Contact",
                Some(json!({"as_user": user.salesforce_user_id, "records": chunk})),
            )
            .await?;
    }
    drop(records);
    stack.reset_counters().await?;
    eprintln!("  mirror: the first session");
    let folder_count = || folder_contacts(&stack, &user.mailbox, "Salesforce Contacts");
    let (seconds, written) = sampled(
        SAMPLE_EVERY,
        timed_session(&stack, &user, "exchange", n),
        folder_count,
    )
    .await;
    let seconds = seconds?;
    let (graph, salesforce) = stack.counters().await?;
    let requests = http_requests(&graph) + http_requests(&salesforce);
    eprintln!(
        "  mirror: {seconds:.1} s, {requests} requests (Graph {}, Salesforce {})",
        graph["by_route"], salesforce["by_route"]
    );
    stack.assert_quiet_session(&user).await?;
    eprintln!("  mirror: the direct client");
    let direct_mailbox = format!("{DIRECT_MIRROR}@contoso.test");
    let direct_count = || folder_contacts(&stack, &direct_mailbox, "Direct");
    let (direct_seconds, direct_written) = sampled(
        SAMPLE_EVERY,
        direct_mirror(&stack, &user.salesforce_user_id, n),
        direct_count,
    )
    .await;
    let direct_seconds = direct_seconds?;
    eprintln!("  mirror: direct client {direct_seconds:.1} s");
    stack.stop().await?;
    Ok(Mirror {
        seconds,
        direct_seconds,
        requests,
        least_requests: least_mirror_requests(n),
        written: written_per_second(
            "Contacts written per second",
            vec![
                rate("the first session", &written?),
                rate("direct client", &direct_written?),
            ],
        ),
    })
}

/// What one up-sync cost, and its floor.
pub struct UpSync {
    pub seconds: f64,
    pub direct_seconds: f64,
}

pub async fn up_sync() -> anyhow::Result<UpSync> {
    let n = scale().up_sync_contacts()?;
    let stack = throttled_stack().await?;
    let user = stack.add_user("upsync", json!({})).await?;
    let folder = stack.folder_id(&user, "Salesforce Contacts").await?;
    eprintln!("  up-sync: seeding {n} mailbox contacts");
    seed_mailbox(&stack, &user.mailbox, &folder, n, "Up").await?;
    stack.reset_counters().await?;
    eprintln!("  up-sync: the session");
    let seconds = timed_session(&stack, &user, "salesforce", n).await?;
    let stamped = stack
        .mailbox_contacts(&user)
        .await?
        .iter()
        .filter(|c| c["folderDisplayName"] == "Salesforce Contacts")
        .filter(|c| {
            c["singleValueExtendedProperties"]
                .as_array()
                .is_some_and(|props| {
                    props.iter().any(|p| {
                        p["id"] == graph_client::SYNC_KEY_PROPERTY_ID
                            && p["value"].as_str().is_some_and(|v| !v.is_empty())
                    })
                })
        })
        .count();
    ensure!(
        stamped == n,
        "the session stamped {stamped} of {n} contacts"
    );
    eprintln!("  up-sync: {seconds:.1} s, every contact stamped");
    stack.assert_quiet_session(&user).await?;
    eprintln!("  up-sync: the direct client");
    let direct_seconds = direct_up_sync(&stack, n).await?;
    eprintln!("  up-sync: direct client {direct_seconds:.1} s");
    stack.stop().await?;
    Ok(UpSync {
        seconds,
        direct_seconds,
    })
}

/// `http_requests` of an emulator's counters.
fn http_requests(counters: &Value) -> f64 {
    counters["http_requests"].as_f64().unwrap_or(0.0)
}

/// Creates `n` contacts in a mailbox folder through the Graph emulator's control API (not
/// counted as traffic), 1,000 per call.
async fn seed_mailbox(
    stack: &Stack,
    mailbox: &str,
    folder: &str,
    n: usize,
    tag: &str,
) -> anyhow::Result<()> {
    let contacts: Vec<Value> = (0..n)
        .map(|i| {
            json!({"givenName": format!("{tag}{i}"), "surname": format!("{tag}Contact{i:06}"),
                   "emailAddresses": [{"address": format!("{}{i}@example.com", tag.to_lowercase())}]})
        })
        .collect();
    for chunk in contacts.chunks(GRAPH_PAGE) {
        stack
            .emulator_control(
                &stack.graph_url,
                Method::POST,
                &format!("/mailboxes/{mailbox}/contacts"),
                Some(json!({"folder": folder, "contacts": chunk})),
            )
            .await?;
    }
    Ok(())
}

/// Runs the user's next session and returns how long it took, in seconds; it must succeed
/// having created `n` contacts on `side` (`exchange` or `salesforce`).
async fn timed_session(
    stack: &Stack,
    user: &TestUser,
    side: &str,
    n: usize,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let summary = session(stack, user).await?;
    let seconds = started.elapsed().as_secs_f64();
    let created = summary["writes"][side]["created"].as_u64().unwrap_or(0);
    ensure!(
        summary["state"] == "succeeded" && created == n as u64,
        "the session created {created} of {n} on the {side} side: {summary}"
    );
    Ok(seconds)
}

/// Runs one session for the user and returns its summary, however long it takes (the admin
/// API's `?wait=` stops at five minutes; then the user's status says when it finished).
async fn session(stack: &Stack, user: &TestUser) -> anyhow::Result<Value> {
    let (status, body) = stack
        .admin(
            Method::POST,
            &format!("/api/v1/users/{}/sync?wait=300", user.id),
            None,
        )
        .await?;
    match status {
        200 => return Ok(body),
        202 => {}
        _ => bail!("sync: {status} {body}"),
    }
    let job = body["job_id"].clone();
    let started = Instant::now();
    loop {
        let status = stack.status(user).await?;
        if status["last_session"]["job_id"] == job {
            return Ok(status["last_session"].clone());
        }
        if started.elapsed() > Duration::from_secs(4 * 3600) {
            bail!("the session did not finish in four hours: {status}");
        }
        if let Some(active) = status["active_session"].as_object() {
            eprintln!(
                "  … {:.0} s: {} {}",
                started.elapsed().as_secs_f64() + 300.0,
                active.get("state").unwrap_or(&Value::Null),
                active.get("writes").unwrap_or(&Value::Null)
            );
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

/// The calls of a direct client: a Graph token and a Salesforce session of the integration
/// user, both from the emulators' control APIs.
#[derive(Clone)]
pub(crate) struct Direct {
    http: reqwest::Client,
    /// Graph's `/v1.0` base.
    pub(crate) graph: String,
    pub(crate) graph_token: String,
    /// Salesforce's REST base (`/services/data/v60.0`).
    pub(crate) salesforce: String,
    pub(crate) salesforce_token: String,
}

impl Direct {
    pub(crate) async fn new(stack: &Stack) -> anyhow::Result<Direct> {
        let graph_token = stack
            .emulator_control(&stack.graph_url, Method::POST, "/tokens", Some(json!({})))
            .await?["access_token"]
            .as_str()
            .context("graph token")?
            .to_owned();
        let salesforce_token = stack
            .emulator_control(
                &stack.salesforce_url,
                Method::POST,
                "/tokens",
                Some(
                    json!({"username": salesforce_emulator::config::DEFAULT_INTEGRATION_USERNAME}),
                ),
            )
            .await?["access_token"]
            .as_str()
            .context("salesforce token")?
            .to_owned();
        Ok(Direct {
            http: reqwest::Client::new(),
            graph: format!("{}/v1.0", stack.graph_url),
            graph_token,
            salesforce: format!("{}{API}", stack.salesforce_url),
            salesforce_token,
        })
    }

    /// A new mailbox (control API) with a folder of its own; returns (mailbox, folder id).
    pub(crate) async fn mailbox(
        &self,
        stack: &Stack,
        name: &str,
    ) -> anyhow::Result<(String, String)> {
        let mailbox = format!("{name}@contoso.test");
        crate::bench_feed::graph_mailbox(stack, &mailbox).await?;
        let folder = self
            .call(
                &format!("{}/users/{mailbox}/contactFolders", self.graph),
                &self.graph_token,
                Method::POST,
                Some(json!({"displayName": "Direct"})),
            )
            .await?;
        let folder = folder["id"].as_str().context("folder id")?.to_owned();
        Ok((mailbox, folder))
    }

    pub(crate) async fn call(
        &self,
        url: &str,
        token: &str,
        method: Method,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(method, url)
            .bearer_auth(token)
            .header("Sforce-Query-Options", format!("batchSize={QUERY_PAGE}"))
            .header("Prefer", format!("odata.maxpagesize={GRAPH_PAGE}"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        ensure!(status.is_success(), "{url}: {status} {text}");
        Ok(serde_json::from_str(&text)?)
    }

    /// One `$batch` of `items` (method, url, body), one at a time per mailbox: Graph runs a
    /// batch's items four at a time, all of a mailbox's concurrency. Items throttled (429) are
    /// sent again after the longest `Retry-After`; any other failure is an error.
    async fn batch(&self, items: Vec<(Method, String, Value)>) -> anyhow::Result<Vec<Value>> {
        let mut bodies = vec![Value::Null; items.len()];
        let mut pending: Vec<usize> = (0..items.len()).collect();
        while !pending.is_empty() {
            let requests: Vec<Value> = pending
                .iter()
                .map(|&i| {
                    let (method, url, body) = &items[i];
                    json!({"id": i.to_string(), "method": method.as_str(), "url": url,
                           "body": body, "headers": {"Content-Type": "application/json"}})
                })
                .collect();
            let answer = self
                .call(
                    &format!("{}/$batch", self.graph),
                    &self.graph_token,
                    Method::POST,
                    Some(json!({ "requests": requests })),
                )
                .await?;
            let mut throttled = Vec::new();
            let mut wait = 0.0_f64;
            for r in answer["responses"].as_array().context("batch responses")? {
                let i: usize = r["id"]
                    .as_str()
                    .and_then(|id| id.parse().ok())
                    .context("a batch response id")?;
                match r["status"].as_u64() {
                    Some(200..300) => bodies[i] = r["body"].clone(),
                    Some(429) => {
                        throttled.push(i);
                        let after = r["headers"]["Retry-After"]
                            .as_str()
                            .and_then(|s| s.parse::<f64>().ok())
                            .unwrap_or(1.0);
                        wait = wait.max(after);
                    }
                    _ => bail!("a batch item failed: {r}"),
                }
            }
            if !throttled.is_empty() {
                tokio::time::sleep(Duration::from_secs_f64(wait)).await;
            }
            pending = throttled;
        }
        Ok(bodies)
    }
}

/// The least work of a first mirror, timed: the owner's Contacts read in query pages of 2,000
/// while the creates go out in `$batch`es of 20 into a fresh mailbox's folder, one batch in
/// flight (Graph runs its items four at a time: the mailbox's concurrency).
pub(crate) async fn direct_mirror(stack: &Stack, owner: &str, n: usize) -> anyhow::Result<f64> {
    let direct = Direct::new(stack).await?;
    let (mailbox, folder) = direct.mailbox(stack, DIRECT_MIRROR).await?;
    let (pages_tx, mut pages) = mpsc::channel::<Vec<Value>>(4);
    let started = Instant::now();
    let reader = {
        let direct = direct.clone();
        let soql = format!(
            "SELECT Id, FirstName, LastName, Email, Phone FROM Contact WHERE OwnerId = '{owner}'"
        );
        tokio::spawn(async move {
            let mut url = reqwest::Url::parse_with_params(
                &format!("{}/query", direct.salesforce),
                [("q", soql)],
            )?
            .to_string();
            loop {
                let page = direct
                    .call(&url, &direct.salesforce_token, Method::GET, None)
                    .await?;
                let records = page["records"].as_array().cloned().unwrap_or_default();
                if pages_tx.send(records).await.is_err() {
                    break;
                }
                match page["nextRecordsUrl"].as_str() {
                    Some(next) => {
                        url = format!(
                            "{}{next}",
                            direct
                                .salesforce
                                .trim_end_matches(API)
                                .trim_end_matches('/')
                        )
                    }
                    None => break,
                }
            }
            anyhow::Ok(())
        })
    };
    let url = format!("/users/{mailbox}/contactFolders/{folder}/contacts");
    let mut written = 0;
    let mut pending: Vec<Value> = Vec::new();
    loop {
        let page = pages.recv().await;
        let done = page.is_none();
        pending.extend(page.unwrap_or_default());
        while pending.len() >= BATCH || (done && !pending.is_empty()) {
            let chunk: Vec<Value> = pending.drain(..pending.len().min(BATCH)).collect();
            let items = chunk
                .iter()
                .map(|c| (Method::POST, url.clone(), mirror_body(c)))
                .collect();
            written += direct.batch(items).await?.len();
        }
        if done {
            break;
        }
    }
    reader.await??;
    let seconds = started.elapsed().as_secs_f64();
    ensure!(written == n, "the direct client mirrored {written} of {n}");
    Ok(seconds)
}

/// A Graph contact for a Salesforce Contact, stamped with its Id.
fn mirror_body(contact: &Value) -> Value {
    json!({
        "givenName": contact["FirstName"], "surname": contact["LastName"],
        "emailAddresses": [{"address": contact["Email"]}],
        "businessPhones": [contact["Phone"]],
        "categories": ["Salesforce"],
        "singleValueExtendedProperties": [{"id": graph_client::SYNC_KEY_PROPERTY_ID,
                                           "value": contact["Id"]}],
    })
}

/// The least work of an up-sync, timed: the folder's delta read in pages of 1,000, the
/// Contacts created in collections of 200 as the pages come, and once the read is done (a
/// stamp during it would make the delta report the contact again) each new Id stamped on its
/// mailbox contact in `$batch`es of 20 as the creates come; each stage one call at a time.
async fn direct_up_sync(stack: &Stack, n: usize) -> anyhow::Result<f64> {
    let direct = std::sync::Arc::new(Direct::new(stack).await?);
    let (mailbox, folder) = direct.mailbox(stack, "direct-upsync").await?;
    seed_mailbox(stack, &mailbox, &folder, n, "DirectUp").await?;
    let owner = salesforce_user(stack, "direct-upsync@acme.test").await?;
    let (read_tx, mut read) = mpsc::channel::<Vec<Value>>(4);
    // Unbounded: the stamps wait for the read to end (a stamp during the read makes the delta
    // report the contact again, and a minimal client reads each contact once).
    let (made_tx, mut made) = mpsc::unbounded_channel::<Vec<(String, String)>>();
    let started = Instant::now();
    let reader = {
        let direct = direct.clone();
        let first = format!(
            "{}/users/{mailbox}/contactFolders/{folder}/contacts/delta",
            direct.graph
        );
        tokio::spawn(async move {
            let mut url = first;
            loop {
                let page = direct
                    .call(&url, &direct.graph_token, Method::GET, None)
                    .await?;
                let items = page["value"].as_array().cloned().unwrap_or_default();
                if read_tx.send(items).await.is_err() {
                    break;
                }
                match page["@odata.nextLink"].as_str() {
                    Some(next) => url = next.to_owned(),
                    None => break,
                }
            }
            anyhow::Ok(())
        })
    };
    let creator = {
        let direct = direct.clone();
        tokio::spawn(async move {
            let mut pending: Vec<Value> = Vec::new();
            loop {
                let page = read.recv().await;
                let done = page.is_none();
                pending.extend(page.unwrap_or_default());
                while pending.len() >= COLLECTION || (done && !pending.is_empty()) {
                    let chunk: Vec<Value> =
                        pending.drain(..pending.len().min(COLLECTION)).collect();
                    let records: Vec<Value> = chunk
                        .iter()
                        .map(|c| {
                            json!({"attributes": {"type": "Contact"},
                                   "FirstName": c["givenName"], "LastName": c["surname"],
                                   "Email": c["emailAddresses"][0]["address"], "OwnerId": owner})
                        })
                        .collect();
                    let answer = direct
                        .call(
                            &format!("{}/composite/sobjects", direct.salesforce),
                            &direct.salesforce_token,
                            Method::POST,
                            Some(json!({"allOrNone": false, "records": records})),
                        )
                        .await?;
                    let results = answer.as_array().context("collection results")?;
                    let mut ids = Vec::with_capacity(chunk.len());
                    for (contact, result) in chunk.iter().zip(results) {
                        ensure!(result["success"] == true, "a create failed: {result}");
                        ids.push((
                            contact["id"].as_str().context("contact id")?.to_owned(),
                            result["id"].as_str().context("Contact Id")?.to_owned(),
                        ));
                    }
                    if made_tx.send(ids).is_err() {
                        return anyhow::Ok(());
                    }
                }
                if done {
                    break;
                }
            }
            anyhow::Ok(())
        })
    };
    reader.await??;
    let mut stamped = 0;
    let mut pending: Vec<(String, String)> = Vec::new();
    loop {
        let ids = made.recv().await;
        let done = ids.is_none();
        pending.extend(ids.unwrap_or_default());
        while pending.len() >= BATCH || (done && !pending.is_empty()) {
            let chunk: Vec<(String, String)> = pending.drain(..pending.len().min(BATCH)).collect();
            let items = chunk
                .iter()
                .map(|(contact, id)| {
                    (
                        Method::PATCH,
                        format!("/users/{mailbox}/contacts/{contact}"),
                        json!({"categories": ["Salesforce"],
                               "singleValueExtendedProperties": [
                                   {"id": graph_client::SYNC_KEY_PROPERTY_ID, "value": id}]}),
                    )
                })
                .collect();
            stamped += direct.batch(items).await?.len();
        }
        if done {
            break;
        }
    }
    creator.await??;
    let seconds = started.elapsed().as_secs_f64();
    ensure!(stamped == n, "the direct client up-synced {stamped} of {n}");
    Ok(seconds)
}
