//! Latency scenarios of `contactsync bench` (issue 12): how soon a change reaches the other side
//! while many users change contacts at once, carried by the notifications alone; and the true
//! floor of the single notified change (`graph_notification_to_salesforce_write`).
//!
//! - `change_to_write_p50_ms_vs_goal` / `change_to_write_p99_ms_vs_goal`: `users` users with
//!   sync on (1,000 at `--scale full`, 100 at `small`; `BENCH_LATENCY_USERS`), each with
//!   mirrored contacts; then for `seconds` (60 / 20; `BENCH_LATENCY_SECONDS`) the bench edits
//!   50 contacts a second on each side (`BENCH_LATENCY_RATE`), spread over the users, each
//!   contact once: the job title in Outlook through Graph as the mailbox's app, the `Title` in
//!   Salesforce through its REST API as the Contact's owner. Only Graph's change notifications
//!   and Salesforce's Outbound Messages start sessions (the periodic interval is a day). A
//!   change's latency runs from when its edit arrived at one emulator to when our write of the
//!   linked record arrived at the other, both from the emulators' own write logs
//!   (`/_emulator/write-log`, wall clock to the microsecond). The goals (250 ms p50, 1,000 ms
//!   p99, both directions together) are the floors: no direct client can stand in for "the
//!   notification reached us". `AMQP_PREFETCH` and `SALESFORCE_OVERLAP_SECS`, when set, are
//!   passed on to the services.
//! - The notified change's floor: a minimal direct client doing the least calls of the same work
//!   against the same emulators, in the same run: the contact created in a folder, the folder's
//!   delta read (one call, from a delta link taken before), the Contact created in Salesforce
//!   (one call).

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail, ensure};
use contactsync::harness::{Options, Stack};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::bench::Measured;
use crate::bench_feed::{env_usize, salesforce_user};
use crate::bench_mirror::{Direct, Scale};
use crate::bench_report::{Chart, Series};

const API: &str = "/services/data/v60.0";
/// Service settings passed on from the bench's environment when set.
const PASSED_ON: &[&str] = &["AMQP_PREFETCH", "SALESFORCE_OVERLAP_SECS"];
/// After the last edit, how long the arrivals may take before the run fails as losing changes.
const DRAIN: Duration = Duration::from_secs(600);

/// Which way a change travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    GraphToSalesforce,
    SalesforceToGraph,
}

impl Direction {
    fn name(self) -> &'static str {
        match self {
            Direction::GraphToSalesforce => "Graph → Salesforce",
            Direction::SalesforceToGraph => "Salesforce → Graph",
        }
    }
}

/// The latencies of one run under load, in milliseconds.
pub struct UnderLoad {
    graph_to_salesforce: Vec<f64>,
    salesforce_to_graph: Vec<f64>,
}

impl UnderLoad {
    /// The `p`-th percentile (nearest rank) of both directions together, against the goal, with
    /// the distribution per direction as the report's chart.
    pub fn percentile(&self, p: f64, goal: f64) -> Measured {
        let mut all: Vec<f64> = self
            .graph_to_salesforce
            .iter()
            .chain(&self.salesforce_to_graph)
            .copied()
            .collect();
        all.sort_by(f64::total_cmp);
        Measured::against(nearest_rank(&all, p), goal).with_chart(Chart::Distribution {
            title: "Change to write under load, per direction".into(),
            unit: "ms".into(),
            series: [
                (Direction::GraphToSalesforce, &self.graph_to_salesforce),
                (Direction::SalesforceToGraph, &self.salesforce_to_graph),
            ]
            .into_iter()
            .map(|(direction, samples)| Series {
                name: direction.name().into(),
                samples: samples.clone(),
                at_seconds: Vec::new(),
            })
            .collect(),
        })
    }
}

/// The nearest-rank percentile of sorted samples (NaN when there are none).
fn nearest_rank(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The run under load, measured once for both of its scenarios.
pub async fn under_load() -> anyhow::Result<&'static UnderLoad> {
    static MEASURED: tokio::sync::OnceCell<UnderLoad> = tokio::sync::OnceCell::const_new();
    MEASURED.get_or_try_init(measure_under_load).await
}

/// How large the run is.
struct Plan {
    users: usize,
    seconds: usize,
    /// Edits per second on each side.
    rate: usize,
}

