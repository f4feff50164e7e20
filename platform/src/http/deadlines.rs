//! One client connection: how long it may stay silent or half-sent, and what the request
//! plumbing learns about it.
//!
//! hyper's own `header_read_timeout` starts its clock whenever the connection waits for a
//! request head, so it would also close idle keep-alive connections after the header timeout.
//! The load balancer keeps idle connections to its targets for 60 s and must never find one
//! closed under it (that race is a 502), so the idle wait between requests needs a longer
//! limit than a half-sent head. [`DeadlineIo`] enforces both on the socket's reads and writes,
//! steered by [`ConnectionPhase`], which the server flips when a request head arrives and when its
//! response is ready.

use std::{
    io,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll, Waker},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    sync::watch,
    time::{Instant, Sleep},
};

/// Connection limits; [`Default`] holds the contract's values.
#[derive(Clone, Debug)]
pub struct Limits {
    /// A request head must be complete this long after its first byte (and a new connection
    /// must send one within this long of being accepted).
    pub header_read: Duration,
    /// A request body must be complete this long after its head.
    pub body_read: Duration,
    /// A kept-alive connection may sit between requests this long. Longer than the load
    /// balancer's 60 s idle timeout, so that it is always the one to close (AWS's advice).
    pub keep_alive_idle: Duration,
    /// Connections served at once. A further client takes the slot of the oldest connection
    /// yet to send a request (which is closed); if there is none, it waits for a free slot.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(10),
            body_read: Duration::from_secs(30),
            keep_alive_idle: Duration::from_secs(75),
            max_connections: 512,
        }
    }
}

/// Where the server is in its life; connections and body reads watch it. (Ordered: each
/// stage follows the one before.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    Serving,
    /// Shutdown began: no new connections; a request that arrives on an open one is still
    /// served, its response says `Connection: close`, and the connection then closes.
    Draining,
    /// The drain window is over: idle connections close, a body still arriving is cut off
    /// (503), a request in its handler finishes.
    Stopping,
    /// The shutdown grace is over: drop whatever is left.
    Closing,
}

/// What the server attaches to every request (as a request extension) for the middleware.
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub body_read: Duration,
    pub trusted_proxy_hops: usize,
    pub stage: watch::Receiver<Stage>,
}

/// Which deadline a connection is under.
#[derive(Debug)]
enum Phase {
    /// Waiting for the next request head.
    Waiting {
        since: Instant,
        /// No request yet on this connection: a silent client gets the short limit.
        fresh: bool,
        first_byte: Option<Instant>,
    },
    /// A head was read; the body, the handler and the response are timed elsewhere.
    Busy,
    /// Still waiting for its first request when the server, at its connection cap, needed the
    /// slot: closed at once (see [`ConnectionPhase::shed`]).
    Shed { at: Instant },
}

/// A connection's phase, shared by its socket wrapper and its request handler.
#[derive(Debug)]
pub struct ConnectionPhase {
    phase: Mutex<Phase>,
    /// The connection task, parked on the socket while busy: when the phase turns to waiting
    /// it must poll again to arm the deadline (hyper will not, unless data arrives).
    parked: Mutex<Option<Waker>>,
    header_read: Duration,
    keep_alive_idle: Duration,
}

