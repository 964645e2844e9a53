//! Operations through the real server: metrics, health, systemd notify,
//! certificate reload on SIGHUP, graceful shutdown on SIGTERM.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};

/// One scrape, parsed: `# TYPE` lines and every sample.
struct Scrape {
    types: BTreeMap<String, String>,
    samples: Vec<Sample>,
}

#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

impl Scrape {
    fn parse(text: &str) -> Scrape {
        let mut types = BTreeMap::new();
        let mut samples = Vec::new();
        for line in text.lines().filter(|l| !l.is_empty()) {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
                types.insert(name.to_string(), kind.to_string());
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("sample has a value");
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("value in {line}"));
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}').unwrap())),
                None => (series, BTreeMap::new()),
            };
            samples.push(Sample {
                name: name.to_string(),
                labels,
                value,
            });
        }
        Scrape { types, samples }
    }

    /// The value of the sample with exactly these labels (0 if absent).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let want: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == want)
            .map_or(0.0, |s| s.value)
    }

    /// Every series, as `name{labels}`.
    fn series(&self) -> BTreeSet<String> {
        self.samples
            .iter()
            .map(|s| format!("{}{:?}", s.name, s.labels))
            .collect()
    }
}

fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").expect("label=\"value\"");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().expect("closing quote") {
                (_, '\\') => value.push(chars.next().unwrap().1),
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        labels.insert(key.to_string(), value);
        rest = after[end + 1..].trim_start_matches(',');
    }
    labels
}

async fn scrape(app: &TestApp) -> Scrape {
    Scrape::parse(&app.scrape().await)
}

