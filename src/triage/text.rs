//! Tokenizer and light stemmer shared by the lexicon and the analyzer.
//!
//! Text is split into lower-case word tokens. Apostrophes inside words are
//! folded ("can't" -> "cant", "we're" -> "we"), hyphens split words
//! ("company-wide" -> "company", "wide"), and a light suffix stripper maps
//! inflections onto one stem ("crashes", "crashed" -> "crash"). The same code
//! builds the lexicon, so the two always agree.

/// The token starts a sentence.
pub const F_SENT_START: u16 = 1 << 1;
/// The token starts a clause (sentence start, after a comma, dash, "but", ...).
pub const F_CLAUSE_START: u16 = 1 << 2;
/// All letters upper case (at least three letters).
pub const F_ALLCAPS: u16 = 1 << 3;
/// First letter upper case.
pub const F_CAPITALIZED: u16 = 1 << 4;
/// The surface form ended in "ing".
pub const F_ING: u16 = 1 << 5;
/// Pure number (value in `num`).
pub const F_NUMBER: u16 = 1 << 6;
/// Followed directly by a ':' (log-line style "FATAL:").
pub const F_COLON_AFTER: u16 = 1 << 7;
/// Followed by a time-of-day suffix ("5pm", "3 pm").
pub const F_CLOCK: u16 = 1 << 8;

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '’')
}

/// Light stemmer: folds plural and -ed/-ing inflections and a final "e".
/// Works in place on an ASCII-lowercase word.
pub fn stem(w: &mut String) {
    if w.bytes().any(|c| c.is_ascii_digit()) || !w.is_ascii() {
        return;
    }
    let n = w.len();
    let mut stripped_verb = false;
    if n > 4 && (w.ends_with("ies") || w.ends_with("ied")) {
        w.truncate(n - 3);
        w.push('y');
    } else if n > 3
        && w.ends_with("es")
        && (w.ends_with("xes")
            || w.ends_with("ches")
            || w.ends_with("shes")
            || w.ends_with("sses")
            || w.ends_with("zes"))
    {
        w.truncate(n - 2);
    } else if n > 3
        && w.ends_with('s')
        && !w.ends_with("ss")
        && !w.ends_with("us")
        && !w.ends_with("is")
    {
        w.truncate(n - 1);
    } else if n == 3
        && w.ends_with('s')
        && !w[..2]
            .bytes()
            .any(|b| matches!(b, b'a' | b'e' | b'i' | b'o' | b'u' | b'y'))
    {
        // "pcs", "vms", "dcs"
        w.truncate(2);
    } else if n > 5 && w.ends_with("ing") {
        w.truncate(n - 3);
        stripped_verb = true;
    } else if n > 4 && w.ends_with("ed") && !w.ends_with("eed") {
        w.truncate(n - 2);
        stripped_verb = true;
    }
    if stripped_verb {
        let b = w.as_bytes();
        let l = b.len();
        if l >= 3 && b[l - 1] == b[l - 2] && !matches!(b[l - 1], b'l' | b's' | b'z' | b'e' | b'o') {
            w.truncate(l - 1);
        }
    }
    if w.len() > 4 && w.ends_with('e') && !w.ends_with("ee") {
        w.pop();
    }
}

/// Common informal spellings and typos folded before stemming.
pub fn normalize_word(w: &str) -> Option<&'static str> {
    Some(match w {
        "didnt" | "doesnt" | "dont" | "isnt" | "arent" | "wasnt" | "werent" | "hasnt"
        | "havent" | "hadnt" | "aint" | "didn" | "doesn" | "isn" | "n't" => "not",
        "cannot" | "couldnt" | "cant" | "cnt" | "carnt" => "cant",
        "wont" | "wouldnt" | "wnt" => "wont",
        "recieve" | "recieved" | "receiving" | "recieving" => "receive",
        "thru" => "through",
        "sometimes" => "intermittently",
        "expires" | "expiring" => "expiry",
        "ppl" | "peeps" | "folks" => "people",
        "pls" | "plz" | "plse" => "please",
        "asap" => "asap",
        "everyon" | "evryone" | "everyome" | "evreyone" | "every1" => "everyone",
        "nobdy" | "noone" | "nobodys" => "nobody",
        "evrything" | "everthing" => "everything",
        "emial" | "emails" | "e-mail" | "mails" => "email",
        "pasword" | "passwrd" | "pwd" | "passwd" => "password",
        "wifi" | "wlan" => "wi fi",
        "internt" | "interent" => "internet",
        "teh" => "the",
        "u" => "you",
        "im" => "i",
        "ive" => "i",
        "offine" | "ofline" => "offline",
        "urgnt" | "urgant" | "ugent" => "urgent",
        "immediatly" | "immediatley" => "immediately",
        "comapny" | "compnay" | "companywide" => "company wide",
        "printr" | "priner" | "pritner" => "printer",
        "orgnisation" | "organisation" | "organization" | "org" => "organisation",
        "centre" | "center" => "centre",
        "licence" | "license" | "licences" | "licenses" => "licence",
        "bluescreen" | "bsod" => "blue screen",
        "login" | "logon" | "signin" => "log in",
        "logins" => "log in",
        "lockout" => "lock out",
        "cant't" => "cant",
        _ => return None,
    })
}

