//! The SLA timer: announces each clock's `at_risk` and `breached` on time,
//! even when nothing else happens to the ticket.
//!
//! An index keeps, for every ticket whose clocks will change by time alone,
//! the instant they next do (`Ticket::sla_next_check`). The store's commit
//! hook updates it for every committed change (so a reopen, a pause or a
//! priority change moves the ticket's instant at once), and the timer task
//! sleeps until the soonest instant, then asks the store to announce what
//! is due (`Command::SlaCheck`, applied by the single writer, so a ticket
//! resolved at that very moment is judged by its latest state). Each
//! announcement is a durable change like any other: it is marked in the
//! ticket's clocks before it is broadcast, so it is made once, and one that
//! fell due while the server was down is made at start.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use super::{Service, ServiceError};
use crate::sla::Policy;
use crate::tickets::{Command, Outcome, Ticket, TicketId};

/// Announcements in flight at once.
const BATCH: usize = 256;
/// The longest the timer sleeps without looking (a calendar's search
/// horizon, a clock jump).
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// When each ticket's clocks next need a look, soonest first.
#[derive(Debug, Default)]
pub(super) struct SlaIndex {
    by_id: HashMap<TicketId, DateTime<Utc>>,
    queue: BTreeSet<(DateTime<Utc>, TicketId)>,
}

impl SlaIndex {
    fn soonest(&self) -> Option<DateTime<Utc>> {
        self.queue.first().map(|(at, _)| *at)
    }

    fn remove(&mut self, id: &TicketId) {
        if let Some(at) = self.by_id.remove(id) {
            self.queue.remove(&(at, *id));
        }
    }

    fn set(&mut self, ticket: &Ticket, policy: &Policy, now: DateTime<Utc>) {
        let id = ticket.request_id;
        self.remove(&id);
        if let Some(at) = ticket.sla_next_check(policy, now) {
            self.by_id.insert(id, at);
            self.queue.insert((at, id));
        }
    }

    /// The tickets due at `now`, taken out of the index (a committed check
    /// puts each back with its next instant).
    fn take_due(&mut self, now: DateTime<Utc>) -> Vec<TicketId> {
        let mut due = Vec::new();
        while let Some(&(at, id)) = self.queue.first() {
            if at > now {
                break;
            }
            self.queue.pop_first();
            self.by_id.remove(&id);
            due.push(id);
        }
        due
    }
}

/// The index and the task's wake-up, shared with the commit hook.
#[derive(Debug, Clone, Default)]
pub(super) struct SlaSchedule {
    index: Arc<Mutex<SlaIndex>>,
    wake: Arc<Notify>,
}

impl SlaSchedule {
    /// Indexes every ticket (at start).
    pub(super) fn fill(&self, tickets: &[Arc<Ticket>], policy: &Policy) {
        let now = Utc::now();
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        for ticket in tickets {
            index.set(ticket, policy, now);
        }
    }

    /// Follows a committed batch (called by the store's commit hook, on the
    /// writer's thread: a few map operations per change).
    pub(super) fn committed(&self, outcomes: &[(u64, Outcome)], policy: &Policy) {
        let now = Utc::now();
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        let before = index.soonest();
        for (_, outcome) in outcomes {
            match outcome {
                Outcome::Deleted(t) => index.remove(&t.request_id),
                Outcome::Cleared { .. } => *index = SlaIndex::default(),
                other => {
                    if let Some(ticket) = other.ticket() {
                        index.set(ticket, policy, now);
                    }
                }
            }
        }
        if index.soonest() != before {
            self.wake.notify_one();
        }
    }
}

/// Sleeps until the soonest SLA transition, announces what is due, again.
pub(super) async fn sla_task(service: Weak<Service>, schedule: SlaSchedule) {
    loop {
        let soonest = schedule
            .index
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .soonest();
        let sleep = soonest.map_or(MAX_SLEEP, |at| {
            (at - Utc::now())
                .to_std()
                .unwrap_or_default()
                .min(MAX_SLEEP)
        });
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = schedule.wake.notified() => continue,
        }
        let Some(service) = service.upgrade() else {
            return;
        };
        let now = Utc::now();
        let due = schedule
            .index
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take_due(now);
        for chunk in due.chunks(BATCH) {
            let results = futures_util::future::join_all(chunk.iter().map(|id| {
                service
                    .store
                    .execute(Command::SlaCheck { id: *id, at: now })
            }))
            .await;
            for (id, result) in chunk.iter().zip(results) {
                match result.map_err(ServiceError::from) {
                    Ok(_) => {}
                    // Changed meanwhile (resolved, paused, deleted): the
                    // commit hook has indexed its new state already; or
                    // nothing was due after all (a clock's instant rounds
                    // to the second): look again at its next instant.
                    Err(ServiceError::InvalidTransition(_) | ServiceError::NotFound(_)) => {
                        if let Some(ticket) = service.store.get(id) {
                            let mut index =
                                schedule.index.lock().unwrap_or_else(|p| p.into_inner());
                            let later = Utc::now() + chrono::Duration::seconds(1);
                            index.set(&ticket, &service.sla_policy, later);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "SLA announcements stopped for now");
                        // Look again in a while; the store may come back.
                        if let Some(ticket) = service.store.get(id) {
                            let mut index =
                                schedule.index.lock().unwrap_or_else(|p| p.into_inner());
                            index.set(
                                &ticket,
                                &service.sla_policy,
                                Utc::now() + chrono::Duration::seconds(5),
                            );
                        }
                    }
                }
            }
        }
    }
}
