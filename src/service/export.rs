//! The CSV export: every ticket a filter matches, newest first, as a
//! stream of CSV chunks, and its entry in the audit trail.
//!
//! The walk is the listing's: pages of [`PAGE`] tickets through the same
//! cursor, each page encoded (`tickets::export`) and handed on before the
//! next is read, so however large the store, one page of CSV is held at a
//! time and a slow reader holds back the walk instead of filling memory.
//! The cursor makes the walk see every ticket that existed when it started
//! exactly once; tickets added meanwhile sort before it and are left out.
//!
//! An export reads every ticket, so it is audited like a staff action:
//! `export_csv` with the query and the rows sent, never ticket text. The
//! entry is synced before the body ends, so a client that received the
//! whole file knows it was recorded; if it cannot be written the body is
//! cut off instead of ending. An export the client abandons is recorded
//! too (`failure`, the rows sent until then), batched like a refusal, since
//! nobody is waiting for it.

use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use chrono::Utc;
use futures_util::Stream;
use serde_json::json;

use super::Service;
use crate::audit::{AuditEntry, AuditLog};
use crate::tickets::Staff;
use crate::tickets::export::{self, ExportRequest};
use crate::tickets::query::PageRequest;

/// Tickets encoded per chunk.
pub const PAGE: usize = 500;

/// The most of the query string kept in the audit entry.
const MAX_QUERY_BYTES: usize = 2048;

/// The action's name in the audit trail.
const ACTION: &str = "export_csv";

impl Service {
    /// The CSV export for `staff`: the header row (after a BOM if asked),
    /// then the matching tickets a page per chunk. `query` is the request's
    /// query string as given, for the audit entry. The stream owns what it
    /// needs, so a transport can send it as a response body.
    pub fn export_csv(
        self: &Arc<Self>,
        staff: &Staff,
        request: ExportRequest,
        query: &str,
        client: Option<IpAddr>,
    ) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
        let walk = Walk {
            service: self.clone(),
            page: PageRequest {
                filter: request.filter,
                after: None,
                limit: PAGE,
            },
            bom: request.bom,
            step: Step::Header,
            audit: Audited {
                audit: self.audit.clone(),
                user: staff.name.clone(),
                query: clip(query),
                client,
                rows: 0,
                started: Instant::now(),
                recorded: false,
            },
        };
        futures_util::stream::unfold(walk, |mut walk| async move {
            let chunk = walk.next().await?;
            Some((chunk, walk))
        })
    }
}

/// Where an export stands.
enum Step {
    Header,
    Rows,
    /// Every page sent: record the entry, then end.
    Audit,
    Done,
}

/// An export in progress.
struct Walk {
    service: Arc<Service>,
    /// The filter, and where the next page starts.
    page: PageRequest,
    bom: bool,
    step: Step,
    audit: Audited,
}

impl Walk {
    /// The next chunk; `None` once the export is complete and recorded.
    async fn next(&mut self) -> Option<io::Result<Bytes>> {
        loop {
            match self.step {
                Step::Header => {
                    self.step = Step::Rows;
                    return Some(encoded(export::header(self.bom)));
                }
                Step::Rows => {
                    let page = self.service.page(&self.page);
                    match page.next {
                        Some(next) => self.page.after = Some(next),
                        None => self.step = Step::Audit,
                    }
                    if page.tickets.is_empty() {
                        continue;
                    }
                    self.audit.rows += page.tickets.len();
                    return Some(encoded(export::rows(page.tickets.iter().map(|t| &**t))));
                }
                Step::Audit => {
                    self.step = Step::Done;
                    return self.audit.complete().await.err().map(Err);
                }
                Step::Done => return None,
            }
        }
    }
}

fn encoded(chunk: Result<Vec<u8>, csv::Error>) -> io::Result<Bytes> {
    chunk.map(Bytes::from).map_err(|e| {
        tracing::error!(error = %e, "cannot encode the CSV export");
        io::Error::other(e)
    })
}

/// The export's audit entry, written once: by [`Audited::complete`], or
/// when the export is dropped unfinished.
struct Audited {
    audit: Arc<AuditLog>,
    user: String,
    query: String,
    client: Option<IpAddr>,
    /// Rows encoded so far.
    rows: usize,
    started: Instant,
    recorded: bool,
}

impl Audited {
    fn entry(&self, outcome: &'static str) -> AuditEntry {
        AuditEntry {
            time: Utc::now(),
            admin: self.user.clone(),
            action: ACTION.to_string(),
            outcome,
            ticket_id: None,
            client: self.client.map(|c| c.to_string()),
            before: None,
            after: Some(json!({ "rows": self.rows })),
            reason: Some(self.query.clone()),
        }
    }

    /// Records the finished export, synced.
    async fn complete(&mut self) -> io::Result<()> {
        self.recorded = true;
        let recorded = self.audit.record(self.entry("success")).await;
        let duration_ms = self.started.elapsed().as_millis() as u64;
        match &recorded {
            Ok(()) => {
                tracing::info!(user = %self.user, rows = self.rows, duration_ms, "csv export")
            }
            Err(e) => {
                tracing::error!(error = %e, action = ACTION, "cannot write the audit log; the export is cut off")
            }
        }
        recorded
    }
}

impl Drop for Audited {
    fn drop(&mut self) {
        if self.recorded {
            return;
        }
        tracing::info!(user = %self.user, rows = self.rows, "csv export abandoned by the client");
        if let Err(e) = self.audit.record_batched(self.entry("failure")) {
            tracing::error!(error = %e, action = ACTION, "cannot write the audit log");
        }
    }
}

/// `query`, cut to [`MAX_QUERY_BYTES`] at a character boundary.
fn clip(query: &str) -> String {
    if query.len() <= MAX_QUERY_BYTES {
        return query.to_string();
    }
    let mut end = MAX_QUERY_BYTES;
    while !query.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &query[..end])
}
