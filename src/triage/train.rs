//! Fitting the model, and cross-validation by group. Pure and
//! deterministic: the same examples and settings give the same model, byte
//! for byte (a fixed shuffle seed, one thread, a fixed order of features).
//!
//! The method: multinomial logistic regression per head (impact, urgency,
//! category) over the features of [`super::features`], fitted by AdaGrad
//! with L2 regularisation. Each head's classes are weighted inversely to
//! their frequency, so the rarer severe levels are not drowned out; the
//! asymmetric cost of missing a CRITICAL is applied at decision time by the
//! model's cost matrix ([`super::model::DEFAULT_COST`]). A softmax
//! temperature per head is then fitted on out-of-fold predictions (folds by
//! group), so `confidence` is calibrated on tickets the weights never saw.

use std::collections::{BTreeMap, HashMap};

use super::features::Features;
use super::lexicon::Lexicon;
use super::model::{Model, OUTPUTS};
use super::{Category, ConfigError};

/// One labelled ticket.
#[derive(Debug, Clone)]
pub struct Example {
    pub description: String,
    pub system: String,
    pub impact: u8,
    pub urgency: u8,
    pub category: Category,
    /// What cross-validation holds out together (the organisation kind).
    pub group: String,
    /// How much it counts (an admin's correction may count more).
    pub weight: f32,
}

/// Training settings. The defaults are what the shipped model uses.
#[derive(Debug, Clone)]
pub struct Settings {
    pub epochs: usize,
    pub learning_rate: f32,
    pub l2: f32,
    /// A feature must occur in at least this many training tickets.
    pub min_count: usize,
    pub seed: u64,
    /// Folds (by group) for fitting the temperatures.
    pub calibration_folds: usize,
    /// Feature name prefixes left out (for ablation experiments).
    pub exclude: Vec<String>,
    /// Cost matrix used by the fitted model (None: the default).
    pub cost: Option<[[f32; 4]; 4]>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            epochs: 16,
            learning_rate: 0.05,
            l2: 1e-3,
            min_count: 2,
            seed: 0x0074_6963_6b65_7464,
            calibration_folds: 4,
            exclude: Vec::new(),
            cost: None,
        }
    }
}

/// Every example's features, extracted once: feature ids into `names`.
pub struct Dataset<'a> {
    pub examples: &'a [Example],
    names: Vec<String>,
    rows: Vec<Vec<(u32, f32)>>,
}

