//! The Redis store on a real Redis Cluster: three `redis-server` primaries on
//! free loopback ports, made a cluster with `redis-cli --cluster create`, and
//! stopped at the end. Policies whose keys fall in different hash slots are
//! decided per slot instead of failing with `CROSSSLOT`.
//!
//! Runs where the other Redis tests run (`REDIS_URL` set: `redis-server` and
//! `redis-cli` are then expected on the `PATH`); skipped otherwise, a failure
//! under `RAMPART_REQUIRE_SERVICES=1`.
#![cfg(feature = "cluster")]

mod common;

use std::{
    net::TcpListener,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use rampart_ratelimit::{Demand, Fallback, Key, Outcome, RedisStore, Store, Verdict};
use redis::cluster::ClusterClient;

/// Three cluster nodes, killed when dropped (also when a test panics).
struct Cluster {
    nodes: Vec<Child>,
    ports: Vec<u16>,
    _dir: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.kill();
            let _ = node.wait();
        }
    }
}

/// A loopback port that is free, and whose cluster bus port (+10000) is too.
fn free_port() -> u16 {
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn start_node(dir: &Path, port: u16) -> Child {
    Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--cluster-enabled", "yes"])
        .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server starts")
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn start_cluster() -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let mut ports: Vec<u16> = Vec::new();
    while ports.len() < 3 {
        let port = free_port();
        if !ports.contains(&port) {
            ports.push(port);
        }
    }
    let cluster = Cluster {
        nodes: ports.iter().map(|&p| start_node(dir.path(), p)).collect(),
        ports,
        _dir: dir,
    };
    for &port in &cluster.ports {
        wait_until("redis-server", || cli(port, &["ping"]).trim() == "PONG");
    }
    let addresses: Vec<String> = cluster
        .ports
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    let status = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&addresses)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .stdout(Stdio::null())
        .status()
        .expect("redis-cli --cluster create runs");
    assert!(status.success(), "redis-cli --cluster create failed");
    for &port in &cluster.ports {
        wait_until("cluster_state:ok", || {
            cli(port, &["cluster", "info"]).contains("cluster_state:ok")
        });
    }
    cluster
}

fn demand(policy: &str, quota: &str) -> Demand {
    Demand {
        policy: policy.into(),
        quota: quota.parse().unwrap(),
        key: Key::ip("192.0.2.1".parse().unwrap()),
        cost: 1,
        enforce: true,
        fallback: Fallback::Reject,
    }
}

fn summary(verdicts: &[Verdict]) -> Vec<(Outcome, u64)> {
    verdicts.iter().map(|v| (v.outcome, v.remaining)).collect()
}

#[tokio::test]
async fn policies_in_different_slots_are_decided_per_slot() {
    if common::redis_url().is_none() {
        return;
    }
    let cluster = start_cluster();
    let client = ClusterClient::new(
        cluster
            .ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}/"))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let connection = client.get_async_connection().await.unwrap();
    let prefix = common::unique_prefix("cluster");
    let store = RedisStore::cluster(connection).prefix(prefix.clone());

    // Two policy names whose keys land in different slots, as Redis says.
    let keyslot = |policy: &str| {
        let key = format!("{prefix}{{{policy}:192.0.2.1}}");
        cli(cluster.ports[0], &["cluster", "keyslot", &key])
            .trim()
            .to_owned()
    };
    let first = "p0";
    let second = (1..100)
        .map(|i| format!("p{i}"))
        .find(|p| keyslot(p) != keyslot(first))
        .expect("two slots");

    let demands = [demand(first, "2/minute"), demand(&second, "3/minute")];
    let v = store.decide(&demands).await.unwrap();
    assert_eq!(
        summary(&v),
        [(Outcome::Admitted, 1), (Outcome::Admitted, 2)]
    );
    let v = store.decide(&demands).await.unwrap();
    assert_eq!(
        summary(&v),
        [(Outcome::Admitted, 0), (Outcome::Admitted, 1)]
    );
    // The first policy limits; the second, in another slot, was decided by
    // its own script and charged (documented: all-or-nothing holds only
    // within a slot).
    let v = store.decide(&demands).await.unwrap();
    assert_eq!(summary(&v), [(Outcome::Limited, 0), (Outcome::Admitted, 0)]);
    assert!(v[0].retry_after > Duration::ZERO);

    // Keys in one slot (one policy) are decided by one script, as on a
    // single node.
    let v = store.decide(&[demand("solo", "1/minute")]).await.unwrap();
    assert_eq!(summary(&v), [(Outcome::Admitted, 0)]);
    let v = store.decide(&[demand("solo", "1/minute")]).await.unwrap();
    assert_eq!(summary(&v), [(Outcome::Limited, 0)]);

    drop(cluster);
}
