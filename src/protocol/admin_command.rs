//! `admin_command`: staff change tickets.
//!
//! ```json
//! {"event": "admin_command",
//!  "data": {"command": "resolve", "token": "<JWT from /api/auth/login>", "ticket_id": "<uuid>"}}
//! {"event": "admin_command",
//!  "data": {"command": "update_priority", "token": "…", "ticket_id": "…", "priority": "CRITICAL"}}
//! {"event": "admin_command",
//!  "data": {"command": "assign", "ticket_id": "…", "assignee": "dana", "team": "Network Ops"}}
//! {"event": "admin_command",
//!  "data": {"command": "set_status", "ticket_id": "…", "status": "pending",
//!           "pending_reason": "waiting for the vendor"}}
//! ```
//! Commands: `resolve`, `reopen`, `update_priority`, `assign` (`assignee`
//! null unassigns), `set_status` (`in_progress`, `pending`, `resolved`,
//! `closed`) for agents and admins; `delete`, `clear_all` for admins.
//! The token (or the socket's `authenticate` session) is checked on every
//! command; the role on every command too. Success broadcasts the change to
//! everyone and answers the sender `admin_success` `{"message","action"}`.
//! The original system's `password` field is refused, never checked.

use serde_json::Value;

use super::{Caller, ProtocolError, Reply};
use crate::auth::Auth;
use crate::service::{AdminAction, ErrorCode, Service};
use crate::tickets::{
    Assignee, FieldError, PendingReason, Staff, Status, TeamName, TicketId, take_strings,
};
use crate::triage::Priority;

/// A parsed admin command, not yet authorized.
#[derive(Debug)]
pub struct AdminCommand {
    token: Option<String>,
    legacy_password: bool,
    rest: serde_json::Map<String, Value>,
}

fn unauthorized(message: &str) -> ProtocolError {
    ProtocolError::new(ErrorCode::Unauthorized, message)
}

fn invalid(e: FieldError) -> ProtocolError {
    ProtocolError::new(ErrorCode::InvalidPayload, e.to_string())
}

impl AdminCommand {
    pub(super) fn parse(data: Value) -> Result<AdminCommand, ProtocolError> {
        let Value::Object(mut rest) = data else {
            return Err(invalid(FieldError::NotObject));
        };
        let legacy_password = rest.remove("password").is_some();
        let token = match rest.remove("token") {
            Some(Value::String(t)) => Some(t),
            _ => None,
        };
        Ok(AdminCommand {
            token,
            legacy_password,
            rest,
        })
    }

    /// Checks the session (the command's `token`, else the socket's
    /// `authenticate` session), then the command's fields.
    fn authorize(
        self,
        auth: &Auth,
        caller: &Caller,
    ) -> Result<(Staff, AdminAction), ProtocolError> {
        if self.legacy_password {
            return Err(unauthorized(
                "passwords are no longer accepted in admin_command: log in with POST /api/auth/login and send the token",
            ));
        }
        let (token, from_socket) = match (self.token, caller.signed()) {
            (Some(token), _) => (token, false),
            (None, Some(signed)) => (signed.token, true),
            (None, None) => {
                return Err(unauthorized(
                    "admin_command needs a session: send authenticate first, or a token field (log in with POST /api/auth/login)",
                ));
            }
        };
        let staff = super::verify(auth, caller, &token, from_socket, "admin_command")?;
        let action = parse_action(Value::Object(self.rest))?;
        Ok((staff, action))
    }
}

/// Parses an admin-set priority (the wire names, case-sensitive); shared by
/// every transport.
pub fn parse_priority(raw: &str) -> Result<Priority, ProtocolError> {
    Priority::parse(raw).ok_or_else(|| {
        ProtocolError::new(
            ErrorCode::InvalidPayload,
            "priority must be LOW, MEDIUM, HIGH or CRITICAL",
        )
    })
}

