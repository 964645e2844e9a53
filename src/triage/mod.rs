//! The analyzer: ticket text in; ITIL impact, urgency, priority, category,
//! routing team, a calibrated confidence and a worded explanation out.
//!
//! It is a learned model, not a rule list. [`features`] turns the text into
//! interpretable features (words, word pairs, pieces of words, lexicon cues
//! with negation, scope parses, how it is written); [`model`] holds three
//! logistic regressions fitted on a labelled corpus (`tests/data/triage/`) by
//! [`train`] — impact and urgency, from which the ITIL matrix and a cost
//! matrix give the priority, and the category — and explains a verdict
//! with the features that pushed hardest, quoting the ticket's words.
//! [`eval`] measures it by grouped cross-validation: whole kinds of
//! organisation held out, never random tickets.
//!
//! Everything here is pure: no I/O, no clock. The lexicon and the model
//! are data files embedded at build ([`lexicon::BUILTIN`], [`MODEL`]); a
//! refitted model can be loaded from a file through the TOML config.
//!
//! This module owns the ITIL vocabulary ([`Priority`], [`Category`]) that the
//! ticket domain stores, which is why `tickets` depends on `triage` and not
//! the other way round.

use std::cell::RefCell;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

pub mod config;
pub mod eval;
pub mod features;
pub mod lexicon;
pub mod model;
mod text;
pub mod train;

/// The version the training command stamps by default.
pub const MODEL_VERSION: &str = "ticketd-triage-2";

/// The model shipped with the binary (`ticketd triage-train` reproduces it
/// from `tests/data/triage/corpus.jsonl`).
pub const MODEL: &str = include_str!("model.txt");

/// A ticket's priority, from the ITIL impact x urgency matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Priority {
    Low,
    Medium,
    High,
    Critical,
}

impl Priority {
    /// All priorities, lowest first.
    pub const ALL: [Priority; 4] = [
        Priority::Low,
        Priority::Medium,
        Priority::High,
        Priority::Critical,
    ];

    /// The upper-case name used on the wire and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "LOW",
            Priority::Medium => "MEDIUM",
            Priority::High => "HIGH",
            Priority::Critical => "CRITICAL",
        }
    }

    /// Parses the wire name (case-sensitive, as the protocol requires).
    pub fn parse(s: &str) -> Option<Priority> {
        Priority::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The ITIL matrix: impact and urgency are 1 (highest) to 3 (lowest).
    pub fn from_matrix(impact: u8, urgency: u8) -> Priority {
        match impact.clamp(1, 3) + urgency.clamp(1, 3) {
            2 => Priority::Critical,
            3 => Priority::High,
            4 => Priority::Medium,
            _ => Priority::Low,
        }
    }
}

/// The category a ticket is routed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Network,
    Hardware,
    Software,
    Security,
    Access,
    Database,
    Email,
    Printing,
    Telephony,
    Infrastructure,
}

impl Category {
    /// All categories.
    pub const ALL: [Category; 10] = [
        Category::Network,
        Category::Hardware,
        Category::Software,
        Category::Security,
        Category::Access,
        Category::Database,
        Category::Email,
        Category::Printing,
        Category::Telephony,
        Category::Infrastructure,
    ];

    /// The lower-case name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Network => "network",
            Category::Hardware => "hardware",
            Category::Software => "software",
            Category::Security => "security",
            Category::Access => "access",
            Category::Database => "database",
            Category::Email => "email",
            Category::Printing => "printing",
            Category::Telephony => "telephony",
            Category::Infrastructure => "infrastructure",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// One piece of evidence the analyzer found, in words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// The words in the ticket (or the system field) that triggered it.
    pub text: String,
    /// What kind of evidence: `impact`, `urgency`, `category`, `negation`, ...
    pub kind: String,
    /// What it did, e.g. "impact widespread".
    pub effect: String,
}

/// The explanation's signals, kept as the JSON they are stored and sent
/// as. A ticket is loaded and re-sent far more often than its signals are
/// read in Rust, and building ten small structs (thirty strings) per ticket
/// was a third of the time to load a large store.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Signals(Box<serde_json::value::RawValue>);

impl Signals {
    pub fn new(list: &[Signal]) -> Signals {
        Signals(serde_json::value::to_raw_value(list).expect("signals serialize"))
    }

    /// The signals, parsed.
    pub fn list(&self) -> Vec<Signal> {
        serde_json::from_str(self.0.get()).unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.list().is_empty()
    }
}

impl Default for Signals {
    fn default() -> Self {
        Signals::new(&[])
    }
}

impl PartialEq for Signals {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

/// The analyzer's explanation, stored with each ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// ITIL impact, 1 (widespread) to 3 (one user or device).
    pub impact: u8,
    /// ITIL urgency, 1 (work stopped now) to 3 (minor).
    pub urgency: u8,
    pub category: Category,
    /// The team this category routes to.
    pub team: String,
    /// Why, in words.
    pub signals: Signals,
    /// 0.0 to 1.0: the calibrated probability of the chosen priority.
    pub confidence: f32,
    pub model_version: String,
    /// CRITICAL was chosen although another level was about as likely: a
    /// person should look first.
    #[serde(default)]
    pub needs_review: bool,
}

