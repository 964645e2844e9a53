//! Writes a store of N realistic tickets (analyzed by the real analyzer) for
//! start-up and commit benchmarks:
//!
//! ```sh
//! cargo run --release --example seed -- --tickets 100000 --data-dir /tmp/ticketd-bench/data
//! ```
//! With `--resolved-percent 95` the oldest 95% are resolved, 30 days ago
//! (`--resolved-days-ago`): the store of the sync benchmarks.
//! It refuses to overwrite an existing `tickets_storage.json`.

use std::io::Write;
use std::path::PathBuf;

use chrono::{Duration, Utc};
use clap::Parser;
use serde::ser::{SerializeMap, Serializer};
use ticketd::tickets::{NewTicket, Ticket};
use ticketd::triage::Analyzer;

#[derive(Parser)]
struct Args {
    /// How many tickets.
    #[arg(long, default_value_t = 100_000)]
    tickets: usize,
    /// The data directory to create the store in.
    #[arg(long)]
    data_dir: PathBuf,
    /// Percent of the tickets resolved (the oldest ones), each resolved
    /// `--resolved-days-ago` days ago.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    resolved_percent: u8,
    #[arg(long, default_value_t = 30)]
    resolved_days_ago: i64,
}

const TEXTS: &[(&str, &str)] = &[
    (
        "Outlook keeps asking for my password since this morning",
        "Email",
    ),
    (
        "The whole warehouse night shift cannot scan, handhelds show 'Account disabled'",
        "Warehouse scanners",
    ),
    (
        "Printer on floor 3 jams on every duplex job, we can print single-sided for now",
        "Printers",
    ),
    (
        "Customer portal returns 502 for everyone, checkout is down",
        "Customer portal",
    ),
    (
        "Could you install Visio on my laptop? No rush",
        "Software request",
    ),
    ("VPN drops every 15 minutes when working from home", "VPN"),
    (
        "Nurse station PC on ward 7 is very slow to open charts",
        "EHR",
    ),
    (
        "Phishing test email subject says URGENT: CRITICAL ACTION REQUIRED, just FYI",
        "Email",
    ),
];

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.data_dir)?;
    let path = args.data_dir.join("tickets_storage.json");
    anyhow::ensure!(
        !path.exists(),
        "{} exists; choose an empty directory",
        path.display()
    );
    let analyzer = Analyzer::builtin();
    let resolved = args.tickets * usize::from(args.resolved_percent) / 100;
    let resolved_at = Utc::now() - Duration::days(args.resolved_days_ago);
    // Resolved tickets were created before they were resolved.
    let start = if resolved > 0 {
        resolved_at - Duration::seconds(args.tickets as i64)
    } else {
        Utc::now() - Duration::seconds(args.tickets as i64)
    };
    let file = std::fs::File::create(&path)?;
    let mut out = std::io::BufWriter::new(file);
    let mut ser = serde_json::Serializer::pretty(&mut out);
    let mut map = ser.serialize_map(Some(args.tickets))?;
    for n in 0..args.tickets {
        let (text, system) = TEXTS[n % TEXTS.len()];
        let description = format!("{text} (#{n})");
        let new = NewTicket::parse(
            description.clone(),
            system.into(),
            format!("User {}", n % 977),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let triage = analyzer.analyze(&description, system);
        let mut ticket = Ticket::create(new, triage, start + Duration::seconds(n as i64));
        if n < resolved {
            ticket.status = ticketd::tickets::Status::Resolved;
            ticket.resolved_at = Some(resolved_at);
            ticket.updated_at = resolved_at;
        }
        map.serialize_entry(&ticket.request_id, &ticket)?;
    }
    map.end()?;
    out.write_all(b"\n")?;
    out.flush()?;
    println!("wrote {} tickets to {}", args.tickets, path.display());
    Ok(())
}
