//! The durable ticket store.
//!
//! One writer thread owns the files. Callers send it [`Command`]s; it takes
//! whatever is queued as one batch, applies each command to the current
//! state (so read-modify-write is atomic), appends the batch to the journal
//! with one `fdatasync`, and only then publishes: the in-memory view is
//! updated, the commit hook (the service's broadcast) runs, and every caller
//! gets its outcome. Nothing is announced before it is on disk.
//!
//! On disk: `tickets_storage.json` is the snapshot in the original format (an
//! object keyed by `request_id`), always replaced atomically;
//! `tickets_journal.N.jsonl` files hold the changes since. When the journal
//! passes `compact_after_bytes` the writer starts a new journal and a
//! background thread writes a new snapshot, then deletes the journals it
//! covers. Recovery loads the snapshot and replays every journal; records
//! are idempotent (put, delete, clear), so replaying one the snapshot already
//! holds is harmless, and crash-safe at every step.
//!
//! A failed write or fsync is never retried: the store turns read-only and
//! every later change is refused with [`StoreError::Unavailable`].

pub mod dump;
mod files;
pub mod postgres;
mod writer;

pub use files::{SNAPSHOT, STREAM, StreamMeta, replace_file};

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::tickets::query::{self, Page, PageRequest, Position, SyncWindow};
use crate::tickets::{Command, CommandError, Outcome, Status, Ticket, TicketId};
use crate::triage::{Category, Priority};

/// How the store is set up.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub data_dir: PathBuf,
    /// Start a new snapshot once the journal is this large.
    pub compact_after_bytes: u64,
    /// The most commands one group commit takes.
    pub max_batch: usize,
    /// The most commands waiting for the writer; more wait for a place.
    pub queue: usize,
    /// How many of the journals' last changes recovery keeps (for the
    /// replay ring of clients resuming after a restart).
    pub keep_changes: usize,
    /// The SLA policy the tickets' clocks are measured against.
    pub sla: Arc<crate::sla::Policy>,
    /// Set: the shared PostgreSQL store (the data directory then holds only
    /// this instance's own files); unset: the journal store.
    pub database: Option<postgres::DatabaseConfig>,
}

impl StoreConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        StoreConfig {
            data_dir: data_dir.into(),
            compact_after_bytes: 16 * 1024 * 1024,
            max_batch: 1024,
            queue: 8192,
            keep_changes: 0,
            sla: Arc::default(),
            database: None,
        }
    }
}

/// Why the store would not open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "data directory {} is in use by another ticketd process (lock held); stop it or choose another --data-dir",
        .0.display()
    )]
    Locked(PathBuf),
    #[error("{}: {problem}; the file was left untouched: repair or move it aside, then start again", path.display())]
    Corrupt { path: PathBuf, problem: String },
    #[error("{0}")]
    Io(String),
}

/// Why a change was not made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error("the store is read-only after a write failure; changes are refused")]
    Unavailable,
}

/// A committed command: what it did, and the ticket it read (before).
#[derive(Debug, Clone)]
pub struct Applied {
    pub outcome: Outcome,
    pub before: Option<Arc<Ticket>>,
    /// The stream version this change produced.
    pub version: u64,
}

/// What one group commit did, for the commit hook.
pub struct Committed<'a> {
    /// Each change's outcome with the version it produced: consecutive,
    /// in commit order.
    pub changes: &'a [(u64, Outcome)],
    /// Each change's ticket before it (none for a new ticket or a clear),
    /// in the same order.
    pub befores: &'a [Option<Arc<Ticket>>],
    /// How long the append and its fdatasync took (the transaction, for
    /// the shared database store).
    pub duration: Duration,
    /// Committed by this process (false: another instance sharing the
    /// database committed it, and this one only announces it). Side effects
    /// that must happen once, such as outbound notifications, follow `own`.
    pub own: bool,
}

/// The hook the writer calls after each durable batch, in commit order.
pub type CommitHook = Box<dyn Fn(&Committed<'_>) + Send + 'static>;

/// Counts for `stats_update`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Stats {
    pub total: usize,
    /// Every ticket that still needs work (open, in progress or pending):
    /// what the original clients call open.
    pub open: usize,
    /// Resolved or closed.
    pub resolved: usize,
    pub by_status: std::collections::BTreeMap<Status, usize>,
    pub by_priority: std::collections::BTreeMap<Priority, usize>,
    pub by_category: std::collections::BTreeMap<Category, usize>,
}

