//! Staff roles and the ticket lifecycle through the real server: agents and
//! admins over `/ws`, Socket.IO and HTTPS; assignment and status changes
//! and what each broadcasts; the audit trail; the listing filters and
//! stats; signed-in sockets (`authenticate`, `session_expired`); automatic
//! closing; and a restart.
//!
//! Most tests share one server (each works on its own tickets, found by a
//! unique word in their descriptions, and nothing clears the store); the
//! session-expiry and autoclose tests share a second one with a short
//! `--session-ttl` and `--autoclose-days`; the restart test has its own.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;
use futures_util::{FutureExt, StreamExt};
use rust_socketio::asynchronous::{Client, ClientBuilder};
use rust_socketio::{Payload, TransportType};
use serde_json::{Value, json};
use tokio::sync::{OnceCell, mpsc};
use tokio_tungstenite::tungstenite::Message;

/// Every staff member's password (one hash serves them all).
const PASSWORD: &str = "helpdesk-staff-password-0123";

/// The bound for what the server does on a timer (a session push at expiry,
/// an automatic close): generous, CI is a slow machine.
const SLOW: Duration = Duration::from_secs(30);

fn hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| ticketd::auth::password::hash_password(PASSWORD))
}

/// Writes the staff into `dir` and returns the flags naming them: a staff
/// file with `root` (admin), `dana` and `erin` (agents) and `olga` on a
/// legacy `name:PHC` line (an admin), and a deprecated admins file with
/// `pat` (`name:PHC`: an admin).
fn staff_flags(dir: &Path) -> Vec<String> {
    let h = hash();
    let staff = format!(
        "# helpdesk staff\nroot:admin:{h}\ndana:agent:{h}\nerin:agent:{h}\n\n# before roles\nolga:{h}\n"
    );
    vec![
        "--staff-file".into(),
        private_file(dir, "staff", &staff),
        "--admins-file".into(),
        private_file(dir, "admins", &format!("pat:{h}\n")),
    ]
}

/// A server with the staff above, every rate limit out of the way (logins
/// and upgrades included), and `extra` flags.
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

/// A server whose sessions last 3 s and whose resolved tickets close after
/// 0.00003 days (about 2.6 s).
async fn short_lived() -> &'static TestApp {
    static APP: OnceCell<TestApp> = OnceCell::const_new();
    APP.get_or_init(|| async {
        kept(staff_app(&["--session-ttl", "3s", "--autoclose-days", "0.00003"]).await)
    })
    .await
}

