//! The files on disk: the snapshot (`tickets_storage.json`, the original
//! format), the journals beside it, the lock, and the fsync discipline.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::OpenError;
use crate::tickets::{Ticket, TicketId};

/// The snapshot's file name, as the original system named it.
pub const SNAPSHOT: &str = "tickets_storage.json";
const SNAPSHOT_TMP_PREFIX: &str = "tickets_storage.json.tmp";
/// The stream metadata's file name.
pub const STREAM: &str = "tickets_stream.json";
const STREAM_TMP_PREFIX: &str = "tickets_stream.json.tmp";
const JOURNAL_PREFIX: &str = "tickets_journal.";
const JOURNAL_SUFFIX: &str = ".jsonl";
const LOCK: &str = ".ticketd.lock";

/// One journal record: a change, replayable any number of times, with the
/// stream version it produced (`v`; 0 in journals written before versions
/// existed).
#[derive(Debug, Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Record<T> {
    Put {
        ticket: T,
        #[serde(default)]
        v: u64,
    },
    Delete {
        request_id: TicketId,
        #[serde(default)]
        v: u64,
    },
    Clear {
        #[serde(default)]
        v: u64,
    },
}

/// A journal line as read: the tag and the fields of every kind, the
/// ticket left as raw JSON. (serde's internally tagged enums buffer their
/// content, which a ticket's raw-JSON parts cannot be read from.)
#[derive(Deserialize)]
struct Line<'a> {
    op: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    ticket: Option<&'a serde_json::value::RawValue>,
    request_id: Option<TicketId>,
    #[serde(default)]
    v: u64,
}

impl Record<Ticket> {
    /// Parses one journal line.
    pub fn parse(text: &[u8]) -> Result<Record<Ticket>, String> {
        let line: Line<'_> = serde_json::from_slice(text).map_err(|e| e.to_string())?;
        let v = line.v;
        match (&*line.op, line.ticket, line.request_id) {
            ("put", Some(ticket), None) => Ok(Record::Put {
                ticket: serde_json::from_str(ticket.get()).map_err(|e| format!("ticket: {e}"))?,
                v,
            }),
            ("delete", None, Some(request_id)) => Ok(Record::Delete { request_id, v }),
            ("clear", None, None) => Ok(Record::Clear { v }),
            (op, ..) => Err(format!(
                "not a journal record (op {op:?} with these fields)"
            )),
        }
    }
}

impl<T> Record<T> {
    pub fn version(&self) -> u64 {
        match self {
            Record::Put { v, .. } | Record::Delete { v, .. } | Record::Clear { v } => *v,
        }
    }
}

/// A ticket as the store's files hold it: the ticket's own fields plus,
/// when it has any, its `private` part (the conversation, the follow
/// token's hash, the SLA clocks), which the ticket's serialization leaves
/// out everywhere else.
pub struct Stored<'a>(pub &'a Ticket);

impl Serialize for Stored<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        crate::tickets::conversation::storing(|| self.0.serialize(serializer))
    }
}

/// The stream's identity and position, kept beside the snapshot in
/// `tickets_stream.json`: the epoch (a random UUID made with the store) and
/// a version the stream has reached (at least the snapshot's). Clients
/// resume against these; a data directory without this file starts a new
/// epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamMeta {
    pub epoch: uuid::Uuid,
    pub version: u64,
}

/// Creates the data directory (0700) if needed and takes its lock.
pub fn lock_dir(dir: &Path) -> Result<File, OpenError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| {
            OpenError::Io(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
    let path = dir.join(LOCK);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| OpenError::Io(format!("cannot open lock file {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(OpenError::Locked(dir.to_path_buf())),
        Err(fs::TryLockError::Error(e)) => Err(OpenError::Io(format!(
            "cannot lock {}: {e}",
            path.display()
        ))),
    }
}

/// Removes temp files a crash left behind mid-snapshot.
pub fn remove_stale_temps(dir: &Path) -> io::Result<usize> {
    let mut removed = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(SNAPSHOT_TMP_PREFIX) || n.starts_with(STREAM_TMP_PREFIX))
        {
            fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// The journals in the directory, oldest generation first.
pub fn list_journals(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(gen_str) = name
            .strip_prefix(JOURNAL_PREFIX)
            .and_then(|r| r.strip_suffix(JOURNAL_SUFFIX))
        else {
            continue;
        };
        if let Ok(generation) = gen_str.parse::<u64>() {
            out.push((generation, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

pub fn journal_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("{JOURNAL_PREFIX}{generation:012}{JOURNAL_SUFFIX}"))
}

/// Loads the snapshot: a missing file is an empty store; anything that does
/// not parse or fails validation is an error naming the file. The tickets
/// come in file order, each checked against its key as it is read (no map
/// keyed by strings in between: at 100,000 tickets that map was a fifth of
/// the start-up).
pub fn load_snapshot(dir: &Path) -> Result<Vec<Ticket>, OpenError> {
    let path = dir.join(SNAPSHOT);
    let bytes = match read_whole(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(OpenError::Io(format!(
                "cannot read {}: {e}",
                path.display()
            )));
        }
    };
    let corrupt = |problem: String| OpenError::Corrupt {
        path: path.clone(),
        problem,
    };
    let Snapshot(tickets) = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    Ok(tickets)
}

/// Reads a whole file into a buffer the kernel may back with huge pages: a
/// snapshot of hundreds of megabytes otherwise costs a page fault per 4 KiB
/// on its way in.
fn read_whole(path: &Path) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut file = File::open(path)?;
    let len = file.metadata()?.len() as usize;
    let mut bytes = Vec::with_capacity(len + 1);
    const HUGE: usize = 2 << 20;
    if len >= 4 * HUGE {
        let start = bytes.as_mut_ptr() as usize;
        let aligned = start.next_multiple_of(HUGE);
        let end = (start + bytes.capacity()) & !(HUGE - 1);
        if end > aligned {
            // SAFETY: the range lies inside the vector's own allocation,
            // and MADV_HUGEPAGE is only advice about how to back it.
            unsafe {
                libc::madvise(
                    aligned as *mut libc::c_void,
                    end - aligned,
                    libc::MADV_HUGEPAGE,
                );
            }
        }
    }
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The snapshot's object of `"request_id": ticket` entries, read straight
/// into a list.
struct Snapshot(Vec<Ticket>);

impl<'de> Deserialize<'de> for Snapshot {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = Snapshot;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of tickets keyed by request_id")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Snapshot, A::Error> {
                use serde::de::Error;
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    let mut ticket: Ticket = map.next_value()?;
                    if TicketId::parse_str(&key).ok() != Some(ticket.request_id) {
                        return Err(A::Error::custom(format!(
                            "key {key} does not match its ticket's request_id {}",
                            ticket.request_id
                        )));
                    }
                    ticket.fill_defaults();
                    ticket.check().map_err(A::Error::custom)?;
                    out.push(ticket);
                }
                Ok(Snapshot(out))
            }
        }
        deserializer.deserialize_map(Entries)
    }
}

