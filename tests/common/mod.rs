//! The test harness: the real `ticketd` binary on port 0 with a temp data
//! directory and its generated certificate, and real HTTPS and WSS clients.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

pub const WAIT: Duration = Duration::from_secs(10);

/// A running server.
pub struct TestApp {
    pub addr: SocketAddr,
    pub dir: Arc<tempfile::TempDir>,
    child: Option<Child>,
    /// Every line the server logged, across restarts.
    pub log: Arc<Mutex<Vec<String>>>,
    extra_args: Vec<String>,
    envs: Vec<(String, String)>,
}

impl TestApp {
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn certs_dir(&self) -> PathBuf {
        self.dir.path().join("certs")
    }

    pub fn store_path(&self) -> PathBuf {
        self.data_dir().join("tickets_storage.json")
    }

    pub fn cert_pem(&self) -> Vec<u8> {
        std::fs::read(self.certs_dir().join("localhost-cert.pem")).expect("generated cert")
    }

    pub fn base_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// The metrics listener's address, from the log line `metrics on
    /// http://ADDR` of the latest start.
    pub fn metrics_addr(&self) -> SocketAddr {
        let log = self.log.lock().unwrap();
        let line = log
            .iter()
            .rev()
            .find_map(|line| line.split("metrics on http://").nth(1))
            .expect("the server logs its metrics address");
        let addr = line.split(['"', ' ']).next().unwrap();
        addr.parse().unwrap()
    }

    /// One scrape of `/metrics`.
    pub async fn scrape(&self) -> String {
        let url = format!("http://{}/metrics", self.metrics_addr());
        let resp = reqwest::get(url).await.expect("metrics answer");
        assert_eq!(resp.status(), 200);
        resp.text().await.unwrap()
    }

