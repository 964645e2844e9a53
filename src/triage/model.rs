//! The fitted model: three multinomial logistic regressions over the same
//! features (impact 1–3, urgency 1–3, category), a cost matrix that turns
//! their probabilities into a priority, and the words that explain it.
//!
//! The model file is plain text, one feature a line, so it can be read,
//! diffed and refitted (`ticketd triage-train`):
//!
//! ```text
//! ticketd-triage-model 1
//! version ticketd-triage-2
//! temperature 1.10 1.05 1.00        # impact urgency category
//! review_margin 0.15
//! cost LOW 0 1 2 3                  # row: true priority, columns: chosen LOW..CRITICAL
//! ...
//! bias <16 numbers>                 # impact 1..3, urgency 1..3, the 10 categories
//! w:printer<TAB><16 numbers>
//! ```

use std::cell::RefCell;
use std::fmt::Write as _;

use super::features::{Feature, Field};
use super::{Category, IdMap, Priority, Signal};

/// Outputs per feature: impact (3), urgency (3), category (10).
pub const OUTPUTS: usize = 16;
const IMPACT: usize = 0;
const URGENCY: usize = 3;
const CATEGORY: usize = 6;

const MAGIC: &str = "ticketd-triage-model 1";

/// A model file that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("model line {line}: {reason}")]
pub struct ModelError {
    pub line: usize,
    pub reason: String,
}

/// The default cost of choosing column when the truth is row (LOW, MEDIUM,
/// HIGH, CRITICAL). Missing a CRITICAL costs far more than over-rating: a
/// CRITICAL called HIGH costs 4, MEDIUM 12, LOW 24; a HIGH called CRITICAL 1.
pub const DEFAULT_COST: [[f32; 4]; 4] = [
    [0.0, 1.0, 2.0, 3.0],
    [1.0, 0.0, 1.0, 2.0],
    [4.0, 2.0, 0.0, 1.0],
    [24.0, 12.0, 4.0, 0.0],
];

/// The fitted weights and the decision settings.
#[derive(Debug, Clone)]
pub struct Model {
    pub version: String,
    /// Softmax temperature per head (impact, urgency, category), fitted on
    /// held-out predictions so `confidence` means what it says.
    pub temperature: [f32; 3],
    /// When CRITICAL and the other most likely level are within this much
    /// probability, CRITICAL is chosen and the ticket flagged for review.
    pub review_margin: f32,
    pub cost: [[f32; 4]; 4],
    pub bias: [f32; OUTPUTS],
    /// Feature names, in file order.
    pub names: Vec<String>,
    /// `names.len() * OUTPUTS` weights.
    pub weights: Vec<f32>,
    index: IdMap<u32>,
    /// Per row, the mean of its category weights (the explanation compares
    /// the chosen category's weight with it).
    category_mean: Vec<f32>,
}

/// What the model makes of one ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub impact: u8,
    pub urgency: u8,
    pub priority: Priority,
    pub category: Category,
    /// Probability of each priority, LOW first.
    pub priority_probabilities: [f32; 4],
    /// The probability of the chosen priority.
    pub confidence: f32,
    pub needs_review: bool,
    pub signals: Vec<Signal>,
}

fn softmax(logits: &[f32], temperature: f32, out: &mut [f32]) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for (o, &l) in out.iter_mut().zip(logits) {
        *o = ((l - max) / temperature).exp();
        sum += *o;
    }
    for o in out.iter_mut() {
        *o /= sum;
    }
}

fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

impl Model {
    /// A model from its parts (training builds one this way).
    pub fn new(
        version: String,
        names: Vec<String>,
        weights: Vec<f32>,
        bias: [f32; OUTPUTS],
    ) -> Model {
        let mut model = Model {
            version,
            temperature: [1.0; 3],
            review_margin: 0.15,
            cost: DEFAULT_COST,
            bias,
            names,
            weights,
            index: IdMap::default(),
            category_mean: Vec::new(),
        };
        model.reindex();
        model
    }

