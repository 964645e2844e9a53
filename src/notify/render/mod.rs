//! What a notification says: the content of a Slack message, a Teams card
//! and the emails a ticket's change produces, from the domain types alone.
//!
//! Pure functions, no I/O and no clock: the delivery side (the outbox and
//! its workers) decides when and where to send, calls these to know what,
//! and sends the result as it is. Each channel escapes ticket text its own
//! way — Slack's mrkdwn (`&`, `<`, `>`), HTML for the emails' alternative
//! part, Markdown links for Teams — because ticket text comes from anyone
//! who can submit a ticket.
//!
//! - [`slack`]: an incoming-webhook body (`text` + Block Kit `blocks`).
//! - [`teams`]: an Adaptive Card in the envelope Teams Workflows accept.
//! - [`email`]: who is emailed about a change (the requester, the assignee,
//!   the admins) and the messages, with stable Message-IDs for threading.
//!
//! The requester's email address is personal data: it is read here only
//! to address the requester's own emails, and never rendered into a chat
//! message.

pub mod email;
pub mod slack;
pub mod teams;

use chrono::{DateTime, Utc};

use crate::sla::ClockState;
use crate::tickets::{Comment, SlaAnnouncement, SlaClock, Ticket};

/// What happened, for rendering: the bus event's name and the ticket after it.
#[derive(Clone)]
pub struct Notice<'a> {
    /// The event's name on the bus: `new_ticket`, `ticket_updated`,
    /// `ticket_resolved`, `ticket_deleted`, `comment_added`, `sla_warning`,
    /// `sla_breached`, … (any other name renders with a generic title).
    pub event: &'a str,
    /// The ticket after the change (the deleted ticket for `ticket_deleted`).
    pub ticket: &'a Ticket,
    /// The ticket before the change, when known (assignment changes).
    pub before: Option<&'a Ticket>,
    /// The comment of a `comment_*` event.
    pub comment: Option<&'a Comment>,
    /// The announcement of an `sla_*` event.
    pub sla: Option<&'a SlaAnnouncement>,
    /// Absolute URL of the ticket in the browser app (for staff).
    pub link: String,
}

impl Notice<'_> {
    /// The comment, when it is one anyone may read: public and not deleted.
    /// An internal note is never rendered into a channel or an email.
    fn public_comment(&self) -> Option<&Comment> {
        self.comment
            .filter(|c| c.is_public() && c.deleted_at.is_none() && !c.body.trim().is_empty())
    }
}

/// The ticket's short reference, `TKT-` and the first 8 characters of its id.
pub fn reference(ticket: &Ticket) -> String {
    let id = ticket.request_id.to_string();
    format!("TKT-{}", &id[..8])
}

/// A short human title for an event name.
pub fn title(event: &str) -> &'static str {
    match event {
        "new_ticket" => "New ticket",
        "ticket_updated" => "Ticket updated",
        "ticket_resolved" => "Ticket resolved",
        "ticket_deleted" => "Ticket deleted",
        "comment_added" => "New comment",
        "comment_edited" => "Comment edited",
        "comment_deleted" => "Comment deleted",
        "sla_warning" => "SLA at risk",
        "sla_breached" => "SLA breached",
        _ => "Ticket changed",
    }
}

/// Cuts `text` to at most `max` characters, ending in "…" when cut (on a
/// character boundary, never inside one).
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A one-line summary of the description for subjects and fallbacks: its
/// first non-blank line, control characters made spaces, at most `max`
/// characters.
pub fn summary(ticket: &Ticket, max: usize) -> String {
    let description = &ticket.request_details.description;
    let line = description
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let line: String = line
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    shorten(&line, max)
}

/// The assignee's name, or "unassigned".
fn assignee(ticket: &Ticket) -> &str {
    ticket.assignee.as_deref().unwrap_or("unassigned")
}

/// The facts every channel shows, label and raw (unescaped) value:
/// priority, system, requester, team, assignee.
fn facts(ticket: &Ticket) -> [(&'static str, &str); 5] {
    [
        ("Priority", ticket.priority.as_str()),
        ("System", &ticket.request_details.system),
        ("Requester", &ticket.request_details.requester),
        ("Team", &ticket.team),
        ("Assignee", assignee(ticket)),
    ]
}

/// "first response" or "resolution".
fn clock_name(clock: SlaClock) -> &'static str {
    match clock {
        SlaClock::FirstResponse => "first response",
        SlaClock::Resolution => "resolution",
    }
}

/// An instant as people read it in a notification.
fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// One line about an SLA announcement (no ticket text in it).
fn sla_line(sla: &SlaAnnouncement) -> String {
    let what = match sla.state {
        ClockState::Breached => "was breached",
        _ => "is at risk",
    };
    let due = sla
        .due_at
        .map(|d| format!(" (due {})", when(d)))
        .unwrap_or_default();
    format!("The {} target {what}{due}.", clock_name(sla.clock))
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Tickets and notices for the renderers' tests.

    use std::sync::Arc;

    use chrono::{TimeZone, Utc};
    use uuid::Uuid;

    use crate::tickets::conversation::AuthorRole;
    use crate::tickets::{Comment, NewTicket, Ticket, Visibility};

    pub fn ticket(description: &str) -> Ticket {
        let new = NewTicket::parse("placeholder".into(), "VPN".into(), "Ana".into()).unwrap();
        let triage = crate::triage::Analyzer::builtin().analyze("VPN drops", "VPN");
        let at = Utc.with_ymd_and_hms(2026, 12, 3, 8, 0, 0).unwrap();
        let mut t = Ticket::create(new, triage, at);
        t.request_id = Uuid::parse_str("6f1c6a8e-3f0b-4a53-9a57-0f8f3c7f1d2a").unwrap();
        // Longer than a submission allows, to test the renderers' own limits.
        t.request_details.description = description.to_string();
        t.private.requester_email = Some("ana@example.com".into());
        t
    }

    pub fn comment(role: AuthorRole, visibility: Visibility, body: &str) -> Arc<Comment> {
        Arc::new(Comment {
            id: Uuid::parse_str("0b9d1b9e-5a57-4c4e-8f5a-0c8a2e4b7d11").unwrap(),
            author: match role {
                AuthorRole::Requester => "requester".into(),
                _ => "dana".into(),
            },
            role,
            visibility,
            body: body.into(),
            created_at: Utc.with_ymd_and_hms(2026, 12, 3, 9, 0, 0).unwrap(),
            edited_at: None,
            deleted_at: None,
            deleted_by: None,
        })
    }

    pub fn notice<'a>(event: &'a str, ticket: &'a Ticket) -> super::Notice<'a> {
        super::Notice {
            event,
            ticket,
            before: None,
            comment: None,
            sla: None,
            link: "https://help.example.com/#/tickets/6f1c6a8e-3f0b-4a53-9a57-0f8f3c7f1d2a".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorten_counts_characters_and_marks_the_cut() {
        assert_eq!(shorten("héllo", 5), "héllo");
        assert_eq!(shorten("héllo wörld", 5), "héll…");
        assert_eq!(shorten("ééééé", 3).chars().count(), 3);
    }

    #[test]
    fn reference_and_summary() {
        let t = fixtures::ticket("\n  VPN drops\tevery hour\nsecond line");
        assert_eq!(reference(&t), "TKT-6f1c6a8e");
        assert_eq!(summary(&t, 60), "VPN drops every hour");
        assert_eq!(summary(&t, 5), "VPN …");
    }
}
