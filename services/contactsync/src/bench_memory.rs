//! The memory-at-scale scenario of `contactsync bench` (issue 12): the services' resident memory
//! after a sweep of many users, the services run as Kubernetes runs them — one process per
//! service (one replica each, the `contactsync` binary's service subcommands, the services'
//! default database pool) — while the emulators stay in the bench's own process, so that their
//! data is not counted.
//!
//! `--scale full` registers 10,000 users with 20 Contacts each (`small`: 1,000;
//! `BENCH_MEMORY_USERS` overrides), lets every user's first sessions run, then sweeps the org:
//! one periodic session per user mirroring its 20 Contacts. The figure is the sum of the
//! service processes' `VmRSS` once every user has had that session; each process's figure goes
//! to stderr, and its resident memory over the whole run is the scenario's chart.

use std::time::Duration;

use anyhow::Context as _;
use contactsync::harness::{Options, Processes, Stack};

use crate::bench::Measured;
use crate::bench_feed::{env_usize, populate};
use crate::bench_mirror::Scale;
use crate::bench_report::{Chart, Series};
use crate::bench_sample::{resident_mib, sampled};

/// Contacts per user.
const CONTACTS: usize = 20;
/// How often the processes' resident memory is sampled for the chart.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// The users of the sweep: the scale's, or `BENCH_MEMORY_USERS`.
fn users() -> anyhow::Result<usize> {
    env_usize(
        "BENCH_MEMORY_USERS",
        match crate::bench_mirror::scale() {
            Scale::Small => 1_000,
            Scale::Full => 10_000,
        },
    )
}

/// The services' summed resident memory in MiB after the sweep, with each process's over time.
pub async fn services_resident_memory() -> anyhow::Result<Measured> {
    let users = users()?;
    let binary = std::env::current_exe().context("the contactsync binary")?;
    let stack = Stack::start_with(Options {
        processes: Some(Processes {
            database_pool_size: config::DEFAULT_DATABASE_POOL_SIZE,
            ..Processes::new(binary, 1)
        }),
        ..Options::default()
    })
    .await?;
    let measured = measure(&stack, users).await;
    stack.stop().await?;
    measured
}

async fn measure(stack: &Stack, users: usize) -> anyhow::Result<Measured> {
    let pids = stack
        .children
        .as_ref()
        .context("the services run as processes")?
        .pids();
    let every_process = || async {
        pids.iter()
            .map(|(_, _, pid)| resident_mib(&pid.to_string()))
            .collect::<anyhow::Result<Vec<f64>>>()
    };
    let (populated, over_time) = sampled(
        SAMPLE_EVERY,
        populate(stack, users, CONTACTS),
        every_process,
    )
    .await;
    populated?;
    let over_time = over_time?;
    let last = over_time.last().context("no sample of the processes")?;
    let mut total = 0.0;
    eprintln!("  resident memory after the sweep of {users} users:");
    for ((service, index, pid), mib) in pids.iter().zip(&last.1) {
        eprintln!("    {service} #{index} (pid {pid}): {mib:.1} MiB");
        total += mib;
    }
    eprintln!("    total: {total:.1} MiB");
    let series = pids
        .iter()
        .enumerate()
        .map(|(i, (service, _, _))| Series {
            name: (*service).to_owned(),
            samples: over_time.iter().map(|(_, mibs)| mibs[i]).collect(),
            at_seconds: over_time.iter().map(|(t, _)| *t).collect(),
        })
        .collect();
    Ok(Measured::from(total).with_chart(Chart::OverTime {
        title: format!(
            "Resident memory of each service while {users} users are registered and swept"
        ),
        unit: "MiB".to_owned(),
        series,
    }))
}
