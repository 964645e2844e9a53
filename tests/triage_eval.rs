//! The labelled dev set must stay above the quality bar.

use ticketd::triage::{Analyzer, eval};

const DEV: &str = include_str!("data/tickets-dev.jsonl");

#[test]
fn dev_set_meets_the_bar() {
    let report = eval::evaluate(&Analyzer::builtin(), DEV).expect("dev set parses");
    println!("{report}");
    assert_eq!(report.tickets, 160, "the dev set has 160 labelled tickets");
    assert!(
        report.accuracy >= 0.80,
        "priority accuracy {:.3} < 0.80",
        report.accuracy
    );
    assert!(
        report.critical_recall >= 0.95,
        "CRITICAL recall {:.3} < 0.95",
        report.critical_recall
    );
    assert_eq!(
        report.critical_rated_low, 0,
        "a CRITICAL ticket was rated LOW"
    );
    assert!(
        report.category_accuracy >= 0.85,
        "category accuracy {:.3} < 0.85",
        report.category_accuracy
    );
}

#[test]
fn the_bar_can_fail() {
    // the same check on deliberately wrong labels must fall below the bar
    let flipped: String = DEV
        .lines()
        .map(|l| {
            l.replace("\"CRITICAL\"", "\"TMP\"")
                .replace("\"LOW\"", "\"CRITICAL\"")
                .replace("\"TMP\"", "\"LOW\"")
        })
        .collect::<Vec<_>>()
        .join("\n");
    let report = eval::evaluate(&Analyzer::builtin(), &flipped).unwrap();
    assert!(report.accuracy < 0.80 || report.critical_recall < 0.95);
    assert!(report.critical_rated_low > 0);
}

#[test]
fn json_lines_adapter() {
    let an = Analyzer::builtin();
    for line in DEV.lines().take(5) {
        let out = eval::triage_json_line(&an, line).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert!(v["priority"].is_string());
        assert!(v["priority_score"].is_u64());
        assert!(v["analysis"]["signals"].is_array());
    }
}