/// Logs in as `user`; the answer must be 200.
async fn login(app: &TestApp, user: &str) -> Value {
    let resp = app
        .http()
        .post(format!("{}/api/auth/login", app.base_url()))
        .json(&json!({"username": user, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "login as {user}");
    resp.json().await.unwrap()
}

async fn token(app: &TestApp, user: &str) -> String {
    login(app, user).await["token"]
        .as_str()
        .expect("a token")
        .to_string()
}

/// An HTTPS request with a bearer token: the status and the JSON body
/// (null when there is none).
async fn call(
    app: &TestApp,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = app
        .http()
        .request(method, format!("{}{path}", app.base_url()))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let resp = request.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A staff route that must answer 200; returns the ticket it answers with.
async fn http_ok(
    app: &TestApp,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Value {
    let (status, answer) = call(app, token, method, path, body).await;
    assert_eq!(status, 200, "{method} {path}: {answer}");
    answer["ticket"].clone()
}

/// A staff route that must be refused with `status` and `code`.
async fn http_refused(
    app: &TestApp,
    token: &str,
    (method, path, body): (&str, &str, Option<Value>),
    status: u16,
    code: &str,
) -> String {
    let (got, answer) = call(app, token, method, path, body).await;
    assert_eq!(got, status, "{method} {path}: {answer}");
    assert_eq!(answer["error"]["code"], code, "{method} {path}: {answer}");
    answer["error"]["message"].as_str().unwrap().to_string()
}

/// Sends `event` with a fresh `ref` and returns the direct reply (the frame
/// carrying that `ref`); broadcasts on the way are skipped.
async fn ask(ws: &mut WsClient, event: &str, data: Value) -> Value {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let reference = format!("h{}", NEXT.fetch_add(1, Ordering::Relaxed));
    ws.send_json(json!({"event": event, "data": data, "ref": reference}))
        .await;
    loop {
        let frame = ws
            .next_frame()
            .await
            .unwrap_or_else(|| panic!("connection closed waiting for the reply to {event}"));
        if frame["ref"] == reference.as_str() {
            return frame;
        }
    }
}

/// An `admin_command`: `Ok(admin_success data)` or `Err(error data)`.
async fn command(ws: &mut WsClient, data: Value) -> Result<Value, Value> {
    let frame = ask(ws, "admin_command", data.clone()).await;
    match frame["event"].as_str() {
        Some("admin_success") => Ok(frame["data"].clone()),
        Some("error") => Err(frame["data"].clone()),
        _ => panic!("unexpected reply to {data}: {frame}"),
    }
}

/// An `admin_command` that must succeed as `action`.
async fn command_ok(ws: &mut WsClient, data: Value) {
    let action = data["command"].clone();
    let ok = command(ws, data.clone())
        .await
        .unwrap_or_else(|e| panic!("{data} refused: {e}"));
    assert_eq!(ok["action"], action, "{ok}");
}

/// An `admin_command` that must be refused with `code`; returns the message.
async fn command_refused(ws: &mut WsClient, data: Value, code: &str) -> String {
    let error = command(ws, data.clone())
        .await
        .expect_err(&format!("{data} should be refused"));
    assert_eq!(error["code"], code, "{data}: {error}");
    error["message"].as_str().unwrap().to_string()
}

const CHANGES: [&str; 5] = [
    "new_ticket",
    "ticket_updated",
    "ticket_resolved",
    "ticket_deleted",
    "all_tickets_cleared",
];

/// The next text frame, waiting until `deadline`.
async fn frame_by(ws: &mut WsClient, deadline: tokio::time::Instant, waiting_for: &str) -> Value {
    loop {
        let message = tokio::time::timeout_at(deadline, ws.stream.next())
            .await
            .unwrap_or_else(|_| panic!("no {waiting_for} in time"))
            .unwrap_or_else(|| panic!("connection closed waiting for {waiting_for}"))
            .expect("websocket error");
        match message {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Close(_) => panic!("connection closed waiting for {waiting_for}"),
            _ => continue,
        }
    }
}

/// Waits up to `limit` for `event`; returns its data.
async fn expect_within(ws: &mut WsClient, event: &str, limit: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let frame = frame_by(ws, deadline, event).await;
        if frame["event"] == event {
            return frame["data"].clone();
        }
    }
}

/// Whether a change frame is about ticket `id`.
fn about(frame: &Value, id: &str) -> bool {
    let data = &frame["data"];
    data["request_id"] == id || data["ticket_id"] == id
}

/// The next change broadcast about ticket `id` (other tickets' are
/// skipped), within `limit`: its event name and data.
async fn change_within(ws: &mut WsClient, id: &str, limit: Duration) -> (String, Value) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let frame = frame_by(ws, deadline, &format!("a change to {id}")).await;
        let event = frame["event"].as_str().unwrap_or_default();
        assert_ne!(event, "all_tickets_cleared", "nothing clears the store");
        if CHANGES.contains(&event) && about(&frame, id) {
            return (event.to_string(), frame["data"].clone());
        }
    }
}

async fn next_change(ws: &mut WsClient, id: &str) -> (String, Value) {
    change_within(ws, id, WAIT).await
}

/// Asserts that nothing about `id` has been broadcast: submits a marker
/// ticket and reads the watcher up to its `new_ticket` (every change
/// reaches a client in order).
async fn assert_no_change(app: &TestApp, ws: &mut WsClient, id: &str) {
    let marker = id_of(&app.submit_http("Marker: nothing else changed").await);
    loop {
        let (event, data) = loop {
            let frame = ws.next_frame().await.expect("watcher open");
            if CHANGES.contains(&frame["event"].as_str().unwrap_or_default()) {
                break (frame["event"].clone(), frame);
            }
        };
        assert!(!about(&data, id), "{event} broadcast for {id}: {data}");
        if event == "new_ticket" && about(&data, &marker) {
            return;
        }
    }
}

/// The ids of `GET /api/tickets?query` (one page; the tests' sets are
/// small), checking `total` agrees.
async fn listed(app: &TestApp, query: &str) -> BTreeSet<String> {
    let page = app.get_json(&format!("/api/tickets?{query}")).await;
    let tickets = page["tickets"]
        .as_array()
        .unwrap_or_else(|| panic!("{query}: {page}"));
    assert_eq!(page["total"], tickets.len(), "{query}: {page}");
    tickets.iter().map(id_of).collect()
}

fn set(ids: &[&String]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// Checks a stats object's shape: `by_status` names every status, `open`
/// counts the three still needing work, `resolved` the two done ones.
fn check_stats(stats: &Value) {
    let by = &stats["by_status"];
    let n = |s: &str| {
        by[s]
            .as_u64()
            .unwrap_or_else(|| panic!("by_status.{s}: {stats}"))
    };
    assert_eq!(
        stats["open"].as_u64(),
        Some(n("open") + n("in_progress") + n("pending")),
        "{stats}"
    );
    assert_eq!(
        stats["resolved"].as_u64(),
        Some(n("resolved") + n("closed")),
        "{stats}"
    );
    assert_eq!(
        stats["total"].as_u64(),
        Some(n("open") + n("in_progress") + n("pending") + n("resolved") + n("closed")),
        "{stats}"
    );
}

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap_or_else(|| panic!("a time: {value}")))
        .unwrap()
        .with_timezone(&Utc)
}

/// The newest audit entries about ticket `id`, oldest first.
async fn audit_of(app: &TestApp, admin_token: &str, id: &str) -> Vec<Value> {
    let (status, entries) = call(app, admin_token, "GET", "/api/audit?limit=1000", None).await;
    assert_eq!(status, 200, "{entries}");
    let mut mine: Vec<Value> = entries
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ticket_id"] == id)
        .cloned()
        .collect();
    mine.reverse();
    mine
}

fn summary(entries: &[Value]) -> Vec<(String, String, String)> {
    entries
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (s("admin"), s("action"), s("outcome"))
        })
        .collect()
}

fn entry(admin: &str, action: &str, outcome: &str) -> (String, String, String) {
    (admin.into(), action.into(), outcome.into())
}

// 1. Roles.

