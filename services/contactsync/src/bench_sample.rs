//! Samples taken while a bench scenario runs, for the charts of `--report`: a process's
//! resident memory (from `/proc`), the contacts in a mailbox folder of the Graph emulator, and
//! the loop that takes them at an interval until the scenario's work is done.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use contactsync::harness::Stack;
use reqwest::Method;
use tokio_util::sync::CancellationToken;

use crate::bench_report::{Chart, Series};

/// A process's resident set size in MiB: `VmRSS` of `/proc/<process>/status` (Linux), where
/// `process` is a pid or `self`.
pub(crate) fn resident_mib(process: &str) -> anyhow::Result<f64> {
    let path = format!("/proc/{process}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no VmRSS in {path}"))?;
    Ok(kib / 1024.0)
}

/// Runs `work` to its end while taking `sample` every `interval` (and once more when the work is
/// done); returns the work's output and the samples as (seconds since the start, value). A
/// failed sample ends the sampling (not the work) and is the samples' error.
pub(crate) async fn sampled<T, V, Fut>(
    interval: Duration,
    work: impl Future<Output = T>,
    mut sample: impl FnMut() -> Fut,
) -> (T, anyhow::Result<Vec<(f64, V)>>)
where
    Fut: Future<Output = anyhow::Result<V>>,
{
    let stop = CancellationToken::new();
    let started = Instant::now();
    let worker = async {
        let output = work.await;
        stop.cancel();
        output
    };
    let sampler = async {
        let mut samples = Vec::new();
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            let done = tokio::select! {
                () = stop.cancelled() => true,
                _ = ticks.tick() => false,
            };
            samples.push((started.elapsed().as_secs_f64(), sample().await?));
            if done {
                return Ok(samples);
            }
        }
    };
    tokio::join!(worker, sampler)
}

/// The contacts in the folder named `folder` of `mailbox` (the Graph emulator's control API,
/// not counted as traffic); 0 while the mailbox or the folder does not exist yet.
pub(crate) async fn folder_contacts(
    stack: &Stack,
    mailbox: &str,
    folder: &str,
) -> anyhow::Result<f64> {
    let url = format!("{}/_emulator/mailboxes/{mailbox}/folders", stack.graph_url);
    let (status, answer) = stack.call(Method::GET, &url, None, None).await?;
    if status == 404 {
        return Ok(0.0);
    }
    anyhow::ensure!(status < 300, "{url}: {status} {answer}");
    Ok(answer["value"]
        .as_array()
        .and_then(|folders| folders.iter().find(|f| f["displayName"] == folder))
        .and_then(|f| f["contacts"].as_f64())
        .unwrap_or(0.0))
}

/// A series of the rate at which a count grew between consecutive samples (per second, placed
/// at the end of each interval).
pub(crate) fn rate(name: &str, counts: &[(f64, f64)]) -> Series {
    let (at_seconds, samples) = counts
        .windows(2)
        .filter(|pair| pair[1].0 > pair[0].0)
        .map(|pair| (pair[1].0, (pair[1].1 - pair[0].1) / (pair[1].0 - pair[0].0)))
        .unzip();
    Series {
        name: name.to_owned(),
        samples,
        at_seconds,
    }
}

/// An over-time chart of contacts written per second, one series per writer.
pub(crate) fn written_per_second(title: &str, series: Vec<Series>) -> Chart {
    Chart::OverTime {
        title: title.to_owned(),
        unit: "contacts/s".to_owned(),
        series,
    }
}
