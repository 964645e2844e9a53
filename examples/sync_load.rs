//! The sync harness: first-sync storms, resume storms and the paged API,
//! against a running ticketd on loopback, with real WSS and HTTPS clients.
//!
//! - `--scenario first-sync`: `--clients` connect at once; each is timed from
//!   the TCP connect to its `sync_state` (the whole `initial_tickets`
//!   received before it), and the size of `initial_tickets` is reported.
//! - `--scenario resume`: `--clients` connect and note their position, all
//!   disconnect, one more client submits `--missed` tickets, then all
//!   reconnect at once with `?epoch=E&since=V`; each is timed from the TCP
//!   connect to `sync_state` and checked: `recovered: true` and exactly the
//!   missed events, in order. Run `examples/load` beside it for the
//!   broadcast latency of clients that stay connected.
//! - `--scenario failover`: `--clients` connect to `--addr` (an instance
//!   sharing a database with `--other`) while a publisher on `--other`
//!   submits `--rate` tickets per second; then the harness SIGKILLs
//!   `--kill-pid` (the instance at `--addr`). Each client, on seeing its
//!   connection end, reconnects at once to `--other` with
//!   `?epoch=E&since=V` (its last version); each is timed from the kill to
//!   its `sync_state` and checked: `recovered: true` and exactly the
//!   versions after V up to the one `sync_state` names.
//! - `--scenario api`: a cursor walk of every ticket in pages of
//!   `--page-size`, timed, checked for duplicates; then `--queries` text
//!   searches (`q=`) timed one by one.
//!
//! ```sh
//! target/release/examples/sync_load --scenario resume --clients 1000 --missed 1000 \
//!     --cacert certs/localhost-cert.pem
//! ```

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Scenario {
    FirstSync,
    Resume,
    Failover,
    Api,
}

#[derive(Debug, Parser)]
#[command(about = "Sync harness for ticketd: first-sync and resume storms, the paged API")]
struct Args {
    #[arg(long, value_enum)]
    scenario: Scenario,
    /// The server's address (loopback only).
    #[arg(long, default_value = "127.0.0.1:8443")]
    addr: SocketAddr,
    /// The server's certificate (PEM) to trust.
    #[arg(long, default_value = "certs/localhost-cert.pem")]
    cacert: PathBuf,
    /// Clients in the storm.
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// Tickets submitted while the clients are away (resume).
    #[arg(long, default_value_t = 1000)]
    missed: usize,
    /// Loopback source addresses to spread clients over (127.0.0.2 onward).
    #[arg(long, default_value_t = 40)]
    sources: u8,
    /// The instance clients fail over to (failover).
    #[arg(long)]
    other: Option<SocketAddr>,
    /// The process SIGKILLed (failover): the instance at --addr.
    #[arg(long)]
    kill_pid: Option<u32>,
    /// Tickets per second submitted on --other throughout (failover).
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Page size of the cursor walk (api).
    #[arg(long, default_value_t = 1000)]
    page_size: usize,
    /// Text searches to time (api).
    #[arg(long, default_value_t = 200)]
    queries: usize,
}

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.addr.ip().is_loopback(),
        "the harness only targets loopback addresses"
    );
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
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
    let report = match args.scenario {
        Scenario::FirstSync => first_sync(&args, tls).await?,
        Scenario::Resume => resume(&args, tls).await?,
        Scenario::Failover => failover(&args, tls).await?,
        Scenario::Api => api(&args, tls).await?,
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

fn source(args: &Args, i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        127,
        0,
        0,
        2 + (i % args.sources.max(1) as usize) as u8,
    ))
}

async fn open(
    addr: SocketAddr,
    source: IpAddr,
    tls: Arc<rustls::ClientConfig>,
    query: &str,
) -> anyhow::Result<Ws> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    let config = WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(256 << 20));
    let url = format!("wss://localhost:{}/ws{query}", addr.port());
    let (ws, _) = tokio_tungstenite::client_async_tls_with_config(
        url,
        stream,
        Some(config),
        Some(Connector::Rustls(tls)),
    )
    .await?;
    Ok(ws)
}

