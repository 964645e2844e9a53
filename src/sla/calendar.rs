//! Business calendars: which real seconds count as working time.
//!
//! A [`Calendar`] owns an IANA time zone, the weekly working windows and the
//! holiday dates, and answers two questions: how much working time lies
//! between two instants ([`Calendar::business_seconds`]) and when a given
//! amount of working time, started at an instant, is used up
//! ([`Calendar::add_business_seconds`]). Every SLA deadline in ticketd is
//! one of those two questions, so they live here, once, and exactly.
//!
//! # How time is measured
//! Everything is computed on UTC instants, in whole seconds (sub-second parts
//! of an input instant are dropped). A window is a pair of *local labels*
//! ("Tuesday 09:00", "Wednesday 06:00") which are mapped to instants through
//! the zone's rules (chrono-tz); working time is then the union of those
//! real intervals. Hours are never added to a local wall-clock time, so a
//! window `01:00-04:00` lasts two real hours on the night the clocks go
//! forward and four on the night they go back.
//!
//! Local labels that do not map to exactly one instant are resolved as
//! follows, the same way for every window:
//! - a label inside a spring-forward gap (it never shows on a clock) maps to
//!   the instant the gap ends, both as a window start and as a window end;
//! - a label inside an autumn overlap (it shows twice) maps to the EARLIER
//!   instant when it starts a window and to the LATER instant when it ends
//!   one, so a window never loses time to the change.
//!
//! Two windows that end up overlapping in real time (a window ending at an
//! ambiguous label next to one starting there) are counted once: working
//! time is a set of seconds, not a sum of windows.
//!
//! # Windows, days and holidays
//! A window belongs to the local date it starts on. `22:00-06:00` crosses
//! midnight and ends at 06:00 on the next date; `00:00-24:00` is the whole
//! day. A holiday (a local date) removes the windows that START on it, so a
//! window opening the evening before a holiday still runs into it.
//!
//! # Cost and bounds
//! Both functions walk local dates, one step per day (a handful of zone
//! look-ups each), never minute by minute; a 24x7 calendar without holidays
//! is answered by plain subtraction. [`Calendar::add_business_seconds`]
//! searches at most [`HORIZON_DAYS`] ahead and then gives up (see its doc), so
//! even a calendar with no working time at all (which the policy parser
//! refuses anyway) cannot make it loop forever.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{
    DateTime, Datelike, Days, MappedLocalTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
    Weekday,
};
use chrono_tz::Tz;

/// How far [`Calendar::add_business_seconds`] searches for working time:
/// ten years of local dates (3,653 days).
pub const HORIZON_DAYS: u64 = 3653;

const MINUTES_PER_DAY: u32 = 24 * 60;
const SECONDS_PER_DAY: i64 = 24 * 60 * 60;

/// The days of the week in the order the calendar stores them (Monday first,
/// as `Weekday::num_days_from_monday`).
pub const WEEKDAYS: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

/// One working window of a weekday, in local minutes after midnight of the
/// date it starts on.
///
/// Invariant: `start < 1440` and `start < end < start + 1440`; `end > 1440`
/// means the window crosses midnight into the next date, `end == 1440` means
/// it runs to midnight (`24:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Window {
    start: u32,
    end: u32,
}

impl Window {
    /// A window from `start_minute` to `end_minute` (minutes after local
    /// midnight). An end at or before the start crosses midnight (`22:00` to
    /// `06:00`); an end of 1440 is `24:00`. `None` when a minute is out of
    /// range (start 0..1440, end 0..=1440) or the window is empty (start ==
    /// end, including `00:00-00:00`).
    pub fn new(start_minute: u32, end_minute: u32) -> Option<Window> {
        if start_minute >= MINUTES_PER_DAY
            || end_minute > MINUTES_PER_DAY
            || start_minute == end_minute
        {
            return None;
        }
        let end = if end_minute < start_minute {
            end_minute + MINUTES_PER_DAY
        } else {
            end_minute
        };
        Some(Window {
            start: start_minute,
            end,
        })
    }

