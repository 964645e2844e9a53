//! Several ticketd instances sharing one PostgreSQL store, through real
//! servers, real clients and a real database: one order of changes for
//! every client of every instance (WebSocket and Socket.IO), nothing
//! acknowledged lost when an instance is SIGKILLed or the database goes
//! away for a while (cut, or the server restarted), resuming on another
//! instance, logouts and the audit trail shared, and a store moved from the
//! journal to PostgreSQL and back.
//!
//! The database: `TICKETD_TEST_DATABASE_URL` (an admin URL), else the libpq
//! variables `pg_virtualenv` sets (`PGHOST`, `PGPORT`, `PGUSER`,
//! `PGPASSWORD`, `PGDATABASE`). Without either a test skips, or fails when
//! `CI` is set. Each test creates a database of its own and drops it.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use rust_socketio::asynchronous::Client;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio_tungstenite::tungstenite::Message;

const PASSWORD: &str = "postgres-admin-password-0123456789";

/// How long to wait for a whole sequence of events (CI is a slow 2-core
/// machine).
const LONG: Duration = Duration::from_secs(30);

fn hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| ticketd::auth::password::hash_password(PASSWORD))
}

// The database.

/// Where the PostgreSQL server listens, for a relay in front of it.
#[derive(Clone, Debug)]
enum Upstream {
    Tcp(String),
    Unix(PathBuf),
}

/// How to reach the server as an administrator, and how ticketd should.
struct Admin {
    config: tokio_postgres::Config,
    /// A URL for ticketd (its path, the database, is replaced per test).
    url: url::Url,
    upstream: Upstream,
    /// A socket directory is no URL host: ticketd then reaches the server
    /// through a TCP relay of the test's own.
    relay: bool,
}

/// The admin connection from the environment, or `None` when none is
/// configured.
fn admin() -> Option<Admin> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let Some(raw) = env("TICKETD_TEST_DATABASE_URL") {
        let config: tokio_postgres::Config = raw
            .parse()
            .unwrap_or_else(|_| panic!("TICKETD_TEST_DATABASE_URL is not a postgres:// URL"));
        let mut url = url::Url::parse(&raw)
            .unwrap_or_else(|_| panic!("TICKETD_TEST_DATABASE_URL is not a postgres:// URL"));
        if !url.query_pairs().any(|(k, _)| k == "sslmode") {
            // A local test server's certificate is not one ticketd trusts.
            url.query_pairs_mut().append_pair("sslmode", "disable");
        }
        let host = url.host_str().unwrap_or("localhost").to_string();
        let port = url.port().unwrap_or(5432);
        return Some(Admin {
            config,
            url,
            upstream: Upstream::Tcp(format!("{host}:{port}")),
            relay: false,
        });
    }
    let host = env("PGHOST")?;
    let port: u16 = env("PGPORT").map_or(5432, |p| p.parse().expect("PGPORT is a port"));
    let user = env("PGUSER").unwrap_or_else(|| "postgres".into());
    let password = env("PGPASSWORD");
    let dbname = env("PGDATABASE").unwrap_or_else(|| user.clone());
    let mut config = tokio_postgres::Config::new();
    config.host(&host).port(port).user(&user).dbname(&dbname);
    if let Some(password) = &password {
        config.password(password);
    }
    let mut url = url::Url::parse("postgres://localhost/").unwrap();
    url.set_username(&user).unwrap();
    url.set_password(password.as_deref()).unwrap();
    url.query_pairs_mut().append_pair("sslmode", "disable");
    let (upstream, relay) = if host.starts_with('/') {
        let socket = PathBuf::from(&host).join(format!(".s.PGSQL.{port}"));
        (Upstream::Unix(socket), true)
    } else {
        let bracketed = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        url.set_host(Some(&bracketed)).unwrap();
        url.set_port(Some(port)).unwrap();
        (Upstream::Tcp(format!("{bracketed}:{port}")), false)
    };
    Some(Admin {
        config,
        url,
        upstream,
        relay,
    })
}

/// A database of one test's own, dropped (best effort) when it goes.
struct Db {
    name: String,
    /// ticketd's URL for it. Holds a password: never printed.
    url: String,
    upstream: Upstream,
    admin: tokio_postgres::Config,
    _relay: Option<Proxy>,
    /// Released after the database is dropped.
    _hold: Hold,
}

/// The tests of this binary share one server; a test that stops it holds it
/// alone meanwhile.
static SERVER: std::sync::RwLock<()> = std::sync::RwLock::new(());

#[allow(dead_code)] // Held for its drop.
enum Hold {
    Shared(std::sync::RwLockReadGuard<'static, ()>),
    Alone(std::sync::RwLockWriteGuard<'static, ()>),
}

impl Db {
    /// A fresh database, or `None` (after a notice) when no server is
    /// configured and this is not CI.
    async fn create(test: &str) -> Option<Db> {
        Db::create_holding(test, false).await
    }

    /// A fresh database; no other test of this binary uses the server
    /// until it is dropped.
    async fn create_exclusive(test: &str) -> Option<Db> {
        Db::create_holding(test, true).await
    }

    async fn create_holding(test: &str, alone: bool) -> Option<Db> {
        let hold = if alone {
            Hold::Alone(SERVER.write().unwrap_or_else(|p| p.into_inner()))
        } else {
            Hold::Shared(SERVER.read().unwrap_or_else(|p| p.into_inner()))
        };
        let Some(admin) = admin() else {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "{test}: no PostgreSQL server for tests/postgres.rs: set \
                     TICKETD_TEST_DATABASE_URL (an admin URL) or the libpq variables \
                     PGHOST, PGPORT, PGUSER, PGPASSWORD and PGDATABASE (run under pg_virtualenv)"
                );
            }
            eprintln!("{test}: skipped: no PostgreSQL (set TICKETD_TEST_DATABASE_URL or PGHOST)");
            return None;
        };
        let name = format!(
            "ticketd_t_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..16]
        );
        let client = connect(&admin.config).await;
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| {
                let why = e
                    .as_db_error()
                    .map_or(e.to_string(), |d| d.message().to_string());
                panic!("{test}: CREATE DATABASE {name}: {why}")
            });
        let (relay, mut url) = if admin.relay {
            let relay = Proxy::start(admin.upstream.clone()).await;
            let url = url_at(&admin.url, relay.addr);
            (Some(relay), url)
        } else {
            (None, admin.url.clone())
        };
        url.set_path(&format!("/{name}"));
        Some(Db {
            name,
            url: url.to_string(),
            upstream: admin.upstream,
            admin: admin.config,
            _relay: relay,
            _hold: hold,
        })
    }

    /// ticketd's URL for this database through `addr` (a proxy).
    fn url_via(&self, addr: SocketAddr) -> String {
        url_at(&url::Url::parse(&self.url).unwrap(), addr).to_string()
    }

    /// Asserts `text` (a log, a command's output) holds no password.
    fn assert_no_password(&self, text: &str, what: &str) {
        if let Some(password) = self.admin.get_password().filter(|p| !p.is_empty()) {
            let password = String::from_utf8_lossy(password);
            assert!(
                !text.contains(&*password),
                "{what} shows the database password"
            );
        }
    }

    /// A connection to this database itself, for looking at its tables.
    async fn connect(&self) -> tokio_postgres::Client {
        let mut config = self.admin.clone();
        config.dbname(&self.name);
        connect(&config).await
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Its own thread and runtime: this may run inside the test's.
        let dropping = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let Ok(Ok((client, connection))) = tokio::time::timeout(
                    Duration::from_secs(5),
                    admin.connect(tokio_postgres::NoTls),
                )
                .await
                else {
                    return;
                };
                tokio::spawn(connection);
                let forced = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                if client.batch_execute(&forced).await.is_err() {
                    // Before PostgreSQL 13.
                    let _ = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
                        .await;
                }
            });
        });
        let _ = dropping.join();
    }
}

fn url_at(url: &url::Url, addr: SocketAddr) -> url::Url {
    let mut url = url.clone();
    url.set_host(Some(&addr.ip().to_string())).unwrap();
    url.set_port(Some(addr.port())).unwrap();
    url
}

async fn connect(config: &tokio_postgres::Config) -> tokio_postgres::Client {
    let (client, connection) = tokio::time::timeout(WAIT, config.connect(tokio_postgres::NoTls))
        .await
        .expect("PostgreSQL answers within the wait")
        .unwrap_or_else(|e| {
            let why = e
                .as_db_error()
                .map_or(e.to_string(), |d| d.message().to_string());
            panic!("cannot connect to the test PostgreSQL server: {why}")
        });
    tokio::spawn(connection);
    client
}

// A TCP proxy that can cut the database away.

struct Proxy {
    addr: SocketAddr,
    links: Arc<Links>,
    accept: AbortHandle,
}

#[derive(Default)]
struct Links {
    /// While cut, every connection is closed at once.
    cut: AtomicBool,
    open: Mutex<Vec<AbortHandle>>,
}

