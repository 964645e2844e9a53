//! The state every handler shares: one cheap-to-clone bundle of `Arc`s,
//! passed through axum's `State`.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::auth::Auth;
use crate::config::WsArgs;
use crate::service::Service;

#[derive(Clone)]
pub struct AppState {
    pub service: Arc<Service>,
    /// Admin credentials and sessions.
    pub auth: Arc<Auth>,
    /// WebSocket session settings.
    pub ws: Arc<WsArgs>,
    /// Cancelled at shutdown: sessions send close 1001 and end.
    pub shutdown: CancellationToken,
}
