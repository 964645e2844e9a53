//! Staff identity: argon2id credentials loaded at start-up, each with a
//! role (`agent` or `admin`), short-lived JWT sessions that carry the role,
//! and logins that cannot starve the event loop.
//!
//! Credentials come from `TICKETD_ADMIN_USER` + `TICKETD_ADMIN_PASSWORD_HASH`
//! (one admin), a staff file (`name:role:PHC` lines, with an optional
//! `:email` fourth field for notifications; the older `name:PHC` lines load
//! as admins), or `$CREDENTIALS_DIRECTORY/staff` (or `admins`, systemd
//! `LoadCredential`). [`Auth::directory`] lists who is on staff, with
//! their role and address, for the notifications. No plaintext password is read from anywhere.
//! The role a session acts with is the one configured now, not the one in
//! its token: demoting someone takes effect on their next command.
//! With none configured on a loopback listener, a random password is
//! generated once: its hash is kept in the data directory and the password
//! written to `DATA_DIR/initial-admin-password` (0600) for the operator.
//!
//! The JWT signing key comes from a file or a systemd credential; without
//! one it is generated once into `DATA_DIR/jwt-signing-key` (0600) and
//! reused, so sessions survive a restart. Logged-out sessions are kept in
//! `DATA_DIR/revoked-sessions` until they expire, so a logout survives a
//! restart too. A refused token is written to the audit trail (never the
//! token itself).

pub mod password;
pub mod session;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Semaphore;

use crate::audit::{AuditEntry, AuditLog};
use crate::store::postgres::records::Records;
use crate::tickets::{EmailAddress, Role, Staff};
pub use password::{HashError, StoredHash};
pub use session::{Claims, Issued, Sessions, TokenError};

/// Where credentials and keys come from.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub admin_user: String,
    pub admin_password_hash: Option<String>,
    pub admins_file: Option<PathBuf>,
    pub staff_file: Option<PathBuf>,
    /// `$CREDENTIALS_DIRECTORY`, when systemd passed credentials.
    pub credentials_dir: Option<PathBuf>,
    pub jwt_secret_file: Option<PathBuf>,
    pub session_ttl: Duration,
    pub data_dir: PathBuf,
    /// Whether the listener is on a loopback address (allows generating an
    /// initial admin).
    pub loopback: bool,
}

/// A start-up problem with credentials or keys.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    #[error("admin {admin:?}: {problem}")]
    BadHash { admin: String, problem: HashError },
    #[error("{path}: line {line}: {problem}")]
    BadLine {
        path: String,
        line: usize,
        problem: String,
    },
    #[error("admin {0:?} is configured twice")]
    Duplicate(String),
    #[error("{0}")]
    Key(String),
    #[error("{0}")]
    Io(String),
}

/// How admin access was set up, for the start-up log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminSetup {
    Configured(usize),
    /// A generated initial admin; the password is in this file.
    Generated {
        user: String,
        password_file: PathBuf,
    },
    Disabled,
}

/// A verified staff session.
#[derive(Debug, Clone)]
pub struct StaffIdentity {
    pub name: String,
    pub role: Role,
    pub expires_at: u64,
    pub claims: Claims,
}

impl StaffIdentity {
    /// Who acts, as the core sees them.
    pub fn staff(&self) -> Staff {
        Staff {
            name: self.name.clone(),
            role: self.role,
        }
    }
}

/// Why a login failed. Every variant answers the same 401 to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    #[error("invalid username or password")]
    Invalid,
}

/// Where the JWT signing key came from, for the start-up log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `--jwt-secret-file` or the `jwt_secret` systemd credential.
    File(PathBuf),
    /// Generated into the data directory (now or at an earlier start).
    Generated { path: PathBuf, new: bool },
}

