//! The SLA policy: the business calendar, the targets per priority level and
//! the at-risk thresholds, read from one TOML file.
//!
//! This module owns the file format and its validation, so every mistake in
//! a policy file is reported once, at load time, with the TOML key it is
//! about; the clocks ([`super::clock`]) then trust what they are given.
//!
//! # File format
//! ```toml
//! # When a clock counts as "at risk": once it has used this share of its
//! # target, or once this many business minutes (or fewer) are left,
//! # whichever comes first. Both optional.
//! at_risk_percent = 75      # 0..=100, default 75
//! at_risk_minutes = 15      # >= 0, default 15
//!
//! [calendar]
//! time_zone = "Europe/London"          # IANA name; required unless always = true
//! always = false                       # true = 24x7 (then hours/holidays must be absent)
//! holidays = ["2026-12-25", "2026-12-26"]   # local dates, YYYY-MM-DD
//!
//! [calendar.hours]                     # days absent = closed; mon..sun
//! mon = ["09:00-17:30"]
//! tue = ["09:00-12:00", "13:00-17:30"]
//! wed = ["09:00-17:30"]
//! thu = ["09:00-17:30"]
//! fri = ["09:00-17:00"]
//! sat = ["22:00-06:00"]                # crosses midnight into Sunday
//!
//! # All four levels are required; minutes are business minutes, > 0.
//! # (`first_response_seconds` / `resolution_seconds` instead, for test and
//! # demonstration policies; one of the two units per target.)
//! [targets.critical]
//! first_response_minutes = 15
//! resolution_minutes = 240
//!
//! [targets.high]
//! first_response_minutes = 60
//! resolution_minutes = 480
//!
//! [targets.medium]
//! first_response_minutes = 240
//! resolution_minutes = 1440
//!
//! [targets.low]
//! first_response_minutes = 480
//! resolution_minutes = 4320
//! ```
//!
//! Rules: unknown keys are refused everywhere; a window is `HH:MM-HH:MM`
//! (24-hour clock, `24:00` only as an end, an end at or before the start
//! crosses midnight and belongs to the start day); windows may touch but not
//! overlap, neither on one day nor where a window crossing midnight runs
//! into the next day's windows (Sunday runs into Monday); a calendar that
//! is not `always` needs at least one window; a holiday removes the windows
//! that START on it. A first-response target larger than the resolution
//! target is allowed. Without a file, [`Policy::default`] applies: 24x7 in
//! UTC with the targets above.

use std::str::FromStr;

use chrono::NaiveDate;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::calendar::{Calendar, WEEKDAYS, Window};
use super::clock::Risk;

/// A ticket's priority level as the SLA sees it. The ticket module has its
/// own type; the caller converts, so this module depends on nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Lowest urgency.
    Low,
    /// Normal.
    Medium,
    /// Urgent.
    High,
    /// Service down.
    Critical,
}

impl Level {
    /// Every level, lowest first.
    pub const ALL: [Level; 4] = [Level::Low, Level::Medium, Level::High, Level::Critical];

    /// The name used in the policy file and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }
}

/// The two targets of one level, in business seconds (the file speaks
/// minutes; seconds are for test and demonstration policies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Targets {
    /// Business seconds until the first response is due.
    pub first_response_seconds: u32,
    /// Business seconds until the resolution is due.
    pub resolution_seconds: u32,
}

impl Targets {
    /// Targets given in business minutes.
    pub fn minutes(first_response: u32, resolution: u32) -> Targets {
        Targets {
            first_response_seconds: first_response.saturating_mul(60),
            resolution_seconds: resolution.saturating_mul(60),
        }
    }

    /// The first-response target in business seconds.
    pub fn first_response_secs(&self) -> i64 {
        i64::from(self.first_response_seconds)
    }

    /// The resolution target in business seconds.
    pub fn resolution_secs(&self) -> i64 {
        i64::from(self.resolution_seconds)
    }
}

