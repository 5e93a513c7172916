//! Times `reconcile` on the bench fixtures (10,000 links and 1,000 changes by default; then a full
//! listing of the same links): `cargo run --release -p sync-core --example reconcile_bench --
//! [links] [changes]`. The real figures come from `contactsync bench`; this is for working on
//! the core alone.

use std::time::Instant;

use sync_core::bench::{BenchInput, bench_fixture, bench_fixture_full_listing};

/// The best of 20 runs, in milliseconds, and the number of writes decided.
fn time(input: &BenchInput) -> (f64, usize) {
    let mut best = f64::MAX;
    let mut writes = 0;
    for _ in 0..20 {
        let start = Instant::now();
        let decisions = input.run();
        best = best.min(start.elapsed().as_secs_f64() * 1000.0);
        writes = decisions.exchange.len() + decisions.salesforce.len();
    }
    (best, writes)
}

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let links = args.next().and_then(Result::ok).unwrap_or(10_000);
    let changes = args.next().and_then(Result::ok).unwrap_or(1_000);
    let (ms, writes) = time(&bench_fixture(links, changes));
    println!("incremental: {links} links, {changes} changes -> {writes} writes in {ms:.2} ms");
    let (ms, writes) = time(&bench_fixture_full_listing(links));
    println!("full listing: {links} links -> {writes} writes in {ms:.2} ms");
}
