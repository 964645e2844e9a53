//! Socket.IO at `/socket.io/`, through the real server, with real
//! third-party clients: the `rust_socketio` crate, and the official
//! `socket.io-client` under Node (`tests/socketio-node/client.mjs`; `npm ci
//! --prefix tests/socketio-node` installs it). Without Node or the package
//! the Node tests say so and skip; with `CI` set they fail instead.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use common::*;
use futures_util::FutureExt;
use rust_socketio::asynchronous::{Client, ClientBuilder};
use rust_socketio::{Payload, TransportType};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::mpsc;

const PASSWORD: &str = "socketio-admin-password-0123";

fn hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| ticketd::auth::password::hash_password(PASSWORD))
}

/// A server with generous limits and an admin (`root`), plus `extra` flags.
async fn app_with(extra: &[&str]) -> TestApp {
    let mut args = generous_limits();
    args.extend(extra.iter().map(|s| s.to_string()));
    spawn_with(Options {
        args,
        envs: vec![
            ("TICKETD_ADMIN_USER".into(), "root".into()),
            ("TICKETD_ADMIN_PASSWORD_HASH".into(), hash().into()),
        ],
    })
    .await
}

async fn token(app: &TestApp) -> String {
    let resp = app
        .http()
        .post(format!("{}/api/auth/login", app.base_url()))
        .json(&json!({"username": "root", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    body["token"].as_str().unwrap().to_string()
}

fn first(payload: Payload) -> Value {
    match payload {
        Payload::Text(values) => values.into_iter().next().unwrap_or(Value::Null),
        other => panic!("expected a text payload, got {other:?}"),
    }
}

/// A `rust_socketio` client and everything it has heard: events as
/// `(name, data)`, acknowledgements as `("ack:" + event, data)`.
struct Sio {
    client: Client,
    tx: mpsc::UnboundedSender<(String, Value)>,
    rx: mpsc::UnboundedReceiver<(String, Value)>,
    /// Heard but not yet asked for: replies, acks and broadcasts may come
    /// in any order relative to each other.
    backlog: Vec<(String, Value)>,
}

impl Sio {
    async fn connect(app: &TestApp, transport: TransportType) -> Sio {
        let tls = native_tls_for(app);
        let (tx, rx) = mpsc::unbounded_channel();
        let (on_any, on_error) = (tx.clone(), tx.clone());
        let client = ClientBuilder::new(app.base_url())
            .tls_config(tls)
            .transport_type(transport)
            .reconnect(false)
            .on_any(move |event, payload, _| {
                let _ = on_any.send((event.to_string(), first(payload)));
                async {}.boxed()
            })
            // rust_socketio delivers an event named `error` here only.
            .on(rust_socketio::Event::Error, move |payload, _| {
                let _ = on_error.send(("error".into(), first(payload)));
                async {}.boxed()
            })
            .connect()
            .await
            .expect("rust_socketio connects");
        Sio {
            client,
            tx,
            rx,
            backlog: Vec::new(),
        }
    }

    async fn emit(&self, event: &str, data: Value) {
        self.client.emit(event, data).await.unwrap();
    }

    async fn emit_with_ack(&self, event: &str, data: Value) {
        let tx = self.tx.clone();
        let name = format!("ack:{event}");
        self.client
            .emit_with_ack(event, data, WAIT, move |payload, _| {
                // rust_socketio hands an ack's argument list over as one
                // array value: the server's single argument is inside.
                let data = match first(payload) {
                    Value::Array(mut args) if args.len() == 1 => args.remove(0),
                    other => panic!("expected one ack argument, got {other}"),
                };
                let _ = tx.send((name.clone(), data));
                async {}.boxed()
            })
            .await
            .unwrap();
    }

    /// The data of the first `event` not yet asked for, waiting for it if
    /// need be.
    async fn expect(&mut self, event: &str) -> Value {
        if let Some(at) = self.backlog.iter().position(|(name, _)| name == event) {
            return self.backlog.remove(at).1;
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let next = tokio::time::timeout_at(deadline, self.rx.recv())
                .await
                .unwrap_or_else(|_| panic!("no {event} within {WAIT:?}: {:?}", self.backlog))
                .expect("client open");
            if next.0 == event {
                return next.1;
            }
            self.backlog.push(next);
        }
    }
}

fn ticket(description: &str) -> Value {
    json!({"description": description, "system": "Printers", "requester": "Ana"})
}

#[tokio::test]
async fn rust_client_over_websocket_gets_tickets_events_and_acks() {
    let app = app_with(&[]).await;
    let existing = app.submit_http("VPN drops every hour").await;
    let mut sio = Sio::connect(&app, TransportType::Websocket).await;
    let initial = sio.expect("initial_tickets").await;
    assert_eq!(initial.as_array().unwrap().len(), 1);
    assert_eq!(initial[0]["request_id"], existing["request_id"]);

    sio.emit_with_ack("submit_ticket", ticket("Printer on 3rd floor jams"))
        .await;
    let ack = sio.expect("ack:submit_ticket").await;
    let request_id = ack["request_id"].as_str().expect("ack carries request_id");
    let submitted = sio.expect("ticket_submitted").await;
    assert_eq!(submitted["request_id"], request_id);
    let new = sio.expect("new_ticket").await;
    assert_eq!(new["request_id"], request_id);
    assert_eq!(
        new["request_details"]["description"],
        "Printer on 3rd floor jams"
    );

    sio.emit_with_ack("get_stats", json!({})).await;
    let stats = sio.expect("ack:get_stats").await;
    assert_eq!(stats["total"], 2, "{stats}");
    assert_eq!(sio.expect("stats_update").await["total"], 2);

    // The REST side sees the Socket.IO ticket.
    let all: Value = app
        .http()
        .get(format!("{}/api/tickets", app.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(all.to_string().contains(request_id), "{all}");
}

#[tokio::test]
async fn rust_client_over_polling_upgrades_and_works() {
    let app = app_with(&[]).await;
    let mut sio = Sio::connect(&app, TransportType::WebsocketUpgrade).await;
    assert_eq!(sio.expect("initial_tickets").await, json!([]));
    sio.emit_with_ack("submit_ticket", ticket("Mail server rejects logins"))
        .await;
    let ack = sio.expect("ack:submit_ticket").await;
    assert!(ack["request_id"].is_string(), "{ack}");
    assert_eq!(
        sio.expect("new_ticket").await["request_id"],
        ack["request_id"]
    );

    // Plain long-polling, no upgrade, works too.
    let mut polling = Sio::connect(&app, TransportType::Polling).await;
    let initial = polling.expect("initial_tickets").await;
    assert_eq!(initial[0]["request_id"], ack["request_id"]);
}

#[tokio::test]
async fn socketio_and_ws_clients_see_each_others_tickets() {
    let app = app_with(&[]).await;
    let (mut ws, _) = app.connect_ready().await;
    let mut sio = Sio::connect(&app, TransportType::Websocket).await;
    sio.expect("initial_tickets").await;

    sio.emit("submit_ticket", ticket("Socket.IO: badge reader offline"))
        .await;
    let seen = ws.expect("new_ticket").await;
    assert_eq!(
        seen["request_details"]["description"],
        "Socket.IO: badge reader offline"
    );

    let id = ws.submit("WS: projector has no signal").await;
    let heard = sio.expect("new_ticket").await;
    // Its own submission first, then the one from /ws.
    let heard = if heard["request_id"] == seen["request_id"] {
        sio.expect("new_ticket").await
    } else {
        heard
    };
    assert_eq!(heard["request_id"], id.as_str());
}

#[tokio::test]
async fn invalid_payloads_and_unknown_events_are_refused() {
    let app = app_with(&[]).await;
    let mut sio = Sio::connect(&app, TransportType::Websocket).await;
    sio.expect("initial_tickets").await;

    sio.emit_with_ack("submit_ticket", json!("not an object"))
        .await;
    let error = sio.expect("error").await;
    assert_eq!(error["code"], "invalid_payload", "{error}");
    let ack = sio.expect("ack:submit_ticket").await;
    assert_eq!(ack, error);

    sio.emit("submit_ticket", json!({"description": ""})).await;
    assert_eq!(sio.expect("error").await["code"], "invalid_payload");

    sio.emit("get_stats", json!(5)).await;
    assert_eq!(sio.expect("error").await["code"], "invalid_payload");

    sio.emit("drop_tables", json!({})).await;
    assert_eq!(sio.expect("error").await["code"], "unknown_event");

    let scrape = app.scrape().await;
    assert!(
        scrape.contains(
            r#"ticketd_socketio_messages_received_total{event="submit_ticket",outcome="invalid_payload"} 2"#
        ),
        "{scrape}"
    );
    assert!(scrape.contains("ticketd_socketio_clients 1"), "{scrape}");
}

#[tokio::test]
async fn admin_needs_a_token_and_a_password_changes_nothing() {
    let app = app_with(&[]).await;
    let ticket = app.submit_http("Disk full on file server").await;
    let id = ticket["request_id"].as_str().unwrap();
    let mut sio = Sio::connect(&app, TransportType::Websocket).await;
    sio.expect("initial_tickets").await;

    // The original system's command, unchanged.
    sio.emit_with_ack(
        "admin_command",
        json!({"command": "resolve", "ticket_id": id, "password": "admin123"}),
    )
    .await;
    let error = sio.expect("error").await;
    assert_eq!(error["code"], "unauthorized");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("/api/auth/login"),
        "{error}"
    );
    assert_eq!(sio.expect("ack:admin_command").await, error);
    let stored: Value = app
        .http()
        .get(format!("{}/api/tickets/{id}", app.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stored["status"], "open", "{stored}");

    let token = token(&app).await;
    sio.emit_with_ack(
        "admin_command",
        json!({"command": "resolve", "ticket_id": id, "token": token}),
    )
    .await;
    let success = sio.expect("admin_success").await;
    assert_eq!(success["action"], "resolve", "{success}");
    assert_eq!(sio.expect("ack:admin_command").await, success);
    let resolved = sio.expect("ticket_resolved").await;
    assert_eq!(resolved["request_id"], id);
    assert_eq!(resolved["status"], "resolved");
}

#[tokio::test]
async fn a_client_survives_several_ping_cycles() {
    let app = app_with(&["--ping-interval-secs", "1", "--idle-timeout-secs", "3"]).await;
    let mut sio = Sio::connect(&app, TransportType::Websocket).await;
    sio.expect("initial_tickets").await;
    // Four ping intervals, longer than the idle timeout: only the pongs
    // keep the client connected.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    sio.emit_with_ack("get_stats", json!({})).await;
    assert_eq!(sio.expect("ack:get_stats").await["total"], 0);
    assert!(app.scrape().await.contains("ticketd_socketio_clients 1"));
}

#[tokio::test]
async fn polling_spends_its_own_budget_not_the_http_limit() {
    let app = spawn_with(Options {
        args: ["--http-rate", "1/min", "--http-burst", "3"]
            .map(String::from)
            .to_vec(),
        ..Options::default()
    })
    .await;
    let mut sio = Sio::connect(&app, TransportType::Polling).await;
    sio.expect("initial_tickets").await;
    // Each emit is a polling POST, each answer a poll: far more requests
    // than the HTTP burst of 3.
    for _ in 0..8 {
        sio.emit_with_ack("get_stats", json!({})).await;
        sio.expect("ack:get_stats").await;
    }
    let http = app.http();
    let url = format!("{}/healthz", app.base_url());
    let statuses = [
        http.get(&url).send().await.unwrap().status(),
        http.get(&url).send().await.unwrap().status(),
        http.get(&url).send().await.unwrap().status(),
        http.get(&url).send().await.unwrap().status(),
    ];
    assert_eq!(statuses[3], 429, "{statuses:?}");
}

#[tokio::test]
async fn a_foreign_origin_is_refused_and_ours_is_not() {
    let app = app_with(&[]).await;
    let url = format!("{}/socket.io/?EIO=4&transport=polling", app.base_url());
    let resp = app
        .http()
        .get(&url)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "forbidden");

    let resp = app
        .http()
        .get(&url)
        .header("origin", format!("https://localhost:{}", app.addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("strict-transport-security"));
    let open = resp.text().await.unwrap();
    assert!(open.starts_with("0{") && open.contains("\"sid\""), "{open}");
}

#[tokio::test]
async fn connection_caps_apply_to_socketio_too() {
    let mut args = generous_limits();
    args.extend(["--max-connections-per-ip", "1"].map(String::from));
    let app = spawn_with(Options {
        args,
        ..Options::default()
    })
    .await;
    let (_ws, _) = app.connect_ready().await;
    let mut sio = Sio::connect(&app, TransportType::Websocket).await;
    let refusal = sio.expect("error").await;
    assert_eq!(refusal["code"], "rate_limited", "{refusal}");
}

#[tokio::test]
async fn turned_off_it_is_not_found() {
    let app = spawn_with(Options {
        args: ["--socketio", "false"].map(String::from).to_vec(),
        ..Options::default()
    })
    .await;
    let url = format!("{}/socket.io/?EIO=4&transport=polling", app.base_url());
    let resp = app.http().get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn shutdown_disconnects_socketio_clients() {
    let mut app = app_with(&[]).await;
    let mut sio = Sio::connect(&app, TransportType::Websocket).await;
    sio.expect("initial_tickets").await;
    let mut polling = Sio::connect(&app, TransportType::Polling).await;
    polling.expect("initial_tickets").await;
    let started = std::time::Instant::now();
    let status = app.stop();
    assert!(status.success(), "{status:?}\n{}", app.log_text());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

// The official client under Node.

/// Node and the installed `socket.io-client`, or why not. With `CI` set a
/// missing piece fails the test; otherwise it is skipped, loudly.
fn node_client() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/socketio-node");
    let node = std::process::Command::new("node").arg("--version").output();
    let installed = dir.join("node_modules/socket.io-client/package.json");
    let missing = match node {
        Err(e) => Some(format!("node is not installed ({e})")),
        Ok(_) if !installed.exists() => Some(format!(
            "socket.io-client is not installed (npm ci --prefix {})",
            dir.display()
        )),
        Ok(_) => None,
    };
    match missing {
        None => Some(dir.join("client.mjs")),
        Some(why) if std::env::var_os("CI").is_some() => panic!("CI is set and {why}"),
        Some(why) => {
            // Past the test harness's capture, so it is seen.
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "SKIPPED: Node Socket.IO test: {why}");
            None
        }
    }
}

/// The official client in a Node process.
struct NodeClient {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    /// Lines read but not yet asked for.
    backlog: Vec<Value>,
}

impl NodeClient {
    async fn start(script: &Path, app: &TestApp, transports: &str) -> NodeClient {
        let ca = app.certs_dir().join("localhost-cert.pem");
        let mut child = tokio::process::Command::new("node")
            .arg(script)
            .arg(app.base_url())
            .arg(transports)
            .env("NODE_EXTRA_CA_CERTS", ca)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts");
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        NodeClient {
            child,
            stdin,
            lines,
            backlog: Vec::new(),
        }
    }

    async fn send(&mut self, command: Value) {
        let line = format!("{command}\n");
        self.stdin.write_all(line.as_bytes()).await.unwrap();
    }

    /// The first line not yet asked for of `type` (and for events and
    /// acks, named `event`), waiting for it if need be.
    async fn expect(&mut self, kind: &str, event: Option<&str>) -> Value {
        let wanted =
            |value: &Value| value["type"] == kind && event.is_none_or(|e| value["event"] == e);
        if let Some(at) = self.backlog.iter().position(wanted) {
            return self.backlog.remove(at);
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let line = tokio::time::timeout_at(deadline, self.lines.next_line())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "no {kind} {event:?} from node within {WAIT:?}: {:?}",
                        self.backlog
                    )
                })
                .unwrap()
                .expect("node client still running");
            let value: Value = serde_json::from_str(&line).expect("JSON lines");
            assert_ne!(value["type"], "connect_error", "{value}");
            if wanted(&value) {
                return value;
            }
            self.backlog.push(value);
        }
    }

    async fn close(mut self) {
        self.send(json!({"close": true})).await;
        let _ = tokio::time::timeout(WAIT, self.child.wait()).await;
    }
}

#[tokio::test]
async fn official_client_over_websocket() {
    let Some(script) = node_client() else { return };
    let app = app_with(&[]).await;
    let mut node = NodeClient::start(&script, &app, "websocket").await;
    let opened = node.expect("open", None).await;
    assert_eq!(opened["transport"], "websocket");
    node.expect("connect", None).await;
    let initial = node.expect("event", Some("initial_tickets")).await;
    assert_eq!(initial["data"], json!([]));

    // The original system's page: emit, then hear it back, with an ack.
    node.send(
        json!({"emit": "submit_ticket", "data": ticket("Node: scanner offline"), "ack": true}),
    )
    .await;
    let ack = node.expect("ack", Some("submit_ticket")).await;
    let request_id = ack["data"]["request_id"].as_str().unwrap().to_string();
    let new = node.expect("event", Some("new_ticket")).await;
    assert_eq!(new["data"]["request_id"], request_id.as_str());

    // From /ws to the official client.
    let (mut ws, _) = app.connect_ready().await;
    let id = ws.submit("WS: Wi-Fi down in room 4").await;
    loop {
        let heard = node.expect("event", Some("new_ticket")).await;
        if heard["data"]["request_id"] == id.as_str() {
            break;
        }
    }

    node.send(json!({"emit": "admin_command", "data": {"command": "delete", "ticket_id": request_id, "password": "admin123"}, "ack": true}))
        .await;
    let refused = node.expect("ack", Some("admin_command")).await;
    assert_eq!(refused["data"]["code"], "unauthorized");
    let error = node.expect("event", Some("error")).await;
    assert_eq!(error["data"], refused["data"]);
    let token = token(&app).await;
    node.send(json!({"emit": "admin_command", "data": {"command": "delete", "ticket_id": request_id, "token": token}, "ack": true}))
        .await;
    let done = node.expect("ack", Some("admin_command")).await;
    assert_eq!(done["data"]["action"], "delete", "{done}");
    let deleted = node.expect("event", Some("ticket_deleted")).await;
    assert_eq!(deleted["data"]["ticket_id"], request_id.as_str());

    node.send(json!({"emit": "submit_ticket", "data": 42}))
        .await;
    let error = node.expect("event", Some("error")).await;
    assert_eq!(error["data"]["code"], "invalid_payload");
    node.close().await;
}

#[tokio::test]
async fn official_client_over_polling_upgrades_to_websocket() {
    let Some(script) = node_client() else { return };
    let app = app_with(&[]).await;
    app.submit_http("Laptop battery swells").await;
    let mut node = NodeClient::start(&script, &app, "polling").await;
    let opened = node.expect("open", None).await;
    assert_eq!(opened["transport"], "polling");
    node.expect("connect", None).await;
    let initial = node.expect("event", Some("initial_tickets")).await;
    assert_eq!(initial["data"].as_array().unwrap().len(), 1);
    let upgraded = node.expect("upgrade", None).await;
    assert_eq!(upgraded["transport"], "websocket");

    node.send(json!({"emit": "get_stats", "ack": true})).await;
    let stats = node.expect("ack", Some("get_stats")).await;
    assert_eq!(stats["data"]["total"], 1, "{stats}");
    node.close().await;
}
