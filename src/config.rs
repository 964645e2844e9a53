//! The command line. Every flag is also an environment variable; `--help`,
//! the README's table and `deploy/ticketd.env.example` say the same thing.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ipnet::IpNet;

use crate::limits::{self, Policy, Rate, defaults};

/// ticketd: a real-time IT maintenance ticketing gateway over HTTPS and WSS.
#[derive(Debug, Parser)]
#[command(name = "ticketd", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Log format: `text` for a terminal, `json` for journald and collectors.
    #[arg(long, env = "TICKETD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve HTTPS and WSS (what a bare `ticketd` does).
    Serve(Box<ServeArgs>),
    /// Analyze tickets: JSON Lines on standard input, one verdict per line.
    Triage(TriageArgs),
    /// Score the analyzer against labelled JSON Lines, or (--cv) measure the
    /// training method by grouped cross-validation over a corpus.
    TriageEval(TriageEvalArgs),
    /// Fit a triage model on a labelled corpus (and admins' corrections).
    TriageTrain(TriageTrainArgs),
    /// Export the tickets whose priority an admin changed, as JSON Lines for
    /// triage-train.
    TriageCorrections(TriageCorrectionsArgs),
    /// Move a whole store in or out: `store export` writes it to standard
    /// output, `store import` reads one into an empty data directory.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Read a password from standard input (no echo on a terminal) and
    /// print its argon2id hash (OWASP parameters) for TICKETD_ADMIN_PASSWORD_HASH
    /// or an admins file.
    HashPassword,
}

impl Cli {
    /// The command to run; a bare `ticketd` serves with the defaults.
    pub fn into_command(self) -> Command {
        self.command.unwrap_or_else(|| {
            let args = ServeArgs::parse_from(["ticketd-serve"]);
            Command::Serve(Box::new(args))
        })
    }
}

