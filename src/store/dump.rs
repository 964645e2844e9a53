//! A whole store as one portable file: `ticketd store export` and
//! `ticketd store import`.
//!
//! JSON Lines: a header `{"format":"ticketd-store-dump","format_version":1,
//! "epoch","version","tickets","exported_at"}`, then every ticket oldest
//! first, each exactly as the store keeps it (comments, follow-token hash
//! and SLA clocks included). Importing keeps ids, times, the stream's epoch
//! and version, so clients resume against the new store as against the
//! old one. The format names no storage engine: the same file is what a
//! second kind of store reads and writes.
//!
//! Export reads the files without taking the lock (the server may be
//! running: it sees the snapshot and the journals as they are). Import
//! takes the lock and refuses a directory that already holds a store.

use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::files::{self, Stored, StreamMeta};
use super::writer;
use crate::tickets::Ticket;

/// The header's `format`.
pub const FORMAT: &str = "ticketd-store-dump";
const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    format: String,
    format_version: u32,
    epoch: uuid::Uuid,
    version: u64,
    tickets: usize,
    exported_at: DateTime<Utc>,
}

/// Why a dump could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    #[error(transparent)]
    Open(#[from] super::OpenError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("line {line}: {problem}")]
    Bad { line: usize, problem: String },
    #[error("{0} already holds a store; import only into an empty directory (move it aside first)")]
    NotEmpty(String),
}

/// Writes the store in `dir` to `out`; returns how many tickets.
pub fn export(dir: &Path, out: &mut impl Write) -> Result<usize, DumpError> {
    if !dir.is_dir() {
        return Err(DumpError::Io(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{} is not a directory", dir.display()),
        )));
    }
    let replayed = writer::replay(dir, 0, &crate::sla::Policy::default())?;
    let tickets = replayed.state.oldest_first();
    // A directory that never ran has no epoch yet: the import makes one.
    let epoch = replayed.stream.map_or(uuid::Uuid::nil(), |m| m.epoch);
    write(out, epoch, replayed.version, &tickets)
}

/// Writes a dump of `tickets` (oldest first) at `version` of `epoch`.
pub fn write(
    out: &mut impl Write,
    epoch: uuid::Uuid,
    version: u64,
    tickets: &[Arc<Ticket>],
) -> Result<usize, DumpError> {
    let header = Header {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        epoch,
        version,
        tickets: tickets.len(),
        exported_at: Utc::now(),
    };
    serde_json::to_writer(&mut *out, &header).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    for ticket in tickets {
        serde_json::to_writer(&mut *out, &Stored(ticket)).map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(tickets.len())
}

/// Reads a dump into the empty store directory `dir` (created if need be):
/// one snapshot and the stream's metadata, both written atomically.
pub fn import(dir: &Path, input: impl BufRead) -> Result<usize, DumpError> {
    let _lock = files::lock_dir(dir)?;
    let holds_store = dir.join(files::SNAPSHOT).exists()
        || dir.join(files::STREAM).exists()
        || !files::list_journals(dir)?.is_empty();
    if holds_store {
        return Err(DumpError::NotEmpty(dir.display().to_string()));
    }
    let (epoch, version, tickets) = read(input)?;
    files::write_snapshot(dir, &tickets)?;
    let epoch = if epoch.is_nil() {
        uuid::Uuid::new_v4()
    } else {
        epoch
    };
    files::write_stream(dir, &StreamMeta { epoch, version })?;
    Ok(tickets.len())
}

/// Reads and checks a whole dump: its epoch (nil: none yet), version and
/// tickets, oldest first.
pub fn read(input: impl BufRead) -> Result<(uuid::Uuid, u64, Vec<Arc<Ticket>>), DumpError> {
    let mut lines = input.lines();
    let bad = |line: usize, problem: String| DumpError::Bad { line, problem };
    let header: Header = match lines.next() {
        None => return Err(bad(1, "empty input: not a ticketd store dump".into())),
        Some(line) => serde_json::from_str(&line?)
            .map_err(|e| bad(1, format!("not a ticketd store dump header: {e}")))?,
    };
    if header.format != FORMAT || header.format_version != FORMAT_VERSION {
        return Err(bad(
            1,
            format!(
                "format {} version {}; this ticketd reads {FORMAT} version {FORMAT_VERSION}",
                header.format, header.format_version
            ),
        ));
    }
    let mut tickets: Vec<Arc<Ticket>> = Vec::with_capacity(header.tickets);
    let mut seen = std::collections::HashSet::with_capacity(header.tickets);
    for (n, line) in lines.enumerate() {
        let number = n + 2;
        let line = line?;
        if line.is_empty() {
            continue;
        }
        let mut ticket: Ticket =
            serde_json::from_str(&line).map_err(|e| bad(number, e.to_string()))?;
        ticket.fill_defaults();
        ticket.check().map_err(|p| bad(number, p))?;
        if !seen.insert(ticket.request_id) {
            return Err(bad(
                number,
                format!("ticket {} appears twice", ticket.request_id),
            ));
        }
        tickets.push(Arc::new(ticket));
    }
    if tickets.len() != header.tickets {
        return Err(bad(
            tickets.len() + 2,
            format!(
                "the header announces {} tickets but the dump holds {}: it is cut short",
                header.tickets,
                tickets.len()
            ),
        ));
    }
    Ok((header.epoch, header.version, tickets))
}
