//! The conversation on each ticket, and the requester's follow token.
//!
//! Requesters have no accounts. Each new ticket gets a follow token: a
//! random secret handed to the submitter once and kept only as its SHA-256
//! hash. Whoever holds it may read the ticket's public conversation, reply,
//! and reopen the ticket after resolution; a reply to a closed ticket
//! starts a new ticket linked to it. A wrong token is answered exactly like
//! an unknown ticket.
//!
//! Staff (agents and admins) write public replies and internal notes. Who
//! receives which is not decided here: each comment event carries its
//! audience (`events::Audience`), and every reader of the bus checks it.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::Utc;
use uuid::Uuid;

use super::{AdminAction, Service, ServiceError};
use crate::audit::AuditEntry;
use crate::tickets::{
    Author, Command, Comment, CommentBody, CommentChange, CommentError, NewTicket, Outcome,
    REQUESTER_ACTOR, Role, Staff, Status, Ticket, TicketId, Visibility, conversation::AuthorRole,
};

/// Who reads or writes a ticket's conversation.
#[derive(Debug, Clone)]
pub enum Participant {
    /// A signed-in agent or admin: public and internal comments.
    Staff(Staff),
    /// Whoever holds the ticket's follow token: public comments.
    Follower(String),
    /// Anyone else: reads the public conversation (it is on the public
    /// board anyway), writes nothing.
    Anonymous,
}

/// A requested change to a conversation (fields already parsed).
#[derive(Debug, Clone)]
pub enum CommentRequest {
    Add {
        body: CommentBody,
        visibility: Visibility,
    },
    Edit {
        comment_id: Uuid,
        body: CommentBody,
    },
    Delete {
        comment_id: Uuid,
    },
}

impl CommentRequest {
    /// The action's name in the protocol and the audit trail.
    pub fn name(&self) -> &'static str {
        match self {
            CommentRequest::Add { .. } => "add_comment",
            CommentRequest::Edit { .. } => "edit_comment",
            CommentRequest::Delete { .. } => "delete_comment",
        }
    }
}

/// What a comment request did.
#[derive(Debug, Clone)]
pub enum CommentDone {
    /// The comment as stored now.
    Saved {
        ticket_id: TicketId,
        comment: Arc<Comment>,
    },
    /// A requester replied to a closed ticket: a new ticket, linked to it.
    Linked(super::Submitted),
}

/// A new follow token and the hash that is kept of it: derived from the
/// follow key and the ticket id when there is a key, else random.
pub(super) fn new_follow_token(key: Option<&[u8]>, id: &TicketId) -> (String, String) {
    let token = match key {
        Some(key) => derived_follow_token(key, id),
        None => hex(&rand::random::<[u8; 32]>()),
    };
    let hash = follow_hash(&token);
    (token, hash)
}

/// The follow token of ticket `id` under `key`: HMAC-SHA256, 64 hex
/// characters, as unguessable as a random one without the key.
pub fn derived_follow_token(key: &[u8], id: &TicketId) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    hex(ring::hmac::sign(&key, id.as_bytes()).as_ref())
}