    /// Waits until a log line contains `needle` (after `skip` lines).
    pub async fn wait_for_log(&self, skip: usize, needle: &str) -> String {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Some(line) = self
                .log
                .lock()
                .unwrap()
                .iter()
                .skip(skip)
                .find(|l| l.contains(needle))
            {
                return line.clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no log line with {needle:?}:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// How many lines the server has logged so far.
    pub fn log_len(&self) -> usize {
        self.log.lock().unwrap().len()
    }

    /// An HTTPS client that trusts the generated certificate.
    pub fn http(&self) -> reqwest::Client {
        let cert = reqwest::Certificate::from_pem(&self.cert_pem()).unwrap();
        reqwest::Client::builder()
            .add_root_certificate(cert)
            .timeout(WAIT)
            .build()
            .unwrap()
    }

    /// A WSS client connected to `/ws`.
    pub async fn connect_ws(&self) -> WsClient {
        WsClient::connect(self, "/ws").await
    }

    /// A WSS client that has already read its `initial_tickets`.
    pub async fn connect_ready(&self) -> (WsClient, Vec<Value>) {
        let mut ws = self.connect_ws().await;
        let initial = ws.expect("initial_tickets").await;
        (ws, initial.as_array().unwrap().clone())
    }

    /// Submits over HTTP and returns the ticket as everyone else sees it:
    /// the answer without its `follow_token` (checked to be there, 64 hex
    /// characters, and given to the submitter only).
    pub async fn submit_http(&self, description: &str) -> Value {
        let resp = self
            .http()
            .post(format!("{}/api/tickets", self.base_url()))
            .json(&json!({"description": description, "system": "Email", "requester": "Tester"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        let mut ticket: Value = resp.json().await.unwrap();
        let token = ticket
            .as_object_mut()
            .and_then(|t| t.remove("follow_token"))
            .unwrap_or_else(|| panic!("no follow_token in the answer: {ticket}"));
        let token = token.as_str().unwrap_or_default();
        assert!(
            token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()),
            "follow_token: {token:?}"
        );
        ticket
    }

    /// `GET path` over HTTPS, as JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        self.http()
            .get(format!("{}{path}", self.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// `GET path` over HTTPS with a Bearer token, as JSON (status checked).
    pub async fn get_authed(&self, path: &str, token: &str) -> Value {
        let resp = self
            .http()
            .get(format!("{}{path}", self.base_url()))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
        resp.json().await.unwrap()
    }

    /// Logs in over HTTPS and returns the session token.
    pub async fn login_token(&self, user: &str, password: &str) -> String {
        let body: Value = self
            .http()
            .post(format!("{}/api/auth/login", self.base_url()))
            .json(&json!({"username": user, "password": password}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["token"].as_str().expect("a token").to_string()
    }

    /// Stops the server with SIGTERM and waits for it.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        signal(child.id(), "TERM");
        wait_timeout(&mut child, WAIT).expect("server exits after SIGTERM")
    }

    /// Waits for the server to exit on its own (after a signal sent with
    /// [`signal`]).
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        wait_timeout(&mut child, WAIT).expect("server exits")
    }

    /// SIGKILLs the server.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same directories (a new port).
    pub async fn restart(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
        let (child, addr) = start(
            self.dir.path(),
            &self.extra_args,
            &self.envs,
            self.log.clone(),
        )
        .expect("server restarts");
        self.child = Some(child);
        self.addr = addr;
    }

    /// Stops the server (if running) and starts it again on the same
    /// directories and the same address, so clients can reconnect to it.
    pub async fn restart_same_port(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
        let (child, addr) = start_on(
            self.dir.path(),
            &self.addr.to_string(),
            &self.extra_args,
            &self.envs,
            self.log.clone(),
        )
        .expect("server restarts on the same port");
        assert_eq!(addr, self.addr);
        self.child = Some(child);
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Options for [`spawn_with`].
#[derive(Default, Clone)]
pub struct Options {
    pub args: Vec<String>,
    pub envs: Vec<(String, String)>,
}

pub async fn spawn_app() -> TestApp {
    spawn_with(Options::default()).await
}

pub async fn spawn_with(options: Options) -> TestApp {
    spawn_in(Arc::new(tempfile::tempdir().unwrap()), options).await
}

/// Like [`spawn_with`], in a directory the test prepared (e.g. with a small
/// filesystem mounted at `data`).
pub async fn spawn_in(dir: Arc<tempfile::TempDir>, options: Options) -> TestApp {
    let log = Arc::new(Mutex::new(Vec::new()));
    let (child, addr) =
        start(dir.path(), &options.args, &options.envs, log.clone()).expect("server starts");
    TestApp {
        addr,
        dir,
        child: Some(child),
        log,
        extra_args: options.args,
        envs: options.envs,
    }
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_ticketd")
}

/// Runs `ticketd serve` on `root/data` and `root/certs`, port 0. Returns the
/// child and its address, or the exit status and log if it would not start.
pub fn start(
    root: &Path,
    args: &[String],
    envs: &[(String, String)],
    log: Arc<Mutex<Vec<String>>>,
) -> Result<(Child, SocketAddr), String> {
    start_on(root, "127.0.0.1:0", args, envs, log)
}

/// [`start`] listening on `listen` instead of a free port.
pub fn start_on(
    root: &Path,
    listen: &str,
    args: &[String],
    envs: &[(String, String)],
    log: Arc<Mutex<Vec<String>>>,
) -> Result<(Child, SocketAddr), String> {
    // SLA announcements are tested where they are the subject; elsewhere a
    // policy no test outlives keeps `sla_warning` out of counted event
    // streams (a `--sla-config` flag in `args` wins over the environment).
    let quiet_sla = root.join("quiet-sla.toml");
    if !quiet_sla.exists() {
        std::fs::create_dir_all(root).map_err(|e| e.to_string())?;
        let level = "first_response_minutes = 100000\nresolution_minutes = 100000\n";
        let text = format!(
            "at_risk_percent = 100\nat_risk_minutes = 0\n[calendar]\nalways = true\n{}",
            ["critical", "high", "medium", "low"]
                .map(|l| format!("[targets.{l}]\n{level}"))
                .join("")
        );
        std::fs::write(&quiet_sla, text).map_err(|e| e.to_string())?;
    }
    let mut cmd = Command::new(binary());
    cmd.env("TICKETD_SLA_CONFIG", &quiet_sla);
    cmd.arg("serve")
        .args(["--listen", listen])
        .arg("--data-dir")
        .arg(root.join("data"))
        .arg("--certs-dir")
        .arg(root.join("certs"))
        .args(args)
        .env("TICKETD_LOG", "info")
        // A free port for metrics, so tests run side by side (a flag in
        // `args` still wins over the environment).
        .env("TICKETD_METRICS_LISTEN", "127.0.0.1:0")
        .env_remove("RUST_LOG")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            log.lock().unwrap().push(line.clone());
            let _ = tx.send(line);
        }
    });
    let deadline = std::time::Instant::now() + WAIT;
    let mut seen = Vec::new();
    while std::time::Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                if let Some(rest) = line.split("listening on https://").nth(1) {
                    // Text or JSON logs: the address ends at a space or a quote.
                    let addr = rest.split(['"', ' ']).next().unwrap();
                    return Ok((child, addr.parse().unwrap()));
                }
                seen.push(line);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Ok(Some(status)) = child.try_wait() {
                    // Drain what is left of the log.
                    while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
                        seen.push(line);
                    }
                    return Err(format!("exited with {status}:\n{}", seen.join("\n")));
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().map_err(|e| e.to_string())?;
                return Err(format!("exited with {status}:\n{}", seen.join("\n")));
            }
        }
    }
    let _ = child.kill();
    Err(format!("did not start in time:\n{}", seen.join("\n")))
}

/// Runs `ticketd serve` expecting it to refuse to start; returns its output.
pub fn start_expecting_failure(root: &Path, args: &[String], envs: &[(String, String)]) -> String {
    let log = Arc::new(Mutex::new(Vec::new()));
    match start(root, args, envs, log) {
        Ok((mut child, addr)) => {
            let _ = child.kill();
            panic!("server started on {addr} but should have refused");
        }
        Err(output) => output,
    }
}

pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

pub fn wait_timeout(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    None
}

/// A rustls client configuration that trusts `cert_pem`.
pub fn tls_client(cert_pem: &[u8]) -> Arc<rustls::ClientConfig> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut &cert_pem[..]) {
        roots.add(cert.unwrap()).unwrap();
    }
    Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

pub type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A WSS test client speaking the event protocol.
pub struct WsClient {
    pub stream: WsStream,
}

impl WsClient {
    pub async fn connect(app: &TestApp, path: &str) -> WsClient {
        WsClient::connect_with(app, path, tls_client(&app.cert_pem())).await
    }

