//! `GET /api/analytics` through the real server: tickets made and moved by
//! the real API (submit, priority, assign, comment, pending, resolve,
//! reopen, close, delete) and a store written with a known history, each
//! checked against figures worked out by hand in the test; staff only; bad
//! parameters refused by name.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Duration, Utc};
use common::*;
use serde_json::{Value, json};

const PASSWORD: &str = "analytics-staff-password-0123";

fn hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| ticketd::auth::password::hash_password(PASSWORD))
}

/// A server in `dir` with `root` (admin) and `dana` (agent), every rate
/// limit out of the way.
async fn staff_app_in(dir: Arc<tempfile::TempDir>) -> TestApp {
    let staff = private_file(
        dir.path(),
        "staff",
        &format!("root:admin:{h}\ndana:agent:{h}\n", h = hash()),
    );
    spawn_in(
        dir,
        Options {
            args: unlimited(&["--staff-file", &staff]),
            envs: Vec::new(),
        },
    )
    .await
}

async fn staff_app() -> TestApp {
    staff_app_in(Arc::new(tempfile::tempdir().unwrap())).await
}

/// `GET /api/analytics?query`, with a Bearer token if given.
async fn analytics(app: &TestApp, token: Option<&str>, query: &str) -> reqwest::Response {
    let mut request = app
        .http()
        .get(format!("{}/api/analytics?{query}", app.base_url()));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// The report, checked to be a 200 JSON answer.
async fn report(app: &TestApp, token: &str, query: &str) -> Value {
    let resp = analytics(app, Some(token), query).await;
    assert_eq!(resp.status(), 200, "?{query}");
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    resp.json().await.unwrap()
}

/// A staff change over HTTPS (`POST` or `PUT`), which must succeed.
async fn staff(app: &TestApp, token: &str, method: &str, path: &str, body: Value) -> Value {
    let url = format!("{}{path}", app.base_url());
    let request = match method {
        "PUT" => app.http().put(url),
        "DELETE" => app.http().delete(url),
        _ => app.http().post(url),
    };
    let resp = request.bearer_auth(token).json(&body).send().await.unwrap();
    let status = resp.status();
    let answer: Value = resp.json().await.unwrap();
    assert!(status.is_success(), "{method} {path}: {status} {answer}");
    answer
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str().map(|s| s.parse().unwrap())
}

/// Every ticket, as the listing answers.
async fn listing(app: &TestApp) -> Vec<Value> {
    let page = app.get_json("/api/tickets?limit=1000").await;
    assert!(page["next_cursor"].is_null());
    page["tickets"].as_array().unwrap().clone()
}

/// The nearest-rank percentile, as the README defines it.
fn nearest_rank(sorted: &[u64], p: usize) -> Option<u64> {
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// The created, resolved and backlog figures of each bucket, worked out
/// from the tickets' own timestamps: created and (latest) resolved in the
/// bucket, and tickets created before its end (or `as_of`, for the bucket
/// holding it) not resolved before it.
fn expected_buckets(tickets: &[Value], report: &Value) -> Vec<(u64, u64, Option<u64>)> {
    let as_of = time(&report["as_of"]).unwrap();
    report["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let (start, end) = (time(&b["start"]).unwrap(), time(&b["end"]).unwrap());
            let inside = |t: Option<DateTime<Utc>>| t.is_some_and(|t| start <= t && t < end);
            let created = tickets.iter().filter(|t| inside(time(&t["created_at"])));
            let resolved = tickets.iter().filter(|t| inside(time(&t["resolved_at"])));
            let at = end.min(as_of);
            let backlog = tickets
                .iter()
                .filter(|t| {
                    time(&t["created_at"]).unwrap() < at
                        && time(&t["resolved_at"]).is_none_or(|r| r >= at)
                })
                .count() as u64;
            (
                created.count() as u64,
                resolved.count() as u64,
                (start <= as_of).then_some(backlog),
            )
        })
        .collect()
}

fn bucket_figures(report: &Value) -> Vec<(u64, u64, Option<u64>)> {
    report["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (u(&b["created"]), u(&b["resolved"]), b["backlog"].as_u64()))
        .collect()
}

#[tokio::test]
async fn analytics_match_a_hand_computation_over_the_real_api() {
    let app = staff_app().await;
    let dana = app.login_token("dana", PASSWORD).await;
    let root = app.login_token("root", PASSWORD).await;
    let empty = report(&app, &dana, "").await;
    assert_eq!(empty["totals"], json!({"created": 0, "resolved": 0}));
    assert_eq!(empty["time_to_resolve"]["median_secs"], Value::Null);
    assert_eq!(empty["reopen"]["rate"], Value::Null);

    // Eight tickets, each with a pinned priority so the bands are exact.
    let plan = [
        ("resolved once", "LOW"),
        ("resolved, reopened, resolved again", "MEDIUM"),
        ("resolved, then reopened and still open", "CRITICAL"),
        ("assigned and answered", "HIGH"),
        ("waiting on a vendor", "MEDIUM"),
        ("untouched", "LOW"),
        ("resolved and closed", "HIGH"),
        ("resolved, then deleted", "CRITICAL"),
    ];
    let mut ids = Vec::new();
    for (what, priority) in plan {
        let t = app
            .submit_http(&format!("Analytics test ticket: {what}"))
            .await;
        let id = t["request_id"].as_str().unwrap().to_string();
        staff(
            &app,
            &dana,
            "PUT",
            &format!("/api/tickets/{id}/priority"),
            json!({ "priority": priority }),
        )
        .await;
        ids.push(id);
    }
    let path = |i: usize, action: &str| format!("/api/tickets/{}/{action}", ids[i]);
    staff(&app, &dana, "POST", &path(0, "resolve"), json!({})).await;
    staff(&app, &dana, "POST", &path(1, "resolve"), json!({})).await;
    staff(&app, &dana, "POST", &path(1, "reopen"), json!({})).await;
    let again = staff(&app, &dana, "POST", &path(1, "resolve"), json!({})).await;
    assert_eq!(again["ticket"]["reopen_count"], 1, "{again}");
    staff(&app, &dana, "POST", &path(2, "resolve"), json!({})).await;
    staff(&app, &dana, "POST", &path(2, "reopen"), json!({})).await;
    staff(
        &app,
        &dana,
        "POST",
        &path(3, "assign"),
        json!({"assignee": "dana"}),
    )
    .await;
    staff(
        &app,
        &dana,
        "POST",
        &path(3, "comments"),
        json!({"body": "Looking at it now.", "visibility": "public"}),
    )
    .await;
    staff(
        &app,
        &dana,
        "POST",
        &path(4, "status"),
        json!({"status": "pending", "pending_reason": "vendor"}),
    )
    .await;
    staff(&app, &dana, "POST", &path(6, "resolve"), json!({})).await;
    staff(
        &app,
        &dana,
        "POST",
        &path(6, "status"),
        json!({"status": "closed"}),
    )
    .await;
    staff(&app, &dana, "POST", &path(7, "resolve"), json!({})).await;
    staff(
        &app,
        &root,
        "DELETE",
        &format!("/api/tickets/{}", ids[7]),
        json!({}),
    )
    .await;

    let r = report(&app, &dana, "").await;
    let tickets = listing(&app).await;
    assert_eq!(tickets.len(), 7);
    let by_id: BTreeMap<&str, &Value> = tickets
        .iter()
        .map(|t| (t["request_id"].as_str().unwrap(), t))
        .collect();
    let ticket = |i: usize| by_id[ids[i].as_str()];
    // Never reopened: no `reopen_count` on the wire, as before.
    assert!(ticket(0).get("reopen_count").is_none(), "{}", ticket(0));
    assert_eq!(ticket(2)["reopen_count"], 1);
    assert_eq!(ticket(2)["status"], "open");

    // The default: the last 30 UTC days, today the last, by day.
    assert_eq!(r["bucket"], "day");
    let as_of = time(&r["as_of"]).unwrap();
    assert_eq!(time(&r["to"]).unwrap(), as_of);
    let buckets = r["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 30);
    assert_eq!(
        time(&buckets[29]["start"]).unwrap(),
        as_of.date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc()
    );
    assert_eq!(
        time(&r["from"]).unwrap(),
        time(&buckets[29]["start"]).unwrap() - Duration::days(29)
    );

    // Created: the seven left (the deleted one is gone). Resolved (the
    // latest resolution): #0, #1 and the closed #6; #2 was reopened.
    assert_eq!(r["totals"], json!({"created": 7, "resolved": 3}));
    // Per day (all today, unless the test ran across midnight UTC), from
    // the tickets' timestamps.
    assert_eq!(bucket_figures(&r), expected_buckets(&tickets, &r));
    // The backlog now: #2, #3, #4, #5, all under a day old.
    assert_eq!(buckets[29]["backlog"], 4);
    assert_eq!(r["backlog_now"]["total"], 4);
    assert_eq!(
        r["backlog_now"]["by_age"],
        json!([
            {"band": "0-1d", "min_days": 0, "max_days": 1, "total": 4,
             "by_priority": {"CRITICAL": 1, "HIGH": 1, "MEDIUM": 1, "LOW": 1}},
            {"band": "1-3d", "min_days": 1, "max_days": 3, "total": 0,
             "by_priority": {"CRITICAL": 0, "HIGH": 0, "MEDIUM": 0, "LOW": 0}},
            {"band": "3-7d", "min_days": 3, "max_days": 7, "total": 0,
             "by_priority": {"CRITICAL": 0, "HIGH": 0, "MEDIUM": 0, "LOW": 0}},
            {"band": "7d+", "min_days": 7, "max_days": null, "total": 0,
             "by_priority": {"CRITICAL": 0, "HIGH": 0, "MEDIUM": 0, "LOW": 0}},
        ])
    );

    // Time to resolve: #0, #1, #6, from creation to the latest resolution
    // in whole seconds, nearest rank.
    let mut to_resolve: Vec<u64> = [0, 1, 6]
        .iter()
        .map(|&i| {
            let t = ticket(i);
            (time(&t["resolved_at"]).unwrap() - time(&t["created_at"]).unwrap()).num_seconds()
                as u64
        })
        .collect();
    to_resolve.sort();
    assert_eq!(
        r["time_to_resolve"],
        json!({
            "count": 3,
            "median_secs": nearest_rank(&to_resolve, 50),
            "p90_secs": nearest_rank(&to_resolve, 90),
        })
    );

    // First response: #3's public reply; #0, #1, #2 and #6 by their
    // (first) resolution. None was paused first, and the test policy's
    // calendar is always open, so business time is the wall-clock time
    // between the whole seconds of creation and completion.
    let completed: Vec<&Value> = tickets
        .iter()
        .filter(|t| !t["sla"]["first_response"]["completed_at"].is_null())
        .collect();
    assert_eq!(completed.len(), 5);
    let mut to_respond: Vec<u64> = completed
        .iter()
        .map(|t| {
            let done = time(&t["sla"]["first_response"]["completed_at"]).unwrap();
            (done.timestamp() - time(&t["created_at"]).unwrap().timestamp()) as u64
        })
        .collect();
    to_respond.sort();
    assert_eq!(
        r["time_to_first_response"],
        json!({
            "count": 5,
            "median_secs": nearest_rank(&to_respond, 50),
            "p90_secs": nearest_rank(&to_respond, 90),
        })
    );

    // SLA (the test policy's targets are far away, so every clock is met):
    // first response completed for #0 LOW, #1 MEDIUM, #2 CRITICAL, #3 HIGH,
    // #6 HIGH; resolution for #0, #1 and #6 (#2's runs again).
    let met = |n: u64| json!({"completed": n, "met": n, "breached": 0, "compliance": if n > 0 { json!(1.0) } else { Value::Null }});
    let sla = &r["sla"];
    assert_eq!(sla["all"]["first_response"], met(5));
    assert_eq!(sla["all"]["resolution"], met(3));
    for (priority, first, resolution) in [
        ("CRITICAL", 1, 0),
        ("HIGH", 2, 1),
        ("MEDIUM", 1, 1),
        ("LOW", 1, 1),
    ] {
        let clocks = &sla["by_priority"][priority];
        assert_eq!(clocks["first_response"], met(first), "{priority}");
        assert_eq!(clocks["resolution"], met(resolution), "{priority}");
    }

    // Reopen rate: of #0, #1, #6 (resolved in the range) only #1 had been
    // reopened: 1/3. #2 is at work again after a reopen.
    assert_eq!(r["reopen"]["resolved"], 3);
    assert_eq!(r["reopen"]["reopened"], 1);
    assert_eq!(r["reopen"]["rate"].as_f64().unwrap(), 1.0 / 3.0);
    assert_eq!(r["reopen"]["open_after_reopen"], 1);

    // A requester's reopen with the follow token counts too, and the
    // report follows at once: #0 back at work.
    let submitted = app
        .http()
        .post(format!("{}/api/tickets", app.base_url()))
        .json(&json!({"description": "Analytics: the requester reopens", "system": "Email", "requester": "Ana"}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let (id, follow) = (
        submitted["request_id"].as_str().unwrap(),
        submitted["follow_token"].as_str().unwrap(),
    );
    staff(
        &app,
        &dana,
        "POST",
        &format!("/api/tickets/{id}/resolve"),
        json!({}),
    )
    .await;
    let resp = app
        .http()
        .post(format!(
            "{}/api/tickets/{id}/reopen?follow={follow}",
            app.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    let r = report(&app, &dana, "").await;
    assert_eq!(r["totals"], json!({"created": 8, "resolved": 3}));
    assert_eq!(r["reopen"]["open_after_reopen"], 2);
    assert_eq!(r["backlog_now"]["total"], 5);
    assert_eq!(r["sla"]["all"]["first_response"]["completed"], 6);
}

/// Writes a store holding `tickets` into `data`, as the server keeps it
/// (tickets stored before SLA clocks get theirs from their history at load).
fn write_store(data: &std::path::Path, tickets: &[ticketd::tickets::Ticket]) {
    use serde::ser::{SerializeMap, Serializer};
    std::fs::create_dir_all(data).unwrap();
    let file = std::fs::File::create(data.join("tickets_storage.json")).unwrap();
    let mut ser = serde_json::Serializer::new(std::io::BufWriter::new(file));
    let mut map = ser.serialize_map(Some(tickets.len())).unwrap();
    for t in tickets {
        map.serialize_entry(&t.request_id, t).unwrap();
    }
    map.end().unwrap();
}

#[tokio::test]
async fn analytics_of_a_stored_history_match_a_hand_computation() {
    use ticketd::tickets::{NewTicket, Status, Ticket};
    use ticketd::triage::{Analyzer, Priority};

    let now = Utc::now();
    let analyzer = Analyzer::builtin();
    let ticket = |age: Duration, priority: Priority| {
        let text = "Printer on floor 3 jams on duplex";
        let new = NewTicket::parse(text.into(), "Printers".into(), "Ana".into()).unwrap();
        let mut t = Ticket::create(new, analyzer.analyze(text, "Printers"), now - age);
        t.priority = priority;
        t
    };
    let resolved = |mut t: Ticket, after: Duration, reopens: u32| {
        t.status = Status::Resolved;
        t.resolved_at = Some(t.created_at + after);
        t.updated_at = t.created_at + after;
        t.reopen_count = reopens;
        t
    };
    let (h, d) = (Duration::hours, Duration::days);
    let tickets = vec![
        // Open now: ages 12 h, 2 d, 5 d, 10 d and 40 d (before the range).
        ticket(h(12), Priority::Critical),
        ticket(d(2), Priority::High),
        ticket(d(5), Priority::Medium),
        ticket(d(10), Priority::Low),
        ticket(d(40), Priority::Low),
        // Resolved in the range after 1 h, 2 h, 3 h and 10 h (the last one
        // had been reopened once).
        resolved(ticket(d(3), Priority::High), h(1), 0),
        resolved(ticket(d(4), Priority::Medium), h(2), 0),
        resolved(ticket(d(6), Priority::Medium), h(3), 0),
        resolved(ticket(d(8), Priority::Low), h(10), 1),
        // Resolved long before the range.
        resolved(ticket(d(60), Priority::Low), h(5), 0),
    ];
    let dir = Arc::new(tempfile::tempdir().unwrap());
    write_store(&dir.path().join("data"), &tickets);
    let app = staff_app_in(dir).await;
    let dana = app.login_token("dana", PASSWORD).await;
    let listed = listing(&app).await;
    assert_eq!(listed.len(), 10);

    for bucket in ["day", "week"] {
        let r = report(&app, &dana, &format!("bucket={bucket}")).await;
        assert_eq!(r["bucket"], bucket);
        // In the last 30 days: 8 created (not the 40- and 60-day-old
        // ones), 4 resolved.
        assert_eq!(r["totals"], json!({"created": 8, "resolved": 4}));
        assert_eq!(
            bucket_figures(&r),
            expected_buckets(&listed, &r),
            "{bucket}"
        );
        // Before the range: the 40-day-old ticket open, the 60-day-old one
        // resolved; the backlog now is the five open ones.
        assert_eq!(r["backlog_now"]["total"], 5);
        let bands: Vec<(&str, u64, Value)> = r["backlog_now"]["by_age"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["band"].as_str().unwrap(),
                    u(&b["total"]),
                    b["by_priority"].clone(),
                )
            })
            .collect();
        assert_eq!(
            bands,
            [
                (
                    "0-1d",
                    1,
                    json!({"CRITICAL": 1, "HIGH": 0, "MEDIUM": 0, "LOW": 0})
                ),
                (
                    "1-3d",
                    1,
                    json!({"CRITICAL": 0, "HIGH": 1, "MEDIUM": 0, "LOW": 0})
                ),
                (
                    "3-7d",
                    1,
                    json!({"CRITICAL": 0, "HIGH": 0, "MEDIUM": 1, "LOW": 0})
                ),
                (
                    "7d+",
                    2,
                    json!({"CRITICAL": 0, "HIGH": 0, "MEDIUM": 0, "LOW": 2})
                ),
            ]
        );
        // 1 h, 2 h, 3 h, 10 h: median rank 2 = 7,200 s; p90 rank ⌈3.6⌉ = 4.
        assert_eq!(
            r["time_to_resolve"],
            json!({"count": 4, "median_secs": 7200, "p90_secs": 36_000})
        );
        // Stored without clocks: the first response counts as given at the
        // resolution, on an always-open calendar: the same durations.
        assert_eq!(r["time_to_first_response"], r["time_to_resolve"]);
        assert_eq!(r["sla"]["all"]["resolution"]["completed"], 4);
        assert_eq!(r["sla"]["by_priority"]["MEDIUM"]["resolution"]["met"], 2);
        // One of the four had been reopened.
        assert_eq!(r["reopen"]["rate"], 0.25);
        assert_eq!(r["reopen"]["open_after_reopen"], 0);
    }

    // A week of days, ending 5 days ago: the tickets created 6 and 8 days
    // ago (and resolved the same day or the next), the 10-day-old one
    // open before it.
    let day = |days_ago: i64| (now - d(days_ago)).date_naive().to_string();
    let query = format!("from={}&to={}", day(11), day(5));
    let r = report(&app, &dana, &query).await;
    assert_eq!(r["buckets"].as_array().unwrap().len(), 7);
    assert_eq!(bucket_figures(&r), expected_buckets(&listed, &r));
    let created: u64 = r["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| u(&b["created"]))
        .sum();
    // 10, 8, 6 and 5 days old fall in it (the 5-day-old one on its last
    // day); 12 h and 2, 3, 4 days are after it.
    assert_eq!(created, 4, "{query}");
    assert_eq!(r["totals"]["created"], 4);
}

#[tokio::test]
async fn analytics_need_staff_and_refuse_bad_parameters_by_name() {
    let app = staff_app().await;
    app.submit_http("Analytics: one ticket").await;

    let anonymous = analytics(&app, None, "").await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    let error: Value = anonymous.json().await.unwrap();
    assert_eq!(error["error"]["code"], "unauthorized");
    // Bad parameters from someone who is not staff: still 401, nothing more.
    assert_eq!(analytics(&app, None, "bucket=month").await.status(), 401);
    assert_eq!(analytics(&app, Some("not-a-token"), "").await.status(), 401);

    let dana = app.login_token("dana", PASSWORD).await;
    for (query, name) in [
        ("bucket=month", "bucket"),
        ("bucket=", "bucket"),
        ("from=2026-12-02&to=2026-12-01", "to"),
        ("from=2026-12-01T10:00:00Z&to=2026-12-01T10:00:00Z", "to"),
        ("from=2999-01-01", "from"),
        ("from=2024-01-01&to=2025-12-31", "from"),
        ("from=last-week", "from"),
        ("to=2026-02-30", "to"),
        ("limit=10", "limit"),
        ("status=open", "status"),
    ] {
        assert_refused_naming(analytics(&app, Some(&dana), query).await, name, query).await;
    }
    // Two years of weeks are fine; of days they are not.
    let r = report(&app, &dana, "from=2024-01-01&to=2025-12-31&bucket=week").await;
    assert_eq!(r["buckets"].as_array().unwrap().len(), 105);
    assert_eq!(r["from"], "2024-01-01T00:00:00Z");
    assert_eq!(r["to"], "2026-01-01T00:00:00Z");
    assert_eq!(r["buckets"][0]["end"], "2024-01-08T00:00:00Z");
    // Exactly 366 days are fine.
    let r = report(&app, &dana, "from=2024-01-01&to=2024-12-31").await;
    assert_eq!(r["buckets"].as_array().unwrap().len(), 366);
    assert_eq!(r["totals"]["created"], 0);
    // An admin may ask too.
    let root = app.login_token("root", PASSWORD).await;
    let r = report(&app, &root, "").await;
    assert_eq!(r["totals"]["created"], 1);
}