#[tokio::test]
async fn agents_work_tickets_but_only_admins_delete_or_clear() {
    let app = shared().await;
    let dana = login(app, "dana").await;
    assert_eq!(dana["role"], "agent", "{dana}");
    assert_eq!(dana["token_type"], "Bearer");
    assert!(dana["expires_at"].is_string(), "{dana}");
    let agent = dana["token"].as_str().unwrap().to_string();
    // `olga` is a `name:PHC` line in the staff file, `pat` one in the
    // deprecated admins file: both admins.
    for (user, role) in [
        ("root", "admin"),
        ("erin", "agent"),
        ("olga", "admin"),
        ("pat", "admin"),
    ] {
        assert_eq!(login(app, user).await["role"], role, "{user}");
    }
    let (status, session) = call(app, &agent, "GET", "/api/auth/session", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        session,
        json!({"user": "dana", "role": "agent", "admin": "dana", "expires_at": dana["expires_at"]})
    );

    let word = unique("roles");
    let id = id_of(
        &app.submit_http(&format!("{word}: shared drive is read-only for finance"))
            .await,
    );
    let (mut ws, _) = app.connect_ready().await;
    // Over /ws, with the token in the command.
    for data in [
        json!({"command": "assign", "ticket_id": id, "assignee": "dana"}),
        json!({"command": "set_status", "ticket_id": id, "status": "pending", "pending_reason": "waiting for the vendor"}),
        json!({"command": "set_status", "ticket_id": id, "status": "in_progress"}),
        json!({"command": "update_priority", "ticket_id": id, "priority": "LOW"}),
        json!({"command": "resolve", "ticket_id": id}),
        json!({"command": "reopen", "ticket_id": id}),
    ] {
        let mut data = data;
        data["token"] = json!(agent);
        command_ok(&mut ws, data).await;
    }
    // Over HTTPS.
    let path = |tail: &str| format!("/api/tickets/{id}/{tail}");
    let t = http_ok(
        app,
        &agent,
        "POST",
        &path("assign"),
        Some(json!({"assignee": "erin"})),
    )
    .await;
    assert_eq!(
        (&t["assignee"], &t["status"]),
        (&json!("erin"), &json!("in_progress"))
    );
    let t = http_ok(
        app,
        &agent,
        "POST",
        &path("status"),
        Some(json!({"status": "pending", "pending_reason": "asked the requester"})),
    )
    .await;
    assert_eq!(t["status"], "pending");
    let t = http_ok(app, &agent, "POST", &path("resolve"), None).await;
    assert_eq!(t["status"], "resolved");
    let t = http_ok(app, &agent, "POST", &path("reopen"), None).await;
    assert_eq!(t["status"], "in_progress", "reopened to its assignee: {t}");
    let t = http_ok(
        app,
        &agent,
        "PUT",
        &path("priority"),
        Some(json!({"priority": "HIGH"})),
    )
    .await;
    assert_eq!(t["priority"], "HIGH");
    assert_eq!(t["priority_set_by"], "dana");

    // Delete and clear are an admin's: refused, and nothing changes.
    let before = app.get_json(&format!("/api/tickets/{id}")).await;
    let message = command_refused(
        &mut ws,
        json!({"command": "delete", "token": agent, "ticket_id": id}),
        "forbidden",
    )
    .await;
    assert!(message.contains("admin"), "{message}");
    command_refused(
        &mut ws,
        json!({"command": "clear_all", "token": agent}),
        "forbidden",
    )
    .await;
    let ticket_path = format!("/api/tickets/{id}");
    http_refused(
        app,
        &agent,
        ("DELETE", &ticket_path, None),
        403,
        "forbidden",
    )
    .await;
    http_refused(
        app,
        &agent,
        ("DELETE", "/api/tickets?confirm=true", None),
        403,
        "forbidden",
    )
    .await;
    assert_eq!(app.get_json(&ticket_path).await, before, "unchanged");
    assert_eq!(
        listed(app, &format!("q={word}")).await,
        set(&[&id]),
        "still there"
    );

    // An admin deletes; so do the two admins from `name:PHC` lines.
    let root = token(app, "root").await;
    command_ok(
        &mut ws,
        json!({"command": "delete", "token": root, "ticket_id": id}),
    )
    .await;
    let resp = app
        .http()
        .get(format!("{}{ticket_path}", app.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    for user in ["olga", "pat"] {
        let other = id_of(&app.submit_http(&format!("{word}: deleted by {user}")).await);
        let admin = token(app, user).await;
        http_ok(
            app,
            &admin,
            "DELETE",
            &format!("/api/tickets/{other}"),
            None,
        )
        .await;
    }
    assert!(listed(app, &format!("q={word}")).await.is_empty());
}

// 2. The lifecycle over the wire.

#[tokio::test]
async fn the_lifecycle_is_enforced_and_broadcast() {
    let app = shared().await;
    let agent = token(app, "dana").await;
    let (mut staff, _) = app.connect_ready().await;
    let (mut watcher, _) = app.connect_ready().await;
    let signed = |data: Value| {
        let mut data = data;
        data["token"] = json!(agent);
        data
    };
    let id = id_of(
        &app.submit_http("Core switch in building B drops packets")
            .await,
    );
    assert_eq!(next_change(&mut watcher, &id).await.0, "new_ticket");

    // open → in_progress by assignment (and a team move).
    command_ok(
        &mut staff,
        signed(json!({"command": "assign", "ticket_id": id, "assignee": "dana", "team": "Network Operations"})),
    )
    .await;
    let (event, t) = next_change(&mut watcher, &id).await;
    assert_eq!(event, "ticket_updated");
    assert_eq!(t["status"], "in_progress", "{t}");
    assert_eq!(t["assignee"], "dana");
    assert_eq!(t["team"], "Network Operations");

    // Unassigned: open again.
    command_ok(
        &mut staff,
        signed(json!({"command": "assign", "ticket_id": id, "assignee": null})),
    )
    .await;
    let (event, t) = next_change(&mut watcher, &id).await;
    assert_eq!(event, "ticket_updated");
    assert_eq!(t["status"], "open", "{t}");
    assert!(t["assignee"].is_null(), "{t}");

    // open → pending, with its reason.
    command_ok(
        &mut staff,
        signed(json!({"command": "set_status", "ticket_id": id, "status": "pending", "pending_reason": "waiting for the vendor"})),
    )
    .await;
    let (event, t) = next_change(&mut watcher, &id).await;
    assert_eq!(event, "ticket_updated");
    assert_eq!(t["status"], "pending");
    assert_eq!(t["pending_reason"], "waiting for the vendor");

    // pending → resolved: ticket_resolved, the reason cleared.
    command_ok(
        &mut staff,
        signed(json!({"command": "resolve", "ticket_id": id})),
    )
    .await;
    let (event, t) = next_change(&mut watcher, &id).await;
    assert_eq!(event, "ticket_resolved");
    assert_eq!(t["status"], "resolved");
    assert!(t["resolved_at"].is_string(), "{t}");
    assert!(
        t["pending_reason"].is_null(),
        "leaving pending clears it: {t}"
    );
    assert!(t["closed_at"].is_null(), "{t}");
    // resolved → pending is not allowed.
    command_refused(
        &mut staff,
        signed(json!({"command": "set_status", "ticket_id": id, "status": "pending"})),
        "invalid_transition",
    )
    .await;

    // resolved → closed.
    command_ok(
        &mut staff,
        signed(json!({"command": "set_status", "ticket_id": id, "status": "closed"})),
    )
    .await;
    let (event, t) = next_change(&mut watcher, &id).await;
    assert_eq!(event, "ticket_updated");
    assert_eq!(t["status"], "closed");
    assert!(t["closed_at"].is_string(), "{t}");
    assert!(t["resolved_at"].is_string(), "{t}");
    let closed = app.get_json(&format!("/api/tickets/{id}")).await;

    // Closed is final: no status change, assignment or priority, over
    // either transport; nothing broadcast, nothing changed.
    for data in [
        json!({"command": "reopen", "ticket_id": id}),
        json!({"command": "resolve", "ticket_id": id}),
        json!({"command": "set_status", "ticket_id": id, "status": "in_progress"}),
        json!({"command": "assign", "ticket_id": id, "assignee": "dana"}),
        json!({"command": "assign", "ticket_id": id, "team": "Service Desk"}),
        json!({"command": "update_priority", "ticket_id": id, "priority": "CRITICAL"}),
    ] {
        command_refused(&mut staff, signed(data), "invalid_transition").await;
    }
    let path = |tail: &str| format!("/api/tickets/{id}/{tail}");
    for (method, tail, body) in [
        ("POST", "reopen", None),
        ("POST", "resolve", None),
        ("POST", "status", Some(json!({"status": "in_progress"}))),
        ("POST", "status", Some(json!({"status": "pending"}))),
        ("POST", "assign", Some(json!({"assignee": "erin"}))),
        ("PUT", "priority", Some(json!({"priority": "CRITICAL"}))),
    ] {
        http_refused(
            app,
            &agent,
            (method, &path(tail), body),
            409,
            "invalid_transition",
        )
        .await;
    }
    assert_no_change(app, &mut watcher, &id).await;
    assert_eq!(app.get_json(&format!("/api/tickets/{id}")).await, closed);

    // open → closed directly is refused.
    let other = id_of(&app.submit_http("Projector in room 4 shows no signal").await);
    command_refused(
        &mut staff,
        signed(json!({"command": "set_status", "ticket_id": other, "status": "closed"})),
        "invalid_transition",
    )
    .await;
    http_refused(
        app,
        &agent,
        (
            "POST",
            &format!("/api/tickets/{other}/status"),
            Some(json!({"status": "closed"})),
        ),
        409,
        "invalid_transition",
    )
    .await;
    assert_eq!(next_change(&mut watcher, &other).await.0, "new_ticket");
    assert_no_change(app, &mut watcher, &other).await;

    // set_status in_progress on an unassigned ticket assigns the caller.
    command_ok(
        &mut staff,
        signed(json!({"command": "set_status", "ticket_id": other, "status": "in_progress"})),
    )
    .await;
    let (event, t) = next_change(&mut watcher, &other).await;
    assert_eq!(event, "ticket_updated");
    assert_eq!(t["status"], "in_progress");
    assert_eq!(t["assignee"], "dana", "the caller: {t}");
    // pending, then reopen: back to in_progress (it is assigned).
    command_ok(
        &mut staff,
        signed(json!({"command": "set_status", "ticket_id": other, "status": "pending"})),
    )
    .await;
    assert_eq!(
        next_change(&mut watcher, &other).await.1["status"],
        "pending"
    );
    command_ok(
        &mut staff,
        signed(json!({"command": "reopen", "ticket_id": other})),
    )
    .await;
    let (_, t) = next_change(&mut watcher, &other).await;
    assert_eq!(
        (&t["status"], &t["assignee"]),
        (&json!("in_progress"), &json!("dana"))
    );

    // Refused payloads, each naming the problem, over both transports.
    for (data, names) in [
        (
            json!({"command": "assign", "assignee": "mallory"}),
            "assignee",
        ),
        (json!({"command": "set_status", "status": "open"}), "status"),
        (
            json!({"command": "assign", "assignee": "dana", "colour": "red"}),
            "colour",
        ),
        (
            json!({"command": "resolve", "assignee": "dana"}),
            "assignee",
        ),
    ] {
        let mut data = data;
        data["ticket_id"] = json!(other);
        let message = command_refused(&mut staff, signed(data), "invalid_payload").await;
        assert!(message.contains(names), "{names}: {message}");
    }
    for (tail, body, names) in [
        ("assign", json!({"assignee": "mallory"}), "assignee"),
        ("status", json!({"status": "open"}), "status"),
        (
            "status",
            json!({"status": "pending", "colour": "red"}),
            "colour",
        ),
    ] {
        let path = format!("/api/tickets/{other}/{tail}");
        let message = http_refused(
            app,
            &agent,
            ("POST", &path, Some(body)),
            400,
            "invalid_payload",
        )
        .await;
        assert!(message.contains(names), "{names}: {message}");
    }
    assert_no_change(app, &mut watcher, &other).await;
}

// 3. The audit trail.

#[tokio::test]
async fn every_staff_action_is_audited_with_its_user() {
    let app = shared().await;
    let agent = token(app, "dana").await;
    let root = token(app, "root").await;
    let (mut ws, _) = app.connect_ready().await;
    let id = id_of(
        &app.submit_http("Badge reader at the loading dock is dead")
            .await,
    );
    let path = |tail: &str| format!("/api/tickets/{id}/{tail}");
    let run = async |ws: &mut WsClient, data: Value| {
        let mut data = data;
        data["token"] = json!(agent);
        data["ticket_id"] = json!(id);
        command(ws, data).await
    };
    run(&mut ws, json!({"command": "assign", "assignee": "dana"}))
        .await
        .unwrap();
    http_ok(
        app,
        &agent,
        "POST",
        &path("status"),
        Some(json!({"status": "pending"})),
    )
    .await;
    run(
        &mut ws,
        json!({"command": "update_priority", "priority": "HIGH"}),
    )
    .await
    .unwrap();
    http_ok(app, &agent, "POST", &path("resolve"), None).await;
    run(&mut ws, json!({"command": "reopen"})).await.unwrap();
    http_ok(
        app,
        &agent,
        "POST",
        &path("assign"),
        Some(json!({"team": "Facilities"})),
    )
    .await;
    run(&mut ws, json!({"command": "resolve"})).await.unwrap();
    run(
        &mut ws,
        json!({"command": "set_status", "status": "closed"}),
    )
    .await
    .unwrap();
    run(&mut ws, json!({"command": "reopen"}))
        .await
        .unwrap_err();

    let entries = audit_of(app, &root, &id).await;
    assert_eq!(
        summary(&entries),
        vec![
            entry("dana", "assign", "success"),
            entry("dana", "set_status", "success"),
            entry("dana", "update_priority", "success"),
            entry("dana", "resolve", "success"),
            entry("dana", "reopen", "success"),
            entry("dana", "assign", "success"),
            entry("dana", "resolve", "success"),
            entry("dana", "set_status", "success"),
            entry("dana", "reopen", "failure"),
        ],
        "{entries:#?}"
    );
    for e in &entries[..8] {
        assert!(e["client"].as_str().unwrap().starts_with("127."), "{e}");
        assert_eq!(e["before"]["request_id"], id.as_str(), "{e}");
        assert_eq!(e["after"]["request_id"], id.as_str(), "{e}");
    }
    assert_eq!(entries[1]["after"]["status"], "pending");
    assert_eq!(entries[7]["after"]["status"], "closed");

    // An admin's delete, under the admin's name.
    let gone = id_of(&app.submit_http("Old ticket to remove").await);
    http_ok(app, &root, "DELETE", &format!("/api/tickets/{gone}"), None).await;
    let entries = audit_of(app, &root, &gone).await;
    assert_eq!(summary(&entries), vec![entry("root", "delete", "success")]);
    assert_eq!(entries[0]["before"]["request_id"], gone.as_str());

    // Logins too.
    let (_, all) = call(app, &root, "GET", "/api/audit?limit=1000", None).await;
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "login" && e["admin"] == "dana" && e["outcome"] == "success"),
        "{all}"
    );
}

