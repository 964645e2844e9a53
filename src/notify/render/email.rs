//! Which emails a ticket's change produces, to whom, and what they say.
//!
//! | event | who | kind |
//! |---|---|---|
//! | `new_ticket` | the requester, if they gave an address (with their follow link) | `requester_created` |
//! | `comment_added`, a public reply by staff | the requester | `requester_reply` |
//! | `ticket_resolved` | the requester | `requester_resolved` |
//! | `ticket_updated`, assignee changed (against `before`) | the new assignee | `staff_assigned` |
//! | `sla_warning` / `sla_breached` | the assignee; unassigned (or an assignee without an address): every admin with one | `staff_sla_warning` / `staff_sla_breached` |
//!
//! Nobody is ever emailed an internal note, nor the requester their own
//! reply. Staff addresses come from the staff file (`Auth::directory`); one
//! without an address gets no email.
//!
//! **Threading.** The creation email's Message-ID is `<tkt-{id}@{domain}>`;
//! every later email carries it as `In-Reply-To` (and the sender should put
//! it in `References` too), so mail clients thread a ticket's emails. Every
//! Message-ID is deterministic — `<tkt-{id}-{event}-{change}-{recipient}@{domain}>`,
//! where `change` is the comment's id, the SLA clock and its due instant, or
//! the ticket's `updated_at` in milliseconds, and `recipient` a hash of the
//! address — so a redelivery of the same change repeats the same ID (and
//! receivers can drop the duplicate), while the address itself never shows
//! in a header other than `To`. The requester's emails keep one subject,
//! `[TKT-xxxxxxxx] short description` (`Re: ` after the first), because
//! some clients thread by subject as well; staff subjects say what happened.
//!
//! **Content.** Each email has a plain-text part and an HTML alternative;
//! in the HTML every piece of ticket text (description, system, requester,
//! comment, names) is escaped (`& < > " '`), and only an `http(s)` link
//! becomes an `href`. Addresses are personal data: nothing here logs.

use ring::digest;

use super::{Notice, facts, reference, sla_line, summary};
use crate::auth::StaffContact;
use crate::sla::ClockState;
use crate::tickets::{Role, Ticket};

/// What the renderer needs beyond the notice.
pub struct EmailContext<'a> {
    /// The staff directory (`Auth::directory`): names, roles, addresses.
    pub staff: &'a [StaffContact],
    /// The right-hand side of Message-IDs, e.g. the host of the public URL
    /// (a port is dropped; characters a Message-ID cannot hold are left out).
    pub domain: &'a str,
    /// For new tickets: the requester's follow link (the only way in for a
    /// requester; it holds their follow token).
    pub follow_link: Option<String>,
}

/// One email to send.
#[derive(Clone, PartialEq, Eq)]
pub struct Email {
    /// One bare address.
    pub to: String,
    pub subject: String,
    /// With its angle brackets, ready for the `Message-ID` header.
    pub message_id: String,
    /// The creation email's Message-ID, for `In-Reply-To` and `References`;
    /// none on the creation email itself.
    pub in_reply_to: Option<String>,
    pub text: String,
    pub html: String,
    /// `requester_created`, `requester_reply`, `requester_resolved`,
    /// `staff_assigned`, `staff_sla_warning` or `staff_sla_breached`.
    pub kind: &'static str,
}

/// An address is personal data: `{:?}` leaves `to` out.
impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Email")
            .field("kind", &self.kind)
            .field("subject", &self.subject)
            .field("message_id", &self.message_id)
            .field("in_reply_to", &self.in_reply_to)
            .finish_non_exhaustive()
    }
}

/// The most characters of the description in a subject.
const SUBJECT_SUMMARY_CHARS: usize = 60;

