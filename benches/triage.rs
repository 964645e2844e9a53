//! Throughput of `Analyzer::analyze` on a ~300-character ticket.

use std::hint::black_box;

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
}

criterion_group!(benches, bench_analyze);
criterion_main!(benches);
