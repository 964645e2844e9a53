//! The conversation on a ticket: comments, who may write, edit and delete
//! them, and the parts of a ticket only the store sees (the comments, the
//! hash of the requester's follow token, the SLA clocks).
//!
//! A comment is `public` (the requester and every viewer of the board see
//! it) or `internal` (staff only). Who may see what is decided where events
//! are published (`events::Audience`); this module only says what a comment
//! is and what may be done to it. The rules are applied by the store's
//! single writer, so "is the author still within the edit window" and the
//! edit it allows are one atomic step.
//!
//! ```json
//! {"id":"…","author":"dana","role":"agent","visibility":"internal","body":"Rebooted the switch",
//!  "created_at":"2026-12-03T08:00:00Z","edited_at":null,"deleted_at":null,"deleted_by":null}
//! ```

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Role, Staff};

/// Who may read a comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// The requester and everyone watching the board.
    Public,
    /// Staff only.
    Internal,
}

impl Visibility {
    pub fn parse(raw: &str) -> Option<Visibility> {
        match raw {
            "public" => Some(Visibility::Public),
            "internal" => Some(Visibility::Internal),
            _ => None,
        }
    }
}

/// What the author was when they wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthorRole {
    Agent,
    Admin,
    /// Whoever holds the ticket's follow token.
    Requester,
}

/// One comment, as stored and as sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    pub id: Uuid,
    pub author: String,
    pub role: AuthorRole,
    pub visibility: Visibility,
    /// Empty once deleted (the audit trail keeps what it said).
    pub body: String,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub edited_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub deleted_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub deleted_by: Option<String>,
}

impl Comment {
    pub fn is_public(&self) -> bool {
        self.visibility == Visibility::Public
    }

    /// A staff member's public words: what first response waits for.
    pub fn is_staff_reply(&self) -> bool {
        self.is_public() && self.role != AuthorRole::Requester
    }
}

/// Who asks for a comment change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Author {
    Staff(Staff),
    /// The holder of the ticket's follow token.
    Requester,
}

impl Author {
    /// The name the audit trail records.
    pub fn audit_name(&self) -> &str {
        match self {
            Author::Staff(s) => &s.name,
            Author::Requester => super::REQUESTER_ACTOR,
        }
    }

    fn wrote(&self, comment: &Comment) -> bool {
        match self {
            Author::Staff(s) => comment.role != AuthorRole::Requester && comment.author == s.name,
            Author::Requester => comment.role == AuthorRole::Requester,
        }
    }

    fn is_admin(&self) -> bool {
        matches!(self, Author::Staff(s) if s.role == Role::Admin)
    }
}

/// The limits a comment change is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommentRules {
    /// How long after writing an author may edit or delete.
    pub edit_window: chrono::Duration,
    /// The most comments one ticket holds.
    pub max_per_ticket: usize,
}

impl Default for CommentRules {
    fn default() -> Self {
        CommentRules {
            edit_window: chrono::Duration::minutes(10),
            max_per_ticket: 500,
        }
    }
}

/// A change to a ticket's conversation.
#[derive(Debug, Clone)]
pub enum CommentChange {
    /// A new comment, made whole by the caller (its id and author).
    Add(Box<Comment>),
    Edit {
        comment_id: Uuid,
        body: String,
    },
    /// A soft delete: the comment stays, emptied, with who and when.
    Delete {
        comment_id: Uuid,
    },
}

/// What a committed comment change was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommentKind {
    Added,
    Edited,
    Deleted,
}

/// Why a comment change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommentError {
    #[error("no comment with id {0} on this ticket")]
    NotFound(Uuid),
    #[error("comment {0} was deleted; it no longer changes")]
    Deleted(Uuid),
    #[error("only the author may {0} a comment (admins may delete any)")]
    NotAuthor(&'static str),
    #[error(
        "comments can be changed for {minutes} minutes after they are written; this one is older"
    )]
    WindowClosed { minutes: i64 },
    #[error("the ticket has {max} comments, the most --max-comments-per-ticket allows")]
    TooMany { max: usize },
}

