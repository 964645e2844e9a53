//! From ticket text to the model's features.
//!
//! Every feature is a name (hashed, so the model finds it without
//! allocating) with a value and, where it has one, the span of the
//! ticket it came from, so an explanation can quote the ticket's words:
//!
//! | prefix | what | value |
//! |---|---|---|
//! | `w:` | a word of the description (folded, stemmed) | 1/√(words) |
//! | `b:` | two neighbouring words in one clause | 1/√(pairs) |
//! | `c:` | a 4-character piece of a word (`^prin`, `nter`): typos, inflections | 1/√(pieces) |
//! | `s:` | a word of the system field | 1/√(words) |
//! | `k:` | a lexicon cue in the description; `k:neg:` after a negator in the same clause | 1 |
//! | `ks:` | a lexicon cue in the system field | 1 |
//! | `q:` | a scope parse: a quantifier over a place or group (`q:all:site`), a count of people or things (`q:n21-100:pop`), who speaks (`q:i`, `q:we`) | 1 |
//! | `m:` | how it is written: capitals, exclamation marks, a pasted log, a forwarded email, a question, length | 1 |
//!
//! The same code extracts features for training and for analysis, so the
//! two cannot disagree.

use super::lexicon::{Lexicon, class};
use super::name_hash;
use super::text;

/// Which field a feature's span is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Description,
    System,
    /// A feature of the whole text (how it is written).
    Whole,
}

/// Groups whose values are normalized together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    Word,
    Pair,
    Piece,
    System,
    Flag,
}

/// One feature of one ticket.
#[derive(Debug, Clone, Copy)]
pub struct Feature {
    pub hash: u64,
    pub value: f32,
    pub field: Field,
    /// Byte span in its field.
    pub start: u32,
    pub end: u32,
    group: Group,
}

impl Feature {
    /// A feature with no span (training scores pre-extracted features).
    pub fn plain(hash: u64, value: f32) -> Feature {
        Feature {
            hash,
            value,
            field: Field::Whole,
            start: 0,
            end: 0,
            group: Group::Flag,
        }
    }
}

/// One token, with its folded word kept in [`Features::words`].
#[derive(Debug, Clone, Copy)]
struct Token {
    word: (u32, u32),
    start: u32,
    end: u32,
    flags: u16,
    clause: u16,
    num: u32,
    class: u32,
}

/// Reusable buffers for one thread's extractions. `names`, when on, keeps
/// each feature's name beside it (training and the model file need them;
/// analysis does not).
#[derive(Debug, Default)]
pub struct Features {
    pub list: Vec<Feature>,
    pub names: Option<Vec<String>>,
    tokens: Vec<Token>,
    words: String,
    name: String,
    /// Scratch for word pieces and for dropping repeated features.
    chars: Vec<char>,
    seen: std::collections::HashSet<u64, std::hash::BuildHasherDefault<super::IdHasher>>,
    keep: Vec<bool>,
    found: Vec<(usize, usize, u16)>,
}

fn word_of<'a>(words: &'a str, token: &Token) -> &'a str {
    &words[token.word.0 as usize..token.word.1 as usize]
}

/// Bucket names for counts of people or things.
fn count_bucket(n: u32) -> &'static str {
    match n {
        0 | 1 => "1",
        2..=5 => "2-5",
        6..=20 => "6-20",
        21..=100 => "21-100",
        _ => "100+",
    }
}

impl Features {
    /// Features that keep their names (for training).
    pub fn named() -> Features {
        Features {
            names: Some(Vec::new()),
            ..Features::default()
        }
    }

    fn word(&self, token: &Token) -> &str {
        word_of(&self.words, token)
    }

    /// Adds the feature named by `self.name`.
    fn push(&mut self, group: Group, field: Field, start: u32, end: u32) {
        self.list.push(Feature {
            hash: name_hash(self.name.as_bytes()),
            value: 1.0,
            field,
            start,
            end,
            group,
        });
        if let Some(names) = &mut self.names {
            names.push(self.name.clone());
        }
    }

    fn tokenize(&mut self, lexicon: &Lexicon, text: &str) {
        self.tokens.clear();
        self.words.clear();
        let (tokens, words) = (&mut self.tokens, &mut self.words);
        text::tokenize_with(text, |word, start, end, flags, _, clause, num| {
            let from = words.len() as u32;
            words.push_str(word);
            let num = if flags & text::F_NUMBER != 0 {
                num
            } else {
                lexicon.number(word).unwrap_or(0)
            };
            tokens.push(Token {
                word: (from, words.len() as u32),
                start: start as u32,
                end: end as u32,
                flags,
                clause,
                num,
                class: lexicon.class_of(word),
            });
        });
    }

