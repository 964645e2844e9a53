//! The outbound endpoints file (`--webhooks-config`): where events go, which
//! ones, and the secrets they are signed with.
//!
//! ```toml
//! [delivery]
//! retry_schedule = ["0s", "5s", "5m", "30m", "2h", "5h", "10h", "10h"]
//! timeout = "10s"
//! disable_after = "5d"
//! concurrency = 4
//!
//! [[endpoint]]
//! name = "ops"
//! url = "https://hooks.example.com/ticketd"
//! events = ["new_ticket", "ticket_resolved"]
//! secret_files = ["ops.secret", "ops.next.secret"]
//! ```
//!
//! Secrets are never inline: `secret_files` (paths relative to this file)
//! or `secret_credentials` (names in `$CREDENTIALS_DIRECTORY`), each holding
//! one Standard Webhooks secret, `whsec_` and base64. A secret file others
//! may read is accepted with a warning.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use serde::Deserialize;

use crate::triage::Priority;

/// The bus events an endpoint may ask for: every change event.
pub const EVENTS: &[&str] = crate::events::CHANGE_EVENTS;

/// What an endpoint's body looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Standard Webhooks: `{"type","timestamp","data"}`, signed.
    Webhook,
    /// A Slack incoming webhook: `text` and `blocks`.
    Slack,
    /// A Microsoft Teams Workflows webhook: an Adaptive Card.
    Teams,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Webhook => "webhook",
            Kind::Slack => "slack",
            Kind::Teams => "teams",
        }
    }
}

/// One signing key, decoded. Never printed.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Parses `whsec_<base64>` (surrounding whitespace ignored).
    pub fn parse(text: &str) -> Result<Secret, String> {
        let text = text.trim();
        let Some(b64) = text.strip_prefix("whsec_") else {
            return Err("a secret is `whsec_` followed by base64 (make one with: echo \"whsec_$(head -c 32 /dev/urandom | base64)\")".into());
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| "the part after `whsec_` is not valid base64".to_string())?;
        if bytes.len() < 16 {
            return Err("a secret must be at least 16 bytes (24 base64 characters)".into());
        }
        Ok(Secret(bytes))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// One configured endpoint, checked.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub name: String,
    /// Never logged: a Slack or Teams URL is itself a credential.
    pub url: reqwest::Url,
    pub kind: Kind,
    /// The events it wants (every change event when the file names none).
    pub events: HashSet<&'static str>,
    pub min_priority: Option<Priority>,
    /// Whether it receives internal notes.
    pub staff: bool,
    /// One or two active secrets; every one signs each delivery.
    pub secrets: Vec<Secret>,
    /// A PEM file of extra roots to trust (a private CA).
    pub ca_file: Option<PathBuf>,
}

impl Endpoint {
    /// Whether a change event of this name, about a ticket of this priority
    /// (none for a clear), for this audience, goes to the endpoint.
    pub fn wants(&self, event: &str, priority: Option<Priority>, staff_only: bool) -> bool {
        if staff_only && !self.staff {
            return false;
        }
        if !self.events.contains(event) {
            return false;
        }
        match (self.min_priority, priority) {
            (None, _) => true,
            (Some(min), Some(p)) => p >= min,
            (Some(_), None) => false,
        }
    }
}

/// How deliveries are retried and timed.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The wait before each attempt: the first is usually zero. After the
    /// last, a delivery is failed.
    pub retry_schedule: Vec<Duration>,
    /// One attempt's limit, connect to last byte.
    pub timeout: Duration,
    /// An endpoint failing without a success for this long is disabled.
    pub disable_after: Duration,
    /// Attempts in flight per endpoint.
    pub concurrency: usize,
    /// While an endpoint fails: one attempt at a time, this far apart.
    pub probe_interval: Duration,
}

