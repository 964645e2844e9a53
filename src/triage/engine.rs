//! The compiled lexicon and the rule engine.
//!
//! The rules look at neighbouring tokens by index, hence the index loops.
#![allow(clippy::needless_range_loop)]

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::lexicon::{self, Concept, wc};
use super::text::{self, NONE, Tok};
use super::{Analysis, Category, Priority, Signal, Triage};

/// FNV-1a: small keys, no DoS concern (the keys are our own lexicon).
#[derive(Default)]
pub struct Fnv(u64);
impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf29ce484222325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
        self.0 = h;
    }
}
type FnvMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

/// One cue phrase, as token ids, with what it signals.
#[derive(Debug, Clone)]
pub struct Phrase {
    pub words: Box<[u32]>,
    pub cues: Vec<Concept>,
    pub cat: [u8; 10],
    pub critical: bool,
}

impl Phrase {
    fn has(&self, c: Concept) -> bool {
        self.cues.contains(&c)
    }
}

/// Ids of words the rules refer to directly.
#[derive(Debug, Clone, Default)]
struct Ids {
    teams: u32,
    else_: u32,
    all: u32,
    should: [u32; 2],
    loc: [u32; 3],
    one: u32,
    no: u32,
    every: u32,
    single: u32,
    anything: u32,
    any: u32,
    your: u32,
    they: u32,
    of: u32,
    us: u32,
    them: u32,
    everywhere: u32,
    everyone: u32,
    everybody: u32,
    modals: [u32; 5],
    have: u32,
    has: u32,
    only: u32,
    down: u32,
    slow: u32,
    slow_ids: [u32; 3],
    across: [u32; 2],
    main: [u32; 4],
    i: u32,
    conj: [u32; 11],
    take: [u32; 6],
}

/// The compiled lexicon.
#[derive(Debug, Clone)]
pub struct Lexicon {
    vocab: FnvMap<Box<str>, u32>,
    fuzzy: FnvMap<Box<str>, u32>,
    class: Vec<u32>,
    numval: Vec<u32>,
    first: Vec<u8>,
    phrases: Vec<Phrase>,
    by_first: Vec<Vec<u32>>,
    phrase_index: FnvMap<Box<[u32]>, u32>,
    ids: Ids,
    pub teams: [String; 10],
}

const AMBIGUOUS: u32 = u32::MAX - 1;

impl Lexicon {
    pub fn empty() -> Lexicon {
        Lexicon {
            vocab: FnvMap::default(),
            fuzzy: FnvMap::default(),
            class: Vec::new(),
            numval: Vec::new(),
            first: Vec::new(),
            phrases: Vec::new(),
            by_first: Vec::new(),
            phrase_index: FnvMap::default(),
            ids: Ids::default(),
            teams: Category::ALL.map(|c| lexicon::default_team(c).to_string()),
        }
    }

    /// The built-in lexicon.
    pub fn builtin() -> Lexicon {
        let mut lx = Lexicon::empty();
        for &(class, words) in lexicon::WORD_CLASSES {
            for w in words {
                lx.add_word_class(w, class);
            }
        }
        for &(concept, terms) in lexicon::CONCEPT_TERMS {
            for t in terms {
                lx.add_phrase(t, Some(concept), None, false);
            }
        }
        for &(cat, terms) in lexicon::CATEGORY_TERMS {
            for &(t, w) in terms {
                lx.add_phrase(t, None, Some((cat, w)), false);
            }
        }
        for t in lexicon::CRITICAL_SYSTEMS {
            lx.add_phrase(t, None, None, true);
        }
        lx.finish();
        lx
    }

    fn intern(&mut self, w: &str) -> u32 {
        if let Some(&id) = self.vocab.get(w) {
            return id;
        }
        let id = self.class.len() as u32;
        self.vocab.insert(w.into(), id);
        self.class.push(0);
        self.numval.push(lexicon::number_word_value(w).unwrap_or(0));
        self.first.push(w.as_bytes().first().copied().unwrap_or(0));
        self.by_first.push(Vec::new());
        id
    }

    /// Adds a word to a word class. Multi-word entries are ignored here.
    pub fn add_word_class(&mut self, w: &str, class: u32) -> bool {
        let words = text::phrase_words(w);
        if words.len() != 1 {
            return false;
        }
        let id = self.intern(&words[0]);
        self.class[id as usize] |= class;
        true
    }

    /// Removes all critical-system flags (config `replace_critical_systems`).
    pub fn clear_critical(&mut self) {
        for p in &mut self.phrases {
            p.critical = false;
        }
    }

    /// Adds a cue phrase. Returns false when the phrase has no words.
    pub fn add_phrase(
        &mut self,
        phrase: &str,
        concept: Option<Concept>,
        cat: Option<(Category, u8)>,
        critical: bool,
    ) -> bool {
        let words = text::phrase_words(phrase);
        if words.is_empty() {
            return false;
        }
        let ids: Box<[u32]> = words.iter().map(|w| self.intern(w)).collect();
        let idx = match self.phrase_index.get(&ids) {
            Some(&i) => i as usize,
            None => {
                let i = self.phrases.len();
                self.phrases.push(Phrase {
                    words: ids.clone(),
                    cues: Vec::new(),
                    cat: [0; 10],
                    critical: false,
                });
                self.phrase_index.insert(ids, i as u32);
                i
            }
        };
        let p = &mut self.phrases[idx];
        if let Some(c) = concept
            && !p.cues.contains(&c)
        {
            p.cues.push(c);
        }
        if let Some((c, w)) = cat {
            let slot = &mut p.cat[c as usize];
            *slot = (*slot).max(w);
        }
        p.critical |= critical;
        true
    }

    /// Builds the lookup indexes. Call after all additions.
    pub fn finish(&mut self) {
        for v in &mut self.by_first {
            v.clear();
        }
        for (i, p) in self.phrases.iter().enumerate() {
            self.by_first[p.words[0] as usize].push(i as u32);
        }
        let phrases = &self.phrases;
        for v in &mut self.by_first {
            v.sort_by_key(|&i| std::cmp::Reverse(phrases[i as usize].words.len()));
        }
        // fuzzy index: single-word content entries of 6+ letters
        self.fuzzy.clear();
        let mut buf = String::new();
        let mut entries: Vec<(String, u32)> = Vec::new();
        for (w, &id) in &self.vocab {
            let useful = self.class[id as usize] != 0 || !self.by_first[id as usize].is_empty();
            if useful && w.len() >= 6 && w.bytes().all(|b| b.is_ascii_lowercase()) {
                entries.push((w.to_string(), id));
            }
        }
        entries.sort();
        for (w, id) in entries {
            for k in 1..w.len() {
                buf.clear();
                buf.push_str(&w[..k]);
                buf.push_str(&w[k + 1..]);
                let e = self.fuzzy.entry(buf.as_str().into()).or_insert(id);
                if *e != id {
                    *e = AMBIGUOUS;
                }
            }
        }
        for w in [
            "team",
            "else",
            "one",
            "no",
            "every",
            "single",
            "anything",
            "any",
            "your",
            "they",
            "of",
            "us",
            "them",
            "everywhere",
            "everyone",
            "everybody",
            "can",
            "could",
            "would",
            "will",
            "may",
            "have",
            "has",
            "only",
            "down",
            "slowing",
            "slow",
            "slows",
            "slowed",
            "across",
            "throughout",
            "main",
            "central",
            "core",
            "primary",
            "takes",
            "took",
            "taking",
            "wait",
            "load",
            "lasts",
            "i",
            "and",
            "or",
            "to",
            "with",
            "by",
            "as",
            "into",
            "than",
            "then",
            "so",
            "all",
            "at",
            "should",
            "must",
        ] {
            for t in text::phrase_words(w) {
                self.intern(&t);
            }
        }
        // phrases without category weights inherit those of their words
        let single: Vec<Option<[u8; 10]>> = (0..self.class.len())
            .map(|id| {
                self.phrase_index
                    .get(&[id as u32][..])
                    .map(|&pi| self.phrases[pi as usize].cat)
            })
            .collect();
        for p in &mut self.phrases {
            // a phrase that suppresses its words ("on paper") takes none of their categories
            if p.words.len() > 1 && p.cat.iter().all(|&w| w == 0) && !p.has(Concept::Neutral) {
                for &w in p.words.iter() {
                    if let Some(Some(c)) = single.get(w as usize) {
                        for k in 0..10 {
                            p.cat[k] = p.cat[k].saturating_add(c[k]);
                        }
                    }
                }
            }
        }
        self.ids = Ids {
            modals: ["can", "could", "would", "will", "may"].map(|w| self.id(w)),
            have: self.id("have"),
            only: self.id("only"),
            down: self.id("down"),
            slow: self.id("slowing"),
            slow_ids: ["slow", "slows", "slowed"].map(|w| self.id(w)),
            across: ["across", "throughout"].map(|w| self.id(w)),
            main: ["main", "central", "core", "primary"].map(|w| self.id(w)),
            i: self.id("i"),
            conj: [
                "and", "or", "but", "to", "with", "by", "as", "into", "than", "then", "so",
            ]
            .map(|w| self.id(w)),
            take: ["takes", "took", "taking", "wait", "load", "lasts"].map(|w| self.id(w)),
            has: self.id("has"),
            teams: self.id("team"),
            all: self.id("all"),
            should: ["should", "must"].map(|w| self.id(w)),
            loc: ["in", "on", "at"].map(|w| self.id(w)),
            else_: self.id("else"),
            one: self.id("one"),
            no: self.id("no"),
            every: self.id("every"),
            single: self.id("single"),
            anything: self.id("anything"),
            any: self.id("any"),
            your: self.id("your"),
            they: self.id("they"),
            of: self.id("of"),
            us: self.id("us"),
            them: self.id("them"),
            everywhere: self.id("everywhere"),
            everyone: self.id("everyone"),
            everybody: self.id("everybody"),
        };
    }

