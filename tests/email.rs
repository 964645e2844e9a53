//! Email against a real SMTP server: `tests/support/smtp_sink.py`
//! (aiosmtpd, which `.ci/run` installs) prints every message it accepts,
//! decoded by Python's own email parser. The requester hears of their
//! ticket (with a follow link that works), of a public staff reply (never
//! of an internal note) and of the resolution, each once, in one thread;
//! staff hear of an assignment; STARTTLS and the login are used when asked
//! for; a restart sends nothing twice.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const PASSWORD: &str = "email-staff-password-0123";

fn hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| ticketd::auth::password::hash_password(PASSWORD))
}

/// A running sink and what it received.
struct Sink {
    port: u16,
    child: Child,
    received: Arc<Mutex<Vec<Value>>>,
    changed: tokio::sync::watch::Receiver<usize>,
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the sink can run: Python with aiosmtpd. Without it the email
/// tests skip with a notice, and fail when `CI` is set (`.ci/run` installs it).
fn sink_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but python3 with aiosmtpd is missing (pip install aiosmtpd)"
        );
        eprintln!("SKIPPED: the email tests need python3 with aiosmtpd (pip install aiosmtpd)");
    }
    ok
}

impl Sink {
    /// A running sink, or `None` (and a notice) where aiosmtpd is missing.
    fn start(args: &[&str]) -> Option<Sink> {
        if !sink_available() {
            return None;
        }
        Some(Self::spawn(args))
    }

    fn spawn(args: &[&str]) -> Sink {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/smtp_sink.py");
        let mut child = Command::new("python3")
            .arg("-u")
            .arg(script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs (install aiosmtpd: pip install aiosmtpd)");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = lines
            .next()
            .expect("the sink starts (is aiosmtpd installed? pip install aiosmtpd)")
            .unwrap();
        let port: u16 = ready
            .strip_prefix("READY ")
            .unwrap_or_else(|| panic!("sink said {ready}"))
            .parse()
            .unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let (bump, changed) = tokio::sync::watch::channel(0usize);
        {
            let received = received.clone();
            std::thread::spawn(move || {
                for line in lines.map_while(Result::ok) {
                    let message: Value = serde_json::from_str(&line).unwrap();
                    received.lock().unwrap().push(message);
                    bump.send_modify(|n| *n += 1);
                }
            });
        }
        Sink {
            port,
            child,
            received,
            changed,
        }
    }

    fn all(&self) -> Vec<Value> {
        self.received.lock().unwrap().clone()
    }

    /// Waits for a message that `matches`.
    async fn wait(&self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let mut changed = self.changed.clone();
        tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                if let Some(m) = self.all().into_iter().find(|m| matches(m)) {
                    return m;
                }
                changed.changed().await.unwrap();
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{what}: no such email; got {:#?}", self.all()))
    }
}

fn header<'a>(message: &'a Value, name: &str) -> &'a str {
    message["headers"][name].as_str().unwrap_or_default()
}

/// A server with staff (root: admin with an address, dana: agent with an
/// address) emailing through `sink`.
async fn app_with(sink: &Sink, extra: &[&str]) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let h = hash();
    let staff = private_file(
        dir.path(),
        "staff",
        &format!(
            "root:admin:{h}:root@example.org\ndana:agent:{h}:dana@example.org\nkim:agent:{h}\n"
        ),
    );
    // One email at a time, so their order is the order of the changes.
    let delivery = private_file(
        dir.path(),
        "webhooks.toml",
        "[delivery]\nconcurrency = 1\nretry_schedule = [\"0s\", \"200ms\", \"200ms\"]\n",
    );
    let port = sink.port.to_string();
    let mut args = vec![
        "--staff-file",
        &staff,
        "--webhooks-config",
        &delivery,
        "--smtp-port",
        &port,
        "--smtp-from",
        "Helpdesk <helpdesk@example.org>",
    ];
    args.extend_from_slice(extra);
    if !extra.contains(&"--smtp-host") {
        args.extend_from_slice(&["--smtp-host", "127.0.0.1", "--smtp-tls", "plain"]);
    }
    spawn_in(
        dir,
        Options {
            args: unlimited(&args),
            envs: Vec::new(),
        },
    )
    .await
}

