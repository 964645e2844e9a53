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

use std::hash::Hasher;

use super::lexicon::{Lexicon, class};
use super::text;
use super::{NameHash, NameStream, name_hash};

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

impl Group {
    const COUNT: usize = 5;
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
    /// Some lexicon phrase starts with this word.
    starts_phrase: bool,
    /// The word written into a fresh [`NameHash`] (phrase matching goes on
    /// from there).
    state: NameHash,
}

/// The feature name being written: hashed as it is written (the same hash
/// as the whole name's), its text kept only when the names are.
#[derive(Debug, Default)]
struct Name {
    hash: NameStream,
    text: String,
    keep_text: bool,
}

impl Name {
    #[inline]
    fn start(&mut self, prefix: &str) {
        self.hash = NameStream::new();
        self.hash.write(prefix.as_bytes());
        if self.keep_text {
            self.text.clear();
            self.text.push_str(prefix);
        }
    }

    #[inline]
    fn add(&mut self, part: &str) {
        self.hash.write(part.as_bytes());
        if self.keep_text {
            self.text.push_str(part);
        }
    }

    #[inline]
    fn add_char(&mut self, c: char) {
        let mut utf8 = [0u8; 4];
        self.add(c.encode_utf8(&mut utf8));
    }
}

/// The hash of `c:` followed by four ASCII bytes: the name is six bytes,
/// so [`NameHash`] folds in one zero-padded word and then the length.
#[inline]
fn piece_hash(piece: [u8; 4]) -> u64 {
    let mut hash = NameHash::new();
    hash.add(u64::from(b'c') | u64::from(b':') << 8 | u64::from(u32::from_le_bytes(piece)) << 16);
    hash.add(6);
    hash.finish()
}

/// The hashes already seen in one extraction: open addressing over a table
/// that is reused, with a round number instead of clearing it.
#[derive(Debug, Default)]
struct Seen {
    slots: Vec<(u64, u32)>,
    round: u32,
}

impl Seen {
    /// Forgets everything; room for `n` hashes.
    fn reset(&mut self, n: usize) {
        let want = (2 * n).next_power_of_two().max(64);
        if self.slots.len() < want || self.round == u32::MAX {
            let len = want.max(self.slots.len());
            self.slots.clear();
            self.slots.resize(len, (0, 0));
            self.round = 0;
        }
        self.round += 1;
    }

    /// Whether `hash` is new (then it is remembered). New or repeated is
    /// not predictable, so the usual case (the first slot is free or holds
    /// `hash`) is decided without a branch.
    #[inline]
    fn insert(&mut self, hash: u64) -> bool {
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        loop {
            let slot = self.slots[i];
            let free = slot.1 != self.round;
            if free || slot.0 == hash {
                self.slots[i] = if free { (hash, self.round) } else { slot };
                return free;
            }
            i = (i + 1) & mask;
        }
    }
}

/// Reusable buffers for one thread's extractions. `names`, when on, keeps
/// each feature's name beside it (training and the model file need them;
/// analysis does not, and builds no names: each is hashed as it is
/// written).
#[derive(Debug, Default)]
pub struct Features {
    pub list: Vec<Feature>,
    pub names: Option<Vec<String>>,
    tokens: Vec<Token>,
    words: String,
    name: Name,
    /// Scratch for word pieces and for dropping repeated features.
    chars: Vec<char>,
    bytes: Vec<u8>,
    seen: Seen,
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
    #[inline]
    fn push(&mut self, group: Group, field: Field, start: u32, end: u32) {
        self.push_hash(self.name.hash.finish(), group, field, start, end);
    }

    /// Adds a feature by its name's hash (`self.name.text` is its name
    /// when the names are kept).
    #[inline]
    fn push_hash(&mut self, hash: u64, group: Group, field: Field, start: u32, end: u32) {
        self.list.push(Feature {
            hash,
            value: 1.0,
            field,
            start,
            end,
            group,
        });
        if let Some(names) = &mut self.names {
            debug_assert_eq!(hash, name_hash(self.name.text.as_bytes()));
            names.push(self.name.text.clone());
        }
    }

    fn tokenize(&mut self, lexicon: &Lexicon, text: &str) {
        self.tokens.clear();
        self.words.clear();
        let (tokens, words) = (&mut self.tokens, &mut self.words);
        text::tokenize_with(text, |word, start, end, flags, _, clause, num| {
            let from = words.len() as u32;
            words.push_str(word);
            let mut state = NameHash::new();
            state.write(word.as_bytes());
            let info = lexicon.word_info(state.finish());
            let num = if flags & text::F_NUMBER != 0 {
                num
            } else {
                info.number.unwrap_or(0)
            };
            tokens.push(Token {
                word: (from, words.len() as u32),
                start: start as u32,
                end: end as u32,
                flags,
                clause,
                num,
                class: info.class,
                starts_phrase: info.starts_phrase,
                state,
            });
        });
    }