    fn id(&self, w: &str) -> u32 {
        let words = text::phrase_words(w);
        words
            .first()
            .and_then(|w| self.vocab.get(w.as_str()).copied())
            .unwrap_or(NONE)
    }

    /// Vocabulary lookup with a one-edit typo tolerance for long words.
    fn lookup(&self, w: &str, buf: &mut String) -> u32 {
        if let Some(&id) = self.vocab.get(w) {
            return id;
        }
        if w.len() < 6 || w.len() > 18 || !w.bytes().all(|b| b.is_ascii_lowercase()) {
            return NONE;
        }
        let first = w.as_bytes()[0];
        let ok =
            |id: u32| -> bool { id != AMBIGUOUS && id != NONE && self.first[id as usize] == first };
        // the text is missing a letter ("evrything")
        if let Some(&id) = self.fuzzy.get(w)
            && ok(id)
        {
            return id;
        }
        let b = w.as_bytes();
        for k in 1..w.len() {
            // the text has an extra letter ("printter")
            buf.clear();
            buf.push_str(&w[..k]);
            buf.push_str(&w[k + 1..]);
            if buf.len() >= 6
                && let Some(&id) = self.vocab.get(buf.as_str())
                && ok(id)
            {
                return id;
            }
            // two letters swapped ("recieve")
            if k + 1 < w.len() {
                buf.clear();
                buf.push_str(&w[..k]);
                buf.push(b[k + 1] as char);
                buf.push(b[k] as char);
                buf.push_str(&w[k + 2..]);
                if let Some(&id) = self.vocab.get(buf.as_str())
                    && ok(id)
                {
                    return id;
                }
            }
        }
        NONE
    }

    fn cls(&self, id: u32) -> u32 {
        if id == NONE {
            0
        } else {
            self.class[id as usize]
        }
    }

    fn tokenize(&self, s: &str, out: &mut Vec<Tok>, quotes: &mut Vec<(usize, usize)>) {
        out.clear();
        text::quoted_ranges(s, quotes);
        let mut buf = String::with_capacity(24);
        text::tokenize_with(s, quotes, |w, start, end, flags, sent, clause, num| {
            let id = if flags & text::F_NUMBER != 0 {
                self.vocab.get(w).copied().unwrap_or(NONE)
            } else {
                self.lookup(w, &mut buf)
            };
            out.push(Tok {
                id,
                flags,
                sent,
                clause,
                num,
                start: start as u32,
                end: end as u32,
            });
        });
    }

    /// Greedy longest-first phrase matching. `cover[i]` = phrase index.
    fn match_phrases(
        &self,
        toks: &[Tok],
        matches: &mut Vec<(u32, u32, u32)>,
        cover: &mut Vec<u32>,
    ) {
        matches.clear();
        cover.clear();
        cover.resize(toks.len(), NONE);
        let mut i = 0;
        while i < toks.len() {
            let id = toks[i].id;
            let mut adv = 1;
            if id != NONE {
                for &pi in &self.by_first[id as usize] {
                    let p = &self.phrases[pi as usize];
                    let n = p.words.len();
                    if i + n <= toks.len()
                        && p.words.iter().zip(&toks[i..i + n]).all(|(a, t)| *a == t.id)
                    {
                        matches.push((i as u32, n as u32, pi));
                        for c in &mut cover[i..i + n] {
                            *c = pi;
                        }
                        adv = n;
                        break;
                    }
                }
            }
            i += adv;
        }
    }
}

// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scope {
    WStrong,
    WWeak,
    GStrong,
}

/// Evidence gathered from one ticket.
struct Ev {
    /// First span per concept (index = concept slot).
    span: [Option<(u32, u32)>; 21],
    count: [u16; 21],
    cat: [u32; 10],
    cat_span: [Option<(u32, u32)>; 10],
    w_strong: Option<(u32, u32)>,
    w_weak: Option<(u32, u32)>,
    /// The public (customers, guests) named as affected.
    w_public: Option<(u32, u32)>,
    /// A count of staff ("25 agents"), the first one.
    g_counted: Option<(u32, u32)>,
    g_strong: Option<(u32, u32)>,
    /// A group of people (not just several devices) was named.
    g_people: Option<(u32, u32)>,
    s_strong: Option<(u32, u32)>,
    partial: Option<(u32, u32)>,
    g_weak: u16,
    s_weak: u16,
    g_weak_span: Option<(u32, u32)>,
    /// Weak widespread cues seen, and how many of them were only people
    /// outside the organisation being mentioned ("patients are waiting").
    w_weak_n: u16,
    w_weak_pop_n: u16,
    /// The ticket opens about one device ("the computer in pharmacy").
    single_device: Option<(u32, u32)>,
    negated: Option<(u32, u32)>,
    quoted_alarm: Option<(u32, u32)>,
    shouting: u16,
    exclaims: u16,
    critical_sys: Option<(u32, u32, bool)>, // span, in system field
    /// A critical system named in the description.
    critical_desc: Option<(u32, u32)>,
    /// The first shouted word or run of exclamation marks.
    tone_span: Option<(u32, u32)>,
}

fn slot(c: Concept) -> usize {
    match c {
        Concept::Widespread => 0,
        Concept::WidespreadWeak => 1,
        Concept::Group => 2,
        Concept::Single => 3,
        Concept::Harm => 4,
        Concept::SecurityIncident => 5,
        Concept::DataLoss => 6,
        Concept::Outage => 7,
        Concept::Degraded => 8,
        Concept::Intermittent => 9,
        Concept::Workaround => 10,
        Concept::Reassurance => 11,
        Concept::Hedge => 12,
        Concept::Request => 13,
        Concept::Deadline => 14,
        Concept::Alarm => 15,
        Concept::Threat => 16,
        Concept::Problem => 17,
        Concept::Neutral => 18,
        Concept::LifeSafety => 19,
        Concept::Cat(_) => 20,
    }
}

