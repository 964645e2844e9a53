//! SLA clocks: the small state a ticket stores for each of its targets, and
//! the view (due instant and state) derived from it.
//!
//! A [`Clock`] stores business seconds already used plus, while it runs, the
//! instant it started running; it never stores a deadline. The deadline is
//! derived on demand from the calendar and the target passed in, so a
//! priority change simply passes a different target (the time used is
//! kept), and a policy reload applies to every open ticket at once.
//!
//! States ([`ClockState`]), from [`Clock::view`]:
//! - `met`: stopped before its target was used up (`due_at` is `None`);
//! - `breached`: stopped late (at or after the due instant), or running or
//!   paused with the target used up;
//! - `paused`: neither running nor stopped, within its target (`due_at` is
//!   `None`; a clock paused after its target passed stays `breached`);
//! - `at_risk`: running, with [`Risk`] reached (a share of the target used,
//!   or few minutes left, whichever comes first);
//! - `running`: otherwise.
//!
//! # The due instant of an overdue clock
//! The clock keeps no history of its running segments, so the instant a
//! target was reached is known exactly only when it was reached during the
//! current running segment. The rule:
//! - running, target not used up when the segment began: `due_at` is exact,
//!   `add_business_seconds(running_since, target - used_secs)`, also after
//!   it has passed (then it is the past instant it fell due);
//! - running, target already used up when the segment began: after a late
//!   stop and a reopen, the instant it fell due (kept in `breached_at`);
//!   otherwise (resumed after a pause taken while overdue, or a priority
//!   change to a smaller target) `due_at = running_since`, "overdue at
//!   least since then";
//! - stopped late: `stop` records the instant in [`Clock::breached_at`]
//!   (exact under the same rule, the start of the last segment otherwise,
//!   the stop instant when stopped while paused).
//!
//! So a due instant never moves earlier across pause and resume.
//!
//! Nothing here reads a clock of its own: every operation takes `now`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::calendar::Calendar;
use super::policy::{Level, Policy};

/// When a running clock counts as at risk: once it has used `percent` % of
/// its target, or once `minutes` business minutes (or fewer) are left,
/// whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Risk {
    /// Share of the target, 0..=100 (0: at risk from the start).
    pub percent: u8,
    /// Business minutes left.
    pub minutes: u32,
}

impl Risk {
    /// The business seconds used from which a clock with `target` seconds
    /// is at risk (may be <= 0: at risk at once).
    pub fn at_risk_from(&self, target: i64) -> i64 {
        // ceil(target * percent / 100) in integers: "used * 100 >= target *
        // percent" exactly, with no rounding surprise at the boundary.
        let scaled = target.saturating_mul(i64::from(self.percent));
        let by_share = scaled / 100 + i64::from(scaled % 100 > 0);
        let by_minutes = target.saturating_sub(i64::from(self.minutes) * 60);
        by_share.min(by_minutes)
    }
}

/// The stored state of one SLA clock (first response or resolution).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Clock {
    /// Business seconds used before `running_since`.
    pub used_secs: i64,
    /// The instant it last started running; `Some` while running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_since: Option<DateTime<Utc>>,
    /// `Some` once the goal was reached (met or late).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<DateTime<Utc>>,
    /// Ever stopped late; sticks across reopen (for reports).
    #[serde(default, skip_serializing_if = "is_false")]
    pub ever_breached: bool,
    /// At risk was announced for the current target.
    #[serde(default, skip_serializing_if = "is_false")]
    pub warned: bool,
    /// The breach was announced for the current target.
    #[serde(default, skip_serializing_if = "is_false")]
    pub breach_announced: bool,
    /// For a clock stopped late: the instant it fell due (see the module
    /// doc). `None` otherwise; cleared by [`Clock::reopen`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breached_at: Option<DateTime<Utc>>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// What a clock shows at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockState {
    /// Counting, comfortably within target.
    Running,
    /// Not counting (waiting on the customer, say).
    Paused,
    /// Counting and close to the target.
    AtRisk,
    /// Target used up while running, or stopped late.
    Breached,
    /// Stopped within the target.
    Met,
}