#[tokio::test]
async fn scrape_names_types_and_counters_follow_real_actions() {
    let app = spawn_app().await;
    let before = scrape(&app).await;

    for (name, kind) in [
        ("ticketd_build_info", "gauge"),
        ("ticketd_ws_clients", "gauge"),
        ("ticketd_ws_messages_received_total", "counter"),
        ("ticketd_ws_events_sent_total", "counter"),
        ("ticketd_ws_slow_client_disconnects_total", "counter"),
        ("ticketd_store_commit_duration_seconds", "histogram"),
        ("ticketd_store_commit_batch_size", "histogram"),
        ("ticketd_store_commit_failures_total", "counter"),
        ("ticketd_store_size_bytes", "gauge"),
        ("ticketd_store_writable", "gauge"),
        ("ticketd_tickets", "gauge"),
        ("ticketd_tickets_by_priority", "gauge"),
        ("ticketd_tls_certificate_expiry_timestamp_seconds", "gauge"),
        ("ticketd_tls_reloads_total", "counter"),
        ("process_cpu_seconds_total", "counter"),
        ("process_resident_memory_bytes", "gauge"),
        ("process_open_fds", "gauge"),
    ] {
        assert_eq!(
            before.types.get(name).map(String::as_str),
            Some(kind),
            "{name} should be a {kind}"
        );
    }
    assert_eq!(
        before.value(
            "ticketd_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    assert_eq!(before.value("ticketd_store_writable", &[]), 1.0);
    assert!(before.value("ticketd_tls_certificate_expiry_timestamp_seconds", &[]) > 1.7e9);

    // Real actions over both transports.
    let (mut ws, _) = app.connect_ready().await;
    ws.submit("Outlook crashes for the whole sales team").await;
    ws.send_text("not json").await;
    ws.expect_error().await;
    ws.send("get_stats", json!({})).await;
    ws.expect("stats_update").await;
    let ticket = app.submit_http("Printer on floor 3 jams").await;
    let id = ticket["request_id"].as_str().unwrap();
    let http = app.http();
    let resp = http
        .get(format!("{}/api/tickets/{id}", app.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-request-id"].len(), 16);
    // The public port does not serve metrics.
    let resp = http
        .get(format!("{}/metrics", app.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    let after = scrape(&app).await;
    let moved = |name: &str, labels: &[(&str, &str)]| {
        after.value(name, labels) - before.value(name, labels)
    };
    assert_eq!(after.value("ticketd_ws_clients", &[]), 1.0);
    assert_eq!(
        moved(
            "ticketd_ws_messages_received_total",
            &[("event", "submit_ticket"), ("outcome", "ok")]
        ),
        1.0
    );
    assert_eq!(
        moved(
            "ticketd_ws_messages_received_total",
            &[("event", "invalid"), ("outcome", "bad_frame")]
        ),
        1.0
    );
    assert_eq!(
        moved(
            "ticketd_ws_messages_received_total",
            &[("event", "get_stats"), ("outcome", "ok")]
        ),
        1.0
    );
    // This client heard both new tickets, its reply, the error, the stats.
    assert_eq!(
        moved("ticketd_ws_events_sent_total", &[("event", "new_ticket")]),
        2.0
    );
    assert_eq!(
        moved(
            "ticketd_ws_events_sent_total",
            &[("event", "ticket_submitted")]
        ),
        1.0
    );
    assert_eq!(
        moved("ticketd_ws_events_sent_total", &[("event", "error")]),
        1.0
    );
    assert_eq!(
        moved(
            "ticketd_ws_events_sent_total",
            &[("event", "initial_tickets")]
        ),
        1.0
    );
    assert_eq!(
        moved(
            "ticketd_http_requests_total",
            &[
                ("route", "/api/tickets"),
                ("method", "POST"),
                ("status", "201")
            ]
        ),
        1.0
    );
    assert_eq!(
        moved(
            "ticketd_http_requests_total",
            &[
                ("route", "/api/tickets/{id}"),
                ("method", "GET"),
                ("status", "200")
            ]
        ),
        1.0
    );
    assert_eq!(
        moved(
            "ticketd_http_requests_total",
            &[("route", "unmatched"), ("method", "GET"), ("status", "404")]
        ),
        1.0
    );
    assert_eq!(
        moved(
            "ticketd_http_request_duration_seconds_count",
            &[("route", "/api/tickets"), ("method", "POST")]
        ),
        1.0
    );
    assert_eq!(moved("ticketd_store_commit_batch_size_sum", &[]), 2.0);
    assert!(moved("ticketd_store_commit_duration_seconds_count", &[]) >= 1.0);
    assert!(after.value("ticketd_store_size_bytes", &[]) > 0.0);
    assert_eq!(after.value("ticketd_tickets", &[("status", "open")]), 2.0);
    assert_eq!(
        after.value("ticketd_tickets", &[("status", "resolved")]),
        0.0
    );
    let by_priority: f64 = ["LOW", "MEDIUM", "HIGH", "CRITICAL"]
        .iter()
        .map(|p| after.value("ticketd_tickets_by_priority", &[("priority", p)]))
        .sum();
    assert_eq!(by_priority, 2.0);

    // No label anywhere carries an address, a raw path or an id.
    for sample in &after.samples {
        for (key, value) in &sample.labels {
            assert!(
                !["addr", "peer", "ip", "path", "id", "ticket_id"].contains(&key.as_str()),
                "label {key} on {}",
                sample.name
            );
            assert!(
                !value.contains("127.0.0.1") && !value.contains(id),
                "{}: {key}={value}",
                sample.name
            );
        }
    }

    // The gauge follows the client away.
    drop(ws);
    let deadline = Instant::now() + WAIT;
    while scrape(&app).await.value("ticketd_ws_clients", &[]) != 0.0 {
        assert!(Instant::now() < deadline, "ws_clients back to 0");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn ten_thousand_random_paths_add_no_series() {
    let app = spawn_with(Options {
        args: generous_limits(),
        ..Options::default()
    })
    .await;
    let http = app.http();
    let base = app.base_url();
    let paths = |n: usize| {
        let id = uuid_like(n);
        match n % 4 {
            0 => format!("/{id}/{n}"),
            1 => format!("/static/{id}.js"),
            2 => format!("/api/tickets/{id}"),
            _ => format!("/api/tickets/not-a-uuid-{n}?token={id}"),
        }
    };
    // One of each kind first: their (fixed) series then exist.
    for n in 0..4 {
        http.get(format!("{base}{}", paths(n)))
            .send()
            .await
            .unwrap();
    }
    let before = scrape(&app).await.series();

    let requests = futures_util::stream::iter(4..10_004)
        .map(|n| {
            let url = format!("{base}{}", paths(n));
            let http = http.clone();
            async move { http.get(url).send().await.unwrap().status().as_u16() }
        })
        .buffer_unordered(64);
    let statuses: Vec<u16> = requests.collect().await;
    assert_eq!(statuses.len(), 10_000);
    assert!(statuses.iter().all(|s| [400, 404].contains(s)));

    let after = scrape(&app).await;
    assert_eq!(after.series(), before, "random paths added series");
    assert_eq!(
        after.value(
            "ticketd_http_requests_total",
            &[("route", "unmatched"), ("method", "GET"), ("status", "404")]
        ),
        2_501.0
    );
}

fn uuid_like(n: usize) -> String {
    format!(
        "{:08x}-0000-4000-8000-{:012x}",
        n.wrapping_mul(2_654_435_761),
        n
    )
}

#[tokio::test]
async fn promtool_accepts_a_scrape() {
    let app = spawn_app().await;
    let (mut ws, _) = app.connect_ready().await;
    ws.submit("VPN drops every hour").await;
    app.submit_http("Printer jams").await;
    let text = app.scrape().await;

    let Some(promtool) = find_promtool() else {
        if std::env::var("TICKETD_REQUIRE_PROMTOOL").as_deref() == Ok("1") {
            panic!("promtool is required (TICKETD_REQUIRE_PROMTOOL=1) but not installed");
        }
        eprintln!(
            "\n*** SKIPPED: promtool not found; `promtool check metrics` did not run. \
             Install Debian's `prometheus` package. ***\n"
        );
        return;
    };
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool check metrics: {report}"
    );
}

fn find_promtool() -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("promtool"))
            .find(|p| p.is_file())
    })
}

#[tokio::test]
async fn health_and_readiness_answer_on_both_listeners() {
    let app = spawn_app().await;
    let http = app.http();
    for url in [
        format!("{}/healthz", app.base_url()),
        format!("{}/readyz", app.base_url()),
        format!("http://{}/healthz", app.metrics_addr()),
        format!("http://{}/readyz", app.metrics_addr()),
    ] {
        let resp = http.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{url}");
    }
}

/// Reads datagrams until one contains `want`; returns every one seen.
fn read_until(socket: &UnixDatagram, want: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = socket
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("no {want:?} (saw {seen:?}): {e}"));
        let message = String::from_utf8_lossy(&buf[..n]).into_owned();
        let done = message.lines().any(|l| l == want);
        seen.push(message);
        if done {
            return seen;
        }
    }
}

#[tokio::test]
async fn systemd_hears_ready_watchdog_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket.set_read_timeout(Some(WAIT)).unwrap();
    let mut app = spawn_with(Options {
        envs: vec![
            ("NOTIFY_SOCKET".into(), path.display().to_string()),
            ("WATCHDOG_USEC".into(), "200000".into()),
        ],
        ..Options::default()
    })
    .await;

    let first = read_until(&socket, "READY=1");
    assert_eq!(first.len(), 1, "READY=1 comes first: {first:?}");
    assert!(first[0].contains("STATUS="));
    // Every 100 ms (half of WATCHDOG_USEC) while healthy.
    let started = Instant::now();
    for _ in 0..3 {
        let seen = read_until(&socket, "WATCHDOG=1");
        assert_eq!(seen.len(), 1, "{seen:?}");
    }
    assert!(started.elapsed() < Duration::from_secs(2));

    let status = app.stop();
    assert!(status.success(), "{status}");
    let rest = read_until(&socket, "STOPPING=1");
    assert!(
        rest.iter()
            .all(|m| m.contains("WATCHDOG=1") || m.contains("STOPPING=1"))
    );
}

