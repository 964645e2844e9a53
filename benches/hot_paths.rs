//! The server's hot paths: encoding an event once for every client, parsing
//! an incoming frame, and a durable commit (append + fdatasync) into a store
//! that already holds many tickets.

use std::hint::black_box;
use std::sync::Arc;

use chrono::Utc;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ticketd::events::Event;
use ticketd::store::{Store, StoreConfig};
use ticketd::tickets::{Command, NewTicket, Ticket};
use ticketd::triage::Analyzer;

fn ticket(analyzer: &Analyzer, n: usize) -> Ticket {
    let description = format!(
        "The whole accounts team cannot print since the 9:00 update, invoices due by 5pm (#{n})"
    );
    let new = NewTicket::parse(description.clone(), "Printers".into(), "Ana".into()).unwrap();
    Ticket::create(new, analyzer.analyze(&description, "Printers"), Utc::now())
}

fn bench_encode(c: &mut Criterion) {
    let analyzer = Analyzer::builtin();
    let t = ticket(&analyzer, 1);
    let many: Vec<Arc<Ticket>> = (0..1000).map(|n| Arc::new(ticket(&analyzer, n))).collect();
    let mut g = c.benchmark_group("events");
    g.throughput(Throughput::Elements(1));
    g.bench_function("encode_new_ticket", |b| {
        b.iter(|| Event::NewTicket(black_box(&t)).encode(None))
    });
    g.bench_function("encode_initial_tickets_1000", |b| {
        b.iter(|| Event::InitialTickets(black_box(&many)).encode(None))
    });
    g.finish();
}

fn bench_commit(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let analyzer = Analyzer::builtin();
    let store = rt.block_on(async {
        let mut config = StoreConfig::new(dir.path());
        config.compact_after_bytes = u64::MAX;
        Store::open(config, Box::new(|_| {})).unwrap()
    });
    // A store that already holds 10,000 tickets: the commit must not care.
    // (Seeded 500 at a time, so group commit makes this quick.)
    rt.block_on(async {
        for chunk in 0..20 {
            let creates = (0..500).map(|i| {
                store.execute(Command::Create(Box::new(ticket(
                    &analyzer,
                    chunk * 500 + i,
                ))))
            });
            for result in futures_util::future::join_all(creates).await {
                result.unwrap();
            }
        }
    });
    let mut g = c.benchmark_group("store");
    g.sample_size(50);
    g.throughput(Throughput::Elements(1));
    let mut n = 10_000;
    g.bench_function("durable_commit_one_ticket_10k_stored", |b| {
        b.iter(|| {
            n += 1;
            let t = ticket(&analyzer, n);
            rt.block_on(store.execute(Command::Create(Box::new(t))))
                .unwrap()
        })
    });
    g.finish();
    rt.block_on(store.close());
}

criterion_group!(benches, bench_encode, bench_commit);
criterion_main!(benches);
