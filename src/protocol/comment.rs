//! `add_comment`, `edit_comment`, `delete_comment`: the conversation.
//!
//! ```json
//! {"event": "add_comment",
//!  "data": {"ticket_id": "<uuid>", "body": "Rebooted the switch", "visibility": "internal"}}
//! {"event": "add_comment",
//!  "data": {"ticket_id": "<uuid>", "body": "Still broken", "follow_token": "<from ticket_submitted>"}}
//! {"event": "edit_comment",
//!  "data": {"ticket_id": "<uuid>", "comment_id": "<uuid>", "body": "Rebooted both switches"}}
//! {"event": "delete_comment", "data": {"ticket_id": "<uuid>", "comment_id": "<uuid>"}}
//! ```
//! Staff act through the socket's `authenticate` session or a `token`
//! field; a requester through the ticket's `follow_token` (public replies
//! only). The sender is answered `comment_saved` `{"ticket_id","comment"}`;
//! the change is announced as `comment_added`, `comment_edited` or
//! `comment_deleted` to everyone, or to staff only for an internal note. A
//! requester's reply to a closed ticket starts a new ticket instead, and is
//! answered `ticket_submitted` `{"request_id","follow_token","linked_to"}`.

use serde_json::Value;
use uuid::Uuid;

use super::{Caller, ProtocolError, Reply};
use crate::auth::Auth;
use crate::service::{CommentDone, CommentRequest, ErrorCode, Participant, Service};
use crate::tickets::{CommentBody, FieldError, TicketId, Visibility, take_strings};

/// Which of the three.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommentVerb {
    Add,
    Edit,
    Delete,
}

/// A parsed comment event, not yet authorized.
#[derive(Debug)]
pub struct CommentEvent {
    verb: CommentVerb,
    ticket_id: TicketId,
    request: CommentRequest,
    token: Option<String>,
    follow_token: Option<String>,
}

impl CommentEvent {
    /// Whether a requester (not staff) sends it: such messages count
    /// against the submission limit, like a new ticket.
    pub fn from_requester(&self) -> bool {
        self.token.is_none() && self.follow_token.is_some()
    }

    /// The event's name.
    pub fn name(&self) -> &'static str {
        match self.verb {
            CommentVerb::Add => "add_comment",
            CommentVerb::Edit => "edit_comment",
            CommentVerb::Delete => "delete_comment",
        }
    }
}

fn invalid(e: FieldError) -> ProtocolError {
    ProtocolError::new(ErrorCode::InvalidPayload, e.to_string())
}

fn uuid(field: &'static str, raw: Option<String>) -> Result<Uuid, ProtocolError> {
    let raw = raw.ok_or_else(|| invalid(FieldError::Missing { field }))?;
    Uuid::parse_str(&raw).map_err(|_| {
        ProtocolError::new(ErrorCode::InvalidPayload, format!("{field} must be a UUID"))
    })
}

/// Parses `visibility` (absent: public); shared with HTTP.
pub fn parse_visibility(raw: Option<&str>) -> Result<Visibility, ProtocolError> {
    raw.map_or(Ok(Visibility::Public), |raw| {
        Visibility::parse(raw).ok_or_else(|| {
            ProtocolError::new(
                ErrorCode::InvalidPayload,
                "visibility must be public or internal",
            )
        })
    })
}

/// Parses a comment's body; shared with HTTP.
pub fn parse_body(raw: Option<String>) -> Result<CommentBody, ProtocolError> {
    let raw = raw.ok_or_else(|| invalid(FieldError::Missing { field: "body" }))?;
    CommentBody::parse(raw).map_err(invalid)
}

pub(super) fn parse(verb: CommentVerb, data: Value) -> Result<CommentEvent, ProtocolError> {
    let [ticket_id, comment_id, body, visibility, token, follow_token] = take_strings(
        data,
        [
            "ticket_id",
            "comment_id",
            "body",
            "visibility",
            "token",
            "follow_token",
        ],
        &[
            "ticket_id",
            "comment_id",
            "body",
            "visibility",
            "token",
            "follow_token",
        ],
    )
    .map_err(invalid)?;
    let not_used = |field: &'static str| {
        ProtocolError::new(
            ErrorCode::InvalidPayload,
            format!("unknown field {field:?} for this event"),
        )
    };
    let request = match verb {
        CommentVerb::Add => {
            if comment_id.is_some() {
                return Err(not_used("comment_id"));
            }
            CommentRequest::Add {
                body: parse_body(body)?,
                visibility: parse_visibility(visibility.as_deref())?,
            }
        }
        CommentVerb::Edit | CommentVerb::Delete => {
            if visibility.is_some() {
                return Err(not_used("visibility"));
            }
            let comment_id = uuid("comment_id", comment_id)?;
            if verb == CommentVerb::Edit {
                CommentRequest::Edit {
                    comment_id,
                    body: parse_body(body)?,
                }
            } else {
                if body.is_some() {
                    return Err(not_used("body"));
                }
                CommentRequest::Delete { comment_id }
            }
        }
    };
    Ok(CommentEvent {
        verb,
        ticket_id: uuid("ticket_id", ticket_id)?,
        request,
        token,
        follow_token,
    })
}

pub(super) async fn run(
    service: &Service,
    auth: &Auth,
    caller: &Caller,
    event: CommentEvent,
) -> Result<Reply, ProtocolError> {
    let name = event.name();
    let who = match (event.token, caller.signed(), event.follow_token) {
        (Some(token), ..) => Participant::Staff(super::verify(auth, caller, &token, false, name)?),
        (None, Some(signed), _) => {
            Participant::Staff(super::verify(auth, caller, &signed.token, true, name)?)
        }
        (None, None, Some(follow)) => Participant::Follower(follow),
        (None, None, None) => Participant::Anonymous,
    };
    let done = service
        .comment(event.ticket_id, who, event.request, Some(caller.addr))
        .await?;
    Ok(match done {
        CommentDone::Saved { ticket_id, comment } => Reply::CommentSaved { ticket_id, comment },
        CommentDone::Linked(submitted) => Reply::TicketSubmitted {
            request_id: submitted.ticket.request_id,
            follow_token: submitted.follow_token,
            linked_to: submitted.ticket.linked_to,
            replayed: false,
        },
    })
}
