//! The one application API every transport calls: submit, resolve, reopen,
//! re-prioritize, delete, clear, read, and subscribe.
//!
//! The service parses input (through `tickets`), asks the analyzer, hands
//! commands to the store, and turns committed outcomes into events on the
//! bus. It knows no transport: `/ws`, HTTP and any future adapter call the
//! same methods and receive the same broadcasts.

mod analytics;
mod conversation;
mod export;
mod sla_timer;

pub use conversation::{CommentDone, CommentRequest, Participant, derived_follow_token};

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{Notify, broadcast};

use crate::audit::{AuditEntry, AuditLog};
use crate::events::{Bus, Event, Published, SyncState};
use crate::store::{
    Applied, CommitHook, Committed, OpenError, Stats, Store, StoreConfig, StoreError,
};
use crate::stream::{ReplayRing, Resume};
use crate::tickets::query::{Page, PageRequest, SyncWindow};
use crate::tickets::{
    Command, CommandError, CommentError, CommentRules, FieldError, NewTicket, Outcome, Role,
    SYSTEM_ACTOR, Staff, Status, Ticket, TicketId,
};
use crate::triage::{Analyzer, Priority};

/// The error codes of the protocol, shared by every transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BadFrame,
    UnknownEvent,
    InvalidPayload,
    Unauthorized,
    NotFound,
    StorageUnavailable,
    RateLimited,
    Internal,
    /// A browser page from another origin (WebSocket upgrade).
    Forbidden,
    /// An HTTP body over `--max-body-bytes`.
    PayloadTooLarge,
    /// An HTTP method the path does not answer.
    MethodNotAllowed,
    /// An HTTP request that took longer than `--request-timeout-secs`.
    Timeout,
    /// The server holds `--max-connections` WebSocket clients.
    Overloaded,
    /// An HTTP body that does not say `Content-Type: application/json`.
    UnsupportedMediaType,
    /// A status change the lifecycle does not allow (or any change to a
    /// closed ticket).
    InvalidTransition,
    /// A comment changed after `--comment-edit-minutes`.
    EditWindowClosed,
    /// A ticket already holds `--max-comments-per-ticket` comments.
    LimitReached,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadFrame => "bad_frame",
            ErrorCode::UnknownEvent => "unknown_event",
            ErrorCode::InvalidPayload => "invalid_payload",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::NotFound => "not_found",
            ErrorCode::StorageUnavailable => "storage_unavailable",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Internal => "internal",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::InvalidTransition => "invalid_transition",
            ErrorCode::EditWindowClosed => "edit_window_closed",
            ErrorCode::LimitReached => "limit_reached",
        }
    }
}

/// Why a service call failed, in words fit for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Invalid(#[from] FieldError),
    #[error("no ticket with id {0}")]
    NotFound(TicketId),
    #[error("storage is unavailable; the change was not made")]
    Unavailable,
    #[error("the audit log could not be written; the change was applied but is not acknowledged")]
    AuditFailed,
    #[error("{0}")]
    InvalidTransition(String),
    #[error("{action} needs the {needed} role")]
    Forbidden {
        action: &'static str,
        needed: &'static str,
    },
    /// Refused for who asks (not their comment, an internal note from a
    /// requester).
    #[error("{0}")]
    NotAllowed(String),
    #[error("{0} needs a staff session or the ticket's follow token")]
    Unauthorized(&'static str),
    #[error("{0}")]
    CommentNotFound(String),
    #[error("{0}")]
    EditWindowClosed(String),
    #[error("{0}")]
    LimitReached(String),
}