    fn reindex(&mut self) {
        self.index = self
            .names
            .iter()
            .enumerate()
            .map(|(i, name)| (super::features::hash_name(name), i as u32))
            .collect();
        self.category_mean = self
            .weights
            .chunks_exact(OUTPUTS)
            .map(|w| w[CATEGORY..].iter().sum::<f32>() / 10.0)
            .collect();
    }

    /// The weights of a feature, if the model has it.
    pub fn row(&self, hash: u64) -> Option<&[f32]> {
        let i = *self.index.get(&hash)? as usize;
        Some(self.row_at(i as u32))
    }

    #[inline]
    fn row_at(&self, i: u32) -> &[f32] {
        let i = i as usize;
        &self.weights[i * OUTPUTS..(i + 1) * OUTPUTS]
    }

    /// Raw scores of every output.
    pub fn logits(&self, features: &[Feature]) -> [f32; OUTPUTS] {
        with_rows(self, features, |rows| self.logits_of(features, rows))
    }

    /// Raw scores from the features the model has (`rows`: see
    /// [`with_rows`]), in the features' order.
    fn logits_of(&self, features: &[Feature], rows: &[(u32, u32)]) -> [f32; OUTPUTS] {
        let mut logits = self.bias;
        for &(i, row) in rows {
            let f = &features[i as usize];
            for (l, w) in logits.iter_mut().zip(self.row_at(row)) {
                *l += f.value * w;
            }
        }
        logits
    }

    /// Probabilities per head: impact (3), urgency (3), category (10).
    pub fn probabilities(&self, logits: &[f32; OUTPUTS]) -> [f32; OUTPUTS] {
        let mut p = [0.0; OUTPUTS];
        softmax(&logits[..3], self.temperature[0], &mut p[..3]);
        softmax(&logits[3..6], self.temperature[1], &mut p[3..6]);
        softmax(&logits[6..], self.temperature[2], &mut p[6..]);
        p
    }

    /// The decision: impact, urgency and priority from the two heads'
    /// probabilities through the ITIL matrix and the cost matrix.
    #[allow(clippy::needless_range_loop)] // matrix cells by (impact, urgency)
    pub fn decide(&self, p: &[f32; OUTPUTS]) -> (u8, u8, Priority, [f32; 4], bool) {
        let mut joint = [[0.0f32; 3]; 3];
        let mut by_priority = [0.0f32; 4];
        for i in 0..3 {
            for u in 0..3 {
                joint[i][u] = p[IMPACT + i] * p[URGENCY + u];
                let level = Priority::from_matrix(i as u8 + 1, u as u8 + 1) as usize;
                by_priority[level] += joint[i][u];
            }
        }
        // The priority with the least expected cost.
        let expected =
            |chosen: usize| -> f32 { (0..4).map(|t| by_priority[t] * self.cost[t][chosen]).sum() };
        let mut level = 0;
        for candidate in 1..4 {
            if expected(candidate) < expected(level) {
                level = candidate;
            }
        }
        // Close to CRITICAL: choose it, and ask a person to look.
        let critical = Priority::Critical as usize;
        let mut review = false;
        let mut ranked = [0, 1, 2, 3];
        ranked.sort_by(|a, b| by_priority[*b].total_cmp(&by_priority[*a]));
        let (first, second) = (ranked[0], ranked[1]);
        if (first == critical || second == critical)
            && by_priority[first] - by_priority[second] < self.review_margin
        {
            review = level != critical || first != critical;
            level = critical;
        }
        // The most likely matrix cell of that priority.
        let (mut best, mut best_p) = ((1, 1), -1.0);
        for i in 0..3 {
            for u in 0..3 {
                if Priority::from_matrix(i as u8 + 1, u as u8 + 1) as usize == level
                    && joint[i][u] > best_p
                {
                    best = (i as u8 + 1, u as u8 + 1);
                    best_p = joint[i][u];
                }
            }
        }
        (best.0, best.1, Priority::ALL[level], by_priority, review)
    }

    /// Analyzes extracted features; `description` and `system` are the
    /// texts the features' spans point into.
    pub fn verdict(&self, features: &[Feature], description: &str, system: &str) -> Verdict {
        with_rows(self, features, |rows| {
            self.verdict_of(features, rows, description, system)
        })
    }

