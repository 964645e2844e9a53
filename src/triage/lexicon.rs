//! The lexicon, as data: cue phrases and word classes, read from
//! `src/triage/lexicon.txt` (embedded at build).
//!
//! Nothing here decides anything. A phrase found in a ticket becomes a
//! feature (`k:concept:outage`, `k:category:network`, ...) and a word class
//! feeds the scope parser in [`super::features`]; the fitted model says how
//! much each one counts. Phrases are matched over the tokenizer's folded,
//! stemmed words, so "printers are down" matches "printer down".

use std::collections::HashMap;
use std::hash::Hasher;

use super::text;
use super::{ConfigError, IdMap, NameHash, name_hash};

/// The lexicon shipped with the binary.
pub const BUILTIN: &str = include_str!("lexicon.txt");

/// Word classes the scope parser reads (bit flags; see `class:` lines).
pub mod class {
    pub const QUANT: u32 = 1;
    pub const PQUANT: u32 = 1 << 1;
    pub const NEG: u32 = 1 << 2;
    pub const ORG: u32 = 1 << 3;
    pub const SITE: u32 = 1 << 4;
    pub const GROUP: u32 = 1 << 5;
    pub const POP: u32 = 1 << 6;
    pub const SHARED: u32 = 1 << 7;
    pub const DEVICE: u32 = 1 << 8;
    pub const DEPT: u32 = 1 << 9;
    pub const ISING: u32 = 1 << 10;
    pub const WE: u32 = 1 << 11;
    pub const EXTERNAL: u32 = 1 << 12;
    pub const DATA: u32 = 1 << 13;
    /// A noun a quantifier or a count can make the scope of a problem.
    pub const SCOPE: u32 = ORG | SITE | GROUP | POP | SHARED | DEVICE | DEPT | EXTERNAL | DATA;
    /// The classes by their names in the data file; other names are ignored.
    pub const NAMES: [(&str, u32); 14] = [
        ("quant", QUANT),
        ("pquant", PQUANT),
        ("neg", NEG),
        ("org", ORG),
        ("site", SITE),
        ("group", GROUP),
        ("pop", POP),
        ("shared", SHARED),
        ("device", DEVICE),
        ("dept", DEPT),
        ("ising", ISING),
        ("we", WE),
        ("external", EXTERNAL),
        ("data", DATA),
    ];

    /// The name of the first scope class in `bits`, for feature names.
    pub fn scope_name(bits: u32) -> &'static str {
        NAMES
            .iter()
            .find(|(_, bit)| bits & bit & SCOPE != 0)
            .map_or("thing", |(name, _)| name)
    }
}

/// Cue phrases and word classes, compiled for matching.
#[derive(Debug, Clone, Default)]
pub struct Lexicon {
    /// Hash of a phrase's words (joined by one space) -> its cues.
    phrases: IdMap<Vec<u16>>,
    /// Hashes of every phrase's leading words (one word, two, ...): matching
    /// stops as soon as the words so far start no phrase.
    prefixes: IdMap<()>,
    /// The longest phrase, in words.
    max_words: usize,
    /// Cue names, indexed by the ids in `phrases` (`concept:outage`, ...).
    cues: Vec<String>,
    /// Hash of a word -> its class bits.
    classes: IdMap<u32>,
    /// Hash of a number word -> the count it stands for.
    numbers: IdMap<u32>,
    /// `classes`, `numbers` and `prefixes` in one table, so the analyzer
    /// looks each word up once.
    words: IdMap<WordInfo>,
    /// `prefixes` and `phrases` in one table: every prefix's hash -> the
    /// range of its cues in `phrase_cues` (empty if it is no phrase).
    steps: IdMap<(u32, u32)>,
    phrase_cues: Vec<u16>,
}

/// What the lexicon knows of one word (by its hash).
#[derive(Debug, Clone, Copy, Default)]
pub struct WordInfo {
    /// Class bits (0 if none).
    pub class: u32,
    /// The count a number word stands for.
    pub number: Option<u32>,
    /// Some phrase starts with this word.
    pub starts_phrase: bool,
}