impl Default for Delivery {
    fn default() -> Self {
        let s = Duration::from_secs;
        Delivery {
            retry_schedule: vec![
                s(0),
                s(5),
                s(5 * 60),
                s(30 * 60),
                s(2 * 3600),
                s(5 * 3600),
                s(10 * 3600),
                s(10 * 3600),
            ],
            timeout: s(10),
            disable_after: s(5 * 86400),
            concurrency: 4,
            probe_interval: s(1),
        }
    }
}

/// The whole file, checked.
#[derive(Debug, Clone, Default)]
pub struct NotifyConfig {
    pub delivery: Delivery,
    pub endpoints: Vec<Endpoint>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    delivery: Option<DeliveryFile>,
    #[serde(default)]
    endpoint: Vec<EndpointFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveryFile {
    retry_schedule: Option<Vec<String>>,
    timeout: Option<String>,
    disable_after: Option<String>,
    concurrency: Option<usize>,
    probe_interval: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointFile {
    name: String,
    url: Option<String>,
    url_file: Option<PathBuf>,
    url_credential: Option<String>,
    #[serde(default = "webhook")]
    kind: Kind,
    events: Option<Vec<String>>,
    min_priority: Option<String>,
    #[serde(default)]
    staff: bool,
    #[serde(default)]
    secret_files: Vec<PathBuf>,
    #[serde(default)]
    secret_credentials: Vec<String>,
    ca_file: Option<PathBuf>,
}

fn webhook() -> Kind {
    Kind::Webhook
}

/// Why the file was refused: shown at start-up, which stops.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct ConfigError {
    pub path: String,
    pub problem: String,
}

impl NotifyConfig {
    /// Reads and checks the file. `credentials` is `$CREDENTIALS_DIRECTORY`.
    pub fn load(path: &Path, credentials: Option<&Path>) -> Result<NotifyConfig, ConfigError> {
        let err = |problem: String| ConfigError {
            path: path.display().to_string(),
            problem,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base, credentials).map_err(err)
    }

    /// Parses the file's text; relative paths are taken from `base`.
    pub fn parse(
        text: &str,
        base: &Path,
        credentials: Option<&Path>,
    ) -> Result<NotifyConfig, String> {
        // The parser's own message quotes the offending line, which may
        // hold a secret someone pasted inline: say only where and what.
        let file: File = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |s| {
                text[..s.start.min(text.len())].matches('\n').count() + 1
            });
            format!("line {line}: {}", e.message())
        })?;
        let delivery = match file.delivery {
            None => Delivery::default(),
            Some(d) => parse_delivery(d)?,
        };
        let mut names = HashSet::new();
        let mut endpoints = Vec::new();
        for e in file.endpoint {
            if e.name == super::EMAIL {
                return Err(format!(
                    "endpoint name `{}` is the email channel's",
                    super::EMAIL
                ));
            }
            if !names.insert(e.name.clone()) {
                return Err(format!("endpoint `{}` is named twice", e.name));
            }
            let name = e.name.clone();
            endpoints.push(
                parse_endpoint(e, base, credentials)
                    .map_err(|problem| format!("endpoint `{name}`: {problem}"))?,
            );
        }
        Ok(NotifyConfig {
            delivery,
            endpoints,
        })
    }
}

fn duration(key: &str, text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| {
        format!("{key}: `{text}` is not a duration like \"5s\", \"30m\", \"2h\" ({e})")
    })
}