    fn verdict_of(
        &self,
        features: &[Feature],
        rows: &[(u32, u32)],
        description: &str,
        system: &str,
    ) -> Verdict {
        let logits = self.logits_of(features, rows);
        let p = self.probabilities(&logits);
        let (impact, urgency, priority, by_priority, needs_review) = self.decide(&p);
        let category = Category::ALL[argmax(&p[CATEGORY..])];
        let confidence = by_priority[priority as usize];
        let mut signals = Vec::new();
        let quote = |f: &Feature| -> String {
            let (text, field) = match f.field {
                Field::Description => (description, ""),
                Field::System => (system, " (system)"),
                Field::Whole => return String::new(),
            };
            let words = text.get(f.start as usize..f.end as usize).unwrap_or("");
            // "\"{words}\"{field}"
            let mut quoted = String::with_capacity(words.len() + field.len() + 2);
            quoted.push('"');
            quoted.push_str(words);
            quoted.push('"');
            quoted.push_str(field);
            quoted
        };
        // The features that pushed hardest: toward the most severe level
        // against the least (impact, urgency), up or down, and toward the
        // chosen category against the mean of the categories.
        let chosen = CATEGORY + category as usize;
        let mut tops = (Top::<16>::new(), Top::<16>::new(), Top::<8>::new());
        for &(i, row) in rows {
            let f = &features[i as usize];
            let w = self.row_at(row);
            tops.0.offer(i, f.value * (w[IMPACT] - w[IMPACT + 2]));
            tops.1.offer(i, f.value * (w[URGENCY] - w[URGENCY + 2]));
            tops.2
                .offer(i, f.value * (w[chosen] - self.category_mean[row as usize]));
        }
        for (top, kind, up, down) in [
            (
                tops.0.choose(features, 4),
                "impact",
                "widespread",
                "one person",
            ),
            (
                tops.1.choose(features, 4),
                "urgency",
                "work stopped now",
                "can wait",
            ),
        ] {
            for (f, amount) in top {
                let (way, toward) = if amount > 0.0 {
                    ("up", up)
                } else {
                    ("down", down)
                };
                // "{kind} {way} toward {toward} ({amount:+.2})"
                let mut effect = String::with_capacity(48);
                for part in [kind, " ", way, " toward ", toward, " ("] {
                    effect.push_str(part);
                }
                push_fixed2(&mut effect, amount, true);
                effect.push(')');
                signals.push(Signal {
                    text: describe(f, &quote, self),
                    kind: kind.to_string(),
                    effect,
                });
            }
        }
        for (f, amount) in tops
            .2
            .choose(features, 2)
            .into_iter()
            .filter(|(_, a)| *a > 0.0)
        {
            // "points to {category} ({amount:+.2})"
            let mut effect = String::with_capacity(32);
            effect.push_str("points to ");
            effect.push_str(category.as_str());
            effect.push_str(" (");
            push_fixed2(&mut effect, amount, true);
            effect.push(')');
            signals.push(Signal {
                text: describe(f, &quote, self),
                kind: "category".into(),
                effect,
            });
        }
        if needs_review {
            let (a, b) = (
                by_priority[3],
                by_priority.iter().take(3).fold(0.0f32, |m, &x| m.max(x)),
            );
            signals.push(Signal {
                text: String::new(),
                kind: "review".into(),
                effect: format!(
                    "CRITICAL is close to the other most likely level ({a:.2} vs {b:.2}): rated CRITICAL, a person should look first"
                ),
            });
        }
        Verdict {
            impact,
            urgency,
            priority,
            category,
            priority_probabilities: by_priority,
            confidence,
            needs_review,
            signals,
        }
    }

