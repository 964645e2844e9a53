//! The durable outbox: every outbound delivery is on disk before the event
//! it carries is announced, and stays there until it is delivered or has
//! failed for good.
//!
//! One file, `notify_outbox.jsonl` in the data directory, of JSON lines:
//! `queued` (the delivery with its whole body, appended by the store's
//! writer thread and fdatasync'd before anyone hears of the change),
//! `attempt` (each try and what came of it, synced before the worker moves
//! on, so a restart never repeats a delivered email), `requeued` (an
//! admin's redelivery) and `endpoint` (disabled or enabled). Opening
//! replays it; a torn last line (a crash mid-append) is dropped. When the
//! file outgrows what it holds, it is rewritten atomically with only the
//! live deliveries and the recent history.
//!
//! The in-memory index keeps, per endpoint, the pending deliveries ordered
//! by when they are next due, so a worker's "what is due now" is a range
//! read, however long the queue of a dead endpoint grows.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::tickets::TicketId;

/// The outbox's file in the data directory.
pub const FILE: &str = "notify_outbox.jsonl";
const TMP_PREFIX: &str = "notify_outbox.jsonl.tmp";
/// How many finished deliveries (with their bodies, for a redelivery) and
/// attempts are kept for the deliveries API.
const HISTORY: usize = 1000;
/// Rewrite the file once it is this large and mostly dead lines.
const COMPACT_AFTER: u64 = 4 * 1024 * 1024;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Pending,
    Delivered,
    Failed,
}

/// One event for one endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    /// `msg_` and a UUID: the `webhook-id`, the same on every retry.
    pub id: String,
    pub endpoint: String,
    /// The bus event's name.
    pub event: String,
    pub ticket: Option<TicketId>,
    /// The store version of the change it announces.
    pub version: u64,
    pub created: DateTime<Utc>,
    /// Exactly what is sent (and signed): a JSON body, or an email as JSON.
    pub body: Arc<str>,
}

/// One try.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attempt {
    pub delivery: String,
    pub endpoint: String,
    pub event: String,
    /// 1 for the first try.
    pub attempt: u32,
    pub at: DateTime<Utc>,
    /// The HTTP status (or SMTP reply code) when one came back.
    pub status: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
    /// What the delivery became: still `pending` (a retry is scheduled),
    /// `delivered` or `failed`.
    pub state: State,
    pub next_at: Option<DateTime<Utc>>,
}

/// What an attempt found, before the schedule is applied.
#[derive(Debug, Clone)]
pub struct Tried {
    pub status: Option<u16>,
    pub latency: Duration,
    /// `None` is success.
    pub error: Option<String>,
    /// A failure no retry can fix (a recipient refused for good, a message
    /// that cannot be built): failed at once, and no sign the endpoint is down.
    pub permanent: bool,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum Record {
    Queued {
        #[serde(flatten)]
        delivery: Delivery,
        next_at: DateTime<Utc>,
    },
    Attempt(Attempt),
    Requeued {
        id: String,
        at: DateTime<Utc>,
    },
    Endpoint {
        name: String,
        disabled: bool,
        at: DateTime<Utc>,
    },
}

/// A delivery as the index holds it.
#[derive(Debug, Clone)]
struct Entry {
    delivery: Delivery,
    state: State,
    /// Tries made since it was (re)queued.
    attempts: u32,
    next_at: DateTime<Utc>,
    in_flight: bool,
}

/// Per endpoint: what is pending, by due time, and its health.
#[derive(Debug, Default)]
struct EndpointState {
    /// (due in ms, the change's version, id) of every pending delivery
    /// not in flight: the same instant goes in commit order.
    due: BTreeSet<(i64, u64, String)>,
    /// (created in ms, id) of every pending delivery.
    pending: BTreeSet<(i64, String)>,
    disabled_at: Option<DateTime<Utc>>,
    /// Since when every attempt has failed (none since the last success).
    failing_since: Option<DateTime<Utc>>,
}

struct Inner {
    /// Appended under the lock; synced outside it (any handle of the file
    /// syncs what every handle wrote), so a sync never blocks the index.
    file: Arc<File>,
    bytes: u64,
    /// Every delivery still held: pending, failed, and the last finished.
    entries: HashMap<String, Entry>,
    /// Finished deliveries, oldest first, trimmed to `HISTORY`.
    finished: VecDeque<String>,
    attempts: VecDeque<Attempt>,
    endpoints: HashMap<String, EndpointState>,
    /// A write failed: deliveries still go out, but a restart may lose them.
    broken: bool,
}

/// A change to an endpoint worth telling: it was disabled.
#[derive(Debug, Clone)]
pub struct Disabled {
    pub endpoint: String,
    pub since: DateTime<Utc>,
    pub last_error: String,
}

/// What `finish` decided.
#[derive(Debug, Clone)]
pub struct Finished {
    pub attempt: Attempt,
    pub disabled: Option<Disabled>,
}

/// Why an admin's redelivery was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetryError {
    #[error("no delivery with this id is held (only the last {HISTORY} finished ones are)")]
    Unknown,
    #[error("the delivery is already pending")]
    Pending,
    #[error("endpoint `{0}` is disabled; enable it first")]
    Disabled(String),
    #[error("endpoint `{0}` is no longer configured")]
    Gone(String),
}