#[tokio::test]
async fn an_agents_refused_delete_is_audited() {
    // The README: "Every admin action (success or failure)" is audited.
    let app = shared().await;
    let agent = token(app, "dana").await;
    let root = token(app, "root").await;
    let id = id_of(&app.submit_http("Scanner on floor 2 jams").await);
    let (mut ws, _) = app.connect_ready().await;
    command_refused(
        &mut ws,
        json!({"command": "delete", "token": agent, "ticket_id": id}),
        "forbidden",
    )
    .await;
    http_refused(
        app,
        &agent,
        ("DELETE", &format!("/api/tickets/{id}"), None),
        403,
        "forbidden",
    )
    .await;
    // The audit trail itself is for admins.
    http_refused(app, &agent, ("GET", "/api/audit", None), 403, "forbidden").await;
    let entries = audit_of(app, &root, &id).await;
    let summary = summary(&entries);
    assert_eq!(summary.len(), 2, "both refusals audited: {entries:#?}");
    for (admin, action, outcome) in &summary {
        assert_eq!((admin.as_str(), action.as_str()), ("dana", "delete"));
        assert_ne!(outcome, "success");
    }
}

// 4. Listing filters and stats.

#[tokio::test]
async fn listing_filters_by_assignee_assignment_and_status() {
    let app = shared().await;
    let root = token(app, "root").await;
    let word = unique("queue");
    let mut ids = Vec::new();
    for what in [
        "VPN concentrator rejects new tunnels",
        "Laptop docking station has no display",
        "Printer on floor 3 jams",
        "Mail server queue is growing",
        "Keyboard missing two keys",
    ] {
        ids.push(id_of(&app.submit_http(&format!("{word}: {what}")).await));
    }
    let [a, b, c, d, e] = [0, 1, 2, 3, 4].map(|i| ids[i].clone());
    let path = |id: &str, tail: &str| format!("/api/tickets/{id}/{tail}");
    // a: erin's; b: dana's, pending; c: open; d: root's by set_status; e: resolved.
    http_ok(
        app,
        &root,
        "POST",
        &path(&a, "assign"),
        Some(json!({"assignee": "erin"})),
    )
    .await;
    http_ok(
        app,
        &root,
        "POST",
        &path(&b, "assign"),
        Some(json!({"assignee": "dana"})),
    )
    .await;
    http_ok(
        app,
        &root,
        "POST",
        &path(&b, "status"),
        Some(json!({"status": "pending", "pending_reason": "parts ordered"})),
    )
    .await;
    http_ok(
        app,
        &root,
        "POST",
        &path(&d, "status"),
        Some(json!({"status": "in_progress"})),
    )
    .await;
    http_ok(app, &root, "POST", &path(&e, "resolve"), None).await;

    let q = |filter: &str| format!("q={word}&{filter}");
    assert_eq!(listed(app, &q("assignee=erin")).await, set(&[&a]));
    assert_eq!(listed(app, &q("assignee=dana")).await, set(&[&b]));
    assert_eq!(listed(app, &q("assignee=root")).await, set(&[&d]));
    assert_eq!(listed(app, &q("assignee=nobody")).await, set(&[]));
    assert_eq!(listed(app, &q("unassigned=true")).await, set(&[&c, &e]));
    assert_eq!(listed(app, &q("status=in_progress")).await, set(&[&a, &d]));
    assert_eq!(listed(app, &q("status=pending")).await, set(&[&b]));
    assert_eq!(listed(app, &q("status=open")).await, set(&[&c]));
    assert_eq!(listed(app, &q("status=resolved")).await, set(&[&e]));
    assert_eq!(
        listed(app, &q("unassigned=true&status=open")).await,
        set(&[&c])
    );
    assert_eq!(
        listed(app, &q("assignee=dana&status=pending")).await,
        set(&[&b])
    );
    // Without the word, `assignee` still finds erin's ticket among all.
    assert!(listed(app, "assignee=erin&limit=1000").await.contains(&a));
    let resp = app
        .http()
        .get(format!("{}/api/tickets?unassigned=yes", app.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_payload");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unassigned"),
        "{body}"
    );

    // Stats: by_status, and open counts in_progress and pending.
    let stats = app.get_json("/api/stats").await;
    check_stats(&stats);
    assert!(
        stats["by_status"]["in_progress"].as_u64().unwrap() >= 2,
        "{stats}"
    );
    assert!(
        stats["by_status"]["pending"].as_u64().unwrap() >= 1,
        "{stats}"
    );
    let (mut ws, _) = app.connect_ready().await;
    let reply = ask(&mut ws, "get_stats", json!({})).await;
    assert_eq!(reply["event"], "stats_update", "{reply}");
    check_stats(&reply["data"]);
    assert!(reply["data"]["by_status"]["pending"].as_u64().unwrap() >= 1);
    // The broadcast after a change has the same shape.
    http_ok(app, &root, "POST", &path(&c, "resolve"), None).await;
    let broadcast = ws.expect("stats_update").await;
    check_stats(&broadcast);
}

