//! A deadline for a new connection's first bytes.
//!
//! hyper's HTTP/1 header timeout only starts once hyper parses a request
//! head, but the automatic HTTP/1-or-2 detection in front of it first reads
//! up to 24 bytes (the HTTP/2 preface) with no timer at all: a client that
//! completes TLS and then sends nothing (or a few bytes at a time) would
//! hold the connection forever. This wrapper fails the read once the
//! deadline passes before those bytes arrive; from then on hyper's own
//! timers apply.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum_server::accept::Accept;
use futures_util::future::BoxFuture;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::time::Sleep;

/// Bytes that settle the protocol detection (the HTTP/2 preface length).
const SETTLED_AFTER: usize = 24;

/// Wraps another acceptor; the streams it yields carry the deadline.
#[derive(Clone)]
pub struct FirstBytesAcceptor<A> {
    inner: A,
    within: Duration,
}

impl<A> FirstBytesAcceptor<A> {
    pub fn new(inner: A, within: Duration) -> Self {
        FirstBytesAcceptor { inner, within }
    }
}

impl<A, I, S> Accept<I, S> for FirstBytesAcceptor<A>
where
    A: Accept<I, S>,
    A::Future: Send + 'static,
    A::Stream: Send + 'static,
    A::Service: Send + 'static,
{
    type Stream = FirstBytes<A::Stream>;
    type Service = A::Service;
    type Future = BoxFuture<'static, io::Result<(Self::Stream, Self::Service)>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let accepting = self.inner.accept(stream, service);
        let within = self.within;
        Box::pin(async move {
            let (stream, service) = accepting.await?;
            let deadline = Box::pin(tokio::time::sleep(within));
            Ok((
                FirstBytes {
                    inner: stream,
                    deadline: Some(deadline),
                    seen: 0,
                },
                service,
            ))
        })
    }
}

/// A stream whose first [`SETTLED_AFTER`] bytes must arrive in time.
pub struct FirstBytes<S> {
    inner: S,
    /// `None` once enough bytes arrived.
    deadline: Option<Pin<Box<Sleep>>>,
    seen: usize,
}

impl<S: AsyncRead + Unpin> AsyncRead for FirstBytes<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                self.seen += buf.filled().len() - before;
                if self.seen >= SETTLED_AFTER {
                    self.deadline = None;
                }
                Poll::Ready(result)
            }
            Poll::Pending => {
                if let Some(deadline) = self.deadline.as_mut() {
                    ready!(deadline.as_mut().poll(cx));
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no request in time",
                    )));
                }
                Poll::Pending
            }
        }
    }
}

delegate_write!(FirstBytes);
