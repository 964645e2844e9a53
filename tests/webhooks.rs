//! Outbound webhooks, Slack and Teams, against a real local HTTPS receiver
//! (axum-server with its own certificate, which ticketd trusts through the
//! endpoint's `ca_file`): every signature checked with the Standard
//! Webhooks algorithm written out here, retries after a 500 with the same
//! `webhook-id`, internal notes never on a non-staff endpoint, priority
//! filters, a redirect counted as a failure, an endpoint disabled after
//! failing too long (staff told), an admin's redelivery, and nothing
//! acknowledged lost across a SIGKILL between commit and delivery.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use base64::Engine;
use common::*;
use serde_json::{Value, json};

const PASSWORD: &str = "webhook-admin-password-0123";
const SECRET_A: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SECRET_B: &str = "whsec_c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24=";
const CRITICAL_TEXT: &str = "The whole hospital network is down, nobody on any ward can chart and patients are waiting right now";
const LOW_TEXT: &str =
    "Could someone change the toner on the third floor printer when you get a chance";

/// One request the receiver saw.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Bytes,
    /// What the receiver answered.
    status: u16,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// A real HTTPS server on its own thread and runtime (tests each have their
/// own runtime; this outlives them all).
struct Receiver {
    addr: SocketAddr,
    ca_file: PathBuf,
    seen: Arc<Mutex<Vec<Received>>>,
    changed: tokio::sync::watch::Receiver<usize>,
    /// Paths under `/gate/` answer 503 until opened.
    gate_open: Arc<std::sync::atomic::AtomicBool>,
    _dir: tempfile::TempDir,
}

#[derive(Clone)]
struct Shared {
    seen: Arc<Mutex<Vec<Received>>>,
    bump: Arc<tokio::sync::watch::Sender<usize>>,
    gate_open: Arc<std::sync::atomic::AtomicBool>,
}

async fn receive(
    State(shared): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let path = uri.path().to_string();
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let status = {
        let seen = shared.seen.lock().unwrap();
        if path.starts_with("/flaky") {
            let before = seen
                .iter()
                .filter(|r| r.path == path && r.header("webhook-id") == id)
                .count();
            if before == 0 {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::OK
            }
        } else if path.starts_with("/dead") {
            StatusCode::FOUND
        } else if path.starts_with("/gate") {
            if shared.gate_open.load(std::sync::atomic::Ordering::SeqCst) {
                StatusCode::NO_CONTENT
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            }
        } else {
            StatusCode::NO_CONTENT
        }
    };
    shared.seen.lock().unwrap().push(Received {
        path,
        headers,
        body,
        status: status.as_u16(),
    });
    shared.bump.send_modify(|n| *n += 1);
    status
}

fn receiver() -> &'static Receiver {
    static RECEIVER: OnceLock<Receiver> = OnceLock::new();
    RECEIVER.get_or_init(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let cert_pem = key.cert.pem();
        let key_pem = key.signing_key.serialize_pem();
        let ca_file = dir.path().join("receiver.pem");
        std::fs::write(&ca_file, &cert_pem).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (bump, changed) = tokio::sync::watch::channel(0usize);
        let gate_open = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let shared = Shared {
            seen: seen.clone(),
            bump: Arc::new(bump),
            gate_open: gate_open.clone(),
        };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let config = axum_server::tls_rustls::RustlsConfig::from_pem(
                    cert_pem.into_bytes(),
                    key_pem.into_bytes(),
                )
                .await
                .unwrap();
                let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                listener.set_nonblocking(true).unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let app = Router::new().fallback(receive).with_state(shared);
                axum_server::from_tcp_rustls(listener, config)
                    .unwrap()
                    .serve(app.into_make_service())
                    .await
                    .unwrap();
            });
        });
        let addr = rx.recv().unwrap();
        Receiver {
            addr,
            ca_file,
            seen,
            changed,
            gate_open,
            _dir: dir,
        }
    })
}

impl Receiver {
    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    /// Everything seen at `path` so far.
    fn at(&self, path: &str) -> Vec<Received> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Waits until `count` requests at `path` match, and returns them.
    async fn wait(
        &self,
        path: &str,
        count: usize,
        what: &str,
        matches: impl Fn(&Received) -> bool,
    ) -> Vec<Received> {
        let mut changed = self.changed.clone();
        let found = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                let now: Vec<Received> = self.at(path).into_iter().filter(|r| matches(r)).collect();
                if now.len() >= count {
                    return now;
                }
                changed.changed().await.unwrap();
            }
        })
        .await;
        found.unwrap_or_else(|_| {
            panic!(
                "{what}: not received at {path}; saw {:?}",
                self.at(path)
                    .iter()
                    .map(|r| String::from_utf8_lossy(&r.body)
                        .chars()
                        .take(200)
                        .collect::<String>())
                    .collect::<Vec<_>>()
            )
        })
    }
}

