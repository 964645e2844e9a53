//! The writer thread: group commit, journal appends, compaction, recovery.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::mpsc;

use super::files::{self, Record, StreamMeta};
use super::{
    Applied, CommitHook, Committed, OpenError, Reply, Request, Shared, State, StoreConfig,
    StoreError, gather, refuse_queued,
};
use crate::sla::Policy;
use crate::tickets::{Change, Outcome, Status, Ticket, TicketId, conversation, service_level};

/// What recovery found.
pub(super) struct Recovered {
    pub state: State,
    pub next_generation: u64,
    /// Journals exist: fold them into a fresh snapshot right away.
    pub compact_now: bool,
    pub disk_bytes: u64,
    /// The stream's identity and the version it has reached.
    pub stream: StreamMeta,
    /// The last changes the journals hold, as consecutive versions ending
    /// at `stream.version` (at most `keep_changes`).
    pub changes: VecDeque<(u64, Outcome)>,
}

/// Loads the snapshot, replays the journals in order, removes stale temps,
/// and makes sure the stream metadata is on disk (a directory without it
/// starts a new epoch).
pub(super) fn recover(
    dir: &std::path::Path,
    keep_changes: usize,
    policy: &Policy,
) -> Result<Recovered, OpenError> {
    let io = |e: std::io::Error| OpenError::Io(format!("cannot read {}: {e}", dir.display()));
    files::remove_stale_temps(dir).map_err(io)?;
    let replayed = replay(dir, keep_changes, policy)?;
    let stream = match replayed.stream {
        Some(meta) => StreamMeta {
            version: replayed.version,
            ..meta
        },
        None => {
            let meta = StreamMeta {
                epoch: uuid::Uuid::new_v4(),
                version: replayed.version,
            };
            if replayed.state.len() > 0 {
                tracing::warn!(
                    epoch = %meta.epoch,
                    "the store has no stream metadata ({}): starting a new epoch, so every client does a full first sync",
                    files::STREAM
                );
            }
            meta
        }
    };
    if replayed.stream != Some(stream) {
        files::write_stream(dir, &stream).map_err(|e| {
            OpenError::Io(format!(
                "cannot write {}: {e}",
                dir.join(files::STREAM).display()
            ))
        })?;
    }
    let disk_bytes = dir_bytes(dir);
    Ok(Recovered {
        state: replayed.state,
        next_generation: replayed.journals.last().map_or(1, |(g, _)| g + 1),
        compact_now: !replayed.journals.is_empty(),
        disk_bytes,
        stream,
        changes: replayed.changes,
    })
}

/// What the files hold.
pub(super) struct Replayed {
    pub state: State,
    pub journals: Vec<(u64, std::path::PathBuf)>,
    /// The stream metadata as found (`None`: no file).
    pub stream: Option<StreamMeta>,
    /// The version the snapshot and journals reach.
    pub version: u64,
    pub changes: VecDeque<(u64, Outcome)>,
}

/// The tickets as the snapshot and the journals hold them, changing
/// nothing on disk; the journals read; the stream's version; and the last
/// `keep_changes` changes as the outcomes they announced.
pub(super) fn replay(
    dir: &std::path::Path,
    keep_changes: usize,
    policy: &Policy,
) -> Result<Replayed, OpenError> {
    let io = |e: std::io::Error| OpenError::Io(format!("cannot read {}: {e}", dir.display()));
    // Every loaded ticket's SLA view is computed at this instant (clocks
    // keep running while the server is down; the service announces what
    // fell due meanwhile).
    let now = chrono::Utc::now();
    let mut state = State::default();
    for mut ticket in files::load_snapshot(dir)? {
        ticket.settle_sla(policy, now);
        state.put(Arc::new(ticket));
    }
    let stream = files::load_stream(dir)?;
    let mut version = stream.map_or(0, |m| m.version);
    let mut changes: VecDeque<(u64, Outcome)> = VecDeque::new();
    let journals = files::list_journals(dir).map_err(io)?;
    let mut torn = 0;
    for (_, path) in &journals {
        let (records, was_torn) = files::read_journal(path)?;
        torn += usize::from(was_torn);
        for record in records {
            let v = record.version();
            let outcome = match record {
                Record::Put { mut ticket, v } => {
                    ticket.settle_sla(policy, now);
                    apply_record(&mut state, Record::Put { ticket, v })
                }
                other => apply_record(&mut state, other),
            }
            .map(|(outcome, _)| outcome);
            // Journals written before versions existed count one each.
            let v = if v == 0 { version + 1 } else { v };
            // Keep only a run of consecutive versions: anything else (a
            // journal the snapshot already covers, replayed again) cannot
            // be announced as "the changes after V".
            if changes.back().is_some_and(|(last, _)| v != last + 1) {
                changes.clear();
            }
            if let Some(outcome) = outcome
                && keep_changes > 0
            {
                if changes.len() == keep_changes {
                    changes.pop_front();
                }
                changes.push_back((v, outcome));
            } else {
                changes.clear();
            }
            version = version.max(v);
        }
    }
    if changes.back().is_some_and(|(last, _)| *last != version) {
        changes.clear();
    }
    if torn > 0 {
        tracing::warn!(
            torn,
            "dropped a torn final journal line (an append cut short by a crash, never acknowledged)"
        );
    }
    Ok(Replayed {
        state,
        journals,
        stream,
        version,
        changes,
    })
}

