//! `admin_command`: an admin changes tickets.
//!
//! ```json
//! {"event": "admin_command",
//!  "data": {"command": "resolve", "token": "<JWT from /api/auth/login>", "ticket_id": "<uuid>"}}
//! {"event": "admin_command",
//!  "data": {"command": "update_priority", "token": "…", "ticket_id": "…", "priority": "CRITICAL"}}
//! ```
//! Commands: `delete`, `resolve`, `reopen`, `update_priority`, `clear_all`.
//! The token is checked on every command. Success broadcasts the change to
//! everyone and answers the sender `admin_success` `{"message","action"}`.
//! The original system's `password` field is refused, never checked.

use serde_json::Value;

use super::{Caller, ProtocolError, Reply};
use crate::auth::Auth;
use crate::service::{AdminAction, ErrorCode, Service};
use crate::tickets::{FieldError, TicketId, take_strings};
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

    /// Checks the session, then the command's fields.
    fn authorize(
        self,
        auth: &Auth,
        client: std::net::IpAddr,
    ) -> Result<(String, AdminAction), ProtocolError> {
        if self.legacy_password {
            return Err(unauthorized(
                "passwords are no longer accepted in admin_command: log in with POST /api/auth/login and send the token",
            ));
        }
        let token = self.token.ok_or_else(|| {
            unauthorized("admin_command needs a session token: log in with POST /api/auth/login")
        })?;
        let admin = auth.verify(&token).map_err(|e| {
            auth.refused(&e, "admin_command", Some(client));
            unauthorized(&e.to_string())
        })?;
        let action = parse_action(Value::Object(self.rest))?;
        Ok((admin.name, action))
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

/// Parses `command` and its arguments into an action.
pub fn parse_action(data: Value) -> Result<AdminAction, ProtocolError> {
    let [command, ticket_id, priority] = take_strings(
        data,
        ["command", "ticket_id", "priority"],
        &["ticket_id", "priority"],
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
    if priority.is_some() && command != "update_priority" {
        return Err(unexpected("priority"));
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
        "clear_all" => {
            if ticket_id.is_some() {
                return Err(unexpected("ticket_id"));
            }
            AdminAction::ClearAll
        }
        _ => {
            return Err(ProtocolError::new(
                ErrorCode::InvalidPayload,
                "command must be one of delete, resolve, reopen, update_priority, clear_all",
            ));
        }
    })
}

pub(super) async fn run(
    service: &Service,
    auth: &Auth,
    caller: &Caller,
    command: AdminCommand,
) -> Result<Reply, ProtocolError> {
    let (admin, action) = command.authorize(auth, caller.addr)?;
    let done = service.admin(&admin, action, Some(caller.addr)).await?;
    Ok(Reply::AdminSuccess {
        message: done.message,
        action: done.action,
    })
}
