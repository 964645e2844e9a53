//! The audit trail: every admin action and every login, appended to
//! `DATA_DIR/audit.log` as JSON Lines and synced before the action is
//! acknowledged. It never holds a password or a token.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;

/// One line of the audit log.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub time: DateTime<Utc>,
    /// The admin (for a failed login, the user name that was tried).
    pub admin: String,
    /// `login`, `logout`, or the admin command.
    pub action: String,
    /// `success` or `failure`.
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<serde_json::Value>,
}

pub const FILE_NAME: &str = "audit.log";

/// The append-only log. Writes go through the blocking pool.
pub struct AuditLog {
    path: PathBuf,
    /// A std Mutex: held for one append and fsync on a blocking thread.
    file: Arc<Mutex<File>>,
}

impl AuditLog {
    /// Opens (creating, 0600) `dir/audit.log` for appending.
    pub fn open(dir: &Path) -> std::io::Result<AuditLog> {
        let path = dir.join(FILE_NAME);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)?;
        Ok(AuditLog {
            path,
            file: Arc::new(Mutex::new(file)),
        })
    }

    /// Appends an entry and syncs it to disk.
    pub async fn record(&self, entry: AuditEntry) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(&entry).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let file = self.file.clone();
        tokio::task::spawn_blocking(move || {
            let mut file = file.lock().unwrap_or_else(|p| p.into_inner());
            file.write_all(&line)?;
            file.sync_data()
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// The newest `limit` entries, newest first.
    pub async fn recent(&self, limit: usize) -> std::io::Result<Vec<serde_json::Value>> {
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
