//! Hardening, round two: what an anonymous client could do to exhaust the
//! server through the Socket.IO door and the HTTP API, each against the real
//! server. Socket.IO is spoken here at the Engine.IO packet level (a raw
//! WebSocket), because the attacks are packets no well-behaved client
//! library would send.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::Connector;
use tokio_tungstenite::tungstenite::Message;

/// A raw Engine.IO v4 WebSocket connection to `/socket.io/`.
struct RawSio {
    stream: WsStream,
}

impl RawSio {
    /// Connects and reads the Engine.IO open packet.
    async fn open(app: &TestApp) -> RawSio {
        let url = format!("wss://{}/socket.io/?EIO=4&transport=websocket", app.addr);
        let (stream, _) = tokio_tungstenite::connect_async_tls_with_config(
            url,
            None,
            true,
            Some(Connector::Rustls(tls_client(&app.cert_pem()))),
        )
        .await
        .expect("engine.io websocket connects");
        let mut sio = RawSio { stream };
        let open = sio.next_text().await.expect("open packet");
        assert!(open.starts_with('0'), "{open}");
        sio
    }

    async fn send(&mut self, packet: &str) -> Result<(), ()> {
        self.stream
            .send(Message::Text(packet.into()))
            .await
            .map_err(|_| ())
    }

    /// The next text packet (answering Engine.IO pings), or `None` once the
    /// server has closed the connection.
    async fn next_text(&mut self) -> Option<String> {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(10), self.stream.next())
                .await
                .expect("a packet or a close within the wait");
            match message {
                Some(Ok(Message::Text(text))) if text.as_str() == "2" => {
                    let _ = self.send("3").await;
                }
                Some(Ok(Message::Text(text))) => return Some(text.to_string()),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Waits for the Socket.IO event `name`; returns its first argument.
    async fn expect_event(&mut self, name: &str) -> Value {
        loop {
            let packet = self
                .next_text()
                .await
                .unwrap_or_else(|| panic!("closed while waiting for {name}"));
            if let Some(body) = packet.strip_prefix("42") {
                let args: Value = serde_json::from_str(body).unwrap();
                if args[0] == name {
                    return args[1].clone();
                }
            }
        }
    }

    /// Joins the default namespace and waits for `initial_tickets`.
    async fn join(&mut self) {
        self.send("40").await.unwrap();
        self.expect_event("initial_tickets").await;
    }

    /// True once the server has closed the connection (whatever it sent
    /// before that).
    async fn closed(&mut self) -> bool {
        while self.next_text().await.is_some() {}
        true
    }
}

fn app_args(extra: &[&str]) -> Options {
    let mut args = generous_limits();
    args.extend(extra.iter().map(|s| s.to_string()));
    Options {
        args,
        envs: Vec::new(),
    }
}

async fn gauge(app: &TestApp, name: &str) -> f64 {
    let text = app.scrape().await;
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} in the scrape"))
        .trim()
        .parse()
        .unwrap()
}

