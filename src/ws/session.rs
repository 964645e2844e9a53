//! One WebSocket client, from upgrade to close.
//!
//! A single task per client selects over: the socket (requests), the bus
//! (broadcasts), a ping timer and the shutdown token. Sends are bounded by
//! a timeout, so a client that stops reading is dropped instead of holding
//! memory; a client that falls more than the bus capacity behind gets close
//! 1013 and never slows anyone else.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{Instant, MissedTickBehavior};

use super::envelope;
use crate::events::Frame;
use crate::protocol::{self, Caller, ProtocolError};
use crate::service::ErrorCode;
use crate::state::AppState;

/// `initial_tickets` as a text payload, converted once per store version
/// and shared by every client that connects before the next change.
#[derive(Default)]
pub struct InitialCache(Mutex<Option<(u64, Utf8Bytes)>>);

impl InitialCache {
    fn get(&self, state: &AppState) -> (u64, Utf8Bytes) {
        let (version, frame) = state.service.initial_frame();
        let mut cached = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((v, text)) = cached.as_ref()
            && *v == version
        {
            return (version, text.clone());
        }
        let text = to_text(&frame);
        *cached = Some((version, text.clone()));
        (version, text)
    }
}

fn to_text(frame: &Frame) -> Utf8Bytes {
    Utf8Bytes::try_from(frame.bytes().clone()).expect("frames hold UTF-8 JSON")
}

/// Why a session ended, for the log.
enum End {
    ClientClosed,
    Shutdown,
    Lagged,
    Idle,
    SendTimeout,
    Error(&'static str),
}

pub async fn run(
    mut socket: WebSocket,
    state: AppState,
    peer: SocketAddr,
    initial: Arc<InitialCache>,
) {
    let settings = state.ws.clone();
    // Subscribe before the snapshot, then skip what the snapshot holds:
    // nothing is missed and nothing is seen twice.
    let mut events = state.service.subscribe();
    let (snapshot_version, initial_text) = initial.get(&state);
    let caller = Caller { addr: peer.ip() };
    let metrics = state.metrics.clone();
    let _counted = metrics.ws_client_connected();
    tracing::debug!("websocket client connected");

    let send_timeout = settings.send_timeout();
    let end = 'session: {
        if let Err(end) = send(&mut socket, Message::Text(initial_text), send_timeout).await {
            break 'session end;
        }
        metrics.ws_sent("initial_tickets");
        let mut ping = tokio::time::interval_at(
            Instant::now() + settings.ping_interval(),
            settings.ping_interval(),
        );
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_heard = Instant::now();
        loop {
            tokio::select! {
                biased;
                _ = state.shutdown.cancelled() => {
                    close(&mut socket, close_code::AWAY, "server shutting down").await;
                    break 'session End::Shutdown;
                }
                incoming = socket.recv() => {
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
                    let (reply, reply_event) = match message {
                        Message::Text(text) => handle_text(&state, &caller, &text).await,
                        Message::Binary(_) => {
                            metrics.ws_received(INVALID, Err(ErrorCode::BadFrame));
                            let error = ProtocolError::new(
                                ErrorCode::BadFrame,
                                "binary frames are not part of the protocol; send JSON text",
                            );
                            (error.encode(None), "error")
                        }
                        Message::Close(_) => break 'session End::ClientClosed,
                        Message::Ping(_) | Message::Pong(_) => continue,
                    };
                    if let Err(end) = send(&mut socket, Message::Text(to_text(&reply)), send_timeout).await {
                        break 'session end;
                    }
                    metrics.ws_sent(reply_event);
                }
                published = events.recv() => {
                    match published {
                        Ok(p) if p.is_after(snapshot_version) => {
                            if let Err(end) = send(&mut socket, Message::Text(to_text(&p.frame)), send_timeout).await {
                                break 'session end;
                            }
                            metrics.ws_sent(p.event);
                        }
                        Ok(_) => {}
                        Err(RecvError::Lagged(missed)) => {
                            tracing::warn!(missed, "client too slow for the broadcast; disconnecting");
                            close(&mut socket, close_code::AGAIN, "too slow: reconnect to resync").await;
                            break 'session End::Lagged;
                        }
                        Err(RecvError::Closed) => {
                            close(&mut socket, close_code::AWAY, "server shutting down").await;
                            break 'session End::Shutdown;
                        }
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() >= settings.idle_timeout() {
                        close(&mut socket, close_code::POLICY, "idle timeout").await;
                        break 'session End::Idle;
                    }
                    if let Err(end) = send(&mut socket, Message::Ping(Default::default()), send_timeout).await {
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
            tracing::warn!("client stopped reading; disconnected");
            "send timed out"
        }
        End::Error(why) => why,
    };
    tracing::debug!(reason, "websocket client disconnected");
}

/// The metrics label of a frame that did not parse into a client event.
const INVALID: &str = "invalid";

/// Parses and runs one text frame; returns the direct reply and its event
/// name, and counts the message.
async fn handle_text(state: &AppState, caller: &Caller, text: &str) -> (Frame, &'static str) {
    let incoming = envelope::parse(text);
    let reference = incoming.reference.as_deref();
    let (name, result) = match incoming.event {
        Ok(event) => (
            event.name(),
            protocol::dispatch(&state.service, caller, event).await,
        ),
        Err(e) => (INVALID, Err(e)),
    };
    state
        .metrics
        .ws_received(name, result.as_ref().map(|_| ()).map_err(|e| e.code));
    match result {
        Ok(reply) => {
            let event = reply.event();
            (event.encode(reference), event.name())
        }
        Err(e) => (e.encode(reference), "error"),
    }
}

async fn send(socket: &mut WebSocket, message: Message, within: Duration) -> Result<(), End> {
    match tokio::time::timeout(within, socket.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(End::Error("send failed")),
        Err(_) => Err(End::SendTimeout),
    }
}

async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let frame = Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }));
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.send(frame)).await;
}

/// Maps a receive error to the close code RFC 6455 asks for.
fn classify(error: &axum::Error) -> (u16, &'static str) {
    use std::error::Error as _;
    let mut source = error.source();
    while let Some(e) = source {
        if let Some(ws) = e.downcast_ref::<tungstenite_error::Error>() {
            return match ws {
                tungstenite_error::Error::Utf8(_) => {
                    (close_code::INVALID, "invalid UTF-8 in a text frame")
                }
                tungstenite_error::Error::Capacity(_) => (close_code::SIZE, "message too big"),
                tungstenite_error::Error::Protocol(_) => (close_code::PROTOCOL, "protocol error"),
                _ => (close_code::ERROR, "connection error"),
            };
        }
        source = e.source();
    }
    (close_code::ERROR, "connection error")
}

/// axum re-exports no tungstenite error type; name the one it wraps.
mod tungstenite_error {
    pub use tungstenite::Error;
}
