//! The shared store: PostgreSQL, for several ticketd instances at once.
//!
//! Every instance keeps the whole store in memory, as the journal store
//! does, and the database holds the one order of changes they all follow:
//!
//! - **Commit.** The writer takes whatever is queued, plans it against the
//!   in-memory view at version V, and sends it in one call to
//!   `ticketd_commit`, which moves the counter row from V to V + n in the
//!   same transaction that stores the changes. If another instance committed
//!   first, nothing is written: the writer catches up and plans again. A
//!   caller is answered only after COMMIT returned.
//! - **Announce.** Changes reach the in-memory view, the commit hook (the
//!   broadcast) and the replay ring only in version order, each exactly once:
//!   an instance's own batch right after its COMMIT, everything else through
//!   the tailer, which reads `ticketd_changes` after its cursor on every
//!   NOTIFY, every poll interval regardless, and after every reconnect.
//!   NOTIFY carries only the newest version, sent outside the transaction.
//! - **Away.** When the database cannot be reached, changes are refused
//!   (`Unavailable`) within the timeout, never buffered; reads are served
//!   from memory; the tailer reconnects with backoff and catches up.
//!
//! The writer and the tailer share one thread and a single-threaded
//! runtime: the commit hook may block (the outbound queue syncs a file), and
//! the two never apply changes at the same time.

pub mod records;
mod tailer;
mod writer;

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::mpsc;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{CommitHook, OpenError, Shared, State, Store, StoreConfig, files};
use crate::tickets::Ticket;

refinery::embed_migrations!("src/store/postgres/migrations");

/// The advisory lock migrations run under, so instances starting together
/// apply them once ("ticketd" in ASCII).
const MIGRATION_LOCK: i64 = 0x0074_6963_6b65_7464;
/// The channel NOTIFY wakes the tailers on.
pub const CHANNEL: &str = "ticketd_changes";

/// How to reach the database.
#[derive(Clone)]
pub struct DatabaseConfig {
    /// `postgres://user:password@host:port/dbname?sslmode=...`. Holds a
    /// password: never logged (see [`DatabaseConfig::describe`]).
    pub url: String,
    /// Connecting, and each statement, give up after this long: a change is
    /// refused within about this long when the database is away.
    pub timeout: Duration,
    /// The tailer reads new changes at least this often.
    pub poll_interval: Duration,
    /// Pooled connections (the writer, the tailer's reads, imports).
    pub pool_size: usize,
    /// Changes are kept in `ticketd_changes` at least this many versions
    /// back from the newest...
    pub keep_changes: u64,
    /// ...and at least this long; older ones are deleted. An instance that
    /// falls further behind (cut off from the database for longer) must
    /// restart to load the store afresh.
    pub keep_for: Duration,
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &self.describe())
            .field("timeout", &self.timeout)
            .field("poll_interval", &self.poll_interval)
            .field("pool_size", &self.pool_size)
            .field("keep_changes", &self.keep_changes)
            .field("keep_for", &self.keep_for)
            .finish()
    }
}

impl DatabaseConfig {
    pub fn new(url: impl Into<String>) -> Self {
        DatabaseConfig {
            url: url.into(),
            timeout: Duration::from_secs(1),
            poll_interval: Duration::from_millis(250),
            pool_size: 4,
            keep_changes: 100_000,
            keep_for: Duration::from_secs(3600),
        }
    }

    /// The URL without its password, for logs and errors.
    pub fn describe(&self) -> String {
        match url::Url::parse(&self.url) {
            Ok(mut url) => {
                if url.password().is_some() {
                    let _ = url.set_password(Some("***"));
                }
                url.to_string()
            }
            Err(_) => "(an unparsable database URL)".into(),
        }
    }
}

/// An error with its causes ("error performing TLS handshake: invalid peer
/// certificate: UnknownIssuer"); never a password (the URL is not in it).
pub(crate) fn why<E: std::error::Error>(error: E) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A connection recipe: the parsed configuration and its TLS connector.
#[derive(Clone)]
pub(crate) struct Connector {
    pub config: tokio_postgres::Config,
    pub tls: MakeRustlsConnect,
}

