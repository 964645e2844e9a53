//! One WebSocket client, from upgrade to close.
//!
//! A single task per client selects over: the socket (requests), the bus
//! (broadcasts), a ping timer and the shutdown token. Sends are bounded by
//! a timeout, so a client that stops reading is dropped instead of holding
//! memory; a client that falls more than the bus capacity behind gets close
//! 1013 and never slows anyone else.
//!
//! Every text or binary message spends a cell of the client's message limit
//! (and a `submit_ticket` one of its submission limit). A refused message is
//! answered `error` `rate_limited` with `retry_after_ms`; a client that keeps
//! sending while refused (`--ws-refusals-before-close` times in a row) is
//! closed with 1008.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::Frame as WireFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::envelope;
use crate::events::{Event, Frame};
use crate::limits::{ConnectionGuard, MessageRefused};
use crate::protocol::{self, Caller, ProtocolError, Reply, SessionWatch};
use crate::service::ErrorCode;
use crate::state::AppState;
use crate::stream::Resume;

/// An upgraded connection.
pub type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// The usual largest frame the server sends. A longer message
/// (`initial_tickets` with thousands of tickets) goes out as fragments of
/// this size, so no client's write buffer ever grows to the size of the
/// whole message and stays that large.
pub const FRAGMENT_BYTES: usize = 4 * 1024;

/// The most fragments one message is sent in: common clients refuse
/// messages of many more (Python's `websockets` closes past 4,096), so a
/// message longer than this many [`FRAGMENT_BYTES`] goes in larger ones.
pub const MAX_FRAGMENTS: usize = 1000;

/// The fragment size for a message of `len` bytes.
fn fragment_bytes(len: usize) -> usize {
    FRAGMENT_BYTES.max(len.div_ceil(MAX_FRAGMENTS))
}

/// A message this large is a bulk send: it takes a slot of
/// `AppState::bulk_sends` and yields between fragments.
const BULK_BYTES: usize = 256 * 1024;