    /// Parses `"HH:MM-HH:MM"` (24-hour clock; `24:00` only as an end). The
    /// error is a short reason, for the policy parser to put next to the key.
    pub fn parse(text: &str) -> Result<Window, &'static str> {
        let (start, end) = text.split_once('-').ok_or("expected \"HH:MM-HH:MM\"")?;
        let start = parse_clock_time(start.trim()).ok_or("the start is not a time HH:MM")?;
        let end = parse_clock_time(end.trim()).ok_or("the end is not a time HH:MM")?;
        if start == MINUTES_PER_DAY {
            return Err("24:00 can only end a window");
        }
        Window::new(start, end).ok_or("the window is empty (start equals end)")
    }

    /// Local minute after midnight of its date at which the window opens.
    pub fn start_minute(&self) -> u32 {
        self.start
    }

    /// Local minute at which the window closes, counted from midnight of the
    /// date it STARTS on (above 1440 when it crosses midnight).
    pub fn end_minute(&self) -> u32 {
        self.end
    }

    /// Length on the wall clock, in minutes (real length differs across a
    /// DST change).
    pub fn wall_minutes(&self) -> u32 {
        self.end - self.start
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // An end exactly at midnight prints as 24:00, as it was written.
        let end = if self.end == MINUTES_PER_DAY {
            MINUTES_PER_DAY
        } else {
            self.end % MINUTES_PER_DAY
        };
        write!(
            f,
            "{:02}:{:02}-{:02}:{:02}",
            self.start / 60,
            self.start % 60,
            end / 60,
            end % 60
        )
    }
}

/// `H:MM` or `HH:MM`, hour 0..=24 (24 only with minute 00), to minutes.
fn parse_clock_time(text: &str) -> Option<u32> {
    let (hours, minutes) = text.split_once(':')?;
    if hours.is_empty()
        || hours.len() > 2
        || minutes.len() != 2
        || !hours.bytes().all(|b| b.is_ascii_digit())
        || !minutes.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let hours: u32 = hours.parse().ok()?;
    let minutes: u32 = minutes.parse().ok()?;
    if minutes > 59 || hours > 24 || (hours == 24 && minutes != 0) {
        return None;
    }
    Some(hours * 60 + minutes)
}

/// A business calendar: a time zone, weekly working windows and holidays.
///
/// Build one with [`Calendar::always`] (24x7, UTC) or [`Calendar::new`] and
/// the `with_*` methods; the policy parser validates what it builds (no
/// overlaps, at least one window), this type itself accepts anything and
/// stays correct (overlapping windows count once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    zone: Tz,
    /// Windows per weekday, Monday first, each list sorted by start.
    week: [Vec<Window>; 7],
    holidays: BTreeSet<NaiveDate>,
    /// Cached: every day is 00:00-24:00 and there are no holidays, so every
    /// second is working time whatever the zone (the fast path).
    all_day: bool,
}

/// Which side of a window a local label stands for (see the module doc on
/// ambiguous labels).
#[derive(Clone, Copy)]
enum Edge {
    Start,
    End,
}

impl Calendar {
    /// The 24x7 calendar: every second counts, zone UTC, no holidays.
    pub fn always() -> Calendar {
        Calendar::always_in(Tz::UTC)
    }

    /// A 24x7 calendar that remembers `zone` (for display: every second
    /// counts whatever the zone).
    pub fn always_in(zone: Tz) -> Calendar {
        let mut calendar = Calendar::new(zone);
        for day in WEEKDAYS {
            calendar = calendar.with_window(
                day,
                Window {
                    start: 0,
                    end: MINUTES_PER_DAY,
                },
            );
        }
        calendar
    }

    /// A calendar in `zone` that is closed every day (add windows with
    /// [`Calendar::with_window`]).
    pub fn new(zone: Tz) -> Calendar {
        Calendar {
            zone,
            week: Default::default(),
            holidays: BTreeSet::new(),
            all_day: false,
        }
    }

    /// This calendar with one more window on `day`.
    pub fn with_window(mut self, day: Weekday, window: Window) -> Calendar {
        let list = &mut self.week[day.num_days_from_monday() as usize];
        let at = list.partition_point(|w| *w <= window);
        list.insert(at, window);
        self.refresh();
        self
    }