async fn submit_with_email(app: &TestApp, description: &str, email: &str) -> Value {
    let resp = app
        .http()
        .post(format!("{}/api/tickets", app.base_url()))
        .json(&json!({"description": description, "system": "Email", "requester": "Ana", "email": email}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    resp.json().await.unwrap()
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> reqwest::StatusCode {
    let resp = app
        .http()
        .post(format!("{}{path}", app.base_url()))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    assert!(
        status.is_success(),
        "{path}: {}",
        resp.text().await.unwrap()
    );
    status
}

fn to(message: &Value) -> &str {
    message["rcpt_tos"][0].as_str().unwrap_or_default()
}

#[tokio::test]
async fn the_requester_hears_of_creation_a_public_reply_and_resolution_once_each() {
    let Some(sink) = Sink::start(&[]) else {
        return;
    };
    let mut app = app_with(&sink, &[]).await;
    let address = format!("{}@example.com", unique("ana"));
    let text = format!(
        "Outlook <script>alert(1)</script> & calendar won't sync {}",
        unique("mail")
    );
    let submitted = submit_with_email(&app, &text, &address).await;
    let id = submitted["request_id"].as_str().unwrap().to_string();
    let token = submitted["follow_token"].as_str().unwrap().to_string();
    let thread = format!("<tkt-{id}@localhost>");

    let created = sink.wait("the creation email", |m| to(m) == address).await;
    assert_eq!(header(&created, "Message-ID"), thread);
    assert_eq!(header(&created, "Auto-Submitted"), "auto-generated");
    assert!(
        header(&created, "Subject").contains(&format!("[TKT-{}]", &id[..8])),
        "{created:#}"
    );
    assert!(header(&created, "From").contains("helpdesk@example.org"));
    assert_eq!(created["content_type"], "multipart/alternative");
    // The follow link works: it is the token the submitter got.
    let link = format!("/#follow={id}:{token}");
    assert!(
        created["text"].as_str().unwrap().contains(&link),
        "{}",
        created["text"]
    );
    assert!(created["html"].as_str().unwrap().contains(&link));
    let html = created["html"].as_str().unwrap();
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script>"));
    // The token is in no file of the data directory.
    for entry in std::fs::read_dir(app.data_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(&token),
                "the follow token is stored in {}",
                path.display()
            );
        }
    }

    let admin = app.login_token("root", PASSWORD).await;
    let note = unique("internal-");
    let reply = unique("reply-");
    post(
        &app,
        &admin,
        &format!("/api/tickets/{id}/comments"),
        json!({"body": note, "visibility": "internal"}),
    )
    .await;
    post(
        &app,
        &admin,
        &format!("/api/tickets/{id}/comments"),
        json!({"body": reply}),
    )
    .await;
    post(
        &app,
        &admin,
        &format!("/api/tickets/{id}/resolve"),
        json!({}),
    )
    .await;
    let replied = sink
        .wait("the reply email", |m| {
            to(m) == address && m["text"].as_str().unwrap_or_default().contains(&reply)
        })
        .await;
    assert_eq!(header(&replied, "In-Reply-To"), thread);
    assert!(header(&replied, "References").contains(&thread));
    let resolved = sink
        .wait("the resolution email", |m| {
            to(m) == address
                && header(m, "Message-ID") != thread
                && !m["text"].as_str().unwrap_or_default().contains(&reply)
        })
        .await;
    assert_eq!(header(&resolved, "In-Reply-To"), thread);
    assert!(
        sink.all().iter().all(|m| !m.to_string().contains(&note)),
        "an internal note was emailed"
    );

    // A restart sends nothing again; a new ticket after it is emailed once.
    app.restart().await;
    let after =
        submit_with_email(&app, &format!("Second issue {}", unique("after")), &address).await;
    let second = after["request_id"].as_str().unwrap().to_string();
    sink.wait("the second ticket's email", |m| {
        header(m, "Message-ID") == format!("<tkt-{second}@localhost>")
    })
    .await;
    let mine: Vec<Value> = sink
        .all()
        .into_iter()
        .filter(|m| to(m) == address)
        .collect();
    assert_eq!(mine.len(), 4, "created, reply, resolved, second: {mine:#?}");
    let mut ids: Vec<&str> = mine.iter().map(|m| header(m, "Message-ID")).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "each email once");
    let metrics = app.scrape().await;
    assert!(
        metrics
            .contains("ticketd_notify_deliveries_total{endpoint=\"email\",outcome=\"delivered\"}")
    );
}