/// The analyzer's verdict on one ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Triage {
    pub priority: Priority,
    /// 0 to 100, ordered consistently with `priority`.
    pub priority_score: u8,
    pub analysis: Analysis,
}

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
#[error("triage config line {line}: {reason}")]
pub struct ConfigError {
    pub line: usize,
    pub reason: String,
}

/// The hash of feature names, phrases and words: eight bytes at a time,
/// each folded in by a multiply and a shift that carries high bits down
/// (plain FxHash collides on names that differ in one late byte), with a
/// final mix. Our own names, so no DoS concern; stable
/// across runs and builds (the model file keeps the names, not the hashes).
/// Incremental writes hash the same as one write only when the pieces are
/// the same, which is how both sides of every lookup use it.
#[derive(Debug, Clone, Copy)]
pub struct NameHash(u64);

const NAME_HASH_SEED: u64 = 0x9e37_79b9_7f4a_7c15;

impl NameHash {
    pub fn new() -> NameHash {
        NameHash(0)
    }

    fn add(&mut self, word: u64) {
        let x = (self.0 ^ word).wrapping_mul(NAME_HASH_SEED);
        self.0 = x ^ (x >> 29);
    }
}

impl Default for NameHash {
    fn default() -> Self {
        NameHash::new()
    }
}

impl Hasher for NameHash {
    fn finish(&self) -> u64 {
        // A final avalanche, so similar names spread over the table.
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            // The last chunk, zero-padded.
            self.add(load_le(rest));
        }
        self.add(bytes.len() as u64);
    }
}

/// The hash of `bytes`.
pub fn name_hash(bytes: &[u8]) -> u64 {
    let mut h = NameHash::new();
    h.write(bytes);
    h.finish()
}

/// Up to eight bytes as a little-endian word, zero-padded (what
/// [`NameHash::write`] does with a short last chunk), without a copy loop.
#[inline]
fn load_le(b: &[u8]) -> u64 {
    let n = b.len();
    debug_assert!(n <= 8);
    if n >= 4 {
        let lo = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64;
        let hi = u32::from_le_bytes([b[n - 4], b[n - 3], b[n - 2], b[n - 1]]) as u64;
        // The two reads overlap when n < 8; the shared bytes are equal.
        lo | hi << (8 * (n - 4))
    } else if n > 0 {
        (b[0] as u64) | (b[n / 2] as u64) << (8 * (n / 2)) | (b[n - 1] as u64) << (8 * (n - 1))
    } else {
        0
    }
}

/// [`name_hash`] of a name written in pieces: the same value as hashing the
/// pieces joined, without joining them (feature names are hashed this way,
/// so analysis builds no strings).
#[derive(Debug, Clone, Copy, Default)]
pub struct NameStream {
    hash: NameHash,
    /// Bytes not yet folded in, little-endian, `filled` of them.
    pending: u64,
    filled: usize,
    len: u64,
}

impl NameStream {
    pub fn new() -> NameStream {
        NameStream::default()
    }

    /// Appends `bytes`.
    #[inline]
    pub fn write(&mut self, mut bytes: &[u8]) {
        self.len += bytes.len() as u64;
        while !bytes.is_empty() {
            let take = bytes.len().min(8 - self.filled);
            self.pending |= load_le(&bytes[..take]) << (8 * self.filled);
            self.filled += take;
            bytes = &bytes[take..];
            if self.filled == 8 {
                self.hash.add(self.pending);
                self.pending = 0;
                self.filled = 0;
            }
        }
    }

    /// Appends one byte.
    #[inline]
    pub fn write_byte(&mut self, byte: u8) {
        self.len += 1;
        self.pending |= (byte as u64) << (8 * self.filled);
        self.filled += 1;
        if self.filled == 8 {
            self.hash.add(self.pending);
            self.pending = 0;
            self.filled = 0;
        }
    }

    /// The hash of everything written: `name_hash` of the concatenation.
    #[inline]
    pub fn finish(&self) -> u64 {
        let mut hash = self.hash;
        if self.filled > 0 {
            hash.add(self.pending);
        }
        hash.add(self.len);
        hash.finish()
    }
}

/// Keys that are already hashes need no second hashing.
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | b as u64;
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A map keyed by a hash.
pub type IdMap<V> = std::collections::HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// The team each category routes to, unless the config says otherwise.
pub fn default_team(c: Category) -> &'static str {
    match c {
        Category::Network => "Network Operations",
        Category::Hardware => "Desktop Support",
        Category::Software => "Application Support",
        Category::Security => "Security Operations",
        Category::Access => "Identity & Access Management",
        Category::Database => "Database Administration",
        Category::Email => "Messaging & Collaboration",
        Category::Printing => "Print Services",
        Category::Telephony => "Unified Communications",
        Category::Infrastructure => "Infrastructure & Data Centre",
    }
}