/// What a client read up to and including `sync_state`.
struct Synced {
    ws: Ws,
    /// Microseconds from the TCP connect to `sync_state`.
    micros: u64,
    initial_bytes: usize,
    /// Versions of the change events before `sync_state`.
    replayed: Vec<u64>,
    state: Value,
}

async fn sync(
    addr: SocketAddr,
    source: IpAddr,
    tls: Arc<rustls::ClientConfig>,
    query: String,
) -> anyhow::Result<Synced> {
    let started = Instant::now();
    let mut ws = open(addr, source, tls, &query).await?;
    let mut initial_bytes = 0;
    let mut replayed = Vec::new();
    loop {
        let text = match ws.next().await {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => anyhow::bail!("closed before sync_state"),
        };
        if text.starts_with("{\"event\":\"initial_tickets\"") {
            initial_bytes = text.len();
            continue;
        }
        let frame: Value = serde_json::from_str(&text)?;
        if frame["event"] == "sync_state" {
            return Ok(Synced {
                ws,
                micros: started.elapsed().as_micros() as u64,
                initial_bytes,
                replayed,
                state: frame["data"].clone(),
            });
        }
        if let Some(v) = frame["v"].as_u64() {
            replayed.push(v);
        }
    }
}

/// Every client of the storm at once; failures counted.
async fn storm(
    args: &Args,
    tls: Arc<rustls::ClientConfig>,
    queries: Vec<String>,
) -> (Vec<Synced>, usize) {
    let tasks: Vec<_> = queries
        .into_iter()
        .enumerate()
        .map(|(i, query)| tokio::spawn(sync(args.addr, source(args, i), tls.clone(), query)))
        .collect();
    let mut done = Vec::with_capacity(tasks.len());
    let mut failed = 0;
    for task in tasks {
        match task.await {
            Ok(Ok(synced)) => done.push(synced),
            _ => failed += 1,
        }
    }
    (done, failed)
}

