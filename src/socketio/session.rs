//! One Socket.IO client, from joining the default namespace to leaving it.
//!
//! On connect: the client takes a connection slot (the caps `/ws` uses;
//! refused with `error` `rate_limited`/`overloaded`, then disconnected),
//! subscribes to the bus, and is sent `initial_tickets`; then one task
//! forwards the bus to it, skipping what its snapshot already holds, so
//! nothing is missed and nothing is seen twice. Forwarding per socket
//! (rather than one `io.emit` for all) is what makes that skip possible:
//! each client's snapshot is at its own version. The cost per client and
//! event is one copy of the already-encoded `data` into its packet; the
//! `data` is cut out of the bus frame once per event, never re-serialized.
//!
//! Every event a client emits goes through `protocol` (as on `/ws`) after
//! spending the client's message limit (and a `submit_ticket` its
//! submission limit). The reply is emitted as its usual event and, when the
//! client asked for an acknowledgement, passed to the ack as well.
//!
//! A client whose packet queue (`--client-queue` packets) is full, or that
//! falls more than the bus capacity behind, is disconnected; no emit ever
//! waits, so a slow client never holds up anyone else.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use socketioxide::extract::{AckSender, Event as EventName, SocketRef, TryData};
use socketioxide::{SendError, SocketError};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::events::{Event, Published};
use crate::limits::CapExceeded;
use crate::protocol::{self, Caller, ClientEvent, ProtocolError, Reply, SessionWatch};
use crate::service::ErrorCode;
use crate::state::AppState;
use crate::stream::Resume;

/// What a connected socket's handlers share.
struct Session {
    state: AppState,
    caller: Caller,
    /// Refused events in a row (handlers may run concurrently).
    refused_in_a_row: AtomicU32,
    /// Cancelled when the client must go: too slow, or over the rate limit.
    drop: CancellationToken,
}

/// The metrics label of an event that did not parse into a client event.
const INVALID: &str = "invalid";

/// Sets up a socket that just joined the default namespace. Synchronous:
/// it runs before the client's next packet is read.
pub(super) fn connected(
    socket: SocketRef,
    state: &AppState,
    resume: Option<Resume>,
    token: Option<String>,
) {
    let client = super::client_ip(&socket.req_parts().extensions);
    let span = tracing::info_span!(parent: None, "socketio", sid = %socket.id, %client);
    let _entered = span.enter();
    let slot = match state.limits.open_connection(client) {
        Ok(slot) => slot,
        Err(cap) => {
            tracing::info!(?cap, "socket.io connection refused: connection cap");
            let (code, message) = match cap {
                CapExceeded::PerClient => (
                    ErrorCode::RateLimited,
                    "too many open connections from this address",
                ),
                CapExceeded::Total => (
                    ErrorCode::Overloaded,
                    "the server is at its connection limit",
                ),
            };
            let refusal = Event::Error {
                code: code.as_str(),
                message,
            };
            let _ = socket.emit(refusal.name(), &refusal.data());
            let _ = socket.disconnect();
            return;
        }
    };
    let counted = state.metrics.socketio_client_connected();
    let session = Arc::new(Session {
        state: state.clone(),
        caller: Caller::new(client),
        refused_in_a_row: AtomicU32::new(0),
        drop: CancellationToken::new(),
    });
    let gone = CancellationToken::new();
    socket.on_disconnect({
        let gone = gone.clone();
        move || {
            gone.cancel();
            async {}
        }
    });
    // Every event, known or not, goes to the protocol, which names the
    // unknown ones.
    socket.on_fallback({
        let session = session.clone();
        move |socket: SocketRef,
              EventName(name): EventName,
              TryData(data): TryData<Value>,
              ack: AckSender| {
            let span = tracing::Span::current();
            async move { on_event(&session, socket, &name, data.ok(), ack).await }.instrument(span)
        }
    });
    // A token in the CONNECT `auth` is an `authenticate` before anything
    // else: answered `authenticated` (or `error` unauthorized, and the
    // socket is anonymous), ahead of the catch-up.
    if let Some(token) = token {
        let reply = match protocol::dispatch_authenticate(&state.auth, &session.caller, token) {
            Ok(reply) => reply.event().data(),
            Err(e) => {
                let _ = socket.emit("error", &e.data());
                serde_json::Value::Null
            }
        };
        if !reply.is_null() {
            let _ = socket.emit("authenticated", &reply);
        }
    }
    // Subscribe before the first sync (or the replay), then skip what it
    // holds: nothing is missed and nothing is seen twice.
    let events = state.service.subscribe();
    let catchup = state.service.sync(resume, session.caller.is_staff());
    tracing::debug!(resume = resume.is_some(), "socket.io client connected");
    if !socket.connected() {
        // It left before the disconnect handler was in place.
        gone.cancel();
    }
    let tracked = state.sessions.token();
    tokio::spawn(
        async move {
            if send_catchup(
                &session,
                &socket,
                catchup.frames.iter().chain([&catchup.state]),
                &gone,
            )
            .await
            {
                forward(&session, &socket, events, catchup.version, &gone).await;
            }
            if session.drop.is_cancelled() {
                disconnect_when_possible(&session, socket, &gone).await;
            }
            drop((slot, counted, tracked));
            tracing::debug!("socket.io client gone");
        }
        .instrument(span.clone()),
    );
}