    /// The model file's text. Deterministic: the same model writes the
    /// same bytes.
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(self.names.len() * 80);
        let nums = |out: &mut String, values: &[f32]| {
            for v in values {
                let _ = write!(out, "\t{}", fmt_weight(*v));
            }
            out.push('\n');
        };
        let _ = writeln!(out, "{MAGIC}");
        let _ = writeln!(out, "version\t{}", self.version);
        out.push_str("temperature");
        nums(&mut out, &self.temperature);
        let _ = writeln!(out, "review_margin\t{}", fmt_weight(self.review_margin));
        for (row, p) in self.cost.iter().zip(Priority::ALL) {
            let _ = write!(out, "cost\t{}", p.as_str());
            nums(&mut out, row);
        }
        out.push_str("bias");
        nums(&mut out, &self.bias);
        for (i, name) in self.names.iter().enumerate() {
            out.push_str(name);
            nums(&mut out, &self.weights[i * OUTPUTS..(i + 1) * OUTPUTS]);
        }
        out
    }

    /// Reads a model file.
    pub fn parse(text: &str) -> Result<Model, ModelError> {
        let mut lines = text.lines().enumerate();
        let bad = |line: usize, reason: &str| ModelError {
            line: line + 1,
            reason: reason.to_string(),
        };
        match lines.next() {
            Some((_, MAGIC)) => {}
            _ => return Err(bad(0, "not a ticketd triage model")),
        }
        let mut model = Model::new(String::new(), Vec::new(), Vec::new(), [0.0; OUTPUTS]);
        let numbers = |n: usize, fields: &[&str], line: usize| -> Result<Vec<f32>, ModelError> {
            if fields.len() != n {
                return Err(bad(line, &format!("expected {n} numbers")));
            }
            fields
                .iter()
                .map(|f| f.parse::<f32>().map_err(|_| bad(line, "not a number")))
                .collect()
        };
        for (line, text) in lines {
            let mut fields = text.split('\t');
            let key = fields.next().unwrap_or("");
            let rest: Vec<&str> = fields.collect();
            match key {
                "version" => model.version = rest.first().unwrap_or(&"").to_string(),
                "temperature" => {
                    let t = numbers(3, &rest, line)?;
                    if t.iter().any(|&x| x <= 0.0) {
                        return Err(bad(line, "a temperature must be above 0"));
                    }
                    model.temperature.copy_from_slice(&t);
                }
                "review_margin" => model.review_margin = numbers(1, &rest, line)?[0],
                "cost" => {
                    let p = rest
                        .first()
                        .and_then(|p| Priority::parse(p))
                        .ok_or_else(|| bad(line, "cost needs a priority"))?;
                    let row = numbers(4, &rest[1..], line)?;
                    model.cost[p as usize].copy_from_slice(&row);
                }
                "bias" => model.bias.copy_from_slice(&numbers(OUTPUTS, &rest, line)?),
                name if !name.is_empty() => {
                    model.names.push(name.to_string());
                    model
                        .weights
                        .extend_from_slice(&numbers(OUTPUTS, &rest, line)?);
                }
                _ => return Err(bad(line, "empty feature name")),
            }
        }
        model.reindex();
        if model.index.len() != model.names.len() {
            return Err(bad(0, "a feature is listed twice"));
        }
        Ok(model)
    }
}

/// A weight as text: four decimals, no trailing zeros, `0` for zero.
fn fmt_weight(v: f32) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    match s {
        "-0" | "" => "0".to_string(),
        s => s.to_string(),
    }
}

thread_local! {
    /// One thread's list of the features a model has, reused.
    static ROWS: RefCell<Vec<(u32, u32)>> = const { RefCell::new(Vec::new()) };
}

/// Calls `f` with the features the model has, in order: (index in
/// `features`, row of the weights). Each feature is looked up once.
fn with_rows<T>(model: &Model, features: &[Feature], f: impl FnOnce(&[(u32, u32)]) -> T) -> T {
    let fill = |rows: &mut Vec<(u32, u32)>| {
        rows.clear();
        rows.extend(
            features
                .iter()
                .enumerate()
                .filter_map(|(i, f)| Some((i as u32, *model.index.get(&f.hash)?))),
        );
    };
    ROWS.with(|cell| match cell.try_borrow_mut() {
        Ok(mut rows) => {
            fill(&mut rows);
            f(&rows)
        }
        // Only if `f` itself asks for rows: a fresh list then.
        Err(_) => {
            let mut rows = Vec::new();
            fill(&mut rows);
            f(&rows)
        }
    })
}

