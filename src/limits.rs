//! Rate limits and connection caps, and who a client is: the policy both
//! transports share.
//!
//! Every limit is keyed by the client's address ([`ClientKey`]): the TCP
//! peer, or, when the peer is a trusted proxy, the rightmost
//! `X-Forwarded-For` entry that is not one (see [`Limits::client_ip`]). An
//! IPv6 client owns a whole /64, so IPv6 addresses share a key per /64.
//!
//! The limiters are governor's GCRA: a [`Rate`] of `N/s` (or `/min`, `/h`)
//! is one cell every `1/N` of the period, and a burst of `B` cells may be
//! spent at once. A refusal says how long until the next cell
//! ([`RetryAfter`]). Keyed limiters never forget a key on their own, so
//! [`Limits::prune`] (run every `--limiter-prune-secs` by
//! [`Limits::spawn_pruner`]) drops every key whose bucket is full again;
//! [`Limits::keys_held`] says how many remain.
//!
//! No transport types here: HTTP and WebSocket both call in with plain
//! addresses and header values.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;
use tokio_util::sync::CancellationToken;

/// What a limit protects. Each scope has its own limiter and its own
/// rejection counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Every HTTP request.
    Http,
    /// Login attempts (called by the login handler).
    Login,
    /// WebSocket upgrades.
    WsUpgrade,
    /// Every WebSocket message, whatever its event.
    WsMessage,
    /// Ticket submissions, over WebSocket and HTTP alike.
    Submit,
    /// Socket.IO HTTP long-polling requests (exempt from [`Scope::Http`]).
    SocketIoPoll,
}

impl Scope {
    pub const ALL: [Scope; 6] = [
        Scope::Http,
        Scope::Login,
        Scope::WsUpgrade,
        Scope::WsMessage,
        Scope::Submit,
        Scope::SocketIoPoll,
    ];

    /// A stable name, for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Http => "http",
            Scope::Login => "login",
            Scope::WsUpgrade => "ws_upgrade",
            Scope::WsMessage => "ws_message",
            Scope::Submit => "submit",
            Scope::SocketIoPoll => "socketio_poll",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A sustained rate: `count` cells per `period`, written `20/s`, `5/min`
/// or `1/h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: NonZeroU32,
    pub period: Period,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Second,
    Minute,
    Hour,
}

impl Rate {
    pub const fn new(count: u32, period: Period) -> Rate {
        match NonZeroU32::new(count) {
            Some(count) => Rate { count, period },
            None => panic!("a rate needs at least one cell per period"),
        }
    }

    /// The governor quota: `count` cells per period, spent at most `burst`
    /// at once. governor's `per_second(n)` is n cells per second (one
    /// every 1/n s); `allow_burst` then sets the bucket size separately.
    pub fn quota(self, burst: NonZeroU32) -> Quota {
        let quota = match self.period {
            Period::Second => Quota::per_second(self.count),
            Period::Minute => Quota::per_minute(self.count),
            Period::Hour => Quota::per_hour(self.count),
        };
        quota.allow_burst(burst)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.period {
            Period::Second => "s",
            Period::Minute => "min",
            Period::Hour => "h",
        };
        write!(f, "{}/{unit}", self.count)
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (count, unit) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?}: expected COUNT/UNIT, e.g. 20/s or 5/min"))?;
        let count: NonZeroU32 = count
            .trim()
            .parse()
            .map_err(|_| format!("{s:?}: the count must be a whole number above 0"))?;
        let period = match unit.trim() {
            "s" | "sec" | "second" => Period::Second,
            "m" | "min" | "minute" => Period::Minute,
            "h" | "hour" => Period::Hour,
            other => return Err(format!("{s:?}: unknown unit {other:?} (use s, min or h)")),
        };
        Ok(Rate { count, period })
    }
}

/// The defaults, shared by `--help` and [`Policy::default`].
pub mod defaults {
    use super::{Period, Rate};