/// Applies one committed record to `state`; returns the outcome it
/// announces (derived from the ticket before and after) and the ticket as it
/// was before. None: a delete of a ticket that is not there.
/// A batch's refused commands, with their replies.
pub(super) type Refused = Vec<(StoreError, Reply)>;

/// Splits a planned batch: the changes to store, with their replies, and
/// the commands refused. Refusals are answered with [`answer_refused`] only
/// once the batch is stored and published: a retried submission is refused
/// as a duplicate of a ticket this very batch may create, and its caller
/// reads that ticket next.
pub(super) fn split(
    planned: Vec<Result<Planned, StoreError>>,
    replies: Vec<Reply>,
) -> (Vec<(Planned, Reply)>, Refused) {
    let mut applied = Vec::with_capacity(planned.len());
    let mut refused = Vec::new();
    for (result, reply) in planned.into_iter().zip(replies) {
        match result {
            Ok(p) => applied.push((p, reply)),
            Err(e) => refused.push((e, reply)),
        }
    }
    (applied, refused)
}

/// Answers the refused commands of a batch that was `stored` or not. When
/// it was not, a duplicate is answered `Unavailable`: the ticket it names
/// may be one the batch would have created (a retry settles it).
pub(super) fn answer_refused(refused: Refused, stored: bool) {
    for (error, reply) in refused {
        let error = match error {
            StoreError::Command(crate::tickets::CommandError::Duplicate(_)) if !stored => {
                StoreError::Unavailable
            }
            other => other,
        };
        let _ = reply.send(Err(error));
    }
}

pub(super) fn apply_record(
    state: &mut State,
    record: Record<Ticket>,
) -> Option<(Outcome, Option<Arc<Ticket>>)> {
    match record {
        Record::Put { ticket, .. } => {
            let ticket = Arc::new(ticket);
            let old = state.get(&ticket.request_id).cloned();
            let commented = old
                .as_ref()
                .and_then(|old| conversation::difference(&old.private, &ticket.private));
            let announced = old
                .as_ref()
                .and_then(|old| service_level::announced_between(old, &ticket));
            let outcome = match (&old, commented, announced) {
                (None, ..) => Outcome::Created(ticket.clone()),
                (Some(_), Some((comment, kind)), _) => Outcome::Commented {
                    ticket: ticket.clone(),
                    comment,
                    kind,
                },
                (Some(_), None, Some(announcement)) => Outcome::SlaAnnounced {
                    ticket: ticket.clone(),
                    announcement,
                },
                (Some(old), None, None)
                    if ticket.status == Status::Resolved
                        && (old.status != Status::Resolved || **old == *ticket) =>
                {
                    Outcome::Resolved(ticket.clone())
                }
                (Some(_), None, None) => Outcome::Updated(ticket.clone()),
            };
            state.put(ticket);
            Some((outcome, old))
        }
        Record::Delete { request_id, .. } => state
            .delete(&request_id)
            .map(|t| (Outcome::Deleted(t.clone()), Some(t))),
        Record::Clear { .. } => {
            let count = state.len();
            state.clear();
            Some((Outcome::Cleared { count }, None))
        }
    }
}

/// A command that applied: the change to store, what it announces, and the
/// ticket it read.
pub(super) struct Planned {
    pub change: Change,
    pub outcome: Outcome,
    pub before: Option<Arc<Ticket>>,
}

