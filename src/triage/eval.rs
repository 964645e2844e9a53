//! Evaluation against labelled tickets, and the JSON-lines adapter used by
//! the `ticketd triage` subcommand. Pure: text in, values out.
//!
//! Two ways to measure, and they must not be confused:
//! - [`evaluate`]: the shipped (or configured) model on a labelled file. On
//!   the corpus the model was fitted on, that figure is *not* a quality
//!   figure; on a file it never saw (the sealed set, another
//!   organisation's tickets) it is.
//! - [`cross_validated`]: grouped cross-validation over a corpus: every
//!   kind of organisation is held out in turn, and a model fitted on the
//!   others analyzes it. That is the headline figure.

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
    priority: Option<String>,
    category: String,
    org_kind: Option<String>,
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
    /// Expected CRITICAL, predicted LOW or MEDIUM (below HIGH).
    pub critical_below_high: usize,
    /// Tickets flagged `needs_review`.
    pub needs_review: usize,
    /// Expected calibration error of `confidence` (10 equal-width bins).
    pub calibration_error: f64,
    /// The reliability diagram: per confidence bin, tickets, mean
    /// confidence and accuracy.
    pub reliability: Vec<ReliabilityBin>,
    /// Per group (organisation kind), when the input names them.
    pub per_group: Vec<GroupStats>,
    pub impact_accuracy: f64,
    pub urgency_accuracy: f64,
    pub category_accuracy: f64,
    /// `confusion[expected][predicted]`, LOW, MEDIUM, HIGH, CRITICAL.
    pub confusion: [[usize; 4]; 4],
    pub misses: Vec<Miss>,
}

/// One bin of the reliability diagram.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReliabilityBin {
    pub from: f64,
    pub to: f64,
    pub tickets: usize,
    pub mean_confidence: f64,
    pub accuracy: f64,
}

/// Priority accuracy and CRITICAL recall of one held-out group.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GroupStats {
    pub group: String,
    pub tickets: usize,
    pub accuracy: f64,
    pub critical: usize,
    pub critical_recall: f64,
    pub category_accuracy: f64,
}

/// One labelled ticket and what the analyzer made of it.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub line: usize,
    pub group: Option<String>,
    pub expected_priority: Priority,
    pub expected_impact: Option<u8>,
    pub expected_urgency: Option<u8>,
    pub expected_category: Category,
    pub predicted: Triage,
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Runs every labelled line through the analyzer. Blank lines are skipped.
pub fn evaluate(analyzer: &Analyzer, jsonl: &str) -> Result<EvalReport, LineError> {
    let mut outcomes = Vec::new();
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
        let expected_priority = match (&l.priority, l.impact, l.urgency) {
            (Some(p), _, _) => {
                Priority::parse(p).ok_or_else(|| bad(format!("unknown priority {p:?}")))?
            }
            (None, Some(i), Some(u)) => Priority::from_matrix(i, u),
            _ => return Err(bad("needs priority, or impact and urgency".into())),
        };
        let expected_category = Category::parse(&l.category)
            .ok_or_else(|| bad(format!("unknown category {:?}", l.category)))?;
        outcomes.push(Outcome {
            line: lineno,
            group: l.org_kind,
            expected_priority,
            expected_impact: l.impact,
            expected_urgency: l.urgency,
            expected_category,
            predicted: analyzer.analyze(&l.description, &l.system),
        });
    }
    Ok(report(&outcomes))
}

/// The report of grouped cross-validation: `verdicts[i]` is the held-out
/// model's verdict on `examples[i]`.
pub fn cross_validated(
    examples: &[super::train::Example],
    verdicts: &[super::model::Verdict],
) -> EvalReport {
    let outcomes: Vec<Outcome> = examples
        .iter()
        .zip(verdicts)
        .enumerate()
        .map(|(i, (e, v))| Outcome {
            line: i + 1,
            group: Some(e.group.clone()),
            expected_priority: Priority::from_matrix(e.impact, e.urgency),
            expected_impact: Some(e.impact),
            expected_urgency: Some(e.urgency),
            expected_category: e.category,
            predicted: Triage {
                priority: v.priority,
                priority_score: 0,
                analysis: super::Analysis {
                    impact: v.impact,
                    urgency: v.urgency,
                    category: v.category,
                    team: String::new(),
                    signals: Default::default(),
                    confidence: v.confidence,
                    model_version: String::new(),
                    needs_review: v.needs_review,
                },
            },
        })
        .collect();
    report(&outcomes)
}

