//! operator-demo against slow and greedy clients, over raw TCP: the real
//! program with short `HTTP_*` timeouts. Every wait is bounded far above
//! the timeout under test (a loaded CI machine), and what is asserted is
//! the outcome: closed, answered, or not served.

use std::time::Duration;

use rampart_tests::Demo;
use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::timeout,
};

const BIN: &str = env!("CARGO_BIN_EXE_demo-server");

/// How long a test waits for what a 1-second timeout should do.
const BOUND: Duration = Duration::from_secs(20);

/// Everything the server sends until it closes the connection (a reset
/// counts as closed); `None` if it is still open after `bound`.
async fn until_closed(stream: &mut TcpStream, bound: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    let read = timeout(bound, async {
        let mut buf = [0_u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.is_ok().then_some(received)
}

/// One response read off a keep-alive connection (its head, and a body of
/// `Content-Length` bytes); `None` if it did not all arrive within `bound`.
async fn response(stream: &mut TcpStream, bound: Duration) -> Option<String> {
    let mut received = Vec::new();
    timeout(bound, async {
        let mut buf = [0_u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&received).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if body.len() >= length {
                    return Some(text);
                }
            }
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .ok()
    .flatten()
}

async fn connect(demo: &Demo) -> TcpStream {
    TcpStream::connect(demo.addr())
        .await
        .expect("the demo accepts")
}

const GET_HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nHost: demo\r\n\r\n";

/// A login whose body is announced as 100 bytes, of which 10 are sent.
const STALLED_LOGIN: &[u8] = b"POST /auth/login HTTP/1.1\r\nHost: demo\r\n\
    Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"email\":";

/// A client that sends half a request's headers, then nothing, is closed
/// after HTTP_HEADER_READ_TIMEOUT_SECS; so is one that stops inside the
/// request line (before hyper knows which protocol it speaks), and one that
/// connects and says nothing. A prompt client is still served.
#[tokio::test]
async fn slow_headers_are_closed_after_the_header_timeout() {
    let demo = Demo::start(
        BIN,
        &[
            ("HTTP_HEADER_READ_TIMEOUT_SECS", "1"),
            ("HTTP_IDLE_TIMEOUT_SECS", "600"),
        ],
    )
    .await;
    let mut half_headers = connect(&demo).await;
    half_headers
        .write_all(b"GET /health HTTP/1.1\r\nHost: demo\r\nAccept: ")
        .await
        .unwrap();
    let mut half_line = connect(&demo).await;
    half_line.write_all(b"GET /he").await.unwrap();
    let mut silent = connect(&demo).await;

    for (name, stream) in [
        ("half the headers", &mut half_headers),
        ("half the request line", &mut half_line),
        ("nothing", &mut silent),
    ] {
        let sent = until_closed(stream, BOUND).await;
        let sent = sent.unwrap_or_else(|| panic!("{name}: still open after {BOUND:?}"));
        // Closed, with no answer to the request it never finished (or a 408).
        let text = String::from_utf8_lossy(&sent);
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 408"),
            "{name}: {text}"
        );
    }

    let mut prompt = connect(&demo).await;
    prompt.write_all(GET_HEALTH).await.unwrap();
    let answer = response(&mut prompt, BOUND).await.expect("an answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// A body announced as 100 bytes of which 10 arrive: a 408 problem+json
/// after HTTP_REQUEST_TIMEOUT_SECS, and the connection is closed.
#[tokio::test]
async fn a_stalled_body_gets_408_problem() {
    let demo = Demo::start(BIN, &[("HTTP_REQUEST_TIMEOUT_SECS", "1")]).await;
    let mut stream = connect(&demo).await;
    stream.write_all(STALLED_LOGIN).await.unwrap();
    let sent = until_closed(&mut stream, BOUND)
        .await
        .expect("closed after the 408");
    let text = String::from_utf8_lossy(&sent);
    let (head, body) = text.split_once("\r\n\r\n").expect("a response");
    assert!(head.starts_with("HTTP/1.1 408"), "{text}");
    let head = head.to_ascii_lowercase();
    assert!(
        head.contains("content-type: application/problem+json"),
        "{text}"
    );
    // It passed through the stack: the security headers are on it.
    assert!(head.contains("x-content-type-options: nosniff"), "{text}");
    let body: Value = serde_json::from_str(body).expect("a JSON body");
    assert_eq!(body["status"], 408, "{body}");
    assert_eq!(body["title"], "Request Timeout", "{body}");
}

/// A keep-alive connection left idle after its response is closed after
/// HTTP_IDLE_TIMEOUT_SECS (here far below the header timeout, so it is the
/// idle timeout that closes it).
#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let demo = Demo::start(
        BIN,
        &[
            ("HTTP_HEADER_READ_TIMEOUT_SECS", "600"),
            ("HTTP_IDLE_TIMEOUT_SECS", "1"),
        ],
    )
    .await;
    // After one request, and after two.
    for requests in 1..=2 {
        let mut stream = connect(&demo).await;
        for _ in 0..requests {
            stream.write_all(GET_HEALTH).await.unwrap();
            let answer = response(&mut stream, BOUND).await.expect("an answer");
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        }
        let sent = until_closed(&mut stream, BOUND).await.unwrap_or_else(|| {
            panic!("idle after {requests} requests, still open after {BOUND:?}")
        });
        assert!(sent.is_empty(), "{}", String::from_utf8_lossy(&sent));
    }
}

/// A request in flight is not idleness: on a connection that has served a
/// request, a body stalled for longer than HTTP_IDLE_TIMEOUT_SECS still
/// gets its 408 at HTTP_REQUEST_TIMEOUT_SECS, not a silent close.
#[tokio::test]
async fn the_idle_timeout_spares_a_request_in_flight() {
    let demo = Demo::start(
        BIN,
        &[
            ("HTTP_IDLE_TIMEOUT_SECS", "1"),
            ("HTTP_REQUEST_TIMEOUT_SECS", "4"),
        ],
    )
    .await;
    let mut stream = connect(&demo).await;
    stream.write_all(GET_HEALTH).await.unwrap();
    let answer = response(&mut stream, BOUND).await.expect("an answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    stream.write_all(STALLED_LOGIN).await.unwrap();
    let sent = until_closed(&mut stream, BOUND)
        .await
        .expect("closed after the 408");
    let text = String::from_utf8_lossy(&sent);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
}

/// HTTP_MAX_CONNECTIONS=2: with two connections open, a third is not
/// served (it waits in the backlog) until one of them closes.
#[tokio::test]
async fn the_connection_cap_holds() {
    let demo = Demo::start(
        BIN,
        &[
            ("HTTP_MAX_CONNECTIONS", "2"),
            ("HTTP_HEADER_READ_TIMEOUT_SECS", "600"),
            ("HTTP_IDLE_TIMEOUT_SECS", "600"),
        ],
    )
    .await;
    let mut first = connect(&demo).await;
    let mut second = connect(&demo).await;
    for stream in [&mut first, &mut second] {
        stream.write_all(GET_HEALTH).await.unwrap();
        let answer = response(stream, BOUND).await.expect("served under the cap");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }

    // The kernel completes the handshake; the demo does not take it.
    let mut third = connect(&demo).await;
    third.write_all(GET_HEALTH).await.unwrap();
    assert!(
        response(&mut third, Duration::from_secs(2)).await.is_none(),
        "a third connection was served with two open"
    );

    drop(first);
    let answer = response(&mut third, BOUND)
        .await
        .expect("served once a slot is free");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // The second is still served meanwhile.
    second.write_all(GET_HEALTH).await.unwrap();
    let answer = response(&mut second, BOUND).await.expect("an answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// Bad values are refused at start, naming the variable.
#[test]
fn bad_timeouts_are_refused() {
    for (variable, value) in [
        ("HTTP_HEADER_READ_TIMEOUT_SECS", "0"),
        ("HTTP_REQUEST_TIMEOUT_SECS", "soon"),
        ("HTTP_IDLE_TIMEOUT_SECS", "3601"),
        ("HTTP_MAX_CONNECTIONS", "0"),
    ] {
        let (status, stderr) = rampart_tests::run_to_exit(
            BIN,
            &[],
            &[(variable, value), ("BIND_ADDR", "127.0.0.1:0")],
        );
        assert!(!status.success(), "{variable}={value}");
        assert!(stderr.contains(variable), "{variable}={value}: {stderr}");
    }
}