/// Targets for each level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetTable {
    /// Targets of [`Level::Critical`].
    pub critical: Targets,
    /// Targets of [`Level::High`].
    pub high: Targets,
    /// Targets of [`Level::Medium`].
    pub medium: Targets,
    /// Targets of [`Level::Low`].
    pub low: Targets,
}

/// A loaded SLA policy. Build it with [`Policy::from_toml`] or
/// [`Policy::default`]; the fields are public for tests and tools, and
/// nothing in the clocks panics or loops on odd values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// When the clocks run.
    pub calendar: Calendar,
    /// Targets per level.
    pub by_level: TargetTable,
    /// A clock is at risk once it has used this percentage of its target.
    pub at_risk_percent: u8,
    /// A clock is at risk once this many business minutes (or fewer) are left.
    pub at_risk_minutes: u32,
}

/// Why a policy file was refused. Every message starts with the TOML key
/// (or names it, for syntax errors reported by the TOML parser).
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// Not TOML, a wrong type, an unknown key or a missing one.
    #[error("SLA policy: {0}")]
    Toml(#[from] toml::de::Error),
    /// A target given both in minutes and in seconds, or in neither.
    #[error("{0}")]
    TargetUnit(String),
    /// `calendar.time_zone` is absent and `calendar.always` is not true.
    #[error("calendar.time_zone: required unless calendar.always = true")]
    MissingTimeZone,
    /// `calendar.time_zone` is not an IANA zone name.
    #[error("calendar.time_zone: {value:?} is not an IANA time zone name (e.g. \"Europe/London\")")]
    BadTimeZone {
        /// The name as written.
        value: String,
    },
    /// `calendar.hours` or `calendar.holidays` given with `always = true`.
    #[error(
        "{key}: must be absent when calendar.always = true (a 24x7 calendar has no hours or holidays)"
    )]
    NotWithAlways {
        /// The offending key.
        key: &'static str,
    },
    /// A window that is not `HH:MM-HH:MM` or is empty.
    #[error("{key}: {value:?} is not a working window: {reason}")]
    BadWindow {
        /// E.g. `calendar.hours.tue[1]`.
        key: String,
        /// The window as written.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Two windows cover the same time.
    #[error("{first} overlaps {second}")]
    OverlappingWindows {
        /// The earlier window, as `calendar.hours.tue "09:00-12:00"`.
        first: String,
        /// The later window, the same way.
        second: String,
    },
    /// A calendar without a single window.
    #[error(
        "calendar.hours: no working windows on any day (the clocks would never run); add windows or set calendar.always = true"
    )]
    NoWorkingTime,
    /// A holiday that is not a `YYYY-MM-DD` date.
    #[error("{key}: {value:?} is not a date YYYY-MM-DD")]
    BadDate {
        /// E.g. `calendar.holidays[0]`.
        key: String,
        /// The date as written.
        value: String,
    },
    /// A target that is not a positive number of minutes (or seconds).
    #[error(
        "{key}: must be a whole number from 1 to 71582788 (minutes) or 4294967295 (seconds), got {value}"
    )]
    BadTarget {
        /// E.g. `targets.high.resolution_minutes`.
        key: String,
        /// The number as written.
        value: i64,
    },
    /// `at_risk_percent` outside 0..=100.
    #[error("at_risk_percent: must be from 0 to 100, got {value}")]
    BadRiskPercent {
        /// The number as written.
        value: i64,
    },
    /// `at_risk_minutes` negative or too large.
    #[error("at_risk_minutes: must be a whole number of minutes from 0 to 4294967295, got {value}")]
    BadRiskMinutes {
        /// The number as written.
        value: i64,
    },
}

impl Default for Policy {
    /// 24x7 in UTC; critical 15/240, high 60/480, medium 240/1440, low
    /// 480/4320 business minutes (first response / resolution); at risk at
    /// 75 % or 15 minutes left.
    fn default() -> Policy {
        let targets = Targets::minutes;
        Policy {
            calendar: Calendar::always(),
            by_level: TargetTable {
                critical: targets(15, 240),
                high: targets(60, 480),
                medium: targets(240, 1440),
                low: targets(480, 4320),
            },
            at_risk_percent: 75,
            at_risk_minutes: 15,
        }
    }
}