    /// Extracts every feature of a ticket into `self.list` (and names).
    pub fn extract(&mut self, lexicon: &Lexicon, description: &str, system: &str) {
        self.list.clear();
        if let Some(names) = &mut self.names {
            names.clear();
        }
        self.tokenize(lexicon, system);
        for i in 0..self.tokens.len() {
            let t = self.tokens[i];
            self.name.clear();
            self.name.push_str("s:");
            self.name.push_str(word_of(&self.words, &t));
            self.push(Group::System, Field::System, t.start, t.end);
        }
        self.cues(lexicon, "ks:", Field::System);
        self.tokenize(lexicon, description);
        self.words_and_pieces(Field::Description);
        self.cues(lexicon, "k:", Field::Description);
        self.scope();
        self.manner(description);
        self.finish();
    }

    fn words_and_pieces(&mut self, field: Field) {
        for i in 0..self.tokens.len() {
            let t = self.tokens[i];
            let (w0, w1) = (t.word.0 as usize, t.word.1 as usize);
            let number = t.flags & text::F_NUMBER != 0;
            self.name.clear();
            if number {
                self.name.push_str("w:#");
            } else {
                self.name.push_str("w:");
                self.name.push_str(&self.words[w0..w1]);
            }
            self.push(Group::Word, field, t.start, t.end);
            if let Some(next) = self.tokens.get(i + 1).copied()
                && next.clause == t.clause
            {
                self.name.clear();
                self.name.push_str("b:");
                self.name.push_str(&self.words[w0..w1]);
                self.name.push(' ');
                self.name
                    .push_str(&self.words[next.word.0 as usize..next.word.1 as usize]);
                self.push(Group::Pair, field, t.start, next.end);
            }
            if number {
                continue;
            }
            self.chars.clear();
            self.chars.push('^');
            self.chars.extend(self.words[w0..w1].chars());
            self.chars.push('$');
            if self.chars.len() < 5 {
                continue;
            }
            for start in 0..self.chars.len() - 3 {
                self.name.clear();
                self.name.push_str("c:");
                for k in start..start + 4 {
                    self.name.push(self.chars[k]);
                }
                self.push(Group::Piece, field, t.start, t.end);
            }
        }
    }

    /// Lexicon phrases; a negator up to three words before a phrase, in its
    /// clause, makes it `neg:`.
    fn cues(&mut self, lexicon: &Lexicon, prefix: &str, field: Field) {
        let mut found = std::mem::take(&mut self.found);
        found.clear();
        for i in 0..self.tokens.len() {
            let words = self.tokens[i..].iter().map(|t| self.word(t));
            lexicon.phrases_at(words, |length, cues| {
                found.extend(cues.iter().map(|&cue| (i, length, cue)));
            });
        }
        for &(i, length, cue) in &found {
            let first = self.tokens[i];
            let last = self.tokens[i + length - 1];
            let negated = self.tokens[i.saturating_sub(3)..i]
                .iter()
                .any(|t| t.clause == first.clause && t.class & class::NEG != 0);
            self.name.clear();
            self.name.push_str(prefix);
            if negated {
                self.name.push_str("neg:");
            }
            self.name.push_str(lexicon.cue_name(cue));
            self.push(Group::Flag, field, first.start, last.end);
        }
        self.found = found;
    }

    /// Scope: quantifiers over places and groups, counts, who is speaking.
    fn scope(&mut self) {
        let field = Field::Description;
        let mut speakers = (None, None);
        for i in 0..self.tokens.len() {
            let t = self.tokens[i];
            if t.class & class::ISING != 0 && speakers.0.is_none() {
                speakers.0 = Some(t);
            }
            if t.class & class::WE != 0 && speakers.1.is_none() {
                speakers.1 = Some(t);
            }
            if t.class & class::PQUANT != 0 {
                self.name.clear();
                self.name.push_str("q:everyone-or-nobody");
                self.push(Group::Flag, field, t.start, t.end);
            }
            let quantifier = t.class & class::QUANT != 0;
            let count = t.num > 0 && t.flags & text::F_CLOCK == 0;
            if !(quantifier || count) {
                continue;
            }
            let noun = self.tokens[i + 1..]
                .iter()
                .take(3)
                .take_while(|n| n.clause == t.clause)
                .find(|n| n.class & class::SCOPE != 0)
                .copied();
            if let Some(noun) = noun {
                self.name.clear();
                self.name.push_str("q:");
                self.name.push_str(if quantifier {
                    "all"
                } else {
                    count_bucket(t.num)
                });
                self.name.push(':');
                self.name.push_str(class::scope_name(noun.class));
                self.push(Group::Flag, field, t.start, noun.end);
            }
        }
        if let Some(t) = speakers.0 {
            self.name.clear();
            self.name.push_str("q:i");
            self.push(Group::Flag, field, t.start, t.end);
        }
        if let Some(t) = speakers.1 {
            self.name.clear();
            self.name.push_str("q:we");
            self.push(Group::Flag, field, t.start, t.end);
        }
    }

