//! A real browser against a real server: headless Debian Chromium, driven
//! through chromedriver (WebDriver, via `fantoccini`), loads a page from an
//! allowed origin and one from a disallowed origin (two loopback ports), and
//! from each runs a simple GET, a credentialed GET with a cookie, and a
//! preflighted PUT with `Authorization` and `Content-Type: application/json`.
//! The assertions are on what the page's script could read.
//!
//! Two servers are under test, each in its own browser session:
//! - an in-process axum app behind `rampart-cors` ([`start_target`]), whose
//!   handlers echo the cookie and count the PUTs that reach them;
//! - the real operator-demo program ([`start_demo`]: the `demo-server`
//!   binary, `FRONTEND_URL` set to the allowed page's origin, its own
//!   `DATA_DIR` and port), with its whole stack (request id, security
//!   headers, CORS, rate limit, authentication). The GETs go to
//!   `GET /health` and the PUT to `PUT /health`: the CORS layer answers the
//!   preflight, then the PUT's made-up bearer token gets the authentication
//!   layer's 401 problem+json, which only the allowed page can read.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian packages
//! `chromium` and `chromium-driver`; `CHROMIUM` / `CHROMEDRIVER` override the
//! paths). Without them the test prints why and passes, unless
//! `RAMPART_REQUIRE_SERVICES` is set, where it fails.

use std::{
    net::{SocketAddr, TcpListener as StdListener},
    path::{Path, PathBuf},
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Router,
    http::{HeaderMap, StatusCode, header},
    response::{Html, IntoResponse},
    routing::get,
};
use fantoccini::cookies::Cookie;
use fantoccini::{Client, ClientBuilder, wd::Capabilities};
use hyper_util::client::legacy::connect::HttpConnector;
use rampart_cors::CorsConfig;
use rampart_tests::Demo;
use serde_json::{Value, json};
use tokio::{net::TcpListener, process::Command};

/// The API a page talks to: where it is, and which paths play each part.
struct Target {
    /// `http://127.0.0.1:PORT`
    base: String,
    /// Navigated to first-party before the pages run; either it sets the
    /// session cookie itself or the driver adds it there ([`Target::add_cookie`]).
    login: &'static str,
    /// Whether the driver must add the session cookie after visiting `login`.
    add_cookie: bool,
    /// A simple GET; answers `x-request-id` (exposed) and [`Target::hidden`] (not).
    simple: &'static str,
    /// A header the simple GET answers with but CORS does not expose.
    hidden: &'static str,
    /// A GET that answers with the cookie it received.
    credentialed: &'static str,
    /// A PUT that needs `Authorization` and a JSON body.
    put: &'static str,
    /// How many PUTs reached the handler, where the target can tell.
    put_hits: Option<Arc<AtomicUsize>>,
    /// The demo process, when the target is the demo (stopped on drop).
    demo: Option<Demo>,
}

/// Starts the server under test with the CORS policy allowing `allowed_origin`.
async fn start_target(allowed_origin: &str) -> Target {
    let cors = CorsConfig::new()
        .allow_origin(allowed_origin)
        .allow_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allow_headers(["authorization", "content-type"])
        .expose_headers(["x-request-id"])
        .allow_credentials(true)
        .build()
        .expect("valid CORS configuration");
    let hits = Arc::new(AtomicUsize::new(0));
    let put_hits = Arc::clone(&hits);
    let app = Router::new()
        .route(
            "/login",
            get(|| async {
                (
                    [(
                        header::SET_COOKIE,
                        "session=s3cret; Path=/; HttpOnly; SameSite=Lax",
                    )],
                    "logged in",
                )
            }),
        )
        .route(
            "/public",
            get(|| async {
                (
                    [("x-request-id", "req-1"), ("x-hidden", "secret")],
                    "public",
                )
            }),
        )
        .route(
            "/me",
            get(|headers: HeaderMap| async move {
                headers
                    .get(header::COOKIE)
                    .and_then(|c| c.to_str().ok())
                    .unwrap_or("anonymous")
                    .to_owned()
            }),
        )
        .route(
            "/items",
            axum::routing::put(move |headers: HeaderMap, body: String| {
                let hits = Arc::clone(&hits);
                async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    let auth = headers
                        .get(header::AUTHORIZATION)
                        .and_then(|v| v.to_str().ok());
                    if auth != Some("Bearer t0ken") {
                        return (StatusCode::UNAUTHORIZED, "no token".to_owned()).into_response();
                    }
                    (StatusCode::OK, format!("stored {body}")).into_response()
                }
            }),
        )
        .layer(cors);
    let addr = serve(app).await;
    Target {
        base: format!("http://{addr}"),
        login: "/login",
        add_cookie: false,
        simple: "/public",
        hidden: "x-hidden",
        credentialed: "/me",
        put: "/items",
        put_hits: Some(put_hits),
        demo: None,
    }
}

