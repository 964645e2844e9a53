//! The versioned stream clients follow: resume requests and the replay ring.
//!
//! Every committed change has a version, one more than the change before,
//! within an epoch (a UUID made with the store; see `store::StreamMeta`). A
//! client that reconnects says where it was (`epoch`, `since`); when the
//! epoch matches and the ring still holds every change after `since`, it is
//! sent exactly those, and no first sync. The ring keeps the last
//! `--replay-events` change frames, already encoded (the bus's own
//! [`Published`] values, so replaying costs reference counts, not
//! serialization). After a restart it starts with the changes the journals
//! still hold (those since the last snapshot), ending at the store's
//! version.

use std::collections::VecDeque;

use serde_json::Value;
use uuid::Uuid;

use crate::events::Published;
use crate::tickets::query::ParamError;

/// Where a reconnecting client was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resume {
    pub epoch: Uuid,
    /// The last version the client applied.
    pub since: u64,
}

impl Resume {
    /// Parses `epoch` and `since` as given in a URL query. Neither: no
    /// resume. One without the other, or a malformed one: an error naming
    /// the parameter.
    pub fn parse(epoch: Option<&str>, since: Option<&str>) -> Result<Option<Resume>, ParamError> {
        match (epoch, since) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(ParamError::new("since", "required with epoch")),
            (None, Some(_)) => Err(ParamError::new("epoch", "required with since")),
            (Some(epoch), Some(since)) => Ok(Some(Resume {
                epoch: parse_epoch(epoch)?,
                since: parse_since(since)?,
            })),
        }
    }

    /// Parses a Socket.IO CONNECT `auth` object: `{"epoch","since"}`, where
    /// `since` may be a number or a string of digits. Other keys are left
    /// for others; no auth, or neither key, is no resume.
    pub fn from_auth(auth: Option<&Value>) -> Result<Option<Resume>, ParamError> {
        let Some(auth) = auth.filter(|a| !a.is_null()) else {
            return Ok(None);
        };
        let Some(fields) = auth.as_object() else {
            return Err(ParamError::new("auth", "must be an object"));
        };
        let text = |name: &str| -> Result<Option<String>, ParamError> {
            match fields.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Number(n)) if name == "since" => Ok(Some(n.to_string())),
                Some(_) if name == "since" => {
                    Err(ParamError::new(name, "not a non-negative integer"))
                }
                Some(_) => Err(ParamError::new(name, "not a UUID")),
            }
        };
        Resume::parse(text("epoch")?.as_deref(), text("since")?.as_deref())
    }
}

fn parse_epoch(text: &str) -> Result<Uuid, ParamError> {
    Uuid::try_parse(text).map_err(|_| ParamError::new("epoch", "not a UUID"))
}

fn parse_since(text: &str) -> Result<u64, ParamError> {
    // Digits only: no sign, no spaces, no exponent.
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParamError::new("since", "not a non-negative integer"));
    }
    text.parse()
        .map_err(|_| ParamError::new("since", "not a non-negative integer"))
}

/// The last change frames, with consecutive versions ending at `head`.
#[derive(Debug)]
pub struct ReplayRing {
    events: VecDeque<Published>,
    /// The newest version the ring has seen (the store's version).
    head: u64,
    capacity: usize,
}

impl ReplayRing {
    /// An empty ring at `head`, keeping at most `capacity` changes.
    pub fn new(head: u64, capacity: usize) -> ReplayRing {
        ReplayRing {
            events: VecDeque::with_capacity(capacity.min(1024)),
            head,
            capacity,
        }
    }

    /// Adds the change with the next version.
    pub fn push(&mut self, published: Published) {
        debug_assert_eq!(published.version, self.head + 1, "versions are consecutive");
        self.head = published.version;
        if self.capacity == 0 {
            return;
        }
        if self.events.len() == self.capacity {
            self.events.pop_front();
        }
        self.events.push_back(published);
    }

