//! Email through an SMTP server (lettre): the settings from `--smtp-*`,
//! the message as queued in the outbox, and one send.
//!
//! A queued email is stored without the requester's follow token: the
//! creation email holds a placeholder, and the link is made when the email
//! is sent, from the ticket id and the follow key (`follow_key` in the data
//! directory; see `service::conversation`), so no token is ever written in
//! the clear.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use super::outbox::Tried;
use crate::config::SmtpArgs;
use crate::tickets::TicketId;

/// Stands for the requester's follow link in a queued email; replaced when
/// it is sent.
pub const FOLLOW_LINK: &str = "\u{1}follow-link\u{1}";

/// How TLS is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    StartTls,
    Tls,
    Plain,
}

/// `--smtp-*`, checked.
#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub mode: Mode,
    pub user: Option<String>,
    password: Option<String>,
    pub from: Mailbox,
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("mode", &self.mode)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl SmtpSettings {
    /// Reads the flags; `None` when no host is given. A password comes from
    /// `--smtp-password-file` or the `smtp_password` credential.
    pub fn from_args(
        args: &SmtpArgs,
        credentials: Option<&Path>,
        timeout: Duration,
    ) -> Result<Option<SmtpSettings>, String> {
        let Some(host) = args.smtp_host.clone() else {
            return Ok(None);
        };
        let mode = match args.smtp_tls.as_str() {
            "tls" => Mode::Tls,
            "plain" => Mode::Plain,
            _ => Mode::StartTls,
        };
        if mode == Mode::Plain && !is_loopback(&host) {
            return Err(format!(
                "--smtp-tls plain sends passwords and email in the clear: only to a loopback host, not `{host}`"
            ));
        }
        let port = args.smtp_port.unwrap_or(match mode {
            Mode::StartTls => 587,
            Mode::Tls => 465,
            Mode::Plain => 25,
        });
        let from_text = args.smtp_from.as_deref().ok_or(
            "--smtp-from is required with --smtp-host (e.g. \"Helpdesk <helpdesk@example.org>\")",
        )?;
        let from: Mailbox = from_text
            .parse()
            .map_err(|e| format!("--smtp-from `{from_text}`: {e}"))?;
        let password_file = args.smtp_password_file.clone().or_else(|| {
            credentials
                .map(|d| d.join("smtp_password"))
                .filter(|p| p.exists())
        });
        let password = match &password_file {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("--smtp-password-file {}: {e}", path.display()))?;
                use std::os::unix::fs::PermissionsExt;
                if std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o004 != 0) {
                    tracing::warn!(file = %path.display(), "the SMTP password file is readable by every user on this machine; chmod o-r it (or use the smtp_password systemd credential)");
                }
                Some(text.trim_end_matches(['\r', '\n']).to_string())
            }
        };
        if password.is_some() && args.smtp_user.is_none() {
            return Err("an SMTP password was given without --smtp-user".into());
        }
        if let Some(ca) = &args.smtp_ca_file {
            std::fs::metadata(ca).map_err(|e| format!("--smtp-ca-file {}: {e}", ca.display()))?;
        }
        Ok(Some(SmtpSettings {
            host,
            port,
            mode,
            user: args.smtp_user.clone(),
            password,
            from,
            ca_file: args.smtp_ca_file.clone(),
            timeout,
        }))
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// An email as the outbox keeps it.
#[derive(Clone, Serialize, Deserialize)]
pub struct QueuedEmail {
    pub to: String,
    pub subject: String,
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub text: String,
    pub html: String,
    pub kind: String,
    /// The ticket whose follow link replaces [`FOLLOW_LINK`] at send time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow: Option<TicketId>,
}

/// `Auto-Submitted: auto-generated` (RFC 3834): no out-of-office replies.
#[derive(Clone)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".to_string())
    }
}

/// Makes the follow link of a ticket (its token derived from the key).
pub type FollowLink = Arc<dyn Fn(&TicketId) -> String + Send + Sync>;

/// The SMTP client.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    follow_link: FollowLink,
}

impl Mailer {
    pub fn new(settings: &SmtpSettings, follow_link: FollowLink) -> Result<Mailer, String> {
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            .port(settings.port)
            .timeout(Some(settings.timeout));
        if settings.mode != Mode::Plain {
            let mut tls = TlsParameters::builder(settings.host.clone());
            if let Some(ca) = &settings.ca_file {
                let pem = std::fs::read(ca).map_err(|e| format!("{}: {e}", ca.display()))?;
                tls = tls.add_root_certificate(
                    Certificate::from_pem(&pem).map_err(|e| format!("{}: {e}", ca.display()))?,
                );
            }
            let tls = tls.build_rustls().map_err(|e| format!("SMTP TLS: {e}"))?;
            builder = builder.tls(match settings.mode {
                Mode::Tls => Tls::Wrapper(tls),
                _ => Tls::Required(tls),
            });
        }
        if let (Some(user), Some(password)) = (&settings.user, &settings.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Mailer {
            transport: builder.build(),
            from: settings.from.clone(),
            follow_link,
        })
    }

