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
mod authenticate;
mod comment;
mod get_stats;
mod submit_ticket;

use std::net::IpAddr;
use std::sync::Arc;

use serde_json::Value;

use crate::auth::{Auth, StaffIdentity};
use crate::events::{Audience, Event, Frame, Published};
use crate::service::{ErrorCode, Service, ServiceError};
use crate::store::Stats;
use crate::tickets::{Comment, Staff, TicketId};

pub use admin_command::{AdminCommand, check_assignee, parse_action, parse_priority};
pub use comment::{CommentEvent, parse_body, parse_visibility};

/// A parsed client event.
#[derive(Debug)]
pub enum ClientEvent {
    SubmitTicket(Value),
    GetStats,
    AdminCommand(AdminCommand),
    Authenticate(String),
    Comment(CommentEvent),
}

/// A socket's staff session: the token (re-checked on every command, so a
/// logout or an expiry takes effect at once) and who it names.
#[derive(Debug, Clone)]
pub struct Signed {
    pub token: String,
    pub identity: StaffIdentity,
}

/// Who is asking, as far as the transport knows: the address, and the
/// staff session a socket opened with `authenticate`. The session sits in a
/// watch channel so the transport's loop hears when it starts or ends.
#[derive(Debug)]
pub struct Caller {
    /// The client's address (after trusted-proxy resolution).
    pub addr: IpAddr,
    session: tokio::sync::watch::Sender<Option<Signed>>,
}

/// Why a socket's staff session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    Expired,
    Revoked,
}

impl SessionEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionEnd::Expired => "expired",
            SessionEnd::Revoked => "revoked",
        }
    }
}

impl Caller {
    pub fn new(addr: IpAddr) -> Caller {
        Caller {
            addr,
            session: tokio::sync::watch::Sender::new(None),
        }
    }

    /// The socket's staff session, if any.
    pub fn signed(&self) -> Option<Signed> {
        self.session.borrow().clone()
    }

    /// Whether this socket may receive `published`: everything for a
    /// current staff session, else only what is for everyone. (The session
    /// is dropped when its token expires or is revoked; the expiry is also
    /// checked here, so not even a frame racing the timer slips through.)
    pub fn may_receive(&self, published: &Published) -> bool {
        published.audience == Audience::Everyone
            || self.session.borrow().as_ref().is_some_and(|s| {
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(s.identity.expires_at)
                    > std::time::SystemTime::now()
            })
    }

    /// Whether the socket has a staff session now.
    pub fn is_staff(&self) -> bool {
        self.session.borrow().is_some()
    }

    pub fn sign_in(&self, signed: Signed) {
        self.session.send_replace(Some(signed));
    }

    pub fn sign_out(&self) {
        self.session.send_replace(None);
    }

    /// Resolves when the current staff session ends (its token expires or
    /// is revoked); never while the socket is anonymous. Cancel-safe: a
    /// transport calls it afresh in each turn of its loop.
    pub async fn session_ended(&self, auth: &Auth) -> SessionEnd {
        let mut changes = self.session.subscribe();
        let mut revocations = auth.revocations();
        loop {
            let Some(signed) = changes.borrow_and_update().clone() else {
                if changes.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
                continue;
            };
            // The socket's session ends at `expires_at` itself (the leeway
            // is for clock skew between hosts, and this is our own clock).
            let expires =
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(signed.identity.expires_at);
            let left = match expires.duration_since(std::time::SystemTime::now()) {
                Ok(left) => left,
                Err(_) => return SessionEnd::Expired,
            };
            if let Err(e) = auth.verify(&signed.token) {
                return match e {
                    crate::auth::TokenError::Expired => SessionEnd::Expired,
                    _ => SessionEnd::Revoked,
                };
            }
            tokio::select! {
                _ = tokio::time::sleep(left) => {}
                _ = changes.changed() => {}
                _ = revocations.changed() => {}
            }
        }
    }
}

/// What a transport's loop awaits to hear that a socket's staff session
/// ended. Small while the socket is anonymous (most are): the timer and
/// the revocation watch are boxed only once someone signs in, and kept
/// across the loop's turns rather than rebuilt in each.
pub struct SessionWatch<'a> {
    caller: &'a Caller,
    auth: &'a Auth,
    changes: tokio::sync::watch::Receiver<Option<Signed>>,
    ending: Option<std::pin::Pin<Box<dyn Future<Output = SessionEnd> + Send + 'a>>>,
}