/// Starts the real operator-demo program with `FRONTEND_URL=allowed_origin`
/// (a free port and a temporary `DATA_DIR`: see [`Demo::start`]). Its trace
/// layer logs each request at debug level, which the test reads to count the
/// PUTs that reached it.
async fn start_demo(allowed_origin: &str) -> Target {
    let demo = Demo::start(
        env!("CARGO_BIN_EXE_demo-server"),
        &[
            ("FRONTEND_URL", allowed_origin),
            ("RUST_LOG", "info,tower_http=debug"),
            ("LOG_FORMAT", "json"),
        ],
    )
    .await;
    Target {
        base: demo.url(""),
        login: "/health",
        add_cookie: true,
        simple: "/health",
        hidden: "x-content-type-options",
        credentialed: "/health",
        put: "/health",
        put_hits: None,
        demo: Some(demo),
    }
}

async fn serve(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    addr
}

/// A page server: its only job is to be an origin.
async fn start_page() -> String {
    let app = Router::new().route(
        "/",
        get(|| async { Html("<!doctype html><title>page</title><p>page</p>") }),
    );
    format!("http://{}", serve(app).await)
}

/// Runs the three requests from the current page; what the script could read.
const SCRIPT: &str = r#"
const [api, simple, credentialed, put, hidden] = arguments;
const done = arguments[arguments.length - 1];
const attempt = async (path, init) => {
  try {
    const r = await fetch(api + path, init);
    return { read: true, status: r.status, body: await r.text(),
             contentType: r.headers.get('content-type'),
             requestId: r.headers.get('x-request-id'), hidden: r.headers.get(hidden) };
  } catch (e) {
    return { read: false, error: String(e) };
  }
};
(async () => ({
  simple: await attempt(simple),
  credentialed: await attempt(credentialed, { credentials: 'include' }),
  put: await attempt(put, {
    method: 'PUT',
    credentials: 'include',
    headers: { 'Authorization': 'Bearer t0ken', 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: 'call' }),
  }),
}))().then(done);
"#;

fn tool(var: &str, default: &str) -> Option<PathBuf> {
    let path = std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from);
    path.exists().then_some(path)
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

async fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn connect(driver_port: u16, chromium: &Path, profile: &Path) -> Client {
    let mut caps = Capabilities::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .expect("a chromedriver session")
}

/// Loads `page`, runs [`SCRIPT`] there against `target`, returns its result.
async fn run_from(client: &Client, page: &str, target: &Target) -> Result<Value, String> {
    client.goto(page).await.map_err(|e| e.to_string())?;
    let args = [
        target.base.as_str(),
        target.simple,
        target.credentialed,
        target.put,
        target.hidden,
    ]
    .map(|s| Value::String(s.to_owned()))
    .to_vec();
    client
        .execute_async(SCRIPT, args)
        .await
        .map_err(|e| e.to_string())
}