/// Waits (polling the scrape, bounded) until `name` reads `want`.
async fn gauge_reaches(app: &TestApp, name: &str, want: f64) {
    for _ in 0..100 {
        if gauge(app, name).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{name} never reached {want}: {}", gauge(app, name).await);
}

#[tokio::test]
async fn socketio_websocket_messages_are_bounded_like_ws() {
    let app = spawn_with(app_args(&["--max-message-bytes", "2048"])).await;
    // Under the limit: answered.
    let mut small = RawSio::open(&app).await;
    small.join().await;
    let ok = json!(["submit_ticket", {"description": "Printer jam on floor two", "system": "Printer", "requester": "Ann"}]);
    small.send(&format!("42{ok}")).await.unwrap();
    small.expect_event("ticket_submitted").await;
    // Over it (a valid ticket of 3,000 characters): the connection closes,
    // and nothing was stored.
    let mut big = RawSio::open(&app).await;
    big.join().await;
    let text = "x".repeat(3000);
    let over =
        json!(["submit_ticket", {"description": text, "system": "Printer", "requester": "Ann"}]);
    let _ = big.send(&format!("42{over}")).await;
    assert!(big.closed().await);
    let tickets = app.get_json("/api/tickets?all=true").await;
    assert_eq!(tickets.as_array().unwrap().len(), 1, "{tickets}");
}

#[tokio::test]
async fn a_binary_attachment_closes_the_connection_before_anything_is_kept() {
    let app = spawn_with(app_args(&[])).await;
    let mut sio = RawSio::open(&app).await;
    sio.join().await;
    // A binary event header announcing a million attachments, then one.
    sio.send(r#"451000000-["submit_ticket",{"_placeholder":true,"num":0}]"#)
        .await
        .unwrap();
    let _ = sio
        .stream
        .send(Message::Binary(vec![0u8; 1024].into()))
        .await;
    assert!(sio.closed().await);
    // One attachment is refused just the same.
    let mut one = RawSio::open(&app).await;
    one.join().await;
    one.send(r#"451-["submit_ticket",{"_placeholder":true,"num":0}]"#)
        .await
        .unwrap();
    assert!(one.closed().await);
}

#[tokio::test]
async fn a_repeated_connect_takes_no_second_slot_and_the_gauge_returns() {
    let app = spawn_with(app_args(&["--max-connections", "2"])).await;
    let mut repeater = RawSio::open(&app).await;
    repeater.join().await;
    for _ in 0..5 {
        repeater.send("40").await.unwrap();
    }
    // Still answered as one connected client.
    let ok = json!(["get_tickets", {}]);
    repeater.send(&format!("42{ok}")).await.unwrap();
    gauge_reaches(&app, "ticketd_socketio_clients", 1.0).await;
    // A second client still fits under --max-connections 2.
    let mut other = RawSio::open(&app).await;
    other.join().await;
    gauge_reaches(&app, "ticketd_socketio_clients", 2.0).await;
    drop(repeater);
    drop(other);
    gauge_reaches(&app, "ticketd_socketio_clients", 0.0).await;
}

#[tokio::test]
async fn a_made_up_sid_spends_the_connection_budget_not_the_polling_one() {
    let app = spawn_with(app_args(&[
        "--ws-upgrade-rate",
        "1/h",
        "--ws-upgrade-burst",
        "3",
    ]))
    .await;
    let paths = ["x", "AAAAAAAAAAAAAAAA", "not-a-session-id", "y", "z"]
        .map(|sid| format!("/socket.io/?EIO=4&transport=polling&sid={sid}"));
    let statuses = get_statuses(&app, &paths).await;
    assert_eq!(statuses[3..], [429, 429], "{statuses:?}");
}

#[tokio::test]
async fn the_http_limit_exemption_is_the_socketio_path_only() {
    let app = spawn_with(Options {
        args: ["--http-rate", "1/h", "--http-burst", "3"]
            .map(String::from)
            .to_vec(),
        envs: Vec::new(),
    })
    .await;
    let statuses = get_statuses(&app, &["/socket.io.evil/anything"; 5]).await;
    assert_eq!(statuses[3..], [429, 429], "{statuses:?}");
}

/// The status of a `GET` of each path, in order.
async fn get_statuses(app: &TestApp, paths: &[impl AsRef<str>]) -> Vec<u16> {
    let http = app.http();
    let mut statuses = Vec::new();
    for path in paths {
        let response = http
            .get(format!("{}{}", app.base_url(), path.as_ref()))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    statuses
}

#[tokio::test]
async fn debug_logging_never_prints_a_token_sent_over_socketio() {
    const PASSWORD: &str = "hardening-admin-password-0123";
    let hash = ticketd::auth::password::hash_password(PASSWORD);
    let app = spawn_with(Options {
        args: generous_limits(),
        envs: vec![
            ("TICKETD_LOG".into(), "debug".into()),
            ("TICKETD_ADMIN_USER".into(), "root".into()),
            ("TICKETD_ADMIN_PASSWORD_HASH".into(), hash),
        ],
    })
    .await;
    let token = app.login_token("root", PASSWORD).await;
    assert!(token.starts_with("eyJ"));
    let mut sio = RawSio::open(&app).await;
    sio.join().await;
    let submit = json!(["submit_ticket", {"description": "Scanner offline", "system": "Scanner", "requester": "Bo"}]);
    sio.send(&format!("42{submit}")).await.unwrap();
    let id = sio.expect_event("ticket_submitted").await["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let command = json!(["admin_command", {"command": "resolve", "ticket_id": id, "token": token}]);
    sio.send(&format!("42{command}")).await.unwrap();
    sio.expect_event("admin_success").await;
    let log = app.log_text();
    assert!(log.contains("DEBUG"), "debug logging is on");
    assert!(!log.contains("eyJ"), "a token reached the log");
}

async fn post_as(app: &TestApp, path: &str, content_type: &str, body: &str) -> (u16, Value) {
    let response = app
        .http()
        .post(format!("{}{path}", app.base_url()))
        .header("content-type", content_type)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn api_posts_must_be_declared_json() {
    let app = spawn_with(app_args(&[])).await;
    let ticket = r#"{"description":"Wi-Fi down","system":"Wi-Fi","requester":"Cy"}"#;
    let login = r#"{"username":"root","password":"whatever-it-is"}"#;
    for (path, body) in [("/api/tickets", ticket), ("/api/auth/login", login)] {
        for content_type in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
        ] {
            let (status, error) = post_as(&app, path, content_type, body).await;
            assert_eq!(status, 415, "{path} as {content_type}");
            assert_eq!(error["error"]["code"], "unsupported_media_type", "{error}");
        }
    }
    let (status, _) = post_as(
        &app,
        "/api/tickets",
        "application/json; charset=utf-8",
        ticket,
    )
    .await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn invisible_formatting_characters_are_refused_naming_the_field() {
    let app = spawn_with(app_args(&[])).await;
    let cases = [
        (
            "description",
            "Invoice \u{202E}fdp.exe attached",
            "Mail",
            "Di",
        ),
        ("description", "VPN drops\u{2028}every hour", "VPN", "Di"),
        ("description", "pass\u{200B}word reset", "AD", "Di"),
        (
            "requester",
            "Laptop will not boot",
            "Laptop",
            "Ad\u{2067}min",
        ),
        ("system", "Printer jams", "Print\u{200D}er", "Di"),
    ];
    for (field, description, system, requester) in cases {
        let body = json!({"description": description, "system": system, "requester": requester});
        let (status, error) =
            post_as(&app, "/api/tickets", "application/json", &body.to_string()).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(error["error"]["code"], "invalid_payload", "{error}");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(field), "{message}");
    }
    // Over the WebSocket the same rule and the same message.
    let mut ws = app.connect_ws().await;
    ws.expect("initial_tickets").await;
    ws.send(
        "submit_ticket",
        json!({"description": "Outage \u{202D}now", "system": "Net", "requester": "Ed"}),
    )
    .await;
    let error = ws.expect_error().await;
    assert_eq!(error["code"], "invalid_payload", "{error}");
}

const ADMIN_PASSWORD: &str = "hardening-admin-password-0123";

fn admin_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| ticketd::auth::password::hash_password(ADMIN_PASSWORD))
}

fn with_admin(extra: &[&str]) -> Options {
    let mut options = app_args(extra);
    options.envs = vec![
        ("TICKETD_ADMIN_USER".into(), "root".into()),
        ("TICKETD_ADMIN_PASSWORD_HASH".into(), admin_hash().into()),
    ];
    options
}

async fn login_token(app: &TestApp) -> String {
    app.login_token("root", ADMIN_PASSWORD).await
}

async fn session_status(app: &TestApp, token: &str) -> u16 {
    app.http()
        .get(format!("{}/api/auth/session", app.base_url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn sessions_and_logouts_survive_a_restart_without_a_configured_key() {
    let mut app = spawn_with(with_admin(&[])).await;
    let kept = login_token(&app).await;
    let logged_out = login_token(&app).await;
    let response = app
        .http()
        .post(format!("{}/api/auth/logout", app.base_url()))
        .bearer_auth(&logged_out)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    app.restart().await;
    assert_eq!(
        session_status(&app, &kept).await,
        200,
        "the session outlived the restart"
    );
    assert_eq!(
        session_status(&app, &logged_out).await,
        401,
        "still logged out"
    );
    let key = app.data_dir().join("jwt-signing-key");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the generated key is private");
    let mode = std::fs::metadata(app.data_dir())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700, "the data directory is private");
}

#[tokio::test]
async fn refused_tokens_are_audited_without_the_token() {
    let app = spawn_with(with_admin(&[])).await;
    let forged = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJyb290In0.c2lnbmF0dXJl";
    assert_eq!(session_status(&app, forged).await, 401);
    let mut ws = app.connect_ws().await;
    ws.expect("initial_tickets").await;
    ws.send(
        "admin_command",
        json!({"command": "clear_all", "token": forged}),
    )
    .await;
    assert_eq!(ws.expect_error().await["code"], "unauthorized");
    // Batched entries are synced within a second; they are readable at once.
    let audit = std::fs::read_to_string(app.data_dir().join("audit.log")).unwrap();
    let refused: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["outcome"] == "refused")
        .collect();
    let via: Vec<&str> = refused
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(via, ["bearer", "admin_command"], "{audit}");
    assert!(
        refused
            .iter()
            .all(|e| e["client"] == "127.0.0.1" && e["reason"].is_string())
    );
    assert!(!audit.contains("eyJ"), "the token reached the audit log");
    assert!(!app.log_text().contains("eyJ"), "the token reached the log");
    assert!(app.log_text().contains("session token refused"));
}

#[tokio::test]
async fn the_audit_log_rotates_at_its_cap() {
    let app = spawn_with(with_admin(&[
        "--audit-max-bytes",
        "4096",
        "--audit-keep",
        "2",
        "--login-rate",
        "100000/s",
        "--login-burst",
        "100000",
    ]))
    .await;
    let http = app.http();
    for n in 0..120 {
        let status = http
            .post(format!("{}/api/auth/login", app.base_url()))
            .json(&json!({"username": format!("nobody-{n}"), "password": "wrong password"}))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 401);
    }
    let dir = app.data_dir();
    let size = |name: &str| std::fs::metadata(dir.join(name)).map(|m| m.len());
    assert!(size("audit.log").unwrap() <= 4096);
    assert!(size("audit.log.1").unwrap() <= 4096);
    assert!(size("audit.log.2").unwrap() <= 4096);
    assert!(
        size("audit.log.3").is_err(),
        "only --audit-keep files are kept"
    );
}

#[test]
fn durations_over_a_year_are_refused_at_start() {
    for args in [
        ["--session-ttl", "8761h"],
        ["--idle-timeout-secs", "40000000"],
        ["--shutdown-timeout", "99999999999999h"],
        ["--request-timeout-secs", "31536001"],
    ] {
        let root = tempfile::tempdir().unwrap();
        let args = args.map(String::from).to_vec();
        let output = start_expecting_failure(root.path(), &args, &[]);
        assert!(output.contains(&args[0]), "{args:?}: {output}");
    }
}

#[tokio::test]
async fn an_expiring_generated_certificate_is_replaced_at_start() {
    let mut app = spawn_with(app_args(&[])).await;
    let certs = app.certs_dir();
    app.kill();
    // Replace the generated certificate with one that expires in 3 days.
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let soon = std::time::SystemTime::now() + Duration::from_secs(3 * 86_400);
    let days = soon
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    params.not_after = rcgen::date_time_ymd(y, m, d);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(certs.join("localhost-cert.pem"), cert.pem()).unwrap();
    std::fs::write(certs.join("localhost-key.pem"), key.serialize_pem()).unwrap();
    let skip = app.log_len();
    app.restart().await;
    app.wait_for_log(skip, "generating a new one").await;
    let pem = std::fs::read(certs.join("localhost-cert.pem")).unwrap();
    let der = rustls_pemfile::certs(&mut pem.as_slice())
        .next()
        .unwrap()
        .unwrap();
    let (_, parsed) = x509_parser::parse_x509_certificate(der.as_ref()).unwrap();
    let left = parsed.validity().not_after.timestamp() - chrono::Utc::now().timestamp();
    assert!((85 * 86_400..=91 * 86_400).contains(&left), "{left} s left");
    // And it is the one served.
    assert_eq!(session_status_anonymous(&app).await, 200);
}

async fn session_status_anonymous(app: &TestApp) -> u16 {
    app.http()
        .get(format!("{}/api/stats", app.base_url()))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i32, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = (yoe + era * 400 + i64::from(m <= 2)) as i32;
    (y, m, d)
}

/// A small tmpfs mounted for a test (root only), unmounted when dropped.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(at: &std::path::Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(at).unwrap();
        let status = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then(|| SmallDisk(at.to_path_buf()))
    }

    fn grow(&self, size: &str) {
        let status = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[tokio::test]
async fn a_full_disk_refuses_changes_says_why_and_loses_nothing_acknowledged() {
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let Some(disk) = SmallDisk::mount(&dir.path().join("data"), "160k") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must be able to mount a small tmpfs (run as root)"
        );
        eprintln!("SKIPPED: cannot mount a tmpfs here (not root)");
        return;
    };
    let notify_path = dir.path().join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    let mut options = app_args(&["--compact-after-bytes", "100000000"]);
    options.envs = vec![
        ("NOTIFY_SOCKET".into(), notify_path.display().to_string()),
        ("WATCHDOG_USEC".into(), "200000".into()),
    ];
    let mut app = spawn_in(dir, options).await;
    let http = app.http();
    let text = "The shared drive is read only for the whole finance team since 9am. ".repeat(12);
    let mut acknowledged = Vec::new();
    let mut refused = None;
    for n in 0..2000 {
        let response = http
            .post(format!("{}/api/tickets", app.base_url()))
            .json(&json!({"description": format!("{n}: {text}"), "system": "Files", "requester": "Fi"}))
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            201 => acknowledged.push(response.json::<Value>().await.unwrap()["request_id"].clone()),
            status => {
                refused = Some((status, response.json::<Value>().await.unwrap()));
                break;
            }
        }
    }
    let (status, body) = refused.expect("the disk filled up");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "storage_unavailable", "{body}");
    assert!(!acknowledged.is_empty());
    // Readiness says why; the gauge says so.
    let ready = reqwest::get(format!("http://{}/readyz", app.metrics_addr()))
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let why = ready.text().await.unwrap();
    assert!(why.contains("No space left on device"), "{why}");
    assert!(app.scrape().await.contains("ticketd_store_writable 0"));
    // The watchdog is no longer fed (systemd would restart the service).
    let heard = |wait: Duration| {
        let deadline = std::time::Instant::now() + wait;
        let mut buf = [0u8; 512];
        let mut pings = 0;
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            notify
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            if let Ok(n) = notify.recv(&mut buf) {
                pings += usize::from(String::from_utf8_lossy(&buf[..n]).contains("WATCHDOG=1"));
            }
        }
        pings
    };
    heard(Duration::from_millis(250)); // what was sent before the failure
    assert_eq!(heard(Duration::from_millis(700)), 0, "watchdog still fed");
    // Later changes are refused too (no retry into a broken journal).
    let again = http
        .post(format!("{}/api/tickets", app.base_url()))
        .json(&json!({"description": "one more", "system": "Files", "requester": "Fi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 503);
    // Room again, a restart: every acknowledged ticket is there.
    disk.grow("4m");
    app.restart().await;
    let tickets = app.get_json("/api/tickets?all=true").await;
    let stored: std::collections::HashSet<&Value> = tickets
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["request_id"])
        .collect();
    for id in &acknowledged {
        assert!(stored.contains(id), "acknowledged ticket {id} lost");
    }
    let ready = reqwest::get(format!("http://{}/readyz", app.metrics_addr()))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}

/// A TLS connection to the server from a given loopback address.
async fn tls_from(
    app: &TestApp,
    local: &str,
) -> Option<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind(std::net::SocketAddr::new(local.parse().unwrap(), 0))
        .unwrap();
    let tcp = socket.connect(app.addr).await.ok()?;
    let connector = tokio_rustls::TlsConnector::from(tls_client(&app.cert_pem()));
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    tokio::time::timeout(Duration::from_secs(5), connector.connect(name, tcp))
        .await
        .ok()?
        .ok()
}

