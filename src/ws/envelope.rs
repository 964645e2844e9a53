//! One incoming text frame: `{"event": NAME, "data": VALUE, "ref": "..."}`.

use serde_json::Value;

use crate::protocol::{ClientEvent, ProtocolError};
use crate::service::ErrorCode;

/// The longest `ref` a client may attach.
pub const MAX_REF_CHARS: usize = 64;

/// A parsed frame: the client's `ref` (if usable) and its event or error.
pub struct Incoming {
    pub reference: Option<String>,
    pub event: Result<ClientEvent, ProtocolError>,
}

fn bad_frame(message: &str) -> ProtocolError {
    ProtocolError::new(ErrorCode::BadFrame, message)
}

/// Parses a text frame. Never fails: a bad frame becomes an error to reply.
pub fn parse(text: &str) -> Incoming {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) if e.is_syntax() || e.is_eof() => {
            return Incoming {
                reference: None,
                event: Err(bad_frame("the frame is not valid JSON")),
            };
        }
        Err(_) => {
            return Incoming {
                reference: None,
                event: Err(bad_frame(
                    "the frame could not be read (too deeply nested?)",
                )),
            };
        }
    };
    let Value::Object(mut map) = value else {
        return Incoming {
            reference: None,
            event: Err(bad_frame(
                "a frame must be a JSON object {\"event\", \"data\"}",
            )),
        };
    };
    let reference = match map.remove("ref") {
        None => None,
        Some(Value::String(r)) if r.chars().count() <= MAX_REF_CHARS => Some(r),
        Some(_) => {
            return Incoming {
                reference: None,
                event: Err(bad_frame("ref must be a string of at most 64 characters")),
            };
        }
    };
    let event = (|| {
        let name = match map.remove("event") {
            Some(Value::String(name)) => name,
            Some(_) => return Err(bad_frame("event must be a string")),
            None => return Err(bad_frame("the frame has no \"event\"")),
        };
        let data = map.remove("data").unwrap_or(Value::Null);
        if let Some(key) = map.keys().next() {
            let shown: String = key.chars().take(64).collect();
            return Err(bad_frame(&format!(
                "unknown key {shown:?}; a frame has only event, data and ref"
            )));
        }
        ClientEvent::parse(&name, data)
    })();
    Incoming { reference, event }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> Option<ErrorCode> {
        parse(text).event.err().map(|e| e.code)
    }

    #[test]
    fn classifies_bad_frames() {
        assert_eq!(code("not json"), Some(ErrorCode::BadFrame));
        assert_eq!(code("[1,2]"), Some(ErrorCode::BadFrame));
        assert_eq!(code(r#"{"data":{}}"#), Some(ErrorCode::BadFrame));
        assert_eq!(
            code(r#"{"event":"x","extra":1}"#),
            Some(ErrorCode::BadFrame)
        );
        assert_eq!(code(r#"{"event":"nope"}"#), Some(ErrorCode::UnknownEvent));
        let deep = "[".repeat(10_000);
        assert_eq!(code(&deep), Some(ErrorCode::BadFrame));
    }

    #[test]
    fn keeps_ref_for_the_reply() {
        let incoming = parse(r#"{"event":"nope","ref":"abc"}"#);
        assert_eq!(incoming.reference.as_deref(), Some("abc"));
        let long = format!(r#"{{"event":"get_stats","ref":"{}"}}"#, "x".repeat(65));
        assert_eq!(code(&long), Some(ErrorCode::BadFrame));
    }

    #[test]
    fn get_stats_without_data() {
        assert!(parse(r#"{"event":"get_stats"}"#).event.is_ok());
        assert!(parse(r#"{"event":"get_stats","data":{}}"#).event.is_ok());
        assert_eq!(
            code(r#"{"event":"get_stats","data":5}"#),
            Some(ErrorCode::InvalidPayload)
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Whatever the frame, parsing returns: an event to dispatch (whose
        /// reply the protocol encodes) or an error that encodes to an
        /// `error` frame. A ref, if kept, is within the limit.
        fn answers(text: &str) {
            let incoming = parse(text);
            if let Some(r) = &incoming.reference {
                assert!(r.chars().count() <= MAX_REF_CHARS);
            }
            if let Err(e) = incoming.event {
                assert!(!e.message.is_empty());
                let frame = e.encode(incoming.reference.as_deref());
                let reply: Value = serde_json::from_slice(frame.bytes()).unwrap();
                assert_eq!(reply["event"], "error");
                assert!(reply["data"]["code"].is_string());
            }
        }

        fn json_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<f64>().prop_map(Value::from),
                ".{0,20}".prop_map(Value::from),
            ];
            leaf.prop_recursive(6, 64, 8, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..8).prop_map(Value::from),
                    prop::collection::btree_map(".{0,12}", inner, 0..8)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        fn frame() -> impl Strategy<Value = String> {
            let event = prop_oneof![
                Just(Value::from("submit_ticket")),
                Just(Value::from("get_stats")),
                Just(Value::from("admin_command")),
                ".{0,16}".prop_map(Value::from),
                json_value(),
            ];
            let reference = prop_oneof![Just(None), json_value().prop_map(Some)];
            (
                event,
                json_value(),
                reference,
                prop::option::of((".{0,8}", json_value())),
            )
                .prop_map(|(event, data, reference, extra)| {
                    let mut map = serde_json::Map::new();
                    map.insert("event".into(), event);
                    map.insert("data".into(), data);
                    if let Some(r) = reference {
                        map.insert("ref".into(), r);
                    }
                    if let Some((k, v)) = extra {
                        map.insert(k, v);
                    }
                    Value::Object(map).to_string()
                })
        }

        proptest! {
            #[test]
            fn any_text_is_answered(text in ".{0,512}") {
                answers(&text);
            }

            #[test]
            fn any_bytes_are_answered_or_closed(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
                // Invalid UTF-8 never reaches the parser: the socket closes 1007.
                if let Ok(text) = std::str::from_utf8(&bytes) {
                    answers(text);
                }
            }

            #[test]
            fn any_frame_shaped_json_is_answered(text in frame()) {
                answers(&text);
            }

            #[test]
            fn any_json_value_is_answered(value in json_value()) {
                answers(&value.to_string());
            }

            #[test]
            fn truncated_frames_are_answered(text in frame(), cut in any::<prop::sample::Index>()) {
                let cut = cut.index(text.len() + 1);
                if let Some(prefix) = text.get(..cut) {
                    answers(prefix);
                }
            }
        }
    }
}
