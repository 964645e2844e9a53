//! The conversation on each ticket, through the real server: comments by
//! staff (public and internal notes) and by requesters (follow tokens), who
//! hears what (audience filtering on the bus, in resume replays and in
//! `/api/changes`), the lifecycle a requester's reply drives (reopen, a new
//! linked ticket), edit and delete with their window, limits and refused
//! input, durability across restarts and a SIGKILL, and a socket whose
//! staff session is revoked. The contract is `specs/conversation.md`.
//!
//! Most tests share one server (each works on its own tickets, found by a
//! unique word); the edit-window, limit and restart tests start their own
//! because they need flags or a restart.

mod common;

use std::collections::{BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;
use futures_util::StreamExt;
use rust_socketio::asynchronous::Client;
use serde_json::{Value, json};
use tokio::sync::{OnceCell, mpsc};
use tokio_tungstenite::tungstenite::Message;

/// Every staff member's password (one hash serves them all).
const PASSWORD: &str = "conversation-staff-password-0123";

/// How long to wait for a frame or an event: generous, CI is a slow
/// 2-core machine.
const LONG: Duration = Duration::from_secs(30);

const COMMENT_EVENTS: [&str; 3] = ["comment_added", "comment_edited", "comment_deleted"];

/// The keys of a comment, exactly.
const COMMENT_KEYS: [&str; 9] = [
    "id",
    "author",
    "role",
    "visibility",
    "body",
    "created_at",
    "edited_at",
    "deleted_at",
    "deleted_by",
];

// The servers.

fn hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| ticketd::auth::password::hash_password(PASSWORD))
}

/// Writes a staff file into `dir`: `root` (admin), `dana` and `erin`
/// (agents). Returns the flags naming it.
fn staff_flags(dir: &Path) -> Vec<String> {
    let h = hash();
    let staff = format!("root:admin:{h}\ndana:agent:{h}\nerin:agent:{h}\n");
    vec!["--staff-file".into(), private_file(dir, "staff", &staff)]
}

/// A server with the staff above, every rate limit out of the way, room
/// for many sockets from one address, and `extra` flags (a limit flag in
/// `extra` replaces the generous one).
async fn staff_app(extra: &[&str]) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut args = staff_flags(dir.path());
    args.extend(unlimited(extra));
    spawn_in(
        dir,
        Options {
            args,
            envs: Vec::new(),
        },
    )
    .await
}

/// The server most tests share.
async fn shared() -> &'static TestApp {
    static APP: OnceCell<TestApp> = OnceCell::const_new();
    APP.get_or_init(|| async { kept(staff_app(&[]).await) })
        .await
}

// Small helpers.

fn str_of(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("a string: {value}"))
        .to_string()
}

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap_or_else(|| panic!("a time: {value}")))
        .unwrap_or_else(|e| panic!("{value}: {e}"))
        .with_timezone(&Utc)
}

/// A follow token: 64 hex characters.
fn check_follow_token(token: &Value) -> String {
    let token = token
        .as_str()
        .unwrap_or_else(|| panic!("a follow token: {token}"));
    assert_eq!(token.len(), 64, "{token}");
    assert!(token.chars().all(|c| c.is_ascii_hexdigit()), "{token}");
    token.to_string()
}

/// Checks a comment's shape and values: exactly the contract's keys, a
/// UUID id, a recent `created_at`, not edited and not deleted.
fn check_comment(comment: &Value, author: &str, role: &str, visibility: &str, body: &str) {
    let keys: BTreeSet<&str> = comment
        .as_object()
        .unwrap_or_else(|| panic!("a comment object: {comment}"))
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, BTreeSet::from(COMMENT_KEYS), "{comment}");
    uuid::Uuid::parse_str(comment["id"].as_str().unwrap_or_default())
        .unwrap_or_else(|_| panic!("id is not a UUID: {comment}"));
    assert_eq!(comment["author"], author, "{comment}");
    assert_eq!(comment["role"], role, "{comment}");
    assert_eq!(comment["visibility"], visibility, "{comment}");
    assert_eq!(comment["body"], body, "{comment}");
    let age = Utc::now() - time(&comment["created_at"]);
    assert!(
        age.abs() < chrono::TimeDelta::seconds(120),
        "created_at is now: {comment}"
    );
    for key in ["edited_at", "deleted_at", "deleted_by"] {
        assert!(comment[key].is_null(), "{key}: {comment}");
    }
}

fn comment_id(comment: &Value) -> String {
    str_of(&comment["id"])
}

/// Mismatches between the same ticket as two endpoints show it, reported
/// together at the end of a test, so one of them does not hide the checks
/// that follow (the test still fails).
#[derive(Default)]
struct Deferred(Vec<String>);

impl Deferred {
    /// The same ticket, but for its `sla`: a staff reply moves the clocks
    /// (asserted where it matters), the rest of the ticket must not change.
    fn same(&mut self, left: &Value, right: &Value, what: &str) {
        let strip = |v: &Value| {
            let mut v = v.clone();
            if let Some(map) = v.as_object_mut() {
                map.remove("sla");
            }
            v
        };
        let (left, right) = (&strip(left), &strip(right));
        if left != right {
            let differs: Vec<String> = match (left.as_object(), right.as_object()) {
                (Some(l), Some(r)) => l
                    .keys()
                    .chain(r.keys())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .filter(|k| l.get(*k) != r.get(*k))
                    .map(|k| {
                        format!(
                            "{k}: {} vs {}",
                            l.get(k).unwrap_or(&Value::Null),
                            r.get(k).unwrap_or(&Value::Null)
                        )
                    })
                    .collect(),
                _ => vec![format!("{left} vs {right}")],
            };
            self.0
                .push(format!("{what} differ: {}", differs.join("; ")));
        }
    }

    fn finish(self) {
        assert!(self.0.is_empty(), "{}", self.0.join("\n"));
    }
}

/// A comment event's data without the ticket's clocks it also carries:
/// what the `comment_saved` reply holds.
fn without_sla(data: &Value) -> Value {
    let mut data = data.clone();
    let clocks = data.as_object_mut().and_then(|d| d.remove("sla"));
    assert!(clocks.is_some_and(|c| c.is_object()), "sla in {data}");
    data
}

/// The ticket without its `comments` (as broadcasts and listings have it).
fn without_comments(ticket: &Value) -> Value {
    let mut ticket = ticket.clone();
    ticket
        .as_object_mut()
        .expect("a ticket object")
        .remove("comments");
    ticket
}

// HTTPS.