impl Policy {
    /// Parses and validates a policy file (format in the module doc).
    pub fn from_toml(text: &str) -> Result<Policy, PolicyError> {
        let file: PolicyFile = toml::from_str(text)?;
        let at_risk_percent = match file.at_risk_percent {
            None => 75,
            Some(value) => u8::try_from(value)
                .ok()
                .filter(|p| *p <= 100)
                .ok_or(PolicyError::BadRiskPercent { value })?,
        };
        let at_risk_minutes = match file.at_risk_minutes {
            None => 15,
            Some(value) => {
                u32::try_from(value).map_err(|_| PolicyError::BadRiskMinutes { value })?
            }
        };
        let calendar = file.calendar.build()?;
        let t = &file.targets;
        Ok(Policy {
            calendar,
            by_level: TargetTable {
                critical: t.critical.build("critical")?,
                high: t.high.build("high")?,
                medium: t.medium.build("medium")?,
                low: t.low.build("low")?,
            },
            at_risk_percent,
            at_risk_minutes,
        })
    }

    /// The targets of `level`.
    pub fn targets(&self, level: Level) -> Targets {
        match level {
            Level::Low => self.by_level.low,
            Level::Medium => self.by_level.medium,
            Level::High => self.by_level.high,
            Level::Critical => self.by_level.critical,
        }
    }

    /// The at-risk thresholds, as the clocks take them.
    pub fn risk(&self) -> Risk {
        Risk {
            percent: self.at_risk_percent,
            minutes: self.at_risk_minutes,
        }
    }
}