/// Sends the first sync or the replayed changes, then `sync_state`. A
/// replay may be longer than the client's packet queue, so a full queue is
/// waited on here (up to `--send-timeout-secs` in all), not taken as a
/// client that stopped reading. Returns whether the client is still there.
async fn send_catchup<'a>(
    session: &Session,
    socket: &SocketRef,
    frames: impl Iterator<Item = &'a Published>,
    gone: &CancellationToken,
) -> bool {
    let deadline = tokio::time::Instant::now() + session.state.ws.send_timeout();
    for p in frames {
        loop {
            match try_emit(socket, p) {
                Ok(()) => {
                    session.state.metrics.socketio_sent(p.event);
                    break;
                }
                Err(SendError::Socket(SocketError::InternalChannelFull))
                    if tokio::time::Instant::now() < deadline =>
                {
                    tokio::select! {
                        _ = gone.cancelled() => return false,
                        _ = session.state.shutdown.cancelled() => return false,
                        _ = tokio::time::sleep(Duration::from_millis(5)) => {}
                    }
                }
                Err(SendError::Socket(SocketError::InternalChannelFull)) => {
                    tracing::warn!(
                        "socket.io client did not read its first sync in time; disconnecting"
                    );
                    session
                        .state
                        .metrics
                        .socketio_slow_disconnect("send_timeout");
                    session.drop.cancel();
                    return false;
                }
                Err(e) => {
                    tracing::debug!(error = %e, event = p.event, "socket.io emit failed");
                    return false;
                }
            }
        }
    }
    true
}

/// Emits a bus frame: its `data`, and for a change a second argument
/// `{"v": N}` (the original clients read only the first).
fn try_emit(socket: &SocketRef, p: &Published) -> Result<(), SendError> {
    let data = p.data();
    if p.version > 0 {
        socket.emit(p.event, &(&*data, Version { v: p.version }))
    } else {
        socket.emit(p.event, &*data)
    }
}

/// The second argument of a change event.
#[derive(Serialize)]
struct Version {
    v: u64,
}

/// Forwards the bus to one client until it leaves, must go, or the server
/// shuts down (when `mod.rs` closes every connection).
async fn forward(
    session: &Session,
    socket: &SocketRef,
    mut events: tokio::sync::broadcast::Receiver<crate::events::Published>,
    snapshot_version: u64,
    gone: &CancellationToken,
) {
    let state = &session.state;
    let mut staff_session = SessionWatch::new(&session.caller, &state.auth);
    loop {
        tokio::select! {
            biased;
            _ = state.shutdown.cancelled() => return,
            _ = gone.cancelled() => return,
            _ = session.drop.cancelled() => return,
            published = events.recv() => match published {
                Ok(p) if p.is_after(snapshot_version) && session.caller.may_receive(&p) => {
                    let result = try_emit(socket, &p);
                    sent(session, p.event, result);
                }
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "socket.io client too slow for the broadcast; disconnecting");
                    state.metrics.socketio_slow_disconnect("lagged");
                    session.drop.cancel();
                    return;
                }
                Err(RecvError::Closed) => return,
            },
            ended = staff_session.ended() => {
                session.caller.sign_out();
                let event = Event::SessionExpired { reason: ended.as_str() };
                emit(session, socket, event.name(), &event.data());
            }
        }
    }
}

