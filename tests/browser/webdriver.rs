//! A small W3C WebDriver client for chromedriver, over the `reqwest` the
//! other tests already use: the handful of commands these tests need, plus
//! chromedriver's browser log and CDP pass-through. Plain HTTP to a
//! chromedriver on 127.0.0.1, so no TLS stack is involved.

use std::future::Future;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::FutureExt;
use serde_json::{Value, json};

/// How long a page may take to reach an expected state.
pub const WAIT: Duration = Duration::from_secs(15);

/// W3C's key for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Chromium and chromedriver, found on `PATH` (or `TICKETD_CHROMIUM`,
/// `TICKETD_CHROMEDRIVER`).
struct Tools {
    chromium: PathBuf,
    chromedriver: PathBuf,
}

fn which(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

fn find_tools() -> Option<Tools> {
    let from_env = |key: &str| std::env::var_os(key).map(PathBuf::from);
    Some(Tools {
        chromium: from_env("TICKETD_CHROMIUM")
            .or_else(|| which(&["chromium", "chromium-browser", "google-chrome"]))?,
        chromedriver: from_env("TICKETD_CHROMEDRIVER").or_else(|| which(&["chromedriver"]))?,
    })
}

/// Where screenshots go: `<target>/browser-failures` and `<target>/browser-screenshots`.
pub fn target_dir(sub: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join(sub);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A chromedriver process (and, in its process group, the browsers it
/// starts) for one test, and the pages it opened.
pub struct Browser {
    name: String,
    child: Child,
    base: String,
    http: reqwest::Client,
    chromium: PathBuf,
    pages: Mutex<Vec<Page>>,
}

/// How to open a page.
#[derive(Clone, Copy)]
pub struct View {
    pub width: u32,
    pub height: u32,
    /// Emulate a phone (touch, the meta viewport applies).
    pub mobile: bool,
    pub dark: bool,
}

pub const DESKTOP: View = View {
    width: 1280,
    height: 900,
    mobile: false,
    dark: false,
};

pub const PHONE: View = View {
    width: 375,
    height: 812,
    mobile: true,
    dark: false,
};

impl Browser {
    /// Starts chromedriver, or says loudly why the browser tests are skipped
    /// and returns `None`. With `TICKETD_REQUIRE_BROWSER=1` a missing browser
    /// fails the test instead.
    pub async fn start(name: &str) -> Option<Browser> {
        let Some(tools) = find_tools() else {
            let required = std::env::var("TICKETD_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
            let message = "\n\
                ==================================================================\n\
                BROWSER TESTS SKIPPED (tests/browser): no Chromium and chromedriver found on PATH.\n\
                Install them (Debian/Ubuntu):\n\
                \x20   sudo apt-get install chromium chromium-driver\n\
                or point TICKETD_CHROMIUM and TICKETD_CHROMEDRIVER at them.\n\
                Set TICKETD_REQUIRE_BROWSER=1 to make this a failure (CI does).\n\
                ==================================================================\n";
            if required {
                panic!("{message}TICKETD_REQUIRE_BROWSER=1 and no browser: failing {name}");
            }
            // Straight to stderr, past the test harness's output capture, so
            // a passing run still shows that nothing was tested; once per run.
            static BANNER: std::sync::Once = std::sync::Once::new();
            BANNER.call_once(|| {
                let _ = std::io::stderr().write_all(message.as_bytes());
            });
            eprintln!("browser test skipped: {name}");
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(&tools.chromedriver)
            // No --allowed-ips: that makes chromedriver listen on every
            // interface, where the free loopback port picked above may be
            // taken; by default it listens on loopback only.
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so the browsers it starts go with it.
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let browser = Browser {
            name: name.to_string(),
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            chromium: tools.chromium,
            pages: Mutex::new(Vec::new()),
        };
        let deadline = Instant::now() + WAIT;
        loop {
            let ready = browser
                .http
                .get(format!("{}/status", browser.base))
                .send()
                .await;
            if let Ok(resp) = ready
                && let Ok(body) = resp.json::<Value>().await
                && body["value"]["ready"] == true
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Some(browser)
    }

    /// A new browser (its own fresh profile) showing `url`. `spki` is the
    /// base64 SHA-256 of the server's public key: Chromium trusts exactly
    /// that key instead of ignoring every certificate error.
    pub async fn open(&self, url: &str, spki: &str, view: View) -> Page {
        let profile = tempfile::tempdir().unwrap();
        let args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            format!("--window-size={},{}", view.width, view.height),
            format!("--user-data-dir={}", profile.path().display()),
            format!("--ignore-certificate-errors-spki-list={spki}"),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "unhandledPromptBehavior": "ignore",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {"binary": self.chromium, "args": args},
        }}});
        let created = call(&self.http, "POST", &format!("{}/session", self.base), caps)
            .await
            .unwrap_or_else(|e| panic!("cannot start Chromium: {e}"));
        let id = created["sessionId"].as_str().expect("a session id");
        let page = Page {
            http: self.http.clone(),
            url: format!("{}/session/{id}", self.base),
            profile: std::sync::Arc::new(profile),
        };
        page.emulate(view).await;
        page.goto(url).await;
        self.pages.lock().unwrap().push(page.clone());
        page
    }

    /// Runs a test body; if it panics, saves a screenshot of every open page
    /// under `target/browser-failures/` first. Closes the browsers either way.
    pub async fn run(&self, body: impl Future<Output = ()>) {
        let outcome = AssertUnwindSafe(body).catch_unwind().await;
        let pages = self.pages.lock().unwrap().clone();
        if outcome.is_err() {
            let dir = target_dir("browser-failures");
            for (i, page) in pages.iter().enumerate() {
                if let Ok(png) = page.try_screenshot().await {
                    let file = dir.join(format!("{}-page{}.png", self.name, i + 1));
                    if std::fs::write(&file, png).is_ok() {
                        eprintln!("screenshot of the failure: {}", file.display());
                    }
                }
            }
        }
        for page in &pages {
            let _ = call(&page.http, "DELETE", &page.url, Value::Null).await;
        }
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver and any browser left in its process group.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

/// One browser session.
#[derive(Clone)]
pub struct Page {
    http: reqwest::Client,
    url: String,
    /// The browser's profile directory, removed with the last clone.
    #[allow(dead_code)]
    profile: std::sync::Arc<tempfile::TempDir>,
}

/// A located element.
pub struct Element<'a> {
    page: &'a Page,
    id: String,
}

impl Page {
    async fn cmd(&self, method: &str, path: &str, body: Value) -> Result<Value, String> {
        call(&self.http, method, &format!("{}{path}", self.url), body).await
    }

    async fn must(&self, method: &str, path: &str, body: Value) -> Value {
        self.cmd(method, path, body)
            .await
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    pub async fn goto(&self, url: &str) {
        self.must("POST", "/url", json!({ "url": url })).await;
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value.
    pub async fn eval(&self, script: &str, args: Value) -> Value {
        self.must(
            "POST",
            "/execute/sync",
            json!({ "script": script, "args": args }),
        )
        .await
    }

    /// `return <expression>` in the page.
    pub async fn js(&self, expression: &str) -> Value {
        self.eval(&format!("return {expression};"), json!([])).await
    }

    /// Waits until `expression` is truthy in the page; panics naming `what`.
    pub async fn wait_for(&self, what: &str, expression: &str) {
        self.wait_for_within(what, expression, WAIT).await;
    }

    pub async fn wait_for_within(&self, what: &str, expression: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        let script = format!("try {{ return !!({expression}); }} catch (e) {{ return false; }}");
        loop {
            if self.eval(&script, json!([])).await == true {
                return;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what} ({expression})");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn find(&self, css: &str) -> Element<'_> {
        let found = self
            .cmd(
                "POST",
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"));
        Element {
            page: self,
            id: found[ELEMENT]
                .as_str()
                .unwrap_or_else(|| panic!("not an element: {found}"))
                .to_string(),
        }
    }

    /// The text of the alert, prompt or confirm the page opened, if any.
    pub async fn alert_text(&self) -> Option<String> {
        self.cmd("GET", "/alert/text", Value::Null)
            .await
            .ok()
            .map(|v| v.as_str().unwrap_or_default().to_string())
    }

    /// Console and network messages logged since the last call:
    /// `{level, message, source, timestamp}`.
    pub async fn console(&self) -> Vec<Value> {
        let logs = self
            .must("POST", "/se/log", json!({"type": "browser"}))
            .await;
        logs.as_array().cloned().unwrap_or_default()
    }

    /// A Chrome DevTools Protocol command, through chromedriver.
    pub async fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.must(
            "POST",
            "/goog/cdp/execute",
            json!({"cmd": cmd, "params": params}),
        )
        .await
    }

    /// Sets the viewport size and the colour scheme.
    pub async fn emulate(&self, view: View) {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": view.width, "height": view.height, "deviceScaleFactor": 1, "mobile": view.mobile}),
        )
        .await;
        let scheme = if view.dark { "dark" } else { "light" };
        self.cdp(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
        )
        .await;
    }

    pub async fn try_screenshot(&self) -> Result<Vec<u8>, String> {
        let data = self.cmd("GET", "/screenshot", Value::Null).await?;
        STANDARD
            .decode(data.as_str().unwrap_or_default())
            .map_err(|e| e.to_string())
    }

    /// A PNG of the whole page (the viewport grown to the page's height),
    /// saved under `target/browser-screenshots/NAME.png`.
    pub async fn save_full_screenshot(&self, view: View, name: &str) -> PathBuf {
        let height = self
            .js("document.documentElement.scrollHeight")
            .await
            .as_u64()
            .unwrap_or(view.height as u64) as u32;
        self.emulate(View {
            height: height.max(view.height),
            ..view
        })
        .await;
        let png = self.try_screenshot().await.expect("a screenshot");
        self.emulate(view).await;
        let file = target_dir("browser-screenshots").join(format!("{name}.png"));
        std::fs::write(&file, png).unwrap();
        file
    }
}

impl Element<'_> {
    pub async fn click(&self) {
        self.page
            .must("POST", &format!("/element/{}/click", self.id), json!({}))
            .await;
    }

    /// Types `text` as key presses.
    pub async fn type_text(&self, text: &str) {
        self.page
            .must(
                "POST",
                &format!("/element/{}/value", self.id),
                json!({ "text": text }),
            )
            .await;
    }

    pub async fn text(&self) -> String {
        self.page
            .must("GET", &format!("/element/{}/text", self.id), Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// One WebDriver command; the `value` of the answer, or its error.
async fn call(
    http: &reqwest::Client,
    method: &str,
    url: &str,
    body: Value,
) -> Result<Value, String> {
    let request = match method {
        "GET" => http.get(url),
        "DELETE" => http.delete(url),
        _ => http.post(url).json(&body),
    };
    let response = request.send().await.map_err(|e| e.to_string())?;
    let ok = response.status().is_success();
    let answer: Value = response.json().await.map_err(|e| e.to_string())?;
    let value = answer.get("value").cloned().unwrap_or(Value::Null);
    if ok {
        Ok(value)
    } else {
        Err(format!("{}: {}", value["error"], value["message"]))
    }
}