/// Every client connected (a first sync each), and the stream's epoch.
async fn everyone(
    args: &Args,
    tls: Arc<rustls::ClientConfig>,
) -> anyhow::Result<(Vec<Synced>, String)> {
    let (first, failed) = storm(args, tls, vec![String::new(); args.clients]).await;
    anyhow::ensure!(failed == 0, "{failed} clients could not connect");
    let epoch = first[0].state["epoch"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    Ok((first, epoch))
}

async fn first_sync(args: &Args, tls: Arc<rustls::ClientConfig>) -> anyhow::Result<Value> {
    let started = Instant::now();
    let (done, failed) = storm(args, tls, vec![String::new(); args.clients]).await;
    let took = started.elapsed();
    let mut micros: Vec<u64> = done.iter().map(|s| s.micros).collect();
    let bytes = done.iter().map(|s| s.initial_bytes).max().unwrap_or(0);
    let state = done.first().map(|s| s.state.clone()).unwrap_or(Value::Null);
    Ok(json!({
        "scenario": "first-sync",
        "clients": args.clients,
        "served": done.len(),
        "failed": failed,
        "storm_seconds": took.as_secs_f64(),
        "initial_tickets_bytes": bytes,
        "sync_state": state,
        "connect_to_sync_state_ms": percentiles(&mut micros),
    }))
}

async fn resume(args: &Args, tls: Arc<rustls::ClientConfig>) -> anyhow::Result<Value> {
    // Connect everyone (first syncs), note the position, leave.
    let (first, epoch) = everyone(args, tls.clone()).await?;
    let since = first
        .iter()
        .map(|s| s.state["v"].as_u64().unwrap_or(0))
        .max()
        .unwrap_or(0);
    for mut s in first {
        let _ = s.ws.close(None).await;
    }
    // Another client makes the changes they miss, each acknowledged.
    let mut publisher = sync(args.addr, source(args, 0), tls.clone(), String::new())
        .await?
        .ws;
    for n in 0..args.missed {
        let frame = json!({"event": "submit_ticket", "ref": format!("m{n}"), "data": {
            "description": format!("Missed while away #{n}: the badge reader at door {n} beeps red"),
            "system": "Access control", "requester": "Sync harness"}});
        publisher.send(Message::text(frame.to_string())).await?;
    }
    let mut acked = 0;
    while acked < args.missed {
        match publisher.next().await {
            Some(Ok(Message::Text(text))) if text.contains("\"ticket_submitted\"") => acked += 1,
            Some(Ok(Message::Text(text))) if text.contains("\"event\":\"error\"") => {
                anyhow::bail!("a submission was refused (raise the rate limits): {text}")
            }
            Some(Ok(_)) => {}
            other => anyhow::bail!("publisher closed: {other:?}"),
        }
    }
    // Everyone comes back at once.
    let query = format!("?epoch={epoch}&since={since}");
    let started = Instant::now();
    let (back, failed) = storm(args, tls, vec![query; args.clients]).await;
    let took = started.elapsed();
    let expected: Vec<u64> = (since + 1..=since + args.missed as u64).collect();
    let recovered = back.iter().filter(|s| s.state["recovered"] == true).count();
    let exact = back.iter().filter(|s| s.replayed == expected).count();
    // One client that did not get exactly the missed events, described.
    let mismatch = back.iter().find(|s| s.replayed != expected).map(|s| {
        json!({
            "events": s.replayed.len(),
            "first": s.replayed.first(),
            "last": s.replayed.last(),
            "expected_first": since + 1,
            "state": s.state,
        })
    });
    let mut micros: Vec<u64> = back.iter().map(|s| s.micros).collect();
    Ok(json!({
        "scenario": "resume",
        "clients": args.clients,
        "missed": args.missed,
        "served": back.len(),
        "failed": failed,
        "recovered": recovered,
        "exactly_the_missed_events": exact,
        "mismatch_example": mismatch,
        "storm_seconds": took.as_secs_f64(),
        "connect_to_sync_state_ms": percentiles(&mut micros),
    }))
}

/// One client of the failover: how it resumed on the other instance.
struct FailedOver {
    /// Microseconds from the kill to `sync_state` on the other instance.
    micros: u64,
    recovered: bool,
    /// The replayed versions were exactly those after its last one.
    exact: bool,
}

async fn failover(args: &Args, tls: Arc<rustls::ClientConfig>) -> anyhow::Result<Value> {
    let other = args
        .other
        .ok_or_else(|| anyhow::anyhow!("--scenario failover needs --other"))?;
    let pid = args
        .kill_pid
        .ok_or_else(|| anyhow::anyhow!("--scenario failover needs --kill-pid"))?;
    anyhow::ensure!(other.ip().is_loopback(), "--other must be loopback");
    let (first, epoch) = everyone(args, tls.clone()).await?;

    // A publisher on the other instance, throughout.
    let mut publisher = sync(other, source(args, 0), tls.clone(), String::new())
        .await?
        .ws;
    let every = std::time::Duration::from_secs_f64(1.0 / args.rate.max(0.1));
    let publishing = tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        for n in 0u64.. {
            tick.tick().await;
            let frame = json!({"event": "submit_ticket", "ref": format!("f{n}"), "data": {
                "description": format!("Failover #{n}: the kiosk at gate {n} shows a blank screen"),
                "system": "Kiosks", "requester": "Sync harness"}});
            if publisher
                .send(Message::text(frame.to_string()))
                .await
                .is_err()
            {
                return;
            }
            // Drain what arrived (acknowledgements, broadcasts).
            while let Some(Some(Ok(_))) = futures_util::FutureExt::now_or_never(publisher.next()) {}
        }
    });

    // Each client follows K until it goes, then resumes on the other.
    let killed = Arc::new(tokio::sync::OnceCell::<Instant>::new());
    let tasks: Vec<_> = first
        .into_iter()
        .enumerate()
        .map(|(i, synced)| {
            let (tls, epoch, killed) = (tls.clone(), epoch.clone(), killed.clone());
            let source = source(args, i);
            tokio::spawn(async move {
                let mut ws = synced.ws;
                let mut last = synced.state["v"].as_u64().unwrap_or(0);
                while let Some(Ok(message)) = ws.next().await {
                    if let Message::Text(text) = message
                        && let Ok(frame) = serde_json::from_str::<Value>(&text)
                        && let Some(v) = frame["v"].as_u64()
                    {
                        last = v;
                    }
                }
                let query = format!("?epoch={epoch}&since={last}");
                let back = sync(other, source, tls, query).await?;
                let at = *killed
                    .get()
                    .ok_or_else(|| anyhow::anyhow!("closed before the kill"))?;
                let reached = back.state["v"].as_u64().unwrap_or(0);
                let expected: Vec<u64> = (last + 1..=reached).collect();
                anyhow::Ok(FailedOver {
                    micros: at.elapsed().as_micros() as u64,
                    recovered: back.state["recovered"] == true,
                    exact: back.replayed == expected,
                })
            })
        })
        .collect();
    // Let changes flow for a second, then kill.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    killed.set(Instant::now()).ok();
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()?;
    anyhow::ensure!(status.success(), "kill -KILL {pid} failed");
    let mut done = Vec::with_capacity(tasks.len());
    let mut failed = 0;
    for task in tasks {
        match task.await {
            Ok(Ok(over)) => done.push(over),
            _ => failed += 1,
        }
    }
    let all_back = killed.get().map(|at| at.elapsed().as_secs_f64());
    publishing.abort();
    let mut micros: Vec<u64> = done.iter().map(|d| d.micros).collect();
    Ok(json!({
        "scenario": "failover",
        "clients": args.clients,
        "resumed": done.len(),
        "failed": failed,
        "recovered": done.iter().filter(|d| d.recovered).count(),
        "exactly_the_missed_events": done.iter().filter(|d| d.exact).count(),
        "kill_to_last_sync_state_seconds": all_back,
        "kill_to_sync_state_ms": percentiles(&mut micros),
    }))
}

