//! The Socket.IO transport: Engine.IO v4 / Socket.IO v5 at `/socket.io/`,
//! for the original system's clients (`socket.emit('submit_ticket', …)`,
//! `socket.on('new_ticket', …)`), over WebSocket and HTTP long-polling
//! with upgrade.
//!
//! The protocol itself is socketioxide's, running as a tower layer inside
//! the router (so the security headers, body limit, timeout and request
//! metrics of `http::layers` wrap it). This module adds what ticketd asks
//! of every door, in two places:
//!
//! - [`admit_request`], on every HTTP request under `/socket.io`: a page
//!   from a foreign `Origin` is refused (403); a request that opens a new
//!   Engine.IO session spends the client's connection-attempt budget
//!   (`--ws-upgrade-rate`), any other (a poll, a post, the upgrade of a
//!   polling session) its polling budget (`--socketio-poll-rate`), in place
//!   of the generic HTTP limit, which a long-polling client would trip.
//! - `session.rs`, one per connected socket: the connection caps, the
//!   events (parsed and run by `protocol`, exactly as for `/ws`), message
//!   limits, acknowledgements, and the forwarding of the bus.
//!
//! Pings are Engine.IO's own: every `--ping-interval-secs`, and a client
//! that has not answered within the rest of `--idle-timeout-secs` is
//! dropped. At shutdown every Engine.IO connection is closed, which a
//! client sees as a transport close (and reconnects, as after a restart).

mod session;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use serde_json::Value;
use socketioxide::extract::{SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::{ParserConfig, SocketIo};

use crate::api_error::refuse;
use crate::limits::{ClientIp, Scope};
use crate::service::ErrorCode;
use crate::state::AppState;
use crate::stream::Resume;

/// Where Socket.IO is served (Engine.IO's `path`; clients add the slash).
pub const PATH: &str = "/socket.io";

/// The `route` label of every Socket.IO request in the HTTP metrics.
pub const ROUTE: &str = "/socket.io/";

/// How long an Engine.IO connection may stay without joining the default
/// namespace (socketioxide's default is 45 s).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Adds Socket.IO to the application's routes, and arranges for every
/// Socket.IO connection to be closed when `state.shutdown` is cancelled.
pub fn attach(app: Router, state: &AppState) -> Router {
    let ws = &state.ws;
    // Engine.IO drops a client that has not answered a ping within
    // `ping_timeout` of sending it: with the rest of the idle timeout, a
    // silent client goes after `--idle-timeout-secs`, as on `/ws`.
    let ping_timeout = ws
        .idle_timeout()
        .saturating_sub(ws.ping_interval())
        .max(Duration::from_secs(1));
    let (layer, io) = SocketIo::builder()
        .req_path(PATH)
        .ping_interval(ws.ping_interval())
        .ping_timeout(ping_timeout)
        // Incoming polling bodies (and the largest batch of outgoing
        // packets in one poll; a single larger packet still goes alone).
        .max_payload(ws.max_message_bytes as u64)
        // A WebSocket message (and any one frame of it) is bounded like one
        // on `/ws`: a larger one closes the connection.
        .ws_max_message_size(ws.max_message_bytes)
        .ws_max_frame_size(ws.max_message_bytes)
        // Packets queued for one client; a full queue drops that client.
        .max_buffer_size(ws.client_queue.max(16))
        .connect_timeout(CONNECT_TIMEOUT)
        // ticketd's events carry no binary data: a packet announcing any
        // attachment closes the connection before a byte of it is kept.
        .with_parser(
            ParserConfig::common()
                .max_incoming_binaries(0)
                .max_incoming_binary_buf_size(0)
                .packet_completion_timeout(CONNECT_TIMEOUT),
        )
        .build_layer();
    let for_sockets = state.clone();
    let on_connect = move |socket: SocketRef, TryData(auth): TryData<Value>| {
        // Runs before socketioxide spawns the returned future, and before
        // the client's next packet is read: the handlers are in place
        // before any event can arrive.
        let auth = auth.ok();
        let resume = Resume::from_auth(auth.as_ref()).ok().flatten();
        // A staff token in `auth` makes the socket staff from the start, so
        // a resume replays internal notes too (it is in the CONNECT packet,
        // never in a URL or a log line).
        let token = auth
            .as_ref()
            .and_then(|a| a.get("token"))
            .and_then(Value::as_str)
            .map(str::to_string);
        session::connected(socket, &for_sockets, resume, token);
        async {}
    };
    io.ns("/", on_connect.with(check_resume));
    let closing = state.shutdown.clone();
    let live = io.clone();
    state.sessions.spawn(async move {
        closing.cancelled().await;
        tracing::debug!("closing Socket.IO connections");
        io.close().await;
    });
    app.layer(layer).layer(middleware::from_fn_with_state(
        (state.clone(), live),
        admit_request,
    ))
}

/// Refuses a CONNECT whose `auth` holds malformed resume parameters: the
/// client gets `connect_error` naming the parameter (and, as after any
/// refusal by the server, does not retry by itself).
async fn check_resume(TryData(auth): TryData<Value>) -> Result<(), String> {
    Resume::from_auth(auth.ok().as_ref())
        .map(|_| ())
        .map_err(|e| format!("{}: {e}", ErrorCode::InvalidPayload.as_str()))
}

/// The Origin check and rate limits of every Socket.IO HTTP request.
async fn admit_request(
    State((state, io)): State<(AppState, SocketIo)>,
    request: Request,
    next: Next,
) -> Response {
    if !request.uri().path().starts_with(PATH) {
        return next.run(request).await;
    }
    let client = client_ip(request.extensions());
    // Browsers send Origin on the WebSocket upgrade and on cross-origin
    // polling; a same-origin poll or a non-browser client may omit it.
    if let Some(origin) = request.headers().get(header::ORIGIN) {
        let allowed = origin.to_str().is_ok_and(|o| state.origins.allows(o));
        if !allowed {
            tracing::info!(%client, ?origin, "socket.io request refused: foreign origin");
            return refuse(
                StatusCode::FORBIDDEN,
                ErrorCode::Forbidden,
                "this origin may not use Socket.IO",
                None,
            );
        }
    }
    let opens_session = !names_live_session(&io, request.uri().query().unwrap_or(""));
    let (scope, message) = if opens_session {
        (Scope::WsUpgrade, "too many connection attempts")
    } else {
        (Scope::SocketIoPoll, "too many polling requests")
    };
    if let Err(wait) = state.limits.check(scope, client) {
        tracing::debug!(%client, scope = scope.as_str(), "socket.io rate limit");
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            message,
            Some(wait),
        );
    }
    next.run(request).await
}

/// Whether the query's `sid=` names a socket that is connected now. Only
/// such a request is a poll; anything else (no `sid`, a malformed one, one
/// that names no live socket, or the first packets of a session that has not
/// yet joined the namespace) spends the connection-opening budget, so that
/// made-up session ids cannot be sprayed on the cheaper polling budget.
fn names_live_session(io: &SocketIo, query: &str) -> bool {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("sid="))
        .and_then(|sid| sid.parse().ok())
        .is_some_and(|sid| io.get_socket(sid).is_some())
}

/// The client's address: as resolved by the HTTP layer (trusted proxies
/// included), else the TCP peer.
fn client_ip(extensions: &axum::http::Extensions) -> IpAddr {
    if let Some(ClientIp(ip)) = extensions.get::<ClientIp>() {
        return *ip;
    }
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}