#[tokio::test]
async fn systemd_abstract_notify_socket_works() {
    let name = format!(
        "ticketd-ops-test-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    );
    let socket = {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        UnixDatagram::bind_addr(&addr).unwrap()
    };
    socket.set_read_timeout(Some(WAIT)).unwrap();
    let mut app = spawn_with(Options {
        envs: vec![("NOTIFY_SOCKET".into(), format!("@{name}"))],
        ..Options::default()
    })
    .await;
    read_until(&socket, "READY=1");
    let status = app.stop();
    assert!(status.success(), "{status}: {}", app.log_text());
    read_until(&socket, "STOPPING=1");
}

#[tokio::test]
async fn no_notify_socket_is_a_no_op() {
    let mut app = spawn_app().await;
    app.connect_ready().await;
    assert!(app.stop().success());
}

/// A self-signed pair for localhost, as (cert PEM, key PEM, cert DER).
fn certificate() -> (String, String, Vec<u8>) {
    let pair =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    (
        pair.cert.pem(),
        pair.signing_key.serialize_pem(),
        pair.cert.der().to_vec(),
    )
}

fn sha256(der: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .to_vec()
}

/// A fresh TLS handshake: the SHA-256 of the certificate the server shows.
async fn served_fingerprint(app: &TestApp, tls: Arc<rustls::ClientConfig>) -> Vec<u8> {
    let tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .expect("handshake");
    let certs = stream.get_ref().1.peer_certificates().unwrap();
    sha256(certs[0].as_ref())
}

fn write_pair(dir: &Path, cert: &str, key: &str) {
    // Written beside and renamed, as an operator's tooling would.
    for (name, text) in [("tls.crt", cert), ("tls.key", key)] {
        let tmp = dir.join(format!("{name}.new"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, dir.join(name)).unwrap();
    }
}

#[tokio::test]
async fn sighup_swaps_certificates_while_a_websocket_stays_open() {
    let tls_dir = tempfile::tempdir().unwrap();
    let (cert_a, key_a, der_a) = certificate();
    let (cert_b, key_b, der_b) = certificate();
    write_pair(tls_dir.path(), &cert_a, &key_a);
    let app = spawn_with(Options {
        args: vec![
            "--tls-cert".into(),
            tls_dir.path().join("tls.crt").display().to_string(),
            "--tls-key".into(),
            tls_dir.path().join("tls.key").display().to_string(),
        ],
        ..Options::default()
    })
    .await;
    let trust_both = tls_client(format!("{cert_a}{cert_b}").as_bytes());
    assert_eq!(
        served_fingerprint(&app, trust_both.clone()).await,
        sha256(&der_a)
    );
    let mut ws = WsClient::connect_with(&app, "/ws", trust_both.clone()).await;
    ws.expect("initial_tickets").await;

    // A good new pair: new handshakes get it, the open socket carries on.
    write_pair(tls_dir.path(), &cert_b, &key_b);
    let mark = app.log_len();
    signal(app.pid(), "HUP");
    app.wait_for_log(mark, "TLS certificate reloaded").await;
    assert_eq!(
        served_fingerprint(&app, trust_both.clone()).await,
        sha256(&der_b)
    );
    ws.submit("still connected after the reload").await;

    // A mismatched pair is refused, and says so; B stays.
    write_pair(tls_dir.path(), &cert_a, &key_b);
    let mark = app.log_len();
    signal(app.pid(), "HUP");
    let line = app.wait_for_log(mark, "reload failed").await;
    assert!(line.contains("does not match"), "{line}");
    assert_eq!(
        served_fingerprint(&app, trust_both.clone()).await,
        sha256(&der_b)
    );

    // So is a missing key.
    std::fs::remove_file(tls_dir.path().join("tls.key")).unwrap();
    let mark = app.log_len();
    signal(app.pid(), "HUP");
    let line = app.wait_for_log(mark, "reload failed").await;
    assert!(line.contains("cannot read TLS key"), "{line}");
    assert_eq!(
        served_fingerprint(&app, trust_both.clone()).await,
        sha256(&der_b)
    );
    ws.submit("still connected after two refused reloads").await;

    let metrics = scrape(&app).await;
    assert_eq!(
        metrics.value("ticketd_tls_reloads_total", &[("outcome", "ok")]),
        1.0
    );
    assert_eq!(
        metrics.value("ticketd_tls_reloads_total", &[("outcome", "error")]),
        2.0
    );
    assert!(!app.log_text().contains("BEGIN PRIVATE KEY"));
}

#[tokio::test]
async fn sigterm_closes_with_1001_and_keeps_every_acknowledged_ticket() {
    let mut args = generous_limits();
    args.extend(["--shutdown-timeout".into(), "5s".into()]);
    let mut app = spawn_with(Options {
        args,
        ..Options::default()
    })
    .await;
    let (mut idle, _) = app.connect_ready().await;
    let (mut busy, _) = app.connect_ready().await;
    // A stream of submissions in flight when the signal lands.
    for n in 0..200 {
        busy.send(
            "submit_ticket",
            json!({"description": format!("disk full on build agent {n}"), "system": "CI", "requester": "Ops"}),
        )
        .await;
    }
    let first = busy.expect("ticket_submitted").await;
    let mut acknowledged = vec![first["request_id"].as_str().unwrap().to_string()];

    let started = Instant::now();
    signal(app.pid(), "TERM");
    let close = loop {
        match tokio::time::timeout(WAIT, busy.stream.next())
            .await
            .expect("frames")
        {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) => {
                let frame: Value = serde_json::from_str(&text).unwrap();
                if frame["event"] == "ticket_submitted" {
                    acknowledged.push(frame["data"]["request_id"].as_str().unwrap().to_string());
                }
            }
            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(frame))) => {
                break frame.map(|f| u16::from(f.code));
            }
            Some(Ok(_)) => {}
            other => panic!("connection ended without a close frame: {other:?}"),
        }
    };
    assert_eq!(close, Some(1001));
    assert_eq!(idle.expect_close().await, Some(1001));
    let status = app.wait_exit();
    assert!(status.success(), "{status}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(app.log_text().contains("stopped"));

    app.restart().await;
    let stored: Value = app
        .http()
        .get(format!("{}/api/tickets?limit=1000", app.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        stored["next_cursor"],
        Value::Null,
        "one page holds them all"
    );
    let stored: BTreeSet<&str> = stored["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["request_id"].as_str().unwrap())
        .collect();
    for id in &acknowledged {
        assert!(stored.contains(id.as_str()), "acknowledged {id} was lost");
    }
}

#[tokio::test]
async fn json_logs_carry_the_request_id() {
    let app = spawn_with(Options {
        args: vec!["--log-format".into(), "json".into()],
        ..Options::default()
    })
    .await;
    let resp = app
        .http()
        .get(format!("{}/api/stats?token=secret-value", app.base_url()))
        .send()
        .await
        .unwrap();
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    let line = app.wait_for_log(0, &id).await;
    let entry: Value = serde_json::from_str(&line).expect("a JSON log line");
    assert_eq!(entry["span"]["id"], id.as_str());
    assert_eq!(entry["route"], "/api/stats");
    assert_eq!(entry["status"], 200);
    assert!(
        !app.log_text().contains("secret-value"),
        "query strings are not logged"
    );
}
