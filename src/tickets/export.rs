//! The CSV form of tickets, as `GET /api/tickets/export.csv` sends them:
//! the columns, one row per ticket, the export's parameters, and the
//! neutralising of cells a spreadsheet would run as a formula. Pure: it
//! encodes tickets it is given into bytes; walking the store and sending
//! the bytes are the service's and the transport's.
//!
//! The encoding is RFC 4180 by the `csv` crate (CRLF line endings, a field
//! quoted when it holds a comma, a quote or a line break, quotes doubled),
//! so a description may hold anything a submission allows.
//!
//! **CSV injection** (OWASP): a spreadsheet program takes a cell that
//! starts with `=`, `+`, `-` or `@` (and, in some programs, a tab, a
//! carriage return or NUL before one) as a formula, which can run commands
//! or send data away. Every such cell, whatever its column, gets a leading
//! `'`, which spreadsheets show as text. A description that legitimately
//! starts with "-" is neutralised too: the rule cannot tell intent.

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat, Utc};

use super::query::{Filter, PageRequest, ParamError};
use super::{PrioritySource, Ticket};
use crate::sla::{ClockState, ClockView};

/// The header row, in column order.
pub const COLUMNS: [&str; 20] = [
    "id",
    "created",
    "updated",
    "status",
    "priority",
    "priority_source",
    "impact",
    "urgency",
    "category",
    "team",
    "assignee",
    "system",
    "requester",
    "description",
    "resolved",
    "closed",
    "first_response_due",
    "first_response_state",
    "resolution_due",
    "resolution_state",
];

/// The UTF-8 byte order mark: spreadsheet programs that would otherwise
/// guess a legacy code page read the file as UTF-8 when it starts with it.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The first characters that make a spreadsheet cell a formula.
const FORMULA_STARTS: [char; 7] = ['=', '+', '-', '@', '\t', '\r', '\0'];

/// What an export asks for: the listing's filters (no `limit` or `cursor`:
/// an export walks every page), and whether the body starts with a BOM.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportRequest {
    pub filter: Filter,
    /// `bom=1`: start with [`BOM`].
    pub bom: bool,
}

impl ExportRequest {
    /// Parses the query parameters: `bom` (`1` or `0`), and the filters of
    /// [`PageRequest::parse`], which names any unknown parameter.
    pub fn parse<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<ExportRequest, ParamError> {
        let mut bom = false;
        let mut filters = Vec::new();
        for (name, value) in params {
            match name {
                "bom" => {
                    bom = match value {
                        "1" => true,
                        "0" => false,
                        _ => return Err(ParamError::new(name, "must be 1 or 0")),
                    }
                }
                "limit" | "cursor" => {
                    return Err(ParamError::new(
                        name,
                        "unknown parameter (an export walks every page itself)",
                    ));
                }
                _ => filters.push((name, value)),
            }
        }
        Ok(ExportRequest {
            filter: PageRequest::parse(filters)?.filter,
            bom,
        })
    }
}

/// A cell as it is written: with a leading `'` when it would start a
/// formula.
pub fn neutralise(cell: Cow<'_, str>) -> Cow<'_, str> {
    if cell.starts_with(FORMULA_STARTS) {
        Cow::Owned(format!("'{cell}"))
    } else {
        cell
    }
}

/// The header row (after the BOM when `bom`).
pub fn header(bom: bool) -> Result<Vec<u8>, csv::Error> {
    let mut out = Vec::with_capacity(400);
    if bom {
        out.extend_from_slice(BOM);
    }
    let mut writer = writer(out);
    writer.write_record(COLUMNS)?;
    into_bytes(writer)
}

/// The rows of `tickets`, in their order.
pub fn rows<'a>(tickets: impl IntoIterator<Item = &'a Ticket>) -> Result<Vec<u8>, csv::Error> {
    let mut writer = writer(Vec::new());
    for ticket in tickets {
        writer.write_record(record(ticket).iter().map(|c| c.as_bytes()))?;
    }
    into_bytes(writer)
}

/// One ticket's cells, in [`COLUMNS`] order, neutralised. Absent values
/// (no assignee, not resolved, no SLA clocks) are empty cells.
pub fn record(ticket: &Ticket) -> [Cow<'_, str>; COLUMNS.len()] {
    let d = &ticket.request_details;
    let sla = ticket.sla.as_ref();
    let clock_due = |c: Option<&ClockView>| time(c.and_then(|c| c.due_at));
    let clock_state = |c: Option<&ClockView>| Cow::Borrowed(c.map_or("", |c| state(c.state)));
    let first = sla.map(|s| &s.first_response);
    let resolution = sla.map(|s| &s.resolution);
    [
        Cow::Owned(ticket.request_id.to_string()),
        time(Some(ticket.created_at)),
        time(Some(ticket.updated_at)),
        Cow::Borrowed(ticket.status.as_str()),
        Cow::Borrowed(ticket.priority.as_str()),
        Cow::Borrowed(match ticket.priority_source {
            PrioritySource::Analyzer => "analyzer",
            PrioritySource::Manual => "manual",
        }),
        Cow::Owned(ticket.analysis.impact.to_string()),
        Cow::Owned(ticket.analysis.urgency.to_string()),
        Cow::Borrowed(ticket.analysis.category.as_str()),
        Cow::Borrowed(ticket.team.as_str()),
        Cow::Borrowed(ticket.assignee.as_deref().unwrap_or("")),
        Cow::Borrowed(d.system.as_str()),
        Cow::Borrowed(d.requester.as_str()),
        Cow::Borrowed(d.description.as_str()),
        time(ticket.resolved_at),
        time(ticket.closed_at),
        clock_due(first),
        clock_state(first),
        clock_due(resolution),
        clock_state(resolution),
    ]
    .map(neutralise)
}