impl Lexicon {
    /// Parses the data file's format (see `src/triage/lexicon.txt`).
    pub fn parse(data: &str) -> Result<Lexicon, ConfigError> {
        let mut lexicon = Lexicon::default();
        let mut cue_ids: HashMap<String, u16> = HashMap::new();
        for (index, line) in data.lines().enumerate() {
            let bad = |reason: String| ConfigError {
                line: index + 1,
                reason,
            };
            let line = line.trim_end();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (kind, phrase) = line
                .split_once('\t')
                .ok_or_else(|| bad("expected KIND<TAB>phrase".into()))?;
            let words = text::phrase_words(phrase);
            if words.is_empty() {
                return Err(bad(format!("{phrase:?} has no words")));
            }
            if let Some(name) = kind.strip_prefix("class:") {
                if let Some((_, bit)) = class::NAMES.iter().find(|(n, _)| *n == name) {
                    for word in &words {
                        *lexicon
                            .classes
                            .entry(name_hash(word.as_bytes()))
                            .or_default() |= bit;
                    }
                }
            } else if let Some(value) = kind.strip_prefix("number:") {
                let value = value
                    .parse()
                    .map_err(|_| bad(format!("{value:?} is not a count")))?;
                // "dozens" folds onto "dozen": the first line for a word wins.
                lexicon
                    .numbers
                    .entry(name_hash(words[0].as_bytes()))
                    .or_insert(value);
            } else if kind.starts_with("concept:")
                || kind.starts_with("category:")
                || kind == "critical_system"
            {
                let next = lexicon.cues.len() as u16;
                let id = *cue_ids.entry(kind.to_string()).or_insert_with(|| {
                    lexicon.cues.push(kind.to_string());
                    next
                });
                let cues = lexicon.phrases.entry(phrase_hash(&words)).or_default();
                if !cues.contains(&id) {
                    cues.push(id);
                }
                for n in 1..=words.len() {
                    lexicon.prefixes.insert(phrase_hash(&words[..n]), ());
                }
                lexicon.max_words = lexicon.max_words.max(words.len());
            } else {
                return Err(bad(format!("unknown kind {kind:?}")));
            }
        }
        for (&hash, &class) in &lexicon.classes {
            lexicon.words.entry(hash).or_default().class = class;
        }
        for (&hash, &number) in &lexicon.numbers {
            lexicon.words.entry(hash).or_default().number = Some(number);
        }
        for &hash in lexicon.prefixes.keys() {
            lexicon.words.entry(hash).or_default().starts_phrase = true;
            let from = lexicon.phrase_cues.len() as u32;
            if let Some(cues) = lexicon.phrases.get(&hash) {
                lexicon.phrase_cues.extend_from_slice(cues);
            }
            let to = lexicon.phrase_cues.len() as u32;
            lexicon.steps.insert(hash, (from, to));
        }
        Ok(lexicon)
    }

    /// Everything known of the word whose [`name_hash`] is `hash`: what
    /// [`Lexicon::class_of`] and [`Lexicon::number`] say, and whether
    /// [`Lexicon::phrases_at`] can find anything starting with it.
    #[inline]
    pub fn word_info(&self, hash: u64) -> WordInfo {
        self.words.get(&hash).copied().unwrap_or_default()
    }

    /// The class bits of a word (0 if none).
    pub fn class_of(&self, word: &str) -> u32 {
        self.classes
            .get(&name_hash(word.as_bytes()))
            .copied()
            .unwrap_or(0)
    }

    /// The count a number word stands for ("dozen" is 12).
    pub fn number(&self, word: &str) -> Option<u32> {
        self.numbers.get(&name_hash(word.as_bytes())).copied()
    }

    /// The name of cue `id`.
    pub fn cue_name(&self, id: u16) -> &str {
        &self.cues[id as usize]
    }

    /// Every phrase starting at `words[0]`: calls `found(length, cue ids)`
    /// for each length that is a phrase.
    pub fn phrases_at<'a>(
        &self,
        mut words: impl Iterator<Item = &'a str>,
        found: impl FnMut(usize, &[u16]),
    ) {
        let Some(first) = words.next() else { return };
        let mut hash = NameHash::new();
        hash.write(first.as_bytes());
        self.phrases_after(hash, words, found);
    }

    /// [`Lexicon::phrases_at`] with the first word already hashed: `first`
    /// is a [`NameHash`] that has been written the first word (and not
    /// finished), `rest` the words after it.
    #[inline]
    pub fn phrases_after<'a>(
        &self,
        first: NameHash,
        mut rest: impl Iterator<Item = &'a str>,
        mut found: impl FnMut(usize, &[u16]),
    ) {
        let mut hash = first;
        for length in 1..=self.max_words {
            if length > 1 {
                let Some(word) = rest.next() else { return };
                hash.write(b" ");
                hash.write(word.as_bytes());
            }
            let Some(&(from, to)) = self.steps.get(&hash.finish()) else {
                return;
            };
            if from < to {
                found(length, &self.phrase_cues[from as usize..to as usize]);
            }
        }
    }
}

fn phrase_hash(words: &[String]) -> u64 {
    let mut hash = NameHash::new();
    for (i, word) in words.iter().enumerate() {
        if i > 0 {
            hash.write(b" ");
        }
        hash.write(word.as_bytes());
    }
    hash.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_lexicon_parses_and_matches_folded_words() {
        let lexicon = Lexicon::parse(BUILTIN).unwrap();
        let folded = |w: &str| text::phrase_words(w).remove(0);
        assert!(lexicon.class_of(&folded("everyone")) & class::PQUANT != 0);
        assert!(
            lexicon.class_of(&folded("wards")) & class::GROUP != 0,
            "stemmed"
        );
        assert_eq!(lexicon.number("dozen"), Some(12));
        let words = text::phrase_words("the whole company is down");
        let mut found = Vec::new();
        for start in 0..words.len() {
            lexicon.phrases_at(words[start..].iter().map(String::as_str), |_, cues| {
                found.extend(cues.iter().map(|&c| lexicon.cue_name(c).to_string()))
            });
        }
        assert!(found.iter().any(|c| c == "concept:widespread"), "{found:?}");
    }

    #[test]
    fn a_bad_line_is_named() {
        let err = Lexicon::parse("# ok\nconcept:outage\tdown\nnonsense\n").unwrap_err();
        assert_eq!(err.line, 3);
        let err = Lexicon::parse("frobnicate:x\tdown\n").unwrap_err();
        assert!(err.reason.contains("unknown kind"), "{}", err.reason);
    }
}
