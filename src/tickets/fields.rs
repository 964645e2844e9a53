//! The submitted fields, each a type that can only hold a valid value
//! (and the email address shared with the staff file).

use std::fmt;

/// Why a submitted field was refused. The message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
    #[error("{field} is too long: {len} characters, at most {max}")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{field} contains a control character (only newline and tab are allowed)")]
    ControlChar { field: &'static str },
    #[error("{field} contains an invisible formatting character ({what}, U+{code:04X})")]
    Invisible {
        field: &'static str,
        what: &'static str,
        code: u32,
    },
    #[error("{field} is not a valid email address: {reason}")]
    NotEmail { field: &'static str, reason: String },
    #[error("{field} is required")]
    Missing { field: &'static str },
    #[error("{field} must be a string")]
    NotString { field: &'static str },
    #[error(
        "{field} may hold only visible ASCII characters (letters, digits, punctuation; no spaces)"
    )]
    NotVisibleAscii { field: &'static str },
    #[error("unknown field {field:?}")]
    Unknown { field: String },
    #[error("data must be a JSON object")]
    NotObject,
}

impl FieldError {
    /// The name of the offending field.
    pub fn field(&self) -> &str {
        match self {
            FieldError::Empty { field }
            | FieldError::TooLong { field, .. }
            | FieldError::ControlChar { field }
            | FieldError::Invisible { field, .. }
            | FieldError::NotEmail { field, .. }
            | FieldError::Missing { field }
            | FieldError::NotString { field }
            | FieldError::NotVisibleAscii { field } => field,
            FieldError::Unknown { field } => field,
            FieldError::NotObject => "data",
        }
    }
}

/// How strict a field is about invisible formatting characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Free text: a zero-width joiner between two visible characters (an
    /// emoji sequence, some scripts) is allowed.
    Text,
    /// A name shown in lists: no invisible formatting character at all.
    Name,
}

/// Characters that change how text is displayed without being seen:
/// bidirectional overrides and isolates (which can make a name or a ticket
/// read differently from what it says), zero-width characters and the
/// Unicode line and paragraph separators. Returns what it is, if refused.
fn invisible(kind: Kind, prev: Option<char>, c: char, next: Option<char>) -> Option<&'static str> {
    match c {
        '\u{202A}'..='\u{202E}' => Some("bidirectional override"),
        '\u{2066}'..='\u{2069}' => Some("bidirectional isolate"),
        '\u{2028}' => Some("line separator"),
        '\u{2029}' => Some("paragraph separator"),
        '\u{200B}' | '\u{200C}' | '\u{2060}' | '\u{FEFF}' => Some("zero-width character"),
        '\u{200D}' => {
            let visible = |c: Option<char>| c.is_some_and(|c| !c.is_whitespace());
            if kind == Kind::Text && visible(prev) && visible(next) {
                None
            } else {
                Some("zero-width joiner outside a word")
            }
        }
        '\u{200E}' | '\u{200F}' | '\u{061C}' if kind == Kind::Name => Some("bidirectional mark"),
        _ => None,
    }
}

/// Trims, then checks length (in characters), control characters and
/// invisible formatting characters.
fn parse_text(
    field: &'static str,
    kind: Kind,
    raw: String,
    max: usize,
) -> Result<String, FieldError> {
    check_text(field, &raw, max)?;
    let mut chars = raw.trim().chars().peekable();
    let mut prev = None;
    while let Some(c) = chars.next() {
        if let Some(what) = invisible(kind, prev, c, chars.peek().copied()) {
            return Err(FieldError::Invisible {
                field,
                what,
                code: c as u32,
            });
        }
        prev = Some(c);
    }
    let trimmed = raw.trim();
    Ok(if trimmed.len() == raw.len() {
        raw
    } else {
        trimmed.to_string()
    })
}

fn check_text(field: &'static str, raw: &str, max: usize) -> Result<(), FieldError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(FieldError::Empty { field });
    }
    let mut len = 0;
    for c in text.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            return Err(FieldError::ControlChar { field });
        }
        len += 1;
    }
    if len > max {
        return Err(FieldError::TooLong { field, len, max });
    }
    Ok(())
}

