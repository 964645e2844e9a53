//! A ticket's SLA clocks, moved by its lifecycle: what each change does to
//! the first-response and resolution clocks, and the `sla` view a ticket
//! shows. The arithmetic is `crate::sla`'s; this module only decides when
//! to start, pause, resume, stop and reopen.
//!
//! - A new ticket starts both clocks.
//! - `pending` pauses both (time waiting on the requester or a third party
//!   does not count); leaving `pending` for work resumes them.
//! - The first public comment from staff stops the first-response clock;
//!   resolving stops both (a resolution is a response).
//! - Reopening runs the resolution clock again from the time already used;
//!   an earlier breach stays on record (`ever_breached`).
//! - A priority change keeps the time used and measures it against the new
//!   level's targets, so a warning or breach may be announced again.
//! - Closing changes nothing (the clocks stopped at resolution).
//!
//! The clocks are stored with the ticket's private part (the store's files
//! only); the `sla` view (`due_at` and `state` per clock) is recomputed at
//! every change, at load, and when the service's timer announces a
//! transition, and is what events and the API show.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Status, Ticket};
use crate::sla::{ClockState, Level, Policy, Sla};
use crate::triage::Priority;

/// Which of a ticket's two clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaClock {
    FirstResponse,
    Resolution,
}

impl SlaClock {
    pub fn as_str(self) -> &'static str {
        match self {
            SlaClock::FirstResponse => "first_response",
            SlaClock::Resolution => "resolution",
        }
    }
}

/// A clock's transition to `at_risk` or `breached`, announced once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaAnnouncement {
    pub clock: SlaClock,
    /// `AtRisk` or `Breached`.
    pub state: ClockState,
    pub due_at: Option<DateTime<Utc>>,
}

/// The SLA level of a priority.
pub fn level(priority: Priority) -> Level {
    match priority {
        Priority::Low => Level::Low,
        Priority::Medium => Level::Medium,
        Priority::High => Level::High,
        Priority::Critical => Level::Critical,
    }
}

impl Ticket {
    /// Moves the clocks for the change from `before` (None: a new ticket)
    /// to this ticket at `at`, then refreshes the `sla` view.
    pub(super) fn track_sla(
        &mut self,
        before: Option<&Ticket>,
        staff_replied: bool,
        policy: &Policy,
        at: DateTime<Utc>,
    ) {
        let targets = policy.targets(level(self.priority));
        let cal = &policy.calendar;
        let sla = self
            .private
            .sla
            .get_or_insert_with(|| Sla::started(self.created_at));
        if let Some(before) = before {
            let (was, now) = (before.status, self.status);
            if before.priority != self.priority {
                sla.first_response.target_changed();
                sla.resolution.target_changed();
            }
            if was.is_done() && !now.is_done() {
                sla.resolution.reopen(at);
            }
            match (was == Status::Pending, now == Status::Pending) {
                (false, true) => {
                    sla.first_response.pause(cal, at);
                    sla.resolution.pause(cal, at);
                }
                (true, false) if !now.is_done() => {
                    sla.first_response.resume(at);
                    sla.resolution.resume(at);
                }
                _ => {}
            }
            if now.is_done() && !was.is_done() {
                sla.first_response
                    .stop(cal, targets.first_response_secs(), at);
                sla.resolution.stop(cal, targets.resolution_secs(), at);
            }
        }
        if staff_replied {
            sla.first_response
                .stop(cal, targets.first_response_secs(), at);
        }
        self.refresh_sla(policy, at);
        self.private.sla_at = Some(at);
    }

    /// Recomputes the `sla` view at `now`.
    pub fn refresh_sla(&mut self, policy: &Policy, now: DateTime<Utc>) {
        self.sla = self
            .private
            .sla
            .as_ref()
            .map(|sla| sla.view(policy, level(self.priority), now));
    }

    /// For a ticket stored before SLA clocks existed: clocks as its history
    /// tells them (running since creation; paused since its last update
    /// when pending; stopped at resolution), with the states it has already
    /// reached counted as announced (history is not news). Then the view.
    pub fn settle_sla(&mut self, policy: &Policy, now: DateTime<Utc>) {
        if self.private.sla.is_none() {
            let targets = policy.targets(level(self.priority));
            let cal = &policy.calendar;
            let mut sla = Sla::started(self.created_at);
            if self.status == Status::Pending {
                sla.first_response.pause(cal, self.updated_at);
                sla.resolution.pause(cal, self.updated_at);
            }
            if let Some(resolved) = self.resolved_at {
                sla.first_response
                    .stop(cal, targets.first_response_secs(), resolved);
                sla.resolution
                    .stop(cal, targets.resolution_secs(), resolved);
            }
            let view = sla.view(policy, level(self.priority), now);
            for (clock, state) in [
                (&mut sla.first_response, view.first_response.state),
                (&mut sla.resolution, view.resolution.state),
            ] {
                clock.mark_announced(state);
            }
            self.private.sla = Some(sla);
        }
        self.refresh_sla(policy, now);
    }

