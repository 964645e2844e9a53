//! The load harness: N real WSS clients against a running ticketd.
//!
//! It opens `--clients` connections (spread over loopback source addresses
//! 127.0.0.2, 127.0.0.3, … so the per-address connection cap is not the
//! thing measured), lets `--publishers` of them submit tickets at `--rate`
//! per second for `--duration` seconds, and reports:
//! - per-delivery latency (submit to each client's `new_ticket`) and
//!   last-client latency (submit to the slowest client) percentiles;
//! - acknowledgement latency (submit to `ticket_submitted`: the durable
//!   commit as a client sees it);
//! - connection rate (a client counts as connected once its whole first
//!   sync, `initial_tickets` then `sync_state`, has arrived), failed connections, drops (deliveries
//!   that never came, connections the server closed);
//! - with `--server-pid`, the server's resident memory and CPU time per
//!   delivered event, read from `/proc`.
//!
//! With `--rate 0` it only holds the connections (the idle-clients test).
//! Runs are bounded: it stops by itself after the duration and a drain.
//!
//! ```sh
//! cargo run --release --example load -- --clients 1000 --rate 10 --duration 30 \
//!     --cacert certs/localhost-cert.pem --server-pid "$(pgrep -x ticketd)"
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpSocket;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

#[derive(Debug, Parser)]
#[command(about = "Load harness for ticketd: real WSS clients, bounded runs, loopback only")]
struct Args {
    /// The server's address (loopback only).
    #[arg(long, default_value = "127.0.0.1:8443")]
    addr: SocketAddr,
    /// Publishers connect here instead (another instance sharing the same
    /// database): delivery latency is then commit on one instance to
    /// delivery on the other.
    #[arg(long)]
    publish_addr: Option<SocketAddr>,
    /// The server's certificate (PEM) to trust.
    #[arg(long, default_value = "certs/localhost-cert.pem")]
    cacert: PathBuf,
    /// Connected clients (publishers included).
    #[arg(long, default_value_t = 100)]
    clients: usize,
    /// Clients that also submit tickets.
    #[arg(long, default_value_t = 1)]
    publishers: usize,
    /// Tickets per second, over all publishers (0: idle clients only).
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Seconds of load (or of holding idle connections).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Loopback source addresses to spread clients over (127.0.0.2 onward).
    #[arg(long, default_value_t = 40)]
    sources: u8,
    /// Connections opened at once while connecting.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// The server's process id, to read its memory and CPU time.
    #[arg(long)]
    server_pid: Option<u32>,
    /// The publishers submit over HTTPS (`POST /api/tickets`) instead, open
    /// loop (each at its share of --rate, however long answers take), and
    /// receive nothing: durable commit throughput alone. --clients is then
    /// not used.
    #[arg(long)]
    http: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// With `--http`: also print each second's acknowledgements and their
    /// slowest, to see when a tail happened.
    #[arg(long)]
    per_second: bool,
}

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// What every client task records.
struct Shared {
    start: Instant,
    /// Per-delivery latencies in microseconds.
    deliveries: Mutex<Vec<u64>>,
    /// Per ticket (by sequence number): the slowest client's latency (µs).
    last_client: Vec<AtomicU64>,
    /// Per ticket: how many clients received it.
    received: Vec<AtomicUsize>,
    /// Submit-to-acknowledgement latencies (µs).
    acks: Mutex<Vec<u64>>,
    closed_by_server: AtomicUsize,
    errors: AtomicUsize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.addr.ip().is_loopback() && args.publish_addr.is_none_or(|a| a.ip().is_loopback()),
        "the harness only targets loopback addresses"
    );
    anyhow::ensure!(
        args.http || args.publishers <= args.clients,
        "--publishers must not exceed --clients"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let pem = std::fs::read(&args.cacert)?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(cert?)?;
    }
    let tls = Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    if args.http {
        return http_submitters(&args, tls).await;
    }
    let planned = (args.rate * args.duration as f64).ceil() as usize + 1;
    let shared = Arc::new(Shared {
        start: Instant::now(),
        deliveries: Mutex::new(Vec::with_capacity(planned * args.clients)),
        last_client: (0..planned).map(|_| AtomicU64::new(0)).collect(),
        received: (0..planned).map(|_| AtomicUsize::new(0)).collect(),
        acks: Mutex::new(Vec::with_capacity(planned)),
        closed_by_server: AtomicUsize::new(0),
        errors: AtomicUsize::new(0),
    });
    let before = args.server_pid.and_then(proc_sample);

    // Connect.
    let connecting = Instant::now();
    let gate = Arc::new(Semaphore::new(args.connect_concurrency.max(1)));
    let mut connects = Vec::with_capacity(args.clients);
    for i in 0..args.clients {
        let gate = gate.clone();
        let tls = tls.clone();
        let addr = match args.publish_addr {
            Some(other) if i < args.publishers => other,
            _ => args.addr,
        };
        let source = Ipv4Addr::new(127, 0, 0, 2 + (i % args.sources.max(1) as usize) as u8);
        connects.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.expect("gate");
            connect(addr, IpAddr::V4(source), tls).await
        }));
    }
    let mut sockets = Vec::with_capacity(args.clients);
    let mut failed = 0;
    for c in connects {
        match c.await? {
            Ok(ws) => sockets.push(ws),
            Err(_) => failed += 1,
        }
    }
    let connect_secs = connecting.elapsed().as_secs_f64();
    let connected = sockets.len();
    let after_connect = args.server_pid.and_then(proc_sample);

    // Run: readers on every socket, writers on the publishers.
    let stop_at = Instant::now() + Duration::from_secs(args.duration);
    let drain = Duration::from_secs(3);
    let sent = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    let per_publisher = if args.publishers == 0 {
        0.0
    } else {
        args.rate / args.publishers as f64
    };
    for (i, ws) in sockets.into_iter().enumerate() {
        let shared = shared.clone();
        let sent = sent.clone();
        let publish = i < args.publishers && args.rate > 0.0;
        tasks.push(tokio::spawn(client(
            ws,
            shared,
            publish.then_some((per_publisher, args.publishers, i, sent)),
            stop_at,
            drain,
        )));
    }
    for t in tasks {
        let _ = t.await;
    }
    let after = args.server_pid.and_then(proc_sample);

    // Report.
    let tickets = sent.load(Ordering::Relaxed).min(planned);
    let mut deliveries = std::mem::take(&mut *shared.deliveries.lock().unwrap());
    let mut last: Vec<u64> = (0..tickets)
        .filter(|&s| shared.received[s].load(Ordering::Relaxed) > 0)
        .map(|s| shared.last_client[s].load(Ordering::Relaxed))
        .collect();
    let mut acks = std::mem::take(&mut *shared.acks.lock().unwrap());
    let expected = tickets * connected;
    let delivered = deliveries.len();
    let cpu_per_delivery_us = match (&after_connect, &after) {
        (Some(a), Some(b)) if delivered > 0 => {
            Some((b.cpu_secs - a.cpu_secs) * 1e6 / delivered as f64)
        }
        _ => None,
    };
    let report = json!({
        "clients": args.clients,
        "connected": connected,
        "connect_failed": failed,
        "connect_rate_per_s": connected as f64 / connect_secs.max(1e-9),
        "publishers": args.publishers,
        "rate_per_s": args.rate,
        "duration_s": args.duration,
        "tickets_sent": tickets,
        "deliveries_expected": expected,
        "deliveries": delivered,
        "dropped_deliveries": expected.saturating_sub(delivered),
        "closed_by_server": shared.closed_by_server.load(Ordering::Relaxed),
        "errors": shared.errors.load(Ordering::Relaxed),
        "delivery_latency_ms": percentiles(&mut deliveries),
        "last_client_latency_ms": percentiles(&mut last),
        "ack_latency_ms": percentiles(&mut acks),
        "server": {
            "rss_before_mb": before.as_ref().map(|s| s.rss_kib as f64 / 1024.0),
            "rss_connected_mb": after_connect.as_ref().map(|s| s.rss_kib as f64 / 1024.0),
            "rss_after_mb": after.as_ref().map(|s| s.rss_kib as f64 / 1024.0),
            "rss_per_client_kib": match (&before, &after_connect) {
                (Some(b), Some(a)) if connected > 0 => Some((a.rss_kib as f64 - b.rss_kib as f64) / connected as f64),
                _ => None,
            },
            "cpu_us_per_delivery": cpu_per_delivery_us,
        },
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

/// `--http`: publishers submitting over HTTPS, open loop; each answer
/// timed (from when its submission was due) and counted by status.
async fn http_submitters(args: &Args, tls: Arc<rustls::ClientConfig>) -> anyhow::Result<()> {
    let addr = args.publish_addr.unwrap_or(args.addr);
    let url = format!("https://localhost:{}/api/tickets", addr.port());
    let publishers = args.publishers.max(1);
    let every = Duration::from_secs_f64(publishers as f64 / args.rate.max(0.001));
    let stop_at = Instant::now() + Duration::from_secs(args.duration);
    let acks = Arc::new(Mutex::new(Vec::new()));
    let statuses = Arc::new(Mutex::new(
        std::collections::BTreeMap::<String, usize>::new(),
    ));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..publishers {
        let source = Ipv4Addr::new(127, 0, 0, 2 + (p % args.sources.max(1) as usize) as u8);
        let http = reqwest::Client::builder()
            .use_preconfigured_tls((*tls).clone())
            .resolve("localhost", addr)
            .local_address(IpAddr::V4(source))
            .build()?;
        let (url, acks, statuses) = (url.clone(), acks.clone(), statuses.clone());
        tasks.push(tokio::spawn(async move {
            // Stagger publishers across one period.
            let offset = every.mul_f64(p as f64 / publishers as f64);
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + offset, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut inflight = Vec::new();
            for n in 0u64.. {
                // Timed from when the submission was due, not from when it
                // went out: a stall of the harness itself (or a wait for a
                // free connection) counts against the latency instead of
                // hiding it (coordinated omission).
                let due = tick.tick().await.into_std();
                if Instant::now() >= stop_at {
                    break;
                }
                let body = json!({"description": format!("HTTP load {p}/{n}: the label printer in bay {} jams", n % 97),
                    "system": "Printers", "requester": "Load harness"});
                let request = http.post(&url).json(&body);
                let (acks, statuses) = (acks.clone(), statuses.clone());
                inflight.push(tokio::spawn(async move {
                    let sent = due;
                    let status = match request.send().await {
                        Ok(resp) => resp.status().as_u16().to_string(),
                        Err(e) => format!("error: {e}"),
                    };
                    let micros = sent.elapsed().as_micros() as u64;
                    if status == "201" {
                        let at = sent.duration_since(started).as_secs();
                        acks.lock().unwrap().push((at, micros));
                    }
                    *statuses.lock().unwrap().entry(status).or_default() += 1;
                }));
            }
            for t in inflight {
                let _ = t.await;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let took = started.elapsed().as_secs_f64();
    let timed = std::mem::take(&mut *acks.lock().unwrap());
    let mut acks: Vec<u64> = timed.iter().map(|&(_, micros)| micros).collect();
    let statuses = std::mem::take(&mut *statuses.lock().unwrap());
    let report = json!({
        "publishers": publishers,
        "rate_per_s": args.rate,
        "duration_s": args.duration,
        "answers": statuses,
        "acknowledged": acks.len(),
        "acknowledged_per_s": acks.len() as f64 / took.max(1e-9),
        "ack_latency_ms": percentiles(&mut acks),
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "http load          {} publishers, {} tickets/s for {} s: answers {}",
            publishers, args.rate, args.duration, report["answers"]
        );
        println!(
            "acknowledged       {} ({:.0}/s over {:.1} s until the last answer)",
            report["acknowledged"],
            report["acknowledged_per_s"].as_f64().unwrap_or(0.0),
            took
        );
        let p = &report["ack_latency_ms"];
        println!(
            "ack (commit)       p50 {}  p90 {}  p99 {}  max {} ms",
            p["p50"], p["p90"], p["p99"], p["max"]
        );
        if args.per_second {
            let mut seconds = std::collections::BTreeMap::<u64, Vec<u64>>::new();
            for (at, micros) in timed {
                seconds.entry(at).or_default().push(micros);
            }
            for (at, mut micros) in seconds {
                let p = percentiles(&mut micros);
                println!(
                    "  second {at:>3}        {:>5} acks  p99 {}  max {} ms",
                    micros.len(),
                    p["p99"],
                    p["max"]
                );
            }
        }
    }
    Ok(())
}

async fn connect(
    addr: SocketAddr,
    source: IpAddr,
    tls: Arc<rustls::ClientConfig>,
) -> anyhow::Result<Ws> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    let config = WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(256 << 20));
    let url = format!("wss://localhost:{}/ws", addr.port());
    let (ws, _) = tokio_tungstenite::client_async_tls_with_config(
        url,
        stream,
        Some(config),
        Some(Connector::Rustls(tls)),
    )
    .await?;
    let mut ws = ws;
    // Connected means served: wait for the whole first sync (its
    // `initial_tickets`, then `sync_state`).
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) if text.starts_with("{\"event\":\"sync_state\"") => {
                return Ok(ws);
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => anyhow::bail!("closed before sync_state"),
        }
    }
}

/// One client: reads every frame; a publisher also submits at its rate.
async fn client(
    mut ws: Ws,
    shared: Arc<Shared>,
    publish: Option<(f64, usize, usize, Arc<AtomicUsize>)>,
    stop_at: Instant,
    drain: Duration,
) {
    let mut ticker = publish.as_ref().map(|(rate, publishers, index, _)| {
        let period = Duration::from_secs_f64(1.0 / rate.max(1e-6));
        // Stagger publishers across one period.
        let offset = period.mul_f64(*index as f64 / *publishers as f64);
        tokio::time::interval_at(tokio::time::Instant::now() + offset, period)
    });
    let mut sent_at: std::collections::HashMap<String, Instant> = Default::default();
    let end = tokio::time::Instant::from_std(stop_at + drain);
    loop {
        let publishing = Instant::now() < stop_at;
        tokio::select! {
            _ = tokio::time::sleep_until(end) => break,
            _ = async { ticker.as_mut().unwrap().tick().await }, if ticker.is_some() && publishing => {
                let (_, _, _, sent) = publish.as_ref().unwrap();
                let seq = sent.fetch_add(1, Ordering::Relaxed);
                if seq >= shared.received.len() { continue; }
                let t = shared.start.elapsed().as_micros() as u64;
                let reference = format!("{seq}");
                sent_at.insert(reference.clone(), Instant::now());
                let frame = json!({"event": "submit_ticket", "ref": reference, "data": {
                    "description": format!("load seq={seq} t={t} printer queue stuck on floor 2"),
                    "system": "Printers", "requester": "load harness"}});
                if ws.send(Message::Text(frame.to_string().into())).await.is_err() {
                    shared.errors.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
            message = ws.next() => {
                match message {
                    Some(Ok(Message::Text(text))) => record(&shared, &text, &mut sent_at),
                    Some(Ok(Message::Close(_))) | None => {
                        shared.closed_by_server.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) => {
                        shared.errors.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
            }
        }
    }
    let _ = ws.close(None).await;
}

fn record(shared: &Shared, text: &str, sent_at: &mut std::collections::HashMap<String, Instant>) {
    let now = shared.start.elapsed().as_micros() as u64;
    // Cheap pre-filter: only new_ticket and ticket_submitted matter.
    if text.starts_with("{\"event\":\"new_ticket\"") {
        // The harness's own marker, found without parsing the whole event
        // (the harness must cost far less per delivery than the server).
        let number_after = |key: &str| {
            let at = text.find(key)? + key.len();
            let digits: &str = &text[at..];
            let end = digits
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(digits.len());
            digits[..end].parse::<u64>().ok()
        };
        let (Some(seq), Some(t)) = (number_after("load seq="), number_after(" t=")) else {
            return;
        };
        let seq = seq as usize;
        if seq >= shared.received.len() {
            return;
        }
        let latency = now.saturating_sub(t);
        shared.deliveries.lock().unwrap().push(latency);
        shared.last_client[seq].fetch_max(latency, Ordering::Relaxed);
        shared.received[seq].fetch_add(1, Ordering::Relaxed);
    } else if text.starts_with("{\"event\":\"ticket_submitted\"") {
        let Ok(v) = serde_json::from_str::<Value>(text) else {
            return;
        };
        if let Some(started) = v["ref"].as_str().and_then(|r| sent_at.remove(r)) {
            shared
                .acks
                .lock()
                .unwrap()
                .push(started.elapsed().as_micros() as u64);
        }
    } else if text.starts_with("{\"event\":\"error\"") {
        shared.errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// p50, p90, p99, max in milliseconds.
fn percentiles(values: &mut [u64]) -> Value {
    if values.is_empty() {
        return Value::Null;
    }
    values.sort_unstable();
    let at = |q: f64| {
        let i = ((values.len() as f64 - 1.0) * q).round() as usize;
        values[i] as f64 / 1000.0
    };
    json!({"count": values.len(), "p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": at(1.0)})
}

struct ProcSample {
    rss_kib: u64,
    cpu_secs: f64,
}

/// Resident memory and CPU time (user + system) of a process, from /proc.
fn proc_sample(pid: u32) -> Option<ProcSample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let hz = 100.0; // USER_HZ on Linux
    Some(ProcSample {
        rss_kib,
        cpu_secs: ticks / hz,
    })
}

fn print_table(r: &Value) {
    let ms = |v: &Value| {
        if v.is_null() {
            "-".to_string()
        } else {
            format!(
                "p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2} ms ({} samples)",
                v["p50"].as_f64().unwrap_or(0.0),
                v["p90"].as_f64().unwrap_or(0.0),
                v["p99"].as_f64().unwrap_or(0.0),
                v["max"].as_f64().unwrap_or(0.0),
                v["count"]
            )
        }
    };
    let opt = |v: &Value, unit: &str| {
        v.as_f64()
            .map_or("-".to_string(), |x| format!("{x:.1} {unit}"))
    };
    println!(
        "clients            {} connected of {} ({} failed), {:.0} connections/s",
        r["connected"],
        r["clients"],
        r["connect_failed"],
        r["connect_rate_per_s"].as_f64().unwrap_or(0.0)
    );
    println!(
        "load               {} publishers, {} tickets/s for {} s: {} tickets sent",
        r["publishers"], r["rate_per_s"], r["duration_s"], r["tickets_sent"]
    );
    println!(
        "deliveries         {} of {} ({} dropped), {} closed by server, {} errors",
        r["deliveries"],
        r["deliveries_expected"],
        r["dropped_deliveries"],
        r["closed_by_server"],
        r["errors"]
    );
    println!("delivery latency   {}", ms(&r["delivery_latency_ms"]));
    println!("last-client        {}", ms(&r["last_client_latency_ms"]));
    println!("ack (commit)       {}", ms(&r["ack_latency_ms"]));
    let s = &r["server"];
    println!(
        "server RSS         before {}, connected {}, after {}; {} per client",
        opt(&s["rss_before_mb"], "MB"),
        opt(&s["rss_connected_mb"], "MB"),
        opt(&s["rss_after_mb"], "MB"),
        opt(&s["rss_per_client_kib"], "KiB")
    );
    println!(
        "server CPU         {} per delivery",
        opt(&s["cpu_us_per_delivery"], "µs")
    );
}
