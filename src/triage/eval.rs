//! Evaluation against labelled tickets, and the JSON-lines adapter used by
//! the `ticketd triage` subcommand. Pure: text in, values out.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Analyzer, Category, Priority, Triage};

/// A line that could not be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct LineError {
    /// 1-based line number (1 for [`triage_json_line`]).
    pub line: usize,
    pub reason: String,
}

#[derive(Deserialize)]
struct Labelled {
    description: String,
    #[serde(default)]
    system: String,
    impact: Option<u8>,
    urgency: Option<u8>,
    priority: String,
    category: String,
}

#[derive(Deserialize)]
struct Input {
    description: String,
    #[serde(default)]
    system: Option<String>,
}

/// Precision/recall for one priority level.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PriorityStats {
    pub priority: Priority,
    pub support: usize,
    pub predicted: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// One ticket the analyzer got wrong (priority or category).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Miss {
    pub line: usize,
    pub expected_priority: Priority,
    pub predicted_priority: Priority,
    pub expected_impact: Option<u8>,
    pub expected_urgency: Option<u8>,
    pub predicted_impact: u8,
    pub predicted_urgency: u8,
    pub expected_category: Category,
    pub predicted_category: Category,
}

/// The evaluation report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EvalReport {
    pub tickets: usize,
    /// Priority accuracy.
    pub accuracy: f64,
    /// Mean F1 over the four priorities.
    pub macro_f1: f64,
    pub per_priority: Vec<PriorityStats>,
    pub critical_recall: f64,
    /// Share of tickets whose predicted priority is within one level.
    pub within_one_level: f64,
    /// Expected CRITICAL, predicted LOW.
    pub critical_rated_low: usize,
    pub impact_accuracy: f64,
    pub urgency_accuracy: f64,
    pub category_accuracy: f64,
    /// `confusion[expected][predicted]`, LOW, MEDIUM, HIGH, CRITICAL.
    pub confusion: [[usize; 4]; 4],
    pub misses: Vec<Miss>,
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Runs every labelled line through the analyzer. Blank lines are skipped.
pub fn evaluate(analyzer: &Analyzer, jsonl: &str) -> Result<EvalReport, LineError> {
    let mut confusion = [[0usize; 4]; 4];
    let (mut n, mut imp_ok, mut urg_ok, mut imp_n, mut urg_n, mut cat_ok) = (0, 0, 0, 0, 0, 0);
    let mut misses = Vec::new();
    for (i, line) in jsonl.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let lineno = i + 1;
        let bad = |reason: String| LineError {
            line: lineno,
            reason,
        };
        let l: Labelled = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
        let exp_p = Priority::parse(&l.priority)
            .ok_or_else(|| bad(format!("unknown priority {:?}", l.priority)))?;
        let exp_c = Category::parse(&l.category)
            .ok_or_else(|| bad(format!("unknown category {:?}", l.category)))?;
        let t = analyzer.analyze(&l.description, &l.system);
        n += 1;
        confusion[exp_p as usize][t.priority as usize] += 1;
        if let Some(x) = l.impact {
            imp_n += 1;
            imp_ok += usize::from(x == t.analysis.impact);
        }
        if let Some(x) = l.urgency {
            urg_n += 1;
            urg_ok += usize::from(x == t.analysis.urgency);
        }
        cat_ok += usize::from(exp_c == t.analysis.category);
        if exp_p != t.priority || exp_c != t.analysis.category {
            misses.push(Miss {
                line: lineno,
                expected_priority: exp_p,
                predicted_priority: t.priority,
                expected_impact: l.impact,
                expected_urgency: l.urgency,
                predicted_impact: t.analysis.impact,
                predicted_urgency: t.analysis.urgency,
                expected_category: exp_c,
                predicted_category: t.analysis.category,
            });
        }
    }
    let correct: usize = (0..4).map(|k| confusion[k][k]).sum();
    let within: usize = (0..4)
        .flat_map(|e| (0..4).map(move |p| (e, p)))
        .filter(|&(e, p): &(usize, usize)| e.abs_diff(p) <= 1)
        .map(|(e, p)| confusion[e][p])
        .sum();
    let per_priority: Vec<PriorityStats> = Priority::ALL
        .iter()
        .map(|&p| {
            let k = p as usize;
            let support: usize = confusion[k].iter().sum();
            let predicted: usize = (0..4).map(|e| confusion[e][k]).sum();
            let precision = ratio(confusion[k][k], predicted);
            let recall = ratio(confusion[k][k], support);
            let f1 = if precision + recall == 0.0 {
                0.0
            } else {
                2.0 * precision * recall / (precision + recall)
            };
            PriorityStats {
                priority: p,
                support,
                predicted,
                precision,
                recall,
                f1,
            }
        })
        .collect();
    let macro_f1 = per_priority.iter().map(|s| s.f1).sum::<f64>() / 4.0;
    let critical_recall = per_priority[Priority::Critical as usize].recall;
    Ok(EvalReport {
        tickets: n,
        accuracy: ratio(correct, n),
        macro_f1,
        per_priority,
        critical_recall,
        within_one_level: ratio(within, n),
        critical_rated_low: confusion[Priority::Critical as usize][Priority::Low as usize],
        impact_accuracy: ratio(imp_ok, imp_n),
        urgency_accuracy: ratio(urg_ok, urg_n),
        category_accuracy: ratio(cat_ok, n),
        confusion,
        misses,
    })
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "tickets            {}", self.tickets)?;
        writeln!(f, "priority accuracy  {:.3}", self.accuracy)?;
        writeln!(f, "macro-F1           {:.3}", self.macro_f1)?;
        writeln!(f, "CRITICAL recall    {:.3}", self.critical_recall)?;
        writeln!(f, "CRITICAL -> LOW    {}", self.critical_rated_low)?;
        writeln!(f, "within one level   {:.3}", self.within_one_level)?;
        writeln!(f, "impact accuracy    {:.3}", self.impact_accuracy)?;
        writeln!(f, "urgency accuracy   {:.3}", self.urgency_accuracy)?;
        writeln!(f, "category accuracy  {:.3}", self.category_accuracy)?;
        writeln!(f)?;
        writeln!(
            f,
            "{:<10} {:>9} {:>9} {:>9} {:>7}",
            "priority", "precision", "recall", "f1", "support"
        )?;
        for s in &self.per_priority {
            writeln!(
                f,
                "{:<10} {:>9.3} {:>9.3} {:>9.3} {:>7}",
                s.priority.as_str(),
                s.precision,
                s.recall,
                s.f1,
                s.support
            )?;
        }
        writeln!(f)?;
        writeln!(f, "confusion (rows expected, columns predicted)")?;
        write!(f, "{:<10}", "")?;
        for p in Priority::ALL {
            write!(f, " {:>8}", p.as_str())?;
        }
        writeln!(f)?;
        for e in Priority::ALL {
            write!(f, "{:<10}", e.as_str())?;
            for p in Priority::ALL {
                write!(f, " {:>8}", self.confusion[e as usize][p as usize])?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// Analyzes one input object (`description`, optional `system`; other keys
/// ignored) and returns the `{"priority","priority_score","analysis"}` value.
pub fn triage_json_value(analyzer: &Analyzer, line: &str) -> Result<Triage, LineError> {
    let input: Input = serde_json::from_str(line).map_err(|e| LineError {
        line: 1,
        reason: e.to_string(),
    })?;
    Ok(analyzer.analyze(&input.description, input.system.as_deref().unwrap_or("")))
}

/// Turns one JSON input line into one JSON output line (no trailing newline).
pub fn triage_json_line(analyzer: &Analyzer, line: &str) -> Result<String, LineError> {
    let t = triage_json_value(analyzer, line)?;
    serde_json::to_string(&t).map_err(|e| LineError {
        line: 1,
        reason: e.to_string(),
    })
}
