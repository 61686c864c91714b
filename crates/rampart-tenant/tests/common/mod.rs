//! Services for the tests: the real Postgres and Redis that scripts/test
//! starts, found through `DATABASE_URL` and `REDIS_URL`.
#![allow(dead_code, unreachable_pub)] // each test binary uses part of this

pub mod pg;

use std::sync::atomic::{AtomicU64, Ordering};

/// `name`'s value, or `None` (with the reason printed) when it is unset;
/// a panic instead when `RAMPART_REQUIRE_SERVICES=1`.
pub fn service_url(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            let required = std::env::var("RAMPART_REQUIRE_SERVICES")
                .is_ok_and(|v| matches!(v.trim(), "1" | "true" | "yes"));
            assert!(
                !required,
                "{name} is not set but RAMPART_REQUIRE_SERVICES=1: the service must be running"
            );
            println!("skipped: {name} is not set");
            None
        }
    }
}

/// A name no other test, binary or run uses.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000_000,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
