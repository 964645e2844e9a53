//! Listing tickets: the filters and pages of `GET /api/tickets`, and which
//! tickets a client's first sync holds. Pure: the store runs these over its
//! view; the transports only parse parameters into them.
//!
//! Pages go newest first by `(created_at, request_id)`. A cursor is the
//! position of the last ticket of a page, so a walk never repeats or skips
//! a ticket however many are added meanwhile (new tickets sort before the
//! walk's position, not after it).

use chrono::{DateTime, Duration, Utc};

use super::{Status, Ticket, TicketId};
use crate::triage::{Category, Priority};

/// The largest page.
pub const MAX_LIMIT: usize = 1000;
/// The page size when none is asked for.
pub const DEFAULT_LIMIT: usize = 100;

/// A parameter that does not parse, named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{param}: {problem}")]
pub struct ParamError {
    pub param: String,
    pub problem: String,
}

impl ParamError {
    pub fn new(param: &str, problem: impl Into<String>) -> Self {
        ParamError {
            param: param.to_string(),
            problem: problem.into(),
        }
    }
}

/// Which tickets a listing wants. Text is kept lowercased.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub status: Option<Status>,
    pub priority: Option<Priority>,
    pub category: Option<Category>,
    /// The team, lowercased (teams match case-insensitively).
    pub team: Option<String>,
    /// Text searched in description, system and requester, lowercased.
    pub text: Option<String>,
    pub updated_since: Option<DateTime<Utc>>,
    /// `Some(None)`: unassigned tickets only; `Some(Some(name))`: that
    /// staff member's tickets.
    pub assignee: Option<Option<String>>,
}

impl Filter {
    /// Whether nothing is filtered (every ticket matches).
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    /// The filter, ready to test many tickets (the text searcher is built
    /// once).
    pub fn matcher(&self) -> Matcher<'_> {
        Matcher {
            filter: self,
            text: self
                .text
                .as_deref()
                .map(|q| memchr::memmem::Finder::new(q.as_bytes())),
        }
    }
}

/// A [`Filter`] ready to run over a store.
pub struct Matcher<'a> {
    filter: &'a Filter,
    text: Option<memchr::memmem::Finder<'a>>,
}

impl Matcher<'_> {
    /// Whether `ticket` matches; `haystack` is its [`search_text`].
    pub fn matches(&self, ticket: &Ticket, haystack: &str) -> bool {
        let f = self.filter;
        f.status.is_none_or(|s| ticket.status == s)
            && f.priority.is_none_or(|p| ticket.priority == p)
            && f.category.is_none_or(|c| ticket.analysis.category == c)
            && f.updated_since.is_none_or(|t| ticket.updated_at >= t)
            && f.team
                .as_deref()
                .is_none_or(|team| ticket.team.to_lowercase() == team)
            && f.assignee
                .as_ref()
                .is_none_or(|a| ticket.assignee.as_deref() == a.as_deref())
            && self
                .text
                .as_ref()
                .is_none_or(|q| q.find(haystack.as_bytes()).is_some())
    }
}

/// What a ticket's text search runs over: description, system and
/// requester, lowercased, computed once when the ticket is stored.
pub fn search_text(ticket: &Ticket) -> Box<str> {
    let d = &ticket.request_details;
    let mut text =
        String::with_capacity(d.description.len() + d.system.len() + d.requester.len() + 2);
    for (i, part) in [&d.description, &d.system, &d.requester]
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            // A separator no query can contain (queries are trimmed of
            // control characters), so a match never spans two fields.
            text.push('\u{0}');
        }
        text.push_str(&part.to_lowercase());
    }
    text.into_boxed_str()
}

/// A ticket's place in the newest-first order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub created_at: DateTime<Utc>,
    pub id: TicketId,
}

impl Position {
    pub fn of(ticket: &Ticket) -> Position {
        Position {
            created_at: ticket.created_at,
            id: ticket.request_id,
        }
    }