impl Ev {
    fn new() -> Ev {
        Ev {
            span: [None; 21],
            count: [0; 21],
            cat: [0; 10],
            cat_span: [None; 10],
            w_strong: None,
            w_weak: None,
            w_public: None,
            g_counted: None,
            g_strong: None,
            g_people: None,
            s_strong: None,
            partial: None,
            g_weak: 0,
            s_weak: 0,
            g_weak_span: None,
            w_weak_n: 0,
            w_weak_pop_n: 0,
            single_device: None,
            negated: None,
            quoted_alarm: None,
            shouting: 0,
            exclaims: 0,
            critical_sys: None,
            critical_desc: None,
            tone_span: None,
        }
    }
    fn add(&mut self, c: Concept, span: (u32, u32)) {
        let s = slot(c);
        if self.span[s].is_none() {
            self.span[s] = Some(span);
        }
        self.count[s] = self.count[s].saturating_add(1);
    }
    fn has(&self, c: Concept) -> bool {
        self.count[slot(c)] > 0
    }
    fn sp(&self, c: Concept) -> Option<(u32, u32)> {
        self.span[slot(c)]
    }
    fn people(&mut self, s: Option<Scope>, span: (u32, u32), people: bool) {
        if let Some(s) = s {
            self.scope(s, span);
            if s == Scope::GStrong && people && self.g_people.is_none() {
                self.g_people = Some(span);
            }
        }
    }
    fn scope(&mut self, s: Scope, span: (u32, u32)) {
        if s == Scope::WWeak {
            self.w_weak_n = self.w_weak_n.saturating_add(1);
        }
        let f = match s {
            Scope::WStrong => &mut self.w_strong,
            Scope::WWeak => &mut self.w_weak,
            Scope::GStrong => &mut self.g_strong,
        };
        if f.is_none() {
            *f = Some(span);
        }
    }
}

const CAT_PRECEDENCE: [Category; 10] = [
    Category::Security,
    Category::Database,
    Category::Printing,
    Category::Telephony,
    Category::Email,
    Category::Access,
    Category::Network,
    Category::Infrastructure,
    Category::Hardware,
    Category::Software,
];

/// People nouns that are plural without an -s.
fn is_mass_people(w: &str) -> bool {
    [
        "staff",
        "people",
        "personnel",
        "crew",
        "public",
        "folk",
        "folks",
    ]
    .iter()
    .any(|m| w.eq_ignore_ascii_case(m))
}

/// Marks a plural group noun in a parsed noun phrase.
const PLURAL: u32 = 1 << 31;

fn decide_scope(head: u32, n: Option<u32>, qual: u32) -> Option<Scope> {
    if (head | qual) & PLURAL != 0 && n.is_none() {
        return Some(Scope::WStrong);
    }
    if qual & (wc::ORG | wc::SITE) != 0 {
        return Some(Scope::WStrong);
    }
    if qual & (wc::GROUP | wc::DEPT) != 0 {
        return Some(Scope::GStrong);
    }
    let small = matches!(n, Some(x) if x < 100);
    let h = if head != 0 { head } else { qual };
    if h & (wc::ORG | wc::SITE) != 0 {
        Some(Scope::WStrong)
    } else if h & (wc::GROUP | wc::DEPT) != 0 {
        Some(Scope::GStrong)
    } else if h & (wc::POP | wc::SHARED) != 0 {
        Some(if small {
            Scope::GStrong
        } else {
            Scope::WStrong
        })
    } else if h & wc::DEVICE != 0 {
        if small { Some(Scope::GStrong) } else { None }
    } else {
        match n {
            Some(x) if (2..100).contains(&x) => Some(Scope::GStrong),
            Some(x) if x >= 100 => Some(Scope::WStrong),
            _ => None,
        }
    }
}

/// Per-thread scratch buffers so that an analysis does not allocate for
/// tokens and matches.
struct Scratch {
    toks: Vec<Tok>,
    stoks: Vec<Tok>,
    quotes: Vec<(usize, usize)>,
    matches: Vec<(u32, u32, u32)>,
    smatches: Vec<(u32, u32, u32)>,
    cover: Vec<u32>,
    scover: Vec<u32>,
    urg_skip: Vec<bool>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch {
        toks: Vec::with_capacity(128),
        stoks: Vec::with_capacity(16),
        quotes: Vec::with_capacity(8),
        matches: Vec::with_capacity(64),
        smatches: Vec::with_capacity(8),
        cover: Vec::with_capacity(128),
        scover: Vec::with_capacity(16),
        urg_skip: Vec::with_capacity(128),
    });
}

/// The word as written ends in a plural -s ("tills", "PCs"; not "access").
fn plural(text: &str, t: &Tok) -> bool {
    let w = text.get(t.start as usize..t.end as usize).unwrap_or("");
    w.len() >= 3
        && w.ends_with(['s', 'S'])
        && !w.ends_with("'s")
        && !w.ends_with("’s")
        && !w.ends_with("ss")
        && !w.ends_with("SS")
}

fn snippet(text: &str, span: (u32, u32)) -> String {
    let (a, b) = (span.0 as usize, span.1 as usize);
    text.get(a..b).unwrap_or("").to_string()
}