/// RFC 3339 in UTC, with the fractional seconds the JSON form has.
fn time(t: Option<DateTime<Utc>>) -> Cow<'static, str> {
    t.map_or(Cow::Borrowed(""), |t| {
        Cow::Owned(t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    })
}

/// A clock state as the ticket object spells it.
fn state(state: ClockState) -> &'static str {
    match state {
        ClockState::Running => "running",
        ClockState::Paused => "paused",
        ClockState::AtRisk => "at_risk",
        ClockState::Breached => "breached",
        ClockState::Met => "met",
    }
}

fn writer(out: Vec<u8>) -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(out)
}

fn into_bytes(writer: csv::Writer<Vec<u8>>) -> Result<Vec<u8>, csv::Error> {
    writer
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tickets::NewTicket;
    use crate::triage::Analyzer;

    fn ticket(description: &str, system: &str, requester: &str) -> Ticket {
        let new = NewTicket::parse(description.into(), system.into(), requester.into()).unwrap();
        let triage = Analyzer::builtin().analyze(description, system);
        Ticket::create(new, triage, Utc::now())
    }

    fn parse(bytes: &[u8]) -> Vec<csv::StringRecord> {
        csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(bytes)
            .records()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn export_every_formula_start_is_neutralised() {
        for start in ["=", "+", "-", "@", "\t", "\r", "\0"] {
            let cell = format!("{start}1+1");
            assert_eq!(neutralise(Cow::Borrowed(&cell)), format!("'{cell}"));
        }
        for safe in ["", "1+1", "a=b", " =1", "'=1", "ä-b", "\n=1"] {
            assert_eq!(neutralise(Cow::Borrowed(safe)), safe);
        }
    }

    #[test]
    fn export_rows_are_rfc_4180_and_read_back_exactly() {
        let awkward = "Printer \"HP-4\", floor 3,\nthen\n\nnothing; ünïcode ✓";
        let t = ticket(awkward, "=HYPERLINK(\"x\")", "@Ana");
        let bytes = rows([&t]).unwrap();
        assert!(bytes.ends_with(b"\r\n"));
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains("\"Printer \"\"HP-4\"\", floor 3,"), "{text}");
        let records = parse(&bytes);
        assert_eq!(records.len(), 1);
        let r = &records[0];
        assert_eq!(r.len(), COLUMNS.len());
        assert_eq!(&r[0], t.request_id.to_string());
        assert_eq!(&r[11], "'=HYPERLINK(\"x\")");
        assert_eq!(&r[12], "'@Ana");
        assert_eq!(&r[13], t.request_details.description);
        assert_eq!(&r[3], "open");
        assert_eq!(&r[10], "", "no assignee");
        assert_eq!(&r[14], "", "not resolved");
        assert_eq!(
            DateTime::parse_from_rfc3339(&r[1]).unwrap(),
            t.created_at,
            "created is RFC 3339"
        );
        assert!(r[1].ends_with('Z'), "UTC: {}", &r[1]);
    }

    #[test]
    fn export_header_names_the_columns_after_an_optional_bom() {
        let plain = header(false).unwrap();
        assert_eq!(plain, format!("{}\r\n", COLUMNS.join(",")).into_bytes());
        let with_bom = header(true).unwrap();
        assert_eq!(&with_bom[..3], BOM);
        assert_eq!(&with_bom[3..], &plain[..]);
    }

    #[test]
    fn export_parameters_are_the_filters_plus_bom() {
        let r = ExportRequest::parse([("status", "open"), ("q", "VPN"), ("bom", "1")]).unwrap();
        assert!(r.bom);
        assert_eq!(r.filter.text.as_deref(), Some("vpn"));
        assert_eq!(ExportRequest::parse([]).unwrap(), ExportRequest::default());
        for (name, value) in [
            ("limit", "10"),
            ("cursor", "x"),
            ("bom", "yes"),
            ("all", "true"),
            ("colour", "red"),
            ("status", "done"),
        ] {
            let e = ExportRequest::parse([(name, value)]).unwrap_err();
            assert_eq!(e.param, name, "{name}={value}");
        }
    }
}