/// One staff member as the notifications see them: who, in which role, and
/// where to email them (when the staff file gives an address).
#[derive(Clone, PartialEq, Eq)]
pub struct StaffContact {
    pub name: String,
    pub role: Role,
    pub email: Option<String>,
}

/// An address is personal data: `{:?}` says whether there is one, not what
/// it is.
impl std::fmt::Debug for StaffContact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaffContact")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("email", &self.email.as_ref().map(|_| "…"))
            .finish()
    }
}

/// A configured staff member.
#[derive(Clone)]
struct Member {
    role: Role,
    hash: StoredHash,
    /// From the staff file's fourth field (already checked).
    email: Option<EmailAddress>,
}

/// One line of a staff file.
struct StaffLine {
    name: String,
    member: Member,
}

/// Credentials, sessions, and the bound on concurrent argon2 work.
pub struct Auth {
    /// Name → role, password hash and email address.
    staff: BTreeMap<String, Member>,
    /// Verified against for unknown users, so timing does not tell.
    dummy: StoredHash,
    sessions: Sessions,
    /// At most one argon2 verification per core at a time (19 MiB each).
    /// A permit moves into the blocking task, so it is released when the
    /// hash finishes, even if the client went away mid-login.
    argon2_slots: Arc<Semaphore>,
    audit: Arc<AuditLog>,
    setup: AdminSetup,
    key_source: KeySource,
    /// The deny-list on disk (`DATA_DIR/revoked-sessions`).
    revoked_file: PathBuf,
    /// A std Mutex serialising appends to `revoked_file` (on a blocking
    /// thread, never across an `.await`).
    revoked_lock: Arc<std::sync::Mutex<()>>,
    /// Bumped on every logout, so sockets signed in with `authenticate`
    /// re-check their session at once.
    revocations: tokio::sync::watch::Sender<u64>,
    /// With the shared store: logouts are recorded in the database (not
    /// `revoked_file`) and read back from it by every instance.
    shared: Option<SharedRevocations>,
}

/// The revocations of instances sharing a database.
struct SharedRevocations {
    records: Arc<Records>,
    /// The newest revocation read (`ticketd_revoked.seq`).
    seen: std::sync::atomic::AtomicI64,
    /// When expired revocations were last deleted (None: not yet).
    pruned: std::sync::Mutex<Option<std::time::Instant>>,
}

/// How often an instance deletes expired revocations.
const PRUNE_REVOKED_EVERY: Duration = Duration::from_secs(3600);

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

const INITIAL_PASSWORD_FILE: &str = "initial-admin-password";
const INITIAL_HASH_FILE: &str = "initial-admin.hash";
/// The generated JWT signing key.
pub const KEY_FILE: &str = "jwt-signing-key";
/// Logged-out sessions: `{"jti","exp"}` lines.
pub const REVOKED_FILE: &str = "revoked-sessions";

