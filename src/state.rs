//! The state every handler shares: one cheap-to-clone bundle of `Arc`s,
//! passed through axum's `State`.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::WsArgs;
use crate::metrics::Metrics;
use crate::service::Service;

#[derive(Clone)]
pub struct AppState {
    pub service: Arc<Service>,
    /// WebSocket session settings.
    pub ws: Arc<WsArgs>,
    /// Every metric; handlers and sessions record through its helpers.
    pub metrics: Arc<Metrics>,
    /// Cancelled at shutdown: sessions send close 1001 and end.
    pub shutdown: CancellationToken,
    /// Open WebSocket sessions: shutdown waits for them to finish their
    /// close before stopping the store.
    pub sessions: TaskTracker,
}
