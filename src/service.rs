//! The one application API every transport calls: submit, resolve, reopen,
//! re-prioritize, delete, clear, read, and subscribe.
//!
//! The service parses input (through `tickets`), asks the analyzer, hands
//! commands to the store, and turns committed outcomes into events on the
//! bus. It knows no transport: `/ws`, HTTP and any future adapter call the
//! same methods and receive the same broadcasts.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{Notify, broadcast};

use crate::events::{Bus, Event, Frame, Published};
use crate::store::{CommitHook, Committed, OpenError, Stats, Store, StoreConfig, StoreError};
use crate::tickets::{Command, CommandError, FieldError, NewTicket, Outcome, Ticket, TicketId};
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
}

impl ServiceError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ServiceError::Invalid(_) => ErrorCode::InvalidPayload,
            ServiceError::NotFound(_) => ErrorCode::NotFound,
            ServiceError::Unavailable => ErrorCode::StorageUnavailable,
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Command(CommandError::NotFound(id)) => ServiceError::NotFound(id),
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
}

/// What the store's writer calls after each durable batch.
pub trait CommitObserver: Send + Sync + 'static {
    fn committed(&self, batch_size: usize, duration: Duration);
}

/// The application.
pub struct Service {
    store: Store,
    analyzer: Arc<Analyzer>,
    bus: Bus,
    /// Woken after each commit; the stats task coalesces the wake-ups.
    stats_dirty: Arc<Notify>,
    /// `initial_tickets` encoded once per store version and shared by every
    /// client that connects before the next change. A std Mutex: held only
    /// to swap the cached frame, never across an `.await`.
    initial: Mutex<Option<(u64, Frame)>>,
}

impl Service {
    /// Opens the store and starts the stats task. Needs a Tokio runtime.
    pub fn start(
        config: ServiceConfig,
        analyzer: Arc<Analyzer>,
        observer: Option<Arc<dyn CommitObserver>>,
    ) -> Result<Arc<Service>, OpenError> {
        let bus = Bus::new(config.client_queue);
        let stats_dirty = Arc::new(Notify::new());
        let hook: CommitHook = {
            let bus = bus.clone();
            let dirty = stats_dirty.clone();
            Box::new(move |batch: &Committed<'_>| {
                for outcome in batch.outcomes {
                    bus.publish(batch.version, &outcome_event(outcome));
                }
                dirty.notify_one();
                if let Some(observer) = &observer {
                    observer.committed(batch.outcomes.len(), batch.duration);
                }
            })
        };
        let store = Store::open(config.store, hook)?;
        let service = Arc::new(Service {
            store,
            analyzer,
            bus,
            stats_dirty,
            initial: Mutex::new(None),
        });
        tokio::spawn(stats_task(Arc::downgrade(&service), config.stats_interval));
        Ok(service)
    }

    /// Parses, analyzes and durably stores a new ticket; every subscriber
    /// gets `new_ticket` before this returns.
    pub async fn submit(&self, data: serde_json::Value) -> Result<Arc<Ticket>, ServiceError> {
        let new = NewTicket::from_json(data)?;
        let triage = self
            .analyzer
            .analyze(new.description.as_str(), new.system.as_str());
        let ticket = Ticket::create(new, triage, Utc::now());
        match self
            .store
            .execute(Command::Create(Box::new(ticket)))
            .await?
        {
            Outcome::Created(t) => Ok(t),
            _ => unreachable!("create yields created"),
        }
    }

    pub async fn resolve(&self, id: TicketId) -> Result<Arc<Ticket>, ServiceError> {
        self.ticket_command(Command::Resolve { id, at: Utc::now() })
            .await
    }

    pub async fn reopen(&self, id: TicketId) -> Result<Arc<Ticket>, ServiceError> {
        self.ticket_command(Command::Reopen { id, at: Utc::now() })
            .await
    }

    /// Pins a priority: the ticket records who set it and when.
    pub async fn set_priority(
        &self,
        id: TicketId,
        priority: Priority,
        admin: &str,
    ) -> Result<Arc<Ticket>, ServiceError> {
        self.ticket_command(Command::SetPriority {
            id,
            priority,
            by: admin.to_string(),
            at: Utc::now(),
        })
        .await
    }

    /// Deletes a ticket; returns it as it was.
    pub async fn delete(&self, id: TicketId) -> Result<Arc<Ticket>, ServiceError> {
        self.ticket_command(Command::Delete { id }).await
    }

    /// Removes every ticket; returns how many there were.
    pub async fn clear(&self) -> Result<usize, ServiceError> {
        match self.store.execute(Command::Clear).await? {
            Outcome::Cleared { count } => Ok(count),
            _ => unreachable!("clear yields cleared"),
        }
    }

    async fn ticket_command(&self, command: Command) -> Result<Arc<Ticket>, ServiceError> {
        match self.store.execute(command).await? {
            Outcome::Created(t)
            | Outcome::Resolved(t)
            | Outcome::Updated(t)
            | Outcome::Deleted(t) => Ok(t),
            Outcome::Cleared { .. } => unreachable!("ticket commands yield a ticket"),
        }
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

    /// The `initial_tickets` frame for a new client, encoded at most once
    /// per change to the tickets.
    pub fn initial_frame(&self) -> (u64, Frame) {
        let version = self.store.version();
        let mut cached = self.initial.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((v, frame)) = cached.as_ref()
            && *v == version
        {
            return (*v, frame.clone());
        }
        let (version, tickets) = self.store.all_with_version();
        let frame = Event::InitialTickets(&tickets).encode(None);
        *cached = Some((version, frame.clone()));
        (version, frame)
    }

    /// Every later event, as encoded frames. Subscribe before taking
    /// [`Service::initial_frame`] and skip frames not after its version, so
    /// nothing is missed or seen twice.
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
        service.bus.publish(0, &Event::StatsUpdate(&stats));
        drop(service);
        tokio::time::sleep(interval).await;
    }
}
