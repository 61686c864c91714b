//! Three operator-demo processes sharing one real Redis: the global rate
//! limit is one count across all of them, so `N/hour` admits exactly N
//! requests in total, not N per process.

use rampart_tests::Demo;
use reqwest::Url;
use tokio::task::JoinSet;

const BIN: &str = env!("CARGO_BIN_EXE_demo-server");

/// The quota every process is given, and the header it must announce.
const QUOTA: usize = 20;
const POLICY_HEADER: &str = r#""global";q=20;w=3600"#;
const REQUESTS: usize = 60;

/// The Redis database this test owns. The demo keys the global policy by
/// client address, and every request here comes from 127.0.0.1, so counts
/// left by an earlier run would be counted again. Flushing the database the
/// other tests use (`REDIS_URL` as given) would delete their keys while they
/// run in parallel; a database of its own, flushed first, makes each run
/// independent without touching anyone else's keys.
const OWN_DB: u8 = 13;

/// `url` pointed at [`OWN_DB`]: the path of `redis://` and `rediss://` URLs,
/// the `db` query parameter of the Unix-socket forms.
fn own_database(url: &str) -> String {
    let mut url = Url::parse(url).unwrap_or_else(|e| panic!("REDIS_URL {url:?} parses: {e}"));
    if matches!(url.scheme(), "redis" | "rediss" | "valkey" | "valkeys") {
        url.set_path(&format!("/{OWN_DB}"));
    } else {
        let others: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(name, _)| name != "db")
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect();
        url.query_pairs_mut()
            .clear()
            .extend_pairs(others)
            .append_pair("db", &OWN_DB.to_string());
    }
    url.into()
}

async fn flush(url: &str) {
    let client = redis::Client::open(url).expect("the Redis URL parses");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("cannot connect to Redis at {url}: {e}"));
    let () = redis::cmd("FLUSHDB").query_async(&mut conn).await.unwrap();
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_share_one_quota() {
    let Some(url) = rampart_tests::redis_url() else {
        return;
    };
    let url = own_database(&url);
    flush(&url).await;
    let env = [
        ("REDIS_URL", url.as_str()),
        ("RATE_LIMIT_GLOBAL", "20/hour"),
    ];
    let demos = [
        Demo::start(BIN, &env).await,
        Demo::start(BIN, &env).await,
        Demo::start(BIN, &env).await,
    ];
    let client = demos[0].client();

    // Round-robin over the three, one request per process at a time.
    let mut answers = Vec::with_capacity(REQUESTS);
    for round in demos
        .iter()
        .cycle()
        .take(REQUESTS)
        .collect::<Vec<_>>()
        .chunks(3)
    {
        let mut tasks = JoinSet::new();
        for demo in round {
            let request = client.get(demo.url("/")).send();
            tasks.spawn(request);
        }
        while let Some(done) = tasks.join_next().await {
            let response = done.unwrap().unwrap();
            let status = response.status().as_u16();
            let retry_after = header(&response, "retry-after");
            let policy = header(&response, "ratelimit-policy");
            answers.push((status, retry_after, policy));
        }
    }

    let stderr = || {
        demos
            .iter()
            .enumerate()
            .map(|(i, demo)| format!("--- process {i} stderr:\n{}", demo.stderr()))
            .collect::<String>()
    };
    let admitted = answers.iter().filter(|(status, ..)| *status == 200).count();
    let limited: Vec<_> = answers
        .iter()
        .filter(|(status, ..)| *status == 429)
        .collect();
    assert_eq!(
        (admitted, limited.len()),
        (QUOTA, REQUESTS - QUOTA),
        "statuses {:?}\n{}",
        answers.iter().map(|(s, ..)| s).collect::<Vec<_>>(),
        stderr()
    );
    for (_, retry_after, policy) in limited {
        let seconds: u64 = retry_after
            .as_deref()
            .expect("a 429 carries Retry-After")
            .parse()
            .expect("Retry-After is whole seconds");
        assert!(seconds >= 1, "Retry-After {seconds}");
        assert_eq!(policy.as_deref(), Some(POLICY_HEADER));
    }

    // The probes are outside the limit: every process still answers them.
    for demo in &demos {
        let response = client.get(demo.url("/health")).send().await.unwrap();
        assert_eq!(response.status(), 200, "/health at {}", demo.addr());
    }
}

#[test]
fn own_database_replaces_the_database_and_keeps_the_rest() {
    assert_eq!(
        own_database("redis://127.0.0.1:6379/"),
        "redis://127.0.0.1:6379/13"
    );
    assert_eq!(
        own_database("redis://:secret@127.0.0.1:6379/0"),
        "redis://:secret@127.0.0.1:6379/13"
    );
    assert_eq!(
        own_database("redis+unix:///tmp/redis.sock?db=2&pass=x"),
        "redis+unix:///tmp/redis.sock?pass=x&db=13"
    );
}
