//! The adversarial suite: every limit attacked through the real server,
//! reached, and (where it is a rate) lifted again. Several source addresses
//! come from binding clients to 127.0.0.2, 127.0.0.3, ... (all loopback).
//! Small limits are configured by flags so no test waits long.

mod common;

use std::time::Duration;

use common::*;
use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

const SECURITY_HEADERS: [(&str, &str); 5] = [
    ("strict-transport-security", "max-age=31536000"),
    (
        "content-security-policy",
        "default-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
];

fn with_args(args: &[&str]) -> Options {
    Options {
        args: args.iter().map(|s| s.to_string()).collect(),
        ..Options::default()
    }
}

fn assert_security_headers(headers: &reqwest::header::HeaderMap, what: &str) {
    for (name, value) in SECURITY_HEADERS {
        assert_eq!(
            headers.get(name).and_then(|v| v.to_str().ok()),
            Some(value),
            "{name} on {what}"
        );
    }
}

/// `GET path`, returning status, headers and the body as JSON (or null).
async fn get(
    client: &reqwest::Client,
    app: &TestApp,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = client.get(format!("{}{path}", app.base_url()));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

/// Spends requests until one is refused; returns how many passed and the 429.
async fn until_limited(
    client: &reqwest::Client,
    app: &TestApp,
    headers: impl Fn(usize) -> Vec<(String, String)>,
    at_most: usize,
) -> (usize, Option<(reqwest::header::HeaderMap, Value)>) {
    for n in 0..at_most {
        let owned = headers(n);
        let pairs: Vec<(&str, &str)> = owned
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let (status, headers, body) = get(client, app, "/api/stats", &pairs).await;
        match status {
            200 => continue,
            429 => return (n, Some((headers, body))),
            other => panic!("unexpected status {other}: {body}"),
        }
    }
    (at_most, None)
}

/// Writes a raw HTTP/1.1 request over TLS (ignoring a server that stops
/// reading early) and returns the start of the answer, lower-cased.
async fn raw_exchange(app: &TestApp, head: &str, body: &[u8]) -> String {
    let mut tls = app.tls_stream().await;
    tls.write_all(head.as_bytes()).await.unwrap();
    let _ = tls.write_all(body).await;
    let mut answer = vec![0u8; 8192];
    let n = tokio::time::timeout(WAIT, tls.read(&mut answer))
        .await
        .expect("an answer")
        .unwrap_or(0);
    String::from_utf8_lossy(&answer[..n]).to_lowercase()
}

fn retry_after_secs(headers: &reqwest::header::HeaderMap) -> u64 {
    headers["retry-after"].to_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn http_rate_limit_is_reached_and_lifts_without_locking_out_others() {
    let app = spawn_with(with_args(&["--http-rate", "10/s", "--http-burst", "5"])).await;
    let attacker = app.http_from("127.0.0.2");
    let (passed, refused) = until_limited(&attacker, &app, |_| vec![], 20).await;
    assert_eq!(passed, 5, "the burst passes, then the limit holds");
    let (headers, body) = refused.expect("refused");
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(retry_after_secs(&headers), 1);
    assert_security_headers(&headers, "429");
    // Someone else is not affected.
    let (status, ..) = get(&app.http_from("127.0.0.3"), &app, "/api/stats", &[]).await;
    assert_eq!(status, 200);
    // One cell comes back every 100 ms.
    tokio::time::sleep(Duration::from_millis(250)).await;
    let (status, ..) = get(&attacker, &app, "/api/stats", &[]).await;
    assert_eq!(status, 200, "the limit lifts when the window passes");
}

#[tokio::test]
async fn spoofed_forwarded_for_from_an_untrusted_peer_is_still_limited() {
    let app = spawn_with(with_args(&["--http-rate", "1/min", "--http-burst", "5"])).await;
    let client = app.http_from("127.0.0.2");
    let rotating = |n: usize| vec![("x-forwarded-for".into(), format!("203.0.113.{n}"))];
    let (passed, refused) = until_limited(&client, &app, rotating, 20).await;
    assert_eq!(passed, 5);
    assert!(refused.is_some());
}

#[tokio::test]
async fn forwarded_for_is_honoured_from_a_trusted_proxy() {
    let app = spawn_with(with_args(&[
        "--http-rate",
        "1/min",
        "--http-burst",
        "3",
        "--trusted-proxies",
        "127.0.0.4/32,10.0.0.0/8",
    ]))
    .await;
    let proxy = app.http_from("127.0.0.4");
    // Each forwarded client has its own bucket: none is limited.
    let rotating = |n: usize| vec![("x-forwarded-for".into(), format!("203.0.113.{n}"))];
    let (passed, refused) = until_limited(&proxy, &app, rotating, 12).await;
    assert_eq!((passed, refused.is_none()), (12, true));
    // A client forging the left part is still one client: the rightmost
    // untrusted entry (before our own 10/8 hop) is who it is.
    let forged = |n: usize| {
        vec![(
            "x-forwarded-for".into(),
            format!("198.51.100.{n}, 192.0.2.77, 10.9.9.9"),
        )]
    };
    let (passed, refused) = until_limited(&proxy, &app, forged, 12).await;
    assert_eq!(passed, 3);
    assert!(refused.is_some());
}

#[tokio::test]
async fn two_ipv6_addresses_in_one_64_share_a_bucket() {
    let app = spawn_with(with_args(&[
        "--http-rate",
        "1/min",
        "--http-burst",
        "4",
        "--trusted-proxies",
        "127.0.0.4",
    ]))
    .await;
    let proxy = app.http_from("127.0.0.4");
    // Alternate between two addresses of 2001:db8:1:2::/64.
    let same_64 = |n: usize| {
        let address = if n.is_multiple_of(2) {
            "2001:db8:1:2::1"
        } else {
            "2001:db8:1:2:ffff:1234:5:6"
        };
        vec![("x-forwarded-for".into(), address.into())]
    };
    let (passed, refused) = until_limited(&proxy, &app, same_64, 12).await;
    assert_eq!(passed, 4, "one bucket for the /64");
    assert!(refused.is_some());
    // The neighbouring /64 is someone else.
    let other = [("x-forwarded-for", "2001:db8:1:3::1")];
    let (status, ..) = get(&proxy, &app, "/api/stats", &other).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn websocket_upgrades_are_rate_limited_at_the_upgrade() {
    let app = spawn_with(with_args(&[
        "--ws-upgrade-rate",
        "10/s",
        "--ws-upgrade-burst",
        "3",
    ]))
    .await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(app.ws_from("127.0.0.2").await);
    }
    let refused = app.try_ws("127.0.0.2", &[]).await.err().expect("refused");
    assert_eq!(refused.status, 429);
    assert!(refused.headers.contains_key("retry-after"));
    assert_security_headers(&refused.headers, "a refused upgrade");
    let body: Value = serde_json::from_str(&refused.body).unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    // Another address may connect; and after 100 ms this one may again.
    app.ws_from("127.0.0.3").await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    app.ws_from("127.0.0.2").await;
}

#[tokio::test]
async fn connection_caps_refuse_one_over_at_the_upgrade() {
    let app = spawn_with(with_args(&[
        "--max-connections-per-ip",
        "2",
        "--max-connections",
        "3",
    ]))
    .await;
    let a1 = app.ws_from("127.0.0.2").await;
    let _a2 = app.ws_from("127.0.0.2").await;
    let refused = app.try_ws("127.0.0.2", &[]).await.err().expect("refused");
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert!(refused.body.contains("rate_limited"));
    let _b1 = app.ws_from("127.0.0.3").await;
    let refused = app.try_ws("127.0.0.4", &[]).await.err().expect("refused");
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert!(refused.body.contains("overloaded"));
    // The refused ones never held a slot; closing one frees it.
    drop(a1);
    let mut admitted = None;
    for _ in 0..50 {
        match app.try_ws("127.0.0.4", &[]).await {
            Ok(ws) => {
                admitted = Some(ws);
                break;
            }
            Err(r) => {
                assert_eq!(r.status, 503);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    admitted.expect("a slot frees when a client leaves");
}

#[tokio::test]
async fn foreign_and_null_origins_are_refused() {
    let app = spawn_with(with_args(&["--allowed-origins", "https://ops.example.com"])).await;
    let port = app.addr.port();
    for origin in [
        "https://evil.example",
        "null",
        "http://127.0.0.1",
        "https://localhost:1",
    ] {
        let refused = app
            .try_ws("127.0.0.2", &[("origin", origin)])
            .await
            .err()
            .unwrap_or_else(|| panic!("{origin} should be refused"));
        assert_eq!(refused.status, 403, "{origin}");
        assert!(refused.body.contains("forbidden"), "{}", refused.body);
    }
    let own = [
        format!("https://127.0.0.1:{port}"),
        format!("https://localhost:{port}"),
        "https://ops.example.com".to_string(),
    ];
    for origin in &own {
        let mut ws = app
            .try_ws("127.0.0.2", &[("origin", origin)])
            .await
            .unwrap_or_else(|r| panic!("{origin} refused: {r:?}"));
        ws.expect("initial_tickets").await;
    }
    // A client with no Origin (not a browser) is allowed.
    app.ws_from("127.0.0.2").await;
}

#[tokio::test]
async fn websocket_messages_are_limited_then_lift_and_a_flooder_is_closed() {
    let app = spawn_with(with_args(&[
        "--ws-message-rate",
        "10/s",
        "--ws-message-burst",
        "5",
        "--ws-refusals-before-close",
        "3",
    ]))
    .await;
    let mut ws = app.ws_from("127.0.0.2").await;
    for n in 0..5 {
        ws.send_json(json!({"event": "get_stats", "ref": format!("ok{n}")}))
            .await;
    }
    ws.send_json(json!({"event": "get_stats", "ref": "over"}))
        .await;
    let refusal = loop {
        let frame = ws.next_frame().await.expect("frame");
        if frame["event"] == "error" {
            break frame;
        }
    };
    assert_eq!(refusal["ref"], "over");
    assert_eq!(refusal["data"]["code"], "rate_limited");
    let wait = refusal["data"]["retry_after_ms"].as_u64().unwrap();
    assert!((1..=100).contains(&wait), "{wait}");
    // Another client from elsewhere is unaffected.
    let mut other = app.ws_from("127.0.0.3").await;
    other.send_json(json!({"event": "get_stats"})).await;
    other.expect("stats_update").await;
    // Waiting as told lifts the limit, and the count of refusals restarts.
    tokio::time::sleep(Duration::from_millis(wait + 20)).await;
    ws.send_json(json!({"event": "get_stats", "ref": "again"}))
        .await;
    loop {
        let frame = ws.next_frame().await.expect("frame");
        assert_ne!(frame["event"], "error", "{frame}");
        if frame["ref"] == "again" {
            break;
        }
    }
    // A client that keeps sending after being told is closed with 1008.
    for _ in 0..20 {
        if ws
            .stream
            .send(Message::Text(r#"{"event":"get_stats"}"#.into()))
            .await
            .is_err()
        {
            break;
        }
    }
    assert_eq!(ws.expect_close().await, Some(1008));
}

#[tokio::test]
async fn ticket_submissions_are_limited_on_both_transports() {
    let app = spawn_with(with_args(&["--submit-rate", "10/s", "--submit-burst", "2"])).await;
    let mut ws = app.ws_from("127.0.0.2").await;
    ws.submit("first").await;
    ws.submit("second").await;
    let ticket = json!({"description": "third", "system": "Email", "requester": "T"});
    ws.send_json(json!({"event": "submit_ticket", "ref": "t3", "data": ticket.clone()}))
        .await;
    let refusal = ws.expect("error").await;
    assert_eq!(refusal["code"], "rate_limited");
    // The same client over HTTP shares the submission bucket.
    let http = app.http_from("127.0.0.2");
    let response = http
        .post(format!("{}/api/tickets", app.base_url()))
        .json(&ticket)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    // Reading is not submitting.
    ws.send_json(json!({"event": "get_stats"})).await;
    ws.expect("stats_update").await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    ws.submit("fourth, after the wait").await;
}

#[tokio::test]
async fn oversize_websocket_message_closes_with_1009() {
    let app = spawn_app().await;
    let mut ws = app.ws_from("127.0.0.2").await;
    let big = format!(
        r#"{{"event":"get_stats","data":{{"pad":"{}"}}}}"#,
        "x".repeat(70 * 1024)
    );
    let _ = ws.stream.send(Message::Text(big.into())).await;
    assert_eq!(ws.expect_close().await, Some(1009));
}

#[tokio::test]
async fn oversize_http_body_is_413_json_with_the_headers() {
    let app = spawn_app().await;
    let head = format!(
        "POST /api/tickets HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        70 * 1024
    );
    let answer = raw_exchange(&app, &head, &[b' '; 70 * 1024]).await;
    assert!(answer.starts_with("http/1.1 413"), "{answer}");
    for (name, value) in SECURITY_HEADERS {
        assert!(
            answer.contains(&format!("{name}: {}", value.to_lowercase())),
            "{name} on 413: {answer}"
        );
    }
    assert!(
        answer.contains("\"code\":\"payload_too_large\""),
        "{answer}"
    );
    // The same without a Content-Length (a chunked stream).
    let mut tls = app.tls_stream().await;
    let head = b"POST /api/tickets HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    tls.write_all(head).await.unwrap();
    let chunk = format!("2000\r\n{}\r\n", " ".repeat(0x2000));
    for _ in 0..10 {
        if tls.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = tls.write_all(b"0\r\n\r\n").await;
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(WAIT, tls.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]).to_lowercase();
    assert!(answer.starts_with("http/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
}

#[tokio::test]
async fn malformed_frames_and_deep_nesting_are_answered_not_fatal() {
    let app = spawn_app().await;
    let mut ws = app.ws_from("127.0.0.2").await;
    // Deep, but under the 64 KiB message limit.
    let deep_array = "[".repeat(60_000);
    let deep_data = format!(
        r#"{{"event":"submit_ticket","data":{}{}}}"#,
        "{\"a\":".repeat(5_000),
        "}".repeat(5_000)
    );
    for frame in [
        "",
        "{",
        "\u{0}",
        "{\"event\":\"get_stats\"}}",
        "{\"event\":null}",
        deep_array.as_str(),
        deep_data.as_str(),
    ] {
        ws.send_text(frame).await;
        let error = ws.expect("error").await;
        assert_eq!(error["code"], "bad_frame", "{:.40}: {error}", frame);
        let message = error["message"].as_str().unwrap();
        assert!(!message.contains("line "), "no parser internals: {message}");
    }
    // Still served.
    ws.send_json(json!({"event": "get_stats"})).await;
    ws.expect("stats_update").await;
    // Deep nesting over HTTP: a fixed message, no parser text.
    let response = app
        .http_from("127.0.0.2")
        .post(format!("{}/api/tickets", app.base_url()))
        .header("content-type", "application/json")
        .body(deep_array.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["error"]["message"],
        "the request body is not valid JSON"
    );
}

#[tokio::test]
async fn invalid_utf8_in_a_text_frame_closes_with_1007() {
    use tokio_tungstenite::tungstenite::protocol::frame::{Frame, coding::Data, coding::OpCode};
    let app = spawn_app().await;
    let mut ws = app.ws_from("127.0.0.2").await;
    let frame = Frame::message(vec![b'{', 0xc3, 0x28, b'}'], OpCode::Data(Data::Text), true);
    ws.stream.send(Message::Frame(frame)).await.unwrap();
    assert_eq!(ws.expect_close().await, Some(1007));
}

#[tokio::test]
async fn a_client_that_never_reads_is_dropped_while_others_keep_receiving() {
    let app = spawn_with(Options {
        args: [
            "--send-timeout-secs",
            "1",
            "--client-queue",
            "64",
            "--submit-rate",
            "1000/s",
            "--submit-burst",
            "1000",
            "--ws-message-rate",
            "1000/s",
            "--ws-message-burst",
            "1000",
        ]
        .map(String::from)
        .to_vec(),
        envs: vec![("TICKETD_LOG".into(), "info,ticketd::ws=debug".into())],
    })
    .await;
    // The stalled client: a small receive buffer, and it never reads.
    let stalled = {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let tcp = socket.connect(app.addr).await.unwrap();
        let request = format!("wss://{}/ws", app.addr)
            .into_client_request()
            .unwrap();
        tokio_tungstenite::client_async_tls_with_config(
            request,
            tcp,
            None,
            Some(tokio_tungstenite::Connector::Rustls(tls_client(
                &app.cert_pem(),
            ))),
        )
        .await
        .unwrap()
        .0
    };
    let mut active = app.ws_from("127.0.0.2").await;
    let description = "The shared drive is unreachable for the whole floor. ".repeat(90);
    let mut dropped = false;
    // Bounded: enough data to fill any kernel buffer many times over.
    for round in 0..200 {
        for n in 0..25 {
            active
                .send(
                    "submit_ticket",
                    json!({"description": format!("{round}/{n} {description}"), "system": "Storage", "requester": "Load"}),
                )
                .await;
        }
        // The active client hears every one of its tickets.
        for _ in 0..25 {
            active.expect("new_ticket").await;
        }
        let log = app.log_text();
        if log.contains("send timed out") || log.contains("too slow") {
            dropped = true;
            break;
        }
    }
    assert!(dropped, "the stalled client was never dropped");
    // And the active client is still served.
    active.submit("after the stalled client left").await;
    drop(stalled);
}

#[tokio::test]
async fn slowloris_headers_time_out() {
    let app = spawn_with(with_args(&[
        "--header-read-timeout-secs",
        "1",
        "--tls-handshake-timeout-secs",
        "1",
    ]))
    .await;
    // Headers dribbled a line at a time, never finished.
    let tls = app.tls_stream().await;
    let (mut read, mut write) = tokio::io::split(tls);
    write
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    let dribble = async move {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if write.write_all(b"X-Slow: 1\r\n").await.is_err() {
                break;
            }
        }
    };
    tokio::select! {
        closed = closed_within(&mut read, WAIT) => assert!(closed, "slow headers kept the connection"),
        _ = dribble => {}
    }
    // A TLS connection that never sends a request.
    let mut idle = app.tls_stream().await;
    assert!(
        closed_within(&mut idle, WAIT).await,
        "an idle connection stayed"
    );
    // A TCP connection that never starts TLS.
    let mut raw = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    assert!(
        closed_within(&mut raw, WAIT).await,
        "a silent TCP connection stayed"
    );
    // The server still serves.
    let (status, ..) = get(&app.http(), &app, "/healthz", &[]).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_request_slower_than_the_whole_request_timeout_gets_408() {
    let app = spawn_with(with_args(&["--request-timeout-secs", "1"])).await;
    let mut tls = app.tls_stream().await;
    tls.write_all(
        b"POST /api/tickets HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"descr",
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(WAIT, tls.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer).to_lowercase();
    assert!(answer.starts_with("http/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"timeout\""), "{answer}");
    assert!(answer.contains("strict-transport-security"), "{answer}");
}

#[tokio::test]
async fn security_headers_on_200_404_413_and_429() {
    let app = spawn_with(with_args(&["--http-rate", "1/min", "--http-burst", "3"])).await;
    let client = app.http_from("127.0.0.2");
    let (status, headers, _) = get(&client, &app, "/api/tickets", &[]).await;
    assert_eq!(status, 200);
    assert_security_headers(&headers, "200");
    assert_eq!(headers["cache-control"], "no-store");
    let (status, headers, body) = get(&client, &app, "/no/such/path", &[]).await;
    assert_eq!(status, 404);
    assert_security_headers(&headers, "404");
    assert_eq!(body["error"]["code"], "not_found");
    // 413 (over raw TLS: the server answers before reading the body, which
    // an HTTP client library may report as a broken pipe instead).
    let head = format!(
        "POST /api/tickets HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
        70 * 1024
    );
    let answer = raw_exchange(&app, &head, &[b' '; 70 * 1024]).await;
    assert!(answer.starts_with("http/1.1 413"), "{answer}");
    for (name, value) in SECURITY_HEADERS {
        assert!(
            answer.contains(&format!("{name}: {}", value.to_lowercase())),
            "{name} on 413: {answer}"
        );
    }
    assert!(answer.contains("cache-control: no-store"), "{answer}");
    let (status, ..) = get(&client, &app, "/healthz", &[]).await;
    assert_eq!(status, 200);
    let (status, headers, body) = get(&client, &app, "/", &[]).await;
    assert_eq!(status, 429, "{body}");
    assert_security_headers(&headers, "429");
    // The browser app is not under /api: its own caching rule.
    let (status, headers, _) = get(&app.http_from("127.0.0.3"), &app, "/", &[]).await;
    assert_eq!(status, 200);
    assert_security_headers(&headers, "the app");
    assert_eq!(headers["cache-control"], "no-cache");
}

#[tokio::test]
async fn the_plain_http_listener_only_redirects() {
    let app = spawn_with(with_args(&["--http-redirect-listen", "127.0.0.1:0"])).await;
    let plain = app
        .log_word_after("redirecting http://")
        .expect("the redirect address is logged");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client
        .get(format!("http://{plain}/api/tickets?since=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 301);
    assert_eq!(
        response.headers()["location"],
        format!("https://127.0.0.1:{}/api/tickets?since=1", app.addr.port()).as_str()
    );
    // A foreign Host is sent to our own origin, never elsewhere.
    let response = client
        .get(format!("http://{plain}/"))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["location"],
        format!("https://localhost:{}/", app.addr.port()).as_str()
    );
    // A WebSocket upgrade over plain HTTP is not upgraded.
    let response = client
        .get(format!("http://{plain}/ws"))
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 301);
}