#[derive(Debug, Clone, Args)]
pub struct TriageArgs {
    /// Analyze this one description instead of reading standard input.
    #[arg(long)]
    pub text: Option<String>,
    /// The affected system, with --text.
    #[arg(long, default_value = "", requires = "text")]
    pub system: String,
    /// A TOML file choosing the model and the routing.
    #[arg(long, env = "TICKETD_TRIAGE_CONFIG")]
    pub triage_config: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct TriageEvalArgs {
    /// JSON Lines with description, system, impact and urgency (or
    /// priority), category; and org_kind, the group for --cv.
    pub file: PathBuf,
    /// Grouped cross-validation: hold out each org_kind in turn, fit on the
    /// rest with the shipped training settings, analyze the held-out
    /// tickets. The headline quality figure.
    #[arg(long)]
    pub cv: bool,
    /// With --cv: this many folds by group (0: leave one group out).
    #[arg(long, default_value_t = 0)]
    pub folds: usize,
    /// With --cv: admins' corrections (from triage-corrections), added to
    /// every fold's training set, never held out.
    #[arg(long)]
    pub corrections: Vec<PathBuf>,
    /// With --cv, for experiments: training epochs instead of the shipped
    /// setting.
    #[arg(long, hide = true)]
    pub epochs: Option<usize>,
    /// With --cv, for experiments: L2 strength.
    #[arg(long, hide = true)]
    pub l2: Option<f32>,
    /// With --cv, for experiments: AdaGrad learning rate.
    #[arg(long, hide = true)]
    pub learning_rate: Option<f32>,
    /// With --cv, for experiments: minimum tickets per feature.
    #[arg(long, hide = true)]
    pub min_count: Option<usize>,
    /// With --cv, for experiments: feature prefixes to leave out (`c:,b:`).
    #[arg(long, hide = true, value_delimiter = ',')]
    pub exclude: Vec<String>,
    /// With --cv, for experiments: the cost of a CRITICAL rated HIGH,
    /// MEDIUM, LOW (`4,12,24`).
    #[arg(long, hide = true, value_delimiter = ',')]
    pub critical_cost: Vec<f32>,
    /// For experiments: write every ticket's named features as JSON Lines
    /// to this file instead of evaluating.
    #[arg(long, hide = true)]
    pub dump_features: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// A TOML file choosing the model and the routing.
    #[arg(long, env = "TICKETD_TRIAGE_CONFIG")]
    pub triage_config: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct TriageTrainArgs {
    /// The labelled corpus (JSON Lines: description, system, impact,
    /// urgency, category, org_kind).
    pub corpus: PathBuf,
    /// Admins' corrections (from triage-corrections); each counts
    /// --correction-weight times a corpus ticket.
    #[arg(long)]
    pub corrections: Vec<PathBuf>,
    /// How much one correction counts against one corpus ticket.
    #[arg(long, default_value_t = 2.0)]
    pub correction_weight: f32,
    /// Where to write the model file.
    #[arg(long)]
    pub out: PathBuf,
    /// The version stamped on every analysis the model makes.
    #[arg(long, default_value = crate::triage::MODEL_VERSION)]
    pub model_version: String,
}

/// `ticketd store …`.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Write every ticket, with the stream's epoch and version, as JSON Lines
    /// to standard output (read only; the server may be running).
    Export(StoreDirArgs),
    /// Read a dump from standard input into an empty data directory (the
    /// server must not be running on it).
    Import(StoreDirArgs),
}

#[derive(Debug, Clone, Args)]
pub struct StoreDirArgs {
    /// The data directory of a journal store.
    #[arg(
        long,
        env = "TICKETD_DATA_DIR",
        required_unless_present = "database_url"
    )]
    pub data_dir: Option<PathBuf>,

    /// A shared PostgreSQL store instead (`postgres://...`, as for serve;
    /// it wins over --data-dir). Import into it before any instance runs.
    #[arg(long, env = "TICKETD_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct TriageCorrectionsArgs {
    /// The data directory of a ticketd store (read only; the server may be
    /// running).
    #[arg(long, env = "TICKETD_DATA_DIR")]
    pub data_dir: PathBuf,
}

/// Options of `ticketd serve`.
#[derive(Debug, Clone, Parser)]
#[command(name = "ticketd serve")]
pub struct ServeArgs {
    /// Address for HTTPS and WSS (one port). Port 0 picks a free port; the
    /// log says `listening on https://ADDR`.
    #[arg(long, env = "TICKETD_LISTEN", default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,

    /// Directory of the store (`tickets_storage.json` and its journals).
    #[arg(long, env = "TICKETD_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// The shared PostgreSQL store, for several instances at once:
    /// `postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=verify-full` (add
    /// `sslrootcert=FILE` for a private CA). Without it, the journal store in
    /// --data-dir. Each instance still needs a --data-dir of its own (its
    /// outbound queue, audit log and keys).
    #[arg(long, env = "TICKETD_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Connecting to the database, and each statement, give up after this
    /// many milliseconds: while it is away, changes are refused within
    /// about this long.
    #[arg(long, env = "TICKETD_DATABASE_TIMEOUT_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(50..=60_000))]
    pub database_timeout_ms: u64,

