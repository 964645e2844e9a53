//! The events the core announces, and the bus that carries them.
//!
//! An event is serialized once, into a [`Frame`] (`{"event","data"}` JSON
//! text in shared bytes), and the same bytes go to every subscriber: a
//! broadcast to 5,000 clients costs one serialization and 5,000 reference
//! counts, not 5,000 copies. A change event's frame also carries the stream
//! version it produced (`{"event","data","v"}`); the same [`Published`]
//! value goes on the bus and into the replay ring (`stream.rs`).

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::broadcast;

use crate::sla::{ClockState, SlaView};
use crate::store::Stats;
use crate::tickets::{Comment, CommentKind, SlaAnnouncement, Ticket, TicketId};

/// The events that change the store, each carrying the stream version `v`
/// (what a resuming client replays, what outbound endpoints subscribe to).
pub const CHANGE_EVENTS: &[&str] = &[
    "new_ticket",
    "ticket_updated",
    "ticket_resolved",
    "ticket_deleted",
    "all_tickets_cleared",
    "comment_added",
    "comment_edited",
    "comment_deleted",
    "sla_warning",
    "sla_breached",
];

/// One encoded event: UTF-8 JSON text, cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame(Bytes);

impl Frame {
    /// The JSON text's bytes (always valid UTF-8).
    pub fn bytes(&self) -> &Bytes {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        // Frames are only built from serde_json output, which is UTF-8.
        std::str::from_utf8(&self.0).expect("frames hold JSON text")
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The frame as an owned raw JSON value (to embed it in another
    /// document without re-parsing its parts).
    pub fn to_raw(&self) -> Box<RawValue> {
        RawValue::from_string(self.as_str().to_string()).expect("frames hold JSON text")
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `data` value alone, as raw JSON text (for transports with their
    /// own envelope). One parse of the frame; nothing is re-serialized.
    pub fn data(&self) -> Arc<RawValue> {
        #[derive(Deserialize)]
        struct Data {
            data: Box<RawValue>,
        }
        let parsed: Data = serde_json::from_slice(&self.0).expect("frames hold {event, data}");
        Arc::from(parsed.data)
    }
}

/// An event from server to client.
#[derive(Debug)]
pub enum Event<'a> {
    /// Once, right after connect: every ticket, oldest first.
    InitialTickets(&'a [Arc<Ticket>]),
    NewTicket(&'a Ticket),
    /// Direct reply to the sender of `submit_ticket` (and to a requester
    /// whose reply to a closed ticket started a new one): the follow token
    /// goes to the submitter alone, never on the bus.
    TicketSubmitted {
        request_id: TicketId,
        follow_token: Option<&'a str>,
        linked_to: Option<TicketId>,
        /// A retry answered with the ticket its idempotency key created.
        replayed: bool,
    },
    TicketUpdated(&'a Ticket),
    TicketResolved(&'a Ticket),
    TicketDeleted {
        ticket_id: TicketId,
        deleted_ticket: &'a Ticket,
    },
    AllTicketsCleared {
        count: usize,
    },
    StatsUpdate(&'a Stats),
    AdminSuccess {
        message: &'a str,
        action: &'a str,
    },
    Error {
        code: &'a str,
        message: &'a str,
    },
    /// An `error` with code `rate_limited` and how long to wait.
    RateLimited {
        message: &'a str,
        retry_after_ms: u64,
    },
    /// Right after the first sync or the replayed events: where the
    /// client's stream stands.
    SyncState(&'a SyncState),
    /// Direct reply to `authenticate`: the socket now acts as this staff
    /// member.
    Authenticated {
        user: &'a str,
        role: &'a str,
        expires_at: &'a str,
    },
    /// The socket's staff session ended (`expired` or `revoked`); it is
    /// anonymous again.
    SessionExpired {
        reason: &'a str,
    },
    /// A comment added, edited or deleted: `comment_added`,
    /// `comment_edited`, `comment_deleted`. Staff only when internal. `sla`
    /// is the ticket's clocks after it (a staff reply meets the first
    /// response).
    Comment {
        kind: CommentKind,
        ticket_id: TicketId,
        comment: &'a Comment,
        sla: Option<&'a SlaView>,
    },
    /// Direct reply to `add_comment`, `edit_comment`, `delete_comment`.
    CommentSaved {
        ticket_id: TicketId,
        comment: &'a Comment,
    },
    /// An SLA clock became at risk (`sla_warning`) or breached
    /// (`sla_breached`); `sla` is the ticket's whole view after it.
    Sla {
        ticket_id: TicketId,
        announcement: SlaAnnouncement,
        sla: Option<&'a SlaView>,
    },
    /// To staff: an outbound endpoint failed for too long and was disabled
    /// (`notify_endpoint_disabled`).
    EndpointDisabled {
        endpoint: &'a str,
        failing_since: &'a str,
        last_error: &'a str,
    },
}

/// Who may receive an event: decided by the event itself, checked by the
/// bus's every reader (live, resume, the changes API), so no transport can
/// forget it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Everyone,
    /// Signed-in agents and admins only (an internal note).
    Staff,
}

/// The data of `sync_state`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncState {
    /// The stream's identity; resume only against the same epoch.
    pub epoch: uuid::Uuid,
    /// The version the client is now at: pass it as `since` to resume.
    pub v: u64,
    /// Tickets in the store.
    pub total: usize,
    /// Tickets in `initial_tickets`, or events replayed when recovered.
    pub sent: usize,
    /// False when the first sync left tickets out (the API has them).
    pub complete: bool,
    /// True when the client resumed: it got the events it missed and no
    /// `initial_tickets`.
    pub recovered: bool,
}

#[derive(Serialize)]
struct Envelope<'a, D: Serialize> {
    event: &'static str,
    data: D,
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    reference: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    v: Option<u64>,
}

impl Event<'_> {
    /// Every event name, for metrics.
    pub const NAMES: [&'static str; 20] = [
        "initial_tickets",
        "new_ticket",
        "ticket_submitted",
        "ticket_updated",
        "ticket_resolved",
        "ticket_deleted",
        "all_tickets_cleared",
        "stats_update",
        "admin_success",
        "error",
        "sync_state",
        "authenticated",
        "session_expired",
        "comment_added",
        "comment_edited",
        "comment_deleted",
        "comment_saved",
        "sla_warning",
        "sla_breached",
        "notify_endpoint_disabled",
    ];

    /// The event's name on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            Event::InitialTickets(_) => "initial_tickets",
            Event::NewTicket(_) => "new_ticket",
            Event::TicketSubmitted { .. } => "ticket_submitted",
            Event::TicketUpdated(_) => "ticket_updated",
            Event::TicketResolved(_) => "ticket_resolved",
            Event::TicketDeleted { .. } => "ticket_deleted",
            Event::AllTicketsCleared { .. } => "all_tickets_cleared",
            Event::StatsUpdate(_) => "stats_update",
            Event::AdminSuccess { .. } => "admin_success",
            Event::Error { .. } | Event::RateLimited { .. } => "error",
            Event::SyncState(_) => "sync_state",
            Event::Authenticated { .. } => "authenticated",
            Event::SessionExpired { .. } => "session_expired",
            Event::Comment { kind, .. } => match kind {
                CommentKind::Added => "comment_added",
                CommentKind::Edited => "comment_edited",
                CommentKind::Deleted => "comment_deleted",
            },
            Event::CommentSaved { .. } => "comment_saved",
            Event::EndpointDisabled { .. } => "notify_endpoint_disabled",
            Event::Sla { announcement, .. } => match announcement.state {
                ClockState::Breached => "sla_breached",
                _ => "sla_warning",
            },
        }
    }

    /// Who may receive it.
    pub fn audience(&self) -> Audience {
        match self {
            Event::Comment { comment, .. } if !comment.is_public() => Audience::Staff,
            _ => Audience::Everyone,
        }
    }

    /// The `data` value alone, as JSON (for transports with their own
    /// envelope).
    pub fn data(&self) -> serde_json::Value {
        let value = match self {
            Event::InitialTickets(t) => serde_json::to_value(t),
            Event::NewTicket(t) | Event::TicketUpdated(t) | Event::TicketResolved(t) => {
                serde_json::to_value(t)
            }
            Event::TicketSubmitted {
                request_id,
                follow_token,
                linked_to,
                replayed,
            } => {
                let mut data = serde_json::json!({ "request_id": request_id });
                if *replayed {
                    data["replayed"] = true.into();
                }
                if let Some(token) = follow_token {
                    data["follow_token"] = (*token).into();
                }
                if let Some(linked) = linked_to {
                    data["linked_to"] = linked.to_string().into();
                }
                Ok(data)
            }
            Event::Comment {
                ticket_id,
                comment,
                sla,
                ..
            } => Ok(serde_json::json!({ "ticket_id": ticket_id, "comment": comment, "sla": sla })),
            Event::CommentSaved { ticket_id, comment } => {
                Ok(serde_json::json!({ "ticket_id": ticket_id, "comment": comment }))
            }
            Event::Sla {
                ticket_id,
                announcement,
                sla,
            } => Ok(serde_json::json!({
                "ticket_id": ticket_id,
                "clock": announcement.clock,
                "due_at": announcement.due_at,
                "sla": sla,
            })),
            Event::TicketDeleted {
                ticket_id,
                deleted_ticket,
            } => {
                Ok(serde_json::json!({ "ticket_id": ticket_id, "deleted_ticket": deleted_ticket }))
            }
            Event::AllTicketsCleared { count } => Ok(serde_json::json!({ "count": count })),
            Event::StatsUpdate(s) => serde_json::to_value(s),
            Event::SyncState(s) => serde_json::to_value(s),
            Event::AdminSuccess { message, action } => {
                Ok(serde_json::json!({ "message": message, "action": action }))
            }
            Event::Error { code, message } => {
                Ok(serde_json::json!({ "code": code, "message": message }))
            }
            Event::Authenticated {
                user,
                role,
                expires_at,
            } => Ok(serde_json::json!({ "user": user, "role": role, "expires_at": expires_at })),
            Event::SessionExpired { reason } => Ok(serde_json::json!({ "reason": reason })),
            Event::EndpointDisabled {
                endpoint,
                failing_since,
                last_error,
            } => Ok(serde_json::json!({
                "endpoint": endpoint,
                "failing_since": failing_since,
                "last_error": last_error,
            })),
            Event::RateLimited {
                message,
                retry_after_ms,
            } => Ok(serde_json::json!({
                "code": "rate_limited",
                "message": message,
                "retry_after_ms": retry_after_ms,
            })),
        };
        value.expect("events always serialize")
    }

    /// Encodes `{"event","data"}` (plus `"ref"` for a direct reply).
    pub fn encode(&self, reference: Option<&str>) -> Frame {
        self.encode_with(reference, None)
    }

    /// Encodes a change event: `{"event","data","v"}`.
    pub fn encode_change(&self, version: u64) -> Frame {
        self.encode_with(None, Some(version))
    }

    fn encode_with(&self, reference: Option<&str>, v: Option<u64>) -> Frame {
        let mut out = Vec::with_capacity(256);
        let event = self.name();
        let envelope = |data| Envelope {
            event,
            data,
            reference,
            v,
        };
        let result = match self {
            Event::InitialTickets(t) => {
                serde_json::to_writer(&mut out, &envelope(Data::Tickets(t)))
            }
            Event::NewTicket(t) | Event::TicketUpdated(t) | Event::TicketResolved(t) => {
                serde_json::to_writer(&mut out, &envelope(Data::Ticket(t)))
            }
            Event::StatsUpdate(s) => serde_json::to_writer(&mut out, &envelope(Data::Stats(s))),
            Event::SyncState(s) => serde_json::to_writer(&mut out, &envelope(Data::Sync(s))),
            _ => serde_json::to_writer(&mut out, &envelope(Data::Value(self.data()))),
        };
        result.expect("events always serialize");
        Frame(Bytes::from(out))
    }
}

/// An event's `data`, serialized in place (no intermediate JSON value for
/// tickets, which are most of the bytes).
#[derive(Serialize)]
#[serde(untagged)]
enum Data<'a> {
    Tickets(&'a [Arc<Ticket>]),
    Ticket(&'a Ticket),
    Stats(&'a Stats),
    Sync(&'a SyncState),
    Value(serde_json::Value),
}

/// A frame on the bus, with the store version it belongs to.
#[derive(Debug, Clone)]
pub struct Published {
    /// The store version after the change this frame announces; 0 for
    /// frames that are not about a change (stats), which every subscriber
    /// gets.
    pub version: u64,
    /// The event's name (for metrics; a fixed set).
    pub event: &'static str,
    /// Who may receive it.
    pub audience: Audience,
    pub frame: Frame,
    /// The frame's `data`, cut out on first use and shared by every
    /// subscriber (transports with their own envelope; `/ws` never asks).
    data: Arc<OnceLock<Arc<RawValue>>>,
}

impl Published {
    /// A change event, encoded once with the version it produced.
    pub fn change(version: u64, event: &Event<'_>) -> Published {
        let mut p = Published::new(version, event.name(), event.encode_change(version));
        p.audience = event.audience();
        p
    }

    /// An event that is not a change, for staff only (version 0).
    pub fn for_staff(event: &Event<'_>) -> Published {
        let mut p = Published::other(event);
        p.audience = Audience::Staff;
        p
    }

    /// An event that is not a change (statistics, a first sync): version 0,
    /// which every subscriber takes.
    pub fn other(event: &Event<'_>) -> Published {
        Published::new(0, event.name(), event.encode(None))
    }

    fn new(version: u64, event: &'static str, frame: Frame) -> Published {
        Published {
            version,
            event,
            audience: Audience::Everyone,
            frame,
            data: Arc::default(),
        }
    }

    /// Whether a reader may receive it: staff receive everything, anyone
    /// else only what is for everyone.
    pub fn reaches(&self, staff: bool) -> bool {
        staff || self.audience == Audience::Everyone
    }

    /// The event's `data` as raw JSON, extracted once per event however
    /// many clients forward it.
    pub fn data(&self) -> Arc<RawValue> {
        self.data.get_or_init(|| self.frame.data()).clone()
    }

    /// Whether a client whose snapshot is at `snapshot_version` still needs
    /// this frame (changes already in its snapshot are skipped).
    pub fn is_after(&self, snapshot_version: u64) -> bool {
        self.version == 0 || self.version > snapshot_version
    }
}

/// The fan-out of encoded events to every subscriber.
///
/// A `tokio::sync::broadcast` ring: each subscriber has its own cursor, so
/// the ring's capacity is every client's bounded send queue. A subscriber
/// that falls more than `capacity` frames behind sees `Lagged` and is
/// disconnected by its transport; it never slows anyone else.
#[derive(Debug, Clone)]
pub struct Bus {
    tx: broadcast::Sender<Published>,
}

impl Bus {
    pub fn new(capacity: usize) -> Bus {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Bus { tx }
    }

    /// Sends to every current subscriber; returns how many there were.
    pub fn publish(&self, published: Published) -> usize {
        self.tx.send(published).unwrap_or(0)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Published> {
        self.tx.subscribe()
    }

    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_carries_ref_and_broadcast_does_not() {
        let f = Event::AllTicketsCleared { count: 3 }.encode(Some("r1"));
        assert_eq!(
            f.as_str(),
            r#"{"event":"all_tickets_cleared","data":{"count":3},"ref":"r1"}"#
        );
        let f = Event::Error {
            code: "bad_frame",
            message: "m",
        }
        .encode(None);
        assert_eq!(
            f.as_str(),
            r#"{"event":"error","data":{"code":"bad_frame","message":"m"}}"#
        );
    }

    #[test]
    fn names_lists_every_event() {
        let ticket_free = [
            Event::AllTicketsCleared { count: 0 },
            Event::AdminSuccess {
                message: "",
                action: "",
            },
            Event::Error {
                code: "",
                message: "",
            },
        ];
        for event in ticket_free {
            assert!(Event::NAMES.contains(&event.name()));
        }
    }

    #[test]
    fn data_is_the_frame_data_unchanged() {
        let bus = Bus::new(4);
        let mut rx = bus.subscribe();
        bus.publish(Published::change(1, &Event::AllTicketsCleared { count: 7 }));
        let p = rx.try_recv().unwrap();
        assert_eq!(p.data().get(), r#"{"count":7}"#);
        assert_eq!(
            p.frame.as_str(),
            r#"{"event":"all_tickets_cleared","data":{"count":7},"v":1}"#
        );
        assert!(Arc::ptr_eq(&p.data(), &p.data()));
        let f = Event::Error {
            code: "c",
            message: "say \"hi\"",
        }
        .encode(Some("r"));
        assert_eq!(f.data().get(), r#"{"code":"c","message":"say \"hi\""}"#);
    }

    #[test]
    fn lagging_subscriber_sees_lagged() {
        let bus = Bus::new(2);
        let mut rx = bus.subscribe();
        for n in 0..5 {
            bus.publish(Published::change(
                n as u64 + 1,
                &Event::AllTicketsCleared { count: n },
            ));
        }
        assert!(matches!(
            rx.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(3))
        ));
    }
}