impl Plan {
    fn of(scale: Scale) -> anyhow::Result<Plan> {
        let (users, seconds) = match scale {
            Scale::Small => (100, 20),
            Scale::Full => (1_000, 60),
        };
        Ok(Plan {
            users: env_usize("BENCH_LATENCY_USERS", users)?.max(1),
            seconds: env_usize("BENCH_LATENCY_SECONDS", seconds)?.max(1),
            rate: env_usize("BENCH_LATENCY_RATE", 50)?.max(1),
        })
    }

    /// Edits on each side.
    fn edits(&self) -> usize {
        self.seconds * self.rate
    }

    /// Contacts each user needs so that every edit touches a contact of its own, per side.
    fn per_user_per_side(&self) -> usize {
        self.edits().div_ceil(self.users)
    }
}

/// A user of the run: who they are in both emulators, and their linked contacts.
struct Member {
    mailbox: String,
    salesforce_token: String,
    /// (Graph item id, Salesforce Contact Id) of each link.
    links: Vec<(String, String)>,
}

/// One edit the bench made.
struct Edit {
    direction: Direction,
    /// The edited record (a Graph item id or a Salesforce Contact Id).
    edited: String,
    /// The record our write must reach on the other side.
    target: String,
    /// When the bench sent it (wall clock, ms since the epoch).
    sent_ms: f64,
}

async fn measure_under_load() -> anyhow::Result<UnderLoad> {
    let plan = Plan::of(crate::bench_mirror::scale())?;
    let per_side = plan.per_user_per_side();
    let mut env = vec![
        // The periodic session must do none of the work: a day apart.
        ("SYNC_INTERVAL_SECS".to_owned(), "86400".to_owned()),
        // The services' production pool size (the test stack keeps theirs small).
        (
            "DATABASE_POOL_SIZE".to_owned(),
            config::DEFAULT_DATABASE_POOL_SIZE.to_string(),
        ),
    ];
    // Knobs of the services the bench's caller may set, to see what bounds the latency.
    for knob in PASSED_ON {
        if let Ok(value) = std::env::var(knob) {
            env.push(((*knob).to_owned(), value));
        }
    }
    let stack = Stack::start_with(Options {
        notifications: true,
        env,
        ..Options::default()
    })
    .await?;
    eprintln!(
        "  latency: {} users with {} contacts each; {} edits/s on each side for {} s",
        plan.users,
        2 * per_side,
        plan.rate,
        plan.seconds
    );
    let members = set_up(&stack, &plan, 2 * per_side).await?;
    // What an admin sets up in Salesforce with the package: the Outbound Message to the gateway.
    stack
        .emulator_control(
            &stack.salesforce_url,
            Method::POST,
            "/outbound",
            Some(
                json!({"endpoint_url": format!("{}/webhooks/salesforce", stack.gateway_url),
                        "fields": crate::demo::OUTBOUND_FIELDS}),
            ),
        )
        .await?;
    for base in [&stack.graph_url, &stack.salesforce_url] {
        stack
            .emulator_control(
                base,
                Method::POST,
                "/write-log",
                Some(json!({"enabled": true})),
            )
            .await?;
    }
    eprintln!("  latency: editing");
    let edits = drive(&stack, &plan, &members, per_side).await?;
    eprintln!("  latency: waiting for the writes");
    let latencies = arrivals(&stack, &edits).await?;
    let mut measured = UnderLoad {
        graph_to_salesforce: Vec::new(),
        salesforce_to_graph: Vec::new(),
    };
    for (edit, latency) in edits.iter().zip(latencies) {
        match edit.direction {
            Direction::GraphToSalesforce => measured.graph_to_salesforce.push(latency),
            Direction::SalesforceToGraph => measured.salesforce_to_graph.push(latency),
        }
    }
    for (direction, samples) in [
        (
            Direction::GraphToSalesforce,
            &mut measured.graph_to_salesforce,
        ),
        (
            Direction::SalesforceToGraph,
            &mut measured.salesforce_to_graph,
        ),
    ] {
        samples.sort_by(f64::total_cmp);
        eprintln!(
            "  latency {}: {} changes, p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            direction.name(),
            samples.len(),
            nearest_rank(samples, 50.0),
            nearest_rank(samples, 90.0),
            nearest_rank(samples, 99.0),
            samples.last().copied().unwrap_or(f64::NAN)
        );
    }
    stack.stop().await?;
    Ok(measured)
}