impl ServiceError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ServiceError::Invalid(_) => ErrorCode::InvalidPayload,
            ServiceError::NotFound(_) => ErrorCode::NotFound,
            ServiceError::Unavailable | ServiceError::AuditFailed => ErrorCode::StorageUnavailable,
            ServiceError::InvalidTransition(_) => ErrorCode::InvalidTransition,
            ServiceError::Forbidden { .. } | ServiceError::NotAllowed(_) => ErrorCode::Forbidden,
            ServiceError::Unauthorized(_) => ErrorCode::Unauthorized,
            ServiceError::CommentNotFound(_) => ErrorCode::NotFound,
            ServiceError::EditWindowClosed(_) => ErrorCode::EditWindowClosed,
            ServiceError::LimitReached(_) => ErrorCode::LimitReached,
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Command(CommandError::NotFound(id)) => ServiceError::NotFound(id),
            StoreError::Command(
                e @ (CommandError::InvalidTransition(_) | CommandError::Closed(_)),
            ) => ServiceError::InvalidTransition(e.to_string()),
            StoreError::Command(e @ (CommandError::NothingDue(_) | CommandError::Duplicate(_))) => {
                ServiceError::InvalidTransition(e.to_string())
            }
            StoreError::Command(CommandError::Comment(e)) => {
                let message = e.to_string();
                match e {
                    CommentError::NotFound(_) => ServiceError::CommentNotFound(message),
                    CommentError::Deleted(_) => ServiceError::InvalidTransition(message),
                    CommentError::NotAuthor(_) => ServiceError::NotAllowed(message),
                    CommentError::WindowClosed { .. } => ServiceError::EditWindowClosed(message),
                    CommentError::TooMany { .. } => ServiceError::LimitReached(message),
                }
            }
            StoreError::Unavailable => ServiceError::Unavailable,
        }
    }
}

/// How the service is set up.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub store: StoreConfig,
    /// Frames each subscriber may fall behind before it is dropped.
    pub client_queue: usize,
    /// The shortest gap between two broadcast `stats_update`s.
    pub stats_interval: Duration,
    /// What a first sync holds.
    pub sync: SyncConfig,
    /// Resolved tickets are closed this long after resolution (None: never).
    pub autoclose: Option<Duration>,
    /// The edit window and the most comments a ticket holds.
    pub comments: CommentRules,
    /// When set, follow tokens are derived from it and the ticket id (so
    /// an email sent later can carry the link without the token ever being
    /// stored); otherwise they are random.
    pub follow_key: Option<Arc<[u8]>>,
}

/// The bounds of a client's first sync and of resuming.
#[derive(Debug, Clone, Copy)]
pub struct SyncConfig {
    /// Resolved tickets updated within this many days are in a first sync
    /// (0: none are).
    pub resolved_days: u32,
    /// The most tickets a first sync holds (the newest).
    pub max_tickets: usize,
    /// The most bytes `initial_tickets` holds (the newest tickets that fit).
    pub max_bytes: usize,
    /// Changes kept for clients that resume.
    pub replay_events: usize,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            resolved_days: 7,
            max_tickets: 2000,
            max_bytes: 2_000_000,
            replay_events: 10_000,
        }
    }
}

/// What a connecting client is sent before the live events.
#[derive(Debug)]
pub struct Catchup {
    /// `initial_tickets` (a first sync), or the missed change events (a
    /// resume), in order.
    pub frames: Vec<Published>,
    /// `sync_state`.
    pub state: Published,
    /// The version the client is at after these: forward only later events.
    pub version: u64,
}

/// The changes after a version, for clients that poll.
#[derive(Debug)]
pub struct Changes {
    pub epoch: uuid::Uuid,
    /// The stream's newest version.
    pub version: u64,
    /// False when the changes asked for are no longer kept (or the epoch
    /// differs): read the tickets again.
    pub recovered: bool,
    pub events: Vec<Published>,
    /// More changes follow the last one returned.
    pub more: bool,
}

/// What the store's writer calls after each durable batch.
pub trait CommitObserver: Send + Sync + 'static {
    fn committed(&self, batch_size: usize, duration: Duration);

    /// An SLA clock (`first_response`, `resolution`) of a ticket of
    /// `priority` was announced at risk or breached (`at_risk`, `breached`).
    fn sla_announced(&self, _clock: &'static str, _state: &'static str, _priority: &'static str) {}
}

/// Outbound notifications' durable queue (`notify::Notifier`), handed each
/// durable batch in the store's writer thread before anyone hears of it:
/// what it queues must be on disk when it returns.
pub trait Outbound: Send + Sync + 'static {
    fn committed(&self, batch: &Committed<'_>, published: &[Published]);
}

/// A staff member's change to the tickets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminAction {
    Resolve(TicketId),
    Reopen(TicketId),
    SetPriority(TicketId, Priority),
    /// Assign (`Some(None)` unassigns) and/or move to a team.
    Assign {
        id: TicketId,
        assignee: Option<Option<String>>,
        team: Option<String>,
    },
    SetStatus {
        id: TicketId,
        status: Status,
        pending_reason: Option<String>,
    },
    Delete(TicketId),
    ClearAll,
}