    /// Pooled database connections (the one that listens comes on top).
    #[arg(long, env = "TICKETD_DATABASE_POOL", default_value_t = 4,
          value_parser = clap::value_parser!(u64).range(2..=256))]
    pub database_pool: u64,

    /// The changes other instances committed are read at least this often
    /// (milliseconds), notification or not.
    #[arg(long, env = "TICKETD_DATABASE_POLL_MS", default_value_t = 250,
          value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub database_poll_ms: u64,

    /// The shared database keeps at least this many of the newest changes
    /// (for instances catching up after being cut off)...
    #[arg(long, env = "TICKETD_DATABASE_KEEP_CHANGES", default_value_t = 100_000,
          value_parser = clap::value_parser!(u64).range(10..=1_000_000_000))]
    pub database_keep_changes: u64,

    /// ...and every change of at least this many seconds back; older ones
    /// are deleted. An instance cut off for longer restarts to load afresh.
    #[arg(long, env = "TICKETD_DATABASE_KEEP_SECONDS", default_value_t = 3600,
          value_parser = clap::value_parser!(u64).range(0..=31_536_000))]
    pub database_keep_seconds: u64,

    /// TLS certificate chain (PEM). With neither this nor --tls-key, a
    /// self-signed certificate is generated into --certs-dir.
    #[arg(long, env = "TICKETD_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// TLS private key (PEM).
    #[arg(long, env = "TICKETD_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Where the generated development certificate is kept.
    #[arg(long, env = "TICKETD_CERTS_DIR", default_value = "./certs")]
    pub certs_dir: PathBuf,

    /// A TOML file that extends the analyzer's built-in lexicon.
    #[arg(long, env = "TICKETD_TRIAGE_CONFIG")]
    pub triage_config: Option<PathBuf>,

    /// The SLA policy (TOML: business calendar, targets per priority);
    /// without it, 24x7 in UTC with the built-in targets.
    #[arg(long, env = "TICKETD_SLA_CONFIG")]
    pub sla_config: Option<PathBuf>,

    /// Outbound webhooks, Slack and Teams endpoints (TOML: URL, events,
    /// minimum priority, secret files, retry schedule); without it nothing
    /// is sent out.
    #[arg(long, env = "TICKETD_WEBHOOKS_CONFIG")]
    pub webhooks_config: Option<PathBuf>,

    /// Start a new snapshot once the journal holds this many bytes.
    #[arg(long, env = "TICKETD_COMPACT_AFTER_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub compact_after_bytes: u64,

    /// Days after resolution a ticket is closed automatically (0: never).
    /// Fractions are allowed (0.5 is twelve hours).
    #[arg(long, env = "TICKETD_AUTOCLOSE_DAYS", default_value_t = 7.0, value_parser = parse_days, allow_negative_numbers = true)]
    pub autoclose_days: f64,

    /// Minutes after writing a comment its author may still edit or delete
    /// it (admins may delete any comment at any time). Fractions allowed.
    #[arg(long, env = "TICKETD_COMMENT_EDIT_MINUTES", default_value_t = 10.0, value_parser = parse_minutes, allow_negative_numbers = true)]
    pub comment_edit_minutes: f64,

    /// The most comments one ticket holds.
    #[arg(long, env = "TICKETD_MAX_COMMENTS_PER_TICKET", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_comments_per_ticket: u32,

    /// The origin browsers load the app from, e.g. `https://tickets.example.com`.
    /// WebSocket upgrades from pages of other origins are refused (403), and
    /// the HTTP redirect points here. Default: `https://localhost:PORT` and
    /// `https://127.0.0.1:PORT` (and `https://[::1]:PORT`) for the listen port.
    #[arg(long, env = "TICKETD_PUBLIC_ORIGIN")]
    pub public_origin: Option<String>,

    /// More origins whose pages may open the WebSocket (comma-separated).
    #[arg(long, env = "TICKETD_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Also listen for plain HTTP here, answering every request with a 301
    /// to the HTTPS address (never a WebSocket upgrade). Off by default.
    #[arg(long, env = "TICKETD_HTTP_REDIRECT_LISTEN")]
    pub http_redirect_listen: Option<SocketAddr>,

    /// Serve Socket.IO (Engine.IO v4, Socket.IO v5) at `/socket.io/` for the
    /// original system's clients: WebSocket and HTTP long-polling, the same
    /// events as `/ws`. `--socketio false` turns it off (404 there).
    #[arg(long, env = "TICKETD_SOCKETIO", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub socketio: bool,

    #[command(flatten)]
    pub ws: WsArgs,

    #[command(flatten)]
    pub auth: AuthArgs,

    #[command(flatten)]
    pub limits: LimitArgs,

    #[command(flatten)]
    pub ops: OpsArgs,

    #[command(flatten)]
    pub smtp: SmtpArgs,
}