    /// This calendar with `date` (local) as a holiday.
    pub fn with_holiday(mut self, date: NaiveDate) -> Calendar {
        self.holidays.insert(date);
        self.refresh();
        self
    }

    fn refresh(&mut self) {
        let whole_day = Window {
            start: 0,
            end: MINUTES_PER_DAY,
        };
        self.all_day =
            self.holidays.is_empty() && self.week.iter().all(|day| day.contains(&whole_day));
    }

    /// The calendar's IANA zone.
    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The windows that start on `day`, sorted by start.
    pub fn windows(&self, day: Weekday) -> &[Window] {
        &self.week[day.num_days_from_monday() as usize]
    }

    /// The holidays, in date order.
    pub fn holidays(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.holidays.iter().copied()
    }

    /// True when every second is working time (24x7, no holidays).
    pub fn is_always(&self) -> bool {
        self.all_day
    }

    /// True when at least one weekday has a window.
    pub fn has_windows(&self) -> bool {
        self.week.iter().any(|day| !day.is_empty())
    }

    /// Seconds of working time in `[from, to)`; 0 when `to <= from`.
    ///
    /// Exact across DST changes (see the module doc for how missing and
    /// repeated local times are resolved). Inputs are taken to the whole
    /// second. Walks the local dates between the two instants.
    pub fn business_seconds(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        let (from, to) = (from.timestamp(), to.timestamp());
        if to <= from {
            return 0;
        }
        if self.all_day {
            return to - from;
        }
        // Two days of margin before: a window that started the day before
        // (crossing midnight) may still be open at `from`; one after: in a
        // zone that turns the clock back across midnight, a label of the
        // next date can come before `to`.
        let first = self.local_date(from).checked_sub_days(Days::new(2));
        let last = self.local_date(to).checked_add_days(Days::new(1));
        let (Some(first), Some(last)) = (first, last) else {
            return 0;
        };
        let mut total = 0;
        // Spans come in start order, so one cursor (the latest end seen)
        // is enough to count overlapping spans once.
        let mut cursor = i64::MIN;
        for (start, end) in self.spans(first, last) {
            if start >= to {
                break;
            }
            let lo = start.max(from).max(cursor);
            let hi = end.min(to);
            if hi > lo {
                total += hi - lo;
            }
            cursor = cursor.max(end);
        }
        total
    }

    /// The earliest instant `t >= from` with `business_seconds(from, t) ==
    /// secs`; `from` itself when `secs <= 0`.
    ///
    /// So work whose last second ends at a window's close is due AT the
    /// close (not at the next opening), and work left on a Friday evening is
    /// due after Monday's opening hour in the calendar's zone (never at a
    /// midnight).
    ///
    /// Searches at most [`HORIZON_DAYS`] of local dates. If the work does
    /// not fit in that (only a calendar with no or almost no working time,
    /// or an absurd `secs`, can cause it), it returns `from +
    /// HORIZON_DAYS` days: "not within ten years", an instant before which
    /// the work is certainly not done.
    pub fn add_business_seconds(&self, from: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
        if secs <= 0 {
            return from;
        }
        let start = from.timestamp();
        if self.all_day {
            return instant(start.saturating_add(secs));
        }
        let horizon = instant(start.saturating_add(HORIZON_DAYS as i64 * SECONDS_PER_DAY));
        let today = self.local_date(start);
        let first = today.checked_sub_days(Days::new(2));
        let last = today.checked_add_days(Days::new(HORIZON_DAYS + 1));
        let (Some(first), Some(last)) = (first, last) else {
            return horizon;
        };
        let mut remaining = secs;
        let mut cursor = i64::MIN;
        for (span_start, span_end) in self.spans(first, last) {
            let lo = span_start.max(start).max(cursor);
            if span_end > lo {
                let len = span_end - lo;
                // `>=`: work that ends exactly at the close is due at the close.
                if len >= remaining {
                    return instant(lo + remaining);
                }
                remaining -= len;
            }
            cursor = cursor.max(span_end);
        }
        horizon
    }