impl<'a> SessionWatch<'a> {
    pub fn new(caller: &'a Caller, auth: &'a Auth) -> SessionWatch<'a> {
        SessionWatch {
            caller,
            auth,
            changes: caller.session.subscribe(),
            ending: None,
        }
    }

    /// Resolves when the current staff session ends; cancel-safe.
    pub async fn ended(&mut self) -> SessionEnd {
        loop {
            if let Some(ending) = self.ending.as_mut() {
                let end = ending.await;
                self.ending = None;
                return end;
            }
            if self.changes.borrow_and_update().is_some() {
                self.ending = Some(Box::pin(self.caller.session_ended(self.auth)));
                continue;
            }
            if self.changes.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Unix seconds as RFC 3339.
fn rfc3339(secs: u64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp(secs as i64, 0)
        .unwrap_or_default()
        .to_rfc3339()
}

/// A refusal, with the protocol's error code and a message for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    pub code: ErrorCode,
    pub message: String,
}

impl ProtocolError {
    /// The `error` event's data, `{"code","message"}`.
    pub fn data(&self) -> Value {
        serde_json::json!({ "code": self.code.as_str(), "message": self.message })
    }

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
        follow_token: Option<String>,
        linked_to: Option<TicketId>,
        replayed: bool,
    },
    CommentSaved {
        ticket_id: TicketId,
        comment: Arc<Comment>,
    },
    Stats(Stats),
    AdminSuccess {
        message: String,
        action: &'static str,
    },
    Authenticated {
        user: String,
        role: &'static str,
        expires_at: String,
    },
}

impl Reply {
    /// The event this reply is sent as.
    pub fn event(&self) -> Event<'_> {
        match self {
            Reply::TicketSubmitted {
                request_id,
                follow_token,
                linked_to,
                replayed,
            } => Event::TicketSubmitted {
                request_id: *request_id,
                follow_token: follow_token.as_deref(),
                linked_to: *linked_to,
                replayed: *replayed,
            },
            Reply::CommentSaved { ticket_id, comment } => Event::CommentSaved {
                ticket_id: *ticket_id,
                comment,
            },
            Reply::Stats(stats) => Event::StatsUpdate(stats),
            Reply::AdminSuccess { message, action } => Event::AdminSuccess { message, action },
            Reply::Authenticated {
                user,
                role,
                expires_at,
            } => Event::Authenticated {
                user,
                role,
                expires_at,
            },
        }
    }
}

impl ClientEvent {
    /// Every client event name, for metrics.
    pub const NAMES: [&'static str; 7] = [
        "submit_ticket",
        "get_stats",
        "admin_command",
        "authenticate",
        "add_comment",
        "edit_comment",
        "delete_comment",
    ];

    /// Parses an event name and its data.
    pub fn parse(event: &str, data: Value) -> Result<ClientEvent, ProtocolError> {
        match event {
            "submit_ticket" => Ok(ClientEvent::SubmitTicket(data)),
            "get_stats" => get_stats::parse(data).map(|()| ClientEvent::GetStats),
            "admin_command" => AdminCommand::parse(data).map(ClientEvent::AdminCommand),
            "authenticate" => authenticate::parse(data).map(ClientEvent::Authenticate),
            "add_comment" => {
                comment::parse(comment::CommentVerb::Add, data).map(ClientEvent::Comment)
            }
            "edit_comment" => {
                comment::parse(comment::CommentVerb::Edit, data).map(ClientEvent::Comment)
            }
            "delete_comment" => {
                comment::parse(comment::CommentVerb::Delete, data).map(ClientEvent::Comment)
            }
            other => {
                let shown: String = other.chars().take(64).collect();
                Err(ProtocolError::new(
                    ErrorCode::UnknownEvent,
                    format!(
                        "unknown event {shown:?}; expected submit_ticket, get_stats, admin_command, authenticate, add_comment, edit_comment or delete_comment"
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
            ClientEvent::Authenticate(_) => "authenticate",
            ClientEvent::Comment(c) => c.name(),
        }
    }

    /// Whether it spends the sender's submission limit (a new ticket, or a
    /// requester's reply, which may start one).
    pub fn submits(&self) -> bool {
        match self {
            ClientEvent::SubmitTicket(_) => true,
            ClientEvent::Comment(c) => c.from_requester(),
            _ => false,
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
        ClientEvent::Authenticate(token) => authenticate::run(auth, caller, token),
        ClientEvent::Comment(event) => comment::run(service, auth, caller, event).await,
    }
}

/// `authenticate` outside a client message (a Socket.IO CONNECT `auth`
/// token): the same checks, the same reply.
pub fn dispatch_authenticate(
    auth: &Auth,
    caller: &Caller,
    token: String,
) -> Result<Reply, ProtocolError> {
    authenticate::run(auth, caller, token)
}

/// Checks a staff token: a command's own `token`, or the socket's
/// `authenticate` session (which ends, with the socket anonymous again,
/// when its token no longer verifies).
fn verify(
    auth: &Auth,
    caller: &Caller,
    token: &str,
    from_socket: bool,
    action: &'static str,
) -> Result<Staff, ProtocolError> {
    auth.verify(token)
        .map(|identity| identity.staff())
        .map_err(|e| {
            auth.refused(&e, action, Some(caller.addr));
            if from_socket {
                caller.sign_out();
            }
            ProtocolError::new(ErrorCode::Unauthorized, e.to_string())
        })
}