/// Rate limits, connection caps, sizes and timeouts. Rates are `COUNT/UNIT`
/// (`s`, `min`, `h`): `20/s` is one request every 50 ms, with up to BURST at once.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Limits")]
pub struct LimitArgs {
    /// HTTP requests per client address.
    #[arg(long, env = "TICKETD_HTTP_RATE", default_value_t = defaults::HTTP_RATE)]
    pub http_rate: Rate,

    /// HTTP requests a client may send at once.
    #[arg(long, env = "TICKETD_HTTP_BURST", default_value_t = defaults::HTTP_BURST, value_parser = clap::value_parser!(u32).range(1..))]
    pub http_burst: u32,

    /// Login attempts per client address.
    #[arg(long, env = "TICKETD_LOGIN_RATE", default_value_t = defaults::LOGIN_RATE)]
    pub login_rate: Rate,

    /// Login attempts a client may make at once.
    #[arg(long, env = "TICKETD_LOGIN_BURST", default_value_t = defaults::LOGIN_BURST, value_parser = clap::value_parser!(u32).range(1..))]
    pub login_burst: u32,

    /// WebSocket upgrades per client address.
    #[arg(long, env = "TICKETD_WS_UPGRADE_RATE", default_value_t = defaults::WS_UPGRADE_RATE)]
    pub ws_upgrade_rate: Rate,

    /// WebSocket upgrades a client may make at once.
    #[arg(long, env = "TICKETD_WS_UPGRADE_BURST", default_value_t = defaults::WS_UPGRADE_BURST, value_parser = clap::value_parser!(u32).range(1..))]
    pub ws_upgrade_burst: u32,

    /// WebSocket messages (all events together) per client address.
    #[arg(long, env = "TICKETD_WS_MESSAGE_RATE", default_value_t = defaults::WS_MESSAGE_RATE)]
    pub ws_message_rate: Rate,

    /// WebSocket messages a client may send at once.
    #[arg(long, env = "TICKETD_WS_MESSAGE_BURST", default_value_t = defaults::WS_MESSAGE_BURST, value_parser = clap::value_parser!(u32).range(1..))]
    pub ws_message_burst: u32,

    /// Ticket submissions (`submit_ticket`, `POST /api/tickets`) per client address.
    #[arg(long, env = "TICKETD_SUBMIT_RATE", default_value_t = defaults::SUBMIT_RATE)]
    pub submit_rate: Rate,

    /// Ticket submissions a client may make at once.
    #[arg(long, env = "TICKETD_SUBMIT_BURST", default_value_t = defaults::SUBMIT_BURST, value_parser = clap::value_parser!(u32).range(1..))]
    pub submit_burst: u32,

    /// Socket.IO HTTP long-polling requests per client address. They are
    /// exempt from --http-rate (a polling client makes one request per
    /// batch of events) and spend this budget instead.
    #[arg(long, env = "TICKETD_SOCKETIO_POLL_RATE", default_value_t = defaults::SOCKETIO_POLL_RATE)]
    pub socketio_poll_rate: Rate,

    /// Socket.IO polling requests a client may send at once.
    #[arg(long, env = "TICKETD_SOCKETIO_POLL_BURST", default_value_t = defaults::SOCKETIO_POLL_BURST, value_parser = clap::value_parser!(u32).range(1..))]
    pub socketio_poll_burst: u32,

    /// Refused WebSocket messages in a row a client may send (each answered
    /// `rate_limited`) before it is closed with 1008.
    #[arg(long, env = "TICKETD_WS_REFUSALS_BEFORE_CLOSE", default_value_t = defaults::WS_REFUSALS_BEFORE_CLOSE)]
    pub ws_refusals_before_close: u32,

