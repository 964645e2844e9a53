//! The ticket domain: what a ticket is, how a submission is parsed into one,
//! and the state transitions admins may apply.
//!
//! Values here are parsed, not validated: once a [`Description`] exists it is
//! within its limits. Nothing in this module does I/O or knows a transport.

mod fields;
pub mod query;

pub use fields::{Description, FieldError, Requester, SystemName, take_strings};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use uuid::Uuid;

use crate::triage::{Analysis, Priority, Triage};

/// A ticket's identifier: a random (v4) UUID, the store's key.
pub type TicketId = Uuid;

/// Whether a ticket still needs work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Open,
    Resolved,
}

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
}

/// A parsed, valid ticket submission.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTicket {
    pub description: Description,
    pub system: SystemName,
    pub requester: Requester,
}

impl NewTicket {
    /// Parses a submission's JSON (`{"description","system","requester"}`),
    /// as both the WebSocket and the HTTP paths receive it.
    pub fn from_json(value: serde_json::Value) -> Result<Self, FieldError> {
        let [description, system, requester] =
            take_strings(value, ["description", "system", "requester"], &[])?;
        NewTicket::parse(
            description.unwrap_or_default(),
            system.unwrap_or_default(),
            requester.unwrap_or_default(),
        )
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
            analysis: triage.analysis,
            created_at: now,
            updated_at: now,
            resolved_at: None,
            priority_source: PrioritySource::Analyzer,
            priority_set_by: None,
            priority_set_at: None,
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
        match (self.status, self.resolved_at) {
            (Status::Resolved, None) => Err(format!(
                "ticket {}: resolved without resolved_at",
                self.request_id
            )),
            (Status::Open, Some(_)) => {
                Err(format!("ticket {}: open with resolved_at", self.request_id))
            }
            _ => Ok(()),
        }
    }
}

/// A change an admin (or a submitter) asks for. The store applies it to the
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
}

/// What a command did, once committed: the facts an event is made from.
#[derive(Debug, Clone)]
pub enum Outcome {
    Created(Arc<Ticket>),
    Resolved(Arc<Ticket>),
    /// Reopened or re-prioritized.
    Updated(Arc<Ticket>),
    Deleted(Arc<Ticket>),
    Cleared {
        count: usize,
    },
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
            | Command::Delete { id } => Some(*id),
        }
    }

    /// Applies the command to the current version of its target ticket
    /// (`current`) and the current ticket count; returns the change to store
    /// and the outcome to announce.
    pub fn apply(
        self,
        current: Option<&Arc<Ticket>>,
        count: usize,
    ) -> Result<(Change, Outcome), CommandError> {
        let existing = |id: TicketId| current.cloned().ok_or(CommandError::NotFound(id));
        Ok(match self {
            Command::Create(ticket) => {
                let ticket = Arc::new(*ticket);
                (Change::Put(ticket.clone()), Outcome::Created(ticket))
            }
            Command::Resolve { id, at } => {
                let mut t = Ticket::clone(&*existing(id)?);
                if t.status != Status::Resolved {
                    t.status = Status::Resolved;
                    t.resolved_at = Some(at);
                    t.updated_at = at;
                }
                let t = Arc::new(t);
                (Change::Put(t.clone()), Outcome::Resolved(t))
            }
            Command::Reopen { id, at } => {
                let mut t = Ticket::clone(&*existing(id)?);
                if t.status != Status::Open {
                    t.status = Status::Open;
                    t.resolved_at = None;
                    t.updated_at = at;
                }
                let t = Arc::new(t);
                (Change::Put(t.clone()), Outcome::Updated(t))
            }
            Command::SetPriority {
                id,
                priority,
                by,
                at,
            } => {
                let mut t = Ticket::clone(&*existing(id)?);
                t.priority = priority;
                t.priority_score = manual_score(priority);
                t.priority_source = PrioritySource::Manual;
                t.priority_set_by = Some(by);
                t.priority_set_at = Some(at);
                t.updated_at = at;
                let t = Arc::new(t);
                (Change::Put(t.clone()), Outcome::Updated(t))
            }
            Command::Delete { id } => {
                let t = existing(id)?;
                (Change::Delete(id), Outcome::Deleted(t))
            }
            Command::Clear => (Change::Clear, Outcome::Cleared { count }),
        })
    }
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