    pub const HTTP_RATE: Rate = Rate::new(20, Period::Second);
    pub const HTTP_BURST: u32 = 50;
    pub const LOGIN_RATE: Rate = Rate::new(5, Period::Minute);
    pub const LOGIN_BURST: u32 = 5;
    pub const WS_UPGRADE_RATE: Rate = Rate::new(1, Period::Second);
    pub const WS_UPGRADE_BURST: u32 = 20;
    pub const WS_MESSAGE_RATE: Rate = Rate::new(20, Period::Second);
    pub const WS_MESSAGE_BURST: u32 = 40;
    pub const SUBMIT_RATE: Rate = Rate::new(10, Period::Minute);
    pub const SUBMIT_BURST: u32 = 10;
    pub const SOCKETIO_POLL_RATE: Rate = Rate::new(40, Period::Second);
    pub const SOCKETIO_POLL_BURST: u32 = 80;
    pub const WS_REFUSALS_BEFORE_CLOSE: u32 = 10;
    pub const MAX_CONNECTIONS_PER_IP: usize = 50;
    pub const MAX_CONNECTIONS: usize = 10_000;
    pub const MAX_BODY_BYTES: usize = 64 * 1024;
}

/// Every limit, as configured.
#[derive(Debug, Clone)]
pub struct Policy {
    pub http: (Rate, NonZeroU32),
    pub login: (Rate, NonZeroU32),
    pub ws_upgrade: (Rate, NonZeroU32),
    pub ws_message: (Rate, NonZeroU32),
    pub submit: (Rate, NonZeroU32),
    pub socketio_poll: (Rate, NonZeroU32),
    /// Refused WebSocket messages in a row before close 1008.
    pub ws_refusals_before_close: u32,
    /// WebSocket clients per client key.
    pub max_connections_per_ip: usize,
    /// WebSocket clients in all.
    pub max_connections: usize,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

impl Default for Policy {
    fn default() -> Self {
        use defaults::*;
        Policy {
            http: (HTTP_RATE, nz(HTTP_BURST)),
            login: (LOGIN_RATE, nz(LOGIN_BURST)),
            ws_upgrade: (WS_UPGRADE_RATE, nz(WS_UPGRADE_BURST)),
            ws_message: (WS_MESSAGE_RATE, nz(WS_MESSAGE_BURST)),
            submit: (SUBMIT_RATE, nz(SUBMIT_BURST)),
            socketio_poll: (SOCKETIO_POLL_RATE, nz(SOCKETIO_POLL_BURST)),
            ws_refusals_before_close: WS_REFUSALS_BEFORE_CLOSE,
            max_connections_per_ip: MAX_CONNECTIONS_PER_IP,
            max_connections: MAX_CONNECTIONS,
            trusted_proxies: Vec::new(),
        }
    }
}

/// Parses one `--trusted-proxies` entry: a CIDR block or a bare address.
pub fn parse_cidr(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    if s.contains('/') {
        s.parse::<IpNet>()
            .map(|net| net.trunc())
            .map_err(|_| format!("{s:?} is not a CIDR block (e.g. 10.0.0.0/8)"))
    } else {
        s.parse::<IpAddr>()
            .map(IpNet::from)
            .map_err(|_| format!("{s:?} is not an IP address or CIDR block"))
    }
}

/// What a limiter is keyed by: an IPv4 address, or the /64 of an IPv6 one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(IpAddr);

impl ClientKey {
    pub fn of(ip: IpAddr) -> ClientKey {
        match canonical(ip) {
            IpAddr::V4(v4) => ClientKey(IpAddr::V4(v4)),
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !(u64::MAX as u128);
                ClientKey(IpAddr::V6(Ipv6Addr::from(prefix)))
            }
        }
    }
}

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// An IPv4-mapped IPv6 address is the IPv4 client it maps.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// The client's address as resolved from the peer and trusted proxies; the
/// HTTP layer puts it in each request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// A refusal: how long until the limit lifts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds for an HTTP `Retry-After`, rounded up, at least 1.
    pub fn as_secs_ceil(self) -> u64 {
        let secs = self.0.as_secs() + u64::from(self.0.subsec_nanos() > 0);
        secs.max(1)
    }

    /// Milliseconds for a WebSocket `retry_after_ms`, rounded up, at least 1.
    pub fn as_millis_ceil(self) -> u64 {
        let ms = self.0.as_nanos().div_ceil(1_000_000);
        u64::try_from(ms).unwrap_or(u64::MAX).max(1)
    }
}

/// A client message refused by a rate limit: which one, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageRefused {
    pub scope: Scope,
    pub wait: RetryAfter,
}

impl MessageRefused {
    /// What the client is told.
    pub fn message(&self) -> &'static str {
        match self.scope {
            Scope::Submit => "too many tickets submitted; wait before submitting again",
            _ => "too many messages; wait before sending again",
        }
    }
}

