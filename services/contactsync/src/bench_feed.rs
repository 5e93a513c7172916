//! Org-scale scenarios of `contactsync bench` (issue 11): what an idle session costs in a busy
//! org, and what a sweep of every idle user of one org costs, against the least possible.
//!
//! - `idle_session_*`: one user idle while other owners changed 10,000 Contacts (the org's feed
//!   has read them, as it does for the first session that asks); the user's periodic session's
//!   Salesforce requests (floor: none — nothing concerns it) and Graph requests (floor: one delta
//!   per folder it follows, counted from its cursor).
//! - `idle_sweep_*`: `BENCH_SWEEP_USERS` users (default 10,000) of one org with
//!   `BENCH_SWEEP_CONTACTS` Contacts each (default 20), all idle, one periodic session each driven
//!   by the scheduler, the org's feed last read an hour before. Requests floor: the org-level reads
//!   (Contacts, Accounts, and the delete log when a whole minute has passed). Seconds floor: a
//!   minimal direct client making the same least requests (each followed folder's delta, the
//!   org's reads) with the services' concurrency, in the same run.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, bail};
use contactsync::harness::{ORG, Options, Stack};
use reqwest::Method;
use serde_json::{Value, json};
use sync_state::links::{self, CursorSide};
use sync_state::{org_feed, simulate};
use tokio::sync::Semaphore;

/// Contacts other owners change in the busy-org scenario.
const BUSY_CONTACTS: usize = 10_000;

/// What the idle user's periodic session cost.
pub struct IdleSession {
    pub salesforce_requests: f64,
    pub graph_requests: f64,
    /// Folders the user's mailbox read follows: the Graph floor.
    pub folders: f64,
}

/// API requests in a counters answer, logins left out (a token lasts for hours).
fn requests(counters: &Value) -> f64 {
    counters["by_route"].as_object().map_or(0.0, |routes| {
        routes
            .iter()
            .filter(|(route, _)| !route.contains("/oauth2/") && !route.contains("/token"))
            .filter_map(|(_, n)| n.as_f64())
            .fold(0.0, |sum, n| sum + n)
    })
}

async fn control(
    stack: &Stack,
    base: &str,
    method: Method,
    path: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let body = (!body.is_null()).then_some(body);
    stack.emulator_control(base, method, path, body).await
}

/// A new Exchange mailbox `address` in the Graph emulator (control API).
pub(crate) async fn graph_mailbox(stack: &Stack, address: &str) -> anyhow::Result<()> {
    control(
        stack,
        &stack.graph_url,
        Method::POST,
        "/mailboxes",
        json!({"id": uuid::Uuid::new_v4().to_string(), "userPrincipalName": address}),
    )
    .await?;
    Ok(())
}

/// A new Salesforce user (control API); returns its Id.
pub(crate) async fn salesforce_user(stack: &Stack, username: &str) -> anyhow::Result<String> {
    let user = control(
        stack,
        &stack.salesforce_url,
        Method::POST,
        "/users",
        json!({"Username": username}),
    )
    .await?;
    Ok(user["Id"]
        .as_str()
        .or_else(|| user["id"].as_str())
        .context("the Salesforce user's Id")?
        .to_owned())
}

/// Creates Contacts through the control API (not counted as traffic), 200 per call.
async fn seed_contacts(
    stack: &Stack,
    owners: &[String],
    per_owner: usize,
    tag: &str,
) -> anyhow::Result<()> {
    let all: Vec<Value> = owners
        .iter()
        .enumerate()
        .flat_map(|(u, owner)| {
            (0..per_owner).map(move |i| {
                json!({"FirstName": format!("{tag}{u}"), "LastName": format!("{tag}{u}x{i:05}"),
                       "OwnerId": owner})
            })
        })
        .collect();
    for chunk in all.chunks(200) {
        control(
            stack,
            &stack.salesforce_url,
            Method::POST,
            "/sobjects/Contact",
            json!({"records": chunk}),
        )
        .await?;
    }
    Ok(())
}