fn follow_hash(token: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Whether `token` is the ticket's follow token. Compares hashes without
/// an early exit.
fn follows(ticket: &Ticket, token: &str) -> bool {
    let Some(kept) = &ticket.private.follow_token_sha256 else {
        return false;
    };
    let given = follow_hash(token);
    kept.len() == given.len()
        && kept
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

impl Service {
    /// The ticket as `who` may see it, with the comments they may read.
    /// A follower with the wrong token is told the ticket does not exist.
    pub fn conversation(
        &self,
        id: TicketId,
        who: &Participant,
    ) -> Result<(Arc<Ticket>, Vec<Arc<Comment>>), ServiceError> {
        let ticket = self.ticket(&id).ok_or(ServiceError::NotFound(id))?;
        let staff = match who {
            Participant::Staff(_) => true,
            Participant::Follower(token) if !follows(&ticket, token) => {
                return Err(ServiceError::NotFound(id));
            }
            Participant::Follower(_) | Participant::Anonymous => false,
        };
        let comments = ticket
            .private
            .comments
            .iter()
            .filter(|c| staff || c.is_public())
            .cloned()
            .collect();
        Ok((ticket, comments))
    }

    /// Adds, edits or deletes a comment, durably, announces it to its
    /// audience, and records it in the audit trail (an edit or delete with
    /// the comment as it was).
    pub async fn comment(
        &self,
        id: TicketId,
        who: Participant,
        request: CommentRequest,
        client: Option<IpAddr>,
    ) -> Result<CommentDone, ServiceError> {
        let now = Utc::now();
        let name = request.name();
        let current = self.ticket(&id).ok_or(ServiceError::NotFound(id))?;
        let author = match who {
            Participant::Staff(staff) => Author::Staff(staff),
            Participant::Follower(token) if follows(&current, &token) => Author::Requester,
            Participant::Follower(_) => return Err(ServiceError::NotFound(id)),
            Participant::Anonymous => return Err(ServiceError::Unauthorized(name)),
        };
        if author == Author::Requester {
            if let CommentRequest::Add { visibility, .. } = &request
                && *visibility == Visibility::Internal
            {
                let error = ServiceError::NotAllowed(
                    "internal notes are for staff; a requester's replies are public".into(),
                );
                self.audit.refused(
                    REQUESTER_ACTOR,
                    name,
                    Some(id.to_string()),
                    client,
                    error.to_string(),
                );
                return Err(error);
            }
            match (&request, current.status) {
                (CommentRequest::Add { body, .. }, Status::Closed) => {
                    return self.linked_ticket(&current, body.clone(), client).await;
                }
                (CommentRequest::Add { .. }, Status::Resolved) => {
                    // A reply that would be refused must not reopen the
                    // ticket (the writer checks the cap again, atomically).
                    let max = self.comment_rules.max_per_ticket;
                    if current.private.comments.len() >= max {
                        return Err(ServiceError::LimitReached(
                            CommentError::TooMany { max }.to_string(),
                        ));
                    }
                    self.reopen_for_requester(id, client).await?;
                }
                _ => {}
            }
        }
        let change = match request {
            CommentRequest::Add { body, visibility } => {
                let (author_name, role) = match &author {
                    Author::Staff(s) => (
                        s.name.clone(),
                        match s.role {
                            Role::Admin => AuthorRole::Admin,
                            Role::Agent => AuthorRole::Agent,
                        },
                    ),
                    Author::Requester => (
                        current.request_details.requester.clone(),
                        AuthorRole::Requester,
                    ),
                };
                CommentChange::Add(Box::new(Comment {
                    id: Uuid::new_v4(),
                    author: author_name,
                    role,
                    visibility,
                    body: body.into_inner(),
                    created_at: now,
                    edited_at: None,
                    deleted_at: None,
                    deleted_by: None,
                }))
            }
            CommentRequest::Edit { comment_id, body } => CommentChange::Edit {
                comment_id,
                body: body.into_inner(),
            },
            CommentRequest::Delete { comment_id } => CommentChange::Delete { comment_id },
        };
        let target = match &change {
            CommentChange::Add(c) => c.id,
            CommentChange::Edit { comment_id, .. } | CommentChange::Delete { comment_id } => {
                *comment_id
            }
        };
        let user = author.audit_name().to_string();
        let result = self
            .store
            .execute(Command::Comment {
                id,
                by: author,
                change,
                rules: self.comment_rules,
                at: now,
            })
            .await;
        let result = match result {
            Ok(applied) => match applied.outcome {
                Outcome::Commented { comment, .. } => {
                    let previous = applied
                        .before
                        .and_then(|t| t.private.comments.iter().find(|c| c.id == target).cloned());
                    Ok((previous, comment))
                }
                _ => unreachable!("a comment command yields a comment"),
            },
            Err(e) => Err(ServiceError::from(e)),
        };
        let entry = AuditEntry {
            time: now,
            admin: user,
            action: name.to_string(),
            outcome: match &result {
                Ok(_) => "success",
                Err(ServiceError::NotAllowed(_)) => "refused",
                Err(_) => "failure",
            },
            ticket_id: Some(id.to_string()),
            client: client.map(|c| c.to_string()),
            before: result
                .as_ref()
                .ok()
                .and_then(|(previous, _)| previous.as_ref())
                .map(|c| serde_json::to_value(&**c).unwrap_or_default()),
            after: result
                .as_ref()
                .ok()
                .map(|(_, c)| serde_json::to_value(&**c).unwrap_or_default()),
            reason: result.as_ref().err().map(|e| e.to_string()),
        };
        if let Err(e) = self.audit.record(entry).await {
            tracing::error!(error = %e, action = name, "cannot write the audit log");
            if result.is_ok() {
                return Err(ServiceError::AuditFailed);
            }
        }
        let (_, comment) = result?;
        tracing::info!(action = name, ticket.id = %id, comment.id = %comment.id, "comment");
        Ok(CommentDone::Saved {
            ticket_id: id,
            comment,
        })
    }

    /// Reopens a resolved ticket its requester replied to (or asked to
    /// reopen with the follow token).
    async fn reopen_for_requester(
        &self,
        id: TicketId,
        client: Option<IpAddr>,
    ) -> Result<(), ServiceError> {
        let requester = Staff {
            name: REQUESTER_ACTOR.to_string(),
            role: Role::Agent,
        };
        self.admin(&requester, AdminAction::Reopen(id), client)
            .await
            .map(|_| ())
    }

    /// The requester's reopen: the follow token must match.
    pub async fn reopen_as_requester(
        &self,
        id: TicketId,
        token: &str,
        client: Option<IpAddr>,
    ) -> Result<Arc<Ticket>, ServiceError> {
        let ticket = self.ticket(&id).ok_or(ServiceError::NotFound(id))?;
        if !follows(&ticket, token) {
            return Err(ServiceError::NotFound(id));
        }
        self.reopen_for_requester(id, client).await?;
        self.ticket(&id).ok_or(ServiceError::NotFound(id))
    }

    /// A requester's reply to a closed ticket: a new ticket with the reply
    /// as its description, linked to the old one.
    async fn linked_ticket(
        &self,
        closed: &Ticket,
        body: CommentBody,
        client: Option<IpAddr>,
    ) -> Result<CommentDone, ServiceError> {
        let mut new = NewTicket::parse(
            body.into_inner(),
            closed.request_details.system.clone(),
            closed.request_details.requester.clone(),
        )?;
        // The requester's address carries over: they hear of the new ticket.
        new.email = closed
            .private
            .requester_email
            .clone()
            .and_then(|e| crate::tickets::EmailAddress::parse(e).ok());
        let submitted = self.create(new, Some(closed.request_id)).await?;
        tracing::info!(
            ticket.id = %submitted.ticket.request_id,
            linked_to = %closed.request_id,
            client = ?client,
            "a reply to a closed ticket started a new one"
        );
        Ok(CommentDone::Linked(submitted))
    }
}
