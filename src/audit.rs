//! The audit trail: every admin action, every login and every refused
//! session token, appended to `DATA_DIR/audit.log` as JSON Lines. It never
//! holds a password or a token.
//!
//! Two kinds of write:
//! - [`AuditLog::record`]: admin actions and successful logins, synced to
//!   disk before the action is acknowledged;
//! - [`AuditLog::record_batched`]: failed logins and refused tokens, written
//!   at once and synced by [`AuditLog::flush`] at most once per
//!   [`FLUSH_INTERVAL`] (the server runs a flusher), so a client sending
//!   bad passwords or tokens cannot make each attempt cost a disk flush.
//!
//! The file is rotated when it passes `--audit-max-bytes`: `audit.log`
//! becomes `audit.log.1`, older files shift up, and `--audit-keep` rotated
//! files are kept.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::store::postgres::records::Records;

/// One line of the audit log.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub time: DateTime<Utc>,
    /// The admin (for a failed login, the user name that was tried; empty
    /// for a refused token, whose owner is unknown).
    pub admin: String,
    /// `login`, `logout`, the admin command, or where a token was refused
    /// (`bearer`, `admin_command`).
    pub action: String,
    /// `success`, `failure` or `refused`.
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<serde_json::Value>,
    /// Why a token was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

pub const FILE_NAME: &str = "audit.log";

/// How often batched entries are synced.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Size cap and rotation.
#[derive(Debug, Clone, Copy)]
pub struct Rotation {
    /// Rotate once the file is larger than this.
    pub max_bytes: u64,
    /// Rotated files kept (`audit.log.1` .. `audit.log.N`).
    pub keep: usize,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation {
            max_bytes: 64 * 1024 * 1024,
            keep: 5,
        }
    }
}

/// The open file and its size.
struct Current {
    file: File,
    bytes: u64,
}

/// The append-only log: a file of its own, or the shared database's
/// `ticketd_audit` table when instances share one.
pub struct AuditLog {
    dir: PathBuf,
    path: PathBuf,
    rotation: Rotation,
    /// A std Mutex: held for one append (and fsync) on a blocking thread or
    /// for a batched append, never across an `.await`.
    current: Arc<Mutex<Current>>,
    /// Batched entries written since the last sync.
    dirty: Arc<AtomicBool>,
    /// With the shared store: every entry goes to the database instead.
    database: Option<DatabaseSink>,
}

/// The audit trail in the shared database. Synced entries are inserted
/// before the call returns; batched ones wait in memory for the next
/// [`AuditLog::flush`], at most [`BATCH_CAP`] of them (beyond that the
/// oldest are dropped and counted, with an error logged: a flood of refused
/// tokens while the database is away must not exhaust memory).
struct DatabaseSink {
    records: Arc<Records>,
    batched: Batch,
}

/// Encoded entries waiting for the database, oldest first, at most `cap`.
struct Batch {
    queue: Mutex<VecDeque<String>>,
    cap: usize,
    /// Dropped for want of room since start.
    dropped: std::sync::atomic::AtomicU64,
}

/// Batched entries held for the database at most.
pub const BATCH_CAP: usize = 10_000;

fn open_file(path: &Path) -> std::io::Result<Current> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    let bytes = file.metadata()?.len();
    Ok(Current { file, bytes })
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

impl AuditLog {
    /// Opens (creating, 0600) `dir/audit.log` for appending; a new file's
    /// name is made durable (the directory is synced).
    pub fn open(dir: &Path, rotation: Rotation) -> std::io::Result<AuditLog> {
        let path = dir.join(FILE_NAME);
        let new = !path.exists();
        let current = open_file(&path)?;
        if new {
            sync_dir(dir)?;
        }
        Ok(AuditLog {
            dir: dir.to_path_buf(),
            path,
            rotation,
            current: Arc::new(Mutex::new(current)),
            dirty: Arc::new(AtomicBool::new(false)),
            database: None,
        })
    }

    /// The audit trail of instances sharing a database: every entry goes to
    /// `ticketd_audit`, none to `dir` (which holds only an empty
    /// `audit.log`, opened so a later switch back finds it).
    pub fn shared(dir: &Path, records: Arc<Records>) -> std::io::Result<AuditLog> {
        let mut log = AuditLog::open(dir, Rotation::default())?;
        log.database = Some(DatabaseSink {
            records,
            batched: Batch::new(BATCH_CAP),
        });
        Ok(log)
    }

