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
    let tickets: Value = app
        .http()
        .get(format!("{}/api/tickets", app.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
    let http = app.http();
    let mut statuses = Vec::new();
    for sid in ["x", "AAAAAAAAAAAAAAAA", "not-a-session-id", "y", "z"] {
        let response = http
            .get(format!(
                "{}/socket.io/?EIO=4&transport=polling&sid={sid}",
                app.base_url()
            ))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
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
    let http = app.http();
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let response = http
            .get(format!("{}/socket.io.evil/anything", app.base_url()))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses[3..], [429, 429], "{statuses:?}");
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
    let login: Value = app
        .http()
        .post(format!("{}/api/auth/login", app.base_url()))
        .json(&json!({"username": "root", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap().to_string();
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
    let body: Value = app
        .http()
        .post(format!("{}/api/auth/login", app.base_url()))
        .json(&json!({"username": "root", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["token"].as_str().expect("a token").to_string()
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