    /// How it is written, whatever it says.
    fn manner(&mut self, description: &str) {
        let caps = self
            .tokens
            .iter()
            .filter(|t| t.flags & text::F_ALLCAPS != 0)
            .count();
        let lines = description.lines().count();
        let log_lines = description
            .lines()
            .filter(|line| {
                let line = line.trim_start();
                line.starts_with("at ")
                    || line.contains("Exception")
                    || line.contains("ERROR")
                    || line.contains("FATAL")
                    || looks_timestamped(line)
            })
            .count();
        let lower = description.to_ascii_lowercase();
        let flags = [
            ("m:capitals", caps >= 3),
            ("m:exclamations", description.matches('!').count() >= 2),
            ("m:question", description.contains('?')),
            ("m:log", log_lines >= 1),
            (
                "m:forwarded",
                lower.contains("from:") && lower.contains("subject:"),
            ),
            ("m:multiline", lines >= 4),
            (
                match self.tokens.len() {
                    0..=12 => "m:length:short",
                    13..=40 => "m:length:medium",
                    41..=100 => "m:length:long",
                    _ => "m:length:very-long",
                },
                true,
            ),
        ];
        for (name, on) in flags {
            if on {
                self.name.clear();
                self.name.push_str(name);
                self.push(Group::Flag, Field::Whole, 0, 0);
            }
        }
    }

    /// Keeps the first of each repeated feature, and scales each n-gram
    /// group to unit length so a long ticket does not outweigh a short one.
    fn finish(&mut self) {
        self.seen.clear();
        self.keep.clear();
        for feature in &self.list {
            self.keep.push(self.seen.insert(feature.hash));
        }
        let keep = &self.keep;
        let mut index = 0;
        self.list.retain(|_| {
            index += 1;
            keep[index - 1]
        });
        if let Some(names) = &mut self.names {
            let mut index = 0;
            names.retain(|_| {
                index += 1;
                keep[index - 1]
            });
        }
        for group in [Group::Word, Group::Pair, Group::Piece, Group::System] {
            let n = self.list.iter().filter(|f| f.group == group).count();
            if n > 0 {
                let value = 1.0 / (n as f32).sqrt();
                for f in self.list.iter_mut().filter(|f| f.group == group) {
                    f.value = value;
                }
            }
        }
    }
}

/// "2024-03-06 03:14:22", "[10:02:41]", "03:14:22.123": a log line.
fn looks_timestamped(line: &str) -> bool {
    let b = line.as_bytes();
    b.windows(8).any(|w| {
        w[0].is_ascii_digit()
            && w[1].is_ascii_digit()
            && w[2] == b':'
            && w[3].is_ascii_digit()
            && w[4].is_ascii_digit()
            && w[5] == b':'
            && w[6].is_ascii_digit()
            && w[7].is_ascii_digit()
    })
}

/// The feature name's hash, for tests and the model file.
pub fn hash_name(name: &str) -> u64 {
    name_hash(name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::super::lexicon::BUILTIN;
    use super::*;

    fn names(description: &str, system: &str) -> Vec<String> {
        let lexicon = Lexicon::parse(BUILTIN).unwrap();
        let mut f = Features::named();
        f.extract(&lexicon, description, system);
        f.names.unwrap()
    }

    #[test]
    fn words_pairs_pieces_and_the_system_field() {
        let n = names("Printers are down", "Print server");
        for want in [
            "w:printer",
            "b:printer are",
            "c:^pri",
            "s:print",
            "m:length:short",
        ] {
            assert!(n.iter().any(|x| x == want), "{want} in {n:?}");
        }
    }

    #[test]
    fn scope_parses_quantifiers_counts_and_speakers() {
        let n = names(
            "The whole site is offline and 40 staff cannot work. I think everyone is affected.",
            "",
        );
        for want in ["q:all:site", "q:21-100:pop", "q:i", "q:everyone-or-nobody"] {
            assert!(n.iter().any(|x| x == want), "{want} in {n:?}");
        }
    }

    #[test]
    fn a_negator_in_the_clause_marks_the_cue() {
        let n = names("Nothing is down, just a question", "");
        assert!(n.iter().any(|x| x.starts_with("k:neg:")), "{n:?}");
    }

    #[test]
    fn repeated_features_count_once_and_groups_have_unit_length() {
        let lexicon = Lexicon::parse(BUILTIN).unwrap();
        let mut f = Features::named();
        f.extract(&lexicon, "down down down down", "");
        let words: Vec<_> = f.list.iter().filter(|x| x.group == Group::Word).collect();
        assert_eq!(words.len(), 1);
        assert!((words[0].value - 1.0).abs() < 1e-6);
        assert_eq!(words[0].hash, hash_name("w:down"));
    }

    #[test]
    fn manner_flags() {
        let n = names(
            "PRINTER IS BROKEN AGAIN!!!\n[10:02:41] ERROR spooler\n2\n3",
            "",
        );
        for want in ["m:capitals", "m:exclamations", "m:log", "m:multiline"] {
            assert!(n.iter().any(|x| x == want), "{want} in {n:?}");
        }
    }
}