    /// WebSocket clients per client address (429 at the upgrade beyond).
    #[arg(long, env = "TICKETD_MAX_CONNECTIONS_PER_IP", default_value_t = defaults::MAX_CONNECTIONS_PER_IP)]
    pub max_connections_per_ip: usize,

    /// WebSocket clients in all (503 at the upgrade beyond).
    #[arg(long, env = "TICKETD_MAX_CONNECTIONS", default_value_t = defaults::MAX_CONNECTIONS)]
    pub max_connections: usize,

    /// Largest HTTP request body, in bytes (413 beyond).
    #[arg(long, env = "TICKETD_MAX_BODY_BYTES", default_value_t = defaults::MAX_BODY_BYTES)]
    pub max_body_bytes: usize,

    /// Proxies whose `X-Forwarded-For` is believed (comma-separated CIDR
    /// blocks or addresses). The client is then the rightmost address not in
    /// this list. Empty: the TCP peer is always the client.
    #[arg(long, env = "TICKETD_TRUSTED_PROXIES", value_delimiter = ',', value_parser = limits::parse_cidr)]
    pub trusted_proxies: Vec<IpNet>,

    /// Seconds between sweeps that forget idle rate-limiter keys.
    #[arg(long, env = "TICKETD_LIMITER_PRUNE_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=MAX_SECS))]
    pub limiter_prune_secs: u64,

    /// Seconds a client has to complete the TLS handshake.
    #[arg(long, env = "TICKETD_TLS_HANDSHAKE_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=MAX_SECS))]
    pub tls_handshake_timeout_secs: u64,

    /// Seconds a client has to send a request's headers (also the idle
    /// limit between requests on a kept-alive connection).
    #[arg(long, env = "TICKETD_HEADER_READ_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=MAX_SECS))]
    pub header_read_timeout_secs: u64,

    /// Plain HTTP connections (HTTP/1 keep-alive, HTTP/2; not WebSockets)
    /// per client address (a trusted proxy is not capped); one more is
    /// closed at once.
    #[arg(long, env = "TICKETD_MAX_HTTP_CONNECTIONS_PER_IP", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_http_connections_per_ip: u64,

    /// Seconds a plain HTTP connection may stay open with no request in
    /// flight (HTTP/2 keep-alive pings do not count as activity).
    #[arg(long, env = "TICKETD_HTTP_IDLE_TIMEOUT_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=MAX_SECS))]
    pub http_idle_timeout_secs: u64,

    /// Seconds a whole HTTP request may take, body included (408 beyond).
    #[arg(long, env = "TICKETD_REQUEST_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=MAX_SECS))]
    pub request_timeout_secs: u64,
}

impl LimitArgs {
    pub fn policy(&self) -> Policy {
        // clap refuses a burst of 0; the fallback only guards direct use.
        let burst = |n: u32| std::num::NonZeroU32::new(n).unwrap_or(std::num::NonZeroU32::MIN);
        Policy {
            http: (self.http_rate, burst(self.http_burst)),
            login: (self.login_rate, burst(self.login_burst)),
            ws_upgrade: (self.ws_upgrade_rate, burst(self.ws_upgrade_burst)),
            ws_message: (self.ws_message_rate, burst(self.ws_message_burst)),
            submit: (self.submit_rate, burst(self.submit_burst)),
            socketio_poll: (self.socketio_poll_rate, burst(self.socketio_poll_burst)),
            ws_refusals_before_close: self.ws_refusals_before_close,
            max_connections_per_ip: self.max_connections_per_ip,
            max_connections: self.max_connections,
            trusted_proxies: self.trusted_proxies.clone(),
        }
    }
    pub fn limiter_prune_interval(&self) -> Duration {
        Duration::from_secs(self.limiter_prune_secs.max(1))
    }
    pub fn tls_handshake_timeout(&self) -> Duration {
        Duration::from_secs(self.tls_handshake_timeout_secs.max(1))
    }
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs.max(1))
    }
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs.max(1))
    }
}