/// The Standard Webhooks check, written from the specification: HMAC-SHA256
/// over `id.timestamp.body` with the base64-decoded secret, base64, `v1,`.
fn verify(secret: &str, received: &Received) -> bool {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let id = received.header("webhook-id");
    let ts = received.header("webhook-timestamp");
    let mut signed = format!("{id}.{ts}.").into_bytes();
    signed.extend_from_slice(&received.body);
    let tag = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key),
        &signed,
    );
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
    );
    received
        .header("webhook-signature")
        .split(' ')
        .any(|s| s == expected)
}

fn hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| ticketd::auth::password::hash_password(PASSWORD))
}

/// The endpoints file (and its secret files) in `dir`.
fn webhooks_config(dir: &Path, endpoints: &str, delivery: &str) -> String {
    private_file(dir, "a.secret", SECRET_A);
    private_file(dir, "b.secret", SECRET_B);
    let text = format!("[delivery]\n{delivery}\n{endpoints}");
    private_file(dir, "webhooks.toml", &text)
}

fn endpoint(name: &str, path: &str, extra: &str) -> String {
    let r = receiver();
    format!(
        "[[endpoint]]\nname = \"{name}\"\nurl = \"{}\"\nca_file = \"{}\"\n{extra}\n",
        r.url(path),
        r.ca_file.display()
    )
}

async fn app_with(endpoints: &str, delivery: &str) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let config = webhooks_config(dir.path(), endpoints, delivery);
    let staff = private_file(dir.path(), "staff", &format!("root:admin:{}\n", hash()));
    spawn_in(
        dir,
        Options {
            args: unlimited(&["--staff-file", &staff, "--webhooks-config", &config]),
            envs: Vec::new(),
        },
    )
    .await
}

/// One server for most tests: every kind of endpoint, quick retries.
async fn shared() -> &'static TestApp {
    static APP: tokio::sync::OnceCell<TestApp> = tokio::sync::OnceCell::const_new();
    APP.get_or_init(|| async {
        let endpoints = [
            endpoint("plain", "/plain", "secret_files = [\"a.secret\", \"b.secret\"]"),
            endpoint("staffhook", "/staff", "secret_files = [\"a.secret\"]\nstaff = true\nevents = [\"comment_added\"]"),
            endpoint("publichook", "/public", "secret_files = [\"a.secret\"]\nevents = [\"comment_added\"]"),
            endpoint("flaky", "/flaky", "secret_files = [\"a.secret\"]\nevents = [\"new_ticket\"]"),
            endpoint("chat", "/slack", "kind = \"slack\"\nevents = [\"new_ticket\"]\nmin_priority = \"CRITICAL\""),
            endpoint("room", "/teams", "kind = \"teams\"\nevents = [\"new_ticket\"]\nmin_priority = \"HIGH\""),
            endpoint("dead", "/dead", "secret_files = [\"a.secret\"]\nevents = [\"ticket_deleted\"]"),
        ]
        .concat();
        let delivery = "retry_schedule = [\"0s\", \"300ms\", \"300ms\", \"300ms\", \"300ms\", \"300ms\", \"300ms\", \"300ms\", \"300ms\", \"300ms\"]\ntimeout = \"5s\"\ndisable_after = \"1500ms\"\nconcurrency = 1\nprobe_interval = \"50ms\"";
        kept(app_with(&endpoints, delivery).await)
    })
    .await
}

async fn admin_token(app: &TestApp) -> String {
    app.login_token("root", PASSWORD).await
}