#[tokio::test]
async fn staff_hear_of_an_assignment() {
    let Some(sink) = Sink::start(&[]) else {
        return;
    };
    let app = app_with(&sink, &[]).await;
    let id = app
        .submit_http(&format!("Docking station dead {}", unique("assign")))
        .await["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let admin = app.login_token("root", PASSWORD).await;
    post(
        &app,
        &admin,
        &format!("/api/tickets/{id}/assign"),
        json!({"assignee": "dana"}),
    )
    .await;
    let assigned = sink
        .wait("the assignment email", |m| to(m) == "dana@example.org")
        .await;
    assert!(header(&assigned, "Subject").contains(&format!("[TKT-{}]", &id[..8])));
    assert!(
        assigned["text"]
            .as_str()
            .unwrap()
            .contains(&format!("?q={id}")),
        "{assigned:#}"
    );
    // No requester address was given: nobody else was emailed.
    assert!(sink.all().iter().all(|m| to(m) == "dana@example.org"));
}

#[tokio::test]
async fn a_bad_requester_address_is_refused_naming_the_field() {
    let Some(sink) = Sink::start(&[]) else {
        return;
    };
    let app = app_with(&sink, &[]).await;
    let resp = app
        .http()
        .post(format!("{}/api/tickets", app.base_url()))
        .json(&json!({"description": "Printer jams", "system": "Printer", "requester": "Ana", "email": "not an address"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(body.to_string().contains("email"), "{body}");
}

#[tokio::test]
async fn starttls_and_the_login_are_used_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = dir.path().join("smtp.pem");
    let key_file = dir.path().join("smtp.key");
    std::fs::write(&cert, key.cert.pem()).unwrap();
    std::fs::write(&key_file, key.signing_key.serialize_pem()).unwrap();
    let Some(sink) = Sink::start(&[
        "--starttls",
        cert.to_str().unwrap(),
        key_file.to_str().unwrap(),
        "--user",
        "ticketd",
        "--password",
        "smtp-pass-0123",
    ]) else {
        return;
    };
    let password = private_file(dir.path(), "smtp-password", "smtp-pass-0123\n");
    let app = app_with(
        &sink,
        &[
            "--smtp-host",
            "localhost",
            "--smtp-tls",
            "starttls",
            "--smtp-ca-file",
            cert.to_str().unwrap(),
            "--smtp-user",
            "ticketd",
            "--smtp-password-file",
            &password,
        ],
    )
    .await;
    let address = format!("{}@example.com", unique("tls"));
    submit_with_email(&app, "Wi-Fi keeps dropping in room 4", &address).await;
    let message = sink
        .wait("the email over STARTTLS", |m| to(m) == address)
        .await;
    assert_eq!(message["tls"], true);
    assert_eq!(message["user"], "ticketd");
    assert!(
        !app.log_text().contains("smtp-pass-0123"),
        "the password is never logged"
    );
}

#[tokio::test]
async fn a_refused_login_fails_the_email_and_shows_in_the_deliveries() {
    let Some(sink) = Sink::start(&["--user", "ticketd", "--password", "right-password"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let password = private_file(dir.path(), "smtp-password", "wrong-password\n");
    let app = app_with(
        &sink,
        &["--smtp-user", "ticketd", "--smtp-password-file", &password],
    )
    .await;
    let address = format!("{}@example.com", unique("refused"));
    submit_with_email(&app, "Keyboard missing keys", &address).await;
    let admin = app.login_token("root", PASSWORD).await;
    let mut failed = None;
    for _ in 0..200 {
        let list = app.get_authed("/api/webhooks/deliveries", &admin).await;
        failed = list["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["endpoint"] == "email")
            .cloned();
        if failed.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let failed =
        failed.unwrap_or_else(|| panic!("an attempt was recorded; log: {}", app.log_text()));
    assert_eq!(failed["status"], 535, "{failed}");
    assert_eq!(
        failed["state"], "failed",
        "a refused login is not retried: {failed}"
    );
    assert!(sink.all().is_empty(), "the sink accepted nothing");
    assert!(!app.log_text().contains("wrong-password"));
}