impl Stats {
    /// Counts `ticket` in (`sign` 1) or out (-1).
    fn count(&mut self, ticket: &Ticket, sign: isize) {
        let add = |n: &mut usize| *n = n.saturating_add_signed(sign);
        add(&mut self.total);
        add(if ticket.status.is_done() {
            &mut self.resolved
        } else {
            &mut self.open
        });
        add(self.by_status.entry(ticket.status).or_default());
        add(self.by_priority.entry(ticket.priority).or_default());
        add(self
            .by_category
            .entry(ticket.analysis.category)
            .or_default());
    }
}

/// Creates a data directory readable by its owner only (0700), with any
/// missing parents; an existing directory is left as it is.
pub fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Every ticket in a data directory, oldest first, read without taking
/// the lock or changing anything on disk (a running server may hold it):
/// the snapshot plus the journals, as recovery would see them. For offline
/// exports such as `ticketd triage-corrections`.
pub fn read_only(dir: &std::path::Path) -> Result<Vec<Arc<Ticket>>, OpenError> {
    Ok(writer::replay(dir, 0, &crate::sla::Policy::default())?
        .state
        .oldest_first())
}

/// One stored ticket and its search text.
#[derive(Debug)]
struct Entry {
    ticket: Arc<Ticket>,
    /// [`query::search_text`], computed once per stored version.
    text: Box<str>,
}

/// The tickets in memory, in their order of creation, plus an index by id.
/// Listing walks the ordered map directly, with no lookup per ticket.
#[derive(Debug, Default)]
pub(crate) struct State {
    by_id: HashMap<TicketId, Position>,
    order: BTreeMap<Position, Entry>,
    /// The statistics, kept up to date with every change: `stats_update`
    /// reads them without a pass over the store (which, at 100,000 tickets,
    /// held the lock the writer needs for tens of milliseconds).
    counts: Stats,
    /// Submissions' idempotency keys, to the ticket each created.
    keys: HashMap<Box<str>, TicketId>,
}

impl State {
    fn put(&mut self, ticket: Arc<Ticket>) {
        let text = query::search_text(&ticket);
        let position = Position::of(&ticket);
        if let Some(old) = self.by_id.insert(ticket.request_id, position)
            && let Some(old) = self.order.remove(&old)
        {
            self.counts.count(&old.ticket, -1);
        }
        self.counts.count(&ticket, 1);
        if let Some(key) = &ticket.private.idempotency_key {
            self.keys.insert(key.as_str().into(), ticket.request_id);
        }
        self.order.insert(position, Entry { ticket, text });
    }

    /// Removes a ticket; returns it as it was.
    fn delete(&mut self, id: &TicketId) -> Option<Arc<Ticket>> {
        let position = self.by_id.remove(id)?;
        let removed = self.order.remove(&position).map(|e| e.ticket);
        if let Some(t) = &removed {
            self.counts.count(t, -1);
            if let Some(key) = &t.private.idempotency_key {
                self.keys.remove(key.as_str());
            }
        }
        removed
    }

    fn clear(&mut self) {
        self.by_id.clear();
        self.order.clear();
        self.counts = Stats::default();
        self.keys.clear();
    }

    fn get(&self, id: &TicketId) -> Option<&Arc<Ticket>> {
        self.by_id
            .get(id)
            .and_then(|p| self.order.get(p))
            .map(|e| &e.ticket)
    }

    fn len(&self) -> usize {
        self.by_id.len()
    }

    /// The ticket a submission with idempotency `key` created.
    fn keyed(&self, key: &str) -> Option<TicketId> {
        self.keys.get(key).copied()
    }

    fn tickets(&self) -> impl Iterator<Item = &Arc<Ticket>> {
        self.order.values().map(|e| &e.ticket)
    }

    fn oldest_first(&self) -> Vec<Arc<Ticket>> {
        self.tickets().cloned().collect()
    }

