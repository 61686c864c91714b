//! A loopback stand-in for Sentry's ingest endpoint, a tiny HTTP client,
//! and the app side the tests share (principal, Sentry client, server).

#![allow(dead_code, unreachable_pub)] // each test binary uses a part

use std::{io::Read, net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::{Path, State},
    http::{HeaderMap, Request, StatusCode},
    routing::post,
};
use rampart_sentry::SentryConfig;
use sentry::{
    Client, Envelope, Hub, Scope,
    protocol::{EnvelopeItem, Event, Transaction},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::mpsc,
};

/// Generous: the CI machine is slow and loaded.
pub const WAIT: Duration = Duration::from_secs(30);

/// What the ingest endpoint received: one entry per envelope.
#[derive(Debug)]
pub struct Received {
    pub project: String,
    /// The body as sent, decompressed, as text.
    pub raw: String,
    pub events: Vec<Event<'static>>,
    pub transactions: Vec<Transaction<'static>>,
}

/// A Sentry ingest endpoint on 127.0.0.1: `POST /api/<project>/envelope/`.
pub struct Ingest {
    pub addr: SocketAddr,
    receiver: mpsc::UnboundedReceiver<Received>,
}

impl Ingest {
    pub async fn start() -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        let app = Router::new()
            .route("/api/{project}/envelope/", post(envelope))
            .with_state(sender);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, receiver }
    }

    /// The DSN of this endpoint, project 42.
    pub fn dsn(&self) -> String {
        format!("http://public@{}/42", self.addr)
    }

    /// The next envelope that holds an event (others, such as transactions,
    /// are skipped), waiting up to [`WAIT`].
    pub async fn next_event(&mut self) -> (Event<'static>, Received) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let received = tokio::time::timeout_at(deadline, self.receiver.recv())
                .await
                .expect("no event reached the ingest endpoint in time")
                .expect("ingest endpoint stopped");
            if let Some(event) = received.events.first().cloned() {
                return (event, received);
            }
        }
    }

    /// The next envelope that holds a performance transaction (others are
    /// skipped), waiting up to [`WAIT`].
    pub async fn next_transaction(&mut self) -> (Transaction<'static>, Received) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let received = tokio::time::timeout_at(deadline, self.receiver.recv())
                .await
                .expect("no transaction reached the ingest endpoint in time")
                .expect("ingest endpoint stopped");
            if let Some(transaction) = received.transactions.first().cloned() {
                return (transaction, received);
            }
        }
    }

    /// Envelopes that arrived and were not read yet, without waiting.
    pub fn pending_events(&mut self) -> Vec<Event<'static>> {
        let mut events = Vec::new();
        while let Ok(received) = self.receiver.try_recv() {
            events.extend(received.events);
        }
        events
    }
}

async fn envelope(
    State(sender): State<mpsc::UnboundedSender<Received>>,
    Path(project): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let encoding = headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut decoded = Vec::new();
    let read = match encoding.as_str() {
        "gzip" => flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut decoded),
        "deflate" => flate2::read::ZlibDecoder::new(&body[..]).read_to_end(&mut decoded),
        "" | "identity" => {
            decoded.extend_from_slice(&body);
            Ok(body.len())
        }
        _ => return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}"),
    };
    if read.is_err() {
        return (StatusCode::BAD_REQUEST, "{}");
    }
    let Ok(envelope) = Envelope::from_slice(&decoded) else {
        return (StatusCode::BAD_REQUEST, "{}");
    };
    let events = envelope
        .items()
        .filter_map(|item| match item {
            EnvelopeItem::Event(event) => Some(event.clone()),
            _ => None,
        })
        .collect();
    let transactions = envelope
        .items()
        .filter_map(|item| match item {
            EnvelopeItem::Transaction(transaction) => Some(transaction.clone()),
            _ => None,
        })
        .collect();
    let _ = sender.send(Received {
        project,
        raw: String::from_utf8_lossy(&decoded).into_owned(),
        events,
        transactions,
    });
    (StatusCode::OK, "{}")
}