/// Who makes an HTTP request.
#[derive(Clone, Copy)]
enum Who<'a> {
    Anonymous,
    /// A staff session token, as `Authorization: Bearer`.
    Staff(&'a str),
    /// A requester's follow token, as `?follow=`.
    Requester(&'a str),
}

/// An HTTPS request: the status and the raw body.
async fn http_text(
    app: &TestApp,
    who: Who<'_>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, String) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut url = format!("{}{path}", app.base_url());
    if let Who::Requester(token) = who {
        url.push(if path.contains('?') { '&' } else { '?' });
        url.push_str(&format!("follow={token}"));
    }
    let mut request = app.http().request(method, url);
    if let Who::Staff(token) = who {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let resp = request.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

/// An HTTPS request: the status and the JSON body (null when there is none).
async fn http(
    app: &TestApp,
    who: Who<'_>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let (status, text) = http_text(app, who, method, path, body).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A request that must answer `status`; returns the body.
async fn http_expect(
    app: &TestApp,
    who: Who<'_>,
    (method, path, body): (&str, &str, Option<Value>),
    status: u16,
) -> Value {
    let (got, answer) = http(app, who, method, path, body).await;
    assert_eq!(got, status, "{method} {path}: {answer}");
    answer
}

/// A request that must be refused with `status` and `code`; returns the
/// message.
async fn http_refused(
    app: &TestApp,
    who: Who<'_>,
    (method, path, body): (&str, &str, Option<Value>),
    status: u16,
    code: &str,
) -> String {
    let (got, answer) = http(app, who, method, path, body).await;
    assert_eq!(got, status, "{method} {path}: {answer}");
    assert_eq!(answer["error"]["code"], code, "{method} {path}: {answer}");
    str_of(&answer["error"]["message"])
}

async fn token(app: &TestApp, user: &str) -> String {
    app.login_token(user, PASSWORD).await
}

/// `POST /api/tickets/{id}/comments` that must answer 201; the comment.
async fn add_http(app: &TestApp, who: Who<'_>, id: &str, body: Value) -> Value {
    let answer = http_expect(
        app,
        who,
        ("POST", &format!("/api/tickets/{id}/comments"), Some(body)),
        201,
    )
    .await;
    let keys: Vec<&String> = answer.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["comment"], "{answer}");
    answer["comment"].clone()
}

/// `GET /api/tickets/{id}/comments` as `who`: the comments.
async fn comments_of(app: &TestApp, who: Who<'_>, id: &str) -> Vec<Value> {
    let answer = http_expect(
        app,
        who,
        ("GET", &format!("/api/tickets/{id}/comments"), None),
        200,
    )
    .await;
    let keys: Vec<&String> = answer.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["comments"], "{answer}");
    answer["comments"].as_array().unwrap().clone()
}

/// `GET /api/tickets/{id}` as `who`, which must answer 200.
async fn ticket_of(app: &TestApp, who: Who<'_>, id: &str) -> Value {
    http_expect(app, who, ("GET", &format!("/api/tickets/{id}"), None), 200).await
}

/// Submits over HTTPS as `requester`: the ticket (without its follow
/// token) and the follow token.
async fn submit_http(app: &TestApp, description: &str, requester: &str) -> (Value, String) {
    let mut answer = http_expect(
        app,
        Who::Anonymous,
        (
            "POST",
            "/api/tickets",
            Some(json!({"description": description, "system": "Printers", "requester": requester})),
        ),
        201,
    )
    .await;
    let token = check_follow_token(&answer["follow_token"]);
    answer.as_object_mut().unwrap().remove("follow_token");
    (answer, token)
}

/// Where the stream stands: `(epoch, v)`.
async fn head(app: &TestApp) -> (String, u64) {
    let answer = http_expect(app, Who::Anonymous, ("GET", "/api/changes", None), 200).await;
    (str_of(&answer["epoch"]), answer["v"].as_u64().unwrap())
}

/// Every change `who` may read after `since` from `/api/changes` (paging
/// with `more`), and the raw text of every page.
async fn all_changes(app: &TestApp, who: Who<'_>, epoch: &str, since: u64) -> (Vec<Value>, String) {
    let mut from = since;
    let mut events = Vec::new();
    let mut raw = String::new();
    loop {
        let (status, text) = http_text(
            app,
            who,
            "GET",
            &format!("/api/changes?epoch={epoch}&since={from}&limit=1000"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{text}");
        let page: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(page["recovered"], true, "{page}");
        raw.push_str(&text);
        let batch = page["events"].as_array().unwrap().clone();
        if let Some(last) = batch.last() {
            from = v(last);
        }
        events.extend(batch);
        if page["more"] != true {
            return (events, raw);
        }
    }
}

/// The newest audit entries about ticket `id`, oldest first.
async fn audit_of(app: &TestApp, admin_token: &str, id: &str) -> Vec<Value> {
    let answer = http_expect(
        app,
        Who::Staff(admin_token),
        ("GET", "/api/audit?limit=1000", None),
        200,
    )
    .await;
    let mut mine: Vec<Value> = answer
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ticket_id"] == id)
        .cloned()
        .collect();
    mine.reverse();
    mine
}

/// Every file under the data directory, as (lossy) text.
fn data_files_text(app: &TestApp) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut dirs = vec![app.data_dir()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.push((path, String::from_utf8_lossy(&bytes).into_owned()));
            }
        }
    }
    out
}

// WebSocket clients.

/// Whether a frame is a change (it carries `v`) about ticket `id`.
fn change_about(frame: &Value, id: &str) -> bool {
    let data = &frame["data"];
    frame.get("v").is_some() && (data["request_id"] == id || data["ticket_id"] == id)
}

fn is_comment_event(frame: &Value) -> bool {
    COMMENT_EVENTS.contains(&frame["event"].as_str().unwrap_or_default())
}

/// A `/ws` client that keeps the frames it skipped while waiting for a
/// reply, so a broadcast that comes before the reply is not lost.
struct Ws {
    client: WsClient,
    backlog: VecDeque<Value>,
}

impl Ws {
    async fn open(app: &TestApp, path: &str) -> Ws {
        Ws {
            client: WsClient::connect(app, path).await,
            backlog: VecDeque::new(),
        }
    }

    /// A fresh client past its first sync: `(client, initial_tickets, sync_state)`.
    async fn synced(app: &TestApp) -> (Ws, Vec<Value>, Value) {
        let mut ws = Ws::open(app, "/ws").await;
        let first = ws.next().await;
        assert_eq!(first["event"], "initial_tickets", "{first}");
        let state = ws.next_named("sync_state").await;
        (
            ws,
            first["data"].as_array().unwrap().clone(),
            state["data"].clone(),
        )
    }

    /// A client that resumes from `since`.
    async fn resume(app: &TestApp, epoch: &str, since: u64) -> Ws {
        Ws::open(app, &format!("/ws?epoch={epoch}&since={since}")).await
    }

    /// A signed-in client (past its first sync).
    async fn signed_in(app: &TestApp, token: &str) -> Ws {
        let (mut ws, _, _) = Ws::synced(app).await;
        ws.authenticate(token).await;
        ws
    }

    async fn authenticate(&mut self, token: &str) {
        let reply = self.ask("authenticate", json!({"token": token})).await;
        assert_eq!(reply["event"], "authenticated", "{reply}");
    }

    /// The next text frame (what the backlog holds first).
    async fn next(&mut self) -> Value {
        if let Some(frame) = self.backlog.pop_front() {
            return frame;
        }
        loop {
            let message = tokio::time::timeout(LONG, self.client.stream.next())
                .await
                .expect("a frame within the wait")
                .expect("the connection is open")
                .expect("no websocket error");
            match message {
                Message::Text(text) => return serde_json::from_str(&text).unwrap(),
                Message::Close(frame) => panic!("connection closed: {frame:?}"),
                _ => continue,
            }
        }
    }

    /// Every frame up to and including the first that `done` accepts.
    async fn until(&mut self, what: &str, done: impl Fn(&Value) -> bool) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + LONG;
        let mut frames = Vec::new();
        loop {
            let frame = tokio::time::timeout_at(deadline, self.next())
                .await
                .unwrap_or_else(|_| panic!("no {what} in time; heard {frames:#?}"));
            let last = done(&frame);
            frames.push(frame);
            if last {
                return frames;
            }
        }
    }

    /// The next frame named `event`, whole.
    async fn next_named(&mut self, event: &str) -> Value {
        self.until(event, |f| f["event"] == event)
            .await
            .pop()
            .unwrap()
    }

    /// The next change frame about ticket `id`, whole.
    async fn next_about(&mut self, id: &str) -> Value {
        self.until(&format!("a change to {id}"), |f| change_about(f, id))
            .await
            .pop()
            .unwrap()
    }

    /// Every frame up to and including the comment event about `id` for
    /// the comment `comment_id`.
    async fn until_comment(&mut self, id: &str, comment_id: &str) -> Vec<Value> {
        self.until(&format!("the event of comment {comment_id}"), |f| {
            is_comment_event(f) && change_about(f, id) && f["data"]["comment"]["id"] == comment_id
        })
        .await
    }

    /// Sends `event` with a fresh `ref` and returns the direct reply (the
    /// frame carrying that `ref`); other frames are kept for later.
    async fn ask(&mut self, event: &str, data: Value) -> Value {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let reference = format!("c{}", NEXT.fetch_add(1, Ordering::Relaxed));
        self.client
            .send_json(json!({"event": event, "data": data, "ref": reference}))
            .await;
        let mut skipped = Vec::new();
        let deadline = tokio::time::Instant::now() + LONG;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.next_wire())
                .await
                .unwrap_or_else(|_| panic!("no reply to {event} {data}"));
            if frame["ref"] == reference.as_str() {
                self.backlog.extend(skipped);
                return frame;
            }
            skipped.push(frame);
        }
    }

    /// The next frame from the wire (not the backlog).
    async fn next_wire(&mut self) -> Value {
        let backlog = std::mem::take(&mut self.backlog);
        let frame = self.next().await;
        self.backlog = backlog;
        frame
    }

    /// A client event that must be answered `reply`; returns its data.
    async fn ok(&mut self, event: &str, data: Value, reply: &str) -> Value {
        let frame = self.ask(event, data.clone()).await;
        assert_eq!(frame["event"], reply, "{event} {data}: {frame}");
        frame["data"].clone()
    }

    /// A client event that must be refused with `code`; returns the message.
    async fn refused(&mut self, event: &str, data: Value, code: &str) -> String {
        let frame = self.ask(event, data.clone()).await;
        assert_eq!(frame["event"], "error", "{event} {data}: {frame}");
        assert_eq!(frame["data"]["code"], code, "{event} {data}: {frame}");
        str_of(&frame["data"]["message"])
    }

    /// `add_comment` that must be answered `comment_saved` for `id`;
    /// returns the comment.
    async fn add(&mut self, id: &str, data: Value) -> Value {
        let mut data = data;
        data["ticket_id"] = json!(id);
        let saved = self.ok("add_comment", data, "comment_saved").await;
        assert_eq!(saved["ticket_id"], id, "{saved}");
        let keys: BTreeSet<&str> = saved
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, BTreeSet::from(["ticket_id", "comment"]), "{saved}");
        saved["comment"].clone()
    }

    /// `submit_ticket` as `requester`: the id and the follow token.
    async fn submit(&mut self, description: &str, requester: &str) -> (String, String) {
        let data = self
            .ok(
                "submit_ticket",
                json!({"description": description, "system": "Printers", "requester": requester}),
                "ticket_submitted",
            )
            .await;
        let keys: BTreeSet<&str> = data
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            BTreeSet::from(["request_id", "follow_token"]),
            "{data}"
        );
        (
            str_of(&data["request_id"]),
            check_follow_token(&data["follow_token"]),
        )
    }
}

/// What a resuming client hears up to `sync_state`: the replayed change
/// frames (other frames but `stats_update` fail the test) and the state.
async fn replayed(ws: &mut Ws) -> (Vec<Value>, Value) {
    let mut frames = Vec::new();
    loop {
        let frame = ws.next().await;
        match frame["event"].as_str().unwrap_or_default() {
            "stats_update" => continue,
            "sync_state" => return (frames, frame["data"].clone()),
            "initial_tickets" => panic!("a first sync instead of a resume: {frame}"),
            _ => {
                v(&frame);
                frames.push(frame);
            }
        }
    }
}

/// The change frames about `id` among `frames`.
fn about_id(frames: &[Value], id: &str) -> Vec<Value> {
    frames
        .iter()
        .filter(|f| change_about(f, id))
        .cloned()
        .collect()
}

/// The comment events among `frames`.
fn comment_frames(frames: &[Value]) -> Vec<Value> {
    frames
        .iter()
        .filter(|f| is_comment_event(f))
        .cloned()
        .collect()
}

/// Asserts that no frame's text holds `marker`.
fn assert_unseen(frames: &[Value], marker: &str, who: &str) {
    for frame in frames {
        assert!(
            !frame.to_string().contains(marker),
            "{who} heard {marker}: {frame}"
        );
    }
}

// Socket.IO.

/// A `rust_socketio` client and what it has heard, as `(event, args)`.
struct Sio {
    client: Client,
    rx: mpsc::UnboundedReceiver<(String, Vec<Value>)>,
    backlog: VecDeque<(String, Vec<Value>)>,
}

impl Sio {
    /// Connects (with `auth` for a resume) and reads up to `sync_state`.
    async fn connect(app: &TestApp, auth: Option<Value>) -> (Sio, Vec<(String, Vec<Value>)>) {
        let (mut builder, rx) = socketio_builder(app);
        if let Some(auth) = auth {
            builder = builder.auth(auth);
        }
        let client = builder.connect().await.expect("rust_socketio connects");
        let mut sio = Sio {
            client,
            rx,
            backlog: VecDeque::new(),
        };
        let heard = sio.until("sync_state", |(e, _)| e == "sync_state").await;
        (sio, heard)
    }

    async fn next(&mut self) -> (String, Vec<Value>) {
        if let Some(next) = self.backlog.pop_front() {
            return next;
        }
        tokio::time::timeout(LONG, self.rx.recv())
            .await
            .expect("a Socket.IO event within the wait")
            .expect("client open")
    }