/// What a batch of commands does to `state`, each seeing the batch's
/// earlier changes (an overlay), without touching `state`: one result per
/// command, in order, and whether the batch clears the store (everything
/// before the clear goes).
pub(super) struct Plan {
    pub results: Vec<Result<Planned, StoreError>>,
    pub cleared: bool,
}

pub(super) fn plan(
    state: &State,
    commands: impl IntoIterator<Item = crate::tickets::Command>,
    sla: &Policy,
) -> Plan {
    let mut overlay: HashMap<TicketId, Option<Arc<Ticket>>> = HashMap::new();
    let mut cleared = false;
    let mut results = Vec::new();
    let mut count = state.len();
    // Keys of this batch's own creations.
    let mut keyed: HashMap<String, TicketId> = HashMap::new();
    for command in commands {
        if let Some(id) = duplicate(state, &overlay, cleared, &keyed, &command) {
            results.push(Err(StoreError::Command(
                crate::tickets::CommandError::Duplicate(id),
            )));
            continue;
        }
        if let crate::tickets::Command::Create(t) = &command
            && let Some(key) = &t.private.idempotency_key
        {
            keyed.insert(key.clone(), t.request_id);
        }
        let current = command.target().and_then(|id| match overlay.get(&id) {
            Some(v) => v.clone(),
            None if cleared => None,
            None => state.get(&id).cloned(),
        });
        let existed = current.is_some();
        results.push(match command.apply(current.as_ref(), count, sla) {
            Ok((change, outcome)) => {
                match &change {
                    Change::Put(t) => {
                        if !existed {
                            count += 1;
                        }
                        overlay.insert(t.request_id, Some(t.clone()));
                    }
                    Change::Delete(id) => {
                        count -= 1;
                        overlay.insert(*id, None);
                    }
                    Change::Clear => {
                        count = 0;
                        cleared = true;
                        overlay.clear();
                    }
                }
                Ok(Planned {
                    change,
                    outcome,
                    before: current,
                })
            }
            Err(e) => Err(e.into()),
        });
    }
    Plan { results, cleared }
}

/// The ticket a submission's idempotency key already created within the
/// window, as the batch so far leaves the store.
fn duplicate(
    state: &State,
    overlay: &HashMap<TicketId, Option<Arc<Ticket>>>,
    cleared: bool,
    keyed: &HashMap<String, TicketId>,
    command: &crate::tickets::Command,
) -> Option<TicketId> {
    let crate::tickets::Command::Create(new) = command else {
        return None;
    };
    let key = new.private.idempotency_key.as_deref()?;
    let id = keyed.get(key).copied().or_else(|| state.keyed(key))?;
    let ticket = match overlay.get(&id) {
        Some(t) => t.clone(),
        None if cleared => None,
        None => state.get(&id).cloned(),
    }?;
    (new.created_at - ticket.created_at < crate::tickets::IDEMPOTENCY_WINDOW).then_some(id)
}

/// Appends `change` as the journal line (and stored change body) of
/// version `v`.
pub(super) fn encode_change(change: &Change, v: u64, out: &mut Vec<u8>) {
    let record = match change {
        Change::Put(t) => Record::Put {
            ticket: files::Stored(t),
            v,
        },
        Change::Delete(id) => Record::Delete { request_id: *id, v },
        Change::Clear => Record::Clear { v },
    };
    serde_json::to_writer(&mut *out, &record).expect("a ticket always serializes");
}

/// Makes a durable batch visible: the in-memory view and the version (under
/// the write lock), then the commit hook, in commit order; returns what
/// each change's caller is told. `base` is the version before the batch.
pub(super) fn publish(
    shared: &Shared,
    hook: &CommitHook,
    base: u64,
    planned: Vec<Planned>,
    duration: std::time::Duration,
) -> Vec<Applied> {
    {
        let mut state = shared.state.write().unwrap_or_else(|p| p.into_inner());
        for p in &planned {
            match &p.change {
                Change::Put(t) => state.put(t.clone()),
                Change::Delete(id) => {
                    state.delete(id);
                }
                Change::Clear => state.clear(),
            }
        }
        // Bumped under the write lock, so a reader's (version, tickets)
        // pair is always consistent.
        shared
            .version
            .store(base + planned.len() as u64, Ordering::Release);
    }
    let mut changes = Vec::with_capacity(planned.len());
    let mut befores = Vec::with_capacity(planned.len());
    for (n, p) in planned.into_iter().enumerate() {
        changes.push((base + n as u64 + 1, p.outcome));
        befores.push(p.before);
    }
    hook(&Committed {
        changes: &changes,
        befores: &befores,
        duration,
        own: true,
    });
    changes
        .into_iter()
        .zip(befores)
        .map(|((version, outcome), before)| Applied {
            outcome,
            before,
            version,
        })
        .collect()
}

