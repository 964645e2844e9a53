//! The figures of `GET /api/analytics`: tickets created and resolved per
//! day or week, the backlog at the end of each, the backlog now by age and
//! priority, how long resolving and first responses take, SLA compliance
//! per priority, and how often resolved tickets come back. Pure: tickets,
//! a [`Range`] and `now` in, an [`Analytics`] out; walking the store is the
//! service's, sending the JSON the transport's.
//!
//! **What the figures can know.** The store keeps each ticket as it is now,
//! not its history, so every figure is derived from the current state:
//! - "resolved" is a ticket's latest resolution (`resolved_at`, kept when it
//!   closes); a ticket resolved, reopened and resolved again counts once, at
//!   its last resolution, and one reopened and still open counts none;
//! - the backlog at an instant is every ticket created before it whose latest
//!   resolution is not before it (a reopened ticket counts as unresolved
//!   from its creation on);
//! - deleted tickets are gone from every figure.
//!
//! **Buckets** are UTC days, or ISO weeks (Monday 00:00 UTC), cut to the
//! range: the first starts at `from`, the last ends at `to`. A range holds
//! at most [`MAX_BUCKETS`].
//!
//! **Percentiles** are nearest-rank: the p-th percentile of n sorted values
//! is the value at rank ⌈p·n/100⌉, always one of the values (so the median
//! of 10, 20, 30, 40 is 20). Times are whole seconds.

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, Utc};
use serde::Serialize;

use super::Ticket;
use super::query::ParamError;
use crate::sla::{ClockState, ClockView};
use crate::triage::Priority;

/// The most buckets one report holds (a leap year of days).
pub const MAX_BUCKETS: i64 = 366;

/// The days a report covers when `from` is not given.
pub const DEFAULT_DAYS: i64 = 30;

const DAY_SECS: i64 = 86_400;

/// The age bands of the backlog now: `(name, from days, to days)`, the
/// last open-ended.
pub const AGE_BANDS: [(&str, u32, Option<u32>); 4] = [
    ("0-1d", 0, Some(1)),
    ("1-3d", 1, Some(3)),
    ("3-7d", 3, Some(7)),
    ("7d+", 7, None),
];

/// How a range is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    /// UTC days.
    #[default]
    Day,
    /// ISO weeks, from Monday 00:00 UTC.
    Week,
}

impl Bucket {
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Day => "day",
            Bucket::Week => "week",
        }
    }

    fn secs(self) -> i64 {
        match self {
            Bucket::Day => DAY_SECS,
            Bucket::Week => 7 * DAY_SECS,
        }
    }

    /// The start of the bucket holding `t`.
    pub fn floor(self, t: DateTime<Utc>) -> DateTime<Utc> {
        let date = t.date_naive();
        let date = match self {
            Bucket::Day => date,
            Bucket::Week => {
                date - TimeDelta::days(i64::from(date.weekday().num_days_from_monday()))
            }
        };
        date.and_time(NaiveTime::MIN).and_utc()
    }
}

/// A `from` or `to` as given: an instant, or a whole UTC date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    At(DateTime<Utc>),
    Date(NaiveDate),
}

impl Bound {
    /// An RFC 3339 date (`2026-12-01`) or date-time (`2026-12-01T09:00:00Z`).
    fn parse(name: &str, value: &str) -> Result<Bound, ParamError> {
        let bad = || {
            ParamError::new(
                name,
                "not an RFC 3339 date or time, e.g. 2026-12-01 or 2026-12-01T09:00:00Z",
            )
        };
        let b = value.as_bytes();
        if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
            return NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .map(Bound::Date)
                .map_err(|_| bad());
        }
        DateTime::parse_from_rfc3339(value)
            .map(|t| Bound::At(t.with_timezone(&Utc)))
            .map_err(|_| bad())
    }

    /// The instant a `from` stands for: a date's first instant.
    fn start(self) -> DateTime<Utc> {
        match self {
            Bound::At(t) => t,
            Bound::Date(d) => d.and_time(NaiveTime::MIN).and_utc(),
        }
    }

    /// The instant a `to` stands for: after a date's last instant (the
    /// whole day is in the range).
    fn end(self, name: &str) -> Result<DateTime<Utc>, ParamError> {
        match self {
            Bound::At(t) => Ok(t),
            Bound::Date(d) => d
                .succ_opt()
                .map(|next| next.and_time(NaiveTime::MIN).and_utc())
                .ok_or_else(|| ParamError::new(name, "out of range")),
        }
    }
}

/// What `GET /api/analytics` asks for, as given; the defaults depend on
/// the time of the request and are applied by [`AnalyticsQuery::range`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AnalyticsQuery {
    pub from: Option<Bound>,
    pub to: Option<Bound>,
    pub bucket: Bucket,
}

