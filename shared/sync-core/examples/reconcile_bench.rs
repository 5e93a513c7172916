//! Times `reconcile` on the bench fixture (10,000 links, 1,000 changes by default):
//! `cargo run --release -p sync-core --example reconcile_bench -- [links] [changes]`.
//! The real figure comes from `contactsync bench`; this is for working on the core alone.

use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let links = args.next().and_then(Result::ok).unwrap_or(10_000);
    let changes = args.next().and_then(Result::ok).unwrap_or(1_000);
    let input = sync_core::bench::bench_fixture(links, changes);
    let mut best = f64::MAX;
    let mut writes = 0;
    for _ in 0..20 {
        let start = Instant::now();
        let decisions = input.run();
        best = best.min(start.elapsed().as_secs_f64() * 1000.0);
        writes = decisions.exchange.len() + decisions.salesforce.len();
    }
    println!(
        "reconcile: {links} links, {changes} changes -> {writes} writes, best of 20: {best:.2} ms"
    );
}
