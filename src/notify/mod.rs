//! Outbound notifications: signed webhooks, Slack, Microsoft Teams and
//! email, fed from one durable outbox. A transport that points outwards,
//! beside `http` and `ws`: the core never calls it; the service hands it
//! each durable batch through [`crate::service::Outbound`].
//!
//! The path of an event:
//! 1. The store's writer thread makes a batch durable and calls the
//!    service's hook, which calls [`Notifier::committed`] *before* the bus
//!    hears of it. For each change event and each endpoint that wants it
//!    (event, minimum priority, audience), the body is rendered and the
//!    delivery appended to the outbox with one fdatasync
//!    ([`outbox::Outbox::enqueue`]).
//! 2. One worker per endpoint ([`deliver`]) takes what is due, a few at a
//!    time, signs and sends it (10 s limit, no redirects, only 2xx is
//!    success), and records the attempt durably; a failure is retried on the
//!    schedule, then failed; an endpoint failing for days is disabled, which
//!    staff hear of (an event, a metric, the audit trail). A slow endpoint
//!    delays only itself: commits never wait on the network.
//!
//! - [`config`]: the endpoints file, secrets, retry schedule.
//! - [`outbox`]: the durable queue and the deliveries' history.
//! - [`sign`]: Standard Webhooks signatures.
//! - [`render`]: what a Slack message, a Teams card and an email say.
//! - [`smtp`]: the SMTP client (lettre), the queued email, the follow key.
//! - [`deliver`]: the workers and the HTTP client.

pub mod config;
pub mod deliver;
pub mod outbox;
pub mod render;
pub mod sign;
pub mod smtp;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use chrono::Utc;
use tokio::sync::Notify;

use crate::events::{Audience, Published};
use crate::service::Outbound;
use crate::store::Committed;
use crate::tickets::Outcome;

pub use config::{Endpoint, Kind, NotifyConfig};
pub use outbox::{Disabled, Outbox};

/// The outbox's name for the email channel (no webhook endpoint may take it).
pub const EMAIL: &str = "email";

/// The email channel: the client, and what addressing needs.
pub struct EmailSetup {
    pub mailer: Arc<smtp::Mailer>,
    /// The right-hand side of Message-IDs (the public origin's host).
    pub domain: String,
    /// Staff names, roles and addresses (the staff file).
    pub staff: Vec<crate::auth::StaffContact>,
}

/// Told when an endpoint is disabled (the server wires it to the bus, the
/// audit trail and the log).
pub type Alarm = Box<dyn Fn(&Disabled) + Send + Sync>;

/// The outbound side: configuration, the outbox and the workers' bells.
pub struct Notifier {
    pub config: NotifyConfig,
    pub outbox: Arc<Outbox>,
    /// Where tickets are linked to: the app's public origin.
    public_origin: String,
    /// One bell per endpoint, rung when it has new work.
    bells: HashMap<String, Arc<Notify>>,
    alarm: OnceLock<Alarm>,
    /// Email, when `--smtp-host` is set.
    pub email: Option<EmailSetup>,
}

impl Notifier {
    /// Opens the outbox in the data directory.
    pub fn open(
        config: NotifyConfig,
        data_dir: &Path,
        public_origin: &str,
        email: Option<EmailSetup>,
    ) -> std::io::Result<Arc<Notifier>> {
        let mut names: Vec<String> = config.endpoints.iter().map(|e| e.name.clone()).collect();
        if email.is_some() {
            names.push(EMAIL.to_string());
        }
        let outbox = Arc::new(Outbox::open(data_dir, &names)?);
        let bells = names
            .iter()
            .map(|n| (n.clone(), Arc::new(Notify::new())))
            .collect();
        Ok(Arc::new(Notifier {
            config,
            outbox,
            public_origin: public_origin.trim_end_matches('/').to_string(),
            bells,
            alarm: OnceLock::new(),
            email,
        }))
    }

    /// Sets who hears of a disabled endpoint (once).
    pub fn set_alarm(&self, alarm: Alarm) {
        let _ = self.alarm.set(alarm);
    }

    pub(crate) fn bell(&self, endpoint: &str) -> Option<Arc<Notify>> {
        self.bells.get(endpoint).cloned()
    }

