//! Pipeline scenarios of `contactsync bench`: the whole stack in this process (both emulators,
//! every service, the real RabbitMQ and PostgreSQL), measuring what a user and the APIs' owners
//! see: how fast a first sync goes, how many API calls it costs against the least possible, and
//! how soon a change notified by Graph reaches Salesforce.

use std::time::Instant;

use anyhow::{Context as _, bail};
use contactsync::harness::{Options, Stack};
use reqwest::Method;
use serde_json::{Value, json};

use crate::bench::Measured;

/// Contacts in the first-sync scenarios.
const CONTACTS: usize = 1000;

/// What one first sync of `CONTACTS` Salesforce Contacts into an empty mailbox cost.
pub struct FirstSync {
    pub contacts_per_second: f64,
    /// The floor: a minimal direct client writing the same Contacts into a fresh mailbox with the
    /// least calls (bench_mirror's), in the same stack right after.
    pub direct_contacts_per_second: f64,
    pub api_requests: f64,
    /// This process's resident memory after the sync, in MiB: both emulators and all seven
    /// services, as `contactsync dev` runs them.
    pub resident_mib: f64,
}

/// The least a first sync of `CONTACTS` can cost in API requests.
pub fn least_first_sync_requests() -> f64 {
    crate::bench_mirror::least_mirror_requests(CONTACTS)
}

/// The first sync, measured once per run for its three scenarios.
pub async fn first_sync() -> anyhow::Result<&'static FirstSync> {
    static MEASURED: tokio::sync::OnceCell<FirstSync> = tokio::sync::OnceCell::const_new();
    MEASURED.get_or_try_init(measure_first_sync).await
}

/// Seeds `CONTACTS` Contacts owned by a new user (through the control API, which is not counted),
/// then times one session that mirrors them all, and a direct client doing the same.
async fn measure_first_sync() -> anyhow::Result<FirstSync> {
    // Graph throttled per mailbox as Outlook does, so that the session and the direct client
    // work under the same rules (four requests in flight per mailbox).
    let stack = crate::bench_mirror::throttled_stack().await?;
    let user = stack.add_user("bench", json!({})).await?;
    seed_owned_contacts(&stack, &user.salesforce_user_id, CONTACTS, "Bench").await?;
    stack.reset_counters().await?;
    let started = Instant::now();
    let summary = stack.sync(&user).await?;
    let elapsed = started.elapsed().as_secs_f64();
    let created = summary["writes"]["exchange"]["created"]
        .as_u64()
        .unwrap_or(0);
    if created != CONTACTS as u64 {
        bail!("the first sync created {created} of {CONTACTS} mirrors: {summary}");
    }
    let (graph, salesforce) = stack.counters().await?;
    let requests = |c: &Value| c["http_requests"].as_f64().unwrap_or(0.0);
    // Measured before the direct client adds its own mailbox to the emulator.
    let resident_mib = crate::bench_sample::resident_mib("self")?;
    let direct_seconds =
        crate::bench_mirror::direct_mirror(&stack, &user.salesforce_user_id, CONTACTS).await?;
    let result = FirstSync {
        contacts_per_second: CONTACTS as f64 / elapsed,
        direct_contacts_per_second: CONTACTS as f64 / direct_seconds,
        api_requests: requests(&graph) + requests(&salesforce),
        resident_mib,
    };
    stack.stop().await?;
    Ok(result)
}

/// Seeds `n` Contacts owned by `owner` through the Salesforce emulator's control API (not
/// counted), 200 a call: `<prefix><i> Contact<i>`, with an email and a phone.
pub(crate) async fn seed_owned_contacts(
    stack: &Stack,
    owner: &str,
    n: usize,
    prefix: &str,
) -> anyhow::Result<()> {
    let lower = prefix.to_lowercase();
    for chunk in (0..n).collect::<Vec<_>>().chunks(200) {
        let records: Vec<Value> = chunk
            .iter()
            .map(|i| {
                json!({"FirstName": format!("{prefix}{i}"), "LastName": format!("Contact{i:05}"),
                       "Email": format!("{lower}{i}@example.com"), "Phone": "+1 555 0100",
                       "OwnerId": owner})
            })
            .collect();
        let (status, body) = stack
            .call(
                Method::POST,
                &format!("{}/_emulator/sobjects/Contact", stack.salesforce_url),
                None,
                Some(json!({"as_user": owner, "records": records})),
            )
            .await?;
        if status >= 300 {
            bail!("seeding Contacts: {status} {body}");
        }
    }
    Ok(())
}

/// Milliseconds from a contact created in the user's Outlook folder to its Salesforce Contact,
/// carried by Graph's change notification alone (no session requested), the median of 5;
/// against the median of a minimal direct client's same work on the same emulators
/// ([`crate::bench_latency::direct_notified_change_ms`]).
pub async fn notification_latency_ms() -> anyhow::Result<Measured> {
    let stack = Stack::start_with(Options {
        notifications: true,
        ..Options::default()
    })
    .await?;
    let user = stack.add_user("latency", json!({})).await?;
    let folder = stack.folder_id(&user, "Salesforce Contacts").await?;
    let mut samples = Vec::new();
    for i in 0..5 {
        stack.settle(&user).await?;
        let name = format!("Latency{i}");
        let started = Instant::now();
        stack
            .create_in_mailbox(
                &user,
                Some(&folder),
                json!({"givenName": "Quick", "surname": name}),
            )
            .await?;
        loop {
            let live = stack.live_salesforce_contacts().await?;
            if live.iter().any(|c| c["LastName"] == name.as_str()) {
                break;
            }
            if started.elapsed().as_secs() > 60 {
                bail!("the change never reached Salesforce");
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let floor = crate::bench_latency::direct_notified_change_ms(&stack, 5).await?;
    stack.stop().await?;
    samples.sort_by(f64::total_cmp);
    let figure = samples
        .get(samples.len() / 2)
        .copied()
        .context("no samples")?;
    Ok(Measured::against(figure, floor))
}
