//! The gateway core through the real server: protocol, broadcast, storage.

mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn second_client_sees_new_ticket() {
    let app = spawn_app().await;
    let (mut a, initial) = app.connect_ready().await;
    assert!(initial.is_empty());
    let (mut b, _) = app.connect_ready().await;

    a.send_json(json!({
        "event": "submit_ticket",
        "ref": "mine",
        "data": {"description": "Outlook crashes for the whole sales team", "system": "Email", "requester": "Ana"}
    }))
    .await;
    // The sender gets its direct reply with the same ref, and the broadcast.
    let mut submitted = None;
    let mut seen_new = None;
    while submitted.is_none() || seen_new.is_none() {
        let frame = a.next_frame().await.expect("frame");
        match frame["event"].as_str().unwrap() {
            "ticket_submitted" => {
                assert_eq!(frame["ref"], "mine");
                submitted = Some(frame["data"]["request_id"].clone());
            }
            "new_ticket" => {
                assert!(frame.get("ref").is_none(), "broadcasts carry no ref");
                seen_new = Some(frame["data"].clone());
            }
            _ => {}
        }
    }
    let ticket = b.expect("new_ticket").await;
    assert_eq!(Some(ticket["request_id"].clone()), submitted);
    assert_eq!(seen_new.unwrap(), ticket);
    assert_eq!(ticket["status"], "open");
    assert_eq!(ticket["request_details"]["requester"], "Ana");
    assert!(ticket["resolved_at"].is_null());
    assert!(["LOW", "MEDIUM", "HIGH", "CRITICAL"].contains(&ticket["priority"].as_str().unwrap()));
    let score = ticket["priority_score"].as_u64().unwrap();
    assert!(score <= 100);
    for key in [
        "impact",
        "urgency",
        "category",
        "team",
        "signals",
        "confidence",
        "model_version",
    ] {
        assert!(ticket["analysis"].get(key).is_some(), "analysis.{key}");
    }
}

#[tokio::test]
async fn a_retried_submission_with_its_idempotency_key_is_the_same_ticket() {
    let app = spawn_app().await;
    let (mut watcher, _) = app.connect_ready().await;
    let body = json!({
        "description": "Scanner on the loading dock is offline",
        "system": "Scanner",
        "requester": "Ana",
        "idempotency_key": "c0ffee-42:retry-safe",
    });
    let url = format!("{}/api/tickets", app.base_url());
    let first = app.http().post(&url).json(&body).send().await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    assert!(first["follow_token"].is_string());
    assert!(first.get("replayed").is_none(), "{first}");
    // The retry (the first answer was lost, say): the same ticket, 200,
    // marked replayed, and no second follow token (it is kept only hashed).
    let again = app.http().post(&url).json(&body).send().await.unwrap();
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["request_id"], first["request_id"]);
    assert_eq!(again["replayed"], true);
    assert!(again.get("follow_token").is_none(), "{again}");
    // Over the WebSocket too, with the same key.
    let (mut ws, _) = app.connect_ready().await;
    ws.send_json(json!({"event": "submit_ticket", "ref": "retry", "data": body}))
        .await;
    let ack = ws.expect("ticket_submitted").await;
    assert_eq!(ack["request_id"], first["request_id"]);
    assert_eq!(ack["replayed"], true);
    // A different key is a different ticket.
    let mut other = body.clone();
    other["idempotency_key"] = "another-key".into();
    let third: Value = app
        .http()
        .post(&url)
        .json(&other)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(third["request_id"], first["request_id"]);
    // The watcher heard exactly two new tickets, and the store holds two.
    let heard = [
        watcher.expect("new_ticket").await["request_id"].clone(),
        watcher.expect("new_ticket").await["request_id"].clone(),
    ];
    assert_eq!(
        heard,
        [first["request_id"].clone(), third["request_id"].clone()]
    );
    let listed = app.get_json("/api/tickets").await;
    assert_eq!(listed["total"], 2, "{listed}");
    // The key survives a restart (it is stored with the ticket, privately).
    let mut app = app;
    app.restart().await;
    let after = app
        .http()
        .post(format!("{}/api/tickets", app.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 200);
    let after: Value = after.json().await.unwrap();
    assert_eq!(after["request_id"], first["request_id"]);
    let shown = app
        .get_json(&format!(
            "/api/tickets/{}",
            first["request_id"].as_str().unwrap()
        ))
        .await;
    assert!(
        !shown.to_string().contains("c0ffee-42"),
        "the key is private: {shown}"
    );
}