impl AnalyticsQuery {
    /// Parses `from`, `to` (RFC 3339 dates or times) and `bucket` (`day`
    /// or `week`); any other parameter is refused by name.
    pub fn parse<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<AnalyticsQuery, ParamError> {
        let mut query = AnalyticsQuery::default();
        for (name, value) in params {
            match name {
                "from" => query.from = Some(Bound::parse(name, value)?),
                "to" => query.to = Some(Bound::parse(name, value)?),
                "bucket" => {
                    query.bucket = match value {
                        "day" => Bucket::Day,
                        "week" => Bucket::Week,
                        _ => return Err(ParamError::new(name, "must be day or week")),
                    }
                }
                _ => return Err(ParamError::new(name, "unknown parameter")),
            }
        }
        Ok(query)
    }

    /// The range asked for at `now`: `to` defaults to `now`; `from` to
    /// [`DEFAULT_DAYS`] whole UTC days back (the day holding `to` being the
    /// last). A date as `from` is its first instant, as `to` the end of
    /// that day. Refused, naming the parameter: `from` not before `to`, or
    /// more than [`MAX_BUCKETS`] buckets.
    pub fn range(&self, now: DateTime<Utc>) -> Result<Range, ParamError> {
        let to = match self.to {
            Some(bound) => bound.end("to")?,
            None => now,
        };
        let from = match self.from {
            Some(bound) => bound.start(),
            None => {
                let day = Bucket::Day.floor(to);
                let last_day_end = if day == to {
                    to
                } else {
                    day + TimeDelta::days(1)
                };
                last_day_end - TimeDelta::days(DEFAULT_DAYS)
            }
        };
        if from >= to {
            return Err(if self.to.is_some() {
                ParamError::new("to", format!("must be after from ({})", rfc3339(from)))
            } else {
                ParamError::new(
                    "from",
                    format!("must be before to ({}, now by default)", rfc3339(to)),
                )
            });
        }
        let range = Range {
            from,
            to,
            bucket: self.bucket,
        };
        let count = range.bucket_count();
        if count > MAX_BUCKETS {
            let hint = match self.bucket {
                Bucket::Day => " or use bucket=week",
                Bucket::Week => "",
            };
            return Err(ParamError::new(
                "from",
                format!(
                    "the range holds {count} {} buckets, more than {MAX_BUCKETS} (shorten it{hint})",
                    self.bucket.as_str()
                ),
            ));
        }
        Ok(range)
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// The period a report covers, `[from, to)`, and how it is cut. Made by
/// [`AnalyticsQuery::range`], so `from < to` and it holds at most
/// [`MAX_BUCKETS`] buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub bucket: Bucket,
}

impl Range {
    /// Whether `t` lies in the range.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from <= t && t < self.to
    }

    /// How many buckets the range touches.
    fn bucket_count(&self) -> i64 {
        let span = self.to - self.bucket.floor(self.from);
        let secs = span.num_seconds() + i64::from(span.subsec_nanos() > 0);
        (secs + self.bucket.secs() - 1) / self.bucket.secs()
    }

    /// The buckets, `(start, end)`, cut to the range.
    pub fn buckets(&self) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let length = TimeDelta::seconds(self.bucket.secs());
        let mut start = self.bucket.floor(self.from);
        let mut out = Vec::new();
        while start < self.to {
            let end = start + length;
            out.push((start.max(self.from), end.min(self.to)));
            start = end;
        }
        out
    }

    /// The bucket holding `t`, which lies in the range.
    fn index(&self, t: DateTime<Utc>) -> usize {
        let offset = (t - self.bucket.floor(self.from)).num_seconds();
        (offset / self.bucket.secs()) as usize
    }
}

/// The answer of `GET /api/analytics` (field by field in the README).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analytics {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub bucket: Bucket,
    /// The instant the figures are for (the backlog "now", ages).
    pub as_of: DateTime<Utc>,
    /// Created and resolved in the whole range.
    pub totals: Totals,
    pub buckets: Vec<BucketFigures>,
    /// Tickets not resolved or closed at `as_of`, by age and priority.
    pub backlog_now: BacklogNow,
    /// Wall-clock seconds from creation to the latest resolution, of the
    /// tickets resolved in the range.
    pub time_to_resolve: Durations,
    /// Business seconds the first-response clock ran (pauses left out), of
    /// the tickets whose first response (or resolution) came in the range.
    pub time_to_first_response: Durations,
    pub sla: SlaCompliance,
    pub reopen: Reopens,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Totals {
    pub created: u64,
    pub resolved: u64,
}

/// One bucket's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BucketFigures {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub created: u64,
    pub resolved: u64,
    /// Not resolved at the bucket's end (at `as_of` for the bucket holding
    /// it); `None` for a bucket that starts after `as_of`.
    pub backlog: Option<u64>,
}

