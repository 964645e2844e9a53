//! The analyzer: ticket text in; ITIL impact, urgency, priority, category,
//! routing team and a worded explanation out.
//!
//! Everything here is pure: no I/O, no clock, no global state (the engine
//! reuses a per-thread scratch buffer between calls, which is not
//! observable). Callers load configuration (see [`Analyzer::from_toml_str`])
//! and hand in the text.
//!
//! How it reads a ticket (see `engine.rs`):
//! - a tokenizer folds case, contractions ("can't"), common misspellings and
//!   inflections, marks quoted spans (pasted errors, subject lines, labels)
//!   and clause boundaries;
//! - cue phrases from the lexicon ([`lexicon`]) are matched longest-first;
//!   a negator shortly before a cue cancels it ("nothing has gone down");
//!   inside quotes only category cues and "a fault exists" count;
//! - scope is parsed from quantifiers and their noun phrases ("all the tills
//!   in the Leeds store", "the whole night shift", "none of our 14
//!   engineers"), numbers of people, group nouns, critical systems, and
//!   limiters ("only me", "other floors are fine");
//! - urgency: harm, an active security incident or data loss is urgency 1
//!   whatever the tone; work stopped is 1 unless a workaround or intermittency
//!   is stated; degraded is 2; requests, questions and played-down minor
//!   faults are 3; a deadline today lifts 3 to 2;
//! - category is a weighted vote of cue phrases (system field counts 1.5x).
//!
//! This module owns the ITIL vocabulary ([`Priority`], [`Category`]) that the
//! ticket domain stores, which is why `tickets` depends on `triage` and not
//! the other way round.

use serde::{Deserialize, Serialize};

pub mod config;
mod engine;
pub mod eval;
pub mod lexicon;
#[cfg(test)]
mod tests;
mod text;

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
    pub signals: Vec<Signal>,
    /// 0.0 to 1.0: how much evidence backed the decision.
    pub confidence: f32,
    pub model_version: String,
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

/// The analyzer with its lexicon. Cheap to share behind an `Arc`.
#[derive(Debug, Clone)]
pub struct Analyzer {
    lexicon: engine::Lexicon,
    model_version: String,
}

impl Default for Analyzer {
    fn default() -> Self {
        Analyzer::builtin()
    }
}

/// The model version reported by the built-in lexicon.
pub const MODEL_VERSION: &str = "ticketd-triage-1";

impl Analyzer {
    /// The built-in lexicon.
    pub fn builtin() -> Analyzer {
        Analyzer {
            lexicon: engine::Lexicon::builtin(),
            model_version: MODEL_VERSION.to_string(),
        }
    }

    /// The built-in lexicon extended/overridden by a TOML document
    /// (format: see [`config`]).
    pub fn from_toml_str(text: &str) -> Result<Analyzer, ConfigError> {
        let (lexicon, version) = config::apply(text)?;
        Ok(Analyzer {
            lexicon,
            model_version: version.unwrap_or_else(|| MODEL_VERSION.to_string()),
        })
    }

    /// The model version stamped on every analysis.
    pub fn model_version(&self) -> &str {
        &self.model_version
    }

    /// The team a category routes to.
    pub fn team_for(&self, category: Category) -> &str {
        &self.lexicon.teams[category as usize]
    }

    /// Analyzes one ticket: `description` is the free text, `system` the
    /// affected-system field (may be empty).
    pub fn analyze(&self, description: &str, system: &str) -> Triage {
        self.lexicon
            .analyze(description, system, &self.model_version)
    }
}