async fn keep_alive_request<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    stream: &mut S,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("an answer")
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn idle_http_connections_are_closed_on_both_listeners() {
    let app = spawn_with(app_args(&[
        "--http-idle-timeout-secs",
        "1",
        "--header-read-timeout-secs",
        "30",
    ]))
    .await;
    let mut tls = tls_from(&app, "127.0.0.1").await.expect("connects");
    assert!(
        keep_alive_request(&mut tls)
            .await
            .starts_with("HTTP/1.1 200")
    );
    assert!(
        closed_within(&mut tls, Duration::from_secs(4)).await,
        "an idle keep-alive connection stayed open"
    );
    let mut plain = tokio::net::TcpStream::connect(app.metrics_addr())
        .await
        .unwrap();
    assert!(
        keep_alive_request(&mut plain)
            .await
            .starts_with("HTTP/1.1 200")
    );
    assert!(
        closed_within(&mut plain, Duration::from_secs(4)).await,
        "an idle metrics connection stayed open"
    );
    // A WebSocket is not an idle HTTP connection: it stays.
    let mut ws = app.connect_ws().await;
    ws.expect("initial_tickets").await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    ws.send("get_stats", json!({})).await;
    ws.expect("stats_update").await;
}

#[tokio::test]
async fn plain_http_connections_are_capped_per_address_but_websockets_are_not_counted() {
    let app = spawn_with(app_args(&[
        "--max-http-connections-per-ip",
        "3",
        "--trusted-proxies",
        "127.0.0.8/32",
    ]))
    .await;
    // A trusted proxy carries many clients: it is not capped.
    let mut proxied = Vec::new();
    for _ in 0..5 {
        let mut tls = tls_from(&app, "127.0.0.8")
            .await
            .expect("a proxy connection");
        assert!(
            keep_alive_request(&mut tls)
                .await
                .starts_with("HTTP/1.1 200")
        );
        proxied.push(tls);
    }
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(tls_from(&app, "127.0.0.5").await.expect("under the cap"));
    }
    match tls_from(&app, "127.0.0.5").await {
        None => {}
        Some(mut extra) => assert!(
            closed_within(&mut extra, Duration::from_secs(2)).await,
            "a fourth connection from one address was kept"
        ),
    }
    // Another address is not affected.
    let mut other = tls_from(&app, "127.0.0.6").await.expect("another address");
    assert!(
        keep_alive_request(&mut other)
            .await
            .starts_with("HTTP/1.1 200")
    );
    drop(held);
    // WebSockets leave the count once upgraded.
    let mut sockets = Vec::new();
    for _ in 0..4 {
        sockets.push(app.ws_from("127.0.0.7").await);
    }
    let mut after = tls_from(&app, "127.0.0.7")
        .await
        .expect("websockets not counted");
    assert!(
        keep_alive_request(&mut after)
            .await
            .starts_with("HTTP/1.1 200")
    );
}