    /// Every event up to and including the first that `done` accepts.
    async fn until(
        &mut self,
        what: &str,
        done: impl Fn(&(String, Vec<Value>)) -> bool,
    ) -> Vec<(String, Vec<Value>)> {
        let deadline = tokio::time::Instant::now() + LONG;
        let mut heard = Vec::new();
        loop {
            let next = tokio::time::timeout_at(deadline, self.next())
                .await
                .unwrap_or_else(|_| panic!("no {what} over Socket.IO; heard {heard:#?}"));
            let last = done(&next);
            heard.push(next);
            if last {
                return heard;
            }
        }
    }

    /// Every event up to and including the comment event for `comment_id`.
    async fn until_comment(&mut self, comment_id: &str) -> Vec<(String, Vec<Value>)> {
        self.until(&format!("the event of comment {comment_id}"), |(e, a)| {
            COMMENT_EVENTS.contains(&e.as_str())
                && a.first().is_some_and(|d| d["comment"]["id"] == comment_id)
        })
        .await
    }

    async fn authenticate(&mut self, token: &str) {
        self.client
            .emit("authenticate", json!({"token": token}))
            .await
            .unwrap();
        let heard = self
            .until("authenticated", |(e, _)| {
                e == "authenticated" || e == "error"
            })
            .await;
        let (event, args) = heard.last().unwrap();
        assert_eq!(event, "authenticated", "{args:?}");
        // Keep the broadcasts heard meanwhile.
        let keep: Vec<_> = heard[..heard.len() - 1].to_vec();
        for item in keep.into_iter().rev() {
            self.backlog.push_front(item);
        }
    }

    async fn close(self) {
        let _ = self.client.disconnect().await;
    }
}

/// Turns Socket.IO events into `/ws`-like frames (`{"event","data","v"?}`),
/// checking a change event's second argument is `{"v": N}`.
fn sio_frames(heard: &[(String, Vec<Value>)]) -> Vec<Value> {
    heard
        .iter()
        .map(|(event, args)| {
            let mut frame =
                json!({"event": event, "data": args.first().cloned().unwrap_or(Value::Null)});
            if let Some(second) = args.get(1) {
                let keys: Vec<&String> = second.as_object().unwrap().keys().collect();
                assert_eq!(keys, ["v"], "{event} {args:?}");
                frame["v"] = second["v"].clone();
            }
            frame
        })
        .collect()
}

/// `/api/tickets/{id}` with `id` in a 404 message replaced, to compare two
/// answers about different ids.
fn masked(answer: &Value, id: &str) -> Value {
    let mut answer = answer.clone();
    let message = str_of(&answer["error"]["message"]).replace(id, "<id>");
    answer["error"]["message"] = json!(message);
    answer
}

// 1. A staff comment, over /ws, to everyone.

#[tokio::test]
async fn a_staff_public_comment_reaches_every_client_and_the_api() {
    let mut deferred = Deferred::default();
    let app = shared().await;
    let dana = token(app, "dana").await;
    let root = token(app, "root").await;
    let erin = token(app, "erin").await;
    let word = unique("labels");
    let (ticket, _) = submit_http(
        app,
        &format!("{word}: the label printer prints blank pages"),
        "Ana",
    )
    .await;
    let id = id_of(&ticket);

    let mut staff = Ws::signed_in(app, &dana).await;
    let (mut anon, _, state) = Ws::synced(app).await;
    let epoch = str_of(&state["epoch"]);
    let since = state["v"].as_u64().unwrap();
    let (mut sio, _) = Sio::connect(app, None).await;

    // Over the signed-in socket: the reply, then everyone's broadcast.
    let body = format!("{word}: a technician comes at 3 pm");
    let comment = staff.add(&id, json!({"body": body})).await;
    check_comment(&comment, "dana", "agent", "public", &body);
    let added = staff.next_about(&id).await;
    assert_eq!(added["event"], "comment_added", "{added}");
    assert_eq!(added["data"]["ticket_id"], id.as_str(), "{added}");
    assert_eq!(added["data"]["comment"], comment, "{added}");
    // The first public reply from staff meets the first response.
    assert_eq!(
        added["data"]["sla"]["first_response"],
        json!({"due_at": null, "state": "met", "completed_at": comment["created_at"]}),
        "{added}"
    );
    assert_eq!(
        added["data"].as_object().map(|d| d.len()),
        Some(3),
        "{added}"
    );
    assert!(
        added.get("ref").is_none(),
        "a broadcast has no ref: {added}"
    );
    let keys: BTreeSet<&str> = added
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, BTreeSet::from(["event", "data", "v"]), "{added}");
    let added_v = v(&added);
    assert!(added_v > since, "{added}");
    assert_eq!(anon.next_about(&id).await, added, "the anonymous socket");
    let heard = sio.until_comment(&comment_id(&comment)).await;
    let (event, args) = heard.last().unwrap();
    assert_eq!(event, "comment_added");
    assert_eq!(args, &vec![added["data"].clone(), json!({"v": added_v})]);

    // With a `token` field on an anonymous socket, and over HTTPS.
    let body2 = format!("{word}: the admin's word");
    let by_root = anon
        .add(
            &id,
            json!({"body": body2, "token": root, "visibility": "public"}),
        )
        .await;
    check_comment(&by_root, "root", "admin", "public", &body2);
    let body3 = format!("{word}: erin over HTTPS");
    let by_erin = add_http(app, Who::Staff(&erin), &id, json!({"body": body3})).await;
    check_comment(&by_erin, "erin", "agent", "public", &body3);

    let mut live = vec![added.clone()];
    live.push(anon.next_about(&id).await);
    live.push(anon.next_about(&id).await);
    assert_eq!(live[1]["data"]["comment"], by_root, "{live:#?}");
    assert_eq!(live[2]["data"]["comment"], by_erin, "{live:#?}");
    assert!(v(&live[0]) < v(&live[1]) && v(&live[1]) < v(&live[2]));

    // Read back, anonymously: oldest first; the ticket has them too.
    let all = vec![comment.clone(), by_root.clone(), by_erin.clone()];
    assert_eq!(comments_of(app, Who::Anonymous, &id).await, all);
    let shown = ticket_of(app, Who::Anonymous, &id).await;
    assert_eq!(shown["comments"], json!(all), "{shown}");
    assert_eq!(
        shown["sla"]["first_response"]["state"], "met",
        "a staff reply meets the first response: {shown}"
    );
    // Ticket objects elsewhere hold no comments.
    deferred.same(
        &without_comments(&shown),
        &ticket,
        "GET /api/tickets/{id} and the POST answer",
    );
    let page = app.get_json(&format!("/api/tickets?q={word}")).await;
    assert_eq!(page["tickets"].as_array().map(Vec::len), Some(1), "{page}");
    deferred.same(
        &page["tickets"][0],
        &ticket,
        "the listing and the POST answer",
    );
    deferred.same(
        &without_comments(&shown),
        &page["tickets"][0],
        "GET /api/tickets/{id} and the listing",
    );
    let (fresh, initial, _) = Ws::synced(app).await;
    drop(fresh);
    let listed = initial
        .iter()
        .find(|t| t["request_id"] == id.as_str())
        .expect("the open ticket is in initial_tickets");
    deferred.same(listed, &ticket, "initial_tickets and the POST answer");
    // `/api/changes` holds the frames as the sockets sent them.
    let (changes, _) = all_changes(app, Who::Anonymous, &epoch, since).await;
    assert_eq!(about_id(&changes, &id), live);

    // Over Socket.IO, with a `token` field: `comment_saved`, and the
    // broadcast to the /ws clients.
    let body4 = format!("{word}: over Socket.IO");
    sio.client
        .emit(
            "add_comment",
            json!({"ticket_id": id, "body": body4, "token": erin}),
        )
        .await
        .unwrap();
    let heard = sio
        .until("comment_saved", |(e, _)| {
            e == "comment_saved" || e == "error"
        })
        .await;
    let (event, args) = heard.last().unwrap();
    assert_eq!(event, "comment_saved", "{args:?}");
    let by_sio = args[0]["comment"].clone();
    assert_eq!(args[0]["ticket_id"], id.as_str(), "{args:?}");
    check_comment(&by_sio, "erin", "agent", "public", &body4);
    let frame = anon.next_about(&id).await;
    assert_eq!(frame["event"], "comment_added");
    assert_eq!(frame["data"]["comment"], by_sio);

    // Unknown ticket: not_found.
    let nobody = uuid::Uuid::new_v4().to_string();
    staff
        .refused(
            "add_comment",
            json!({"ticket_id": nobody, "body": "hello"}),
            "not_found",
        )
        .await;
    http_refused(
        app,
        Who::Staff(&dana),
        (
            "POST",
            &format!("/api/tickets/{nobody}/comments"),
            Some(json!({"body": "hello"})),
        ),
        404,
        "not_found",
    )
    .await;
    sio.close().await;
    deferred.finish();
}

// 2. Internal notes are for staff only.

