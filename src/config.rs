//! The command line. Every flag is also an environment variable; `--help`,
//! the README's table and `deploy/ticketd.env.example` say the same thing.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    /// Score the analyzer against labelled JSON Lines.
    TriageEval(TriageEvalArgs),
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
    /// A TOML file that extends the built-in lexicon.
    #[arg(long, env = "TICKETD_TRIAGE_CONFIG")]
    pub triage_config: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct TriageEvalArgs {
    /// JSON Lines with description, system, impact, urgency, priority, category.
    pub file: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// A TOML file that extends the built-in lexicon.
    #[arg(long, env = "TICKETD_TRIAGE_CONFIG")]
    pub triage_config: Option<PathBuf>,
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

    /// Start a new snapshot once the journal holds this many bytes.
    #[arg(long, env = "TICKETD_COMPACT_AFTER_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub compact_after_bytes: u64,

    #[command(flatten)]
    pub ws: WsArgs,

    #[command(flatten)]
    pub ops: OpsArgs,
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
}

/// Parses `10`, `10s`, `500ms` or `2m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 10s, 500ms, 1m)"))?;
    match unit.trim() {
        "" | "s" => Ok(Duration::from_secs(n)),
        "ms" => Ok(Duration::from_millis(n)),
        "m" => Ok(Duration::from_secs(n.saturating_mul(60))),
        other => Err(format!("unknown unit {other:?}; use ms, s or m")),
    }
}

/// WebSocket session settings.
#[derive(Debug, Clone, Args)]
pub struct WsArgs {
    /// Events a client may fall behind before it is disconnected (close 1013).
    #[arg(long, env = "TICKETD_CLIENT_QUEUE", default_value_t = 1024)]
    pub client_queue: usize,

    /// Seconds between server pings.
    #[arg(long, env = "TICKETD_PING_INTERVAL_SECS", default_value_t = 20)]
    pub ping_interval_secs: u64,

    /// Seconds of silence (no frame, no pong) before a client is dropped.
    #[arg(long, env = "TICKETD_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    pub idle_timeout_secs: u64,

    /// Seconds a single send may block on a client that does not read.
    #[arg(long, env = "TICKETD_SEND_TIMEOUT_SECS", default_value_t = 10)]
    pub send_timeout_secs: u64,

    /// Largest WebSocket message or frame, in bytes (close 1009 beyond).
    #[arg(long, env = "TICKETD_MAX_MESSAGE_BYTES", default_value_t = 64 * 1024)]
    pub max_message_bytes: usize,

    /// Milliseconds between two broadcast stats_update events.
    #[arg(long, env = "TICKETD_STATS_INTERVAL_MS", default_value_t = 250)]
    pub stats_interval_ms: u64,
}

impl WsArgs {
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
            }
            other => panic!("expected serve, got {other:?}"),
        }
    }

    #[test]
    fn durations_take_a_unit() {
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("5h").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