/// The emails `notice` produces (none for most changes).
pub fn emails(notice: &Notice, ctx: &EmailContext) -> Vec<Email> {
    let ticket = notice.ticket;
    match notice.event {
        "new_ticket" => requester_email(notice, ctx, "requester_created")
            .into_iter()
            .collect(),
        "comment_added" if notice.public_comment().is_some_and(|c| c.is_staff_reply()) => {
            requester_email(notice, ctx, "requester_reply")
                .into_iter()
                .collect()
        }
        "ticket_resolved" => requester_email(notice, ctx, "requester_resolved")
            .into_iter()
            .collect(),
        "ticket_updated" => {
            let Some(before) = notice.before else {
                return Vec::new();
            };
            match &ticket.assignee {
                Some(name) if before.assignee.as_ref() != Some(name) => contact(ctx, name)
                    .map(|(name, to)| staff_email(notice, ctx, "staff_assigned", name, to))
                    .into_iter()
                    .collect(),
                _ => Vec::new(),
            }
        }
        "sla_warning" | "sla_breached" => {
            let kind = if notice.event == "sla_breached" {
                "staff_sla_breached"
            } else {
                "staff_sla_warning"
            };
            let assignee = ticket.assignee.as_deref().and_then(|a| contact(ctx, a));
            let recipients = match assignee {
                Some(one) => vec![one],
                None => admins(ctx),
            };
            recipients
                .into_iter()
                .map(|(name, to)| staff_email(notice, ctx, kind, name, to))
                .collect()
        }
        _ => Vec::new(),
    }
}

/// The creation email's Message-ID, which every later email replies to.
pub fn thread_id(ticket: &Ticket, domain: &str) -> String {
    format!("<tkt-{}@{}>", ticket.request_id, message_domain(domain))
}

/// A staff member's name and address, if they have one.
fn contact<'a>(ctx: &EmailContext<'a>, name: &str) -> Option<(&'a str, &'a str)> {
    ctx.staff
        .iter()
        .find(|s| s.name == name)
        .and_then(|s| Some((s.name.as_str(), s.email.as_deref()?)))
}

/// Every admin with an address, one email per address.
fn admins<'a>(ctx: &EmailContext<'a>) -> Vec<(&'a str, &'a str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for s in ctx.staff.iter().filter(|s| s.role == Role::Admin) {
        if let Some(to) = s.email.as_deref()
            && !out.iter().any(|(_, seen)| seen.eq_ignore_ascii_case(to))
        {
            out.push((&s.name, to));
        }
    }
    out
}

/// The right-hand side of a Message-ID: the host without a port, only
/// letters, digits, `.` and `-`.
fn message_domain(domain: &str) -> String {
    let host = domain.trim().split(':').next().unwrap_or("");
    let clean: String = host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
        .collect::<String>()
        .trim_matches('.')
        .to_ascii_lowercase();
    if clean.is_empty() {
        "ticketd.invalid".to_string()
    } else {
        clean
    }
}

/// What makes this change unique, for its Message-ID.
fn change_tag(notice: &Notice) -> String {
    if let Some(c) = notice.comment {
        return c.id.to_string();
    }
    if let Some(sla) = notice.sla {
        let due = sla
            .due_at
            .map_or_else(|| "none".to_string(), |d| d.timestamp_millis().to_string());
        return format!("{}-{due}", sla.clock.as_str());
    }
    notice.ticket.updated_at.timestamp_millis().to_string()
}