/// `format!("{v:.2}")` (`"{v:+.2}"` with `plus`) without the formatting
/// machinery: `v * 100` is exact in `f64` (24 + 7 bits), and the formatter
/// rounds the exact value half to even, as `round_ties_even` does.
fn push_fixed2(out: &mut String, v: f32, plus: bool) {
    if !v.is_finite() || v.abs() >= 1e9 {
        let _ = if plus {
            write!(out, "{v:+.2}")
        } else {
            write!(out, "{v:.2}")
        };
        return;
    }
    if v.is_sign_negative() {
        out.push('-');
    } else if plus {
        out.push('+');
    }
    let hundredths = (f64::from(v).abs() * 100.0).round_ties_even() as u64;
    let mut digits = [0u8; 24];
    let mut at = digits.len();
    let mut n = hundredths;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 && at <= digits.len() - 3 {
            break;
        }
    }
    let digits = &digits[at..];
    let (units, cents) = digits.split_at(digits.len() - 2);
    out.push_str(std::str::from_utf8(units).expect("digits"));
    out.push('.');
    out.push_str(std::str::from_utf8(cents).expect("digits"));
}

/// The strongest few candidates of one explanation, strongest first (a
/// short insertion list on the stack: only they can be chosen, and nothing
/// else is stored). `ROOM` is four times the number to choose.
struct Top<const ROOM: usize> {
    scored: [(u32, f32); ROOM],
    len: usize,
    /// A NaN was offered: places are found by binary search from then on,
    /// as they always were (a scan from the end finds the same place in a
    /// list without NaN, and is cheaper for one this short).
    nan: bool,
}

impl<const ROOM: usize> Top<ROOM> {
    fn new() -> Self {
        Top {
            scored: [(0, 0.0); ROOM],
            len: 0,
            nan: false,
        }
    }

    /// Feature `i` pushed by `amount`.
    #[inline(always)]
    fn offer(&mut self, i: u32, amount: f32) {
        let strength = amount.abs();
        if strength < 0.05 || (self.len == ROOM && strength <= self.scored[ROOM - 1].1.abs()) {
            return;
        }
        self.nan |= amount.is_nan();
        // After every candidate at least as strong.
        let at = if self.nan {
            self.scored[..self.len].partition_point(|(_, a)| a.abs() >= strength)
        } else {
            let mut at = self.len;
            while at > 0 && self.scored[at - 1].1.abs() < strength {
                at -= 1;
            }
            at
        };
        if at == ROOM {
            return;
        }
        // When full, the weakest falls off the end.
        self.len = (self.len + 1).min(ROOM);
        let mut k = self.len - 1;
        while k > at {
            self.scored[k] = self.scored[k - 1];
            k -= 1;
        }
        self.scored[at] = (i, amount);
    }

    /// The `n` features that pushed hardest (either way) among those that
    /// can be quoted or described, skipping one whose words overlap a
    /// stronger one's.
    fn choose<'a>(&self, features: &'a [Feature], n: usize) -> Vec<(&'a Feature, f32)> {
        debug_assert_eq!(ROOM, 4 * n);
        let mut chosen: Vec<(&Feature, f32)> = Vec::with_capacity(n);
        for &(i, amount) in &self.scored[..self.len] {
            let f = &features[i as usize];
            let overlaps = chosen.iter().any(|(c, _)| {
                c.field == f.field && f.field != Field::Whole && c.start < f.end && f.start < c.end
            });
            if !overlaps {
                chosen.push((f, amount));
            }
            if chosen.len() == n {
                break;
            }
        }
        chosen
    }
}