/// Makes the users' periodic sessions due now (as if the last were an hour old).
async fn make_due(stack: &Stack, users: &[String]) -> anyhow::Result<()> {
    let client = stack.pool.get().await?;
    simulate::make_periodic_due(&**client, users).await?;
    Ok(())
}

/// Waits until each of `users` has finished a periodic session created after `since`.
async fn wait_periodic(
    stack: &Stack,
    users: &[String],
    since: chrono::DateTime<chrono::Utc>,
    label: &str,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut last = 0;
    loop {
        let done = {
            let client = stack.pool.get().await?;
            simulate::periodic_sessions_finished_since(&**client, users, since).await?
        };
        if done >= users.len() {
            return Ok(());
        }
        if done / 1000 != last / 1000 {
            eprintln!("  {label}: {done}/{} sessions", users.len());
        }
        last = done;
        if started.elapsed().as_secs() > 3_600 {
            bail!("{label}: {done} of {} sessions in an hour", users.len());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Pushes the org feed's last read an hour back: the next session that wants it reads the org.
async fn age_feed(stack: &Stack) -> anyhow::Result<()> {
    let client = stack.pool.get().await?;
    simulate::age_org_feeds(&**client, chrono::Duration::hours(1)).await?;
    Ok(())
}

/// The folders each user's mailbox read follows (the keys of its stored delta links).
async fn followed_folders(stack: &Stack, user_id: &str) -> anyhow::Result<Vec<String>> {
    let client = stack.pool.get().await?;
    let cursor = links::load_cursor(&**client, user_id, CursorSide::Exchange)
        .await?
        .context("an exchange cursor")?;
    Ok(cursor["delta_links"]
        .as_object()
        .context("an exchange cursor with delta links")?
        .values()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect())
}

/// One idle user's periodic session after other owners changed [`BUSY_CONTACTS`] Contacts,
/// measured once per run for both of its scenarios.
pub async fn idle_session() -> anyhow::Result<&'static IdleSession> {
    static MEASURED: tokio::sync::OnceCell<IdleSession> = tokio::sync::OnceCell::const_new();
    MEASURED.get_or_try_init(measure_idle_session).await
}

async fn measure_idle_session() -> anyhow::Result<IdleSession> {
    let stack = Stack::start().await?;
    let idle = stack.add_user("idle", json!({})).await?;
    let reader = stack.add_user("reader", json!({})).await?;
    seed_contacts(
        &stack,
        std::slice::from_ref(&idle.salesforce_user_id),
        20,
        "Idle",
    )
    .await?;
    stack.sync(&idle).await?;
    // Owners who are no users of ours change 10,000 Contacts.
    let owner = salesforce_user(&stack, "busy@acme.test").await?;
    seed_contacts(&stack, &[owner], BUSY_CONTACTS, "Busy").await?;
    // Another user's on-demand session makes the org's feed current: the org's read.
    stack.sync(&reader).await?;
    stack.reset_counters().await?;
    let since = chrono::Utc::now();
    make_due(&stack, std::slice::from_ref(&idle.id)).await?;
    wait_periodic(
        &stack,
        std::slice::from_ref(&idle.id),
        since,
        "idle session",
    )
    .await?;
    let (graph, salesforce) = stack.counters().await?;
    eprintln!(
        "  idle session: Salesforce {}; Graph {}",
        salesforce["by_route"], graph["by_route"]
    );
    let folders = followed_folders(&stack, &idle.id).await?.len() as f64;
    stack.stop().await?;
    Ok(IdleSession {
        salesforce_requests: requests(&salesforce),
        graph_requests: requests(&graph),
        folders,
    })
}

/// What one sweep of every idle user of the org cost, and its floors.
pub struct Sweep {
    pub salesforce_requests: f64,
    pub least_salesforce_requests: f64,
    pub seconds: f64,
    pub direct_seconds: f64,
}

pub(crate) fn env_usize(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{name}={v} is not a count")),
        Err(_) => Ok(default),
    }
}

/// Registers `n` users as the admin API does (mailbox, Salesforce user, registration,
/// enabling), without waiting for their first sessions.
async fn register(stack: &Stack, n: usize) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let mut ids = Vec::with_capacity(n);
    let mut owners = Vec::with_capacity(n);
    for i in 0..n {
        let id = format!("sweep{i:05}");
        let mailbox = format!("{id}@contoso.test");
        graph_mailbox(stack, &mailbox).await?;
        let owner = salesforce_user(stack, &format!("{id}@acme.test")).await?;
        let (status, body) = stack
            .admin(
                Method::POST,
                "/api/v1/users",
                Some(json!({"id": id, "mailbox": mailbox, "salesforce_user_id": owner})),
            )
            .await?;
        if status >= 300 {
            bail!("registering {id}: {status} {body}");
        }
        let (status, body) = stack
            .admin(
                Method::PUT,
                &format!("/api/v1/users/{id}/settings/contacts"),
                Some(json!({"enabled": true, "scope": "mine"})),
            )
            .await?;
        if status >= 300 {
            bail!("enabling {id}: {status} {body}");
        }
        if (i + 1) % 1000 == 0 {
            eprintln!("  registered {}/{n}", i + 1);
        }
        ids.push(id);
        owners.push(owner);
    }
    Ok((ids, owners))
}