#[tokio::test]
async fn new_client_receives_existing_tickets_oldest_first() {
    let app = spawn_app().await;
    let (mut a, _) = app.connect_ready().await;
    let first = a.submit("first: monitor flickers").await;
    let second = a.submit("second: keyboard missing keys").await;
    let (_, initial) = app.connect_ready().await;
    let ids: Vec<&str> = initial
        .iter()
        .map(|t| t["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![first.as_str(), second.as_str()]);
}

#[tokio::test]
async fn tickets_survive_a_restart() {
    let mut app = spawn_app().await;
    let (mut a, _) = app.connect_ready().await;
    let id = a.submit("VPN drops every hour").await;
    let http_ticket = app.submit_http("Printer jams on floor 2").await;
    drop(a);
    assert!(app.stop().success(), "SIGTERM exits 0");
    app.restart().await;
    let (_, initial) = app.connect_ready().await;
    let ids: Vec<&str> = initial
        .iter()
        .map(|t| t["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![id.as_str(), http_ticket["request_id"].as_str().unwrap()]
    );
    // The snapshot file keeps the original format: an object keyed by id.
    // (Start-up folds the journals into it in the background; a clean stop
    // waits for that.)
    assert!(app.stop().success());
    let store: Value = serde_json::from_slice(&std::fs::read(app.store_path()).unwrap()).unwrap();
    assert!(
        store.get(&id).is_some(),
        "snapshot keyed by request_id: {store}"
    );
}

#[tokio::test]
async fn get_stats_answers_with_counts() {
    let app = spawn_app().await;
    let (mut a, _) = app.connect_ready().await;
    a.submit("Laptop battery swollen").await;
    a.send_json(json!({"event": "get_stats", "ref": "s"})).await;
    let stats = a.expect("stats_update").await;
    // A coalesced broadcast may come first; ask until the reply with our ref.
    let stats = if stats["total"] == 1 {
        stats
    } else {
        a.expect("stats_update").await
    };
    assert_eq!(stats["total"], 1);
    assert_eq!(stats["open"], 1);
    assert_eq!(stats["resolved"], 0);
    let by_priority = stats["by_priority"].as_object().unwrap();
    assert_eq!(by_priority.len(), 4);
    assert_eq!(
        by_priority
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum::<u64>(),
        1
    );
}

#[tokio::test]
async fn stats_updates_are_coalesced_under_a_burst() {
    // More submissions than the default per-client limit allows.
    let app = spawn_with(Options {
        args: generous_limits(),
        ..Options::default()
    })
    .await;
    let (mut watcher, _) = app.connect_ready().await;
    let (mut a, _) = app.connect_ready().await;
    for n in 0..30 {
        a.send(
            "submit_ticket",
            json!({"description": format!("burst {n}"), "system": "S", "requester": "R"}),
        )
        .await;
    }
    let mut new_tickets = 0;
    let mut stats_frames = 0;
    while new_tickets < 30 {
        let frame = watcher.next_frame().await.unwrap();
        match frame["event"].as_str().unwrap() {
            "new_ticket" => new_tickets += 1,
            "stats_update" => stats_frames += 1,
            _ => {}
        }
    }
    // Wait for the trailing coalesced frame showing all 30.
    loop {
        let stats = watcher.expect("stats_update").await;
        stats_frames += 1;
        if stats["total"] == 30 {
            break;
        }
    }
    assert!(
        stats_frames < 10,
        "30 tickets cost {stats_frames} stats frames"
    );
}

async fn expect_code(ws: &mut WsClient, code: &str) -> Value {
    let error = ws.expect_error().await;
    assert_eq!(error["code"], code, "{error}");
    error
}

#[tokio::test]
async fn bad_frames_get_clear_errors_and_the_connection_stays_open() {
    let app = spawn_app().await;
    let (mut ws, _) = app.connect_ready().await;
    for frame in [
        "not json",
        "[1,2,3]",
        "\"text\"",
        "{\"data\":{}}",
        "{\"event\":5}",
    ] {
        ws.send_text(frame).await;
        expect_code(&mut ws, "bad_frame").await;
    }
    ws.stream.send_binary(vec![1, 2, 3]).await;
    expect_code(&mut ws, "bad_frame").await;
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    ws.send_text(&deep).await;
    expect_code(&mut ws, "bad_frame").await;

    ws.send_json(json!({"event": "launch_rockets", "data": {}, "ref": "x"}))
        .await;
    let frame = loop {
        let f = ws.next_frame().await.unwrap();
        if f["event"] == "error" {
            break f;
        }
    };
    assert_eq!(frame["data"]["code"], "unknown_event");
    assert_eq!(frame["ref"], "x");

    // Still open: a valid submission works.
    let id = ws.submit("still here").await;
    assert_eq!(id.len(), 36);
}

trait SendBinary {
    async fn send_binary(&mut self, bytes: Vec<u8>);
}

impl SendBinary for WsStream {
    async fn send_binary(&mut self, bytes: Vec<u8>) {
        use futures_util::SinkExt;
        self.send(tokio_tungstenite::tungstenite::Message::Binary(
            bytes.into(),
        ))
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn invalid_payloads_name_the_field() {
    // More submissions than the default per-client limit allows.
    let app = spawn_with(Options {
        args: generous_limits(),
        ..Options::default()
    })
    .await;
    let (mut ws, _) = app.connect_ready().await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({"system": "s", "requester": "r"}), "description"),
        (
            json!({"description": "   ", "system": "s", "requester": "r"}),
            "description",
        ),
        (
            json!({"description": "x".repeat(5001), "system": "s", "requester": "r"}),
            "description",
        ),
        (
            json!({"description": 42, "system": "s", "requester": "r"}),
            "description",
        ),
        (
            json!({"description": "d", "system": "s".repeat(101), "requester": "r"}),
            "system",
        ),
        (
            json!({"description": "d", "system": "s", "requester": ""}),
            "requester",
        ),
        (
            json!({"description": "d", "system": "s", "requester": "r", "idempotency_key": ""}),
            "idempotency_key",
        ),
        (
            json!({"description": "d", "system": "s", "requester": "r", "idempotency_key": "two words"}),
            "idempotency_key",
        ),
        (
            json!({"description": "d", "system": "s", "requester": "r", "idempotency_key": "k".repeat(129)}),
            "idempotency_key",
        ),
        (
            json!({"description": "d", "system": "s", "requester": "r", "idempotency_key": 7}),
            "idempotency_key",
        ),
        (
            json!({"description": "d", "system": "s", "requester": ["r"]}),
            "requester",
        ),
        (
            json!({"description": "bell\u{7}", "system": "s", "requester": "r"}),
            "description",
        ),
        (
            json!({"description": "d", "system": "s", "requester": "r", "admin": true}),
            "admin",
        ),
        (json!("just a string"), "data"),
    ];
    for (data, field) in cases {
        ws.send("submit_ticket", data.clone()).await;
        let error = expect_code(&mut ws, "invalid_payload").await;
        assert!(
            error["message"].as_str().unwrap().contains(field),
            "{data} -> {error} should name {field}"
        );
    }
    // Limits are inclusive, newline and tab are fine, and nothing was stored.
    let (_, initial) = app.connect_ready().await;
    assert!(initial.is_empty());
    ws.send(
        "submit_ticket",
        json!({"description": format!("{}\n\t", "x".repeat(5000)), "system": "s".repeat(100), "requester": "r"}),
    )
    .await;
    ws.expect("ticket_submitted").await;
}

#[tokio::test]
async fn invalid_utf8_closes_with_1007() {
    let app = spawn_app().await;
    let (mut ws, _) = app.connect_ready().await;
    // A text frame whose payload is not UTF-8, written as a raw frame.
    use tokio_tungstenite::tungstenite::protocol::frame::{Frame, coding::Data, coding::OpCode};
    let frame = Frame::message(vec![0xff, 0xfe, 0xfd], OpCode::Data(Data::Text), true);
    use futures_util::SinkExt;
    ws.stream
        .send(tokio_tungstenite::tungstenite::Message::Frame(frame))
        .await
        .unwrap();
    assert_eq!(ws.expect_close().await, Some(1007));
}

#[tokio::test]
async fn admin_command_without_a_session_is_unauthorized() {
    let app = spawn_app().await;
    let (mut ws, _) = app.connect_ready().await;
    ws.send(
        "admin_command",
        json!({"command": "clear_all", "password": "admin123"}),
    )
    .await;
    expect_code(&mut ws, "unauthorized").await;
}

#[tokio::test]
async fn http_api_shares_the_service_and_the_broadcast() {
    let app = spawn_app().await;
    let (mut ws, _) = app.connect_ready().await;
    let ticket = app.submit_http("Server room temperature alarm").await;
    let heard = ws.expect("new_ticket").await;
    assert_eq!(heard, ticket);

    let client = app.http();
    let url = |p: &str| format!("{}{p}", app.base_url());
    let list: Value = client
        .get(url("/api/tickets"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["tickets"].as_array().unwrap().len(), 1);
    assert_eq!(list["total"], 1);
    assert_eq!(list["next_cursor"], Value::Null);
    let id = ticket["request_id"].as_str().unwrap();
    let one: Value = client
        .get(url(&format!("/api/tickets/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The ticket, with the conversation its reader may see (none yet).
    let mut with_comments = ticket.clone();
    with_comments["comments"] = json!([]);
    assert_eq!(one, with_comments);
    let missing = client
        .get(url("/api/tickets/00000000-0000-4000-8000-000000000000"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    let bad = client
        .post(url("/api/tickets"))
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_frame");
    assert!(
        !body["error"]["message"].as_str().unwrap().contains("line"),
        "no parser internals"
    );
    let invalid = client
        .post(url("/api/tickets"))
        .json(&json!({"description": "d", "system": "", "requester": "r"}))
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), 400);
    let body: Value = invalid.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_payload");
    let stats: Value = client
        .get(url("/api/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["total"], 1);
    let health = client.get(url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let page = client.get(url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("ticketd"));
}

#[tokio::test]
async fn corrupt_store_refuses_start_and_is_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let path = data.join("tickets_storage.json");
    for content in [
        &b"{\"truncated\": "[..],
        &b"{\"not-a-uuid\": {\"x\": 1}}"[..],
        &b"[1,2]"[..],
    ] {
        std::fs::write(&path, content).unwrap();
        let output = start_expecting_failure(dir.path(), &[], &[]);
        assert!(
            output.contains("tickets_storage.json"),
            "names the file: {output}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), content, "byte-identical");
    }
}

#[tokio::test]
async fn second_process_on_the_same_data_dir_is_refused() {
    let app = spawn_app().await;
    let output = start_expecting_failure(app.dir.path(), &[], &[]);
    assert!(output.contains("in use by another ticketd"), "{output}");
}

#[tokio::test]
async fn generated_certificate_is_reused_and_its_key_private() {
    use std::os::unix::fs::PermissionsExt;
    let mut app = spawn_app().await;
    let cert = app.cert_pem();
    let key = app.certs_dir().join("localhost-key.pem");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(app.log_text().contains("sha256"), "fingerprint logged");
    app.restart().await;
    assert_eq!(app.cert_pem(), cert);
    // Store files are private too.
    let (mut ws, _) = app.connect_ready().await;
    ws.submit("check modes").await;
    for entry in std::fs::read_dir(app.data_dir()).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{:?}", entry.file_name());
        }
    }
}

#[tokio::test]
async fn a_large_initial_tickets_arrives_whole() {
    // A hundred tickets of ~3.5 KB: `initial_tickets` is a bulk send, in
    // fragments, through the bulk-send gate.
    let app = spawn_with(Options {
        args: generous_limits(),
        ..Options::default()
    })
    .await;
    let (mut a, _) = app.connect_ready().await;
    let mut ids = Vec::new();
    for n in 0..100 {
        ids.push(
            a.submit(&format!(
                "{n}: {}",
                "the scanner loses its pairing ".repeat(100)
            ))
            .await,
        );
    }
    let (_, initial) = app.connect_ready().await;
    let got: Vec<String> = initial
        .iter()
        .map(|t| t["request_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, ids);
}

#[tokio::test]
async fn ws_without_an_upgrade_is_refused_clearly() {
    let app = spawn_app().await;
    let resp = app
        .http()
        .get(format!("{}/ws", app.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 426);
    assert_eq!(resp.headers()["upgrade"], "websocket");
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("WebSocket")
    );
}

#[tokio::test]
async fn pings_keep_a_reading_client_and_drop_a_silent_one() {
    let app = spawn_with(Options {
        args: ["--ping-interval-secs", "1", "--idle-timeout-secs", "2"]
            .map(String::from)
            .to_vec(),
        ..Options::default()
    })
    .await;
    let (mut reader, _) = app.connect_ready().await;
    let (mut silent, _) = app.connect_ready().await;
    // The reader answers every ping (its client library pongs as it reads)
    // through several ping cycles.
    let until = tokio::time::Instant::now() + std::time::Duration::from_secs(4);
    while tokio::time::Instant::now() < until {
        use futures_util::StreamExt;
        let next =
            tokio::time::timeout(std::time::Duration::from_millis(200), reader.stream.next()).await;
        if let Ok(frame) = next {
            assert!(matches!(frame, Some(Ok(_))), "reader dropped: {frame:?}");
        }
    }
    let id = reader
        .submit("still connected after four ping cycles")
        .await;
    assert_eq!(id.len(), 36);
    // The silent client never read, so never answered: it was dropped.
    assert_eq!(silent.expect_close().await, Some(1008));
}