    /// The opaque cursor text: the position's nanoseconds since the epoch
    /// and the ticket id.
    pub fn to_cursor(self) -> String {
        let nanos = self
            .created_at
            .timestamp_nanos_opt()
            .unwrap_or(self.created_at.timestamp() * 1_000_000_000);
        format!("{nanos:x}.{}", self.id.simple())
    }

    pub fn from_cursor(text: &str) -> Result<Position, ParamError> {
        let bad = || ParamError::new("cursor", "not a cursor from a previous page's next_cursor");
        let (nanos, id) = text.split_once('.').ok_or_else(bad)?;
        let nanos = i64::from_str_radix(nanos, 16).map_err(|_| bad())?;
        let id = TicketId::try_parse(id).map_err(|_| bad())?;
        if nanos < 0 {
            return Err(bad());
        }
        Ok(Position {
            created_at: DateTime::from_timestamp_nanos(nanos),
            id,
        })
    }
}

/// One page request: filters, where to start, how many.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRequest {
    pub filter: Filter,
    /// Start after this position (exclusive), newest first.
    pub after: Option<Position>,
    pub limit: usize,
}

/// One page of tickets.
#[derive(Debug, Clone)]
pub struct Page {
    pub tickets: Vec<std::sync::Arc<Ticket>>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Position>,
    /// Tickets matching the filter in the whole store.
    pub total: usize,
}

impl PageRequest {
    /// Parses `GET /api/tickets` query parameters. Unknown parameters are
    /// refused by name, so a typo is an error rather than an unfiltered
    /// list. `all` is left to the caller (the deprecated unpaged form).
    pub fn parse<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<PageRequest, ParamError> {
        let mut request = PageRequest {
            filter: Filter::default(),
            after: None,
            limit: DEFAULT_LIMIT,
        };
        for (name, value) in params {
            let f = &mut request.filter;
            match name {
                "limit" => request.limit = parse_limit(value, MAX_LIMIT)?,
                "cursor" => request.after = Some(Position::from_cursor(value)?),
                "status" => {
                    f.status = Some(Status::parse(value).ok_or_else(|| {
                        ParamError::new(
                            name,
                            "must be open, in_progress, pending, resolved or closed",
                        )
                    })?)
                }
                "assignee" => {
                    let value = value.trim();
                    if value.is_empty() {
                        return Err(ParamError::new(name, "must be a staff name"));
                    }
                    f.assignee = Some(Some(value.to_string()))
                }
                "unassigned" => {
                    if value != "true" {
                        return Err(ParamError::new(name, "must be true"));
                    }
                    f.assignee = Some(None)
                }
                "priority" => {
                    f.priority = Some(parse_enum(&value.to_uppercase()).ok_or_else(|| {
                        ParamError::new(name, "must be LOW, MEDIUM, HIGH or CRITICAL")
                    })?)
                }
                "category" => {
                    f.category = Some(parse_enum(&value.to_lowercase()).ok_or_else(|| {
                        let names: Vec<String> = Category::ALL
                            .iter()
                            .map(|c| c.as_str().to_string())
                            .collect();
                        ParamError::new(name, format!("must be one of {}", names.join(", ")))
                    })?)
                }
                "team" => f.team = Some(nonempty(name, value)?.to_lowercase()),
                "q" => f.text = Some(nonempty(name, value)?.to_lowercase()),
                "updated_since" => {
                    let t = DateTime::parse_from_rfc3339(value).map_err(|_| {
                        ParamError::new(name, "not an RFC 3339 time, e.g. 2026-12-01T09:00:00Z")
                    })?;
                    f.updated_since = Some(t.with_timezone(&Utc));
                }
                _ => return Err(ParamError::new(name, "unknown parameter")),
            }
        }
        Ok(request)
    }
}

/// Parses a page size: a whole number from 1 to `max`.
pub fn parse_limit(value: &str, max: usize) -> Result<usize, ParamError> {
    match value.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(ParamError::new(
            "limit",
            format!("must be a whole number from 1 to {max}"),
        )),
    }
}