/// Why a session ended, for the log.
enum End {
    ClientClosed,
    Shutdown,
    Lagged,
    Idle,
    SendTimeout,
    RateLimited,
    Error(&'static str),
}

pub async fn run(
    mut socket: Socket,
    state: AppState,
    peer: SocketAddr,
    client: IpAddr,
    slot: ConnectionGuard,
    resume: Option<Resume>,
) {
    // Holds this client's connection slot until the session ends.
    let _slot = slot;
    let settings = state.ws.clone();
    // Subscribe before the first sync (or the replay), then skip what it
    // holds: nothing is missed and nothing is seen twice.
    let mut events = state.service.subscribe();
    let caller = Caller::new(client);
    let catchup = state.service.sync(resume, caller.is_staff());
    let snapshot_version = catchup.version;
    let mut refused_in_a_row = 0u32;
    let metrics = state.metrics.clone();
    let _counted = metrics.ws_client_connected();
    tracing::debug!(%peer, "websocket client connected");

    let send_timeout = settings.send_timeout();
    let end = 'session: {
        // A large first sync or replay waits for a bulk-send slot (a small
        // one goes at once), and yields as it goes: broadcasts to everyone
        // else keep flowing while it is sent.
        let bytes: usize = catchup.frames.iter().map(|p| p.frame.len()).sum();
        let slot = if bytes > BULK_BYTES {
            state.bulk_sends.acquire().await.ok()
        } else {
            None
        };
        for p in catchup.frames.iter().chain([&catchup.state]) {
            if let Err(end) = feed_text(&mut socket, p.frame.bytes(), send_timeout).await {
                break 'session end;
            }
            metrics.ws_sent(p.event);
            if bytes > BULK_BYTES {
                tokio::task::yield_now().await;
            }
        }
        if let Err(end) = flush_by(&mut socket, Instant::now() + send_timeout).await {
            break 'session end;
        }
        drop(slot);
        drop(catchup);
        let mut ping = tokio::time::interval_at(
            Instant::now() + settings.ping_interval(),
            settings.ping_interval(),
        );
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_heard = Instant::now();
        let mut staff_session = SessionWatch::new(&caller, &state.auth);
        loop {
            tokio::select! {
                biased;
                _ = state.shutdown.cancelled() => {
                    close(&mut socket, CloseCode::Away, "server shutting down").await;
                    break 'session End::Shutdown;
                }
                incoming = socket.next() => {
                    last_heard = Instant::now();
                    let message = match incoming {
                        None => break 'session End::ClientClosed,
                        Some(Ok(m)) => m,
                        Some(Err(e)) => {
                            let (code, why) = classify(&e);
                            close(&mut socket, code, why).await;
                            break 'session End::Error(why);
                        }
                    };
                    let incoming = match message {
                        Message::Text(text) => Some(envelope::parse(&text)),
                        Message::Binary(_) => None,
                        Message::Close(_) => break 'session End::ClientClosed,
                        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
                    };
                    let (reply, reply_event) = match admit(&state, client, incoming.as_ref()) {
                        Ok(()) => {
                            refused_in_a_row = 0;
                            match incoming {
                                Some(incoming) => handle(&state, &caller, incoming).await,
                                None => {
                                    metrics.ws_received(INVALID, Err(ErrorCode::BadFrame));
                                    let error = ProtocolError::new(
                                        ErrorCode::BadFrame,
                                        "binary frames are not part of the protocol; send JSON text",
                                    );
                                    (error.encode(None), "error")
                                }
                            }
                        }
                        Err(refusal) => {
                            refused_in_a_row += 1;
                            if refused_in_a_row > state.limits.ws_refusals_before_close() {
                                tracing::info!(%peer, %client, "closing a client that ignores the rate limit");
                                close(&mut socket, CloseCode::Policy, "rate limit exceeded").await;
                                break 'session End::RateLimited;
                            }
                            let name = match incoming.as_ref().map(|i| &i.event) {
                                Some(Ok(event)) => event.name(),
                                _ => INVALID,
                            };
                            metrics.ws_received(name, Err(ErrorCode::RateLimited));
                            let reference = incoming.as_ref().and_then(|i| i.reference.as_deref());
                            (rate_limited(refusal, reference), "error")
                        }
                    };
                    if let Err(end) = send_text(&mut socket, reply.bytes(), send_timeout).await {
                        break 'session end;
                    }
                    metrics.ws_sent(reply_event);
                }
                published = events.recv() => {
                    match published {
                        Ok(p) if p.is_after(snapshot_version) && caller.may_receive(&p) => {
                            if let Err(end) = send_text(&mut socket, p.frame.bytes(), send_timeout).await {
                                break 'session end;
                            }
                            metrics.ws_sent(p.event);
                        }
                        Ok(_) => {}
                        Err(RecvError::Lagged(missed)) => {
                            tracing::warn!(%peer, missed, "client too slow for the broadcast; disconnecting");
                            close(&mut socket, CloseCode::Again, "too slow: reconnect to resync").await;
                            break 'session End::Lagged;
                        }
                        Err(RecvError::Closed) => {
                            close(&mut socket, CloseCode::Away, "server shutting down").await;
                            break 'session End::Shutdown;
                        }
                    }
                }
                ended = staff_session.ended() => {
                    caller.sign_out();
                    let frame = Event::SessionExpired { reason: ended.as_str() }.encode(None);
                    if let Err(end) = send_text(&mut socket, frame.bytes(), send_timeout).await {
                        break 'session end;
                    }
                    metrics.ws_sent("session_expired");
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() >= settings.idle_timeout() {
                        close(&mut socket, CloseCode::Policy, "idle timeout").await;
                        break 'session End::Idle;
                    }
                    if let Err(end) = send(&mut socket, Message::Ping(Bytes::new()), send_timeout).await {
                        break 'session end;
                    }
                }
            }
        }
    };
    let reason = match end {
        End::ClientClosed => "client closed",
        End::Shutdown => "shutdown",
        End::Lagged => {
            metrics.ws_slow_disconnect("lagged");
            "too slow"
        }
        End::Idle => "idle timeout",
        End::SendTimeout => {
            metrics.ws_slow_disconnect("send_timeout");
            tracing::warn!(%peer, "client stopped reading; disconnected");
            "send timed out"
        }
        End::RateLimited => "kept sending over the rate limit",
        End::Error(why) => why,
    };
    tracing::debug!(%peer, reason, "websocket client disconnected");
}

/// Spends the client's message limit (and for a ticket submission its
/// submission limit); `Err` says which and how long until it may send again.
fn admit(
    state: &AppState,
    client: IpAddr,
    incoming: Option<&envelope::Incoming>,
) -> Result<(), MessageRefused> {
    let submits = matches!(
        incoming,
        Some(envelope::Incoming {
            event: Ok(event),
            ..
        }) if event.submits()
    );
    state.limits.check_message(client, submits)
}

