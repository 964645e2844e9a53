//! Admin identity: argon2id credentials loaded at start-up, short-lived JWT
//! sessions, and logins that cannot starve the event loop.
//!
//! Credentials come from `TICKETD_ADMIN_USER` + `TICKETD_ADMIN_PASSWORD_HASH`,
//! an admins file (`name:PHC` lines), or `$CREDENTIALS_DIRECTORY/admins`
//! (systemd `LoadCredential`). No plaintext password is read from anywhere.
//! With none configured on a loopback listener, a random password is
//! generated once: its hash is kept in the data directory and the password
//! written to `DATA_DIR/initial-admin-password` (0600) for the operator.

pub mod password;
pub mod session;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Semaphore;

use crate::audit::{AuditEntry, AuditLog};
pub use password::{HashError, StoredHash};
pub use session::{Claims, Issued, Sessions, TokenError};

/// Where credentials and keys come from.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub admin_user: String,
    pub admin_password_hash: Option<String>,
    pub admins_file: Option<PathBuf>,
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

/// A verified admin session.
#[derive(Debug, Clone)]
pub struct AdminIdentity {
    pub name: String,
    pub expires_at: u64,
    pub claims: Claims,
}

/// Why a login failed. Every variant answers the same 401 to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    #[error("invalid username or password")]
    Invalid,
}

/// Credentials, sessions, and the bound on concurrent argon2 work.
pub struct Auth {
    admins: BTreeMap<String, StoredHash>,
    /// Verified against for unknown users, so timing does not tell.
    dummy: StoredHash,
    sessions: Sessions,
    /// At most one argon2 verification per core at a time (19 MiB each).
    argon2_slots: Semaphore,
    audit: Arc<AuditLog>,
    setup: AdminSetup,
    ephemeral_key: bool,
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

const INITIAL_PASSWORD_FILE: &str = "initial-admin-password";
const INITIAL_HASH_FILE: &str = "initial-admin.hash";

impl Auth {
    /// Loads and checks every credential and the signing key.
    pub fn load(config: &AuthConfig, audit: Arc<AuditLog>) -> Result<Auth, AuthSetupError> {
        let mut admins = BTreeMap::new();
        let mut add = |name: String, hash: StoredHash| {
            if admins.insert(name.clone(), hash).is_some() {
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
            add(config.admin_user.clone(), hash)?;
        }
        let credential_admins = config.credentials_dir.as_ref().map(|d| d.join("admins"));
        for path in config
            .admins_file
            .iter()
            .chain(credential_admins.iter().filter(|p| p.exists()))
        {
            for (name, hash) in read_admins_file(path)? {
                add(name, hash)?;
            }
        }
        let setup = if !admins.is_empty() {
            AdminSetup::Configured(admins.len())
        } else if config.loopback {
            let (user, hash, password_file) = initial_admin(config)?;
            admins.insert(user.clone(), hash);
            AdminSetup::Generated {
                user,
                password_file,
            }
        } else {
            AdminSetup::Disabled
        };

        let (secret, ephemeral_key) = load_key(config)?;
        let sessions = Sessions::new(&secret, config.session_ttl)
            .map_err(|e| AuthSetupError::Key(e.to_string()))?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(Auth {
            admins,
            dummy: password::dummy(),
            sessions,
            argon2_slots: Semaphore::new(cores),
            audit,
            setup,
            ephemeral_key,
        })
    }

    pub fn setup(&self) -> &AdminSetup {
        &self.setup
    }

    /// Whether the signing key lives only in this process.
    pub fn ephemeral_key(&self) -> bool {
        self.ephemeral_key
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
        let hash = self
            .admins
            .get(username)
            .cloned()
            .unwrap_or_else(|| self.dummy.clone());
        let known = self.admins.contains_key(username);
        let verified = {
            let _slot = self
                .argon2_slots
                .acquire()
                .await
                .map_err(|_| LoginError::Invalid)?;
            tokio::task::spawn_blocking(move || hash.verify(&password))
                .await
                .unwrap_or(false)
        };
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
        };
        if let Err(e) = self.audit.record(entry).await {
            tracing::error!(error = %e, "cannot write the audit log; refusing the login");
            return Err(LoginError::Invalid);
        }
        if ok {
            tracing::info!(admin = username, "admin logged in");
            Ok(self.sessions.issue(username, now_secs()))
        } else {
            tracing::warn!(client = ?client, "failed admin login");
            Err(LoginError::Invalid)
        }
    }

    /// Checks a session token (on every admin command).
    pub fn verify(&self, token: &str) -> Result<AdminIdentity, TokenError> {
        let claims = self.sessions.verify(token, now_secs())?;
        if !self.admins.contains_key(&claims.sub) {
            return Err(TokenError::Invalid);
        }
        Ok(AdminIdentity {
            name: claims.sub.clone(),
            expires_at: claims.exp,
            claims,
        })
    }

    /// Revokes a session until it would have expired.
    pub async fn logout(&self, identity: &AdminIdentity, client: Option<IpAddr>) {
        self.sessions.revoke(&identity.claims, now_secs());
        let entry = AuditEntry {
            time: chrono::Utc::now(),
            admin: identity.name.clone(),
            action: "logout".into(),
            outcome: "success",
            ticket_id: None,
            client: client.map(|c| c.to_string()),
            before: None,
            after: None,
        };
        if let Err(e) = self.audit.record(entry).await {
            tracing::error!(error = %e, "cannot write the audit log");
        }
    }
}

/// Reads `name:PHC` lines (`#` comments, blank lines ignored).
fn read_admins_file(path: &Path) -> Result<Vec<(String, StoredHash)>, AuthSetupError> {
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
        let (name, phc) = line
            .split_once(':')
            .ok_or_else(|| bad("expected name:PHC"))?;
        let name = name.trim();
        if name.is_empty() {
            return Err(bad("empty admin name"));
        }
        let hash = StoredHash::parse(phc).map_err(|problem| AuthSetupError::BadHash {
            admin: name.to_string(),
            problem,
        })?;
        out.push((name.to_string(), hash));
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
        let mut admins = read_admins_file(&hash_file)?;
        if let Some((user, hash)) = admins.pop() {
            return Ok((user, hash, password_file));
        }
    }
    std::fs::create_dir_all(&config.data_dir).map_err(io)?;
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

/// The JWT key from a file or systemd credential; else 32 random bytes.
fn load_key(config: &AuthConfig) -> Result<(Vec<u8>, bool), AuthSetupError> {
    let credential = config
        .credentials_dir
        .as_ref()
        .map(|d| d.join("jwt_secret"))
        .filter(|p| p.exists());
    let Some(path) = config.jwt_secret_file.clone().or(credential) else {
        let key: [u8; 32] = rand::random();
        return Ok((key.to_vec(), true));
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
    Ok((bytes, false))
}