/// The character starting at byte `i` of `text` (`i` on a boundary).
#[inline]
fn char_at(text: &str, i: usize) -> Option<char> {
    let b = *text.as_bytes().get(i)?;
    if b < 0x80 {
        Some(b as char)
    } else {
        text[i..].chars().next()
    }
}

/// Callback-based tokenizer: `emit(word, start, end, flags, num)` is called
/// for each word (already lower-cased, normalized and stemmed; multi-word
/// normalizations are emitted as several tokens with the same span).
pub fn tokenize_with<F: FnMut(&str, usize, usize, u16, u16, u16, u32)>(text: &str, mut emit: F) {
    let mut buf = String::with_capacity(32);
    let mut part_buf = String::with_capacity(32);
    let mut sent: u16 = 0;
    let mut clause: u16 = 0;
    let mut pending = F_SENT_START | F_CLAUSE_START;
    // Byte index of the next character; ASCII (most text) is read as bytes.
    let mut pos = 0;
    while let Some(c) = char_at(text, pos) {
        let i = pos;
        if c.is_alphanumeric() {
            // read a word: alphanumerics with inner apostrophes
            let start = i;
            let mut end = i;
            let mut upper = 0usize;
            let mut lower = 0usize;
            let mut first_upper = false;
            buf.clear();
            let mut apos_suffix: Option<usize> = None; // byte index in buf where suffix starts
            while let Some(d) = char_at(text, pos) {
                if d.is_ascii() {
                    if d.is_ascii_lowercase() || d.is_ascii_digit() {
                        lower += usize::from(d.is_ascii_lowercase());
                        buf.push(d);
                        pos += 1;
                        end = pos;
                        continue;
                    }
                    if d.is_ascii_uppercase() {
                        if pos == start {
                            first_upper = true;
                        }
                        upper += 1;
                        buf.push(d.to_ascii_lowercase());
                        pos += 1;
                        end = pos;
                        continue;
                    }
                }
                if d.is_alphanumeric() {
                    if d.is_uppercase() {
                        if pos == start {
                            first_upper = true;
                        }
                        upper += 1;
                    } else if d.is_lowercase() {
                        lower += 1;
                    }
                    for l in d.to_lowercase() {
                        buf.push(l);
                    }
                    pos += d.len_utf8();
                    end = pos;
                } else if is_apostrophe(d) {
                    // inner apostrophe only if followed by a letter
                    let after = pos + d.len_utf8();
                    match char_at(text, after) {
                        Some(e) if e.is_alphabetic() && apos_suffix.is_none() => {
                            apos_suffix = Some(buf.len());
                            pos = after;
                        }
                        _ => break,
                    }
                } else {
                    break;
                }
            }
            // fold contractions
            if let Some(k) = apos_suffix {
                match &buf[k..] {
                    "t" => {
                        // n't
                        let folded = match &buf[..k] {
                            "can" | "couldn" => "cant",
                            "won" | "wouldn" => "wont",
                            _ => "not",
                        };
                        buf.clear();
                        buf.push_str(folded);
                    }
                    "s" | "re" | "ve" | "ll" | "d" | "m" => buf.truncate(k),
                    _ => {}
                }
            }
            let mut flags = pending;
            pending = 0;
            if upper >= 3 && lower == 0 {
                flags |= F_ALLCAPS;
            }
            if first_upper {
                flags |= F_CAPITALIZED;
            }
            if buf.ends_with("ing") {
                flags |= F_ING;
            }
            // colon directly after
            if text.as_bytes().get(pos) == Some(&b':') {
                flags |= F_COLON_AFTER;
            }
            let mut num = 0u32;
            // split "5pm" style clock tokens
            let digits = buf.bytes().take_while(|b| b.is_ascii_digit()).count();
            if digits > 0 && digits == buf.len() {
                flags |= F_NUMBER;
                num = buf.parse::<u32>().unwrap_or(u32::MAX);
                // look ahead for am/pm as a separate token
                let trimmed = text[end..].trim_start_matches(' ');
                if let [a, m, ..] = trimmed.as_bytes()
                    && matches!(a.to_ascii_lowercase(), b'a' | b'p')
                    && m.eq_ignore_ascii_case(&b'm')
                    && !trimmed[2..].starts_with(|c: char| c.is_alphanumeric())
                {
                    flags |= F_CLOCK;
                }
            } else if digits > 0
                && digits <= 2
                && (buf[digits..] == *"pm" || buf[digits..] == *"am")
            {
                flags |= F_NUMBER | F_CLOCK;
                num = buf[..digits].parse::<u32>().unwrap_or(0);
                buf.truncate(digits);
            }
            if flags & F_NUMBER == 0 {
                if let Some(norm) = normalize_word(&buf) {
                    let mut first = true;
                    for part in norm.split(' ') {
                        part_buf.clear();
                        part_buf.push_str(part);
                        stem(&mut part_buf);
                        let f = if first {
                            flags
                        } else {
                            flags & !(F_SENT_START | F_CLAUSE_START)
                        };
                        first = false;
                        emit(&part_buf, start, end, f, sent, clause, 0);
                    }
                    continue;
                }
                stem(&mut buf);
            }
            emit(&buf, start, end, flags, sent, clause, num);
            if buf == "but" {
                clause = clause.wrapping_add(1);
                pending |= F_CLAUSE_START;
            }
        } else {
            pos += c.len_utf8();
            match c {
                '.' | '!' | '?' | '\n' => {
                    // a '.' between digits/letters (5.7.1, www.x.com) is not a sentence end
                    let next = char_at(text, pos).unwrap_or(' ');
                    if c == '.' && next.is_alphanumeric() {
                        continue;
                    }
                    sent = sent.wrapping_add(1);
                    clause = clause.wrapping_add(1);
                    pending |= F_SENT_START | F_CLAUSE_START;
                }
                ';' | ',' | '(' | ')' | '—' | '–' | '[' | ']' => {
                    clause = clause.wrapping_add(1);
                    pending |= F_CLAUSE_START;
                }
                ':' => {
                    let next = char_at(text, pos).unwrap_or(' ');
                    if !next.is_ascii_digit() {
                        clause = clause.wrapping_add(1);
                        pending |= F_CLAUSE_START;
                    }
                }
                '-' => {
                    // " - " is a dash; "a-b" joins words (split into two tokens)
                    let prev_space = i > 0 && text.as_bytes()[i - 1] == b' ';
                    let next = char_at(text, pos).unwrap_or(' ');
                    if prev_space && next.is_whitespace() {
                        clause = clause.wrapping_add(1);
                        pending |= F_CLAUSE_START;
                    }
                }
                _ => {}
            }
        }
    }
}

/// Tokenizes a lexicon phrase into its stemmed words.
pub fn phrase_words(phrase: &str) -> Vec<String> {
    let mut out = Vec::new();
    tokenize_with(phrase, |w, _, _, _, _, _, _| out.push(w.to_string()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_agree() {
        let s = |w: &str| {
            let mut x = w.to_string();
            stem(&mut x);
            x
        };
        assert_eq!(s("crashes"), s("crashed"));
        assert_eq!(s("crash"), s("crashing"));
        assert_eq!(s("printers"), s("printer"));
        assert_eq!(s("dropped"), s("drop"));
        assert_eq!(s("shared"), s("share"));
        assert_eq!(s("databases"), s("database"));
        assert_eq!(s("companies"), s("company"));
    }

    #[test]
    fn contractions() {
        assert_eq!(
            phrase_words("can't won't doesn't we're"),
            ["cant", "wont", "not", "we"]
        );
    }
}