/// Reads one journal. An unterminated final line that does not parse is a
/// torn append (a crash mid-write, never acknowledged) and is dropped; any
/// complete (newline-terminated) line that does not parse is corruption,
/// named by file and line.
pub fn read_journal(path: &Path) -> Result<(Vec<Record<Ticket>>, bool), OpenError> {
    let file = File::open(path)
        .map_err(|e| OpenError::Io(format!("cannot read {}: {e}", path.display())))?;
    let corrupt = |n: usize, problem: String| OpenError::Corrupt {
        path: path.to_path_buf(),
        problem: format!("line {n}: {problem}"),
    };
    let mut reader = BufReader::new(file);
    let mut records = Vec::new();
    let mut line = Vec::new();
    for number in 1.. {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| OpenError::Io(format!("cannot read {}: {e}", path.display())))?;
        if read == 0 {
            break;
        }
        // Only a final line without its newline can be an append cut short:
        // the writer writes a whole batch, newlines included, then syncs.
        let terminated = line.last() == Some(&b'\n');
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        if text.is_empty() {
            continue;
        }
        match Record::parse(text) {
            Ok(mut record) => {
                if let Record::Put { ticket, .. } = &mut record {
                    ticket.fill_defaults();
                    ticket.check().map_err(|p| corrupt(number, p.to_string()))?;
                }
                records.push(record)
            }
            Err(_) if !terminated => return Ok((records, true)),
            Err(e) => return Err(corrupt(number, e)),
        }
    }
    Ok((records, false))
}

/// Opens (creating, 0600) a journal for appending and makes its name durable.
pub fn create_journal(dir: &Path, generation: u64) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(journal_path(dir, generation))?;
    sync_dir(dir)?;
    Ok(file)
}

/// Writes the snapshot atomically: temp file in the same directory, fsync,
/// rename over the old one, fsync the directory. Tickets go oldest first.
pub fn write_snapshot(dir: &Path, tickets: &[Arc<Ticket>]) -> io::Result<u64> {
    let bytes = encode_snapshot(tickets)?;
    replace_file(dir, SNAPSHOT, SNAPSHOT_TMP_PREFIX, &bytes)?;
    Ok(bytes.len() as u64)
}

/// Reads the stream metadata: `None` when the file does not exist.
pub fn load_stream(dir: &Path) -> Result<Option<StreamMeta>, OpenError> {
    let path = dir.join(STREAM);
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| OpenError::Corrupt {
                path,
                problem: e.to_string(),
            }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(OpenError::Io(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// Writes the stream metadata atomically.
pub fn write_stream(dir: &Path, meta: &StreamMeta) -> io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(meta)?;
    bytes.push(b'\n');
    replace_file(dir, STREAM, STREAM_TMP_PREFIX, &bytes)
}

/// Replaces `dir/name` atomically: a temp file in the same directory,
/// fsync, rename over the old one, fsync the directory.
pub fn replace_file(dir: &Path, name: &str, tmp_prefix: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{tmp_prefix}.{}", std::process::id()));
    let result = (|| {
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, dir.join(name))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// The snapshot's bytes: one JSON object keyed by `request_id`, in the
/// order given (oldest first), pretty-printed like the original.
pub fn encode_snapshot(tickets: &[Arc<Ticket>]) -> io::Result<Vec<u8>> {
    use serde::ser::{SerializeMap, Serializer};
    let mut out = Vec::with_capacity(tickets.len() * 1024 + 2);
    let mut ser = serde_json::Serializer::pretty(&mut out);
    let mut map = ser.serialize_map(Some(tickets.len()))?;
    for t in tickets {
        map.serialize_entry(&t.request_id, &Stored(t))?;
    }
    map.end()?;
    out.push(b'\n');
    Ok(out)
}

/// Makes a directory's entries (a rename, a new file) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