impl Auth {
    /// Loads and checks every credential and the signing key.
    pub fn load(config: &AuthConfig, audit: Arc<AuditLog>) -> Result<Auth, AuthSetupError> {
        let mut staff = BTreeMap::new();
        let mut add = |name: String, member: Member| {
            if staff.insert(name.clone(), member).is_some() {
                Err(AuthSetupError::Duplicate(name))
            } else {
                Ok(())
            }
        };
        if let Some(phc) = &config.admin_password_hash {
            let hash = StoredHash::parse(phc).map_err(|problem| AuthSetupError::BadHash {
                admin: config.admin_user.clone(),
                problem,
            })?;
            let member = Member {
                role: Role::Admin,
                hash,
                email: None,
            };
            add(config.admin_user.clone(), member)?;
        }
        let credentials = ["staff", "admins"]
            .iter()
            .filter_map(|name| config.credentials_dir.as_ref().map(|d| d.join(name)))
            .filter(|p| p.exists())
            .collect::<Vec<_>>();
        for path in config
            .staff_file
            .iter()
            .chain(config.admins_file.iter())
            .chain(credentials.iter())
        {
            warn_if_readable_by_others(path, "staff file");
            for StaffLine { name, member } in read_staff_file(path)? {
                add(name, member)?;
            }
        }
        let setup = if !staff.is_empty() {
            AdminSetup::Configured(staff.len())
        } else if config.loopback {
            let (user, hash, password_file) = initial_admin(config)?;
            let member = Member {
                role: Role::Admin,
                hash,
                email: None,
            };
            staff.insert(user.clone(), member);
            AdminSetup::Generated {
                user,
                password_file,
            }
        } else {
            AdminSetup::Disabled
        };

        let (secret, key_source) = load_key(config)?;
        let sessions = Sessions::new(&secret, config.session_ttl)
            .map_err(|e| AuthSetupError::Key(e.to_string()))?;
        let revoked_file = config.data_dir.join(REVOKED_FILE);
        restore_revoked(&sessions, &revoked_file)?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(Auth {
            dummy: password::dummy(staff.values().map(|m| &m.hash)),
            staff,
            sessions,
            argon2_slots: Arc::new(Semaphore::new(cores)),
            audit,
            setup,
            key_source,
            revoked_file,
            revoked_lock: Arc::default(),
            revocations: tokio::sync::watch::Sender::new(0),
            shared: None,
        })
    }

    /// Shares logouts with the other instances on this database: they are
    /// recorded there, and [`Auth::follow_revocations`] reads theirs. The
    /// `revoked-sessions` file is no longer written.
    pub fn share_revocations(&mut self, records: Arc<Records>) {
        self.shared = Some(SharedRevocations {
            records,
            seen: Default::default(),
            pruned: Default::default(),
        });
    }

    /// Reads the logouts recorded since the last call (at the first, all
    /// that have not expired) and revokes them here. The number read.
    pub async fn follow_revocations(&self) -> Result<usize, String> {
        let Some(shared) = &self.shared else {
            return Ok(0);
        };
        let seen = shared.seen.load(Ordering::Acquire);
        let prune = {
            let mut pruned = shared.pruned.lock().unwrap_or_else(|p| p.into_inner());
            let due = pruned.is_none_or(|at| at.elapsed() >= PRUNE_REVOKED_EVERY);
            if due {
                *pruned = Some(std::time::Instant::now());
            }
            due
        };
        let (newest, revoked) = shared
            .records
            .revoked_after(seen, now_secs(), prune)
            .await?;
        if !revoked.is_empty() {
            let now = now_secs();
            for r in &revoked {
                self.sessions.revoke_id(&r.jti, r.expires_at, now);
            }
            self.revocations.send_modify(|n| *n += 1);
        }
        shared.seen.store(newest, Ordering::Release);
        Ok(revoked.len())
    }

    /// Changes whenever a session is revoked.
    pub fn revocations(&self) -> tokio::sync::watch::Receiver<u64> {
        self.revocations.subscribe()
    }

    /// Whether `name` is a configured staff member.
    pub fn is_staff(&self, name: &str) -> bool {
        self.staff.contains_key(name)
    }

    /// Every staff member, by name, with their role and email address (for
    /// the notifications: who an assignment or an SLA alert is mailed to).
    /// The staff list is read at start-up; a restart picks up changes.
    pub fn directory(&self) -> Vec<StaffContact> {
        self.staff
            .iter()
            .map(|(name, m)| StaffContact {
                name: name.clone(),
                role: m.role,
                email: m.email.as_ref().map(|e| e.as_str().to_string()),
            })
            .collect()
    }

    pub fn setup(&self) -> &AdminSetup {
        &self.setup
    }

    /// Where the signing key came from.
    pub fn key_source(&self) -> &KeySource {
        &self.key_source
    }

    pub fn session_ttl(&self) -> Duration {
        self.sessions.ttl()
    }