/// Registers `users` users of the org, each owning `contacts` new Contacts, and mirrors them
/// all: every user's first sessions (with nothing yet), then one periodic session each that takes
/// its Contacts from the org's feed (a sweep of the org, checked by the links it made). Returns
/// the users' ids.
pub(crate) async fn populate(
    stack: &Stack,
    users: usize,
    contacts: usize,
) -> anyhow::Result<Vec<String>> {
    eprintln!("  registering {users} users");
    let (ids, owners) = register(stack, users).await?;
    seed_contacts(stack, &owners, contacts, "Sweep").await?;
    let since = chrono::Utc::now();
    age_feed(stack).await?;
    make_due(stack, &ids).await?;
    wait_periodic(stack, &ids, since, "catch-up").await?;
    let links = {
        let client = stack.pool.get().await?;
        simulate::count_links(&**client).await?
    };
    if links != (users * contacts) as i64 {
        bail!(
            "the catch-up mirrored {links} of {} Contacts",
            users * contacts
        );
    }
    Ok(ids)
}

/// The sweep of `BENCH_SWEEP_USERS` idle users, measured once per run for both of its
/// scenarios.
pub async fn sweep() -> anyhow::Result<&'static Sweep> {
    static MEASURED: tokio::sync::OnceCell<Sweep> = tokio::sync::OnceCell::const_new();
    MEASURED.get_or_try_init(measure_sweep).await
}

async fn measure_sweep() -> anyhow::Result<Sweep> {
    let users = env_usize("BENCH_SWEEP_USERS", 10_000)?;
    let contacts = env_usize("BENCH_SWEEP_CONTACTS", 20)?;
    // The services' production pool size (the test stack keeps theirs small).
    let stack = Stack::start_with(Options {
        env: vec![(
            "DATABASE_POOL_SIZE".into(),
            config::DEFAULT_DATABASE_POOL_SIZE.to_string(),
        )],
        ..Options::default()
    })
    .await?;
    let ids = populate(&stack, users, contacts).await?;

    // The measured sweep: everyone idle, nothing changed in the org for ten minutes (past the
    // feed's overlap), the feed read since (its last read then pushed an hour back, so the
    // sweep must read the org once).
    control(
        &stack,
        &stack.salesforce_url,
        Method::POST,
        "/clock",
        json!({"advance_seconds": 600}),
    )
    .await?;
    // The org's feed was read meanwhile, as sessions due over those minutes read it.
    let (status, body) = stack
        .admin(
            Method::POST,
            &format!("/api/v1/users/{}/sync?wait=60", ids[0]),
            None,
        )
        .await?;
    if status != 200 {
        bail!("a session reading the feed: {status} {body}");
    }
    age_feed(&stack).await?;
    let least = least_org_reads(&stack).await?;
    stack.reset_counters().await?;
    let since = chrono::Utc::now();
    let started = Instant::now();
    make_due(&stack, &ids).await?;
    wait_periodic(&stack, &ids, since, "sweep").await?;
    let seconds = started.elapsed().as_secs_f64();
    let (graph, salesforce) = stack.counters().await?;
    eprintln!(
        "  sweep of {users} users: {seconds:.1} s; Salesforce {}; Graph {} requests",
        salesforce["by_route"], graph["http_requests"]
    );

    let direct_seconds = direct_sweep(&stack, &ids).await?;
    stack.stop().await?;
    Ok(Sweep {
        salesforce_requests: requests(&salesforce),
        least_salesforce_requests: least,
        seconds,
        direct_seconds,
    })
}

