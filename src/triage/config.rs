//! TOML configuration (`--triage-config`): which model, and where each
//! category is routed.
//!
//! Every key is optional; unknown keys are refused with their line, so a
//! typo does not silently do nothing.
//!
//! ```toml
//! # A model refitted on this organisation's tickets (`ticketd triage-train`),
//! # relative to this file. Without it, the model shipped with the binary.
//! model = "acme-triage.model"
//!
//! # Stamped on every analysis instead of the model file's own version.
//! model_version = "acme-hospital-1"
//!
//! [teams]            # category -> team routing
//! security = "SOC"
//! printing = "Ward IT"
//! ```
//!
//! The keys of the rule-based analyzer (`terms`, `categories`, `words`,
//! `critical_systems`) are refused with a message saying what replaced
//! them: the analyzer is now fitted to labelled tickets, and an
//! organisation adapts it by refitting on its own (see the README).

use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use super::{Analyzer, Category, ConfigError, model::Model};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Doc {
    model: Option<Spanned<String>>,
    model_version: Option<Spanned<String>>,
    #[serde(default)]
    teams: std::collections::BTreeMap<String, Spanned<String>>,
    terms: Option<Spanned<toml::Value>>,
    categories: Option<Spanned<toml::Value>>,
    words: Option<Spanned<toml::Value>>,
    critical_systems: Option<Spanned<toml::Value>>,
    replace_critical_systems: Option<Spanned<toml::Value>>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Applies a TOML document to `base`.
pub fn apply(
    mut base: Analyzer,
    text: &str,
    read_model: impl FnOnce(&str) -> Result<String, String>,
) -> Result<Analyzer, ConfigError> {
    let doc: Doc = toml::from_str(text).map_err(|e| ConfigError {
        line: e.span().map_or(1, |s| line_of(text, s.start)),
        reason: e.message().to_string(),
    })?;
    for (key, value) in [
        ("terms", &doc.terms),
        ("categories", &doc.categories),
        ("words", &doc.words),
        ("critical_systems", &doc.critical_systems),
        ("replace_critical_systems", &doc.replace_critical_systems),
    ] {
        if let Some(value) = value {
            return Err(ConfigError {
                line: line_of(text, value.span().start),
                reason: format!(
                    "{key} belonged to the rule-based analyzer and no longer does anything: \
                     the analyzer is a model fitted to labelled tickets; refit it on your own \
                     with `ticketd triage-train` and name the result with `model = \"FILE\"`"
                ),
            });
        }
    }
    if let Some(path) = &doc.model {
        let line = line_of(text, path.span().start);
        let model_text =
            read_model(path.get_ref()).map_err(|reason| ConfigError { line, reason })?;
        let model = Model::parse(&model_text).map_err(|e| ConfigError {
            line,
            reason: format!("{}: {e}", path.get_ref()),
        })?;
        base.model = Arc::new(model);
    }
    if let Some(version) = &doc.model_version {
        let mut model = (*base.model).clone();
        model.version = version.get_ref().clone();
        base.model = Arc::new(model);
    }
    let mut teams = (*base.teams).clone();
    for (name, team) in &doc.teams {
        let line = line_of(text, team.span().start);
        let category = Category::parse(name).ok_or_else(|| ConfigError {
            line,
            reason: format!("[teams]: unknown category {name:?}"),
        })?;
        if team.get_ref().trim().is_empty() {
            return Err(ConfigError {
                line,
                reason: format!("[teams]: the team for {name} is empty"),
            });
        }
        teams[category as usize] = team.get_ref().clone();
    }
    base.teams = Arc::new(teams);
    Ok(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_file(_: &str) -> Result<String, String> {
        Err("no files in this test".into())
    }

    #[test]
    fn teams_and_version_apply() {
        let a = Analyzer::from_toml_str(
            "model_version = \"acme-1\"\n[teams]\nsecurity = \"SOC\"\n",
            no_file,
        )
        .unwrap();
        assert_eq!(a.model_version(), "acme-1");
        assert_eq!(a.team_for(Category::Security), "SOC");
        assert_eq!(a.team_for(Category::Printing), "Print Services");
    }

    #[test]
    fn errors_name_the_line() {
        let err = Analyzer::from_toml_str("\n[teams]\nfrobs = \"x\"\n", no_file).unwrap_err();
        assert_eq!(err.line, 3, "{}", err.reason);
        let err = Analyzer::from_toml_str("\n\nbogus = 1\n", no_file).unwrap_err();
        assert_eq!(err.line, 3, "{}", err.reason);
        let err = Analyzer::from_toml_str("[terms]\nharm = [\"x\"]\n", no_file).unwrap_err();
        assert!(err.reason.contains("triage-train"), "{}", err.reason);
        let err = Analyzer::from_toml_str("model = \"m.txt\"\n", no_file).unwrap_err();
        assert_eq!(err.line, 1);
    }

    #[test]
    fn a_model_file_replaces_the_builtin() {
        let builtin = Analyzer::builtin();
        let text = builtin
            .model
            .to_text()
            .replacen("version\t", "version\trefit-", 1);
        let a = Analyzer::from_toml_str("model = \"m.txt\"\n", |_| Ok(text)).unwrap();
        assert!(a.model_version().starts_with("refit-"));
        let err =
            Analyzer::from_toml_str("model = \"m.txt\"\n", |_| Ok("nope".into())).unwrap_err();
        assert!(err.reason.contains("m.txt"), "{}", err.reason);
    }
}
