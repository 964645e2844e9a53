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

use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::any;
use axum::{Extension, Router};
use tracing::Instrument;

use crate::state::AppState;
use crate::telemetry::RequestId;

/// The WebSocket route.
pub fn routes() -> Router<AppState> {
    let initial = Arc::new(session::InitialCache::default());
    Router::new().route(
        "/ws",
        any(move |state, peer, id, ws| upgrade(state, peer, id, ws, initial.clone())),
    )
}

async fn upgrade(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    id: Option<Extension<RequestId>>,
    ws: WebSocketUpgrade,
    initial: Arc<session::InitialCache>,
) -> Response {
    let max = state.ws.max_message_bytes;
    // The session logs under the id of the request that opened it.
    let id = id.map_or_else(RequestId::new, |Extension(id)| id);
    let span = tracing::info_span!(parent: None, "ws", %id, %peer);
    // Held for the session's life: shutdown waits for it.
    let tracked = state.sessions.token();
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
        .on_upgrade(move |socket| {
            async move {
                session::run(socket, state, peer, initial).await;
                drop(tracked);
            }
            .instrument(span)
        })
}