/// The parts of a ticket only the store and the service see: never in an
/// event, a listing or the audit copies of the ticket. (Serialized only
/// inside [`storing`], into the store's files, under the ticket's `private`
/// key.)
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Private {
    /// SHA-256 of the requester's follow token, hex; the token itself is
    /// never kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_token_sha256: Option<String>,
    /// The conversation, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub comments: Vec<Arc<Comment>>,
    /// The SLA clocks (their view is the ticket's `sla`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla: Option<crate::sla::Sla>,
    /// The requester's email address, if they gave one on submission: for
    /// notifications only (personal data: never broadcast, listed, exported
    /// or logged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester_email: Option<String>,
    /// The submitter's idempotency key, if it sent one: a retry with the
    /// same key within a day is answered with this ticket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// The instant the `sla` view was computed at by the change that wrote
    /// this ticket, so every instance sharing a database announces the
    /// change with the same view, however late it reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla_at: Option<chrono::DateTime<chrono::Utc>>,
}

thread_local! {
    /// Set while the store serializes tickets into its own files.
    static STORING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with tickets serializing their private part, as the store's
/// files need. Everywhere else (events, listings, the audit trail) a
/// ticket's serialization leaves it out: the default is the safe one, so a
/// new transport cannot leak a note or a token's hash by forgetting a step.
pub fn storing<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            STORING.with(|s| s.set(self.0));
        }
    }
    let _restore = Restore(STORING.with(|s| s.replace(true)));
    f()
}

/// Whether a ticket's serialization leaves its private part out (see
/// [`storing`]).
pub(super) fn leave_out(private: &Private) -> bool {
    private.is_empty() || !STORING.with(|s| s.get())
}

/// Whether a ticket's serialization leaves its `sla` view out: in the
/// store's files (see [`storing`]), which keep the clocks it is derived
/// from.
pub(super) fn leave_out_view(_: &Option<crate::sla::SlaView>) -> bool {
    STORING.with(|s| s.get())
}

impl Private {
    pub fn is_empty(&self) -> bool {
        self.follow_token_sha256.is_none()
            && self.comments.is_empty()
            && self.sla.is_none()
            && self.requester_email.is_none()
    }

    /// Applies a change; returns the comment as it now is.
    pub(super) fn apply(
        &mut self,
        change: CommentChange,
        by: &Author,
        rules: CommentRules,
        at: DateTime<Utc>,
    ) -> Result<(Arc<Comment>, CommentKind), CommentError> {
        let (comment_id, verb) = match change {
            CommentChange::Add(comment) => {
                if self.comments.len() >= rules.max_per_ticket {
                    return Err(CommentError::TooMany {
                        max: rules.max_per_ticket,
                    });
                }
                let comment = Arc::new(*comment);
                self.comments.push(comment.clone());
                return Ok((comment, CommentKind::Added));
            }
            CommentChange::Edit { comment_id, .. } => (comment_id, "edit"),
            CommentChange::Delete { comment_id } => (comment_id, "delete"),
        };
        let slot = self
            .comments
            .iter_mut()
            .find(|c| c.id == comment_id)
            .ok_or(CommentError::NotFound(comment_id))?;
        if slot.deleted_at.is_some() {
            return Err(CommentError::Deleted(comment_id));
        }
        let admin_delete = verb == "delete" && by.is_admin();
        if !admin_delete {
            if !by.wrote(slot) {
                return Err(CommentError::NotAuthor(verb));
            }
            if at - slot.created_at > rules.edit_window {
                return Err(CommentError::WindowClosed {
                    minutes: rules.edit_window.num_minutes(),
                });
            }
        }
        let mut next = Comment::clone(slot);
        let kind = match change {
            CommentChange::Edit { body, .. } => {
                next.body = body;
                next.edited_at = Some(at);
                CommentKind::Edited
            }
            _ => {
                next.body = String::new();
                next.deleted_at = Some(at);
                next.deleted_by = Some(by.audit_name().to_string());
                CommentKind::Deleted
            }
        };
        *slot = Arc::new(next);
        Ok((slot.clone(), kind))
    }
}