    /// Checks a user name and password; issues a session on success. Both
    /// outcomes are audited. argon2 runs on the blocking pool, behind a
    /// semaphore of at most one verification per core.
    pub async fn login(
        &self,
        username: &str,
        password: String,
        client: Option<IpAddr>,
    ) -> Result<Issued, LoginError> {
        let (role, hash) = self
            .staff
            .get(username)
            .map(|m| (m.role, m.hash.clone()))
            .unwrap_or_else(|| (Role::Agent, self.dummy.clone()));
        let known = self.staff.contains_key(username);
        let slot = self
            .argon2_slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| LoginError::Invalid)?;
        let verified = tokio::task::spawn_blocking(move || {
            let verified = hash.verify(&password);
            drop(slot);
            verified
        })
        .await
        .unwrap_or(false);
        let ok = known && verified;
        let entry = AuditEntry {
            time: chrono::Utc::now(),
            admin: username.chars().take(100).collect(),
            action: "login".into(),
            outcome: if ok { "success" } else { "failure" },
            ticket_id: None,
            client: client.map(|c| c.to_string()),
            before: None,
            after: None,
            reason: None,
        };
        // A success is synced before the session is issued; failures are
        // batched (synced within a second), so a password-guessing client
        // cannot make every attempt cost a disk flush.
        let recorded = if ok {
            self.audit.record(entry).await
        } else {
            self.audit.record_batched(entry)
        };
        if let Err(e) = recorded {
            tracing::error!(error = %e, "cannot write the audit log; refusing the login");
            return Err(LoginError::Invalid);
        }
        if ok {
            tracing::info!(user = username, role = role.as_str(), "staff logged in");
            Ok(self.sessions.issue(username, role, now_secs()))
        } else {
            tracing::warn!(client = ?client, "failed staff login");
            Err(LoginError::Invalid)
        }
    }

    /// Checks a session token (on every admin command).
    pub fn verify(&self, token: &str) -> Result<StaffIdentity, TokenError> {
        let claims = self.sessions.verify(token, now_secs())?;
        let Some(member) = self.staff.get(&claims.sub) else {
            return Err(TokenError::Invalid);
        };
        Ok(StaffIdentity {
            name: claims.sub.clone(),
            role: member.role,
            expires_at: claims.exp,
            claims,
        })
    }

    /// Writes a refused bearer or `admin_command` token to the audit trail
    /// (batched: a flood of bad tokens costs no flush each) and logs it once.
    /// Never the token itself.
    pub fn refused(&self, error: &TokenError, via: &'static str, client: Option<IpAddr>) {
        tracing::warn!(client = ?client, via, reason = %error, "session token refused");
        self.audit.refused("", via, None, client, error.to_string());
    }

    /// Revokes a session until it would have expired, on disk first (so a
    /// restart keeps it revoked).
    pub async fn logout(&self, identity: &StaffIdentity, client: Option<IpAddr>) {
        if let Some(shared) = &self.shared {
            let claims = &identity.claims;
            if let Err(e) = shared.records.revoke(&claims.jti, claims.exp).await {
                tracing::error!(error = %e, "cannot record the logout in the database; it holds on this instance only, until it restarts");
            }
        } else {
            self.revoke_on_disk(identity).await;
        }
        self.sessions.revoke(&identity.claims, now_secs());
        self.revocations.send_modify(|n| *n += 1);
        let entry = AuditEntry {
            time: chrono::Utc::now(),
            admin: identity.name.clone(),
            action: "logout".into(),
            outcome: "success",
            ticket_id: None,
            client: client.map(|c| c.to_string()),
            before: None,
            after: None,
            reason: None,
        };
        if let Err(e) = self.audit.record(entry).await {
            tracing::error!(error = %e, "cannot write the audit log");
        }
    }

    /// Appends a logout to `revoked_file` and syncs it.
    async fn revoke_on_disk(&self, identity: &StaffIdentity) {
        let line = format!(
            "{}\n",
            serde_json::json!({"jti": identity.claims.jti, "exp": identity.claims.exp})
        );
        let path = self.revoked_file.clone();
        let lock = self.revoked_lock.clone();
        let written = tokio::task::spawn_blocking(move || {
            let _held = lock.lock().unwrap_or_else(|p| p.into_inner());
            append_synced(&path, line.as_bytes())
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r);
        if let Err(e) = written {
            tracing::error!(error = %e, "cannot record the logout on disk; it holds until restart");
        }
    }
}