/// Lowers the calling thread's scheduling priority (nice 10): a snapshot
/// of a large store is seconds of CPU, and on a busy core it should give way
/// to the threads that commit, broadcast and answer. Best effort.
fn background_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority take no pointers; on Linux a thread id
    // names one thread for setpriority(PRIO_PROCESS).
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
    }
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    let snapshot = std::fs::metadata(dir.join(files::SNAPSHOT)).map_or(0, |m| m.len());
    let journals: u64 = files::list_journals(dir)
        .unwrap_or_default()
        .iter()
        .map(|(_, p)| std::fs::metadata(p).map_or(0, |m| m.len()))
        .sum();
    snapshot + journals
}

/// The writer's own state.
pub(super) struct Writer {
    config: StoreConfig,
    generation: u64,
    journal: Option<File>,
    journal_bytes: u64,
    compact_now: bool,
    /// A compaction thread in flight; at most one at a time.
    compaction: Option<std::thread::JoinHandle<()>>,
    /// Set by a compaction thread that failed, read by the writer.
    compaction_error: Arc<Mutex<Option<String>>>,
    /// The stream's epoch, written with each snapshot's version.
    epoch: uuid::Uuid,
    /// Held for the writer's life: the data directory's lock.
    _lock: File,
}

impl Writer {
    pub fn new(
        config: StoreConfig,
        generation: u64,
        compact_now: bool,
        epoch: uuid::Uuid,
        lock: File,
    ) -> Self {
        Writer {
            config,
            generation,
            epoch,
            journal: None,
            journal_bytes: 0,
            compact_now,
            compaction: None,
            compaction_error: Arc::new(Mutex::new(None)),
            _lock: lock,
        }
    }

    fn dir(&self) -> PathBuf {
        self.config.data_dir.clone()
    }

    /// The journal to append to, created on first use.
    fn journal(&mut self) -> std::io::Result<&mut File> {
        if self.journal.is_none() {
            self.journal = Some(files::create_journal(&self.dir(), self.generation)?);
            self.journal_bytes = 0;
        }
        Ok(self.journal.as_mut().expect("journal just opened"))
    }

    /// Starts a new journal and writes a snapshot of `state` in the
    /// background; the old journals are deleted once the snapshot is durable.
    fn compact(&mut self, shared: &Arc<Shared>) {
        if self
            .compaction
            .as_ref()
            .is_some_and(|handle| !handle.is_finished())
        {
            return;
        }
        if let Some(handle) = self.compaction.take() {
            let _ = handle.join();
        }
        if let Some(error) = self
            .compaction_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            tracing::error!(%error, "snapshot compaction failed; the journals were kept and stay authoritative");
        }
        // Rotate first: everything after this point goes to the new journal,
        // so the snapshot covers every journal up to `covered`.
        let covered = self.generation;
        self.generation += 1;
        self.journal = None;
        self.journal_bytes = 0;
        self.compact_now = false;
        let (tickets, version) = {
            let state = shared.state.read().unwrap_or_else(|p| p.into_inner());
            // Read under the lock: the version is bumped under the write lock.
            (state.oldest_first(), shared.version.load(Ordering::Acquire))
        };
        let stream = StreamMeta {
            epoch: self.epoch,
            version,
        };
        let dir = self.dir();
        let error_slot = self.compaction_error.clone();
        let shared = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("ticketd-compact".into())
            .spawn(move || {
                background_priority();
                let started = Instant::now();
                let result = files::write_snapshot(&dir, &tickets).and_then(|bytes| {
                    files::write_stream(&dir, &stream)?;
                    for (generation, path) in files::list_journals(&dir)? {
                        if generation <= covered {
                            std::fs::remove_file(path)?;
                        }
                    }
                    files::sync_dir(&dir)?;
                    Ok(bytes)
                });
                match result {
                    Ok(bytes) => {
                        shared.disk_bytes.store(dir_bytes(&dir), Ordering::Relaxed);
                        tracing::info!(
                            tickets = tickets.len(),
                            bytes,
                            duration_ms = started.elapsed().as_millis() as u64,
                            "snapshot written, journals compacted"
                        )
                    }
                    Err(e) => {
                        *error_slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string())
                    }
                }
            });
        match spawned {
            Ok(handle) => self.compaction = Some(handle),
            Err(e) => tracing::error!(error = %e, "cannot start the compaction thread"),
        }
    }
}