/// A clock's due instant and state at one instant; serializes as
/// `{"due_at": ..., "state": ...}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockView {
    /// When the target is (or was) due; `None` while paused and once met.
    pub due_at: Option<DateTime<Utc>>,
    /// The state.
    pub state: ClockState,
    /// When the goal was reached (the response given, the ticket
    /// resolved), in time or late; absent while the clock still counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
}

impl Clock {
    /// A clock running from `now` with nothing used.
    pub fn started(now: DateTime<Utc>) -> Clock {
        Clock {
            running_since: Some(now),
            ..Clock::default()
        }
    }

    /// True while counting.
    pub fn is_running(&self) -> bool {
        self.running_since.is_some() && self.stopped_at.is_none()
    }

    /// Business seconds used up to `now`.
    pub fn used_at(&self, cal: &Calendar, now: DateTime<Utc>) -> i64 {
        match self.running_since {
            Some(since) if self.stopped_at.is_none() => {
                self.used_secs + cal.business_seconds(since, now)
            }
            _ => self.used_secs,
        }
    }

    /// Stops counting, keeping the time used. No effect unless running.
    pub fn pause(&mut self, cal: &Calendar, now: DateTime<Utc>) {
        if self.is_running() {
            self.used_secs = self.used_at(cal, now);
            self.running_since = None;
        }
    }

    /// Counts again from `now`. No effect when running or stopped.
    pub fn resume(&mut self, now: DateTime<Utc>) {
        if self.running_since.is_none() && self.stopped_at.is_none() {
            self.running_since = Some(now);
        }
    }

    /// The goal was reached at `now` (the first response was given, the
    /// ticket was resolved): accumulates, stops for good, and records
    /// whether (and when) it was late against `target` seconds. No effect
    /// when already stopped.
    pub fn stop(&mut self, cal: &Calendar, target: i64, now: DateTime<Utc>) {
        if self.stopped_at.is_some() {
            return;
        }
        let used_before = self.used_secs;
        let since = self.running_since;
        self.used_secs = self.used_at(cal, now);
        self.running_since = None;
        self.stopped_at = Some(now);
        // Late once the whole target is used, as the running view says
        // `breached` from that instant (and the breach was announced).
        if self.used_secs >= target {
            self.ever_breached = true;
            let known = self.breached_at.filter(|_| used_before >= target);
            self.breached_at = Some(match (known, since) {
                (Some(known), _) => known,
                (None, Some(since)) => due_from(cal, since, used_before, target),
                (None, None) => now,
            });
        } else {
            self.breached_at = None;
        }
    }

    /// A stopped clock runs again from `now`, from the time already used
    /// (a reopened ticket). `ever_breached` is kept, and so is the instant
    /// it fell due (`breached_at`: a reopened overdue ticket shows when it
    /// fell due, not when it was reopened); the announcement flags are
    /// cleared, so a reopened ticket that still has time can be warned
    /// again, and one already past its target is announced once more (it is
    /// news to whoever works it now). No effect unless stopped.
    pub fn reopen(&mut self, now: DateTime<Utc>) {
        if self.stopped_at.is_some() {
            self.stopped_at = None;
            self.running_since = Some(now);
            self.warned = false;
            self.breach_announced = false;
        }
    }

