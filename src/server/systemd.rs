//! The systemd notify protocol (`sd_notify(3)`), without libsystemd.
//!
//! systemd passes a Unix datagram socket in `$NOTIFY_SOCKET` (a path, or an
//! abstract name written with a leading `@`); each datagram is newline-
//! separated `KEY=VALUE` lines: `READY=1`, `WATCHDOG=1`, `STOPPING=1`,
//! `STATUS=...`. Outside systemd the variable is unset and every call is a
//! no-op. `$WATCHDOG_USEC` (and `$WATCHDOG_PID`, if set, naming this
//! process) ask for a `WATCHDOG=1` at least that often.

use std::future::Future;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// Where notifications go; `None` outside systemd.
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
}

impl Notifier {
    /// Reads `$NOTIFY_SOCKET`. An unusable value is logged once and
    /// notifications are then skipped.
    pub fn from_env() -> Notifier {
        let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
            return Notifier { target: None };
        };
        match connect(&path.to_string_lossy()) {
            Ok(target) => Notifier {
                target: Some(target),
            },
            Err(e) => {
                tracing::warn!(socket = ?path, error = %e, "NOTIFY_SOCKET is unusable; not notifying systemd");
                Notifier { target: None }
            }
        }
    }

    /// Whether notifications go anywhere.
    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    /// Sends one notification, e.g. `"READY=1\nSTATUS=serving"`. Never
    /// blocks; a failure is logged at debug and otherwise ignored.
    pub fn notify(&self, state: &str) {
        if let Some((socket, addr)) = &self.target
            && let Err(e) = socket.send_to_addr(state.as_bytes(), addr)
        {
            tracing::debug!(error = %e, "systemd notification failed");
        }
    }
}

fn connect(path: &str) -> std::io::Result<(UnixDatagram, SocketAddr)> {
    let addr = if let Some(name) = path.strip_prefix('@') {
        abstract_addr(name.as_bytes())?
    } else if path.starts_with('/') {
        SocketAddr::from_pathname(path)?
    } else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not an absolute path or an @abstract name",
        ));
    };
    let socket = UnixDatagram::unbound()?;
    socket.set_nonblocking(true)?;
    Ok((socket, addr))
}

#[cfg(target_os = "linux")]
fn abstract_addr(name: &[u8]) -> std::io::Result<SocketAddr> {
    use std::os::linux::net::SocketAddrExt;
    SocketAddr::from_abstract_name(name)
}

#[cfg(not(target_os = "linux"))]
fn abstract_addr(_: &[u8]) -> std::io::Result<SocketAddr> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "abstract sockets exist only on Linux",
    ))
}

/// How often to send `WATCHDOG=1`: half of `$WATCHDOG_USEC`, as
/// `sd_watchdog_enabled(3)` advises; `None` when no watchdog is asked for
/// (or it is meant for another process).
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.parse::<u32>().ok() != Some(std::process::id())
    {
        return None;
    }
    (usec > 0).then(|| Duration::from_micros(usec) / 2)
}

/// Every `interval`, runs `healthy` and sends `WATCHDOG=1` only if it says
/// yes: a stalled store writer or a starved runtime stops the pings, and
/// systemd restarts the service. Runs until dropped.
pub async fn watchdog<F, Fut>(notifier: &Notifier, interval: Duration, healthy: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut was_healthy = true;
    loop {
        tick.tick().await;
        let ok = healthy().await;
        if ok {
            notifier.notify("WATCHDOG=1");
        } else if was_healthy {
            tracing::error!(
                "health check failed (store writer or event loop not answering); withholding the watchdog ping"
            );
        }
        was_healthy = ok;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn pair() -> (tempfile::TempDir, UnixDatagram, Notifier) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let rx = UnixDatagram::bind(&path).unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let notifier = Notifier {
            target: Some(connect(path.to_str().unwrap()).unwrap()),
        };
        (dir, rx, notifier)
    }

    fn recv(rx: &UnixDatagram) -> String {
        let mut buf = [0u8; 256];
        let n = rx.recv(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn sends_to_a_path_and_to_an_abstract_name() {
        let (_dir, rx, notifier) = pair();
        notifier.notify("READY=1");
        assert_eq!(recv(&rx), "READY=1");

        let name = format!("ticketd-test-{}", std::process::id());
        let rx = UnixDatagram::bind_addr(&abstract_addr(name.as_bytes()).unwrap()).unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let notifier = Notifier {
            target: Some(connect(&format!("@{name}")).unwrap()),
        };
        notifier.notify("STOPPING=1");
        assert_eq!(recv(&rx), "STOPPING=1");
    }

    #[test]
    fn relative_paths_are_refused() {
        assert!(connect("notify").is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn watchdog_pings_only_while_healthy() {
        let (_dir, rx, notifier) = pair();
        rx.set_nonblocking(true).unwrap();
        let healthy = Arc::new(AtomicBool::new(true));
        let flag = healthy.clone();
        let check = move || {
            let flag = flag.clone();
            async move { flag.load(Ordering::SeqCst) }
        };
        let count = |rx: &UnixDatagram| {
            let mut n = 0;
            let mut buf = [0u8; 64];
            while rx.recv(&mut buf).is_ok() {
                n += 1;
            }
            n
        };
        let run = watchdog(&notifier, Duration::from_millis(100), check);
        tokio::pin!(run);
        let _ = tokio::time::timeout(Duration::from_millis(350), &mut run).await;
        assert!(count(&rx) >= 3);
        healthy.store(false, Ordering::SeqCst);
        let _ = tokio::time::timeout(Duration::from_millis(500), &mut run).await;
        assert_eq!(count(&rx), 0, "no pings while unhealthy");
        healthy.store(true, Ordering::SeqCst);
        let _ = tokio::time::timeout(Duration::from_millis(250), &mut run).await;
        assert!(count(&rx) >= 2, "pings resume");
    }
}