async fn api(args: &Args, tls: Arc<rustls::ClientConfig>) -> anyhow::Result<Value> {
    let http = reqwest::Client::builder()
        .use_preconfigured_tls((*tls).clone())
        .build()?;
    let base = format!("https://localhost:{}", args.addr.port());
    let get = |url: String| {
        let http = http.clone();
        async move {
            let response = http
                .get(url)
                .send()
                .await?
                .error_for_status()?
                .json::<Value>()
                .await?;
            anyhow::Ok(response)
        }
    };
    // The walk.
    let started = Instant::now();
    let mut seen = HashSet::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    let total = loop {
        let mut url = format!("{base}/api/tickets?limit={}", args.page_size);
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page = get(url).await?;
        pages += 1;
        for t in page["tickets"].as_array().into_iter().flatten() {
            anyhow::ensure!(
                seen.insert(t["request_id"].as_str().unwrap_or_default().to_string()),
                "a ticket came twice"
            );
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break page["total"].as_u64().unwrap_or(0),
        }
    };
    let walk = started.elapsed();
    // Text searches: words that are and are not there.
    let words = [
        "badge",
        "printer",
        "outlook",
        "warehouse",
        "vpn",
        "zebra",
        "#4242",
        "user 97",
    ];
    let mut micros = Vec::with_capacity(args.queries);
    let mut matches = 0;
    for n in 0..args.queries {
        let q = words[n % words.len()];
        let started = Instant::now();
        let page = get(format!(
            "{base}/api/tickets?limit=100&q={}",
            q.replace(' ', "%20").replace('#', "%23")
        ))
        .await?;
        micros.push(started.elapsed().as_micros() as u64);
        matches += page["total"].as_u64().unwrap_or(0);
    }
    Ok(json!({
        "scenario": "api",
        "walk": {"tickets": seen.len(), "total": total, "pages": pages, "seconds": walk.as_secs_f64()},
        "q": {"queries": args.queries, "mean_matches": matches as f64 / args.queries.max(1) as f64, "latency_ms": percentiles(&mut micros)},
    }))
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