    /// The local date of a UTC second in this calendar's zone.
    fn local_date(&self, secs: i64) -> NaiveDate {
        instant(secs).with_timezone(&self.zone).date_naive()
    }

    /// The working spans (UTC seconds, `[start, end)`) of the windows that
    /// start on local dates `first..=last`, holidays skipped, in order of
    /// their local start label (hence of their start instant).
    fn spans(&self, first: NaiveDate, last: NaiveDate) -> Spans<'_> {
        Spans {
            calendar: self,
            date: Some(first),
            last,
            index: 0,
        }
    }

    /// The real span of `window` on local date `date`; `None` only at the
    /// edges of chrono's date range.
    fn span(&self, date: NaiveDate, window: Window) -> Option<(i64, i64)> {
        let start = self.resolve(label(date, window.start)?, Edge::Start)?;
        let end = self.resolve(label(date, window.end)?, Edge::End)?;
        // A window wholly inside a spring-forward gap maps to an empty span.
        Some((start, end.max(start)))
    }

    /// The UTC second a local label stands for (see the module doc).
    fn resolve(&self, label: NaiveDateTime, edge: Edge) -> Option<i64> {
        match self.zone.from_local_datetime(&label) {
            MappedLocalTime::Single(t) => Some(t.timestamp()),
            MappedLocalTime::Ambiguous(earlier, later) => Some(match edge {
                Edge::Start => earlier.timestamp(),
                Edge::End => later.timestamp(),
            }),
            MappedLocalTime::None => self.gap_end(label),
        }
    }

    /// The instant a spring-forward gap containing `label` ends: the first
    /// second whose local time is at or after `label`.
    ///
    /// chrono-tz does not expose its transitions, so this bisects. UTC
    /// offsets lie within -12h..+14h, so 26 hours either side of the label
    /// read as UTC brackets the answer; real zones never have two
    /// transitions that close together.
    fn gap_end(&self, label: NaiveDateTime) -> Option<i64> {
        let guess = label.and_utc().timestamp();
        let mut lo = guess.checked_sub(26 * 3600)?;
        let mut hi = guess.checked_add(26 * 3600)?;
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            let local = DateTime::from_timestamp(mid, 0)?
                .with_timezone(&self.zone)
                .naive_local();
            if local >= label {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Some(hi)
    }
}

/// The local label `minute` minutes into `date` (past 1440: the next date),
/// built from a date and a time of day, not by adding to a zoned time.
fn label(date: NaiveDate, minute: u32) -> Option<NaiveDateTime> {
    let date = date.checked_add_days(Days::new(u64::from(minute / MINUTES_PER_DAY)))?;
    let time = NaiveTime::from_num_seconds_from_midnight_opt((minute % MINUTES_PER_DAY) * 60, 0)?;
    Some(date.and_time(time))
}