    /// The due instant and state at `now` against `target` seconds (rules
    /// in the module doc).
    pub fn view(&self, cal: &Calendar, target: i64, risk: Risk, now: DateTime<Utc>) -> ClockView {
        if let Some(stopped) = self.stopped_at {
            // Decided against the target passed in, so a target changed
            // after the stop is still judged consistently.
            return if self.used_secs < target {
                ClockView {
                    due_at: None,
                    state: ClockState::Met,
                    completed_at: Some(stopped),
                }
            } else {
                ClockView {
                    due_at: Some(self.breached_at.unwrap_or(stopped)),
                    state: ClockState::Breached,
                    completed_at: Some(stopped),
                }
            };
        }
        let Some(since) = self.running_since else {
            // Paused: no due instant while nothing counts; but a clock
            // paused after its target passed stays breached.
            return ClockView {
                due_at: None,
                state: if self.used_secs >= target {
                    ClockState::Breached
                } else {
                    ClockState::Paused
                },
                completed_at: None,
            };
        };
        let used = self.used_at(cal, now);
        let state = if used >= target {
            ClockState::Breached
        } else if used >= risk.at_risk_from(target) {
            ClockState::AtRisk
        } else {
            ClockState::Running
        };
        // A segment that began overdue shows when the target fell due, if
        // that is known (a reopened ticket), else the segment's start.
        let due_at = match self.breached_at {
            Some(at) if self.used_secs >= target => at,
            _ => due_from(cal, since, self.used_secs, target),
        };
        ClockView {
            due_at: Some(due_at),
            state,
            completed_at: None,
        }
    }

    /// The next instant after `now` at which the state changes by time
    /// alone: the at-risk instant while running, the due instant while at
    /// risk; `None` when paused, stopped or already breached. The service's
    /// timer sleeps until the soonest of these over all tickets. When that
    /// instant lies beyond the calendar's search horizon (see
    /// [`Calendar::add_business_seconds`]) the horizon is returned: nothing
    /// changes there, the caller just looks again.
    pub fn next_change(
        &self,
        cal: &Calendar,
        target: i64,
        risk: Risk,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        if self.stopped_at.is_some() {
            return None;
        }
        let since = self.running_since?;
        let used = self.used_at(cal, now);
        if used >= target {
            return None;
        }
        let at_risk = risk.at_risk_from(target);
        // The earliest instant the used time reaches the threshold; it lies
        // after `now` because the threshold is above what is used at `now`.
        let goal = if used < at_risk { at_risk } else { target };
        Some(cal.add_business_seconds(since, goal - self.used_secs))
    }

    /// The announcement `view` calls for that has not been made yet for
    /// the current target: `AtRisk` once, `Breached` once.
    pub fn pending_announcement(&self, view: &ClockView) -> Option<ClockState> {
        match view.state {
            ClockState::AtRisk if !self.warned => Some(ClockState::AtRisk),
            ClockState::Breached if !self.breach_announced => Some(ClockState::Breached),
            _ => None,
        }
    }

    /// Records that `state` was announced (`AtRisk` or `Breached`; a breach
    /// also counts as warned, there is nothing left to warn about).
    pub fn mark_announced(&mut self, state: ClockState) {
        match state {
            ClockState::AtRisk => self.warned = true,
            ClockState::Breached => {
                self.warned = true;
                self.breach_announced = true;
            }
            ClockState::Running | ClockState::Paused | ClockState::Met => {}
        }
    }

    /// The target changed (a priority change): the announcements were for
    /// the old one, so they may be made again for the new one.
    pub fn target_changed(&mut self) {
        self.warned = false;
        self.breach_announced = false;
        // When it fell due is a fact about the old target.
        self.breached_at = None;
    }
}

/// The instant a segment running from `since`, with `used_before` seconds
/// used before it, reaches `target` (module doc: `since` itself when the
/// target was already used up).
fn due_from(cal: &Calendar, since: DateTime<Utc>, used_before: i64, target: i64) -> DateTime<Utc> {
    if used_before < target {
        cal.add_business_seconds(since, target - used_before)
    } else {
        since
    }
}

/// The two clocks of a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Sla {
    /// Until the first response.
    pub first_response: Clock,
    /// Until resolution.
    pub resolution: Clock,
}

/// The two views of a ticket; serializes as `{"first_response": {...},
/// "resolution": {...}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaView {
    /// The first-response clock.
    pub first_response: ClockView,
    /// The resolution clock.
    pub resolution: ClockView,
}

impl Sla {
    /// Both clocks running from `now` (a new ticket).
    pub fn started(now: DateTime<Utc>) -> Sla {
        Sla {
            first_response: Clock::started(now),
            resolution: Clock::started(now),
        }
    }

