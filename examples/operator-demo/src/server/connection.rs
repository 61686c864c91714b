//! What one client connection may hold: a slot under `HTTP_MAX_CONNECTIONS`,
//! and time bounded by `HTTP_HEADER_READ_TIMEOUT_SECS` (to send a request's
//! head) and `HTTP_IDLE_TIMEOUT_SECS` (between requests).
//!
//! Why not hyper's own `header_read_timeout` (axum-server 0.9 installs the
//! timer it needs and exposes it through `Server::http_builder`): hyper 1.x
//! starts that one timer both when a request's head is awaited and when a
//! keep-alive connection goes idle (`proto/h1/conn.rs`, `State::idle`), so
//! the two cannot differ (an idle timeout above a load balancer's, 60 s on
//! AWS, with a short header timeout is the usual need); it does not cover
//! the protocol detection of hyper-util's auto builder (an `h2` preface that
//! never completes) nor HTTP/2. The clock here sits under the protocol, on
//! the socket, and is told by [`CountRequests`] when a request is being
//! served, which is all it needs to know.
//!
//! The cap: [`ConnectionListener`] takes a slot before it accepts, so the
//! connections above the cap wait in the kernel's accept backlog (not in
//! this process, holding no file descriptor) until one closes; past the
//! backlog the kernel drops the client's SYN and the client retries.

use std::{
    fmt,
    future::{Ready, ready},
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::extract::connect_info::Connected;
use axum_server::{AddrListener, Address, accept::Accept};
use futures_util::task::AtomicWaker;
use pin_project_lite::pin_project;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
    time::{Instant, Sleep},
};
use tower::Service;

pub use crate::config::http::HttpArgs;

/// The client's address as the accept loop hands it on; axum's
/// `ConnectInfo<SocketAddr>` reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

impl Address for PeerAddr {
    type Stream = Connection;
    type Listener = ConnectionListener;
}

impl Connected<PeerAddr> for SocketAddr {
    fn connect_info(peer: PeerAddr) -> Self {
        peer.0
    }
}

/// A TCP listener that accepts only while fewer than `max_connections` of
/// its connections are open, and times each as [`HttpArgs`] says.
#[derive(Debug)]
pub struct ConnectionListener {
    listener: TcpListener,
    slots: Arc<Semaphore>,
    timeouts: Timeouts,
    close: Arc<CloseState>,
}

/// Closes a [`ConnectionListener`]'s port without dropping a connection
/// that the kernel has already completed: see [`PortCloser::close`].
#[derive(Debug, Clone)]
pub struct PortCloser(Arc<CloseState>);

#[derive(Debug, Default)]
struct CloseState {
    /// Set by [`PortCloser::close`].
    requested: AtomicBool,
    /// Set once the socket no longer listens.
    closed: AtomicBool,
    /// The accept loop, woken to see `requested`.
    acceptor: AtomicWaker,
    /// Told when `closed` is set.
    done: tokio::sync::Notify,
    /// Connections accepted whose first request has not reached the app:
    /// a graceful shutdown would close them as idle, request unread.
    unstarted: Arc<AtomicUsize>,
}