/// A UTC second as an instant, clamped to chrono's range.
fn instant(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or(if secs < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

/// Iterator behind [`Calendar::spans`].
struct Spans<'a> {
    calendar: &'a Calendar,
    /// The date being walked; `None` past chrono's last date.
    date: Option<NaiveDate>,
    last: NaiveDate,
    /// Next window of `date` to yield.
    index: usize,
}

impl Iterator for Spans<'_> {
    type Item = (i64, i64);

    fn next(&mut self) -> Option<(i64, i64)> {
        loop {
            let date = self.date.filter(|d| *d <= self.last)?;
            let windows: &[Window] = if self.calendar.holidays.contains(&date) {
                &[]
            } else {
                self.calendar.windows(date.weekday())
            };
            if let Some(window) = windows.get(self.index) {
                self.index += 1;
                if let Some(span) = self.calendar.span(date, *window) {
                    return Some(span);
                }
                continue;
            }
            self.index = 0;
            self.date = date.succ_opt();
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeDelta;
    use proptest::prelude::*;

    const H: i64 = 3600;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn w(text: &str) -> Window {
        Window::parse(text).unwrap()
    }

    /// 09:00-17:00 Monday to Friday in `zone`.
    fn office(zone: Tz) -> Calendar {
        let mut cal = Calendar::new(zone);
        for day in &WEEKDAYS[..5] {
            cal = cal.with_window(*day, w("09:00-17:00"));
        }
        cal
    }

    #[test]
    fn windows_parse_and_print() {
        assert_eq!(w("09:00-17:30").to_string(), "09:00-17:30");
        assert_eq!(w("22:00-06:00").end_minute(), 30 * 60);
        assert_eq!(w("00:00-24:00").wall_minutes(), 1440);
        assert_eq!(w("9:15-24:00").to_string(), "09:15-24:00");
        assert_eq!(w(" 22:00 - 06:00 ").wall_minutes(), 8 * 60);
        for bad in [
            "",
            "09:00",
            "9-17",
            "09:00-17:60",
            "25:00-26:00",
            "24:00-06:00",
            "10:00-10:00",
            "00:00-00:00",
            "09:0-17:00",
            "0900-1700",
            "24:30-01:00",
            "-1:00-02:00",
        ] {
            assert!(Window::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn always_counts_every_second() {
        let cal = Calendar::always();
        assert!(cal.is_always());
        let a = utc("2026-03-29T00:30:00Z");
        assert_eq!(cal.business_seconds(a, a + TimeDelta::days(3)), 3 * 24 * H);
        assert_eq!(cal.add_business_seconds(a, 90), a + TimeDelta::seconds(90));
        assert_eq!(cal.business_seconds(a, a - TimeDelta::seconds(1)), 0);
        assert_eq!(cal.add_business_seconds(a, -5), a);
    }

    #[test]
    fn window_across_midnight_belongs_to_its_start_day() {
        // Saturday night shift only, in UTC.
        let cal = Calendar::new(Tz::UTC).with_window(Weekday::Sat, w("22:00-06:00"));
        // 2026-06-13 is a Saturday.
        let sat = utc("2026-06-13T00:00:00Z");
        let next_sat = utc("2026-06-20T00:00:00Z");
        assert_eq!(cal.business_seconds(sat, next_sat), 8 * H);
        // Sunday morning alone holds the 6 hours after midnight.
        assert_eq!(
            cal.business_seconds(utc("2026-06-14T00:00:00Z"), utc("2026-06-15T00:00:00Z")),
            6 * H
        );
        // Work started Saturday 23:00 for 3 hours ends Sunday 02:00.
        assert_eq!(
            cal.add_business_seconds(utc("2026-06-13T23:00:00Z"), 3 * H),
            utc("2026-06-14T02:00:00Z")
        );
        // Starting from inside the Sunday part (the window began the day before).
        assert_eq!(
            cal.add_business_seconds(utc("2026-06-14T05:00:00Z"), 2 * H),
            utc("2026-06-20T23:00:00Z")
        );
    }

    #[test]
    fn friday_evening_work_continues_at_monday_opening_new_york() {
        let cal = office(chrono_tz::America::New_York);
        // Friday 2026-01-09 16:30 EST = 21:30 UTC; 2 h = 30 min Friday + 1.5 h Monday.
        let due = cal.add_business_seconds(utc("2026-01-09T21:30:00Z"), 2 * H);
        // Monday 2026-01-12 10:30 EST = 15:30 UTC.
        assert_eq!(due, utc("2026-01-12T15:30:00Z"));
        // Exactly 30 minutes left on Friday: due at the close, not at Monday's opening.
        let at_close = cal.add_business_seconds(utc("2026-01-09T21:30:00Z"), 1800);
        assert_eq!(at_close, utc("2026-01-09T22:00:00Z"));
        // One more second: Monday 09:00:01 local, never midnight.
        let after = cal.add_business_seconds(utc("2026-01-09T21:30:00Z"), 1801);
        assert_eq!(after, utc("2026-01-12T14:00:01Z"));
    }

    #[test]
    fn friday_evening_work_continues_at_monday_opening_london_summer() {
        let cal = office(chrono_tz::Europe::London);
        // Friday 2026-06-12 16:30 BST = 15:30 UTC -> Monday 10:30 BST = 09:30 UTC.
        let due = cal.add_business_seconds(utc("2026-06-12T15:30:00Z"), 2 * H);
        assert_eq!(due, utc("2026-06-15T09:30:00Z"));
        assert_eq!(
            cal.business_seconds(utc("2026-06-12T15:30:00Z"), due),
            2 * H
        );
    }

    #[test]
    fn holidays_remove_the_windows_that_start_on_them() {
        let date = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let cal = office(chrono_tz::Europe::London)
            .with_holiday(date("2026-12-25"))
            .with_holiday(date("2026-12-28"));
        // Thursday 24th 16:00 + 2 h: 1 h Thursday, Friday 25th is a holiday,
        // Monday 28th too, so Tuesday 29th 10:00 GMT.
        assert_eq!(
            cal.add_business_seconds(utc("2026-12-24T16:00:00Z"), 2 * H),
            utc("2026-12-29T10:00:00Z")
        );
        assert_eq!(
            cal.business_seconds(utc("2026-12-21T00:00:00Z"), utc("2027-01-04T00:00:00Z")),
            8 * 8 * H
        );
        // A night window opening the evening before a holiday still runs into it.
        let night = Calendar::new(Tz::UTC)
            .with_window(Weekday::Thu, w("22:00-06:00"))
            .with_holiday(date("2026-12-25"));
        assert_eq!(
            night.business_seconds(utc("2026-12-25T00:00:00Z"), utc("2026-12-26T00:00:00Z")),
            6 * H
        );
    }

    #[test]
    fn dst_window_spanning_the_change_london() {
        // Every Sunday 01:00-04:00 local.
        let cal =
            Calendar::new(chrono_tz::Europe::London).with_window(Weekday::Sun, w("01:00-04:00"));
        // 2026-03-29: 01:00 GMT jumps to 02:00 BST. 01:00 local does not
        // exist: the window opens when the gap ends (01:00 UTC) and closes at
        // 04:00 BST = 03:00 UTC: two real hours.
        let day = |d: &str| {
            let a = utc(&format!("{d}T00:00:00Z")) - TimeDelta::hours(2);
            cal.business_seconds(a, a + TimeDelta::days(1))
        };
        assert_eq!(day("2026-03-29"), 2 * H);
        assert_eq!(
            cal.add_business_seconds(utc("2026-03-28T12:00:00Z"), 1),
            utc("2026-03-29T01:00:01Z")
        );
        // 2026-10-25: 02:00 BST goes back to 01:00 GMT. 01:00 is ambiguous:
        // the start takes the earlier instant (00:00 UTC), the close 04:00 GMT
        // = 04:00 UTC: four real hours.
        assert_eq!(day("2026-10-25"), 4 * H);
        assert_eq!(
            cal.add_business_seconds(utc("2026-10-24T12:00:00Z"), 4 * H),
            utc("2026-10-25T04:00:00Z")
        );
        // An ordinary Sunday: three.
        assert_eq!(day("2026-06-14"), 3 * H);
    }

    #[test]
    fn dst_night_shift_new_york() {
        // Saturday 22:00 to Sunday 06:00 local; America/New_York changes at 02:00 on Sundays.
        let cal =
            Calendar::new(chrono_tz::America::New_York).with_window(Weekday::Sat, w("22:00-06:00"));
        // 2026-03-07 22:00 EST (03:00Z Sun) to 2026-03-08 06:00 EDT (10:00Z): 7 h.
        let spring = cal.business_seconds(utc("2026-03-07T12:00:00Z"), utc("2026-03-08T18:00:00Z"));
        assert_eq!(spring, 7 * H);
        // 2026-10-31 22:00 EDT (02:00Z) to 2026-11-01 06:00 EST (11:00Z): 9 h.
        let autumn = cal.business_seconds(utc("2026-10-31T12:00:00Z"), utc("2026-11-01T18:00:00Z"));
        assert_eq!(autumn, 9 * H);
        assert_eq!(
            cal.add_business_seconds(utc("2026-10-31T12:00:00Z"), 9 * H),
            utc("2026-11-01T11:00:00Z")
        );
    }

    #[test]
    fn gaps_at_midnight_and_half_hour_changes() {
        // America/Santiago skips Sunday 2026-09-06 00:00-01:00 (the gap ends
        // at 04:00Z). A Saturday window to 24:00 ends there, a Sunday window
        // from 00:00 starts there.
        let cal = Calendar::new(chrono_tz::America::Santiago)
            .with_window(Weekday::Sat, w("20:00-24:00"))
            .with_window(Weekday::Sun, w("00:00-02:00"));
        let (a, b) = (utc("2026-09-05T12:00:00Z"), utc("2026-09-06T12:00:00Z"));
        assert_eq!(cal.business_seconds(a, utc("2026-09-06T04:00:00Z")), 4 * H);
        assert_eq!(cal.business_seconds(a, b), 5 * H);
        assert_eq!(
            cal.add_business_seconds(a, 4 * H),
            utc("2026-09-06T04:00:00Z")
        );
        assert_eq!(
            cal.add_business_seconds(a, 4 * H + 1),
            utc("2026-09-06T04:00:01Z")
        );
        // Australia/Lord_Howe moves by half an hour: 02:00-02:30 is skipped
        // on 2026-10-04, so a 02:00-03:00 window lasts 30 minutes.
        let cal = Calendar::new(chrono_tz::Australia::Lord_Howe)
            .with_window(Weekday::Sun, w("02:00-03:00"));
        assert_eq!(
            cal.business_seconds(utc("2026-10-03T00:00:00Z"), utc("2026-10-04T00:00:00Z")),
            1800
        );
        assert_eq!(
            cal.add_business_seconds(utc("2026-10-03T00:00:00Z"), 1),
            utc("2026-10-03T15:30:01Z")
        );
    }

    #[test]
    fn business_week_containing_dst_changes() {
        let cal = office(chrono_tz::Europe::London);
        // Monday 2026-03-23 00:00 GMT to Monday 2026-03-30 00:00 BST: a wall
        // week one hour short, still five full 8-hour days.
        let start = utc("2026-03-23T00:00:00Z");
        let end = utc("2026-03-29T23:00:00Z");
        assert_eq!(end - start, TimeDelta::days(7) - TimeDelta::hours(1));
        assert_eq!(cal.business_seconds(start, end), 40 * H);
        // Friday 16:00 GMT (the 27th) + 2 h = Monday 30th 10:00 BST = 09:00 UTC.
        assert_eq!(
            cal.add_business_seconds(utc("2026-03-27T16:00:00Z"), 2 * H),
            utc("2026-03-30T09:00:00Z")
        );
        // The autumn week: one hour longer on the wall, same 40 hours of work.
        let start = utc("2026-10-18T23:00:00Z");
        let end = utc("2026-10-26T00:00:00Z");
        assert_eq!(end - start, TimeDelta::days(7) + TimeDelta::hours(1));
        assert_eq!(cal.business_seconds(start, end), 40 * H);
        let ny = office(chrono_tz::America::New_York);
        assert_eq!(
            ny.business_seconds(utc("2026-03-02T05:00:00Z"), utc("2026-03-16T04:00:00Z")),
            80 * H
        );
    }

    #[test]
    fn overlapping_windows_count_once() {
        // The parser refuses these; the calendar must still be right.
        let cal = Calendar::new(Tz::UTC)
            .with_window(Weekday::Mon, w("09:00-12:00"))
            .with_window(Weekday::Mon, w("11:00-13:00"))
            .with_window(Weekday::Sun, w("20:00-10:00"));
        let mon = utc("2026-06-15T00:00:00Z");
        assert_eq!(cal.business_seconds(mon, mon + TimeDelta::days(1)), 13 * H);
        assert_eq!(
            cal.add_business_seconds(mon, 12 * H),
            utc("2026-06-15T12:00:00Z")
        );
    }

    #[test]
    fn no_working_time_stops_at_the_horizon() {
        let closed = Calendar::new(chrono_tz::Europe::London);
        assert!(!closed.has_windows());
        let a = utc("2026-01-01T00:00:00Z");
        let t = closed.add_business_seconds(a, 60);
        assert_eq!(t, a + TimeDelta::days(HORIZON_DAYS as i64));
        assert_eq!(closed.business_seconds(a, t), 0);
        // Huge requests on a real calendar end at the horizon too, not in a loop.
        let office = office(Tz::UTC);
        let far = office.add_business_seconds(a, i64::MAX);
        assert_eq!(far, a + TimeDelta::days(HORIZON_DAYS as i64));
        // And extreme instants do not panic.
        let _ = office.business_seconds(
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MIN_UTC + TimeDelta::days(3),
        );
        let _ = office.add_business_seconds(DateTime::<Utc>::MAX_UTC - TimeDelta::days(3), 10 * H);
    }

    #[test]
    fn sub_second_inputs_are_whole_seconds() {
        let cal = office(Tz::UTC);
        let a = utc("2026-06-15T09:00:00.750Z");
        let b = utc("2026-06-15T09:00:01.250Z");
        assert_eq!(cal.business_seconds(a, b), 1);
        let t = cal.add_business_seconds(a, 1);
        assert!(t >= a);
        assert_eq!(cal.business_seconds(a, t), 1);
    }

    // ---- property tests on random calendars ----

    const ZONES: [Tz; 7] = [
        Tz::UTC,
        chrono_tz::Europe::London,
        chrono_tz::America::New_York,
        chrono_tz::Australia::Lord_Howe, // half-hour DST
        chrono_tz::America::Santiago,    // changes at midnight
        chrono_tz::Asia::Kolkata,
        chrono_tz::Europe::Berlin,
    ];

    pub(crate) fn arb_calendar() -> impl Strategy<Value = Calendar> {
        (
            0..ZONES.len(),
            proptest::collection::vec(
                proptest::collection::vec((0u32..1440, 0u32..=1440), 0..3),
                7,
            ),
            proptest::collection::vec(0u64..1500, 0..4),
        )
            .prop_map(|(zone, days, holidays)| {
                let mut cal = Calendar::new(ZONES[zone]);
                for (day, windows) in WEEKDAYS.iter().zip(days) {
                    for (start, end) in windows {
                        // Quarter hours most of the time, so windows touch
                        // and straddle DST changes at realistic labels.
                        let (start, end) = if start % 2 == 0 {
                            (start / 15 * 15, end / 15 * 15)
                        } else {
                            (start, end)
                        };
                        if let Some(window) = Window::new(start, end) {
                            cal = cal.with_window(*day, window);
                        }
                    }
                }
                if !cal.has_windows() {
                    cal = cal.with_window(
                        Weekday::Wed,
                        Window {
                            start: 540,
                            end: 1020,
                        },
                    );
                }
                let base = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
                for offset in holidays {
                    cal = cal.with_holiday(base + Days::new(offset));
                }
                cal
            })
    }

    /// Instants between 2024 and 2028 (the holidays land in that range too).
    pub(crate) fn arb_instant() -> impl Strategy<Value = DateTime<Utc>> {
        (1_704_067_200i64..1_830_297_600).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn business_time_is_bounded_by_wall_time(
            cal in arb_calendar(),
            a in arb_instant(),
            span in 0i64..40 * 86_400,
        ) {
            let b = a + TimeDelta::seconds(span);
            let business = cal.business_seconds(a, b);
            prop_assert!(business >= 0);
            prop_assert!(business <= span);
            prop_assert_eq!(cal.business_seconds(b, a), 0);
        }

        #[test]
        fn business_time_is_additive(
            cal in arb_calendar(),
            a in arb_instant(),
            x in 0i64..20 * 86_400,
            y in 0i64..20 * 86_400,
        ) {
            let b = a + TimeDelta::seconds(x);
            let c = b + TimeDelta::seconds(y);
            prop_assert_eq!(
                cal.business_seconds(a, b) + cal.business_seconds(b, c),
                cal.business_seconds(a, c)
            );
        }

        #[test]
        fn adding_then_measuring_gives_back_the_amount(
            cal in arb_calendar(),
            a in arb_instant(),
            secs in 0i64..14 * 86_400,
        ) {
            let t = cal.add_business_seconds(a, secs);
            prop_assert!(t >= a);
            prop_assert_eq!(cal.business_seconds(a, t), secs);
            // And it is the earliest such instant.
            if secs > 0 {
                prop_assert!(cal.business_seconds(a, t - TimeDelta::seconds(1)) < secs);
            }
        }
    }
}
