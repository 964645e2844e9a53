//! The analyzer's data and commands, through the real binary: the shipped
//! model is what `triage-train` makes of the corpus, byte for byte; the
//! evaluation commands report what they claim; the corrections export
//! feeds training.

mod common;

use std::process::Command;

use serde_json::{Value, json};
use ticketd::triage::{Analyzer, Priority, eval};

const DEV: &str = include_str!("data/tickets-dev.jsonl");
const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/triage/corpus.jsonl"
);
const MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/triage/model.txt");

fn ticketd(args: &[&str]) -> std::process::Output {
    Command::new(common::binary())
        .args(args)
        .env_remove("TICKETD_TRIAGE_CONFIG")
        .output()
        .expect("ticketd runs")
}

#[test]
fn triage_train_reproduces_the_shipped_model_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model.txt");
    let run = ticketd(&["triage-train", CORPUS, "--out", out.to_str().unwrap()]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let fitted = std::fs::read(&out).unwrap();
    let shipped = std::fs::read(MODEL).unwrap();
    assert!(
        fitted == shipped,
        "src/triage/model.txt is not what `ticketd triage-train tests/data/triage/corpus.jsonl` makes: refit and commit it"
    );
}

#[test]
fn the_corpus_is_broad_and_labelled_by_the_matrix() {
    let text = std::fs::read_to_string(CORPUS).unwrap();
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(rows.len() >= 2000, "{} tickets", rows.len());
    let kinds: std::collections::BTreeSet<&str> = rows
        .iter()
        .map(|r| r["org_kind"].as_str().unwrap())
        .collect();
    let styles: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r["style"].as_str().unwrap()).collect();
    assert!(kinds.len() >= 25, "{kinds:?}");
    assert!(styles.len() >= 8, "{styles:?}");
    for r in &rows {
        let (i, u) = (
            r["impact"].as_u64().unwrap() as u8,
            r["urgency"].as_u64().unwrap() as u8,
        );
        assert_eq!(r["priority"], Priority::from_matrix(i, u).as_str(), "{r}");
    }
}

#[test]
fn the_dev_set_report_is_consistent_and_can_fail() {
    let analyzer = Analyzer::builtin();
    let report = eval::evaluate(&analyzer, DEV).expect("dev set parses");
    println!("{report}");
    assert_eq!(report.tickets, 160);
    let total: usize = report.confusion.iter().flatten().sum();
    assert_eq!(total, 160);
    let correct: usize = (0..4).map(|k| report.confusion[k][k]).sum();
    assert!((report.accuracy - correct as f64 / 160.0).abs() < 1e-9);
    assert!(report.calibration_error >= 0.0 && report.calibration_error <= 1.0);
    // The same check on deliberately wrong labels falls far lower.
    let flipped: String = DEV
        .lines()
        .map(|l| {
            l.replace("\"CRITICAL\"", "\"TMP\"")
                .replace("\"LOW\"", "\"CRITICAL\"")
                .replace("\"TMP\"", "\"LOW\"")
        })
        .collect::<Vec<_>>()
        .join("\n");
    let worse = eval::evaluate(&analyzer, &flipped).unwrap();
    assert!(
        worse.accuracy < report.accuracy - 0.2,
        "{} vs {}",
        worse.accuracy,
        report.accuracy
    );
    assert!(worse.critical_rated_low > 0);
}