/// A response as the client saw it.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub head: String,
}

impl Answer {
    /// A response header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// Sends one HTTP/1.1 request over a fresh connection and reads the whole
/// response.
pub async fn fetch(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> Answer {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut request = format!("GET {target} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut response))
        .await
        .expect("the app did not answer in time")
        .unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let head = text.split("\r\n\r\n").next().unwrap_or("").to_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("an HTTP status line");
    Answer { status, head }
}

/// What the app's authentication puts in the extensions. The email is
/// there to show that it never reaches Sentry.
#[derive(Clone)]
pub struct Principal {
    pub user_id: String,
    pub org_id: String,
    #[allow(dead_code)] // present, never read: that is the point
    pub email: String,
}

/// `Authorization: Bearer <user>:<org>:<secret>`; anything else is
/// anonymous.
pub fn principal_of(request: &Request<Body>) -> Option<Principal> {
    let token = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))?;
    let mut parts = token.split(':');
    Some(Principal {
        user_id: parts.next()?.to_owned(),
        org_id: parts.next()?.to_owned(),
        email: "alice@example.com".to_owned(),
    })
}

/// The app's authentication as a plain request mapping, for stacks whose
/// error is not `Infallible`.
pub fn with_principal(mut request: Request<Body>) -> Request<Body> {
    if let Some(principal) = principal_of(&request) {
        request.extensions_mut().insert(principal);
    }
    request
}

/// Serves `app` on a fresh loopback port.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A client of this crate's configuration sending to `ingest`, and a hub
/// holding it.
pub fn client(ingest: &Ingest) -> (Arc<Client>, Arc<Hub>) {
    client_tracing(ingest, 0.0)
}

/// The same, sampling `traces_sample_rate` of the requests as transactions.
pub fn client_tracing(ingest: &Ingest, traces_sample_rate: f32) -> (Arc<Client>, Arc<Hub>) {
    let options = SentryConfig::new()
        .dsn(ingest.dsn())
        .traces_sample_rate(traces_sample_rate)
        .environment("test")
        .release("rampart-sentry-tests@0")
        .client_options()
        .unwrap();
    let client = Arc::new(Client::from(sentry::apply_defaults(options)));
    let hub = Arc::new(Hub::new(Some(client.clone()), Arc::new(Scope::default())));
    (client, hub)
}

/// Waits until the client's transport has sent what it holds.
pub async fn flush(client: &Arc<Client>) {
    let client = client.clone();
    let flushed = tokio::task::spawn_blocking(move || client.flush(Some(WAIT)))
        .await
        .unwrap();
    assert!(flushed, "the transport did not drain in time");
}

/// Flushes `client`, then fails the test with `why` if any event arrived
/// that was not read yet.
pub async fn assert_no_more_events(ingest: &mut Ingest, client: &Arc<Client>, why: &str) {
    flush(client).await;
    let extra = ingest.pending_events();
    assert!(extra.is_empty(), "{why}: {extra:?}");
}

/// A principal's credentials; the secret must never reach Sentry.
pub const BEARER: &str = "Bearer u-17:org-3:s3cr3tT0kenValue";
/// A session cookie that must never reach Sentry.
pub const COOKIE: &str = "session=cafebabe1234; theme=dark";

/// Fails when `raw` (an envelope as sent) holds a secret of the requests.
pub fn assert_no_secrets(raw: &str) {
    for secret in [
        "alice@example.com",
        "alice%40example.com",
        "bob@example.org",
        "s3cr3tT0kenValue",
        "cafebabe1234",
        "k-99887766",
        "abc123xyz",
        "+49 30 1234567",
    ] {
        assert!(
            !raw.contains(secret),
            "{secret:?} was sent to Sentry: {raw}"
        );
    }
}
