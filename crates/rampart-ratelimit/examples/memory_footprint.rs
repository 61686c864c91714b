//! Measures the memory store's footprint with 1,000,000 distinct keys.
//!
//! `cargo run --release -p rampart-ratelimit --example memory_footprint`
//!
//! Reads the process's resident set size (`VmRSS` in `/proc/self/status`,
//! Linux) before and after one decision for each of 1,000,000 client
//! addresses, and prints the difference.

use std::net::{IpAddr, Ipv4Addr};

use rampart_ratelimit::{Demand, Fallback, Key, MemoryStore, Store};

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    const KEYS: u32 = 1_000_000;
    let store = MemoryStore::builder().max_keys(KEYS as usize).build();
    let quota = "1000/hour".parse().unwrap();
    let before = rss_kib();
    let mut demand = [Demand {
        policy: "global".into(),
        quota,
        key: Key::ip(IpAddr::V4(Ipv4Addr::from(0))),
        cost: 1,
        enforce: true,
        fallback: Fallback::default(),
    }];
    for i in 0..KEYS {
        demand[0].key = Key::ip(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)));
        let _ = store.decide(&demand).await;
    }
    let after = rss_kib();
    let held = store.len();
    match (before, after) {
        (Some(before), Some(after)) => {
            let mib = (after.saturating_sub(before)) as f64 / 1024.0;
            println!(
                "keys held: {held}; resident memory grew by {mib:.1} MiB ({:.1} bytes per key)",
                (after - before) as f64 * 1024.0 / f64::from(KEYS)
            );
            assert!(mib <= 100.0, "1,000,000 keys must fit in 100 MB");
        }
        _ => println!("keys held: {held}; /proc/self/status is not readable here"),
    }
}