async fn submit(app: &TestApp, description: &str) -> String {
    app.submit_http(description).await["request_id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn about(ticket: &str) -> impl Fn(&Received) -> bool + '_ {
    move |r| String::from_utf8_lossy(&r.body).contains(ticket)
}

/// One endpoint's entry in the deliveries API's `endpoints`.
fn endpoint_state(list: &Value, name: &str) -> Value {
    list["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["endpoint"] == name)
        .unwrap_or_else(|| panic!("no endpoint {name} in {list}"))
        .clone()
}

async fn deliveries(app: &TestApp, token: &str) -> Value {
    app.get_authed("/api/webhooks/deliveries?limit=1000", token)
        .await
}

#[tokio::test]
async fn every_delivery_is_signed_by_each_active_secret() {
    let app = shared().await;
    let text = format!("{} cannot open the shared calendar", unique("sig"));
    let id = submit(app, &text).await;
    let got = receiver().wait("/plain", 1, "new_ticket", about(&id)).await;
    let r = &got[0];
    assert_eq!(r.header("content-type"), "application/json");
    assert!(
        r.header("webhook-id").starts_with("msg_"),
        "{:?}",
        r.headers
    );
    let ts: i64 = r.header("webhook-timestamp").parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - ts).abs() < 300);
    assert_eq!(r.header("webhook-signature").split(' ').count(), 2);
    assert!(verify(SECRET_A, r), "signed with the current secret");
    assert!(verify(SECRET_B, r), "signed with the next secret");
    let mut tampered = r.clone();
    tampered.body = Bytes::from(String::from_utf8_lossy(&r.body).replace("calendar", "calendars"));
    assert!(
        !verify(SECRET_A, &tampered),
        "a changed body fails the check"
    );
    let body = r.json();
    assert_eq!(body["type"], "new_ticket");
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
    // The data is the socket event's: the ticket as every client sees it.
    let ticket = app.get_json(&format!("/api/tickets/{id}")).await;
    assert_eq!(body["data"]["request_id"], ticket["request_id"]);
    assert_eq!(body["data"]["request_details"], ticket["request_details"]);
    assert_eq!(body["data"]["priority"], ticket["priority"]);
    assert!(body["data"].get("follow_token").is_none());
    assert!(!String::from_utf8_lossy(&r.body).contains("follow_token_sha256"));
}