/// A short stable hash of an address (the first 6 bytes of its SHA-256,
/// hex), so a Message-ID differs per recipient without showing who.
fn recipient_tag(address: &str) -> String {
    let digest = digest::digest(&digest::SHA256, address.to_lowercase().as_bytes());
    digest.as_ref()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn message_id(notice: &Notice, ctx: &EmailContext, to: &str) -> String {
    format!(
        "<tkt-{}-{}-{}-{}@{}>",
        notice.ticket.request_id,
        notice.event,
        change_tag(notice),
        recipient_tag(to),
        message_domain(ctx.domain)
    )
}

/// The subject of every email to the requester (after `Re: ` but the first).
fn requester_subject(ticket: &Ticket) -> String {
    format!(
        "[{}] {}",
        reference(ticket),
        summary(ticket, SUBJECT_SUMMARY_CHARS)
    )
}

fn requester_email(notice: &Notice, ctx: &EmailContext, kind: &'static str) -> Option<Email> {
    let ticket = notice.ticket;
    let to = ticket.private.requester_email.as_deref()?;
    let r = reference(ticket);
    let mut body = vec![Part::Para(format!(
        "Hello {},",
        ticket.request_details.requester
    ))];
    let follow_hint =
        "To reply or reopen it, use the follow link from our first email about this ticket.";
    match kind {
        "requester_created" => {
            body.push(Part::Para(format!(
                "We received your ticket {r} and will get back to you."
            )));
            body.push(Part::Facts(vec![
                ("Ticket", r.clone()),
                ("System", ticket.request_details.system.clone()),
                ("Priority", ticket.priority.as_str().to_string()),
            ]));
            body.push(Part::Para("You wrote:".into()));
            body.push(Part::Quote(ticket.request_details.description.clone()));
            match &ctx.follow_link {
                Some(link) => {
                    body.push(Part::Link("Follow your ticket and reply", link.clone()));
                    body.push(Part::Para(
                        "Keep this link to yourself: whoever has it can read and answer the ticket."
                            .into(),
                    ));
                }
                None => body.push(Part::Para(
                    "Keep the follow link you were given when you submitted it: it lets you read and answer the ticket."
                        .into(),
                )),
            }
        }
        "requester_reply" => {
            let comment = notice.public_comment()?;
            body.push(Part::Para(format!(
                "{} replied to your ticket {r}:",
                comment.author
            )));
            body.push(Part::Quote(comment.body.clone()));
            push_follow(&mut body, ctx, follow_hint);
        }
        _ => {
            body.push(Part::Para(format!("Your ticket {r} was resolved.")));
            body.push(Part::Para("You wrote:".into()));
            body.push(Part::Quote(summary(ticket, 200)));
            body.push(Part::Para(
                "If the problem is not fixed, reopen the ticket.".into(),
            ));
            push_follow(&mut body, ctx, follow_hint);
        }
    }
    let subject = requester_subject(ticket);
    let (subject, message_id, in_reply_to) = if kind == "requester_created" {
        (subject, thread_id(ticket, ctx.domain), None)
    } else {
        (
            format!("Re: {subject}"),
            message_id(notice, ctx, to),
            Some(thread_id(ticket, ctx.domain)),
        )
    };
    Some(finish(to, subject, message_id, in_reply_to, kind, &body))
}

fn push_follow(body: &mut Vec<Part>, ctx: &EmailContext, hint: &str) {
    match &ctx.follow_link {
        Some(link) => body.push(Part::Link("Open your ticket", link.clone())),
        None => body.push(Part::Para(hint.into())),
    }
}

fn staff_email(
    notice: &Notice,
    ctx: &EmailContext,
    kind: &'static str,
    name: &str,
    to: &str,
) -> Email {
    let ticket = notice.ticket;
    let r = reference(ticket);
    let mut body = vec![Part::Para(format!("Hello {name},"))];
    let what = match (kind, notice.sla) {
        ("staff_assigned", _) => {
            body.push(Part::Para(format!("Ticket {r} was assigned to you.")));
            "Assigned to you"
        }
        (_, Some(sla)) => {
            body.push(Part::Para(format!("Ticket {r}: {}", sla_line(sla))));
            if ticket.assignee.is_none() {
                body.push(Part::Para("Nobody is assigned to it.".into()));
            }
            match sla.state {
                ClockState::Breached => "SLA breached",
                _ => "SLA at risk",
            }
        }
        _ => {
            let what = if kind == "staff_sla_breached" {
                "SLA breached"
            } else {
                "SLA at risk"
            };
            body.push(Part::Para(format!("Ticket {r}: {what}.")));
            what
        }
    };
    let mut rows: Vec<(&'static str, String)> = facts(ticket)
        .into_iter()
        .map(|(label, value)| (label, value.to_string()))
        .collect();
    rows.push(("Status", ticket.status.as_str().to_string()));
    body.push(Part::Facts(rows));
    body.push(Part::Quote(ticket.request_details.description.clone()));
    body.push(Part::Link("Open the ticket", notice.link.clone()));
    let subject = format!("[{r}] {what}: {}", summary(ticket, SUBJECT_SUMMARY_CHARS));
    finish(
        to,
        subject,
        message_id(notice, ctx, to),
        Some(thread_id(ticket, ctx.domain)),
        kind,
        &body,
    )
}

/// A piece of an email's body; every string in it is raw text, escaped
/// when the HTML is written.
enum Part {
    Para(String),
    Facts(Vec<(&'static str, String)>),
    /// Someone's own words (a description, a comment), line breaks kept.
    Quote(String),
    Link(&'static str, String),
}

fn finish(
    to: &str,
    subject: String,
    message_id: String,
    in_reply_to: Option<String>,
    kind: &'static str,
    body: &[Part],
) -> Email {
    Email {
        to: to.to_string(),
        subject,
        message_id,
        in_reply_to,
        text: text(body),
        html: html(body),
        kind,
    }
}

const SIGNATURE: &str = "This message was sent by ticketd, the IT helpdesk.";

fn text(body: &[Part]) -> String {
    let mut out = String::new();
    for part in body {
        match part {
            Part::Para(p) => out.push_str(p),
            Part::Facts(rows) => {
                let width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0) + 1;
                let lines: Vec<String> = rows
                    .iter()
                    .map(|(label, value)| format!("  {:<width$} {value}", format!("{label}:")))
                    .collect();
                out.push_str(&lines.join("\n"));
            }
            Part::Quote(q) => {
                let lines: Vec<String> = q.lines().map(|l| format!("> {l}")).collect();
                out.push_str(&lines.join("\n"));
            }
            Part::Link(label, url) => {
                out.push_str(label);
                out.push_str(": ");
                out.push_str(url);
            }
        }
        out.push_str("\n\n");
    }
    out.push_str("-- \n");
    out.push_str(SIGNATURE);
    out.push('\n');
    out
}

fn html(body: &[Part]) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head>\n\
         <body style=\"font-family:sans-serif;line-height:1.4\">\n",
    );
    for part in body {
        match part {
            Part::Para(p) => out.push_str(&format!("<p>{}</p>\n", escape_html(p))),
            Part::Facts(rows) => {
                out.push_str("<table>\n");
                for (label, value) in rows {
                    out.push_str(&format!(
                        "<tr><th align=\"left\">{}</th><td>{}</td></tr>\n",
                        escape_html(label),
                        escape_html(value)
                    ));
                }
                out.push_str("</table>\n");
            }
            Part::Quote(q) => out.push_str(&format!(
                "<blockquote style=\"white-space:pre-wrap\">{}</blockquote>\n",
                escape_html(q)
            )),
            Part::Link(label, url) => {
                let web = url.starts_with("https://") || url.starts_with("http://");
                if web {
                    out.push_str(&format!(
                        "<p><a href=\"{}\">{}</a></p>\n",
                        escape_html(url),
                        escape_html(label)
                    ));
                } else {
                    out.push_str(&format!(
                        "<p>{}: {}</p>\n",
                        escape_html(label),
                        escape_html(url)
                    ));
                }
            }
        }
    }
    out.push_str(&format!(
        "<p style=\"color:#666\">{}</p>\n</body></html>\n",
        escape_html(SIGNATURE)
    ));
    out
}

/// Escapes `&`, `<`, `>`, `"` and `'` for HTML text and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};

    use super::super::fixtures;
    use super::*;
    use crate::tickets::conversation::AuthorRole;
    use crate::tickets::{SlaAnnouncement, SlaClock, Visibility};

    fn staff() -> Vec<StaffContact> {
        let c = |name: &str, role, email: Option<&str>| StaffContact {
            name: name.into(),
            role,
            email: email.map(str::to_string),
        };
        vec![
            c("dana", Role::Agent, Some("dana@example.com")),
            c("eve", Role::Agent, None),
            c("lee", Role::Admin, Some("lee@example.com")),
            c("max", Role::Admin, None),
            c("root", Role::Admin, Some("ops@example.com")),
            c("ops2", Role::Admin, Some("OPS@example.com")),
        ]
    }

    fn ctx(staff: &[StaffContact]) -> EmailContext<'_> {
        EmailContext {
            staff,
            domain: "help.example.com:8443",
            follow_link: None,
        }
    }

    fn who(emails: &[Email]) -> Vec<(&str, &str)> {
        emails.iter().map(|e| (e.kind, e.to.as_str())).collect()
    }

    #[test]
    fn email_the_requester_hears_of_creation_staff_replies_and_resolution() {
        let staff = staff();
        let t = fixtures::ticket("VPN drops every hour");
        let created = emails(
            &fixtures::notice("new_ticket", &t),
            &EmailContext {
                follow_link: Some("https://help.example.com/follow/abc?t=1&u=2".into()),
                ..ctx(&staff)
            },
        );
        assert_eq!(who(&created), [("requester_created", "ana@example.com")]);
        assert!(
            created[0]
                .text
                .contains("https://help.example.com/follow/abc?t=1&u=2")
        );
        assert!(
            created[0]
                .html
                .contains("href=\"https://help.example.com/follow/abc?t=1&amp;u=2\"")
        );

        let reply = fixtures::comment(AuthorRole::Agent, Visibility::Public, "Rebooted the VPN");
        let n = Notice {
            comment: Some(&reply),
            ..fixtures::notice("comment_added", &t)
        };
        let got = emails(&n, &ctx(&staff));
        assert_eq!(who(&got), [("requester_reply", "ana@example.com")]);
        assert!(got[0].text.contains("dana replied") && got[0].text.contains("Rebooted the VPN"));

        let mut resolved = t.clone();
        resolved.updated_at += Duration::hours(1);
        let got = emails(
            &fixtures::notice("ticket_resolved", &resolved),
            &ctx(&staff),
        );
        assert_eq!(who(&got), [("requester_resolved", "ana@example.com")]);
        assert!(got[0].text.contains("was resolved"));

        // No address, no email.
        let mut anonymous = t.clone();
        anonymous.private.requester_email = None;
        for event in ["new_ticket", "ticket_resolved"] {
            assert!(emails(&fixtures::notice(event, &anonymous), &ctx(&staff)).is_empty());
        }
        // Other events tell the requester nothing.
        for event in ["ticket_updated", "ticket_deleted", "comment_edited"] {
            assert!(emails(&fixtures::notice(event, &t), &ctx(&staff)).is_empty());
        }
    }

    #[test]
    fn email_nobody_gets_an_internal_note_or_the_requesters_own_reply() {
        let staff = staff();
        let mut t = fixtures::ticket("VPN drops");
        t.assignee = Some("dana".into());
        for comment in [
            fixtures::comment(AuthorRole::Agent, Visibility::Internal, "internal"),
            fixtures::comment(AuthorRole::Admin, Visibility::Internal, "internal"),
            fixtures::comment(AuthorRole::Requester, Visibility::Public, "mine"),
        ] {
            let n = Notice {
                comment: Some(&comment),
                ..fixtures::notice("comment_added", &t)
            };
            assert!(emails(&n, &ctx(&staff)).is_empty(), "{:?}", comment.body);
        }
        // A deleted reply is not sent either.
        let mut deleted = (*fixtures::comment(AuthorRole::Agent, Visibility::Public, "")).clone();
        deleted.deleted_at = Some(Utc::now());
        let n = Notice {
            comment: Some(&deleted),
            ..fixtures::notice("comment_added", &t)
        };
        assert!(emails(&n, &ctx(&staff)).is_empty());
    }

    #[test]
    fn email_staff_hear_of_their_assignment_only_when_it_changes() {
        let staff = staff();
        let before = fixtures::ticket("VPN drops");
        let mut after = before.clone();
        after.assignee = Some("dana".into());
        let n = Notice {
            before: Some(&before),
            ..fixtures::notice("ticket_updated", &after)
        };
        let got = emails(&n, &ctx(&staff));
        assert_eq!(who(&got), [("staff_assigned", "dana@example.com")]);
        assert!(
            got[0]
                .subject
                .starts_with("[TKT-6f1c6a8e] Assigned to you: VPN drops")
        );
        assert!(got[0].text.contains(&n.link));
        // Unchanged assignee (a priority change), no `before`, an assignee
        // without an address, and unassigning: no email.
        let n = Notice {
            before: Some(&after),
            ..fixtures::notice("ticket_updated", &after)
        };
        assert!(emails(&n, &ctx(&staff)).is_empty());
        assert!(emails(&fixtures::notice("ticket_updated", &after), &ctx(&staff)).is_empty());
        let mut to_eve = before.clone();
        to_eve.assignee = Some("eve".into());
        let n = Notice {
            before: Some(&before),
            ..fixtures::notice("ticket_updated", &to_eve)
        };
        assert!(emails(&n, &ctx(&staff)).is_empty());
        let n = Notice {
            before: Some(&after),
            ..fixtures::notice("ticket_updated", &before)
        };
        assert!(emails(&n, &ctx(&staff)).is_empty());
        // Reassigned from dana to lee: lee hears of it.
        let mut to_lee = after.clone();
        to_lee.assignee = Some("lee".into());
        let n = Notice {
            before: Some(&after),
            ..fixtures::notice("ticket_updated", &to_lee)
        };
        assert_eq!(
            who(&emails(&n, &ctx(&staff))),
            [("staff_assigned", "lee@example.com")]
        );
    }

    #[test]
    fn email_sla_alerts_go_to_the_assignee_or_else_every_admin_with_an_address() {
        let staff = staff();
        let due = Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap();
        let warning = SlaAnnouncement {
            clock: SlaClock::FirstResponse,
            state: ClockState::AtRisk,
            due_at: Some(due),
        };
        let breach = SlaAnnouncement {
            state: ClockState::Breached,
            ..warning
        };
        let mut t = fixtures::ticket("VPN drops");
        t.assignee = Some("dana".into());
        let n = Notice {
            sla: Some(&warning),
            ..fixtures::notice("sla_warning", &t)
        };
        let got = emails(&n, &ctx(&staff));
        assert_eq!(who(&got), [("staff_sla_warning", "dana@example.com")]);
        assert!(got[0].subject.starts_with("[TKT-6f1c6a8e] SLA at risk: "));
        assert!(
            got[0]
                .text
                .contains("The first response target is at risk (due 2026-12-03 12:00 UTC).")
        );
        t.assignee = None;
        let n = Notice {
            sla: Some(&breach),
            ..fixtures::notice("sla_breached", &t)
        };
        let got = emails(&n, &ctx(&staff));
        // Admins with an address, each address once; agents never.
        assert_eq!(
            who(&got),
            [
                ("staff_sla_breached", "lee@example.com"),
                ("staff_sla_breached", "ops@example.com"),
            ]
        );
        assert!(got[0].text.contains("Nobody is assigned"));
        // An assignee without an address: the admins are told instead.
        t.assignee = Some("eve".into());
        let n = Notice {
            sla: Some(&breach),
            ..fixtures::notice("sla_breached", &t)
        };
        assert_eq!(emails(&n, &ctx(&staff)).len(), 2);
        // The requester is never told of an SLA.
        assert!(
            emails(&n, &ctx(&staff))
                .iter()
                .all(|e| e.to != "ana@example.com")
        );
    }

    #[test]
    fn email_html_escapes_every_piece_of_ticket_text() {
        let staff = staff();
        let mut t = fixtures::ticket("<script>alert('x')</script> & \"quotes\"");
        t.request_details.requester = "<b>Ana</b>".into();
        t.request_details.system = "<img src=x onerror=alert(1)>".into();
        t.team = "R&D <team>".into();
        let created = emails(&fixtures::notice("new_ticket", &t), &ctx(&staff));
        let html = &created[0].html;
        assert!(!html.contains("<script>") && !html.contains("<b>Ana") && !html.contains("<img"));
        assert!(
            html.contains(
                "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quotes&quot;"
            )
        );
        assert!(html.contains("Hello &lt;b&gt;Ana&lt;/b&gt;,"));
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
        // The plain text keeps the words as written.
        assert!(created[0].text.contains("> <script>alert('x')</script>"));

        let reply = fixtures::comment(AuthorRole::Agent, Visibility::Public, "<i>done</i>");
        let mut with_name = (*reply).clone();
        with_name.author = "<dana>".into();
        let n = Notice {
            comment: Some(&with_name),
            ..fixtures::notice("comment_added", &t)
        };
        let html = &emails(&n, &ctx(&staff))[0].html;
        assert!(html.contains("&lt;i&gt;done&lt;/i&gt;") && html.contains("&lt;dana&gt; replied"));

        let before = t.clone();
        t.assignee = Some("dana".into());
        let n = Notice {
            before: Some(&before),
            ..fixtures::notice("ticket_updated", &t)
        };
        let html = &emails(&n, &ctx(&staff))[0].html;
        assert!(html.contains("<td>R&amp;D &lt;team&gt;</td>"));
        assert!(!html.contains("<script>"));
        // A link that is not http(s) never becomes an href.
        let n = Notice {
            before: Some(&before),
            link: "javascript:alert(1)".into(),
            ..fixtures::notice("ticket_updated", &t)
        };
        assert!(!emails(&n, &ctx(&staff))[0].html.contains("href"));
    }

    #[test]
    fn email_subjects_carry_the_reference_and_a_short_description() {
        let staff = staff();
        let long = format!("Printer\tjams {}\nsecond line", "a".repeat(100));
        let t = fixtures::ticket(&long);
        let created = &emails(&fixtures::notice("new_ticket", &t), &ctx(&staff))[0];
        assert!(
            created
                .subject
                .starts_with("[TKT-6f1c6a8e] Printer jams aaa")
        );
        assert!(created.subject.ends_with('…'));
        assert!(!created.subject.contains('\n') && !created.subject.contains('\t'));
        assert_eq!(
            created.subject.chars().count(),
            "[TKT-6f1c6a8e] ".len() + SUBJECT_SUMMARY_CHARS
        );
        let resolved = &emails(&fixtures::notice("ticket_resolved", &t), &ctx(&staff))[0];
        assert_eq!(resolved.subject, format!("Re: {}", created.subject));
    }

    #[test]
    fn email_threading_headers_are_stable_and_point_at_the_creation_email() {
        let staff = staff();
        let mut t = fixtures::ticket("VPN drops");
        let thread = "<tkt-6f1c6a8e-3f0b-4a53-9a57-0f8f3c7f1d2a@help.example.com>";
        let created = &emails(&fixtures::notice("new_ticket", &t), &ctx(&staff))[0];
        assert_eq!(created.message_id, thread);
        assert_eq!(created.in_reply_to, None);

        let reply = fixtures::comment(AuthorRole::Agent, Visibility::Public, "Rebooted");
        let n = Notice {
            comment: Some(&reply),
            ..fixtures::notice("comment_added", &t)
        };
        let first = emails(&n, &ctx(&staff));
        let again = emails(&n, &ctx(&staff));
        assert_eq!(first, again, "a redelivery renders the same email");
        let id = &first[0].message_id;
        assert_eq!(first[0].in_reply_to.as_deref(), Some(thread));
        assert!(
            id.starts_with(
                "<tkt-6f1c6a8e-3f0b-4a53-9a57-0f8f3c7f1d2a-comment_added-0b9d1b9e-5a57-4c4e-8f5a-0c8a2e4b7d11-"
            ) && id.ends_with("@help.example.com>"),
            "{id}"
        );
        assert!(!id.contains("ana"), "the address never shows");

        // Two resolutions (reopened in between) are two changes.
        let r1 = emails(&fixtures::notice("ticket_resolved", &t), &ctx(&staff));
        t.updated_at += Duration::minutes(5);
        let r2 = emails(&fixtures::notice("ticket_resolved", &t), &ctx(&staff));
        assert_ne!(r1[0].message_id, r2[0].message_id);
        assert_eq!(r2[0].in_reply_to.as_deref(), Some(thread));

        // Per recipient: the admins' copies of one alert differ.
        t.assignee = None;
        let sla = SlaAnnouncement {
            clock: SlaClock::Resolution,
            state: ClockState::Breached,
            due_at: None,
        };
        let n = Notice {
            sla: Some(&sla),
            ..fixtures::notice("sla_breached", &t)
        };
        let alerts = emails(&n, &ctx(&staff));
        assert_eq!(alerts.len(), 2);
        assert_ne!(alerts[0].message_id, alerts[1].message_id);
        assert!(
            alerts
                .iter()
                .all(|e| e.message_id.contains("-sla_breached-resolution-none-"))
        );
        assert!(
            alerts
                .iter()
                .all(|e| e.in_reply_to.as_deref() == Some(thread))
        );
        assert!(!format!("{alerts:?}").contains("lee@"), "Debug hides `to`");
    }

    #[test]
    fn email_message_domain_is_a_clean_host() {
        assert_eq!(message_domain("Help.Example.com:8443"), "help.example.com");
        assert_eq!(message_domain(" bad host>\r\n"), "badhost");
        assert_eq!(message_domain(""), "ticketd.invalid");
        assert_eq!(message_domain("[::1]:8443"), "ticketd.invalid");
    }
}