    /// The first transition due for announcement at `now`, marked as
    /// announced (and the view refreshed); `None` when nothing is due.
    pub(super) fn announce_sla(
        &mut self,
        policy: &Policy,
        now: DateTime<Utc>,
    ) -> Option<SlaAnnouncement> {
        let view = self
            .private
            .sla
            .as_ref()?
            .view(policy, level(self.priority), now);
        let sla = self.private.sla.as_mut()?;
        let found = [
            (
                SlaClock::FirstResponse,
                &mut sla.first_response,
                view.first_response,
            ),
            (SlaClock::Resolution, &mut sla.resolution, view.resolution),
        ]
        .into_iter()
        .find_map(|(clock, stored, view)| {
            let state = stored.pending_announcement(&view)?;
            stored.mark_announced(state);
            Some(SlaAnnouncement {
                clock,
                state,
                due_at: view.due_at,
            })
        });
        if found.is_some() {
            self.refresh_sla(policy, now);
            self.private.sla_at = Some(now);
        }
        found
    }

    /// When the service should next look at this ticket's clocks: `now` if
    /// a transition is due for announcement, else the next instant one
    /// changes by time alone; `None` when nothing will change by itself.
    pub fn sla_next_check(&self, policy: &Policy, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let sla = self.private.sla.as_ref()?;
        let level = level(self.priority);
        let view = sla.view(policy, level, now);
        let due = sla
            .first_response
            .pending_announcement(&view.first_response)
            .is_some()
            || sla
                .resolution
                .pending_announcement(&view.resolution)
                .is_some();
        if due {
            return Some(now);
        }
        sla.next_change(policy, level, now)
    }
}