#[tokio::test]
async fn a_failed_attempt_is_retried_with_the_same_id_and_an_admin_can_redeliver() {
    let app = shared().await;
    let id = submit(app, &format!("{} VPN drops every hour", unique("flaky"))).await;
    let got = receiver().wait("/flaky", 2, "a retry", about(&id)).await;
    assert_eq!(got[0].status, 500);
    assert_eq!(got[1].status, 200);
    let msg = got[0].header("webhook-id").to_string();
    assert_eq!(got[1].header("webhook-id"), msg, "the same id on a retry");
    assert!(verify(SECRET_A, &got[1]), "a retry is signed anew");
    let token = admin_token(app).await;
    let mut mine: Vec<Value> = Vec::new();
    for _ in 0..50 {
        let list = deliveries(app, &token).await;
        mine = list["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["delivery"] == msg.as_str())
            .cloned()
            .collect();
        if mine.len() >= 2 {
            break;
        }
        // The attempt is recorded just after the answer is read.
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    mine.reverse();
    assert_eq!(mine.len(), 2, "{mine:?}");
    assert_eq!(mine[0]["status"], 500);
    assert_eq!(mine[0]["state"], "pending");
    assert_eq!(mine[0]["error"], "HTTP 500");
    assert_eq!(mine[0]["endpoint"], "flaky");
    assert_eq!(mine[1]["status"], 200);
    assert_eq!(mine[1]["state"], "delivered");
    assert!(mine[1]["latency_ms"].is_u64());

    // Redelivery: the same id again.
    let resp = app
        .http()
        .post(format!(
            "{}/api/webhooks/deliveries/{msg}/retry",
            app.base_url()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let again = receiver()
        .wait("/flaky", 3, "the redelivery", about(&id))
        .await;
    assert_eq!(again[2].header("webhook-id"), msg);
    let unknown = app
        .http()
        .post(format!(
            "{}/api/webhooks/deliveries/msg_nope/retry",
            app.base_url()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let anonymous = app
        .http()
        .get(format!("{}/api/webhooks/deliveries", app.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

async fn comment(app: &TestApp, token: &str, ticket: &str, body: &str, visibility: &str) {
    let resp = app
        .http()
        .post(format!("{}/api/tickets/{ticket}/comments", app.base_url()))
        .bearer_auth(token)
        .json(&json!({"body": body, "visibility": visibility}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
}

#[tokio::test]
async fn internal_notes_reach_only_staff_endpoints() {
    let app = shared().await;
    let token = admin_token(app).await;
    let id = submit(app, &format!("{} laptop will not dock", unique("notes"))).await;
    let note = unique("internal-note-");
    let reply = unique("public-reply-");
    comment(app, &token, &id, &note, "internal").await;
    comment(app, &token, &id, &reply, "public").await;
    let staff = receiver()
        .wait("/staff", 2, "both comments", about(&id))
        .await;
    assert!(String::from_utf8_lossy(&staff[0].body).contains(&note));
    assert!(String::from_utf8_lossy(&staff[1].body).contains(&reply));
    // One delivery at a time, in commit order: the public reply arriving
    // means the note, committed first, would have come before it.
    receiver()
        .wait("/public", 1, "the public reply", about(&reply))
        .await;
    let public = receiver().at("/public");
    assert!(
        public
            .iter()
            .all(|r| !String::from_utf8_lossy(&r.body).contains(&note)),
        "an internal note reached a non-staff endpoint"
    );
}

#[tokio::test]
async fn chat_endpoints_get_their_own_bodies_filtered_by_priority() {
    let app = shared().await;
    let low = submit(app, &format!("{LOW_TEXT} {}", unique("low"))).await;
    let critical = submit(app, &format!("{CRITICAL_TEXT} <b>&{}", unique("crit"))).await;
    let slack = receiver()
        .wait("/slack", 1, "the CRITICAL ticket", about(&critical))
        .await;
    assert!(
        receiver()
            .at("/slack")
            .iter()
            .all(|r| !String::from_utf8_lossy(&r.body).contains(&low)),
        "a LOW ticket reached a CRITICAL-only channel"
    );
    let body = slack[0].json();
    assert!(
        body["text"].as_str().unwrap().contains("CRITICAL"),
        "{body}"
    );
    let blocks = body["blocks"].as_array().unwrap();
    assert!(!blocks.is_empty());
    let all = body.to_string();
    assert!(
        all.contains("&lt;b&gt;&amp;"),
        "ticket text escaped for Slack: {all}"
    );
    assert!(!all.contains("<b>"));
    let teams = receiver()
        .wait("/teams", 1, "the card", about(&critical))
        .await;
    let card = teams[0].json();
    assert_eq!(card["type"], "message");
    assert_eq!(
        card["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(card["attachments"][0]["content"]["type"], "AdaptiveCard");
    assert!(
        receiver()
            .at("/teams")
            .iter()
            .all(|r| !String::from_utf8_lossy(&r.body).contains(&low))
    );
}

#[tokio::test]
async fn an_endpoint_failing_too_long_is_disabled_and_staff_are_told() {
    let app = shared().await;
    let token = admin_token(app).await;
    let mut ws = WsClient::connect(app, "/ws").await;
    ws.send("authenticate", json!({"token": token})).await;
    ws.expect("authenticated").await;
    let id = submit(app, &format!("{} old kiosk to remove", unique("dead"))).await;
    let resp = app
        .http()
        .delete(format!("{}/api/tickets/{id}", app.base_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    // (Only `dead` should ever be disabled; skip any other, so a slow
    // moment elsewhere cannot make this test about the wrong endpoint.)
    let disabled = loop {
        let event = ws.expect("notify_endpoint_disabled").await;
        if event["endpoint"] == "dead" {
            break event;
        }
    };
    assert!(
        disabled["last_error"].as_str().unwrap().contains("302"),
        "{disabled}"
    );
    let seen = receiver().at("/dead");
    assert!(seen.len() >= 2, "retried before giving up");
    assert!(seen.iter().all(|r| r.status == 302));
    let metrics = app.scrape().await;
    assert!(
        metrics.contains("ticketd_notify_endpoint_disabled{endpoint=\"dead\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ticketd_notify_deliveries_total{endpoint=\"dead\",outcome=\"retry\"}")
    );
    let list = deliveries(app, &token).await;
    let dead = endpoint_state(&list, "dead");
    assert_eq!(dead["disabled"], true);
    let redirect = list["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["endpoint"] == "dead" && a["status"] == 302)
        .unwrap()
        .clone();
    assert!(
        redirect["error"]
            .as_str()
            .unwrap()
            .contains("redirects are not followed")
    );
    let audit = app.get_authed("/api/audit?limit=1000", &token).await;
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "notify_endpoint_disabled"),
        "{audit}"
    );
    let enabled = app
        .http()
        .post(format!(
            "{}/api/webhooks/endpoints/dead/enable",
            app.base_url()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(enabled.status(), 200);
    let list = deliveries(app, &token).await;
    let dead = endpoint_state(&list, "dead");
    assert_eq!(dead["disabled"], false);
}

#[tokio::test]
async fn nothing_acknowledged_is_lost_across_a_sigkill_before_delivery() {
    let gate = format!("/gate/{}", unique("kill"));
    let endpoints = endpoint(
        "gated",
        &gate,
        "secret_files = [\"a.secret\"]\nevents = [\"new_ticket\"]",
    );
    let mut app = app_with(&endpoints, "retry_schedule = [\"0s\", \"200ms\", \"200ms\", \"200ms\", \"200ms\", \"200ms\", \"200ms\", \"200ms\", \"200ms\", \"200ms\", \"200ms\", \"200ms\", \"200ms\", \"200ms\", \"200ms\", \"200ms\", \"200ms\", \"200ms\", \"200ms\", \"200ms\"]\nconcurrency = 8").await;
    let mut ids = Vec::new();
    for n in 0..20 {
        ids.push(submit(&app, &format!("{} printer {n} offline", unique("kill"))).await);
    }
    // The gate answers 503 until opened: nothing was delivered yet.
    app.kill();
    assert!(receiver().at(&gate).iter().all(|r| r.status == 503));
    receiver()
        .gate_open
        .store(true, std::sync::atomic::Ordering::SeqCst);
    app.restart().await;
    let mut by_ticket: HashMap<String, String> = HashMap::new();
    for id in &ids {
        let got = receiver()
            .wait(&gate, 1, "a delivery after the restart", |r| {
                r.status == 204 && about(id)(r)
            })
            .await;
        assert!(verify(SECRET_A, &got[0]));
        by_ticket.insert(id.clone(), got[0].header("webhook-id").to_string());
    }
    assert_eq!(
        by_ticket.len(),
        20,
        "every acknowledged ticket was delivered"
    );
    // A delivery attempted before the kill kept its id after it.
    for r in receiver().at(&gate) {
        let data = r.json();
        let ticket = data["data"]["request_id"].as_str().unwrap();
        assert_eq!(by_ticket[ticket], r.header("webhook-id"));
    }
}

#[tokio::test]
async fn a_bad_endpoints_file_stops_start_up_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let cases = [
        (
            "[[endpoint]]\nname = \"x\"\nurl = \"https://e.example/\"\nsecret = \"whsec_inline\"",
            "unknown field",
        ),
        (
            "[[endpoint]]\nname = \"x\"\nurl = \"http://e.example/\"\nkind = \"slack\"",
            "loopback",
        ),
        (
            "[[endpoint]]\nname = \"x\"\nurl = \"https://e.example/\"",
            "needs a secret",
        ),
    ];
    for (text, needle) in cases {
        let path = private_file(dir.path(), "bad.toml", text);
        let out = start_expecting_failure(dir.path(), &["--webhooks-config".into(), path], &[]);
        assert!(out.contains(needle), "{text}: {out}");
        assert!(!out.contains("whsec_inline"), "a secret is never echoed");
    }
}

#[tokio::test]
async fn a_secret_file_others_can_read_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let secret = dir.path().join("open.secret");
    std::fs::write(&secret, SECRET_A).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let config = private_file(
        dir.path(),
        "webhooks.toml",
        &endpoint(
            "open",
            "/plain",
            "secret_files = [\"open.secret\"]\nevents = [\"ticket_deleted\"]",
        ),
    );
    let app = spawn_in(
        dir,
        Options {
            args: vec!["--webhooks-config".into(), config],
            envs: Vec::new(),
        },
    )
    .await;
    let line = app.wait_for_log(0, "readable by every user").await;
    assert!(line.contains("open.secret"), "{line}");
    assert!(
        !app.log_text().contains(SECRET_A),
        "the secret itself is never logged"
    );
}

#[tokio::test]
async fn a_failing_endpoint_is_probed_one_delivery_at_a_time() {
    let path = format!("/dead/{}", unique("probe"));
    let endpoints = endpoint(
        "probed",
        &path,
        "secret_files = [\"a.secret\"]\nevents = [\"new_ticket\"]",
    );
    let app = app_with(
        &endpoints,
        "probe_interval = \"1h\"\ndisable_after = \"1h\"\nconcurrency = 8",
    )
    .await;
    let token = admin_token(&app).await;
    submit(&app, &format!("Scanner hub offline {}", unique("probe"))).await;
    receiver()
        .wait(&path, 1, "the first attempt", |_| true)
        .await;
    // Once that failure is recorded, the endpoint is failing.
    for _ in 0..200 {
        let list = deliveries(&app, &token).await;
        if !list["attempts"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for n in 0..5 {
        submit(&app, &format!("Scanner {n} offline {}", unique("probe"))).await;
    }
    // A negative needs a wait: half a second in which five due deliveries
    // would have gone out at full concurrency.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        receiver().at(&path).len(),
        1,
        "no attempt before the next probe"
    );
    let list = deliveries(&app, &token).await;
    let probed = endpoint_state(&list, "probed");
    assert_eq!(
        probed["pending"], 6,
        "nothing is lost while it waits: {list}"
    );
}
