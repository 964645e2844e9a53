//! A Slack incoming-webhook body for a ticket's change.
//!
//! ```json
//! {"text": "HIGH · New ticket · TKT-6f1c6a8e: VPN drops every hour",
//!  "blocks": [
//!   {"type": "header", "text": {"type": "plain_text", "text": "HIGH · New ticket · TKT-6f1c6a8e"}},
//!   {"type": "section", "text": {"type": "mrkdwn", "text": "VPN drops every hour"}},
//!   {"type": "section", "fields": [{"type": "mrkdwn", "text": "*System*\nVPN"}, …]},
//!   {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Open ticket"}, "url": "https://…"}]}]}
//! ```
//!
//! Every piece of ticket text goes into `mrkdwn` text with `&`, `<` and `>`
//! escaped (Slack's rule: otherwise `<!channel>` pings a channel and
//! `<https://evil|bank>` hides a link); the `plain_text` parts (the header,
//! the button) hold only fixed words, the priority and the reference.
//! Slack refuses a section text over 3,000 characters (and a field over
//! 2,000) with a 400, so long texts are cut after escaping, on a character
//! boundary and never inside an entity, ending in "…". The requester's email
//! address is never part of a message; an internal note's text neither.

use serde_json::{Value, json};

use super::{Notice, facts, reference, sla_line, summary, title};

/// The most characters Slack accepts in a section's text.
pub const SECTION_MAX_CHARS: usize = 3_000;
/// The most characters Slack accepts in one of a section's fields.
pub const FIELD_MAX_CHARS: usize = 2_000;
/// The fallback line (notifications, old clients) is kept short.
const FALLBACK_SUMMARY_CHARS: usize = 150;

/// Escapes `&`, `<` and `>` as Slack's mrkdwn requires.
pub fn escape(text: &str) -> String {
    escape_within(text, usize::MAX)
}

/// The escaped form of one character.
fn escaped(c: char) -> Option<&'static str> {
    match c {
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        _ => None,
    }
}

/// Escapes `text` and cuts the result to at most `max` characters (counted
/// after escaping, as Slack counts), ending in "…" when cut; an entity is
/// never split.
pub fn escape_within(text: &str, max: usize) -> String {
    let width = |c: char| escaped(c).map_or(1, str::len);
    let total: usize = text.chars().map(width).sum();
    let budget = if total <= max {
        usize::MAX
    } else {
        max.saturating_sub(1)
    };
    let mut out = String::with_capacity(text.len().min(max.saturating_mul(4)));
    let mut used = 0;
    for c in text.chars() {
        let w = width(c);
        if used + w > budget {
            out.push('…');
            return out;
        }
        used += w;
        match escaped(c) {
            Some(entity) => out.push_str(entity),
            None => out.push(c),
        }
    }
    out
}

/// A `mrkdwn` text object.
fn mrkdwn(text: String) -> Value {
    json!({"type": "mrkdwn", "text": text})
}

/// The webhook body for `notice`.
pub fn message(notice: &Notice) -> Value {
    let ticket = notice.ticket;
    let headline = format!(
        "{} · {} · {}",
        ticket.priority.as_str(),
        title(notice.event),
        reference(ticket)
    );
    let fallback = format!(
        "{headline}: {}",
        escape_within(
            &summary(ticket, FALLBACK_SUMMARY_CHARS),
            FALLBACK_SUMMARY_CHARS
        )
    );
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": headline, "emoji": false}}),
    ];
    if let Some(sla) = notice.sla {
        blocks.push(json!({"type": "section", "text": mrkdwn(format!("*{}*", sla_line(sla)))}));
    }
    blocks.push(json!({
        "type": "section",
        "text": mrkdwn(escape_within(&ticket.request_details.description, SECTION_MAX_CHARS)),
    }));
    if let Some(comment) = notice.public_comment() {
        let head = format!("*{}* wrote:\n", escape(&comment.author));
        let room = SECTION_MAX_CHARS.saturating_sub(head.chars().count());
        let text = head + &escape_within(&comment.body, room);
        blocks.push(json!({"type": "section", "text": mrkdwn(text)}));
    }
    let fields: Vec<Value> = facts(ticket)
        .into_iter()
        .skip(1) // the priority is in the header
        .map(|(label, value)| {
            let head = format!("*{label}*\n");
            let room = FIELD_MAX_CHARS - head.len();
            mrkdwn(head + &escape_within(value, room))
        })
        .collect();
    blocks.push(json!({"type": "section", "fields": fields}));
    blocks.push(json!({
        "type": "actions",
        "elements": [{
            "type": "button",
            "text": {"type": "plain_text", "text": "Open ticket"},
            "url": notice.link,
        }],
    }));
    json!({"text": fallback, "blocks": blocks})
}

#[cfg(test)]
mod tests {
    use super::super::fixtures;
    use super::*;
    use crate::sla::ClockState;
    use crate::tickets::conversation::AuthorRole;
    use crate::tickets::{SlaAnnouncement, SlaClock, Visibility};

    /// Every `text` string anywhere in the body.
    fn texts(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    match v {
                        Value::String(s) if key == "text" => out.push(s.clone()),
                        _ => texts(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| texts(v, out)),
            _ => {}
        }
    }