    /// Extracts every feature of a ticket into `self.list` (and names).
    pub fn extract(&mut self, lexicon: &Lexicon, description: &str, system: &str) {
        self.list.clear();
        if let Some(names) = &mut self.names {
            names.clear();
        }
        self.name.keep_text = self.names.is_some();
        self.tokenize(lexicon, system);
        for i in 0..self.tokens.len() {
            let t = self.tokens[i];
            self.name.start("s:");
            self.name.add(word_of(&self.words, &t));
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
            if number {
                self.name.start("w:#");
            } else {
                self.name.start("w:");
                self.name.add(&self.words[w0..w1]);
            }
            self.push(Group::Word, field, t.start, t.end);
            if let Some(next) = self.tokens.get(i + 1).copied()
                && next.clause == t.clause
            {
                self.name.start("b:");
                self.name.add(&self.words[w0..w1]);
                self.name.add(" ");
                self.name
                    .add(&self.words[next.word.0 as usize..next.word.1 as usize]);
                self.push(Group::Pair, field, t.start, next.end);
            }
            if number {
                continue;
            }
            if self.words[w0..w1].is_ascii() {
                // Pieces of an ASCII word are four bytes: hashed directly.
                self.bytes.clear();
                self.bytes.push(b'^');
                self.bytes.extend_from_slice(&self.words.as_bytes()[w0..w1]);
                self.bytes.push(b'$');
                if self.bytes.len() < 5 {
                    continue;
                }
                for start in 0..self.bytes.len() - 3 {
                    let piece: [u8; 4] =
                        self.bytes[start..start + 4].try_into().expect("four bytes");
                    if self.name.keep_text {
                        self.name.text.clear();
                        self.name.text.push_str("c:");
                        self.name.text.extend(piece.map(char::from));
                    }
                    self.push_hash(piece_hash(piece), Group::Piece, field, t.start, t.end);
                }
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
                self.name.start("c:");
                for k in start..start + 4 {
                    self.name.add_char(self.chars[k]);
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
            let first = &self.tokens[i];
            if !first.starts_phrase {
                continue;
            }
            let rest = self.tokens[i + 1..].iter().map(|t| self.word(t));
            lexicon.phrases_after(first.state, rest, |length, cues| {
                found.extend(cues.iter().map(|&cue| (i, length, cue)));
            });
        }
        for &(i, length, cue) in &found {
            let first = self.tokens[i];
            let last = self.tokens[i + length - 1];
            let negated = self.tokens[i.saturating_sub(3)..i]
                .iter()
                .any(|t| t.clause == first.clause && t.class & class::NEG != 0);
            self.name.start(prefix);
            if negated {
                self.name.add("neg:");
            }
            self.name.add(lexicon.cue_name(cue));
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
                self.name.start("q:everyone-or-nobody");
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
                self.name.start("q:");
                self.name.add(if quantifier {
                    "all"
                } else {
                    count_bucket(t.num)
                });
                self.name.add(":");
                self.name.add(class::scope_name(noun.class));
                self.push(Group::Flag, field, t.start, noun.end);
            }
        }
        if let Some(t) = speakers.0 {
            self.name.start("q:i");
            self.push(Group::Flag, field, t.start, t.end);
        }
        if let Some(t) = speakers.1 {
            self.name.start("q:we");
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
                self.name.start(name);
                self.push(Group::Flag, Field::Whole, 0, 0);
            }
        }
    }

    /// Keeps the first of each repeated feature, and scales each n-gram
    /// group to unit length so a long ticket does not outweigh a short one.
    fn finish(&mut self) {
        self.seen.reset(self.list.len());
        let mut counts = [0usize; Group::COUNT];
        let mut kept = 0;
        for i in 0..self.list.len() {
            let f = self.list[i];
            let new = self.seen.insert(f.hash);
            // Written either way (kept <= i); only a new one is kept.
            self.list[kept] = f;
            if new && let Some(names) = &mut self.names {
                names.swap(kept, i);
            }
            counts[f.group as usize] += usize::from(new);
            kept += usize::from(new);
        }
        self.list.truncate(kept);
        if let Some(names) = &mut self.names {
            names.truncate(kept);
        }
        let value = counts.map(|n| 1.0 / (n as f32).sqrt());
        for f in &mut self.list {
            // Every feature is pushed with 1; flags keep it.
            if f.group != Group::Flag {
                f.value = value[f.group as usize];
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
    fn pieces_hash_as_their_names() {
        for piece in [*b"^pri", *b"nter", *b"er$\0", *b"a b:"] {
            let mut name = b"c:".to_vec();
            name.extend_from_slice(&piece);
            assert_eq!(piece_hash(piece), name_hash(&name));
        }
    }

    #[test]
    fn names_and_hashes_agree_for_any_text() {
        let lexicon = Lexicon::parse(BUILTIN).unwrap();
        let mut f = Features::named();
        f.extract(
            &lexicon,
            "Straße İstanbul naïve café’s WiFi isn't working - 3 pm; nobody at HQ can log in!!",
            "Ünïcode sérver",
        );
        let names = f.names.as_ref().unwrap();
        assert_eq!(names.len(), f.list.len());
        for (name, feature) in names.iter().zip(&f.list) {
            assert_eq!(feature.hash, hash_name(name), "{name}");
        }
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