impl AdminAction {
    /// The command's name, as the protocol and the audit log spell it.
    pub fn name(&self) -> &'static str {
        match self {
            AdminAction::Resolve(_) => "resolve",
            AdminAction::Reopen(_) => "reopen",
            AdminAction::SetPriority(..) => "update_priority",
            AdminAction::Assign { .. } => "assign",
            AdminAction::SetStatus { .. } => "set_status",
            AdminAction::Delete(_) => "delete",
            AdminAction::ClearAll => "clear_all",
        }
    }

    /// The least role that may run it: removing tickets is for admins.
    pub fn needs(&self) -> Role {
        match self {
            AdminAction::Delete(_) | AdminAction::ClearAll => Role::Admin,
            _ => Role::Agent,
        }
    }

    fn ticket_id(&self) -> Option<TicketId> {
        match self {
            AdminAction::Resolve(id)
            | AdminAction::Reopen(id)
            | AdminAction::SetPriority(id, _)
            | AdminAction::Assign { id, .. }
            | AdminAction::SetStatus { id, .. }
            | AdminAction::Delete(id) => Some(*id),
            AdminAction::ClearAll => None,
        }
    }
}

/// A done admin action: what to tell the admin.
#[derive(Debug, Clone)]
pub struct AdminDone {
    pub action: &'static str,
    pub message: String,
    /// The ticket after the change (for delete: as it was).
    pub ticket: Option<Arc<Ticket>>,
    /// For clear_all: how many tickets were removed.
    pub count: Option<usize>,
}

/// The application.
pub struct Service {
    store: Store,
    audit: Arc<AuditLog>,
    analyzer: Arc<Analyzer>,
    bus: Bus,
    /// Woken after each commit; the stats task coalesces the wake-ups.
    stats_dirty: Arc<Notify>,
    /// The last changes, for clients that resume. A std Mutex: held to push
    /// one change (by the writer) or to clone a run of `Arc`s, never across
    /// an `.await`.
    replay: Arc<Mutex<ReplayRing>>,
    sync: SyncConfig,
    /// The first sync (`initial_tickets` and its `sync_state`), encoded
    /// once per store version and minute, and shared by every client that
    /// connects meanwhile. A std Mutex, never held across an `.await`.
    initial: Mutex<Option<FirstSync>>,
    comment_rules: CommentRules,
    follow_key: Option<Arc<[u8]>>,
    /// What the SLA clocks are measured against.
    sla_policy: Arc<crate::sla::Policy>,
}

/// A new ticket, and the follow token only its submitter is given.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub ticket: Arc<Ticket>,
    /// The requester's secret for this ticket (kept only as a hash): given
    /// once, so a replayed submission has none unless tokens are derived
    /// (`follow_key`, with email on).
    pub follow_token: Option<String>,
    /// A retry with an idempotency key already used: `ticket` is the one
    /// the first submission created, and nothing new was stored.
    pub replayed: bool,
}

/// A cached first sync.
#[derive(Clone)]
struct FirstSync {
    version: u64,
    /// Whole minutes since the Unix epoch: the window of resolved tickets
    /// moves with the clock.
    minute: i64,
    initial: Published,
    state: Published,
}

