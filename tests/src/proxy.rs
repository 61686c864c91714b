//! A loopback TCP proxy that a test controls, to put between a client and a
//! real service (Redis, Postgres) and make the service fail on cue:
//! [`TcpProxy::cut`] closes every connection and refuses new ones (as a
//! stopped server does), [`TcpProxy::stall`] keeps connections open but
//! holds every byte (as a hung server does), [`TcpProxy::pass`] restores
//! service on the same port.
//!
//! Shared by the workspace tests (`rampart_tests::proxy`) and, through a
//! `#[path]` module, by rampart-ratelimit's own tests.
//!
//! ```no_run
//! # async fn run() {
//! use rampart_tests::proxy::TcpProxy;
//!
//! // The same URL, through a proxy of its own.
//! let (proxy, url) = TcpProxy::in_front_of("redis://127.0.0.1:6379/0").await;
//! assert_eq!(url, format!("redis://{}/0", proxy.addr()));
//! proxy.cut().await; // connection refused from now on
//! proxy.pass().await; // back, same port
//! # }
//! ```

use std::{net::SocketAddr, sync::Arc};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::{Mutex, watch},
    task::JoinHandle,
};

/// What the proxy does with traffic now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Copies both ways.
    Pass,
    /// Holds every byte; connections stay open.
    Stall,
    /// Closes every connection and refuses new ones.
    Cut,
}

/// A proxy on a loopback port of its own in front of `upstream`. Stopped
/// when dropped.
#[derive(Debug)]
pub struct TcpProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    mode: Arc<watch::Sender<Mode>>,
    acceptor: Mutex<Option<JoinHandle<()>>>,
}

impl TcpProxy {
    /// Listens on a free loopback port, passing traffic to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("its address");
        let (mode, _) = watch::channel(Mode::Pass);
        let mode = Arc::new(mode);
        let acceptor = tokio::spawn(accept(listener, upstream, Arc::clone(&mode)));
        Self {
            addr,
            upstream,
            mode,
            acceptor: Mutex::new(Some(acceptor)),
        }
    }

    /// A proxy in front of the server `url` names (`redis://`,
    /// `postgres://`; the port may be left to the scheme's default), and
    /// `url` with the proxy's address instead.
    pub async fn in_front_of(url: &str) -> (Self, String) {
        let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let start = rest[..end].rfind('@').map_or(0, |at| at + 1);
        let authority = &rest[start..end];
        let default_port = match scheme {
            "redis" => 6379,
            "postgres" | "postgresql" => 5432,
            _ => panic!("no default port for {scheme}://"),
        };
        let target = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            authority.to_owned()
        } else {
            format!("{authority}:{default_port}")
        };
        let upstream = tokio::net::lookup_host(&target)
            .await
            .ok()
            .and_then(|mut addrs| addrs.next())
            .unwrap_or_else(|| panic!("cannot resolve {target}"));
        let proxy = Self::start(upstream).await;
        let url = format!(
            "{scheme}://{}{}{}",
            &rest[..start],
            proxy.addr(),
            &rest[end..]
        );
        (proxy, url)
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The mode now.
    pub fn mode(&self) -> Mode {
        *self.mode.borrow()
    }

    /// Closes every connection and stops listening: new connections are
    /// refused.
    pub async fn cut(&self) {
        self.mode.send_replace(Mode::Cut);
        if let Some(acceptor) = self.acceptor.lock().await.take() {
            acceptor.abort();
            let _ = acceptor.await;
        }
    }

    /// Holds every byte from now on, both ways; connections stay open and
    /// new ones are accepted (and held).
    pub async fn stall(&self) {
        self.mode.send_replace(Mode::Stall);
        self.listen().await;
    }

    /// Copies both ways again, listening on the same port if it was cut.
    pub async fn pass(&self) {
        self.mode.send_replace(Mode::Pass);
        self.listen().await;
    }

    async fn listen(&self) {
        let mut acceptor = self.acceptor.lock().await;
        if acceptor.is_none() {
            let listener = TcpListener::bind(self.addr)
                .await
                .expect("the proxy's port again");
            *acceptor = Some(tokio::spawn(accept(
                listener,
                self.upstream,
                Arc::clone(&self.mode),
            )));
        }
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.mode.send_replace(Mode::Cut);
        if let Ok(mut acceptor) = self.acceptor.try_lock()
            && let Some(acceptor) = acceptor.take()
        {
            acceptor.abort();
        }
    }
}

async fn accept(listener: TcpListener, upstream: SocketAddr, mode: Arc<watch::Sender<Mode>>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let mode = mode.subscribe();
        tokio::spawn(async move {
            if *mode.borrow() == Mode::Cut {
                return;
            }
            let Ok(server) = TcpStream::connect(upstream).await else {
                return;
            };
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            // Either direction ending (or a cut) closes both.
            tokio::select! {
                () = copy(client_read, server_write, mode.clone()) => {}
                () = copy(server_read, client_write, mode) => {}
            }
        });
    }
}

/// Copies until either side closes or the proxy is cut; holds bytes while
/// it stalls.
async fn copy(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut mode: watch::Receiver<Mode>,
) {
    let mut buf = vec![0; 16 * 1024];
    loop {
        let n = tokio::select! {
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            changed = mode.wait_for(|m| *m == Mode::Cut) => {
                let _ = changed;
                return;
            }
        };
        match mode.wait_for(|m| *m != Mode::Stall).await {
            Ok(m) if *m == Mode::Pass => {}
            _ => return,
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