    pub fn head(&self) -> u64 {
        self.head
    }

    /// The oldest version a client may resume from.
    fn floor(&self) -> u64 {
        self.head - self.events.len() as u64
    }

    /// The changes after `since`, at most `limit`, or `None` when the ring
    /// no longer holds them all (or `since` is ahead of the stream).
    pub fn after(&self, since: u64, limit: usize) -> Option<Vec<Published>> {
        if since < self.floor() || since > self.head {
            return None;
        }
        let skip = (since - self.floor()) as usize;
        Some(self.events.iter().skip(skip).take(limit).cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Event;
    use serde_json::json;

    fn change(v: u64) -> Published {
        Published::change(v, &Event::AllTicketsCleared { count: 0 })
    }

    #[test]
    fn the_ring_answers_only_what_it_holds_in_full() {
        let mut ring = ReplayRing::new(10, 3);
        assert_eq!(ring.after(10, 100).unwrap().len(), 0);
        assert!(ring.after(9, 100).is_none());
        assert!(ring.after(11, 100).is_none());
        for v in 11..=15 {
            ring.push(change(v));
        }
        // Holds 13, 14, 15.
        let versions = |got: Vec<Published>| got.iter().map(|p| p.version).collect::<Vec<_>>();
        assert_eq!(versions(ring.after(12, 100).unwrap()), vec![13, 14, 15]);
        assert_eq!(versions(ring.after(13, 1).unwrap()), vec![14]);
        assert_eq!(versions(ring.after(15, 100).unwrap()), Vec::<u64>::new());
        assert!(ring.after(11, 100).is_none());
        assert!(ring.after(16, 100).is_none());
        let mut none = ReplayRing::new(0, 0);
        none.push(change(1));
        assert_eq!(none.after(1, 10).unwrap().len(), 0);
        assert!(none.after(0, 10).is_none());
    }

    #[test]
    fn resume_parameters_are_parsed_and_named_when_wrong() {
        let epoch = Uuid::new_v4();
        let e = epoch.to_string();
        assert_eq!(Resume::parse(None, None), Ok(None));
        assert_eq!(
            Resume::parse(Some(&e), Some("42")),
            Ok(Some(Resume { epoch, since: 42 }))
        );
        for (epoch, since, param) in [
            (Some(e.as_str()), Some("-1"), "since"),
            (Some(e.as_str()), Some("abc"), "since"),
            (Some(e.as_str()), Some("+1"), "since"),
            (Some(e.as_str()), Some(""), "since"),
            (Some(e.as_str()), Some("99999999999999999999999"), "since"),
            (Some("not-a-uuid"), Some("1"), "epoch"),
            (None, Some("1"), "epoch"),
            (Some(e.as_str()), None, "since"),
        ] {
            let err = Resume::parse(epoch, since).unwrap_err();
            assert_eq!(err.param, param, "{epoch:?} {since:?}");
        }
        assert_eq!(
            Resume::from_auth(Some(&json!({"epoch": e, "since": 7}))),
            Ok(Some(Resume { epoch, since: 7 }))
        );
        assert_eq!(
            Resume::from_auth(Some(&json!({"epoch": e, "since": "7"}))),
            Ok(Some(Resume { epoch, since: 7 }))
        );
        assert_eq!(Resume::from_auth(Some(&json!({}))), Ok(None));
        assert_eq!(Resume::from_auth(None), Ok(None));
        for (auth, param) in [
            (json!({"epoch": e, "since": -1}), "since"),
            (json!({"epoch": e, "since": 1.5}), "since"),
            (json!({"epoch": e, "since": true}), "since"),
            (json!({"epoch": 5, "since": 1}), "epoch"),
            (json!("x"), "auth"),
        ] {
            assert_eq!(
                Resume::from_auth(Some(&auth)).unwrap_err().param,
                param,
                "{auth}"
            );
        }
    }
}
