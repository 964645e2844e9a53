//! `ticketd store export` and `ticketd store import` with the real binary:
//! a store with comments, internal notes, a resolution and an assignment is
//! exported while its server runs, imported into an empty directory, served
//! again (same tickets, conversation, follow token, epoch and version), and
//! exported again to the same bytes. Bad input is refused with the line.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};

use common::*;
use serde_json::{Value, json};

const PASSWORD: &str = "dump-admin-password-0123";

fn hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| ticketd::auth::password::hash_password(PASSWORD))
}

async fn app_in(dir: Arc<tempfile::TempDir>) -> TestApp {
    let staff = private_file(dir.path(), "staff", &format!("root:admin:{}\n", hash()));
    spawn_in(
        dir,
        Options {
            args: unlimited(&["--staff-file", &staff]),
            envs: Vec::new(),
        },
    )
    .await
}

fn export(data_dir: &std::path::Path) -> String {
    let out = Command::new(binary())
        .args(["store", "export", "--data-dir"])
        .arg(data_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `store import`; its exit success and standard error.
fn import(data_dir: &std::path::Path, dump: &str) -> (bool, String) {
    let mut child = Command::new(binary())
        .args(["store", "import", "--data-dir"])
        .arg(data_dir)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(dump.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The dump without the header's `exported_at`.
fn comparable(dump: &str) -> String {
    let mut lines = dump.lines();
    let mut header: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    header.as_object_mut().unwrap().remove("exported_at");
    std::iter::once(header.to_string())
        .chain(lines.map(str::to_string))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn sync_state(app: &TestApp) -> Value {
    let mut ws = app.connect_ws().await;
    ws.expect("initial_tickets").await;
    ws.expect("sync_state").await
}

#[tokio::test]
async fn a_store_moves_out_and_back_in_unchanged() {
    let app = app_in(Arc::new(tempfile::tempdir().unwrap())).await;
    let token = app.login_token("root", PASSWORD).await;
    let http = app.http();
    let mut follow = None;
    let mut ids = Vec::new();
    for n in 0..5 {
        let resp: Value = http
            .post(format!("{}/api/tickets", app.base_url()))
            .json(&json!({"description": format!("Laptop {n} will not boot {}", unique("dump")), "system": "Laptop", "requester": "Ana"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = resp["request_id"].as_str().unwrap().to_string();
        follow.get_or_insert((
            id.clone(),
            resp["follow_token"].as_str().unwrap().to_string(),
        ));
        ids.push(id);
    }
    let post = |path: String, body: Value| {
        let http = http.clone();
        let token = token.clone();
        async move {
            let resp = http
                .post(path)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
        }
    };
    let base = app.base_url();
    post(
        format!("{base}/api/tickets/{}/comments", ids[0]),
        json!({"body": "checked the charger", "visibility": "internal"}),
    )
    .await;
    post(
        format!("{base}/api/tickets/{}/comments", ids[0]),
        json!({"body": "Please try another outlet"}),
    )
    .await;
    post(
        format!("{base}/api/tickets/{}/assign", ids[1]),
        json!({"assignee": "root"}),
    )
    .await;
    post(format!("{base}/api/tickets/{}/resolve", ids[2]), json!({})).await;
    let before = sync_state(&app).await;

    // Exported while the server runs.
    let first = export(&app.data_dir());
    let header: Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    assert_eq!(header["format"], "ticketd-store-dump");
    assert_eq!(header["tickets"], 5);
    assert_eq!(header["epoch"], before["epoch"]);
    assert_eq!(header["version"], before["v"]);
    assert!(
        first.contains("checked the charger"),
        "internal notes are in a dump"
    );

    let target = Arc::new(tempfile::tempdir().unwrap());
    let (ok, said) = import(&target.path().join("data"), &first);
    assert!(ok, "{said}");
    assert!(said.contains("imported 5 tickets"), "{said}");
    let moved = app_in(target.clone()).await;
    let after = sync_state(&moved).await;
    assert_eq!(
        after["epoch"], before["epoch"],
        "clients resume against the moved store"
    );
    assert_eq!(after["v"], before["v"]);
    for id in &ids {
        let old = app.get_authed(&format!("/api/tickets/{id}"), &token).await;
        let new_token = moved.login_token("root", PASSWORD).await;
        let new = moved
            .get_authed(&format!("/api/tickets/{id}"), &new_token)
            .await;
        assert_eq!(old, new, "ticket {id} moved unchanged");
    }
    let (id, follow_token) = follow.unwrap();
    let read = moved
        .get_json(&format!("/api/tickets/{id}?follow={follow_token}"))
        .await;
    assert_eq!(
        read["request_id"],
        id.as_str(),
        "the requester's follow token still works: {read}"
    );

    let second = export(&moved.data_dir());
    assert_eq!(
        comparable(&first),
        comparable(&second),
        "export, import, export: identical"
    );
}

#[tokio::test]
async fn bad_dumps_and_occupied_directories_are_refused() {
    let mut source = app_in(Arc::new(tempfile::tempdir().unwrap())).await;
    source.submit_http("Monitor flickers").await;
    source.submit_http("Mouse lost").await;
    let dump = export(&source.data_dir());

    let running = import(&source.data_dir(), &dump);
    assert!(!running.0);
    assert!(
        running.1.contains("in use by another ticketd"),
        "{}",
        running.1
    );
    source.stop();
    let occupied = import(&source.data_dir(), &dump);
    assert!(!occupied.0);
    assert!(
        occupied.1.contains("already holds a store"),
        "{}",
        occupied.1
    );

    let empty = tempfile::tempdir().unwrap();
    let cut: String = dump.lines().take(2).map(|l| format!("{l}\n")).collect();
    let (ok, said) = import(&empty.path().join("a"), &cut);
    assert!(!ok);
    assert!(said.contains("cut short"), "{said}");
    assert!(
        !empty.path().join("a").join("tickets_storage.json").exists(),
        "nothing written"
    );

    let (ok, said) = import(&empty.path().join("b"), "{\"hello\":1}\n");
    assert!(!ok);
    assert!(said.contains("line 1"), "{said}");
    assert_eq!(
        said.lines().count(),
        1,
        "the error is said once, as one plain line: {said}"
    );
    assert!(said.trim_end().starts_with("ticketd: "), "{said}");

    let mut lines: Vec<String> = dump.lines().map(str::to_string).collect();
    lines[2] = lines[2].replace("\"priority\":", "\"priority_broken\":");
    let (ok, said) = import(&empty.path().join("c"), &(lines.join("\n") + "\n"));
    assert!(!ok);
    assert!(said.contains("line 3"), "{said}");
}