pub(super) fn spawn(
    mut writer: Writer,
    mut rx: mpsc::Receiver<Request>,
    shared: Arc<Shared>,
    hook: CommitHook,
    closed: Arc<tokio::sync::Notify>,
    done: Arc<AtomicBool>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("ticketd-store".into())
        .spawn(move || {
            if writer.compact_now {
                writer.compact(&shared);
            }
            let mut batch: Vec<(crate::tickets::Command, Reply)> = Vec::new();
            let mut stopping = false;
            while !stopping {
                // Wait for the first request, then take whatever else is
                // already queued: one group commit.
                let Some(first) = rx.blocking_recv() else {
                    break;
                };
                stopping = gather(first, &mut rx, &mut batch, writer.config.max_batch);
                if !batch.is_empty() {
                    commit(&mut writer, &shared, &hook, std::mem::take(&mut batch));
                }
            }
            refuse_queued(&mut rx);
            if let Some(handle) = writer.compaction.take() {
                let _ = handle.join();
            }
            // Release the files and the directory lock before telling
            // anyone the store is closed.
            drop(writer);
            done.store(true, Ordering::Release);
            closed.notify_one();
        })
        .map(|_| ())
}

/// Applies a batch, appends it with one fdatasync, then publishes it.
fn commit(
    writer: &mut Writer,
    shared: &Arc<Shared>,
    hook: &CommitHook,
    batch: Vec<(crate::tickets::Command, Reply)>,
) {
    if !shared.writable.load(Ordering::Acquire) {
        for (_, reply) in batch {
            let _ = reply.send(Err(StoreError::Unavailable));
        }
        return;
    }
    // 1. Apply every command to the current state plus this batch's own
    //    earlier changes, without touching shared state.
    let (commands, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
    let planned = {
        let state = shared.state.read().unwrap_or_else(|p| p.into_inner());
        plan(&state, commands, &writer.config.sla).results
    };
    let (applied, refused) = split(planned, replies);
    if applied.is_empty() {
        answer_refused(refused, true);
        return;
    }
    // 2. Append the batch and make it durable.
    //    Each change gets the next version.
    let base = shared.version.load(Ordering::Acquire);
    let mut bytes = Vec::with_capacity(applied.len() * 1200);
    for (n, (p, _)) in applied.iter().enumerate() {
        encode_change(&p.change, base + n as u64 + 1, &mut bytes);
        bytes.push(b'\n');
    }
    let started = Instant::now();
    let written = writer.journal().and_then(|journal| {
        journal.write_all(&bytes)?;
        journal.sync_data()
    });
    let duration = started.elapsed();
    if let Err(e) = written {
        // Never retried: after a failed fsync the kernel may have dropped
        // the dirty pages, and a retry could "succeed" without the data.
        shared
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(|| format!("journal write failed: {e}"));
        shared.writable.store(false, Ordering::Release);
        shared.commit_failures.fetch_add(1, Ordering::Relaxed);
        tracing::error!(
            error = %e,
            journal = %files::journal_path(&writer.dir(), writer.generation).display(),
            "journal write failed; the store is now read-only and refuses changes"
        );
        for (.., reply) in applied {
            let _ = reply.send(Err(StoreError::Unavailable));
        }
        answer_refused(refused, false);
        return;
    }
    writer.journal_bytes += bytes.len() as u64;
    shared
        .disk_bytes
        .fetch_add(bytes.len() as u64, Ordering::Relaxed);
    // 3. Publish: the view, then the announcement, then the replies.
    let (planned, replies): (Vec<_>, Vec<_>) = applied.into_iter().unzip();
    for (applied, reply) in publish(shared, hook, base, planned, duration)
        .into_iter()
        .zip(replies)
    {
        let _ = reply.send(Ok(applied));
    }
    answer_refused(refused, true);
    if writer.journal_bytes >= writer.config.compact_after_bytes {
        writer.compact(shared);
    }
}