/// Parses `command` and its arguments into an action. `"assignee": null`
/// (or `""`) unassigns.
pub fn parse_action(data: Value) -> Result<AdminAction, ProtocolError> {
    let mut data = data;
    let unassign = match &mut data {
        Value::Object(map) => match map.get("assignee") {
            Some(Value::Null) => map.remove("assignee").is_some(),
            Some(Value::String(s)) if s.trim().is_empty() => map.remove("assignee").is_some(),
            _ => false,
        },
        _ => false,
    };
    let [
        command,
        ticket_id,
        priority,
        assignee,
        team,
        status,
        pending_reason,
    ] = take_strings(
        data,
        [
            "command",
            "ticket_id",
            "priority",
            "assignee",
            "team",
            "status",
            "pending_reason",
        ],
        &[
            "ticket_id",
            "priority",
            "assignee",
            "team",
            "status",
            "pending_reason",
        ],
    )
    .map_err(invalid)?;
    let command = command.unwrap_or_default();
    let id = || -> Result<TicketId, ProtocolError> {
        let raw = ticket_id
            .as_deref()
            .ok_or_else(|| invalid(FieldError::Missing { field: "ticket_id" }))?;
        TicketId::parse_str(raw)
            .map_err(|_| ProtocolError::new(ErrorCode::InvalidPayload, "ticket_id must be a UUID"))
    };
    let unexpected = |field: &'static str| {
        ProtocolError::new(
            ErrorCode::InvalidPayload,
            format!("{field} is not used by {command}"),
        )
    };
    let uses: &[&str] = match command.as_str() {
        "update_priority" => &["priority"],
        "assign" => &["assignee", "team"],
        "set_status" => &["status", "pending_reason"],
        _ => &[],
    };
    for (field, value) in [
        ("priority", priority.is_some()),
        ("assignee", assignee.is_some() || unassign),
        ("team", team.is_some()),
        ("status", status.is_some()),
        ("pending_reason", pending_reason.is_some()),
    ] {
        if value && !uses.contains(&field) {
            return Err(unexpected(field));
        }
    }
    Ok(match command.as_str() {
        "resolve" => AdminAction::Resolve(id()?),
        "reopen" => AdminAction::Reopen(id()?),
        "delete" => AdminAction::Delete(id()?),
        "update_priority" => {
            let raw = priority.ok_or_else(|| invalid(FieldError::Missing { field: "priority" }))?;
            let priority = parse_priority(&raw)?;
            AdminAction::SetPriority(id()?, priority)
        }
        "assign" => {
            let assignee = match assignee {
                Some(raw) => Some(Some(Assignee::parse(raw).map_err(invalid)?.into_inner())),
                None if unassign => Some(None),
                None => None,
            };
            let team = team
                .map(|raw| TeamName::parse(raw).map(TeamName::into_inner))
                .transpose()
                .map_err(invalid)?;
            if assignee.is_none() && team.is_none() {
                return Err(ProtocolError::new(
                    ErrorCode::InvalidPayload,
                    "assign needs assignee (null to unassign), team, or both",
                ));
            }
            AdminAction::Assign {
                id: id()?,
                assignee,
                team,
            }
        }
        "set_status" => {
            let raw = status.ok_or_else(|| invalid(FieldError::Missing { field: "status" }))?;
            let status = Status::parse(&raw)
                .filter(|s| *s != Status::Open)
                .ok_or_else(|| {
                    ProtocolError::new(
                        ErrorCode::InvalidPayload,
                        "status must be in_progress, pending, resolved or closed (reopen a ticket with the reopen command)",
                    )
                })?;
            if pending_reason.is_some() && status != Status::Pending {
                return Err(ProtocolError::new(
                    ErrorCode::InvalidPayload,
                    "pending_reason is only used with status pending",
                ));
            }
            let pending_reason = pending_reason
                .map(|raw| PendingReason::parse(raw).map(PendingReason::into_inner))
                .transpose()
                .map_err(invalid)?;
            AdminAction::SetStatus {
                id: id()?,
                status,
                pending_reason,
            }
        }
        "clear_all" => {
            if ticket_id.is_some() {
                return Err(unexpected("ticket_id"));
            }
            AdminAction::ClearAll
        }
        _ => {
            return Err(ProtocolError::new(
                ErrorCode::InvalidPayload,
                "command must be one of delete, resolve, reopen, update_priority, assign, set_status, clear_all",
            ));
        }
    })
}

/// Refuses an assignment to someone who is not staff (a typo would leave
/// the ticket with nobody who can see it in their queue).
pub fn check_assignee(auth: &Auth, action: &AdminAction) -> Result<(), ProtocolError> {
    if let AdminAction::Assign {
        assignee: Some(Some(name)),
        ..
    } = action
        && !auth.is_staff(name)
    {
        return Err(ProtocolError::new(
            ErrorCode::InvalidPayload,
            format!("assignee: {name:?} is not a staff member"),
        ));
    }
    Ok(())
}

pub(super) async fn run(
    service: &Service,
    auth: &Auth,
    caller: &Caller,
    command: AdminCommand,
) -> Result<Reply, ProtocolError> {
    let (admin, action) = command.authorize(auth, caller)?;
    check_assignee(auth, &action)?;
    let done = service.admin(&admin, action, Some(caller.addr)).await?;
    Ok(Reply::AdminSuccess {
        message: done.message,
        action: done.action,
    })
}