/// Why a WebSocket connection was refused at the upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapExceeded {
    /// This client already holds `--max-connections-per-ip` sockets.
    PerClient,
    /// The server holds `--max-connections` sockets.
    Total,
}

/// Open WebSocket connections, per key and in all.
#[derive(Default)]
struct Connections {
    per_key: HashMap<ClientKey, usize>,
    total: usize,
}

/// A counted WebSocket connection; dropping it frees the slot.
pub struct ConnectionGuard {
    limits: Arc<Limits>,
    key: ClientKey,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let mut table = self.limits.connections();
        table.total = table.total.saturating_sub(1);
        if let Some(n) = table.per_key.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                table.per_key.remove(&self.key);
            }
        }
    }
}

/// The shared limiters, connection table and counters.
pub struct Limits {
    /// One keyed GCRA limiter per [`Scope`], in `Scope::ALL` order.
    limiters: Vec<DefaultKeyedRateLimiter<ClientKey>>,
    /// Refusals per scope, in `Scope::ALL` order.
    rejected: [AtomicU64; Scope::ALL.len()],
    /// A std Mutex: held for a counter update, never across an `.await`.
    connections: Mutex<Connections>,
    ws_refusals_before_close: u32,
    max_connections_per_ip: usize,
    max_connections: usize,
    trusted_proxies: Vec<IpNet>,
    clock: DefaultClock,
}

impl Limits {
    pub fn new(policy: &Policy) -> Limits {
        let limiters = Scope::ALL
            .iter()
            .map(|scope| {
                let (rate, burst) = match scope {
                    Scope::Http => policy.http,
                    Scope::Login => policy.login,
                    Scope::WsUpgrade => policy.ws_upgrade,
                    Scope::WsMessage => policy.ws_message,
                    Scope::Submit => policy.submit,
                    Scope::SocketIoPoll => policy.socketio_poll,
                };
                RateLimiter::keyed(rate.quota(burst))
            })
            .collect();
        Limits {
            limiters,
            rejected: Default::default(),
            connections: Mutex::default(),
            ws_refusals_before_close: policy.ws_refusals_before_close,
            max_connections_per_ip: policy.max_connections_per_ip,
            max_connections: policy.max_connections,
            trusted_proxies: policy.trusted_proxies.clone(),
            clock: DefaultClock::default(),
        }
    }