/// Admin credentials and sessions.
#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// The admin's user name, with TICKETD_ADMIN_PASSWORD_HASH.
    #[arg(long, env = "TICKETD_ADMIN_USER", default_value = "admin")]
    pub admin_user: String,

    /// The admin's argon2id hash (PHC string; see `ticketd hash-password`).
    #[arg(long, env = "TICKETD_ADMIN_PASSWORD_HASH", hide_env_values = true)]
    pub admin_password_hash: Option<String>,

    /// A file of `name:role:PHC` lines (`#` comments), role `agent` or
    /// `admin`: the staff who may sign in.
    #[arg(long, env = "TICKETD_STAFF_FILE")]
    pub staff_file: Option<PathBuf>,

    /// Deprecated: the older form of --staff-file (`name:PHC` lines, all
    /// admins; `name:role:PHC` lines are read too).
    #[arg(long, env = "TICKETD_ADMINS_FILE")]
    pub admins_file: Option<PathBuf>,

    /// A file holding the JWT signing key (at least 32 bytes). Without it
    /// (or `jwt_secret` in $CREDENTIALS_DIRECTORY) a key is generated once
    /// into DATA_DIR/jwt-signing-key (0600) and reused, so sessions survive
    /// restarts.
    #[arg(long, env = "TICKETD_JWT_SECRET_FILE")]
    pub jwt_secret_file: Option<PathBuf>,

    /// Admin session lifetime, e.g. `15m`, `900s`, `1h`.
    #[arg(long, env = "TICKETD_SESSION_TTL", default_value = "15m", value_parser = parse_duration)]
    pub session_ttl: Duration,
}

/// Operations: metrics and shutdown.
#[derive(Debug, Clone, Args)]
pub struct OpsArgs {
    /// Address of the plain-HTTP listener for `/metrics`, `/healthz` and
    /// `/readyz` (keep it on loopback or a private network). Port 0 picks a
    /// free port; the log says `metrics on http://ADDR`.
    #[arg(long, env = "TICKETD_METRICS_LISTEN", default_value = "127.0.0.1:9464")]
    pub metrics_listen: SocketAddr,

    /// How long SIGTERM or SIGINT may take: closing WebSocket clients,
    /// finishing requests and queued commits. A number of seconds, or with a
    /// unit: `500ms`, `10s`, `1m`.
    #[arg(long, env = "TICKETD_SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,

    /// Size at which `audit.log` is rotated to `audit.log.1`, in bytes.
    #[arg(long, env = "TICKETD_AUDIT_MAX_BYTES", default_value_t = 64 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(4096..))]
    pub audit_max_bytes: u64,

    /// Rotated audit files kept (`audit.log.1` .. `audit.log.N`; older ones
    /// are deleted).
    #[arg(long, env = "TICKETD_AUDIT_KEEP", default_value_t = 5, value_parser = clap::value_parser!(u64).range(0..=1000))]
    pub audit_keep: u64,
}

/// Email through an SMTP server: the requester hears of their ticket, staff
/// of assignments and SLA alerts. Without `--smtp-host` no email is sent.
#[derive(Debug, Clone, Args)]
pub struct SmtpArgs {
    /// The SMTP server's host name (its certificate must name it).
    #[arg(long, env = "TICKETD_SMTP_HOST")]
    pub smtp_host: Option<String>,

    /// The SMTP port; by default 587 for `starttls`, 465 for `tls`, 25 for
    /// `plain`.
    #[arg(long, env = "TICKETD_SMTP_PORT")]
    pub smtp_port: Option<u16>,