/// The announcement between two stored versions of a ticket, if the only
/// news is a clock's warning or breach (how a change read back from the
/// journal is announced again as it first was).
pub fn announced_between(before: &Ticket, after: &Ticket) -> Option<SlaAnnouncement> {
    let (old, new) = (before.private.sla.as_ref()?, after.private.sla.as_ref()?);
    let view = after.sla.as_ref();
    [
        (
            SlaClock::FirstResponse,
            &old.first_response,
            &new.first_response,
            view.map(|v| v.first_response.due_at),
        ),
        (
            SlaClock::Resolution,
            &old.resolution,
            &new.resolution,
            view.map(|v| v.resolution.due_at),
        ),
    ]
    .into_iter()
    .find_map(|(clock, old, new, due_at)| {
        let state = if !old.breach_announced && new.breach_announced {
            ClockState::Breached
        } else if !old.warned && new.warned {
            ClockState::AtRisk
        } else {
            return None;
        };
        Some(SlaAnnouncement {
            clock,
            state,
            due_at: due_at.flatten(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sla::{ClockState, Policy};
    use crate::tickets::{Command, Outcome, Ticket};
    use chrono::Duration;
    use std::sync::Arc;

    fn policy() -> Policy {
        // Medium: 60 s to first response, 180 s to resolution; High: 40/120.
        let text = r#"
at_risk_percent = 50
at_risk_minutes = 0
[calendar]
always = true
[targets.critical]
first_response_seconds = 10
resolution_seconds = 60
[targets.high]
first_response_seconds = 40
resolution_seconds = 120
[targets.medium]
first_response_seconds = 60
resolution_seconds = 180
[targets.low]
first_response_seconds = 120
resolution_seconds = 600
"#;
        Policy::from_toml(text).unwrap()
    }

    fn at(secs: i64) -> DateTime<Utc> {
        "2026-12-03T10:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::seconds(secs)
    }

    fn new_ticket(policy: &Policy) -> Arc<Ticket> {
        let analyzer = crate::triage::Analyzer::default();
        let new = crate::tickets::NewTicket::parse(
            "The label printer in shipping jams".into(),
            "Printers".into(),
            "Ana".into(),
        )
        .unwrap();
        let mut t = Ticket::create(new, analyzer.analyze("x", "y"), at(0));
        t.priority = Priority::Medium;
        match Command::Create(Box::new(t))
            .apply(None, 0, policy)
            .unwrap()
            .1
        {
            Outcome::Created(t) => t,
            _ => unreachable!(),
        }
    }

    fn run(t: &Arc<Ticket>, command: Command, policy: &Policy) -> Arc<Ticket> {
        command
            .apply(Some(t), 1, policy)
            .unwrap()
            .1
            .ticket()
            .cloned()
            .unwrap()
    }

    #[test]
    fn pending_pauses_and_a_priority_change_keeps_the_time_used() {
        let policy = policy();
        let t = new_ticket(&policy);
        let id = t.request_id;
        let view = t.sla.unwrap();
        assert_eq!(view.resolution.due_at, Some(at(180)));
        assert_eq!(view.resolution.state, ClockState::Running);
        // 60 s in, pending for 100 s, back to work: due 100 s later.
        let pending = Command::SetStatus {
            id,
            status: Status::Pending,
            pending_reason: Some("vendor".into()),
            by: "dana".into(),
            at: at(60),
        };
        let t = run(&t, pending, &policy);
        assert_eq!(t.sla.unwrap().resolution.state, ClockState::Paused);
        assert_eq!(t.sla.unwrap().resolution.due_at, None);
        let back = Command::SetStatus {
            id,
            status: Status::InProgress,
            pending_reason: None,
            by: "dana".into(),
            at: at(160),
        };
        let t = run(&t, back, &policy);
        assert_eq!(t.sla.unwrap().resolution.due_at, Some(at(280)));
        // High (120 s) with 70 s used at 170 s: 50 s left.
        let high = Command::SetPriority {
            id,
            priority: Priority::High,
            by: "dana".into(),
            at: at(170),
        };
        let t = run(&t, high, &policy);
        assert_eq!(t.sla.unwrap().resolution.due_at, Some(at(220)));
    }

    #[test]
    fn a_staff_reply_meets_first_response_and_a_reopen_resumes_resolution() {
        use crate::tickets::{Author, Comment, CommentChange, CommentRules, Role, Staff};
        let policy = policy();
        let t = new_ticket(&policy);
        let id = t.request_id;
        let reply = Comment {
            id: uuid::Uuid::new_v4(),
            author: "dana".into(),
            role: crate::tickets::conversation::AuthorRole::Agent,
            visibility: crate::tickets::Visibility::Public,
            body: "on it".into(),
            created_at: at(30),
            edited_at: None,
            deleted_at: None,
            deleted_by: None,
        };
        let comment = Command::Comment {
            id,
            by: Author::Staff(Staff {
                name: "dana".into(),
                role: Role::Agent,
            }),
            change: CommentChange::Add(Box::new(reply)),
            rules: CommentRules::default(),
            at: at(30),
        };
        let t = run(&t, comment, &policy);
        assert_eq!(t.sla.unwrap().first_response.state, ClockState::Met);
        // Resolved late (200 s > 180 s), reopened: breached stays on record
        // and the clock runs on from 200 s used (already over).
        let t = run(&t, Command::Resolve { id, at: at(200) }, &policy);
        assert_eq!(t.sla.unwrap().resolution.state, ClockState::Breached);
        let t = run(&t, Command::Reopen { id, at: at(300) }, &policy);
        let sla = t.private.sla.as_ref().unwrap();
        assert!(sla.resolution.ever_breached);
        assert_eq!(t.sla.unwrap().resolution.state, ClockState::Breached);
        assert_eq!(t.sla.unwrap().first_response.state, ClockState::Met);
    }

    #[test]
    fn transitions_are_announced_once_each_in_order() {
        let policy = policy();
        let t = new_ticket(&policy);
        let id = t.request_id;
        // Medium first response: at risk at 30 s, due at 60 s.
        assert_eq!(t.sla_next_check(&policy, at(1)), Some(at(30)));
        let check = |t: &Arc<Ticket>, secs| {
            Command::SlaCheck { id, at: at(secs) }
                .apply(Some(t), 1, &policy)
                .map(|(_, o)| o)
        };
        assert!(check(&t, 10).is_err(), "nothing due yet");
        let Outcome::SlaAnnounced {
            ticket,
            announcement,
        } = check(&t, 31).unwrap()
        else {
            panic!()
        };
        assert_eq!(announcement.clock, SlaClock::FirstResponse);
        assert_eq!(announcement.state, ClockState::AtRisk);
        assert_eq!(announced_between(&t, &ticket), Some(announcement));
        assert_eq!(ticket.sla_next_check(&policy, at(31)), Some(at(60)));
        assert!(check(&ticket, 32).is_err(), "announced once");
        // Down past both deadlines: each clock's news comes once, the
        // breach of the first response before anything else.
        let Outcome::SlaAnnounced {
            ticket,
            announcement,
        } = check(&ticket, 500).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (announcement.clock, announcement.state),
            (SlaClock::FirstResponse, ClockState::Breached)
        );
        assert_eq!(announcement.due_at, Some(at(60)));
        let Outcome::SlaAnnounced {
            ticket,
            announcement,
        } = check(&ticket, 500).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (announcement.clock, announcement.state),
            (SlaClock::Resolution, ClockState::Breached)
        );
        assert!(check(&ticket, 500).is_err());
        assert_eq!(ticket.sla_next_check(&policy, at(500)), None);
    }
}