/// Writes a snapshot of `n` analyzed tickets of about `bytes` each into
/// `data` (the store's own format), so a server starts with them.
fn seed_store(data: &std::path::Path, n: usize, bytes: usize) {
    use ticketd::tickets::{NewTicket, Ticket};
    std::fs::create_dir_all(data).unwrap();
    let analyzer = ticketd::triage::Analyzer::builtin();
    let filler =
        "The label printer on the packing bench keeps feeding blank labels. ".repeat(bytes / 70);
    let mut map = serde_json::Map::new();
    let start = chrono::Utc::now() - chrono::Duration::hours(1);
    for i in 0..n {
        let description = format!("{i}: {filler}");
        let triage = analyzer.analyze(&description, "Printer");
        let new = NewTicket::parse(description, "Printer".into(), "Seeder".into()).unwrap();
        let ticket = Ticket::create(
            new,
            triage,
            start + chrono::Duration::milliseconds(i as i64),
        );
        map.insert(
            ticket.request_id.to_string(),
            serde_json::to_value(&ticket).unwrap(),
        );
    }
    std::fs::write(
        data.join("tickets_storage.json"),
        serde_json::to_vec(&Value::Object(map)).unwrap(),
    )
    .unwrap();
}

/// A WebSocket client that reads a trickle: the upgrade by hand over TLS,
/// then 256 bytes every 100 ms, through a small receive buffer.
async fn trickle_reader(app: &TestApp) -> tokio::task::JoinHandle<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(app.addr).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(tls_client(&app.cert_pem()));
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        app.addr
    );
    tls.write_all(request.as_bytes()).await.unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 256];
        loop {
            match tls.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    })
}