impl Proxy {
    async fn start(upstream: Upstream) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let links = Arc::new(Links::default());
        let shared = links.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                // Under the lock: a cut either sees this link or refuses it.
                let mut open = shared.open.lock().unwrap();
                if shared.cut.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let upstream = upstream.clone();
                let link = tokio::spawn(async move {
                    let mut client = client;
                    match upstream {
                        Upstream::Tcp(addr) => {
                            if let Ok(mut server) = TcpStream::connect(addr).await {
                                let _ =
                                    tokio::io::copy_bidirectional(&mut client, &mut server).await;
                            }
                        }
                        Upstream::Unix(path) => {
                            if let Ok(mut server) = UnixStream::connect(path).await {
                                let _ =
                                    tokio::io::copy_bidirectional(&mut client, &mut server).await;
                            }
                        }
                    }
                    let _ = client.shutdown().await;
                });
                open.retain(|h| !h.is_finished());
                open.push(link.abort_handle());
            }
        });
        Proxy {
            addr,
            links,
            accept: accept.abort_handle(),
        }
    }

    /// Closes every connection and refuses new ones.
    fn cut(&self) {
        let mut open = self.links.open.lock().unwrap();
        self.links.cut.store(true, Ordering::SeqCst);
        for link in open.drain(..) {
            link.abort();
        }
    }

    /// Accepts connections again.
    fn restore(&self) {
        let _open = self.links.open.lock().unwrap();
        self.links.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

// The servers.

/// An instance on `url` with an admin (`root`) and every limit out of the
/// way.
async fn instance(url: &str) -> TestApp {
    let mut args = unlimited(&[]);
    args.extend(["--database-url".to_string(), url.to_string()]);
    spawn_with(Options {
        args,
        envs: admin_env(),
    })
    .await
}

fn admin_env() -> Vec<(String, String)> {
    vec![
        ("TICKETD_ADMIN_USER".into(), "root".into()),
        ("TICKETD_ADMIN_PASSWORD_HASH".into(), hash().into()),
    ]
}

/// An admin request over HTTPS that must succeed; its answer.
async fn admin_call(app: &TestApp, token: &str, method: &str, path: &str, body: Value) -> Value {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let resp = app
        .http()
        .request(method.clone(), format!("{}{path}", app.base_url()))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    assert!(status.is_success(), "{method} {path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Sets a ticket's priority as staff (`token`) on `app`.
async fn set_priority(app: &TestApp, token: &str, id: &str, priority: &str) {
    let path = format!("/api/tickets/{id}/priority");
    admin_call(app, token, "PUT", &path, json!({ "priority": priority })).await;
}

/// Every ticket `/api/tickets` lists, page by page: their ids.
async fn listed_ids(app: &TestApp) -> BTreeSet<String> {
    listed(app).await.into_keys().collect()
}

/// Every ticket `/api/tickets` lists, page by page, by id.
async fn listed(app: &TestApp) -> BTreeMap<String, Value> {
    let http = app.http();
    let mut ids = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("limit", "1000".to_string())];
        if let Some(cursor) = &cursor {
            query.push(("cursor", cursor.clone()));
        }
        let resp = http
            .get(format!("{}/api/tickets", app.base_url()))
            .query(&query)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let page: Value = resp.json().await.unwrap();
        for ticket in page["tickets"].as_array().expect("a page of tickets") {
            assert!(
                ids.insert(id_of(ticket), ticket.clone()).is_none(),
                "listed twice: {ticket}"
            );
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return ids,
        }
    }
}

/// `/readyz` on the metrics listener: its status.
async fn readyz(app: &TestApp, http: &reqwest::Client) -> u16 {
    let url = format!("http://{}/readyz", app.metrics_addr());
    match http.get(url).send().await {
        Ok(resp) => resp.status().as_u16(),
        Err(e) => panic!("/readyz does not answer: {e}"),
    }
}

/// Polls `/readyz` on every app until each has answered `status`.
async fn wait_ready(apps: &[&TestApp], status: u16, within: Duration) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let deadline = Instant::now() + within;
    let mut seen = vec![false; apps.len()];
    loop {
        for (n, app) in apps.iter().enumerate() {
            if !seen[n] && readyz(app, &http).await == status {
                seen[n] = true;
            }
        }
        if seen.iter().all(|s| *s) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz never answered {status} on instances {seen:?} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

// The event protocol.

fn is_change(frame: &Value) -> bool {
    CHANGES.contains(&frame["event"].as_str().unwrap_or_default())
}

/// A first sync: `initial_tickets`, then `sync_state`. Returns the tickets
/// and `(epoch, v)`.
async fn first_sync(ws: &mut WsClient) -> (Vec<Value>, (String, u64)) {
    let first = ws.next_frame().await.expect("initial_tickets");
    assert_eq!(first["event"], "initial_tickets", "{first}");
    let tickets = first["data"].as_array().expect("an array").clone();
    let second = ws.next_frame().await.expect("sync_state");
    assert_eq!(second["event"], "sync_state", "{second}");
    (tickets, position(&second["data"]))
}

fn position(state: &Value) -> (String, u64) {
    let epoch = state["epoch"]
        .as_str()
        .unwrap_or_else(|| panic!("sync_state without epoch: {state}"));
    let at = state["v"]
        .as_u64()
        .unwrap_or_else(|| panic!("sync_state without v: {state}"));
    (epoch.to_string(), at)
}

/// A `/ws` client past its first sync, and where it is.
async fn synced(app: &TestApp) -> (WsClient, (String, u64)) {
    let mut ws = app.connect_ws().await;
    let (_, at) = first_sync(&mut ws).await;
    (ws, at)
}

/// The next change frame, whole; other frames (which must carry no `v`)
/// are skipped.
async fn next_change(ws: &mut WsClient) -> Value {
    loop {
        let frame = ws
            .next_frame()
            .await
            .expect("the connection stays open for the next change");
        if is_change(&frame) {
            v(&frame);
            return frame;
        }
        assert!(frame.get("v").is_none(), "only changes carry v: {frame}");
    }
}

/// The next change frame before `deadline`, however long the quiet
/// between frames (other frames, which must carry no `v`, are skipped).
async fn next_change_by(ws: &mut WsClient, deadline: tokio::time::Instant, what: &str) -> Value {
    loop {
        let message = tokio::time::timeout_at(deadline, ws.stream.next())
            .await
            .unwrap_or_else(|_| panic!("{what}: not before the deadline"))
            .unwrap_or_else(|| panic!("{what}: the connection closed"));
        match message {
            Ok(Message::Text(text)) => {
                let frame: Value = serde_json::from_str(&text).unwrap();
                if is_change(&frame) {
                    v(&frame);
                    return frame;
                }
                assert!(frame.get("v").is_none(), "only changes carry v: {frame}");
            }
            Ok(Message::Close(_)) | Err(_) => panic!("{what}: the connection closed"),
            Ok(_) => {}
        }
    }
}

/// Change frames up to and including the `new_ticket` of a ticket whose
/// description is `description`, within `within`.
async fn changes_until(ws: &mut WsClient, description: &str, within: Duration) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + within;
    let what = format!("the new_ticket of {description:?} within {within:?}");
    let mut frames = Vec::new();
    loop {
        let frame = next_change_by(ws, deadline, &what).await;
        let done = frame["event"] == "new_ticket"
            && frame["data"]["request_details"]["description"] == description;
        frames.push(frame);
        if done {
            return frames;
        }
    }
}

/// What a resuming client hears up to `sync_state`: the replayed change
/// frames (stats_update skipped; anything else fails) and the state.
async fn replayed(ws: &mut WsClient) -> (Vec<Value>, Value) {
    let mut frames = Vec::new();
    loop {
        let frame = ws.next_frame().await.expect("open until sync_state");
        match frame["event"].as_str().unwrap_or_default() {
            "stats_update" => continue,
            "sync_state" => return (frames, frame["data"].clone()),
            _ if is_change(&frame) => frames.push(frame),
            other => panic!("{other} before sync_state on a resume: {frame}"),
        }
    }
}

/// Asserts the frames' versions are `from`, `from + 1`, ...
fn assert_consecutive(frames: &[Value], from: u64, who: &str) {
    let versions: Vec<u64> = frames.iter().map(v).collect();
    let expected: Vec<u64> = (from..from + frames.len() as u64).collect();
    if versions != expected {
        let first_bad = versions
            .iter()
            .zip(&expected)
            .position(|(a, b)| a != b)
            .unwrap_or(versions.len().min(expected.len()));
        let lo = first_bad.saturating_sub(3);
        panic!(
            "{who}: versions not consecutive from {from}: at index {first_bad} of {}, saw {:?}, expected {:?}",
            versions.len(),
            &versions[lo..(first_bad + 3).min(versions.len())],
            &expected[lo..(first_bad + 3).min(expected.len())],
        );
    }
}

/// The keys of two objects whose values differ, with both values.
fn differing_keys(a: &Value, b: &Value) -> Vec<String> {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return vec![format!("{a} vs {b}")];
    };
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|key| a.get(*key) != b.get(*key))
        .map(|key| {
            let value =
                |o: &serde_json::Map<String, Value>| o.get(key).cloned().unwrap_or_default();
            format!("{key}: {} vs {}", value(a), value(b))
        })
        .collect()
}

/// Asserts two change sequences are the same, naming the first frame that
/// differs and the keys of its data that differ.
fn assert_same_frames(mine: &[Value], theirs: &[Value], who: &str) {
    for (n, (a, b)) in mine.iter().zip(theirs).enumerate() {
        if a != b {
            panic!(
                "{who}: frame {n} differs ({} v{} vs {} v{}); data: {:#?}",
                a["event"],
                a["v"],
                b["event"],
                b["v"],
                differing_keys(&a["data"], &b["data"])
            );
        }
    }
    assert_eq!(mine.len(), theirs.len(), "{who}: as many changes");
}

/// The ids of the `new_ticket` frames.
fn new_ids(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .filter(|f| f["event"] == "new_ticket")
        .map(|f| id_of(&f["data"]))
        .collect()
}