#[tokio::test]
async fn stats_are_exact_and_a_restart_keeps_the_lifecycle_fields() {
    // Its own server: exact counts need a store nobody else writes to. It
    // also checks a restart keeps the lifecycle fields (8).
    let mut app = staff_app(&[]).await;
    let root = token(&app, "root").await;
    let mut ids = Vec::new();
    for what in [
        "Wi-Fi in the east wing drops",
        "Finance share is read-only",
        "Old laptop to recycle",
        "Phone on desk 12 is dead",
        "Monitor flickers",
    ] {
        ids.push(id_of(&app.submit_http(what).await));
    }
    let [a, b, c, d, e] = [0, 1, 2, 3, 4].map(|i| ids[i].clone());
    let path = |id: &str, tail: &str| format!("/api/tickets/{id}/{tail}");
    // a: dana's, moved to another team; b: erin's, pending; c: closed;
    // d: open; e: resolved.
    http_ok(
        &app,
        &root,
        "POST",
        &path(&a, "assign"),
        Some(json!({"assignee": "dana", "team": "Network Operations"})),
    )
    .await;
    http_ok(
        &app,
        &root,
        "POST",
        &path(&b, "assign"),
        Some(json!({"assignee": "erin"})),
    )
    .await;
    http_ok(
        &app,
        &root,
        "POST",
        &path(&b, "status"),
        Some(json!({"status": "pending", "pending_reason": "waiting for the requester"})),
    )
    .await;
    http_ok(&app, &root, "POST", &path(&c, "resolve"), None).await;
    http_ok(
        &app,
        &root,
        "POST",
        &path(&c, "status"),
        Some(json!({"status": "closed"})),
    )
    .await;
    http_ok(&app, &root, "POST", &path(&e, "resolve"), None).await;

    let expected = |stats: &Value| {
        assert_eq!(stats["total"], 5, "{stats}");
        assert_eq!(stats["open"], 3, "open, in_progress and pending: {stats}");
        assert_eq!(stats["resolved"], 2, "resolved and closed: {stats}");
        assert_eq!(
            stats["by_status"],
            json!({"open": 1, "in_progress": 1, "pending": 1, "resolved": 1, "closed": 1}),
            "{stats}"
        );
    };
    expected(&app.get_json("/api/stats").await);
    let (mut ws, _) = app.connect_ready().await;
    expected(&ask(&mut ws, "get_stats", json!({})).await["data"]);
    drop(ws);

    // 8. A restart keeps status, assignee, team, pending_reason, closed_at.
    let mut before = Vec::new();
    for id in &ids {
        before.push(app.get_json(&format!("/api/tickets/{id}")).await);
    }
    assert_eq!(before[0]["team"], "Network Operations");
    assert_eq!(before[1]["pending_reason"], "waiting for the requester");
    assert!(before[2]["closed_at"].is_string());
    // Sessions from before the restart, whose roles change with it: the
    // role a session acts with is the one configured now.
    let erin = token(&app, "erin").await;
    let olga = token(&app, "olga").await;
    let staff = app.dir.path().join("staff");
    let text = std::fs::read_to_string(&staff)
        .unwrap()
        .replace("erin:agent:", "erin:admin:")
        .replace("olga:$", "olga:agent:$");
    std::fs::write(&staff, text).unwrap();
    app.restart().await;
    for (id, was) in ids.iter().zip(&before) {
        let now = app.get_json(&format!("/api/tickets/{id}")).await;
        for field in [
            "status",
            "assignee",
            "team",
            "pending_reason",
            "closed_at",
            "resolved_at",
        ] {
            assert_eq!(now[field], was[field], "{field} of {id}");
        }
        assert_eq!(&now, was);
    }
    expected(&app.get_json("/api/stats").await);
    assert_eq!(listed(&app, "assignee=dana").await, set(&[&a]));
    assert_eq!(listed(&app, "unassigned=true").await, set(&[&c, &d, &e]));
    // Still final after the restart, with a session from before it.
    http_refused(
        &app,
        &root,
        ("POST", &path(&c, "reopen"), None),
        409,
        "invalid_transition",
    )
    .await;
    // Promoted and demoted.
    assert_eq!(login(&app, "erin").await["role"], "admin");
    assert_eq!(login(&app, "olga").await["role"], "agent");
    let (status, session) = call(&app, &olga, "GET", "/api/auth/session", None).await;
    assert_eq!(
        (status, &session["role"]),
        (200, &json!("agent")),
        "{session}"
    );
    http_refused(
        &app,
        &olga,
        ("DELETE", &format!("/api/tickets/{e}"), None),
        403,
        "forbidden",
    )
    .await;
    http_ok(&app, &erin, "DELETE", &format!("/api/tickets/{d}"), None).await;
    assert_eq!(app.get_json("/api/stats").await["total"], 4);
}