impl Service {
    /// Opens the store and starts the stats task. Needs a Tokio runtime.
    pub fn start(
        config: ServiceConfig,
        analyzer: Arc<Analyzer>,
        audit: Arc<AuditLog>,
        observer: Option<Arc<dyn CommitObserver>>,
        outbound: Option<Arc<dyn Outbound>>,
    ) -> Result<Arc<Service>, OpenError> {
        let bus = Bus::new(config.client_queue);
        let stats_dirty = Arc::new(Notify::new());
        let replay = Arc::new(Mutex::new(ReplayRing::new(0, config.sync.replay_events)));
        let sla_policy = config.store.sla.clone();
        let schedule = sla_timer::SlaSchedule::default();
        let hook: CommitHook = {
            let bus = bus.clone();
            let dirty = stats_dirty.clone();
            let replay = replay.clone();
            let schedule = schedule.clone();
            let policy = sla_policy.clone();
            Box::new(move |batch: &Committed<'_>| {
                schedule.committed(batch.changes, &policy);
                // Into the ring, then onto the bus: a client that subscribes
                // and then reads the ring misses nothing (it may see a change
                // in both, and skips it by version).
                let published: Vec<Published> = batch
                    .changes
                    .iter()
                    .map(|(version, outcome)| Published::change(*version, &outcome_event(outcome)))
                    .collect();
                // Another instance sharing the database queues (and counts)
                // its own commits: each notification goes out once.
                if let Some(outbound) = &outbound
                    && batch.own
                {
                    outbound.committed(batch, &published);
                }
                {
                    let mut ring = replay.lock().unwrap_or_else(|p| p.into_inner());
                    for p in &published {
                        ring.push(p.clone());
                    }
                }
                for p in published {
                    bus.publish(p);
                }
                dirty.notify_one();
                if let Some(observer) = &observer
                    && batch.own
                {
                    observer.committed(batch.changes.len(), batch.duration);
                    for (_, outcome) in batch.changes {
                        if let Outcome::SlaAnnounced {
                            ticket,
                            announcement,
                        } = outcome
                        {
                            observer.sla_announced(
                                announcement.clock.as_str(),
                                match announcement.state {
                                    crate::sla::ClockState::Breached => "breached",
                                    _ => "at_risk",
                                },
                                ticket.priority.as_str(),
                            );
                        }
                    }
                }
            })
        };
        let mut store_config = config.store;
        store_config.keep_changes = config.sync.replay_events;
        let store = Store::open(store_config, hook)?;
        {
            // The ring starts with what the journals still hold, ending at
            // the version the store opened at.
            let recovered = store.take_recovered_changes();
            let first = recovered.front().map_or(store.version(), |(v, _)| v - 1);
            let mut ring = ReplayRing::new(first, config.sync.replay_events);
            for (version, outcome) in &recovered {
                ring.push(Published::change(*version, &outcome_event(outcome)));
            }
            *replay.lock().unwrap_or_else(|p| p.into_inner()) = ring;
        }
        let service = Arc::new(Service {
            store,
            audit,
            analyzer,
            bus,
            stats_dirty,
            replay,
            sync: config.sync,
            initial: Mutex::new(None),
            comment_rules: config.comments,
            follow_key: config.follow_key,
            sla_policy: sla_policy.clone(),
        });
        schedule.fill(&service.store.all(), &sla_policy);
        tokio::spawn(sla_timer::sla_task(Arc::downgrade(&service), schedule));
        tokio::spawn(stats_task(Arc::downgrade(&service), config.stats_interval));
        if let Some(after) = config.autoclose {
            tokio::spawn(autoclose_task(Arc::downgrade(&service), after));
        }
        Ok(service)
    }

    /// Parses, analyzes and durably stores a new ticket; every subscriber
    /// gets `new_ticket` before this returns.
    pub async fn submit(&self, data: serde_json::Value) -> Result<Submitted, ServiceError> {
        self.create(NewTicket::from_json(data)?, None).await
    }

    /// Analyzes and stores a parsed ticket with a new follow token.
    async fn create(
        &self,
        new: NewTicket,
        linked_to: Option<TicketId>,
    ) -> Result<Submitted, ServiceError> {
        let triage = self
            .analyzer
            .analyze(new.description.as_str(), new.system.as_str());
        let mut ticket = Ticket::create(new, triage, Utc::now());
        let (follow_token, hash) =
            conversation::new_follow_token(self.follow_key.as_deref(), &ticket.request_id);
        ticket.private.follow_token_sha256 = Some(hash);
        ticket.linked_to = linked_to;
        match self.store.execute(Command::Create(Box::new(ticket))).await {
            Ok(applied) => match applied.outcome {
                Outcome::Created(ticket) => Ok(Submitted {
                    ticket,
                    follow_token: Some(follow_token),
                    replayed: false,
                }),
                _ => unreachable!("create yields created"),
            },
            Err(StoreError::Command(CommandError::Duplicate(id))) => {
                let ticket = self.store.get(&id).ok_or(ServiceError::NotFound(id))?;
                Ok(Submitted {
                    follow_token: self
                        .follow_key
                        .as_deref()
                        .map(|key| derived_follow_token(key, &id)),
                    ticket,
                    replayed: true,
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Runs an admin action durably, then appends it (with the ticket
    /// before and after) to the audit log and syncs that before returning.
    pub async fn admin(
        &self,
        staff: &Staff,
        action: AdminAction,
        client: Option<IpAddr>,
    ) -> Result<AdminDone, ServiceError> {
        let now = Utc::now();
        let name = action.name();
        let ticket_id = action.ticket_id();
        let admin = staff.name.as_str();
        if !staff.role.allows(action.needs()) {
            tracing::warn!(user = admin, action = name, "refused: role too low");
            let error = ServiceError::Forbidden {
                action: name,
                needed: action.needs().as_str(),
            };
            self.audit.refused(
                admin,
                name,
                ticket_id.map(|id| id.to_string()),
                client,
                error.to_string(),
            );
            return Err(error);
        }
        let command = match action {
            AdminAction::Resolve(id) => Command::Resolve { id, at: now },
            AdminAction::Reopen(id) => Command::Reopen { id, at: now },
            AdminAction::SetPriority(id, priority) => Command::SetPriority {
                id,
                priority,
                by: admin.to_string(),
                at: now,
            },
            AdminAction::Assign { id, assignee, team } => Command::Assign {
                id,
                assignee,
                team,
                at: now,
            },
            AdminAction::SetStatus {
                id,
                status,
                pending_reason,
            } => Command::SetStatus {
                id,
                status,
                pending_reason,
                by: admin.to_string(),
                at: now,
            },
            AdminAction::Delete(id) => Command::Delete { id },
            AdminAction::ClearAll => Command::Clear,
        };
        let result = self.store.execute(command).await;
        let (before, after, done) = match &result {
            Ok(Applied {
                outcome, before, ..
            }) => {
                let (after, count) = match outcome {
                    Outcome::Cleared { count } => (None, Some(*count)),
                    other => (other.ticket().cloned(), None),
                };
                let message = match (ticket_id, count) {
                    (_, Some(count)) => format!("cleared {count} tickets"),
                    (Some(id), _) => format!("ticket {id}: {name} done"),
                    (None, None) => format!("{name} done"),
                };
                let done = AdminDone {
                    action: name,
                    message,
                    ticket: after.clone().or_else(|| before.clone()),
                    count,
                };
                (before.clone(), after, Some(done))
            }
            Err(_) => (None, None, None),
        };
        let entry = AuditEntry {
            time: now,
            admin: admin.to_string(),
            action: name.to_string(),
            outcome: if done.is_some() { "success" } else { "failure" },
            ticket_id: ticket_id.map(|id| id.to_string()),
            client: client.map(|c| c.to_string()),
            // An automatic change is fully said by its action and ticket:
            // without the copies, closing thousands of tickets at once does
            // not rotate the staff's history out of the audit trail.
            before: before
                .filter(|_| admin != SYSTEM_ACTOR)
                .map(|t| serde_json::to_value(&*t).unwrap_or_default()),
            after: after
                .filter(|_| admin != SYSTEM_ACTOR)
                .map(|t| serde_json::to_value(&*t).unwrap_or_default()),
            reason: (admin == SYSTEM_ACTOR).then(|| "closed automatically".to_string()),
        };
        // Automatic changes acknowledge nobody: their entries are batched
        // (synced within a second), so closing thousands of old tickets
        // after an upgrade costs no flush each.
        let recorded = if admin == SYSTEM_ACTOR {
            self.audit.record_batched(entry)
        } else {
            self.audit.record(entry).await
        };
        if let Err(e) = recorded {
            tracing::error!(error = %e, action = name, "cannot write the audit log");
            if done.is_some() {
                return Err(ServiceError::AuditFailed);
            }
        }
        if done.is_some() {
            tracing::info!(admin, action = name, ticket.id = ?ticket_id, "admin action");
        }
        result?;
        Ok(done.expect("success has a result"))
    }

    /// Records a staff action that is not a change to the tickets (an
    /// outbound redelivery), synced before it returns.
    pub async fn audit_record(&self, entry: crate::audit::AuditEntry) -> std::io::Result<()> {
        self.audit.record(entry).await
    }

    /// The newest audit entries, newest first.
    pub async fn audit_recent(&self, limit: usize) -> std::io::Result<Vec<serde_json::Value>> {
        self.audit.recent(limit).await
    }

    /// Every ticket, oldest first.
    pub fn tickets(&self) -> Vec<Arc<Ticket>> {
        self.store.all()
    }

    pub fn ticket(&self, id: &TicketId) -> Option<Arc<Ticket>> {
        self.store.get(id)
    }

    pub fn stats(&self) -> Stats {
        self.store.stats()
    }

    /// One page of tickets, newest first.
    pub fn page(&self, request: &PageRequest) -> Page {
        self.store.page(request)
    }

    /// What a connecting client is sent before live events: the changes it
    /// missed when it can resume, else a first sync. Subscribe before
    /// calling this, then forward only events after [`Catchup::version`], so
    /// nothing is missed or seen twice. A resume replays only what the
    /// client may see (`staff`: internal notes too).
    pub fn sync(&self, resume: Option<Resume>, staff: bool) -> Catchup {
        if let Some(resume) = resume
            && resume.epoch == self.store.epoch()
        {
            let replayed = {
                let ring = self.replay.lock().unwrap_or_else(|p| p.into_inner());
                ring.after(resume.since, usize::MAX)
                    .map(|events| (ring.head(), events))
            };
            let replayed = replayed.map(|(head, mut events)| {
                events.retain(|p| p.reaches(staff));
                (head, events)
            });
            if let Some((head, events)) = replayed {
                let state = SyncState {
                    epoch: self.store.epoch(),
                    v: head,
                    total: self.store.len(),
                    sent: events.len(),
                    complete: true,
                    recovered: true,
                };
                return Catchup {
                    frames: events,
                    state: Published::other(&Event::SyncState(&state)),
                    version: head,
                };
            }
        }
        let first = self.first_sync();
        Catchup {
            frames: vec![first.initial],
            state: first.state,
            version: first.version,
        }
    }

    /// The first sync, encoded at most once per change and minute.
    fn first_sync(&self) -> FirstSync {
        let now = Utc::now();
        let minute = now.timestamp().div_euclid(60);
        let version = self.store.version();
        let mut cached = self.initial.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cached.as_ref()
            && c.version == version
            && c.minute == minute
        {
            return c.clone();
        }
        let window = SyncWindow::new(now, self.sync.resolved_days, self.sync.max_tickets);
        let (version, tickets, total) = self.store.first_sync(&window);
        let tickets = newest_within(&tickets, self.sync.max_bytes);
        let state = SyncState {
            epoch: self.store.epoch(),
            v: version,
            total,
            sent: tickets.len(),
            complete: tickets.len() == total,
            recovered: false,
        };
        let first = FirstSync {
            version,
            minute,
            initial: Published::other(&Event::InitialTickets(tickets)),
            state: Published::other(&Event::SyncState(&state)),
        };
        *cached = Some(first.clone());
        first
    }

    /// The changes after `since` in `epoch`, at most `limit`, for clients
    /// that poll. Without a position: none, and where the stream stands.
    /// Only what the reader may see (`staff`: internal notes too); `limit`
    /// counts what is returned, so a run of hidden changes never stalls a
    /// reader.
    pub fn changes(&self, resume: Option<Resume>, limit: usize, staff: bool) -> Changes {
        let epoch = self.store.epoch();
        let ring = self.replay.lock().unwrap_or_else(|p| p.into_inner());
        let version = ring.head();
        let wanted = if staff {
            limit.saturating_add(1)
        } else {
            usize::MAX
        };
        let found = resume
            .filter(|r| r.epoch == epoch)
            .and_then(|r| ring.after(r.since, wanted));
        drop(ring);
        let found = found.map(|events| {
            events
                .into_iter()
                .filter(|p| p.reaches(staff))
                .take(limit.saturating_add(1))
                .collect::<Vec<_>>()
        });
        match found {
            Some(mut events) => {
                let more = events.len() > limit;
                events.truncate(limit);
                Changes {
                    epoch,
                    version,
                    recovered: true,
                    events,
                    more,
                }
            }
            None => Changes {
                epoch,
                version,
                recovered: false,
                events: Vec::new(),
                more: false,
            },
        }
    }

    /// Every later event, as encoded frames (see [`Service::sync`]).
    /// Tells every signed-in staff client something that is not a change
    /// to the tickets (an outbound endpoint was disabled).
    pub fn announce_to_staff(&self, event: &Event<'_>) {
        self.bus.publish(Published::for_staff(event));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Published> {
        self.bus.subscribe()
    }

    /// The store, for health checks and metrics.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Finishes queued commits and stops the store writer.
    pub async fn shutdown(&self) {
        self.store.close().await;
    }
}

/// The broadcast event for a committed outcome.
fn outcome_event(outcome: &Outcome) -> Event<'_> {
    match outcome {
        Outcome::Created(t) => Event::NewTicket(t),
        Outcome::Resolved(t) => Event::TicketResolved(t),
        Outcome::Updated(t) => Event::TicketUpdated(t),
        Outcome::Deleted(t) => Event::TicketDeleted {
            ticket_id: t.request_id,
            deleted_ticket: t,
        },
        Outcome::Cleared { count } => Event::AllTicketsCleared { count: *count },
        Outcome::Commented {
            ticket,
            comment,
            kind,
        } => Event::Comment {
            kind: *kind,
            ticket_id: ticket.request_id,
            comment,
            sla: ticket.sla.as_ref(),
        },
        Outcome::SlaAnnounced {
            ticket,
            announcement,
        } => Event::Sla {
            ticket_id: ticket.request_id,
            announcement: *announcement,
            sla: ticket.sla.as_ref(),
        },
    }
}

/// Broadcasts `stats_update` after changes, at most once per `interval`:
/// a burst of a thousand tickets costs one or two stats frames, not a
/// thousand.
async fn stats_task(service: std::sync::Weak<Service>, interval: Duration) {
    let dirty = match service.upgrade() {
        Some(s) => s.stats_dirty.clone(),
        None => return,
    };
    loop {
        dirty.notified().await;
        let Some(service) = service.upgrade() else {
            return;
        };
        let stats = service.stats();
        service
            .bus
            .publish(Published::other(&Event::StatsUpdate(&stats)));
        drop(service);
        tokio::time::sleep(interval).await;
    }
}

/// The newest of `tickets` (oldest first) whose `initial_tickets` message
/// fits in `budget` bytes. Sizes are counted, not kept: the message is
/// encoded once afterwards.
fn newest_within(tickets: &[Arc<Ticket>], budget: usize) -> &[Arc<Ticket>] {
    /// `{"event":"initial_tickets","data":[]}` and a little room.
    const ENVELOPE: usize = 64;
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut used = ENVELOPE;
    let mut from = tickets.len();
    for (i, ticket) in tickets.iter().enumerate().rev() {
        let mut count = Count(1); // the comma
        if serde_json::to_writer(&mut count, &**ticket).is_err() || used + count.0 > budget {
            break;
        }
        used += count.0;
        from = i;
    }
    &tickets[from..]
}

/// Automatic closes in flight at once.
const AUTOCLOSE_BATCH: usize = 256;

/// Closes resolved tickets `after` their resolution. Sweeps the store at a
/// quarter of `after` (at most every minute, at least every 100 ms), so a
/// ticket closes at most that late; a ticket reopened meanwhile is left
/// alone, since the writer re-checks the status when it applies the change.
async fn autoclose_task(service: std::sync::Weak<Service>, after: Duration) {
    let period = (after / 4).clamp(Duration::from_millis(100), Duration::from_secs(60));
    let after = chrono::Duration::from_std(after).unwrap_or(chrono::Duration::MAX);
    let system = Staff {
        name: SYSTEM_ACTOR.to_string(),
        role: Role::Agent,
    };
    loop {
        tokio::time::sleep(period).await;
        let Some(service) = service.upgrade() else {
            return;
        };
        let now = Utc::now();
        let due: Vec<TicketId> = service
            .store
            .all()
            .iter()
            .filter(|t| {
                t.status == Status::Resolved && t.resolved_at.is_some_and(|at| now - at >= after)
            })
            .map(|t| t.request_id)
            .collect();
        // A few hundred at a time, so the writer commits them in groups
        // (after an upgrade there may be many thousands due at once).
        let mut closed = 0;
        'sweep: for chunk in due.chunks(AUTOCLOSE_BATCH) {
            let results = futures_util::future::join_all(chunk.iter().map(|id| {
                let close = AdminAction::SetStatus {
                    id: *id,
                    status: Status::Closed,
                    pending_reason: None,
                };
                service.admin(&system, close, None)
            }))
            .await;
            for result in results {
                match result {
                    Ok(_) => closed += 1,
                    // Reopened, deleted or closed meanwhile: nothing to do.
                    Err(ServiceError::InvalidTransition(_) | ServiceError::NotFound(_)) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "automatic closing stopped for now");
                        break 'sweep;
                    }
                }
            }
        }
        if closed > 0 {
            tracing::info!(closed, "closed resolved tickets automatically");
        }
    }
}