    fn encode(entry: &AuditEntry) -> std::io::Result<Vec<u8>> {
        let mut line = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        line.push(b'\n');
        Ok(line)
    }

    /// Appends `line`, rotating first when the file is full.
    fn append(
        current: &mut Current,
        dir: &Path,
        path: &Path,
        rotation: Rotation,
        line: &[u8],
    ) -> std::io::Result<()> {
        if current.bytes > 0 && current.bytes + line.len() as u64 > rotation.max_bytes {
            current.file.sync_data()?;
            for n in (1..rotation.keep).rev() {
                let from = dir.join(format!("{FILE_NAME}.{n}"));
                if from.exists() {
                    std::fs::rename(&from, dir.join(format!("{FILE_NAME}.{}", n + 1)))?;
                }
            }
            if rotation.keep == 0 {
                std::fs::remove_file(path)?;
            } else {
                std::fs::rename(path, dir.join(format!("{FILE_NAME}.1")))?;
            }
            *current = open_file(path)?;
            sync_dir(dir)?;
        }
        current.file.write_all(line)?;
        current.bytes += line.len() as u64;
        Ok(())
    }

    /// Appends an entry and syncs it to disk (with anything batched).
    pub async fn record(&self, entry: AuditEntry) -> std::io::Result<()> {
        if let Some(db) = &self.database {
            let mut entries = db.batched.take();
            entries.push(serde_json::to_string(&entry).map_err(std::io::Error::other)?);
            let written = db.records.append_audit(&entries).await;
            if written.is_err() {
                entries.pop();
                db.batched.put_back(entries);
            }
            return written.map_err(std::io::Error::other);
        }
        let line = Self::encode(&entry)?;
        let current = self.current.clone();
        let dirty = self.dirty.clone();
        let (dir, path, rotation) = (self.dir.clone(), self.path.clone(), self.rotation);
        tokio::task::spawn_blocking(move || {
            let mut current = current.lock().unwrap_or_else(|p| p.into_inner());
            Self::append(&mut current, &dir, &path, rotation, &line)?;
            dirty.store(false, Ordering::Release);
            current.file.sync_data()
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// Records a refusal (a bad token, a command the role may not run):
    /// batched, since nothing was changed that needs acknowledging and a
    /// flood of refusals must cost no flush each. A failure to write is
    /// logged, never passed on: the refusal stands either way.
    pub fn refused(
        &self,
        user: &str,
        action: &str,
        ticket_id: Option<String>,
        client: Option<std::net::IpAddr>,
        reason: String,
    ) {
        let entry = AuditEntry {
            time: Utc::now(),
            admin: user.to_string(),
            action: action.to_string(),
            outcome: "refused",
            ticket_id,
            client: client.map(|c| c.to_string()),
            before: None,
            after: None,
            reason: Some(reason),
        };
        if let Err(e) = self.record_batched(entry) {
            tracing::error!(error = %e, "cannot write the audit log");
        }
    }

    /// Appends an entry without syncing it; [`flush`](Self::flush) syncs.
    pub fn record_batched(&self, entry: AuditEntry) -> std::io::Result<()> {
        if let Some(db) = &self.database {
            let line = serde_json::to_string(&entry).map_err(std::io::Error::other)?;
            db.batched.push(line);
            return Ok(());
        }
        let line = Self::encode(&entry)?;
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        Self::append(&mut current, &self.dir, &self.path, self.rotation, &line)?;
        self.dirty.store(true, Ordering::Release);
        Ok(())
    }

    /// Syncs batched entries, if any (call every [`FLUSH_INTERVAL`] and at
    /// shutdown).
    pub async fn flush(&self) -> std::io::Result<()> {
        if let Some(db) = &self.database {
            let entries = db.batched.take();
            let written = db.records.append_audit(&entries).await;
            if written.is_err() {
                db.batched.put_back(entries);
            }
            return written.map_err(std::io::Error::other);
        }
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let current = self.current.clone();
        tokio::task::spawn_blocking(move || {
            let current = current.lock().unwrap_or_else(|p| p.into_inner());
            current.file.sync_data()
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// The newest `limit` entries of the current file, newest first.
    pub async fn recent(&self, limit: usize) -> std::io::Result<Vec<serde_json::Value>> {
        if let Some(db) = &self.database {
            return db
                .records
                .recent_audit(limit)
                .await
                .map_err(std::io::Error::other);
        }
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let file = File::open(path)?;
            let mut newest = VecDeque::with_capacity(limit + 1);
            for line in BufReader::new(file).lines() {
                let line = line?;
                if let Ok(value) = serde_json::from_str(&line) {
                    newest.push_back(value);
                    if newest.len() > limit {
                        newest.pop_front();
                    }
                }
            }
            Ok(newest.into_iter().rev().collect())
        })
        .await
        .map_err(std::io::Error::other)?
    }
}

impl Batch {
    fn new(cap: usize) -> Batch {
        Batch {
            queue: Mutex::new(VecDeque::new()),
            cap,
            dropped: Default::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<String>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every batched entry, oldest first, leaving none.
    fn take(&self) -> Vec<String> {
        self.lock().drain(..).collect()
    }

    /// Queues a new entry after those already batched.
    fn push(&self, entry: String) {
        let mut batched = self.lock();
        batched.push_back(entry);
        self.cap(&mut batched);
    }

    /// Gives back entries a failed write took: they are older than any
    /// batched meanwhile, so they go first.
    fn put_back(&self, entries: Vec<String>) {
        let mut batched = self.lock();
        for entry in entries.into_iter().rev() {
            batched.push_front(entry);
        }
        self.cap(&mut batched);
    }

    /// Drops the oldest beyond the cap.
    fn cap(&self, batched: &mut VecDeque<String>) {
        let over = batched.len().saturating_sub(self.cap);
        if over > 0 {
            batched.drain(..over);
            let before = self.dropped.fetch_add(over as u64, Ordering::Relaxed);
            let total = before + over as u64;
            // Once, then every thousand: the log must not flood either.
            if before != 0 && before / 1000 == total / 1000 {
                return;
            }
            tracing::error!(
                dropped = total,
                "the database has not taken batched audit entries (refusals, failed logins) for a while; dropping the oldest"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: usize) -> AuditEntry {
        AuditEntry {
            time: Utc::now(),
            admin: format!("admin{n}"),
            action: "login".into(),
            outcome: "failure",
            ticket_id: None,
            client: None,
            before: None,
            after: None,
            reason: None,
        }
    }

    #[tokio::test]
    async fn rotates_at_the_cap_and_keeps_n_files() {
        let dir = tempfile::tempdir().unwrap();
        let rotation = Rotation {
            max_bytes: 400,
            keep: 2,
        };
        let log = AuditLog::open(dir.path(), rotation).unwrap();
        for n in 0..40 {
            log.record(entry(n)).await.unwrap();
        }
        let size = |name: &str| std::fs::metadata(dir.path().join(name)).map(|m| m.len());
        assert!(size("audit.log").unwrap() <= 400);
        assert!(size("audit.log.1").unwrap() <= 400);
        assert!(size("audit.log.2").unwrap() <= 400);
        assert!(
            size("audit.log.3").is_err(),
            "only two rotated files are kept"
        );
        let newest = log.recent(1).await.unwrap();
        assert_eq!(newest[0]["admin"], "admin39");
    }

    #[test]
    fn entries_waiting_for_the_database_keep_their_order_and_the_cap() {
        let batch = Batch::new(3);
        batch.push("a".into());
        batch.push("b".into());
        let taken = batch.take();
        assert_eq!(taken, ["a", "b"]);
        // While the write fails, a new entry comes; the failed ones go back
        // in front of it.
        batch.push("c".into());
        batch.put_back(taken);
        assert_eq!(batch.take(), ["a", "b", "c"]);
        // Past the cap the oldest go, and are counted.
        for e in ["a", "b", "c", "d", "e"] {
            batch.push(e.into());
        }
        assert_eq!(batch.take(), ["c", "d", "e"]);
        assert_eq!(batch.dropped.load(Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn batched_entries_are_written_at_once_and_synced_by_flush() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path(), Rotation::default()).unwrap();
        log.record_batched(entry(1)).unwrap();
        assert!(log.dirty.load(Ordering::Acquire));
        let text = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert!(text.contains("admin1"));
        log.flush().await.unwrap();
        assert!(!log.dirty.load(Ordering::Acquire));
    }
}
