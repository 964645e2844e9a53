//! Crash safety: SIGKILL the server again and again while clients submit,
//! during journal appends and during snapshot compaction; every ticket whose
//! `ticket_submitted` arrived must survive, and the store must always load.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

/// Rounds of start, submit, SIGKILL. `TICKETD_CRASH_ROUNDS` raises it for a
/// soak run (the performance work runs hundreds).
fn rounds() -> usize {
    std::env::var("TICKETD_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(25)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_never_loses_an_acknowledged_ticket() {
    // A tiny compaction threshold, so kills land during snapshot writes too.
    let options = Options {
        args: vec!["--compact-after-bytes".into(), "4096".into()],
        ..Options::default()
    };
    let mut app = spawn_with(options).await;
    let acked: Arc<Mutex<HashSet<String>>> = Arc::default();
    for round in 0..rounds() {
        if round > 0 {
            app.restart().await;
        }
        let mut writers = Vec::new();
        for w in 0..3 {
            let mut ws = app.connect_ws().await;
            let acked = acked.clone();
            writers.push(tokio::spawn(async move {
                for n in 0.. {
                    let sent = json!({"event": "submit_ticket", "data": {
                        "description": format!("round {round} writer {w} ticket {n}: disk full on file server"),
                        "system": "File server", "requester": "Crash test"}});
                    if ws.try_send_json(sent).await.is_err() {
                        return;
                    }
                    // Read until our ack (or the connection dies with the server).
                    loop {
                        match ws.try_next_frame().await {
                            Some(frame) if frame["event"] == "ticket_submitted" => {
                                let id = frame["data"]["request_id"].as_str().unwrap().to_string();
                                acked.lock().unwrap().insert(id);
                                break;
                            }
                            Some(_) => continue,
                            None => return,
                        }
                    }
                }
            }));
        }
        // Let them write for a varying while, then kill without warning.
        tokio::time::sleep(Duration::from_millis(20 + (round as u64 * 37) % 150)).await;
        app.kill();
        for w in writers {
            let _ = w.await;
        }
        // The snapshot, if there is one, always parses.
        if let Ok(bytes) = std::fs::read(app.store_path()) {
            let parsed: Result<Value, _> = serde_json::from_slice(&bytes);
            assert!(parsed.is_ok(), "round {round}: snapshot does not parse");
        }
    }
    app.restart().await;
    let (_, initial) = app.connect_ready().await;
    let stored: HashSet<String> = initial
        .iter()
        .map(|t| t["request_id"].as_str().unwrap().to_string())
        .collect();
    let acked = acked.lock().unwrap();
    assert!(
        acked.len() > rounds(),
        "the writers got acknowledgements ({})",
        acked.len()
    );
    let lost: Vec<&String> = acked.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged tickets lost: {lost:?}",
        lost.len()
    );
}