impl Connector {
    /// Parses the URL. `sslmode` is honoured as libpq names it: `disable`
    /// (plain), `allow` and `prefer` (TLS when the server offers it),
    /// `require`, `verify-ca` and `verify-full` (TLS or nothing). Whenever TLS
    /// is used the server's certificate is verified against `sslrootcert`
    /// (a PEM file) or, without it, the WebPKI roots, and its name against
    /// the host: ticketd never talks TLS to a server it has not verified.
    pub fn new(db: &DatabaseConfig) -> Result<Connector, String> {
        let mut url = url::Url::parse(&db.url).map_err(|e| {
            format!(
                "--database-url is not a URL ({e}); expected postgres://user:password@host:port/dbname"
            )
        })?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(format!(
                "--database-url scheme {:?}: expected postgres://",
                url.scheme()
            ));
        }
        let mut sslmode = "prefer".to_string();
        let mut rootcert = None;
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter_map(|(k, v)| match &*k {
                "sslmode" => {
                    sslmode = v.into_owned();
                    None
                }
                "sslrootcert" => {
                    rootcert = Some(v.into_owned());
                    None
                }
                _ => Some((k.into_owned(), v.into_owned())),
            })
            .collect();
        let mode = match sslmode.as_str() {
            "disable" => tokio_postgres::config::SslMode::Disable,
            "allow" | "prefer" => tokio_postgres::config::SslMode::Prefer,
            "require" | "verify-ca" | "verify-full" => tokio_postgres::config::SslMode::Require,
            other => {
                return Err(format!(
                    "--database-url sslmode={other:?}: expected disable, allow, prefer, require, verify-ca or verify-full"
                ));
            }
        };
        url.set_query(None);
        if !kept.is_empty() {
            url.query_pairs_mut().extend_pairs(kept);
        }
        let mut config: tokio_postgres::Config = url
            .as_str()
            .parse()
            .map_err(|e| format!("--database-url: {e}"))?;
        config
            .ssl_mode(mode)
            .connect_timeout(db.timeout)
            .keepalives_idle(Duration::from_secs(30))
            .application_name("ticketd");
        let mut roots = rustls::RootCertStore::empty();
        match &rootcert {
            Some(path) => {
                let pem = std::fs::read(path)
                    .map_err(|e| format!("--database-url sslrootcert {path}: {e}"))?;
                for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                    let cert = cert.map_err(|e| format!("sslrootcert {path}: {e}"))?;
                    roots
                        .add(cert)
                        .map_err(|e| format!("sslrootcert {path}: {e}"))?;
                }
                if roots.is_empty() {
                    return Err(format!("sslrootcert {path}: no certificate in it"));
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(Connector {
            config,
            tls: MakeRustlsConnect::new(tls),
        })
    }

    /// A connection of its own (not pooled), its driver spawned.
    pub async fn connect(&self) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let (client, connection) = self.config.connect(self.tls.clone()).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "database connection ended");
            }
        });
        Ok(client)
    }

    pub fn pool(&self, size: usize, timeout: Duration) -> Result<Pool, String> {
        let manager = Manager::from_config(
            self.config.clone(),
            self.tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        Pool::builder(manager)
            .max_size(size.max(2))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(timeout))
            .create_timeout(Some(timeout))
            .recycle_timeout(Some(timeout))
            .build()
            .map_err(|e| format!("database pool: {e}"))
    }
}

/// Applies the embedded migrations under an advisory lock, on a connection
/// of its own.
pub(crate) async fn migrate(connector: &Connector) -> Result<(), String> {
    let mut client = connector.connect().await.map_err(why)?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(why)?;
    let report = migrations::runner()
        .set_migration_table_name("ticketd_schema_history")
        .run_async(&mut client)
        .await;
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    let report = report.map_err(|e| format!("schema migration failed: {e}"))?;
    for m in report.applied_migrations() {
        tracing::info!(migration = %m, "database schema migrated");
    }
    Ok(())
}