// Socket.IO.

/// A `rust_socketio` client and what it has heard, as `(event, args)`.
struct Sio {
    client: Client,
    rx: Heard,
}

impl Sio {
    /// Connects and reads up to `sync_state`, which it returns.
    async fn connect(app: &TestApp) -> (Sio, Value) {
        let (builder, rx) = socketio_builder(app);
        let client = builder.connect().await.expect("rust_socketio connects");
        let mut sio = Sio { client, rx };
        let (_, args) = sio.until("sync_state", |e, _| e == "sync_state").await;
        (sio, args[0].clone())
    }

    /// The first event `done` accepts (others are skipped).
    async fn until(
        &mut self,
        what: &str,
        done: impl Fn(&str, &[Value]) -> bool,
    ) -> (String, Vec<Value>) {
        let deadline = tokio::time::Instant::now() + LONG;
        loop {
            let (event, args) = tokio::time::timeout_at(deadline, self.rx.recv())
                .await
                .unwrap_or_else(|_| panic!("no {what} over Socket.IO within {LONG:?}"))
                .expect("the Socket.IO client stays open");
            if done(&event, &args) {
                return (event, args);
            }
        }
    }

    /// The next change event, as a `/ws` frame (`{"event","data","v"}`).
    async fn next_change(&mut self) -> Value {
        let (event, args) = self.until("a change", |e, _| CHANGES.contains(&e)).await;
        assert_eq!(args.len(), 2, "{event}: data and {{\"v\": N}}: {args:?}");
        let keys: Vec<&String> = args[1].as_object().expect("an object").keys().collect();
        assert_eq!(keys, ["v"], "{event}: {args:?}");
        json!({"event": event, "data": args[0], "v": args[1]["v"]})
    }

    async fn close(self) {
        let _ = self.client.disconnect().await;
    }
}

// 1. One change, every client of every instance.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ticket_on_one_instance_reaches_websocket_and_socketio_clients_of_the_others() {
    let Some(db) =
        Db::create("a_ticket_on_one_instance_reaches_websocket_and_socketio_clients_of_the_others")
            .await
    else {
        return;
    };
    let a = instance(&db.url).await;
    let b = instance(&db.url).await;
    let c = instance(&db.url).await;
    let (mut on_a, at_a) = synced(&a).await;
    let (mut on_b, at_b) = synced(&b).await;
    let (mut on_c, state_c) = Sio::connect(&c).await;
    assert_eq!(
        at_a, at_b,
        "one stream: the same epoch and version on A and B"
    );
    assert_eq!(position(&state_c), at_a, "and on C over Socket.IO");

    // Submitted on A: A's client, B's and C's hear it with one version.
    let description = unique("Badge reader at the loading dock is dead ");
    let ticket = a.submit_http(&description).await;
    let id = id_of(&ticket);
    let heard_a = next_change(&mut on_a).await;
    assert_eq!(heard_a["event"], "new_ticket", "{heard_a}");
    assert_eq!(heard_a["data"]["request_id"], id.as_str(), "{heard_a}");
    assert_eq!(v(&heard_a), at_a.1 + 1, "the next version: {heard_a}");
    let heard_b = next_change(&mut on_b).await;
    assert_same_frames(
        &[heard_b],
        std::slice::from_ref(&heard_a),
        "B's client hears A's change as A's does",
    );
    let heard_c = on_c.next_change().await;
    assert_eq!(heard_c["event"], "new_ticket", "{heard_c}");
    assert_eq!(heard_c["data"]["request_id"], id.as_str(), "{heard_c}");
    assert_same_frames(
        &[heard_c],
        std::slice::from_ref(&heard_a),
        "C's Socket.IO client hears the same",
    );

    // An admin action on B, with B's session: A's client hears it next.
    let token = b.login_token("root", PASSWORD).await;
    set_priority(&b, &token, &id, "LOW").await;
    let updated = next_change(&mut on_a).await;
    assert_eq!(updated["event"], "ticket_updated", "{updated}");
    assert_eq!(updated["data"]["request_id"], id.as_str(), "{updated}");
    assert_eq!(v(&updated), v(&heard_a) + 1, "the next version: {updated}");
    let priority = &updated["data"]["priority"];
    assert!(
        priority
            .as_str()
            .is_some_and(|p| p.eq_ignore_ascii_case("low")),
        "the priority set on B: {updated}"
    );
    assert_same_frames(
        &[next_change(&mut on_b).await],
        std::slice::from_ref(&updated),
        "B's own client",
    );
    assert_same_frames(
        &[on_c.next_change().await],
        std::slice::from_ref(&updated),
        "C's Socket.IO client",
    );
    // Every instance serves the ticket as its clients heard it (the
    // answer adds the ticket's comments), B with an admin session too.
    for (name, app) in [("A", &a), ("B", &b), ("C", &c)] {
        let mut served = app.get_json(&format!("/api/tickets/{id}")).await;
        let comments = served.as_object_mut().unwrap().remove("comments");
        assert_eq!(comments, Some(json!([])), "{name}: {served}");
        let diff = differing_keys(&served, &updated["data"]);
        assert!(diff.is_empty(), "{name}'s /api/tickets/{id}: {diff:#?}");
    }
    let on_b_api = b.get_authed(&format!("/api/tickets/{id}"), &token).await;
    assert_eq!(on_b_api["priority"], *priority, "{on_b_api}");
    on_c.close().await;
}

// 2. The same sequence everywhere, under load.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_client_of_every_instance_sees_the_same_sequence_under_load() {
    const SUBMITTERS: usize = 4;
    const EACH: usize = 25;
    const TOTAL: usize = 2 * SUBMITTERS * EACH;
    let Some(db) =
        Db::create("every_client_of_every_instance_sees_the_same_sequence_under_load").await
    else {
        return;
    };
    let apps = [instance(&db.url).await, instance(&db.url).await];

    // Two clients on each instance, collecting every change until they have
    // seen every new ticket.
    let mut start = None;
    let mut collectors = Vec::new();
    for app in &apps {
        for _ in 0..2 {
            let (mut ws, at) = synced(app).await;
            assert_eq!(*start.get_or_insert(at.clone()), at, "one stream");
            collectors.push(tokio::spawn(async move {
                let deadline = tokio::time::Instant::now() + LONG;
                let what = "every new ticket reaching every client in time";
                let mut frames = Vec::new();
                let mut new = 0;
                while new < TOTAL {
                    let frame = next_change_by(&mut ws, deadline, what).await;
                    if frame["event"] == "new_ticket" {
                        new += 1;
                    }
                    frames.push(frame);
                }
                frames
            }));
        }
    }
    let (_, v0) = start.unwrap();

    // Four submitters on each instance, all at once.
    let mut submitters = Vec::new();
    for (n, app) in apps.iter().enumerate() {
        for s in 0..SUBMITTERS {
            let http = app.http();
            let url = format!("{}/api/tickets", app.base_url());
            submitters.push(tokio::spawn(async move {
                let mut acked = Vec::new();
                for k in 0..EACH {
                    let resp = http
                        .post(&url)
                        .json(&json!({"description": format!("load {n}/{s}/{k}: the VPN drops"), "system": "VPN", "requester": "Load"}))
                        .send()
                        .await
                        .unwrap();
                    let status = resp.status();
                    let body: Value = resp.json().await.unwrap_or(Value::Null);
                    assert_eq!(status, 201, "instance {n} submitter {s}: {body}");
                    acked.push(id_of(&body));
                }
                acked
            }));
        }
    }
    let mut acked = BTreeSet::new();
    for submitter in submitters {
        for id in submitter.await.unwrap() {
            assert!(acked.insert(id.clone()), "{id} acknowledged twice");
        }
    }
    assert_eq!(acked.len(), TOTAL);

    let mut sequences = Vec::new();
    for collector in collectors {
        sequences.push(collector.await.unwrap());
    }
    for (n, frames) in sequences.iter().enumerate() {
        assert_consecutive(frames, v0 + 1, &format!("client {n}"));
        let ids = new_ids(frames);
        let unique_ids: BTreeSet<String> = ids.iter().cloned().collect();
        assert_eq!(unique_ids.len(), ids.len(), "client {n}: a ticket twice");
        assert_eq!(
            unique_ids, acked,
            "client {n}: exactly the acknowledged tickets"
        );
    }
    for (n, frames) in sequences.iter().enumerate().skip(1) {
        assert_same_frames(frames, &sequences[0], &format!("client {n} and client 0"));
    }
    // The database agrees: one change per version, no more.
    let client = db.connect().await;
    let row = client
        .query_one(
            "SELECT version, (SELECT count(*) FROM ticketd_changes) FROM ticketd_stream",
            &[],
        )
        .await
        .unwrap();
    let (version, rows): (i64, i64) = (row.get(0), row.get(1));
    assert_eq!(version as u64, v0 + TOTAL as u64, "the counter row");
    assert_eq!(rows as u64, v0 + TOTAL as u64, "ticketd_changes");
}

// 3. SIGKILL.

