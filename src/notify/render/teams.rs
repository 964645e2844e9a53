//! An Adaptive Card for a ticket's change, in the envelope a Teams
//! Workflows webhook ("When a Teams webhook request is received") accepts;
//! the old Office 365 connectors' MessageCard is retired.
//!
//! ```json
//! {"type": "message",
//!  "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": null,
//!   "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
//!    "type": "AdaptiveCard", "version": "1.4",
//!    "body": [{"type": "TextBlock", "text": "HIGH · New ticket · TKT-6f1c6a8e", "weight": "Bolder", …},
//!             {"type": "FactSet", "facts": [{"title": "Priority", "value": "HIGH"}, …]},
//!             {"type": "TextBlock", "text": "VPN drops every hour", "wrap": true}],
//!    "actions": [{"type": "Action.OpenUrl", "title": "Open ticket", "url": "https://…"}]}}]}
//! ```
//!
//! A TextBlock renders a subset of Markdown, which has no reliable escape in
//! Teams; so that a submitter cannot hide a link behind innocent words, the
//! link syntax `](` in ticket text is broken up (`] (`), leaving the URL
//! visible. Texts are cut to 3,000 characters (a card must stay under Teams'
//! ~28 KB message limit). Never the requester's email address, never an
//! internal note's text.

use serde_json::{Value, json};

use super::{Notice, facts, reference, shorten, sla_line, title};

/// The most characters of one text (the description, a comment) in a card.
pub const TEXT_MAX_CHARS: usize = 3_000;

/// Ticket text as a TextBlock shows it: Markdown links broken up, then cut.
fn text(raw: &str, max: usize) -> String {
    shorten(&raw.replace("](", "] ("), max)
}

fn text_block(text: String) -> Value {
    json!({"type": "TextBlock", "text": text, "wrap": true})
}

/// The webhook body for `notice`.
pub fn card(notice: &Notice) -> Value {
    let ticket = notice.ticket;
    let headline = format!(
        "{} · {} · {}",
        ticket.priority.as_str(),
        title(notice.event),
        reference(ticket)
    );
    let mut body = vec![json!({
        "type": "TextBlock",
        "text": headline,
        "weight": "Bolder",
        "size": "Medium",
        "wrap": true,
    })];
    if let Some(sla) = notice.sla {
        body.push(json!({
            "type": "TextBlock",
            "text": sla_line(sla),
            "color": "Attention",
            "wrap": true,
        }));
    }
    let facts: Vec<Value> = facts(ticket)
        .into_iter()
        .map(|(label, value)| json!({"title": label, "value": text(value, 200)}))
        .collect();
    body.push(json!({"type": "FactSet", "facts": facts}));
    body.push(text_block(text(
        &ticket.request_details.description,
        TEXT_MAX_CHARS,
    )));
    if let Some(comment) = notice.public_comment() {
        body.push(json!({
            "type": "TextBlock",
            "text": format!("{} wrote:", text(&comment.author, 200)),
            "weight": "Bolder",
            "separator": true,
            "wrap": true,
        }));
        body.push(text_block(text(&comment.body, TEXT_MAX_CHARS)));
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
                "actions": [{"type": "Action.OpenUrl", "title": "Open ticket", "url": notice.link}],
            },
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixtures;
    use super::*;
    use crate::tickets::Visibility;
    use crate::tickets::conversation::AuthorRole;

    #[test]
    fn teams_card_has_the_workflows_envelope_and_shape() {
        let mut t = fixtures::ticket("VPN drops every hour");
        t.assignee = Some("dana".into());
        let notice = fixtures::notice("new_ticket", &t);
        let v = card(&notice);
        assert_eq!(v["type"], "message");
        let attachments = v["attachments"].as_array().unwrap();
        assert_eq!(attachments.len(), 1);
        let a = &attachments[0];
        assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
        assert!(a["contentUrl"].is_null());
        let c = &a["content"];
        assert_eq!(
            c["$schema"],
            "http://adaptivecards.io/schemas/adaptive-card.json"
        );
        assert_eq!(c["type"], "AdaptiveCard");
        assert_eq!(c["version"], "1.4");
        assert_eq!(
            c["actions"],
            json!([{"type": "Action.OpenUrl", "title": "Open ticket", "url": notice.link}])
        );
        let body = c["body"].as_array().unwrap();
        assert_eq!(body[0]["type"], "TextBlock");
        let headline = body[0]["text"].as_str().unwrap();
        assert!(headline.contains("New ticket") && headline.contains("TKT-6f1c6a8e"));
        assert_eq!(body[1]["type"], "FactSet");
        let facts: Vec<(&str, &str)> = body[1]["facts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["title"].as_str().unwrap(), f["value"].as_str().unwrap()))
            .collect();
        assert_eq!(
            facts,
            [
                ("Priority", t.priority.as_str()),
                ("System", "VPN"),
                ("Requester", "Ana"),
                ("Team", t.team.as_str()),
                ("Assignee", "dana"),
            ]
        );
        assert_eq!(
            body[2],
            json!({"type": "TextBlock", "text": "VPN drops every hour", "wrap": true})
        );
        assert_eq!(body.len(), 3);
        assert!(!v.to_string().contains("ana@example.com"));
    }

    #[test]
    fn teams_breaks_markdown_links_cuts_long_text_and_hides_internal_notes() {
        let long = format!(
            "[Reset your password](https://evil.example) {}",
            "x".repeat(10_000)
        );
        let t = fixtures::ticket(&long);
        let note = fixtures::comment(AuthorRole::Agent, Visibility::Internal, "secret note");
        let notice = super::super::Notice {
            comment: Some(&note),
            ..fixtures::notice("comment_added", &t)
        };
        let v = card(&notice);
        let body = v["attachments"][0]["content"]["body"].as_array().unwrap();
        let description = body[2]["text"].as_str().unwrap();
        assert!(description.starts_with("[Reset your password] (https://evil.example)"));
        assert_eq!(description.chars().count(), TEXT_MAX_CHARS);
        assert!(!v.to_string().contains("secret note"));
        let reply = fixtures::comment(AuthorRole::Agent, Visibility::Public, "Rebooted it");
        let notice = super::super::Notice {
            comment: Some(&reply),
            ..fixtures::notice("comment_added", &t)
        };
        let v = card(&notice);
        let body = v["attachments"][0]["content"]["body"].as_array().unwrap();
        assert_eq!(body[3]["text"], "dana wrote:");
        assert_eq!(body[4]["text"], "Rebooted it");
    }
}