/// What an instance shares between its writer and its tailer.
pub(super) struct Context {
    pub shared: Arc<Shared>,
    /// Called by the writer and the tailer, one at a time.
    pub hook: Mutex<CommitHook>,
    pub pool: Pool,
    pub connector: Connector,
    pub db: DatabaseConfig,
    pub sla: Arc<crate::sla::Policy>,
    pub max_batch: usize,
    /// The versions the writer's commit in flight will take, from its
    /// planning until it has published them: the tailer stops short of them
    /// so a batch is announced once, by the writer, with its own outcomes.
    pub pending: Mutex<Option<(u64, u64)>>,
    /// The database's newest version as last seen, for the lag metric.
    pub seen: AtomicU64,
    /// The notification queue's usage as last read (f64 bits).
    pub queue_usage: AtomicU64,
    /// Batches planned again because another instance committed first.
    pub conflicts: AtomicU64,
    /// Set for good once this instance missed changes the database no
    /// longer keeps: only a restart (a fresh load) brings it back.
    pub behind: AtomicBool,
    /// The newest version other instances should be woken for, and whether
    /// a NOTIFY is being sent (see `writer::wake_others`).
    pub wake_at: AtomicU64,
    pub waking: AtomicBool,
}

impl Context {
    /// The database answered: changes are accepted again.
    fn healthy(&self) {
        if !self.shared.writable.swap(true, Ordering::AcqRel) {
            tracing::info!("database reachable again: changes are accepted");
        }
        *self
            .shared
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The database did not answer: refuse changes until it does.
    fn unhealthy(&self, what: &str, error: &dyn std::fmt::Display) {
        self.shared.commit_failures.fetch_add(1, Ordering::Relaxed);
        let reason = format!("database unavailable ({what}): {error}");
        if self.shared.writable.swap(false, Ordering::AcqRel) {
            tracing::error!(%reason, "changes are refused until the database answers again");
        }
        *self
            .shared
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(reason);
    }
}

/// Opens the shared store: connects, migrates, loads every ticket at one
/// version, and starts the writer and the tailer on a thread of their own.
pub(super) fn open(
    config: StoreConfig,
    db: DatabaseConfig,
    hook: CommitHook,
) -> Result<Store, OpenError> {
    let lock = files::lock_dir(&config.data_dir)?;
    let connector = Connector::new(&db).map_err(OpenError::Io)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("ticketd-store")
        .build()
        .map_err(|e| OpenError::Io(format!("cannot start the store runtime: {e}")))?;
    let (tx, rx) = mpsc::channel(config.queue);
    let closed = Arc::new(tokio::sync::Notify::new());
    let writer_done = Arc::new(AtomicBool::new(false));
    let (opened_tx, opened_rx) = std::sync::mpsc::channel();
    let data_dir: Arc<Path> = config.data_dir.clone().into();
    {
        let closed = closed.clone();
        let done = writer_done.clone();
        std::thread::Builder::new()
            .name("ticketd-store".into())
            .spawn(move || {
                let started = runtime.block_on(async {
                    let what = db.describe();
                    migrate(&connector)
                        .await
                        .map_err(|e| OpenError::Io(format!("database {what}: {e}")))?;
                    let pool = connector
                        .pool(db.pool_size, db.timeout)
                        .map_err(OpenError::Io)?;
                    let Loaded {
                        epoch,
                        version,
                        state,
                        recent,
                    } = load(&pool, &config.sla, config.keep_changes)
                        .await
                        .map_err(|e| OpenError::Io(format!("database {what}: {e}")))?;
                    tracing::info!(database = %what, %epoch, version, tickets = state.len(), "shared store loaded");
                    let shared = Arc::new(Shared {
                        state: RwLock::new(state),
                        version: AtomicU64::new(version),
                        writable: AtomicBool::new(true),
                        failure: Mutex::new(None),
                        disk_bytes: AtomicU64::new(0),
                        commit_failures: AtomicU64::new(0),
                    });
                    let ctx = Arc::new(Context {
                        shared: shared.clone(),
                        hook: Mutex::new(hook),
                        pool,
                        connector,
                        db,
                        sla: config.sla.clone(),
                        max_batch: config.max_batch,
                        pending: Mutex::new(None),
                        seen: AtomicU64::new(version),
                        queue_usage: AtomicU64::new(0),
                        conflicts: AtomicU64::new(0),
                        behind: AtomicBool::new(false),
                        wake_at: AtomicU64::new(0),
                        waking: AtomicBool::new(false),
                    });
                    Ok::<_, OpenError>((ctx, epoch, recent))
                });
                let ctx = match started {
                    Ok((ctx, epoch, recent)) => {
                        let _ = opened_tx.send(Ok((
                            ctx.shared.clone(),
                            epoch,
                            ctx.clone(),
                            recent,
                        )));
                        ctx
                    }
                    Err(e) => {
                        let _ = opened_tx.send(Err(e));
                        done.store(true, Ordering::Release);
                        return;
                    }
                };
                runtime.block_on(async {
                    let tailer = tokio::spawn(tailer::run(ctx.clone()));
                    writer::run(&ctx, rx).await;
                    tailer.abort();
                });
                drop(runtime);
                drop(ctx);
                drop(lock);
                done.store(true, Ordering::Release);
                closed.notify_one();
            })
            .map_err(|e| OpenError::Io(format!("cannot start the store thread: {e}")))?;
    }
    let (shared, epoch, ctx, recent) = opened_rx
        .recv()
        .map_err(|_| OpenError::Io("the store thread ended while opening".into()))??;
    Ok(Store {
        tx,
        shared,
        closed,
        writer_done,
        data_dir,
        epoch,
        recovered: Arc::new(Mutex::new(recent)),
        database: Some(ctx),
    })
}

/// Every ticket and the version they are current at, read in one snapshot.
async fn load(pool: &Pool, policy: &crate::sla::Policy, keep: usize) -> Result<Loaded, String> {
    let mut client = pool.get().await.map_err(why)?;
    load_with(&mut client, policy, keep).await
}

/// A store as read in one snapshot: the epoch, the version, every ticket,
/// and the newest changes (at most the replay ring's size) as the outcomes
/// they were announced with.
struct Loaded {
    epoch: uuid::Uuid,
    version: u64,
    state: State,
    recent: VecDeque<(u64, crate::tickets::Outcome)>,
}

async fn load_with(
    client: &mut tokio_postgres::Client,
    policy: &crate::sla::Policy,
    keep: usize,
) -> Result<Loaded, String> {
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(why)?;
    let row = tx
        .query_one(
            "SELECT epoch::text, version FROM ticketd_stream WHERE id = 1",
            &[],
        )
        .await
        .map_err(why)?;
    let epoch: String = row.get(0);
    let epoch = uuid::Uuid::parse_str(&epoch).map_err(why)?;
    let version: i64 = row.get(1);
    // A ticket is in the change that last put it, or (once that change was
    // pruned) in a body of its own.
    let rows = tx
        .query(
            "SELECT t.id::text, coalesce(t.body, c.body -> 'ticket')::text \
             FROM ticketd_tickets AS t LEFT JOIN ticketd_changes AS c ON c.version = t.version",
            &[],
        )
        .await
        .map_err(why)?;
    let recent = recent_outcomes(&tx, version, keep, policy).await?;
    tx.commit().await.map_err(why)?;
    let now = chrono::Utc::now();
    let mut state = State::default();
    for row in rows {
        let id: &str = row.get(0);
        let body: Option<&str> = row.get(1);
        let body = body.ok_or_else(|| format!("ticket {id}: the change that holds it is gone"))?;
        let mut ticket: Ticket =
            serde_json::from_str(body).map_err(|e| format!("ticket {id}: {e}"))?;
        ticket.settle_sla(policy, now);
        state.put(Arc::new(ticket));
    }
    Ok(Loaded {
        epoch,
        version: version as u64,
        state,
        recent,
    })
}

/// The newest `keep` changes up to `version` as the outcomes they were
/// announced with, so an instance that has just started can still resume
/// clients from before its start. An outcome depends on the ticket before
/// the change: that is the ticket's previous change, read too. Where it is
/// not known (pruned, or after a clear), the run starts after that change;
/// the result is always consecutive and ends at `version` (or is empty).
async fn recent_outcomes(
    tx: &tokio_postgres::Transaction<'_>,
    version: i64,
    keep: usize,
    policy: &crate::sla::Policy,
) -> Result<VecDeque<(u64, crate::tickets::Outcome)>, String> {
    use crate::store::files::Record;
    let mut recent = VecDeque::new();
    if keep == 0 || version == 0 {
        return Ok(recent);
    }
    let from = (version - keep as i64).max(0);
    let window = tx
        .query(
            "SELECT version, body::text FROM ticketd_changes WHERE version > $1 AND version <= $2 ORDER BY version",
            &[&from, &version],
        )
        .await
        .map_err(why)?;
    let window = tailer::parse(window)?;
    let Some(first) = window.first().map(|(v, _)| *v) else {
        return Ok(recent);
    };
    let ids: Vec<String> = window
        .iter()
        .filter_map(|(_, record)| match record {
            Record::Put { ticket, .. } => Some(ticket.request_id.to_string()),
            Record::Delete { request_id, .. } => Some(request_id.to_string()),
            Record::Clear { .. } => None,
        })
        .collect();
    let previous = tx
        .query(
            "SELECT DISTINCT ON (ticket_id) ticket_id::text, version, body::text FROM ticketd_changes \
             WHERE ticket_id = ANY($1::text[]::uuid[]) AND version < $2 ORDER BY ticket_id, version DESC",
            &[&ids, &(first as i64)],
        )
        .await
        .map_err(why)?;
    let bounds = tx
        .query_one(
            "SELECT min(version), (SELECT max(version) FROM ticketd_changes WHERE kind = 'clear' AND version < $1) FROM ticketd_changes",
            &[&(first as i64)],
        )
        .await
        .map_err(why)?;
    let (oldest, cleared): (Option<i64>, Option<i64>) = (bounds.get(0), bounds.get(1));
    // Nothing was ever pruned: a ticket without an earlier change did not
    // exist before.
    let complete = oldest.is_some_and(|v| v <= 1);
    let mut before: std::collections::HashMap<String, Option<Ticket>> = Default::default();
    for row in previous {
        let id: String = row.get(0);
        let v = row.get::<_, i64>(1) as u64;
        if cleared.is_some_and(|c| v < c as u64) {
            // A clear came after it: the ticket did not exist.
            before.insert(id, None);
            continue;
        }
        let body: &str = row.get(2);
        let ticket = match Record::parse(body.as_bytes())
            .map_err(|e| format!("change {v} does not parse: {e}"))?
        {
            Record::Put { ticket, .. } => Some(ticket),
            _ => None,
        };
        before.insert(id, ticket);
    }
    let settle = |mut ticket: Ticket| {
        let at = ticket.private.sla_at.unwrap_or_else(chrono::Utc::now);
        ticket.settle_sla(policy, at);
        ticket
    };
    let mut known = State::default();
    // Every ticket's state is known (after a clear, none exists).
    let mut all_known = complete;
    let mut seen: std::collections::HashSet<String> = Default::default();
    for (v, record) in window {
        let id = match &record {
            Record::Put { ticket, .. } => Some(ticket.request_id),
            Record::Delete { request_id, .. } => Some(*request_id),
            Record::Clear { .. } => None,
        };
        let mut unknown = false;
        if let Some(id) = id
            && seen.insert(id.to_string())
            && !all_known
        {
            match before.remove(&id.to_string()) {
                Some(Some(ticket)) => known.put(Arc::new(settle(ticket))),
                Some(None) => {}
                // Every ticket since the last clear has its changes kept.
                None if cleared.is_some() => {}
                None => unknown = true,
            }
        }
        let record = match record {
            Record::Put { ticket, v } => Record::Put {
                ticket: settle(ticket),
                v,
            },
            Record::Clear { v } => {
                // Its count is of every ticket then, which this does not
                // hold: start after it, with every state known (none).
                known.clear();
                all_known = true;
                recent.clear();
                let _ = v;
                continue;
            }
            other => other,
        };
        let outcome = crate::store::writer::apply_record(&mut known, record).map(|(o, _)| o);
        match outcome {
            Some(outcome) if !unknown => recent.push_back((v, outcome)),
            _ => recent.clear(),
        }
    }
    Ok(recent)
}

/// `ticketd store export --database-url`: the whole store as a dump, read
/// in one snapshot (instances may be running).
pub async fn export(db: &DatabaseConfig, out: &mut impl std::io::Write) -> Result<usize, String> {
    let connector = Connector::new(db)?;
    let mut client = connector.connect().await.map_err(why)?;
    let loaded = load_with(&mut client, &crate::sla::Policy::default(), 0).await?;
    super::dump::write(
        out,
        loaded.epoch,
        loaded.version,
        &loaded.state.oldest_first(),
    )
    .map_err(why)
}

/// `ticketd store import --database-url`: a dump into a database that holds
/// no store yet (migrated first), in one transaction, keeping ids, times,
/// the epoch and the version.
pub async fn import(db: &DatabaseConfig, input: impl std::io::BufRead) -> Result<usize, String> {
    let (epoch, version, tickets) = super::dump::read(input).map_err(why)?;
    let connector = Connector::new(db)?;
    migrate(&connector).await?;
    let mut client = connector.connect().await.map_err(why)?;
    let e = why::<tokio_postgres::Error>;
    let tx = client.transaction().await.map_err(e)?;
    let row = tx
        .query_one(
            "SELECT version, (SELECT count(*) FROM ticketd_tickets), (SELECT count(*) FROM ticketd_changes) \
             FROM ticketd_stream WHERE id = 1 FOR UPDATE",
            &[],
        )
        .await
        .map_err(e)?;
    let (at, held, changes): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    if at != 0 || held != 0 || changes != 0 {
        return Err(format!(
            "the database already holds a store (version {at}, {held} tickets); import only into an empty one"
        ));
    }
    for chunk in tickets.chunks(1000) {
        let ids: Vec<String> = chunk.iter().map(|t| t.request_id.to_string()).collect();
        let bodies: Vec<String> = chunk
            .iter()
            .map(|t| serde_json::to_string(&files::Stored(t)).expect("a ticket always serializes"))
            .collect();
        tx.execute(
            "INSERT INTO ticketd_tickets (id, body) SELECT i::uuid, b::json FROM unnest($1::text[], $2::text[]) AS t(i, b)",
            &[&ids, &bodies],
        )
        .await
        .map_err(e)?;
    }
    let epoch = (!epoch.is_nil()).then(|| epoch.to_string());
    tx.execute(
        "UPDATE ticketd_stream SET version = $1, epoch = coalesce($2::text::uuid, epoch) WHERE id = 1",
        &[&(version as i64), &epoch],
    )
    .await
    .map_err(e)?;
    tx.commit().await.map_err(e)?;
    Ok(tickets.len())
}

/// A store's figures only the database store has.
impl Store {
    /// The database's newest version as this instance last saw it (None
    /// for the journal store): minus [`Store::version`], the tailer's lag.
    pub fn database_version(&self) -> Option<u64> {
        self.database
            .as_ref()
            .map(|ctx| ctx.seen.load(Ordering::Relaxed))
    }