/// The words a feature came from, quoted; or what it is, for a feature of
/// the whole text.
fn describe(f: &Feature, quote: &dyn Fn(&Feature) -> String, model: &Model) -> String {
    if f.field != Field::Whole {
        return quote(f);
    }
    let name = model
        .index
        .get(&f.hash)
        .map(|&i| model.names[i as usize].as_str())
        .unwrap_or("");
    match name {
        "m:capitals" => "written in capitals",
        "m:exclamations" => "exclamation marks",
        "m:question" => "asks a question",
        "m:log" => "a pasted log or error",
        "m:forwarded" => "a forwarded email",
        "m:multiline" => "several lines",
        "m:length:short" => "a short ticket",
        "m:length:medium" => "a ticket of medium length",
        "m:length:long" => "a long ticket",
        "m:length:very-long" => "a very long ticket",
        _ => "how it is written",
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model_with(p_impact: [f32; 3], p_urgency: [f32; 3]) -> (Model, [f32; OUTPUTS]) {
        let model = Model::new("t".into(), Vec::new(), Vec::new(), [0.0; OUTPUTS]);
        let mut p = [0.1; OUTPUTS];
        p[..3].copy_from_slice(&p_impact);
        p[3..6].copy_from_slice(&p_urgency);
        (model, p)
    }

    #[test]
    fn a_likely_critical_is_critical() {
        let (m, p) = model_with([0.9, 0.05, 0.05], [0.9, 0.05, 0.05]);
        let (i, u, priority, _, review) = m.decide(&p);
        assert_eq!((i, u, priority, review), (1, 1, Priority::Critical, false));
    }

    #[test]
    fn the_cost_matrix_prefers_critical_over_a_slightly_likelier_high() {
        // P(CRITICAL) = 0.36, P(HIGH) = 0.48: over-rating costs 1, missing costs 4.
        let (m, p) = model_with([0.6, 0.4, 0.0], [0.6, 0.4, 0.0]);
        let (_, _, priority, by, review) = m.decide(&p);
        assert!(by[3] < by[2], "{by:?}");
        assert_eq!(priority, Priority::Critical);
        assert!(review, "chosen although not the most likely: flagged");
    }

    #[test]
    fn a_clear_low_stays_low_and_cells_follow_the_matrix() {
        let (m, p) = model_with([0.02, 0.08, 0.9], [0.02, 0.08, 0.9]);
        let (i, u, priority, _, review) = m.decide(&p);
        assert_eq!((i, u, priority, review), (3, 3, Priority::Low, false));
    }

    #[test]
    fn the_text_form_round_trips_byte_for_byte() {
        let mut bias = [0.0; OUTPUTS];
        bias[0] = 0.25;
        bias[15] = -1.5;
        let mut weights = vec![0.0; 2 * OUTPUTS];
        weights[3] = 0.123456;
        weights[OUTPUTS + 7] = -2.0;
        let mut m = Model::new(
            "v1".into(),
            vec!["w:a".into(), "k:concept:outage".into()],
            weights,
            bias,
        );
        m.temperature = [1.25, 0.5, 2.0];
        let text = m.to_text();
        let back = Model::parse(&text).unwrap();
        assert_eq!(back.to_text(), text);
        assert_eq!(
            back.row(super::super::features::hash_name("w:a")).unwrap()[3],
            0.1235
        );
    }

    #[test]
    fn fixed_decimals_format_as_the_formatter_does() {
        let mut values = vec![
            0.0f32, -0.0, 0.125, 0.375, -0.625, 0.005, 2.675, 99.995, 1e7,
        ];
        values.extend((-3000..3000).map(|n| n as f32 / 997.0));
        values.extend((-2000..2000).map(|n| (n as f32 + 0.5) / 100.0));
        values.extend([
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            f32::MIN,
        ]);
        for v in values {
            let (mut plus, mut plain) = (String::new(), String::new());
            push_fixed2(&mut plus, v, true);
            push_fixed2(&mut plain, v, false);
            assert_eq!(plus, format!("{v:+.2}"));
            assert_eq!(plain, format!("{v:.2}"));
        }
    }

    #[test]
    fn a_bad_model_file_names_the_line() {
        let err = Model::parse("ticketd-triage-model 1\nversion\tx\nbias\t1\n").unwrap_err();
        assert_eq!(err.line, 3);
        assert!(Model::parse("hello").is_err());
    }
}