    /// `starttls` (upgrade required, never falls back), `tls` (implicit
    /// TLS, "SMTPS") or `plain` (only to a loopback host, e.g. a local
    /// relay).
    #[arg(long, env = "TICKETD_SMTP_TLS", default_value = "starttls", value_parser = ["starttls", "tls", "plain"])]
    pub smtp_tls: String,

    /// The user name to log in with (none: no login).
    #[arg(long, env = "TICKETD_SMTP_USER")]
    pub smtp_user: Option<String>,

    /// A file holding the SMTP password (or the `smtp_password` systemd
    /// credential). Never on the command line.
    #[arg(long, env = "TICKETD_SMTP_PASSWORD_FILE")]
    pub smtp_password_file: Option<PathBuf>,

    /// The sender, e.g. `Helpdesk <helpdesk@example.org>`.
    #[arg(long, env = "TICKETD_SMTP_FROM")]
    pub smtp_from: Option<String>,

    /// A PEM file of extra roots to trust for the SMTP server (a private CA).
    #[arg(long, env = "TICKETD_SMTP_CA_FILE")]
    pub smtp_ca_file: Option<PathBuf>,
}

/// The longest duration or TTL any flag takes: a year, in seconds. Larger
/// values are refused at start-up, so no deadline arithmetic can overflow.
pub const MAX_SECS: u64 = 365 * 24 * 3600;

/// Parses a duration: `90` (seconds), `500ms`, `90s`, `15m` or `1h`; at
/// most a year.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 500ms, 90s, 15m or 1h"))?;
    let duration = match unit.trim() {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        other => return Err(format!("unknown unit {other:?}; use ms, s, m or h")),
    };
    if duration.is_zero() {
        return Err("the duration must be positive".into());
    }
    if duration > Duration::from_secs(MAX_SECS) {
        return Err(format!(
            "{text:?} is longer than a year ({MAX_SECS}s), the longest allowed"
        ));
    }
    Ok(duration)
}

/// WebSocket session settings.
#[derive(Debug, Clone, Args)]
pub struct WsArgs {
    /// Events a client may fall behind before it is disconnected (close 1013).
    #[arg(long, env = "TICKETD_CLIENT_QUEUE", default_value_t = 1024)]
    pub client_queue: usize,

    /// Seconds between server pings.
    #[arg(long, env = "TICKETD_PING_INTERVAL_SECS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=MAX_SECS))]
    pub ping_interval_secs: u64,

    /// Seconds of silence (no frame, no pong) before a client is dropped.
    #[arg(long, env = "TICKETD_IDLE_TIMEOUT_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=MAX_SECS))]
    pub idle_timeout_secs: u64,

    /// Seconds a single send may block on a client that does not read.
    #[arg(long, env = "TICKETD_SEND_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=MAX_SECS))]
    pub send_timeout_secs: u64,

    /// Largest WebSocket message or frame, in bytes (close 1009 beyond).
    #[arg(long, env = "TICKETD_MAX_MESSAGE_BYTES", default_value_t = 64 * 1024)]
    pub max_message_bytes: usize,

    /// Resolved tickets updated within this many days are in a client's
    /// first sync (`initial_tickets`); older ones only in the API. 0 leaves
    /// every resolved ticket out.
    #[arg(long, env = "TICKETD_SYNC_RESOLVED_DAYS", default_value_t = 7, value_parser = clap::value_parser!(u32).range(0..=36500))]
    pub sync_resolved_days: u32,

    /// The most tickets a first sync holds (the newest by creation); the
    /// rest are in the API and `sync_state` says `complete: false`.
    #[arg(long, env = "TICKETD_SYNC_MAX_TICKETS", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(0..=100_000))]
    pub sync_max_tickets: u64,

    /// The most bytes a first sync's `initial_tickets` message holds: the
    /// newest tickets that fit; the rest are in the API and `sync_state`
    /// says `complete: false`. Bounds what a reconnect storm costs whatever
    /// the tickets' size.
    #[arg(long, env = "TICKETD_SYNC_MAX_BYTES", default_value_t = 2_000_000, value_parser = clap::value_parser!(u64).range(65_536..=1_073_741_824))]
    pub sync_max_bytes: u64,