impl PortCloser {
    /// Stops listening, and returns once the port refuses connections.
    ///
    /// Dropping a listener resets the connections that the kernel completed
    /// but the process had not yet accepted: their clients have sent a
    /// request (a balancer may have sent a `POST`) and get a reset, which a
    /// balancer will not retry for a non-idempotent request. So the accept
    /// loop first takes every connection already queued, asking the kernel
    /// (tokio's readiness may lag behind it), and the moment the queue is
    /// empty it shuts the socket down (`shutdown(SHUT_RD)`: from then on a
    /// new connection is refused, which a balancer retries elsewhere, `POST`
    /// included). The connections taken are served as usual. The window
    /// left is that between two system calls.
    ///
    /// Then it waits until every connection accepted so far has handed its
    /// first request to the app (or closed): the graceful shutdown that
    /// follows finishes requests in progress but closes a connection it
    /// sees idle, and a connection accepted a moment ago, its request still
    /// unread in the socket, looks idle.
    ///
    /// Each wait ends after `bound` at the latest: the accept loop may not
    /// be running (all `HTTP_MAX_CONNECTIONS` taken; the graceful shutdown
    /// drops the listener then), a client may open a connection and send
    /// nothing (`HTTP_HEADER_READ_TIMEOUT_SECS` closes it later).
    pub async fn close(&self, bound: Duration) {
        let done = self.0.done.notified();
        self.0.requested.store(true, Ordering::Release);
        self.0.acceptor.wake();
        if !self.0.closed.load(Ordering::Acquire) {
            let _ = tokio::time::timeout(bound, done).await;
        }
        let deadline = Instant::now() + bound;
        while self.0.unstarted.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Timeouts {
    header: Duration,
    idle: Duration,
}

impl ConnectionListener {
    /// Serves `listener` (put in non-blocking mode here) under `args`.
    ///
    /// # Errors
    ///
    /// When the listener cannot be handed to the runtime.
    pub fn new(listener: std::net::TcpListener, args: &HttpArgs) -> io::Result<Self> {
        listener.set_nonblocking(true)?;
        Ok(Self {
            listener: TcpListener::from_std(listener)?,
            slots: Arc::new(Semaphore::new(args.max_connections as usize)),
            timeouts: Timeouts {
                header: args.header_read_timeout,
                idle: args.idle_timeout,
            },
            close: Arc::default(),
        })
    }

    /// What closes this listener's port at the end of a drain.
    pub fn closer(&self) -> PortCloser {
        PortCloser(self.close.clone())
    }

    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        if !self.close.requested.load(Ordering::Acquire) {
            self.close.acceptor.register(cx.waker());
            // Asked between the check and the registration: seen here.
            if !self.close.requested.load(Ordering::Acquire) {
                return self.listener.poll_accept(cx);
            }
        }
        if self.close.closed.load(Ordering::Acquire) {
            // The graceful shutdown drops the listener next.
            return Poll::Pending;
        }
        let socket = socket2::SockRef::from(&self.listener);
        match socket.accept() {
            Ok((stream, peer)) => {
                let peer = peer
                    .as_socket()
                    .ok_or_else(|| io::Error::other("a TCP peer without an IP address"))?;
                let stream = std::net::TcpStream::from(stream);
                stream.set_nonblocking(true)?;
                Poll::Ready(TcpStream::from_std(stream).map(|stream| (stream, peer)))
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                if let Err(err) = socket.shutdown(std::net::Shutdown::Read) {
                    tracing::warn!(error = %err, "cannot shut the listening socket down; it closes with the graceful shutdown");
                }
                self.close.closed.store(true, Ordering::Release);
                self.close.done.notify_one();
                Poll::Pending
            }
            Err(err) => Poll::Ready(Err(err)),
        }
    }
}

impl AddrListener<Connection, PeerAddr> for ConnectionListener {
    async fn bind_to(addr: PeerAddr) -> io::Result<Self> {
        // The demo binds the socket itself (to report BIND_ADDR errors) and
        // hands it over with `Server::from_listener`.
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("bind {} first and use ConnectionListener::new", addr.0),
        ))
    }

    async fn accept_stream(&self) -> io::Result<(Connection, PeerAddr)> {
        // Slot first: at the cap nothing is accepted, and the next client
        // waits in the backlog. Cancelled (shutdown), the slot is returned.
        let slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(io::Error::other)?;
        let (stream, peer) = std::future::poll_fn(|cx| self.poll_accept(cx)).await?;
        let unstarted = self.close.unstarted.clone();
        Ok((
            Connection::new(stream, slot, self.timeouts, unstarted),
            PeerAddr(peer),
        ))
    }

    fn get_local_addr(&self) -> io::Result<PeerAddr> {
        self.listener.local_addr().map(PeerAddr)
    }
}

/// What [`CountRequests`] tells the connection's clock.
#[derive(Debug)]
struct Requests {
    /// Requests of this connection whose response is not yet produced.
    in_flight: AtomicUsize,
    /// How many have been answered: a change means "idle from now".
    answered: AtomicU64,
    /// The connection's task, woken when a request ends: hyper does not
    /// read again after a response until something wakes it, and the idle
    /// clock starts on that read.
    reader: AtomicWaker,
    /// Whether a request reached the app (or the connection closed).
    started: AtomicBool,
    /// The listener's count of connections not yet started.
    unstarted: Arc<AtomicUsize>,
}

impl Requests {
    fn new(unstarted: Arc<AtomicUsize>) -> Self {
        unstarted.fetch_add(1, Ordering::AcqRel);
        Self {
            in_flight: AtomicUsize::new(0),
            answered: AtomicU64::new(0),
            reader: AtomicWaker::new(),
            started: AtomicBool::new(false),
            unstarted,
        }
    }

