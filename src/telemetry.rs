//! Logging: readable text on a terminal, JSON for journald and collectors.
//! `RUST_LOG` (or `TICKETD_LOG`) picks the levels; the default is `info`.
//!
//! Each HTTP request and WebSocket session logs inside a span carrying a
//! [`RequestId`], so its lines can be picked out of the stream. Nothing
//! logs a header, a request body or a token: the crates that would print
//! whole frames or packets at debug or trace level (admin commands carry
//! JWTs) are held at `info` whatever the filter asks for, see
//! [`PACKET_LOGGERS`].

use std::fmt;
use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Crates that log frame or packet contents below `info`; never more
/// verbose than `info`, so `TICKETD_LOG=debug` cannot print a token.
pub const PACKET_LOGGERS: [&str; 6] = [
    "socketioxide",
    "engineioxide",
    "tungstenite",
    "tokio_tungstenite",
    "h2",
    "hyper",
];

pub fn init(format: LogFormat) {
    let mut filter = EnvFilter::try_from_env("TICKETD_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    for target in PACKET_LOGGERS {
        if let Ok(directive) = format!("{target}=info").parse() {
            filter = filter.add_directive(directive);
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// The id of one HTTP request (and of the WebSocket session it upgrades
/// to): 64 random bits, shown as 16 hex digits and sent back as
/// `x-request-id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestId(u64);

impl RequestId {
    pub fn new() -> RequestId {
        RequestId(rand::random())
    }
}

impl Default for RequestId {
    fn default() -> Self {
        RequestId::new()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}