impl Lexicon {
    pub fn analyze(&self, desc: &str, system: &str, model_version: &str) -> Triage {
        SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            let s = &mut *s;
            self.tokenize(desc, &mut s.toks, &mut s.quotes);
            self.tokenize(system, &mut s.stoks, &mut s.quotes);
            self.match_phrases(&s.toks, &mut s.matches, &mut s.cover);
            self.match_phrases(&s.stoks, &mut s.smatches, &mut s.scover);
            self.run(desc, system, s, model_version)
        })
    }

    fn run(&self, desc: &str, system: &str, s: &mut Scratch, model_version: &str) -> Triage {
        let toks = &s.toks[..];
        let cover = &s.cover[..];
        let n = toks.len();
        let mut ev = Ev::new();
        let cls = |i: usize| self.cls(toks[i].id);
        let span = |a: usize, b: usize| (toks[a].start, toks[b].end);
        let ids = &self.ids;

        // 0. tone: shouting and exclamation marks
        for t in toks {
            if t.has(text::F_ALLCAPS) && !t.has(text::F_QUOTED) && t.end - t.start >= 4 {
                ev.shouting += 1;
                ev.tone_span.get_or_insert((t.start, t.end));
            }
        }
        ev.exclaims = desc.bytes().filter(|&b| b == b'!').count() as u16;
        if ev.exclaims >= 3
            && ev.shouting < 2
            && let Some(a) = desc.find('!')
        {
            let b = a + desc[a..].bytes().take_while(|&c| c == b'!').count();
            ev.tone_span = Some((a as u32, b as u32));
        }

        // 1. partial scope ("other floors are fine") - tokens skipped for urgency
        s.urg_skip.clear();
        s.urg_skip.resize(n, false);
        for i in 0..n {
            // "zones A and B are still running", "lines 1 and 3 are fine"
            let plural_subject = toks[i].has(text::F_SENT_START | text::F_CLAUSE_START)
                && cls(i) & (wc::GROUP | wc::SITE | wc::SHARED) != 0
                && plural(desc, &toks[i]);
            if (cls(i) & wc::OTHER == 0 && !plural_subject) || toks[i].has(text::F_QUOTED) {
                continue;
            }
            let mut fine_at = None;
            for j in i + 1..(i + 9).min(n) {
                if toks[j].sent != toks[i].sent {
                    break;
                }
                let pf =
                    cover[j] != NONE && self.phrases[cover[j] as usize].has(Concept::Reassurance);
                if cls(j) & wc::FINE != 0 || pf {
                    fine_at = Some(j);
                    break;
                }
            }
            let Some(j) = fine_at else { continue };
            let mut end = j;
            while end + 1 < n && cover[end + 1] != NONE && cover[end + 1] == cover[j] {
                end += 1;
            }
            for k in s.urg_skip.iter_mut().take(end + 1).skip(i) {
                *k = true;
            }
            // is it about people/places? ("other floors", "the rest of Finance", "everyone else")
            let prev = if i > 0 { toks[i - 1].id } else { NONE };
            let mut about_scope = (toks[i].id == ids.else_
                && (prev == ids.everywhere || prev == ids.everyone || prev == ids.everybody))
                || (plural_subject && cls(i) & (wc::GROUP | wc::SITE) != 0);
            // "the other 4 tills are fine": another device of the same kind
            if (i..=j).any(|k| cls(k) & wc::DEVICE != 0) {
                ev.add(Concept::Workaround, span(i, end));
            }
            for k in i + 1..(i + 4).min(j) {
                if cls(k) & (wc::SCOPE & !wc::DEVICE) != 0 {
                    about_scope = true;
                }
            }
            if about_scope && ev.partial.is_none() {
                ev.partial = Some(span(i, end));
            }
        }

        // 2. phrase cues
        for &(st, len, pi) in &s.matches {
            let (st, len) = (st as usize, len as usize);
            let p = &self.phrases[pi as usize];
            let sp = span(st, st + len - 1);
            let quoted = toks[st..st + len].iter().any(|t| t.has(text::F_QUOTED));
            for (ci, &w) in p.cat.iter().enumerate() {
                if w > 0 {
                    ev.cat[ci] += w as u32;
                    if ev.cat_span[ci].is_none() {
                        ev.cat_span[ci] = Some(sp);
                    }
                }
            }
            if p.critical && !quoted && ev.critical_sys.is_none() {
                ev.critical_sys = Some((sp.0, sp.1, false));
                ev.critical_desc = Some(sp);
            }
            if p.cues.is_empty() || p.has(Concept::Neutral) {
                continue;
            }
            // negation: an uncovered negator up to 3 tokens back in the clause
            let mut negated = false;
            for k in (st.saturating_sub(3)..st).rev() {
                if toks[k].clause != toks[st].clause {
                    break;
                }
                if cover[k] == NONE && cls(k) & wc::NEG != 0 {
                    negated = true;
                    break;
                }
            }
            let mut skip_urg = s.urg_skip[st];
            // "slowing the whole shift down" is not an outage
            if len == 1
                && toks[st].id == ids.down
                && (st.saturating_sub(5)..st).any(|k| {
                    toks[k].clause == toks[st].clause
                        && (toks[k].id == ids.slow || self.is_slow(toks[k].id))
                })
            {
                skip_urg = true;
            }
            let product = toks[st..st + len]
                .iter()
                .any(|t| self.is_teams_product(desc, t));
            for &c in &p.cues {
                if c.is_impact() {
                    // "others in my team seem fine": who is NOT affected
                    if quoted || product || (s.urg_skip[st] && c != Concept::Single) {
                        continue;
                    }
                    match c {
                        Concept::Widespread => ev.scope(Scope::WStrong, sp),
                        Concept::WidespreadWeak => {
                            // "customers" yes, "a customer's" / "client call" no
                            let people = len == 1 && cls(st) & wc::POP != 0;
                            let plural = !people || {
                                let w = &desc[sp.0 as usize..sp.1 as usize];
                                w.ends_with(['s', 'S']) && !w.ends_with("'s") && !w.ends_with("’s")
                            };
                            // only as the subject: "customers can't pay", not
                            // "invoices to customers"
                            let subject = !people || {
                                let nx = st + 1;
                                nx < n
                                    && cls(nx) & wc::NPSTOP != 0
                                    && (!ids.conj.contains(&toks[nx].id)
                                        || (nx + 1 < n && cls(nx + 1) & wc::POP != 0))
                            };
                            if plural && subject {
                                ev.scope(Scope::WWeak, sp);
                                // "customers get a busy tone": a customer-facing
                                // service is failing its public
                                if people && cls(st) & wc::EXTERNAL != 0 {
                                    ev.w_public.get_or_insert(sp);
                                }
                                if people {
                                    ev.w_weak_pop_n += 1;
                                }
                            }
                        }
                        Concept::Group => ev.people(Some(Scope::GStrong), sp, true),
                        Concept::Single => {
                            ev.s_strong.get_or_insert(sp);
                        }
                        _ => {}
                    }
                    continue;
                }
                if skip_urg {
                    continue;
                }
                if quoted {
                    match c {
                        Concept::Outage | Concept::Degraded | Concept::Problem => {
                            ev.add(Concept::Problem, sp)
                        }
                        Concept::Alarm
                        | Concept::Harm
                        | Concept::LifeSafety
                        | Concept::SecurityIncident => {
                            ev.quoted_alarm.get_or_insert(sp);
                        }
                        _ => {}
                    }
                    continue;
                }
                if negated {
                    if ev.negated.is_none() {
                        ev.negated = Some((
                            toks[st.saturating_sub(3)]
                                .start
                                .max(sp.0.saturating_sub(24)),
                            sp.1,
                        ));
                        // exact start: the negator
                        for k in (st.saturating_sub(3)..st).rev() {
                            if cover[k] == NONE && cls(k) & wc::NEG != 0 {
                                ev.negated = Some((toks[k].start, sp.1));
                                break;
                            }
                        }
                    }
                    if c == Concept::Alarm {
                        ev.add(Concept::Hedge, sp);
                    }
                    continue;
                }
                // an alarm word used as a log level ("FATAL:") is a pasted message
                if c == Concept::Alarm && toks[st + len - 1].has(text::F_COLON_AFTER) {
                    if ev.quoted_alarm.is_none() {
                        ev.quoted_alarm = Some(sp);
                    }
                    continue;
                }
                ev.add(c, sp);
            }
        }

        // 3. token rules
        let neg_before = |i: usize, back: usize, mask: u32| -> Option<usize> {
            for k in (i.saturating_sub(back)..i).rev() {
                if toks[k].clause != toks[i].clause {
                    return None;
                }
                if cover[k] == NONE && cls(k) & mask != 0 {
                    return Some(k);
                }
                // "no one"
                if toks[k].id == ids.no
                    && k + 1 < n
                    && toks[k + 1].id == ids.one
                    && mask & wc::ABILITY_NEG != 0
                {
                    return Some(k);
                }
            }
            None
        };
        // ability negators ("nobody ... can"), covered or not, within the sentence
        let ability_neg = |i: usize, back: usize, same_clause: bool| -> Option<usize> {
            for k in (i.saturating_sub(back)..i).rev() {
                if toks[k].sent != toks[i].sent || (same_clause && toks[k].clause != toks[i].clause)
                {
                    return None;
                }
                if cls(k) & wc::ABILITY_NEG != 0 && !(toks[k].id == ids.no && cover[k] != NONE) {
                    return Some(k);
                }
            }
            None
        };
        let impact_covered = |i: usize| -> bool {
            cover[i] != NONE && {
                let p = &self.phrases[cover[i] as usize];
                p.cues
                    .iter()
                    .any(|c| c.is_impact() || *c == Concept::Neutral)
            }
        };
        // NP parse: returns (last scope class, number, next index)
        let np = |from: usize, clause: u16, max: usize| -> (u32, Option<u32>, usize) {
            let mut head = 0u32;
            let mut num = None;
            let mut j = from;
            while j < n && j < from + max {
                let t = &toks[j];
                if t.clause != clause || t.has(text::F_QUOTED) {
                    break;
                }
                let c = cls(j);
                if cover[j] != NONE
                    && self.phrases[cover[j] as usize]
                        .cues
                        .iter()
                        .any(|c| !c.is_impact() && !c.is_category())
                {
                    break;
                }
                if t.has(text::F_NUMBER) {
                    if j + 1 < n && cls(j + 1) & wc::TIMEUNIT != 0 {
                        break;
                    }
                    num = Some(t.num);
                } else if c & wc::NUMWORD != 0 {
                    num = Some(self.numval[t.id as usize]);
                } else if c & (wc::PREP | wc::NPSTOP) != 0 {
                    break;
                } else if c & wc::SCOPE != 0 && !self.is_teams_product(desc, t) {
                    head = c & wc::SCOPE;
                    let w = &desc[t.start as usize..t.end as usize];
                    if c & wc::GROUP != 0 && w.ends_with(['s', 'S']) && !w.ends_with("'s") {
                        head |= PLURAL; // "none of the wards", "all the floors"
                    }
                }
                j += 1;
            }
            (head, num, j)
        };

        for i in 0..n {
            let t = &toks[i];
            if t.has(text::F_QUOTED) {
                continue;
            }
            let c = cls(i);
            // scope words in "the other 4 tills are fine" are not who is affected
            let unaffected = s.urg_skip[i];
            // quantifiers: all / every / entire / whole
            if c & wc::QUANT != 0 && !impact_covered(i) && !unaffected {
                if t.id == ids.every
                    && i + 1 < n
                    && ((toks[i + 1].has(text::F_NUMBER) || cls(i + 1) & wc::NUMWORD != 0)
                        && i + 2 < n
                        && cls(i + 2) & wc::TIMEUNIT != 0)
                {
                    ev.add(Concept::Intermittent, span(i, i + 2));
                    continue;
                }
                if i + 1 < n && cls(i + 1) & wc::TIMEUNIT != 0 {
                    continue;
                }
                let (head, num, j) = np(i + 1, t.clause, 5);
                let mut qual = 0;
                let mut qnum = None;
                let mut end = j.saturating_sub(1).max(i);
                if j < n && cls(j) & wc::PREP != 0 && toks[j].clause == t.clause {
                    let (q, qn, k) = np(j + 1, t.clause, 5);
                    qual = q;
                    qnum = qn;
                    if q != 0 || qn.is_some() {
                        end = k.saturating_sub(1);
                    }
                }
                let num = num.or(qnum);
                if head == 0 && num.is_none() && j > i + 1 {
                    // "all prescriptions from doctors": the quantifier is about a thing
                    qual &= wc::ORG | wc::SITE | wc::GROUP | wc::DEPT;
                }
                let people = head == 0 || (head | qual) & (wc::GROUP | wc::DEPT | wc::POP) != 0;
                let mut sc = decide_scope(head, num, qual);
                // "all three ICU pods", "all 4 wards": every unit of a place,
                // counted, is the whole place (not "all 5 printers", "all 12 users")
                if t.id == ids.all
                    && num.is_some()
                    && qual == 0
                    && head & (wc::DEVICE | wc::POP | wc::SHARED) == 0
                    && (i + 1..j).any(|k| plural(desc, &toks[k]))
                {
                    sc = Some(Scope::WStrong);
                }
                // "all the store tills", "all screens in the control room"
                if sc.is_none()
                    && t.id == ids.all
                    && num.is_none()
                    && (i + 1..j).any(|k| cls(k) & wc::DEVICE != 0 && plural(desc, &toks[k]))
                    // not a rule about devices ("all laptops should have it")
                    && !toks
                        .iter()
                        .any(|u| u.clause == t.clause && ids.should.contains(&u.id))
                {
                    sc = Some(Scope::WWeak);
                }
                ev.people(sc, span(i, end.min(n - 1)), people);
                continue;
            }
            // person quantifiers: everyone / nobody / none / no one
            let no_one = t.id == ids.no && i + 1 < n && toks[i + 1].id == ids.one;
            if (c & wc::PQUANT != 0 || no_one) && !impact_covered(i) && !unaffected {
                let nx = if no_one { i + 2 } else { i + 1 };
                if nx < n && toks[nx].id == ids.else_ {
                    continue;
                }
                let mut decided = None;
                let mut end = nx.saturating_sub(1);
                if nx < n && cls(nx) & wc::PREP != 0 && toks[nx].clause == t.clause {
                    let (q, qn, k) = np(nx + 1, t.clause, 5);
                    decided = decide_scope(0, qn, q);
                    if decided.is_some() {
                        end = k.saturating_sub(1);
                    } else if nx + 1 < n
                        && (toks[nx + 1].id == ids.us || toks[nx + 1].id == ids.them)
                    {
                        decided = Some(Scope::GStrong);
                        end = nx + 1;
                    }
                }
                let sc = decided.unwrap_or(Scope::WWeak);
                ev.people(Some(sc), span(i, end.min(n - 1)), true);
            }
            // "across the hospital", "throughout the building"
            if t.id == ids.across[0] || t.id == ids.across[1] {
                for j in i + 1..(i + 4).min(n) {
                    if toks[j].clause != t.clause {
                        break;
                    }
                    let cj = cls(j);
                    if cj & (wc::SITE | wc::ORG) != 0 {
                        ev.scope(Scope::WStrong, span(i, j));
                        break;
                    }
                    if cj & (wc::GROUP | wc::DEPT) != 0 {
                        ev.people(Some(Scope::GStrong), span(i, j), true);
                        break;
                    }
                }
            }
            // "no carrier can book", "for any arriving guest", "any of the
            // 300 buses": nobody / everybody of a population
            if (t.id == ids.any || t.id == ids.no) && !impact_covered(i) && !unaffected {
                let mut nx = i + 1;
                let mut done = false;
                if t.id == ids.any && nx < n && toks[nx].id == ids.of {
                    let (head, num, _) = np(nx + 1, t.clause, 5);
                    if let Some(v) = num
                        && v >= 100
                        && head & (wc::DEVICE | wc::POP | wc::SHARED) != 0
                    {
                        ev.scope(Scope::WWeak, span(i, (nx + 4).min(n - 1)));
                    }
                    done = true;
                }
                while !done && nx < n && nx <= i + 2 && toks[nx].clause == t.clause {
                    let cn = cls(nx);
                    if cn & wc::POP != 0 && cn & wc::ISING == 0 {
                        // the population is the subject ("no carrier can"), or
                        // the end of the phrase ("for any guest.")
                        let after = nx + 1;
                        let ends = after >= n
                            || toks[after].clause != t.clause
                            || cls(after) & wc::NPSTOP != 0;
                        if ends {
                            ev.scope(Scope::WWeak, span(i, nx));
                            ev.w_weak_pop_n += 1;
                        }
                        break;
                    }
                    // "for any research group", "no department can": every group
                    if cn & (wc::GROUP | wc::DEPT) != 0
                        && t.id == ids.any
                        && !plural(desc, &toks[nx])
                    {
                        ev.scope(Scope::WStrong, span(i, nx));
                        break;
                    }
                    if cn & (wc::SCOPE | wc::NPSTOP | wc::PREP) != 0 {
                        break;
                    }
                    nx += 1;
                }
            }
            // "card terminals in the Oxford Street store", "ticket barriers at
            // North station": several devices across a named site
            if c & wc::DEVICE != 0
                && plural(desc, t)
                && !impact_covered(i)
                && !unaffected
                && !(i > 0 && (toks[i - 1].has(text::F_NUMBER) || cls(i - 1) & wc::NUMWORD != 0))
                && let Some(k) = (i + 1..(i + 3).min(n))
                    .find(|&k| ids.loc.contains(&toks[k].id) && toks[k].clause == t.clause)
                && let Some(m) = (k + 1..(k + 5).min(n))
                    .take_while(|&m| toks[m].clause == t.clause && cls(m) & wc::NPSTOP == 0)
                    .find(|&m| cls(m) & wc::SITE != 0 && cls(m) & wc::DEVICE == 0)
            {
                ev.scope(Scope::WWeak, span(i, m));
            }
            // numbers followed by a population / device / group noun
            let val = if t.has(text::F_NUMBER) && !t.has(text::F_CLOCK) {
                Some(t.num)
            } else if c & wc::NUMWORD != 0 {
                Some(self.numval[t.id as usize])
            } else {
                None
            };
            if let Some(v) = val
                && v >= 2
                && !impact_covered(i)
                && !unaffected
            {
                for j in i + 1..(i + 4).min(n) {
                    let cj = cls(j);
                    if cj & wc::TIMEUNIT != 0 || toks[j].clause != t.clause {
                        break;
                    }
                    if toks[j].id == ids.of
                        && j + 1 < n
                        && (toks[j + 1].id == ids.us || toks[j + 1].id == ids.them)
                    {
                        let sc = if v >= 100 {
                            Scope::WStrong
                        } else {
                            Scope::GStrong
                        };
                        ev.people(Some(sc), span(i, j + 1), true);
                        break;
                    }
                    if toks[j].id == ids.of {
                        continue; // "lots of users", "dozens of staff"
                    }
                    if cj & (wc::PREP | wc::NPSTOP) != 0 {
                        break;
                    }
                    // "till 3", "dock 5 printer", "the 3 CNC workstation PCs": a count
                    // needs a plural noun (people nouns are plural as they are)
                    if cj & (wc::GROUP | wc::DEVICE | wc::SHARED) != 0
                        && cj & (wc::POP | wc::DEPT) == 0
                        && !plural(desc, &toks[j])
                    {
                        continue;
                    }
                    // "Room 305 guest": a label, not a count (people nouns
                    // without a plural -s are plural as they are: "staff")
                    if cj & wc::POP != 0
                        && cj & wc::GROUP == 0
                        && !plural(desc, &toks[j])
                        && !is_mass_people(&desc[toks[j].start as usize..toks[j].end as usize])
                    {
                        break;
                    }
                    // "1,200 records missing", "about 300 studies": a large
                    // count of records is more than one user's data
                    if cj & wc::DATA != 0
                        && cj & (wc::POP | wc::GROUP | wc::DEVICE | wc::DEPT | wc::SHARED) == 0
                    {
                        if v >= 100 && plural(desc, &toks[j]) {
                            ev.scope(Scope::WWeak, span(i, j));
                        }
                        break;
                    }
                    if cj & (wc::POP | wc::GROUP | wc::DEVICE | wc::DEPT | wc::SHARED) != 0
                        && !self.is_teams_product(desc, &toks[j])
                    {
                        if v >= 100 && cj & wc::POP != 0 {
                            ev.scope(Scope::WStrong, span(i, j));
                        } else if v >= 100 && cj & (wc::DEVICE | wc::SHARED) != 0 {
                            // "all 300 buses", "150 tills"
                            ev.scope(Scope::WWeak, span(i, j));
                        } else if cj & wc::EXTERNAL != 0
                            // "a clinic of 20 patients": whose they are, not who is hit
                            && !(i > 0 && toks[i - 1].id == ids.of)
                        {
                            // "30 guests in the lobby": a count of the public
                            // (guests, patients, passengers) is a service failing
                            // its public - unless a narrower scope is stated
                            ev.scope(Scope::WWeak, span(i, j));
                            ev.w_weak_pop_n += 1;
                        } else if v < 100 {
                            let people = cj & (wc::POP | wc::GROUP | wc::DEPT) != 0;
                            ev.people(Some(Scope::GStrong), span(i, j), people);
                            if cj & wc::POP != 0 && ev.g_counted.is_none() {
                                ev.g_counted = Some(span(i, j));
                            }
                        }
                        break;
                    }
                }
            }
            // standalone group nouns and weak scope words
            if (cover[i] == NONE || !impact_covered(i)) && !unaffected {
                let yours = i > 0 && toks[i - 1].id == ids.your;
                // "I'm in the sales team and my laptop ...": membership, not scope
                let member = (i.saturating_sub(5)..i)
                    .any(|k| toks[k].id == ids.i && toks[k].clause == t.clause);
                // "the printer in ward 7", "the new hire in the lab": where one
                // device or person is, not who is affected
                let located = (i.saturating_sub(3)..i)
                    .find(|&k| ids.loc.contains(&toks[k].id) && toks[k].clause == t.clause)
                    .is_some_and(|k| {
                        (k.saturating_sub(4)..k).any(|m| {
                            toks[m].clause == t.clause
                                && cls(m) & (wc::DEVICE | wc::POP) != 0
                                && !plural(desc, &toks[m])
                        })
                    });
                let member = member || located;
                if c & wc::GROUP != 0 && !self.is_teams_product(desc, t) && !yours && !member {
                    ev.people(Some(Scope::GStrong), span(i, i), true);
                }
                // "we" in "could we get ..." or "we use the other one" is the
                // writer asking or coping, not a count of who is affected
                let phrase_has = |k: usize, cue: Concept| {
                    cover[k] != NONE && self.phrases[cover[k] as usize].has(cue)
                };
                let we_aside = c & wc::WE != 0
                    && (phrase_has(i, Concept::Request)
                        || (0..n).any(|k| {
                            toks[k].clause == t.clause && phrase_has(k, Concept::Workaround)
                        }));
                if c & (wc::DEPT | wc::WE) != 0 && !(located && c & wc::DEPT != 0) && !we_aside {
                    ev.g_weak += 1;
                    if ev.g_weak_span.is_none() {
                        ev.g_weak_span = Some(span(i, i));
                    }
                }
                if c & wc::ISING != 0 {
                    ev.s_weak += 1;
                }
            }
            if s.urg_skip[i] {
                continue;
            }
            // "Can all the printers ...?" / "Could someone ...": a request
            if t.has(text::F_SENT_START) && ids.modals.contains(&t.id) {
                ev.add(Concept::Request, span(i, (i + 1).min(n - 1)));
            }
            // "none of the tills will take cards"
            if ids.modals[1..].contains(&t.id)
                && cover[i] == NONE
                && !t.has(text::F_SENT_START)
                && let Some(k) = ability_neg(i, 6, true)
            {
                ev.add(Concept::Outage, span(k, (i + 1).min(n - 1)));
            }
            // "the main database server": a shared system
            if ids.main.contains(&t.id)
                && ((i + 1)..(i + 3).min(n)).any(|j| cls(j) & wc::SHARED != 0)
            {
                ev.scope(Scope::WWeak, span(i, (i + 2).min(n - 1)));
            }
            // "takes 40 minutes", "took 2 hours to load"
            if t.has(text::F_NUMBER)
                && i + 1 < n
                && cls(i + 1) & wc::TIMEUNIT != 0
                && (i.saturating_sub(4)..i).any(|k| ids.take.contains(&toks[k].id))
            {
                ev.add(Concept::Degraded, span(i.saturating_sub(4), i + 1));
            }
            // "nobody ... can", "can" as a workaround
            if c & wc::CAN != 0 && cover[i] == NONE {
                if let Some(k) = ability_neg(i, 5, true) {
                    ev.add(Concept::Outage, span(k, (i + 1).min(n - 1)));
                } else if !t.has(text::F_CLAUSE_START)
                    && !(i.saturating_sub(2)..i).any(|k| cls(k) & wc::PURPOSE != 0)
                    && i + 1 < n
                    && cls(i + 1) & wc::YOU == 0
                    && toks[i + 1].id != ids.only
                {
                    ev.add(Concept::Workaround, span(i, (i + 1).min(n - 1)));
                }
            }
            // "nobody has received a single ...", "nothing ... anything"
            if (t.id == ids.single || t.id == ids.anything)
                && cover[i] == NONE
                && let Some(k) = ability_neg(i, 12, false)
            {
                ev.add(Concept::Outage, span(k, i));
            }
            // "I've been phoning them" - coping
            if c & wc::BEEN != 0
                && i + 1 < n
                && toks[i + 1].has(text::F_ING)
                && cls(i + 1) & wc::COPING == 0
            {
                let is_subj = |k: usize| {
                    cls(k) & (wc::ISING | wc::WE | wc::POP) != 0 || toks[k].id == ids.they
                };
                let subj = (i >= 1 && is_subj(i - 1))
                    || (i >= 2
                        && (toks[i - 1].id == ids.have || toks[i - 1].id == ids.has)
                        && is_subj(i - 2));
                if subj {
                    ev.add(Concept::Workaround, span(i, i + 1));
                }
            }
            // "by 5pm"
            if t.has(text::F_CLOCK)
                && (i.saturating_sub(2)..i).any(|k| cls(k) & wc::DEADLINE_PREP != 0)
            {
                ev.add(Concept::Deadline, span(i.saturating_sub(2), i));
            }
            // data loss: a loss word near a data noun
            if c & wc::LOSS != 0
                && let Some(k) = neg_before(i, 3, wc::NEG)
            {
                if ev.negated.is_none() {
                    ev.negated = Some((toks[k].start, t.end));
                }
            } else if c & wc::LOSS != 0 {
                let lo = i.saturating_sub(8);
                let hi = (i + 9).min(n);
                if let Some(k) = (lo..hi).find(|&k| {
                    k != i
                        && toks[k].sent == t.sent
                        && cls(k) & wc::DATA != 0
                        && !toks[k].has(text::F_QUOTED | text::F_ING)
                }) {
                    ev.add(Concept::DataLoss, span(k.min(i), k.max(i)));
                }
            }
            // "the MIS password ... being shared on Snapchat": credentials
            // spread in public are a compromise in progress
            let raw = &desc[t.start as usize..t.end as usize];
            let login = raw.len() >= 5 && raw.is_char_boundary(5) && {
                let h = &raw[..5];
                h.eq_ignore_ascii_case("login") || h.eq_ignore_ascii_case("logon")
            };
            if (c & wc::CRED != 0 || login) && !t.has(text::F_QUOTED) {
                let same = |k: usize| toks[k].sent == t.sent && !toks[k].has(text::F_QUOTED);
                let lo = i.saturating_sub(12);
                let hi = (i + 13).min(n);
                let spread = (lo..hi).find(|&k| same(k) && cls(k) & wc::SHARE != 0);
                let public = (lo..hi).find(|&k| same(k) && cls(k) & wc::PUBLIC != 0);
                if let (Some(a), Some(b)) = (spread, public)
                    && neg_before(a, 3, wc::NEG).is_none()
                {
                    let sp = span(i.min(a).min(b), i.max(a).max(b));
                    ev.add(Concept::SecurityIncident, sp);
                    // anyone who saw it can get in: the exposure is not one user's
                    ev.scope(Scope::WStrong, sp);
                }
            }
            // host names such as DEVDB02 / SQLPROD01
            if t.id == NONE && !t.has(text::F_NUMBER) {
                let w = &desc[t.start as usize..t.end as usize];
                if w.bytes().any(|b| b.is_ascii_digit()) {
                    let l = w.to_ascii_lowercase();
                    if l.contains("db") || l.contains("sql") {
                        ev.cat[Category::Database as usize] += 3;
                    }
                }
            }
        }

        // 5. what the ticket opens with: one device ("the computer in
        // pharmacy", "reception PC") rather than a service or a group
        if let Some(i) = (0..n)
            .take_while(|&i| toks[i].sent == toks[0].sent)
            .find(|&i| !toks[i].has(text::F_QUOTED) && cls(i) & (wc::SCOPE & !wc::DEPT) != 0)
            && cls(i) & wc::DEVICE != 0
            && cls(i) & (wc::SHARED | wc::POP | wc::SITE | wc::GROUP) == 0
            && !plural(desc, &toks[i])
            && !(i > 0 && cls(i - 1) & (wc::QUANT | wc::NUMWORD) != 0)
            // "the dock scheduling portal": the device word is a modifier
            && !(i + 1..(i + 4).min(n))
                .take_while(|&j| cls(j) & (wc::PREP | wc::NPSTOP) == 0)
                .any(|j| cls(j) & (wc::SHARED | wc::POP) != 0)
        {
            ev.single_device = Some(span(i, i));
        }

        // 4. system field: category cues count double; critical systems
        for &(st, len, pi) in &s.smatches {
            let p = &self.phrases[pi as usize];
            for (ci, &w) in p.cat.iter().enumerate() {
                ev.cat[ci] += (3 * w as u32) / 2;
            }
            if p.critical {
                let a = s.stoks[st as usize].start;
                let b = s.stoks[(st + len - 1) as usize].end;
                ev.critical_sys = Some((a, b, true));
            }
        }
        for t in &s.stoks {
            if t.id == NONE && !t.has(text::F_NUMBER) {
                let l = system[t.start as usize..t.end as usize].to_ascii_lowercase();
                if l.bytes().any(|b| b.is_ascii_digit()) && (l.contains("db") || l.contains("sql"))
                {
                    ev.cat[Category::Database as usize] += 4;
                }
            }
        }

        self.decide(desc, system, ev, model_version)
    }

    fn is_slow(&self, id: u32) -> bool {
        id != NONE && self.ids.slow_ids.contains(&id)
    }

    fn is_teams_product(&self, desc: &str, t: &Tok) -> bool {
        t.id == self.ids.teams && desc.get(t.start as usize..t.end as usize) == Some("Teams")
    }

    fn decide(&self, desc: &str, system: &str, mut ev: Ev, model_version: &str) -> Triage {
        use Concept::*;
        let mut signals: Vec<Signal> = Vec::with_capacity(8);
        let mut sig = |text: String, kind: &str, effect: String| {
            if signals.len() < 14 {
                signals.push(Signal {
                    text,
                    kind: kind.to_string(),
                    effect,
                });
            }
        };
        let q = |sp: (u32, u32)| snippet(desc, sp);

        // critical system: raises impact when the system itself is affected,
        // not when one person asks for something on it ("add me to the
        // finance mailbox", "can I get access to PACS?")
        let failing = [
            Outage,
            Degraded,
            Problem,
            Intermittent,
            Harm,
            LifeSafety,
            SecurityIncident,
            DataLoss,
            Threat,
        ]
        .into_iter()
        .any(|c| ev.has(c));
        let personal = ev.s_weak > 0
            && ev.g_strong.is_none()
            && ev.w_strong.is_none()
            && ev.w_weak.is_none()
            && ev.g_weak <= ev.s_weak;
        let request_only = (ev.has(Request) || ev.has(Hedge)) && !failing;
        if let Some((a, b, in_system)) = ev.critical_sys
            && (personal || (in_system && request_only))
        {
            let t = if in_system {
                system.get(a as usize..b as usize).unwrap_or(system)
            } else {
                desc.get(a as usize..b as usize).unwrap_or("")
            };
            let why = if personal {
                "critical system, but only the writer is affected → no boost"
            } else {
                "critical system, but a request or question about it → no boost"
            };
            sig(t.to_string(), "system", why.into());
            ev.critical_sys = match ev.critical_desc {
                Some(sp) if !personal => Some((sp.0, sp.1, false)),
                _ => None,
            };
        }
        if let Some((a, b, in_system)) = ev.critical_sys {
            if in_system {
                ev.scope(Scope::WStrong, (u32::MAX, u32::MAX));
                let t = system
                    .get(a as usize..b as usize)
                    .unwrap_or(system)
                    .to_string();
                sig(t, "system", "critical system → impact widespread".into());
            } else {
                ev.scope(Scope::WWeak, (a, b));
            }
        }
        let crit_sys_only = ev.w_strong == Some((u32::MAX, u32::MAX));

        // "computer in pharmacy won't start, patients are waiting": the
        // people waiting are not the scope when one device is at fault
        if let (Some(dev), Some(_)) = (ev.single_device, ev.w_weak)
            && ev.w_weak_n <= ev.w_weak_pop_n
            && ev.w_strong.is_none()
            && ev.g_strong.is_none()
            && ev.critical_sys.is_none()
        {
            sig(
                q(dev),
                "scope",
                "one device at fault; the people waiting on it are not the scope".into(),
            );
            ev.w_weak = None;
        }

        // the public (customers, guests, passengers) affected outweighs a
        // count of the staff who are idle because of it
        if let Some(sp) = ev.w_public
            && ev.w_weak.is_some()
            && (ev.g_strong.is_none() || ev.g_strong == ev.g_counted)
            && ev.w_strong.is_none()
            && ev.partial.is_none()
            && ev.s_strong.is_none()
        {
            ev.w_strong = Some(sp);
        }

        // ---- impact
        let (impact, imp_strength) = if let (true, Some(sp)) = (crit_sys_only, ev.g_people) {
            sig(
                q(sp),
                "impact",
                "impact department or group (the named group, not the whole system)".into(),
            );
            (2, 0.8)
        } else if let Some(sp) = ev.s_strong {
            sig(q(sp), "impact", "impact one user or device".into());
            (3u8, 1.0f32)
        } else if let Some(sp) = ev.w_strong {
            if let Some(p) = ev.partial {
                if !crit_sys_only {
                    sig(q(sp), "impact", "impact widespread".into());
                }
                sig(
                    q(p),
                    "scope",
                    "others unaffected → impact limited to a group".into(),
                );
                (2, 0.8)
            } else {
                if !crit_sys_only {
                    sig(q(sp), "impact", "impact widespread".into());
                }
                (1, 1.0)
            }
        } else if let Some(sp) = ev.g_strong {
            sig(q(sp), "impact", "impact department or group".into());
            (2, 1.0)
        } else if let Some(sp) = ev.w_weak {
            if let Some(p) = ev.partial {
                sig(
                    q(p),
                    "scope",
                    "others unaffected → impact limited to a group".into(),
                );
                (2, 0.6)
            } else {
                sig(q(sp), "impact", "impact widespread".into());
                (1, 0.6)
            }
        } else if ev.g_weak > ev.s_weak {
            if let Some(sp) = ev.g_weak_span {
                sig(
                    q(sp),
                    "impact",
                    "impact department or group (plural users)".into(),
                );
            }
            (2, 0.5)
        } else {
            sig(
                String::new(),
                "impact",
                "no wider scope stated → impact one user".into(),
            );
            (3, if ev.s_weak > 0 { 0.6 } else { 0.3 })
        };

        // harm to people across a ward, floor or area is widespread
        // and so is a safety system that is not one person's ("the level
        // crossing camera", "the fire panel in building C")
        let nobody_in_particular = ev.s_strong.is_none() && ev.s_weak == 0;
        let (impact, imp_strength) = match ev.sp(LifeSafety) {
            Some(sp) if impact == 2 || (impact == 3 && nobody_in_particular) => {
                sig(
                    q(sp),
                    "impact",
                    "people's safety at risk across a group or area → impact widespread".into(),
                );
                (1, imp_strength.min(0.8))
            }
            _ => (impact, imp_strength),
        };

        // ---- urgency
        if ev.has(SecurityIncident)
            && !ev.has(Harm)
            && !ev.has(LifeSafety)
            && !ev.has(DataLoss)
            && ev.has(Reassurance)
        {
            // "flagged a trojan and quarantined it, scan is clean": contained
            let sp = ev.sp(SecurityIncident).unwrap();
            ev.count[slot(SecurityIncident)] = 0;
            ev.add(Threat, sp);
            sig(
                q(ev.sp(Reassurance).unwrap()),
                "reassurance",
                "incident contained → treated as a threat".into(),
            );
        }
        let hard = [LifeSafety, Harm, SecurityIncident, DataLoss]
            .into_iter()
            .find(|&c| ev.has(c));
        let has = |c: Concept| ev.has(c);
        let softener = [Workaround, Intermittent, Reassurance]
            .into_iter()
            .find(|&c| has(c));
        let minor = has(Hedge) || has(Request);
        let mut urg_strength: f32;
        let mut urgency: u8;
        if let Some(h) = hard {
            let (kind, eff) = match h {
                Harm => ("urgency", "urgency: harm or safety risk now"),
                LifeSafety => ("urgency", "urgency: people's safety at risk now"),
                SecurityIncident => ("urgency", "urgency: security incident in progress"),
                _ => ("urgency", "urgency: data loss"),
            };
            sig(q(ev.sp(h).unwrap()), kind, eff.into());
            if let Some(sp) = ev.sp(Hedge) {
                sig(
                    q(sp),
                    "hedge",
                    "calm wording ignored: the facts describe an emergency".into(),
                );
            }
            urgency = 1;
            urg_strength = 1.0;
        } else if has(Outage) {
            let sp = ev.sp(Outage).unwrap();
            match softener {
                Some(sf) if has(Reassurance) && minor && !has(Workaround) => {
                    sig(q(sp), "urgency", "fault reported".into());
                    sig(
                        q(ev.sp(Reassurance).unwrap()),
                        "reassurance",
                        "works otherwise and played down → urgency minor".into(),
                    );
                    let _ = sf;
                    urgency = 3;
                    urg_strength = 0.6;
                }
                Some(sf) => {
                    sig(q(sp), "urgency", "work stopped".into());
                    let eff = match sf {
                        Workaround => "workaround exists → urgency degraded",
                        Intermittent => "intermittent → urgency degraded",
                        _ => "otherwise working → urgency degraded",
                    };
                    sig(q(ev.sp(sf).unwrap()), sf.name(), eff.into());
                    urgency = 2;
                    urg_strength = 0.8;
                }
                None => {
                    sig(q(sp), "urgency", "urgency: work stopped".into());
                    if let Some(h) = ev.sp(Hedge) {
                        sig(
                            q(h),
                            "hedge",
                            "calm wording ignored: work is stopped".into(),
                        );
                    }
                    urgency = 1;
                    urg_strength = 0.85;
                }
            }
        } else if has(Degraded) || has(Threat) || has(Intermittent) {
            let c = [Degraded, Threat, Intermittent]
                .into_iter()
                .find(|&c| has(c))
                .unwrap();
            let sp = ev.sp(c).unwrap();
            if has(Hedge) || (has(Reassurance) && !has(Workaround) && !has(Threat)) {
                let h = ev.sp(Hedge).or(ev.sp(Reassurance)).unwrap();
                sig(q(sp), c.name(), "minor fault".into());
                sig(q(h), "hedge", "played down → urgency minor".into());
                urgency = 3;
                urg_strength = 0.6;
            } else {
                let eff = if c == Threat {
                    "urgency: threat, not yet harmful"
                } else {
                    "urgency: degraded"
                };
                sig(q(sp), "urgency", eff.into());
                urgency = 2;
                urg_strength = 0.7;
            }
        } else if minor || ((has(Reassurance) || has(Workaround)) && !has(Problem)) {
            let sp = ev
                .sp(Request)
                .or(ev.sp(Hedge))
                .or(ev.sp(Reassurance))
                .or(ev.sp(Workaround))
                .unwrap();
            let eff = if has(Request) {
                "request or question → urgency minor"
            } else {
                "urgency minor"
            };
            sig(q(sp), "urgency", eff.into());
            urgency = 3;
            urg_strength = 0.75;
        } else if has(Problem) {
            sig(
                q(ev.sp(Problem).unwrap()),
                "urgency",
                "fault reported → urgency degraded".into(),
            );
            urgency = 2;
            urg_strength = 0.4;
        } else {
            sig(
                String::new(),
                "urgency",
                "no clear urgency stated → urgency degraded".into(),
            );
            urgency = 2;
            urg_strength = 0.25;
        }
        if urgency == 3
            && let Some(sp) = ev.sp(Deadline)
        {
            sig(
                q(sp),
                "deadline",
                "deadline today → urgency at least degraded".into(),
            );
            urgency = 2;
            urg_strength = urg_strength.max(0.7);
        } else if let Some(sp) = ev.sp(Deadline)
            && urgency == 2
        {
            sig(q(sp), "deadline", "deadline today".into());
        }
        if urgency == 3 && has(Alarm) && !minor && !has(Reassurance) {
            sig(
                q(ev.sp(Alarm).unwrap()),
                "alarm",
                "alarm words without a request → urgency degraded".into(),
            );
            urgency = 2;
        }
        if let Some(sp) = ev.negated {
            sig(q(sp), "negation", "negated: not counted as evidence".into());
        }
        if let Some(sp) = ev.quoted_alarm {
            sig(
                q(sp),
                "quoted",
                "alarming words inside a quote, label or log line: not counted".into(),
            );
        }
        if ev.shouting >= 2 || ev.exclaims >= 3 {
            sig(
                ev.tone_span.map(q).unwrap_or_default(),
                "tone",
                "capitals/exclamation marks noted; tone alone does not set urgency".into(),
            );
        }

        // ---- category
        if ev.has(SecurityIncident) {
            // an active incident goes to security whatever system it hit
            ev.cat[Category::Security as usize] += 20;
        } else if ev.has(Threat) {
            ev.cat[Category::Security as usize] += 4;
        }
        let mut best = Category::Software;
        let mut best_score = 0u32;
        for c in CAT_PRECEDENCE {
            if ev.cat[c as usize] > best_score {
                best = c;
                best_score = ev.cat[c as usize];
            }
        }
        let second = Category::ALL
            .iter()
            .filter(|&&c| c != best)
            .map(|&c| ev.cat[c as usize])
            .max()
            .unwrap_or(0);
        let cat_conf = if best_score == 0 {
            0.1
        } else {
            let margin = (best_score - second) as f32 / best_score as f32;
            (best_score as f32 / 8.0).min(1.0) * (0.5 + 0.5 * margin)
        };
        let cat_text = ev.cat_span[best as usize].map(q).unwrap_or_default();
        if best_score == 0 {
            sig(
                String::new(),
                "category",
                "no category cue → software (default)".into(),
            );
        } else {
            sig(cat_text, "category", format!("category {}", best.as_str()));
        }

        // a signal always quotes what it rests on: for a default (nothing
        // stated), that is the ticket as given - its system field, else its
        // opening words
        let fallback = || {
            let sys = system.trim();
            if !sys.is_empty() {
                return sys.to_string();
            }
            let d = desc.trim();
            let mut end = d.len().min(40);
            while !d.is_char_boundary(end) {
                end -= 1;
            }
            if end == 0 {
                "(empty ticket)".to_string()
            } else {
                d[..end].to_string()
            }
        };
        for s in &mut signals {
            if s.text.trim().is_empty() {
                s.text = fallback();
            }
        }

        let priority = Priority::from_matrix(impact, urgency);
        let confidence =
            (0.35 * imp_strength + 0.35 * urg_strength + 0.3 * cat_conf).clamp(0.05, 0.99);
        let confidence = (confidence * 100.0).round() / 100.0;
        let pos = if hard.is_some() {
            1.0
        } else {
            (3 - urgency) as f32 / 2.0
        };
        let within = (0.6 * confidence + 0.4 * pos).clamp(0.0, 1.0);
        let base = match priority {
            Priority::Low => 0.0,
            Priority::Medium => 25.0,
            Priority::High => 50.0,
            Priority::Critical => 76.0,
        };
        let priority_score = (base + (24.0 * within).round()) as u8;
        Triage {
            priority,
            priority_score,
            analysis: Analysis {
                impact,
                urgency,
                category: best,
                team: self.teams[best as usize].clone(),
                signals,
                confidence,
                model_version: model_version.to_string(),
            },
        }
    }
}