async fn browse(
    client: &Client,
    target: &Target,
    allowed: &str,
    other: &str,
) -> Result<(Value, Value), String> {
    // The session cookie is set first-party, as a login would.
    client
        .goto(&format!("{}{}", target.base, target.login))
        .await
        .map_err(|e| e.to_string())?;
    if target.add_cookie {
        // Parsed, as the cookie type's setters need the `cookie` crate's
        // `SameSite`. An explicit domain and SameSite, because fantoccini
        // sends an empty domain and `SameSite=None` (which needs `Secure`)
        // otherwise, both refused by Chromium.
        let cookie =
            Cookie::parse("session=s3cret; Path=/; Domain=127.0.0.1; HttpOnly; SameSite=Lax")
                .map_err(|e| e.to_string())?;
        client.add_cookie(cookie).await.map_err(|e| e.to_string())?;
    }
    let from_allowed = run_from(client, allowed, target).await?;
    let from_other = run_from(client, other, target).await?;
    Ok((from_allowed, from_other))
}

/// Chromium and chromedriver, or `None` after printing why the test skips.
///
/// # Panics
///
/// When one is missing and `RAMPART_REQUIRE_SERVICES` is set.
fn browser_tools() -> Option<(PathBuf, PathBuf)> {
    let required = std::env::var_os("RAMPART_REQUIRE_SERVICES").is_some_and(|v| !v.is_empty());
    let (Some(chromium), Some(chromedriver)) = (
        tool("CHROMIUM", "/usr/bin/chromium"),
        tool("CHROMEDRIVER", "/usr/bin/chromedriver"),
    ) else {
        let reason =
            "chromium or chromedriver not found (apt-get install chromium chromium-driver)";
        assert!(!required, "RAMPART_REQUIRE_SERVICES is set: {reason}");
        println!("skipped: {reason}");
        return None;
    };
    Some((chromium, chromedriver))
}

