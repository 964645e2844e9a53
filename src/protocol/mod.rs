//! The ticket event protocol, independent of any transport.
//!
//! A client sends an event name and a JSON `data` value; [`dispatch`] parses
//! it into a [`ClientEvent`], runs it against the [`Service`], and returns
//! the direct reply (or a [`ProtocolError`] with its code). `/ws` wraps this
//! in `{"event","data","ref"}` frames; any other transport wraps it in its
//! own envelope and gets the same behaviour.
//!
//! One file per client command, each showing its JSON.

mod admin_command;
mod get_stats;
mod submit_ticket;

use std::net::IpAddr;

use serde_json::Value;

use crate::auth::Auth;
use crate::events::{Event, Frame};
use crate::service::{ErrorCode, Service, ServiceError};
use crate::store::Stats;
use crate::tickets::TicketId;

pub use admin_command::{AdminCommand, parse_action, parse_priority};

/// A parsed client event.
#[derive(Debug)]
pub enum ClientEvent {
    SubmitTicket(Value),
    GetStats,
    AdminCommand(AdminCommand),
}

/// Who is asking, as far as the transport knows.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The client's address (after trusted-proxy resolution).
    pub addr: IpAddr,
}

/// A refusal, with the protocol's error code and a message for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    pub code: ErrorCode,
    pub message: String,
}

impl ProtocolError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ProtocolError {
            code,
            message: message.into(),
        }
    }

    /// The `error` event for this refusal.
    pub fn encode(&self, reference: Option<&str>) -> Frame {
        Event::Error {
            code: self.code.as_str(),
            message: &self.message,
        }
        .encode(reference)
    }
}

/// An error outside the frame protocol (an HTTP response, a refused
/// upgrade): `{"error":{"code","message"}}`, one shape for every transport.
pub fn error_body(code: ErrorCode, message: &str) -> Value {
    serde_json::json!({ "error": { "code": code.as_str(), "message": message } })
}

impl From<ServiceError> for ProtocolError {
    fn from(e: ServiceError) -> Self {
        ProtocolError::new(e.code(), e.to_string())
    }
}

/// The direct reply to a client event.
#[derive(Debug, Clone)]
pub enum Reply {
    TicketSubmitted {
        request_id: TicketId,
    },
    Stats(Stats),
    AdminSuccess {
        message: String,
        action: &'static str,
    },
}

impl Reply {
    /// The event this reply is sent as.
    pub fn event(&self) -> Event<'_> {
        match self {
            Reply::TicketSubmitted { request_id } => Event::TicketSubmitted {
                request_id: *request_id,
            },
            Reply::Stats(stats) => Event::StatsUpdate(stats),
            Reply::AdminSuccess { message, action } => Event::AdminSuccess { message, action },
        }
    }
}

impl ClientEvent {
    /// Every client event name, for metrics.
    pub const NAMES: [&'static str; 3] = ["submit_ticket", "get_stats", "admin_command"];

    /// Parses an event name and its data.
    pub fn parse(event: &str, data: Value) -> Result<ClientEvent, ProtocolError> {
        match event {
            "submit_ticket" => Ok(ClientEvent::SubmitTicket(data)),
            "get_stats" => get_stats::parse(data).map(|()| ClientEvent::GetStats),
            "admin_command" => AdminCommand::parse(data).map(ClientEvent::AdminCommand),
            other => {
                let shown: String = other.chars().take(64).collect();
                Err(ProtocolError::new(
                    ErrorCode::UnknownEvent,
                    format!(
                        "unknown event {shown:?}; expected submit_ticket, get_stats or admin_command"
                    ),
                ))
            }
        }
    }

    /// The event's name, for metrics (a fixed set, never user input).
    pub fn name(&self) -> &'static str {
        match self {
            ClientEvent::SubmitTicket(_) => "submit_ticket",
            ClientEvent::GetStats => "get_stats",
            ClientEvent::AdminCommand(_) => "admin_command",
        }
    }
}

/// Runs one client event.
pub async fn dispatch(
    service: &Service,
    auth: &Auth,
    caller: &Caller,
    event: ClientEvent,
) -> Result<Reply, ProtocolError> {
    match event {
        ClientEvent::SubmitTicket(data) => submit_ticket::run(service, data).await,
        ClientEvent::GetStats => Ok(get_stats::run(service)),
        ClientEvent::AdminCommand(command) => {
            admin_command::run(service, auth, caller, command).await
        }
    }
}