fn nonempty<'a>(name: &str, value: &'a str) -> Result<&'a str, ParamError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ParamError::new(name, "must not be empty"));
    }
    if value.chars().any(char::is_control) {
        return Err(ParamError::new(name, "must not hold control characters"));
    }
    Ok(value)
}

fn parse_enum<T: serde::de::DeserializeOwned>(value: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(value.to_string())).ok()
}

/// Which tickets a client's first sync holds: every open ticket, plus
/// resolved tickets updated since `resolved_since` (none when `None`), the
/// newest `max` of them when more qualify.
#[derive(Debug, Clone, Copy)]
pub struct SyncWindow {
    pub resolved_since: Option<DateTime<Utc>>,
    pub max: usize,
}

impl SyncWindow {
    /// The window for `resolved_days` days back from `now` (0: no resolved
    /// tickets).
    pub fn new(now: DateTime<Utc>, resolved_days: u32, max: usize) -> SyncWindow {
        SyncWindow {
            resolved_since: (resolved_days > 0)
                .then(|| now - Duration::days(i64::from(resolved_days))),
            max,
        }
    }

    pub fn holds(&self, ticket: &Ticket) -> bool {
        !ticket.status.is_done() || self.resolved_since.is_some_and(|t| ticket.updated_at >= t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_rejects_junk() {
        let p = Position {
            created_at: DateTime::parse_from_rfc3339("2026-12-02T10:11:12.123456789Z")
                .unwrap()
                .with_timezone(&Utc),
            id: uuid::Uuid::new_v4(),
        };
        assert_eq!(Position::from_cursor(&p.to_cursor()), Ok(p));
        for junk in [
            "",
            "abc",
            "12.zz",
            "-1.00000000000000000000000000000000",
            "x.y.z",
        ] {
            let e = Position::from_cursor(junk).unwrap_err();
            assert_eq!(e.param, "cursor", "{junk}");
        }
    }

    #[test]
    fn parameters_are_parsed_and_named_when_wrong() {
        let r = PageRequest::parse([
            ("limit", "7"),
            ("status", "open"),
            ("priority", "critical"),
            ("category", "Network"),
            ("team", "Network Ops"),
            ("q", "  VPN "),
            ("updated_since", "2026-12-01T00:00:00+01:00"),
        ])
        .unwrap();
        assert_eq!(r.limit, 7);
        assert_eq!(r.filter.status, Some(Status::Open));
        assert_eq!(r.filter.priority, Some(Priority::Critical));
        assert_eq!(r.filter.category, Some(Category::Network));
        assert_eq!(r.filter.team.as_deref(), Some("network ops"));
        assert_eq!(r.filter.text.as_deref(), Some("vpn"));
        assert_eq!(
            r.filter.updated_since.unwrap().to_rfc3339(),
            "2026-11-30T23:00:00+00:00"
        );
        for (name, value) in [
            ("limit", "0"),
            ("limit", "1001"),
            ("limit", "abc"),
            ("limit", "-1"),
            ("status", "done"),
            ("assignee", " "),
            ("unassigned", "false"),
            ("priority", "URGENT"),
            ("category", "plumbing"),
            ("q", "   "),
            ("updated_since", "yesterday"),
            ("colour", "red"),
        ] {
            let e = PageRequest::parse([(name, value)]).unwrap_err();
            assert_eq!(e.param, name, "{name}={value}");
            assert!(e.to_string().starts_with(&format!("{name}: ")), "{e}");
        }
    }

    #[test]
    fn the_sync_window_keeps_open_and_recently_resolved_tickets() {
        let now = Utc::now();
        let w = SyncWindow::new(now, 7, 10);
        assert!(w.resolved_since.is_some());
        assert!(SyncWindow::new(now, 0, 10).resolved_since.is_none());
    }
}
