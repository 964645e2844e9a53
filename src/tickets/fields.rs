//! The three submitted fields, each a type that can only hold a valid value.

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
    #[error("{field} is required")]
    Missing { field: &'static str },
    #[error("{field} must be a string")]
    NotString { field: &'static str },
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
            | FieldError::Missing { field }
            | FieldError::NotString { field } => field,
            FieldError::Unknown { field } => field,
            FieldError::NotObject => "data",
        }
    }
}

/// Trims, then checks length (in characters) and control characters.
fn parse_text(field: &'static str, raw: String, max: usize) -> Result<String, FieldError> {
    check_text(field, &raw, max)?;
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
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            /// The longest value accepted, in characters after trimming.
            pub const MAX_CHARS: usize = $max;

            /// Trims and checks the value.
            pub fn parse(raw: String) -> Result<Self, FieldError> {
                parse_text($field, raw, $max).map($name)
            }

            /// Checks a value without keeping it (used when loading the store).
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
    5000
);
text_field!(
    /// The affected system: 1 to 100 characters after trimming.
    SystemName,
    "system",
    100
);
text_field!(
    /// Who asks: 1 to 100 characters after trimming.
    Requester,
    "requester",
    100
);

/// Takes the string fields `names` out of a JSON object, refusing unknown
/// keys, missing fields and wrong types, each with a message naming the
/// field. Shared by every transport, so validation lives in one place.
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
}
