//! The state every handler shares: one cheap-to-clone bundle of `Arc`s,
//! passed through axum's `State`.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Auth;
use crate::config::WsArgs;
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::origin::Origins;
use crate::service::Service;

#[derive(Clone)]
pub struct AppState {
    pub service: Arc<Service>,
    /// Admin credentials and sessions.
    pub auth: Arc<Auth>,
    /// WebSocket session settings.
    pub ws: Arc<WsArgs>,
    /// Rate limiters and connection caps, shared by HTTP and WebSocket.
    pub limits: Arc<Limits>,
    /// The origins whose pages may open the WebSocket.
    pub origins: Arc<Origins>,
    /// Every metric; handlers and sessions record through its helpers.
    pub metrics: Arc<Metrics>,
    /// Cancelled at shutdown: sessions send close 1001 and end; Socket.IO
    /// connections are closed.
    pub shutdown: CancellationToken,
    /// Open WebSocket sessions and Socket.IO clients (and the task that
    /// closes Socket.IO at shutdown): shutdown waits for them to finish
    /// their close before stopping the store.
    pub sessions: TaskTracker,
    /// Bulk sends (a large `initial_tickets`) in progress at once. A
    /// reconnect storm against a big store then queues for these few slots
    /// instead of crowding out the broadcasts every connected client is
    /// waiting for.
    pub bulk_sends: Arc<tokio::sync::Semaphore>,
    /// Outbound notifications: the deliveries API reads and requeues here.
    pub notifier: Arc<Notifier>,
}