    /// Whether this instance fell behind the changes the database keeps
    /// (None for the journal store).
    pub fn database_behind(&self) -> Option<bool> {
        self.database
            .as_ref()
            .map(|ctx| ctx.behind.load(Ordering::Acquire))
    }

    /// The shared database's figures for the metrics (None for the
    /// journal store).
    pub fn database_figures(&self) -> Option<DatabaseFigures> {
        self.database.as_ref().map(|ctx| {
            let status = ctx.pool.status();
            let newest = ctx.seen.load(Ordering::Relaxed);
            DatabaseFigures {
                pool_in_use: status.size.saturating_sub(status.available),
                pool_open: status.size,
                pool_max: status.max_size,
                lag: newest.saturating_sub(self.version()),
                notify_queue_usage: f64::from_bits(ctx.queue_usage.load(Ordering::Relaxed)),
                conflicts: ctx.conflicts.load(Ordering::Relaxed),
            }
        })
    }
}

/// What `/metrics` shows of the shared database.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DatabaseFigures {
    pub pool_in_use: usize,
    pub pool_open: usize,
    pub pool_max: usize,
    /// The database's newest version minus this instance's.
    pub lag: u64,
    /// `pg_notification_queue_usage()`: 0 to 1 (at 1, NOTIFY fails).
    pub notify_queue_usage: f64,
    /// Batches planned again because another instance committed first.
    pub conflicts: u64,
}