    /// Both views at `now` under `policy` for a ticket of `level`.
    pub fn view(&self, policy: &Policy, level: Level, now: DateTime<Utc>) -> SlaView {
        let targets = policy.targets(level);
        let (cal, risk) = (&policy.calendar, policy.risk());
        SlaView {
            first_response: self
                .first_response
                .view(cal, targets.first_response_secs(), risk, now),
            resolution: self
                .resolution
                .view(cal, targets.resolution_secs(), risk, now),
        }
    }

    /// The sooner of the two clocks' [`Clock::next_change`].
    pub fn next_change(
        &self,
        policy: &Policy,
        level: Level,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let targets = policy.targets(level);
        let (cal, risk) = (&policy.calendar, policy.risk());
        let first = self
            .first_response
            .next_change(cal, targets.first_response_secs(), risk, now);
        let resolution = self
            .resolution
            .next_change(cal, targets.resolution_secs(), risk, now);
        match (first, resolution) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sla::calendar::tests::{arb_calendar, arb_instant};
    use crate::sla::calendar::{HORIZON_DAYS, WEEKDAYS, Window};
    use chrono::TimeDelta;
    use chrono_tz::Tz;
    use proptest::prelude::*;

    const H: i64 = 3600;
    const RISK: Risk = Risk {
        percent: 75,
        minutes: 15,
    };

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn office(zone: Tz) -> Calendar {
        let mut cal = Calendar::new(zone);
        for day in &WEEKDAYS[..5] {
            cal = cal.with_window(*day, Window::parse("09:00-17:00").unwrap());
        }
        cal
    }

    fn view(state: ClockState, due_at: Option<&str>) -> ClockView {
        ClockView {
            completed_at: None,
            due_at: due_at.map(utc),
            state,
        }
    }

    #[test]
    fn pause_over_a_weekend_moves_due_by_the_paused_business_time() {
        let cal = office(chrono_tz::America::New_York);
        // Friday 2026-01-09 10:00 EST (15:00Z), 8 business hours.
        let mut clock = Clock::started(utc("2026-01-09T15:00:00Z"));
        let target = 8 * H;
        let before = clock.view(&cal, target, RISK, utc("2026-01-09T20:00:00Z"));
        // Due Monday 10:00 EST.
        assert_eq!(before.due_at, Some(utc("2026-01-12T15:00:00Z")));
        // Paused Friday 15:00 EST, resumed Monday 11:00 EST.
        let (paused, resumed) = (utc("2026-01-09T20:00:00Z"), utc("2026-01-12T16:00:00Z"));
        clock.pause(&cal, paused);
        assert_eq!(clock.used_secs, 5 * H);
        assert_eq!(
            clock.view(&cal, target, RISK, resumed),
            view(ClockState::Paused, None)
        );
        assert_eq!(clock.next_change(&cal, target, RISK, resumed), None);
        clock.resume(resumed);
        let after = clock.view(&cal, target, RISK, resumed);
        // 3 h left from Monday 11:00: due 14:00 EST.
        assert_eq!(after.due_at, Some(utc("2026-01-12T19:00:00Z")));
        let paused_business = cal.business_seconds(paused, resumed);
        assert_eq!(paused_business, 4 * H);
        assert_eq!(
            cal.business_seconds(before.due_at.unwrap(), after.due_at.unwrap()),
            paused_business
        );
        // Resuming a running clock changes nothing.
        let copy = clock.clone();
        clock.resume(utc("2026-01-12T17:00:00Z"));
        assert_eq!(clock, copy);
    }

    #[test]
    fn priority_change_keeps_time_used() {
        // Medium with a 3 h resolution target, High with 2 h.
        let text = r#"
[calendar]
time_zone = "Europe/London"
[calendar.hours]
mon = ["09:00-17:00"]
tue = ["09:00-17:00"]
[targets.critical]
first_response_minutes = 15
resolution_minutes = 60
[targets.high]
first_response_minutes = 30
resolution_minutes = 120
[targets.medium]
first_response_minutes = 60
resolution_minutes = 180
[targets.low]
first_response_minutes = 120
resolution_minutes = 480
"#;
        let policy = Policy::from_toml(text).unwrap();
        // Monday 2026-06-15 15:00 BST (14:00Z); an hour later is 16:00 BST.
        let sla = Sla::started(utc("2026-06-15T14:00:00Z"));
        let now = utc("2026-06-15T15:00:00Z");
        let medium = sla.view(&policy, Level::Medium, now);
        // 2 h left: 16:00-17:00 BST Monday, then Tuesday 09:00-10:00 BST.
        assert_eq!(
            medium.resolution,
            view(ClockState::Running, Some("2026-06-16T09:00:00Z"))
        );
        // High: 2 h target, 1 h used, 1 business hour left: 17:00 BST = 16:00Z,
        // which the calendar confirms as now + 1 business hour.
        let high = sla.view(&policy, Level::High, now);
        assert_eq!(
            high.resolution.due_at,
            Some(policy.calendar.add_business_seconds(now, H))
        );
        assert_eq!(
            high.resolution,
            view(ClockState::Running, Some("2026-06-15T16:00:00Z"))
        );
        // Its first response (30 min) is already overdue, due 14:30Z.
        assert_eq!(
            high.first_response,
            view(ClockState::Breached, Some("2026-06-15T14:30:00Z"))
        );
        // A little later the remaining work spills to Tuesday's opening.
        let later = utc("2026-06-15T15:30:00Z");
        let high = sla.view(&policy, Level::High, later);
        assert_eq!(high.resolution.state, ClockState::AtRisk);
        let critical = sla.view(&policy, Level::Critical, later);
        assert_eq!(
            critical.resolution,
            view(ClockState::Breached, Some("2026-06-15T15:00:00Z"))
        );
        let low = sla.view(&policy, Level::Low, later);
        // 8 h target from Monday 15:00 BST: 2 h Monday, 6 h Tuesday from 09:00 BST.
        assert_eq!(
            low.resolution,
            view(ClockState::Running, Some("2026-06-16T14:00:00Z"))
        );
        // And the announcement flags are reset by the caller on the change.
        let mut clock = sla.resolution.clone();
        clock.mark_announced(ClockState::AtRisk);
        clock.target_changed();
        assert!(!clock.warned && !clock.breach_announced);
    }

    #[test]
    fn a_clock_paused_after_its_target_stays_breached() {
        let cal = Calendar::always();
        let start = utc("2026-06-15T09:00:00Z");
        let mut clock = Clock::started(start);
        clock.pause(&cal, start + TimeDelta::minutes(61));
        let shown = clock.view(&cal, H, RISK, start + TimeDelta::hours(5));
        assert_eq!(shown, view(ClockState::Breached, None));
        // Within its target a paused clock is paused.
        let mut early = Clock::started(start);
        early.pause(&cal, start + TimeDelta::minutes(30));
        let shown = early.view(&cal, H, RISK, start + TimeDelta::hours(5));
        assert_eq!(shown, view(ClockState::Paused, None));
    }

    #[test]
    fn met_versus_late_stop() {
        let cal = Calendar::always();
        let start = utc("2026-06-15T09:00:00Z");
        let mut on_time = Clock::started(start);
        on_time.stop(&cal, H, start + TimeDelta::seconds(3599));
        assert_eq!(
            on_time.view(&cal, H, RISK, start + TimeDelta::days(2)),
            ClockView {
                completed_at: Some(start + TimeDelta::seconds(3599)),
                ..view(ClockState::Met, None)
            }
        );
        // At the due instant itself it is late: the running clock turned
        // `breached` (and was announced) at that instant.
        let mut at_due = Clock::started(start);
        at_due.stop(&cal, H, start + TimeDelta::minutes(60));
        assert_eq!(
            at_due.view(&cal, H, RISK, start + TimeDelta::days(2)).state,
            ClockState::Breached
        );
        assert!(!on_time.ever_breached);
        assert_eq!(on_time.next_change(&cal, H, RISK, start), None);

        let mut late = Clock::started(start);
        late.stop(&cal, H, start + TimeDelta::minutes(61));
        assert!(late.ever_breached);
        assert_eq!(late.used_secs, 61 * 60);
        let shown = late.view(&cal, H, RISK, start + TimeDelta::days(2));
        assert_eq!(
            shown,
            ClockView {
                completed_at: Some(start + TimeDelta::minutes(61)),
                ..view(ClockState::Breached, Some("2026-06-15T10:00:00Z"))
            }
        );
        // Stopping again changes nothing.
        let copy = late.clone();
        late.stop(&cal, H, start + TimeDelta::days(3));
        assert_eq!(late, copy);

        // Late, and the breach happened before the last pause: the last
        // segment's start is reported (the clock keeps no older history).
        let mut paused_late = Clock::started(start);
        paused_late.pause(&cal, start + TimeDelta::minutes(90));
        paused_late.resume(start + TimeDelta::hours(5));
        paused_late.stop(&cal, H, start + TimeDelta::hours(6));
        assert_eq!(paused_late.breached_at, Some(start + TimeDelta::hours(5)));
        // Stopped while paused: the stop instant.
        let mut stopped_paused = Clock::started(start);
        stopped_paused.pause(&cal, start + TimeDelta::minutes(90));
        stopped_paused.stop(&cal, H, start + TimeDelta::hours(3));
        assert_eq!(stopped_paused.used_secs, 90 * 60);
        assert_eq!(
            stopped_paused.breached_at,
            Some(start + TimeDelta::hours(3))
        );
    }

    #[test]
    fn reopen_after_breach() {
        let cal = office(chrono_tz::Europe::London);
        // Monday 2026-06-15 09:00 BST = 08:00Z, 2 h target, resolved at 12:00 BST.
        let start = utc("2026-06-15T08:00:00Z");
        let mut clock = Clock::started(start);
        clock.mark_announced(ClockState::Breached);
        clock.stop(&cal, 2 * H, utc("2026-06-15T11:00:00Z"));
        assert!(clock.ever_breached);
        assert_eq!(
            clock.view(&cal, 2 * H, RISK, utc("2026-06-15T12:00:00Z")),
            ClockView {
                completed_at: Some(utc("2026-06-15T11:00:00Z")),
                ..view(ClockState::Breached, Some("2026-06-15T10:00:00Z"))
            }
        );
        // Reopened at 14:00 BST with the same target: overdue at once, due
        // shown as when it fell due, and announced afresh.
        let reopened = utc("2026-06-15T13:00:00Z");
        clock.reopen(reopened);
        assert!(clock.ever_breached);
        assert_eq!(clock.stopped_at, None);
        assert_eq!(clock.used_secs, 3 * H);
        let shown = clock.view(&cal, 2 * H, RISK, reopened);
        assert_eq!(
            shown,
            view(ClockState::Breached, Some("2026-06-15T10:00:00Z"))
        );
        assert_eq!(
            clock.pending_announcement(&shown),
            Some(ClockState::Breached)
        );
        assert_eq!(clock.next_change(&cal, 2 * H, RISK, reopened), None);
        // Against a bigger target (the priority dropped) it still has time:
        // not overdue, and it can be warned again.
        let target = 8 * H;
        let shown = clock.view(&cal, target, RISK, reopened);
        // 5 h left from 14:00 BST: 3 h Monday, 2 h Tuesday -> 11:00 BST.
        assert_eq!(
            shown,
            view(ClockState::Running, Some("2026-06-16T10:00:00Z"))
        );
        assert!(clock.ever_breached);
        // At risk at 6 h used (75 %): Monday 17:00 BST is 6 h, the close.
        let at_risk = clock.next_change(&cal, target, RISK, reopened);
        assert_eq!(at_risk, Some(utc("2026-06-15T16:00:00Z")));
        let risky = clock.view(&cal, target, RISK, at_risk.unwrap());
        assert_eq!(risky.state, ClockState::AtRisk);
        assert_eq!(clock.pending_announcement(&risky), Some(ClockState::AtRisk));
        // Reopening a clock that is not stopped does nothing.
        let copy = clock.clone();
        clock.reopen(utc("2026-06-16T08:00:00Z"));
        assert_eq!(clock, copy);
    }

    #[test]
    fn at_risk_at_75_percent_and_at_15_minutes_left() {
        let cal = Calendar::always();
        let start = utc("2026-06-15T09:00:00Z");
        let clock = Clock::started(start);
        // 4 h target: at risk from 3 h used.
        let target = 4 * H;
        let at = |secs: i64| {
            clock
                .view(&cal, target, RISK, start + TimeDelta::seconds(secs))
                .state
        };
        assert_eq!(at(3 * H - 1), ClockState::Running);
        assert_eq!(at(3 * H), ClockState::AtRisk);
        assert_eq!(at(4 * H - 1), ClockState::AtRisk);
        assert_eq!(at(4 * H), ClockState::Breached);
        // 20 min target: 15 minutes left comes before 75 % (at 5 min used).
        let target = 20 * 60;
        let at = |secs: i64| {
            clock
                .view(&cal, target, RISK, start + TimeDelta::seconds(secs))
                .state
        };
        assert_eq!(at(5 * 60 - 1), ClockState::Running);
        assert_eq!(at(5 * 60), ClockState::AtRisk);
        // A target at or under 15 minutes is at risk from the start.
        assert_eq!(
            clock.view(&cal, 15 * 60, RISK, start).state,
            ClockState::AtRisk
        );
        // The threshold is exact, no float rounding: 75 % of 101 s is 75.75 s.
        assert_eq!(
            Risk {
                percent: 75,
                minutes: 0
            }
            .at_risk_from(101),
            76
        );
        assert_eq!(
            Risk {
                percent: 100,
                minutes: 0
            }
            .at_risk_from(60),
            60
        );
        assert_eq!(
            Risk {
                percent: 0,
                minutes: 0
            }
            .at_risk_from(60),
            0
        );
    }

    #[test]
    fn next_change_values() {
        let cal = office(chrono_tz::America::New_York);
        // Friday 2026-01-09 13:00 EST (18:00Z), 8 business hours.
        let start = utc("2026-01-09T18:00:00Z");
        let clock = Clock::started(start);
        let target = 8 * H;
        // At risk at 6 h used: 4 h Friday, 2 h Monday -> Monday 11:00 EST.
        let first = clock.next_change(&cal, target, RISK, start);
        assert_eq!(first, Some(utc("2026-01-12T16:00:00Z")));
        assert_eq!(
            clock
                .view(&cal, target, RISK, first.unwrap() - TimeDelta::seconds(1))
                .state,
            ClockState::Running
        );
        assert_eq!(
            clock.view(&cal, target, RISK, first.unwrap()).state,
            ClockState::AtRisk
        );
        // Then the due instant: Monday 13:00 EST.
        let second = clock.next_change(&cal, target, RISK, first.unwrap());
        assert_eq!(second, Some(utc("2026-01-12T18:00:00Z")));
        assert_eq!(
            clock.view(&cal, target, RISK, first.unwrap()).due_at,
            second
        );
        assert_eq!(
            clock.view(&cal, target, RISK, second.unwrap()).state,
            ClockState::Breached
        );
        // Breached: no further change by time alone.
        assert_eq!(clock.next_change(&cal, target, RISK, second.unwrap()), None);
        // Over a weekend the timer does not fire at midnight.
        let saturday = utc("2026-01-10T12:00:00Z");
        assert_eq!(clock.next_change(&cal, target, RISK, saturday), first);

        // Sla: the sooner of the two clocks.
        let policy = Policy::default();
        let sla = Sla::started(start);
        // Critical: first response 15 min (at risk at once: 15 min left),
        // so the next change is its due instant.
        assert_eq!(
            sla.next_change(&policy, Level::Critical, start),
            Some(start + TimeDelta::minutes(15))
        );
        // Low: first response 480 min, at risk at 360 min.
        assert_eq!(
            sla.next_change(&policy, Level::Low, start),
            Some(start + TimeDelta::minutes(360))
        );
        let mut done = sla.clone();
        done.first_response.stop(&policy.calendar, 60, start);
        done.resolution.pause(&policy.calendar, start);
        assert_eq!(done.next_change(&policy, Level::Low, start), None);
    }

    #[test]
    fn announcements_happen_once() {
        let cal = Calendar::always();
        let start = utc("2026-06-15T09:00:00Z");
        let mut clock = Clock::started(start);
        let risky = clock.view(&cal, H, RISK, start + TimeDelta::minutes(50));
        assert_eq!(clock.pending_announcement(&risky), Some(ClockState::AtRisk));
        clock.mark_announced(ClockState::AtRisk);
        assert_eq!(clock.pending_announcement(&risky), None);
        let late = clock.view(&cal, H, RISK, start + TimeDelta::minutes(70));
        assert_eq!(
            late,
            view(ClockState::Breached, Some("2026-06-15T10:00:00Z"))
        );
        assert_eq!(
            clock.pending_announcement(&late),
            Some(ClockState::Breached)
        );
        clock.mark_announced(ClockState::Breached);
        assert_eq!(clock.pending_announcement(&late), None);
    }

    #[test]
    fn serialized_shapes() {
        let view = SlaView {
            first_response: view(ClockState::AtRisk, Some("2026-06-15T10:00:00Z")),
            resolution: view(ClockState::Paused, None),
        };
        assert_eq!(
            serde_json::to_value(view).unwrap(),
            serde_json::json!({
                "first_response": {"due_at": "2026-06-15T10:00:00Z", "state": "at_risk"},
                "resolution": {"due_at": null, "state": "paused"},
            })
        );
        // A stored clock round-trips, and one written without `breached_at` reads.
        let clock = Clock::started(utc("2026-06-15T09:00:00Z"));
        let json = serde_json::to_string(&clock).unwrap();
        assert!(!json.contains("breached_at"));
        assert_eq!(serde_json::from_str::<Clock>(&json).unwrap(), clock);
        let sla = Sla::started(utc("2026-06-15T09:00:00Z"));
        let back: Sla = serde_json::from_str(&serde_json::to_string(&sla).unwrap()).unwrap();
        assert_eq!(back, sla);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn due_never_moves_earlier_across_pause_and_resume(
            cal in arb_calendar(),
            start in arb_instant(),
            run in 0i64..10 * 86_400,
            pause in 0i64..10 * 86_400,
            target_minutes in 1i64..5000,
        ) {
            let target = target_minutes * 60;
            let paused_at = start + TimeDelta::seconds(run);
            let resumed_at = paused_at + TimeDelta::seconds(pause);
            let mut clock = Clock::started(start);
            let before = clock.view(&cal, target, RISK, paused_at);
            clock.pause(&cal, paused_at);
            prop_assert_eq!(clock.used_secs, cal.business_seconds(start, paused_at));
            clock.resume(resumed_at);
            let after = clock.view(&cal, target, RISK, resumed_at);
            prop_assert!(after.due_at.unwrap() >= before.due_at.unwrap());
            // Still within target: the due instant moved by exactly the
            // business time of the pause.
            if clock.used_secs < target {
                prop_assert_eq!(
                    cal.business_seconds(before.due_at.unwrap(), after.due_at.unwrap()),
                    cal.business_seconds(paused_at, resumed_at)
                );
            }
            // And next_change is after now and is where the state changes
            // (unless the work does not fit in the calendar's horizon: then
            // it is the horizon, where the caller simply looks again).
            let horizon = resumed_at + TimeDelta::days(HORIZON_DAYS as i64);
            let next = clock.next_change(&cal, target, RISK, resumed_at);
            if let Some(next) = next.filter(|t| *t != horizon) {
                prop_assert!(next > resumed_at);
                let (a, b) = (
                    clock.view(&cal, target, RISK, next - TimeDelta::seconds(1)).state,
                    clock.view(&cal, target, RISK, next).state,
                );
                prop_assert_ne!(a, b);
            }
        }
    }
}