/// The org-level reads a sweep needs: the changed Contacts and Accounts (one page each when
/// nothing changed), and the delete log when a whole minute has passed since it was last asked.
async fn least_org_reads(stack: &Stack) -> anyhow::Result<f64> {
    let from = {
        let client = stack.pool.get().await?;
        org_feed::state(&**client, ORG)
            .await?
            .and_then(|feed| feed.deleted_from)
    };
    let clock = control(
        stack,
        &stack.salesforce_url,
        Method::GET,
        "/clock",
        Value::Null,
    )
    .await?;
    let now = clock["now"]
        .as_str()
        .and_then(salesforce_client_datetime)
        .context("the emulator's clock")?;
    let minute = |t: chrono::DateTime<chrono::Utc>| t.timestamp() / 60;
    let log = from.is_some_and(|f| minute(now) > minute(f));
    Ok(2.0 + f64::from(u8::from(log)))
}

fn salesforce_client_datetime(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.3f%z")
        .ok()
        .map(|t| t.to_utc())
}

/// A minimal direct client doing the sweep's least work: each followed folder's delta for every
/// user, and the org's reads, with as many requests in flight as the services' consumers take
/// (the AMQP prefetch, 16).
async fn direct_sweep(stack: &Stack, ids: &[String]) -> anyhow::Result<f64> {
    let mut links = Vec::new();
    for id in ids {
        links.extend(followed_folders(stack, id).await?);
    }
    let token = graph_token(stack).await?;
    let sf_token = control(
        stack,
        &stack.salesforce_url,
        Method::POST,
        "/tokens",
        json!({"username": salesforce_emulator::config::DEFAULT_INTEGRATION_USERNAME}),
    )
    .await?["access_token"]
        .as_str()
        .context("salesforce token")?
        .to_owned();
    let since = (chrono::Utc::now() - chrono::Duration::minutes(5)).format("%Y-%m-%dT%H:%M:%SZ");
    let org_reads = [
        format!("/queryAll?q=SELECT+Id+FROM+Contact+WHERE+SystemModstamp+>=+{since}"),
        format!("/query?q=SELECT+Id+FROM+Account+WHERE+SystemModstamp+>=+{since}"),
    ];
    let http = reqwest::Client::new();
    let gate = Arc::new(Semaphore::new(usize::from(config::DEFAULT_PREFETCH)));
    let started = Instant::now();
    for read in org_reads {
        let answer = http
            .get(format!(
                "{}/services/data/v60.0{read}",
                stack.salesforce_url
            ))
            .bearer_auth(&sf_token)
            .send()
            .await?;
        anyhow::ensure!(answer.status().is_success(), "{read}: {}", answer.status());
        answer.bytes().await?;
    }
    let mut tasks = tokio::task::JoinSet::new();
    for link in links {
        let (http, token, gate) = (http.clone(), token.clone(), Arc::clone(&gate));
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let answer = http.get(&link).bearer_auth(&token).send().await?;
            anyhow::ensure!(answer.status().is_success(), "delta: {}", answer.status());
            answer.bytes().await?;
            Ok::<_, anyhow::Error>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(started.elapsed().as_secs_f64())
}

async fn graph_token(stack: &Stack) -> anyhow::Result<String> {
    let token = control(stack, &stack.graph_url, Method::POST, "/tokens", json!({})).await?;
    Ok(token["access_token"]
        .as_str()
        .context("graph token")?
        .to_owned())
}