/// Starts chromedriver and a fresh Chromium profile, runs [`browse`], and
/// closes everything before returning what each page read.
async fn in_browser(
    (chromium, chromedriver): &(PathBuf, PathBuf),
    target: &Target,
    allowed_page: &str,
    other_page: &str,
) -> (Value, Value) {
    let profile = std::env::temp_dir().join(format!(
        "rampart-cors-chromium-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&profile).expect("profile directory");
    let driver_port = free_port();
    let mut driver = Command::new(chromedriver)
        .arg(format!("--port={driver_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start chromedriver");
    wait_for_port(driver_port).await;

    let client = connect(driver_port, chromium, &profile).await;
    let outcome = tokio::time::timeout(
        Duration::from_secs(60),
        browse(&client, target, allowed_page, other_page),
    )
    .await;
    // Close the browser before asserting, so a failure leaves no process behind.
    let _ = client.close().await;
    let _ = driver.kill().await;
    let _ = std::fs::remove_dir_all(&profile);
    outcome
        .expect("the browser answered within 60 s")
        .expect("the browser ran the script")
}

/// From the disallowed origin the page reads nothing: every fetch rejects
/// with a `TypeError`, with no status, body or header to look at.
fn assert_reads_nothing(other: &Value) {
    for case in ["simple", "credentialed", "put"] {
        let result = &other[case];
        assert_eq!(result["read"], false, "{case}: {other:#}");
        assert_eq!(result["status"], Value::Null, "{case}: {result}");
        assert!(
            result["error"]
                .as_str()
                .is_some_and(|e| e.contains("TypeError")),
            "{case}: {result}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_reads_only_what_cors_allows() {
    let Some(tools) = browser_tools() else { return };
    let allowed_page = start_page().await;
    let other_page = start_page().await;
    let target = start_target(&allowed_page).await;
    let (allowed, other) = in_browser(&tools, &target, &allowed_page, &other_page).await;

    // From the allowed origin, the page reads everything it was meant to.
    let simple = &allowed["simple"];
    assert_eq!(simple["read"], true, "{allowed:#}");
    assert_eq!(simple["status"], 200);
    assert_eq!(simple["body"], "public");
    assert_eq!(simple["requestId"], "req-1", "exposed header is readable");
    assert_eq!(simple["hidden"], Value::Null, "unexposed header is not");
    let credentialed = &allowed["credentialed"];
    assert_eq!(credentialed["read"], true, "{allowed:#}");
    assert_eq!(
        credentialed["body"], "session=s3cret",
        "the cookie went along"
    );
    let put = &allowed["put"];
    assert_eq!(put["read"], true, "{allowed:#}");
    assert_eq!(put["status"], 200);
    assert_eq!(put["body"], r#"stored {"name":"call"}"#);

    // From the other origin, the page reads nothing.
    assert_reads_nothing(&other);

    // The refused preflight kept the PUT from ever reaching the handler.
    if let Some(hits) = &target.put_hits {
        assert_eq!(
            hits.load(Ordering::SeqCst),
            1,
            "only the allowed page's PUT ran"
        );
    }
}

/// The requests that reached the demo's trace layer with `method`, counted
/// from its JSON log (one `started processing request` line each).
fn demo_requests(demo: &Demo, method: &str) -> usize {
    demo.stderr()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["message"] == "started processing request")
        .filter(|line| {
            line["spans"]
                .as_array()
                .is_some_and(|spans| spans.iter().any(|span| span["method"] == method))
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_reads_only_what_the_demo_allows() {
    let Some(tools) = browser_tools() else { return };
    let allowed_page = start_page().await;
    let other_page = start_page().await;
    let target = start_demo(&allowed_page).await;
    let (allowed, other) = in_browser(&tools, &target, &allowed_page, &other_page).await;
    let demo = target.demo.as_ref().expect("the demo target");

    // From the allowed origin: the health body, the exposed request id (a
    // UUID set by the demo), not the unexposed security header.
    let simple = &allowed["simple"];
    assert_eq!(simple["read"], true, "{allowed:#}");
    assert_eq!(simple["status"], 200);
    assert_eq!(simple["body"], r#"{"status":"ok"}"#);
    assert_eq!(simple["contentType"], "application/json");
    assert!(
        simple["requestId"]
            .as_str()
            .is_some_and(|id| id.len() == 36),
        "exposed x-request-id is readable: {simple}"
    );
    assert_eq!(simple["hidden"], Value::Null, "unexposed header is not");

    // With credentials: readable only because the demo answers
    // `Access-Control-Allow-Credentials: true` and the exact origin.
    let credentialed = &allowed["credentialed"];
    assert_eq!(credentialed["read"], true, "{allowed:#}");
    assert_eq!(credentialed["status"], 200);
    assert_eq!(credentialed["body"], r#"{"status":"ok"}"#);

    // The preflight passed; the PUT itself, with a made-up bearer token, is
    // the authentication layer's 401 problem, which the page reads.
    let put = &allowed["put"];
    assert_eq!(put["read"], true, "{allowed:#}");
    assert_eq!(put["status"], 401);
    assert_eq!(put["contentType"], "application/problem+json");
    let problem: Value = serde_json::from_str(put["body"].as_str().unwrap_or_default())
        .unwrap_or_else(|err| panic!("problem+json body ({err}): {put}"));
    assert_eq!(problem["status"], 401, "{problem:#}");
    assert!(problem["title"].is_string(), "{problem:#}");
    assert!(put["requestId"].is_string(), "{put}");

    // From the other origin, the page reads nothing.
    assert_reads_nothing(&other);

    // Two preflights (one admitted, one refused) and one PUT: the refused
    // preflight kept the other page's PUT from being sent at all.
    assert_eq!(demo_requests(demo, "OPTIONS"), 2, "{}", demo.stderr());
    assert_eq!(demo_requests(demo, "PUT"), 1, "{}", demo.stderr());
}