    /// Connects with a given TLS client configuration.
    pub async fn connect_with(
        app: &TestApp,
        path: &str,
        tls: Arc<rustls::ClientConfig>,
    ) -> WsClient {
        let url = format!("wss://{}{}", app.addr, path);
        let (stream, _) = tokio_tungstenite::connect_async_tls_with_config(
            url,
            None,
            true,
            Some(Connector::Rustls(tls)),
        )
        .await
        .expect("websocket connects");
        WsClient { stream }
    }

    pub async fn send_json(&mut self, value: Value) {
        self.send_text(&value.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.stream
            .send(Message::Text(text.into()))
            .await
            .expect("send");
    }

    pub async fn send(&mut self, event: &str, data: Value) {
        self.send_json(json!({"event": event, "data": data})).await;
    }

    /// Submits a ticket and waits for `ticket_submitted`; returns its id.
    pub async fn submit(&mut self, description: &str) -> String {
        self.send(
            "submit_ticket",
            json!({"description": description, "system": "Email", "requester": "Tester"}),
        )
        .await;
        let data = self.expect("ticket_submitted").await;
        data["request_id"].as_str().unwrap().to_string()
    }

    /// Sends, reporting failure instead of panicking (the server may be gone).
    pub async fn try_send_json(&mut self, value: Value) -> Result<(), ()> {
        self.stream
            .send(Message::Text(value.to_string().into()))
            .await
            .map_err(|_| ())
    }

    /// The next protocol frame, or `None` once the connection is gone.
    pub async fn try_next_frame(&mut self) -> Option<Value> {
        loop {
            match tokio::time::timeout(WAIT, self.stream.next())
                .await
                .ok()??
            {
                Ok(Message::Text(text)) => return serde_json::from_str(&text).ok(),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }

    /// The next protocol frame (skipping pings), as `{"event","data",...}`.
    pub async fn next_frame(&mut self) -> Option<Value> {
        loop {
            let message = tokio::time::timeout(WAIT, self.stream.next())
                .await
                .expect("a frame within the wait")?;
            match message {
                Ok(Message::Text(text)) => return Some(serde_json::from_str(&text).unwrap()),
                Ok(Message::Ping(_) | Message::Pong(_)) => continue,
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(other) => panic!("unexpected message {other:?}"),
            }
        }
    }

    /// Waits for `event` (skipping others, e.g. `stats_update`); returns its data.
    pub async fn expect(&mut self, event: &str) -> Value {
        loop {
            let frame = self
                .next_frame()
                .await
                .unwrap_or_else(|| panic!("connection closed while waiting for {event}"));
            if frame["event"] == event {
                return frame["data"].clone();
            }
        }
    }

    /// Waits for the next `error` and returns its code.
    pub async fn expect_error(&mut self) -> Value {
        self.expect("error").await
    }

    /// Waits for the connection to close; returns the close code.
    pub async fn expect_close(&mut self) -> Option<u16> {
        loop {
            let message = tokio::time::timeout(WAIT, self.stream.next())
                .await
                .expect("close within the wait");
            match message {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }
}

/// An upgrade the server refused: its status, headers and body.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl TestApp {
    /// An HTTPS client whose connections come from `local` (e.g.
    /// `127.0.0.2`: every 127/8 address is loopback on Linux).
    pub fn http_from(&self, local: &str) -> reqwest::Client {
        let cert = reqwest::Certificate::from_pem(&self.cert_pem()).unwrap();
        reqwest::Client::builder()
            .add_root_certificate(cert)
            .local_address(local.parse::<std::net::IpAddr>().unwrap())
            .timeout(WAIT)
            .build()
            .unwrap()
    }

    /// A WSS connection to `/ws` from `local`, with extra request headers;
    /// or the refusal.
    pub async fn try_ws(&self, local: &str, headers: &[(&str, &str)]) -> Result<WsClient, Refused> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket
            .bind(SocketAddr::new(local.parse().unwrap(), 0))
            .unwrap();
        let tcp = socket.connect(self.addr).await.expect("tcp connects");
        tcp.set_nodelay(true).unwrap();
        let mut request = format!("wss://{}/ws", self.addr)
            .into_client_request()
            .unwrap();
        for (name, value) in headers {
            request.headers_mut().insert(
                reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        let connecting = tokio_tungstenite::client_async_tls_with_config(
            request,
            tcp,
            None,
            Some(Connector::Rustls(tls_client(&self.cert_pem()))),
        );
        match tokio::time::timeout(WAIT, connecting)
            .await
            .expect("upgrade answered")
        {
            Ok((stream, _)) => Ok(WsClient { stream }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(Refused {
                status: response.status().as_u16(),
                headers: response.headers().clone(),
                body: String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
                    .into_owned(),
            }),
            Err(e) => panic!("websocket upgrade failed: {e}"),
        }
    }

    /// Like [`try_ws`](Self::try_ws), expecting success and `initial_tickets`.
    pub async fn ws_from(&self, local: &str) -> WsClient {
        let mut ws = self.try_ws(local, &[]).await.expect("upgrade accepted");
        ws.expect("initial_tickets").await;
        ws
    }

    /// A TLS stream to the server (HTTP/1.1), for writing raw requests.
    pub async fn tls_stream(&self) -> tokio_rustls::client::TlsStream<TcpStream> {
        let tcp = TcpStream::connect(self.addr).await.unwrap();
        let connector = tokio_rustls::TlsConnector::from(tls_client(&self.cert_pem()));
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        connector.connect(name, tcp).await.expect("TLS handshake")
    }

    /// The first word after `marker` in the log (e.g. an address).
    pub fn log_word_after(&self, marker: &str) -> Option<String> {
        let log = self.log.lock().unwrap();
        log.iter().find_map(|line| {
            let rest = line.split(marker).nth(1)?;
            Some(
                rest.split_whitespace()
                    .next()?
                    .trim_matches('"')
                    .to_string(),
            )
        })
    }
}

/// Waits until the peer closes `stream` (EOF or an error); false if it is
/// still open after `limit`. Anything the server sends is discarded.
pub async fn closed_within<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    limit: Duration,
) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// Flags that raise every rate limit out of the way, for tests about
/// something else that send many requests from one address.
pub fn generous_limits() -> Vec<String> {
    [
        "--http-rate",
        "100000/s",
        "--http-burst",
        "100000",
        "--submit-rate",
        "100000/s",
        "--submit-burst",
        "100000",
        "--ws-message-rate",
        "100000/s",
        "--ws-message-burst",
        "100000",
    ]
    .map(String::from)
    .to_vec()
}

/// [`generous_limits`] plus logins and WebSocket upgrades out of the way and
/// room for many sockets from one address; a flag named in `extra` keeps
/// the value `extra` gives it instead. Returns the flags, `extra` last.
pub fn unlimited(extra: &[&str]) -> Vec<String> {
    let mut args = generous_limits();
    args.extend(
        [
            "--login-rate",
            "100000/s",
            "--login-burst",
            "100000",
            "--ws-upgrade-rate",
            "100000/s",
            "--ws-upgrade-burst",
            "100000",
            "--max-connections-per-ip",
            "1000",
        ]
        .map(String::from),
    );
    let mut args: Vec<String> = args
        .chunks(2)
        .filter(|pair| !extra.contains(&pair[0].as_str()))
        .flatten()
        .cloned()
        .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Writes `dir/name` (mode 0600, as the server demands of credential
/// files) and returns its path as a flag value.
pub fn private_file(dir: &Path, name: &str, text: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path.display().to_string()
}

/// A server kept in a static for the whole run. Statics are never dropped,
/// so it is killed (and its directory removed) when the test binary exits.
pub fn kept(app: TestApp) -> TestApp {
    static LEFT: Mutex<Vec<(u32, PathBuf)>> = Mutex::new(Vec::new());
    static HOOK: std::sync::Once = std::sync::Once::new();
    extern "C" fn clean_up() {
        let left = LEFT.lock().unwrap_or_else(|p| p.into_inner());
        for (pid, dir) in left.iter() {
            // SAFETY: plain system calls on a child this process started.
            unsafe {
                libc::kill(*pid as libc::pid_t, libc::SIGKILL);
                libc::waitpid(*pid as libc::pid_t, std::ptr::null_mut(), 0);
            }
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    HOOK.call_once(|| {
        // SAFETY: registers a function that only takes a lock and makes
        // system calls.
        unsafe {
            libc::atexit(clean_up);
        }
    });
    LEFT.lock()
        .unwrap()
        .push((app.pid(), app.dir.path().to_path_buf()));
    app
}

/// Asserts a 400 `invalid_payload` whose message starts with the refused
/// parameter's name (`name: …`); `what` labels the case.
pub async fn assert_refused_naming(resp: reqwest::Response, name: &str, what: &str) {
    assert_eq!(resp.status(), 400, "{what}");
    let error: Value = resp.json().await.unwrap();
    assert_eq!(error["error"]["code"], "invalid_payload", "{what}");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("{name}: ")),
        "{what}: {message}"
    );
}

/// A word found in no other test's tickets or comments.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// The events that change the store, each carrying `v`.
pub const CHANGES: &[&str] = ticketd::events::CHANGE_EVENTS;

/// A ticket's `request_id`.
pub fn id_of(ticket: &Value) -> String {
    ticket["request_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no request_id: {ticket}"))
        .to_string()
}

/// The `v` of a change frame.
pub fn v(frame: &Value) -> u64 {
    frame["v"]
        .as_u64()
        .unwrap_or_else(|| panic!("a change event without v: {frame}"))
}

/// A native-tls connector trusting `app`'s certificate, for the Socket.IO
/// test client (`rust_socketio`).
pub fn native_tls_for(app: &TestApp) -> native_tls::TlsConnector {
    let cert = native_tls::Certificate::from_pem(&app.cert_pem()).unwrap();
    native_tls::TlsConnector::builder()
        .add_root_certificate(cert)
        .build()
        .unwrap()
}

/// What a Socket.IO test client heard: `(event, args)`, in order.
pub type Heard = tokio::sync::mpsc::UnboundedReceiver<(String, Vec<Value>)>;

/// A `rust_socketio` client for `app` over WebSocket, not reconnecting, that
/// sends every event it hears (an `error` event included, which the crate
/// delivers only to its own handler) to the returned receiver. Callers add
/// what else they need (`auth`) and connect.
pub fn socketio_builder(app: &TestApp) -> (rust_socketio::asynchronous::ClientBuilder, Heard) {
    use futures_util::FutureExt;
    use rust_socketio::Payload;
    fn args(payload: Payload) -> Vec<Value> {
        match payload {
            Payload::Text(values) => values,
            other => panic!("expected a text payload, got {other:?}"),
        }
    }
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let on_error = tx.clone();
    let builder = rust_socketio::asynchronous::ClientBuilder::new(app.base_url())
        .tls_config(native_tls_for(app))
        .transport_type(rust_socketio::TransportType::Websocket)
        .reconnect(false)
        .on_any(move |event, payload, _| {
            let _ = tx.send((event.to_string(), args(payload)));
            async {}.boxed()
        })
        .on(rust_socketio::Event::Error, move |payload, _| {
            let _ = on_error.send(("error".into(), args(payload)));
            async {}.boxed()
        });
    (builder, rx)
}