// ---- the file as written (serde), before validation ----
// Numbers are read as i64 so a negative or huge value gets our message with
// its key rather than serde's generic one.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    at_risk_percent: Option<i64>,
    at_risk_minutes: Option<i64>,
    calendar: CalendarFile,
    targets: TargetsFile,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarFile {
    time_zone: Option<String>,
    #[serde(default)]
    always: bool,
    holidays: Option<Vec<String>>,
    hours: Option<HoursFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HoursFile {
    mon: Option<Vec<String>>,
    tue: Option<Vec<String>>,
    wed: Option<Vec<String>>,
    thu: Option<Vec<String>>,
    fri: Option<Vec<String>>,
    sat: Option<Vec<String>>,
    sun: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetsFile {
    critical: TargetFile,
    high: TargetFile,
    medium: TargetFile,
    low: TargetFile,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetFile {
    first_response_minutes: Option<i64>,
    resolution_minutes: Option<i64>,
    /// Seconds instead of minutes: for test and demonstration policies.
    first_response_seconds: Option<i64>,
    resolution_seconds: Option<i64>,
}

impl TargetFile {
    fn build(&self, level: &str) -> Result<Targets, PolicyError> {
        // Exactly one of `NAME_minutes` and `NAME_seconds`, positive.
        let target = |name: &str, minutes: Option<i64>, seconds: Option<i64>| {
            let (field, value, scale) = match (minutes, seconds) {
                (Some(m), None) => (format!("{name}_minutes"), m, 60),
                (None, Some(s)) => (format!("{name}_seconds"), s, 1),
                (Some(_), Some(_)) => {
                    return Err(PolicyError::TargetUnit(format!(
                        "targets.{level}: give {name}_minutes or {name}_seconds, not both"
                    )));
                }
                (None, None) => {
                    return Err(PolicyError::TargetUnit(format!(
                        "targets.{level}: missing field `{name}_minutes`"
                    )));
                }
            };
            value
                .checked_mul(scale)
                .and_then(|secs| u32::try_from(secs).ok())
                .filter(|_| value > 0)
                .ok_or_else(|| PolicyError::BadTarget {
                    key: format!("targets.{level}.{field}"),
                    value,
                })
        };
        Ok(Targets {
            first_response_seconds: target(
                "first_response",
                self.first_response_minutes,
                self.first_response_seconds,
            )?,
            resolution_seconds: target(
                "resolution",
                self.resolution_minutes,
                self.resolution_seconds,
            )?,
        })
    }
}

const DAY_KEYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl CalendarFile {
    fn build(self) -> Result<Calendar, PolicyError> {
        let zone = match &self.time_zone {
            Some(name) => Some(Tz::from_str(name).map_err(|_| PolicyError::BadTimeZone {
                value: name.clone(),
            })?),
            None => None,
        };
        if self.always {
            if self.hours.is_some() {
                return Err(PolicyError::NotWithAlways {
                    key: "calendar.hours",
                });
            }
            if self.holidays.is_some() {
                return Err(PolicyError::NotWithAlways {
                    key: "calendar.holidays",
                });
            }
            // A 24x7 calendar counts the same in every zone; a zone given
            // anyway is kept (validated) for whoever displays it.
            return Ok(Calendar::always_in(zone.unwrap_or(Tz::UTC)));
        }
        let zone = zone.ok_or(PolicyError::MissingTimeZone)?;
        let mut calendar = Calendar::new(zone);
        // (day index, window, written text) for the overlap check.
        let mut placed: Vec<(usize, Window, String)> = Vec::new();
        if let Some(hours) = self.hours {
            let days = [
                hours.mon, hours.tue, hours.wed, hours.thu, hours.fri, hours.sat, hours.sun,
            ];
            for (index, windows) in days.into_iter().enumerate() {
                for (n, text) in windows.into_iter().flatten().enumerate() {
                    let window = Window::parse(&text).map_err(|reason| PolicyError::BadWindow {
                        key: format!("calendar.hours.{}[{n}]", DAY_KEYS[index]),
                        value: text.clone(),
                        reason,
                    })?;
                    calendar = calendar.with_window(WEEKDAYS[index], window);
                    placed.push((index, window, text));
                }
            }
        }
        if !calendar.has_windows() {
            return Err(PolicyError::NoWorkingTime);
        }
        check_overlaps(&placed)?;
        for (n, text) in self.holidays.into_iter().flatten().enumerate() {
            let date = parse_date(&text).ok_or_else(|| PolicyError::BadDate {
                key: format!("calendar.holidays[{n}]"),
                value: text.clone(),
            })?;
            calendar = calendar.with_holiday(date);
        }
        Ok(calendar)
    }
}

/// Strict `YYYY-MM-DD` (chrono alone would accept `2026-1-5`).
fn parse_date(text: &str) -> Option<NaiveDate> {
    let shape_ok = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !shape_ok {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// Refuses windows that cover the same minute of the week, including a
/// window crossing midnight into the next day's windows and Sunday night
/// into Monday morning. Touching windows are fine.
fn check_overlaps(placed: &[(usize, Window, String)]) -> Result<(), PolicyError> {
    const WEEK: u32 = 7 * 24 * 60;
    // Minute-of-week intervals; a window past the week's end is split so
    // that its Monday part is compared with Monday's windows.
    let mut intervals: Vec<(u32, u32, usize)> = Vec::new();
    for (at, (day, window, _)) in placed.iter().enumerate() {
        let start = *day as u32 * 24 * 60 + window.start_minute();
        let end = *day as u32 * 24 * 60 + window.end_minute();
        if end > WEEK {
            intervals.push((start, WEEK, at));
            intervals.push((0, end - WEEK, at));
        } else {
            intervals.push((start, end, at));
        }
    }
    intervals.sort();
    // The interval reaching furthest so far, which any later start must clear.
    let mut reach: Option<(u32, usize)> = None;
    for (start, end, at) in intervals {
        if let Some((reach_end, reach_at)) = reach
            && start < reach_end
        {
            let name = |i: usize| {
                let (day, _, text) = &placed[i];
                format!("calendar.hours.{} {text:?}", DAY_KEYS[*day])
            };
            // Name them in the order they were written (mon..sun).
            let (first, second) = if reach_at <= at {
                (reach_at, at)
            } else {
                (at, reach_at)
            };
            return Err(PolicyError::OverlappingWindows {
                first: name(first),
                second: name(second),
            });
        }
        if reach.is_none_or(|(reach_end, _)| end > reach_end) {
            reach = Some((end, at));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Weekday;

    /// The module doc's example, verbatim.
    const EXAMPLE: &str = r#"
at_risk_percent = 75      # 0..=100, default 75
at_risk_minutes = 15      # >= 0, default 15

[calendar]
time_zone = "Europe/London"          # IANA name; required unless always = true
always = false                       # true = 24x7 (then hours/holidays must be absent)
holidays = ["2026-12-25", "2026-12-26"]   # local dates, YYYY-MM-DD

[calendar.hours]                     # days absent = closed; mon..sun
mon = ["09:00-17:30"]
tue = ["09:00-12:00", "13:00-17:30"]
wed = ["09:00-17:30"]
thu = ["09:00-17:30"]
fri = ["09:00-17:00"]
sat = ["22:00-06:00"]                # crosses midnight into Sunday

[targets.critical]
first_response_minutes = 15
resolution_minutes = 240

[targets.high]
first_response_minutes = 60
resolution_minutes = 480

[targets.medium]
first_response_minutes = 240
resolution_minutes = 1440

[targets.low]
first_response_minutes = 480
resolution_minutes = 4320
"#;

    const TARGETS: &str = r#"
[targets.critical]
first_response_minutes = 15
resolution_minutes = 240
[targets.high]
first_response_minutes = 60
resolution_minutes = 480
[targets.medium]
first_response_minutes = 240
resolution_minutes = 1440
[targets.low]
first_response_minutes = 480
resolution_minutes = 4320
"#;

    fn with_calendar(calendar: &str) -> String {
        format!("[calendar]\n{calendar}\n{TARGETS}")
    }

    fn error_of(text: &str) -> String {
        match Policy::from_toml(text) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn the_documented_example_parses() {
        let policy = Policy::from_toml(EXAMPLE).unwrap();
        assert_eq!(policy.calendar.zone(), chrono_tz::Europe::London);
        assert_eq!(policy.at_risk_percent, 75);
        assert_eq!(policy.at_risk_minutes, 15);
        assert_eq!(policy.calendar.windows(Weekday::Tue).len(), 2);
        assert_eq!(
            policy.calendar.windows(Weekday::Sat)[0].to_string(),
            "22:00-06:00"
        );
        assert!(policy.calendar.windows(Weekday::Sun).is_empty());
        assert_eq!(policy.calendar.holidays().count(), 2);
        assert_eq!(policy.targets(Level::High).resolution_secs(), 480 * 60);
        assert_eq!(
            policy.targets(Level::Critical).first_response_secs(),
            15 * 60
        );
        assert_eq!(
            policy.risk(),
            Risk {
                percent: 75,
                minutes: 15
            }
        );
        // The same targets as the built-in default.
        assert_eq!(policy.by_level, Policy::default().by_level);
    }

    #[test]
    fn optional_keys_take_defaults_and_always_needs_no_zone() {
        let policy = Policy::from_toml(&with_calendar("always = true")).unwrap();
        assert!(policy.calendar.is_always());
        assert_eq!(policy.calendar.zone(), Tz::UTC);
        assert_eq!((policy.at_risk_percent, policy.at_risk_minutes), (75, 15));
        // A zone next to always = true is kept; the calendar is still 24x7.
        let policy =
            Policy::from_toml(&with_calendar("always = true\ntime_zone = \"Asia/Tokyo\"")).unwrap();
        assert!(policy.calendar.is_always());
        assert_eq!(policy.calendar.zone(), chrono_tz::Asia::Tokyo);
        // first_response > resolution is not our business.
        let odd = TARGETS.replacen(
            "first_response_minutes = 15",
            "first_response_minutes = 9999",
            1,
        );
        let text =
            format!("at_risk_percent = 0\nat_risk_minutes = 0\n[calendar]\nalways = true\n{odd}");
        let policy = Policy::from_toml(&text).unwrap();
        assert_eq!(
            policy.targets(Level::Critical).first_response_secs(),
            9999 * 60
        );
        assert_eq!(policy.at_risk_percent, 0);
        // Touching windows and a midnight-crossing window that stops where
        // the next day begins are fine.
        let cal = "time_zone = \"UTC\"\n[calendar.hours]\nmon = [\"09:00-12:00\", \"12:00-17:00\"]\nsun = [\"18:00-09:00\"]";
        assert!(Policy::from_toml(&with_calendar(cal)).is_ok());
    }

    #[test]
    fn targets_may_be_given_in_seconds_but_not_in_both_units() {
        let seconds = TARGETS.replacen(
            "first_response_minutes = 15",
            "first_response_seconds = 4",
            1,
        );
        let policy = Policy::from_toml(&format!("[calendar]\nalways = true\n{seconds}")).unwrap();
        assert_eq!(policy.targets(Level::Critical).first_response_secs(), 4);
        let both = TARGETS.replacen(
            "first_response_minutes = 15",
            "first_response_minutes = 15\nfirst_response_seconds = 4",
            1,
        );
        let err = Policy::from_toml(&format!("[calendar]\nalways = true\n{both}")).unwrap_err();
        assert!(err.to_string().contains("targets.critical"), "{err}");
    }

    #[test]
    fn the_default_policy() {
        let policy = Policy::default();
        assert!(policy.calendar.is_always());
        assert_eq!(policy.calendar.zone(), Tz::UTC);
        let expect = [
            (Level::Critical, 15, 240),
            (Level::High, 60, 480),
            (Level::Medium, 240, 1440),
            (Level::Low, 480, 4320),
        ];
        for (level, first, resolution) in expect {
            let t = policy.targets(level);
            assert_eq!(t.first_response_secs(), i64::from(first) * 60);
            assert_eq!(t.resolution_secs(), i64::from(resolution) * 60);
        }
        assert_eq!(
            policy.risk(),
            Risk {
                percent: 75,
                minutes: 15
            }
        );
    }

    #[test]
    fn levels_serialize_lowercase() {
        assert_eq!(
            serde_json::to_string(&Level::Critical).unwrap(),
            "\"critical\""
        );
        let level: Level = serde_json::from_str("\"medium\"").unwrap();
        assert_eq!(level, Level::Medium);
        assert!(Level::Low < Level::Critical);
        assert_eq!(Level::High.as_str(), "high");
    }

    #[test]
    fn each_bad_file_names_its_key() {
        let office = "time_zone = \"Europe/London\"\n[calendar.hours]\nmon = [\"09:00-17:00\"]";
        let cases: Vec<(String, &str)> = vec![
            // Not TOML / wrong shape: the TOML parser names the key.
            ("this is not toml".to_string(), "SLA policy"),
            (
                format!("colour = \"red\"\n{}", with_calendar(office)),
                "colour",
            ),
            (
                with_calendar(&format!("{office}\nfunday = [\"09:00-10:00\"]")),
                "funday",
            ),
            (
                with_calendar("always = true\ntimezone = \"UTC\""),
                "timezone",
            ),
            (TARGETS.to_string(), "calendar"),
            (
                with_calendar(office).replace(
                    "[targets.low]\nfirst_response_minutes = 480\nresolution_minutes = 4320\n",
                    "",
                ),
                "low",
            ),
            (
                with_calendar(office)
                    .replace("resolution_minutes = 240", "resolution_minutes = \"4h\""),
                "resolution_minutes",
            ),
            (
                with_calendar(office).replace(
                    "resolution_minutes = 240",
                    "resolution_minutes = 240\nescalate = true",
                ),
                "escalate",
            ),
            // Our own checks.
            (
                with_calendar("[calendar.hours]\nmon = [\"09:00-17:00\"]"),
                "calendar.time_zone",
            ),
            (
                with_calendar(
                    "time_zone = \"Europe/Londn\"\n[calendar.hours]\nmon = [\"09:00-17:00\"]",
                ),
                "calendar.time_zone",
            ),
            (
                with_calendar("always = true\nholidays = []"),
                "calendar.holidays",
            ),
            (
                with_calendar("always = true\n[calendar.hours]\nmon = [\"09:00-17:00\"]"),
                "calendar.hours",
            ),
            (with_calendar("time_zone = \"UTC\""), "calendar.hours"),
            (
                with_calendar("time_zone = \"UTC\"\n[calendar.hours]\nmon = []"),
                "calendar.hours",
            ),
            (
                with_calendar(
                    "time_zone = \"UTC\"\n[calendar.hours]\ntue = [\"09:00-12:00\", \"13:00-25:00\"]",
                ),
                "calendar.hours.tue[1]",
            ),
            (
                with_calendar("time_zone = \"UTC\"\n[calendar.hours]\nwed = [\"9 to 5\"]"),
                "calendar.hours.wed[0]",
            ),
            (
                with_calendar("time_zone = \"UTC\"\n[calendar.hours]\nthu = [\"10:00-10:00\"]"),
                "calendar.hours.thu[0]",
            ),
            (
                with_calendar("time_zone = \"UTC\"\n[calendar.hours]\nfri = [\"24:00-06:00\"]"),
                "calendar.hours.fri[0]",
            ),
            (
                with_calendar(
                    "time_zone = \"UTC\"\n[calendar.hours]\ntue = [\"09:00-12:00\", \"11:30-17:30\"]",
                ),
                "calendar.hours.tue",
            ),
            (
                with_calendar(
                    "time_zone = \"UTC\"\n[calendar.hours]\nsat = [\"22:00-06:00\"]\nsun = [\"05:00-08:00\"]",
                ),
                "calendar.hours.sat",
            ),
            (
                with_calendar(
                    "time_zone = \"UTC\"\n[calendar.hours]\nsun = [\"22:00-06:00\"]\nmon = [\"00:00-01:00\"]",
                ),
                "calendar.hours.sun",
            ),
            (with_calendar(&format!("{office}\n[calendar]")), "calendar"),
            (
                with_calendar(
                    "time_zone = \"UTC\"\nholidays = [\"2026-13-01\"]\n[calendar.hours]\nmon = [\"09:00-17:00\"]",
                ),
                "calendar.holidays[0]",
            ),
            (
                with_calendar(
                    "time_zone = \"UTC\"\nholidays = [\"2026-12-25\", \"25/12/2026\"]\n[calendar.hours]\nmon = [\"09:00-17:00\"]",
                ),
                "calendar.holidays[1]",
            ),
            (
                with_calendar(
                    "time_zone = \"UTC\"\nholidays = [\"2026-1-5\"]\n[calendar.hours]\nmon = [\"09:00-17:00\"]",
                ),
                "calendar.holidays[0]",
            ),
            (
                with_calendar(office)
                    .replace("resolution_minutes = 480\n", "resolution_minutes = 0\n"),
                "targets.high.resolution_minutes",
            ),
            (
                with_calendar(office).replace(
                    "first_response_minutes = 240",
                    "first_response_minutes = -5",
                ),
                "targets.medium.first_response_minutes",
            ),
            (
                with_calendar(office).replace(
                    "first_response_minutes = 480",
                    "first_response_minutes = 5000000000",
                ),
                "targets.low.first_response_minutes",
            ),
            (
                format!("at_risk_percent = 101\n{}", with_calendar(office)),
                "at_risk_percent",
            ),
            (
                format!("at_risk_percent = -1\n{}", with_calendar(office)),
                "at_risk_percent",
            ),
            (
                format!("at_risk_minutes = -15\n{}", with_calendar(office)),
                "at_risk_minutes",
            ),
        ];
        for (text, key) in cases {
            let message = error_of(&text);
            assert!(
                message.contains(key),
                "error for key {key:?} does not name it: {message}\n---\n{text}"
            );
        }
        // Both windows of an overlap are named.
        let message = error_of(&with_calendar(
            "time_zone = \"UTC\"\n[calendar.hours]\nsat = [\"22:00-06:00\"]\nsun = [\"05:00-08:00\"]",
        ));
        assert_eq!(
            message,
            "calendar.hours.sat \"22:00-06:00\" overlaps calendar.hours.sun \"05:00-08:00\""
        );
    }
}