// 5. Signed-in sockets over /ws.

#[tokio::test]
async fn a_ws_session_works_without_tokens_until_logged_out() {
    let app = shared().await;
    let dana = login(app, "dana").await;
    let agent = dana["token"].as_str().unwrap().to_string();
    let id = id_of(&app.submit_http("Conference room display is blank").await);

    let (mut ws, _) = app.connect_ready().await;
    // Anonymous first.
    command_refused(
        &mut ws,
        json!({"command": "resolve", "ticket_id": id}),
        "unauthorized",
    )
    .await;
    let reply = ask(&mut ws, "authenticate", json!({"token": agent})).await;
    assert_eq!(reply["event"], "authenticated", "{reply}");
    assert_eq!(
        reply["data"],
        json!({"user": "dana", "role": "agent", "expires_at": dana["expires_at"]})
    );
    command_ok(
        &mut ws,
        json!({"command": "assign", "ticket_id": id, "assignee": "dana"}),
    )
    .await;
    command_ok(&mut ws, json!({"command": "resolve", "ticket_id": id})).await;
    // Still an agent: no delete.
    command_refused(
        &mut ws,
        json!({"command": "delete", "ticket_id": id}),
        "forbidden",
    )
    .await;

    // Another socket signed in with another of dana's sessions.
    let (mut other, _) = app.connect_ready().await;
    let second = token(app, "dana").await;
    let reply = ask(&mut other, "authenticate", json!({"token": second})).await;
    assert_eq!(reply["event"], "authenticated", "{reply}");

    // Logging the first token out ends that socket's session at once.
    let started = std::time::Instant::now();
    let (status, _) = call(app, &agent, "POST", "/api/auth/logout", None).await;
    assert_eq!(status, 204);
    let ended = expect_within(&mut ws, "session_expired", WAIT).await;
    assert_eq!(ended, json!({"reason": "revoked"}));
    eprintln!(
        "session_expired (revoked) {:?} after the logout",
        started.elapsed()
    );
    command_refused(
        &mut ws,
        json!({"command": "reopen", "ticket_id": id}),
        "unauthorized",
    )
    .await;
    // The other session is untouched.
    command_ok(&mut other, json!({"command": "reopen", "ticket_id": id})).await;

    // A bad token: unauthorized, and the socket stays anonymous.
    for bad in ["not.a.token", agent.as_str()] {
        let reply = ask(&mut ws, "authenticate", json!({"token": bad})).await;
        assert_eq!(reply["event"], "error", "{reply}");
        assert_eq!(reply["data"]["code"], "unauthorized", "{reply}");
    }
    command_refused(
        &mut ws,
        json!({"command": "resolve", "ticket_id": id}),
        "unauthorized",
    )
    .await;
    // A failed authenticate also signs out a socket that was signed in.
    let reply = ask(&mut other, "authenticate", json!({"token": "garbage"})).await;
    assert_eq!(reply["data"]["code"], "unauthorized", "{reply}");
    command_refused(
        &mut other,
        json!({"command": "resolve", "ticket_id": id}),
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn sessions_expire_on_ws_and_socketio() {
    let app = short_lived().await;
    let id = id_of(&app.submit_http("Door controller in the lobby beeps").await);
    let (mut ws, _) = app.connect_ready().await;
    let mut sio = Sio::connect(app).await;
    sio.expect("initial_tickets", WAIT).await;

    let login = login(app, "dana").await;
    let agent = login["token"].as_str().unwrap();
    let expires_at = time(&login["expires_at"]);
    let reply = ask(&mut ws, "authenticate", json!({"token": agent})).await;
    assert_eq!(reply["data"]["expires_at"], login["expires_at"], "{reply}");
    sio.client
        .emit("authenticate", json!({"token": agent}))
        .await
        .unwrap();
    assert_eq!(sio.expect("authenticated", WAIT).await["user"], "dana");
    command_ok(
        &mut ws,
        json!({"command": "assign", "ticket_id": id, "assignee": "dana"}),
    )
    .await;
    sio.client
        .emit(
            "admin_command",
            json!({"command": "update_priority", "ticket_id": id, "priority": "LOW"}),
        )
        .await
        .unwrap();
    assert_eq!(
        sio.expect("admin_success", WAIT).await["action"],
        "update_priority"
    );

    let ended = expect_within(&mut ws, "session_expired", SLOW).await;
    assert_eq!(ended, json!({"reason": "expired"}));
    let late = Utc::now() - expires_at;
    eprintln!("/ws session_expired {late} after expires_at");
    assert!(
        late >= chrono::TimeDelta::zero(),
        "not before expires_at: {late}"
    );
    assert_eq!(
        sio.expect("session_expired", SLOW).await,
        json!({"reason": "expired"})
    );
    command_refused(
        &mut ws,
        json!({"command": "resolve", "ticket_id": id}),
        "unauthorized",
    )
    .await;
    sio.client
        .emit(
            "admin_command",
            json!({"command": "resolve", "ticket_id": id}),
        )
        .await
        .unwrap();
    assert_eq!(sio.expect("error", WAIT).await["code"], "unauthorized");
    assert_eq!(
        app.get_json(&format!("/api/tickets/{id}")).await["status"],
        "in_progress"
    );
}

// 6. The same over Socket.IO.

/// A `rust_socketio` client and what it has heard, as `(event, data)`.
struct Sio {
    client: Client,
    rx: mpsc::UnboundedReceiver<(String, Value)>,
    backlog: Vec<(String, Value)>,
}

fn first(payload: Payload) -> Value {
    match payload {
        Payload::Text(values) => values.into_iter().next().unwrap_or(Value::Null),
        other => panic!("expected a text payload, got {other:?}"),
    }
}

impl Sio {
    async fn connect(app: &TestApp) -> Sio {
        let tls = native_tls_for(app);
        let (tx, rx) = mpsc::unbounded_channel();
        let on_error = tx.clone();
        let client = ClientBuilder::new(app.base_url())
            .tls_config(tls)
            .transport_type(TransportType::Websocket)
            .reconnect(false)
            .on_any(move |event, payload, _| {
                let _ = tx.send((event.to_string(), first(payload)));
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
            rx,
            backlog: Vec::new(),
        }
    }

    /// The data of the first `event` not yet asked for, waiting up to
    /// `limit` for it.
    async fn expect(&mut self, event: &str, limit: Duration) -> Value {
        if let Some(at) = self.backlog.iter().position(|(name, _)| name == event) {
            return self.backlog.remove(at).1;
        }
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let next = tokio::time::timeout_at(deadline, self.rx.recv())
                .await
                .unwrap_or_else(|_| panic!("no {event} within {limit:?}: {:?}", self.backlog))
                .expect("client open");
            if next.0 == event {
                return next.1;
            }
            self.backlog.push(next);
        }
    }

    /// Drops what was heard so far (broadcasts from other tests).
    fn forget(&mut self) {
        self.backlog.clear();
        while self.rx.try_recv().is_ok() {}
    }
}

#[tokio::test]
async fn a_socketio_session_works_without_tokens_until_logged_out() {
    let app = shared().await;
    let id = id_of(&app.submit_http("Socket.IO: label printer offline").await);
    let mut sio = Sio::connect(app).await;
    sio.expect("initial_tickets", WAIT).await;

    sio.client
        .emit(
            "admin_command",
            json!({"command": "resolve", "ticket_id": id}),
        )
        .await
        .unwrap();
    assert_eq!(sio.expect("error", WAIT).await["code"], "unauthorized");

    let dana = login(app, "dana").await;
    let agent = dana["token"].as_str().unwrap().to_string();
    sio.client
        .emit("authenticate", json!({"token": agent}))
        .await
        .unwrap();
    assert_eq!(
        sio.expect("authenticated", WAIT).await,
        json!({"user": "dana", "role": "agent", "expires_at": dana["expires_at"]})
    );
    sio.client
        .emit(
            "admin_command",
            json!({"command": "assign", "ticket_id": id, "assignee": "dana"}),
        )
        .await
        .unwrap();
    assert_eq!(sio.expect("admin_success", WAIT).await["action"], "assign");
    sio.client
        .emit(
            "admin_command",
            json!({"command": "resolve", "ticket_id": id}),
        )
        .await
        .unwrap();
    assert_eq!(sio.expect("admin_success", WAIT).await["action"], "resolve");
    loop {
        let resolved = sio.expect("ticket_resolved", WAIT).await;
        if resolved["request_id"] == id.as_str() {
            assert_eq!(resolved["assignee"], "dana");
            break;
        }
    }
    sio.client
        .emit(
            "admin_command",
            json!({"command": "delete", "ticket_id": id}),
        )
        .await
        .unwrap();
    assert_eq!(sio.expect("error", WAIT).await["code"], "forbidden");

    let (status, _) = call(app, &agent, "POST", "/api/auth/logout", None).await;
    assert_eq!(status, 204);
    assert_eq!(
        sio.expect("session_expired", WAIT).await,
        json!({"reason": "revoked"})
    );
    sio.forget();
    sio.client
        .emit(
            "admin_command",
            json!({"command": "reopen", "ticket_id": id}),
        )
        .await
        .unwrap();
    assert_eq!(sio.expect("error", WAIT).await["code"], "unauthorized");
    sio.client
        .emit("authenticate", json!({"token": "not.a.token"}))
        .await
        .unwrap();
    assert_eq!(sio.expect("error", WAIT).await["code"], "unauthorized");
    assert_eq!(
        app.get_json(&format!("/api/tickets/{id}")).await["status"],
        "resolved"
    );
}

// 7. Automatic closing.

#[tokio::test]
async fn resolved_tickets_close_automatically_as_system() {
    let app = short_lived().await;
    let (mut watcher, _) = app.connect_ready().await;
    let id = id_of(&app.submit_http("Scanner driver needs reinstalling").await);
    let root = token(app, "root").await;
    http_ok(
        app,
        &root,
        "POST",
        &format!("/api/tickets/{id}/resolve"),
        None,
    )
    .await;
    let resolved = loop {
        let (event, t) = next_change(&mut watcher, &id).await;
        if event == "ticket_resolved" {
            break t;
        }
    };
    let (event, closed) = change_within(&mut watcher, &id, SLOW).await;
    assert_eq!(event, "ticket_updated");
    assert_eq!(closed["status"], "closed", "{closed}");
    assert_eq!(closed["resolved_at"], resolved["resolved_at"]);
    let after = time(&closed["closed_at"]) - time(&resolved["resolved_at"]);
    // 0.00003 days is 2.592 s.
    assert!(
        after >= chrono::TimeDelta::milliseconds(2500),
        "closed {after} after resolution"
    );

    // Audited as `system` (a fresh session: these last 3 s).
    let root = token(app, "root").await;
    let entries = audit_of(app, &root, &id).await;
    assert_eq!(
        summary(&entries),
        vec![
            entry("root", "resolve", "success"),
            entry("system", "set_status", "success")
        ],
        "{entries:#?}"
    );
    // Said by its action and reason, without ticket copies.
    assert_eq!(entries[1]["reason"], "closed automatically", "{entries:#?}");
    assert!(entries[1].get("after").is_none(), "{entries:#?}");
    assert_eq!(
        app.get_json(&format!("/api/tickets/{id}")).await["status"],
        "closed"
    );
}

#[test]
fn bad_autoclose_days_stop_start_up() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["--autoclose-days=-1"][..],
        &["--autoclose-days", "-1"],
        &["--autoclose-days", "abc"],
    ] {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let out = start_expecting_failure(dir.path(), &args, &[]);
        eprintln!("{args:?}:\n{out}\n");
        assert!(out.contains("exit status: 2"), "{args:?}:\n{out}");
        // The value and the option are named, in every form.
        assert!(
            out.contains(&args[args.len() - 1].replace("--autoclose-days=", "")),
            "{args:?}:\n{out}"
        );
        assert!(
            out.contains("--autoclose-days") && out.contains("days from 0 to 3650"),
            "{args:?}:\n{out}"
        );
    }
    assert!(
        !dir.path().join("data/tickets_storage.json").exists(),
        "nothing was started"
    );
}