fn parse_delivery(d: DeliveryFile) -> Result<Delivery, String> {
    let mut out = Delivery::default();
    if let Some(schedule) = d.retry_schedule {
        if schedule.is_empty() || schedule.len() > 50 {
            return Err("delivery.retry_schedule: give 1 to 50 waits".into());
        }
        out.retry_schedule = schedule
            .iter()
            .map(|t| duration("delivery.retry_schedule", t))
            .collect::<Result<_, _>>()?;
    }
    if let Some(t) = d.timeout {
        out.timeout = duration("delivery.timeout", &t)?;
        if out.timeout.is_zero() || out.timeout > Duration::from_secs(300) {
            return Err("delivery.timeout: between 1ms and 5m".into());
        }
    }
    if let Some(t) = d.disable_after {
        out.disable_after = duration("delivery.disable_after", &t)?;
    }
    if let Some(t) = d.probe_interval {
        out.probe_interval = duration("delivery.probe_interval", &t)?;
        if out.probe_interval > Duration::from_secs(3600) {
            return Err("delivery.probe_interval: at most 1h".into());
        }
    }
    if let Some(c) = d.concurrency {
        if !(1..=64).contains(&c) {
            return Err("delivery.concurrency: between 1 and 64".into());
        }
        out.concurrency = c;
    }
    Ok(out)
}

/// Reads a secret-bearing file, warning when others may read it.
fn read_private(path: &Path, what: &str) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {what} {}: {e}", path.display()))?;
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o004 != 0 {
            tracing::warn!(
                file = %path.display(),
                "{what} is readable by every user on this machine; chmod o-r it (or use a systemd credential)"
            );
        }
    }
    Ok(text)
}

fn credential(credentials: Option<&Path>, name: &str) -> Result<PathBuf, String> {
    if name.contains('/') || name.is_empty() {
        return Err(format!("credential name `{name}` is not a plain name"));
    }
    credentials
        .map(|dir| dir.join(name))
        .ok_or_else(|| format!("credential `{name}` named but $CREDENTIALS_DIRECTORY is not set"))
}