#[tokio::test]
async fn internal_note_never_reaches_anyone_who_is_not_staff() {
    let app = shared().await;
    let dana = token(app, "dana").await;
    let root = token(app, "root").await;
    let erin = token(app, "erin").await;
    let word = unique("vpn");
    let marker = unique("SECRETNOTE");
    let (epoch, start) = head(app).await;

    // The requester holds the follow token on a plain socket.
    let (mut requester, _, _) = Ws::synced(app).await;
    let (id, follow) = requester
        .submit(&format!("{word}: VPN drops every hour"), "Bea")
        .await;
    let mine = requester
        .add(
            &id,
            json!({"body": format!("{word}: still dropping"), "follow_token": follow}),
        )
        .await;
    check_comment(
        &mine,
        "Bea",
        "requester",
        "public",
        &format!("{word}: still dropping"),
    );

    let mut author = Ws::signed_in(app, &dana).await;
    let mut watcher = Ws::signed_in(app, &root).await;
    let (mut anon, _, _) = Ws::synced(app).await;
    let (mut sio, _) = Sio::connect(app, None).await;
    let (mut sio_staff, _) = Sio::connect(app, None).await;
    sio_staff.authenticate(&erin).await;

    // The note.
    let note_body = format!("{marker}: the VPN appliance admin password is in the vault");
    let note = author
        .add(&id, json!({"body": note_body, "visibility": "internal"}))
        .await;
    check_comment(&note, "dana", "agent", "internal", &note_body);
    let note_frame = watcher
        .until_comment(&id, &comment_id(&note))
        .await
        .pop()
        .unwrap();
    assert_eq!(note_frame["event"], "comment_added");
    assert_eq!(note_frame["data"]["ticket_id"], id.as_str());
    assert_eq!(note_frame["data"]["comment"], note);
    // An internal note is no response to the requester.
    assert_eq!(
        note_frame["data"]["sla"]["first_response"]["state"], "running",
        "{note_frame}"
    );
    let note_v = v(&note_frame);
    let heard = sio_staff.until_comment(&comment_id(&note)).await;
    assert_eq!(
        sio_frames(&heard).pop().unwrap(),
        note_frame,
        "a signed-in Socket.IO client hears the note"
    );

    // Resumes from before the note, while it is the newest change or near.
    let mut resumed = Ws::resume(app, &epoch, start).await;
    let (replay, state) = replayed(&mut resumed).await;
    assert_eq!(state["recovered"], true, "{state}");
    assert_eq!(state["epoch"], epoch.as_str(), "{state}");
    assert!(
        state["v"].as_u64().unwrap() >= note_v,
        "sync_state.v is the head even when the newest change is skipped: {state}, note at {note_v}"
    );
    assert_unseen(&replay, &marker, "an anonymous resume");
    let replay_mine = about_id(&replay, &id);
    assert_eq!(
        replay_mine.len(),
        2,
        "new_ticket and the requester's comment: {replay_mine:#?}"
    );
    assert_eq!(replay_mine[0]["event"], "new_ticket");
    assert_eq!(replay_mine[1]["data"]["comment"], mine);
    // A staff member's socket resumes before it can authenticate: it is
    // anonymous while the replay is sent.
    let mut staff_resumed = Ws::resume(app, &epoch, start).await;
    let (staff_replay, _) = replayed(&mut staff_resumed).await;
    let leaked = staff_replay.iter().any(|f| f.to_string().contains(&marker));
    eprintln!("a resume that authenticates afterwards replayed the note: {leaked}");
    assert!(
        !leaked,
        "a socket not (yet) signed in is not staff: {staff_replay:#?}"
    );
    staff_resumed.authenticate(&root).await;
    let (mut sio_resumed, sio_replay) =
        Sio::connect(app, Some(json!({"epoch": epoch, "since": start}))).await;
    let sio_replay = sio_frames(&sio_replay);
    assert_eq!(
        sio_replay.last().unwrap()["data"]["recovered"],
        true,
        "{sio_replay:#?}"
    );
    assert_unseen(&sio_replay, &marker, "a Socket.IO resume");

    // A public comment after the note: the next comment event everyone
    // who is not staff hears is that one.
    let public_body = format!("{word}: we replaced the appliance");
    let public = add_http(app, Who::Staff(&dana), &id, json!({"body": public_body})).await;
    let public_id = comment_id(&public);
    for (name, ws) in [
        ("the anonymous socket", &mut anon),
        ("the requester's socket", &mut requester),
        ("the resumed anonymous socket", &mut resumed),
    ] {
        let frames = ws.until_comment(&id, &public_id).await;
        assert_unseen(&frames, &marker, name);
        let comments = comment_frames(&about_id(&frames, &id));
        let last = comments.last().unwrap();
        assert_eq!(last["data"]["comment"], public, "{name}");
        assert!(
            comments
                .iter()
                .all(|f| f["data"]["comment"]["id"] != note["id"]),
            "{name}: {comments:#?}"
        );
        assert!(v(last) > note_v, "{name}: {last}");
    }
    for (name, client) in [
        ("the anonymous Socket.IO client", &mut sio),
        ("the resumed Socket.IO client", &mut sio_resumed),
    ] {
        let frames = sio_frames(&client.until_comment(&public_id).await);
        assert_unseen(&frames, &marker, name);
        assert!(
            comment_frames(&frames)
                .iter()
                .all(|f| f["data"]["comment"]["id"] != note["id"]),
            "{name}: {frames:#?}"
        );
        assert_eq!(frames.last().unwrap()["event"], "comment_added", "{name}");
    }
    // Staff hear both, in order; the socket that signed in after its
    // resume hears the public one live.
    let staff_frames = watcher.until_comment(&id, &public_id).await;
    assert_eq!(comment_frames(&about_id(&staff_frames, &id)).len(), 1);
    let public_frame = staff_frames.last().unwrap().clone();
    assert!(v(&public_frame) > note_v);
    staff_resumed.until_comment(&id, &public_id).await;

    // HTTP, anonymously and with the follow token: never the note.
    let comments_path = format!("/api/tickets/{id}/comments");
    let ticket_path = format!("/api/tickets/{id}");
    let listing_path = format!("/api/tickets?q={word}");
    let changes_path = format!("/api/changes?epoch={epoch}&since={start}&limit=1000");
    for who in [Who::Anonymous, Who::Requester(&follow)] {
        for path in [&comments_path, &ticket_path] {
            let (status, text) = http_text(app, who, "GET", path, None).await;
            assert_eq!(status, 200, "{path}: {text}");
            assert!(!text.contains(&marker), "{path}: {text}");
        }
        assert_eq!(
            comments_of(app, who, &id).await,
            vec![mine.clone(), public.clone()]
        );
    }
    for path in [&listing_path, &changes_path] {
        let (status, text) = http_text(app, Who::Anonymous, "GET", path, None).await;
        assert_eq!(status, 200, "{path}: {text}");
        assert!(!text.contains(&marker), "{path}: {text}");
    }
    let (anonymous_changes, raw) = all_changes(app, Who::Anonymous, &epoch, start).await;
    assert!(!raw.contains(&marker));
    assert!(
        anonymous_changes.iter().all(|f| v(f) != note_v),
        "the note's version is skipped"
    );
    assert!(anonymous_changes.contains(&public_frame));
    let (_, initial, _) = Ws::synced(app).await;
    assert!(
        !json!(initial).to_string().contains(&marker),
        "initial_tickets of a fresh socket"
    );

    // Staff read it over HTTPS.
    assert_eq!(
        comments_of(app, Who::Staff(&erin), &id).await,
        vec![mine.clone(), note.clone(), public.clone()]
    );
    assert_eq!(
        ticket_of(app, Who::Staff(&erin), &id).await["comments"],
        json!([mine, note, public])
    );
    let (staff_changes, _) = all_changes(app, Who::Staff(&erin), &epoch, start).await;
    assert!(
        staff_changes.contains(&note_frame),
        "a staff Bearer token reads the note's change as announced"
    );
    assert!(staff_changes.contains(&public_frame));
    sio.close().await;
    sio_staff.close().await;
    sio_resumed.close().await;
}

// 3. Follow tokens.

