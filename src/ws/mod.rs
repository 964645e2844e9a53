//! The `/ws` transport: the event protocol as JSON text frames over WSS.
//!
//! `envelope.rs` parses a frame (`{"event","data","ref"}`) and
//! `session.rs` runs one client: initial tickets, broadcasts, replies,
//! pings, back-pressure. What an event does lives in `protocol`, shared with
//! every other transport.

mod envelope;
mod session;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::any;

use crate::state::AppState;

/// The WebSocket route.
pub fn routes() -> Router<AppState> {
    let initial = Arc::new(session::InitialCache::default());
    Router::new().route(
        "/ws",
        any(move |state, peer, ws| upgrade(state, peer, ws, initial.clone())),
    )
}

async fn upgrade(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ws: WebSocketUpgrade,
    initial: Arc<session::InitialCache>,
) -> Response {
    let max = state.ws.max_message_bytes;
    ws
        // Small buffers: most of an idle client's memory is these.
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        // A single frame may be as large as `initial_tickets`; the bound is
        // there for a peer that stops reading while a frame is queued.
        .max_write_buffer_size(256 * 1024 * 1024)
        .max_message_size(max)
        .max_frame_size(max)
        .on_failed_upgrade(move |error| {
            tracing::warn!(%peer, %error, "websocket upgrade failed");
        })
        .on_upgrade(move |socket| session::run(socket, state, peer, initial))
}