    #[test]
    fn slack_escapes_every_piece_of_ticket_text() {
        let mut t = fixtures::ticket("<!channel> R&D <https://evil.example|bank> down");
        t.request_details.system = "<sys>".into();
        t.request_details.requester = "A&B".into();
        t.team = "<!here>".into();
        t.assignee = Some("x>y".into());
        let c = fixtures::comment(AuthorRole::Agent, Visibility::Public, "see <#C123> & retry");
        let notice = super::super::Notice {
            comment: Some(&c),
            ..fixtures::notice("comment_added", &t)
        };
        let body = message(&notice);
        let mut all = Vec::new();
        texts(&body, &mut all);
        let joined = all.join("\n");
        for raw in [
            "<!channel>",
            "<https://",
            "<sys>",
            "<!here>",
            "x>y",
            "<#C123>",
        ] {
            assert!(!joined.contains(raw), "{raw} unescaped in {joined}");
        }
        assert!(joined.contains("&lt;!channel&gt; R&amp;D &lt;https://evil.example|bank&gt;"));
        assert!(joined.contains("*Requester*\nA&amp;B"));
        assert!(joined.contains("*Assignee*\nx&gt;y"));
        assert!(joined.contains("see &lt;#C123&gt; &amp; retry"));
        assert!(body["text"].as_str().unwrap().contains("&lt;!channel&gt;"));
    }

    #[test]
    fn slack_a_10000_character_description_fits_every_limit() {
        // Escaping makes it longer still: "&" is five characters escaped.
        let long: String = "é&<".repeat(3_334);
        assert!(long.chars().count() >= 10_000);
        let t = fixtures::ticket(&long);
        let c = fixtures::comment(AuthorRole::Admin, Visibility::Public, &long);
        let notice = super::super::Notice {
            comment: Some(&c),
            ..fixtures::notice("comment_added", &t)
        };
        let body = message(&notice);
        let mut all = Vec::new();
        texts(&body, &mut all);
        for text in &all {
            assert!(text.chars().count() <= SECTION_MAX_CHARS, "{}", text.len());
        }
        let description = body["blocks"][1]["text"]["text"].as_str().unwrap();
        assert!(description.ends_with('…'), "cut and marked");
        assert!(
            description.chars().count() > 2_990,
            "filled up to the limit"
        );
        // No entity is split at the cut.
        let before_mark = description.trim_end_matches('…');
        assert!(
            before_mark.ends_with("&amp;")
                || before_mark.ends_with("&lt;")
                || before_mark.ends_with('é')
        );
        for field in body["blocks"][3]["fields"].as_array().unwrap() {
            assert!(field["text"].as_str().unwrap().chars().count() <= FIELD_MAX_CHARS);
        }
        assert!(
            body["blocks"][0]["text"]["text"]
                .as_str()
                .unwrap()
                .chars()
                .count()
                <= 150
        );
    }

    #[test]
    fn slack_links_back_and_shows_the_facts() {
        let mut t = fixtures::ticket("VPN drops every hour");
        t.assignee = Some("dana".into());
        let notice = fixtures::notice("new_ticket", &t);
        let body = message(&notice);
        let blocks = body["blocks"].as_array().unwrap();
        let actions = blocks.iter().find(|b| b["type"] == "actions").unwrap();
        assert_eq!(actions["elements"][0]["url"], notice.link.as_str());
        assert_eq!(blocks[0]["type"], "header");
        let header = blocks[0]["text"]["text"].as_str().unwrap();
        assert!(header.starts_with(t.priority.as_str()), "{header}");
        assert!(header.contains("New ticket") && header.contains("TKT-6f1c6a8e"));
        let fields: Vec<&str> = blocks[2]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["text"].as_str().unwrap())
            .collect();
        assert_eq!(
            fields,
            [
                "*System*\nVPN",
                "*Requester*\nAna",
                &*format!("*Team*\n{}", t.team),
                "*Assignee*\ndana",
            ]
        );
        assert!(
            !body.to_string().contains("ana@example.com"),
            "never the email"
        );
    }

    #[test]
    fn slack_never_shows_an_internal_note_and_announces_sla() {
        let t = fixtures::ticket("VPN drops");
        let c = fixtures::comment(AuthorRole::Agent, Visibility::Internal, "secret note");
        let notice = super::super::Notice {
            comment: Some(&c),
            ..fixtures::notice("comment_added", &t)
        };
        assert!(!message(&notice).to_string().contains("secret note"));
        let sla = SlaAnnouncement {
            clock: SlaClock::Resolution,
            state: ClockState::Breached,
            due_at: None,
        };
        let notice = super::super::Notice {
            sla: Some(&sla),
            ..fixtures::notice("sla_breached", &t)
        };
        let body = message(&notice);
        assert!(
            body["blocks"][0]["text"]["text"]
                .as_str()
                .unwrap()
                .contains("SLA breached")
        );
        assert_eq!(
            body["blocks"][1]["text"]["text"],
            "*The resolution target was breached.*"
        );
    }
}