#[test]
fn grouped_cross_validation_reports_every_held_out_group() {
    // A slice of four organisation kinds keeps this quick.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(CORPUS).unwrap();
    let wanted = ["bank", "hospital", "hotel", "warehouse"];
    let slice: Vec<&str> = text
        .lines()
        .filter(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            wanted.contains(&v["org_kind"].as_str().unwrap())
        })
        .collect();
    let path = dir.path().join("slice.jsonl");
    std::fs::write(&path, slice.join("\n")).unwrap();
    let run = ticketd(&["triage-eval", "--cv", "--json", path.to_str().unwrap()]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(report["tickets"], slice.len());
    let groups: Vec<&str> = report["per_group"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group"].as_str().unwrap())
        .collect();
    assert_eq!(groups, wanted);
    for key in [
        "accuracy",
        "macro_f1",
        "critical_recall",
        "category_accuracy",
        "calibration_error",
    ] {
        assert!(report[key].is_number(), "{key}");
    }
    assert!(report["reliability"].as_array().unwrap().len() > 1);
    assert!(report["critical_below_high"].is_u64());
}

#[test]
fn json_lines_adapter_explains_with_the_tickets_words() {
    let an = Analyzer::builtin();
    for line in DEV.lines().take(5) {
        let out = eval::triage_json_line(&an, line).unwrap();
        let v: Value = serde_json::from_str(&out).unwrap();
        let description = serde_json::from_str::<Value>(line).unwrap()["description"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(v["priority"].is_string());
        assert!(v["analysis"]["confidence"].is_number());
        assert!(v["analysis"]["needs_review"].is_boolean());
        let signals = v["analysis"]["signals"].as_array().unwrap();
        assert!(signals.iter().any(|s| s["kind"] == "impact"), "{v}");
        assert!(signals.iter().any(|s| s["kind"] == "urgency"), "{v}");
        // Every quoted piece of evidence is words of this ticket.
        for s in signals {
            let text = s["text"].as_str().unwrap();
            if let Some(quoted) = text.strip_prefix('"').and_then(|t| t.split('"').next())
                && !text.ends_with(" (system)")
            {
                assert!(
                    description.contains(quoted),
                    "{quoted:?} not in {description:?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn corrections_export_what_admins_changed_and_train_accepts_them() {
    const PASSWORD: &str = "triage-corrections-password";
    let hash = ticketd::auth::password::hash_password(PASSWORD);
    let app = common::spawn_with(common::Options {
        args: common::generous_limits(),
        envs: vec![
            ("TICKETD_ADMIN_USER".into(), "root".into()),
            ("TICKETD_ADMIN_PASSWORD_HASH".into(), hash),
        ],
    })
    .await;
    let first = app
        .submit_http("The ceiling fan in my office squeaks a bit")
        .await;
    app.submit_http("Please install a PDF reader on my laptop")
        .await;
    let id = first["request_id"].as_str().unwrap();
    let token = app.login_token("root", PASSWORD).await;
    let response = app
        .http()
        .put(format!("{}/api/tickets/{id}/priority", app.base_url()))
        .bearer_auth(&token)
        .json(&json!({"priority": "CRITICAL"}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    // The export reads the data directory while the server runs.
    let run = ticketd(&[
        "triage-corrections",
        "--data-dir",
        app.data_dir().to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = String::from_utf8(run.stdout).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "only the corrected ticket: {text}");
    assert_eq!(lines[0]["request_id"], id);
    assert_eq!(lines[0]["admin_priority"], "CRITICAL");
    assert_eq!(lines[0]["set_by"], "root");
    assert!(lines[0]["analyzer_priority"].is_string());
    assert!(
        lines[0]["description"]
            .as_str()
            .unwrap()
            .contains("ceiling fan")
    );
    // triage-train takes it beside a corpus.
    let dir = tempfile::tempdir().unwrap();
    let corrections = dir.path().join("corrections.jsonl");
    std::fs::write(&corrections, &text).unwrap();
    let corpus = dir.path().join("corpus.jsonl");
    let whole = std::fs::read_to_string(CORPUS).unwrap();
    let small: Vec<&str> = whole.lines().take(120).collect();
    std::fs::write(&corpus, small.join("\n")).unwrap();
    let out = dir.path().join("model.txt");
    let run = ticketd(&[
        "triage-train",
        corpus.to_str().unwrap(),
        "--corrections",
        corrections.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(String::from_utf8_lossy(&run.stderr).contains("fitted on 121 tickets"));
}
