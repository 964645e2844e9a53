//! TOML configuration: extends the built-in lexicon.
//!
//! Every key is optional; unknown keys are rejected (with their line) so a
//! typo does not silently do nothing.
//!
//! ```toml
//! model_version = "acme-hospital-1"
//!
//! # Systems whose tickets have widespread impact (matched in the system
//! # field, and weakly in the description). Added to the built-in list
//! # unless replace_critical_systems = true.
//! critical_systems = ["EHR", "nurse call", "pharmacy robot"]
//! replace_critical_systems = false
//!
//! [teams]            # category -> team routing
//! security = "SOC"
//! printing = "Ward IT"
//!
//! [terms]            # extra cue phrases per concept
//! widespread = ["all wards", "whole trust"]
//! group = ["the ward", "theatre team"]
//! single = ["just my login"]
//! harm = ["patient fall", "drug error"]
//! life_safety = ["bed alarm silent"]   # harm to people: a ward-wide failure is widespread
//! security_incident = ["badge cloned"]
//! data_loss = ["scans missing"]
//! outage = ["cannot chart"]
//! degraded = ["slow to chart"]
//! intermittent = ["every other shift"]
//! workaround = ["paper charts", "downtime procedure"]
//! reassurance = ["works on the other cart"]
//! hedge = ["when the ward is quiet"]
//! request = ["please order"]
//! deadline = ["before handover"]
//! alarm = ["stat"]
//! threat = ["suspicious usb"]
//! problem = ["acting up"]
//! neutral = ["code blue drill"]   # phrases that suppress other readings
//!
//! [categories]       # extra cue phrases per category
//! hardware = ["infusion pump", "wristband printer"]
//! printing = ["wristband"]
//!
//! [words]            # single words for the scope parser
//! sites = ["ward block"]          # multi-word sites/groups/populations/
//! groups = ["ward", "theatre"]     # departments become scope phrases
//! populations = ["nurses", "porters"]
//! departments = ["radiology"]
//! devices = ["cart"]               # devices, shared, data: single words only
//! shared = ["pacs"]
//! data = ["scans"]
//! ```

use serde::Deserialize;
use toml::Spanned;

use super::engine::Lexicon;
use super::lexicon::{Concept, wc};
use super::{Category, ConfigError};