fn parse_endpoint(
    e: EndpointFile,
    base: &Path,
    credentials: Option<&Path>,
) -> Result<Endpoint, String> {
    if e.name.is_empty()
        || e.name.len() > 64
        || !e
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err("name: 1-64 letters, digits, `-` or `_`".into());
    }
    let url = match (e.url, e.url_file, e.url_credential) {
        (Some(u), None, None) => u,
        (None, Some(f), None) => read_private(&base.join(f), "url_file")?,
        (None, None, Some(c)) => read_private(&credential(credentials, &c)?, "url_credential")?,
        _ => return Err("give exactly one of url, url_file, url_credential".into()),
    };
    let url = reqwest::Url::parse(url.trim()).map_err(|e| format!("url: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => return Err("url: plain http only to a loopback address; use https".into()),
        s => return Err(format!("url: scheme `{s}` (https only)")),
    }
    let events = match e.events {
        None => EVENTS.iter().copied().collect(),
        Some(list) => {
            let mut set = HashSet::new();
            for name in list {
                let known = EVENTS.iter().find(|e| **e == name).ok_or_else(|| {
                    format!(
                        "events: `{name}` is not an event (one of: {})",
                        EVENTS.join(", ")
                    )
                })?;
                set.insert(*known);
            }
            if set.is_empty() {
                return Err("events: name at least one event, or leave the key out for all".into());
            }
            set
        }
    };
    let min_priority = e
        .min_priority
        .map(|p| {
            Priority::parse(&p).ok_or_else(|| {
                format!("min_priority: `{p}` is not one of LOW, MEDIUM, HIGH, CRITICAL")
            })
        })
        .transpose()?;
    let mut secrets = Vec::new();
    for f in &e.secret_files {
        let path = base.join(f);
        secrets.push(
            Secret::parse(&read_private(&path, "secret file")?)
                .map_err(|p| format!("{}: {p}", path.display()))?,
        );
    }
    for c in &e.secret_credentials {
        let path = credential(credentials, c)?;
        secrets.push(
            Secret::parse(&read_private(&path, "secret credential")?)
                .map_err(|p| format!("credential `{c}`: {p}"))?,
        );
    }
    if secrets.len() > 2 {
        return Err("at most two active secrets (the current one and the next)".into());
    }
    if e.kind == Kind::Webhook && secrets.is_empty() {
        return Err("a webhook endpoint needs a secret: secret_files or secret_credentials".into());
    }
    let ca_file = e.ca_file.map(|f| base.join(f));
    if let Some(ca) = &ca_file {
        std::fs::metadata(ca).map_err(|err| format!("ca_file {}: {err}", ca.display()))?;
    }
    Ok(Endpoint {
        name: e.name,
        url,
        kind: e.kind,
        events,
        min_priority,
        staff: e.staff,
        secrets,
        ca_file,
    })
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn a_complete_file_parses() {
        let dir = dir_with(&[("a.secret", SECRET), ("b.secret", SECRET)]);
        let config = NotifyConfig::parse(
            r#"
[delivery]
retry_schedule = ["0s", "1s", "2s"]
timeout = "3s"
disable_after = "1h"

[[endpoint]]
name = "ops"
url = "https://hooks.example.com/x"
secret_files = ["a.secret", "b.secret"]

[[endpoint]]
name = "chat"
kind = "slack"
url = "http://127.0.0.1:9/slack"
events = ["new_ticket"]
min_priority = "CRITICAL"
"#,
            dir.path(),
            None,
        )
        .unwrap();
        assert_eq!(config.delivery.retry_schedule.len(), 3);
        assert_eq!(config.delivery.timeout, Duration::from_secs(3));
        let ops = &config.endpoints[0];
        assert_eq!(ops.secrets.len(), 2);
        assert!(ops.wants("comment_added", None, false));
        assert!(
            !ops.wants("comment_added", None, true),
            "not a staff endpoint"
        );
        let chat = &config.endpoints[1];
        assert!(chat.wants("new_ticket", Some(Priority::Critical), false));
        assert!(!chat.wants("new_ticket", Some(Priority::High), false));
        assert!(!chat.wants("ticket_resolved", Some(Priority::Critical), false));
    }

    #[test]
    fn mistakes_are_named() {
        let dir = dir_with(&[("a.secret", SECRET), ("bad.secret", "hunter2")]);
        let cases = [
            (
                "[[endpoint]]\nname = \"x\"\nurl = \"http://example.com/\"\nsecret_files = [\"a.secret\"]",
                "loopback",
            ),
            (
                "[[endpoint]]\nname = \"x\"\nurl = \"https://e.com/\"",
                "needs a secret",
            ),
            (
                "[[endpoint]]\nname = \"x\"\nurl = \"https://e.com/\"\nsecret_files = [\"bad.secret\"]",
                "whsec_",
            ),
            (
                "[[endpoint]]\nname = \"x\"\nurl = \"https://e.com/\"\nsecret_files = [\"a.secret\",\"a.secret\",\"a.secret\"]",
                "at most two",
            ),
            (
                "[[endpoint]]\nname = \"x\"\nkind = \"slack\"\nurl = \"https://e.com/\"\nevents = [\"nope\"]",
                "not an event",
            ),
            (
                "[[endpoint]]\nname = \"x\"\nkind = \"slack\"\nurl = \"https://e.com/\"\nmin_priority = \"URGENT\"",
                "min_priority",
            ),
            (
                "[[endpoint]]\nname = \"x\"\nkind = \"slack\"\nurl = \"https://e.com/\"\nsecret = \"whsec_inline\"",
                "unknown field",
            ),
            ("[delivery]\nretry_schedule = [\"soon\"]", "retry_schedule"),
            (
                "[[endpoint]]\nname = \"x\"\nkind = \"slack\"\nurl = \"https://e.com/\"\n[[endpoint]]\nname = \"x\"\nkind = \"slack\"\nurl = \"https://e.com/\"",
                "named twice",
            ),
        ];
        for (text, needle) in cases {
            let problem = NotifyConfig::parse(text, dir.path(), None).unwrap_err();
            assert!(problem.contains(needle), "{text}: {problem}");
        }
    }

    #[test]
    fn a_secret_never_prints() {
        let secret = Secret::parse(SECRET).unwrap();
        assert_eq!(format!("{secret:?}"), "Secret(..)");
    }
}
