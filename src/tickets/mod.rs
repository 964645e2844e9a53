//! The ticket domain: what a ticket is, how a submission is parsed into one,
//! and the changes staff may apply (the lifecycle rules are in
//! [`lifecycle`]).
//!
//! Values here are parsed, not validated: once a [`Description`] exists it is
//! within its limits. Nothing in this module does I/O or knows a transport.

pub mod analytics;
pub mod conversation;
pub mod export;
mod fields;
pub mod lifecycle;
pub mod query;
pub mod service_level;

pub use conversation::{
    Author, Comment, CommentChange, CommentError, CommentKind, CommentRules, Private, Visibility,
};
pub use fields::{
    Assignee, CommentBody, Description, EmailAddress, FieldError, PendingReason, Requester,
    SystemName, TeamName, take_strings,
};
pub use lifecycle::{InvalidTransition, REQUESTER_ACTOR, Role, SYSTEM_ACTOR, Staff, Status};
pub use service_level::{SlaAnnouncement, SlaClock};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use uuid::Uuid;

use crate::sla::{Policy, SlaView};
use crate::triage::{Analysis, Priority, Triage};

/// A ticket's identifier: a random (v4) UUID, the store's key.
pub type TicketId = Uuid;

/// Who set the priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrioritySource {
    /// The analyzer; re-analysis may change it.
    #[default]
    Analyzer,
    /// An admin pinned it; re-analysis never overwrites it.
    Manual,
}

/// What the submitter wrote, as they wrote it (trimmed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestDetails {
    pub description: String,
    pub system: String,
    pub requester: String,
}

/// A maintenance ticket, in the store's format (the original system's,
/// extended with status timestamps and the priority's provenance).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    pub request_id: TicketId,
    pub priority: Priority,
    pub priority_score: u8,
    pub status: Status,
    pub request_details: RequestDetails,
    pub analysis: Analysis,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub priority_source: PrioritySource,
    /// The admin who pinned the priority, when `priority_source` is manual.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_set_by: Option<String>,
    /// When the priority was pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_set_at: Option<DateTime<Utc>>,
    /// The team that owns it: the analyzer's routing at first, then
    /// whoever assigns it elsewhere. (Filled from the analysis for tickets
    /// stored before teams could be changed.)
    #[serde(default)]
    pub team: String,
    /// The staff member working on it; `in_progress` needs one.
    #[serde(default)]
    pub assignee: Option<String>,
    /// What a `pending` ticket waits for.
    #[serde(default)]
    pub pending_reason: Option<String>,
    /// When it was closed (also set by automatic closing).
    #[serde(default)]
    pub closed_at: Option<DateTime<Utc>>,
    /// The closed ticket this one continues (a requester replied to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linked_to: Option<TicketId>,
    /// How many times it went back to work after being resolved (absent
    /// while zero, so tickets that never reopened look as they always did).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reopen_count: u32,
    /// The SLA clocks as they stand (`due_at` and `state` of the first
    /// response and the resolution); derived from the stored clocks at each
    /// change and at load, never read back (nor written to the store's
    /// files, which keep the clocks themselves).
    #[serde(
        default,
        skip_deserializing,
        skip_serializing_if = "conversation::leave_out_view"
    )]
    pub sla: Option<SlaView>,
    /// The conversation, the follow token's hash and the SLA clocks: read
    /// from the store's files, and serialized only for them (inside
    /// [`conversation::storing`]), so no event, listing or audit copy can
    /// carry them.
    #[serde(
        default,
        rename = "private",
        skip_serializing_if = "conversation::leave_out"
    )]
    pub private: Private,
}

/// A parsed, valid ticket submission.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTicket {
    pub description: Description,
    pub system: SystemName,
    pub requester: Requester,
    /// Where the requester wants to hear about the ticket (optional); it
    /// goes into the ticket's private part, never into an event or listing.
    pub email: Option<EmailAddress>,
    /// The client's key for retrying this submission safely (optional).
    pub idempotency_key: Option<String>,
}

impl NewTicket {
    /// Parses a submission's JSON (`{"description","system","requester",
    /// "email"?}`), as both the WebSocket and the HTTP paths receive it.
    pub fn from_json(value: serde_json::Value) -> Result<Self, FieldError> {
        let [description, system, requester, email, key] = take_strings(
            value,
            [
                "description",
                "system",
                "requester",
                "email",
                "idempotency_key",
            ],
            &["email", "idempotency_key"],
        )?;
        let mut new = NewTicket::parse(
            description.unwrap_or_default(),
            system.unwrap_or_default(),
            requester.unwrap_or_default(),
        )?;
        new.email = EmailAddress::parse_optional(email)?;
        new.idempotency_key = fields::idempotency_key(key)?;
        Ok(new)
    }