macro_rules! text_field {
    ($(#[$doc:meta])* $name:ident, $field:literal, $kind:expr, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            /// The longest value accepted, in characters after trimming.
            pub const MAX_CHARS: usize = $max;

            /// Trims and checks the value.
            pub fn parse(raw: String) -> Result<Self, FieldError> {
                parse_text($field, $kind, raw, $max).map($name)
            }

            /// Checks a value without keeping it (used when loading the
            /// store, so it leaves out the invisible-character rules added
            /// after tickets were first stored: a store never stops loading).
            pub fn check(raw: &str) -> Result<(), FieldError> {
                check_text($field, raw, $max)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_field!(
    /// What is wrong: 1 to 5000 characters after trimming.
    Description,
    "description",
    Kind::Text,
    5000
);
text_field!(
    /// The affected system: 1 to 100 characters after trimming.
    SystemName,
    "system",
    Kind::Name,
    100
);
text_field!(
    /// Who asks: 1 to 100 characters after trimming.
    Requester,
    "requester",
    Kind::Name,
    100
);

text_field!(
    /// A team tickets are routed to: 1 to 100 characters after trimming.
    TeamName,
    "team",
    Kind::Name,
    100
);
text_field!(
    /// A staff member a ticket is assigned to: 1 to 100 characters.
    Assignee,
    "assignee",
    Kind::Name,
    100
);
text_field!(
    /// A comment's text: 1 to 10,000 characters after trimming.
    CommentBody,
    "body",
    Kind::Text,
    10_000
);
text_field!(
    /// What a pending ticket waits for: 1 to 500 characters.
    PendingReason,
    "pending_reason",
    Kind::Text,
    500
);

/// An email address: a requester's (optional on `submit_ticket`) or a staff
/// member's (the staff file's fourth field). Trimmed, at most 254
/// characters, an RFC 5322 `local@domain` (the `email_address` crate, which
/// the mailer's own address type uses too) held to a stricter shape than the
/// RFC: exactly one `@`, no quoted local part, a domain with at least one
/// dot and no `[IP]` literal, no display name, and no whitespace, control or
/// invisible formatting character anywhere. An address is personal data:
/// it is kept with a ticket's private part and never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// The longest address accepted, in characters (RFC 5321's path limit
    /// less the angle brackets).
    pub const MAX_CHARS: usize = 254;

    /// Trims and checks an address; the error names the field `email`.
    pub fn parse(raw: String) -> Result<Self, FieldError> {
        const FIELD: &str = "email";
        let bad = |reason: &str| FieldError::NotEmail {
            field: FIELD,
            reason: reason.to_string(),
        };
        let text = raw.trim();
        if text.is_empty() {
            return Err(FieldError::Empty { field: FIELD });
        }
        let len = text.chars().count();
        if len > Self::MAX_CHARS {
            return Err(FieldError::TooLong {
                field: FIELD,
                len,
                max: Self::MAX_CHARS,
            });
        }
        if text.chars().any(|c| c.is_control()) {
            return Err(FieldError::ControlChar { field: FIELD });
        }
        if text.chars().any(char::is_whitespace) {
            return Err(bad("it contains a space"));
        }
        for c in text.chars() {
            if let Some(what) = invisible(Kind::Name, None, c, None) {
                return Err(FieldError::Invisible {
                    field: FIELD,
                    what,
                    code: c as u32,
                });
            }
        }
        let Some((local, domain)) = text.split_once('@') else {
            return Err(bad("it needs an @ between the name and the domain"));
        };
        if domain.contains('@') {
            return Err(bad("it has more than one @"));
        }
        if local.is_empty() {
            return Err(bad("nothing before the @"));
        }
        if local.starts_with('"') {
            return Err(bad("a quoted name before the @ is not accepted"));
        }
        if !domain.contains('.') {
            return Err(bad("the domain needs a dot (example.com)"));
        }
        let options = ::email_address::Options::default()
            .with_required_tld()
            .without_domain_literal()
            .without_display_text();
        ::email_address::EmailAddress::parse_with_options(text, options)
            .map_err(|e| bad(&e.to_string()))?;
        Ok(EmailAddress(if text.len() == raw.len() {
            raw
        } else {
            text.to_string()
        }))
    }

    /// Parses an optional field: absent, or blank (an empty form input),
    /// is no address.
    pub fn parse_optional(raw: Option<String>) -> Result<Option<Self>, FieldError> {
        match raw {
            Some(raw) if !raw.trim().is_empty() => EmailAddress::parse(raw).map(Some),
            _ => Ok(None),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Personal data: `{:?}` does not print the address (a derived `Debug`
/// would put it in any log line that formats a `NewTicket`).
impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EmailAddress(…)")
    }
}

/// Takes the string fields `names` out of a JSON object, refusing unknown
/// keys, missing fields and wrong types, each with a message naming the
/// field. Shared by every transport, so validation lives in one place.
/// The most characters an idempotency key holds.
pub const IDEMPOTENCY_KEY_MAX: usize = 128;

/// An optional `idempotency_key`: 1 to 128 visible ASCII characters (a UUID,
/// a hash, the client's own request id).
pub fn idempotency_key(value: Option<String>) -> Result<Option<String>, FieldError> {
    const FIELD: &str = "idempotency_key";
    let Some(key) = value else {
        return Ok(None);
    };
    if key.is_empty() {
        return Err(FieldError::Empty { field: FIELD });
    }
    if key.len() > IDEMPOTENCY_KEY_MAX {
        return Err(FieldError::TooLong {
            field: FIELD,
            len: key.chars().count(),
            max: IDEMPOTENCY_KEY_MAX,
        });
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(FieldError::NotVisibleAscii { field: FIELD });
    }
    Ok(Some(key))
}

pub fn take_strings<const N: usize>(
    value: serde_json::Value,
    names: [&'static str; N],
    optional: &[&'static str],
) -> Result<[Option<String>; N], FieldError> {
    let serde_json::Value::Object(map) = value else {
        return Err(FieldError::NotObject);
    };
    let mut out: [Option<String>; N] = std::array::from_fn(|_| None);
    for (key, value) in map {
        let Some(index) = names.iter().position(|n| *n == key) else {
            let mut field: String = key.chars().take(64).collect();
            if field.len() < key.len() {
                field.push('…');
            }
            return Err(FieldError::Unknown { field });
        };
        match value {
            serde_json::Value::String(s) => out[index] = Some(s),
            _ => {
                return Err(FieldError::NotString {
                    field: names[index],
                });
            }
        }
    }
    for (index, name) in names.iter().enumerate() {
        if out[index].is_none() && !optional.contains(name) {
            return Err(FieldError::Missing { field: name });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_accepts_newline_and_tab() {
        let d = Description::parse("  line one\n\tline two  ".into()).unwrap();
        assert_eq!(d.as_str(), "line one\n\tline two");
    }

    #[test]
    fn refuses_blank() {
        assert_eq!(
            SystemName::parse("   ".into()),
            Err(FieldError::Empty { field: "system" })
        );
    }

    #[test]
    fn counts_characters_not_bytes() {
        assert!(Requester::parse("é".repeat(100)).is_ok());
        let err = Requester::parse("é".repeat(101)).unwrap_err();
        assert_eq!(err.field(), "requester");
        assert!(matches!(err, FieldError::TooLong { len: 101, .. }));
    }

    #[test]
    fn description_limit_is_5000() {
        assert!(Description::parse("a".repeat(5000)).is_ok());
        assert!(Description::parse("a".repeat(5001)).is_err());
    }

    #[test]
    fn take_strings_names_the_field() {
        use serde_json::json;
        let names = ["a", "b"];
        assert_eq!(
            take_strings(json!({"a": "x"}), names, &[]),
            Err(FieldError::Missing { field: "b" })
        );
        assert_eq!(
            take_strings(json!({"a": "x", "b": 1}), names, &[]),
            Err(FieldError::NotString { field: "b" })
        );
        assert_eq!(
            take_strings(json!({"a": "x", "c": "y"}), names, &[]),
            Err(FieldError::Unknown { field: "c".into() })
        );
        assert_eq!(
            take_strings(json!([1]), names, &[]),
            Err(FieldError::NotObject)
        );
        assert_eq!(
            take_strings(json!({"a": "x"}), names, &["b"]),
            Ok([Some("x".to_string()), None])
        );
    }

    #[test]
    fn refuses_control_characters() {
        let err = Description::parse("bell\u{7}".into()).unwrap_err();
        assert_eq!(
            err,
            FieldError::ControlChar {
                field: "description"
            }
        );
        assert!(Description::parse("nul\u{0}x".into()).is_err());
        assert!(Description::parse("esc\u{1b}[31m".into()).is_err());
    }

    #[test]
    fn refuses_invisible_formatting_characters_naming_the_field() {
        for c in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
            '\u{2068}', '\u{2069}', '\u{2028}', '\u{2029}', '\u{200B}', '\u{200C}', '\u{FEFF}',
        ] {
            let err = Description::parse(format!("pay{c}slip")).unwrap_err();
            assert!(
                matches!(err, FieldError::Invisible { field: "description", code, .. } if code == c as u32),
                "{c:?}: {err:?}"
            );
            assert_eq!(
                Requester::parse(format!("Ann{c}a")).unwrap_err().field(),
                "requester"
            );
            assert_eq!(
                SystemName::parse(format!("V{c}PN")).unwrap_err().field(),
                "system"
            );
        }
        let err = Description::parse("bad \u{202E}gnp.exe".into()).unwrap_err();
        assert!(err.to_string().contains("U+202E"), "{err}");
    }

    #[test]
    fn email_is_trimmed_and_checked() {
        let e = EmailAddress::parse("  ana.lopez+it@mail.example.com ".into()).unwrap();
        assert_eq!(e.as_str(), "ana.lopez+it@mail.example.com");
        assert!(EmailAddress::parse("élodie@exemple.fr".into()).is_ok());
        for bad in [
            "ana",
            "@example.com",
            "ana@",
            "ana@localhost",
            "ana@@example.com",
            "ana@b@example.com",
            "an a@example.com",
            "ana@exa mple.com",
            "ana@example..com",
            "ana@-example.com",
            ".ana@example.com",
            "ana.@example.com",
            "\"ana\"@example.com",
            "ana@[192.0.2.1]",
            "Ana <ana@example.com>",
            "ana@example.com\r\nBcc: x@example.com",
            "ana\u{202E}@example.com",
            "ana\u{200B}@example.com",
        ] {
            let err = EmailAddress::parse(bad.into()).unwrap_err();
            assert_eq!(err.field(), "email", "{bad:?}: {err}");
        }
        let local = "a".repeat(64);
        let label = "b".repeat(63);
        let long = format!("{local}@{label}.{label}.{label}.{}.com", "c".repeat(50));
        assert!(long.chars().count() > 254);
        assert!(matches!(
            EmailAddress::parse(long).unwrap_err(),
            FieldError::TooLong {
                field: "email",
                max: 254,
                ..
            }
        ));
        assert_eq!(
            EmailAddress::parse("  ".into()),
            Err(FieldError::Empty { field: "email" })
        );
        assert_eq!(EmailAddress::parse_optional(Some(" ".into())), Ok(None));
        assert_eq!(EmailAddress::parse_optional(None), Ok(None));
        assert!(!format!("{e:?}").contains("ana"), "Debug hides the address");
    }

    #[test]
    fn submission_takes_an_optional_email() {
        use crate::tickets::NewTicket;
        use serde_json::json;
        let base = json!({"description": "VPN drops", "system": "VPN", "requester": "Ana"});
        assert_eq!(NewTicket::from_json(base.clone()).unwrap().email, None);
        let mut with = base.clone();
        with["email"] = json!(" ana@example.com ");
        let new = NewTicket::from_json(with).unwrap();
        assert_eq!(new.email.unwrap().as_str(), "ana@example.com");
        let mut blank = base.clone();
        blank["email"] = json!("");
        assert_eq!(NewTicket::from_json(blank).unwrap().email, None);
        let mut bad = base.clone();
        bad["email"] = json!("ana at example");
        assert_eq!(NewTicket::from_json(bad).unwrap_err().field(), "email");
        let mut number = base;
        number["email"] = json!(7);
        assert_eq!(
            NewTicket::from_json(number),
            Err(FieldError::NotString { field: "email" })
        );
    }

    #[test]
    fn the_requester_email_stays_out_of_events_listings_exports_and_audit() {
        use crate::events::Event;
        use crate::tickets::{NewTicket, Ticket, conversation, export};
        use serde_json::json;
        let new = NewTicket::from_json(json!({
            "description": "VPN drops", "system": "VPN", "requester": "Ana",
            "email": "ana.secret@example.com"
        }))
        .unwrap();
        let triage = crate::triage::Analyzer::builtin().analyze("VPN drops", "VPN");
        let ticket = Ticket::create(new, triage, chrono::Utc::now());
        assert_eq!(
            ticket.private.requester_email.as_deref(),
            Some("ana.secret@example.com")
        );
        let secret = "ana.secret";
        // Events (new_ticket and the rest share the ticket's serialization).
        let frame = Event::NewTicket(&ticket).encode(None);
        assert!(!frame.as_str().contains(secret), "{}", frame.as_str());
        assert!(
            !Event::TicketUpdated(&ticket)
                .encode_change(3)
                .as_str()
                .contains(secret)
        );
        // Listings and the audit's before/after copies.
        let listed = serde_json::to_string(&ticket).unwrap();
        assert!(!listed.contains(secret));
        assert!(
            !serde_json::to_value(&ticket)
                .unwrap()
                .to_string()
                .contains(secret)
        );
        // The CSV export.
        let csv = export::rows([&ticket]).unwrap();
        assert!(!String::from_utf8(csv).unwrap().contains(secret));
        // Only the store's own files keep it, and read it back.
        let stored = conversation::storing(|| serde_json::to_string(&ticket).unwrap());
        assert!(stored.contains("ana.secret@example.com"));
        let back: Ticket = serde_json::from_str(&stored).unwrap();
        assert_eq!(back.private.requester_email, ticket.private.requester_email);
    }

    #[test]
    fn a_joiner_inside_a_word_is_text_but_never_a_name() {
        // A family emoji is three people joined by ZWJ.
        let family = "printer jam \u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467} help";
        assert!(Description::parse(family.into()).is_ok());
        assert!(Description::parse("joiner \u{200D} alone".into()).is_err());
        assert!(Description::parse("\u{200D}start".into()).is_err());
        assert!(Requester::parse("Ann\u{200D}a".into()).is_err());
        assert!(SystemName::parse("V\u{200F}PN".into()).is_err());
        assert!(Description::parse("\u{5E9}\u{200F}\u{5DC}".into()).is_ok());
    }
}