impl<'a> Dataset<'a> {
    pub fn new(lexicon: &Lexicon, examples: &'a [Example]) -> Dataset<'a> {
        let mut ids: HashMap<String, u32> = HashMap::new();
        let mut names = Vec::new();
        let mut features = Features::named();
        let rows = examples
            .iter()
            .map(|e| {
                features.extract(lexicon, &e.description, &e.system);
                let found = features.names.as_ref().expect("named features");
                found
                    .iter()
                    .zip(&features.list)
                    .map(|(name, f)| {
                        let next = names.len() as u32;
                        let id = *ids.entry(name.clone()).or_insert_with(|| {
                            names.push(name.clone());
                            next
                        });
                        (id, f.value)
                    })
                    .collect()
            })
            .collect();
        Dataset {
            examples,
            names,
            rows,
        }
    }

    /// The one-hot targets of example `i`: impact, urgency, category.
    fn targets(&self, i: usize) -> [usize; 3] {
        let e = &self.examples[i];
        [
            e.impact as usize - 1,
            3 + e.urgency as usize - 1,
            6 + e.category as usize,
        ]
    }
}

/// A small deterministic generator for the shuffle (xorshift64*).
struct Shuffle(u64);

impl Shuffle {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn shuffle(&mut self, items: &mut [usize]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

const HEADS: [std::ops::Range<usize>; 3] = [0..3, 3..6, 6..16];

/// Weights fitted on the examples `train` (indices into `data`), with the
/// temperatures left at 1.
pub fn fit(data: &Dataset, train: &[usize], settings: &Settings, version: &str) -> Model {
    // The vocabulary: features seen in enough training tickets, in name order.
    let mut counts = vec![0usize; data.names.len()];
    for &i in train {
        for &(id, _) in &data.rows[i] {
            counts[id as usize] += 1;
        }
    }
    let kept: BTreeMap<&str, u32> = counts
        .iter()
        .enumerate()
        .filter(|(id, c)| {
            **c >= settings.min_count
                && !settings
                    .exclude
                    .iter()
                    .any(|p| data.names[*id].starts_with(p.as_str()))
        })
        .map(|(id, _)| (data.names[id].as_str(), id as u32))
        .collect();
    let mut local = vec![u32::MAX; data.names.len()];
    for (row, (_, &id)) in kept.iter().enumerate() {
        local[id as usize] = row as u32;
    }
    let rows = kept.len();
    // Class weights: inverse frequency within each head.
    let mut class_count = [0f32; OUTPUTS];
    for &i in train {
        for t in data.targets(i) {
            class_count[t] += 1.0;
        }
    }
    let mut class_weight = [0f32; OUTPUTS];
    for head in HEADS {
        let k = head.len() as f32;
        let n: f32 = class_count[head.clone()].iter().sum();
        for c in head {
            class_weight[c] = if class_count[c] > 0.0 {
                n / (k * class_count[c])
            } else {
                0.0
            };
        }
    }
    let mut weights = vec![0f32; rows * OUTPUTS];
    let mut squares = vec![0f32; rows * OUTPUTS];
    let mut bias = [0f32; OUTPUTS];
    let mut bias_squares = [0f32; OUTPUTS];
    let mut order: Vec<usize> = train.to_vec();
    let mut rng = Shuffle(settings.seed | 1);
    let mut gradient = [0f32; OUTPUTS];
    let mut active: Vec<(usize, f32)> = Vec::new();
    const EPS: f32 = 1e-8;
    for _ in 0..settings.epochs {
        rng.shuffle(&mut order);
        for &i in &order {
            active.clear();
            active.extend(
                data.rows[i]
                    .iter()
                    .filter(|(id, _)| local[*id as usize] != u32::MAX)
                    .map(|&(id, v)| (local[id as usize] as usize, v)),
            );
            let mut logits = bias;
            for &(row, v) in &active {
                for (l, w) in logits
                    .iter_mut()
                    .zip(&weights[row * OUTPUTS..(row + 1) * OUTPUTS])
                {
                    *l += v * w;
                }
            }
            let targets = data.targets(i);
            let example_weight = data.examples[i].weight;
            for (head, &target) in HEADS.iter().zip(&targets) {
                let max = logits[head.clone()]
                    .iter()
                    .copied()
                    .fold(f32::NEG_INFINITY, f32::max);
                let sum: f32 = logits[head.clone()].iter().map(|l| (l - max).exp()).sum();
                let scale = class_weight[target] * example_weight;
                for c in head.clone() {
                    let p = (logits[c] - max).exp() / sum;
                    let y = if c == target { 1.0 } else { 0.0 };
                    gradient[c] = (p - y) * scale;
                }
            }
            for c in 0..OUTPUTS {
                bias_squares[c] += gradient[c] * gradient[c];
                bias[c] -= settings.learning_rate * gradient[c] / (bias_squares[c].sqrt() + EPS);
            }
            for &(row, v) in &active {
                let base = row * OUTPUTS;
                for c in 0..OUTPUTS {
                    let w = &mut weights[base + c];
                    let g = gradient[c] * v + settings.l2 * *w;
                    squares[base + c] += g * g;
                    *w -= settings.learning_rate * g / (squares[base + c].sqrt() + EPS);
                }
            }
        }
    }
    // Drop features the fit left at (about) zero; round as the file does.
    let mut names = Vec::new();
    let mut kept_weights = Vec::new();
    for (row, (name, _)) in kept.iter().enumerate() {
        let w = &weights[row * OUTPUTS..(row + 1) * OUTPUTS];
        if w.iter().any(|x| x.abs() >= 5e-4) {
            names.push(name.to_string());
            kept_weights.extend(w.iter().map(|x| round4(*x)));
        }
    }
    let bias = bias.map(round4);
    let mut model = Model::new(version.to_string(), names, kept_weights, bias);
    if let Some(cost) = settings.cost {
        model.cost = cost;
    }
    model
}

fn round4(x: f32) -> f32 {
    (x * 10_000.0).round() / 10_000.0
}

/// Folds by group: every example of a group lands in the same fold. With
/// `folds` at least the number of groups, this is leave-one-group-out.
pub fn group_folds(examples: &[Example], folds: usize) -> Vec<usize> {
    let groups: BTreeMap<&str, usize> = examples
        .iter()
        .map(|e| e.group.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .enumerate()
        .map(|(i, g)| (g, i % folds.max(1)))
        .collect();
    examples.iter().map(|e| groups[e.group.as_str()]).collect()
}

/// The logits of every example in `subset`, each from a model fitted
/// without its fold (`fold[i]`).
fn out_of_fold_logits(
    data: &Dataset,
    subset: &[usize],
    fold: &[usize],
    settings: &Settings,
) -> Vec<(usize, [f32; OUTPUTS])> {
    let folds: std::collections::BTreeSet<usize> = subset.iter().map(|&i| fold[i]).collect();
    let mut out = Vec::new();
    for held in folds {
        let train: Vec<usize> = subset
            .iter()
            .copied()
            .filter(|&i| fold[i] != held)
            .collect();
        let model = fit(data, &train, settings, "fold");
        for &i in subset.iter().filter(|&&i| fold[i] == held) {
            let features = model_features(data, i);
            out.push((i, model.logits(&features)));
        }
    }
    out
}

/// Example `i`'s features in the form the model scores.
fn model_features(data: &Dataset, i: usize) -> Vec<super::features::Feature> {
    use super::features::hash_name;
    data.rows[i]
        .iter()
        .map(|&(id, value)| {
            super::features::Feature::plain(hash_name(&data.names[id as usize]), value)
        })
        .collect()
}

/// The temperature per head that minimizes the negative log-likelihood of
/// held-out predictions (a grid from 0.5 to 4).
fn fit_temperatures(data: &Dataset, logits: &[(usize, [f32; OUTPUTS])]) -> [f32; 3] {
    let mut out = [1.0; 3];
    for (h, head) in HEADS.iter().enumerate() {
        let mut best = (f32::INFINITY, 1.0);
        for step in 0..=70 {
            let t = 0.5 + step as f32 * 0.05;
            let mut nll = 0.0f32;
            for (i, l) in logits {
                let target = data.targets(*i)[h];
                let max = l[head.clone()]
                    .iter()
                    .copied()
                    .fold(f32::NEG_INFINITY, f32::max);
                let sum: f32 = l[head.clone()].iter().map(|x| ((x - max) / t).exp()).sum();
                nll += sum.ln() - (l[target] - max) / t;
            }
            if nll < best.0 {
                best = (nll, t);
            }
        }
        out[h] = best.1;
    }
    out
}

/// The shipped procedure: weights fitted on all of `train`, temperatures
/// fitted on out-of-fold predictions within `train` (folds by group).
pub fn fit_calibrated(
    data: &Dataset,
    train: &[usize],
    settings: &Settings,
    version: &str,
) -> Model {
    let inner = group_folds(data.examples, settings.calibration_folds);
    let logits = out_of_fold_logits(data, train, &inner, settings);
    let mut model = fit(data, train, settings, version);
    model.temperature = fit_temperatures(data, &logits);
    model
}

/// Cross-validation by group: for each fold, a calibrated model fitted on
/// the other folds analyzes the held-out tickets. Returns, per example, the
/// held-out model's verdict. `progress` is told each fold as it finishes.
pub fn cross_validate(
    data: &Dataset,
    fold: &[usize],
    settings: &Settings,
    mut progress: impl FnMut(usize, usize),
) -> Vec<Option<super::model::Verdict>> {
    // `usize::MAX` marks examples that train every fold and are never held out.
    let folds: std::collections::BTreeSet<usize> =
        fold.iter().copied().filter(|&f| f != usize::MAX).collect();
    let all: Vec<usize> = (0..data.examples.len()).collect();
    let mut verdicts: Vec<Option<super::model::Verdict>> = vec![None; data.examples.len()];
    let total = folds.len();
    for (n, held) in folds.into_iter().enumerate() {
        let train: Vec<usize> = all.iter().copied().filter(|&i| fold[i] != held).collect();
        let model = fit_calibrated(data, &train, settings, "cv");
        for i in all.iter().copied().filter(|&i| fold[i] == held) {
            let e = &data.examples[i];
            let features = model_features(data, i);
            verdicts[i] = Some(model.verdict(&features, &e.description, &e.system));
        }
        progress(n + 1, total);
    }
    verdicts
}

/// Reads labelled JSON Lines (`description`, `system`, `impact`, `urgency`,
/// `category`, and `org_kind` as the group; a correction exported by
/// `triage-corrections` carries its own fields, see [`correction_example`]).
pub fn read_examples(
    jsonl: &str,
    default_group: &str,
    weight: f32,
) -> Result<Vec<Example>, ConfigError> {
    #[derive(serde::Deserialize)]
    struct Line {
        description: String,
        #[serde(default)]
        system: String,
        impact: Option<u8>,
        urgency: Option<u8>,
        category: Option<String>,
        org_kind: Option<String>,
        analyzer_impact: Option<u8>,
        analyzer_urgency: Option<u8>,
        admin_priority: Option<String>,
    }
    let mut out = Vec::new();
    for (n, line) in jsonl.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: String| ConfigError {
            line: n + 1,
            reason,
        };
        let l: Line = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
        let category = l
            .category
            .as_deref()
            .and_then(Category::parse)
            .ok_or_else(|| bad("category: missing or unknown".into()))?;
        let (impact, urgency) = match (l.impact, l.urgency, l.admin_priority) {
            (Some(i), Some(u), _) => (i, u),
            (_, _, Some(p)) => {
                let p = super::Priority::parse(&p)
                    .ok_or_else(|| bad(format!("admin_priority: unknown {p:?}")))?;
                correction_cell(
                    l.analyzer_impact.unwrap_or(2),
                    l.analyzer_urgency.unwrap_or(2),
                    p,
                )
            }
            _ => return Err(bad("needs impact and urgency, or admin_priority".into())),
        };
        if !(1..=3).contains(&impact) || !(1..=3).contains(&urgency) {
            return Err(bad("impact and urgency are 1 to 3".into()));
        }
        out.push(Example {
            description: l.description,
            system: l.system,
            impact,
            urgency,
            category,
            group: l.org_kind.unwrap_or_else(|| default_group.to_string()),
            weight,
        });
    }
    Ok(out)
}

/// An admin's correction names a priority, not impact and urgency: take
/// the cell of that priority nearest the analyzer's own (so a MEDIUM from
/// impact 2 / urgency 2 corrected to CRITICAL teaches 1 / 1, and a HIGH
/// from 2 / 1 corrected to MEDIUM teaches 2 / 2 or 3 / 1, whichever keeps
/// more of what the analyzer saw: urgency first).
pub fn correction_cell(impact: u8, urgency: u8, wanted: super::Priority) -> (u8, u8) {
    let mut best = (impact, urgency);
    let mut best_distance = u8::MAX;
    for i in 1..=3u8 {
        for u in 1..=3u8 {
            if super::Priority::from_matrix(i, u) == wanted {
                let distance = 2 * i.abs_diff(impact) + u.abs_diff(urgency) * 3 / 2;
                if distance < best_distance {
                    best = (i, u);
                    best_distance = distance;
                }
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::super::lexicon::{BUILTIN, Lexicon};
    use super::*;
    use crate::triage::Priority;

    fn example(
        description: &str,
        impact: u8,
        urgency: u8,
        category: Category,
        group: &str,
    ) -> Example {
        Example {
            description: description.into(),
            system: String::new(),
            impact,
            urgency,
            category,
            group: group.into(),
            weight: 1.0,
        }
    }

    fn toy() -> Vec<Example> {
        let mut out = Vec::new();
        for (n, group) in ["a", "b", "c", "d"].iter().enumerate() {
            out.push(example(
                &format!("the whole site has no network {n}"),
                1,
                1,
                Category::Network,
                group,
            ));
            out.push(example(
                &format!("everyone is offline, network down {n}"),
                1,
                1,
                Category::Network,
                group,
            ));
            out.push(example(
                &format!("my mouse is a bit sticky {n}"),
                3,
                3,
                Category::Hardware,
                group,
            ));
            out.push(example(
                &format!("could I get a new keyboard {n}"),
                3,
                3,
                Category::Hardware,
                group,
            ));
            out.push(example(
                &format!("our team printer jams now and then {n}"),
                2,
                2,
                Category::Printing,
                group,
            ));
        }
        out
    }

    #[test]
    fn fitting_is_deterministic_and_learns_the_toy_task() {
        let lexicon = Lexicon::parse(BUILTIN).unwrap();
        let examples = toy();
        let data = Dataset::new(&lexicon, &examples);
        let all: Vec<usize> = (0..examples.len()).collect();
        let settings = Settings::default();
        let a = fit_calibrated(&data, &all, &settings, "toy");
        let b = fit_calibrated(&data, &all, &settings, "toy");
        assert_eq!(a.to_text(), b.to_text(), "byte for byte");
        let mut f = Features::default();
        f.extract(&lexicon, "the whole site network is down", "");
        let v = a.verdict(&f.list, "the whole site network is down", "");
        assert_eq!(v.priority, Priority::Critical);
        assert_eq!(v.category, Category::Network);
        f.extract(&lexicon, "could I get a new mouse", "");
        let v = a.verdict(&f.list, "could I get a new mouse", "");
        assert_eq!(v.priority, Priority::Low);
        assert!(
            v.signals.iter().any(|s| s.kind == "urgency"),
            "{:?}",
            v.signals
        );
    }

    #[test]
    fn folds_keep_groups_together_and_cross_validation_holds_each_out_once() {
        let lexicon = Lexicon::parse(BUILTIN).unwrap();
        let examples = toy();
        let fold = group_folds(&examples, 100);
        for (e, f) in examples.iter().zip(&fold) {
            for (e2, f2) in examples.iter().zip(&fold) {
                assert_eq!(e.group == e2.group, f == f2);
            }
        }
        let data = Dataset::new(&lexicon, &examples);
        let mut seen = 0;
        let verdicts = cross_validate(&data, &fold, &Settings::default(), |_, _| seen += 1);
        assert_eq!(seen, 4);
        assert!(verdicts.iter().all(Option::is_some), "each held out once");
    }

    #[test]
    fn a_correction_keeps_the_nearest_cell_of_the_wanted_priority() {
        assert_eq!(correction_cell(2, 2, Priority::Critical), (1, 1));
        assert_eq!(correction_cell(1, 3, Priority::High), (1, 2));
        assert_eq!(correction_cell(3, 1, Priority::Critical), (1, 1));
        assert_eq!(correction_cell(2, 1, Priority::Medium), (2, 2));
    }

    #[test]
    fn examples_need_labels_and_name_the_bad_line() {
        let ok =
            r#"{"description":"x","impact":1,"urgency":2,"category":"network","org_kind":"bank"}"#;
        let fix = r#"{"description":"y","analyzer_impact":2,"analyzer_urgency":2,"admin_priority":"CRITICAL","category":"email"}"#;
        let got = read_examples(&format!("{ok}\n{fix}\n"), "corrections", 2.0).unwrap();
        assert_eq!(
            (got[0].impact, got[0].urgency, got[0].group.as_str()),
            (1, 2, "bank")
        );
        assert_eq!(
            (got[1].impact, got[1].urgency, got[1].group.as_str()),
            (1, 1, "corrections")
        );
        let err =
            read_examples(&format!("{ok}\n{{\"description\":\"z\"}}\n"), "g", 1.0).unwrap_err();
        assert_eq!(err.line, 2);
    }
}