/// Appends to a 0600 file and syncs it (and, when it is new, its directory).
fn append_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let new = !path.exists();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_data()?;
    if new && let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Loads the revoked sessions that have not expired yet; rewrites the file
/// without the expired ones when there were any.
fn restore_revoked(sessions: &Sessions, path: &Path) -> Result<(), AuthSetupError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(AuthSetupError::Io(format!("{}: {e}", path.display()))),
    };
    let now = now_secs();
    let mut kept = String::new();
    let mut dropped = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        #[derive(serde::Deserialize)]
        struct Revoked {
            jti: String,
            exp: u64,
        }
        // A torn last line (a crash mid-append) is skipped; its logout was
        // never acknowledged.
        let Ok(r) = serde_json::from_str::<Revoked>(line) else {
            dropped += 1;
            continue;
        };
        if r.exp + session::LEEWAY_SECS >= now {
            sessions.revoke_id(&r.jti, r.exp, now);
            kept.push_str(line);
            kept.push('\n');
        } else {
            dropped += 1;
        }
    }
    if dropped > 0 {
        let tmp = path.with_extension("tmp");
        write_private(&tmp, kept.as_bytes())
            .and_then(|()| std::fs::rename(&tmp, path))
            .and_then(|()| sync_parent(path))
            .map_err(|e| AuthSetupError::Io(format!("{}: {e}", path.display())))?;
    }
    Ok(())
}

fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) => std::fs::File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// Warns when a secret file can be read by its group or by others.
fn warn_if_readable_by_others(path: &Path, what: &str) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{:o}", meta.permissions().mode() & 0o777),
            "the {what} is readable by its group or others; make it 0600 (chmod 600)"
        );
    }
}

/// Reads `name:role:PHC` lines, or `name:PHC` (an admin, the older form),
/// each with an optional `:email` after the PHC string; `#` comments and
/// blank lines are ignored. A PHC string starts with `$` and holds no `:`,
/// so the forms cannot be mistaken for each other. A bad address stops
/// start-up with the line number (never the address itself: it is personal
/// data).
fn read_staff_file(path: &Path) -> Result<Vec<StaffLine>, AuthSetupError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| AuthSetupError::Io(format!("cannot read {}: {e}", path.display())))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |problem: &str| AuthSetupError::BadLine {
            path: path.display().to_string(),
            line: n + 1,
            problem: problem.to_string(),
        };
        let (name, rest) = line
            .split_once(':')
            .ok_or_else(|| bad("expected name:role:PHC"))?;
        let (role, phc) = match rest.split_once(':') {
            Some((role, phc)) if !rest.starts_with('$') => (
                Role::parse(role.trim()).ok_or_else(|| bad("the role must be agent or admin"))?,
                phc,
            ),
            _ => (Role::Admin, rest),
        };
        let (phc, email) = match phc.split_once(':') {
            Some((phc, email)) => {
                let email = EmailAddress::parse(email.to_string())
                    .map_err(|e| bad(&format!("the fourth field: {e}")))?;
                (phc, Some(email))
            }
            None => (phc, None),
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(bad("empty user name"));
        }
        if name == crate::tickets::SYSTEM_ACTOR {
            return Err(bad("\"system\" is reserved for automatic changes"));
        }
        if name == crate::tickets::REQUESTER_ACTOR {
            return Err(bad("\"requester\" is reserved for requesters' own changes"));
        }
        let hash = StoredHash::parse(phc).map_err(|problem| AuthSetupError::BadHash {
            admin: name.to_string(),
            problem,
        })?;
        out.push(StaffLine {
            name: name.to_string(),
            member: Member { role, hash, email },
        });
    }
    Ok(out)
}

