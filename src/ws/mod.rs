//! The `/ws` transport: the event protocol as JSON text frames over WSS.
//!
//! `envelope.rs` parses a frame (`{"event","data","ref"}`) and
//! `session.rs` runs one client: initial tickets, broadcasts, replies,
//! pings, back-pressure. What an event does lives in `protocol`, shared with
//! every other transport.
//!
//! The upgrade is where a connection is refused, before it is accepted:
//! a page from a foreign `Origin` (403), too many upgrades from one client
//! (429), too many sockets for one client (429) or in all (503). Inside a
//! session, every message spends the client's message limit and every
//! `submit_ticket` its submission limit.

mod envelope;
mod session;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Extension, Json, Router};
use tracing::Instrument;

use crate::limits::{CapExceeded, RetryAfter, Scope};
use crate::protocol::error_body;
use crate::service::ErrorCode;
use crate::state::AppState;
use crate::telemetry::RequestId;

/// The WebSocket route.
pub fn routes() -> Router<AppState> {
    let initial = Arc::new(session::InitialCache::default());
    Router::new().route(
        "/ws",
        any(move |state, peer, headers, id, ws| {
            upgrade(state, peer, headers, id, ws, initial.clone())
        }),
    )
}

async fn upgrade(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    id: Option<Extension<RequestId>>,
    ws: WebSocketUpgrade,
    initial: Arc<session::InitialCache>,
) -> Response {
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(HeaderValue::as_bytes);
    let client = state.limits.client_ip(peer.ip(), forwarded);
    // Browsers always send Origin on a WebSocket upgrade; other clients
    // may not, and cannot be hijacked through a page.
    if let Some(origin) = headers.get(header::ORIGIN) {
        let allowed = origin.to_str().is_ok_and(|o| state.origins.allows(o));
        if !allowed {
            tracing::info!(%client, ?origin, "websocket upgrade refused: foreign origin");
            return refuse(
                StatusCode::FORBIDDEN,
                ErrorCode::Forbidden,
                "this origin may not open the WebSocket",
                None,
            );
        }
    }
    if let Err(wait) = state.limits.check(Scope::WsUpgrade, client) {
        tracing::debug!(%client, "websocket upgrade rate limit");
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            "too many connection attempts",
            Some(wait),
        );
    }
    let slot = match state.limits.open_connection(client) {
        Ok(slot) => slot,
        Err(cap) => {
            tracing::info!(%client, ?cap, "websocket upgrade refused: connection cap");
            // Nothing to wait for but another socket closing: a short hint.
            let hint = Some(RetryAfter(std::time::Duration::from_secs(5)));
            return match cap {
                CapExceeded::PerClient => refuse(
                    StatusCode::TOO_MANY_REQUESTS,
                    ErrorCode::RateLimited,
                    "too many open connections from this address",
                    hint,
                ),
                CapExceeded::Total => refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::Overloaded,
                    "the server is at its connection limit",
                    hint,
                ),
            };
        }
    };
    // The session logs under the id of the request that opened it.
    let id = id.map_or_else(RequestId::new, |Extension(id)| id);
    let span = tracing::info_span!(parent: None, "ws", %id, %peer);
    // Held for the session's life: shutdown waits for it.
    let tracked = state.sessions.token();
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
        .on_upgrade(move |socket| {
            async move {
                session::run(socket, state, peer, client, slot, initial).await;
                drop(tracked);
            }
            .instrument(span)
        })
}

/// An upgrade refused with the one JSON error shape (and `Retry-After`).
fn refuse(
    status: StatusCode,
    code: ErrorCode,
    message: &str,
    retry_after: Option<RetryAfter>,
) -> Response {
    let mut response = (status, Json(error_body(code, message))).into_response();
    if let Some(wait) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs_ceil()));
    }
    response
}