impl ConnectionPhase {
    pub fn new(limits: &Limits) -> Arc<Self> {
        Arc::new(Self {
            phase: Mutex::new(Phase::Waiting {
                since: Instant::now(),
                fresh: true,
                first_byte: None,
            }),
            parked: Mutex::new(None),
            header_read: limits.header_read,
            keep_alive_idle: limits.keep_alive_idle,
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Phase) -> T) -> T {
        f(&mut self.phase.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// A request head was parsed.
    pub fn busy(&self) {
        self.with(|p| *p = Phase::Busy);
    }

    /// The response is ready; the connection now waits for the next request. (Bytes of a
    /// pipelined request that arrived meanwhile count as silence: the idle limit applies.)
    pub fn waiting(&self) {
        self.with(|p| {
            *p = Phase::Waiting {
                since: Instant::now(),
                fresh: false,
                first_byte: None,
            }
        });
        let parked = self.parked.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(waker) = parked {
            waker.wake();
        }
    }

    fn park(&self, waker: &Waker) {
        let mut parked = self.parked.lock().unwrap_or_else(|p| p.into_inner());
        if !parked.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *parked = Some(waker.clone());
        }
    }

    /// Whether the connection has yet to complete its first request head.
    pub fn is_fresh(&self) -> bool {
        self.with(|p| matches!(p, Phase::Waiting { fresh: true, .. }))
    }

    /// Closes the connection now if it has yet to complete its first request head (silent,
    /// or a head still arriving): the server does this to the oldest such connection when it
    /// is at its cap and another client is waiting. A connection that has served a request
    /// (the load balancer's kept-alive ones) or is serving one is never shed. Returns whether
    /// it was shed. (A head that completes at this very moment is still served: `busy`
    /// overrides.)
    pub fn shed(&self) -> bool {
        let shed = self.with(|p| {
            let fresh = matches!(p, Phase::Waiting { fresh: true, .. });
            if fresh {
                *p = Phase::Shed { at: Instant::now() };
            }
            fresh
        });
        if shed {
            let parked = self.parked.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(waker) = parked {
                waker.wake();
            }
        }
        shed
    }

    fn saw_bytes(&self) {
        self.with(|p| {
            if let Phase::Waiting { first_byte, .. } = p {
                first_byte.get_or_insert_with(Instant::now);
            }
        });
    }

    fn deadline(&self) -> Option<Instant> {
        self.with(|p| match *p {
            Phase::Busy => None,
            // A fixed instant: a deadline recomputed as `now` on every poll would never fire.
            Phase::Shed { at } => Some(at),
            Phase::Waiting {
                first_byte: Some(t),
                ..
            } => Some(t + self.header_read),
            Phase::Waiting {
                since, fresh: true, ..
            } => Some(since + self.header_read),
            Phase::Waiting { since, .. } => Some(since + self.keep_alive_idle),
        })
    }
}

/// A socket whose reads and writes fail with `TimedOut` once the [`ConnectionPhase`]'s deadline passes,
/// which makes hyper drop the connection.
pub struct DeadlineIo<T> {
    inner: T,
    clock: Arc<ConnectionPhase>,
    sleep: Pin<Box<Sleep>>,
}

impl<T> DeadlineIo<T> {
    pub fn new(inner: T, clock: Arc<ConnectionPhase>) -> Self {
        Self {
            inner,
            clock,
            sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
        }
    }

    /// Called when the socket is not ready: `Pending` until the deadline, then an error.
    /// The task stays parked with the clock either way: `waiting` and `shed` wake it.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.clock.park(cx.waker());
        let Some(deadline) = self.clock.deadline() else {
            return false;
        };
        if deadline <= Instant::now() {
            return true;
        }
        if self.sleep.deadline() != deadline {
            self.sleep.as_mut().reset(deadline);
        }
        self.sleep.as_mut().poll(cx).is_ready()
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "client too slow or silent")
}

impl<T: AsyncRead + Unpin> AsyncRead for DeadlineIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.clock.saw_bytes();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(timed_out())),
            other => other,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for DeadlineIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(timed_out())),
            other => other,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(timed_out())),
            other => other,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            header_read: Duration::from_secs(10),
            keep_alive_idle: Duration::from_secs(75),
            ..Limits::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_connection_gets_the_header_limit_then_the_idle_limit_between_requests() {
        let clock = ConnectionPhase::new(&limits());
        let start = Instant::now();
        assert_eq!(clock.deadline(), Some(start + Duration::from_secs(10)));
        clock.busy();
        assert_eq!(clock.deadline(), None);
        clock.waiting();
        assert_eq!(clock.deadline(), Some(start + Duration::from_secs(75)));
        tokio::time::advance(Duration::from_secs(30)).await;
        clock.saw_bytes();
        assert_eq!(clock.deadline(), Some(start + Duration::from_secs(40)));
        // Later bytes of the same head do not extend it.
        tokio::time::advance(Duration::from_secs(5)).await;
        clock.saw_bytes();
        assert_eq!(clock.deadline(), Some(start + Duration::from_secs(40)));
    }

    #[test]
    fn only_a_connection_yet_to_send_a_request_is_shed() {
        let silent = ConnectionPhase::new(&limits());
        assert!(silent.is_fresh());
        silent.saw_bytes();
        assert!(silent.shed(), "a head still arriving");
        assert!(!silent.is_fresh());
        let busy = ConnectionPhase::new(&limits());
        busy.busy();
        assert!(!busy.shed());
        busy.waiting();
        assert!(!busy.is_fresh());
        assert!(!busy.shed(), "a kept-alive connection");
    }

    #[tokio::test(start_paused = true)]
    async fn a_shed_socket_fails_its_pending_read_at_once() {
        use tokio::io::AsyncReadExt;
        let (_client, server) = tokio::io::duplex(64);
        let clock = ConnectionPhase::new(&limits());
        let mut io = DeadlineIo::new(server, clock.clone());
        let read = tokio::spawn(async move {
            let mut buf = [0u8; 8];
            io.read(&mut buf).await
        });
        let start = Instant::now();
        tokio::task::yield_now().await;
        assert!(clock.shed());
        let err = read.await.unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "waited for the deadline"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_socket_fails_its_read_at_the_deadline() {
        use tokio::io::AsyncReadExt;
        let (client, server) = tokio::io::duplex(64);
        let mut io = DeadlineIo::new(server, ConnectionPhase::new(&limits()));
        let mut buf = [0u8; 8];
        let err = io.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        drop(client);
    }
}