/// A count per priority, highest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct ByPriority<T> {
    #[serde(rename = "CRITICAL")]
    pub critical: T,
    #[serde(rename = "HIGH")]
    pub high: T,
    #[serde(rename = "MEDIUM")]
    pub medium: T,
    #[serde(rename = "LOW")]
    pub low: T,
}

impl<T> ByPriority<T> {
    pub fn get(&self, priority: Priority) -> &T {
        match priority {
            Priority::Critical => &self.critical,
            Priority::High => &self.high,
            Priority::Medium => &self.medium,
            Priority::Low => &self.low,
        }
    }

    fn get_mut(&mut self, priority: Priority) -> &mut T {
        match priority {
            Priority::Critical => &mut self.critical,
            Priority::High => &mut self.high,
            Priority::Medium => &mut self.medium,
            Priority::Low => &mut self.low,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BacklogNow {
    pub total: u64,
    /// The bands of [`AGE_BANDS`], youngest first.
    pub by_age: Vec<AgeBand>,
}

/// Tickets whose age (from creation) is at least `min_days` and under
/// `max_days` (no upper bound when `None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgeBand {
    pub band: &'static str,
    pub min_days: u32,
    pub max_days: Option<u32>,
    pub total: u64,
    pub by_priority: ByPriority<u64>,
}

/// How many durations, their median and 90th percentile (nearest rank);
/// `None` when there are none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Durations {
    pub count: u64,
    pub median_secs: Option<u64>,
    pub p90_secs: Option<u64>,
}

impl Durations {
    fn of(mut secs: Vec<u64>) -> Durations {
        secs.sort_unstable();
        Durations {
            count: secs.len() as u64,
            median_secs: percentile(&secs, 50),
            p90_secs: percentile(&secs, 90),
        }
    }
}

/// The nearest-rank `p`-th percentile of `sorted`.
fn percentile(sorted: &[u64], p: usize) -> Option<u64> {
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// Of the SLA clocks that completed in the range: per priority and in all.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct SlaCompliance {
    pub all: Clocks,
    pub by_priority: ByPriority<Clocks>,
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Clocks {
    pub first_response: Compliance,
    pub resolution: Compliance,
}

/// Clocks that completed (the response given, the ticket resolved) in the
/// range: within target (`met`) or late (`breached`), and the share met.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Compliance {
    pub completed: u64,
    pub met: u64,
    pub breached: u64,
    /// `met / completed`; `None` when nothing completed.
    pub compliance: Option<f64>,
}

impl Compliance {
    fn count(&mut self, state: ClockState) {
        self.completed += 1;
        if state == ClockState::Met {
            self.met += 1;
        } else {
            self.breached += 1;
        }
    }

    fn finish(&mut self) {
        self.compliance = share(self.met, self.completed);
    }
}

/// Of the tickets resolved in the range, those reopened at least once
/// before; and the tickets back at work after a reopen now.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Reopens {
    pub resolved: u64,
    pub reopened: u64,
    /// `reopened / resolved`; `None` when nothing was resolved.
    pub rate: Option<f64>,
    /// Reopened and not resolved again at `as_of` (in no other figure
    /// here, as their last resolution is undone).
    pub open_after_reopen: u64,
}

fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The figures of `tickets` over `range` at `now`, in one pass.
pub fn compute<'a>(
    tickets: impl IntoIterator<Item = &'a Ticket>,
    range: &Range,
    now: DateTime<Utc>,
) -> Analytics {
    let spans = range.buckets();
    let mut created = vec![0u64; spans.len()];
    let mut resolved = vec![0u64; spans.len()];
    // Tickets created, and resolved, before the range: the backlog it
    // starts with is the difference.
    let (mut created_before, mut resolved_before) = (0u64, 0u64);
    let mut backlog_now = BacklogNow {
        total: 0,
        by_age: AGE_BANDS
            .iter()
            .map(|&(band, min_days, max_days)| AgeBand {
                band,
                min_days,
                max_days,
                total: 0,
                by_priority: ByPriority::default(),
            })
            .collect(),
    };
    let (mut to_resolve, mut to_respond) = (Vec::new(), Vec::new());
    let mut sla = SlaCompliance::default();
    let mut reopen = Reopens::default();

    for t in tickets {
        if t.created_at < range.from {
            created_before += 1;
        } else if t.created_at < range.to {
            created[range.index(t.created_at)] += 1;
        }
        // A resolution is never before its creation (a stored ticket that
        // says otherwise is taken as resolved when it was created).
        let resolved_at = t.resolved_at.map(|r| r.max(t.created_at));
        if let Some(r) = resolved_at {
            if r < range.from {
                resolved_before += 1;
            } else if r < range.to {
                resolved[range.index(r)] += 1;
                to_resolve.push(secs(r - t.created_at));
                reopen.resolved += 1;
                if t.reopen_count > 0 {
                    reopen.reopened += 1;
                }
            }
        }
        if !t.status.is_done() {
            backlog_now.total += 1;
            let age = (now - t.created_at).num_seconds();
            let band = AGE_BANDS
                .iter()
                .rposition(|&(_, min_days, _)| age >= i64::from(min_days) * DAY_SECS)
                .unwrap_or(0);
            let band = &mut backlog_now.by_age[band];
            band.total += 1;
            *band.by_priority.get_mut(t.priority) += 1;
            if t.reopen_count > 0 {
                reopen.open_after_reopen += 1;
            }
        }
        if let Some(clock) = t.private.sla.as_ref().map(|s| &s.first_response)
            && clock.stopped_at.is_some_and(|at| range.contains(at))
        {
            to_respond.push(clock.used_secs.max(0) as u64);
        }
        if let Some(view) = &t.sla {
            let completed = |c: &ClockView| c.completed_at.is_some_and(|at| range.contains(at));
            let clocks = sla.by_priority.get_mut(t.priority);
            for (clock, all, mine) in [
                (
                    &view.first_response,
                    &mut sla.all.first_response,
                    &mut clocks.first_response,
                ),
                (
                    &view.resolution,
                    &mut sla.all.resolution,
                    &mut clocks.resolution,
                ),
            ] {
                if completed(clock) {
                    all.count(clock.state);
                    mine.count(clock.state);
                }
            }
        }
    }

    for clocks in [
        &mut sla.all,
        &mut sla.by_priority.critical,
        &mut sla.by_priority.high,
        &mut sla.by_priority.medium,
        &mut sla.by_priority.low,
    ] {
        clocks.first_response.finish();
        clocks.resolution.finish();
    }
    reopen.rate = share(reopen.reopened, reopen.resolved);

    let mut backlog = created_before.saturating_sub(resolved_before);
    let buckets = spans
        .iter()
        .enumerate()
        .map(|(i, &(start, end))| {
            backlog = (backlog + created[i]).saturating_sub(resolved[i]);
            BucketFigures {
                start,
                end,
                created: created[i],
                resolved: resolved[i],
                backlog: (start <= now).then_some(backlog),
            }
        })
        .collect();
    Analytics {
        from: range.from,
        to: range.to,
        bucket: range.bucket,
        as_of: now,
        totals: Totals {
            created: created.iter().sum(),
            resolved: resolved.iter().sum(),
        },
        buckets,
        backlog_now,
        time_to_resolve: Durations::of(to_resolve),
        time_to_first_response: Durations::of(to_respond),
        sla,
        reopen,
    }
}