/// The analyzer: the lexicon, the fitted model and the routing table.
/// Cheap to clone and share.
#[derive(Debug, Clone)]
pub struct Analyzer {
    lexicon: Arc<lexicon::Lexicon>,
    model: Arc<model::Model>,
    teams: Arc<[String; 10]>,
}

impl Default for Analyzer {
    fn default() -> Self {
        Analyzer::builtin()
    }
}

thread_local! {
    /// One thread's extraction buffers, reused between analyses.
    static SCRATCH: RefCell<features::Features> = RefCell::new(features::Features::default());
}

impl Analyzer {
    /// The shipped lexicon and model (parsed once per process).
    pub fn builtin() -> Analyzer {
        static BUILTIN: OnceLock<Analyzer> = OnceLock::new();
        BUILTIN
            .get_or_init(|| {
                let lexicon = lexicon::Lexicon::parse(lexicon::BUILTIN)
                    .expect("the embedded lexicon parses (a unit test checks it)");
                let model = model::Model::parse(MODEL)
                    .expect("the embedded model parses (a unit test checks it)");
                Analyzer::new(lexicon, model)
            })
            .clone()
    }

    /// An analyzer with the default routing.
    pub fn new(lexicon: lexicon::Lexicon, model: model::Model) -> Analyzer {
        Analyzer {
            lexicon: Arc::new(lexicon),
            model: Arc::new(model),
            teams: Arc::new(Category::ALL.map(|c| default_team(c).to_string())),
        }
    }

    /// The built-in analyzer adjusted by a TOML document (format: see
    /// [`config`]); `read_model` loads a model file the document names.
    pub fn from_toml_str(
        text: &str,
        read_model: impl FnOnce(&str) -> Result<String, String>,
    ) -> Result<Analyzer, ConfigError> {
        config::apply(Analyzer::builtin(), text, read_model)
    }

    /// The model version stamped on every analysis.
    pub fn model_version(&self) -> &str {
        &self.model.version
    }

    /// The lexicon (training extracts features with it).
    pub fn lexicon(&self) -> &lexicon::Lexicon {
        &self.lexicon
    }

    /// The team a category routes to.
    pub fn team_for(&self, category: Category) -> &str {
        &self.teams[category as usize]
    }

    /// Analyzes one ticket: `description` is the free text, `system` the
    /// affected-system field (may be empty).
    pub fn analyze(&self, description: &str, system: &str) -> Triage {
        let verdict = SCRATCH.with(|scratch| {
            let mut features = scratch.borrow_mut();
            features.extract(&self.lexicon, description, system);
            self.model.verdict(&features.list, description, system)
        });
        let level = verdict.priority as u8;
        let score = 25 * level + (24.0 * verdict.confidence.clamp(0.0, 1.0)).round() as u8;
        Triage {
            priority: verdict.priority,
            priority_score: score,
            analysis: Analysis {
                impact: verdict.impact,
                urgency: verdict.urgency,
                category: verdict.category,
                team: self.team_for(verdict.category).to_string(),
                signals: Signals::new(&verdict.signals),
                confidence: (verdict.confidence * 1000.0).round() / 1000.0,
                model_version: self.model.version.clone(),
                needs_review: verdict.needs_review,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_data_parses_and_analyses_are_consistent() {
        let analyzer = Analyzer::builtin();
        let t = analyzer.analyze(
            "The whole hospital has no network and patients cannot be admitted",
            "Network",
        );
        assert_eq!(
            t.priority,
            Priority::from_matrix(t.analysis.impact, t.analysis.urgency)
        );
        assert!((t.priority as u8 * 25..t.priority as u8 * 25 + 25).contains(&t.priority_score));
        assert!(!t.analysis.signals.is_empty());
        assert_eq!(t.analysis.team, analyzer.team_for(t.analysis.category));
    }

    #[test]
    fn names_that_differ_in_one_late_byte_hash_apart() {
        for (a, b) in [
            ("b:send as", "b:send in"),
            ("b:the last", "b:the lift"),
            ("w:a", "w:a\0"),
        ] {
            assert_ne!(name_hash(a.as_bytes()), name_hash(b.as_bytes()), "{a} {b}");
        }
    }

    #[test]
    fn a_name_hashed_in_pieces_hashes_as_one() {
        let text = "b:printer are down 0123456789abcdefghij \u{e9}\u{2019}x";
        let bytes = text.as_bytes();
        for cut1 in 0..=bytes.len() {
            for cut2 in cut1..=bytes.len() {
                let mut s = NameStream::new();
                s.write(&bytes[..cut1]);
                for &b in &bytes[cut1..cut2] {
                    s.write_byte(b);
                }
                s.write(&bytes[cut2..]);
                assert_eq!(s.finish(), name_hash(bytes), "{cut1} {cut2}");
            }
        }
        assert_eq!(NameStream::new().finish(), name_hash(b""), "the empty name");
    }

    #[test]
    fn an_analysis_without_needs_review_still_loads() {
        let old = r#"{"impact":1,"urgency":1,"category":"network","team":"N","signals":[],"confidence":0.5,"model_version":"ticketd-triage-1"}"#;
        let a: Analysis = serde_json::from_str(old).unwrap();
        assert!(!a.needs_review);
    }
}
