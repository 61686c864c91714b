//! Benchmark of rampart-ratelimit beside its peer (being written).

fn main() {}