#[tokio::test]
async fn follow_tokens_let_requesters_read_and_reply_and_never_leak() {
    let mut deferred = Deferred::default();
    let app = shared().await;
    let root = token(app, "root").await;
    let dana = token(app, "dana").await;
    let word = unique("scanner");
    let (mut watcher, _, state) = Ws::synced(app).await;
    let (epoch, since) = (str_of(&state["epoch"]), state["v"].as_u64().unwrap());

    // Over /ws and over HTTPS, each with its own token.
    let (mut requester, _, _) = Ws::synced(app).await;
    let (ws_id, ws_token) = requester
        .submit(
            &format!("{word}: the scanner on floor 2 is offline"),
            "Carla Requester",
        )
        .await;
    let (ticket, http_token) = submit_http(
        app,
        &format!("{word}: the scanner on floor 5 is offline"),
        "Dev Requester",
    )
    .await;
    let http_id = id_of(&ticket);
    assert_ne!(ws_token, http_token);
    let tokens = [ws_token.clone(), http_token.clone()];

    // The broadcasts hold the tickets without the tokens.
    let first = watcher.next_about(&ws_id).await;
    let second = watcher.next_about(&http_id).await;
    assert_eq!(first["event"], "new_ticket");
    assert_eq!(second["event"], "new_ticket");
    deferred.same(
        &second["data"],
        &ticket,
        "new_ticket and the POST answer minus its follow_token",
    );
    for frame in [&first, &second] {
        assert!(frame["data"].get("follow_token").is_none(), "{frame}");
    }

    // Reading with the token: the ticket with its public comments.
    let note = add_http(
        app,
        Who::Staff(&dana),
        &http_id,
        json!({"body": format!("{word}: internal, driver issue"), "visibility": "internal"}),
    )
    .await;
    let public = add_http(
        app,
        Who::Staff(&dana),
        &http_id,
        json!({"body": format!("{word}: we are looking into it")}),
    )
    .await;
    let followed = ticket_of(app, Who::Requester(&http_token), &http_id).await;
    assert_eq!(followed["comments"], json!([public]), "{followed}");
    deferred.same(
        &without_comments(&followed),
        &ticket,
        "GET ?follow= and the POST answer",
    );
    assert_eq!(
        followed,
        ticket_of(app, Who::Anonymous, &http_id).await,
        "the same as without the token"
    );
    assert_eq!(
        comments_of(app, Who::Requester(&http_token), &http_id).await,
        vec![public.clone()]
    );

    // A wrong token: 404 exactly as an unknown id.
    let unknown = uuid::Uuid::new_v4().to_string();
    let (status, missing) = http(
        app,
        Who::Anonymous,
        "GET",
        &format!("/api/tickets/{unknown}"),
        None,
    )
    .await;
    assert_eq!(status, 404, "{missing}");
    assert_eq!(missing["error"]["code"], "not_found", "{missing}");
    let random = "0123456789abcdef".repeat(4);
    for wrong in [ws_token.as_str(), random.as_str(), "x"] {
        for path in [
            format!("/api/tickets/{http_id}"),
            format!("/api/tickets/{http_id}/comments"),
        ] {
            let (status, answer) = http(app, Who::Requester(wrong), "GET", &path, None).await;
            assert_eq!(status, 404, "{path} with {wrong}: {answer}");
            if !path.ends_with("comments") {
                assert_eq!(
                    masked(&answer, &http_id),
                    masked(&missing, &unknown),
                    "the same answer as an unknown id"
                );
            } else {
                assert_eq!(answer["error"]["code"], "not_found", "{answer}");
            }
        }
    }

    // Replies: over HTTPS and over /ws.
    let reply_body = format!("{word}: it is still offline this morning");
    let reply = add_http(
        app,
        Who::Requester(&http_token),
        &http_id,
        json!({"body": reply_body}),
    )
    .await;
    check_comment(&reply, "Dev Requester", "requester", "public", &reply_body);
    let ws_body = format!("{word}: floor 2 too");
    let ws_reply = requester
        .add(&ws_id, json!({"body": ws_body, "follow_token": ws_token}))
        .await;
    check_comment(
        &ws_reply,
        "Carla Requester",
        "requester",
        "public",
        &ws_body,
    );
    // Broadcast like any public comment.
    let heard = watcher.until_comment(&http_id, &comment_id(&reply)).await;
    assert_eq!(heard.last().unwrap()["data"]["comment"], reply);
    let heard = watcher.until_comment(&ws_id, &comment_id(&ws_reply)).await;
    assert_eq!(heard.last().unwrap()["data"]["comment"], ws_reply);

    // Refused: internal with a follow token; no authorisation at all; a
    // wrong token or another ticket's token.
    requester
        .refused(
            "add_comment",
            json!({"ticket_id": ws_id, "body": "psst", "visibility": "internal", "follow_token": ws_token}),
            "forbidden",
        )
        .await;
    http_refused(
        app,
        Who::Requester(&http_token),
        (
            "POST",
            &format!("/api/tickets/{http_id}/comments"),
            Some(json!({"body": "psst", "visibility": "internal"})),
        ),
        403,
        "forbidden",
    )
    .await;
    requester
        .refused(
            "add_comment",
            json!({"ticket_id": ws_id, "body": "who am I"}),
            "unauthorized",
        )
        .await;
    http_refused(
        app,
        Who::Anonymous,
        (
            "POST",
            &format!("/api/tickets/{http_id}/comments"),
            Some(json!({"body": "who am I"})),
        ),
        401,
        "unauthorized",
    )
    .await;
    requester
        .refused(
            "add_comment",
            json!({"ticket_id": ws_id, "body": "wrong", "follow_token": http_token}),
            "not_found",
        )
        .await;
    http_refused(
        app,
        Who::Requester(&random),
        (
            "POST",
            &format!("/api/tickets/{http_id}/comments"),
            Some(json!({"body": "wrong"})),
        ),
        404,
        "not_found",
    )
    .await;
    // Nothing stored by the refusals.
    assert_eq!(
        comments_of(app, Who::Staff(&dana), &http_id).await,
        vec![note.clone(), public.clone(), reply.clone()]
    );
    assert_eq!(
        comments_of(app, Who::Staff(&dana), &ws_id).await,
        vec![ws_reply.clone()]
    );

    // Audited as `requester`.
    let entries = audit_of(app, &root, &http_id).await;
    let requester_entries: Vec<&Value> = entries
        .iter()
        .filter(|e| e["admin"] == "requester")
        .collect();
    // The reply, and the refused internal note (refusals for the role are
    // audited, as the README says of staff commands).
    let summary: Vec<(String, String)> = requester_entries
        .iter()
        .map(|e| (str_of(&e["action"]), str_of(&e["outcome"])))
        .collect();
    assert_eq!(
        summary,
        [
            ("add_comment".to_string(), "success".to_string()),
            ("add_comment".to_string(), "refused".to_string())
        ],
        "{entries:#?}"
    );
    assert_eq!(requester_entries[0]["after"], reply, "{entries:#?}");

    // The tokens are nowhere but with their holders.
    let mut places: Vec<(String, String)> = Vec::new();
    for path in [
        format!("/api/tickets/{http_id}"),
        format!("/api/tickets/{ws_id}"),
        format!("/api/tickets/{http_id}/comments"),
        format!("/api/tickets?q={word}"),
        "/api/tickets?all=true".to_string(),
        format!("/api/changes?epoch={epoch}&since={since}&limit=1000"),
    ] {
        let (status, text) = http_text(app, Who::Anonymous, "GET", &path, None).await;
        assert_eq!(status, 200, "{path}");
        places.push((path.clone(), text));
        let (status, text) = http_text(app, Who::Staff(&root), "GET", &path, None).await;
        assert_eq!(status, 200, "{path} as staff");
        places.push((format!("{path} as staff"), text));
    }
    let (status, audit) =
        http_text(app, Who::Staff(&root), "GET", "/api/audit?limit=1000", None).await;
    assert_eq!(status, 200);
    places.push(("/api/audit".into(), audit));
    let (_, initial, _) = Ws::synced(app).await;
    places.push(("initial_tickets".into(), json!(initial).to_string()));
    places.push(("the broadcasts".into(), json!([first, second]).to_string()));
    places.push(("the server log".into(), app.log_text()));
    for (path, text) in data_files_text(app) {
        places.push((path.display().to_string(), text));
    }
    for token in &tokens {
        for (place, text) in &places {
            assert!(
                !text.contains(token.as_str()),
                "the follow token is in {place}"
            );
        }
    }
    deferred.finish();
}

// 4. A requester's reply drives the lifecycle.

#[tokio::test]
async fn a_requester_reply_reopens_a_resolved_ticket_and_starts_a_new_one_when_closed() {
    let mut deferred = Deferred::default();
    let app = shared().await;
    let root = token(app, "root").await;
    let dana = token(app, "dana").await;
    let word = unique("monitor");
    let (mut watcher, _, _) = Ws::synced(app).await;
    let (mut requester, _, _) = Ws::synced(app).await;
    let resolve = |id: &str| format!("/api/tickets/{id}/resolve");

    // Resolved and unassigned: a reply reopens it to `open`.
    let (a, a_token) = requester
        .submit(&format!("{word}: the monitor flickers"), "Eve")
        .await;
    assert_eq!(watcher.next_about(&a).await["event"], "new_ticket");
    http_expect(app, Who::Staff(&root), ("POST", &resolve(&a), None), 200).await;
    assert_eq!(watcher.next_about(&a).await["event"], "ticket_resolved");
    let body = format!("{word}: it flickers again");
    let reply = add_http(app, Who::Requester(&a_token), &a, json!({"body": body})).await;
    check_comment(&reply, "Eve", "requester", "public", &body);
    let updated = watcher.next_about(&a).await;
    assert_eq!(updated["event"], "ticket_updated", "{updated}");
    assert_eq!(updated["data"]["status"], "open", "{updated}");
    assert!(updated["data"]["resolved_at"].is_null(), "{updated}");
    let added = watcher.next_about(&a).await;
    assert_eq!(added["event"], "comment_added", "{added}");
    assert_eq!(added["data"]["comment"], reply);
    assert!(v(&updated) < v(&added));
    assert_eq!(ticket_of(app, Who::Anonymous, &a).await["status"], "open");

    // Resolved and assigned: a reply over /ws reopens it to `in_progress`.
    let (b, b_token) = requester
        .submit(&format!("{word}: the second monitor is dead"), "Finn")
        .await;
    assert_eq!(watcher.next_about(&b).await["event"], "new_ticket");
    http_expect(
        app,
        Who::Staff(&root),
        (
            "POST",
            &format!("/api/tickets/{b}/assign"),
            Some(json!({"assignee": "erin"})),
        ),
        200,
    )
    .await;
    http_expect(app, Who::Staff(&root), ("POST", &resolve(&b), None), 200).await;
    assert_eq!(watcher.next_about(&b).await["event"], "ticket_updated");
    assert_eq!(watcher.next_about(&b).await["event"], "ticket_resolved");
    let body = format!("{word}: still dead");
    let ws_reply = requester
        .add(&b, json!({"body": body, "follow_token": b_token}))
        .await;
    check_comment(&ws_reply, "Finn", "requester", "public", &body);
    let updated = watcher.next_about(&b).await;
    assert_eq!(updated["event"], "ticket_updated", "{updated}");
    assert_eq!(
        (&updated["data"]["status"], &updated["data"]["assignee"]),
        (&json!("in_progress"), &json!("erin")),
        "{updated}"
    );
    let added = watcher.next_about(&b).await;
    assert_eq!(added["event"], "comment_added", "{added}");
    assert_eq!(added["data"]["comment"], ws_reply);

    // `reopen?follow=`: the requester reopens a resolved ticket.
    http_expect(app, Who::Staff(&root), ("POST", &resolve(&a), None), 200).await;
    assert_eq!(watcher.next_about(&a).await["event"], "ticket_resolved");
    let reopen = format!("/api/tickets/{a}/reopen");
    http_refused(
        app,
        Who::Requester(&b_token),
        ("POST", &reopen, None),
        404,
        "not_found",
    )
    .await;
    http_refused(
        app,
        Who::Anonymous,
        ("POST", &reopen, None),
        401,
        "unauthorized",
    )
    .await;
    assert_eq!(
        ticket_of(app, Who::Anonymous, &a).await["status"],
        "resolved"
    );
    let (status, answer) = http(app, Who::Requester(&a_token), "POST", &reopen, None).await;
    assert_eq!(status, 200, "{answer}");
    let updated = watcher.next_about(&a).await;
    assert_eq!(updated["event"], "ticket_updated", "{updated}");
    assert_eq!(updated["data"]["status"], "open", "{updated}");
    assert_eq!(ticket_of(app, Who::Anonymous, &a).await["status"], "open");

    // Closed: a reply starts a new ticket linked to it.
    http_expect(app, Who::Staff(&root), ("POST", &resolve(&b), None), 200).await;
    http_expect(
        app,
        Who::Staff(&root),
        (
            "POST",
            &format!("/api/tickets/{b}/status"),
            Some(json!({"status": "closed"})),
        ),
        200,
    )
    .await;
    assert_eq!(watcher.next_about(&b).await["event"], "ticket_resolved");
    let closed = watcher.next_about(&b).await;
    assert_eq!(closed["data"]["status"], "closed", "{closed}");
    let closed_before = ticket_of(app, Who::Staff(&dana), &b).await;

    let body = format!("{word}: the replacement monitor flickers too");
    let answer = http_expect(
        app,
        Who::Requester(&b_token),
        (
            "POST",
            &format!("/api/tickets/{b}/comments"),
            Some(json!({"body": body})),
        ),
        201,
    )
    .await;
    let keys: BTreeSet<&str> = answer
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["ticket", "follow_token", "linked_to"]),
        "{answer}"
    );
    assert_eq!(answer["linked_to"], b.as_str());
    let new_token = check_follow_token(&answer["follow_token"]);
    assert_ne!(new_token, b_token);
    let linked = answer["ticket"].clone();
    let c = id_of(&linked);
    assert_ne!(c, b);
    assert_eq!(linked["linked_to"], b.as_str(), "{linked}");
    assert_eq!(
        linked["request_details"],
        json!({"description": body, "system": "Printers", "requester": "Finn"}),
        "{linked}"
    );
    assert_eq!(linked["status"], "open", "{linked}");
    assert!(
        linked["analysis"]["category"].is_string(),
        "analysed: {linked}"
    );
    assert!(linked["priority"].is_string(), "{linked}");
    let new_ticket = watcher.next_about(&c).await;
    assert_eq!(new_ticket["event"], "new_ticket", "{new_ticket}");
    deferred.same(
        &new_ticket["data"],
        &linked,
        "new_ticket and the linked ticket answered",
    );
    assert_eq!(
        ticket_of(app, Who::Staff(&dana), &b).await,
        closed_before,
        "the closed ticket is untouched"
    );
    let followed = ticket_of(app, Who::Requester(&new_token), &c).await;
    deferred.same(
        &without_comments(&followed),
        &linked,
        "GET ?follow= and the linked ticket answered",
    );
    assert_eq!(followed["comments"], json!([]));
    http_refused(
        app,
        Who::Requester(&b_token),
        ("GET", &format!("/api/tickets/{c}"), None),
        404,
        "not_found",
    )
    .await;

    // The same over /ws: `ticket_submitted` with `linked_to`.
    let body = format!("{word}: and the cable is frayed");
    let submitted = requester
        .ok(
            "add_comment",
            json!({"ticket_id": b, "body": body, "follow_token": b_token}),
            "ticket_submitted",
        )
        .await;
    let keys: BTreeSet<&str> = submitted
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["request_id", "follow_token", "linked_to"]),
        "{submitted}"
    );
    assert_eq!(submitted["linked_to"], b.as_str());
    let d = str_of(&submitted["request_id"]);
    let d_token = check_follow_token(&submitted["follow_token"]);
    assert!(d != c && d_token != new_token && d_token != b_token);
    let new_ticket = watcher.next_about(&d).await;
    assert_eq!(new_ticket["event"], "new_ticket");
    assert_eq!(new_ticket["data"]["linked_to"], b.as_str());
    assert_eq!(new_ticket["data"]["request_details"]["description"], body);
    assert!(new_ticket["data"].get("follow_token").is_none());

    // Staff comments on a closed ticket: invalid_transition.
    http_refused(
        app,
        Who::Staff(&dana),
        (
            "POST",
            &format!("/api/tickets/{b}/comments"),
            Some(json!({"body": "closing remark"})),
        ),
        409,
        "invalid_transition",
    )
    .await;
    let mut staff = Ws::signed_in(app, &dana).await;
    staff
        .refused(
            "add_comment",
            json!({"ticket_id": b, "body": "closing remark", "visibility": "internal"}),
            "invalid_transition",
        )
        .await;
    assert_eq!(ticket_of(app, Who::Staff(&dana), &b).await, closed_before);
    deferred.finish();
}

