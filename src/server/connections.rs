//! Plain HTTP connections (HTTP/1 keep-alive and HTTP/2, not WebSockets):
//! a cap per client address and an idle timeout.
//!
//! hyper closes an HTTP/1 connection that sends no next request within the
//! header timeout, but an HTTP/2 client that answers keep-alive pings may
//! hold its connection (and a file descriptor) forever without sending a
//! request. This acceptor wraps each connection:
//! - its service counts requests in flight and notes when the last one
//!   ended; once a request is answered with 101 (a WebSocket upgrade) the
//!   connection leaves this module's care (the WebSocket caps and idle
//!   timeout apply instead);
//! - its stream fails the next read once no request has been in flight for
//!   `--http-idle-timeout-secs`, which makes hyper close the connection;
//! - at most `--max-http-connections-per-ip` such connections are open per
//!   client address: one more is closed as soon as it is accepted.
//!
//! The address is the TCP peer's. A peer in `--trusted-proxies` is not
//! capped (every client behind it shares its address), only idle-timed.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::{Request, Response, StatusCode};
use axum_server::accept::Accept;
use futures_util::future::BoxFuture;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// Open plain-HTTP connections per client address.
#[derive(Default)]
pub struct Registry {
    /// A std Mutex: held to bump or drop one count.
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl Registry {
    fn enter(self: &Arc<Self>, ip: IpAddr, cap: usize) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(ip).or_default();
        if *count >= cap {
            return None;
        }
        *count += 1;
        Some(Slot {
            registry: self.clone(),
            ip,
            held: AtomicBool::new(true),
        })
    }

    /// Open plain-HTTP connections in all.
    #[cfg(test)]
    fn open(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .sum()
    }
}

/// One connection's place in the count; given back once.
struct Slot {
    registry: Arc<Registry>,
    ip: IpAddr,
    held: AtomicBool,
}

impl Slot {
    fn release(&self) {
        if self.held.swap(false, Ordering::AcqRel) {
            let mut open = self.registry.open.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(count) = open.get_mut(&self.ip) {
                *count -= 1;
                if *count == 0 {
                    open.remove(&self.ip);
                }
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.release();
    }
}

/// What a connection's stream and service share.
struct Activity {
    /// `None` for a trusted proxy, which is not counted.
    slot: Option<Slot>,
    in_flight: AtomicUsize,
    /// Milliseconds after `epoch` when the last request ended.
    last_ended_ms: AtomicU64,
    epoch: Instant,
    upgraded: AtomicBool,
}

impl Activity {
    fn idle_deadline(&self, idle: Duration) -> Instant {
        self.epoch + Duration::from_millis(self.last_ended_ms.load(Ordering::Acquire)) + idle
    }
}

/// Wraps the TCP acceptor (before TLS): counts, then tracks each connection.
#[derive(Clone)]
pub struct TrackedAcceptor<A> {
    inner: A,
    registry: Arc<Registry>,
    per_ip: usize,
    idle: Duration,
    trusted: Arc<[ipnet::IpNet]>,
}

impl<A> TrackedAcceptor<A> {
    pub fn new(
        inner: A,
        registry: Arc<Registry>,
        per_ip: usize,
        idle: Duration,
        trusted: Arc<[ipnet::IpNet]>,
    ) -> Self {
        TrackedAcceptor {
            inner,
            registry,
            per_ip,
            idle,
            trusted,
        }
    }
}

impl<A, S> Accept<TcpStream, S> for TrackedAcceptor<A>
where
    A: Accept<TcpStream, S>,
    A::Future: Send + 'static,
    A::Stream: Send + 'static,
    A::Service: Send + 'static,
{
    type Stream = Tracked<A::Stream>;
    type Service = TrackedService<A::Service>;
    type Future = BoxFuture<'static, io::Result<(Self::Stream, Self::Service)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let peer = stream.peer_addr().ok().map(|a: SocketAddr| a.ip());
        let trusted = peer.is_some_and(|ip| self.trusted.iter().any(|net| net.contains(&ip)));
        let slot = if trusted {
            Some(None)
        } else {
            peer.and_then(|ip| self.registry.enter(ip, self.per_ip))
                .map(Some)
        };
        let accepting = self.inner.accept(stream, service);
        let idle = self.idle;
        Box::pin(async move {
            let Some(slot) = slot else {
                tracing::debug!(client = ?peer, "connection refused: per-address HTTP connection cap");
                return Err(io::Error::other("too many connections from this address"));
            };
            let (stream, service) = accepting.await?;
            let activity = Arc::new(Activity {
                slot,
                in_flight: AtomicUsize::new(0),
                last_ended_ms: AtomicU64::new(0),
                epoch: Instant::now(),
                upgraded: AtomicBool::new(false),
            });
            Ok((
                Tracked {
                    inner: stream,
                    activity: activity.clone(),
                    idle,
                    timer: None,
                },
                TrackedService {
                    inner: service,
                    activity,
                },
            ))
        })
    }
}

/// A connection's stream: fails its read once the connection has been idle.
pub struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
    idle: Duration,
    /// Made at the first idle wait and dropped once the connection is a
    /// WebSocket: a timer held by each of 10,000 idle WebSocket clients
    /// cost 5 KiB apiece of resident memory.
    timer: Option<Pin<Box<Sleep>>>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Poll::Ready(result) = Pin::new(&mut this.inner).poll_read(cx, buf) {
            return Poll::Ready(result);
        }
        let activity = &this.activity;
        if activity.upgraded.load(Ordering::Acquire) {
            this.timer = None;
            return Poll::Pending;
        }
        if activity.in_flight.load(Ordering::Acquire) > 0 {
            return Poll::Pending;
        }
        let deadline = activity.idle_deadline(this.idle);
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "idle HTTP connection",
            )));
        }
        Poll::Pending
    }
}

delegate_write!(Tracked);

/// A connection's service: counts requests in flight.
#[derive(Clone)]
pub struct TrackedService<S> {
    inner: S,
    activity: Arc<Activity>,
}

/// Ends one request's time in flight when dropped (answered or abandoned).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let a = &self.0;
        let now = a.epoch.elapsed().as_millis() as u64;
        a.last_ended_ms.store(now, Ordering::Release);
        a.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<S, B, R> tower::Service<Request<B>> for TrackedService<S>
where
    S: tower::Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<R>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        self.activity.in_flight.fetch_add(1, Ordering::AcqRel);
        let guard = InFlight(self.activity.clone());
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            if response.status() == StatusCode::SWITCHING_PROTOCOLS {
                // A WebSocket now: its own caps and timeouts apply.
                guard.0.upgraded.store(true, Ordering::Release);
                if let Some(slot) = &guard.0.slot {
                    slot.release();
                }
            }
            drop(guard);
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_counts_per_address_and_slots_come_back() {
        let registry = Arc::new(Registry::default());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = registry.enter(a, 2).unwrap();
        let _second = registry.enter(a, 2).unwrap();
        assert!(registry.enter(a, 2).is_none());
        assert!(registry.enter(b, 2).is_some());
        first.release();
        first.release();
        // b's slot was dropped at once; a's first was released once only.
        assert_eq!(registry.open(), 1);

        assert!(registry.enter(a, 2).is_some());
    }
}
