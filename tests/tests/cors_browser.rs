//! A real browser against a real server: headless Debian Chromium, driven
//! through chromedriver (WebDriver, via `fantoccini`), loads a page from an
//! allowed origin and one from a disallowed origin (two loopback ports), and
//! from each runs a simple GET, a credentialed GET with a cookie, and a
//! preflighted PUT with `Authorization` and `Content-Type: application/json`.
//! The assertions are on what the page's script could read.
//!
//! The server under test is made by one function, [`start_target`]: point it
//! at another app (operator-demo) by changing that function only.
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
use fantoccini::{Client, ClientBuilder, wd::Capabilities};
use hyper_util::client::legacy::connect::HttpConnector;
use rampart_cors::Config;
use serde_json::{Value, json};
use tokio::{net::TcpListener, process::Command};

/// The API a page talks to: where it is, and which paths play each part.
struct Target {
    /// `http://127.0.0.1:PORT`
    base: String,
    /// Navigating here sets the session cookie (first party).
    login: &'static str,
    /// A simple GET; answers `x-request-id` (exposed) and `x-hidden` (not).
    simple: &'static str,
    /// A GET that answers with the cookie it received.
    credentialed: &'static str,
    /// A PUT that needs `Authorization` and a JSON body.
    put: &'static str,
    /// How many PUTs reached the handler, where the target can tell.
    put_hits: Option<Arc<AtomicUsize>>,
}

/// Starts the server under test with the CORS policy allowing `allowed_origin`.
async fn start_target(allowed_origin: &str) -> Target {
    let cors = Config::new()
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
        simple: "/public",
        credentialed: "/me",
        put: "/items",
        put_hits: Some(put_hits),
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
const [api, simple, credentialed, put] = arguments;
const done = arguments[arguments.length - 1];
const attempt = async (path, init) => {
  try {
    const r = await fetch(api + path, init);
    return { read: true, status: r.status, body: await r.text(),
             requestId: r.headers.get('x-request-id'), hidden: r.headers.get('x-hidden') };
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
    let from_allowed = run_from(client, allowed, target).await?;
    let from_other = run_from(client, other, target).await?;
    Ok((from_allowed, from_other))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_reads_only_what_cors_allows() {
    let required = std::env::var_os("RAMPART_REQUIRE_SERVICES").is_some_and(|v| !v.is_empty());
    let (Some(chromium), Some(chromedriver)) = (
        tool("CHROMIUM", "/usr/bin/chromium"),
        tool("CHROMEDRIVER", "/usr/bin/chromedriver"),
    ) else {
        let reason =
            "chromium or chromedriver not found (apt-get install chromium chromium-driver)";
        assert!(!required, "RAMPART_REQUIRE_SERVICES is set: {reason}");
        println!("skipped: {reason}");
        return;
    };

    let allowed_page = start_page().await;
    let other_page = start_page().await;
    let target = start_target(&allowed_page).await;

    let profile = std::env::temp_dir().join(format!(
        "rampart-cors-chromium-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&profile).expect("profile directory");
    let driver_port = free_port();
    let mut driver = Command::new(&chromedriver)
        .arg(format!("--port={driver_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start chromedriver");
    wait_for_port(driver_port).await;

    let client = connect(driver_port, &chromium, &profile).await;
    let outcome = tokio::time::timeout(
        Duration::from_secs(60),
        browse(&client, &target, &allowed_page, &other_page),
    )
    .await;
    // Close the browser before asserting, so a failure leaves no process behind.
    let _ = client.close().await;
    let _ = driver.kill().await;
    let _ = std::fs::remove_dir_all(&profile);
    let (allowed, other) = outcome
        .expect("the browser answered within 60 s")
        .expect("the browser ran the script");

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
    for case in ["simple", "credentialed", "put"] {
        let result = &other[case];
        assert_eq!(result["read"], false, "{case}: {other:#}");
        assert!(
            result["error"]
                .as_str()
                .is_some_and(|e| e.contains("TypeError")),
            "{case}: {result}"
        );
    }

    // The refused preflight kept the PUT from ever reaching the handler.
    if let Some(hits) = &target.put_hits {
        assert_eq!(
            hits.load(Ordering::SeqCst),
            1,
            "only the allowed page's PUT ran"
        );
    }
}