type Terms = Option<Vec<Spanned<String>>>;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Doc {
    model_version: Option<Spanned<String>>,
    #[serde(default)]
    critical_systems: Vec<Spanned<String>>,
    #[serde(default)]
    replace_critical_systems: bool,
    #[serde(default)]
    teams: TeamsDoc,
    #[serde(default)]
    terms: TermsDoc,
    #[serde(default)]
    categories: CategoriesDoc,
    #[serde(default)]
    words: WordsDoc,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TeamsDoc {
    network: Option<Spanned<String>>,
    hardware: Option<Spanned<String>>,
    software: Option<Spanned<String>>,
    security: Option<Spanned<String>>,
    access: Option<Spanned<String>>,
    database: Option<Spanned<String>>,
    email: Option<Spanned<String>>,
    printing: Option<Spanned<String>>,
    telephony: Option<Spanned<String>>,
    infrastructure: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CategoriesDoc {
    network: Terms,
    hardware: Terms,
    software: Terms,
    security: Terms,
    access: Terms,
    database: Terms,
    email: Terms,
    printing: Terms,
    telephony: Terms,
    infrastructure: Terms,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TermsDoc {
    widespread: Terms,
    widespread_weak: Terms,
    group: Terms,
    single: Terms,
    harm: Terms,
    life_safety: Terms,
    security_incident: Terms,
    data_loss: Terms,
    outage: Terms,
    degraded: Terms,
    intermittent: Terms,
    workaround: Terms,
    reassurance: Terms,
    hedge: Terms,
    request: Terms,
    deadline: Terms,
    alarm: Terms,
    threat: Terms,
    problem: Terms,
    neutral: Terms,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct WordsDoc {
    sites: Terms,
    groups: Terms,
    populations: Terms,
    departments: Terms,
    devices: Terms,
    shared: Terms,
    data: Terms,
}

/// Byte offset -> 1-based line number.
pub fn line_of(text: &str, offset: usize) -> usize {
    let off = offset.min(text.len());
    text.as_bytes()[..off]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn err(text: &str, offset: usize, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        line: line_of(text, offset),
        reason: reason.into(),
    }
}

/// Parses the document and returns the extended lexicon and model version.
pub(crate) fn apply(text: &str) -> Result<(Lexicon, Option<String>), ConfigError> {
    let doc: Doc = toml::from_str(text).map_err(|e| {
        let off = e.span().map(|s| s.start).unwrap_or(0);
        err(text, off, e.message().trim().to_string())
    })?;
    let mut lx = Lexicon::builtin();

    let check = |t: &Spanned<String>| -> Result<(), ConfigError> {
        let v = t.get_ref();
        if !v.chars().any(|c| c.is_alphanumeric()) {
            return Err(err(
                text,
                t.span().start,
                format!("term {v:?} has no words"),
            ));
        }
        if v.len() > 200 {
            return Err(err(text, t.span().start, "term longer than 200 characters"));
        }
        Ok(())
    };

    if doc.replace_critical_systems {
        lx.clear_critical();
    }
    for t in &doc.critical_systems {
        check(t)?;
        lx.add_phrase(t.get_ref(), None, None, true);
    }

    let teams = [
        (Category::Network, &doc.teams.network),
        (Category::Hardware, &doc.teams.hardware),
        (Category::Software, &doc.teams.software),
        (Category::Security, &doc.teams.security),
        (Category::Access, &doc.teams.access),
        (Category::Database, &doc.teams.database),
        (Category::Email, &doc.teams.email),
        (Category::Printing, &doc.teams.printing),
        (Category::Telephony, &doc.teams.telephony),
        (Category::Infrastructure, &doc.teams.infrastructure),
    ];
    for (c, t) in teams {
        if let Some(t) = t {
            if t.get_ref().trim().is_empty() {
                return Err(err(text, t.span().start, "team name is empty"));
            }
            lx.teams[c as usize] = t.get_ref().trim().to_string();
        }
    }

    let t = &doc.terms;
    let concepts: [(&Terms, Concept); 20] = [
        (&t.widespread, Concept::Widespread),
        (&t.widespread_weak, Concept::WidespreadWeak),
        (&t.group, Concept::Group),
        (&t.single, Concept::Single),
        (&t.harm, Concept::Harm),
        (&t.life_safety, Concept::LifeSafety),
        (&t.security_incident, Concept::SecurityIncident),
        (&t.data_loss, Concept::DataLoss),
        (&t.outage, Concept::Outage),
        (&t.degraded, Concept::Degraded),
        (&t.intermittent, Concept::Intermittent),
        (&t.workaround, Concept::Workaround),
        (&t.reassurance, Concept::Reassurance),
        (&t.hedge, Concept::Hedge),
        (&t.request, Concept::Request),
        (&t.deadline, Concept::Deadline),
        (&t.alarm, Concept::Alarm),
        (&t.threat, Concept::Threat),
        (&t.problem, Concept::Problem),
        (&t.neutral, Concept::Neutral),
    ];
    for (terms, concept) in concepts {
        for term in terms.iter().flatten() {
            check(term)?;
            lx.add_phrase(term.get_ref(), Some(concept), None, false);
        }
    }

    let c = &doc.categories;
    let cats = [
        (&c.network, Category::Network),
        (&c.hardware, Category::Hardware),
        (&c.software, Category::Software),
        (&c.security, Category::Security),
        (&c.access, Category::Access),
        (&c.database, Category::Database),
        (&c.email, Category::Email),
        (&c.printing, Category::Printing),
        (&c.telephony, Category::Telephony),
        (&c.infrastructure, Category::Infrastructure),
    ];
    for (terms, cat) in cats {
        for term in terms.iter().flatten() {
            check(term)?;
            // organisation-specific terms are decisive
            lx.add_phrase(term.get_ref(), None, Some((cat, 5)), false);
        }
    }

    let w = &doc.words;
    let words: [(&Terms, u32, Option<Concept>); 7] = [
        (&w.sites, wc::SITE, Some(Concept::Widespread)),
        (&w.groups, wc::GROUP, Some(Concept::Group)),
        (&w.populations, wc::POP, Some(Concept::Group)),
        (&w.departments, wc::DEPT, Some(Concept::Group)),
        (&w.devices, wc::DEVICE, None),
        (&w.shared, wc::SHARED, None),
        (&w.data, wc::DATA, None),
    ];
    for (terms, class, fallback) in words {
        for term in terms.iter().flatten() {
            check(term)?;
            if lx.add_word_class(term.get_ref(), class) {
                continue;
            }
            match fallback {
                // a multi-word site or group becomes a scope phrase
                Some(c) => {
                    lx.add_phrase(term.get_ref(), Some(c), None, false);
                }
                None => {
                    return Err(err(
                        text,
                        term.span().start,
                        format!("{:?} must be a single word", term.get_ref()),
                    ));
                }
            }
        }
    }

    lx.finish();
    let version = match doc.model_version {
        Some(v) if v.get_ref().trim().is_empty() => {
            return Err(err(text, v.span().start, "model_version is empty"));
        }
        Some(v) => Some(v.into_inner()),
        None => None,
    };
    Ok((lx, version))
}