/// Registers `plan.users` users with `contacts` Salesforce Contacts each and waits until their
/// first sessions have mirrored them all and subscribed to their folders.
async fn set_up(stack: &Stack, plan: &Plan, contacts: usize) -> anyhow::Result<Vec<Member>> {
    let mut rows = Vec::with_capacity(plan.users);
    let mut members = Vec::with_capacity(plan.users);
    let mut records = Vec::new();
    for u in 0..plan.users {
        let id = format!("load{u:05}");
        let mailbox = format!("{id}@contoso.test");
        crate::bench_feed::graph_mailbox(stack, &mailbox).await?;
        let username = format!("{id}@acme.test");
        let owner = salesforce_user(stack, &username).await?;
        let token = stack
            .emulator_control(
                &stack.salesforce_url,
                Method::POST,
                "/tokens",
                Some(json!({"username": username})),
            )
            .await?["access_token"]
            .as_str()
            .context("the owner's token")?
            .to_owned();
        records.extend((0..contacts).map(|i| {
            json!({"FirstName": format!("Load{u}"), "LastName": format!("Load{u}x{i:03}"),
                   "Email": format!("load{u}x{i}@example.com"), "OwnerId": owner})
        }));
        rows.push(
            json!({"id": id, "mailbox": mailbox, "salesforce_user_id": owner,
                         "settings": {"enabled": true, "scope": "mine"}}),
        );
        members.push((id, mailbox, token));
    }
    for chunk in records.chunks(200) {
        stack
            .emulator_control(
                &stack.salesforce_url,
                Method::POST,
                "/sobjects/Contact",
                Some(json!({ "records": chunk })),
            )
            .await?;
    }
    // One import: the scheduler starts the first sessions at its own pace.
    let (status, body) = stack
        .admin(
            Method::POST,
            "/api/v1/users:import",
            Some(Value::Array(rows)),
        )
        .await?;
    ensure!(status < 300, "importing the users: {status} {body}");
    let failed: Vec<&Value> = body["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["status"] == "failed")
        .collect();
    ensure!(failed.is_empty(), "importing the users: {failed:?}");

    let started = Instant::now();
    let expected = (plan.users * contacts) as i64;
    loop {
        let links = {
            let client = stack.pool.get().await?;
            sync_state::simulate::count_links(&**client).await?
        };
        let subscriptions = stack
            .emulator_control(&stack.graph_url, Method::GET, "/subscriptions", None)
            .await?["value"]
            .as_array()
            .map_or(0, Vec::len);
        if links >= expected && subscriptions >= plan.users {
            break;
        }
        if started.elapsed().as_secs().is_multiple_of(10) {
            eprintln!(
                "  latency: first sessions: {links}/{expected} contacts linked, \
                 {subscriptions}/{} subscribed",
                plan.users
            );
        }
        if started.elapsed() > Duration::from_secs(1_800) {
            bail!("the first sessions linked {links} of {expected} contacts in 30 minutes");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    eprintln!(
        "  latency: first sessions done in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let mut out = Vec::with_capacity(members.len());
    for (id, mailbox, salesforce_token) in members {
        settle(stack, &id).await?;
        let links = {
            let client = stack.pool.get().await?;
            sync_state::links::load_links(&**client, &id).await?
        };
        let links: Vec<(String, String)> = links
            .iter()
            .filter_map(|l| {
                Some((
                    l.graph_id.as_ref()?.as_str().to_owned(),
                    l.salesforce_id.as_ref()?.as_str().to_owned(),
                ))
            })
            .collect();
        ensure!(
            links.len() == contacts,
            "{id} has {} complete links of {contacts}",
            links.len()
        );
        out.push(Member {
            mailbox,
            salesforce_token,
            links,
        });
    }
    Ok(out)
}

/// Waits until the user has no session running and none to run.
async fn settle(stack: &Stack, id: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let (_, status) = stack
            .admin(Method::GET, &format!("/api/v1/users/{id}/status"), None)
            .await?;
        if status["running"] == false && status["pending_trigger"] == false {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(300) {
            bail!("{id} never settled: {status}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Milliseconds since the epoch, now (the clock the emulators' write logs use).
fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Makes `plan.rate` edits a second on each side for `plan.seconds`, on schedule whatever the
/// answers' pace (each edit its own task): the `i`-th edit of a side goes to user `i mod users`
/// (the Salesforce side offset by half the users), each to a contact of its own. Returns the
/// edits made.
async fn drive(
    stack: &Stack,
    plan: &Plan,
    members: &[Member],
    per_side: usize,
) -> anyhow::Result<Vec<Edit>> {
    let graph_token = stack
        .emulator_control(&stack.graph_url, Method::POST, "/tokens", Some(json!({})))
        .await?["access_token"]
        .as_str()
        .context("graph token")?
        .to_owned();
    let http = reqwest::Client::new();
    let period = Duration::from_secs_f64(1.0 / plan.rate as f64);
    let started = tokio::time::Instant::now();
    let mut tasks = JoinSet::new();
    let users = members.len();
    for i in 0..plan.edits() {
        tokio::time::sleep_until(started + period * i as u32).await;
        let slot = i / users;
        for direction in [Direction::GraphToSalesforce, Direction::SalesforceToGraph] {
            let (member, link) = match direction {
                Direction::GraphToSalesforce => {
                    let member = &members[i % users];
                    (member, &member.links[slot])
                }
                Direction::SalesforceToGraph => {
                    let member = &members[(i + users / 2) % users];
                    (member, &member.links[per_side + slot])
                }
            };
            let (graph_id, salesforce_id) = link.clone();
            let (request, edited, target) = match direction {
                Direction::GraphToSalesforce => (
                    http.patch(format!(
                        "{}/v1.0/users/{}/contacts/{graph_id}",
                        stack.graph_url, member.mailbox
                    ))
                    .bearer_auth(&graph_token)
                    .json(&json!({"jobTitle": format!("Outlook edit {i}")})),
                    graph_id,
                    salesforce_id,
                ),
                Direction::SalesforceToGraph => (
                    http.patch(format!(
                        "{}{API}/sobjects/Contact/{salesforce_id}",
                        stack.salesforce_url
                    ))
                    .bearer_auth(&member.salesforce_token)
                    .json(&json!({"Title": format!("Salesforce edit {i}")})),
                    salesforce_id,
                    graph_id,
                ),
            };
            tasks.spawn(async move {
                let sent_ms = now_ms();
                let response = request.send().await?;
                let status = response.status();
                ensure!(
                    status.is_success(),
                    "an edit ({}) failed: {status} {}",
                    direction.name(),
                    response.text().await.unwrap_or_default()
                );
                anyhow::Ok(Edit {
                    direction,
                    edited,
                    target,
                    sent_ms,
                })
            });
        }
        if (i + 1) % (plan.rate * 10) == 0 {
            eprintln!("  latency: {} edits a side sent", i + 1);
        }
    }
    let mut edits = Vec::with_capacity(2 * plan.edits());
    while let Some(done) = tasks.join_next().await {
        edits.push(done??);
    }
    let behind = started.elapsed().as_secs_f64() - plan.seconds as f64;
    if behind > 1.0 {
        eprintln!("  latency: the edits took {behind:.1} s longer than planned");
    }
    Ok(edits)
}

/// When each record was written, from an emulator's write log: id → times (ms), oldest first.
async fn write_times(
    stack: &Stack,
    base: &str,
    ids: &[&str],
) -> anyhow::Result<HashMap<String, Vec<f64>>> {
    let log = stack
        .emulator_control(base, Method::GET, "/write-log", None)
        .await?;
    let mut times: HashMap<String, Vec<f64>> = HashMap::new();
    for write in log["writes"].as_array().context("a write log")? {
        let at = write["at_ms"].as_f64().context("a write's time")?;
        for key in ids {
            if let Some(id) = write[*key].as_str() {
                times.entry(id.to_owned()).or_default().push(at);
            }
        }
    }
    Ok(times)
}

/// The first time at or after `from` that `id` was written.
fn first_write(times: &HashMap<String, Vec<f64>>, id: &str, from: f64) -> Option<f64> {
    times.get(id)?.iter().copied().find(|&at| at >= from)
}

/// Each edit's latency (ms, in the order of `edits`): from its own arrival in the write log to
/// the first write of its target after it, waiting until every target was written (or failing
/// after [`DRAIN`]: a change that never arrives is lost, not slow).
async fn arrivals(stack: &Stack, edits: &[Edit]) -> anyhow::Result<Vec<f64>> {
    let started = Instant::now();
    loop {
        let graph = write_times(stack, &stack.graph_url, &["id", "immutableId"]).await?;
        let salesforce = write_times(stack, &stack.salesforce_url, &["Id"]).await?;
        let mut latencies = Vec::with_capacity(edits.len());
        let mut missing = 0;
        for edit in edits {
            let (edited_log, target_log) = match edit.direction {
                Direction::GraphToSalesforce => (&graph, &salesforce),
                Direction::SalesforceToGraph => (&salesforce, &graph),
            };
            // Times of two clocks read a few microseconds apart: the edit's own log entry is
            // the first write of it after the bench sent it.
            let changed =
                first_write(edited_log, &edit.edited, edit.sent_ms - 1.0).with_context(|| {
                    format!(
                        "{} edited {} but its write log has no write of it",
                        edit.direction.name(),
                        edit.edited
                    )
                })?;
            match first_write(target_log, &edit.target, changed) {
                Some(written) => latencies.push(written - changed),
                None => missing += 1,
            }
        }
        if missing == 0 {
            return Ok(latencies);
        }
        if started.elapsed() > DRAIN {
            bail!(
                "{missing} of {} changes never reached the other side ({} s after the last edit)",
                edits.len(),
                DRAIN.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The least a notified change from the mailbox to Salesforce takes, in ms (median of
/// `samples`): a direct client against the stack's emulators creates a contact in a folder of
/// its own, reads the folder's delta from the link it took before (one call) and creates the
/// Contact in Salesforce (one call); timed from the create, as the pipeline's figure is.
pub async fn direct_notified_change_ms(stack: &Stack, samples: usize) -> anyhow::Result<f64> {
    let direct = Direct::new(stack).await?;
    let (mailbox, folder) = direct.mailbox(stack, "direct-latency").await?;
    let owner = salesforce_user(stack, "direct-latency@acme.test").await?;
    let mut delta = delta_link(
        &direct,
        &format!(
            "{}/users/{mailbox}/contactFolders/{folder}/contacts/delta",
            direct.graph
        ),
    )
    .await?
    .0;
    let mut times = Vec::with_capacity(samples);
    for i in 0..samples {
        let started = Instant::now();
        direct
            .call(
                &format!(
                    "{}/users/{mailbox}/contactFolders/{folder}/contacts",
                    direct.graph
                ),
                &direct.graph_token,
                Method::POST,
                Some(json!({"givenName": "Direct", "surname": format!("Direct{i}")})),
            )
            .await?;
        let (next, changed) = delta_link(&direct, &delta).await?;
        delta = next;
        let [contact] = changed.as_slice() else {
            bail!("the delta read {} changes, not the one", changed.len());
        };
        direct
            .call(
                &format!("{}/sobjects/Contact", direct.salesforce),
                &direct.salesforce_token,
                Method::POST,
                Some(
                    json!({"FirstName": contact["givenName"], "LastName": contact["surname"],
                            "OwnerId": owner}),
                ),
            )
            .await?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok(nearest_rank(&times, 50.0))
}

/// Follows a delta from `url` to its delta link; returns the link and the items it read.
async fn delta_link(direct: &Direct, url: &str) -> anyhow::Result<(String, Vec<Value>)> {
    let mut url = url.to_owned();
    let mut items = Vec::new();
    loop {
        let page = direct
            .call(&url, &direct.graph_token, Method::GET, None)
            .await?;
        items.extend(page["value"].as_array().cloned().unwrap_or_default());
        if let Some(next) = page["@odata.nextLink"].as_str() {
            url = next.to_owned();
        } else {
            let link = page["@odata.deltaLink"]
                .as_str()
                .context("a delta page with neither nextLink nor deltaLink")?;
            return Ok((link.to_owned(), items));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::nearest_rank;

    #[test]
    fn the_nearest_rank_percentile_is_a_sample_at_or_above_that_share() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(nearest_rank(&samples, 50.0), 50.0);
        assert_eq!(nearest_rank(&samples, 99.0), 99.0);
        assert_eq!(nearest_rank(&samples, 100.0), 100.0);
        assert_eq!(nearest_rank(&[7.0], 99.0), 7.0);
        assert!(nearest_rank(&[], 50.0).is_nan());
    }
}