    pub(crate) fn raise(&self, disabled: &Disabled) {
        if let Some(alarm) = self.alarm.get() {
            alarm(disabled);
        }
    }

    /// The browser app's address of a ticket: the board searched for its id.
    pub fn ticket_link(&self, id: &crate::tickets::TicketId) -> String {
        format!("{}/?q={id}", self.public_origin)
    }

    /// Rings an endpoint's bell (a redelivery, an enable).
    pub fn wake(&self, endpoint: &str) {
        if let Some(bell) = self.bells.get(endpoint) {
            bell.notify_one();
        }
    }
}

impl Outbound for Notifier {
    fn committed(&self, batch: &Committed<'_>, published: &[Published]) {
        if self.config.endpoints.is_empty() && self.email.is_none() {
            return;
        }
        let now = Utc::now();
        let mut deliveries = Vec::new();
        for (((version, outcome), before), frame) in
            batch.changes.iter().zip(batch.befores).zip(published)
        {
            let event = frame.event;
            let ticket = match outcome {
                Outcome::Deleted(t) => Some(t),
                other => other.ticket(),
            };
            let priority = ticket.map(|t| t.priority);
            let staff_only = frame.audience == Audience::Staff;
            let notice = ticket.map(|ticket| render::Notice {
                event,
                ticket,
                before: before.as_deref(),
                comment: match outcome {
                    Outcome::Commented { comment, .. } => Some(&**comment),
                    _ => None,
                },
                sla: match outcome {
                    Outcome::SlaAnnounced { announcement, .. } => Some(announcement),
                    _ => None,
                },
                link: self.ticket_link(&ticket.request_id),
            });
            let mut queue = |endpoint: &str, body: Arc<str>| {
                deliveries.push(outbox::Delivery {
                    id: format!("msg_{}", uuid::Uuid::new_v4().simple()),
                    endpoint: endpoint.to_string(),
                    event: event.to_string(),
                    ticket: ticket.map(|t| t.request_id),
                    version: *version,
                    created: now,
                    body,
                });
            };
            // The Standard Webhooks body, made once per event.
            let mut standard: Option<Arc<str>> = None;
            for endpoint in &self.config.endpoints {
                if !endpoint.wants(event, priority, staff_only) {
                    continue;
                }
                let body: Arc<str> = match (endpoint.kind, &notice) {
                    (Kind::Webhook, _) => standard
                        .get_or_insert_with(|| {
                            let body = serde_json::json!({
                                "type": event,
                                "timestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                                "data": frame.data(),
                            });
                            Arc::from(body.to_string())
                        })
                        .clone(),
                    (Kind::Slack, Some(notice)) => Arc::from(render::slack::message(notice).to_string()),
                    (Kind::Teams, Some(notice)) => Arc::from(render::teams::card(notice).to_string()),
                    // A clear names no ticket: nothing for a chat to show.
                    (_, None) => continue,
                };
                queue(&endpoint.name, body);
            }
            let (Some(email), Some(notice)) = (&self.email, &notice) else {
                continue;
            };
            let context = render::email::EmailContext {
                staff: &email.staff,
                domain: &email.domain,
                follow_link: (event == "new_ticket").then(|| smtp::FOLLOW_LINK.to_string()),
            };
            for message in render::email::emails(notice, &context) {
                let follow = (message.text.contains(smtp::FOLLOW_LINK)
                    || message.html.contains(smtp::FOLLOW_LINK))
                .then_some(notice.ticket.request_id);
                let queued = smtp::QueuedEmail {
                    to: message.to,
                    subject: message.subject,
                    message_id: message.message_id,
                    in_reply_to: message.in_reply_to,
                    text: message.text,
                    html: message.html,
                    kind: message.kind.to_string(),
                    follow,
                };
                queue(
                    EMAIL,
                    Arc::from(serde_json::to_string(&queued).expect("an email serializes")),
                );
            }
        }
        let first_wait = self
            .config
            .delivery
            .retry_schedule
            .first()
            .copied()
            .unwrap_or_default();
        for endpoint in self.outbox.enqueue(deliveries, first_wait) {
            self.wake(&endpoint);
        }
    }
}