    /// Changes kept for clients that reconnect with `epoch` and `since`; a
    /// client further behind gets a first sync again.
    #[arg(long, env = "TICKETD_REPLAY_EVENTS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    pub replay_events: u64,

    /// Milliseconds between two broadcast stats_update events.
    #[arg(long, env = "TICKETD_STATS_INTERVAL_MS", default_value_t = 250, value_parser = clap::value_parser!(u64).range(1..=MAX_SECS * 1000))]
    pub stats_interval_ms: u64,
}

impl WsArgs {
    pub fn sync(&self) -> crate::service::SyncConfig {
        crate::service::SyncConfig {
            resolved_days: self.sync_resolved_days,
            max_tickets: self.sync_max_tickets as usize,
            max_bytes: self.sync_max_bytes as usize,
            replay_events: self.replay_events as usize,
        }
    }
    pub fn ping_interval(&self) -> Duration {
        Duration::from_secs(self.ping_interval_secs.max(1))
    }
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs.max(1))
    }
    pub fn send_timeout(&self) -> Duration {
        Duration::from_secs(self.send_timeout_secs.max(1))
    }
}

/// Whole or fractional days, 0 to 3650.
fn parse_days(raw: &str) -> Result<f64, String> {
    raw.parse::<f64>()
        .ok()
        .filter(|d| d.is_finite() && (0.0..=3650.0).contains(d))
        .ok_or_else(|| "expected a number of days from 0 to 3650".to_string())
}

fn parse_minutes(raw: &str) -> Result<f64, String> {
    raw.parse::<f64>()
        .ok()
        .filter(|m| m.is_finite() && (0.0..=525_600.0).contains(m))
        .ok_or_else(|| "expected a number of minutes from 0 to 525600".to_string())
}

impl ServeArgs {
    /// The edit window and the comment cap.
    pub fn comment_rules(&self) -> crate::tickets::CommentRules {
        crate::tickets::CommentRules {
            edit_window: chrono::Duration::milliseconds(
                (self.comment_edit_minutes * 60_000.0).round() as i64,
            ),
            max_per_ticket: self.max_comments_per_ticket as usize,
        }
    }

    /// How long after resolution a ticket closes, if ever.
    pub fn autoclose(&self) -> Option<Duration> {
        (self.autoclose_days > 0.0).then(|| Duration::from_secs_f64(self.autoclose_days * 86_400.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
        ServeArgs::command().debug_assert();
    }

    #[test]
    fn bare_ticketd_serves_with_defaults() {
        let cli = Cli::parse_from(["ticketd"]);
        match cli.into_command() {
            Command::Serve(args) => {
                assert_eq!(args.listen.to_string(), "127.0.0.1:8443");
                assert_eq!(args.data_dir, PathBuf::from("./data"));
                assert_eq!(args.ops.metrics_listen.to_string(), "127.0.0.1:9464");
                assert_eq!(args.ops.shutdown_timeout, Duration::from_secs(10));
                assert!(args.socketio);
            }
            other => panic!("expected serve, got {other:?}"),
        }
    }

    #[test]
    fn socketio_is_on_unless_turned_off() {
        let off = ServeArgs::parse_from(["ticketd-serve", "--socketio", "false"]);
        assert!(!off.socketio);
        let on = ServeArgs::parse_from(["ticketd-serve", "--socketio"]);
        assert!(on.socketio);
    }

    #[test]
    fn durations_take_a_unit() {
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("").is_err());
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("5d").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("-1s").is_err());
        assert_eq!(parse_duration("8760h"), Ok(Duration::from_secs(MAX_SECS)));
        assert!(parse_duration("8761h").is_err());
        assert!(parse_duration("99999999999999999999").is_err());
    }
}