    /// One page, and how many tickets match in all: a single pass, newest
    /// first, over the whole store.
    fn page(&self, request: &PageRequest) -> Page {
        let matcher = request.filter.matcher();
        let mut tickets = Vec::with_capacity(request.limit.min(self.len()));
        let mut more = false;
        let mut total = 0;
        for (position, entry) in self.order.iter().rev() {
            if !matcher.matches(&entry.ticket, &entry.text) {
                continue;
            }
            total += 1;
            if request.after.is_some_and(|after| *position >= after) {
                continue;
            }
            if tickets.len() < request.limit {
                tickets.push(entry.ticket.clone());
            } else {
                more = true;
                if request.filter.is_empty() {
                    // Nothing to count: every ticket matches.
                    total = self.len();
                    break;
                }
            }
        }
        Page {
            next: if more {
                tickets.last().map(|t| Position::of(t))
            } else {
                None
            },
            tickets,
            total,
        }
    }

    /// The first sync's tickets, oldest first.
    fn first_sync(&self, window: &SyncWindow) -> Vec<Arc<Ticket>> {
        let mut picked: Vec<Arc<Ticket>> = self
            .order
            .values()
            .rev()
            .filter(|e| window.holds(&e.ticket))
            .take(window.max)
            .map(|e| e.ticket.clone())
            .collect();
        picked.reverse();
        picked
    }
}

/// What readers share with the writer.
#[derive(Debug)]
struct Shared {
    /// A std lock: held only to read or apply a committed batch, never
    /// across an `.await` or an fsync.
    state: RwLock<State>,
    /// The stream version: bumped by one per change, under the state's
    /// write lock; readers cache by it.
    version: AtomicU64,
    writable: AtomicBool,
    /// Why the store turned read-only (the first failure), for `/readyz`.
    /// A std Mutex: set once by the writer, read by health checks.
    failure: std::sync::Mutex<Option<String>>,
    /// Bytes in the snapshot plus journals, for the size metric.
    disk_bytes: AtomicU64,
    /// Journal writes that failed, for the failure metric.
    commit_failures: AtomicU64,
}

enum Request {
    Apply {
        command: Command,
        reply: oneshot::Sender<Result<Applied, StoreError>>,
    },
    /// Stop once every request before this one is committed.
    Shutdown,
    /// Answered by the writer when it gets there: proof it is not stalled.
    Ping(oneshot::Sender<()>),
}

/// Where a change's caller hears its outcome.
type Reply = oneshot::Sender<Result<Applied, StoreError>>;

/// One group commit's worth of requests, for either writer: adds `first`
/// and whatever else is already queued (at most `max` commands in all) to
/// `batch`, answering pings on the way. True once a shutdown was taken
/// (nothing behind it is).
fn gather(
    first: Request,
    rx: &mut mpsc::Receiver<Request>,
    batch: &mut Vec<(Command, Reply)>,
    max: usize,
) -> bool {
    let mut next = Some(first);
    while let Some(request) = next.take() {
        match request {
            Request::Apply { command, reply } => batch.push((command, reply)),
            Request::Shutdown => return true,
            Request::Ping(pong) => {
                let _ = pong.send(());
            }
        }
        if batch.len() >= max {
            break;
        }
        next = rx.try_recv().ok();
    }
    false
}

/// Refuses whatever is still queued behind a shutdown.
fn refuse_queued(rx: &mut mpsc::Receiver<Request>) {
    rx.close();
    while let Ok(request) = rx.try_recv() {
        if let Request::Apply { reply, .. } = request {
            let _ = reply.send(Err(StoreError::Unavailable));
        }
    }
}

/// A handle to the store: cheap to clone, shared by every caller.
#[derive(Clone)]
pub struct Store {
    tx: mpsc::Sender<Request>,
    shared: Arc<Shared>,
    /// Set once the writer thread has exited.
    closed: Arc<tokio::sync::Notify>,
    writer_done: Arc<AtomicBool>,
    data_dir: Arc<Path>,
    /// The stream's identity (see [`StreamMeta`]).
    epoch: uuid::Uuid,
    /// The changes recovery found, until the service takes them.
    recovered: Arc<std::sync::Mutex<VecDeque<(u64, Outcome)>>>,
    /// The shared database store's writer and tailer (None: the journal).
    database: Option<Arc<postgres::Context>>,
}