// 5. Edit and delete.

#[tokio::test]
async fn authors_edit_within_the_window_and_admins_delete_any_comment() {
    let app = shared().await;
    let root = token(app, "root").await;
    let dana = token(app, "dana").await;
    let erin = token(app, "erin").await;
    let word = unique("dock");
    let (mut anon, _, _) = Ws::synced(app).await;
    let mut staff = Ws::signed_in(app, &dana).await;
    let (ticket, follow) =
        submit_http(app, &format!("{word}: the dock has no display"), "Gus").await;
    let id = id_of(&ticket);
    let comment_path = |cid: &str| format!("/api/tickets/{id}/comments/{cid}");

    let first_body = format!("{word}: first draft");
    let comment = add_http(app, Who::Staff(&dana), &id, json!({"body": first_body})).await;
    let cid = comment_id(&comment);
    anon.until_comment(&id, &cid).await;

    // The author edits, over /ws.
    let second_body = format!("{word}: second draft");
    let saved = staff
        .ok(
            "edit_comment",
            json!({"ticket_id": id, "comment_id": cid, "body": second_body}),
            "comment_saved",
        )
        .await;
    let edited = saved["comment"].clone();
    assert_eq!(saved, json!({"ticket_id": id, "comment": edited}));
    assert_eq!(edited["id"], cid.as_str());
    assert_eq!(edited["body"], second_body);
    assert_eq!(edited["created_at"], comment["created_at"]);
    assert!(
        time(&edited["edited_at"]) >= time(&comment["created_at"]),
        "{edited}"
    );
    assert!(edited["deleted_at"].is_null() && edited["deleted_by"].is_null());
    let mut expected = comment.clone();
    expected["body"] = json!(second_body);
    expected["edited_at"] = edited["edited_at"].clone();
    assert_eq!(edited, expected, "only body and edited_at change");
    let frame = anon.until_comment(&id, &cid).await.pop().unwrap();
    assert_eq!(frame["event"], "comment_edited", "{frame}");
    // The broadcast is the reply plus the ticket's clocks.
    assert_eq!(without_sla(&frame["data"]), saved);
    // And over HTTPS.
    let third_body = format!("{word}: third draft");
    let answer = http_expect(
        app,
        Who::Staff(&dana),
        (
            "PATCH",
            &comment_path(&cid),
            Some(json!({"body": third_body})),
        ),
        200,
    )
    .await;
    assert_eq!(answer["comment"]["body"], third_body, "{answer}");
    let frame = anon.until_comment(&id, &cid).await.pop().unwrap();
    assert_eq!(frame["event"], "comment_edited");
    assert_eq!(frame["data"]["comment"], answer["comment"]);

    // Someone else: forbidden (an agent may neither edit nor delete it;
    // the requester may not either).
    http_refused(
        app,
        Who::Staff(&erin),
        (
            "PATCH",
            &comment_path(&cid),
            Some(json!({"body": "mine now"})),
        ),
        403,
        "forbidden",
    )
    .await;
    http_refused(
        app,
        Who::Staff(&erin),
        ("DELETE", &comment_path(&cid), None),
        403,
        "forbidden",
    )
    .await;
    http_refused(
        app,
        Who::Requester(&follow),
        (
            "PATCH",
            &comment_path(&cid),
            Some(json!({"body": "mine now"})),
        ),
        403,
        "forbidden",
    )
    .await;
    let mut erins = Ws::signed_in(app, &erin).await;
    erins
        .refused(
            "edit_comment",
            json!({"ticket_id": id, "comment_id": cid, "body": "mine now"}),
            "forbidden",
        )
        .await;
    erins
        .refused(
            "delete_comment",
            json!({"ticket_id": id, "comment_id": cid}),
            "forbidden",
        )
        .await;
    assert_eq!(
        comments_of(app, Who::Anonymous, &id).await,
        vec![answer["comment"].clone()]
    );

    // An internal note's edit reaches staff only.
    let note_marker = unique("NOTEEDIT");
    let note = add_http(
        app,
        Who::Staff(&dana),
        &id,
        json!({"body": format!("{word}: note"), "visibility": "internal"}),
    )
    .await;
    let note_edit = staff
        .ok(
            "edit_comment",
            json!({"ticket_id": id, "comment_id": note["id"], "body": format!("{note_marker} note, edited")}),
            "comment_saved",
        )
        .await;
    assert_eq!(note_edit["comment"]["visibility"], "internal");
    let frame = staff
        .until_comment(&id, &comment_id(&note))
        .await
        .pop()
        .unwrap();
    assert_eq!(frame["event"], "comment_added");
    let frame = staff
        .until_comment(&id, &comment_id(&note))
        .await
        .pop()
        .unwrap();
    assert_eq!(frame["event"], "comment_edited");
    assert_eq!(without_sla(&frame["data"]), note_edit);

    // An admin deletes anyone's comment: a soft delete, broadcast.
    let (status, answer) = http(app, Who::Staff(&root), "DELETE", &comment_path(&cid), None).await;
    assert_eq!(status, 200, "{answer}");
    let deleted = answer["comment"].clone();
    assert_eq!(deleted["id"], cid.as_str());
    assert_eq!(deleted["body"], "", "{deleted}");
    assert_eq!(deleted["deleted_by"], "root", "{deleted}");
    assert!(time(&deleted["deleted_at"]) >= time(&comment["created_at"]));
    assert_eq!(deleted["author"], "dana");
    assert_eq!(deleted["created_at"], comment["created_at"]);
    let frames = anon.until_comment(&id, &cid).await;
    assert_unseen(&frames, &note_marker, "the anonymous socket");
    let frame = frames.last().unwrap();
    assert_eq!(frame["event"], "comment_deleted", "{frame}");
    assert_eq!(frame["data"]["ticket_id"], id.as_str(), "{frame}");
    assert_eq!(frame["data"]["comment"], deleted, "{frame}");
    assert!(frame["data"]["sla"].is_object(), "{frame}");
    assert_eq!(
        comments_of(app, Who::Anonymous, &id).await,
        vec![deleted.clone()],
        "the comment stays, emptied"
    );

    // A deleted comment takes no edit or delete.
    http_refused(
        app,
        Who::Staff(&dana),
        ("PATCH", &comment_path(&cid), Some(json!({"body": "back"}))),
        409,
        "invalid_transition",
    )
    .await;
    http_refused(
        app,
        Who::Staff(&root),
        ("DELETE", &comment_path(&cid), None),
        409,
        "invalid_transition",
    )
    .await;
    staff
        .refused(
            "edit_comment",
            json!({"ticket_id": id, "comment_id": cid, "body": "back"}),
            "invalid_transition",
        )
        .await;

    // The author deletes their own within the window, over /ws; the
    // requester edits and deletes theirs with the follow token.
    let own = add_http(
        app,
        Who::Staff(&dana),
        &id,
        json!({"body": format!("{word}: oops")}),
    )
    .await;
    let gone = staff
        .ok(
            "delete_comment",
            json!({"ticket_id": id, "comment_id": own["id"]}),
            "comment_saved",
        )
        .await;
    assert_eq!(gone["comment"]["body"], "");
    assert_eq!(gone["comment"]["deleted_by"], "dana");
    let theirs = add_http(
        app,
        Who::Requester(&follow),
        &id,
        json!({"body": format!("{word}: typo")}),
    )
    .await;
    let fixed = http_expect(
        app,
        Who::Requester(&follow),
        (
            "PATCH",
            &comment_path(&comment_id(&theirs)),
            Some(json!({"body": format!("{word}: no typo")})),
        ),
        200,
    )
    .await;
    assert_eq!(fixed["comment"]["body"], format!("{word}: no typo"));
    assert!(fixed["comment"]["edited_at"].is_string());
    http_refused(
        app,
        Who::Staff(&dana),
        (
            "PATCH",
            &comment_path(&comment_id(&theirs)),
            Some(json!({"body": "x"})),
        ),
        403,
        "forbidden",
    )
    .await;
    let mut requester = Ws::open(app, "/ws").await;
    let removed = requester
        .ok(
            "delete_comment",
            json!({"ticket_id": id, "comment_id": theirs["id"], "follow_token": follow}),
            "comment_saved",
        )
        .await;
    assert_eq!(removed["comment"]["body"], "");
    // The contract does not say what `deleted_by` holds for a requester;
    // the audit user is `requester`, and so is this.
    assert_eq!(removed["comment"]["deleted_by"], "requester", "{removed}");
    assert_eq!(removed["comment"]["author"], "Gus", "{removed}");

    // The audit trail: every action with its user, edit and delete
    // entries holding the previous body.
    let entries: Vec<Value> = audit_of(app, &root, &id)
        .await
        .into_iter()
        .filter(|e| e["outcome"] == "success")
        .collect();
    let summary: Vec<(String, String)> = entries
        .iter()
        .map(|e| (str_of(&e["admin"]), str_of(&e["action"])))
        .collect();
    let expected: Vec<(String, String)> = [
        ("dana", "add_comment"),
        ("dana", "edit_comment"),
        ("dana", "edit_comment"),
        ("dana", "add_comment"),
        ("dana", "edit_comment"),
        ("root", "delete_comment"),
        ("dana", "add_comment"),
        ("dana", "delete_comment"),
        ("requester", "add_comment"),
        ("requester", "edit_comment"),
        ("requester", "delete_comment"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(summary, expected, "{entries:#?}");
    let text = |i: usize| entries[i].to_string();
    assert!(
        text(1).contains(&first_body),
        "the first edit keeps the first body: {}",
        text(1)
    );
    assert!(
        text(2).contains(&second_body),
        "the second edit keeps the second body: {}",
        text(2)
    );
    assert!(
        text(5).contains(&third_body),
        "the delete keeps the last body: {}",
        text(5)
    );
    for e in &entries {
        assert!(!e.to_string().contains(&follow), "no follow token: {e}");
    }
}

#[tokio::test]
async fn past_the_edit_window_only_an_admin_may_delete() {
    // 0.05 minutes: a three-second window.
    let app = staff_app(&["--comment-edit-minutes", "0.05"]).await;
    let root = token(&app, "root").await;
    let dana = token(&app, "dana").await;
    let (ticket, follow) = submit_http(&app, "Projector in room 4 shows no signal", "Hal").await;
    let id = id_of(&ticket);
    let path = |c: &Value| format!("/api/tickets/{id}/comments/{}", comment_id(c));
    let comment = add_http(
        &app,
        Who::Staff(&dana),
        &id,
        json!({"body": "checking the cable"}),
    )
    .await;
    let theirs = add_http(
        &app,
        Who::Requester(&follow),
        &id,
        json!({"body": "thanks"}),
    )
    .await;
    // Within the window.
    http_expect(
        &app,
        Who::Staff(&dana),
        (
            "PATCH",
            &path(&comment),
            Some(json!({"body": "checking the HDMI cable"})),
        ),
        200,
    )
    .await;

    // Past it: the window is a time, so wait for it (bounded).
    let window_end = time(&theirs["created_at"]) + chrono::TimeDelta::milliseconds(3000);
    let wait = (window_end - Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(500);
    assert!(wait < Duration::from_secs(5), "{wait:?}");
    tokio::time::sleep(wait).await;
    let before = comments_of(&app, Who::Staff(&dana), &id).await;
    http_refused(
        &app,
        Who::Staff(&dana),
        ("PATCH", &path(&comment), Some(json!({"body": "too late"}))),
        409,
        "edit_window_closed",
    )
    .await;
    http_refused(
        &app,
        Who::Staff(&dana),
        ("DELETE", &path(&comment), None),
        409,
        "edit_window_closed",
    )
    .await;
    http_refused(
        &app,
        Who::Requester(&follow),
        ("PATCH", &path(&theirs), Some(json!({"body": "too late"}))),
        409,
        "edit_window_closed",
    )
    .await;
    let mut staff = Ws::signed_in(&app, &dana).await;
    staff
        .refused(
            "edit_comment",
            json!({"ticket_id": id, "comment_id": comment["id"], "body": "too late"}),
            "edit_window_closed",
        )
        .await;
    staff
        .refused(
            "delete_comment",
            json!({"ticket_id": id, "comment_id": comment["id"]}),
            "edit_window_closed",
        )
        .await;
    assert_eq!(comments_of(&app, Who::Staff(&dana), &id).await, before);

    // An admin deletes at any time.
    let answer = http_expect(
        &app,
        Who::Staff(&root),
        ("DELETE", &path(&theirs), None),
        200,
    )
    .await;
    assert_eq!(answer["comment"]["body"], "");
    assert_eq!(answer["comment"]["deleted_by"], "root");
    // A new comment has a window of its own.
    let fresh = add_http(&app, Who::Staff(&dana), &id, json!({"body": "one more"})).await;
    http_expect(
        &app,
        Who::Staff(&dana),
        (
            "PATCH",
            &path(&fresh),
            Some(json!({"body": "one more thing"})),
        ),
        200,
    )
    .await;
}

// 6. Limits and bad input.

#[tokio::test]
async fn bad_comments_are_refused_and_the_limit_holds() {
    let app = staff_app(&["--max-comments-per-ticket", "3"]).await;
    let dana = token(&app, "dana").await;
    let (epoch, start) = head(&app).await;
    let (ticket, follow) =
        submit_http(&app, "Badge reader at the loading dock is dead", "Ivy").await;
    let id = id_of(&ticket);
    let mut staff = Ws::signed_in(&app, &dana).await;
    let comments = format!("/api/tickets/{id}/comments");

    let long = "a".repeat(10_001);
    for (data, names) in [
        (json!({"body": ""}), "body"),
        (json!({"body": "   \n\t  "}), "body"),
        (json!({"body": long}), "body"),
        (json!({"body": "bell \u{7} here"}), "body"),
        (json!({"body": "rtl \u{202E} override"}), "body"),
        (json!({"body": 42}), "body"),
        (json!({}), "body"),
        (json!({"body": "fine", "colour": "red"}), "colour"),
        (
            json!({"body": "fine", "visibility": "secret"}),
            "visibility",
        ),
    ] {
        let mut ws_data = data.clone();
        ws_data["ticket_id"] = json!(id);
        let message = staff
            .refused("add_comment", ws_data, "invalid_payload")
            .await;
        assert!(message.contains(names), "{data}: {message}");
        let message = http_refused(
            &app,
            Who::Staff(&dana),
            ("POST", &comments, Some(data.clone())),
            400,
            "invalid_payload",
        )
        .await;
        assert!(message.contains(names), "{data}: {message}");
    }
    // Requesters get the same checks.
    let message = http_refused(
        &app,
        Who::Requester(&follow),
        ("POST", &comments, Some(json!({"body": long}))),
        400,
        "invalid_payload",
    )
    .await;
    assert!(message.contains("body"), "{message}");
    assert_eq!(
        comments_of(&app, Who::Staff(&dana), &id).await,
        Vec::<Value>::new()
    );

    // 10,000 characters (two bytes each), trimmed, is the most.
    let longest = "é".repeat(10_000);
    let first = add_http(
        &app,
        Who::Staff(&dana),
        &id,
        json!({"body": format!("  {longest}\n")}),
    )
    .await;
    assert_eq!(first["body"], longest, "stored trimmed like a description");
    let second = staff
        .add(&id, json!({"body": "two", "visibility": "internal"}))
        .await;
    let third = add_http(&app, Who::Requester(&follow), &id, json!({"body": "three"})).await;

    // The fourth: limit_reached, by anyone, over either transport.
    for who in [Who::Staff(&dana), Who::Requester(&follow)] {
        http_refused(
            &app,
            who,
            ("POST", &comments, Some(json!({"body": "four"}))),
            409,
            "limit_reached",
        )
        .await;
    }
    staff
        .refused(
            "add_comment",
            json!({"ticket_id": id, "body": "four"}),
            "limit_reached",
        )
        .await;
    staff
        .refused(
            "add_comment",
            json!({"ticket_id": id, "body": "four", "follow_token": follow}),
            "limit_reached",
        )
        .await;
    // Another ticket has its own count.
    let (other, _) = submit_http(&app, "Second badge reader is dead too", "Ivy").await;
    add_http(
        &app,
        Who::Staff(&dana),
        &id_of(&other),
        json!({"body": "one"}),
    )
    .await;

    // Nothing stored by the refusals: three comments, and the stream holds
    // exactly the changes that were made.
    assert_eq!(
        comments_of(&app, Who::Staff(&dana), &id).await,
        vec![first.clone(), second.clone(), third.clone()]
    );
    let (events, _) = all_changes(&app, Who::Staff(&dana), &epoch, start).await;
    let names: Vec<(String, u64)> = events.iter().map(|f| (str_of(&f["event"]), v(f))).collect();
    let expected: Vec<(String, u64)> = [
        "new_ticket",
        "comment_added",
        "comment_added",
        "comment_added",
        "new_ticket",
        "comment_added",
    ]
    .iter()
    .enumerate()
    .map(|(i, e)| (e.to_string(), start + 1 + i as u64))
    .collect();
    assert_eq!(names, expected);
    assert_eq!(events[1]["data"]["comment"], first);
    assert_eq!(events[2]["data"]["comment"], second);
    assert_eq!(events[3]["data"]["comment"], third);

    // A requester's refused reply to a resolved ticket does not reopen it.
    let resolve = format!("/api/tickets/{id}/resolve");
    let (status, answer) = http(&app, Who::Staff(&dana), "POST", &resolve, None).await;
    assert_eq!(status, 200, "{answer}");
    http_refused(
        &app,
        Who::Requester(&follow),
        (
            "POST",
            &comments,
            Some(json!({"body": "four, after resolution"})),
        ),
        409,
        "limit_reached",
    )
    .await;
    let shown = ticket_of(&app, Who::Staff(&dana), &id).await;
    assert_eq!(shown["status"], "resolved", "still resolved: {shown}");
}

// 7. Durability.

#[tokio::test]
async fn comments_survive_restarts_and_a_crash_and_resume_replays_them() {
    let mut app = staff_app(&[]).await;
    let dana = token(&app, "dana").await;
    let root = token(&app, "root").await;
    let (mut anon, _, state) = Ws::synced(&app).await;
    let mut staff = Ws::signed_in(&app, &dana).await;
    let epoch = str_of(&state["epoch"]);
    let v0 = state["v"].as_u64().unwrap();

    let (ticket, follow) = submit_http(&app, "Wi-Fi in the east wing drops", "Jo").await;
    let id = id_of(&ticket);
    let path = |c: &Value| format!("/api/tickets/{id}/comments/{}", comment_id(c));
    let a = add_http(
        &app,
        Who::Staff(&dana),
        &id,
        json!({"body": "rebooting the access point"}),
    )
    .await;
    let note = add_http(
        &app,
        Who::Staff(&dana),
        &id,
        json!({"body": "AP firmware is ancient", "visibility": "internal"}),
    )
    .await;
    let b = add_http(
        &app,
        Who::Staff(&dana),
        &id,
        json!({"body": "firmware updated"}),
    )
    .await;
    http_expect(
        &app,
        Who::Staff(&dana),
        (
            "PATCH",
            &path(&b),
            Some(json!({"body": "firmware updated to 7.2"})),
        ),
        200,
    )
    .await;
    let c = add_http(
        &app,
        Who::Staff(&dana),
        &id,
        json!({"body": "wrong ticket, sorry"}),
    )
    .await;
    http_expect(&app, Who::Staff(&root), ("DELETE", &path(&c), None), 200).await;
    add_http(
        &app,
        Who::Requester(&follow),
        &id,
        json!({"body": "works now, thanks"}),
    )
    .await;

    // What each audience heard: 7 changes for everyone, 8 for staff.
    let mut anon_frames = Vec::new();
    for _ in 0..7 {
        anon_frames.push(anon.next_about(&id).await);
    }
    let mut staff_frames = Vec::new();
    for _ in 0..8 {
        staff_frames.push(staff.next_about(&id).await);
    }
    assert_eq!(
        staff_frames
            .iter()
            .map(|f| str_of(&f["event"]))
            .collect::<Vec<_>>(),
        [
            "new_ticket",
            "comment_added",
            "comment_added",
            "comment_added",
            "comment_edited",
            "comment_added",
            "comment_deleted",
            "comment_added"
        ]
    );
    assert_eq!(staff_frames[2]["data"]["comment"], note);
    let mut public_frames = staff_frames.clone();
    public_frames.remove(2);
    assert_eq!(anon_frames, public_frames);
    let last = v(staff_frames.last().unwrap());
    assert_eq!(last, v0 + 8);
    drop((anon, staff));

    let views = async |app: &TestApp| {
        vec![
            json!(comments_of(app, Who::Anonymous, &id).await),
            json!(comments_of(app, Who::Staff(&dana), &id).await),
            ticket_of(app, Who::Staff(&dana), &id).await,
            ticket_of(app, Who::Requester(&follow), &id).await,
        ]
    };
    let before = views(&app).await;
    assert_eq!(before[1].as_array().unwrap().len(), 5, "{}", before[1]);
    assert_eq!(before[0].as_array().unwrap().len(), 4, "{}", before[0]);

    // A clean restart.
    app.restart().await;
    assert_eq!(views(&app).await, before, "identical after a restart");
    let mut resumed = Ws::resume(&app, &epoch, v0).await;
    let (replay, state) = replayed(&mut resumed).await;
    assert_eq!(state["recovered"], true, "{state}");
    assert_eq!(state["v"], last, "{state}");
    assert_eq!(replay, anon_frames, "replayed as first announced");
    let (anonymous, _) = all_changes(&app, Who::Anonymous, &epoch, v0).await;
    assert_eq!(anonymous, anon_frames);
    let (staffs, _) = all_changes(&app, Who::Staff(&dana), &epoch, v0).await;
    assert_eq!(staffs, staff_frames);
    drop(resumed);

    // More changes, then SIGKILL.
    let (mut anon, _, state) = Ws::synced(&app).await;
    let v1 = state["v"].as_u64().unwrap();
    assert_eq!(v1, last);
    let d = add_http(
        &app,
        Who::Staff(&dana),
        &id,
        json!({"body": "monitoring it for a day"}),
    )
    .await;
    http_expect(
        &app,
        Who::Staff(&dana),
        (
            "PATCH",
            &path(&d),
            Some(json!({"body": "monitoring it for two days"})),
        ),
        200,
    )
    .await;
    http_expect(&app, Who::Staff(&root), ("DELETE", &path(&a), None), 200).await;
    let mut after = Vec::new();
    for _ in 0..3 {
        after.push(anon.next_about(&id).await);
    }
    assert_eq!(
        after
            .iter()
            .map(|f| str_of(&f["event"]))
            .collect::<Vec<_>>(),
        ["comment_added", "comment_edited", "comment_deleted"]
    );
    drop(anon);
    let before = views(&app).await;
    assert_eq!(before[1].as_array().unwrap().len(), 6);
    app.kill();
    // The snapshot written at the last start holds the comments from
    // before it.
    let snapshot = std::fs::read_to_string(app.store_path()).unwrap();
    for body in [
        "rebooting the access point",
        "AP firmware is ancient",
        "firmware updated to 7.2",
    ] {
        assert!(snapshot.contains(body), "{body} is in the snapshot");
    }
    app.restart().await;
    assert_eq!(views(&app).await, before, "identical after SIGKILL");
    let mut resumed = Ws::resume(&app, &epoch, v1).await;
    let (replay, state) = replayed(&mut resumed).await;
    assert_eq!(state["recovered"], true, "{state}");
    assert_eq!(state["v"], v1 + 3, "{state}");
    assert_eq!(replay, after, "replayed as first announced");
}

// 8. A revoked staff socket.

#[tokio::test]
async fn a_socket_whose_staff_session_is_revoked_stops_hearing_internal_notes() {
    let app = shared().await;
    let dana = token(app, "dana").await;
    let erin = token(app, "erin").await;
    let word = unique("phone");
    let (ticket, _) = submit_http(app, &format!("{word}: desk phone 12 is dead"), "Kim").await;
    let id = id_of(&ticket);
    let mut ws = Ws::signed_in(app, &dana).await;

    // Signed in: it hears a note.
    let first = add_http(
        app,
        Who::Staff(&erin),
        &id,
        json!({"body": format!("{word}: first note"), "visibility": "internal"}),
    )
    .await;
    let heard = ws.until_comment(&id, &comment_id(&first)).await;
    assert_eq!(heard.last().unwrap()["data"]["comment"], first);

    // Logged out elsewhere: session_expired, then no more notes.
    let (status, _) = http(app, Who::Staff(&dana), "POST", "/api/auth/logout", None).await;
    assert_eq!(status, 204);
    let ended = ws.next_named("session_expired").await;
    assert_eq!(ended["data"], json!({"reason": "revoked"}));
    let marker = unique("AFTERLOGOUT");
    let second = add_http(
        app,
        Who::Staff(&erin),
        &id,
        json!({"body": format!("{marker}: second note"), "visibility": "internal"}),
    )
    .await;
    let public = add_http(
        app,
        Who::Staff(&erin),
        &id,
        json!({"body": format!("{word}: public")}),
    )
    .await;
    let frames = ws.until_comment(&id, &comment_id(&public)).await;
    assert_unseen(&frames, &marker, "a socket whose session was revoked");
    let comments = comment_frames(&about_id(&frames, &id));
    assert_eq!(comments.len(), 1, "only the public comment: {comments:#?}");
    assert_eq!(comments[0]["data"]["comment"], public);
    assert_ne!(comments[0]["data"]["comment"]["id"], second["id"]);

    // Signed in again: notes again.
    let fresh = token(app, "dana").await;
    ws.authenticate(&fresh).await;
    let third = add_http(
        app,
        Who::Staff(&erin),
        &id,
        json!({"body": format!("{word}: third note"), "visibility": "internal"}),
    )
    .await;
    let heard = ws.until_comment(&id, &comment_id(&third)).await;
    assert_eq!(heard.last().unwrap()["data"]["comment"], third);
}

// 9. Requesters' replies spend the submission budget.

#[tokio::test]
async fn requester_replies_spend_the_submission_budget() {
    // Three submissions per address, refilled once an hour.
    let app = staff_app(&["--submit-rate", "1/h", "--submit-burst", "3"]).await;
    let dana = token(&app, "dana").await;
    let (ticket, follow) = submit_http(&app, "Keyboard is missing two keys", "Lou").await;
    let id = id_of(&ticket);
    let path = format!("/api/tickets/{id}/comments");
    add_http(
        &app,
        Who::Requester(&follow),
        &id,
        json!({"body": "the F and J keys"}),
    )
    .await;
    let (mut ws, _, _) = Ws::synced(&app).await;
    ws.add(
        &id,
        json!({"body": "and the space bar", "follow_token": follow}),
    )
    .await;
    // The budget is spent: a fourth action by the requester is refused.
    http_refused(
        &app,
        Who::Requester(&follow),
        ("POST", &path, Some(json!({"body": "hello?"}))),
        429,
        "rate_limited",
    )
    .await;
    let message = ws
        .refused(
            "add_comment",
            json!({"ticket_id": id, "body": "hello?", "follow_token": follow}),
            "rate_limited",
        )
        .await;
    assert!(!message.is_empty());
    // Staff are not held by it.
    add_http(
        &app,
        Who::Staff(&dana),
        &id,
        json!({"body": "ordering a new one"}),
    )
    .await;
    assert_eq!(comments_of(&app, Who::Anonymous, &id).await.len(), 3);
}