    /// Spends one cell of `scope` for the client at `ip`, or says how long
    /// until one is free.
    pub fn check(&self, scope: Scope, ip: IpAddr) -> Result<(), RetryAfter> {
        match self.limiters[scope.index()].check_key(&ClientKey::of(ip)) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                self.rejected[scope.index()].fetch_add(1, Ordering::Relaxed);
                Err(RetryAfter(not_until.wait_time_from(self.clock.now())))
            }
        }
    }

    /// One client message (over `/ws` or Socket.IO): spends the client's
    /// message limit, and for a ticket submission its submission limit too.
    pub fn check_message(&self, ip: IpAddr, submits: bool) -> Result<(), MessageRefused> {
        let spend = |scope| {
            self.check(scope, ip)
                .map_err(|wait| MessageRefused { scope, wait })
        };
        spend(Scope::WsMessage)?;
        if submits {
            spend(Scope::Submit)?;
        }
        Ok(())
    }

    /// One login attempt from `ip` (5/min, burst 5 by default).
    pub fn check_login(&self, ip: IpAddr) -> Result<(), RetryAfter> {
        self.check(Scope::Login, ip)
    }

    /// Refused WebSocket messages in a row a client may send before it is
    /// closed with 1008.
    pub fn ws_refusals_before_close(&self) -> u32 {
        self.ws_refusals_before_close
    }

    /// How many requests `scope` has refused since start-up.
    pub fn rejections(&self, scope: Scope) -> u64 {
        self.rejected[scope.index()].load(Ordering::Relaxed)
    }

    /// How many keys the limiters of `scope` hold.
    pub fn keys_held_in(&self, scope: Scope) -> usize {
        self.limiters[scope.index()].len()
    }

    /// How many keys every limiter holds together.
    pub fn keys_held(&self) -> usize {
        Scope::ALL.iter().map(|s| self.keys_held_in(*s)).sum()
    }

    /// Forgets every key whose bucket has refilled (it would behave exactly
    /// like a new one) and returns the memory.
    pub fn prune(&self) {
        for limiter in &self.limiters {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// Prunes every `every` until `stop` is cancelled.
    pub fn spawn_pruner(self: &Arc<Self>, every: Duration, stop: CancellationToken) {
        let limits = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let Some(limits) = limits.upgrade() else {
                    break;
                };
                let before = limits.keys_held();
                limits.prune();
                tracing::debug!(
                    before,
                    after = limits.keys_held(),
                    "rate limiter keys pruned"
                );
            }
        });
    }

    /// Takes a WebSocket slot for the client at `ip`, or refuses.
    pub fn open_connection(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionGuard, CapExceeded> {
        let key = ClientKey::of(ip);
        let mut table = self.connections();
        if table.total >= self.max_connections {
            return Err(CapExceeded::Total);
        }
        let mine = table.per_key.entry(key).or_insert(0);
        if *mine >= self.max_connections_per_ip {
            return Err(CapExceeded::PerClient);
        }
        *mine += 1;
        table.total += 1;
        Ok(ConnectionGuard {
            limits: self.clone(),
            key,
        })
    }

    /// Open WebSocket connections in all.
    pub fn connections_open(&self) -> usize {
        self.connections().total
    }

    fn connections(&self) -> std::sync::MutexGuard<'_, Connections> {
        self.connections.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `ip` is one of `--trusted-proxies`.
    pub fn is_trusted_proxy(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    /// Who the client is. The TCP `peer`, unless the peer is a trusted
    /// proxy: then the rightmost `X-Forwarded-For` entry that is not a
    /// trusted proxy (entries further left are whatever the client claimed
    /// and are never believed). `forwarded_for` holds each header value, in
    /// the order received.
    pub fn client_ip<V: AsRef<[u8]>>(
        &self,
        peer: IpAddr,
        forwarded_for: impl IntoIterator<Item = V>,
    ) -> IpAddr {
        let peer = canonical(peer);
        if !self.is_trusted_proxy(peer) {
            return peer;
        }
        let values: Vec<V> = forwarded_for.into_iter().collect();
        // A value that is not UTF-8 stays in the list as an unreadable hop.
        let hops: Vec<&str> = values
            .iter()
            .flat_map(|value| {
                std::str::from_utf8(value.as_ref())
                    .unwrap_or("?")
                    .split(',')
            })
            .map(str::trim)
            .filter(|hop| !hop.is_empty())
            .collect();
        let mut leftmost = peer;
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                // A proxy we trust wrote something we cannot read: the
                // request is its, as far as we can tell.
                return leftmost;
            };
            if !self.is_trusted_proxy(ip) {
                return ip;
            }
            leftmost = ip;
        }
        leftmost
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        .map(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn policy_with(trusted: &[&str]) -> Policy {
        Policy {
            trusted_proxies: trusted.iter().map(|s| parse_cidr(s).unwrap()).collect(),
            ..Policy::default()
        }
    }

    #[test]
    fn rates_parse_and_mean_cells_per_period() {
        let rate: Rate = "20/s".parse().unwrap();
        assert_eq!(rate, defaults::HTTP_RATE);
        assert_eq!(rate.to_string(), "20/s");
        // 20 per second is one cell every 50 ms, not one every 20 s.
        let quota = rate.quota(nz(50));
        assert_eq!(quota.replenish_interval(), Duration::from_millis(50));
        assert_eq!(quota.burst_size().get(), 50);
        let login = defaults::LOGIN_RATE.quota(nz(defaults::LOGIN_BURST));
        assert_eq!(login.replenish_interval(), Duration::from_secs(12));
        let upgrade = defaults::WS_UPGRADE_RATE.quota(nz(defaults::WS_UPGRADE_BURST));
        assert_eq!(upgrade.replenish_interval(), Duration::from_secs(1));
        assert_eq!(upgrade.burst_size().get(), 20);
        assert_eq!("10/min".parse::<Rate>().unwrap(), defaults::SUBMIT_RATE);
        for bad in ["", "20", "0/s", "x/s", "5/day", "-1/s"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn burst_is_spent_then_refused_with_a_wait() {
        let limits = Limits::new(&Policy::default());
        let client = ip("192.0.2.1");
        for _ in 0..5 {
            limits.check_login(client).unwrap();
        }
        let wait = limits.check_login(client).unwrap_err();
        assert!(wait.0 > Duration::from_secs(10) && wait.0 <= Duration::from_secs(12));
        assert_eq!(wait.as_secs_ceil(), 12);
        assert_eq!(limits.rejections(Scope::Login), 1);
        assert_eq!(limits.rejections(Scope::Http), 0);
        // Another client is not affected.
        limits.check_login(ip("192.0.2.2")).unwrap();
    }

    #[test]
    fn ipv6_shares_a_bucket_per_64() {
        let a = ClientKey::of(ip("2001:db8:1:2::1"));
        let b = ClientKey::of(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"));
        let c = ClientKey::of(ip("2001:db8:1:3::1"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.to_string(), "2001:db8:1:2::/64");
        assert_eq!(
            ClientKey::of(ip("::ffff:192.0.2.7")),
            ClientKey::of(ip("192.0.2.7"))
        );
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let limits = limits_trusting(&["10.0.0.0/8", "192.0.2.9"]);
        let attacker = ip("198.51.100.1");
        assert_eq!(limits.client_ip(attacker, ["1.2.3.4"]), attacker);
        let proxy = ip("10.1.1.1");
        assert_eq!(limits.client_ip(proxy, ["1.2.3.4"]), ip("1.2.3.4"));
        // The client forged a left part; the proxy appended the real one.
        assert_eq!(
            limits.client_ip(proxy, ["6.6.6.6, 7.7.7.7, 203.0.113.5, 192.0.2.9"]),
            ip("203.0.113.5")
        );
        // Several headers are one list, in order.
        assert_eq!(
            limits.client_ip(proxy, ["6.6.6.6", "203.0.113.5:4711, 10.2.2.2"]),
            ip("203.0.113.5")
        );
        // Nothing forwarded, or only proxies: the request is the proxy's.
        assert_eq!(limits.client_ip(proxy, [""; 0]), proxy);
        assert_eq!(limits.client_ip(proxy, ["10.3.3.3"]), ip("10.3.3.3"));
        // Garbage where the client should be: never trust what is left of it.
        assert_eq!(limits.client_ip(proxy, ["1.2.3.4, bogus"]), proxy);
        assert_eq!(limits.client_ip(proxy, [&b"1.2.3.4"[..], b"\xff"]), proxy);
    }

    fn limits_trusting(trusted: &[&str]) -> Limits {
        Limits::new(&policy_with(trusted))
    }

    #[test]
    fn cidr_entries_parse() {
        assert_eq!(parse_cidr("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(parse_cidr("::1").unwrap().to_string(), "::1/128");
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert!(parse_cidr("proxy.example").is_err());
    }

    #[test]
    fn connection_caps_count_and_release() {
        let limits = Arc::new(Limits::new(&Policy {
            max_connections_per_ip: 2,
            max_connections: 3,
            ..Policy::default()
        }));
        let a = ip("192.0.2.1");
        let first = limits.open_connection(a).unwrap();
        let _second = limits.open_connection(a).unwrap();
        assert_eq!(
            limits.open_connection(a).err(),
            Some(CapExceeded::PerClient)
        );
        let _third = limits.open_connection(ip("192.0.2.2")).unwrap();
        assert_eq!(
            limits.open_connection(ip("192.0.2.3")).err(),
            Some(CapExceeded::Total)
        );
        drop(first);
        assert_eq!(limits.connections_open(), 2);
        let _again = limits.open_connection(a).unwrap();
    }

    #[test]
    fn a_hundred_thousand_keys_are_pruned_back_down() {
        // 1000/s with a burst of 1: a bucket is full again 1 ms after use.
        let fast = ("1000/s".parse().unwrap(), nz(1));
        let limits = Limits::new(&Policy {
            http: fast,
            ..Policy::default()
        });
        for n in 0..100_000u32 {
            let client = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + n));
            limits.check(Scope::Http, client).unwrap();
        }
        assert_eq!(limits.keys_held_in(Scope::Http), 100_000);
        assert_eq!(limits.keys_held(), 100_000);
        std::thread::sleep(Duration::from_millis(20));
        limits.prune();
        assert!(limits.keys_held() <= 1, "held {}", limits.keys_held());
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(RetryAfter(Duration::from_millis(1)).as_secs_ceil(), 1);
        assert_eq!(RetryAfter(Duration::from_millis(1001)).as_secs_ceil(), 2);
        assert_eq!(RetryAfter(Duration::ZERO).as_millis_ceil(), 1);
        assert_eq!(RetryAfter(Duration::from_micros(1500)).as_millis_ceil(), 2);
    }
}