impl Store {
    /// Opens the store in `config.data_dir`: locks it, recovers, and starts
    /// the writer. Fails without touching a file it cannot read.
    pub fn open(mut config: StoreConfig, hook: CommitHook) -> Result<Store, OpenError> {
        if let Some(db) = config.database.take() {
            return postgres::open(config, db, hook);
        }
        let lock = files::lock_dir(&config.data_dir)?;
        let recovered = writer::recover(&config.data_dir, config.keep_changes, &config.sla)?;
        let epoch = recovered.stream.epoch;
        let shared = Arc::new(Shared {
            state: RwLock::new(recovered.state),
            version: AtomicU64::new(recovered.stream.version),
            writable: AtomicBool::new(true),
            failure: std::sync::Mutex::new(None),
            disk_bytes: AtomicU64::new(recovered.disk_bytes),
            commit_failures: AtomicU64::new(0),
        });
        let (tx, rx) = mpsc::channel(config.queue);
        let closed = Arc::new(tokio::sync::Notify::new());
        let writer_done = Arc::new(AtomicBool::new(false));
        let data_dir: Arc<Path> = config.data_dir.clone().into();
        writer::spawn(
            writer::Writer::new(
                config,
                recovered.next_generation,
                recovered.compact_now,
                epoch,
                lock,
            ),
            rx,
            shared.clone(),
            hook,
            closed.clone(),
            writer_done.clone(),
        )
        .map_err(|e| OpenError::Io(format!("cannot start the store writer: {e}")))?;
        Ok(Store {
            tx,
            shared,
            closed,
            writer_done,
            data_dir,
            epoch,
            recovered: Arc::new(std::sync::Mutex::new(recovered.changes)),
            database: None,
        })
    }