/// What changed between two versions of a conversation, if one comment was
/// added, edited or deleted (how a change read back from the journal is
/// announced again as it first was).
pub fn difference(before: &Private, after: &Private) -> Option<(Arc<Comment>, CommentKind)> {
    if after.comments.len() == before.comments.len() + 1 {
        let added = after.comments.last()?;
        return Some((added.clone(), CommentKind::Added));
    }
    if after.comments.len() != before.comments.len() {
        return None;
    }
    before
        .comments
        .iter()
        .zip(&after.comments)
        .find(|(b, a)| b != a)
        .map(|(_, a)| {
            let kind = if a.deleted_at.is_some() {
                CommentKind::Deleted
            } else {
                CommentKind::Edited
            };
            (a.clone(), kind)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staff(name: &str, role: Role) -> Author {
        Author::Staff(Staff {
            name: name.into(),
            role,
        })
    }

    fn comment(author: &str, role: AuthorRole, at: DateTime<Utc>) -> Box<Comment> {
        Box::new(Comment {
            id: Uuid::new_v4(),
            author: author.into(),
            role,
            visibility: Visibility::Public,
            body: "hello".into(),
            created_at: at,
            edited_at: None,
            deleted_at: None,
            deleted_by: None,
        })
    }

    #[test]
    fn authors_edit_within_the_window_and_admins_delete_any() {
        let t0 = Utc::now();
        let rules = CommentRules::default();
        let mut p = Private::default();
        let dana = staff("dana", Role::Agent);
        let (c, _) = p
            .apply(
                CommentChange::Add(comment("dana", AuthorRole::Agent, t0)),
                &dana,
                rules,
                t0,
            )
            .unwrap();
        let edit = |body: &str| CommentChange::Edit {
            comment_id: c.id,
            body: body.into(),
        };
        let before = p.clone();
        let (e, kind) = p
            .apply(
                edit("changed"),
                &dana,
                rules,
                t0 + chrono::Duration::minutes(9),
            )
            .unwrap();
        assert_eq!((e.body.as_str(), kind), ("changed", CommentKind::Edited));
        assert_eq!(difference(&before, &p).unwrap().1, CommentKind::Edited);
        assert_eq!(
            p.apply(edit("x"), &staff("eve", Role::Agent), rules, t0),
            Err(CommentError::NotAuthor("edit"))
        );
        assert_eq!(
            p.apply(edit("x"), &Author::Requester, rules, t0),
            Err(CommentError::NotAuthor("edit"))
        );
        let late = t0 + chrono::Duration::minutes(11);
        assert_eq!(
            p.apply(edit("x"), &dana, rules, late),
            Err(CommentError::WindowClosed { minutes: 10 })
        );
        let delete = CommentChange::Delete { comment_id: c.id };
        let (d, kind) = p
            .apply(delete.clone(), &staff("root", Role::Admin), rules, late)
            .unwrap();
        assert_eq!(kind, CommentKind::Deleted);
        assert_eq!(
            (d.body.as_str(), d.deleted_by.as_deref()),
            ("", Some("root"))
        );
        assert_eq!(
            p.apply(delete, &staff("root", Role::Admin), rules, late),
            Err(CommentError::Deleted(c.id))
        );
    }

    #[test]
    fn a_ticket_holds_at_most_the_configured_comments() {
        let t0 = Utc::now();
        let rules = CommentRules {
            max_per_ticket: 2,
            ..CommentRules::default()
        };
        let mut p = Private::default();
        for _ in 0..2 {
            p.apply(
                CommentChange::Add(comment("r", AuthorRole::Requester, t0)),
                &Author::Requester,
                rules,
                t0,
            )
            .unwrap();
        }
        assert_eq!(
            p.apply(
                CommentChange::Add(comment("r", AuthorRole::Requester, t0)),
                &Author::Requester,
                rules,
                t0
            ),
            Err(CommentError::TooMany { max: 2 })
        );
    }
}