    /// The connection's first request reached the app, or it closed.
    fn start(&self) {
        if !self.started.swap(true, Ordering::AcqRel) {
            self.unstarted.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// An accepted TCP connection: holds its slot until dropped, and fails its
/// reads with `TimedOut` once it has waited too long with no request being
/// served (hyper then closes it).
pub struct Connection {
    io: TcpStream,
    requests: Arc<Requests>,
    timeouts: Timeouts,
    /// When it last went idle: opened, answered a request, or wrote between requests.
    idle_since: Instant,
    /// The first byte read since then: a request's head is on its way.
    head_since: Option<Instant>,
    /// `Requests::answered` as last seen.
    answered: u64,
    sleep: Option<Pin<Box<Sleep>>>,
    _slot: OwnedSemaphorePermit,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.requests.start();
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("io", &self.io)
            .field("idle_since", &self.idle_since)
            .field("head_since", &self.head_since)
            .finish_non_exhaustive()
    }
}

impl Connection {
    fn new(
        io: TcpStream,
        slot: OwnedSemaphorePermit,
        timeouts: Timeouts,
        unstarted: Arc<AtomicUsize>,
    ) -> Self {
        Self {
            io,
            requests: Arc::new(Requests::new(unstarted)),
            timeouts,
            idle_since: Instant::now(),
            head_since: None,
            answered: 0,
            sleep: None,
            _slot: slot,
        }
    }

    /// When the connection is to be closed; `None` while a request is served
    /// (the request timeout bounds that).
    fn deadline(&mut self) -> Option<Instant> {
        if self.requests.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let answered = self.requests.answered.load(Ordering::Acquire);
        if answered != self.answered {
            self.answered = answered;
            self.idle_since = Instant::now();
            self.head_since = None;
        }
        Some(match self.head_since {
            Some(since) => since + self.timeouts.header,
            // A new connection owes its first request's head at once.
            None if self.answered == 0 => self.idle_since + self.timeouts.header,
            None => self.idle_since + self.timeouts.idle,
        })
    }

    /// A response body still streaming out after its request was answered
    /// is not idleness.
    fn wrote(&mut self, written: &Poll<io::Result<usize>>) {
        if matches!(written, Poll::Ready(Ok(n)) if *n > 0) && self.head_since.is_none() {
            self.idle_since = Instant::now();
        }
    }

    /// `Pending`, or the timeout as an error once `deadline` has passed.
    fn pending_or_timed_out<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        self.requests.reader.register(cx.waker());
        let Some(deadline) = self.deadline() else {
            return Poll::Pending;
        };
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.deadline() != deadline {
            sleep.as_mut().reset(deadline);
        }
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no request within HTTP_HEADER_READ_TIMEOUT_SECS / HTTP_IDLE_TIMEOUT_SECS",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Pending => this.pending_or_timed_out(cx),
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before
                    && this.head_since.is_none()
                    && this.deadline().is_some()
                {
                    this.head_since = Some(Instant::now());
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.io).poll_write(cx, buf);
        self.wrote(&written);
        written
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.wrote(&written);
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// The acceptor that lets a [`Connection`]'s clock see its requests: it
/// wraps the connection's service in [`CountRequests`]. Use it alone, or
/// inside TLS (`RustlsAcceptor::new(config).acceptor(CountingAcceptor)`).
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAcceptor;

impl<S> Accept<Connection, S> for CountingAcceptor {
    type Stream = Connection;
    type Service = CountRequests<S>;
    type Future = Ready<io::Result<(Connection, CountRequests<S>)>>;

    fn accept(&self, stream: Connection, service: S) -> Self::Future {
        let requests = stream.requests.clone();
        ready(Ok((
            stream,
            CountRequests {
                inner: service,
                requests,
            },
        )))
    }
}

/// A connection's service, counting the requests it is serving.
#[derive(Debug, Clone)]
pub struct CountRequests<S> {
    inner: S,
    requests: Arc<Requests>,
}

impl<S, R> Service<R> for CountRequests<S>
where
    S: Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Counted<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        self.requests.in_flight.fetch_add(1, Ordering::AcqRel);
        self.requests.start();
        Counted {
            inner: self.inner.call(request),
            _served: Served(self.requests.clone()),
        }
    }
}

pin_project! {
    /// A request's response future; the request counts as served until it
    /// resolves or is dropped.
    #[derive(Debug)]
    pub struct Counted<F> {
        #[pin]
        inner: F,
        _served: Served,
    }
}

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().inner.poll(cx)
    }
}

/// Ends a request's count when dropped, whether answered or cancelled.
#[derive(Debug)]
struct Served(Arc<Requests>);

impl Drop for Served {
    fn drop(&mut self) {
        self.0.answered.fetch_add(1, Ordering::AcqRel);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.reader.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Connections the kernel completed before the close are accepted (not
    /// reset with the listener); once the queue is empty the port refuses.
    #[tokio::test]
    async fn close_takes_the_queued_connections_then_refuses() {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        let args = HttpArgs {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(75),
            max_connections: 16,
        };
        let listener = ConnectionListener::new(socket, &args).unwrap();
        // Completed by the kernel, queued: nothing has accepted them yet.
        let queued: Vec<_> = (0..3)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        // The first is kept open without a request for 300 ms, the others
        // closed at once.
        let accepting = async {
            let mut accepted = Vec::new();
            loop {
                tokio::select! {
                    next = listener.accept_stream() => accepted.push(next.unwrap().0),
                    () = tokio::time::sleep(Duration::from_millis(500)) => return accepted.len(),
                }
                if accepted.len() == 1 {
                    let first = accepted[0].requests.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        first.start();
                    });
                } else {
                    accepted.last().unwrap().requests.start();
                }
            }
        };
        let closer = listener.closer();
        let started = Instant::now();
        let closing = async {
            closer.close(Duration::from_secs(10)).await;
            started.elapsed()
        };
        let (took, accepted) = tokio::join!(closing, accepting);
        assert_eq!(accepted, queued.len());
        assert!(listener.close.closed.load(Ordering::Acquire));
        let refused = std::net::TcpStream::connect(addr).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        // Not before the kept connection started its request.
        assert!(took >= Duration::from_millis(300), "{took:?}");
        assert!(took < Duration::from_secs(10), "{took:?}");
        assert_eq!(listener.close.unstarted.load(Ordering::Acquire), 0);
    }
}