/// The reply to a refused message.
fn rate_limited(refusal: MessageRefused, reference: Option<&str>) -> Frame {
    Event::RateLimited {
        message: refusal.message(),
        retry_after_ms: refusal.wait.as_millis_ceil(),
    }
    .encode(reference)
}

/// The metrics label of a frame that did not parse into a client event.
const INVALID: &str = "invalid";

/// Runs one parsed text frame; returns the direct reply and its event name,
/// and counts the message.
async fn handle(
    state: &AppState,
    caller: &Caller,
    incoming: envelope::Incoming,
) -> (Frame, &'static str) {
    let reference = incoming.reference.as_deref();
    let (name, result) = match incoming.event {
        Ok(event) => (
            event.name(),
            protocol::dispatch(&state.service, &state.auth, caller, event).await,
        ),
        Err(e) => (INVALID, Err(e)),
    };
    state
        .metrics
        .ws_received(name, result.as_ref().map(|_| ()).map_err(|e| e.code));
    if let Ok(Reply::AdminSuccess { action, .. }) = &result {
        state.metrics.admin_action(action);
    }
    match result {
        Ok(reply) => {
            let event = reply.event();
            (event.encode(reference), event.name())
        }
        Err(e) => (e.encode(reference), "error"),
    }
}

/// Sends one text message from shared bytes: as one frame, or as
/// fragments (see [`fragment_bytes`]). The bytes are the encoded event,
/// shared by every client; nothing is copied or re-validated per client.
/// `within` bounds the whole message, not each fragment: a client reading a
/// large `initial_tickets` a trickle at a time cannot hold its bulk-send
/// slot for longer than that.
async fn send_text(socket: &mut Socket, text: &Bytes, within: Duration) -> Result<(), End> {
    feed_text(socket, text, within).await?;
    flush_by(socket, Instant::now() + within).await
}

/// Queues one text message (as [`send_text`]) without flushing: a catch-up
/// of many small events goes out in a few large writes, not one TLS record
/// and syscall per event. Call [`flush_by`] after the last one.
async fn feed_text(socket: &mut Socket, text: &Bytes, within: Duration) -> Result<(), End> {
    let deadline = Instant::now() + within;
    let fragment = fragment_bytes(text.len());
    if text.len() <= fragment {
        let frame = WireFrame::message(text.clone(), OpCode::Data(Data::Text), true);
        return feed_by(socket, Message::Frame(frame), deadline).await;
    }
    let mut start = 0;
    while start < text.len() {
        let end = (start + fragment).min(text.len());
        let opcode = if start == 0 {
            OpCode::Data(Data::Text)
        } else {
            OpCode::Data(Data::Continue)
        };
        let frame = WireFrame::message(text.slice(start..end), opcode, end == text.len());
        feed_by(socket, Message::Frame(frame), deadline).await?;
        start = end;
        if text.len() > BULK_BYTES {
            tokio::task::yield_now().await;
        }
    }
    Ok(())
}

async fn feed_by(socket: &mut Socket, message: Message, deadline: Instant) -> Result<(), End> {
    match tokio::time::timeout_at(deadline, socket.feed(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(End::Error("send failed")),
        Err(_) => Err(End::SendTimeout),
    }
}

async fn flush_by(socket: &mut Socket, deadline: Instant) -> Result<(), End> {
    match tokio::time::timeout_at(deadline, socket.flush()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(End::Error("send failed")),
        Err(_) => Err(End::SendTimeout),
    }
}

async fn send(socket: &mut Socket, message: Message, within: Duration) -> Result<(), End> {
    send_by(socket, message, Instant::now() + within).await
}

async fn send_by(socket: &mut Socket, message: Message, deadline: Instant) -> Result<(), End> {
    match tokio::time::timeout_at(deadline, socket.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(End::Error("send failed")),
        Err(_) => Err(End::SendTimeout),
    }
}

async fn close(socket: &mut Socket, code: CloseCode, reason: &'static str) {
    let frame = Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }));
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.send(frame)).await;
}

/// Maps a receive error to the close code RFC 6455 asks for.
fn classify(error: &WsError) -> (CloseCode, &'static str) {
    match error {
        WsError::Utf8(_) => (CloseCode::Invalid, "invalid UTF-8 in a text frame"),
        WsError::Capacity(_) => (CloseCode::Size, "message too big"),
        WsError::Protocol(_) => (CloseCode::Protocol, "protocol error"),
        _ => (CloseCode::Error, "connection error"),
    }
}
