//! `admin_command`: an admin changes tickets.
//!
//! ```json
//! {"event": "admin_command",
//!  "data": {"command": "resolve", "token": "<JWT>", "ticket_id": "<uuid>"}}
//! ```
//! Commands: `delete`, `resolve`, `reopen`, `update_priority` (with
//! `"priority"`), `clear_all`. Without admin sessions configured every
//! command is refused with `unauthorized`.

use serde_json::Value;

use super::{Caller, ProtocolError, Reply};
use crate::service::{ErrorCode, Service};

/// A parsed admin command (authorization happens in `run`).
#[derive(Debug)]
pub struct AdminCommand {
    pub data: Value,
}

impl AdminCommand {
    pub(super) fn parse(data: Value) -> Result<AdminCommand, ProtocolError> {
        if !data.is_object() {
            return Err(ProtocolError::new(
                ErrorCode::InvalidPayload,
                "data: admin_command takes an object",
            ));
        }
        Ok(AdminCommand { data })
    }
}

pub(super) async fn run(
    _service: &Service,
    _caller: &Caller,
    _command: AdminCommand,
) -> Result<Reply, ProtocolError> {
    Err(ProtocolError::new(
        ErrorCode::Unauthorized,
        "admin commands need a session token: log in at /api/auth/login",
    ))
}