/// The outbox. Cheap to share; a std `Mutex` because nothing holds it
/// across an `.await` (the workers do file I/O in `spawn_blocking`).
pub struct Outbox {
    dir: PathBuf,
    inner: Mutex<Inner>,
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

impl Outbox {
    /// Opens (or creates) the outbox in `dir`, replaying it. `known` are the
    /// configured endpoints: pending deliveries for any other are failed.
    pub fn open(dir: &Path, known: &[String]) -> std::io::Result<Outbox> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(TMP_PREFIX))
            {
                std::fs::remove_file(entry.path())?;
            }
        }
        let path = dir.join(FILE);
        let mut inner = Inner {
            file: Arc::new(open_append(&path)?),
            bytes: 0,
            entries: HashMap::new(),
            finished: VecDeque::new(),
            attempts: VecDeque::new(),
            endpoints: known
                .iter()
                .map(|n| (n.clone(), EndpointState::default()))
                .collect(),
            broken: false,
        };
        let torn = replay(&path, &mut inner)?;
        let now = Utc::now();
        let orphans: Vec<String> = inner
            .entries
            .values()
            .filter(|e| e.state == State::Pending && !known.contains(&e.delivery.endpoint))
            .map(|e| e.delivery.id.clone())
            .collect();
        for id in orphans {
            let entry = &inner.entries[&id];
            tracing::warn!(
                delivery = %id,
                endpoint = %entry.delivery.endpoint,
                "a pending delivery's endpoint is no longer configured; it is marked failed"
            );
            let attempt = Attempt {
                delivery: id.clone(),
                endpoint: entry.delivery.endpoint.clone(),
                event: entry.delivery.event.clone(),
                attempt: entry.attempts,
                at: now,
                status: None,
                latency_ms: 0,
                error: Some("endpoint no longer configured".into()),
                state: State::Failed,
                next_at: None,
            };
            apply_attempt(&mut inner, &attempt);
        }
        inner.endpoints.retain(|name, _| known.contains(name));
        let outbox = Outbox {
            dir: dir.to_path_buf(),
            inner: Mutex::new(inner),
        };
        if torn || outbox.lock().bytes > 0 {
            // Start from a clean file: no torn tail to append after, no dead lines.
            let mut inner = outbox.lock();
            outbox.rewrite(&mut inner)?;
        }
        Ok(outbox)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes new deliveries durable (one append, one fdatasync) and due at
    /// `created + first wait`. Called by the store's writer thread before
    /// the change is announced. Deliveries for a disabled endpoint are
    /// dropped. Returns the endpoints that have new work.
    pub fn enqueue(&self, deliveries: Vec<Delivery>, first_wait: Duration) -> Vec<String> {
        if deliveries.is_empty() {
            return Vec::new();
        }
        let mut inner = self.lock();
        let mut bytes = Vec::new();
        let mut woken = Vec::new();
        let mut kept = Vec::new();
        for delivery in deliveries {
            let Some(state) = inner.endpoints.get(&delivery.endpoint) else {
                continue;
            };
            if state.disabled_at.is_some() {
                continue;
            }
            let next_at =
                delivery.created + chrono::Duration::from_std(first_wait).unwrap_or_default();
            let record = Record::Queued { delivery, next_at };
            serde_json::to_writer(&mut bytes, &record).expect("a delivery serializes");
            bytes.push(b'\n');
            let Record::Queued { delivery, next_at } = record else {
                unreachable!()
            };
            kept.push((delivery, next_at));
        }
        if kept.is_empty() {
            return woken;
        }
        let written = self.write(&mut inner, &bytes);
        for (delivery, next_at) in kept {
            if !woken.contains(&delivery.endpoint) {
                woken.push(delivery.endpoint.clone());
            }
            insert_pending(&mut inner, delivery, 0, next_at);
        }
        drop(inner);
        self.sync(written);
        woken
    }

    /// Takes up to `max` deliveries of `endpoint` due at `now`, marking them
    /// in flight; and when the next one after them is due.
    pub fn take_due(
        &self,
        endpoint: &str,
        now: DateTime<Utc>,
        max: usize,
    ) -> (Vec<(Delivery, u32)>, Option<DateTime<Utc>>) {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let Some(state) = inner.endpoints.get_mut(endpoint) else {
            return (Vec::new(), None);
        };
        if state.disabled_at.is_some() {
            return (Vec::new(), None);
        }
        let mut out = Vec::new();
        while out.len() < max {
            let Some(first) = state.due.first() else {
                break;
            };
            if first.0 > ms(now) {
                break;
            }
            let (_, _, id) = state.due.pop_first().expect("seen");
            if let Some(entry) = inner.entries.get_mut(&id) {
                entry.in_flight = true;
                out.push((entry.delivery.clone(), entry.attempts + 1));
            }
        }
        let next = state
            .due
            .first()
            .and_then(|(t, _, _)| DateTime::from_timestamp_millis(*t));
        (out, next)
    }

    /// Records an attempt's result and schedules what follows (the next
    /// wait of `schedule`, or failed after the last); synced before it
    /// returns. May disable the endpoint.
    pub fn finish(
        &self,
        id: &str,
        tried: Tried,
        now: DateTime<Utc>,
        schedule: &[Duration],
        disable_after: Duration,
    ) -> Option<Finished> {
        let mut inner = self.lock();
        let inner_ref = &mut *inner;
        let entry = inner_ref.entries.get_mut(id)?;
        entry.in_flight = false;
        entry.attempts += 1;
        let endpoint = entry.delivery.endpoint.clone();
        let tries = entry.attempts;
        let event = entry.delivery.event.clone();
        let mut records = Vec::new();
        let mut disabled = None;
        let endpoint_off = {
            let ep = inner_ref.endpoints.entry(endpoint.clone()).or_default();
            if tried.error.is_none() {
                ep.failing_since = None;
            } else if !tried.permanent {
                let since = *ep.failing_since.get_or_insert(now);
                let limit =
                    chrono::Duration::from_std(disable_after).unwrap_or(chrono::TimeDelta::MAX);
                if ep.disabled_at.is_none() && now - since >= limit {
                    ep.disabled_at = Some(now);
                    records.push(Record::Endpoint {
                        name: endpoint.clone(),
                        disabled: true,
                        at: now,
                    });
                    disabled = Some(Disabled {
                        endpoint: endpoint.clone(),
                        since,
                        last_error: tried.error.clone().unwrap_or_default(),
                    });
                }
            }
            ep.disabled_at.is_some()
        };
        // A failure on a disabled endpoint is final: nothing would retry it.
        let (state, next_at) = if tried.error.is_none() {
            (State::Delivered, None)
        } else if (tries as usize) < schedule.len() && !endpoint_off && !tried.permanent {
            let wait = chrono::Duration::from_std(schedule[tries as usize]).unwrap_or_default();
            (State::Pending, Some(now + wait))
        } else {
            (State::Failed, None)
        };
        let attempt = Attempt {
            delivery: id.to_string(),
            endpoint: endpoint.clone(),
            event,
            attempt: tries,
            at: now,
            status: tried.status,
            latency_ms: tried.latency.as_millis() as u64,
            error: tried.error.clone(),
            state,
            next_at,
        };
        records.insert(0, Record::Attempt(attempt.clone()));
        apply_attempt(inner_ref, &attempt);
        if disabled.is_some() {
            fail_all_pending(inner_ref, &endpoint, now);
        }
        let mut bytes = Vec::new();
        for r in &records {
            serde_json::to_writer(&mut bytes, r).expect("serializes");
            bytes.push(b'\n');
        }
        let written = self.write(inner_ref, &bytes);
        self.maybe_compact(inner_ref);
        drop(inner);
        // A retry scheduled need not be durable (lost, the delivery is only
        // tried sooner after a restart); an end must be, so a delivered
        // email is never sent again.
        if state != State::Pending || disabled.is_some() {
            self.sync(written);
        }
        Some(Finished { attempt, disabled })
    }

    /// Appends whole records; the handle to sync them with, unless the
    /// write failed.
    fn write(&self, inner: &mut Inner, bytes: &[u8]) -> Option<Arc<File>> {
        match (&*inner.file).write_all(bytes) {
            Ok(()) => {
                inner.bytes += bytes.len() as u64;
                Some(inner.file.clone())
            }
            Err(e) => {
                self.broken(inner, &e);
                None
            }
        }
    }

    /// Makes what was written durable (outside the lock).
    fn sync(&self, written: Option<Arc<File>>) {
        if let Some(file) = written
            && let Err(e) = file.sync_data()
        {
            self.broken(&mut self.lock(), &e);
        }
    }

    fn broken(&self, inner: &mut Inner, e: &std::io::Error) {
        if !inner.broken {
            tracing::error!(error = %e, file = FILE, "the outbox cannot be written: deliveries still go out, but a restart may repeat or lose some");
        }
        inner.broken = true;
    }

    /// An admin's redelivery: a finished or failed delivery is due again
    /// now, with a fresh schedule and the same id.
    pub fn requeue(&self, id: &str, now: DateTime<Utc>) -> Result<String, RetryError> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let entry = inner.entries.get(id).ok_or(RetryError::Unknown)?;
        if entry.state == State::Pending {
            return Err(RetryError::Pending);
        }
        let endpoint = entry.delivery.endpoint.clone();
        match inner.endpoints.get(&endpoint) {
            None => return Err(RetryError::Gone(endpoint)),
            Some(s) if s.disabled_at.is_some() => return Err(RetryError::Disabled(endpoint)),
            Some(_) => {}
        }
        let delivery = entry.delivery.clone();
        inner.finished.retain(|f| f != id);
        let mut bytes = serde_json::to_vec(&Record::Requeued {
            id: id.to_string(),
            at: now,
        })
        .expect("serializes");
        bytes.push(b'\n');
        let written = self.write(inner, &bytes);
        insert_pending(inner, delivery, 0, now);
        drop(guard);
        self.sync(written);
        Ok(endpoint)
    }

    /// Turns a disabled endpoint back on (its failed deliveries stay failed
    /// until redelivered).
    pub fn enable(&self, endpoint: &str, now: DateTime<Utc>) -> bool {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let Some(state) = inner.endpoints.get_mut(endpoint) else {
            return false;
        };
        state.disabled_at = None;
        state.failing_since = None;
        let mut bytes = serde_json::to_vec(&Record::Endpoint {
            name: endpoint.to_string(),
            disabled: false,
            at: now,
        })
        .expect("serializes");
        bytes.push(b'\n');
        let written = self.write(inner, &bytes);
        drop(guard);
        self.sync(written);
        true
    }

    /// The newest attempts first, at most `limit`, and the pending
    /// deliveries (oldest first, at most `limit`).
    pub fn recent(&self, limit: usize) -> (Vec<Attempt>, Vec<PendingView>) {
        let inner = self.lock();
        let attempts = inner.attempts.iter().rev().take(limit).cloned().collect();
        let mut pending: Vec<PendingView> = inner
            .entries
            .values()
            .filter(|e| e.state == State::Pending)
            .map(|e| PendingView {
                delivery: e.delivery.id.clone(),
                endpoint: e.delivery.endpoint.clone(),
                event: e.delivery.event.clone(),
                ticket_id: e.delivery.ticket,
                created: e.delivery.created,
                attempts: e.attempts,
                next_at: (!e.in_flight).then_some(e.next_at),
            })
            .collect();
        pending.sort_by(|a, b| a.created.cmp(&b.created).then(a.delivery.cmp(&b.delivery)));
        pending.truncate(limit);
        (attempts, pending)
    }

    /// Per endpoint: pending count, the oldest pending's creation, disabled.
    pub fn queue_stats(&self) -> Vec<(String, usize, Option<DateTime<Utc>>, bool)> {
        let inner = self.lock();
        let mut out: Vec<_> = inner
            .endpoints
            .iter()
            .map(|(name, s)| {
                (
                    name.clone(),
                    s.pending.len(),
                    s.pending
                        .first()
                        .and_then(|(t, _)| DateTime::from_timestamp_millis(*t)),
                    s.disabled_at.is_some(),
                )
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Whether `endpoint`'s attempts have been failing since its last success.
    pub fn is_failing(&self, endpoint: &str) -> bool {
        self.lock()
            .endpoints
            .get(endpoint)
            .is_some_and(|s| s.failing_since.is_some())
    }

    /// Whether `endpoint` is disabled.
    pub fn is_disabled(&self, endpoint: &str) -> bool {
        self.lock()
            .endpoints
            .get(endpoint)
            .is_some_and(|s| s.disabled_at.is_some())
    }

    fn maybe_compact(&self, inner: &mut Inner) {
        if inner.bytes < COMPACT_AFTER {
            return;
        }
        let live: usize = inner
            .entries
            .values()
            .map(|e| e.delivery.body.len() + 300)
            .sum::<usize>()
            + inner.attempts.len() * 300;
        if inner.bytes < 2 * live as u64 {
            return;
        }
        if let Err(e) = self.rewrite(inner) {
            tracing::warn!(error = %e, "the outbox could not be compacted; it keeps growing until the next try");
        }
    }

    /// Writes only what is held, atomically, and appends after it from now on.
    fn rewrite(&self, inner: &mut Inner) -> std::io::Result<()> {
        let mut bytes = Vec::new();
        let mut line = |r: &Record| {
            serde_json::to_writer(&mut bytes, r).expect("serializes");
            bytes.push(b'\n');
        };
        for (name, s) in &inner.endpoints {
            if let Some(at) = s.disabled_at {
                line(&Record::Endpoint {
                    name: name.clone(),
                    disabled: true,
                    at,
                });
            }
        }
        let mut entries: Vec<&Entry> = inner.entries.values().collect();
        entries.sort_by(|a, b| {
            (a.delivery.created, &a.delivery.id).cmp(&(b.delivery.created, &b.delivery.id))
        });
        for e in &entries {
            line(&Record::Queued {
                delivery: e.delivery.clone(),
                next_at: e.next_at,
            });
        }
        // The history, then a record of each held delivery's standing,
        // so replay rebuilds both.
        for a in &inner.attempts {
            line(&Record::Attempt(a.clone()));
        }
        for e in &entries {
            if e.state != State::Pending || e.attempts > 0 {
                line(&Record::Attempt(Attempt {
                    delivery: e.delivery.id.clone(),
                    endpoint: e.delivery.endpoint.clone(),
                    event: e.delivery.event.clone(),
                    attempt: e.attempts,
                    at: e.delivery.created,
                    status: None,
                    latency_ms: 0,
                    error: Some("(standing after compaction)".into()),
                    state: e.state,
                    next_at: (e.state == State::Pending).then_some(e.next_at),
                }));
            }
        }
        crate::store::replace_file(&self.dir, FILE, TMP_PREFIX, &bytes)?;
        inner.file = Arc::new(open_append(&self.dir.join(FILE))?);
        inner.bytes = bytes.len() as u64;
        Ok(())
    }
}

/// A pending delivery, for the deliveries API.
#[derive(Debug, Clone, Serialize)]
pub struct PendingView {
    pub delivery: String,
    pub endpoint: String,
    pub event: String,
    pub ticket_id: Option<TicketId>,
    pub created: DateTime<Utc>,
    /// Tries so far.
    pub attempts: u32,
    /// When it is next tried (`null` while a try is in flight).
    pub next_at: Option<DateTime<Utc>>,
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

fn insert_pending(inner: &mut Inner, delivery: Delivery, attempts: u32, next_at: DateTime<Utc>) {
    let ep = inner
        .endpoints
        .entry(delivery.endpoint.clone())
        .or_default();
    ep.due
        .insert((ms(next_at), delivery.version, delivery.id.clone()));
    ep.pending
        .insert((ms(delivery.created), delivery.id.clone()));
    inner.entries.insert(
        delivery.id.clone(),
        Entry {
            delivery,
            state: State::Pending,
            attempts,
            next_at,
            in_flight: false,
        },
    );
}

/// Applies an attempt record to the index (live or in replay).
fn apply_attempt(inner: &mut Inner, attempt: &Attempt) {
    let Some(entry) = inner.entries.get_mut(&attempt.delivery) else {
        return;
    };
    let id = attempt.delivery.clone();
    let ep = inner
        .endpoints
        .entry(entry.delivery.endpoint.clone())
        .or_default();
    let version = entry.delivery.version;
    ep.due.remove(&(ms(entry.next_at), version, id.clone()));
    entry.attempts = attempt.attempt;
    entry.state = attempt.state;
    match attempt.state {
        State::Pending => {
            let next = attempt.next_at.unwrap_or(attempt.at);
            entry.next_at = next;
            if !entry.in_flight {
                ep.due.insert((ms(next), version, id.clone()));
            }
            ep.pending.insert((ms(entry.delivery.created), id.clone()));
            inner.finished.retain(|f| f != &id);
        }
        State::Delivered | State::Failed => {
            ep.pending.remove(&(ms(entry.delivery.created), id.clone()));
            // (Replay may see a delivery's end twice: in the history and in
            // its standing after a compaction.)
            if !inner.finished.contains(&id) {
                inner.finished.push_back(id);
            }
        }
    }
    if attempt.error.as_deref() != Some("(standing after compaction)") {
        inner.attempts.push_back(attempt.clone());
        while inner.attempts.len() > HISTORY {
            inner.attempts.pop_front();
        }
    }
    while inner.finished.len() > HISTORY {
        if let Some(old) = inner.finished.pop_front()
            && inner
                .entries
                .get(&old)
                .is_some_and(|e| e.state != State::Pending)
        {
            inner.entries.remove(&old);
        }
    }
}

fn fail_all_pending(inner: &mut Inner, endpoint: &str, now: DateTime<Utc>) {
    let ids: Vec<String> = inner
        .entries
        .values()
        .filter(|e| e.delivery.endpoint == endpoint && e.state == State::Pending && !e.in_flight)
        .map(|e| e.delivery.id.clone())
        .collect();
    for id in ids {
        let entry = &inner.entries[&id];
        let attempt = Attempt {
            delivery: id.clone(),
            endpoint: endpoint.to_string(),
            event: entry.delivery.event.clone(),
            attempt: entry.attempts,
            at: now,
            status: None,
            latency_ms: 0,
            error: Some("endpoint disabled".into()),
            state: State::Failed,
            next_at: None,
        };
        apply_attempt(inner, &attempt);
    }
}

/// Replays the file into `inner`; true when the last line was torn.
fn replay(path: &Path, inner: &mut Inner) -> std::io::Result<bool> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let mut torn = false;
    for line in BufReader::new(file).split(b'\n') {
        let line = line?;
        inner.bytes += line.len() as u64 + 1;
        if line.is_empty() {
            continue;
        }
        let record: Record = match serde_json::from_slice(&line) {
            Ok(r) => r,
            Err(_) => {
                torn = true;
                continue;
            }
        };
        match record {
            Record::Queued { delivery, next_at } => {
                if !inner.entries.contains_key(&delivery.id) {
                    insert_pending(inner, delivery, 0, next_at);
                }
            }
            Record::Attempt(a) => apply_attempt(inner, &a),
            Record::Requeued { id, at } => {
                if let Some(entry) = inner.entries.get(&id) {
                    let delivery = entry.delivery.clone();
                    inner.finished.retain(|f| f != &id);
                    insert_pending(inner, delivery, 0, at);
                }
            }
            Record::Endpoint { name, disabled, at } => {
                if let Some(s) = inner.endpoints.get_mut(&name) {
                    s.disabled_at = disabled.then_some(at);
                }
            }
        }
    }
    Ok(torn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(endpoint: &str, n: u64) -> Delivery {
        Delivery {
            id: format!("msg_{n}"),
            endpoint: endpoint.into(),
            event: "new_ticket".into(),
            ticket: None,
            version: n,
            created: Utc::now(),
            body: Arc::from(format!("{{\"n\":{n}}}")),
        }
    }

    fn fail() -> Tried {
        Tried {
            status: Some(500),
            latency: Duration::from_millis(3),
            error: Some("HTTP 500".into()),
            permanent: false,
        }
    }

    fn ok() -> Tried {
        Tried {
            status: Some(204),
            latency: Duration::from_millis(3),
            error: None,
            permanent: false,
        }
    }

    const SCHEDULE: [Duration; 3] = [
        Duration::ZERO,
        Duration::from_secs(5),
        Duration::from_secs(60),
    ];
    const NEVER: Duration = Duration::from_secs(86400);

    #[test]
    fn pending_deliveries_survive_a_reopen_and_finished_ones_do_not_return() {
        let dir = tempfile::tempdir().unwrap();
        let known = vec!["a".to_string(), "b".to_string()];
        {
            let outbox = Outbox::open(dir.path(), &known).unwrap();
            outbox.enqueue(
                vec![delivery("a", 1), delivery("a", 2), delivery("b", 3)],
                Duration::ZERO,
            );
            let (due, _) = outbox.take_due("a", Utc::now(), 10);
            assert_eq!(due.len(), 2);
            outbox.finish("msg_1", ok(), Utc::now(), &SCHEDULE, NEVER);
            let f = outbox
                .finish("msg_2", fail(), Utc::now(), &SCHEDULE, NEVER)
                .unwrap();
            assert_eq!(f.attempt.state, State::Pending);
            assert_eq!(f.attempt.attempt, 1);
        }
        let outbox = Outbox::open(dir.path(), &known).unwrap();
        let (due_now, next) = outbox.take_due("a", Utc::now(), 10);
        assert!(due_now.is_empty(), "msg_2 waits 5 s");
        assert!(next.is_some());
        let (due_later, _) = outbox.take_due("a", Utc::now() + chrono::Duration::seconds(6), 10);
        assert_eq!(due_later.len(), 1);
        assert_eq!(due_later[0].0.id, "msg_2");
        assert_eq!(due_later[0].1, 2, "the second try");
        let (b, _) = outbox.take_due("b", Utc::now(), 10);
        assert_eq!(b.len(), 1);
        let (attempts, pending) = outbox.recent(10);
        assert_eq!(attempts.len(), 2);
        assert_eq!(pending.len(), 2);
    }

    #[test]
    fn the_last_wait_fails_the_delivery_and_a_requeue_brings_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path(), &["a".to_string()]).unwrap();
        outbox.enqueue(vec![delivery("a", 1)], Duration::ZERO);
        let mut now = Utc::now();
        for n in 1..=3 {
            let (due, _) = outbox.take_due("a", now, 10);
            assert_eq!(due.len(), 1, "try {n}");
            let f = outbox
                .finish("msg_1", fail(), now, &SCHEDULE, NEVER)
                .unwrap();
            assert_eq!(
                f.attempt.state,
                if n < 3 { State::Pending } else { State::Failed }
            );
            now += chrono::Duration::seconds(61);
        }
        assert!(outbox.take_due("a", now, 10).0.is_empty());
        assert_eq!(outbox.requeue("msg_1", now), Ok("a".to_string()));
        assert_eq!(outbox.requeue("msg_1", now), Err(RetryError::Pending));
        assert_eq!(outbox.requeue("msg_9", now), Err(RetryError::Unknown));
        let (due, _) = outbox.take_due("a", now, 10);
        assert_eq!(due[0].1, 1, "a fresh schedule");
    }

    #[test]
    fn an_endpoint_failing_long_enough_is_disabled_and_stays_so() {
        let dir = tempfile::tempdir().unwrap();
        let known = vec!["a".to_string()];
        {
            let outbox = Outbox::open(dir.path(), &known).unwrap();
            outbox.enqueue(vec![delivery("a", 1), delivery("a", 2)], Duration::ZERO);
            let t0 = Utc::now();
            outbox.take_due("a", t0, 1);
            let f = outbox
                .finish("msg_1", fail(), t0, &SCHEDULE, Duration::from_secs(10))
                .unwrap();
            assert!(f.disabled.is_none());
            let t1 = t0 + chrono::Duration::seconds(11);
            let (taken, _) = outbox.take_due("a", t1, 1);
            let f = outbox
                .finish(
                    &taken[0].0.id,
                    fail(),
                    t1,
                    &SCHEDULE,
                    Duration::from_secs(10),
                )
                .unwrap();
            assert!(f.disabled.is_some());
            assert!(outbox.is_disabled("a"));
            assert_eq!(outbox.queue_stats()[0].1, 0, "pending ones failed");
            outbox.enqueue(vec![delivery("a", 3)], Duration::ZERO);
            assert!(outbox.take_due("a", t1, 10).0.is_empty());
        }
        let outbox = Outbox::open(dir.path(), &known).unwrap();
        assert!(outbox.is_disabled("a"));
        assert!(outbox.enable("a", Utc::now()));
        assert!(!outbox.is_disabled("a"));
    }

    #[test]
    fn the_last_finished_deliveries_are_kept_for_redelivery_across_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let known = vec!["a".to_string()];
        let n = HISTORY as u64 + 200;
        {
            let outbox = Outbox::open(dir.path(), &known).unwrap();
            outbox.enqueue((1..=n).map(|i| delivery("a", i)).collect(), Duration::ZERO);
            loop {
                let (due, _) = outbox.take_due("a", Utc::now(), 100);
                if due.is_empty() {
                    break;
                }
                for (d, _) in due {
                    outbox.finish(&d.id, ok(), Utc::now(), &SCHEDULE, NEVER);
                }
            }
        }
        for _ in 0..2 {
            // Each open replays, then compacts: the standing survives both.
            let outbox = Outbox::open(dir.path(), &known).unwrap();
            assert_eq!(outbox.queue_stats()[0].1, 0, "nothing pending");
            let (attempts, _) = outbox.recent(10 * HISTORY);
            assert_eq!(attempts.len(), HISTORY);
        }
        let outbox = Outbox::open(dir.path(), &known).unwrap();
        assert_eq!(
            outbox.requeue(&format!("msg_{n}"), Utc::now()),
            Ok("a".into())
        );
        assert_eq!(
            outbox.requeue("msg_1", Utc::now()),
            Err(RetryError::Unknown)
        );
    }

    #[test]
    fn a_torn_last_line_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let known = vec!["a".to_string()];
        {
            let outbox = Outbox::open(dir.path(), &known).unwrap();
            outbox.enqueue(vec![delivery("a", 1)], Duration::ZERO);
        }
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join(FILE))
            .unwrap();
        f.write_all(b"{\"op\":\"queued\",\"id\":\"msg_").unwrap();
        drop(f);
        let outbox = Outbox::open(dir.path(), &known).unwrap();
        assert_eq!(outbox.take_due("a", Utc::now(), 10).0.len(), 1);
    }
}