    /// The message as it goes out.
    pub fn message(&self, email: &QueuedEmail) -> Result<Message, String> {
        let link = email.follow.map(|id| (self.follow_link)(&id));
        let fill = |s: &str| match &link {
            Some(link) => s.replace(FOLLOW_LINK, link),
            None => s.to_string(),
        };
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|e| format!("the recipient address is not valid: {e}"))?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .message_id(Some(email.message_id.clone()))
            .header(AutoSubmitted);
        if let Some(parent) = &email.in_reply_to {
            builder = builder
                .in_reply_to(parent.clone())
                .references(parent.clone());
        }
        builder
            .multipart(MultiPart::alternative_plain_html(
                fill(&email.text),
                fill(&email.html),
            ))
            .map_err(|e| format!("the message cannot be built: {e}"))
    }

    /// One attempt.
    pub async fn send(&self, body: &str) -> Tried {
        let started = Instant::now();
        let message = serde_json::from_str::<QueuedEmail>(body)
            .map_err(|e| format!("the queued email is unreadable: {e}"))
            .and_then(|email| self.message(&email));
        let message = match message {
            Ok(m) => m,
            Err(error) => {
                return Tried {
                    status: None,
                    latency: started.elapsed(),
                    error: Some(error),
                    permanent: true,
                };
            }
        };
        match self.transport.send(message).await {
            Ok(response) => Tried {
                status: Some(u16::from(response.code())),
                latency: started.elapsed(),
                error: None,
                permanent: false,
            },
            Err(e) => Tried {
                status: e.status().map(u16::from),
                latency: started.elapsed(),
                error: Some(if e.is_timeout() {
                    "timed out".to_string()
                } else {
                    e.to_string()
                }),
                permanent: e.is_permanent(),
            },
        }
    }
}

/// The key follow tokens are derived from when email is on (`follow_key`
/// in the data directory: made once, 32 random bytes, mode 0600).
pub fn load_follow_key(data_dir: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = data_dir.join("follow_key");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let text = text.trim();
            if text.len() < 64 {
                return Err(std::io::Error::other(format!(
                    "{} holds {} characters; 64 hex characters are required",
                    path.display(),
                    text.len()
                )));
            }
            Ok(text.as_bytes().to_vec())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key: [u8; 32] = rand::random();
            let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
            let tmp = data_dir.join("follow_key.tmp");
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(format!("{hex}\n").as_bytes())?;
            file.sync_all()?;
            drop(file);
            std::fs::rename(&tmp, &path)?;
            std::fs::File::open(data_dir)?.sync_all()?;
            Ok(hex.into_bytes())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SmtpSettings {
        let args = SmtpArgs {
            smtp_host: Some("127.0.0.1".into()),
            smtp_port: Some(2525),
            smtp_tls: "plain".into(),
            smtp_user: None,
            smtp_password_file: None,
            smtp_from: Some("Helpdesk <helpdesk@example.org>".into()),
            smtp_ca_file: None,
        };
        SmtpSettings::from_args(&args, None, Duration::from_secs(10))
            .unwrap()
            .unwrap()
    }

    #[test]
    fn plain_only_to_loopback_and_from_is_required() {
        let mut args = SmtpArgs {
            smtp_host: Some("mail.example.org".into()),
            smtp_port: None,
            smtp_tls: "plain".into(),
            smtp_user: None,
            smtp_password_file: None,
            smtp_from: Some("helpdesk@example.org".into()),
            smtp_ca_file: None,
        };
        let e = SmtpSettings::from_args(&args, None, Duration::from_secs(1)).unwrap_err();
        assert!(e.contains("loopback"), "{e}");
        args.smtp_tls = "starttls".into();
        let s = SmtpSettings::from_args(&args, None, Duration::from_secs(1))
            .unwrap()
            .unwrap();
        assert_eq!(s.port, 587);
        args.smtp_from = None;
        let e = SmtpSettings::from_args(&args, None, Duration::from_secs(1)).unwrap_err();
        assert!(e.contains("--smtp-from"), "{e}");
    }

    /// (The transport's connection pool needs a runtime to exist.)
    #[tokio::test]
    async fn the_message_carries_threading_headers_and_the_follow_link() {
        let id = uuid::Uuid::new_v4();
        let mailer = Mailer::new(
            &settings(),
            Arc::new(|id: &TicketId| format!("https://help.example.org/#follow={id}:secret")),
        )
        .unwrap();
        let email = QueuedEmail {
            to: "ana@example.com".into(),
            subject: "[TKT-12345678] Printer".into(),
            message_id: "<tkt-x-1@help.example.org>".into(),
            in_reply_to: Some("<tkt-x@help.example.org>".into()),
            text: format!("Follow: {FOLLOW_LINK}"),
            html: format!("<a href=\"{FOLLOW_LINK}\">follow</a>"),
            kind: "requester_created".into(),
            follow: Some(id),
        };
        let raw = String::from_utf8(mailer.message(&email).unwrap().formatted()).unwrap();
        assert!(
            raw.contains("Message-ID: <tkt-x-1@help.example.org>"),
            "{raw}"
        );
        assert!(raw.contains("In-Reply-To: <tkt-x@help.example.org>"));
        assert!(raw.contains("References: <tkt-x@help.example.org>"));
        assert!(raw.contains("Auto-Submitted: auto-generated"));
        assert!(raw.contains("multipart/alternative"));
        // (The parts are encoded; tests/email.rs checks the decoded link.)
        assert!(raw.contains(":secret"), "{raw}");
        assert!(!raw.contains('\u{1}'));
    }

    #[test]
    fn the_follow_key_is_made_once() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_follow_key(dir.path()).unwrap();
        let b = load_follow_key(dir.path()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
    }
}