#[tokio::test]
async fn slow_snapshot_readers_cannot_hold_the_bulk_send_slots() {
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    // About 6 MB of initial_tickets: a bulk send, larger than socket buffers.
    seed_store(&dir.path().join("data"), 3000, 2000);
    let app = spawn_in(
        dir,
        app_args(&[
            "--send-timeout-secs",
            "2",
            "--sync-max-tickets",
            "3000",
            "--sync-max-bytes",
            "1073741824",
        ]),
    )
    .await;
    let slots = 2 * std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut readers = Vec::new();
    for _ in 0..slots + 1 {
        readers.push(trickle_reader(&app).await);
    }
    // Give them the slots first.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let mut ws = app.connect_ws().await;
    let initial = ws.expect("initial_tickets").await;
    assert_eq!(initial.as_array().unwrap().len(), 3000);
    // The slow readers were dropped after --send-timeout-secs for the whole
    // snapshot; the new client then had its turn.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    // Every slow reader that held a slot is dropped in its turn (on a
    // loaded machine some reach their slot only after the new client was
    // served, so wait for the counter rather than read it once).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let scrape = app.scrape().await;
        let dropped: f64 = scrape
            .lines()
            .find_map(|l| {
                l.strip_prefix("ticketd_ws_slow_client_disconnects_total{reason=\"send_timeout\"} ")
            })
            .unwrap_or("0")
            .parse()
            .unwrap();
        if dropped >= slots as f64 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {dropped} of {slots} slow readers were dropped"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for reader in readers {
        reader.abort();
    }
}