/// The generated initial admin: reused if its hash is already stored,
/// created (password file + hash file, both 0600) otherwise.
fn initial_admin(config: &AuthConfig) -> Result<(String, StoredHash, PathBuf), AuthSetupError> {
    let io = |e: std::io::Error| AuthSetupError::Io(format!("initial admin: {e}"));
    let password_file = config.data_dir.join(INITIAL_PASSWORD_FILE);
    let hash_file = config.data_dir.join(INITIAL_HASH_FILE);
    if hash_file.exists() {
        let mut admins = read_staff_file(&hash_file)?;
        if let Some(StaffLine { name, member }) = admins.pop() {
            return Ok((name, member.hash, password_file));
        }
    }
    crate::store::create_private_dir(&config.data_dir).map_err(io)?;
    let secret: [u8; 18] = rand::random();
    let password = password::hex(&secret);
    let phc = password::hash_password(&password);
    let hash = StoredHash::parse(&phc).expect("our own hash parses");
    write_private(&password_file, format!("{password}\n").as_bytes()).map_err(io)?;
    write_private(
        &hash_file,
        format!("{}:{phc}\n", config.admin_user).as_bytes(),
    )
    .map_err(io)?;
    sync_parent(&hash_file).map_err(io)?;
    Ok((config.admin_user.clone(), hash, password_file))
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// The JWT key from a file or systemd credential; else the key generated
/// into the data directory (created on first start: 32 random bytes, hex).
fn load_key(config: &AuthConfig) -> Result<(Vec<u8>, KeySource), AuthSetupError> {
    let credential = config
        .credentials_dir
        .as_ref()
        .map(|d| d.join("jwt_secret"))
        .filter(|p| p.exists());
    let configured = config.jwt_secret_file.clone().or(credential);
    let (path, source) = match configured {
        Some(path) => {
            warn_if_readable_by_others(&path, "JWT key file");
            (path.clone(), KeySource::File(path))
        }
        None => {
            let path = config.data_dir.join(KEY_FILE);
            let new = !path.exists();
            if new {
                let io = |e: std::io::Error| {
                    AuthSetupError::Key(format!("cannot create {}: {e}", path.display()))
                };
                crate::store::create_private_dir(&config.data_dir).map_err(io)?;
                let key: [u8; 32] = rand::random();
                let tmp = path.with_extension("tmp");
                write_private(&tmp, format!("{}\n", password::hex(&key)).as_bytes())
                    .and_then(|()| std::fs::rename(&tmp, &path))
                    .and_then(|()| sync_parent(&path))
                    .map_err(io)?;
            }
            (path.clone(), KeySource::Generated { path, new })
        }
    };
    let mut bytes = std::fs::read(&path)
        .map_err(|e| AuthSetupError::Key(format!("cannot read JWT key {}: {e}", path.display())))?;
    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        bytes.pop();
    }
    if bytes.len() < session::MIN_KEY_BYTES {
        return Err(AuthSetupError::Key(format!(
            "the JWT key in {} is {} bytes; at least {} are required",
            path.display(),
            bytes.len(),
            session::MIN_KEY_BYTES
        )));
    }
    Ok((bytes, source))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path, hash: &str) -> AuthConfig {
        AuthConfig {
            admin_user: "root".into(),
            admin_password_hash: Some(hash.into()),
            admins_file: None,
            staff_file: None,
            credentials_dir: None,
            jwt_secret_file: None,
            session_ttl: Duration::from_secs(60),
            data_dir: dir.to_path_buf(),
            loopback: true,
        }
    }

    #[tokio::test]
    async fn a_login_dropped_mid_hash_keeps_its_slot_until_the_hash_ends() {
        let dir = tempfile::tempdir().unwrap();
        let audit = Arc::new(AuditLog::open(dir.path(), Default::default()).unwrap());
        let auth = Auth::load(&config(dir.path(), &password::hash_password("pw")), audit).unwrap();
        let slots = auth.argon2_slots.clone();
        let all = slots.available_permits();
        // Start a login, let it reach the hash, then drop it (a client
        // that hung up).
        {
            let login = auth.login("root", "wrong".into(), None);
            tokio::pin!(login);
            let _ = tokio::time::timeout(Duration::from_millis(1), &mut login).await;
        }
        assert_eq!(slots.available_permits(), all - 1, "the hash still runs");
        for _ in 0..500 {
            if slots.available_permits() == all {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the slot was never released");
    }

    #[test]
    fn the_staff_file_takes_an_optional_email_and_the_directory_lists_it() {
        let dir = tempfile::tempdir().unwrap();
        let phc = password::hash_password("pw");
        let staff_file = dir.path().join("staff");
        std::fs::write(
            &staff_file,
            format!(
                "# name:role:PHC[:email]\n\
                 dana:agent:{phc}:dana@example.com\n\
                 lee:admin:{phc}\n\
                 old:{phc}: old.admin@example.org \n"
            ),
        )
        .unwrap();
        let audit = Arc::new(AuditLog::open(dir.path(), Default::default()).unwrap());
        let mut cfg = config(dir.path(), &phc);
        cfg.staff_file = Some(staff_file);
        let auth = Auth::load(&cfg, audit).unwrap();
        let contact = |name: &str, role, email: Option<&str>| StaffContact {
            name: name.into(),
            role,
            email: email.map(str::to_string),
        };
        assert_eq!(
            auth.directory(),
            vec![
                contact("dana", Role::Agent, Some("dana@example.com")),
                contact("lee", Role::Admin, None),
                contact("old", Role::Admin, Some("old.admin@example.org")),
                contact("root", Role::Admin, None),
            ]
        );
        let shown = format!("{:?}", auth.directory());
        assert!(!shown.contains("example.com"), "{shown}");
    }

    #[test]
    fn a_bad_staff_email_stops_start_up_naming_the_line_not_the_address() {
        let dir = tempfile::tempdir().unwrap();
        let phc = password::hash_password("pw");
        for bad in ["dana at example.com", "dana@localhost", "", "a@b.com:x"] {
            let path = dir.path().join("staff");
            std::fs::write(
                &path,
                format!("lee:admin:{phc}:lee@example.com\n\ndana:agent:{phc}:{bad}\n"),
            )
            .unwrap();
            let Err(err) = read_staff_file(&path) else {
                panic!("{bad:?} was accepted");
            };
            assert!(
                matches!(&err, AuthSetupError::BadLine { line: 3, problem, .. } if problem.contains("email")),
                "{bad:?}: {err}"
            );
            if !bad.is_empty() {
                assert!(!err.to_string().contains(bad), "{err}");
            }
        }
    }

    #[test]
    fn the_dummy_hash_is_as_strong_as_the_strongest_admin() {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let params = argon2::Params::new(password::MIN_MEMORY_KIB * 2, 3, 1, None).unwrap();
        let salt = SaltString::encode_b64(&[7u8; 16]).unwrap();
        let strong =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
                .hash_password(b"pw", &salt)
                .unwrap()
                .to_string();
        let strong = StoredHash::parse(&strong).unwrap();
        let weak = StoredHash::parse(&password::hash_password("pw")).unwrap();
        let dummy = password::dummy([&weak, &strong]);
        assert_eq!(dummy.params(), (password::MIN_MEMORY_KIB * 2, 3, 1));
        assert_eq!(password::dummy([]).params(), weak.params());
    }
}