    /// Applies a command durably; resolves once it is on disk and announced.
    pub async fn execute(&self, command: Command) -> Result<Applied, StoreError> {
        if !self.is_writable() {
            return Err(StoreError::Unavailable);
        }
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request::Apply { command, reply })
            .await
            .map_err(|_| StoreError::Unavailable)?;
        rx.await.unwrap_or(Err(StoreError::Unavailable))
    }

    /// Every ticket, oldest first.
    pub fn all(&self) -> Vec<Arc<Ticket>> {
        self.read().oldest_first()
    }

    /// One ticket.
    pub fn get(&self, id: &TicketId) -> Option<Arc<Ticket>> {
        self.read().get(id).cloned()
    }

    /// Every ticket with the version they are current at.
    pub fn all_with_version(&self) -> (u64, Vec<Arc<Ticket>>) {
        let state = self.read();
        (self.version(), state.oldest_first())
    }

    /// The stream version: how many changes the store has committed in
    /// its epoch.
    pub fn version(&self) -> u64 {
        self.shared.version.load(Ordering::Acquire)
    }

    /// The stream's epoch: made with the store, kept across restarts.
    pub fn epoch(&self) -> uuid::Uuid {
        self.epoch
    }

    /// The changes recovery read from the journals (consecutive versions
    /// ending at the version the store opened at), once; empty afterwards.
    pub fn take_recovered_changes(&self) -> VecDeque<(u64, Outcome)> {
        std::mem::take(&mut *self.recovered.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// One page of tickets, newest first.
    pub fn page(&self, request: &PageRequest) -> Page {
        self.read().page(request)
    }

    /// A client's first sync: the store version, the tickets of `window`
    /// (oldest first), and how many tickets the store holds.
    pub fn first_sync(&self, window: &SyncWindow) -> (u64, Vec<Arc<Ticket>>, usize) {
        let state = self.read();
        (self.version(), state.first_sync(window), state.len())
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counts by status, priority and category.
    pub fn stats(&self) -> Stats {
        let mut stats = self.read().counts.clone();
        // Every status and priority is named, at zero too; a category only
        // once a ticket has it.
        for status in Status::ALL {
            stats.by_status.entry(status).or_default();
        }
        for priority in Priority::ALL {
            stats.by_priority.entry(priority).or_default();
        }
        stats.by_category.retain(|_, n| *n > 0);
        stats
    }

    /// False once a write failed; changes are then refused.
    pub fn is_writable(&self) -> bool {
        self.shared.writable.load(Ordering::Acquire)
    }

    /// Whether only a restart brings this store back: a journal whose
    /// write failed (recovery replays it), or an instance that fell behind
    /// the changes the shared database keeps. A database that is merely
    /// away is not (the tailer reconnects and catches up).
    pub fn needs_restart(&self) -> bool {
        match self.database_behind() {
            None => !self.is_writable(),
            Some(behind) => behind,
        }
    }

    /// Why the store stopped accepting changes, once it has.
    pub fn failure(&self) -> Option<String> {
        self.shared
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Bytes on disk (snapshot and journals).
    pub fn disk_bytes(&self) -> u64 {
        self.shared.disk_bytes.load(Ordering::Relaxed)
    }

    /// Journal writes that failed since start (the first turns the store
    /// read-only).
    pub fn commit_failures(&self) -> u64 {
        self.shared.commit_failures.load(Ordering::Relaxed)
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Whether the writer answers within `within`: a stalled writer (a
    /// hung disk) fails this, and the watchdog stops petting.
    pub async fn ping(&self, within: Duration) -> bool {
        let (pong, rx) = oneshot::channel();
        if self.tx.try_send(Request::Ping(pong)).is_err() {
            return false;
        }
        matches!(tokio::time::timeout(within, rx).await, Ok(Ok(())))
    }

    /// Whether the writer thread is still running.
    pub fn writer_alive(&self) -> bool {
        !self.writer_done.load(Ordering::Acquire)
    }

    /// Finishes every queued command, then stops the writer. Other handles
    /// see `Unavailable` afterwards.
    pub async fn close(&self) {
        let notified = self.closed.notified();
        if self.tx.send(Request::Shutdown).await.is_ok() && self.writer_alive() {
            notified.await;
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.shared
            .state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tickets::NewTicket;
    use crate::triage::Analyzer;
    use chrono::Utc;

    fn ticket(text: &str) -> Ticket {
        let new = NewTicket::parse(text.into(), "sys".into(), "req".into()).unwrap();
        Ticket::create(new, Analyzer::builtin().analyze(text, "sys"), Utc::now())
    }

    fn open(dir: &Path) -> Store {
        let mut config = StoreConfig::new(dir);
        config.compact_after_bytes = u64::MAX;
        Store::open(config, Box::new(|_| {}))
            .map_err(|e| e.to_string())
            .unwrap()
    }

    #[test]
    fn a_snapshot_loads_in_file_order_and_refuses_a_key_that_is_not_its_ticket() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (
            ticket("printer jams on floor 3"),
            ticket("VPN drops every hour"),
        );
        let entry =
            |key: &str, t: &Ticket| format!("{key:?}:{}", serde_json::to_string(t).unwrap());
        let write = |body: String| std::fs::write(dir.path().join(files::SNAPSHOT), body).unwrap();
        let (ka, kb) = (a.request_id.to_string(), b.request_id.to_string());
        write(format!("{{{},{}}}", entry(&kb, &b), entry(&ka, &a)));
        let loaded = files::load_snapshot(dir.path()).unwrap();
        assert_eq!(loaded, vec![b.clone(), a.clone()]);
        // The explanation comes back byte for byte.
        assert_eq!(
            serde_json::to_string(&loaded[1].analysis.signals).unwrap(),
            serde_json::to_string(&a.analysis.signals).unwrap()
        );
        write(format!("{{{}}}", entry(&ka, &b)));
        let error = files::load_snapshot(dir.path()).unwrap_err().to_string();
        assert!(
            error.contains("does not match its ticket's request_id"),
            "{error}"
        );
        write("[]".into());
        assert!(files::load_snapshot(dir.path()).is_err());
    }

    #[tokio::test]
    async fn replays_the_journal_and_drops_a_torn_final_line() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let a = ticket("a");
        let b = ticket("b");
        store
            .execute(Command::Create(Box::new(a.clone())))
            .await
            .unwrap();
        store
            .execute(Command::Create(Box::new(b.clone())))
            .await
            .unwrap();
        store
            .execute(Command::Delete { id: a.request_id })
            .await
            .unwrap();
        store.close().await;
        drop(store);
        // A crash mid-append leaves half a line at the end.
        let (_, journal) = files::list_journals(dir.path()).unwrap().pop().unwrap();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&journal)
            .unwrap();
        std::io::Write::write_all(&mut f, b"{\"op\":\"put\",\"ticket\":{\"request_").unwrap();
        let store = open(dir.path());
        let ids: Vec<_> = store.all().iter().map(|t| t.request_id).collect();
        assert_eq!(ids, vec![b.request_id]);
    }

    /// A store with one committed ticket, closed; its journal's path.
    async fn one_ticket_journal(dir: &Path) -> PathBuf {
        let store = open(dir);
        store
            .execute(Command::Create(Box::new(ticket("a"))))
            .await
            .unwrap();
        store.close().await;
        drop(store);
        files::list_journals(dir).unwrap().pop().unwrap().1
    }

    #[tokio::test]
    async fn a_bad_line_before_the_end_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let journal = one_ticket_journal(dir.path()).await;
        let good = std::fs::read(&journal).unwrap();
        let mut bad = b"garbage\n".to_vec();
        bad.extend_from_slice(&good);
        std::fs::write(&journal, &bad).unwrap();
        let err = Store::open(StoreConfig::new(dir.path()), Box::new(|_| {}))
            .err()
            .expect("refuses to open");
        assert!(matches!(err, OpenError::Corrupt { .. }), "{err}");
        assert_eq!(std::fs::read(&journal).unwrap(), bad, "left untouched");
    }

    #[tokio::test]
    async fn a_complete_final_line_that_does_not_parse_is_corruption_not_a_torn_write() {
        let dir = tempfile::tempdir().unwrap();
        let journal = one_ticket_journal(dir.path()).await;
        let mut bad = std::fs::read(&journal).unwrap();
        bad.extend_from_slice(b"{\"op\":\"put\",\"ticket\":{\"request_\n");
        std::fs::write(&journal, &bad).unwrap();
        let err = Store::open(StoreConfig::new(dir.path()), Box::new(|_| {}))
            .err()
            .expect("refuses to open");
        let message = err.to_string();
        assert!(matches!(err, OpenError::Corrupt { .. }), "{message}");
        assert!(message.contains("line 2"), "names the line: {message}");
        assert!(
            message.contains(journal.file_name().unwrap().to_str().unwrap()),
            "names the file: {message}"
        );
        assert_eq!(std::fs::read(&journal).unwrap(), bad, "left untouched");
    }

    #[tokio::test]
    async fn compaction_folds_journals_into_the_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = StoreConfig::new(dir.path());
        config.compact_after_bytes = 1;
        let store = Store::open(config, Box::new(|_| {})).unwrap();
        let mut ids = Vec::new();
        for n in 0..5 {
            let t = ticket(&format!("t{n}"));
            ids.push(t.request_id);
            store.execute(Command::Create(Box::new(t))).await.unwrap();
        }
        store
            .execute(Command::Resolve {
                id: ids[0],
                at: Utc::now(),
            })
            .await
            .unwrap();
        store.close().await;
        drop(store);
        // The snapshot holds what was compacted; the journals it covers are
        // gone, and what came after is still journaled.
        let snapshot = files::load_snapshot(dir.path()).unwrap();
        assert!(!snapshot.is_empty());
        let journals = files::list_journals(dir.path()).unwrap();
        assert!(journals.len() <= 2, "{journals:?}");
        let store = open(dir.path());
        assert_eq!(store.len(), 5);
        assert_eq!(store.stats().resolved, 1);
    }

    #[tokio::test]
    async fn the_conversation_is_stored_outside_the_ticket_and_replayed_as_announced() {
        use crate::tickets::{
            Author, Comment, CommentChange, CommentKind, CommentRules, Role, Staff, Visibility,
            conversation::AuthorRole,
        };
        let dir = tempfile::tempdir().unwrap();
        let mut config = StoreConfig::new(dir.path());
        config.keep_changes = 10;
        let store = Store::open(config.clone(), Box::new(|_| {})).unwrap();
        let mut t = ticket("with a conversation");
        t.private.follow_token_sha256 = Some("ab".repeat(32));
        let id = t.request_id;
        store.execute(Command::Create(Box::new(t))).await.unwrap();
        let dana = Author::Staff(Staff {
            name: "dana".into(),
            role: Role::Agent,
        });
        let note = Comment {
            id: uuid::Uuid::new_v4(),
            author: "dana".into(),
            role: AuthorRole::Agent,
            visibility: Visibility::Internal,
            body: "internal marker".into(),
            created_at: Utc::now(),
            edited_at: None,
            deleted_at: None,
            deleted_by: None,
        };
        let comment = |change| Command::Comment {
            id,
            by: dana.clone(),
            change,
            rules: CommentRules::default(),
            at: Utc::now(),
        };
        store
            .execute(comment(CommentChange::Add(Box::new(note.clone()))))
            .await
            .unwrap();
        store
            .execute(comment(CommentChange::Edit {
                comment_id: note.id,
                body: "edited marker".into(),
            }))
            .await
            .unwrap();
        // Neither the note nor the token's hash is in the ticket as sent.
        let sent = serde_json::to_string(&*store.get(&id).unwrap()).unwrap();
        assert!(!sent.contains("marker") && !sent.contains("abab"), "{sent}");
        store.close().await;
        drop(store);

        let store = Store::open(config.clone(), Box::new(|_| {})).unwrap();
        let kinds: Vec<_> = store
            .take_recovered_changes()
            .into_iter()
            .map(|(v, o)| match o {
                Outcome::Commented { comment, kind, .. } => (v, Some(kind), comment.body.clone()),
                _ => (v, None, String::new()),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                (1, None, String::new()),
                (2, Some(CommentKind::Added), "internal marker".to_string()),
                (3, Some(CommentKind::Edited), "edited marker".to_string()),
            ]
        );
        let kept = store.get(&id).unwrap();
        assert_eq!(kept.private.comments.len(), 1);
        assert_eq!(kept.private.comments[0].body, "edited marker");
        assert_eq!(kept.private.follow_token_sha256, Some("ab".repeat(32)));
        // Through a snapshot too.
        let snapshot = files::encode_snapshot(&store.all()).unwrap();
        let text = String::from_utf8(snapshot).unwrap();
        assert!(text.contains("edited marker") && text.contains("\"private\""));
        let elsewhere = tempfile::tempdir().unwrap();
        files::write_snapshot(elsewhere.path(), &store.all()).unwrap();
        let loaded = files::load_snapshot(elsewhere.path()).unwrap();
        assert_eq!(loaded[0].private, kept.private);
    }

    #[tokio::test]
    async fn kept_statistics_equal_a_count_of_the_tickets() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let recount = |store: &Store| {
            let mut s = Stats::default();
            for t in store.all() {
                s.count(&t, 1);
            }
            for status in Status::ALL {
                s.by_status.entry(status).or_default();
            }
            for priority in Priority::ALL {
                s.by_priority.entry(priority).or_default();
            }
            s
        };
        let mut ids = Vec::new();
        for n in 0..6 {
            let t = ticket(&format!("t{n}"));
            ids.push(t.request_id);
            store.execute(Command::Create(Box::new(t))).await.unwrap();
        }
        for id in &ids[..3] {
            let at = Utc::now();
            store
                .execute(Command::Resolve { id: *id, at })
                .await
                .unwrap();
        }
        store.execute(Command::Delete { id: ids[0] }).await.unwrap();
        store.execute(Command::Delete { id: ids[4] }).await.unwrap();
        let stats = store.stats();
        assert_eq!((stats.total, stats.open, stats.resolved), (4, 2, 2));
        assert_eq!(stats, recount(&store));
        store.execute(Command::Clear).await.unwrap();
        assert_eq!(store.stats(), recount(&store));
        assert_eq!(store.stats().total, 0);
    }

    #[tokio::test]
    async fn an_idempotency_key_creates_once_in_a_batch_and_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let keyed = |key: &str| {
            let mut t = ticket("retried");
            t.private.idempotency_key = Some(key.into());
            t
        };
        let (a, b) = (keyed("k1"), keyed("k1"));
        let first = a.request_id;
        // One batch: the second sees the first's key, and is answered only
        // once the ticket it names can be read (its caller reads it next).
        let (ra, (rb, visible)) =
            tokio::join!(store.execute(Command::Create(Box::new(a))), async {
                let rb = store.execute(Command::Create(Box::new(b))).await;
                (rb, store.get(&first).is_some())
            });
        assert!(ra.is_ok());
        assert_eq!(
            rb.unwrap_err(),
            StoreError::Command(CommandError::Duplicate(first))
        );
        assert!(
            visible,
            "the duplicate was answered before its ticket was stored"
        );
        // Later, and after a delete the key is free again.
        let err = store
            .execute(Command::Create(Box::new(keyed("k1"))))
            .await
            .unwrap_err();
        assert_eq!(err, StoreError::Command(CommandError::Duplicate(first)));
        store.execute(Command::Delete { id: first }).await.unwrap();
        assert!(
            store
                .execute(Command::Create(Box::new(keyed("k1"))))
                .await
                .is_ok()
        );
        // Past the window, the same key makes a new ticket.
        let mut old = keyed("k2");
        old.created_at -= crate::tickets::IDEMPOTENCY_WINDOW + chrono::TimeDelta::minutes(1);
        store.execute(Command::Create(Box::new(old))).await.unwrap();
        assert!(
            store
                .execute(Command::Create(Box::new(keyed("k2"))))
                .await
                .is_ok()
        );
        assert_eq!(store.len(), 3);
    }

    #[tokio::test]
    async fn commands_on_missing_tickets_are_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let id = uuid::Uuid::new_v4();
        let err = store.execute(Command::Delete { id }).await.unwrap_err();
        assert_eq!(err, StoreError::Command(CommandError::NotFound(id)));
        // A create and a resolve in one batch see each other.
        let t = ticket("x");
        let tid = t.request_id;
        let (a, b) = tokio::join!(
            store.execute(Command::Create(Box::new(t))),
            store.execute(Command::Resolve {
                id: tid,
                at: Utc::now()
            })
        );
        assert!(a.is_ok());
        assert!(b.is_ok(), "{b:?}");
        assert_eq!(store.get(&tid).unwrap().status, Status::Resolved);
        let cleared = store.execute(Command::Clear).await.unwrap();
        assert!(matches!(cleared.outcome, Outcome::Cleared { count: 1 }));
        assert!(store.is_empty());
    }

    #[tokio::test]
    async fn versions_go_up_by_one_per_change_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = StoreConfig::new(dir.path());
        config.compact_after_bytes = u64::MAX;
        config.keep_changes = 10;
        let store = Store::open(config.clone(), Box::new(|_| {})).unwrap();
        assert_eq!(store.version(), 0);
        let epoch = store.epoch();
        let (a, b) = (ticket("a"), ticket("b"));
        let (ra, rb) = tokio::join!(
            store.execute(Command::Create(Box::new(a.clone()))),
            store.execute(Command::Create(Box::new(b.clone())))
        );
        let mut got = [ra.unwrap().version, rb.unwrap().version];
        got.sort();
        assert_eq!(got, [1, 2]);
        let resolved = store
            .execute(Command::Resolve {
                id: a.request_id,
                at: Utc::now(),
            })
            .await
            .unwrap();
        assert_eq!(resolved.version, 3);
        store
            .execute(Command::Delete { id: b.request_id })
            .await
            .unwrap();
        assert_eq!(store.version(), 4);
        store.close().await;
        drop(store);

        let store = Store::open(config.clone(), Box::new(|_| {})).unwrap();
        assert_eq!(store.epoch(), epoch, "the epoch is kept");
        assert_eq!(store.version(), 4, "versions continue");
        let changes: Vec<(u64, &'static str)> = store
            .take_recovered_changes()
            .iter()
            .map(|(v, o)| {
                let kind = match o {
                    Outcome::Created(_) => "created",
                    Outcome::Resolved(_) => "resolved",
                    Outcome::Updated(_) => "updated",
                    Outcome::Deleted(_) => "deleted",
                    Outcome::Cleared { .. } => "cleared",
                    Outcome::Commented { .. } => "commented",
                    Outcome::SlaAnnounced { .. } => "sla",
                };
                (*v, kind)
            })
            .collect();
        assert_eq!(changes[2..], [(3, "resolved"), (4, "deleted")]);
        assert_eq!(changes.len(), 4);
        assert!(store.take_recovered_changes().is_empty(), "taken once");
        let cleared = store.execute(Command::Clear).await.unwrap();
        assert_eq!(cleared.version, 5);
        store.close().await;
        drop(store);

        // After start-up compaction the snapshot and the stream file carry
        // the version; a directory without the stream file is a new epoch.
        let store = Store::open(config.clone(), Box::new(|_| {})).unwrap();
        assert_eq!((store.epoch(), store.version()), (epoch, 5));
        store.close().await;
        drop(store);
        std::fs::remove_file(dir.path().join(STREAM)).unwrap();
        let store = Store::open(config, Box::new(|_| {})).unwrap();
        assert_ne!(store.epoch(), epoch);
    }
}
