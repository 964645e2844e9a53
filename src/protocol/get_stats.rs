//! `get_stats`: the current counts.
//!
//! ```json
//! {"event": "get_stats"}            // or "data": {}
//! ```
//! Answered with `stats_update` `{"total","open","resolved","by_priority","by_category"}`.

use serde_json::Value;

use super::{ProtocolError, Reply};
use crate::service::{ErrorCode, Service};

pub(super) fn parse(data: Value) -> Result<(), ProtocolError> {
    match data {
        Value::Null => Ok(()),
        Value::Object(map) if map.is_empty() => Ok(()),
        _ => Err(ProtocolError::new(
            ErrorCode::InvalidPayload,
            "data: get_stats takes no data (omit it or send {})",
        )),
    }
}

pub(super) fn run(service: &Service) -> Reply {
    Reply::Stats(service.stats())
}