/// Submits over HTTPS until the server stops answering; the acknowledged
/// ids go to `acked` (and their count to `count`). Ends with why it
/// stopped: an HTTP answer other than 201 is `Err`.
fn submit_until_gone(
    app: &TestApp,
    label: String,
    acked: Arc<Mutex<Vec<String>>>,
    count: watch::Sender<usize>,
) -> tokio::task::JoinHandle<Result<(), String>> {
    let http = app.http();
    let url = format!("{}/api/tickets", app.base_url());
    tokio::spawn(async move {
        for k in 0.. {
            let sent = http
                .post(&url)
                .json(&json!({"description": format!("{label}/{k}: the printer jams"), "system": "Printer", "requester": "Kim"}))
                .send()
                .await;
            // The server is gone (the answer may be cut short too).
            let Ok(resp) = sent else { return Ok(()) };
            let status = resp.status();
            let Ok(body) = resp.json::<Value>().await else {
                return Ok(());
            };
            if status != 201 {
                return Err(format!("{label}/{k}: {status} {body}"));
            }
            acked.lock().unwrap().push(id_of(&body));
            count.send_modify(|n| *n += 1);
        }
        Ok(())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_instance_loses_nothing_acknowledged() {
    const ROUNDS: usize = 10;
    let Some(db) = Db::create("a_killed_instance_loses_nothing_acknowledged").await else {
        return;
    };
    let a = instance(&db.url).await;
    let b = instance(&db.url).await;
    let (mut on_b, (epoch, v0)) = synced(&b).await;
    let mut heard_b: Vec<Value> = Vec::new();
    let mut all_acked = BTreeSet::new();

    for round in 0..ROUNDS {
        let mut k = instance(&db.url).await;
        let (mut on_k, (k_epoch, k_from)) = synced(&k).await;
        assert_eq!(k_epoch, epoch, "round {round}: one stream");
        let reader = tokio::spawn(async move {
            let mut frames = Vec::new();
            while let Some(frame) = on_k.try_next_frame().await {
                if is_change(&frame) {
                    frames.push(frame);
                }
            }
            frames
        });

        let acked = Arc::new(Mutex::new(Vec::new()));
        let (count, mut counted) = watch::channel(0usize);
        let mut submitters = Vec::new();
        for s in 0..4 {
            let label = format!("kill {round}/{s}");
            submitters.push(submit_until_gone(&k, label, acked.clone(), count.clone()));
        }
        drop(count);
        tokio::time::timeout(LONG, counted.wait_for(|n| *n >= 12))
            .await
            .expect("K acknowledges submissions")
            .expect("the submitters run");
        k.kill();
        for submitter in submitters {
            tokio::time::timeout(WAIT, submitter)
                .await
                .expect("submitters stop when K is gone")
                .unwrap()
                .unwrap_or_else(|e| panic!("round {round}: K refused a submission: {e}"));
        }
        let acked: Vec<String> = acked.lock().unwrap().clone();
        let heard_k = tokio::time::timeout(WAIT, reader)
            .await
            .expect("K's client notices K is gone")
            .unwrap();
        assert_consecutive(&heard_k, k_from + 1, &format!("round {round}: K's client"));
        let last_k = heard_k.last().map_or(k_from, v);

        // A change on A after K's: once B has it, B has all of K's.
        let sentinel = unique("sentinel after the kill ");
        a.submit_http(&sentinel).await;
        let frames = changes_until(&mut on_b, &sentinel, LONG).await;
        heard_b.extend(frames);
        assert_consecutive(&heard_b, v0 + 1, &format!("round {round}: B's client"));
        let sentinel_v = v(heard_b.last().unwrap());

        let heard_ids: HashSet<String> = new_ids(&heard_b).into_iter().collect();
        let listed = listed_ids(&b).await;
        for id in &acked {
            assert!(
                heard_ids.contains(id),
                "round {round}: {id}, acknowledged by K, never reached B's client"
            );
            assert!(
                listed.contains(id),
                "round {round}: {id}, acknowledged by K, is not in B's /api/tickets"
            );
        }
        // K's client heard what B's did, in the same order.
        let start = heard_b.iter().position(|f| v(f) == k_from + 1).unwrap();
        assert_same_frames(
            &heard_k,
            &heard_b[start..(start + heard_k.len()).min(heard_b.len())],
            &format!("round {round}: K's client and B's client"),
        );

        // K's client resumes on A from its last version: exactly what it
        // missed, then live.
        let mut resumed = WsClient::connect(&a, &format!("/ws?epoch={epoch}&since={last_k}")).await;
        let (replay, state) = replayed(&mut resumed).await;
        assert_eq!(state["recovered"], true, "round {round}: {state}");
        assert_eq!(state["epoch"], epoch.as_str(), "round {round}: {state}");
        assert_eq!(state["v"], sentinel_v, "round {round}: {state}");
        let missed: Vec<Value> = heard_b.iter().filter(|f| v(f) > last_k).cloned().collect();
        assert!(!missed.is_empty(), "round {round}: the sentinel at least");
        assert_same_frames(
            &replay,
            &missed,
            &format!("round {round}: the missed changes, as B heard them"),
        );
        let next = unique("live after the resume ");
        b.submit_http(&next).await;
        let live = next_change(&mut resumed).await;
        assert_eq!(
            v(&live),
            sentinel_v + 1,
            "round {round}: live again: {live}"
        );
        assert_eq!(
            live["data"]["request_details"]["description"],
            next.as_str(),
            "round {round}: {live}"
        );
        heard_b.extend(changes_until(&mut on_b, &next, LONG).await);
        all_acked.extend(acked);
    }
    assert_consecutive(&heard_b, v0 + 1, "B's client over every round");
    let listed = listed_ids(&b).await;
    assert!(
        all_acked.is_subset(&listed),
        "every acknowledged ticket on B"
    );
    assert_eq!(
        listed,
        listed_ids(&a).await,
        "A and B hold the same tickets"
    );
}

// 4. The database goes away.

/// One submission: which instance, when, and how it ended.
#[derive(Debug)]
struct Attempt {
    instance: usize,
    started: Instant,
    took: Duration,
    status: u16,
    /// The ticket id (201) or the error code.
    answer: String,
}

/// The attempts started at or after `since`, counted by instance, status
/// and answer (ids counted as "created"), with the first and last start
/// (milliseconds after `since`).
fn summary(attempts: &[Attempt], since: Instant) -> Vec<String> {
    let mut counts: std::collections::BTreeMap<(usize, u16, String), (usize, u128, u128)> =
        Default::default();
    for a in attempts.iter().filter(|a| a.started >= since) {
        let answer = if a.status == 201 {
            "created".to_string()
        } else {
            a.answer.clone()
        };
        let at = (a.started - since).as_millis();
        let entry = counts
            .entry((a.instance, a.status, answer))
            .or_insert((0, at, at));
        entry.0 += 1;
        entry.1 = entry.1.min(at);
        entry.2 = entry.2.max(at);
    }
    counts
        .into_iter()
        .map(|((n, status, answer), (count, first, last))| {
            format!("instance {n}: {count} x {status} {answer} (from +{first} ms to +{last} ms)")
        })
        .collect()
}

#[derive(Clone, Copy, Default, Debug)]
struct Tally {
    acked: [usize; 2],
    refused: [usize; 2],
}

/// How the database goes away.
enum Outage {
    /// Every connection through a relay is cut, and new ones refused.
    Cut(Proxy),
    /// The server itself stops (`pg_ctlcluster ... stop -m fast`), then
    /// starts again.
    Restart(Vec<String>),
}

impl Outage {
    /// Takes the database away; returns once it is.
    async fn begin(&self) {
        match self {
            Outage::Cut(proxy) => proxy.cut(),
            Outage::Restart(ctl) => cluster(ctl, &["stop", "-m", "fast"]).await,
        }
    }

    /// Brings it back; returns once it accepts connections.
    async fn end(&self) {
        match self {
            Outage::Cut(proxy) => proxy.restore(),
            Outage::Restart(ctl) => cluster(ctl, &["start"]).await,
        }
    }
}

/// How to stop and start the test server: `TICKETD_TEST_DATABASE_CTL`
/// (e.g. `pg_ctlcluster 15 main`), else the cluster `pg_virtualenv` made
/// (`pg_ctlcluster $PGVERSION regress`). None: not known (the test skips,
/// or fails under CI).
fn cluster_ctl() -> Option<Vec<String>> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let Some(ctl) = env("TICKETD_TEST_DATABASE_CTL") {
        return Some(ctl.split_whitespace().map(str::to_string).collect());
    }
    let version = env("PGVERSION")?;
    Some(vec!["pg_ctlcluster".into(), version, "regress".into()])
}

async fn cluster(ctl: &[String], action: &[&str]) {
    let output = tokio::process::Command::new(&ctl[0])
        .args(&ctl[1..])
        .args(action)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{ctl:?} {action:?}: {e}"));
    assert!(
        output.status.success(),
        "{ctl:?} {action:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_database_going_away_refuses_changes_and_loses_nothing() {
    let test = "the_database_going_away_refuses_changes_and_loses_nothing";
    let Some(db) = Db::create(test).await else {
        return;
    };
    let proxy = Proxy::start(db.upstream.clone()).await;
    let url = db.url_via(proxy.addr);
    outage(db, url, Outage::Cut(proxy)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_restart_refuses_changes_and_loses_nothing() {
    let test = "a_database_restart_refuses_changes_and_loses_nothing";
    let Some(ctl) = cluster_ctl() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: cannot restart the test server: run under pg_virtualenv or set \
             TICKETD_TEST_DATABASE_CTL (e.g. \"pg_ctlcluster 15 main\")"
        );
        eprintln!("{test}: skipped: set TICKETD_TEST_DATABASE_CTL to restart the server");
        return;
    };
    // Every other test of this binary waits: the whole server goes down.
    let Some(db) = Db::create_exclusive(test).await else {
        return;
    };
    let url = db.url.clone();
    outage(db, url, Outage::Restart(ctl)).await;
}

/// Two instances on `url` under steady submissions while the database goes
/// away for about one and a half seconds and comes back: every answer is
/// 201 or 503 `storage_unavailable` within 3 s, both go unready and ready
/// again, nothing acknowledged is lost, and both end at one version.
async fn outage(db: Db, url: String, outage: Outage) {
    let apps = [instance(&url).await, instance(&url).await];
    let both = [&apps[0], &apps[1]];
    wait_ready(&both, 200, WAIT).await;
    let sentinel = unique("sentinel after the outage ");

    // A client on each instance, reading until the sentinel.
    let mut readers = Vec::new();
    let mut v0 = None;
    for app in &apps {
        let (mut ws, at) = synced(app).await;
        assert_eq!(*v0.get_or_insert(at.clone()), at, "one stream");
        let sentinel = sentinel.clone();
        readers.push(tokio::spawn(async move {
            changes_until(&mut ws, &sentinel, Duration::from_secs(60)).await
        }));
    }
    let (epoch, v0) = v0.unwrap();

    // Two submitters on each instance, one submission every 20 ms each.
    let stop = Arc::new(AtomicBool::new(false));
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let (tally, mut tallied) = watch::channel(Tally::default());
    let mut submitters = Vec::new();
    for (n, app) in apps.iter().enumerate() {
        for s in 0..2 {
            let (http, url) = (app.http(), format!("{}/api/tickets", app.base_url()));
            let (stop, attempts, tally) = (stop.clone(), attempts.clone(), tally.clone());
            submitters.push(tokio::spawn(async move {
                let mut pace = tokio::time::interval(Duration::from_millis(20));
                for k in 0.. {
                    pace.tick().await;
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let started = Instant::now();
                    let resp = http
                        .post(&url)
                        .json(&json!({"description": format!("outage {n}/{s}/{k}: disk full"), "system": "Storage", "requester": "Lee"}))
                        .send()
                        .await;
                    let (status, answer) = match resp {
                        Ok(resp) => {
                            let status = resp.status().as_u16();
                            let body: Value = resp.json().await.unwrap_or(Value::Null);
                            let answer = match status {
                                201 => id_of(&body),
                                _ => body["error"]["code"].as_str().unwrap_or("").to_string(),
                            };
                            (status, answer)
                        }
                        Err(e) => (0, format!("no answer: {e}")),
                    };
                    let took = started.elapsed();
                    tally.send_modify(|t| match status {
                        201 => t.acked[n] += 1,
                        _ => t.refused[n] += 1,
                    });
                    let mut attempts = attempts.lock().unwrap_or_else(|p| p.into_inner());
                    attempts.push(Attempt {
                        instance: n,
                        started,
                        took,
                        status,
                        answer,
                    });
                }
            }));
        }
    }
    drop(tally);
    let accepting =
        tokio::time::timeout(WAIT, tallied.wait_for(|t| t.acked.iter().all(|&n| n >= 5)))
            .await
            .is_ok_and(|r| r.is_ok());
    assert!(
        accepting,
        "both instances accept submissions within {WAIT:?}: {:?}",
        *tallied.borrow()
    );

    // Away for about one and a half seconds.
    outage.begin().await;
    let cut_at = Instant::now();
    wait_ready(&both, 503, Duration::from_secs(5)).await;
    tokio::time::timeout(
        Duration::from_secs(5),
        tallied.wait_for(|t| t.refused.iter().all(|&n| n >= 1)),
    )
    .await
    .unwrap_or_else(|_| panic!("both instances refuse submissions while the database is away"))
    .unwrap();
    tokio::time::sleep_until((cut_at + Duration::from_millis(1500)).into()).await;
    let restored_at = Instant::now();
    outage.end().await;
    // What went on, for a failure: the answers since the cut and what the
    // instances logged about the database.
    let explain = |attempts: &[Attempt]| {
        let logs: Vec<String> = apps
            .iter()
            .enumerate()
            .map(|(n, app)| {
                let log = app.log_text();
                db.assert_no_password(&log, &format!("instance {n}'s log"));
                let lines: Vec<&str> = log.lines().filter(|l| l.contains("database")).collect();
                let recent = &lines[lines.len().saturating_sub(12)..];
                format!("instance {n} logged:\n{}", recent.join("\n"))
            })
            .collect();
        format!(
            "restored {} ms after the cut; answers since the cut: {:#?}\n{}",
            (restored_at - cut_at).as_millis(),
            summary(attempts, cut_at),
            logs.join("\n")
        )
    };
    let when = |attempt: &Attempt| {
        format!(
            "instance {} started {} ms after the cut (restored at {} ms), took {} ms: {} {}",
            attempt.instance,
            attempt
                .started
                .saturating_duration_since(cut_at)
                .as_millis(),
            (restored_at - cut_at).as_millis(),
            attempt.took.as_millis(),
            attempt.status,
            attempt.answer
        )
    };

    // Back: ready again, and accepting changes.
    wait_ready(&both, 200, Duration::from_secs(15)).await;
    let before = *tallied.borrow();
    tokio::time::timeout(
        WAIT,
        tallied.wait_for(|t| (0..2).all(|n| t.acked[n] >= before.acked[n] + 5)),
    )
    .await
    .unwrap_or_else(|_| {
        panic!(
            "ready again, but both instances do not accept submissions again within {WAIT:?} \
             ({before:?} when ready); {}",
            explain(&attempts.lock().unwrap())
        )
    })
    .unwrap();
    stop.store(true, Ordering::SeqCst);
    for submitter in submitters {
        submitter.await.unwrap();
    }

    let attempts = std::mem::take(&mut *attempts.lock().unwrap());
    let mut acked = BTreeSet::new();
    let mut refused_in_cut = [0; 2];
    for attempt in &attempts {
        match attempt.status {
            201 => {
                assert!(acked.insert(attempt.answer.clone()), "{}", when(attempt));
            }
            503 => {
                assert_eq!(attempt.answer, "storage_unavailable", "{}", when(attempt));
                assert!(
                    attempt.took < Duration::from_secs(3),
                    "a refusal within 3 s: {}; {}",
                    when(attempt),
                    explain(&attempts)
                );
            }
            _ => panic!(
                "an answer neither 201 nor 503 storage_unavailable: {}",
                when(attempt)
            ),
        }
        // Made and answered while the database was away (after the cut has
        // surely reached every connection).
        let during = attempt.started >= cut_at + Duration::from_millis(100)
            && attempt.started + attempt.took <= restored_at;
        if during {
            assert_eq!(
                attempt.status,
                503,
                "accepted while cut away: {}",
                when(attempt)
            );
            refused_in_cut[attempt.instance] += 1;
        }
    }
    assert!(
        refused_in_cut.iter().all(|&n| n > 0),
        "submissions during the cut on each instance: {refused_in_cut:?}"
    );

    // The sentinel on the first instance: both clients hear the same
    // consecutive sequence up to it.
    apps[0].submit_http(&sentinel).await;
    let mut heard = Vec::new();
    for reader in readers {
        heard.push(reader.await.unwrap());
    }
    for (n, frames) in heard.iter().enumerate() {
        assert_consecutive(frames, v0 + 1, &format!("instance {n}'s client"));
        let ids: HashSet<String> = new_ids(frames).into_iter().collect();
        let lost: Vec<&String> = acked.iter().filter(|id| !ids.contains(*id)).collect();
        assert!(
            lost.is_empty(),
            "instance {n}'s client never heard acknowledged tickets {lost:?}"
        );
    }
    assert_same_frames(&heard[1], &heard[0], "both clients heard the same changes");
    let last = v(heard[0].last().unwrap());
    for (n, app) in apps.iter().enumerate() {
        let (_, at) = synced(app).await;
        assert_eq!(at, (epoch.clone(), last), "instance {n}'s version");
        let listed = listed_ids(app).await;
        let lost: Vec<&String> = acked.difference(&listed).collect();
        assert!(lost.is_empty(), "instance {n} lost {lost:?}");
    }
    assert_eq!(listed_ids(&apps[0]).await, listed_ids(&apps[1]).await);
    for (n, app) in apps.iter().enumerate() {
        db.assert_no_password(&app.log_text(), &format!("instance {n}'s log"));
    }
}

// 5. From the journal to PostgreSQL and back.

/// Runs `ticketd store ARGS` with `input` on standard input; its success,
/// standard output and standard error (checked first to show no password).
async fn store_command(db: &Db, args: &[&str], input: &str) -> (bool, String, String) {
    let mut child = tokio::process::Command::new(binary())
        .arg("store")
        .args(args)
        .env_remove("TICKETD_DATABASE_URL")
        .env_remove("TICKETD_DATA_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    let out = tokio::time::timeout(LONG, child.wait_with_output())
        .await
        .expect("ticketd store finishes")
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    db.assert_no_password(&stdout, "ticketd store's output");
    db.assert_no_password(&stderr, "ticketd store's errors");
    (out.status.success(), stdout, stderr)
}

/// The dump's lines, the header without its `exported_at`.
fn comparable(dump: &str) -> Vec<String> {
    let mut lines = dump.lines();
    let mut header: Value = serde_json::from_str(lines.next().expect("a header")).unwrap();
    assert!(
        header
            .as_object_mut()
            .unwrap()
            .remove("exported_at")
            .is_some(),
        "{header}"
    );
    std::iter::once(header.to_string())
        .chain(lines.map(str::to_string))
        .collect()
}

/// Asserts two dumps hold the same JSON, line by line (the header apart
/// from `exported_at`).
fn assert_same_content(mine: &str, theirs: &str, what: &str) {
    let (mine, theirs) = (comparable(mine), comparable(theirs));
    assert_eq!(mine.len(), theirs.len(), "{what}: as many lines");
    for (n, (a, b)) in mine.iter().zip(&theirs).enumerate() {
        let (a, b): (Value, Value) = (
            serde_json::from_str(a).unwrap(),
            serde_json::from_str(b).unwrap(),
        );
        assert_eq!(a, b, "{what}: line {} holds other JSON", n + 1);
    }
}

/// Asserts two dumps are the same bytes (the header apart from
/// `exported_at`), showing where they first differ.
fn assert_identical(mine: &str, theirs: &str, what: &str) {
    let (mine, theirs) = (comparable(mine), comparable(theirs));
    for (n, (a, b)) in mine.iter().zip(&theirs).enumerate() {
        if a != b {
            let at = a
                .bytes()
                .zip(b.bytes())
                .position(|(x, y)| x != y)
                .unwrap_or(a.len().min(b.len()));
            let around = |s: &str| {
                let from = s.floor_char_boundary(at.saturating_sub(40));
                let to = s.floor_char_boundary((at + 60).min(s.len()));
                s[from..to].to_string()
            };
            panic!(
                "{what}: line {} differs at byte {at}:\n  {}\n  {}",
                n + 1,
                around(a),
                around(b)
            );
        }
    }
    assert_eq!(mine.len(), theirs.len(), "{what}: as many lines");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_moves_from_the_journal_to_postgres_and_back_unchanged() {
    let Some(db) =
        Db::create("a_store_moves_from_the_journal_to_postgres_and_back_unchanged").await
    else {
        return;
    };
    // A journal store with a few tickets: two resolved, one commented.
    let journal = spawn_with(Options {
        args: unlimited(&[]),
        envs: admin_env(),
    })
    .await;
    let token = journal.login_token("root", PASSWORD).await;
    let mut ids = Vec::new();
    for what in [
        "Laptop will not boot after the update",
        "The printer on floor 3 jams on every duplex job",
        "Outlook cannot send email",
        "VPN drops every few minutes",
    ] {
        ids.push(id_of(&journal.submit_http(&unique(what)).await));
    }
    for id in &ids[1..3] {
        admin_call(
            &journal,
            &token,
            "POST",
            &format!("/api/tickets/{id}/resolve"),
            json!({}),
        )
        .await;
    }
    admin_call(
        &journal,
        &token,
        "POST",
        &format!("/api/tickets/{}/comments", ids[0]),
        json!({"body": "Please hold the power button for ten seconds"}),
    )
    .await;
    let mut before = Vec::new();
    for id in &ids {
        before.push(
            journal
                .get_authed(&format!("/api/tickets/{id}"), &token)
                .await,
        );
    }
    assert_eq!(before[0]["comments"].as_array().map(Vec::len), Some(1));
    let (_, journal_at) = synced(&journal).await;

    let data_dir = journal.data_dir().display().to_string();
    let (ok, first, said) = store_command(&db, &["export", "--data-dir", &data_dir], "").await;
    assert!(ok, "export --data-dir: {said}");
    let header: Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    assert_eq!(header["tickets"], 4, "{header}");
    assert_eq!(header["epoch"], journal_at.0.as_str(), "{header}");
    assert_eq!(header["version"], journal_at.1, "{header}");

    let (ok, _, said) = store_command(&db, &["import", "--database-url", &db.url], &first).await;
    assert!(ok, "import --database-url: {said}");
    assert!(said.contains("imported 4 tickets"), "{said}");
    // Only into an empty database.
    let (ok, _, said) = store_command(&db, &["import", "--database-url", &db.url], &first).await;
    assert!(!ok, "a second import into the same database is refused");
    assert!(said.contains("already holds a store"), "{said}");

    let (ok, second, said) = store_command(&db, &["export", "--database-url", &db.url], "").await;
    assert!(ok, "export --database-url: {said}");
    assert_same_content(&first, &second, "journal -> PostgreSQL -> dump");

    // And back into a journal directory.
    let back = tempfile::tempdir().unwrap();
    let back_dir = back.path().join("data").display().to_string();
    let (ok, _, said) = store_command(&db, &["import", "--data-dir", &back_dir], &second).await;
    assert!(ok, "import --data-dir: {said}");
    let (ok, third, said) = store_command(&db, &["export", "--data-dir", &back_dir], "").await;
    assert!(ok, "export --data-dir: {said}");
    assert_same_content(&first, &third, "and back to a journal");

    // An instance on the database serves those tickets, at the same place
    // in the same stream.
    let served = instance(&db.url).await;
    let (_, served_at) = synced(&served).await;
    assert_eq!(
        served_at, journal_at,
        "clients resume against the moved store"
    );
    let token = served.login_token("root", PASSWORD).await;
    for (id, old) in ids.iter().zip(&before) {
        let new = served
            .get_authed(&format!("/api/tickets/{id}"), &token)
            .await;
        assert_eq!(&new, old, "ticket {id} moved unchanged");
    }
    assert_eq!(
        listed_ids(&served).await,
        ids.iter().cloned().collect::<BTreeSet<_>>()
    );

    // The dumps are the same bytes, not only the same JSON.
    assert_identical(&first, &second, "journal -> PostgreSQL -> dump");
    assert_identical(&first, &third, "and back to a journal");
}

/// `db.url` with `sslmode` set to `mode` (other parameters kept).
fn with_sslmode(db: &Db, mode: &str) -> String {
    let mut url = url::Url::parse(&db.url).unwrap();
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "sslmode")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.set_query(None);
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in kept {
            query.append_pair(&k, &v);
        }
        query.append_pair("sslmode", mode);
    }
    url.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_to_the_database_is_always_verified_and_a_bad_url_is_a_clear_error() {
    let Some(db) = Db::create("tls").await else {
        return;
    };
    let ssl: String = db
        .connect()
        .await
        .query_one("SHOW ssl", &[])
        .await
        .unwrap()
        .get(0);
    let dir = tempfile::tempdir().unwrap();
    // The test server's certificate (Debian's self-signed snakeoil, or none)
    // is trusted by nobody: `require` must refuse it, not just encrypt.
    let refused = start_expecting_failure(
        dir.path(),
        &["--database-url".into(), with_sslmode(&db, "require")],
        &[],
    );
    db.assert_no_password(&refused, "the refusal");
    if ssl == "on" {
        assert!(
            refused.contains("invalid peer certificate"),
            "an unverifiable server certificate is the reason: {refused}"
        );
    } else {
        assert!(
            refused.to_lowercase().contains("tls"),
            "a server without TLS is refused under require: {refused}"
        );
    }
    let refused = start_expecting_failure(
        dir.path(),
        &[
            "--database-url".into(),
            with_sslmode(&db, "verify-everything"),
        ],
        &[],
    );
    assert!(
        refused.contains("sslmode=\"verify-everything\"") && refused.contains("verify-full"),
        "names the parameter and what it accepts: {refused}"
    );
    db.assert_no_password(&refused, "the refusal");
    // A root file with no certificate in it is named.
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let url = format!(
        "{}&sslrootcert={}",
        with_sslmode(&db, "verify-full"),
        empty.display()
    );
    let refused = start_expecting_failure(dir.path(), &["--database-url".into(), url], &[]);
    assert!(
        refused.contains("no certificate in it"),
        "names the empty root file: {refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idempotency_key_makes_one_ticket_across_instances() {
    let Some(db) = Db::create("an_idempotency_key_makes_one_ticket_across_instances").await else {
        return;
    };
    let a = instance(&db.url).await;
    let b = instance(&db.url).await;
    // The same retried submission reaches both instances at once, several
    // times over: one ticket, and every answer names it.
    for round in 0..5 {
        let body = json!({
            "description": unique("Label printer in packing prints blanks "),
            "system": "Printers",
            "requester": "Ana",
            "idempotency_key": format!("retry-{round}-{}", uuid::Uuid::new_v4()),
        });
        let post = |app: &TestApp| {
            let request = app
                .http()
                .post(format!("{}/api/tickets", app.base_url()))
                .json(&body);
            async move {
                let resp = request.send().await.unwrap();
                let status = resp.status().as_u16();
                (status, resp.json::<Value>().await.unwrap())
            }
        };
        let ((sa, ja), (sb, jb), (sc, jc)) = tokio::join!(post(&a), post(&b), post(&a));
        let mut statuses = [sa, sb, sc];
        statuses.sort();
        assert_eq!(statuses, [200, 200, 201], "one created, two replayed");
        assert_eq!(ja["request_id"], jb["request_id"]);
        assert_eq!(ja["request_id"], jc["request_id"]);
    }
    let client = db.connect().await;
    let rows: i64 = client
        .query_one("SELECT count(*) FROM ticketd_tickets", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 5, "five tickets for five keys");
    assert_eq!(listed_ids(&a).await, listed_ids(&b).await);
}

#[test]
fn database_settings_out_of_range_are_refused_naming_the_flag() {
    // No database needed: the flags are checked before anything connects.
    let dir = tempfile::tempdir().unwrap();
    for (flag, value) in [
        ("--database-timeout-ms", "49"),
        ("--database-timeout-ms", "60001"),
        ("--database-pool", "1"),
        ("--database-pool", "257"),
        ("--database-poll-ms", "9"),
        ("--database-keep-changes", "9"),
        ("--database-keep-seconds", "31536001"),
    ] {
        let refused = start_expecting_failure(
            dir.path(),
            &[
                "--database-url".into(),
                "postgres://ticketd@127.0.0.1:1/ticketd?sslmode=disable".into(),
                flag.into(),
                value.into(),
            ],
            &[],
        );
        assert!(refused.contains(flag), "{flag} {value}: {refused}");
    }
    // A URL that is not postgres:// is named as such.
    let refused = start_expecting_failure(
        dir.path(),
        &["--database-url".into(), "mysql://db/ticketd".into()],
        &[],
    );
    assert!(
        refused.contains("--database-url") && refused.contains("postgres://"),
        "{refused}"
    );
}

/// An instance on `url` that signs sessions with `key_file`, as every
/// instance behind one load balancer must.
async fn instance_with_key(url: &str, key_file: &std::path::Path) -> TestApp {
    let mut args = unlimited(&[]);
    args.extend(["--database-url".to_string(), url.to_string()]);
    let mut envs = admin_env();
    envs.push((
        "TICKETD_JWT_SECRET_FILE".into(),
        key_file.display().to_string(),
    ));
    spawn_with(Options { args, envs }).await
}

/// `GET /api/audit` with `token`: its status and entries.
async fn audit_as(app: &TestApp, token: &str) -> (u16, Vec<Value>) {
    let resp = app
        .http()
        .get(format!("{}/api/audit?limit=100", app.base_url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    (status, body.as_array().cloned().unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logouts_and_the_audit_trail_are_shared_by_every_instance() {
    let Some(db) = Db::create("logouts_and_the_audit_trail_are_shared_by_every_instance").await
    else {
        return;
    };
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("jwt-key");
    std::fs::write(&key_file, "a-session-key-every-instance-shares-0123456789").unwrap();
    std::fs::set_permissions(
        &key_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let a = instance_with_key(&db.url, &key_file).await;
    let b = instance_with_key(&db.url, &key_file).await;

    // A session from A works on B, and B reads the login A audited.
    let token = a.login_token("root", PASSWORD).await;
    let (status, entries) = audit_as(&b, &token).await;
    assert_eq!(status, 200, "a session from A is good on B");
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "login" && e["admin"] == "root" && e["outcome"] == "success"),
        "B shows the login on A: {entries:?}"
    );
    // A failed login on B (batched, synced within a second) reaches A's view.
    let failed = b
        .http()
        .post(format!("{}/api/auth/login", b.base_url()))
        .json(&json!({"username": "mallory", "password": "not-the-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 401);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, entries) = audit_as(&a, &token).await;
        if entries
            .iter()
            .any(|e| e["admin"] == "mallory" && e["outcome"] == "failure")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the failed login on B never reached the shared audit trail"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Logging out on A ends the session on B too, within a poll interval.
    let out = a
        .http()
        .post(format!("{}/api/auth/logout", a.base_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    let logged_out = Instant::now();
    loop {
        let (status, _) = audit_as(&b, &token).await;
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            logged_out.elapsed() < Duration::from_secs(5),
            "B still takes a session A logged out"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // An instance started after the logout refuses the session at once.
    let c = instance_with_key(&db.url, &key_file).await;
    assert_eq!(audit_as(&c, &token).await.0, 401, "C loaded the logout");

    // Each instance's refusal of the revoked session is in the one trail,
    // and nothing of it is on any instance's disk.
    let fresh = c.login_token("root", PASSWORD).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, entries) = audit_as(&a, &fresh).await;
        let refusals = entries
            .iter()
            .filter(|e| {
                e["outcome"] == "refused"
                    && e["reason"].as_str().is_some_and(|r| r.contains("revoked"))
            })
            .count();
        if refusals >= 2 {
            assert!(entries.iter().any(|e| e["action"] == "logout"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the refusals on B and C never reached the shared trail: {entries:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for app in [&a, &b, &c] {
        let dir = app.data_dir();
        assert!(
            !dir.join("revoked-sessions").exists(),
            "no per-instance deny-list"
        );
        let local = std::fs::read_to_string(dir.join("audit.log")).unwrap_or_default();
        assert!(local.is_empty(), "nothing audited on disk: {local}");
    }
    let client = db.connect().await;
    let revoked: i64 = client
        .query_one("SELECT count(*) FROM ticketd_revoked", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(revoked, 1);
    let trail: Vec<String> = client
        .query("SELECT body::text FROM ticketd_audit", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for body in &trail {
        assert!(
            !body.contains(&token) && !body.contains(&fresh),
            "a token in the trail"
        );
        assert!(!body.contains(PASSWORD) && !body.contains("not-the-password"));
    }
}

/// An instance on `url` keeping only `keep` changes in the database, of
/// any age.
async fn pruning_instance(url: &str, keep: u64) -> TestApp {
    pruning_instance_with(url, keep, Vec::new()).await
}

async fn pruning_instance_with(url: &str, keep: u64, envs: Vec<(String, String)>) -> TestApp {
    keeping_instance(url, keep, 0, envs).await
}

/// An instance keeping the newest `keep` changes and those younger than
/// `seconds`.
async fn keeping_instance(
    url: &str,
    keep: u64,
    seconds: u64,
    envs: Vec<(String, String)>,
) -> TestApp {
    let mut args = unlimited(&[]);
    args.extend([
        "--database-url".to_string(),
        url.to_string(),
        "--database-keep-changes".into(),
        keep.to_string(),
        "--database-keep-seconds".into(),
        seconds.to_string(),
    ]);
    let mut all = admin_env();
    all.extend(envs);
    spawn_with(Options { args, envs: all }).await
}

/// Watchdog pings (`WATCHDOG=1`) that arrive on `socket` within `within`.
fn pings_within(socket: &std::os::unix::net::UnixDatagram, within: Duration) -> usize {
    let deadline = Instant::now() + within;
    let mut pings = 0;
    let mut buf = [0u8; 512];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        socket
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match socket.recv(&mut buf) {
            Ok(n) => {
                pings += String::from_utf8_lossy(&buf[..n])
                    .lines()
                    .filter(|l| *l == "WATCHDOG=1")
                    .count()
            }
            Err(_) => break,
        }
    }
    pings
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn old_changes_are_pruned_and_an_instance_left_behind_says_to_restart() {
    // Also: the watchdog (a database away is no reason to restart; being
    // left behind is).
    let test = "old_changes_are_pruned_and_an_instance_left_behind_says_to_restart";
    let Some(db) = Db::create(test).await else {
        return;
    };
    const KEEP: i64 = 10;
    let a = pruning_instance(&db.url, KEEP as u64).await;
    // C reaches the database through a relay the test cuts.
    // C also tells a systemd-like notify socket it is alive (every 100 ms).
    let proxy = Proxy::start(db.upstream.clone()).await;
    let notify_dir = tempfile::tempdir().unwrap();
    let notify_path = notify_dir.path().join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    let watchdog = vec![
        (
            "NOTIFY_SOCKET".to_string(),
            notify_path.display().to_string(),
        ),
        ("WATCHDOG_USEC".to_string(), "200000".to_string()),
    ];
    let c = pruning_instance_with(&db.url_via(proxy.addr), KEEP as u64, watchdog).await;
    wait_ready(&[&a, &c], 200, WAIT).await;
    proxy.cut();
    wait_ready(&[&c], 503, Duration::from_secs(5)).await;
    // A database merely away does not make systemd restart the instance:
    // it keeps serving its clients from memory.
    assert!(
        pings_within(&notify, Duration::from_secs(1)) >= 3,
        "C keeps answering the watchdog while the database is away"
    );

    // Four times as many changes as are kept, while C is away.
    for n in 0..4 * KEEP {
        a.submit_http(&format!("pruning {n}: the scanner jams"))
            .await;
    }
    // B prunes as it starts: the newest KEEP changes are left.
    let b = pruning_instance(&db.url, KEEP as u64).await;
    let client = db.connect().await;
    let deadline = Instant::now() + LONG;
    let (newest, kept, oldest) = loop {
        let row = client
            .query_one(
                "SELECT (SELECT version FROM ticketd_stream), count(*), min(version) FROM ticketd_changes",
                &[],
            )
            .await
            .unwrap();
        let (newest, kept, oldest): (i64, i64, Option<i64>) = (row.get(0), row.get(1), row.get(2));
        if kept <= KEEP {
            break (newest, kept, oldest);
        }
        assert!(
            Instant::now() < deadline,
            "never pruned to {KEEP}: {kept} left"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(kept, KEEP, "exactly the newest {KEEP} are kept");
    assert_eq!(oldest, Some(newest - KEEP + 1));
    assert_eq!(
        listed_ids(&b).await.len(),
        4 * KEEP as usize,
        "B loaded them all"
    );

    // C comes back: it missed changes that are gone. It says so, refuses
    // changes, and tells the operator to restart it; it announces nothing
    // out of order meanwhile.
    let (mut on_c, _) = {
        proxy.restore();
        let http = reqwest::Client::new();
        let url = format!("http://{}/readyz", c.metrics_addr());
        let deadline = Instant::now() + LONG;
        loop {
            let resp = http.get(&url).send().await.unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            if text.contains("keeps changes only from") {
                assert_eq!(status, 503);
                assert!(text.contains("restart this instance"), "{text}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "C never noticed: {status} {text}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        synced(&c).await
    };
    // ...and stops answering the watchdog, so systemd restarts it.
    pings_within(&notify, Duration::from_millis(300));
    assert_eq!(
        pings_within(&notify, Duration::from_secs(1)),
        0,
        "C, left behind, stops answering the watchdog"
    );
    let refused = c
        .http()
        .post(format!("{}/api/tickets", c.base_url()))
        .json(&json!({"description": "after falling behind", "system": "Printer", "requester": "Kim"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"]["code"],
        "storage_unavailable"
    );
    let sentinel = unique("sentinel after C fell behind ");
    a.submit_http(&sentinel).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(500), next_change(&mut on_c))
            .await
            .is_err(),
        "C announces nothing past the gap"
    );
    // A restart (a fresh instance on the same relay) loads everything.
    let restarted = pruning_instance(&db.url_via(proxy.addr), KEEP as u64).await;
    wait_ready(&[&restarted], 200, WAIT).await;
    assert_eq!(listed_ids(&restarted).await, listed_ids(&a).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pruning_keeps_young_changes_and_deletes_only_from_the_oldest() {
    let test = "pruning_keeps_young_changes_and_deletes_only_from_the_oldest";
    let Some(db) = Db::create(test).await else {
        return;
    };
    // Keep the newest 10 changes and those younger than an hour.
    let a = keeping_instance(&db.url, 10, 3600, Vec::new()).await;
    let mut ids = Vec::new();
    for n in 0..49 {
        let ticket = a
            .submit_http(&format!("keeping {n}: the badge reader is dead"))
            .await;
        ids.push(id_of(&ticket));
    }
    // The third ticket changes again (version 50): its first change is no
    // longer where it is.
    let token = a.login_token("root", PASSWORD).await;
    set_priority(&a, &token, &ids[2], "CRITICAL").await;
    // Changes 1 to 30 are made two hours old, except 12 (commit times are
    // not strictly in version order): pruning may take 1 to 11 only, since
    // the changes kept must stay contiguous.
    let client = db.connect().await;
    client
        .execute(
            "UPDATE ticketd_changes SET committed_at = now() - interval '2 hours' \
             WHERE version <= 30 AND version <> 12",
            &[],
        )
        .await
        .unwrap();
    let census = || async {
        let row = client
            .query_one(
                "SELECT count(*), min(version), max(version) FROM ticketd_changes",
                &[],
            )
            .await
            .unwrap();
        let (kept, oldest, newest): (i64, Option<i64>, Option<i64>) =
            (row.get(0), row.get(1), row.get(2));
        (kept, oldest, newest)
    };
    assert_eq!(
        census().await,
        (50, Some(1), Some(50)),
        "nothing pruned yet"
    );
    // B prunes as it starts.
    let b = keeping_instance(&db.url, 10, 3600, Vec::new()).await;
    let deadline = Instant::now() + LONG;
    while census().await.1 != Some(12) {
        assert!(
            Instant::now() < deadline,
            "never pruned up to 12: {:?}",
            census().await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // That pass was one statement: nothing else went. 13 to 30 are old
    // but come after a change kept; 31 to 40 are young, though not among
    // the newest 10.
    assert_eq!(census().await, (39, Some(12), Some(50)));
    // The tickets whose changes went were moved into ticketd_tickets, in the
    // same statement: an instance that starts now loads every ticket as it
    // is.
    let moved: i64 = client
        .query_one(
            "SELECT count(*) FROM ticketd_tickets WHERE body IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(moved, 10, "1 to 11 but the third, which is at 50");
    let c = keeping_instance(&db.url, 10, 3600, Vec::new()).await;
    wait_ready(&[&b, &c], 200, WAIT).await;
    let all = listed(&a).await;
    assert_eq!(all.len(), 49);
    assert_eq!(all[&ids[2]]["priority"], "CRITICAL");
    assert_eq!(listed(&c).await, all, "C loaded every ticket as it is");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_sla_announcement_is_made_once_however_many_instances_run_the_timer() {
    let test = "each_sla_announcement_is_made_once_however_many_instances_run_the_timer";
    let Some(db) = Db::create(test).await else {
        return;
    };
    // CRITICAL: first response 2 s, resolution 4 s, at risk at half.
    let policy_dir = tempfile::tempdir().unwrap();
    let policy = policy_dir.path().join("sla.toml");
    let mut text =
        "at_risk_percent = 50\nat_risk_minutes = 0\n[calendar]\nalways = true\n".to_string();
    for (level, first, resolution) in [
        ("critical", 2, 4),
        ("high", 3000, 6000),
        ("medium", 3000, 6000),
        ("low", 3000, 6000),
    ] {
        text.push_str(&format!(
            "[targets.{level}]\nfirst_response_seconds = {first}\nresolution_seconds = {resolution}\n"
        ));
    }
    std::fs::write(&policy, text).unwrap();
    let start = || {
        let mut args = unlimited(&[]);
        args.extend([
            "--database-url".to_string(),
            db.url.clone(),
            "--sla-config".into(),
            policy.display().to_string(),
        ]);
        spawn_with(Options {
            args,
            envs: admin_env(),
        })
    };
    let (a, b) = (start().await, start().await);
    let (mut on_a, _) = synced(&a).await;
    let (mut on_b, _) = synced(&b).await;

    // A ticket made CRITICAL: both instances' timers watch its clocks.
    let submitted = a
        .submit_http(&unique("Core switch down in building C "))
        .await;
    let id = id_of(&submitted);
    let token = b.login_token("root", PASSWORD).await;
    set_priority(&b, &token, &id, "CRITICAL").await;
    // Every change up to the resolution breach, then a sentinel: nothing
    // is announced twice, and both clients hear the same.
    let mut heard = Vec::new();
    for ws in [&mut on_a, &mut on_b] {
        let mut frames = Vec::new();
        let deadline = tokio::time::Instant::now() + LONG;
        loop {
            let frame = next_change_by(ws, deadline, "the resolution breach").await;
            let done = frame["event"] == "sla_breached"
                && frame["data"]["ticket_id"] == id.as_str()
                && frame["data"]["clock"] == "resolution";
            frames.push(frame);
            if done {
                break;
            }
        }
        heard.push(frames);
    }
    let sentinel = unique("sentinel after the breaches ");
    b.submit_http(&sentinel).await;
    for (n, ws) in [&mut on_a, &mut on_b].into_iter().enumerate() {
        heard[n].extend(changes_until(ws, &sentinel, LONG).await);
    }
    assert_same_frames(&heard[0], &heard[1], "A's and B's clients");
    let announced: Vec<(String, String)> = heard[0]
        .iter()
        .filter(|f| f["data"]["ticket_id"] == id.as_str())
        .filter(|f| f["event"] == "sla_warning" || f["event"] == "sla_breached")
        .map(|f| {
            (
                f["event"].as_str().unwrap().to_string(),
                f["data"]["clock"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut sorted = announced.clone();
    sorted.sort();
    let expected = [
        ("sla_breached", "first_response"),
        ("sla_breached", "resolution"),
        ("sla_warning", "first_response"),
        ("sla_warning", "resolution"),
    ]
    .map(|(e, c)| (e.to_string(), c.to_string()));
    assert_eq!(sorted, expected, "each once: {announced:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_instance_started_later_resumes_clients_from_before_its_start() {
    let test = "an_instance_started_later_resumes_clients_from_before_its_start";
    let Some(db) = Db::create(test).await else {
        return;
    };
    let a = instance(&db.url).await;
    let (mut on_a, (epoch, v0)) = synced(&a).await;
    // Every kind of change: new tickets, a priority, a public reply, an
    // internal note (which an anonymous client never hears), a resolution,
    // a deletion.
    let first = id_of(&a.submit_http(&unique("Projector in room 4 is dark ")).await);
    let second = id_of(
        &a.submit_http(&unique("Badge reader at door 2 beeps "))
            .await,
    );
    let token = a.login_token("root", PASSWORD).await;
    set_priority(&a, &token, &first, "HIGH").await;
    let comments = format!("/api/tickets/{first}/comments");
    for visibility in ["public", "internal"] {
        let body = json!({"body": format!("A {visibility} word"), "visibility": visibility});
        admin_call(&a, &token, "POST", &comments, body).await;
    }
    admin_call(
        &a,
        &token,
        "POST",
        &format!("/api/tickets/{first}/resolve"),
        json!({}),
    )
    .await;
    admin_call(
        &a,
        &token,
        "DELETE",
        &format!("/api/tickets/{second}"),
        Value::Null,
    )
    .await;
    let sentinel = unique("sentinel before C starts ");
    a.submit_http(&sentinel).await;
    // (The internal note's version is a gap in an anonymous client's
    // stream.)
    let heard = changes_until(&mut on_a, &sentinel, LONG).await;
    let events: Vec<&str> = heard.iter().filter_map(|f| f["event"].as_str()).collect();
    assert!(
        events.contains(&"ticket_deleted") && events.contains(&"ticket_resolved"),
        "{events:?}"
    );

    // C starts after all of it; clients that were on A resume on C, from
    // the start and from the middle, with exactly what A's client heard.
    let c = instance(&db.url).await;
    for since in [v0, v(&heard[heard.len() / 2])] {
        let query = format!("/ws?epoch={epoch}&since={since}");
        let mut resumed = WsClient::connect(&c, &query).await;
        let (replay, state) = replayed(&mut resumed).await;
        assert_eq!(state["recovered"], true, "since {since}: {state}");
        let missed: Vec<Value> = heard.iter().filter(|f| v(f) > since).cloned().collect();
        assert_same_frames(&replay, &missed, &format!("C's replay since {since}"));
    }
}
