//! Which web origins are the server's own: the WebSocket upgrade refuses a
//! page from any other (Cross-Site WebSocket Hijacking), and the plain-HTTP
//! redirect only ever points at one of them.
//!
//! An origin is `scheme://host[:port]`, compared in the form browsers send
//! it: lower case, the default port left out.

use std::net::{IpAddr, SocketAddr};

/// The allowed origins; the first is the public one.
#[derive(Debug, Clone)]
pub struct Origins {
    allowed: Vec<String>,
    https_port: u16,
}

impl Origins {
    /// `public` (or, without it, the origins of the listen address) plus
    /// `extra`. `listen` is the bound HTTPS address.
    pub fn new(
        public: Option<&str>,
        extra: &[String],
        listen: SocketAddr,
    ) -> Result<Origins, String> {
        let mut allowed = match public {
            Some(origin) => vec![normalize(origin)?],
            None => derived(listen),
        };
        for origin in extra {
            let origin = normalize(origin)?;
            if !allowed.contains(&origin) {
                allowed.push(origin);
            }
        }
        Ok(Origins {
            allowed,
            https_port: listen.port(),
        })
    }

    /// Whether a page of `origin` (an `Origin` header) may use the server.
    /// `null` (sandboxed frames, `file:` pages, some redirects) never may.
    pub fn allows(&self, origin: &str) -> bool {
        normalize(origin).is_ok_and(|o| self.allowed.contains(&o))
    }

    /// The public origin.
    pub fn public(&self) -> &str {
        &self.allowed[0]
    }

    /// Every allowed origin.
    pub fn all(&self) -> &[String] {
        &self.allowed
    }

    /// Where a plain-HTTP request for `host` (its `Host` header) belongs: the
    /// same host over HTTPS if that is one of ours, else the public origin.
    pub fn redirect_target(&self, host: Option<&str>) -> &str {
        let candidate = host.and_then(|host| {
            let name = strip_port(host)?;
            normalize(&format!("https://{name}:{}", self.https_port)).ok()
        });
        match candidate.and_then(|c| self.allowed.iter().find(|a| **a == c)) {
            Some(origin) => origin,
            None => self.public(),
        }
    }
}

/// The origins a browser shows for the listen address.
fn derived(listen: SocketAddr) -> Vec<String> {
    let port = listen.port();
    let mut hosts: Vec<String> = Vec::new();
    let ip = listen.ip();
    if ip.is_loopback() || ip.is_unspecified() {
        hosts.extend(["localhost", "127.0.0.1", "[::1]"].map(String::from));
    } else {
        hosts.push(match ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        });
    }
    hosts
        .iter()
        .filter_map(|host| normalize(&format!("https://{host}:{port}")).ok())
        .collect()
}

/// `host[:port]` to `host`, keeping `[v6]` brackets; `None` if malformed.
fn strip_port(host: &str) -> Option<&str> {
    let host = host.trim();
    let name = if host.starts_with('[') {
        &host[..=host.find(']')?]
    } else {
        host.split(':').next()?
    };
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.[]:".contains(c));
    ok.then_some(name)
}

/// The canonical form of an origin, or why it is not one.
pub fn normalize(origin: &str) -> Result<String, String> {
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, rest) = origin
        .split_once("://")
        .ok_or_else(|| format!("{origin:?} is not an origin (scheme://host[:port])"))?;
    let default_port = match scheme {
        "https" => "443",
        "http" => "80",
        _ => return Err(format!("{origin:?}: the scheme must be https or http")),
    };
    if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
        return Err(format!(
            "{origin:?} is not an origin (scheme://host[:port])"
        ));
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (rest, None),
    };
    if host.is_empty() {
        return Err(format!("{origin:?} has no host"));
    }
    match port {
        None => Ok(format!("{scheme}://{host}")),
        Some(port) if port.parse::<u16>().is_err() => {
            Err(format!("{origin:?}: the port is not a number"))
        }
        Some(port) if port == default_port => Ok(format!("{scheme}://{host}")),
        Some(port) => Ok(format!("{scheme}://{host}:{port}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(port: u16) -> Origins {
        Origins::new(None, &[], SocketAddr::from(([127, 0, 0, 1], port))).unwrap()
    }

    #[test]
    fn derived_from_the_listen_address() {
        let origins = local(8443);
        assert_eq!(origins.public(), "https://localhost:8443");
        assert!(origins.allows("https://localhost:8443"));
        assert!(origins.allows("https://127.0.0.1:8443"));
        assert!(origins.allows("HTTPS://LOCALHOST:8443"));
        assert!(origins.allows("https://[::1]:8443"));
        assert!(!origins.allows("http://localhost:8443"));
        assert!(!origins.allows("https://localhost:8444"));
        assert!(!origins.allows("https://evil.example"));
        assert!(!origins.allows("null"));
        assert!(!origins.allows(""));
        let on_443 = local(443);
        assert!(on_443.allows("https://localhost"));
    }

    #[test]
    fn public_and_extra_origins() {
        let origins = Origins::new(
            Some("https://Tickets.Example.com:443/"),
            &["https://ops.example.com:8443".into()],
            SocketAddr::from(([0, 0, 0, 0], 443)),
        )
        .unwrap();
        assert_eq!(origins.public(), "https://tickets.example.com");
        assert!(origins.allows("https://tickets.example.com"));
        assert!(origins.allows("https://ops.example.com:8443"));
        assert!(!origins.allows("https://localhost"));
        for bad in [
            "tickets.example.com",
            "ftp://x",
            "https://x/path",
            "https://x:port",
        ] {
            assert!(normalize(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn redirect_only_to_our_origins() {
        let origins = local(8443);
        assert_eq!(
            origins.redirect_target(Some("127.0.0.1:8080")),
            "https://127.0.0.1:8443"
        );
        assert_eq!(
            origins.redirect_target(Some("evil.example")),
            "https://localhost:8443"
        );
        assert_eq!(origins.redirect_target(None), "https://localhost:8443");
        assert_eq!(
            origins.redirect_target(Some("[::1]:80")),
            "https://[::1]:8443"
        );
    }
}