/// Emits one event to the client without waiting; a full queue marks the
/// client too slow. Returns whether the event was queued.
fn emit<T: Serialize + ?Sized>(
    session: &Session,
    socket: &SocketRef,
    event: &'static str,
    data: &T,
) -> bool {
    sent(session, event, socket.emit(event, data))
}

/// Counts an emit, or marks the client too slow when its queue was full.
fn sent(session: &Session, event: &'static str, result: Result<(), SendError>) -> bool {
    match result {
        Ok(()) => {
            session.state.metrics.socketio_sent(event);
            true
        }
        Err(SendError::Socket(SocketError::InternalChannelFull)) => {
            if !session.drop.is_cancelled() {
                tracing::warn!("socket.io client stopped reading (queue full); disconnecting");
                session
                    .state
                    .metrics
                    .socketio_slow_disconnect("buffer_full");
                session.drop.cancel();
            }
            false
        }
        Err(e) => {
            tracing::debug!(error = %e, event, "socket.io emit failed");
            false
        }
    }
}

/// Disconnects a client that must go. Its queue may be full, so the
/// disconnect packet may not fit yet: retry until it does, the client
/// leaves (a client that stopped reading misses its pings and is dropped
/// by Engine.IO), or the server shuts down.
async fn disconnect_when_possible(session: &Session, socket: SocketRef, gone: &CancellationToken) {
    loop {
        match socket.clone().disconnect() {
            Err(SocketError::InternalChannelFull) => {}
            _ => return,
        }
        tokio::select! {
            _ = gone.cancelled() => return,
            _ = session.state.shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}

/// One event from the client: rate limits, the protocol, the reply event,
/// the acknowledgement.
async fn on_event(
    session: &Session,
    socket: SocketRef,
    name: &str,
    data: Option<Value>,
    ack: AckSender,
) {
    let state = &session.state;
    // An event emitted without arguments has no data, like `/ws`'s
    // frame without `data`.
    let event = ClientEvent::parse(name, data.unwrap_or(Value::Null));
    let label = event.as_ref().map_or(INVALID, ClientEvent::name);
    let submits = event.as_ref().is_ok_and(ClientEvent::submits);
    if let Err(refusal) = state.limits.check_message(session.caller.addr, submits) {
        let refused = session.refused_in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
        state
            .metrics
            .socketio_received(label, Err(ErrorCode::RateLimited));
        if refused > state.limits.ws_refusals_before_close() {
            tracing::info!("disconnecting a socket.io client that ignores the rate limit");
            session.drop.cancel();
            return;
        }
        let reply = Event::RateLimited {
            message: refusal.message(),
            retry_after_ms: refusal.wait.as_millis_ceil(),
        };
        answer(session, &socket, ack, &reply);
        return;
    }
    session.refused_in_a_row.store(0, Ordering::Relaxed);
    let result = match event {
        Ok(event) => protocol::dispatch(&state.service, &state.auth, &session.caller, event).await,
        Err(e) => Err(e),
    };
    state
        .metrics
        .socketio_received(label, result.as_ref().map(|_| ()).map_err(|e| e.code));
    match result {
        Ok(reply) => {
            if let Reply::AdminSuccess { action, .. } = &reply {
                state.metrics.admin_action(action);
            }
            answer(session, &socket, ack, &reply.event());
        }
        Err(ProtocolError { code, message }) => {
            let error = Event::Error {
                code: code.as_str(),
                message: &message,
            };
            answer(session, &socket, ack, &error);
        }
    }
}

/// Sends the reply as its event, and to the ack if the client asked for one.
fn answer(session: &Session, socket: &SocketRef, ack: AckSender, reply: &Event<'_>) {
    let data = reply.data();
    emit(session, socket, reply.name(), &data);
    if let Err(e) = ack.send(&data) {
        tracing::debug!(error = %e, "socket.io ack not sent");
    }
}
