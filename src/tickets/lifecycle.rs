//! The ticket lifecycle: the five statuses, the staff roles, and which
//! status changes are allowed. Pure: the store's writer applies these rules
//! inside its single writer, so a check and the change it allows are atomic.
//!
//! ```text
//!            assign / set_status in_progress
//!   open ───────────────────────────────▶ in_progress ◀──┐
//!    │  ▲   unassign                          │   │      │ set_status in_progress
//!    │  └─────────────────────────────────────┘   │      │ (or reopen)
//!    │                                            ▼      │
//!    ├──────────── set_status pending ─────────▶ pending ┘
//!    │                                            │
//!    ▼                  resolve                   ▼
//! resolved ◀──────────────────────────────────────┘
//!    │  ▲ reopen (back to open, or in_progress when assigned)
//!    ▼  │
//!  closed   (final: no reopen; a requester's reply starts a linked ticket)
//! ```
//! Asking for the status a ticket already has is allowed and changes
//! nothing but `pending_reason` (the original's `resolve` of a resolved
//! ticket succeeded, and scripts rely on it).

use serde::{Deserialize, Serialize};

/// Where a ticket is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// New, nobody assigned.
    Open,
    /// Someone is assigned and working on it.
    InProgress,
    /// Waiting on the requester or a third party (`pending_reason` says which).
    Pending,
    /// Done; the requester may still reopen it.
    Resolved,
    /// Resolved and then closed, by staff or automatically; final.
    Closed,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Open,
        Status::InProgress,
        Status::Pending,
        Status::Resolved,
        Status::Closed,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::InProgress => "in_progress",
            Status::Pending => "pending",
            Status::Resolved => "resolved",
            Status::Closed => "closed",
        }
    }

    pub fn parse(raw: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Resolved or closed: no work left, and the clocks have stopped.
    pub fn is_done(self) -> bool {
        matches!(self, Status::Resolved | Status::Closed)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a staff member may do. Ordered: an admin may do everything an
/// agent may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Works tickets: assign, change status and priority, comment.
    Agent,
    /// Everything an agent does, plus delete, clear and settings.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> Option<Role> {
        match raw {
            "agent" => Some(Role::Agent),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// Whether this role covers `needed`.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

/// The name automatic changes (closing resolved tickets) are made and
/// audited under; no staff member may have it.
pub const SYSTEM_ACTOR: &str = "system";

/// The name a requester's own changes (a reply, a reopen with the follow
/// token) are audited under; no staff member may have it either.
pub const REQUESTER_ACTOR: &str = "requester";

/// A signed-in staff member, as the core sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staff {
    pub name: String,
    pub role: Role,
}

/// A status change the lifecycle does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a ticket that is {from} cannot become {to}{hint}", hint = hint(*from, *to))]
pub struct InvalidTransition {
    pub from: Status,
    pub to: Status,
}

fn hint(from: Status, to: Status) -> &'static str {
    match (from, to) {
        (Status::Closed, _) => " (closed is final)",
        (_, Status::Closed) => " (resolve it first)",
        (Status::Resolved, Status::Pending) => " (reopen it first)",
        _ => "",
    }
}

/// The status a ticket ends up in when staff ask for `to`, or why not.
/// `assigned` says whether it has an assignee once the change is made
/// (`in_progress` needs one; the caller assigns the actor when there is
/// none). `Open` stands for `reopen`: back to work, `in_progress` when
/// someone is assigned.
pub fn transition(from: Status, to: Status, assigned: bool) -> Result<Status, InvalidTransition> {
    use Status::*;
    let refused = Err(InvalidTransition { from, to });
    match (from, to) {
        (Closed, Closed) => Ok(Closed),
        (Closed, _) => refused,
        (Resolved, Closed) => Ok(Closed),
        (_, Closed) => refused,
        (Resolved, Pending) => refused,
        (_, Pending) => Ok(Pending),
        (_, Resolved) => Ok(Resolved),
        (_, InProgress) => Ok(InProgress),
        (_, Open) if assigned => Ok(InProgress),
        (_, Open) => Ok(Open),
    }
}

#[cfg(test)]
mod tests {
    use super::Status::*;
    use super::*;

    #[test]
    fn closed_is_final_and_only_resolved_tickets_close() {
        for to in Status::ALL {
            let expected = if to == Closed { Ok(Closed) } else { Err(()) };
            assert_eq!(transition(Closed, to, true).map_err(|_| ()), expected);
        }
        for from in [Open, InProgress, Pending] {
            let e = transition(from, Closed, false).unwrap_err();
            assert!(e.to_string().contains("resolve it first"), "{e}");
        }
        assert_eq!(transition(Resolved, Closed, false), Ok(Closed));
    }

    #[test]
    fn reopen_goes_back_to_work_by_assignment() {
        assert_eq!(transition(Resolved, Open, false), Ok(Open));
        assert_eq!(transition(Resolved, Open, true), Ok(InProgress));
        assert_eq!(transition(Pending, Open, true), Ok(InProgress));
        assert_eq!(transition(Open, Open, false), Ok(Open));
    }

    #[test]
    fn pending_and_resolve_from_any_working_status() {
        for from in [Open, InProgress, Pending] {
            assert_eq!(transition(from, Pending, false), Ok(Pending));
            assert_eq!(transition(from, Resolved, false), Ok(Resolved));
            assert_eq!(transition(from, InProgress, true), Ok(InProgress));
        }
        assert!(transition(Resolved, Pending, false).is_err());
        assert_eq!(transition(Resolved, Resolved, false), Ok(Resolved));
    }

    #[test]
    fn roles_are_ordered_and_statuses_round_trip() {
        assert!(Role::Admin.allows(Role::Agent));
        assert!(!Role::Agent.allows(Role::Admin));
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::json!(s.as_str())
            );
        }
    }
}