/// The figures of a set of outcomes.
pub fn report(outcomes: &[Outcome]) -> EvalReport {
    let mut confusion = [[0usize; 4]; 4];
    let (mut imp_ok, mut urg_ok, mut imp_n, mut urg_n, mut cat_ok) = (0, 0, 0, 0, 0);
    let mut misses = Vec::new();
    let mut bins = vec![(0usize, 0f64, 0usize); 10];
    let mut groups: std::collections::BTreeMap<&str, [usize; 5]> = Default::default();
    let n = outcomes.len();
    for o in outcomes {
        let t = &o.predicted;
        let exp_p = o.expected_priority;
        confusion[exp_p as usize][t.priority as usize] += 1;
        if let Some(x) = o.expected_impact {
            imp_n += 1;
            imp_ok += usize::from(x == t.analysis.impact);
        }
        if let Some(x) = o.expected_urgency {
            urg_n += 1;
            urg_ok += usize::from(x == t.analysis.urgency);
        }
        let category_ok = o.expected_category == t.analysis.category;
        cat_ok += usize::from(category_ok);
        let confidence = f64::from(t.analysis.confidence).clamp(0.0, 1.0);
        let bin = &mut bins[((confidence * 10.0) as usize).min(9)];
        bin.0 += 1;
        bin.1 += confidence;
        bin.2 += usize::from(exp_p == t.priority);
        if let Some(group) = &o.group {
            let g = groups.entry(group.as_str()).or_default();
            g[0] += 1;
            g[1] += usize::from(exp_p == t.priority);
            let critical = exp_p == Priority::Critical;
            g[2] += usize::from(critical);
            g[3] += usize::from(critical && t.priority == Priority::Critical);
            g[4] += usize::from(category_ok);
        }
        if exp_p != t.priority || !category_ok {
            misses.push(Miss {
                line: o.line,
                expected_priority: exp_p,
                predicted_priority: t.priority,
                expected_impact: o.expected_impact,
                expected_urgency: o.expected_urgency,
                predicted_impact: t.analysis.impact,
                predicted_urgency: t.analysis.urgency,
                expected_category: o.expected_category,
                predicted_category: t.analysis.category,
            });
        }
    }
    let reliability: Vec<ReliabilityBin> = bins
        .iter()
        .enumerate()
        .filter(|(_, b)| b.0 > 0)
        .map(|(i, b)| ReliabilityBin {
            from: i as f64 / 10.0,
            to: (i + 1) as f64 / 10.0,
            tickets: b.0,
            mean_confidence: b.1 / b.0 as f64,
            accuracy: ratio(b.2, b.0),
        })
        .collect();
    let calibration_error = reliability
        .iter()
        .map(|b| b.tickets as f64 / n.max(1) as f64 * (b.accuracy - b.mean_confidence).abs())
        .sum();
    let per_group = groups
        .into_iter()
        .map(|(group, g)| GroupStats {
            group: group.to_string(),
            tickets: g[0],
            accuracy: ratio(g[1], g[0]),
            critical: g[2],
            critical_recall: ratio(g[3], g[2]),
            category_accuracy: ratio(g[4], g[0]),
        })
        .collect();
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
    let critical = Priority::Critical as usize;
    EvalReport {
        tickets: n,
        accuracy: ratio(correct, n),
        macro_f1,
        per_priority,
        critical_recall,
        within_one_level: ratio(within, n),
        critical_rated_low: confusion[critical][Priority::Low as usize],
        critical_below_high: confusion[critical][Priority::Low as usize]
            + confusion[critical][Priority::Medium as usize],
        needs_review: outcomes
            .iter()
            .filter(|o| o.predicted.analysis.needs_review)
            .count(),
        calibration_error,
        reliability,
        per_group,
        impact_accuracy: ratio(imp_ok, imp_n),
        urgency_accuracy: ratio(urg_ok, urg_n),
        category_accuracy: ratio(cat_ok, n),
        confusion,
        misses,
    }
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "tickets            {}", self.tickets)?;
        writeln!(f, "priority accuracy  {:.3}", self.accuracy)?;
        writeln!(f, "macro-F1           {:.3}", self.macro_f1)?;
        writeln!(f, "CRITICAL recall    {:.3}", self.critical_recall)?;
        writeln!(f, "CRITICAL -> LOW    {}", self.critical_rated_low)?;
        writeln!(f, "CRITICAL below HIGH {}", self.critical_below_high)?;
        writeln!(f, "needs review       {}", self.needs_review)?;
        writeln!(
            f,
            "calibration error  {:.3} (ECE, 10 bins)",
            self.calibration_error
        )?;
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
        writeln!(f)?;
        writeln!(
            f,
            "reliability (confidence bin: tickets, mean confidence, accuracy)"
        )?;
        for b in &self.reliability {
            writeln!(
                f,
                "  {:.1}-{:.1}  {:>5}  {:.3}  {:.3}",
                b.from, b.to, b.tickets, b.mean_confidence, b.accuracy
            )?;
        }
        if !self.per_group.is_empty() {
            writeln!(f)?;
            writeln!(
                f,
                "{:<28} {:>7} {:>9} {:>9} {:>9}",
                "group", "tickets", "accuracy", "CRIT rec", "category"
            )?;
            for g in &self.per_group {
                writeln!(
                    f,
                    "{:<28} {:>7} {:>9.3} {:>9} {:>9.3}",
                    g.group,
                    g.tickets,
                    g.accuracy,
                    format!("{:.2} /{}", g.critical_recall, g.critical),
                    g.category_accuracy
                )?;
            }
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