#[test]
fn a_public_listener_without_origins_says_which_origins_browsers_may_use() {
    let root = tempfile::tempdir().unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (mut child, _) = start_on(root.path(), "0.0.0.0:0", &[], &[], log.clone()).expect("starts");
    let _ = child.kill();
    let _ = child.wait();
    let text = log.lock().unwrap().join("\n");
    assert!(
        text.contains("neither --public-origin nor --allowed-origins")
            && text.contains("TICKETD_PUBLIC_ORIGIN"),
        "{text}"
    );
    // On loopback (the quick start) it says nothing of the kind.
    let app_log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let root = tempfile::tempdir().unwrap();
    let (mut child, _) = start(root.path(), &[], &[], app_log.clone()).expect("starts");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        !app_log
            .lock()
            .unwrap()
            .join("\n")
            .contains("neither --public-origin")
    );
}

#[test]
fn secret_files_readable_by_others_are_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let key = root.path().join("jwt.key");
    std::fs::write(&key, "k".repeat(48)).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let admins = root.path().join("admins");
    std::fs::write(&admins, format!("root:{}\n", admin_hash())).unwrap();
    std::fs::set_permissions(&admins, std::fs::Permissions::from_mode(0o640)).unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let args = [
        "--jwt-secret-file",
        key.to_str().unwrap(),
        "--admins-file",
        admins.to_str().unwrap(),
    ]
    .map(String::from);
    let (mut child, _) = start(root.path(), &args, &[], log.clone()).expect("starts");
    let _ = child.kill();
    let _ = child.wait();
    let text = log.lock().unwrap().join("\n");
    assert!(
        text.contains("the JWT key file is readable by its group or others"),
        "{text}"
    );
    assert!(
        text.contains("the staff file is readable by its group or others"),
        "{text}"
    );
    assert!(!text.contains(&"k".repeat(48)), "the key reached the log");
}