/// Whole seconds, none below zero.
fn secs(d: TimeDelta) -> u64 {
    d.num_seconds().max(0) as u64
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::sla::Policy;
    use crate::tickets::{Command, NewTicket, Status, TicketId};
    use crate::triage::Analyzer;

    /// An always-open calendar, so business time is wall time less pauses.
    fn policy() -> Policy {
        let level = |name: &str, first: u32, resolution: u32| {
            format!(
                "[targets.{name}]\nfirst_response_seconds = {first}\nresolution_seconds = {resolution}\n"
            )
        };
        let text = format!(
            "at_risk_percent = 75\nat_risk_minutes = 0\n[calendar]\nalways = true\n{}{}{}{}",
            level("critical", 3600, 7200),
            level("high", 1800, 14_400),
            level("medium", 3600, 28_800),
            level("low", 28_800, 86_400),
        );
        Policy::from_toml(&text).unwrap()
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    /// A store in memory: tickets moved by the real commands.
    struct Desk {
        policy: Policy,
        tickets: Vec<Arc<Ticket>>,
    }

    impl Desk {
        fn new() -> Desk {
            Desk {
                policy: policy(),
                tickets: Vec::new(),
            }
        }

        fn create(&mut self, when: &str, priority: Priority) -> TicketId {
            let new = NewTicket::parse(
                "The label printer in shipping jams".into(),
                "Printers".into(),
                "Ana".into(),
            )
            .unwrap();
            let mut t = Ticket::create(new, Analyzer::default().analyze("x", "y"), at(when));
            t.priority = priority;
            let id = t.request_id;
            self.run(Command::Create(Box::new(t)));
            id
        }

        fn run(&mut self, command: Command) {
            let current = command.target().map(|id| {
                self.tickets
                    .iter()
                    .position(|t| t.request_id == id)
                    .unwrap()
            });
            let (_, outcome) = command
                .apply(current.map(|i| &self.tickets[i]), 0, &self.policy)
                .unwrap();
            let t = outcome.ticket().unwrap().clone();
            match current {
                Some(i) => self.tickets[i] = t,
                None => self.tickets.push(t),
            }
        }

        fn resolve(&mut self, id: TicketId, when: &str) {
            self.run(Command::Resolve { id, at: at(when) });
        }

        fn reopen(&mut self, id: TicketId, when: &str) {
            self.run(Command::Reopen { id, at: at(when) });
        }

        fn status(&mut self, id: TicketId, status: Status, when: &str) {
            self.run(Command::SetStatus {
                id,
                status,
                pending_reason: (status == Status::Pending).then(|| "vendor".to_string()),
                by: "dana".into(),
                at: at(when),
            });
        }

        fn get(&self, id: TicketId) -> &Ticket {
            self.tickets.iter().find(|t| t.request_id == id).unwrap()
        }

        fn report(&self, query: &[(&str, &str)], now: &str) -> Analytics {
            let range = AnalyticsQuery::parse(query.iter().copied())
                .unwrap()
                .range(at(now))
                .unwrap();
            compute(self.tickets.iter().map(|t| &**t), &range, at(now))
        }
    }

    fn by(critical: u64, high: u64, medium: u64, low: u64) -> ByPriority<u64> {
        ByPriority {
            critical,
            high,
            medium,
            low,
        }
    }

    fn compliance(met: u64, breached: u64) -> Compliance {
        Compliance {
            completed: met + breached,
            met,
            breached,
            compliance: share(met, met + breached),
        }
    }

    /// Ten tickets over five days, every figure worked out by hand in the
    /// comments. Targets (seconds, first response / resolution): CRITICAL
    /// 3600/7200, HIGH 1800/14400, MEDIUM 3600/28800, LOW 28800/86400.
    #[test]
    fn analytics_figures_match_a_hand_computation() {
        use Priority::*;
        let mut desk = Desk::new();
        // Before the range.
        let j = desk.create("2026-11-20T00:00:00Z", Low);
        desk.status(j, Status::Pending, "2026-11-21T00:00:00Z");
        let h = desk.create("2026-11-25T00:00:00Z", Low);
        desk.resolve(h, "2026-11-26T00:00:00Z");
        desk.status(h, Status::Closed, "2026-11-27T00:00:00Z");
        let a = desk.create("2026-11-28T10:00:00Z", Medium);
        // Resolved in the range, 18 h after creation (64,800 s): both
        // clocks late.
        let b = desk.create("2026-11-29T12:00:00Z", High);
        desk.resolve(b, "2026-11-30T06:00:00Z");
        // Monday 2026-11-30.
        let c = desk.create("2026-11-30T08:00:00Z", Critical);
        desk.resolve(c, "2026-11-30T08:40:00Z"); // 2,400 s: both met
        let i = desk.create("2026-11-30T23:00:00Z", High);
        desk.run(Command::Assign {
            id: i,
            assignee: Some(Some("dana".into())),
            team: None,
            at: at("2026-12-01T08:00:00Z"),
        });
        // Tuesday: D waits 2 h on a vendor before its resolution at 15:00
        // (first response: 30 min + 3.5 h = 14,400 business s, met), is
        // reopened at 16:00 and resolved again on Wednesday at 10:00:
        // 25 h after creation; its resolution clock used 14,400 + 18 h =
        // 79,200 s of 86,400, met.
        let d = desk.create("2026-12-01T09:00:00Z", Low);
        desk.status(d, Status::Pending, "2026-12-01T09:30:00Z");
        desk.status(d, Status::InProgress, "2026-12-01T11:30:00Z");
        desk.resolve(d, "2026-12-01T15:00:00Z");
        desk.reopen(d, "2026-12-01T16:00:00Z");
        desk.resolve(d, "2026-12-02T10:00:00Z");
        // E: resolved after 12 h (first response 43,200 s, late), then
        // reopened and still open.
        let e = desk.create("2026-12-01T20:00:00Z", Medium);
        desk.resolve(e, "2026-12-02T08:00:00Z");
        desk.reopen(e, "2026-12-02T09:00:00Z");
        // Wednesday.
        let k = desk.create("2026-12-02T09:00:00Z", Medium);
        desk.resolve(k, "2026-12-02T09:10:00Z"); // 600 s
        let f = desk.create("2026-12-02T11:00:00Z", Critical);

        assert_eq!(desk.get(d).reopen_count, 1);
        assert_eq!(desk.get(e).reopen_count, 1);
        assert_eq!(desk.get(e).status, Status::Open);
        let _ = (a, f);

        // Monday to Thursday (a date as `to` is the whole day), at
        // Wednesday noon.
        let now = "2026-12-02T12:00:00Z";
        let r = desk.report(&[("from", "2026-11-30"), ("to", "2026-12-03")], now);
        assert_eq!(
            (r.from, r.to),
            (at("2026-11-30T00:00:00Z"), at("2026-12-04T00:00:00Z"))
        );
        assert_eq!(r.as_of, at(now));
        // Before the range: J, H, A, B created; H resolved: a backlog of 3.
        let figures: Vec<(u64, u64, Option<u64>)> = r
            .buckets
            .iter()
            .map(|b| (b.created, b.resolved, b.backlog))
            .collect();
        assert_eq!(
            figures,
            [
                (2, 2, Some(3)), // C, I in; B, C out: J, A, I
                (2, 0, Some(5)), // D, E in: J, A, I, D, E
                (2, 2, Some(5)), // K, F in; D, K out (at noon): J, A, I, E, F
                (0, 0, None),    // Thursday has not begun
            ]
        );
        assert_eq!(r.buckets[0].start, at("2026-11-30T00:00:00Z"));
        assert_eq!(r.buckets[3].end, at("2026-12-04T00:00:00Z"));
        assert_eq!(
            r.totals,
            Totals {
                created: 6,
                resolved: 4
            }
        );

        // Now: F 1 h and E 16 h old; I 1 d 13 h; A 4 d 2 h; J 12 d 12 h.
        assert_eq!(r.backlog_now.total, 5);
        let bands: Vec<(&str, u64, ByPriority<u64>)> = r
            .backlog_now
            .by_age
            .iter()
            .map(|b| (b.band, b.total, b.by_priority))
            .collect();
        assert_eq!(
            bands,
            [
                ("0-1d", 2, by(1, 0, 1, 0)),
                ("1-3d", 1, by(0, 1, 0, 0)),
                ("3-7d", 1, by(0, 0, 1, 0)),
                ("7d+", 1, by(0, 0, 0, 1)),
            ]
        );
        assert_eq!(r.backlog_now.by_age[3].max_days, None);

        // Resolved in the range: K 600, C 2,400, B 64,800, D 90,000.
        // Median: rank ⌈2⌉ = 2,400; p90: rank ⌈3.6⌉ = 4, 90,000.
        assert_eq!(
            r.time_to_resolve,
            Durations {
                count: 4,
                median_secs: Some(2400),
                p90_secs: Some(90_000)
            }
        );
        // First responses (a resolution is one) in the range: K 600,
        // C 2,400, D 14,400 (the pending 2 h left out), E 43,200,
        // B 64,800. Median: rank 3; p90: rank ⌈4.5⌉ = 5.
        assert_eq!(
            r.time_to_first_response,
            Durations {
                count: 5,
                median_secs: Some(14_400),
                p90_secs: Some(64_800)
            }
        );

        // First response: B (HIGH) and E (MEDIUM) late; C, D, K met.
        // Resolution: B late; C, D, K met; E's clock runs again.
        let s = &r.sla;
        assert_eq!(s.all.first_response, compliance(3, 2));
        assert_eq!(s.all.first_response.compliance, Some(0.6));
        assert_eq!(s.all.resolution, compliance(3, 1));
        assert_eq!(s.all.resolution.compliance, Some(0.75));
        assert_eq!(s.by_priority.critical.first_response, compliance(1, 0));
        assert_eq!(s.by_priority.high.first_response, compliance(0, 1));
        assert_eq!(s.by_priority.medium.first_response, compliance(1, 1));
        assert_eq!(s.by_priority.low.first_response, compliance(1, 0));
        assert_eq!(s.by_priority.critical.resolution, compliance(1, 0));
        assert_eq!(s.by_priority.high.resolution, compliance(0, 1));
        assert_eq!(s.by_priority.medium.resolution, compliance(1, 0));
        assert_eq!(s.by_priority.low.resolution, compliance(1, 0));

        // Resolved in the range: B, C, D, K; D had been reopened. E is
        // open again.
        assert_eq!(
            r.reopen,
            Reopens {
                resolved: 4,
                reopened: 1,
                rate: Some(0.25),
                open_after_reopen: 1,
            }
        );

        // By week: the range starts on a Monday, so one bucket, cut at `to`.
        let w = desk.report(
            &[
                ("from", "2026-11-30"),
                ("to", "2026-12-03"),
                ("bucket", "week"),
            ],
            now,
        );
        let figures: Vec<(u64, u64, Option<u64>)> = w
            .buckets
            .iter()
            .map(|b| (b.created, b.resolved, b.backlog))
            .collect();
        assert_eq!(figures, [(6, 4, Some(5))]);
        assert_eq!(w.time_to_resolve, r.time_to_resolve);

        // A range with nothing in it: no percentiles, no shares.
        let empty = desk.report(&[("from", "2026-10-01"), ("to", "2026-10-02")], now);
        assert_eq!(empty.time_to_resolve, Durations::default());
        assert_eq!(empty.sla.all.resolution.compliance, None);
        assert_eq!(empty.reopen.rate, None);
        assert_eq!(empty.buckets.len(), 2);
        assert_eq!(empty.backlog_now.total, 5, "the backlog now is the same");
    }

    #[test]
    fn analytics_percentiles_are_nearest_rank() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[7], 50), Some(7));
        assert_eq!(percentile(&[7], 90), Some(7));
        assert_eq!(percentile(&[10, 20, 30, 40], 50), Some(20));
        assert_eq!(percentile(&[10, 20, 30, 40, 50], 50), Some(30));
        let hundred: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&hundred, 90), Some(90));
        let ten: Vec<u64> = (1..=10).collect();
        assert_eq!(percentile(&ten, 90), Some(9));
        assert_eq!(percentile(&ten[..9], 90), Some(9));
    }

    #[test]
    fn analytics_reopen_count_counts_every_way_back_to_work() {
        let mut desk = Desk::new();
        let id = desk.create("2026-12-01T09:00:00Z", Priority::Medium);
        let json = serde_json::to_value(desk.get(id)).unwrap();
        assert!(json.get("reopen_count").is_none(), "absent while zero");
        desk.resolve(id, "2026-12-01T10:00:00Z");
        desk.reopen(id, "2026-12-01T11:00:00Z");
        // Asking for the status it has is no reopen.
        desk.reopen(id, "2026-12-01T11:30:00Z");
        desk.resolve(id, "2026-12-01T12:00:00Z");
        desk.resolve(id, "2026-12-01T12:10:00Z");
        // Back to work from resolved by a status change is one too.
        desk.status(id, Status::InProgress, "2026-12-01T13:00:00Z");
        desk.resolve(id, "2026-12-01T14:00:00Z");
        desk.status(id, Status::Closed, "2026-12-01T15:00:00Z");
        let t = desk.get(id);
        assert_eq!(t.reopen_count, 2);
        let json = serde_json::to_value(t).unwrap();
        assert_eq!(json["reopen_count"], 2);
        let back: Ticket = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back.reopen_count, 2);
        // A ticket stored before the count existed reads as never reopened.
        let mut old = json;
        old.as_object_mut().unwrap().remove("reopen_count");
        let old: Ticket = serde_json::from_value(old).unwrap();
        assert_eq!(old.reopen_count, 0);
    }

    fn range(query: &[(&str, &str)], now: &str) -> Result<Range, ParamError> {
        AnalyticsQuery::parse(query.iter().copied())?.range(at(now))
    }

    #[test]
    fn analytics_range_defaults_to_the_last_30_days() {
        let now = "2026-12-03T10:15:00Z";
        let r = range(&[], now).unwrap();
        assert_eq!(r.to, at(now));
        assert_eq!(r.from, at("2026-11-04T00:00:00Z"));
        assert_eq!(r.bucket, Bucket::Day);
        let buckets = r.buckets();
        assert_eq!(buckets.len(), 30, "today the 30th");
        assert_eq!(buckets[29], (at("2026-12-03T00:00:00Z"), at(now)));
        // At midnight the last day is yesterday.
        let r = range(&[], "2026-12-03T00:00:00Z").unwrap();
        assert_eq!(r.from, at("2026-11-03T00:00:00Z"));
        assert_eq!(r.buckets().len(), 30);
        // `to` alone: the 30 days up to it (June has 30).
        let r = range(&[("to", "2026-06-30")], now).unwrap();
        assert_eq!(
            (r.from, r.to),
            (at("2026-06-01T00:00:00Z"), at("2026-07-01T00:00:00Z"))
        );
        // Times with offsets are taken in UTC.
        let r = range(
            &[
                ("from", "2026-12-01T09:30:00+02:00"),
                ("to", "2026-12-02T00:00:00Z"),
            ],
            now,
        )
        .unwrap();
        assert_eq!(r.from, at("2026-12-01T07:30:00Z"));
        assert_eq!(
            r.buckets(),
            [(at("2026-12-01T07:30:00Z"), at("2026-12-02T00:00:00Z"))]
        );
    }

    #[test]
    fn analytics_weeks_start_on_monday_utc() {
        // Wednesday 25 November to Thursday 10 December, inclusive.
        let r = range(
            &[
                ("from", "2026-11-25"),
                ("to", "2026-12-10"),
                ("bucket", "week"),
            ],
            "2026-12-20T00:00:00Z",
        )
        .unwrap();
        assert_eq!(
            r.buckets(),
            [
                (at("2026-11-25T00:00:00Z"), at("2026-11-30T00:00:00Z")),
                (at("2026-11-30T00:00:00Z"), at("2026-12-07T00:00:00Z")),
                (at("2026-12-07T00:00:00Z"), at("2026-12-11T00:00:00Z")),
            ]
        );
        assert_eq!(r.index(at("2026-11-29T23:59:59Z")), 0);
        assert_eq!(r.index(at("2026-11-30T00:00:00Z")), 1);
        assert_eq!(r.index(at("2026-12-10T23:59:59Z")), 2);
    }

    #[test]
    fn analytics_bad_parameters_are_refused_by_name() {
        let now = "2026-12-03T10:15:00Z";
        // 366 days fit (3 December 2025 to 3 December 2026 inclusive); 367 do not.
        let r = range(&[("from", "2025-12-03"), ("to", "2026-12-03")], now).unwrap();
        assert_eq!(r.buckets().len(), 366);
        let e = range(&[("from", "2025-12-03"), ("to", "2026-12-04")], now).unwrap_err();
        assert_eq!(e.param, "from");
        assert!(e.problem.contains("367 day buckets"), "{e}");
        assert!(e.problem.contains("bucket=week"), "{e}");
        // By week the same range is fine.
        let r = range(
            &[
                ("from", "2025-12-03"),
                ("to", "2026-12-04"),
                ("bucket", "week"),
            ],
            now,
        )
        .unwrap();
        assert_eq!(r.buckets().len(), 53);
        for (query, param) in [
            (&[("from", "2026-12-02"), ("to", "2026-12-01")][..], "to"),
            (
                &[
                    ("from", "2026-12-01T00:00:00Z"),
                    ("to", "2026-12-01T00:00:00Z"),
                ][..],
                "to",
            ),
            (&[("from", "2026-12-04")][..], "from"),
            (&[("from", "yesterday")][..], "from"),
            (&[("to", "2026-13-01")][..], "to"),
            (&[("to", "2026-12-01 10:00")][..], "to"),
            (&[("from", "")][..], "from"),
            (&[("bucket", "month")][..], "bucket"),
            (&[("bucket", "")][..], "bucket"),
            (&[("limit", "10")][..], "limit"),
            (&[("status", "open")][..], "status"),
        ] {
            let e = range(query, now).unwrap_err();
            assert_eq!(e.param, param, "{query:?}: {e}");
            assert!(e.to_string().starts_with(&format!("{param}: ")), "{e}");
        }
    }

    #[test]
    fn analytics_serializes_with_the_documented_names() {
        let mut desk = Desk::new();
        let id = desk.create("2026-12-01T09:00:00Z", Priority::High);
        desk.resolve(id, "2026-12-01T10:00:00Z");
        let r = desk.report(
            &[("from", "2026-12-01"), ("to", "2026-12-01")],
            "2026-12-02T00:00:00Z",
        );
        let json = serde_json::to_value(&r).unwrap();
        let keys = |v: &serde_json::Value| -> Vec<String> {
            v.as_object().unwrap().keys().cloned().collect()
        };
        let mut top = keys(&json);
        top.sort();
        assert_eq!(
            top,
            [
                "as_of",
                "backlog_now",
                "bucket",
                "buckets",
                "from",
                "reopen",
                "sla",
                "time_to_first_response",
                "time_to_resolve",
                "to",
                "totals"
            ]
        );
        assert_eq!(json["bucket"], "day");
        assert_eq!(json["from"], "2026-12-01T00:00:00Z");
        assert_eq!(
            json["buckets"][0],
            serde_json::json!({
                "start": "2026-12-01T00:00:00Z",
                "end": "2026-12-02T00:00:00Z",
                "created": 1,
                "resolved": 1,
                "backlog": 0
            })
        );
        assert_eq!(
            json["backlog_now"]["by_age"][0],
            serde_json::json!({
                "band": "0-1d", "min_days": 0, "max_days": 1, "total": 0,
                "by_priority": {"CRITICAL": 0, "HIGH": 0, "MEDIUM": 0, "LOW": 0}
            })
        );
        assert_eq!(
            json["time_to_resolve"],
            serde_json::json!({"count": 1, "median_secs": 3600, "p90_secs": 3600})
        );
        assert_eq!(
            json["sla"]["by_priority"]["HIGH"]["resolution"],
            serde_json::json!({"completed": 1, "met": 1, "breached": 0, "compliance": 1.0})
        );
        assert_eq!(
            json["sla"]["all"]["first_response"],
            serde_json::json!({"completed": 1, "met": 0, "breached": 1, "compliance": 0.0})
        );
        assert_eq!(
            json["reopen"],
            serde_json::json!({"resolved": 1, "reopened": 0, "rate": 0.0, "open_after_reopen": 0})
        );
    }
}
