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
mod handshake;
mod session;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Extension, Router};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tracing::Instrument;

use crate::api_error::refuse;
use crate::limits::{CapExceeded, RetryAfter, Scope};
use crate::service::ErrorCode;
use crate::state::AppState;
use crate::stream::Resume;
use crate::telemetry::RequestId;
use crate::tickets::query::ParamError;

/// The WebSocket route.
pub fn routes() -> Router<AppState> {
    Router::new().route("/ws", any(upgrade))
}

async fn upgrade(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    id: Option<Extension<RequestId>>,
    mut request: Request,
) -> Response {
    let handshake = match handshake::check(&mut request) {
        Ok(h) => h,
        Err(refused) => return refused.into_response(),
    };
    // `?epoch=E&since=V`: where a reconnecting client was.
    let resume = match resume_from_query(request.uri()) {
        Ok(resume) => resume,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidPayload,
                &e.to_string(),
                None,
            );
        }
    };
    let headers = request.headers();
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
    let config = WebSocketConfig::default()
        // Small buffers: most of an idle client's memory is these (a 1 KiB
        // read chunk measured 12.9 KiB per idle client against 16.8 KiB
        // with 4 KiB; client messages are small). Large
        // messages go out as fragments (see `session`), so the write buffer
        // never holds more than one fragment.
        .read_buffer_size(1024)
        .write_buffer_size(0)
        // One fragment at a time is buffered (each send is flushed); the
        // largest is a 1,000th of the largest message.
        .max_write_buffer_size(usize::MAX)
        .max_message_size(Some(max))
        .max_frame_size(Some(max));
    let response = handshake.response();
    let on_upgrade = handshake.on_upgrade;
    tokio::spawn(
        async move {
            match on_upgrade.await {
                Ok(upgraded) => {
                    let socket = WebSocketStream::from_raw_socket(
                        TokioIo::new(upgraded),
                        Role::Server,
                        Some(config),
                    )
                    .await;
                    session::run(socket, state, peer, client, slot, resume).await;
                }
                Err(error) => tracing::warn!(%error, "websocket upgrade failed"),
            }
            drop(tracked);
        }
        .instrument(span),
    );
    response
}

/// The resume parameters of an upgrade's query; other parameters are
/// ignored.
fn resume_from_query(uri: &axum::http::Uri) -> Result<Option<Resume>, ParamError> {
    let Some(query) = uri.query() else {
        return Ok(None);
    };
    let params: Vec<(String, String)> = axum::extract::Query::try_from_uri(uri)
        .map(|axum::extract::Query(p)| p)
        .map_err(|_| ParamError::new("query", format!("cannot be decoded: {query:.64}")))?;
    let find = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    Resume::parse(find("epoch"), find("since"))
}