    /// Parses the three submitted fields; the error names the first bad one.
    pub fn parse(
        description: String,
        system: String,
        requester: String,
    ) -> Result<Self, FieldError> {
        Ok(NewTicket {
            description: Description::parse(description)?,
            system: SystemName::parse(system)?,
            requester: Requester::parse(requester)?,
            email: None,
            idempotency_key: None,
        })
    }
}

impl Ticket {
    /// A fresh open ticket from a submission and the analyzer's verdict.
    pub fn create(new: NewTicket, triage: Triage, now: DateTime<Utc>) -> Ticket {
        Ticket {
            request_id: Uuid::new_v4(),
            priority: triage.priority,
            priority_score: triage.priority_score,
            status: Status::Open,
            request_details: RequestDetails {
                description: new.description.into_inner(),
                system: new.system.into_inner(),
                requester: new.requester.into_inner(),
            },
            team: triage.analysis.team.clone(),
            analysis: triage.analysis,
            created_at: now,
            updated_at: now,
            resolved_at: None,
            priority_source: PrioritySource::Analyzer,
            priority_set_by: None,
            priority_set_at: None,
            assignee: None,
            pending_reason: None,
            closed_at: None,
            linked_to: None,
            reopen_count: 0,
            sla: None,
            private: Private {
                requester_email: new.email.map(EmailAddress::into_inner),
                idempotency_key: new.idempotency_key,
                ..Private::default()
            },
        }
    }

    /// Fills what older stores did not keep (run when loading, before
    /// [`Ticket::check`]).
    pub fn fill_defaults(&mut self) {
        if self.team.is_empty() {
            self.team = self.analysis.team.clone();
        }
    }

    /// Checks the invariants a stored ticket must hold (used when loading).
    pub fn check(&self) -> Result<(), String> {
        for (name, value, parse) in [
            (
                "description",
                &self.request_details.description,
                Description::check as fn(&str) -> Result<(), FieldError>,
            ),
            ("system", &self.request_details.system, SystemName::check),
            (
                "requester",
                &self.request_details.requester,
                Requester::check,
            ),
        ] {
            parse(value).map_err(|e| format!("ticket {}: {name}: {e}", self.request_id))?;
        }
        if self.priority_score > 100 {
            return Err(format!(
                "ticket {}: priority_score above 100",
                self.request_id
            ));
        }
        let problem = match (self.status, self.resolved_at, self.closed_at) {
            (Status::Resolved | Status::Closed, None, _) => Some("without resolved_at"),
            (Status::Closed, _, None) => Some("without closed_at"),
            (s, Some(_), _) if !s.is_done() => Some("with resolved_at"),
            (s, _, Some(_)) if s != Status::Closed => Some("with closed_at"),
            (Status::InProgress, ..) if self.assignee.is_none() => Some("without an assignee"),
            _ => None,
        };
        match problem {
            Some(p) => Err(format!("ticket {}: {} {p}", self.request_id, self.status)),
            None => Ok(()),
        }
    }
}

/// A change staff (or a submitter) ask for. The store applies it to the
/// current state inside its single writer, so read-modify-write is atomic.
#[derive(Debug, Clone)]
pub enum Command {
    Create(Box<Ticket>),
    Resolve {
        id: TicketId,
        at: DateTime<Utc>,
    },
    Reopen {
        id: TicketId,
        at: DateTime<Utc>,
    },
    SetPriority {
        id: TicketId,
        priority: Priority,
        by: String,
        at: DateTime<Utc>,
    },
    /// Assign (or unassign, with `assignee: Some(None)`) and/or move to a
    /// team. An assignee makes an open ticket `in_progress`; removing the
    /// assignee of an `in_progress` ticket makes it `open` again.
    Assign {
        id: TicketId,
        assignee: Option<Option<String>>,
        team: Option<String>,
        at: DateTime<Utc>,
    },
    /// Any status change but reopen; `by` becomes the assignee when
    /// `in_progress` is asked of an unassigned ticket.
    SetStatus {
        id: TicketId,
        status: Status,
        pending_reason: Option<String>,
        by: String,
        at: DateTime<Utc>,
    },
    /// Add, edit or delete a comment.
    Comment {
        id: TicketId,
        by: Author,
        change: CommentChange,
        rules: CommentRules,
        at: DateTime<Utc>,
    },
    /// Announce the ticket's next due SLA transition (at risk, breached),
    /// if one is due at `at`.
    SlaCheck {
        id: TicketId,
        at: DateTime<Utc>,
    },
    Delete {
        id: TicketId,
    },
    Clear,
}

