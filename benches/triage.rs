//! Throughput and tail latency of `Analyzer::analyze` on a ~300-character
//! ticket: criterion for the mean, then 100,000 timed calls for p50/p99.

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ticketd::triage::Analyzer;

const TICKET: &str = "Since the 9:00 update nobody on the 3rd floor can print - the queue on PRN01 shows \
    'Error - printing' for every job and the two Ricoh copiers in the Accounts area are offline. \
    We have 150 invoices to get out by 5pm today; people are walking USB sticks down to the 2nd floor printers meanwhile.";

fn bench_analyze(c: &mut Criterion) {
    let analyzer = Analyzer::builtin();
    assert!(
        (280..=320).contains(&TICKET.len()),
        "ticket is {} bytes",
        TICKET.len()
    );
    let mut g = c.benchmark_group("triage");
    g.throughput(Throughput::Elements(1));
    g.bench_function("analyze_300_chars", |b| {
        b.iter(|| analyzer.analyze(black_box(TICKET), black_box("Printers 3rd floor")))
    });
    g.finish();
    tail_latency(&analyzer);
}

/// One thread, one call at a time: the distribution of single analyses.
fn tail_latency(analyzer: &Analyzer) {
    const CALLS: usize = 100_000;
    let mut nanos = Vec::with_capacity(CALLS);
    let started = Instant::now();
    for _ in 0..CALLS {
        let t = Instant::now();
        black_box(analyzer.analyze(black_box(TICKET), black_box("Printers 3rd floor")));
        nanos.push(t.elapsed().as_nanos() as u64);
    }
    let total = started.elapsed();
    nanos.sort_unstable();
    let at = |q: f64| nanos[((CALLS as f64 * q) as usize).min(CALLS - 1)] as f64 / 1000.0;
    println!(
        "triage/analyze_300_chars: {CALLS} calls on one thread, {:.0} analyses/s; p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        CALLS as f64 / total.as_secs_f64(),
        at(0.50),
        at(0.99),
        nanos[CALLS - 1] as f64 / 1000.0
    );
}

criterion_group!(benches, bench_analyze);
criterion_main!(benches);