/// Why a command could not apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("no ticket with id {0}")]
    NotFound(TicketId),
    #[error(transparent)]
    InvalidTransition(#[from] InvalidTransition),
    #[error("ticket {0} is closed: a closed ticket no longer changes")]
    Closed(TicketId),
    #[error(transparent)]
    Comment(#[from] CommentError),
    #[error("no SLA transition is due on ticket {0}")]
    NothingDue(TicketId),
    /// A submission whose idempotency key a ticket created within
    /// [`IDEMPOTENCY_WINDOW`] already carries: that ticket is the answer.
    #[error("ticket {0} was already created with this idempotency key")]
    Duplicate(TicketId),
}

/// How long a submission's idempotency key keeps answering with the ticket
/// it created.
pub const IDEMPOTENCY_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// What a command did, once committed: the facts an event is made from.
#[derive(Debug, Clone)]
pub enum Outcome {
    Created(Arc<Ticket>),
    Resolved(Arc<Ticket>),
    /// Any other change to a ticket (status, assignment, priority).
    Updated(Arc<Ticket>),
    Deleted(Arc<Ticket>),
    Cleared {
        count: usize,
    },
    /// A comment added, edited or deleted (the ticket carries it).
    Commented {
        ticket: Arc<Ticket>,
        comment: Arc<Comment>,
        kind: CommentKind,
    },
    /// An SLA clock reached at risk or breached.
    SlaAnnounced {
        ticket: Arc<Ticket>,
        announcement: SlaAnnouncement,
    },
}

impl Outcome {
    /// The ticket as it now is, for every outcome that leaves one.
    pub fn ticket(&self) -> Option<&Arc<Ticket>> {
        match self {
            Outcome::Created(t) | Outcome::Resolved(t) | Outcome::Updated(t) => Some(t),
            Outcome::Commented { ticket, .. } | Outcome::SlaAnnounced { ticket, .. } => {
                Some(ticket)
            }
            Outcome::Deleted(_) | Outcome::Cleared { .. } => None,
        }
    }
}

/// The change to the stored state a command makes.
#[derive(Debug, Clone)]
pub enum Change {
    Put(Arc<Ticket>),
    Delete(TicketId),
    Clear,
}

impl Command {
    /// The ticket this command reads, if it reads one.
    pub fn target(&self) -> Option<TicketId> {
        match self {
            Command::Create(_) | Command::Clear => None,
            Command::Resolve { id, .. }
            | Command::Reopen { id, .. }
            | Command::SetPriority { id, .. }
            | Command::Assign { id, .. }
            | Command::SetStatus { id, .. }
            | Command::Comment { id, .. }
            | Command::SlaCheck { id, .. }
            | Command::Delete { id } => Some(*id),
        }
    }

    /// Applies the command to the current version of its target ticket
    /// (`current`) and the current ticket count, moving the SLA clocks under
    /// `policy`; returns the change to store and the outcome to announce.
    pub fn apply(
        self,
        current: Option<&Arc<Ticket>>,
        count: usize,
        policy: &Policy,
    ) -> Result<(Change, Outcome), CommandError> {
        let existing = |id: TicketId| current.cloned().ok_or(CommandError::NotFound(id));
        let before = current.map(|t| &**t);
        let put = |mut t: Ticket, at: DateTime<Utc>| {
            t.track_sla(before, false, policy, at);
            let t = Arc::new(t);
            let outcome = if t.status == Status::Resolved {
                Outcome::Resolved(t.clone())
            } else {
                Outcome::Updated(t.clone())
            };
            (Change::Put(t), outcome)
        };
        Ok(match self {
            Command::Create(mut ticket) => {
                let at = ticket.created_at;
                ticket.track_sla(None, false, policy, at);
                let ticket = Arc::new(*ticket);
                (Change::Put(ticket.clone()), Outcome::Created(ticket))
            }
            Command::Resolve { id, at } => {
                let mut t = Ticket::clone(&*existing(id)?);
                t.move_to(Status::Resolved, at)?;
                put(t, at)
            }
            Command::Reopen { id, at } => {
                let mut t = Ticket::clone(&*existing(id)?);
                t.move_to(Status::Open, at)?;
                put(t, at)
            }
            Command::SetStatus {
                id,
                status,
                pending_reason,
                by,
                at,
            } => {
                let mut t = Ticket::clone(&*existing(id)?);
                if status == Status::InProgress && t.assignee.is_none() {
                    lifecycle::transition(t.status, status, true)?;
                    t.assignee = Some(by);
                }
                let was = t.status;
                t.move_to(status, at)?;
                // A new reason replaces the old; none given keeps a pending
                // ticket's reason.
                if status == Status::Pending && (pending_reason.is_some() || was != Status::Pending)
                {
                    t.pending_reason = pending_reason;
                    t.updated_at = at;
                }
                put(t, at)
            }
            Command::Assign {
                id,
                assignee,
                team,
                at,
            } => {
                let mut t = Ticket::clone(&*existing(id)?);
                if t.status == Status::Closed {
                    return Err(CommandError::Closed(id));
                }
                if let Some(team) = team {
                    t.team = team;
                }
                if let Some(assignee) = assignee {
                    t.assignee = assignee;
                    match (t.status, &t.assignee) {
                        (Status::Open, Some(_)) => t.status = Status::InProgress,
                        (Status::InProgress, None) => t.status = Status::Open,
                        _ => {}
                    }
                }
                t.updated_at = at;
                put(t, at)
            }
            Command::SetPriority {
                id,
                priority,
                by,
                at,
            } => {
                let mut t = Ticket::clone(&*existing(id)?);
                if t.status == Status::Closed {
                    return Err(CommandError::Closed(id));
                }
                t.priority = priority;
                t.priority_score = manual_score(priority);
                t.priority_source = PrioritySource::Manual;
                t.priority_set_by = Some(by);
                t.priority_set_at = Some(at);
                t.updated_at = at;
                put(t, at)
            }
            Command::Comment {
                id,
                by,
                change,
                rules,
                at,
            } => {
                let mut t = Ticket::clone(&*existing(id)?);
                // A closed ticket's conversation is final too, but a
                // comment that should never have been written can still be
                // taken down.
                if t.status == Status::Closed && !matches!(change, CommentChange::Delete { .. }) {
                    return Err(CommandError::Closed(id));
                }
                let (comment, kind) = t.private.apply(change, &by, rules, at)?;
                let replied = kind == CommentKind::Added && comment.is_staff_reply();
                t.track_sla(before, replied, policy, at);
                let ticket = Arc::new(t);
                (
                    Change::Put(ticket.clone()),
                    Outcome::Commented {
                        ticket,
                        comment,
                        kind,
                    },
                )
            }
            Command::SlaCheck { id, at } => {
                let mut t = Ticket::clone(&*existing(id)?);
                let announcement = t
                    .announce_sla(policy, at)
                    .ok_or(CommandError::NothingDue(id))?;
                let ticket = Arc::new(t);
                (
                    Change::Put(ticket.clone()),
                    Outcome::SlaAnnounced {
                        ticket,
                        announcement,
                    },
                )
            }
            Command::Delete { id } => {
                let t = existing(id)?;
                (Change::Delete(id), Outcome::Deleted(t))
            }
            Command::Clear => (Change::Clear, Outcome::Cleared { count }),
        })
    }
}

impl Ticket {
    /// Moves to `to` by the lifecycle's rules (`Open` meaning reopen),
    /// keeping the timestamps consistent. Asking for the current status
    /// changes nothing.
    fn move_to(&mut self, to: Status, at: DateTime<Utc>) -> Result<(), InvalidTransition> {
        let next = lifecycle::transition(self.status, to, self.assignee.is_some())?;
        if next == self.status {
            return Ok(());
        }
        if self.status.is_done() && !next.is_done() {
            self.reopen_count = self.reopen_count.saturating_add(1);
        }
        match next {
            Status::Resolved => self.resolved_at = Some(at),
            Status::Closed => self.closed_at = Some(at),
            _ => self.resolved_at = None,
        }
        if next != Status::Pending {
            self.pending_reason = None;
        }
        self.status = next;
        self.updated_at = at;
        Ok(())
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The score an admin-pinned priority gets: the middle of its band, so
/// ordering by score stays consistent with ordering by priority.
fn manual_score(priority: Priority) -> u8 {
    match priority {
        Priority::Low => 12,
        Priority::Medium => 37,
        Priority::High => 62,
        Priority::Critical => 87,
    }
}
